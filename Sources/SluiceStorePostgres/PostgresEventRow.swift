import NIOCore
import PostgresNIO
import SluiceCompression
import SluiceCore
import SluiceStoreKit

/// One event's column values for the PostgreSQL `events` table, and the way back.
///
/// New rows hold the event as the SQLite store does: a compressed record (`payload`, with the
/// dictionary in `dict`) beside the columns queries and routes need (source, log type, action,
/// origin, time, dedupe key, filter terms). Rows written before the lean store hold the event in
/// the earlier columns (`raw`, `targets`, `actor_*`, ...) until the compaction pass moves them
/// into a payload; they keep their `id`, which new rows derive from `(occurred_at, seq)`.
struct PostgresEventRow: Sendable {
    var source: String
    var dedupeKey: ByteBuffer
    var logType: String
    var occurredAt: Int64
    var receivedAt: Int64
    var action: String
    var origin: String?
    var escaped: Bool
    var terms: [String]
    var dict: Int64?
    var payload: ByteBuffer
    var rawLength: Int32

    /// Both forms' columns, in the order ``PostgresEventDecoder`` reads them.
    static let selectColumns = """
        e.seq, e.id, e.source, e.log_type, e.occurred_at, e.received_at, e.action, e.actor_type, e.actor_id, \
        e.actor_name, e.actor_metadata, e.targets, e.location, e.user_agent, e.schema_version, e.raw, e.origin, e.escaped, \
        e.dict, e.payload
        """

    init(_ event: PreparedEvent, receivedAt: Timestamp) {
        let text: [String?] = [event.source, event.logType, event.action, event.origin]
        let escaped = PostgresText.needsEscaping(text)
        func stored(_ value: String?) -> String? { escaped ? PostgresText.escape(value) : value }
        self.escaped = escaped
        source = stored(event.source)!
        dedupeKey = ByteBuffer(bytes: event.dedupeKey)
        logType = stored(event.logType)!
        occurredAt = event.occurredAt
        self.receivedAt = receivedAt.microseconds
        action = stored(event.action)!
        origin = stored(event.origin)
        terms = event.terms.map(\.term).sorted()
        dict = event.dict
        payload = ByteBuffer(bytes: event.payload)
        rawLength = Int32(clamping: event.rawBytes)
    }

    /// Rows as one array per column, for an INSERT that `unnest`s them (``PostgresEventStore``'s
    /// insert): PostgreSQL arrays hold no NULLs here, so a missing origin is a flag and a
    /// missing `dict` is -1 (0 means compressed without a dictionary), and the terms of all rows
    /// are one array beside another naming each term's row (1-based position in this order).
    struct Columns {
        var index: [Int64] = []
        var source: [String] = []
        var dedupeKey: [ByteBuffer] = []
        var logType: [String] = []
        var occurredAt: [Int64] = []
        var receivedAt: [Int64] = []
        var action: [String] = []
        var origin: [String] = []
        var hasOrigin: [Bool] = []
        var escaped: [Bool] = []
        var termRow: [Int32] = []
        var terms: [String] = []
        var dict: [Int64] = []
        var payload: [ByteBuffer] = []
        var rawLength: [Int32] = []

        /// `rows` in the order `order` gives, each keeping its index in `rows`.
        init(_ rows: [PostgresEventRow], in order: [Int]) {
            for i in order {
                let row = rows[i]
                index.append(Int64(i))
                source.append(row.source)
                dedupeKey.append(row.dedupeKey)
                logType.append(row.logType)
                occurredAt.append(row.occurredAt)
                receivedAt.append(row.receivedAt)
                action.append(row.action)
                origin.append(row.origin ?? "")
                hasOrigin.append(row.origin != nil)
                escaped.append(row.escaped)
                let position = Int32(index.count)
                termRow.append(contentsOf: repeatElement(position, count: row.terms.count))
                terms.append(contentsOf: row.terms)
                dict.append(row.dict ?? -1)
                payload.append(row.payload)
                rawLength.append(row.rawLength)
            }
        }

        /// $1 … $15, in the order the insert reads them ($11 and $12 are the terms).
        func bind(into binds: inout PostgresBindings) {
            binds.append(index)
            binds.append(source)
            binds.append(dedupeKey)
            binds.append(logType)
            binds.append(occurredAt)
            binds.append(receivedAt)
            binds.append(action)
            binds.append(origin)
            binds.append(hasOrigin)
            binds.append(escaped)
            binds.append(termRow)
            binds.append(terms)
            binds.append(dict)
            binds.append(payload)
            binds.append(rawLength)
        }
    }

    /// The (source, key) that identifies the row among stored events, as RETURNING gives it back.
    struct Identity: Hashable {
        var source: String
        var key: ByteBuffer
    }

    var identity: Identity { Identity(source: source, key: dedupeKey) }
}

/// Reads rows selected with ``PostgresEventRow/selectColumns`` back into events, loading a
/// dictionary the store has not seen yet (written by another instance) on first use.
struct PostgresEventDecoder {
    let book: DictionaryBook
    let contexts: ZstdContextPool
    let loadDictionary: @Sendable (Int64) async throws -> (bytes: [UInt8], level: Int32)?

    /// Decodes `rows`; every row that fails names its event.
    func events(_ rows: [PostgresRow]) async throws -> [StoredEvent] {
        try await prepare(rows)
        return try rows.map(event)
    }

    /// Loads the dictionaries `rows` use (column `dictColumn`) that are not loaded yet.
    func prepare(_ rows: [PostgresRow], dictColumn: Int = 18) async throws {
        var needed = Set<Int64>()
        for row in rows {
            if let dict = try row.makeRandomAccess()[dictColumn].decode(Int64?.self), dict > 0 { needed.insert(dict) }
        }
        for id in needed where !book.isLoaded(id) {
            guard let stored = try await loadDictionary(id) else { continue }
            _ = try book.dictionary(id) { () throws(StoreError) in stored }
        }
    }

    /// The columns ``outboundEvent(_:)`` reads, in order.
    static let outboundColumns = "seq, source, log_type, action, occurred_at, received_at, origin, raw, escaped, dict, payload"

    /// What delivery needs of a row of ``outboundColumns``: the record's head only. Its
    /// dictionary must be loaded (``prepare(_:dictColumn:)``).
    func outboundEvent(_ row: PostgresRow) throws -> OutboundEvent {
        let cells = row.makeRandomAccess()
        let seq = try cells[0].decode(Int64.self)
        let occurredAt = Timestamp(microseconds: try cells[4].decode(Int64.self))
        let escaped = try cells[8].decode(Bool.self)
        func text(_ value: String?) -> String? { escaped ? PostgresText.unescape(value) : value }
        var raw: [UInt8]
        var receivedAt = Timestamp(microseconds: try cells[5].decode(Int64.self))
        if let payload = try cells[10].decode(ByteBuffer?.self) {
            let dict = try cells[9].decode(Int64?.self)
            do {
                let record = try contexts.withDecompressor { (decompressor) throws(StoreError) in
                    try PayloadCodec.open(Array(buffer: payload), dict: dict, book: book, using: decompressor) { _ throws(StoreError) in nil }
                }
                (raw, receivedAt) = try EventRecord.decodeHead(record, occurredAt: occurredAt)
            } catch {
                throw StoreError(.corrupt, "event \(EventID.stored(occurredAt: occurredAt, seq: seq)) (seq \(seq)) cannot be read: \(error.message)")
            }
        } else {
            guard let buffer = try cells[7].decode(ByteBuffer?.self) else {
                throw StoreError(.corrupt, "event \(seq) has neither a payload nor the columns of the earlier form")
            }
            raw = Array(buffer: buffer)
        }
        return OutboundEvent(
            seq: seq, source: text(try cells[1].decode(String.self))!, logType: text(try cells[2].decode(String.self))!,
            action: text(try cells[3].decode(String.self))!, occurredAt: occurredAt, receivedAt: receivedAt,
            origin: text(try cells[6].decode(String?.self)), raw: raw
        )
    }

    /// Outbound events of `rows`, their dictionaries loaded first.
    func outboundEvents(_ rows: [PostgresRow]) async throws -> [OutboundEvent] {
        try await prepare(rows, dictColumn: 9)
        return try rows.map(outboundEvent)
    }

    /// One row; its dictionary must be loaded (``prepare(_:dictColumn:)``).
    func event(_ row: PostgresRow) throws -> StoredEvent {
        let cells = row.makeRandomAccess()
        let seq = try cells[0].decode(Int64.self)
        let occurredAt = Timestamp(microseconds: try cells[4].decode(Int64.self))
        let escaped = try cells[17].decode(Bool.self)
        func text(_ value: String?) -> String? { escaped ? PostgresText.unescape(value) : value }
        let legacyID = try cells[1].decode(String?.self)
        let source = text(try cells[2].decode(String.self))!
        let logType = text(try cells[3].decode(String.self))!
        let action = text(try cells[6].decode(String.self))!
        let origin = text(try cells[16].decode(String?.self))
        if let payload = try cells[19].decode(ByteBuffer?.self) {
            let dict = try cells[18].decode(Int64?.self)
            let fields: EventRecord.Fields
            do {
                let record = try contexts.withDecompressor { (decompressor) throws(StoreError) in
                    try PayloadCodec.open(Array(buffer: payload), dict: dict, book: book, using: decompressor) { _ throws(StoreError) in nil }
                }
                fields = try EventRecord.decode(record, occurredAt: occurredAt)
            } catch {
                throw StoreError(.corrupt, "event \(EventID.stored(occurredAt: occurredAt, seq: seq)) (seq \(seq)) cannot be read: \(error.message)")
            }
            return StoredEvent(
                seq: seq, id: legacyID.flatMap(EventID.init) ?? EventID.stored(occurredAt: occurredAt, seq: seq), source: source,
                logType: logType, receivedAt: fields.receivedAt,
                normalized: NormalizedEvent(
                    occurredAt: occurredAt, action: action, actor: fields.actor, targets: fields.targets, context: fields.context,
                    schemaVersion: fields.schemaVersion
                ),
                raw: fields.raw, origin: origin
            )
        }
        // The form before the lean store.
        let receivedAt = try cells[5].decode(Int64.self)
        let actorType = try cells[7].decode(String?.self)
        let actorID = try cells[8].decode(String?.self)
        let actorName = try cells[9].decode(String?.self)
        let metadata = try cells[10].decode(String?.self)
        let targets = try cells[11].decode(String?.self)
        let location = try cells[12].decode(String?.self)
        let userAgent = try cells[13].decode(String?.self)
        let schemaVersion = try cells[14].decode(Int32?.self)
        let raw = try cells[15].decode(ByteBuffer?.self)
        let actor = text(actorType).map { type in
            AuditActor(type: type, id: text(actorID) ?? "", name: text(actorName), metadata: StoredJSON.decodeMetadata(metadata ?? "{}"))
        }
        guard let legacyID, let eventID = EventID(legacyID), let raw else {
            throw StoreError(.corrupt, "event \(seq) has neither a payload nor the columns of the earlier form")
        }
        return StoredEvent(
            seq: seq, id: eventID, source: source, logType: logType, receivedAt: Timestamp(microseconds: receivedAt),
            normalized: NormalizedEvent(
                occurredAt: occurredAt, action: action, actor: actor, targets: StoredJSON.decodeTargets(targets ?? "[]"),
                context: AuditContext(location: text(location), userAgent: text(userAgent)), schemaVersion: schemaVersion.map(Int.init)
            ),
            raw: Array(buffer: raw), origin: origin
        )
    }
}
