import Foundation
import SluiceCore

/// The store as `sluice collect NAME --once --dry-run` sees it: reads go to the real store (the
/// checkpoints a run starts from), and what a run would commit is printed instead, one JSON line
/// per event and per checkpoint it would move to; nothing is written.
final class DryRunStore: EventStore {
    let store: any EventStore

    init(_ store: any EventStore) { self.store = store }

    func append(_ events: [IncomingEvent], receivedAt: Timestamp, checkpoint: CheckpointUpdate?) async throws(StoreError) -> AppendResult {
        for event in events {
            let n = event.normalized
            var line: [UInt8] = []
            JSONValue.object([
                JSONMember("would_store", .string(event.source)),
                JSONMember("log_type", .string(event.logType)),
                JSONMember("occurred_at", .string(n.occurredAt.rfc3339)),
                JSONMember("action", .string(n.action)),
                JSONMember("actor", n.actor.map { .string($0.name ?? $0.id) } ?? .null),
                JSONMember("origin", event.origin.map { .string($0) } ?? .null),
                JSONMember("raw", (try? JSONParser.parse(event.raw)) ?? .string(String(decoding: event.raw, as: UTF8.self))),
            ]).write(into: &line, sortedKeys: false)
            print(String(decoding: line, as: UTF8.self))
        }
        if let checkpoint {
            var line: [UInt8] = []
            JSONValue.object([
                JSONMember("would_move_checkpoint", .string(checkpoint.stream)),
                JSONMember("to", (try? JSONParser.parse(Array(checkpoint.value.utf8))) ?? .string(checkpoint.value)),
            ]).write(into: &line, sortedKeys: false)
            print(String(decoding: line, as: UTF8.self))
        }
        return AppendResult(accepted: events.count, duplicates: 0)
    }

    func recordRun(stream: String, summary: String, at time: Timestamp) async throws(StoreError) {}

    func checkpoint(stream: String) async throws(StoreError) -> StreamCheckpoint? { try await store.checkpoint(stream: stream) }
    func checkpoints(prefix: String) async throws(StoreError) -> [StreamCheckpoint] { try await store.checkpoints(prefix: prefix) }
    func entityDigests(stream: String) async throws(StoreError) -> [String: [UInt8]] { try await store.entityDigests(stream: stream) }
    func entityDigest(stream: String, entity: String) async throws(StoreError) -> [UInt8]? { try await store.entityDigest(stream: stream, entity: entity) }
    func sourceArrivals() async throws(StoreError) -> [String: Timestamp] { try await store.sourceArrivals() }
    func sourceVolume(since: Timestamp) async throws(StoreError) -> [String: [Int64: Int]] { try await store.sourceVolume(since: since) }
    func events(matching filter: EventFilter, after cursor: EventCursor?, limit: Int) async throws(StoreError) -> EventPage {
        try await store.events(matching: filter, after: cursor, limit: limit)
    }
    func event(id: EventID) async throws(StoreError) -> StoredEvent? { try await store.event(id: id) }
    func occurredRange() async throws(StoreError) -> ClosedRange<Timestamp>? { try await store.occurredRange() }
    func eventCounts(matching filter: EventFilter, buckets: HistogramBuckets) async throws(StoreError) -> EventCounts {
        try await store.eventCounts(matching: filter, buckets: buckets)
    }
    func facets(matching filter: EventFilter, fields: [FacetField], limit: Int) async throws(StoreError) -> EventFacets {
        try await store.facets(matching: filter, fields: fields, limit: limit)
    }
    func events(afterSeq seq: Int64, limit: Int) async throws(StoreError) -> [StoredEvent] { try await store.events(afterSeq: seq, limit: limit) }
    func purge(occurredBefore cutoff: Timestamp, limit: Int, audit: (@Sendable ([Int64]) -> AdminAuditEntry)?) async throws(StoreError) -> [Int64] {
        throw StoreError(.invalidRequest, "a dry run deletes nothing")
    }
    func checkHealth() async throws(StoreError) { try await store.checkHealth() }
}
