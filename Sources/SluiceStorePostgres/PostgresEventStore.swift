import CoreMetrics
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import SluiceCompression
import SluiceCore
import SluiceStoreKit
import Synchronization

/// The event store for several Sluice instances: one PostgreSQL database they all share.
///
/// Each instance group-commits its concurrent appends in one transaction, like the SQLite store.
/// A row's `seq` derives from its transaction's id (``SeqOrigin``), and consumers read only
/// below the oldest transaction still running, so a consumer that has read `seq` N never later
/// finds a committed event below N, and no lock orders the instances' commits (docs/storage.md,
/// "Ordering on PostgreSQL").
///
/// ``run()`` must be running (it runs the connection pool and the group-commit writer) for any
/// call to complete; ``withStore(configuration:logger:_:)`` does both for the length of a closure.
public final class PostgresEventStore: EventStore {
    public let configuration: PostgresStoreConfiguration
    let client: PostgresClient
    /// One connection of its own, to hear other instances' commits (``listenForChanges()``).
    let listener: PostgresClient
    /// The notification channel of this store's schema.
    let changeChannel: String
    /// Marks this instance's own notifications, which it need not hear.
    let instanceTag = ":" + String(UInt64.random(in: 1...UInt64.max), radix: 36)
    let database: PostgresDatabase
    let logger: Logger
    private let committer: GroupCommitter<PendingAppend>
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    /// Runs inside the commit transaction after the events are inserted, before COMMIT (tests use
    /// it to hold a transaction open while another instance writes).
    package let beforeCommit: (@Sendable () async -> Void)?
    /// Whether events stored before dedupe keys carried their time may still be present (see
    /// ``StoredDedupeKey``); assumed until ``migrate()`` reads the schema's state.
    private let untimedKeysRemain = Atomic(true)
    /// Where seqs start (``SeqOrigin``); read by ``migrate()``, before which nothing is appended.
    private let seqOrigin = Mutex<SeqOrigin?>(nil)
    let book = DictionaryBook()
    let trainer = DictionaryTrainer()
    let contexts = ZstdContextPool()
    let preparer: EventPreparer
    /// Wakes the background work: dictionary training and moving rows of the earlier form into payloads.
    private let chores: AsyncStream<Void>
    let choresDue: AsyncStream<Void>.Continuation
    /// Commits, published as they happen: this instance's own, and other instances' as their
    /// notifications arrive (``listenForChanges()``). The fallback only bounds how long one goes
    /// unseen while the listener reconnects.
    public let changes = StoreChanges(fallback: .seconds(10))
    /// Arrivals committed here and not yet written to `source_arrivals` / `source_hours`.
    let arrivals = SourceArrivalBuffer()

    struct PendingAppend: Sendable {
        var rows: [PostgresEventRow]
        var checkpoint: CheckpointUpdate?
        /// The lease the page was pulled under (``CheckpointUpdate/fence``), checked in the commit.
        var fence: Lease?
        var committedAt: Timestamp
    }

    public init(configuration: PostgresStoreConfiguration, logger: Logger, beforeCommit: (@Sendable () async -> Void)? = nil) {
        self.configuration = configuration
        self.logger = logger
        self.committer = GroupCommitter(logger: logger) { $0.rows.count }
        self.beforeCommit = beforeCommit
        let tls: PostgresClient.Configuration.TLS = switch configuration.tls {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
        var clientConfiguration = PostgresClient.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.username,
            password: configuration.password, database: configuration.database, tls: tls
        )
        clientConfiguration.options.maximumConnections = configuration.poolSize
        clientConfiguration.options.connectTimeout = .seconds(5)
        // An acknowledgement must mean the commit is on disk, whatever the server's default.
        clientConfiguration.options.additionalStartupParameters = [
            ("search_path", configuration.schema), ("synchronous_commit", "on"), ("application_name", "sluice"),
        ]
        client = PostgresClient(configuration: clientConfiguration, backgroundLogger: logger)
        clientConfiguration.options.maximumConnections = 1
        listener = PostgresClient(configuration: clientConfiguration, backgroundLogger: logger)
        changeChannel = Self.changeChannel(schema: configuration.schema)
        database = PostgresDatabase(client: client, logger: logger, timeout: configuration.timeout)
        (wakeups, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        (chores, choresDue) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        preparer = EventPreparer(book: book, trainer: trainer, contexts: contexts)
    }

    /// Reads rows back into events, loading dictionaries other instances stored on first use.
    var decoder: PostgresEventDecoder {
        let database = self.database
        return PostgresEventDecoder(book: book, contexts: contexts) { id in
            let rows = try await database.rows("SELECT bytes, level FROM dictionaries WHERE id = \(id)")
            guard let row = rows.first else { return nil }
            let (bytes, level) = try row.decode((ByteBuffer, Int32).self)
            return (Array(buffer: bytes), level)
        }
    }

    /// Opens a store, applies pending migrations, runs `body`, then closes the store (its last
    /// source arrivals written) and stops it after committing what was queued.
    public static func withStore<Result: Sendable>(
        configuration: PostgresStoreConfiguration, logger: Logger, beforeCommit: (@Sendable () async -> Void)? = nil,
        _ body: (PostgresEventStore) async throws -> Result
    ) async throws -> Result {
        let store = PostgresEventStore(configuration: configuration, logger: logger, beforeCommit: beforeCommit)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await store.runConnections() }
            defer { group.cancelAll() }
            // Fails within `timeout` when the server is unreachable (migrations have no deadline).
            try await store.checkHealth()
            try await store.migrate()
            let result = try await body(store)
            // While the pool still runs: cancelled, its queries would fail.
            await store.close()
            return result
        }
    }

    /// Applies pending migrations (``run()`` must be running).
    public func migrate() async throws(StoreError) {
        do {
            try await Self.migrate(database, schema: configuration.schema)
            try await refreshUntimedKeysState()
            try await loadSeqOrigin()
            try await loadDictionaries()
            choresDue.yield()
        } catch {
            throw Self.storeError(error, doing: "migrate the PostgreSQL schema")
        }
    }

    /// Runs the connection pool, the group-commit writer and background chores until cancelled
    /// (the end of ``withStore(configuration:logger:beforeCommit:_:)`` or of the command's
    /// storage scope); appends still queued then fail as unavailable, never acknowledged. This is
    /// the store's connection to the server, below the service group; as a service of that group
    /// (``SluiceStorage/run()``) the store only marks where everything else has stopped.
    public func runConnections() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            group.addTask { await self.listener.run() }
            group.addTask { await self.listenForChanges() }
            group.addTask {
                for await _ in self.chores {
                    await self.doChores()
                }
            }
            group.addTask { await self.flushArrivalsPeriodically() }
            group.addTask { await self.watchHeldBack() }
            group.addTask { await self.wakeConsumersWhenReadable() }
            for await _ in wakeups {
                await drain()
            }
            await drain()
            group.cancelAll()
        }
        committer.failAll(StoreError(.unavailable, "the store stopped before this append was committed"))
    }

    // MARK: Append (group commit)

    public func append(_ events: [IncomingEvent], receivedAt: Timestamp, checkpoint: CheckpointUpdate?) async throws(StoreError) -> AppendResult {
        if events.isEmpty && checkpoint == nil { return AppendResult(accepted: 0, duplicates: 0) }
        do {
            let (prepared, trainingDue) = try preparer.prepare(events, receivedAt: receivedAt)
            if trainingDue { choresDue.yield() }
            var rows = prepared.map { PostgresEventRow($0, receivedAt: receivedAt) }
            var storedBefore = 0
            if untimedKeysRemain.load(ordering: .relaxed) {
                (rows, storedBefore) = try await droppingUntimedDuplicates(rows, of: events)
            }
            let result = try await committer.submit(PendingAppend(rows: rows, checkpoint: checkpoint, fence: checkpoint?.fence, committedAt: receivedAt)) {
                wake.yield()
            }
            return AppendResult(accepted: result.accepted, duplicates: result.duplicates + storedBefore)
        } catch let error as StoreError {
            throw error
        } catch {
            throw Self.storeError(error, doing: "append")
        }
    }

    /// Removes the rows whose events are already stored under the key form used before keys
    /// carried the event's time. Such rows are never written again, only purged, so a read
    /// outside the commit is enough.
    /// `rows` are `events`' rows, in the same order.
    private func droppingUntimedDuplicates(_ rows: [PostgresEventRow], of events: [IncomingEvent]) async throws -> ([PostgresEventRow], Int) {
        struct Key: Hashable {
            var source: String
            var key: ByteBuffer
        }
        let untimed = zip(rows, events).map { row, event in StoredDedupeKey.untimed(for: event).map { Key(source: row.source, key: ByteBuffer(bytes: $0)) } }
        let candidates = untimed.compactMap { $0 }
        guard !candidates.isEmpty else { return (rows, 0) }
        let found = try await database.rows(
            """
            SELECT e.source, e.dedupe_key FROM events e
            JOIN unnest(\(candidates.map(\.source))::text[], \(candidates.map(\.key))::bytea[]) AS k(source, dedupe_key)
                ON e.source = k.source AND e.dedupe_key = k.dedupe_key
            """
        )
        let stored = Set(try found.map { row in
            let (source, key) = try row.decode((String, ByteBuffer).self)
            return Key(source: source, key: key)
        })
        guard !stored.isEmpty else { return (rows, 0) }
        let fresh = zip(rows, untimed).filter { _, key in key.map { !stored.contains($0) } ?? true }.map(\.0)
        return (fresh, rows.count - fresh.count)
    }

    private func loadSeqOrigin() async throws {
        let rows = try await database.rows(
            "SELECT name, value FROM store_state WHERE name IN (\(SeqOrigin.transactionState), \(SeqOrigin.seqState))"
        )
        var values: [String: Int64] = [:]
        for row in rows {
            let (name, value) = try row.decode((String, Int64).self)
            values[name] = value
        }
        guard let transaction = values[SeqOrigin.transactionState], let seq = values[SeqOrigin.seqState] else {
            throw StoreError(.corrupt, "the schema's store_state has no seq origin (written by the migration 2026-12-08-seq-from-transaction-id); restore the schema from a backup")
        }
        seqOrigin.withLock { $0 = SeqOrigin(transaction: transaction, seq: seq) }
    }

    /// Where seqs start; fails before ``migrate()`` has read it.
    func origin() throws(StoreError) -> SeqOrigin {
        guard let origin = seqOrigin.withLock({ $0 }) else {
            throw StoreError(.unavailable, "the PostgreSQL store was used before its migrations ran")
        }
        return origin
    }

    private func refreshUntimedKeysState() async throws {
        let rows = try await database.rows("SELECT value FROM store_state WHERE name = \(StoredDedupeKey.untimedThroughState)")
        let through = try rows.first?.decode(Int64.self) ?? 0
        untimedKeysRemain.store(through > 0, ordering: .relaxed)
    }

    /// The longest a busy writer waits for company before a commit (``GroupCommitter``): half
    /// the last commit's duration, at most this.
    static let gatherLimit: Duration = .milliseconds(4)

    /// Commits whatever is queued, in bounded transactions. When a group fails because of its
    /// data, each request is committed alone so that the rest still land. Not when the server is
    /// unreachable or out of time: each retry would wait out the deadline again, so the last
    /// request of a group of n would get its 503 only after n + 1 deadlines, and every push
    /// queued behind it later still.
    private func drain() async {
        let logger = self.logger
        await committer.drain(
            maxEvents: configuration.maxEventsPerCommit,
            gather: Self.gatherLimit,
            together: { batch in try await commitTogether(batch) },
            alone: { batch in
                var results: [Result<AppendResult, StoreError>] = []
                for item in batch {
                    do {
                        results.append(contentsOf: try await commitTogether([item]))
                    } catch {
                        let failure = Self.storeError(error, doing: "commit")
                        logger.error("event store commit failed", metadata: ["error": "\(failure)"])
                        results.append(.failure(failure))
                    }
                }
                return results
            },
            retryAlone: { Self.storeError($0, doing: "commit").code == .invalidRequest },
            failure: { Self.storeError($0, doing: "commit") },
            committed: { changes.eventsCommitted() }
        )
    }

    /// One transaction for the whole group. A lost lease or a checkpoint that moved under its writer fails only
    /// that request (its compare-and-set updates nothing, so the transaction carries on).
    private func commitTogether(_ batch: [PendingAppend]) async throws -> [Result<AppendResult, StoreError>] {
        let beforeCommit = self.beforeCommit
        let logger = self.logger
        if beforeCommit == nil, batch.allSatisfy({ $0.fence == nil && $0.checkpoint == nil }) {
            return try await commitInOneStatement(batch)
        }
        let (outcome, arrived) = try await database.transaction { connection in
            let origin = try self.origin()
            var outcome: [Result<AppendResult, StoreError>] = []
            var admitted: [Int] = []
            for (i, item) in batch.enumerated() {
                if let lost = try await Self.checkFence(item.fence, on: connection, logger: logger) {
                    outcome.append(.failure(lost))
                } else if let checkpoint = item.checkpoint, let conflict = try await Self.moveCheckpoint(checkpoint, at: item.committedAt, on: connection, logger: logger) {
                    outcome.append(.failure(conflict))
                } else {
                    outcome.append(.success(AppendResult(accepted: 0, duplicates: 0)))
                    admitted.append(i)
                }
            }
            let requests = admitted.map { batch[$0].rows }
            let inserted = try await Self.insert(requests.flatMap { $0 }, from: origin, notifying: self.notification(.events), on: connection, logger: logger)
            let (results, arrived) = Self.results(of: requests, inserted: inserted)
            for (i, result) in zip(admitted, results) { outcome[i] = .success(result) }
            await beforeCommit?()
            return (outcome, arrived)
        }
        // Kept for the next flush, outside the commit (``SourceArrivalBuffer``).
        arrivals.add(arrived)
        return outcome
    }

    /// A group with no lease to check and no checkpoint to move (pushes): the insert commits
    /// itself, one round trip in all.
    private func commitInOneStatement(_ batch: [PendingAppend]) async throws -> [Result<AppendResult, StoreError>] {
        let logger = self.logger
        let notification = self.notification(.events)
        let requests = batch.map(\.rows)
        let inserted = try await database.connection { connection in
            try await Self.insert(requests.flatMap { $0 }, from: try self.origin(), notifying: notification, committing: true, on: connection, logger: logger)
        }
        let (results, arrived) = Self.results(of: requests, inserted: inserted)
        arrivals.add(arrived)
        return results.map { .success($0) }
    }

    /// Each request's accepted and duplicate counts once `inserted` (the identities stored) is
    /// known, and the arrivals to count. A stored identity counts for the first row that carries
    /// it; any other is a duplicate.
    private static func results(
        of requests: [[PostgresEventRow]], inserted: Set<PostgresEventRow.Identity>
    ) -> (results: [AppendResult], arrived: SourceArrivalBuffer.Delta) {
        var arrived = SourceArrivalBuffer.Delta()
        for row in requests.joined() where inserted.contains(row.identity) {
            arrived.note(row.source, at: Timestamp(microseconds: row.receivedAt))
        }
        var unclaimed = inserted
        let results = requests.map { rows in
            let accepted = rows.reduce(0) { $0 + (unclaimed.remove($1.identity) != nil ? 1 : 0) }
            return AppendResult(accepted: accepted, duplicates: rows.count - accepted)
        }
        return (results, arrived)
    }

    /// Inserts `rows` (duplicates of stored events are skipped) with one ``EventInsert``, each with
    /// the seq of its position in `rows` (``SeqOrigin``), so at most once per transaction: a second
    /// call would draw the same seqs and fail. Returns the identities of the rows stored. With
    /// `notification`, the statement also notifies other instances when any row was stored. It
    /// runs inside the caller's transaction; with `commit`, on a connection outside any, and it is
    /// its own transaction, committed before it returns.
    ///
    /// Rows go in in (source, dedupe key) order, whatever their seqs: two transactions inserting
    /// the same keys then wait for each other's keys in the same order and never deadlock (no lock
    /// serializes them).
    static func insert(
        _ rows: [PostgresEventRow], from origin: SeqOrigin, notifying notification: (channel: String, payload: String)? = nil,
        committing commit: Bool = false, on connection: PostgresConnection, logger: Logger
    ) async throws -> Set<PostgresEventRow.Identity> {
        guard !rows.isEmpty else { return [] }
        guard rows.count <= SeqOrigin.rowsPerTransaction else {
            throw StoreError(.invalidRequest, "\(rows.count) events in one request; the PostgreSQL store takes at most \(SeqOrigin.rowsPerTransaction) (send fewer per request)")
        }
        let order = rows.indices.sorted { a, b in
            let (x, y) = (rows[a], rows[b])
            if x.source != y.source { return x.source.utf8.lexicographicallyPrecedes(y.source.utf8) }
            return x.dedupeKey.readableBytesView.lexicographicallyPrecedes(y.dedupeKey.readableBytesView)
        }
        let statement = EventInsert(columns: PostgresEventRow.Columns(rows, in: order), notification: notification, origin: origin, commit: commit)
        var inserted: Set<PostgresEventRow.Identity> = []
        for try await identities in try await connection.execute(statement, logger: logger) {
            inserted.formUnion(identities)
        }
        return inserted
    }

    /// Stores an audit entry inside the caller's transaction, beside the change it records.
    func insertAudit(_ entry: AdminAuditEntry, on connection: PostgresConnection, logger: Logger) async throws {
        let (prepared, _) = try preparer.prepare([entry.incomingEvent()], receivedAt: entry.occurredAt)
        _ = try await Self.insert(prepared.map { PostgresEventRow($0, receivedAt: entry.occurredAt) }, from: try origin(), on: connection, logger: logger)
    }

    // MARK: Reads

    public func events(matching filter: EventFilter, after cursor: EventCursor?, limit: Int) async throws(StoreError) -> EventPage {
        let limit = max(1, min(limit, 1000))
        guard let query = PostgresEventQuery(filter: filter, cursor: cursor, limit: limit + 1) else {
            // A filter value holding NUL matches nothing (such values are not indexed).
            return EventPage(events: [], nextCursor: nil)
        }
        do {
            let logger = self.logger
            let decoder = self.decoder
            let (events, scanStoppedAt) = try await database.connection { connection in
                try await query.run(on: connection, decoder: decoder, filter: filter, logger: logger)
            }
            return EventPage(reading: events, limit: limit, scanStoppedAt: scanStoppedAt)
        } catch {
            throw Self.storeError(error, doing: "query events")
        }
    }

    public func occurredRange() async throws(StoreError) -> ClosedRange<Timestamp>? {
        do {
            let rows = try await database.rows("SELECT min(occurred_at), max(occurred_at) FROM events")
            guard let row = rows.first, let (low, high) = try? row.decode((Int64?, Int64?).self), let low, let high else { return nil }
            return Timestamp(microseconds: low)...Timestamp(microseconds: high)
        } catch {
            throw Self.storeError(error, doing: "read the range of stored times")
        }
    }

    public func eventCounts(matching filter: EventFilter, buckets: HistogramBuckets) async throws(StoreError) -> EventCounts {
        guard buckets.count > 0 else { return EventCounts(counts: []) }
        var windowed = filter
        windowed.since = max(filter.since ?? buckets.edges.first!, buckets.edges.first!)
        windowed.until = min(filter.until ?? buckets.edges.last!, buckets.edges.last!)
        guard windowed.since! < windowed.until! else { return EventCounts(counts: [Int](repeating: 0, count: buckets.count)) }
        guard let query = PostgresEventQuery(filter: windowed, cursor: nil, limit: QueryLimits.textScanLimit) else {
            return EventCounts(counts: [Int](repeating: 0, count: buckets.count))
        }
        do {
            let logger = self.logger
            let decoder = self.decoder
            let windowed = windowed
            if !query.searchesText {
                let edges = buckets.edges.map(\.microseconds)
                return EventCounts(counts: try await database.connection { connection in
                    try await query.counts(edges: edges, on: connection, logger: logger)
                })
            }
            // Free text: what the listing's bounded scan finds, newest first.
            let (events, stoppedAt) = try await database.connection { connection in
                try await query.run(on: connection, decoder: decoder, filter: windowed, logger: logger)
            }
            return EventCounts(scanned: events, stoppedAt: stoppedAt, buckets: buckets)
        } catch {
            throw Self.storeError(error, doing: "count events")
        }
    }

    public func facets(matching filter: EventFilter, fields: [FacetField], limit: Int) async throws(StoreError) -> EventFacets {
        try await scannedFacets(matching: filter, fields: fields, limit: limit)
    }

    public func event(id: EventID) async throws(StoreError) -> StoredEvent? {
        do {
            // An id derived from its row names the seq; the row's own time must give the same id.
            if let (seq, _) = id.storedParts {
                let rows = try await database.rows("SELECT \(unescaped: PostgresEventRow.selectColumns) FROM events e WHERE e.seq = \(seq)")
                if let found = try await decoder.events(rows).first, found.id == id { return found }
            }
            let rows = try await database.rows("SELECT \(unescaped: PostgresEventRow.selectColumns) FROM events e WHERE e.id = \(id.rawValue)")
            return try await decoder.events(rows).first
        } catch {
            throw Self.storeError(error, doing: "read event")
        }
    }

    /// Events after `seq` in store order: what a consumer (destination, workflow) reads next. Only
    /// finished transactions' (``SeqOrigin/watermark``): a consumer must not pass a seq that a
    /// transaction still running could yet commit below.
    public func events(afterSeq seq: Int64, limit: Int) async throws(StoreError) -> [StoredEvent] {
        do {
            let rows = try await database.rows(
                """
                SELECT \(unescaped: PostgresEventRow.selectColumns) FROM events e
                WHERE e.seq > \(seq) AND e.seq < \(unescaped: try origin().watermark) ORDER BY e.seq LIMIT \(limit)
                """
            )
            return try await decoder.events(rows)
        } catch {
            throw Self.storeError(error, doing: "read events by seq")
        }
    }

    /// Total stored events (for status pages; a full count, so not for hot paths).
    public func count() async throws(StoreError) -> Int {
        do {
            let rows = try await database.rows("SELECT count(*) FROM events")
            return Int(try rows.first?.decode(Int64.self) ?? 0)
        } catch {
            throw Self.storeError(error, doing: "count")
        }
    }

    // MARK: Retention

    public func purge(occurredBefore cutoff: Timestamp, limit: Int, audit: (@Sendable ([Int64]) -> AdminAuditEntry)?) async throws(StoreError) -> [Int64] {
        do {
            // Checkpoints stay (docs/integrity.md); the audit entry commits with the deletion.
            let purged = try await database.transaction { [logger] connection in
                let rows = try await connection.query(
                    """
                    WITH doomed AS (SELECT seq FROM events WHERE occurred_at < \(cutoff.microseconds)
                        AND NOT (source = \(AdminAuditEntry.source) AND log_type = \(AdminAuditEntry.integrityLogType)) ORDER BY occurred_at LIMIT \(limit))
                    DELETE FROM events WHERE seq IN (SELECT seq FROM doomed) RETURNING seq
                    """,
                    logger: logger
                )
                var seqs: [Int64] = []
                for try await seq in rows.decode(Int64.self) { seqs.append(seq) }
                seqs.sort()
                if let audit, !seqs.isEmpty { try await self.insertAudit(audit(seqs), on: connection, logger: logger) }
                return seqs
            }
            try await database.execute(
                """
                UPDATE store_state SET value = 0 WHERE name = \(StoredDedupeKey.untimedThroughState) AND value > 0
                    AND NOT EXISTS (SELECT 1 FROM events WHERE seq <= store_state.value)
                """
            )
            try await refreshUntimedKeysState()
            return purged
        } catch {
            throw Self.storeError(error, doing: "purge")
        }
    }

    // MARK: Health and size

    public func checkHealth() async throws(StoreError) {
        do {
            try await database.execute("SELECT 1")
        } catch {
            throw Self.storeError(error, doing: "health check")
        }
    }

    /// Bytes used by this schema's tables and indexes.
    public func sizeInBytes() async throws(StoreError) -> Int64 {
        do {
            let rows = try await database.rows(
                """
                SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = \(configuration.schema) AND c.relkind = 'r'
                """
            )
            return try rows.first?.decode(Int64.self) ?? 0
        } catch {
            throw Self.storeError(error, doing: "measure the store")
        }
    }

    // MARK: Errors

    /// SQLSTATE classes and codes that say the server, not the request, is the problem.
    static func storeError(_ error: any Error, doing operation: String) -> StoreError {
        if let error = error as? PostgresTransactionError {
            // What failed first says why: BEGIN, the work inside, or COMMIT.
            guard let cause = error.beginError ?? error.closureError ?? error.commitError ?? error.rollbackError else {
                return StoreError(.unavailable, "\(operation) failed: the transaction did not complete")
            }
            return storeError(cause, doing: operation)
        }
        return StoreError.wrapping(error, doing: operation) { error in
            guard let error = error as? PSQLError else { return nil }
            guard let info = error.serverInfo, let state = info[.sqlState] else {
                // No answer from the server: refused, reset, timed out or closed.
                return StoreFailure(.unavailable, "PostgreSQL is unreachable (\(error.code))", remedy: "check storage.postgres.url and the server")
            }
            let message = info[.message] ?? "SQLSTATE \(state)"
            switch state {
            case "53100":
                return StoreFailure(.full, "PostgreSQL's disk is full (\(message))", remedy: "free space on the database volume")
            case "XX001", "XX002":
                return StoreFailure(.corrupt, "PostgreSQL reports damaged data (\(message))")
            case _ where state.hasPrefix("22") || state.hasPrefix("23") || state.hasPrefix("42"):
                return StoreFailure(.invalidRequest, "\(message) (SQLSTATE \(state))")
            default:
                return StoreFailure(.unavailable, "\(message) (SQLSTATE \(state))")
            }
        }
    }
}
