import Foundation
import GRDB
import SluiceCore
import Synchronization

/// One process owns a SQLite file, so its writes carry no lease: `fence` is always nil here.
extension SQLiteEventStore: DeliveryLedger {
    /// Runs `body` with a row reader and maps its errors.
    private func readOutbound(doing operation: String, _ body: @escaping @Sendable (SQLiteEventRows) throws -> [OutboundEvent]) async throws(StoreError) -> [OutboundEvent] {
        do {
            return try await readRows(body)
        } catch {
            throw Self.storeError(error, doing: operation)
        }
    }

    public func outboundEvents(afterSeq seq: Int64, limit: Int) async throws(StoreError) -> [OutboundEvent] {
        try await readOutbound(doing: "read events for delivery") { rows in
            try rows.outboundEvents(where: "seq > ?", arguments: [seq.databaseValue], order: .seq, limit: limit)
        }
    }

    public func outboundEvents(seqs: [Int64]) async throws(StoreError) -> [OutboundEvent] {
        guard !seqs.isEmpty else { return [] }
        let list = "[" + seqs.map(String.init).joined(separator: ",") + "]"
        return try await readOutbound(doing: "read dead-lettered events") { rows in
            try rows.outboundEvents(where: "seq IN (SELECT value FROM json_each(?))", arguments: [list.databaseValue], order: .seq, limit: nil)
        }
    }

    public func outboundEvents(occurredFrom since: Timestamp, until: Timestamp, after position: EventCursor?, limit: Int) async throws(StoreError) -> [OutboundEvent] {
        // Row-value comparison walks the time index from the position onwards.
        let from = position.map { ($0.occurredAt.microseconds, $0.seq) } ?? (since.microseconds, -1)
        return try await readOutbound(doing: "read events for a replay") { rows in
            try rows.outboundEvents(
                where: "(occurred_at, seq) > (?, ?) AND occurred_at < ?",
                arguments: [from.0.databaseValue, from.1.databaseValue, until.microseconds.databaseValue], order: .timeAscending, limit: limit
            )
        }
    }

    public func latestSeq() async throws(StoreError) -> Int64 {
        do {
            return try await pool.read { db in try Self.latestSeq(db, legacy: self.hasLegacy(db)) }
        } catch {
            throw Self.storeError(error, doing: "read the latest seq")
        }
    }

    /// The last `seq` a consumer (destination or workflow) has finished with; 0 when it has none.
    public func consumerCursor(_ consumer: String) async throws(StoreError) -> Int64 {
        do {
            return try await pool.read { db in
                try Int64.fetchOne(db, sql: "SELECT seq FROM consumer_cursors WHERE consumer = ?", arguments: [consumer]) ?? 0
            }
        } catch {
            throw Self.storeError(error, doing: "read consumer cursor")
        }
    }

    /// Moves a consumer's cursor; it never moves backwards unless `allowRewind` is set.
    public func setConsumerCursor(_ consumer: String, to seq: Int64, at time: Timestamp, allowRewind: Bool = false) async throws(StoreError) {
        do {
            try await pool.write { db in try Self.moveCursor(consumer, to: seq, at: time, allowRewind: allowRewind, in: db) }
        } catch {
            throw Self.storeError(error, doing: "write consumer cursor")
        }
    }

    static func moveCursor(_ consumer: String, to seq: Int64, at time: Timestamp, allowRewind: Bool, in db: Database) throws {
        let update = allowRewind ? "excluded.seq" : "max(consumer_cursors.seq, excluded.seq)"
        try db.execute(
            sql: """
                INSERT INTO consumer_cursors (consumer, seq, updated_at) VALUES (?, ?, ?)
                ON CONFLICT (consumer) DO UPDATE SET seq = \(update), updated_at = excluded.updated_at
                """,
            arguments: [consumer, seq, time.microseconds]
        )
    }

    public func commitDelivery(consumer: String, through seq: Int64, deadLetters: [DeadLetter], at time: Timestamp, fence: Lease?) async throws(StoreError) {
        do {
            try await pool.write { db in
                try Self.insertDeadLetters(deadLetters, in: db)
                try Self.moveCursor(consumer, to: seq, at: time, allowRewind: false, in: db)
            }
        } catch {
            throw Self.storeError(error, doing: "commit delivery progress")
        }
    }

    static func insertDeadLetters(_ letters: [DeadLetter], in db: Database) throws {
        guard !letters.isEmpty else { return }
        // A letter refused again (after a crash, or by a replay) keeps its first date and counts the attempt.
        let statement = try db.cachedStatement(sql: """
            INSERT INTO dead_letters (destination, seq, reason, created_at, attempts, redrive) VALUES (?, ?, ?, ?, ?, 0)
            ON CONFLICT (destination, seq) DO UPDATE SET reason = excluded.reason, attempts = dead_letters.attempts + 1, redrive = 0
            """)
        for letter in letters {
            try statement.execute(arguments: [letter.destination, letter.seq, letter.reason, letter.createdAt.microseconds, letter.attempts])
        }
    }

    public func backlog(afterSeq seq: Int64, routes: [DeliveryRoute]?, cap: Int) async throws(StoreError) -> (count: Int, oldest: Timestamp?) {
        do {
            return try await readRows { rows in
                let db = rows.db
                var legacyCondition = "seq > ?"
                var legacyArguments: [any DatabaseValueConvertible] = [seq]
                var condition = "seq > ?"
                var arguments: [any DatabaseValueConvertible] = [seq]
                if let routes {
                    guard !routes.isEmpty else { return (0, nil) }
                    // The routes' own rule (DeliveryRoute.matches), as SQL: any route, all of its
                    // filters; names are labels in the lean table, text in the previous one.
                    func among(_ column: String, _ kind: LabelTable.Kind, _ values: Set<String>) throws -> String {
                        let ids = try values.sorted().compactMap { try self.labels.existingID(kind, $0, in: db) }
                        if ids.isEmpty { return "0" }
                        arguments += ids.map { $0 as any DatabaseValueConvertible }
                        return "\(column) IN (\(Array(repeating: "?", count: ids.count).joined(separator: ",")))"
                    }
                    func amongText(_ column: String, _ values: Set<String>) -> String {
                        if values.isEmpty { return "0" }
                        legacyArguments += values.sorted().map { $0 as any DatabaseValueConvertible }
                        return "\(column) IN (\(Array(repeating: "?", count: values.count).joined(separator: ",")))"
                    }
                    let clauses = try routes.map { route in
                        var parts = [try among("source", .source, route.from)]
                        if let logTypes = route.logTypes { parts.append(try among("log_type", .logType, logTypes)) }
                        if let actions = route.actions { parts.append(try among("action", .action, actions)) }
                        return "(" + parts.joined(separator: " AND ") + ")"
                    }
                    condition += " AND (" + clauses.joined(separator: " OR ") + ")"
                    let legacyClauses = routes.map { route in
                        var parts = [amongText("source", route.from)]
                        if let logTypes = route.logTypes { parts.append(amongText("log_type", logTypes)) }
                        if let actions = route.actions { parts.append(amongText("action", actions)) }
                        return "(" + parts.joined(separator: " AND ") + ")"
                    }
                    legacyCondition += " AND (" + legacyClauses.joined(separator: " OR ") + ")"
                }
                var count = try Int.fetchOne(
                    db, sql: "SELECT count(*) FROM (SELECT 1 FROM events WHERE \(condition) LIMIT \(cap))", arguments: StatementArguments(arguments)
                ) ?? 0
                var oldest = try rows.outboundEvents(where: condition, arguments: arguments.map(\.databaseValue), order: .seq, limit: 1, includeLegacy: false).first
                if rows.legacy {
                    count += try Int.fetchOne(
                        db, sql: "SELECT count(*) FROM (SELECT 1 FROM events_v1 WHERE \(legacyCondition) LIMIT \(cap))", arguments: StatementArguments(legacyArguments)
                    ) ?? 0
                    if let first = try Row.fetchOne(
                        db, sql: "SELECT seq, received_at FROM events_v1 WHERE \(legacyCondition) ORDER BY seq LIMIT 1", arguments: StatementArguments(legacyArguments)
                    ), oldest.map({ $0.seq > first[0] as Int64 }) ?? true {
                        oldest = OutboundEvent(seq: first[0], source: "", logType: "", action: "", occurredAt: Timestamp(microseconds: 0), receivedAt: Timestamp(microseconds: first[1]), raw: [])
                    }
                }
                return (min(count, cap), oldest?.receivedAt)
            }
        } catch {
            throw Self.storeError(error, doing: "measure delivery backlog")
        }
    }

    static func deadLetter(from row: Row) -> DeadLetter {
        DeadLetter(
            destination: row["destination"], seq: row["seq"], reason: row["reason"], createdAt: Timestamp(microseconds: row["created_at"]),
            attempts: row["attempts"], redriveRequested: (row["redrive"] as Int) != 0
        )
    }

    public func deadLetters(destination: String, afterSeq seq: Int64, limit: Int) async throws(StoreError) -> [DeadLetter] {
        do {
            return try await pool.read { db in
                try Row.fetchAll(
                    db, sql: "SELECT * FROM dead_letters WHERE destination = ? AND seq > ? ORDER BY seq LIMIT ?",
                    arguments: [destination, seq, limit]
                ).map(Self.deadLetter(from:))
            }
        } catch {
            throw Self.storeError(error, doing: "list dead letters")
        }
    }

    public func deadLetterCount(destination: String) async throws(StoreError) -> Int {
        do {
            return try await pool.read { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM dead_letters WHERE destination = ?", arguments: [destination]) ?? 0
            }
        } catch {
            throw Self.storeError(error, doing: "count dead letters")
        }
    }

    public func requestRedrive(destination: String, seqs: [Int64]?, audit: AdminAuditEntry?) async throws(StoreError) -> Int {
        do {
            return try await writeControl { db in
                let marked = try Self.markRedrive(destination: destination, seqs: seqs, in: db)
                if var audit {
                    audit.metadata.append(JSONMember("letters", .number(String(marked))))
                    try self.insertAudit(audit, in: db)
                }
                return marked
            }
        } catch {
            throw Self.storeError(error, doing: "request a dead-letter re-drive")
        }
    }

    static func markRedrive(destination: String, seqs: [Int64]?, in db: Database) throws -> Int {
        if let seqs {
            guard !seqs.isEmpty else { return 0 }
            let marks = Array(repeating: "?", count: seqs.count).joined(separator: ",")
            try db.execute(
                sql: "UPDATE dead_letters SET redrive = 1 WHERE destination = ? AND seq IN (\(marks))",
                arguments: StatementArguments([destination as any DatabaseValueConvertible] + seqs.map { $0 as any DatabaseValueConvertible })
            )
        } else {
            try db.execute(sql: "UPDATE dead_letters SET redrive = 1 WHERE destination = ?", arguments: [destination])
        }
        return db.changesCount
    }

    public func redriveRequests(destination: String, limit: Int) async throws(StoreError) -> [DeadLetter] {
        do {
            return try await pool.read { db in
                try Row.fetchAll(
                    db, sql: "SELECT * FROM dead_letters WHERE destination = ? AND redrive = 1 ORDER BY seq LIMIT ?",
                    arguments: [destination, limit]
                ).map(Self.deadLetter(from:))
            }
        } catch {
            throw Self.storeError(error, doing: "read re-drive requests")
        }
    }

    public func settleRedrive(destination: String, delivered: [Int64], refused: [DeadLetter], fence: Lease?) async throws(StoreError) {
        do {
            try await pool.write { db in
                let remove = try db.cachedStatement(sql: "DELETE FROM dead_letters WHERE destination = ? AND seq = ?")
                for seq in delivered { try remove.execute(arguments: [destination, seq]) }
                try Self.insertDeadLetters(refused, in: db)
            }
        } catch {
            throw Self.storeError(error, doing: "settle re-driven dead letters")
        }
    }

    static func replay(from row: Row) -> ReplayJob {
        let occurred: Int64? = row["position_occurred"]
        let seq: Int64? = row["position_seq"]
        let finished: Int64? = row["finished_at"]
        return ReplayJob(
            id: row["id"], destination: row["destination"], since: Timestamp(microseconds: row["since"]), until: Timestamp(microseconds: row["until"]),
            position: occurred.flatMap { o in seq.map { EventCursor(occurredAt: Timestamp(microseconds: o), seq: $0) } },
            sent: row["sent"], createdAt: Timestamp(microseconds: row["created_at"]), finishedAt: finished.map(Timestamp.init(microseconds:))
        )
    }

    public func createReplay(destination: String, since: Timestamp, until: Timestamp, at time: Timestamp, audit: AdminAuditEntry?) async throws(StoreError) -> ReplayJob {
        do {
            return try await writeControl { db in
                try db.execute(
                    sql: "INSERT INTO replays (destination, since, until, created_at) VALUES (?, ?, ?, ?)",
                    arguments: [destination, since.microseconds, until.microseconds, time.microseconds]
                )
                let id = db.lastInsertedRowID
                if var audit {
                    audit.metadata.append(JSONMember("replay_id", .number(String(id))))
                    try self.insertAudit(audit, in: db)
                }
                return ReplayJob(
                    id: id, destination: destination, since: since, until: until, position: nil, sent: 0, createdAt: time, finishedAt: nil
                )
            }
        } catch {
            throw Self.storeError(error, doing: "create a replay")
        }
    }

    public func openReplays(destination: String?) async throws(StoreError) -> [ReplayJob] {
        do {
            return try await pool.read { db in
                if let destination {
                    return try Row.fetchAll(
                        db, sql: "SELECT * FROM replays WHERE finished_at IS NULL AND destination = ? ORDER BY id", arguments: [destination]
                    ).map(Self.replay(from:))
                }
                return try Row.fetchAll(db, sql: "SELECT * FROM replays WHERE finished_at IS NULL ORDER BY id").map(Self.replay(from:))
            }
        } catch {
            throw Self.storeError(error, doing: "list replays")
        }
    }

    public func advanceReplay(id: Int64, to position: EventCursor?, sent: Int, finishedAt: Timestamp?, fence: Lease?) async throws(StoreError) {
        do {
            try await pool.write { db in
                try db.execute(
                    sql: "UPDATE replays SET position_occurred = ?, position_seq = ?, sent = ?, finished_at = ? WHERE id = ?",
                    arguments: [position?.occurredAt.microseconds, position?.seq, sent, finishedAt?.microseconds, id]
                )
            }
        } catch {
            throw Self.storeError(error, doing: "record replay progress")
        }
    }
}

extension SQLiteEventStore {
    public func setHold(destination: String, hold: DestinationHold?, audit: AdminAuditEntry?) async throws(StoreError) -> Bool {
        do {
            return try await writeControl { db in
                if let hold {
                    try db.execute(
                        sql: "INSERT INTO destination_holds (destination, reason, held_by, held_at) VALUES (?, ?, ?, ?) ON CONFLICT (destination) DO NOTHING",
                        arguments: [destination, hold.reason, hold.heldBy, hold.heldAt.microseconds]
                    )
                } else {
                    try db.execute(sql: "DELETE FROM destination_holds WHERE destination = ?", arguments: [destination])
                }
                guard db.changesCount > 0 else { return false }
                if let audit { try self.insertAudit(audit, in: db) }
                return true
            }
        } catch {
            throw Self.storeError(error, doing: "pause or resume a destination")
        }
    }

    public func hold(destination: String) async throws(StoreError) -> DestinationHold? {
        do {
            return try await pool.read { db in
                try Row.fetchOne(db, sql: "SELECT reason, held_by, held_at FROM destination_holds WHERE destination = ?", arguments: [destination]).map { row in
                    DestinationHold(reason: row[0], heldBy: row[1], heldAt: Timestamp(microseconds: row[2]))
                }
            }
        } catch {
            throw Self.storeError(error, doing: "read a destination's pause")
        }
    }
}
