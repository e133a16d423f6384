import CoreMetrics
import Dispatch
import Foundation
import GRDB
import GRDBSQLite
import Logging
import SluiceCompression
import SluiceCore
import SluiceStoreKit
import Synchronization

/// The default event store: one SQLite file in WAL mode.
///
/// Appends from concurrent requests are group-committed: each request prepares its rows in its
/// own task (records compressed, keys and terms computed, see ``PreparedEvent``) and waits in a
/// queue, and a single writer commits everything queued in one transaction, each request inside
/// its own savepoint so that one failing request never takes another's events with it. The
/// caller is resumed only after the transaction that holds its events has committed.
///
/// The row layout is in docs/storage.md ("Rows"): an event is a few indexed columns and one
/// compressed payload; names are labels, ids derive from the row.
public final class SQLiteEventStore: EventStore {
    let pool: DatabasePool
    public let configuration: SQLiteStoreConfiguration
    let logger: Logger
    let writerQueue = DispatchQueue(label: "sluice.store.group-commit")
    private let committer: GroupCommitter<PendingAppend>
    /// A separate connection that copies committed WAL frames into the database file beside the
    /// writer, so that commits never wait for a checkpoint.
    private let checkpointer: DatabaseQueue
    private let checkpointQueue = DispatchQueue(label: "sluice.store.checkpoint")
    private let checkpointScheduled = ScheduleGate()
    let indexingScheduled = ScheduleGate()
    let compactionScheduled = ScheduleGate()
    let trainingScheduled = ScheduleGate()
    let trainingQueue = DispatchQueue(label: "sluice.store.dictionaries", qos: .utility)
    /// Whether events stored before dedupe keys carried their time may still be present; their
    /// keys are then looked up in the old form too (see ``StoredDedupeKey``).
    let untimedKeysRemain: Atomic<Bool>
    /// Whether the previous layout's table (`events_v1`) still holds events.
    let legacyRemains: Atomic<Bool>
    let labels = LabelTable()
    let book = DictionaryBook()
    let trainer: DictionaryTrainer
    let contexts = ZstdContextPool()
    let preparer: EventPreparer
    /// Postings of events committed since the index caught up, written by the next indexing pass.
    let livePostings = LivePostings()
    /// Why background compaction of old rows stopped, when it did (a full disk).
    let compactionPause = Mutex<String?>(nil)
    /// Content digests of this process's commits, for integrity checkpoints, once asked for.
    let commitDigests = CommitDigests()
    let keepsCommitDigests = Atomic(false)
    /// Whether this process has committed events (``close()`` has nothing to finish otherwise).
    let wroteEvents = Atomic(false)
    /// Commits of this process are published as they happen; those of another process on the same
    /// file (the CLI) are noticed by ``otherWriters`` within ``otherWritersInterval``.
    public let changes = StoreChanges(fallback: .seconds(30))
    /// Set once at the end of `init`, cancelled in `deinit`.
    nonisolated(unsafe) private var otherWriters: (any DispatchSourceTimer)?
    /// The writer connection's last `PRAGMA data_version` (-1 before the first look).
    private let dataVersion = Atomic<Int64>(-1)
    /// How often the writer connection asks SQLite whether another connection committed.
    static let otherWritersInterval: DispatchTimeInterval = .seconds(1)
    /// Events indexed per pass: large enough for sorted inserts to share pages, small enough
    /// that a pass stays short next to the commits it is queued between.
    static let indexBatchSize = 20_000
    /// Checkpoints at most this often: a page rewritten by many commits is copied once per interval.
    private let checkpointInterval: DispatchTimeInterval = .seconds(1)

    struct PendingAppend: Sendable {
        var rows: [PreparedEvent]
        var checkpoint: CheckpointUpdate?
        var committedAt: Timestamp
    }

    /// Opens (creating if needed) the database and runs pending migrations.
    public init(configuration: SQLiteStoreConfiguration, logger: Logger) throws(StoreError) {
        self.configuration = configuration
        self.logger = logger
        self.committer = GroupCommitter(logger: logger) { $0.rows.count }
        trainer = DictionaryTrainer(policy: configuration.dictionaries)
        preparer = EventPreparer(book: book, trainer: trainer, contexts: contexts)
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
            let (untimedThrough, legacy, stored) = try pool.read { db in
                (
                    try Int64.fetchOne(db, sql: "SELECT value FROM store_state WHERE name = ?", arguments: [StoredDedupeKey.untimedThroughState]),
                    try db.tableExists("events_v1"),
                    try Self.latestDictionaries(in: db)
                )
            }
            untimedKeysRemain = Atomic((untimedThrough ?? 0) > 0)
            legacyRemains = Atomic(legacy)
            for dictionary in stored {
                do {
                    book.adopt(dictionary.id, try ZstdDictionary(bytes: dictionary.bytes, level: dictionary.level), for: dictionary.stream)
                    trainer.resume(dictionary.stream, ratio: dictionary.ratio)
                } catch {
                    logger.error("a stored zstd dictionary does not load; its stream is trained anew", metadata: ["dictionary": "\(dictionary.id)", "error": "\(error)"])
                }
            }
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
        // for the next push. Rows of the previous layout move to the new one in the background.
        if configuration.automaticIndexing { scheduleIndexing(after: .milliseconds(0)) }
        if configuration.automaticCompaction && legacyRemains.load(ordering: .relaxed) { scheduleCompaction(after: .milliseconds(500)) }
        watchOtherWriters()
    }

    deinit {
        otherWriters?.cancel()
    }

    /// Commits an operator's change to a consumer (a hold, a re-drive, a replay, a retry), then
    /// wakes the consumers.
    func writeControl<T: Sendable>(_ updates: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let result = try await pool.write(updates)
        changes.controlChanged()
        return result
    }

    /// Publishes the commits of other processes on this file: `PRAGMA data_version` on the writer
    /// connection changes only when another connection committed, and costs no I/O.
    private func watchOtherWriters() {
        let timer = DispatchSource.makeTimerSource(queue: writerQueue)
        timer.schedule(deadline: .now() + Self.otherWritersInterval, repeating: Self.otherWritersInterval, leeway: .milliseconds(250))
        timer.setEventHandler { [weak self] in
            guard let self else { return }
            let version = try? self.pool.writeWithoutTransaction { db in try Int64.fetchOne(db, sql: "PRAGMA data_version") }
            guard let version = version ?? nil else { return }
            let previous = self.dataVersion.exchange(version, ordering: .relaxed)
            if previous >= 0, previous != version { self.changes.changedElsewhere() }
        }
        timer.resume()
        otherWriters = timer
    }

    // MARK: Append (group commit)

    public func append(_ events: [IncomingEvent], receivedAt: Timestamp, checkpoint: CheckpointUpdate?) async throws(StoreError) -> AppendResult {
        if events.isEmpty && checkpoint == nil { return AppendResult(accepted: 0, duplicates: 0) }
        do {
            var events = events
            var storedBefore = 0
            if untimedKeysRemain.load(ordering: .relaxed) || legacyRemains.load(ordering: .relaxed) {
                (events, storedBefore) = try await droppingStoredElsewhere(events)
            }
            let (rows, trainingDue) = try preparer.prepare(events, receivedAt: receivedAt, digests: keepsCommitDigests.load(ordering: .relaxed))
            if trainingDue { scheduleTraining() }
            let result = try await committer.submit(PendingAppend(rows: rows, checkpoint: checkpoint, committedAt: receivedAt)) {
                writerQueue.async { self.drain() }
            }
            return AppendResult(accepted: result.accepted, duplicates: result.duplicates + storedBefore)
        } catch let error as StoreError {
            throw error
        } catch {
            throw Self.storeError(error, doing: "append")
        }
    }

    /// Removes the events already stored where the unique index of `events` cannot see them: in
    /// `events_v1` (rows of the layout before, not moved yet), or under the key form used before
    /// keys carried the event's time. Neither is ever written again, only purged or moved, so a
    /// read outside the commit is enough (a row moved meanwhile from `events_v1` keeps its key, and
    /// is then found by the insert's conflict).
    private func droppingStoredElsewhere(_ events: [IncomingEvent]) async throws -> ([IncomingEvent], Int) {
        let untimedRemain = untimedKeysRemain.load(ordering: .relaxed)
        return try await pool.read { db in
            let legacy = self.hasLegacy(db)
            let lookup = try db.cachedStatement(sql: "SELECT 1 FROM events WHERE source = ? AND dedupe_key = ?")
            let legacyLookup = legacy ? try db.cachedStatement(sql: "SELECT 1 FROM events_v1 WHERE source = ? AND dedupe_key = ?") : nil
            let fresh = try events.filter { event in
                var forms: [[UInt8]] = []
                if legacy { forms.append(StoredDedupeKey.bytes(for: event)) }
                if untimedRemain, let untimed = StoredDedupeKey.untimed(for: event) { forms.append(untimed) }
                for form in forms {
                    if let source = try self.labels.existingID(.source, event.source, in: db),
                       try Int.fetchOne(lookup, arguments: [source, Data(form)]) != nil {
                        return false
                    }
                    if let legacyLookup, try Int.fetchOne(legacyLookup, arguments: [event.source, Data(form)]) != nil { return false }
                }
                return true
            }
            return (fresh, events.count - fresh.count)
        }
    }

    /// Runs on `writerQueue`: commits whatever is queued, in bounded transactions. A group is
    /// first tried without savepoints (two extra statements per request); duplicates never fail
    /// an insert, so a failure is rare, and then, unless it poisons any transaction (a full disk,
    /// an I/O error), the group is committed again with one savepoint per request.
    private func drain() {
        committer.drain(
            maxEvents: configuration.maxEventsPerCommit,
            together: { batch in
                try pool.write { db in
                    let ids = try labels.ids(Self.labelNames(batch.map(\.rows)), in: db)
                    var arrivals = SourceArrivals()
                    let results: [Result<AppendResult, StoreError>] = try batch.map { item in .success(try insert(item, labels: ids, in: db, arrivals: &arrivals)) }
                    try arrivals.write(in: db)
                    return results
                }
            },
            alone: { batch in try commitIsolated(batch) },
            retryAlone: { !Self.isFatalForTransaction($0) },
            failure: { Self.storeError($0, doing: "commit") },
            committed: {
                wroteEvents.store(true, ordering: .relaxed)
                changes.eventsCommitted()
                scheduleCheckpoint()
                if configuration.automaticIndexing { scheduleIndexing(after: .milliseconds(200)) }
            }
        )
    }

    /// Commits each request of the group inside its own savepoint, so that one failing request
    /// fails alone.
    private func commitIsolated(_ batch: [PendingAppend]) throws -> [Result<AppendResult, StoreError>] {
        try pool.write { db in
            // Labels first, outside any savepoint: one undone with a savepoint must not be cached.
            let ids = try labels.ids(Self.labelNames(batch.map(\.rows)), in: db)
            var results: [Result<AppendResult, StoreError>] = []
            var arrivals = SourceArrivals()
            for item in batch {
                do {
                    var outcome = AppendResult(accepted: 0, duplicates: 0)
                    var arrived = SourceArrivals()
                    try db.inSavepoint {
                        outcome = try insert(item, labels: ids, in: db, arrivals: &arrived)
                        return .commit
                    }
                    // Only requests whose savepoint held count as arrivals.
                    arrivals.merge(arrived)
                    results.append(.success(outcome))
                } catch {
                    // A full disk or I/O error poisons the transaction: fail it all.
                    if Self.isFatalForTransaction(error) { throw error }
                    results.append(.failure(Self.storeError(error, doing: "append")))
                }
            }
            try arrivals.write(in: db)
            return results
        }
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

    /// WAL frames (pages) above which the WAL is restarted: 16,384 × 4 KiB = 64 MiB.
    static let walFrameBound = 16_384

    static func labelNames(_ groups: [[PreparedEvent]]) -> Set<LabelTable.LabelName> {
        var names = Set<LabelTable.LabelName>()
        var recent = (source: RecentLabels(), logType: RecentLabels(), action: RecentLabels(), origin: RecentLabels())
        for g in groups.indices {
            // By index: reading a field of an element copies that field only.
            for i in groups[g].indices {
                let (source, logType, action) = (groups[g][i].source, groups[g][i].logType, groups[g][i].action)
                _ = recent.source.id(source) { names.insert(.init(kind: .source, value: source)); return 0 }
                _ = recent.logType.id(logType) { names.insert(.init(kind: .logType, value: logType)); return 0 }
                _ = recent.action.id(action) { names.insert(.init(kind: .action, value: action)); return 0 }
                if let origin = groups[g][i].origin { _ = recent.origin.id(origin) { names.insert(.init(kind: .origin, value: origin)); return 0 } }
            }
        }
        return names
    }

    /// Byte equality, as labels compare (String's `==` equates canonically equivalent spellings).
    @inline(__always) static func same(_ a: String?, _ b: String?) -> Bool {
        guard var a, var b else { return a == nil && b == nil }
        return a.withUTF8 { x in b.withUTF8 { y in x.count == y.count && (x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0) } }
    }

    /// Stores an audit entry inside the caller's transaction, beside the change it records.
    func insertAudit(_ entry: AdminAuditEntry, in db: Database) throws {
        let (rows, _) = try preparer.prepare([entry.incomingEvent()], receivedAt: entry.occurredAt)
        var unused: [CommitDigests.Entry] = []
        var arrivals = SourceArrivals()
        _ = try insert(rows: rows, labels: try labels.ids(Self.labelNames([rows]), in: db), in: db, digests: &unused, arrivals: &arrivals, arrivedAt: entry.occurredAt)
        try arrivals.write(in: db)
    }

    private func insert(
        _ item: PendingAppend, labels ids: [LabelTable.LabelName: Int64], in db: Database, arrivals: inout SourceArrivals
    ) throws -> AppendResult {
        var digests: [CommitDigests.Entry] = []
        let result = try insert(rows: item.rows, labels: ids, in: db, digests: &digests, arrivals: &arrivals, arrivedAt: item.committedAt)
        if let checkpoint = item.checkpoint {
            try Self.moveCheckpoint(checkpoint, at: item.committedAt, in: db)
        }
        // Registered last: a request whose checkpoint move fails rolls its rows back (its
        // savepoint, or the group's transaction), and their seqs may be drawn again.
        if !digests.isEmpty {
            let (book, committed) = (commitDigests, digests)
            db.afterNextTransaction { _ in book.add(committed) }
        }
        return result
    }

    /// Inserts prepared rows (a duplicate of a stored event is skipped) and, once the transaction
    /// commits, hands their postings to the live index. Every insert of a new event goes through
    /// here, so the live index misses none. Rows moved from `events_v1` keep their `seqs`, and
    /// are not indexed again (`index` false): the index is live only once every row below the
    /// watermark, theirs among them, has been indexed.
    func insert(
        rows: [PreparedEvent], labels ids: [LabelTable.LabelName: Int64], seqs: [Int64]? = nil, index: Bool = true, in db: Database
    ) throws -> AppendResult {
        var unused: [CommitDigests.Entry] = []
        var arrivals = SourceArrivals()
        return try insert(rows: rows, labels: ids, seqs: seqs, index: index, in: db, digests: &unused, arrivals: &arrivals)
    }

    /// ``insert(rows:labels:seqs:index:in:)``, handing back the commit digests of the inserted
    /// rows that carry one, for the caller to record once nothing of its work can roll back,
    /// and, with `arrivedAt`, noting in `arrivals` that the sources of the rows stored arrived then
    /// (written once per transaction by the caller).
    func insert(
        rows: [PreparedEvent], labels ids: [LabelTable.LabelName: Int64], seqs: [Int64]? = nil, index: Bool = true, in db: Database,
        digests committedDigests: inout [CommitDigests.Entry], arrivals: inout SourceArrivals, arrivedAt: Timestamp? = nil
    ) throws -> AppendResult {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO events (seq, source, log_type, action, occurred_at, dedupe_key, origin, dict, payload)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (source, dedupe_key) DO NOTHING
            """)
        // Bound by hand below: mark the statement's (empty) arguments as bound, so that
        // executing it only resets it and keeps what is bound.
        statement.setUncheckedArguments(StatementArguments())
        var accepted = 0
        var duplicates = 0
        var indexed: [LivePostings.Entry] = []
        indexed.reserveCapacity(rows.count)
        var digests: [CommitDigests.Entry] = []
        var stats = StorageStatsDelta()
        var recent = (source: RecentLabels(), logType: RecentLabels(), action: RecentLabels(), origin: RecentLabels())
        for (i, row) in rows.enumerated() {
            let names = (
                source: recent.source.id(row.source) { ids[.init(kind: .source, value: row.source)]! },
                logType: recent.logType.id(row.logType) { ids[.init(kind: .logType, value: row.logType)]! },
                action: recent.action.id(row.action) { ids[.init(kind: .action, value: row.action)]! },
                origin: row.origin.map { origin in recent.origin.id(origin) { ids[.init(kind: .origin, value: origin)]! } }
            )
            let (source, logType) = (names.source, names.logType)
            try Self.bindAndExecute(
                statement, seq: seqs?[i], source: source, logType: logType, action: names.action, occurredAt: row.occurredAt,
                dedupeKey: row.dedupeKey, origin: names.origin, dict: row.dict, payload: row.payload
            )
            if db.changesCount == 0 {
                duplicates += 1
                continue
            }
            accepted += 1
            indexed.append(LivePostings.Entry(terms: row.terms, occurredAt: row.occurredAt, seq: db.lastInsertedRowID))
            if row.content != nil || row.isCheckpoint {
                digests.append(CommitDigests.Entry(seq: db.lastInsertedRowID, occurredAt: row.occurredAt, content: row.content))
            }
            stats.add(source: source, logType: logType, dict: row.dict, rawBytes: row.rawBytes, storedBytes: row.payload.count)
        }
        try stats.write(in: db)
        if let arrivedAt {
            for (source, rows) in stats.rowsBySource { arrivals.note(source, count: rows, at: arrivedAt) }
        }
        if index, !indexed.isEmpty {
            let live = livePostings
            let committed = indexed
            db.afterNextTransaction { _ in live.add(committed) }
        }
        // Moved rows (`seqs` given) were committed, and digested, before.
        if seqs == nil { committedDigests = digests }
        return AppendResult(accepted: accepted, duplicates: duplicates)
    }

    /// Binds one row of the insert straight from its arrays (no `Data` copies, no boxed
    /// arguments: this runs for every event on the writer) and executes it.
    private static func bindAndExecute(
        _ statement: Statement, seq: Int64?, source: Int64, logType: Int64, action: Int64, occurredAt: Int64, dedupeKey: [UInt8],
        origin: Int64?, dict: Int64?, payload: [UInt8]
    ) throws {
        let handle = statement.sqliteStatement
        // A statement stepped before takes no new bindings until it is reset.
        sqlite3_reset(handle)
        var failed: Int32 = SQLITE_OK
        func check(_ code: Int32) { if code != SQLITE_OK && failed == SQLITE_OK { failed = code } }
        func integer(_ index: Int32, _ value: Int64?) {
            check(value.map { sqlite3_bind_int64(handle, index, $0) } ?? sqlite3_bind_null(handle, index))
        }
        integer(1, seq)
        integer(2, source)
        integer(3, logType)
        integer(4, action)
        integer(5, occurredAt)
        integer(7, origin)
        integer(8, dict)
        try dedupeKey.withUnsafeBytes { key in
            try payload.withUnsafeBytes { payload in
                // SQLITE_STATIC: the bytes outlive the statement's step, which runs in here.
                check(sqlite3_bind_blob(handle, 6, key.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(key.count), nil))
                check(sqlite3_bind_blob(handle, 9, payload.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(payload.count), nil))
                defer { sqlite3_clear_bindings(handle) }
                // A value that did not bind must not be stored as NULL (a NULL dict would read the
                // payload as uncompressed).
                guard failed == SQLITE_OK else {
                    throw DatabaseError(resultCode: ResultCode(rawValue: failed), message: "binding an event's values failed", sql: statement.sql)
                }
                try statement.execute()
            }
        }
    }

    /// Runs `work` on `queue` after `delay` unless a run is already pending on `gate`; the
    /// gate reopens as the run starts, so work arriving during a run schedules the next one.
    static func scheduleOnce(
        _ gate: ScheduleGate, on queue: DispatchQueue, after delay: DispatchTimeInterval, _ work: @escaping @Sendable () -> Void
    ) {
        guard gate.claim() else { return }
        queue.asyncAfter(deadline: .now() + delay) {
            gate.release()
            work()
        }
    }

    /// A reader of event rows on `db`.
    func rows(_ db: Database, decompressor: ZstdDecompressor) -> SQLiteEventRows {
        SQLiteEventRows(db: db, labels: labels, book: book, decompressor: decompressor, legacy: hasLegacy(db))
    }

    /// Whether `events_v1` exists in `db`'s snapshot. The flag only saves the lookup once it is
    /// gone: it is cleared after the commit that drops the table, so a read that began before
    /// may still see the table when the flag says otherwise, never the reverse.
    func hasLegacy(_ db: Database) -> Bool {
        legacyRemains.load(ordering: .relaxed) && ((try? db.tableExists("events_v1")) ?? false)
    }

    /// Runs `body` in a read transaction with a row reader.
    func readRows<T: Sendable>(_ body: @escaping @Sendable (SQLiteEventRows) throws -> T) async throws -> T {
        try await pool.read { db in
            try self.contexts.withDecompressor { (decompressor) throws(StoreError) in
                do {
                    return try body(self.rows(db, decompressor: decompressor))
                } catch let error as StoreError {
                    throw error
                } catch {
                    throw Self.storeError(error, doing: "read events")
                }
            }
        }
    }

    // MARK: Reads

    public func events(matching filter: EventFilter, after cursor: EventCursor?, limit: Int) async throws(StoreError) -> EventPage {
        let limit = max(1, min(limit, 1000))
        let query = SQLiteEventQuery(filter: filter, cursor: cursor, limit: limit + 1)
        do {
            let (events, scanStoppedAt) = try await readRows { rows in
                // One read transaction: the watermark and both parts see the same snapshot.
                let indexedThrough = try Self.termsIndexedThrough(rows.db)
                return try query.run(rows, indexedThrough: indexedThrough)
            }
            return EventPage(reading: events, limit: limit, scanStoppedAt: scanStoppedAt)
        } catch {
            throw Self.storeError(error, doing: "query events")
        }
    }

    public func event(id: EventID) async throws(StoreError) -> StoredEvent? {
        do {
            return try await readRows { rows in
                // An id derived from its row names the seq; the row's own time must give the same id.
                if let (seq, _) = id.storedParts,
                   let found = try rows.events(where: "seq = ?", arguments: [seq.databaseValue], order: .seq).first, found.id == id {
                    return found
                }
                // An id from before the lean store, of a row moved since (or of the copy kept when
                // one event had been stored twice before the upgrade).
                if let (high, low) = id.bits,
                   let seq = try Int64.fetchOne(rows.db, sql: "SELECT seq FROM legacy_ids WHERE id = ?", arguments: [Data(Self.idBytes(high, low))]),
                   let found = try rows.events(where: "seq = ?", arguments: [seq.databaseValue], order: .seq).first {
                    return found
                }
                guard rows.legacy else { return nil }
                return try Row.fetchOne(rows.db, sql: "SELECT \(SQLiteEventRows.legacyColumns) FROM events_v1 WHERE id = ?", arguments: [id.rawValue])
                    .map(rows.legacyEvent)
            }
        } catch {
            throw Self.storeError(error, doing: "read event")
        }
    }

    static func idBytes(_ high: UInt64, _ low: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        withUnsafeBytes(of: high.bigEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: low.bigEndian) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// Events after `seq` in store order: what a consumer (destination, workflow) reads next.
    public func events(afterSeq seq: Int64, limit: Int) async throws(StoreError) -> [StoredEvent] {
        do {
            return try await readRows { rows in
                try rows.events(where: "seq > ?", arguments: [seq.databaseValue], order: .seq, limit: limit)
            }
        } catch {
            throw Self.storeError(error, doing: "read events by seq")
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
            return try await pool.read { db in
                try (Int.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0)
                    + (self.hasLegacy(db) ? try Int.fetchOne(db, sql: "SELECT count(*) FROM events_v1") ?? 0 : 0)
            }
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
        StoreError.wrapping(error, doing: operation) { error in
            guard let dbError = error as? DatabaseError else { return nil }
            let detail = dbError.message ?? "\(dbError.resultCode)"
            switch dbError.resultCode {
            case .SQLITE_FULL:
                return StoreFailure(.full, "the disk or database is full (\(detail))", remedy: "free space on the data volume")
            case .SQLITE_CORRUPT, .SQLITE_NOTADB:
                return StoreFailure(.corrupt, "the database file is damaged (\(detail))")
            case .SQLITE_CONSTRAINT, .SQLITE_MISMATCH, .SQLITE_TOOBIG, .SQLITE_RANGE:
                return StoreFailure(.invalidRequest, detail)
            default:
                return StoreFailure(.unavailable, detail)
            }
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

/// The last few names of one kind and their ids. Rows of one append repeat a handful of names
/// (one source, a few actions), which a byte comparison finds faster than hashing each again.
struct RecentLabels {
    private var entries: [(name: String, id: Int64)] = []

    mutating func id(_ name: String, orElse lookup: () -> Int64) -> Int64 {
        for entry in entries where SQLiteEventStore.same(entry.name, name) { return entry.id }
        let id = lookup()
        if entries.count == 8 { entries.removeFirst() }
        entries.append((name, id))
        return id
    }
}

/// Per (source, log type, dictionary) totals, added up over a transaction and written once.
struct StorageStatsDelta {
    struct Key: Hashable {
        var source: Int64
        var logType: Int64
        /// The `dict` column, with -1 for a record stored as it is.
        var dict: Int64
    }

    var totals: [Key: (rows: Int, raw: Int, stored: Int)] = [:]

    /// Rows counted by source.
    var rowsBySource: [Int64: Int] {
        var out: [Int64: Int] = [:]
        for (key, total) in totals { out[key.source, default: 0] += total.rows }
        return out
    }

    mutating func add(source: Int64, logType: Int64, dict: Int64?, rawBytes: Int, storedBytes: Int, sign: Int = 1) {
        let key = Key(source: source, logType: logType, dict: dict ?? -1)
        var total = totals[key, default: (0, 0, 0)]
        total.rows += sign
        total.raw += sign * rawBytes
        total.stored += sign * storedBytes
        totals[key] = total
    }

    func write(in db: Database) throws {
        guard !totals.isEmpty else { return }
        let statement = try db.cachedStatement(sql: """
            INSERT INTO storage_stats (source, log_type, dict, rows, raw_bytes, stored_bytes) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (source, log_type, dict) DO UPDATE SET rows = rows + excluded.rows,
                raw_bytes = raw_bytes + excluded.raw_bytes, stored_bytes = stored_bytes + excluded.stored_bytes
            """)
        for (key, total) in totals {
            try statement.execute(arguments: [key.source, key.logType, key.dict, total.rows, total.raw, total.stored])
        }
    }
}
