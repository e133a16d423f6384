import Logging
import NIOCore
import PostgresNIO
import SluiceCore

extension PostgresEventStore: DeliveryLedger {
    /// Commits an operator's change to a consumer (a hold, a re-drive, a replay, a retry), then
    /// wakes this instance's consumers; other instances' wake on the notification it commits.
    func controlTransaction<Result: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> Result) async throws -> Result {
        let result = try await database.transaction { connection in
            let result = try await body(connection)
            try await self.notifyCommit(.control, on: connection)
            return result
        }
        changes.controlChanged()
        return result
    }

    /// Below the watermark only, as ``events(afterSeq:limit:)``.
    public func outboundEvents(afterSeq seq: Int64, limit: Int) async throws(StoreError) -> [OutboundEvent] {
        do {
            return try await decoder.outboundEvents(try await database.rows(
                """
                SELECT \(unescaped: PostgresEventDecoder.outboundColumns) FROM events
                WHERE seq > \(seq) AND seq < \(unescaped: try origin().watermark) ORDER BY seq LIMIT \(limit)
                """
            ))
        } catch {
            throw Self.storeError(error, doing: "read events for delivery")
        }
    }

    public func outboundEvents(seqs: [Int64]) async throws(StoreError) -> [OutboundEvent] {
        guard !seqs.isEmpty else { return [] }
        do {
            return try await decoder.outboundEvents(try await database.rows(
                "SELECT \(unescaped: PostgresEventDecoder.outboundColumns) FROM events WHERE seq = ANY(\(seqs)) ORDER BY seq"
            ))
        } catch {
            throw Self.storeError(error, doing: "read dead-lettered events")
        }
    }

    public func outboundEvents(occurredFrom since: Timestamp, until: Timestamp, after position: EventCursor?, limit: Int) async throws(StoreError) -> [OutboundEvent] {
        let from = position.map { ($0.occurredAt.microseconds, $0.seq) } ?? (since.microseconds, -1)
        do {
            return try await decoder.outboundEvents(try await database.rows(
                """
                SELECT \(unescaped: PostgresEventDecoder.outboundColumns) FROM events
                WHERE (occurred_at, seq) > (\(from.0), \(from.1)) AND occurred_at < \(until.microseconds)
                ORDER BY occurred_at, seq LIMIT \(limit)
                """
            ))
        } catch {
            throw Self.storeError(error, doing: "read events for a replay")
        }
    }

    /// The last seq a consumer may pass now (below the watermark): a consumer starting there
    /// still reads what transactions running now commit.
    public func latestSeq() async throws(StoreError) -> Int64 {
        do {
            return try await database.rows(
                "SELECT COALESCE(max(seq), 0) FROM events WHERE seq < \(unescaped: try origin().watermark)"
            ).first?.decode(Int64.self) ?? 0
        } catch {
            throw Self.storeError(error, doing: "read the latest seq")
        }
    }

    /// Committed events that consumers cannot read yet (at most `cap`), because a transaction that
    /// began before theirs committed is still running somewhere on the server (``SeqOrigin``).
    public func heldBackEvents(cap: Int = 10_000) async throws(StoreError) -> Int {
        do {
            let rows = try await database.rows(
                // ORDER BY: without it the planner, guessing that a third of the table lies above the
                // watermark, scanned the whole table (55 ms a call at 200,000 events).
                "SELECT count(*) FROM (SELECT 1 FROM events WHERE seq >= \(unescaped: try origin().watermark) ORDER BY seq LIMIT \(cap)) AS held"
            )
            return Int(try rows.first?.decode(Int64.self) ?? 0)
        } catch {
            throw Self.storeError(error, doing: "count events held back from consumers")
        }
    }

    public func consumerCursor(_ consumer: String) async throws(StoreError) -> Int64 {
        do {
            return try await database.rows("SELECT seq FROM consumer_cursors WHERE consumer = \(consumer)").first?.decode(Int64.self) ?? 0
        } catch {
            throw Self.storeError(error, doing: "read consumer cursor")
        }
    }

    /// Moves a consumer's cursor; it never moves backwards unless `allowRewind` is set.
    public func setConsumerCursor(_ consumer: String, to seq: Int64, at time: Timestamp, allowRewind: Bool = false) async throws(StoreError) {
        do {
            try await database.transaction { [logger] connection in
                try await Self.moveCursor(consumer, to: seq, at: time, allowRewind: allowRewind, on: connection, logger: logger)
            }
        } catch {
            throw Self.storeError(error, doing: "write consumer cursor")
        }
    }

    static func moveCursor(_ consumer: String, to seq: Int64, at time: Timestamp, allowRewind: Bool, on connection: PostgresConnection, logger: Logger) async throws {
        let update = allowRewind ? "excluded.seq" : "GREATEST(consumer_cursors.seq, excluded.seq)"
        try await connection.query(
            """
            INSERT INTO consumer_cursors (consumer, seq, updated_at) VALUES (\(consumer), \(seq), \(time.microseconds))
            ON CONFLICT (consumer) DO UPDATE SET seq = \(unescaped: update), updated_at = excluded.updated_at
            """,
            logger: logger
        )
    }

    public func commitDelivery(consumer: String, through seq: Int64, deadLetters: [DeadLetter], at time: Timestamp, fence: Lease?) async throws(StoreError) {
        do {
            try await database.transaction { [logger] connection in
                try await Self.requireFence(fence, on: connection, logger: logger)
                try await Self.insertDeadLetters(deadLetters, on: connection, logger: logger)
                try await Self.moveCursor(consumer, to: seq, at: time, allowRewind: false, on: connection, logger: logger)
            }
        } catch {
            throw Self.storeError(error, doing: "commit delivery progress")
        }
    }

    static func insertDeadLetters(_ letters: [DeadLetter], on connection: PostgresConnection, logger: Logger) async throws {
        // A letter refused again (after a crash, or by a replay) keeps its first date and counts the attempt.
        for letter in letters {
            try await connection.query(
                """
                INSERT INTO dead_letters (destination, seq, reason, created_at, attempts, redrive)
                VALUES (\(letter.destination), \(letter.seq), \(letter.reason), \(letter.createdAt.microseconds), \(Int64(letter.attempts)), false)
                ON CONFLICT (destination, seq) DO UPDATE SET reason = excluded.reason, attempts = dead_letters.attempts + 1, redrive = false
                """,
                logger: logger
            )
        }
    }

    public func backlog(afterSeq seq: Int64, routes: [DeliveryRoute]?, cap: Int) async throws(StoreError) -> (count: Int, oldest: Timestamp?) {
        var binds = PostgresBindings()
        binds.append(seq)
        var condition = "seq > $1"
        if let routes {
            guard !routes.isEmpty else { return (0, nil) }
            // The routes' own rule (DeliveryRoute.matches), as SQL: any route, all of its filters.
            func among(_ column: String, _ values: Set<String>) -> String {
                binds.append(values.sorted())
                return "\(column) = ANY($\(binds.count)::text[])"
            }
            let clauses = routes.map { route in
                var parts = [among("source", route.from)]
                if let logTypes = route.logTypes { parts.append(among("log_type", logTypes)) }
                if let actions = route.actions { parts.append(among("action", actions)) }
                return "(" + parts.joined(separator: " AND ") + ")"
            }
            condition += " AND (" + clauses.joined(separator: " OR ") + ")"
        }
        do {
            let count = try await database.rows(
                PostgresQuery(unsafeSQL: "SELECT count(*) FROM (SELECT 1 FROM events WHERE \(condition) LIMIT \(cap)) AS capped", binds: binds)
            ).first?.decode(Int64.self) ?? 0
            let oldest = try await database.rows(
                PostgresQuery(unsafeSQL: "SELECT received_at FROM events WHERE \(condition) ORDER BY seq LIMIT 1", binds: binds)
            ).first?.decode(Int64.self)
            return (Int(count), oldest.map(Timestamp.init(microseconds:)))
        } catch {
            throw Self.storeError(error, doing: "measure delivery backlog")
        }
    }

    static let deadLetterColumns = "destination, seq, reason, created_at, attempts, redrive"

    static func deadLetter(from row: PostgresRow) throws -> DeadLetter {
        let (destination, seq, reason, createdAt, attempts, redrive) = try row.decode((String, Int64, String, Int64, Int32, Bool).self)
        return DeadLetter(
            destination: destination, seq: seq, reason: reason, createdAt: Timestamp(microseconds: createdAt),
            attempts: Int(attempts), redriveRequested: redrive
        )
    }

    public func deadLetters(destination: String, afterSeq seq: Int64, limit: Int) async throws(StoreError) -> [DeadLetter] {
        do {
            return try await database.rows(
                "SELECT \(unescaped: Self.deadLetterColumns) FROM dead_letters WHERE destination = \(destination) AND seq > \(seq) ORDER BY seq LIMIT \(limit)"
            ).map(Self.deadLetter(from:))
        } catch {
            throw Self.storeError(error, doing: "list dead letters")
        }
    }

    public func deadLetterCount(destination: String) async throws(StoreError) -> Int {
        do {
            return Int(try await database.rows("SELECT count(*) FROM dead_letters WHERE destination = \(destination)").first?.decode(Int64.self) ?? 0)
        } catch {
            throw Self.storeError(error, doing: "count dead letters")
        }
    }

    public func requestRedrive(destination: String, seqs: [Int64]?, audit: AdminAuditEntry?) async throws(StoreError) -> Int {
        do {
            return try await controlTransaction { [logger] connection in
                let marked: Int
                if let seqs {
                    marked = seqs.isEmpty ? 0 : try await connection.query(
                        "UPDATE dead_letters SET redrive = true WHERE destination = \(destination) AND seq = ANY(\(seqs)) RETURNING seq", logger: logger
                    ).collect().count
                } else {
                    marked = try await connection.query(
                        "UPDATE dead_letters SET redrive = true WHERE destination = \(destination) RETURNING seq", logger: logger
                    ).collect().count
                }
                if var audit {
                    audit.metadata.append(JSONMember("letters", .number(String(marked))))
                    try await self.insertAudit(audit, on: connection, logger: logger)
                }
                return marked
            }
        } catch {
            throw Self.storeError(error, doing: "request a dead-letter re-drive")
        }
    }

    public func redriveRequests(destination: String, limit: Int) async throws(StoreError) -> [DeadLetter] {
        do {
            return try await database.rows(
                "SELECT \(unescaped: Self.deadLetterColumns) FROM dead_letters WHERE destination = \(destination) AND redrive ORDER BY seq LIMIT \(limit)"
            ).map(Self.deadLetter(from:))
        } catch {
            throw Self.storeError(error, doing: "read re-drive requests")
        }
    }

    public func settleRedrive(destination: String, delivered: [Int64], refused: [DeadLetter], fence: Lease?) async throws(StoreError) {
        do {
            try await database.transaction { [logger] connection in
                try await Self.requireFence(fence, on: connection, logger: logger)
                if !delivered.isEmpty {
                    try await connection.query("DELETE FROM dead_letters WHERE destination = \(destination) AND seq = ANY(\(delivered))", logger: logger)
                }
                try await Self.insertDeadLetters(refused, on: connection, logger: logger)
            }
        } catch {
            throw Self.storeError(error, doing: "settle re-driven dead letters")
        }
    }

    static let replayColumns = "id, destination, since, until, position_occurred, position_seq, sent, created_at, finished_at"

    static func replay(from row: PostgresRow) throws -> ReplayJob {
        let (id, destination, since, until, occurred, seq, sent, createdAt, finished) =
            try row.decode((Int64, String, Int64, Int64, Int64?, Int64?, Int64, Int64, Int64?).self)
        return ReplayJob(
            id: id, destination: destination, since: Timestamp(microseconds: since), until: Timestamp(microseconds: until),
            position: occurred.flatMap { o in seq.map { EventCursor(occurredAt: Timestamp(microseconds: o), seq: $0) } },
            sent: Int(sent), createdAt: Timestamp(microseconds: createdAt), finishedAt: finished.map(Timestamp.init(microseconds:))
        )
    }

    public func createReplay(destination: String, since: Timestamp, until: Timestamp, at time: Timestamp, audit: AdminAuditEntry?) async throws(StoreError) -> ReplayJob {
        do {
            return try await controlTransaction { [logger] connection in
                let rows = try await connection.query(
                    """
                    INSERT INTO replays (destination, since, until, created_at)
                    VALUES (\(destination), \(since.microseconds), \(until.microseconds), \(time.microseconds)) RETURNING id
                    """,
                    logger: logger
                ).collect()
                let id = try rows[0].decode(Int64.self)
                if var audit {
                    audit.metadata.append(JSONMember("replay_id", .number(String(id))))
                    try await self.insertAudit(audit, on: connection, logger: logger)
                }
                return ReplayJob(id: id, destination: destination, since: since, until: until, position: nil, sent: 0, createdAt: time, finishedAt: nil)
            }
        } catch {
            throw Self.storeError(error, doing: "create a replay")
        }
    }

    public func openReplays(destination: String?) async throws(StoreError) -> [ReplayJob] {
        do {
            let rows = if let destination {
                try await database.rows(
                    "SELECT \(unescaped: Self.replayColumns) FROM replays WHERE finished_at IS NULL AND destination = \(destination) ORDER BY id"
                )
            } else {
                try await database.rows("SELECT \(unescaped: Self.replayColumns) FROM replays WHERE finished_at IS NULL ORDER BY id")
            }
            return try rows.map(Self.replay(from:))
        } catch {
            throw Self.storeError(error, doing: "list replays")
        }
    }

    public func advanceReplay(id: Int64, to position: EventCursor?, sent: Int, finishedAt: Timestamp?, fence: Lease?) async throws(StoreError) {
        do {
            try await database.transaction { [logger] connection in
                try await Self.requireFence(fence, on: connection, logger: logger)
                try await connection.query(
                    """
                    UPDATE replays SET position_occurred = \(position?.occurredAt.microseconds), position_seq = \(position?.seq),
                        sent = \(Int64(sent)), finished_at = \(finishedAt?.microseconds) WHERE id = \(id)
                    """,
                    logger: logger
                )
            }
        } catch {
            throw Self.storeError(error, doing: "record replay progress")
        }
    }

    public func setHold(destination: String, hold: DestinationHold?, audit: AdminAuditEntry?) async throws(StoreError) -> Bool {
        do {
            return try await controlTransaction { [logger] connection in
                let changed = if let hold {
                    try await connection.query(
                        """
                        INSERT INTO destination_holds (destination, reason, held_by, held_at)
                        VALUES (\(destination), \(hold.reason), \(hold.heldBy), \(hold.heldAt.microseconds))
                        ON CONFLICT (destination) DO NOTHING RETURNING destination
                        """,
                        logger: logger
                    ).collect()
                } else {
                    try await connection.query("DELETE FROM destination_holds WHERE destination = \(destination) RETURNING destination", logger: logger).collect()
                }
                guard !changed.isEmpty else { return false }
                if let audit { try await self.insertAudit(audit, on: connection, logger: logger) }
                return true
            }
        } catch {
            throw Self.storeError(error, doing: "pause or resume a destination")
        }
    }

    public func hold(destination: String) async throws(StoreError) -> DestinationHold? {
        do {
            return try await database.rows("SELECT reason, held_by, held_at FROM destination_holds WHERE destination = \(destination)").first.map { row in
                let (reason, heldBy, heldAt) = try row.decode((String, String, Int64).self)
                return DestinationHold(reason: reason, heldBy: heldBy, heldAt: Timestamp(microseconds: heldAt))
            }
        } catch {
            throw Self.storeError(error, doing: "read a destination's pause")
        }
    }
}
