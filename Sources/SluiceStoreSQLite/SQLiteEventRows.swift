import Foundation
import GRDB
import SluiceCompression
import SluiceCore
import SluiceStoreKit

/// Conditions on a lean row's label ids (source, log type, action), checked by SQLite before the
/// row's payload is read: an exact filter on one of these names is a number comparison.
struct LabelCondition {
    var source: Int64?
    var logType: Int64?
    var action: Int64?

    init(source: Int64? = nil, logType: Int64? = nil, action: Int64? = nil) {
        self.source = source
        self.logType = logType
        self.action = action
    }

    /// The conditions as SQL to add to a condition on the lean table (` AND source = ?` ...).
    var sql: (String, [DatabaseValue]) {
        var sql = ""
        var arguments: [DatabaseValue] = []
        for (column, value) in [("source", source), ("log_type", logType), ("action", action)] {
            guard let value else { continue }
            sql += " AND \(column) = ?"
            arguments.append(value.databaseValue)
        }
        return (sql, arguments)
    }
}

/// Reads event rows back into events, from the lean table (`events`) and, while an upgraded
/// store still has any, from the table of the previous layout (`events_v1`).
///
/// Both tables have `seq` and `occurred_at`, so one condition and one order select from both;
/// the two results are merged in that order. A row that does not decode is an error naming the
/// event (its id and seq), never a wrong event.
struct SQLiteEventRows {
    let db: Database
    let labels: LabelTable
    let book: DictionaryBook
    let decompressor: ZstdDecompressor
    /// Whether `events_v1` still exists.
    let legacy: Bool

    /// The lean table's columns, in the order ``event(_:)`` reads them.
    static let columns = "seq, source, log_type, action, occurred_at, origin, dict, payload"
    /// The previous layout's columns, in the order ``legacyEvent(_:)`` reads them.
    static let legacyColumns = """
        seq, id, source, log_type, occurred_at, received_at, action, actor_type, actor_id, actor_name, \
        actor_metadata, targets, location, user_agent, schema_version, raw, origin
        """

    /// How rows are merged across the two tables.
    enum Order {
        case seq
        case timeDescending
        case timeAscending

        var sql: String {
            switch self {
            case .seq: "ORDER BY seq"
            case .timeDescending: "ORDER BY occurred_at DESC, seq DESC"
            case .timeAscending: "ORDER BY occurred_at, seq"
            }
        }

        func precedes(_ a: StoredEvent, _ b: StoredEvent) -> Bool {
            switch self {
            case .seq: a.seq < b.seq
            case .timeDescending: (a.normalized.occurredAt, a.seq) > (b.normalized.occurredAt, b.seq)
            case .timeAscending: (a.normalized.occurredAt, a.seq) < (b.normalized.occurredAt, b.seq)
            }
        }
    }

    /// Events whose rows meet `condition` (over `seq` and `occurred_at` only), in `order`, at
    /// most `limit`; `keep` drops rows after decoding (a filter), before the limit counts them.
    /// `notIndexed` reads the tables without their indexes (`NOT INDEXED`): for a short range of
    /// rowids at the end, which SQLite would otherwise find by walking a whole index.
    /// `names` drops rows of the lean table by their label ids before anything is decompressed.
    func events(
        where condition: String, arguments: [DatabaseValue] = [], order: Order, limit: Int? = nil, notIndexed: Bool = false,
        names: LabelCondition = LabelCondition(), keep: (StoredEvent) -> Bool = { _ in true }
    ) throws -> [StoredEvent] {
        let hint = notIndexed ? " NOT INDEXED" : ""
        // In SQL, so that rows of other names are never handed over at all.
        let (namesSQL, namesArguments) = names.sql
        var found = try fetch(
            table: "events" + hint, columns: Self.columns, condition: namesSQL.isEmpty ? condition : "(\(condition))" + namesSQL, arguments: arguments + namesArguments, order: order,
            limit: limit, keep: keep, decode: event
        )
        if legacy {
            let old = try fetch(
                table: "events_v1" + hint, columns: Self.legacyColumns, condition: condition, arguments: arguments, order: order, limit: limit,
                keep: keep, decode: legacyEvent
            )
            if !old.isEmpty {
                found += old
                found.sort(by: order.precedes)
                if let limit, found.count > limit { found.removeLast(found.count - limit) }
            }
        }
        return found
    }

    private func fetch(
        table: String, columns: String, condition: String, arguments: [DatabaseValue], order: Order, limit: Int?,
        keep: (StoredEvent) -> Bool, decode: (Row) throws -> StoredEvent
    ) throws -> [StoredEvent] {
        let rows = try Row.fetchCursor(
            db, sql: "SELECT \(columns) FROM \(table) WHERE \(condition) \(order.sql)", arguments: StatementArguments(arguments)
        )
        var out: [StoredEvent] = []
        while let row = try rows.next() {
            let event = try decode(row)
            guard keep(event) else { continue }
            out.append(event)
            if let limit, out.count >= limit { break }
        }
        return out
    }

    /// A row of the lean table.
    func event(_ row: Row) throws -> StoredEvent {
        let seq: Int64 = row[0]
        let occurredAt = Timestamp(microseconds: row[4])
        let originID: Int64? = row[5]
        let (source, logType, action) = (try labels.value(row[1], in: db), try labels.value(row[2], in: db), try labels.value(row[3], in: db))
        let origin = try originID.map { try labels.value($0, in: db) }
        do {
            return try EventRecord.storedEvent(
                seq: seq, source: source, logType: logType, action: action, origin: origin, occurredAt: occurredAt,
                record: try record(row, seq: seq, occurredAt: occurredAt)
            )
        } catch {
            throw Self.unreadable(seq: seq, occurredAt: occurredAt, error)
        }
    }

    /// What delivery needs of a row of the lean table: the record's head only.
    func outboundEvent(_ row: Row) throws -> OutboundEvent {
        let seq: Int64 = row[0]
        let occurredAt = Timestamp(microseconds: row[4])
        let head: (raw: [UInt8], receivedAt: Timestamp)
        do {
            head = try EventRecord.decodeHead(try record(row, seq: seq, occurredAt: occurredAt), occurredAt: occurredAt)
        } catch {
            throw Self.unreadable(seq: seq, occurredAt: occurredAt, error)
        }
        let originID: Int64? = row[5]
        return OutboundEvent(
            seq: seq, source: try labels.value(row[1], in: db), logType: try labels.value(row[2], in: db),
            action: try labels.value(row[3], in: db), occurredAt: occurredAt, receivedAt: head.receivedAt,
            origin: try originID.map { try labels.value($0, in: db) }, raw: head.raw
        )
    }

    /// The record a lean row's payload holds.
    func record(_ row: Row, seq: Int64, occurredAt: Timestamp) throws(StoreError) -> [UInt8] {
        let dict: Int64? = row[6]
        let payload: [UInt8]
        do {
            payload = try row.withUnsafeData(atIndex: 7) { $0.map { [UInt8]($0) } ?? [] }
        } catch {
            throw StoreError(.corrupt, "its payload cannot be read: \(error)")
        }
        return try PayloadCodec.open(payload, dict: dict, book: book, using: decompressor) { (id) throws(StoreError) in
            try Self.loadDictionary(id, in: db)
        }
    }

    /// A stored dictionary's bytes and level.
    static func loadDictionary(_ id: Int64, in db: Database) throws(StoreError) -> (bytes: [UInt8], level: Int32)? {
        do {
            guard let row = try Row.fetchOne(db, sql: "SELECT bytes, level FROM dictionaries WHERE id = ?", arguments: [id]) else { return nil }
            let bytes: Data = row[0]
            return ([UInt8](bytes), Int32(truncatingIfNeeded: row[1] as Int64))
        } catch {
            throw StoreError(.unavailable, "reading zstd dictionary \(id) failed: \(error)")
        }
    }

    static func unreadable(seq: Int64, occurredAt: Timestamp, _ error: any Error) -> StoreError {
        let reason = (error as? StoreError)?.message ?? "\(error)"
        return StoreError(.corrupt, "event \(EventID.stored(occurredAt: occurredAt, seq: seq)) (seq \(seq)) cannot be read: \(reason)")
    }

    /// A row of the previous layout.
    func legacyEvent(_ row: Row) throws -> StoredEvent {
        try Self.legacyEvent(row)
    }

    /// A row of the previous layout (``legacyColumns``).
    static func legacyEvent(_ row: Row) throws -> StoredEvent {
        let actorType: String? = row[7]
        let actor = actorType.map { type in
            AuditActor(type: type, id: row[8] ?? "", name: row[9], metadata: StoredJSON.decodeMetadata(row[10] ?? "{}"))
        }
        let normalized = NormalizedEvent(
            occurredAt: Timestamp(microseconds: row[4]), action: row[6], actor: actor,
            targets: StoredJSON.decodeTargets(row[11] ?? "[]"),
            context: AuditContext(location: row[12], userAgent: row[13]), schemaVersion: row[14]
        )
        guard let id = EventID(row[1]) else {
            throw StoreError(.corrupt, "event \(row[0] as Int64? ?? -1) has an invalid id")
        }
        return StoredEvent(
            seq: row[0], id: id, source: row[2], logType: row[3], receivedAt: Timestamp(microseconds: row[5]), normalized: normalized,
            raw: try row.withUnsafeData(atIndex: 15) { $0.map { [UInt8]($0) } ?? [] }, origin: row[16]
        )
    }

    /// Outbound events after `condition`, in seq order, from both tables.
    func outboundEvents(where condition: String, arguments: [DatabaseValue], order: Order, limit: Int?, includeLegacy: Bool = true) throws -> [OutboundEvent] {
        var found: [OutboundEvent] = []
        let limitSQL = limit.map { " LIMIT \($0)" } ?? ""
        let rows = try Row.fetchCursor(db, sql: "SELECT \(Self.columns) FROM events WHERE \(condition) \(order.sql)\(limitSQL)", arguments: StatementArguments(arguments))
        while let row = try rows.next() { found.append(try outboundEvent(row)) }
        if legacy && includeLegacy {
            let old = try Row.fetchAll(
                db, sql: "SELECT \(Self.legacyColumns) FROM events_v1 WHERE \(condition) \(order.sql)\(limitSQL)", arguments: StatementArguments(arguments)
            ).map { row in
                let event = try legacyEvent(row)
                return OutboundEvent(
                    seq: event.seq, source: event.source, logType: event.logType, action: event.normalized.action,
                    occurredAt: event.normalized.occurredAt, receivedAt: event.receivedAt, origin: event.origin, raw: event.raw
                )
            }
            if !old.isEmpty {
                found += old
                switch order {
                case .seq: found.sort { $0.seq < $1.seq }
                case .timeAscending: found.sort { ($0.occurredAt, $0.seq) < ($1.occurredAt, $1.seq) }
                case .timeDescending: found.sort { ($0.occurredAt, $0.seq) > ($1.occurredAt, $1.seq) }
                }
                if let limit, found.count > limit { found.removeLast(found.count - limit) }
            }
        }
        return found
    }
}
