import SluiceCore

/// A configured push feed: where events arrive, how senders authenticate and how events are normalized.
public struct PushFeed: Sendable {
    public var name: String
    /// Chronicle log-type name recorded on every event (`INCIDENT_IO`, ...).
    public var logType: String
    public var authentication: FeedAuthentication
    public var normalizer: EventNormalizer
    public var limits: PushLimits

    public init(name: String, logType: String, authentication: FeedAuthentication, normalizer: EventNormalizer, limits: PushLimits = .init()) {
        self.name = name
        self.logType = logType
        self.authentication = authentication
        self.normalizer = normalizer
        self.limits = limits
    }

    /// Feed names are URL path segments: letters, digits, `-`, `_` and `.`, 1 to 64 characters.
    public static func isValidName(_ name: String) -> Bool { ResourceName.isValid(name) }
}

/// Turns decoded push events into store appends: normalize, key for dedupe, commit.
public struct PushIngestor: Sendable {
    public let store: any EventStore

    public init(store: any EventStore) {
        self.store = store
    }

    /// Normalizes and commits `events` for `feed` atomically; returns after the commit.
    public func ingest(_ events: [DecodedEvent], feed: PushFeed, webhookID: String?, receivedAt: Timestamp) async throws(StoreError) -> AppendResult {
        var incoming: [IncomingEvent] = []
        incoming.reserveCapacity(events.count)
        for (index, event) in events.enumerated() {
            let (normalized, ownTime) = feed.normalizer.normalizeKeepingOwnTime(event.value, receivedAt: receivedAt)
            incoming.append(IncomingEvent(
                source: feed.name,
                logType: feed.logType,
                dedupeKey: feed.normalizer.dedupeKey(for: event.value, webhookID: webhookID, index: index, sizeHint: event.raw.count + 16),
                dedupeTime: ownTime,
                raw: event.raw,
                normalized: normalized
            ))
        }
        return try await store.append(incoming, receivedAt: receivedAt)
    }
}
