import CoreMetrics
import Dispatch
import Foundation
import GRDB
import Logging
import SluiceCore
import Synchronization

/// The default event store: one SQLite file in WAL mode.
///
/// Appends from concurrent requests are group-committed: each request waits in a queue, and a
/// single writer commits everything queued in one transaction, each request inside its own
/// savepoint so that one failing request never takes another's events with it. The caller is
/// resumed only after the transaction that holds its events has committed.
public final class SQLiteEventStore: EventStore {
    let pool: DatabasePool
    public let configuration: SQLiteStoreConfiguration
    let logger: Logger
    private let writerQueue = DispatchQueue(label: "sluice.store.group-commit")
    private let pending = GroupCommitQueue<PendingAppend> { $0.rows.count }
    /// A separate connection that copies committed WAL frames into the database file beside the
    /// writer, so that commits never wait for a checkpoint.
    private let checkpointer: DatabaseQueue
    private let checkpointQueue = DispatchQueue(label: "sluice.store.checkpoint")
    private let checkpointScheduled = ScheduleGate()
    private let indexingScheduled = ScheduleGate()
    /// Whether events stored before dedupe keys carried their time may still be present; their
    /// keys are then looked up in the old form too (see ``StoredDedupeKey``).
    private let untimedKeysRemain: Atomic<Bool>
    /// Events indexed per pass: large enough for sorted inserts to share pages, small enough
    /// that a pass stays short next to the commits it is queued between.
    static let indexBatchSize = 20_000
    /// Checkpoints at most this often: a page rewritten by many commits is copied once per interval.
    private let checkpointInterval: DispatchTimeInterval = .seconds(1)

    struct PendingAppend {
        /// Each event's column values, encoded by the caller so the single writer only binds them.
        var rows: [StatementArguments]
        var checkpoint: CheckpointUpdate?
        var committedAt: Timestamp
        var continuation: CheckedContinuation<AppendResult, any Error>
    }

    /// Opens (creating if needed) the database and runs pending migrations.
    public init(configuration: SQLiteStoreConfiguration, logger: Logger) throws(StoreError) {
        self.configuration = configuration
        self.logger = logger
        let directory = (configuration.path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw StoreError(.unavailable, "cannot create the data directory \(directory): \(error.localizedDescription)")
            }
        }
        var config = Configuration()
        let synchronous = configuration.durability == .full ? "FULL" : "NORMAL"
        config.busyMode = .timeout(10)
        let maxSize = configuration.maxSizeBytes
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            // The writer keeps index pages cached (the default 2 MiB thrashes once the indexes
            // outgrow it); readers, of which the pool may open several, stay small.
            let cacheKiB = db.configuration.readonly ? 8_192 : 32_768
            try db.execute(sql: "PRAGMA cache_size = -\(cacheKiB)")
            // Checkpoints run on their own connection after commits (see scheduleCheckpoint); the
            // automatic one, which would run inside a commit, is only a backstop.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 65536")
            try db.execute(sql: "PRAGMA journal_size_limit = 67108864")
            if let maxSize {
                let pageSize = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
                try db.execute(sql: "PRAGMA max_page_count = \(max(1, maxSize / pageSize))")
            }
        }
        do {
            pool = try DatabasePool(path: configuration.path, configuration: config)
            // GRDB turns WAL on for the writer after `prepareDatabase` ran and sets
            // `synchronous = NORMAL` as it does, which would silently drop `full`: commits would
            // not be fsynced. The writer commits every event, so its setting is the one that counts.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = \(synchronous)") }
            try Self.migrator.migrate(pool)
            let untimedThrough = try pool.read { db in
                try Int64.fetchOne(db, sql: "SELECT value FROM store_state WHERE name = ?", arguments: [StoredDedupeKey.untimedThroughState])
            }
            untimedKeysRemain = Atomic((untimedThrough ?? 0) > 0)
            var checkpointConfig = Configuration()
            checkpointConfig.busyMode = .timeout(10)
            checkpointConfig.prepareDatabase { db in
                try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            }
            checkpointer = try DatabaseQueue(path: configuration.path, configuration: checkpointConfig)
        } catch {
            throw Self.storeError(error, doing: "open \(configuration.path)")
        }
        // Events committed before a crash may not be indexed yet; index them without waiting
        // for the next push.
        if configuration.automaticIndexing { scheduleIndexing(after: .milliseconds(0)) }
    }

    // MARK: Append (group commit)

    public func append(_ events: [IncomingEvent], receivedAt: Timestamp, checkpoint: CheckpointUpdate?) async throws(StoreError) -> AppendResult {
        if events.isEmpty && checkpoint == nil { return AppendResult(accepted: 0, duplicates: 0) }
        do {
            var events = events
            var storedBefore = 0
            if untimedKeysRemain.load(ordering: .relaxed) {
                (events, storedBefore) = try await droppingUntimedDuplicates(events)
            }
            let rows = Self.encodeRows(events, receivedAt: receivedAt)
            let result = try await withCheckedThrowingContinuation { continuation in
                pending.add(PendingAppend(rows: rows, checkpoint: checkpoint, committedAt: receivedAt, continuation: continuation))
                writerQueue.async { self.drain() }
            }
            return AppendResult(accepted: result.accepted, duplicates: result.duplicates + storedBefore)
        } catch let error as StoreError {
            throw error
        } catch {
            throw Self.storeError(error, doing: "append")
        }
    }

    /// Removes the events already stored under the key form used before keys carried the event's
    /// time. Such rows are never written again, only purged, so a read outside the commit is enough.
    private func droppingUntimedDuplicates(_ events: [IncomingEvent]) async throws -> ([IncomingEvent], Int) {
        try await pool.read { db in
            let lookup = try db.cachedStatement(sql: "SELECT 1 FROM events WHERE source = ? AND dedupe_key = ?")
            let fresh = try events.filter { event in
                guard let untimed = StoredDedupeKey.untimed(for: event) else { return true }
                return try Int.fetchOne(lookup, arguments: [event.source, Data(untimed)]) == nil
            }
            return (fresh, events.count - fresh.count)
        }
    }

    /// Runs on `writerQueue`: commits whatever is queued, in bounded transactions.
    private func drain() {
        while true {
            let batch = pending.takeGroup(maxEvents: configuration.maxEventsPerCommit)
            if batch.isEmpty { return }
            commit(batch)
        }
    }

    private func commit(_ batch: [PendingAppend]) {
        var results = [Result<AppendResult, StoreError>](repeating: .failure(StoreError(.unavailable, "not committed")), count: batch.count)
        let started = ContinuousClock.now
        do {
            // Optimistic path: no savepoints (two extra statements per request). Duplicates
            // never fail an insert, so a failure here is rare; then the whole transaction rolls
            // back and the group is retried with one savepoint per request.
            try pool.write { db in
                for (i, item) in batch.enumerated() {
                    results[i] = .success(try Self.insert(item, in: db))
                }
            }
        } catch where batch.count > 1 && !Self.isFatalForTransaction(error) {
            do {
                try commitIsolated(batch, into: &results)
            } catch {
                fail(batch, with: error)
                return
            }
        } catch {
            fail(batch, with: error)
            return
        }
        StoreMetrics.commitDuration.recordNanoseconds((ContinuousClock.now - started).nanosecondsApprox)
        for (item, result) in zip(batch, results) {
            item.continuation.resume(with: result.mapError { $0 as any Error })
        }
        scheduleCheckpoint()
        if configuration.automaticIndexing { scheduleIndexing(after: .milliseconds(200)) }
    }

    /// Queues one term-indexing pass on the writer queue unless one is queued. Appends queued
    /// meanwhile run first (the queue is FIFO), so indexing never delays an acknowledgement by
    /// more than one bounded batch.
    private func scheduleIndexing(after delay: DispatchTimeInterval) {
        Self.scheduleOnce(indexingScheduled, on: writerQueue, after: delay) {
            do {
                let (indexed, behind) = try self.pool.write { db in
                    let indexed = try Self.indexTerms(in: db, limit: Self.indexBatchSize)
                    let last = try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM events") ?? 0
                    return (indexed, max(0, last - (try Self.termsIndexedThrough(db))))
                }
                StoreMetrics.unindexedEvents.record(behind)
                if indexed == Self.indexBatchSize { self.scheduleIndexing(after: .milliseconds(0)) }
            } catch {
                self.logger.error("indexing stored events failed; queries still see them through the unindexed tail", metadata: ["error": "\(error)"])
                self.scheduleIndexing(after: .seconds(5))
            }
        }
    }

    /// WAL frames (pages) above which the WAL is restarted: 16,384 × 4 KiB = 64 MiB.
    static let walFrameBound = 16_384

    /// Commits each request of the group inside its own savepoint, so that one failing request
    /// fails alone.
    private func commitIsolated(_ batch: [PendingAppend], into results: inout [Result<AppendResult, StoreError>]) throws {
        try pool.write { db in
            for (i, item) in batch.enumerated() {
                do {
                    var outcome = AppendResult(accepted: 0, duplicates: 0)
                    try db.inSavepoint {
                        outcome = try Self.insert(item, in: db)
                        return .commit
                    }
                    results[i] = .success(outcome)
                } catch {
                    // A full disk or I/O error poisons the transaction: fail it all.
                    if Self.isFatalForTransaction(error) { throw error }
                    results[i] = .failure(Self.storeError(error, doing: "append"))
                }
            }
        }
    }

    private func fail(_ batch: [PendingAppend], with error: any Error) {
        let failure = Self.storeError(error, doing: "commit")
        logger.error("event store commit failed", metadata: ["error": "\(failure)"])
        for item in batch { item.continuation.resume(throwing: failure) }
    }

    /// Queues one passive checkpoint (after `checkpointInterval`) unless one is already queued.
    /// Passive checkpoints never block the writer or readers; the WAL restarts from its
    /// beginning once fully copied.
    private func scheduleCheckpoint() {
        Self.scheduleOnce(checkpointScheduled, on: checkpointQueue, after: checkpointInterval) {
            do {
                let result = try self.checkpointer.writeWithoutTransaction { db in
                    try db.checkpoint(.passive)
                }
                // Under constant writes a passive checkpoint never sees the WAL idle, so the WAL
                // never restarts; past the bound, restart it through the writer (a short pause).
                // Restart, not truncate: the next commits overwrite blocks the file already has,
                // where a truncated WAL made every commit grow the file (the filesystem zeroes
                // each new block, and each fsync also commits the size change).
                if result.walFrameCount > Self.walFrameBound {
                    try self.pool.writeWithoutTransaction { db in
                        _ = try db.checkpoint(.restart)
                    }
                }
            } catch {
                self.logger.warning("WAL checkpoint failed; SQLite's automatic checkpoint remains as a backstop", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The column values of each event, in the order of the INSERT below.
    static func encodeRows(_ events: [IncomingEvent], receivedAt: Timestamp) -> [StatementArguments] {
        var generator = SplitMix64()
        return events.map { event in
            let n = event.normalized
            let id = EventID.make(at: receivedAt, using: &generator)
            let metadata = n.actor.map { StoredJSON.encodeMetadata($0.metadata) }
            return [
                id.rawValue, text(event.source), Data(StoredDedupeKey.bytes(for: event)), text(event.logType),
                n.occurredAt.microseconds, receivedAt.microseconds, text(n.action),
                text(n.actor?.type), text(n.actor?.id), text(n.actor?.name), metadata,
                StoredJSON.encodeTargets(n.targets), text(n.context.location), text(n.context.userAgent),
                n.schemaVersion, Data(event.raw), text(event.origin),
            ]
        }
    }

    /// Stores an audit entry inside the caller's transaction, beside the change it records.
    static func insertAudit(_ entry: AdminAuditEntry, in db: Database) throws {
        _ = try insert(rows: encodeRows([entry.incomingEvent()], receivedAt: entry.occurredAt), in: db)
    }

    private static func insert(_ item: PendingAppend, in db: Database) throws -> AppendResult {
        let result = try insert(rows: item.rows, in: db)
        if let checkpoint = item.checkpoint {
            try moveCheckpoint(checkpoint, at: item.committedAt, in: db)
        }
        return result
    }

    private static func insert(rows: [StatementArguments], in db: Database) throws -> AppendResult {
        let eventStatement = try db.cachedStatement(sql: """
            INSERT INTO events (id, source, dedupe_key, log_type, occurred_at, received_at, action,
                actor_type, actor_id, actor_name, actor_metadata, targets, location, user_agent, schema_version, raw, origin)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (source, dedupe_key) DO NOTHING
            """)
        var accepted = 0
        var duplicates = 0
        for row in rows {
            eventStatement.setUncheckedArguments(row)
            try eventStatement.execute()
            if db.changesCount == 0 {
                duplicates += 1
            } else {
                accepted += 1
            }
        }
        return AppendResult(accepted: accepted, duplicates: duplicates)
    }

    /// SQLite text binding stops at the first NUL; such values are stored as UTF-8 blobs, which
    /// read back as the full string.
    private static func text(_ value: String?) -> (any DatabaseValueConvertible)? {
        guard let value else { return nil }
        return value.utf8.contains(0) ? Data(value.utf8) : value
    }

    /// Runs `work` on `queue` after `delay` unless a run is already pending on `gate`; the
    /// gate reopens as the run starts, so work arriving during a run schedules the next one.
    private static func scheduleOnce(
        _ gate: ScheduleGate, on queue: DispatchQueue, after delay: DispatchTimeInterval, _ work: @escaping @Sendable () -> Void
    ) {
        guard gate.claim() else { return }
        queue.asyncAfter(deadline: .now() + delay) {
            gate.release()
            work()
        }
    }

    // MARK: Reads

    public func events(matching filter: EventFilter, after cursor: EventCursor?, limit: Int) async throws(StoreError) -> EventPage {
        let limit = max(1, min(limit, 1000))
        let query = EventQuery(filter: filter, cursor: cursor, limit: limit + 1)
        do {
            let (events, scanStoppedAt) = try await pool.read { db in
                // One read transaction: the watermark and both parts see the same snapshot.
                let indexedThrough = try Self.termsIndexedThrough(db)
                let result = try query.run(in: db, indexedThrough: indexedThrough)
                return (try result.rows.map(Self.storedEvent(from:)), result.scanStoppedAt)
            }
            return EventPage(reading: events, limit: limit, scanStoppedAt: scanStoppedAt)
        } catch {
            throw Self.storeError(error, doing: "query events")
        }
    }

    public func event(id: EventID) async throws(StoreError) -> StoredEvent? {
        do {
            return try await pool.read { db in
                try Row.fetchOne(db, sql: "SELECT \(EventQuery.columns) FROM events e WHERE e.id = ?", arguments: [id.rawValue])
                    .map(Self.storedEvent(from:))
            }
        } catch {
            throw Self.storeError(error, doing: "read event")
        }
    }

    /// Events after `seq` in store order: what a consumer (destination, workflow) reads next.
    public func events(afterSeq seq: Int64, limit: Int) async throws(StoreError) -> [StoredEvent] {
        do {
            return try await pool.read { db in
                try Row.fetchAll(
                    db, sql: "SELECT \(EventQuery.columns) FROM events e WHERE e.seq > ? ORDER BY e.seq LIMIT ?",
                    arguments: [seq, limit]
                ).map(Self.storedEvent(from:))
            }
        } catch {
            throw Self.storeError(error, doing: "read events by seq")
        }
    }

    static func storedEvent(from row: Row) throws -> StoredEvent {
        let actorType: String? = row["actor_type"]
        let actor = actorType.map { type in
            AuditActor(
                type: type, id: row["actor_id"] ?? "", name: row["actor_name"],
                metadata: StoredJSON.decodeMetadata(row["actor_metadata"] ?? "{}")
            )
        }
        let normalized = NormalizedEvent(
            occurredAt: Timestamp(microseconds: row["occurred_at"]),
            action: row["action"],
            actor: actor,
            targets: StoredJSON.decodeTargets(row["targets"] ?? "[]"),
            context: AuditContext(location: row["location"], userAgent: row["user_agent"]),
            schemaVersion: row["schema_version"]
        )
        let rawData: Data = row["raw"] ?? Data()
        guard let id = EventID(row["id"]) else {
            throw StoreError(.corrupt, "event \(row["seq"] as Int64? ?? -1) has an invalid id")
        }
        return StoredEvent(
            seq: row["seq"], id: id, source: row["source"], logType: row["log_type"],
            receivedAt: Timestamp(microseconds: row["received_at"]), normalized: normalized, raw: Array(rawData),
            origin: row["origin"]
        )
    }

    // MARK: Retention

    public func purge(occurredBefore cutoff: Timestamp, limit: Int) async throws(StoreError) -> Int {
        do {
            return try await pool.write { db in
                let indexedThrough = try Self.termsIndexedThrough(db)
                let rows = try Row.fetchAll(
                    db, sql: "SELECT \(Self.termColumns) FROM events WHERE occurred_at < ? ORDER BY occurred_at, seq LIMIT ?",
                    arguments: [cutoff.microseconds, limit]
                )
                var terms = Set<TermBytes>()
                let deleteEvent = try db.cachedStatement(sql: "DELETE FROM events WHERE seq = ?")
                for row in rows {
                    let seq: Int64 = row[0]
                    if seq <= indexedThrough {
                        for term in Self.terms(of: row) { terms.insert(TermBytes(term)) }
                    }
                    try deleteEvent.execute(arguments: [seq])
                }
                // Events go in (occurred_at, seq) order, so every posting before the first event
                // left points at a purged one. A block ending before it goes now, in the batch
                // that removed its last event (whose terms are in this set); comparing times
                // alone would keep it when that event ties with one left, and no later batch
                // would look at its term again. A block that also points at a later event stays,
                // and queries skip its postings whose event is gone.
                let firstLeft = try Row.fetchOne(db, sql: "SELECT occurred_at, seq FROM events ORDER BY occurred_at, seq LIMIT 1")
                let deleteBlocks = try db.cachedStatement(sql: "DELETE FROM event_postings WHERE term = ? AND (last_occurred_at, last_seq) < (?, ?)")
                for term in terms {
                    try deleteBlocks.execute(arguments: [
                        term.term, firstLeft?[0] ?? Int64.max, firstLeft?[1] ?? Int64.max,
                    ])
                }
                try db.execute(
                    sql: """
                        UPDATE store_state SET value = 0 WHERE name = ? AND value > 0
                            AND NOT EXISTS (SELECT 1 FROM events WHERE seq <= store_state.value)
                        """,
                    arguments: [StoredDedupeKey.untimedThroughState]
                )
                if db.changesCount > 0 { untimedKeysRemain.store(false, ordering: .relaxed) }
                return rows.count
            }
        } catch {
            throw Self.storeError(error, doing: "purge")
        }
    }

    // MARK: Term index

    static func termsIndexedThrough(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT value FROM store_state WHERE name = 'terms_indexed_through'") ?? 0
    }

    /// The columns `terms(of:)` reads, in the order it reads them.
    static let termColumns = "seq, source, log_type, action, actor_type, actor_id, actor_name, targets, occurred_at"

    /// The terms the index holds for a row.
    static func terms(of row: Row) -> [String] {
        EventTerms.terms(
            source: row[1], logType: row[2], action: row[3], actorType: row[4],
            actorID: row[5], actorName: row[6], targets: StoredJSON.decodeTargets(row[7] ?? "[]")
        )
    }

    /// Adds the postings of up to `limit` committed events past the watermark, one block per term
    /// (split past `blockSize`), in index order so that the inserts walk the index sequentially,
    /// and advances the watermark in the same transaction.
    static func indexTerms(in db: Database, limit: Int, blockSize: Int = PostingBlock.maximumCount) throws -> Int {
        let through = try termsIndexedThrough(db)
        var postings = TermPostings()
        var count = 0
        var lastSeq: Int64 = through
        let rows = try Row.fetchCursor(
            db, sql: "SELECT \(termColumns) FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            arguments: [through, limit]
        )
        while let row = try rows.next() {
            let seq: Int64 = row[0]
            let occurredAt: Int64 = row[8]
            postings.add(terms(of: row), occurredAt: occurredAt, seq: seq)
            lastSeq = seq
            count += 1
        }
        guard count > 0 else { return 0 }
        let insert = try db.cachedStatement(sql: """
            INSERT INTO event_postings (term, last_occurred_at, last_seq, first_occurred_at, first_seq, count, postings)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        for (term, list) in postings.inIndexOrder() {
            var start = list.startIndex
            while start < list.endIndex {
                let block = list[start..<min(start + blockSize, list.endIndex)]
                let first = block.first!
                let last = block.last!
                insert.setUncheckedArguments([
                    term, last.occurredAt, last.seq, first.occurredAt, first.seq, block.count, Data(PostingBlock.encode(block)),
                ])
                try insert.execute()
                start = block.endIndex
            }
        }
        try db.execute(sql: "UPDATE store_state SET value = ? WHERE name = 'terms_indexed_through'", arguments: [lastSeq])
        return count
    }

    /// Indexes every committed event not yet indexed (tests and maintenance use this; a running
    /// store also indexes by itself shortly after each commit).
    @discardableResult
    public func indexPendingTerms(maxEvents: Int = .max) async throws(StoreError) -> Int {
        try await indexPendingTerms(maxEvents: maxEvents, passSize: Self.indexBatchSize, blockSize: PostingBlock.maximumCount)
    }

    /// The same in passes of `passSize` events and blocks of at most `blockSize` postings, which
    /// tests make small to get many overlapping blocks from few events.
    func indexPendingTerms(maxEvents: Int, passSize: Int, blockSize: Int) async throws(StoreError) -> Int {
        do {
            var total = 0
            while total < maxEvents {
                let batch = min(passSize, maxEvents - total)
                let n = try await pool.write { db in try Self.indexTerms(in: db, limit: batch, blockSize: blockSize) }
                total += n
                if n < batch { break }
            }
            return total
        } catch {
            throw Self.storeError(error, doing: "index events")
        }
    }

    /// How many committed events are not yet in the term index.
    public func unindexedCount() async throws(StoreError) -> Int {
        do {
            return try await pool.read { db in
                let through = try Self.termsIndexedThrough(db)
                return try Int.fetchOne(db, sql: "SELECT count(*) FROM events WHERE seq > ?", arguments: [through]) ?? 0
            }
        } catch {
            throw Self.storeError(error, doing: "count unindexed events")
        }
    }

    // MARK: Health and size

    public func checkHealth() async throws(StoreError) {
        do {
            _ = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
        } catch {
            throw Self.storeError(error, doing: "health check")
        }
    }

    /// Bytes used by the database file and its WAL.
    public func sizeInBytes() -> Int64 {
        let fm = FileManager.default
        var total: Int64 = 0
        for suffix in ["", "-wal", "-shm"] {
            if let attrs = try? fm.attributesOfItem(atPath: configuration.path + suffix), let size = attrs[.size] as? NSNumber {
                total += size.int64Value
            }
        }
        return total
    }

    /// Why the store should not take more writes, or nil: set when `maxSizeBytes` is configured
    /// and fewer than 1 MiB (or 1%) of its pages remain.
    public func capacityProblem() async throws(StoreError) -> String? {
        guard let maxSize = configuration.maxSizeBytes else { return nil }
        do {
            return try await pool.read { db in
                let pageSize = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
                let pages = try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0
                let free = try Int64.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
                let maxPages = try Int64.fetchOne(db, sql: "PRAGMA max_page_count") ?? Int64.max
                let margin = max((1 << 20) / pageSize, maxPages / 100)
                guard maxPages - (pages - free) < margin else { return nil }
                return "the database has reached its size cap (storage.sqlite.max_size = \(maxSize) bytes)"
            }
        } catch {
            throw Self.storeError(error, doing: "check capacity")
        }
    }

    /// Total stored events (for status pages; a full count, so not for hot paths).
    public func count() async throws(StoreError) -> Int {
        do {
            return try await pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0 }
        } catch {
            throw Self.storeError(error, doing: "count")
        }
    }

    /// `PRAGMA integrity_check`: "ok" or the problems SQLite found.
    public func integrityCheck() async throws(StoreError) -> String {
        do {
            return try await pool.read { db in
                try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; ")
            }
        } catch {
            throw Self.storeError(error, doing: "integrity check")
        }
    }

    // MARK: Errors

    static func isFatalForTransaction(_ error: any Error) -> Bool {
        guard let error = error as? DatabaseError else { return false }
        return switch error.resultCode {
        case .SQLITE_FULL, .SQLITE_IOERR, .SQLITE_CORRUPT, .SQLITE_NOTADB, .SQLITE_READONLY, .SQLITE_CANTOPEN: true
        default: false
        }
    }

    static func storeError(_ error: any Error, doing operation: String) -> StoreError {
        if let error = error as? StoreError { return error }
        guard let dbError = error as? DatabaseError else {
            return StoreError(.unavailable, "\(operation) failed: \(error)")
        }
        let detail = dbError.message ?? "\(dbError.resultCode)"
        switch dbError.resultCode {
        case .SQLITE_FULL:
            return StoreError(.full, "\(operation) failed: the disk or database is full (\(detail)); free space on the data volume")
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            return StoreError(.corrupt, "\(operation) failed: the database file is damaged (\(detail))")
        case .SQLITE_CONSTRAINT, .SQLITE_MISMATCH, .SQLITE_TOOBIG, .SQLITE_RANGE:
            return StoreError(.invalidRequest, "\(operation) failed: \(detail)")
        default:
            return StoreError(.unavailable, "\(operation) failed: \(detail)")
        }
    }
}

/// Whether a run of some background work is already pending.
final class ScheduleGate: Sendable {
    private let scheduled = Mutex(false)

    /// True when no run was pending (the caller now owns scheduling one).
    func claim() -> Bool {
        scheduled.withLock { pending in
            defer { pending = true }
            return !pending
        }
    }

    func release() {
        scheduled.withLock { $0 = false }
    }
}

extension Duration {
    var nanosecondsApprox: Int64 {
        let (s, atto) = components
        return s * 1_000_000_000 + atto / 1_000_000_000
    }
}
