import Foundation
import GRDB
import SluiceCore

extension SQLiteEventStore: DeliveryLedger {
    static let outboundColumns = "seq, source, log_type, action, occurred_at, received_at, origin, raw"

    /// Reads a row of ``outboundColumns`` by position (delivery reads every event, so no name
    /// lookups) and copies the raw bytes once, straight from SQLite's buffer.
    static func outboundEvent(from row: Row) throws -> OutboundEvent {
        OutboundEvent(
            seq: row[0], source: row[1], logType: row[2], action: row[3],
            occurredAt: Timestamp(microseconds: row[4]), receivedAt: Timestamp(microseconds: row[5]),
            origin: row[6], raw: try row.withUnsafeData(atIndex: 7) { $0.map { [UInt8]($0) } ?? [] }
        )
    }

    public func outboundEvents(afterSeq seq: Int64, limit: Int) async throws(StoreError) -> [OutboundEvent] {
        do {
            return try await pool.read { db in
                try Array(
                    Row.fetchCursor(db, sql: "SELECT \(Self.outboundColumns) FROM events WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, limit])
                        .map(Self.outboundEvent(from:))
                )
            }
        } catch {
            throw Self.storeError(error, doing: "read events for delivery")
        }
    }

    public func outboundEvents(seqs: [Int64]) async throws(StoreError) -> [OutboundEvent] {
        guard !seqs.isEmpty else { return [] }
        do {
            return try await pool.read { db in
                let marks = Array(repeating: "?", count: seqs.count).joined(separator: ",")
                return try Row.fetchAll(
                    db, sql: "SELECT \(Self.outboundColumns) FROM events WHERE seq IN (\(marks)) ORDER BY seq",
                    arguments: StatementArguments(seqs)
                ).map(Self.outboundEvent(from:))
            }
        } catch {
            throw Self.storeError(error, doing: "read dead-lettered events")
        }
    }

    public func outboundEvents(occurredFrom since: Timestamp, until: Timestamp, after position: EventCursor?, limit: Int) async throws(StoreError) -> [OutboundEvent] {
        do {
            return try await pool.read { db in
                // Row-value comparison walks events_occurred from the position onwards.
                let from = position.map { ($0.occurredAt.microseconds, $0.seq) } ?? (since.microseconds, -1)
                return try Row.fetchAll(
                    db,
                    sql: """
                        SELECT \(Self.outboundColumns) FROM events
                        WHERE (occurred_at, seq) > (?, ?) AND occurred_at < ?
                        ORDER BY occurred_at, seq LIMIT ?
                        """,
                    arguments: [from.0, from.1, until.microseconds, limit]
                ).map(Self.outboundEvent(from:))
            }
        } catch {
            throw Self.storeError(error, doing: "read events for a replay")
        }
    }

    public func latestSeq() async throws(StoreError) -> Int64 {
        do {
            return try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT max(seq) FROM events") ?? 0 }
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

    public func commitDelivery(consumer: String, through seq: Int64, deadLetters: [DeadLetter], at time: Timestamp) async throws(StoreError) {
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
            return try await pool.read { db in
                var condition = "seq > ?"
                var arguments: [any DatabaseValueConvertible] = [seq]
                if let routes {
                    guard !routes.isEmpty else { return (0, nil) }
                    // The routes' own rule (DeliveryRoute.matches), as SQL: any route, all of its filters.
                    func among(_ column: String, _ values: Set<String>) -> String {
                        if values.isEmpty { return "0" }
                        arguments += values.sorted().map { $0 as any DatabaseValueConvertible }
                        return "\(column) IN (\(Array(repeating: "?", count: values.count).joined(separator: ",")))"
                    }
                    let clauses = routes.map { route in
                        var parts = [among("source", route.from)]
                        if let logTypes = route.logTypes { parts.append(among("log_type", logTypes)) }
                        if let actions = route.actions { parts.append(among("action", actions)) }
                        return "(" + parts.joined(separator: " AND ") + ")"
                    }
                    condition += " AND (" + clauses.joined(separator: " OR ") + ")"
                }
                let count = try Int.fetchOne(
                    db, sql: "SELECT count(*) FROM (SELECT 1 FROM events WHERE \(condition) LIMIT \(cap))", arguments: StatementArguments(arguments)
                ) ?? 0
                let oldest = try Int64.fetchOne(
                    db, sql: "SELECT received_at FROM events WHERE \(condition) ORDER BY seq LIMIT 1", arguments: StatementArguments(arguments)
                )
                return (count, oldest.map(Timestamp.init(microseconds:)))
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
            return try await pool.write { db in
                let marked = try Self.markRedrive(destination: destination, seqs: seqs, in: db)
                if var audit {
                    audit.metadata.append(JSONMember("letters", .number(String(marked))))
                    try Self.insertAudit(audit, in: db)
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

    public func settleRedrive(destination: String, delivered: [Int64], refused: [DeadLetter]) async throws(StoreError) {
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
            return try await pool.write { db in
                try db.execute(
                    sql: "INSERT INTO replays (destination, since, until, created_at) VALUES (?, ?, ?, ?)",
                    arguments: [destination, since.microseconds, until.microseconds, time.microseconds]
                )
                let id = db.lastInsertedRowID
                if var audit {
                    audit.metadata.append(JSONMember("replay_id", .number(String(id))))
                    try Self.insertAudit(audit, in: db)
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

    public func advanceReplay(id: Int64, to position: EventCursor?, sent: Int, finishedAt: Timestamp?) async throws(StoreError) {
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
            return try await pool.write { db in
                if let hold {
                    try db.execute(
                        sql: "INSERT INTO destination_holds (destination, reason, held_by, held_at) VALUES (?, ?, ?, ?) ON CONFLICT (destination) DO NOTHING",
                        arguments: [destination, hold.reason, hold.heldBy, hold.heldAt.microseconds]
                    )
                } else {
                    try db.execute(sql: "DELETE FROM destination_holds WHERE destination = ?", arguments: [destination])
                }
                guard db.changesCount > 0 else { return false }
                if let audit { try Self.insertAudit(audit, in: db) }
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
