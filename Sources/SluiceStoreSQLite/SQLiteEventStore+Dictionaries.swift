import Foundation
import GRDB
import Logging
import SluiceCompression
import SluiceCore
import SluiceStoreKit
import Synchronization

extension SQLiteEventStore {
    struct StoredDictionary {
        var id: Int64
        var stream: DictionaryStream
        var level: Int32
        var ratio: Double
        var bytes: [UInt8]
    }

    /// Each stream's newest dictionary: the one it compresses with.
    static func latestDictionaries(in db: Database) throws -> [StoredDictionary] {
        try Row.fetchAll(db, sql: """
            SELECT id, source, log_type, level, ratio, bytes FROM dictionaries
            WHERE id IN (SELECT max(id) FROM dictionaries GROUP BY source, log_type)
            """).map { row in
            let bytes: Data = row[5]
            return StoredDictionary(
                id: row[0], stream: DictionaryStream(source: row[1], logType: row[2]), level: Int32(truncatingIfNeeded: row[3] as Int64),
                ratio: row[4], bytes: [UInt8](bytes)
            )
        }
    }

    /// Trains the dictionaries whose streams call for one, on a queue of their own (training
    /// takes up to a second), then stores each adopted one before any row can use it: a row only
    /// ever names a dictionary already committed. A crash while training loses the samples only.
    func scheduleTraining() {
        Self.scheduleOnce(trainingScheduled, on: trainingQueue, after: .milliseconds(0)) {
            let candidates = self.trainer.trainPending { stream in self.book.current(for: stream)?.dictionary }
            for candidate in candidates {
                do {
                    let dictionary = try ZstdDictionary(bytes: candidate.bytes, level: candidate.level)
                    let id = try self.pool.write { db in
                        try db.execute(
                            sql: """
                                INSERT INTO dictionaries (source, log_type, level, samples, ratio, created_at, bytes)
                                VALUES (?, ?, ?, ?, ?, ?, ?)
                                """,
                            arguments: [
                                candidate.stream.source, candidate.stream.logType, Int64(candidate.level), candidate.samples, candidate.ratio,
                                Int64(Date().timeIntervalSince1970 * 1_000_000), Data(candidate.bytes),
                            ]
                        )
                        return db.lastInsertedRowID
                    }
                    self.book.adopt(id, dictionary, for: candidate.stream)
                    self.trainer.adopted(candidate)
                    self.logger.info(
                        "trained a zstd dictionary",
                        metadata: [
                            "stream": "\(candidate.stream)", "dictionary": "\(id)", "bytes": "\(candidate.bytes.count)",
                            "samples": "\(candidate.samples)", "ratio": "\(String(format: "%.2f", candidate.ratio))",
                        ]
                    )
                } catch {
                    self.logger.warning("storing a trained zstd dictionary failed; the stream keeps its current one", metadata: ["stream": "\(candidate.stream)", "error": "\(error)"])
                }
            }
        }
    }

    /// Trains now whatever is due and waits for it (tests; `sluice storage` maintenance).
    public func trainDueDictionaries() async {
        await withCheckedContinuation { continuation in
            scheduleTraining()
            // Queued after the training run (the queue is serial), so it resumes once that is done.
            trainingQueue.async { continuation.resume() }
        }
    }

    /// Deletes dictionaries no row uses any more, except each stream's current one.
    func deleteUnusedDictionaries(in db: Database) throws {
        try db.execute(sql: """
            DELETE FROM dictionaries
            WHERE id NOT IN (SELECT dict FROM storage_stats WHERE rows > 0)
              AND id NOT IN (SELECT max(id) FROM dictionaries GROUP BY source, log_type)
            """)
    }

    /// What the store holds, per stream and dictionary, for `sluice storage stats`.
    public func storageStats() async throws(StoreError) -> StorageStats {
        let paused = compactionPause.withLock { $0 }
        do {
            return try await pool.read { db in
                let legacy = self.hasLegacy(db)
                let rows = try Row.fetchAll(db, sql: """
                    SELECT s.value, l.value, st.dict, st.rows, st.raw_bytes, st.stored_bytes, d.bytes IS NOT NULL, length(d.bytes)
                    FROM storage_stats st JOIN labels s ON s.id = st.source JOIN labels l ON l.id = st.log_type
                    LEFT JOIN dictionaries d ON d.id = st.dict
                    WHERE st.rows > 0 ORDER BY s.value, l.value, st.dict
                    """)
                let parts = rows.map { row -> StorageStats.Part in
                    let source: Data = row[0]
                    let logType: Data = row[1]
                    let dict: Int64 = row[2]
                    return StorageStats.Part(
                        source: String(decoding: source, as: UTF8.self), logType: String(decoding: logType, as: UTF8.self),
                        encoding: dict < 0 ? .plain : dict == 0 ? .zstd : .dictionary(dict, bytes: row[7] ?? 0),
                        events: row[3], rawBytes: row[4], storedBytes: row[5]
                    )
                }
                let legacyRows = legacy ? try Int.fetchOne(db, sql: "SELECT count(*) FROM events_v1") ?? 0 : 0
                let dictionaries = try Int.fetchOne(db, sql: "SELECT count(*) FROM dictionaries") ?? 0
                let pageSize = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
                let pages = try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0
                let free = try Int64.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
                return StorageStats(
                    parts: parts, uncompressedEvents: legacyRows, dictionaries: dictionaries,
                    databaseBytes: (pages - free) * pageSize, fileBytes: self.sizeInBytes(), compactionPaused: paused
                )
            }
        } catch {
            throw Self.storeError(error, doing: "read storage statistics")
        }
    }
}

extension SQLiteEventStore {
    /// Reads every event back, a chunk of rows per read transaction, and runs `PRAGMA
    /// integrity_check`.
    public func checkStorage(maxReported: Int) async throws(StoreError) -> StorageCheck {
        var tally = StorageCheck.Tally(maxReported: maxReported)
        var after: Int64 = -1
        do {
            while true {
                let from = after
                let chunk: (tally: StorageCheck.Tally, last: Int64?) = try await readRows { rows in
                    var chunk = StorageCheck.Tally(maxReported: maxReported)
                    var last: Int64?
                    for (table, legacy) in [("events", false), ("events_v1", true)] where !legacy || rows.legacy {
                        let cursor = try Row.fetchCursor(
                            rows.db, sql: "SELECT \(legacy ? SQLiteEventRows.legacyColumns : SQLiteEventRows.columns) FROM \(table) WHERE seq > ? ORDER BY seq LIMIT 5000",
                            arguments: [from]
                        )
                        while let row = try cursor.next() {
                            let seq: Int64 = row["seq"]
                            last = max(last ?? seq, seq)
                            var failure: (any Error)?
                            do {
                                _ = legacy ? try rows.legacyEvent(row) : try rows.event(row)
                            } catch {
                                failure = error
                            }
                            chunk.record(seq: seq, occurredAt: Timestamp(microseconds: row["occurred_at"]), failure: failure)
                        }
                    }
                    return (chunk, last)
                }
                tally.merge(chunk.tally)
                guard let last = chunk.last else { break }
                after = last
            }
            return tally.check(database: try await integrityCheck())
        } catch {
            throw Self.storeError(error, doing: "check stored events")
        }
    }
}
