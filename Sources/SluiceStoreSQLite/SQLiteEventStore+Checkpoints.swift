import Foundation
import GRDB
import SluiceCore
import SluiceStoreKit

extension SQLiteEventStore {
    /// Compare-and-set of a stream's checkpoint inside the caller's transaction.
    static func moveCheckpoint(_ update: CheckpointUpdate, at time: Timestamp, in db: Database) throws {
        let current = try Int64.fetchOne(db, sql: "SELECT version FROM collector_streams WHERE stream = ?", arguments: [update.stream]) ?? 0
        guard current == update.expectedVersion else {
            throw StoreError(
                .conflict,
                "the checkpoint of \(update.stream) is at version \(current), not \(update.expectedVersion): another run or a rewind moved it; nothing from this page was stored"
            )
        }
        try db.execute(
            sql: """
                INSERT INTO collector_streams (stream, value, version, updated_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (stream) DO UPDATE SET value = excluded.value, version = excluded.version, updated_at = excluded.updated_at
                """,
            arguments: [update.stream, update.value, current + 1, time.microseconds]
        )
        if !update.entityDigests.isEmpty {
            let statement = try db.cachedStatement(sql: """
                INSERT INTO collector_entities (stream, entity, digest) VALUES (?, ?, ?)
                ON CONFLICT (stream, entity) DO UPDATE SET digest = excluded.digest
                """)
            for (entity, digest) in update.entityDigests {
                try statement.execute(arguments: [update.stream, entity, Data(digest)])
            }
        }
    }

    public func checkpoint(stream: String) async throws(StoreError) -> StreamCheckpoint? {
        do {
            return try await pool.read { db in
                try Row.fetchOne(
                    db, sql: "SELECT stream, value, version, updated_at, last_run FROM collector_streams WHERE stream = ?", arguments: [stream]
                ).map(Self.checkpoint(from:))
            }
        } catch {
            throw Self.storeError(error, doing: "read checkpoint")
        }
    }

    public func checkpoints(prefix: String) async throws(StoreError) -> [StreamCheckpoint] {
        do {
            return try await pool.read { db in
                try Row.fetchAll(
                    db, sql: "SELECT stream, value, version, updated_at, last_run FROM collector_streams WHERE substr(stream, 1, length(?)) = ? ORDER BY stream",
                    arguments: [prefix, prefix]
                ).map(Self.checkpoint(from:))
            }
        } catch {
            throw Self.storeError(error, doing: "list checkpoints")
        }
    }

    public func recordRun(stream: String, summary: String, at time: Timestamp) async throws(StoreError) {
        do {
            try await pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO collector_streams (stream, value, version, updated_at, last_run) VALUES (?, '', 0, ?, ?)
                        ON CONFLICT (stream) DO UPDATE SET last_run = excluded.last_run
                        """,
                    arguments: [stream, time.microseconds, summary]
                )
            }
        } catch {
            throw Self.storeError(error, doing: "record a collector run")
        }
    }

    public func entityDigests(stream: String) async throws(StoreError) -> [String: [UInt8]] {
        do {
            return try await pool.read { db in
                var out: [String: [UInt8]] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT entity, digest FROM collector_entities WHERE stream = ?", arguments: [stream]) {
                    out[row["entity"]] = Array(row["digest"] as Data)
                }
                return out
            }
        } catch {
            throw Self.storeError(error, doing: "read entity digests")
        }
    }

    public func entityDigest(stream: String, entity: String) async throws(StoreError) -> [UInt8]? {
        do {
            return try await pool.read { db in
                try Data.fetchOne(db, sql: "SELECT CAST(digest AS BLOB) FROM collector_entities WHERE stream = ? AND entity = ?", arguments: [stream, entity]).map { Array($0) }
            }
        } catch {
            throw Self.storeError(error, doing: "read an entity digest")
        }
    }

    private static func checkpoint(from row: Row) -> StreamCheckpoint {
        StreamCheckpoint(
            stream: row["stream"], value: row["value"], version: row["version"],
            updatedAt: Timestamp(microseconds: row["updated_at"]), lastRun: row["last_run"]
        )
    }
}

extension SQLiteEventStore {
    public func sourceVolume(since: Timestamp) async throws(StoreError) -> [String: [Int64: Int]] {
        do {
            return try await pool.read { db in
                var out: [String: [Int64: Int]] = [:]
                let rows = try Row.fetchAll(
                    db, sql: "SELECT source, hour, events FROM source_hours WHERE hour >= ?", arguments: [since.hour]
                )
                for row in rows {
                    out[try self.labels.value(row[0], in: db), default: [:]][row[1]] = row[2]
                }
                return out
            }
        } catch {
            throw Self.storeError(error, doing: "read source volume")
        }
    }

    public func sourceArrivals() async throws(StoreError) -> [String: Timestamp] {
        do {
            return try await pool.read { db in
                var out: [String: Timestamp] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT source, received_at FROM source_arrivals") {
                    out[try self.labels.value(row[0], in: db)] = Timestamp(microseconds: row[1])
                }
                return out
            }
        } catch {
            throw Self.storeError(error, doing: "read source arrivals")
        }
    }
}

/// A transaction's arrivals, by source label id, written once at its end (one statement per
/// source, and per source and hour, not per request).
typealias SourceArrivals = ArrivalTally<Int64>

extension ArrivalTally where Source == Int64 {
    func write(in db: Database) throws {
        guard !isEmpty else { return }
        let arrival = try db.cachedStatement(sql: """
            INSERT INTO source_arrivals (source, received_at) VALUES (?, ?)
            ON CONFLICT (source) DO UPDATE SET received_at = max(received_at, excluded.received_at)
            """)
        for (source, time) in latest { try arrival.execute(arguments: [source, time]) }
        let hours = try db.cachedStatement(sql: """
            INSERT INTO source_hours (source, hour, events) VALUES (?, ?, ?)
            ON CONFLICT (source, hour) DO UPDATE SET events = events + excluded.events
            """)
        for (source, perHour) in hourly {
            for (hour, count) in perHour { try hours.execute(arguments: [source, hour, count]) }
        }
    }
}
