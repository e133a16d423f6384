/// One administrative action of Sluice itself, recorded as an ordinary event (source `sluice`,
/// log type `SLUICE_AUDIT`) in the audit schema: who did what to which things, from where.
/// The actions and their fields are listed in docs/audit-events.md.
public struct AdminAuditEntry: Sendable, Hashable {
    /// The source name of these events; feeds and collectors may not use it.
    public static let source = "sluice"
    public static let logType = "SLUICE_AUDIT"
    /// The log type of Sluice's integrity checkpoints (docs/integrity.md), also from source `sluice`.
    public static let integrityLogType = "SLUICE_INTEGRITY"

    public var action: String
    /// The version of this action's shape (its targets and metadata).
    public var version: Int
    public var actor: AuditActor
    public var targets: [AuditTarget]
    public var context: AuditContext
    /// Action-specific facts (counts, times, hashes); never a secret.
    public var metadata: [JSONMember]
    public var occurredAt: Timestamp

    public init(
        action: String, version: Int = 1, actor: AuditActor, targets: [AuditTarget] = [], context: AuditContext = AuditContext(),
        metadata: [JSONMember] = [], occurredAt: Timestamp
    ) {
        self.action = action
        self.version = version
        self.actor = actor
        self.targets = targets
        self.context = context
        self.metadata = metadata
        self.occurredAt = occurredAt
    }

    /// A named admin token or signed-in user: the name, never the token.
    public static func user(_ name: String) -> AuditActor { AuditActor(type: "user", id: "token:\(name)", name: name) }
    /// An operator at the command line of the host, by their login name.
    public static func console(_ login: String) -> AuditActor { AuditActor(type: "user", id: "cli:\(login)", name: login) }
    /// Sluice itself: the scheduler, retention, start-up.
    public static let system = AuditActor(type: "system", id: "sluice", name: "Sluice")

    /// The entry as an event to store. The raw bytes are the entry in incident.io's audit-log
    /// shape (the model of the schema), so exports and destinations see the same fields.
    /// Each entry is distinct: its dedupe key is random.
    public func incomingEvent(dedupeKey: [UInt8] = (0..<16).map { _ in UInt8.random(in: 0...255) }) -> IncomingEvent {
        var actorMembers = [JSONMember("type", .string(actor.type)), JSONMember("id", .string(actor.id))]
        if let name = actor.name { actorMembers.append(JSONMember("name", .string(name))) }
        var contextMembers: [JSONMember] = []
        if let location = context.location { contextMembers.append(JSONMember("location", .string(location))) }
        if let userAgent = context.userAgent { contextMembers.append(JSONMember("user_agent", .string(userAgent))) }
        let targetValues: [JSONValue] = targets.map { target in
            var members = [JSONMember("type", .string(target.type)), JSONMember("id", .string(target.id))]
            if let name = target.name { members.append(JSONMember("name", .string(name))) }
            return .object(members)
        }
        let document = JSONValue.object([
            JSONMember("action", .string(action)), JSONMember("version", .number(String(version))), JSONMember("occurred_at", .string(occurredAt.rfc3339)),
            JSONMember("actor", .object(actorMembers)), JSONMember("targets", .array(targetValues)), JSONMember("context", .object(contextMembers)),
            JSONMember("metadata", .object(metadata)),
        ])
        var raw: [UInt8] = []
        document.write(into: &raw, sortedKeys: false)
        return IncomingEvent(
            source: Self.source, logType: Self.logType, dedupeKey: dedupeKey, raw: raw,
            normalized: NormalizedEvent(occurredAt: occurredAt, action: action, actor: actor, targets: targets, context: context, schemaVersion: version)
        )
    }
}

/// Who asked for an administrative action, and from where (client IP, user agent).
public struct AuditRequester: Sendable, Hashable {
    public var actor: AuditActor
    public var context: AuditContext

    public init(actor: AuditActor, context: AuditContext = AuditContext()) {
        self.actor = actor
        self.context = context
    }

    /// The entry for `action` by this requester.
    public func entry(_ action: String, targets: [AuditTarget], metadata: [JSONMember] = [], at time: Timestamp) -> AdminAuditEntry {
        AdminAuditEntry(action: action, actor: actor, targets: targets, context: context, metadata: metadata, occurredAt: time)
    }
}

extension AdminAuditEntry {
    /// `collector.backfill_started`, built the same way by the API, the UI and the CLI.
    public static func backfillStarted(collector: String, streams: [String], window: ClosedRange<Timestamp>, by requester: AuditRequester, at now: Timestamp) -> AdminAuditEntry {
        requester.entry(
            "collector.backfill_started",
            targets: [AuditTarget(type: "collector", id: collector)] + streams.map { AuditTarget(type: "stream", id: "\(collector)/\($0)") },
            metadata: [JSONMember("since", .string(window.lowerBound.rfc3339)), JSONMember("until", .string(window.upperBound.rfc3339))], at: now
        )
    }

    /// `collector.checkpoint_rewound`, built the same way by the API and the CLI.
    public static func checkpointRewind(collector: String, stream: String, to time: Timestamp, by requester: AuditRequester, at now: Timestamp) -> AdminAuditEntry {
        requester.entry(
            "collector.checkpoint_rewound", targets: [AuditTarget(type: "collector", id: collector), AuditTarget(type: "stream", id: "\(collector)/\(stream)")],
            metadata: [JSONMember("to", .string(time.rfc3339))], at: now
        )
    }
}
