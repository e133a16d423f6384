import Crypto
import SluiceCore
import SluiceHTTP

/// Users (`GET /v1/users`, `page`/`pageSize`, 1-based) and cases (`GET /v1/cases`,
/// `pgNum`/`pgSize`, 1-based, in ascending case number as the SDK asks: `srtDir=asc`,
/// `srtKey=number`): full listings on every run, paged as the SDK pages them (a page shorter
/// than the page size is the last), stored as events only for entities that are new or whose
/// content changed since the state recorded with the last event.
struct SnapshotStream: Sendable {
    struct Checkpoint: Codable, Sendable {
        var lastCompleted: Timestamp?
        var run: Run?
    }

    struct Run: Codable, Sendable {
        var started: Timestamp
        var page: Int
    }

    let api: IncydrAPI
    let configuration: IncydrConfiguration
    let stream: IncydrConfiguration.Stream

    func run(_ run: inout StreamRun<Checkpoint>) async throws(CollectorError) {
        var known: [String: [UInt8]]
        do {
            known = try await run.store.entityDigests(stream: run.key)
        } catch {
            throw CollectorError.from(error)
        }
        var checkpoint = run.checkpoint ?? Checkpoint()
        if checkpoint.run == nil { checkpoint.run = Run(started: run.now(), page: 1) }
        let isUsers = stream == .users
        let size = isUsers ? configuration.usersPageSize : configuration.casesPageSize
        for _ in 0..<configuration.maxPagesPerRun {
            guard var state = checkpoint.run else { return }
            // Without a stated order, page n + 1 need not continue page n.
            let query = isUsers
                ? [("page", String(state.page)), ("pageSize", String(size))]
                : [("pgNum", String(state.page)), ("pgSize", String(size)), ("srtDir", "asc"), ("srtKey", "number")]
            let response = try await api.call("GET", isUsers ? "/v1/users" : "/v1/cases", query: query, stream: stream, counters: &run.counters)
            let page: JSONPage
            do {
                page = try JSONPage.parse(response.body, itemsKey: isUsers ? "users" : "cases")
            } catch {
                throw CollectorError(.invalidResponse, "\(stream.rawValue): the response is not the documented JSON page: \(error)")
            }
            run.counters.pages += 1
            let receivedAt = run.now()
            let origin = run.origin(stream)
            var events: [IncomingEvent] = []
            var updates: [String: [UInt8]] = [:]
            for item in page.items {
                guard let id = item.value[isUsers ? "userId" : "number"]?.textValue else { continue }
                let state = entityState(item.value, isUsers: isUsers)
                let previous = known[id]
                guard previous != state else {
                    run.counters.eventsDuplicate += 1
                    continue
                }
                let change = classify(previous: previous, current: state, isUsers: isUsers)
                known[id] = state
                updates[id] = state
                events.append(IncomingEvent(
                    source: configuration.name, logType: IncydrConfiguration.logType,
                    dedupeKey: IncydrNormalizer.key(stream.rawValue, id, state.hexString, previous?.hexString ?? "-"),
                    raw: item.raw,
                    normalized: isUsers
                        ? IncydrNormalizer.userSnapshot(item.value, change: change, receivedAt: receivedAt)
                        : IncydrNormalizer.caseSnapshot(item.value, change: change, receivedAt: receivedAt),
                    origin: origin
                ))
            }
            if page.items.count < size {
                checkpoint.lastCompleted = state.started
                checkpoint.run = nil
            } else {
                state.page += 1
                checkpoint.run = state
            }
            run.checkpoint = checkpoint
            try await run.commit(events, entityDigests: updates)
        }
    }

    /// SHA-256 of the item's canonical JSON, followed by the fields whose change names the event.
    func entityState(_ item: JSONValue, isUsers: Bool) -> [UInt8] {
        var state = Array(SHA256.hash(data: item.canonicalBytes()))
        state += Array(facets(item, isUsers: isUsers).joined(separator: "\u{1F}").utf8)
        return state
    }

    func facets(_ item: JSONValue, isUsers: Bool) -> [String] {
        isUsers
            ? [item["active"]?.textValue ?? "", item["blocked"]?.textValue ?? ""]
            : [item["status"]?.textValue ?? "", item["assignee"]?.textValue ?? ""]
    }

    func classify(previous: [UInt8]?, current: [UInt8], isUsers: Bool) -> SnapshotChange {
        guard let previous, previous.count >= 32 else { return .new }
        let before = String(decoding: previous.dropFirst(32), as: UTF8.self).split(separator: "\u{1F}", omittingEmptySubsequences: false)
        let after = String(decoding: current.dropFirst(32), as: UTF8.self).split(separator: "\u{1F}", omittingEmptySubsequences: false)
        if before.first != after.first { return .statusChanged }
        if !isUsers, before.dropFirst().first != after.dropFirst().first { return .assigneeChanged }
        if isUsers, before.dropFirst().first != after.dropFirst().first { return .statusChanged }
        return .updated
    }
}
