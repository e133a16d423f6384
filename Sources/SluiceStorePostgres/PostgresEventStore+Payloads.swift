import Dispatch
import Foundation
import Logging
import NIOCore
import PostgresNIO
import SluiceCompression
import SluiceCore
import SluiceStoreKit

/// Dictionaries and the earlier form's rows on PostgreSQL.
///
/// Each instance trains the dictionaries of the streams it writes and stores them in
/// `dictionaries` before any row uses one; other instances load a dictionary by id when they
/// first read a row that names it. Dictionaries are never deleted here (a handful of tens of KiB
/// each; finding whether any row still names one would scan `events`).
extension PostgresEventStore {
    /// Each stream's newest dictionary becomes the one it compresses with.
    func loadDictionaries() async throws {
        let rows = try await database.rows("""
            SELECT id, source, log_type, level, ratio, bytes FROM dictionaries
            WHERE id IN (SELECT max(id) FROM dictionaries GROUP BY source, log_type)
            """)
        for row in rows {
            let (id, source, logType, level, ratio, bytes) = try row.decode((Int64, String, String, Int32, Double, ByteBuffer).self)
            let stream = DictionaryStream(source: source, logType: logType)
            do {
                book.adopt(id, try ZstdDictionary(bytes: Array(buffer: bytes), level: level), for: stream)
                trainer.resume(stream, ratio: ratio)
            } catch {
                logger.error("a stored zstd dictionary does not load; its stream is trained anew", metadata: ["dictionary": "\(id)", "error": "\(error)"])
            }
        }
    }

    /// Trains what is due, then moves rows of the earlier form into payloads, a batch at a time.
    func doChores() async {
        await trainDueDictionaries()
        do {
            while !Task.isCancelled, try await compactBatch(limit: Self.compactionBatchSize) > 0 {}
        } catch {
            logger.warning("moving events of the earlier form into compressed payloads paused; it resumes at the next start", metadata: ["error": "\(Self.storeError(error, doing: "compress stored events"))"])
        }
    }

    /// Trains the dictionaries whose streams call for one (off the cooperative pool: training
    /// takes up to a second) and stores each adopted one before any row can name it.
    public func trainDueDictionaries() async {
        let trainer = self.trainer
        let book = self.book
        let candidates = await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .utility).async {
                continuation.resume(returning: trainer.trainPending { stream in book.current(for: stream)?.dictionary })
            }
        }
        for candidate in candidates {
            do {
                let dictionary = try ZstdDictionary(bytes: candidate.bytes, level: candidate.level)
                let created = Int64(Date().timeIntervalSince1970 * 1_000_000)
                let rows = try await database.rows("""
                    INSERT INTO dictionaries (source, log_type, level, samples, ratio, created_at, bytes)
                    VALUES (\(candidate.stream.source), \(candidate.stream.logType), \(Int32(candidate.level)), \(Int32(candidate.samples)),
                            \(candidate.ratio), \(created), \(ByteBuffer(bytes: candidate.bytes)))
                    RETURNING id
                    """)
                guard let id = try rows.first?.decode(Int64.self) else { continue }
                book.adopt(id, dictionary, for: candidate.stream)
                trainer.adopted(candidate)
                logger.info("trained a zstd dictionary", metadata: ["stream": "\(candidate.stream)", "dictionary": "\(id)", "bytes": "\(candidate.bytes.count)"])
            } catch {
                logger.warning("storing a trained zstd dictionary failed; the stream keeps its current one", metadata: ["stream": "\(candidate.stream)", "error": "\(error)"])
            }
        }
    }

    static let compactionBatchSize = 1_000

    /// Moves up to `limit` rows of the earlier form into payloads in one transaction; returns how
    /// many moved. Rows locked by another instance doing the same are skipped, not waited for.
    @discardableResult
    func compactBatch(limit: Int) async throws -> Int {
        let preparer = self.preparer
        let logger = self.logger
        let decoder = self.decoder
        return try await database.transaction { connection in
            let rows = try await connection.query(
                PostgresQuery(unsafeSQL: """
                    SELECT \(PostgresEventRow.selectColumns) FROM events e WHERE e.payload IS NULL ORDER BY e.seq LIMIT \(limit) FOR UPDATE SKIP LOCKED
                    """),
                logger: logger
            ).collect()
            guard !rows.isEmpty else { return 0 }
            let events = try await decoder.events(rows)
            var seqs: [Int64] = []
            var payloads: [ByteBuffer] = []
            var dicts: [Int64] = []
            var lengths: [Int32] = []
            for event in events {
                let incoming = IncomingEvent(
                    source: event.source, logType: event.logType, dedupeKey: [], raw: event.raw, normalized: event.normalized, origin: event.origin
                )
                let (prepared, due) = try preparer.prepare([incoming], receivedAt: event.receivedAt)
                if due { self.choresDue.yield() }
                seqs.append(event.seq)
                payloads.append(ByteBuffer(bytes: prepared[0].payload))
                dicts.append(prepared[0].dict ?? -1)
                lengths.append(Int32(clamping: event.raw.count))
            }
            try await connection.query(
                """
                UPDATE events SET payload = u.payload, dict = NULLIF(u.dict, -1), raw_length = u.raw_length, raw = NULL, targets = NULL,
                    actor_type = NULL, actor_id = NULL, actor_name = NULL, actor_metadata = NULL, location = NULL, user_agent = NULL,
                    schema_version = NULL
                FROM unnest(\(seqs)::bigint[], \(payloads)::bytea[], \(dicts)::bigint[], \(lengths)::integer[]) AS u(seq, payload, dict, raw_length)
                WHERE events.seq = u.seq
                """,
                logger: logger
            )
            return rows.count
        }
    }

    /// Moves every row of the earlier form now (`sluice storage compact`); returns how many moved.
    @discardableResult
    public func compactAll() async throws(StoreError) -> Int {
        do {
            var total = 0
            while true {
                let moved = try await compactBatch(limit: Self.compactionBatchSize)
                if moved == 0 { return total }
                total += moved
            }
        } catch {
            throw Self.storeError(error, doing: "compress stored events")
        }
    }

    /// What the store holds, per stream and encoding (a full scan of `events`: for the CLI, not
    /// for hot paths). The text columns of rows with NUL characters are shown as stored.
    public func storageStats() async throws(StoreError) -> StorageStats {
        do {
            let rows = try await database.rows("""
                SELECT e.source, e.log_type, COALESCE(e.dict, -1), count(*), COALESCE(sum(e.raw_length), 0)::bigint,
                    COALESCE(sum(octet_length(e.payload)), 0)::bigint, COALESCE(max(octet_length(d.bytes)), 0)
                FROM events e LEFT JOIN dictionaries d ON d.id = e.dict
                WHERE e.payload IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
                """)
            let parts = try rows.map { row in
                let (source, logType, dict, count, raw, stored, dictionaryBytes) = try row.decode((String, String, Int64, Int64, Int64, Int64, Int32).self)
                return StorageStats.Part(
                    source: source, logType: logType,
                    encoding: dict < 0 ? .plain : dict == 0 ? .zstd : .dictionary(dict, bytes: Int(dictionaryBytes)),
                    events: Int(count), rawBytes: raw, storedBytes: stored
                )
            }
            let legacy = try await database.rows("SELECT count(*) FROM events WHERE payload IS NULL").first?.decode(Int64.self) ?? 0
            let dictionaries = try await database.rows("SELECT count(*) FROM dictionaries").first?.decode(Int64.self) ?? 0
            let size = try await sizeInBytes()
            return StorageStats(parts: parts, uncompressedEvents: Int(legacy), dictionaries: Int(dictionaries), databaseBytes: size, fileBytes: size)
        } catch {
            throw Self.storeError(error, doing: "read storage statistics")
        }
    }
}

extension PostgresEventStore {
    /// Reads every event back, a chunk of rows at a time. PostgreSQL checks its own pages as it
    /// reads them (a damaged page is an error here too), so `database` is "ok" unless a read failed.
    public func checkStorage(maxReported: Int) async throws(StoreError) -> StorageCheck {
        var tally = StorageCheck.Tally(maxReported: maxReported)
        var after: Int64 = -1
        let decoder = self.decoder
        do {
            while true {
                let rows = try await database.rows(
                    "SELECT \(unescaped: PostgresEventRow.selectColumns) FROM events e WHERE e.seq > \(after) ORDER BY e.seq LIMIT 5000"
                )
                guard !rows.isEmpty else { break }
                try await decoder.prepare(rows)
                for row in rows {
                    let cells = row.makeRandomAccess()
                    let seq = try cells[0].decode(Int64.self)
                    after = max(after, seq)
                    var failure: (any Error)?
                    do {
                        _ = try decoder.event(row)
                    } catch {
                        failure = error
                    }
                    tally.record(seq: seq, occurredAt: Timestamp(microseconds: try cells[4].decode(Int64.self)), failure: failure)
                }
            }
            return tally.check(database: "ok")
        } catch {
            throw Self.storeError(error, doing: "check stored events")
        }
    }
}
