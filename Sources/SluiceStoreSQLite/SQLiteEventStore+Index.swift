import CoreMetrics
import Foundation
import GRDB
import Logging
import SluiceCompression
import SluiceCore
import SluiceStoreKit
import Synchronization

/// The postings of events committed since the filter index last caught up with the rows.
///
/// Once an indexing pass has read every committed row (the index is *live*), each transaction
/// that inserts events adds their postings here as it commits, and the next pass writes them as
/// blocks without reading or decompressing a row. Passes and inserts all run on SQLite's single
/// writer, so a pass that takes the postings sees exactly the events committed before it. After a
/// restart, or a pass that failed, the postings here are gone: the index is not live, and passes
/// read rows from the watermark until they catch up again.
final class LivePostings: Sendable {
    struct Entry: Sendable {
        var terms: [TermBytes]
        var occurredAt: Int64
        var seq: Int64
    }

    private struct State {
        var live = false
        var entries: [Entry] = []
    }

    private let state = Mutex(State())

    var isLive: Bool { state.withLock { $0.live } }

    /// Called as an inserting transaction commits.
    func add(_ entries: [Entry]) {
        state.withLock { state in
            guard state.live else { return }
            state.entries += entries
        }
    }

    /// The postings gathered so far, removed; nil when the index is not live.
    func take() -> [Entry]? {
        state.withLock { state in
            guard state.live else { return nil }
            defer { state.entries = [] }
            return state.entries
        }
    }

    /// Every committed event is indexed (a pass read up to the last row): gather from now on.
    func goLive() {
        state.withLock { state in
            state.live = true
            state.entries = []
        }
    }

    /// Something went wrong with postings taken: forget them, and let passes read rows again.
    func stop() {
        state.withLock { state in
            state.live = false
            state.entries = []
        }
    }
}

extension SQLiteEventStore {
    static func termsIndexedThrough(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT value FROM store_state WHERE name = 'terms_indexed_through'") ?? 0
    }

    /// The largest seq in either table.
    static func latestSeq(_ db: Database, legacy: Bool) throws -> Int64 {
        let latest = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM events") ?? 0
        guard legacy else { return latest }
        return max(latest, try Int64.fetchOne(db, sql: "SELECT max(seq) FROM events_v1") ?? 0)
    }

    /// Queues one term-indexing pass on the writer queue unless one is queued. Appends queued
    /// meanwhile run first (the queue is FIFO), so indexing never delays an acknowledgement by
    /// more than one bounded batch.
    func scheduleIndexing(after delay: DispatchTimeInterval) {
        Self.scheduleOnce(indexingScheduled, on: writerQueue, after: delay) {
            do {
                let (indexed, behind) = try self.indexPass(limit: Self.indexBatchSize)
                StoreMetrics.unindexedEvents.record(behind)
                if behind > 0 && indexed > 0 { self.scheduleIndexing(after: .milliseconds(0)) }
            } catch {
                self.logger.error("indexing stored events failed; queries still see them through the unindexed tail", metadata: ["error": "\(error)"])
                self.scheduleIndexing(after: .seconds(5))
            }
        }
    }

    /// One indexing pass: the live postings when the index is live, else up to `limit` rows read
    /// after the watermark. Returns the events indexed and how many remain behind.
    func indexPass(limit: Int, blockSize: Int = PostingBlock.maximumCount) throws -> (indexed: Int, behind: Int64) {
        let live = livePostings
        do {
            return try pool.write { db in
                let legacy = self.hasLegacy(db)
                let through = try Self.termsIndexedThrough(db)
                var postings = TermPostings()
                var last = through
                var count = 0
                var entries = live.take()
                if let taken = entries {
                    // Another process (a `sluice` command writing an audit entry) may have added
                    // events this one never saw: then the rows past the watermark outnumber the
                    // postings gathered, and this pass reads the rows instead.
                    let stored = try Int.fetchOne(db, sql: "SELECT count(*) FROM events WHERE seq > ?", arguments: [through]) ?? 0
                    if stored != taken.count {
                        entries = nil
                        db.afterNextTransaction { _ in live.stop() }
                    }
                }
                if let entries {
                    for entry in entries {
                        postings.add(entry.terms, occurredAt: entry.occurredAt, seq: entry.seq)
                        last = max(last, entry.seq)
                    }
                    count = entries.count
                } else {
                    try self.contexts.withDecompressor { (decompressor) throws(StoreError) in
                        do {
                            let rows = self.rows(db, decompressor: decompressor)
                            for event in try rows.events(where: "seq > ?", arguments: [through.databaseValue], order: .seq, limit: limit) {
                                postings.add(Self.terms(of: event), occurredAt: event.normalized.occurredAt.microseconds, seq: event.seq)
                                last = event.seq
                                count += 1
                            }
                        } catch {
                            throw Self.storeError(error, doing: "read events to index")
                        }
                    }
                    let latest = try Self.latestSeq(db, legacy: legacy)
                    if last >= latest {
                        // Caught up: every later insert hands its postings over as it commits.
                        db.afterNextTransaction { _ in live.goLive() }
                    }
                }
                if count > 0 {
                    try Self.writeBlocks(postings, blockSize: blockSize, in: db)
                    try Self.addRollups(postings, in: db)
                    try db.execute(sql: "UPDATE store_state SET value = ? WHERE name = 'terms_indexed_through'", arguments: [last])
                }
                return (count, max(0, try Self.latestSeq(db, legacy: legacy) - last))
            }
        } catch {
            // Postings taken by a pass that failed are lost: read the rows again from the watermark.
            live.stop()
            throw error
        }
    }

    /// The terms the index holds for an event.
    static func terms(of event: StoredEvent) -> [TermBytes] {
        let n = event.normalized
        return EventTerms.terms(
            source: event.source, logType: event.logType, action: n.action, actorType: n.actor?.type,
            actorID: n.actor?.id, actorName: n.actor?.name, targets: n.targets
        )
    }

    /// One block per term (split past `blockSize`), in index order so that the inserts walk the
    /// index sequentially.
    static func writeBlocks(_ postings: TermPostings, blockSize: Int, in db: Database) throws {
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
    }

    /// Adds a pass's events to the counts histograms and facets read (`event_minutes`,
    /// `event_hours`, `index_terms`), in the transaction that moves the watermark, so both count exactly the
    /// indexed events.
    static func addRollups(_ postings: TermPostings, in db: Database) throws {
        let minute = try db.cachedStatement(sql: "INSERT INTO event_minutes (minute, events) VALUES (?, ?) ON CONFLICT (minute) DO UPDATE SET events = events + excluded.events")
        for (m, n) in postings.minutes.sorted(by: { $0.key < $1.key }) {
            try minute.execute(arguments: [m, n])
        }
        let hour = try db.cachedStatement(sql: "INSERT INTO event_hours (hour, events) VALUES (?, ?) ON CONFLICT (hour) DO UPDATE SET events = events + excluded.events")
        for (h, n) in postings.hours.sorted(by: { $0.key < $1.key }) {
            try hour.execute(arguments: [h, n])
        }
        try addTermCounts(postings.termCounts().map { ($0.term, $0.events) }, in: db)
    }

    /// Moves terms' event counts by `delta` (negative when retention removes events); a term
    /// left with none goes.
    static func addTermCounts(_ counts: [(TermBytes, Int)], in db: Database) throws {
        let add = try db.cachedStatement(sql: "INSERT INTO index_terms (term, field, events) VALUES (?, ?, ?) ON CONFLICT (term) DO UPDATE SET events = events + excluded.events")
        let drop = try db.cachedStatement(sql: "DELETE FROM index_terms WHERE term = ? AND events <= 0")
        for (term, n) in counts {
            guard let field = FacetField.field(of: term) else { continue }
            try add.execute(arguments: [term.term, field.code, n])
            if n < 0 { try drop.execute(arguments: [term.term]) }
        }
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
            return try await withCheckedThrowingContinuation { continuation in
                writerQueue.async {
                    do {
                        var total = 0
                        while total < maxEvents {
                            let batch = min(passSize, maxEvents - total)
                            let (n, behind) = try self.indexPass(limit: batch, blockSize: blockSize)
                            total += n
                            if n == 0 || behind == 0 { break }
                        }
                        continuation.resume(returning: total)
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
            }
        } catch {
            throw Self.storeError(error, doing: "index events")
        }
    }

    /// How many committed events are not yet in the term index.
    public func unindexedCount() async throws(StoreError) -> Int {
        do {
            return try await pool.read { db in
                let legacy = self.hasLegacy(db)
                let through = try Self.termsIndexedThrough(db)
                let fresh = try Int.fetchOne(db, sql: "SELECT count(*) FROM events WHERE seq > ?", arguments: [through]) ?? 0
                guard legacy else { return fresh }
                return fresh + (try Int.fetchOne(db, sql: "SELECT count(*) FROM events_v1 WHERE seq > ?", arguments: [through]) ?? 0)
            }
        } catch {
            throw Self.storeError(error, doing: "count unindexed events")
        }
    }

    // MARK: Retention

    public func purge(occurredBefore cutoff: Timestamp, limit: Int, audit: (@Sendable ([Int64]) -> AdminAuditEntry)?) async throws(StoreError) -> [Int64] {
        do {
            return try await pool.write { db in
                try self.contexts.withDecompressor { (decompressor) throws(StoreError) in
                    do {
                        let purged = try self.purge(occurredBefore: cutoff, limit: limit, in: db, decompressor: decompressor)
                        if let audit, !purged.isEmpty { try self.insertAudit(audit(purged), in: db) }
                        return purged
                    } catch {
                        throw Self.storeError(error, doing: "purge")
                    }
                }
            }
        } catch {
            throw Self.storeError(error, doing: "purge")
        }
    }

    private func purge(occurredBefore cutoff: Timestamp, limit: Int, in db: Database, decompressor: ZstdDecompressor) throws -> [Int64] {
        let legacy = hasLegacy(db)
        let indexedThrough = try Self.termsIndexedThrough(db)
        var removed = TermPostings()
        var stats = StorageStatsDelta()
        var purged: [Int64] = []
        // Checkpoints stay (the layout before compression never held any).
        var keep = ""
        var arguments: StatementArguments = [cutoff.microseconds]
        if let source = try labels.existingID(.source, AdminAuditEntry.source, in: db),
           let logType = try labels.existingID(.logType, AdminAuditEntry.integrityLogType, in: db) {
            keep = " AND NOT (source = ? AND log_type = ?)"
            arguments += [source, logType]
        }
        arguments += [limit]
        // Oldest first across both tables: the rows' seq and time, and what decoding them gives.
        var doomed: [(seq: Int64, occurredAt: Int64, legacy: Bool)] = try Row.fetchAll(
            db, sql: "SELECT seq, occurred_at FROM events WHERE occurred_at < ?\(keep) ORDER BY occurred_at, seq LIMIT ?", arguments: arguments
        ).map { ($0[0], $0[1], false) }
        if legacy {
            doomed += try Row.fetchAll(
                db, sql: "SELECT seq, occurred_at FROM events_v1 WHERE occurred_at < ? ORDER BY occurred_at, seq LIMIT ?",
                arguments: [cutoff.microseconds, limit]
            ).map { ($0[0], $0[1], true) }
        }
        doomed.sort { ($0.occurredAt, $0.seq) < ($1.occurredAt, $1.seq) }
        doomed = Array(doomed.prefix(limit))
        let reader = rows(db, decompressor: decompressor)
        let deleteEvent = try db.cachedStatement(sql: "DELETE FROM events WHERE seq = ?")
        let deleteLegacyID = try db.cachedStatement(sql: "DELETE FROM legacy_ids WHERE id = ?")
        for row in doomed {
            if row.legacy {
                if row.seq <= indexedThrough,
                   let event = try Row.fetchOne(db, sql: "SELECT \(SQLiteEventRows.legacyColumns) FROM events_v1 WHERE seq = ?", arguments: [row.seq]).map(reader.legacyEvent) {
                    removed.add(Self.terms(of: event), occurredAt: row.occurredAt, seq: row.seq)
                }
                try db.execute(sql: "DELETE FROM events_v1 WHERE seq = ?", arguments: [row.seq])
                purged.append(row.seq)
                continue
            }
            // Decode the row for its terms and sizes; a row that does not decode still goes
            // (retention must not stall on it), leaving at most some postings queries skip.
            if let stored = try Row.fetchOne(db, sql: "SELECT \(SQLiteEventRows.columns), length(payload) FROM events WHERE seq = ?", arguments: [row.seq]) {
                do {
                    let event = try reader.event(stored)
                    if row.seq <= indexedThrough {
                        removed.add(Self.terms(of: event), occurredAt: row.occurredAt, seq: row.seq)
                    }
                    if let legacyID = event.id.bits, event.id.storedParts == nil {
                        try deleteLegacyID.execute(arguments: [Data(Self.idBytes(legacyID.high, legacyID.low))])
                    }
                    stats.add(source: stored[1], logType: stored[2], dict: stored[6], rawBytes: event.raw.count, storedBytes: stored[8], sign: -1)
                } catch {
                    logger.warning("retention removed an event that does not decode", metadata: ["seq": "\(row.seq)", "error": "\(error)"])
                    stats.add(source: stored[1], logType: stored[2], dict: stored[6], rawBytes: 0, storedBytes: stored[8], sign: -1)
                }
            }
            try deleteEvent.execute(arguments: [row.seq])
            purged.append(row.seq)
        }
        try stats.write(in: db)
        try Self.removePostings(removed, in: db)
        let untimedDone = try Self.clearUntimedState(in: db, legacy: legacy)
        if untimedDone { untimedKeysRemain.store(false, ordering: .relaxed) }
        try deleteUnusedDictionaries(in: db)
        return purged.sorted()
    }

    /// Takes purged events out of the filter index and its counts: every block holding one of
    /// their postings is written again without it (or goes, when nothing is left), so an index
    /// walk, a histogram counting whole blocks and the facets' totals all count only events that
    /// remain.
    static func removePostings(_ removed: TermPostings, in db: Database) throws {
        let select = try db.cachedStatement(sql: """
            SELECT last_occurred_at, last_seq, first_occurred_at, first_seq, count, postings FROM event_postings \
            WHERE term = ? AND (last_occurred_at, last_seq) >= (?, ?) AND (first_occurred_at, first_seq) <= (?, ?)
            """)
        let delete = try db.cachedStatement(sql: "DELETE FROM event_postings WHERE term = ? AND last_occurred_at = ? AND last_seq = ?")
        let insert = try db.cachedStatement(sql: """
            INSERT INTO event_postings (term, last_occurred_at, last_seq, first_occurred_at, first_seq, count, postings)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        for (term, gone) in removed.inIndexOrder() {
            let goneSeqs = Set(gone.map(\.seq))
            let low = gone.first!
            let high = gone.last!
            let blocks = try Row.fetchAll(select, arguments: [term, low.occurredAt, low.seq, high.occurredAt, high.seq])
            for block in blocks {
                let postings = try PostingBlock.decode(row: block, firstColumn: 2)
                let kept = postings.filter { !goneSeqs.contains($0.seq) }
                guard kept.count != postings.count else { continue }
                try delete.execute(arguments: [term, block[0] as Int64, block[1] as Int64])
                guard let keptFirst = kept.first, let keptLast = kept.last else { continue }
                try insert.execute(arguments: [
                    term, keptLast.occurredAt, keptLast.seq, keptFirst.occurredAt, keptFirst.seq, kept.count, Data(PostingBlock.encode(kept[...])),
                ])
            }
        }
        let minute = try db.cachedStatement(sql: "UPDATE event_minutes SET events = events - ? WHERE minute = ?")
        let emptyMinute = try db.cachedStatement(sql: "DELETE FROM event_minutes WHERE minute = ? AND events <= 0")
        for (m, n) in removed.minutes {
            try minute.execute(arguments: [n, m])
            try emptyMinute.execute(arguments: [m])
        }
        let hour = try db.cachedStatement(sql: "UPDATE event_hours SET events = events - ? WHERE hour = ?")
        let emptyHour = try db.cachedStatement(sql: "DELETE FROM event_hours WHERE hour = ? AND events <= 0")
        for (h, n) in removed.hours {
            try hour.execute(arguments: [n, h])
            try emptyHour.execute(arguments: [h])
        }
        try addTermCounts(removed.termCounts().map { ($0.term, -$0.events) }, in: db)
    }

    /// Marks the old key form gone once no event stored before the change remains.
    static func clearUntimedState(in db: Database, legacy: Bool) throws -> Bool {
        let stillThere = legacy
            ? "EXISTS (SELECT 1 FROM events WHERE seq <= store_state.value) OR EXISTS (SELECT 1 FROM events_v1 WHERE seq <= store_state.value)"
            : "EXISTS (SELECT 1 FROM events WHERE seq <= store_state.value)"
        try db.execute(
            sql: "UPDATE store_state SET value = 0 WHERE name = ? AND value > 0 AND NOT (\(stillThere))",
            arguments: [StoredDedupeKey.untimedThroughState]
        )
        return db.changesCount > 0
    }
}

extension SQLiteEventStore {
    /// Indexes every committed event (when the store indexes by itself) and empties the WAL into
    /// the database file (a TRUNCATE checkpoint), so a stopped store is one file of its real size.
    /// A process that committed no events (a `sluice storage stats` beside a running server)
    /// leaves both to the process that did.
    public func close() async {
        guard wroteEvents.load(ordering: .relaxed) else { return }
        await withCheckedContinuation { continuation in
            writerQueue.async {
                do {
                    if self.configuration.automaticIndexing {
                        while try self.indexPass(limit: Self.indexBatchSize).behind > 0 {}
                    }
                    try self.pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
                } catch {
                    self.logger.warning("closing the store left work for the next start", metadata: ["error": "\(error)"])
                }
                continuation.resume()
            }
        }
    }
}
