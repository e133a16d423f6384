import NIOCore
import PostgresNIO
import SluiceCore

/// One event's column values for the PostgreSQL `events` table, and the way back.
struct PostgresEventRow: Sendable {
    var id: String
    var source: String
    var dedupeKey: ByteBuffer
    var logType: String
    var occurredAt: Int64
    var receivedAt: Int64
    var action: String
    var actorType: String?
    var actorID: String?
    var actorName: String?
    var actorMetadata: String?
    var targets: String
    var location: String?
    var userAgent: String?
    var schemaVersion: Int32?
    var raw: ByteBuffer
    var origin: String?
    var escaped: Bool
    var terms: [String]

    static let columnCount = 19
    static let insertColumns = """
        id, source, dedupe_key, log_type, occurred_at, received_at, action, actor_type, actor_id, actor_name, \
        actor_metadata, targets, location, user_agent, schema_version, raw, origin, escaped, terms
        """
    static let selectColumns = """
        e.seq, e.id, e.source, e.log_type, e.occurred_at, e.received_at, e.action, e.actor_type, e.actor_id, \
        e.actor_name, e.actor_metadata, e.targets, e.location, e.user_agent, e.schema_version, e.raw, e.origin, e.escaped
        """

    static func rows(_ events: [IncomingEvent], receivedAt: Timestamp) -> [PostgresEventRow] {
        var generator = SplitMix64()
        return events.map { event in
            let n = event.normalized
            let id = EventID.make(at: receivedAt, using: &generator)
            let text: [String?] = [event.source, event.logType, n.action, n.actor?.type, n.actor?.id, n.actor?.name, n.context.location, n.context.userAgent, event.origin]
            let escaped = PostgresText.needsEscaping(text)
            func stored(_ value: String?) -> String? { escaped ? PostgresText.escape(value) : value }
            let terms = EventTerms.terms(
                source: event.source, logType: event.logType, action: n.action, actorType: n.actor?.type,
                actorID: n.actor?.id, actorName: n.actor?.name, targets: n.targets
            )
            return PostgresEventRow(
                id: id.rawValue, source: stored(event.source)!, dedupeKey: ByteBuffer(bytes: StoredDedupeKey.bytes(for: event)),
                logType: stored(event.logType)!, occurredAt: n.occurredAt.microseconds, receivedAt: receivedAt.microseconds,
                action: stored(n.action)!, actorType: stored(n.actor?.type), actorID: stored(n.actor?.id), actorName: stored(n.actor?.name),
                actorMetadata: n.actor.map { StoredJSON.encodeMetadata($0.metadata) }, targets: StoredJSON.encodeTargets(n.targets),
                location: stored(n.context.location), userAgent: stored(n.context.userAgent), schemaVersion: n.schemaVersion.map(Int32.init),
                raw: ByteBuffer(bytes: event.raw), origin: stored(event.origin), escaped: escaped,
                terms: terms.sorted()
            )
        }
    }

    func bind(into binds: inout PostgresBindings) {
        binds.append(id)
        binds.append(source)
        binds.append(dedupeKey)
        binds.append(logType)
        binds.append(occurredAt)
        binds.append(receivedAt)
        binds.append(action)
        binds.append(actorType)
        binds.append(actorID)
        binds.append(actorName)
        binds.append(actorMetadata)
        binds.append(targets)
        binds.append(location)
        binds.append(userAgent)
        binds.append(schemaVersion)
        binds.append(raw)
        binds.append(origin)
        binds.append(escaped)
        binds.append(terms)
    }

    /// Decodes a row selected with ``selectColumns``.
    static func storedEvent(from row: PostgresRow) throws -> StoredEvent {
        let (seq, id, source, logType, occurredAt, receivedAt, action, actorType, actorID) =
            try row.decode((Int64, String, String, String, Int64, Int64, String, String?, String?).self)
        let cells = row.makeRandomAccess()
        let actorName = try cells[9].decode(String?.self)
        let metadata = try cells[10].decode(String?.self)
        let targets = try cells[11].decode(String.self)
        let location = try cells[12].decode(String?.self)
        let userAgent = try cells[13].decode(String?.self)
        let schemaVersion = try cells[14].decode(Int32?.self)
        let raw = try cells[15].decode(ByteBuffer.self)
        let origin = try cells[16].decode(String?.self)
        let escaped = try cells[17].decode(Bool.self)
        func text(_ value: String?) -> String? { escaped ? PostgresText.unescape(value) : value }
        let actor = text(actorType).map { type in
            AuditActor(type: type, id: text(actorID) ?? "", name: text(actorName), metadata: StoredJSON.decodeMetadata(metadata ?? "{}"))
        }
        let normalized = NormalizedEvent(
            occurredAt: Timestamp(microseconds: occurredAt), action: text(action)!, actor: actor,
            targets: StoredJSON.decodeTargets(targets), context: AuditContext(location: text(location), userAgent: text(userAgent)),
            schemaVersion: schemaVersion.map(Int.init)
        )
        guard let eventID = EventID(id) else {
            throw StoreError(.corrupt, "event \(seq) has an invalid id")
        }
        return StoredEvent(
            seq: seq, id: eventID, source: text(source)!, logType: text(logType)!, receivedAt: Timestamp(microseconds: receivedAt),
            normalized: normalized, raw: Array(buffer: raw), origin: text(origin)
        )
    }
}
