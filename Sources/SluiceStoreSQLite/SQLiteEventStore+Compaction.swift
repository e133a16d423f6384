import Foundation
import GRDB
import Logging
import SluiceCore
import SluiceStoreKit
import Synchronization

/// Moving events of the previous layout (`events_v1`, before the lean store) into the compressed
/// one, in the background: small batches, each one transaction that inserts the rows compressed
/// (same seq, same dedupe key, their old id kept in the record and in `legacy_ids`) and deletes
/// them from `events_v1`. A crash loses at most the batch in flight, which is still in
/// `events_v1` afterwards; every row is readable from one table or the other at every moment.
extension SQLiteEventStore {
    /// Rows moved per transaction: short enough not to hold the writer from appends for long.
    static let compactionBatchSize = 2_000

    func scheduleCompaction(after delay: DispatchTimeInterval) {
        Self.scheduleOnce(compactionScheduled, on: writerQueue, after: delay) {
            do {
                let (moved, left) = try self.compactBatch(limit: Self.compactionBatchSize)
                self.compactionPause.withLock { $0 = nil }
                if left > 0 {
                    // Between batches the queue serves the appends that arrived meanwhile.
                    self.scheduleCompaction(after: .milliseconds(moved > 0 ? 10 : 1_000))
                } else {
                    self.logger.info("every stored event is in the compressed layout")
                }
            } catch {
                let failure = Self.storeError(error, doing: "compress stored events")
                let paused = failure.code == .full
                    ? "the disk is full (\(failure.message)); compression of old rows resumes when space is freed"
                    : failure.message
                self.compactionPause.withLock { $0 = paused }
                self.logger.warning("compressing events of the previous layout paused", metadata: ["reason": "\(paused)"])
                self.scheduleCompaction(after: .seconds(30))
            }
        }
    }

    /// Moves up to `limit` of the oldest rows of `events_v1`; returns how many moved and how many
    /// are left. Drops `events_v1` once it is empty.
    func compactBatch(limit: Int) throws -> (moved: Int, left: Int) {
        return try pool.write { db in
            guard self.hasLegacy(db) else { return (0, 0) }
            let old = try Row.fetchAll(
                db, sql: "SELECT \(SQLiteEventRows.legacyColumns), dedupe_key FROM events_v1 ORDER BY seq LIMIT ?", arguments: [limit]
            )
            if old.isEmpty {
                try db.execute(sql: "DROP TABLE events_v1")
                db.afterNextTransaction { _ in self.legacyRemains.store(false, ordering: .relaxed) }
                return (0, 0)
            }
            var events: [IncomingEvent] = []
            var ids: [EventID?] = []
            var seqs: [Int64] = []
            var keys: [[UInt8]] = []
            var byReceipt: [Timestamp: [Int]] = [:]
            for row in old {
                let event = try SQLiteEventRows.legacyEvent(row)
                let key: Data = row[17]
                keys.append([UInt8](key))
                // The stored key already has its final form; IncomingEvent carries it as is.
                byReceipt[event.receivedAt, default: []].append(events.count)
                events.append(IncomingEvent(
                    source: event.source, logType: event.logType, dedupeKey: [UInt8](key), dedupeTime: nil, raw: event.raw,
                    normalized: event.normalized, origin: event.origin
                ))
                ids.append(event.id)
                seqs.append(event.seq)
            }
            // Records carry the time received relative to the event's time: prepare each group of
            // one receipt time together.
            var prepared = [PreparedEvent?](repeating: nil, count: events.count)
            for (receivedAt, indexes) in byReceipt {
                let (rows, due) = try self.preparer.prepare(indexes.map { events[$0] }, receivedAt: receivedAt, legacyIDs: indexes.map { ids[$0] })
                if due { self.scheduleTraining() }
                for (index, var row) in zip(indexes, rows) {
                    // The key moves as it was stored (its form predates this row).
                    row.dedupeKey = keys[index]
                    prepared[index] = row
                }
            }
            let rows = prepared.map { $0! }
            let labels = try self.labels.ids(Self.labelNames([rows]), in: db)
            var moved = 0
            let mapID = try db.cachedStatement(sql: "INSERT INTO legacy_ids (id, seq) VALUES (?, ?) ON CONFLICT (id) DO NOTHING")
            let findKey = try db.cachedStatement(sql: "SELECT seq FROM events WHERE source = ? AND dedupe_key = ?")
            for (i, row) in rows.enumerated() {
                let result = try self.insert(rows: [row], labels: labels, seqs: [seqs[i]], index: false, in: db)
                var seq = seqs[i]
                if result.accepted == 0 {
                    // Stored twice before the upgrade under two key forms: keep the copy in the new
                    // table, and let this one's id lead to it.
                    seq = try Int64.fetchOne(findKey, arguments: [labels[.init(kind: .source, value: row.source)]!, Data(row.dedupeKey)]) ?? seq
                    self.logger.notice("an event stored twice before the upgrade was kept once", metadata: ["seq": "\(seqs[i])", "kept": "\(seq)"])
                }
                if let (high, low) = ids[i]?.bits { try mapID.execute(arguments: [Data(Self.idBytes(high, low)), seq]) }
                moved += 1
            }
            let marks = seqs.map(String.init).joined(separator: ",")
            try db.execute(sql: "DELETE FROM events_v1 WHERE seq IN (\(marks))")
            let left = try Int.fetchOne(db, sql: "SELECT count(*) FROM (SELECT 1 FROM events_v1 LIMIT 1)") ?? 0
            db.afterNextTransaction { _ in self.wroteEvents.store(true, ordering: .relaxed) }
            if left == 0 {
                try db.execute(sql: "DROP TABLE events_v1")
                db.afterNextTransaction { _ in self.legacyRemains.store(false, ordering: .relaxed) }
            }
            return (moved, left)
        }
    }

    /// Moves every event of the previous layout now (`sluice storage compact`); returns how many moved.
    @discardableResult
    public func compactAll() async throws(StoreError) -> Int {
        do {
            return try await withCheckedThrowingContinuation { continuation in
                writerQueue.async {
                    do {
                        var total = 0
                        while true {
                            let (moved, left) = try self.compactBatch(limit: Self.compactionBatchSize)
                            total += moved
                            if left == 0 { break }
                        }
                        continuation.resume(returning: total)
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
            }
        } catch {
            throw Self.storeError(error, doing: "compress stored events")
        }
    }
}
