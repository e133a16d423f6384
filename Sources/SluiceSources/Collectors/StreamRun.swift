import Foundation
import SluiceCore

/// One run of one collector stream: reads its checkpoint, and commits each page's events with
/// the checkpoint that follows them in one store transaction.
struct StreamRun<Checkpoint: Codable & Sendable>: Sendable {
    let store: any EventStore
    let key: String
    /// The lease this instance holds on the collector (nil when one instance owns the store),
    /// committed with each page so that a page pulled under a lost lease never lands.
    let fence: Lease?
    let now: @Sendable () -> Timestamp
    /// When this run started: with the page number, names each page's origin.
    let started: Timestamp
    private(set) var version: Int64
    var checkpoint: Checkpoint?
    var counters = StreamRunCounters()

    static func start(store: any EventStore, key: String, fence: Lease?, now: @escaping @Sendable () -> Timestamp) async throws(CollectorError) -> StreamRun {
        let stored: StreamCheckpoint?
        do {
            stored = try await store.checkpoint(stream: key)
        } catch {
            throw CollectorError.from(error)
        }
        var checkpoint: Checkpoint?
        if let value = stored?.value, !value.isEmpty {
            do {
                checkpoint = try JSONDecoder().decode(Checkpoint.self, from: Data(value.utf8))
            } catch {
                throw CollectorError(.invalidResponse, "the stored checkpoint of \(key) is unreadable (\(error)); rewind it through the API")
            }
        }
        return StreamRun(store: store, key: key, fence: fence, now: now, started: now(), version: stored?.version ?? 0, checkpoint: checkpoint)
    }

    /// The origin of the events of the page just fetched (`counters.pages` counts it already).
    func origin(_ stream: IncydrConfiguration.Stream) -> String {
        origin(stream.rawValue)
    }

    /// The same for a stream by name.
    func origin(_ stream: String) -> String {
        EventOrigin(stream: stream, runStarted: started, page: counters.pages).description
    }

    /// The origin of page number `page` of this run (counted from 1).
    func origin(_ stream: IncydrConfiguration.Stream, page: Int) -> String {
        EventOrigin(stream: stream.rawValue, runStarted: started, page: page).description
    }

    /// Commits `events` and the current checkpoint together; the checkpoint moves only if this
    /// run still owns it (no other run or rewind moved it since it was read).
    mutating func commit(_ events: [IncomingEvent], entityDigests: [String: [UInt8]] = [:]) async throws(CollectorError) {
        let value = try Self.encode(checkpoint, key: key)
        let update = CheckpointUpdate(stream: key, expectedVersion: version, value: value, entityDigests: entityDigests, fence: fence)
        do {
            let result = try await store.append(events, receivedAt: now(), checkpoint: update)
            version += 1
            counters.eventsNew += result.accepted
            counters.eventsDuplicate += result.duplicates
        } catch {
            throw CollectorError.from(error)
        }
    }

    /// A checkpoint as the store keeps it: JSON with sorted keys.
    static func encode(_ checkpoint: Checkpoint?, key: String) throws(CollectorError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        do {
            return String(decoding: try encoder.encode(checkpoint), as: UTF8.self)
        } catch {
            throw CollectorError(.store, "cannot encode the checkpoint of \(key): \(error)")
        }
    }
}
