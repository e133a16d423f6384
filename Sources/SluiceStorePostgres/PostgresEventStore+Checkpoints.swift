import Logging
import NIOCore
import PostgresNIO
import SluiceCore

extension PostgresEventStore {
    /// Compare-and-set of a stream's checkpoint inside the caller's transaction; returns the
    /// conflict instead of throwing, so the transaction stays usable for the rest of its group.
    static func moveCheckpoint(_ update: CheckpointUpdate, at time: Timestamp, on connection: PostgresConnection, logger: Logger) async throws -> StoreError? {
        let moved = try await connection.query(
            """
            UPDATE collector_streams SET value = \(update.value), version = version + 1, updated_at = \(time.microseconds)
            WHERE stream = \(update.stream) AND version = \(update.expectedVersion) RETURNING version
            """,
            logger: logger
        ).collect()
        if moved.isEmpty {
            let created = update.expectedVersion == 0 ? try await connection.query(
                """
                INSERT INTO collector_streams (stream, value, version, updated_at) VALUES (\(update.stream), \(update.value), 1, \(time.microseconds))
                ON CONFLICT (stream) DO NOTHING RETURNING version
                """,
                logger: logger
            ).collect() : []
            if created.isEmpty {
                var current: Int64 = 0
                for try await version in try await connection.query("SELECT version FROM collector_streams WHERE stream = \(update.stream)", logger: logger).decode(Int64.self) {
                    current = version
                }
                return StoreError(
                    .conflict,
                    "the checkpoint of \(update.stream) is at version \(current), not \(update.expectedVersion): another run or a rewind moved it; nothing from this page was stored"
                )
            }
        }
        for (entity, digest) in update.entityDigests.sorted(by: { $0.key < $1.key }) {
            try await connection.query(
                """
                INSERT INTO collector_entities (stream, entity, digest) VALUES (\(update.stream), \(entity), \(ByteBuffer(bytes: digest)))
                ON CONFLICT (stream, entity) DO UPDATE SET digest = excluded.digest
                """,
                logger: logger
            )
        }
        return nil
    }

    public func checkpoint(stream: String) async throws(StoreError) -> StreamCheckpoint? {
        do {
            return try await checkpoints("SELECT stream, value, version, updated_at, last_run FROM collector_streams WHERE stream = \(stream)").first
        } catch {
            throw Self.storeError(error, doing: "read checkpoint")
        }
    }

    public func checkpoints(prefix: String) async throws(StoreError) -> [StreamCheckpoint] {
        do {
            return try await checkpoints(
                "SELECT stream, value, version, updated_at, last_run FROM collector_streams WHERE starts_with(stream, \(prefix)) ORDER BY stream COLLATE \"C\""
            )
        } catch {
            throw Self.storeError(error, doing: "list checkpoints")
        }
    }

    private func checkpoints(_ query: PostgresQuery) async throws -> [StreamCheckpoint] {
        try await database.rows(query).map { row in
            let (stream, value, version, updatedAt, lastRun) = try row.decode((String, String, Int64, Int64, String?).self)
            return StreamCheckpoint(stream: stream, value: value, version: version, updatedAt: Timestamp(microseconds: updatedAt), lastRun: lastRun)
        }
    }

    public func recordRun(stream: String, summary: String, at time: Timestamp) async throws(StoreError) {
        do {
            try await database.execute(
                """
                INSERT INTO collector_streams (stream, value, version, updated_at, last_run) VALUES (\(stream), '', 0, \(time.microseconds), \(summary))
                ON CONFLICT (stream) DO UPDATE SET last_run = excluded.last_run
                """
            )
        } catch {
            throw Self.storeError(error, doing: "record a collector run")
        }
    }

    public func entityDigests(stream: String) async throws(StoreError) -> [String: [UInt8]] {
        do {
            var out: [String: [UInt8]] = [:]
            for row in try await database.rows("SELECT entity, digest FROM collector_entities WHERE stream = \(stream)") {
                let (entity, digest) = try row.decode((String, ByteBuffer).self)
                out[entity] = Array(buffer: digest)
            }
            return out
        } catch {
            throw Self.storeError(error, doing: "read entity digests")
        }
    }

    public func entityDigest(stream: String, entity: String) async throws(StoreError) -> [UInt8]? {
        do {
            let rows = try await database.rows("SELECT digest FROM collector_entities WHERE stream = \(stream) AND entity = \(entity)")
            return try rows.first.map { Array(buffer: try $0.decode(ByteBuffer.self)) }
        } catch {
            throw Self.storeError(error, doing: "read an entity digest")
        }
    }

    public func sourceArrivals() async throws(StoreError) -> [String: Timestamp] {
        await flushAllArrivals()
        do {
            var out: [String: Timestamp] = [:]
            // Source names are configured names (letters, digits, - _ .): never escaped.
            for row in try await database.rows("SELECT source, received_at FROM source_arrivals") {
                let (source, time) = try row.decode((String, Int64).self)
                out[source] = Timestamp(microseconds: time)
            }
            return out
        } catch {
            throw Self.storeError(error, doing: "read source arrivals")
        }
    }

    public func sourceVolume(since: Timestamp) async throws(StoreError) -> [String: [Int64: Int]] {
        // This instance's own commits count at once; others' within a second.
        await flushAllArrivals()
        do {
            var out: [String: [Int64: Int]] = [:]
            for row in try await database.rows("SELECT source, hour, events FROM source_hours WHERE hour >= \(since.hour)") {
                let (source, hour, events) = try row.decode((String, Int64, Int64).self)
                out[source, default: [:]][hour] = Int(events)
            }
            return out
        } catch {
            throw Self.storeError(error, doing: "read source volume")
        }
    }
}
