/// Who performed an audited action. The incident.io schema defines `user`, `api_key`, `system`,
/// `workflow`, `external_resource` and `alert`; any other type is kept as sent.
public struct AuditActor: Sendable, Hashable {
    public var type: String
    public var id: String
    public var name: String?
    /// Metadata values are strings, as in incident.io's schema (non-string values are rendered as JSON).
    public var metadata: [String: String]

    public init(type: String, id: String, name: String? = nil, metadata: [String: String] = [:]) {
        self.type = type
        self.id = id
        self.name = name
        self.metadata = metadata
    }
}

/// What an audited action touched.
public struct AuditTarget: Sendable, Hashable {
    public var type: String
    public var id: String
    public var name: String?

    public init(type: String, id: String, name: String? = nil) {
        self.type = type
        self.id = id
        self.name = name
    }
}

/// Where an audited action came from.
public struct AuditContext: Sendable, Hashable {
    public var location: String?
    public var userAgent: String?

    public init(location: String? = nil, userAgent: String? = nil) {
        self.location = location
        self.userAgent = userAgent
    }
}

/// The normalized audit view of one event. The raw bytes remain the source of truth; this is
/// derived from them by a normalizer and can be recomputed.
public struct NormalizedEvent: Sendable, Hashable {
    public var occurredAt: Timestamp
    public var action: String
    public var actor: AuditActor?
    public var targets: [AuditTarget]
    public var context: AuditContext
    /// The sender's schema version for `action` (incident.io `version`), when it has one.
    public var schemaVersion: Int?

    public init(
        occurredAt: Timestamp,
        action: String,
        actor: AuditActor? = nil,
        targets: [AuditTarget] = [],
        context: AuditContext = .init(),
        schemaVersion: Int? = nil
    ) {
        self.occurredAt = occurredAt
        self.action = action
        self.actor = actor
        self.targets = targets
        self.context = context
        self.schemaVersion = schemaVersion
    }
}

/// An event on its way into the store.
public struct IncomingEvent: Sendable, Hashable {
    /// The feed (or collector) the event came through.
    public var source: String
    public var logType: String
    /// Unique per source: the provider's id where there is one, else SHA-256 of canonical JSON.
    public var dedupeKey: [UInt8]
    /// The event's own time, when the event carries one (never the time it was received). A
    /// redelivery is a duplicate when source, key and this time all match. The store puts it in
    /// front of the key, so that live events' keys land at the end of the dedupe index instead
    /// of on a random page of it.
    public var dedupeTime: Timestamp?
    /// The bytes as received.
    public var raw: [UInt8]
    public var normalized: NormalizedEvent
    /// Where a collected event came from within its source (``EventOrigin``); nil for pushes.
    public var origin: String?

    public init(
        source: String, logType: String, dedupeKey: [UInt8], dedupeTime: Timestamp? = nil, raw: [UInt8], normalized: NormalizedEvent,
        origin: String? = nil
    ) {
        self.source = source
        self.logType = logType
        self.dedupeKey = dedupeKey
        self.dedupeTime = dedupeTime
        self.raw = raw
        self.normalized = normalized
        self.origin = origin
    }
}

/// An event as stored, with its store-assigned order.
public struct StoredEvent: Sendable, Hashable {
    /// Store-assigned, strictly increasing in commit order on one node.
    public var seq: Int64
    public var id: EventID
    public var source: String
    public var logType: String
    public var receivedAt: Timestamp
    public var normalized: NormalizedEvent
    public var raw: [UInt8]
    public var origin: String?

    public init(
        seq: Int64, id: EventID, source: String, logType: String, receivedAt: Timestamp, normalized: NormalizedEvent, raw: [UInt8],
        origin: String? = nil
    ) {
        self.seq = seq
        self.id = id
        self.source = source
        self.logType = logType
        self.receivedAt = receivedAt
        self.normalized = normalized
        self.raw = raw
        self.origin = origin
    }
}
