import Foundation
import SluiceCore
import SluiceHTTP

/// `POST /v2/file-events`, incremental on `event.inserted`: each run reads the window from the
/// last run's end (minus the overlap) to a fixed end, page by page with `pgToken`.
struct FileEventsStream: Sendable {
    struct Checkpoint: Codable, Sendable {
        /// Every event inserted at or before this time has been read.
        var insertedThrough: Timestamp?
        /// The window being read, when a run stopped inside it.
        var window: Window?
    }

    struct Window: Codable, Sendable {
        var start: Timestamp
        var end: Timestamp
        /// `""` for the first page, then the provider's `nextPgToken`.
        var pageToken: String
        /// The provider's `totalCount` for the window, from its first page.
        var expected: Int?
        var received: Int
    }

    let api: IncydrAPI
    let configuration: IncydrConfiguration

    func run(_ run: inout StreamRun<Checkpoint>, backfill: ClosedRange<Timestamp>?) async throws(CollectorError) -> WindowCount? {
        var checkpoint = run.checkpoint ?? Checkpoint()
        if checkpoint.window == nil {
            if let backfill {
                // A finished backfill stays finished.
                if checkpoint.insertedThrough != nil { return nil }
                checkpoint.window = Window(start: backfill.lowerBound, end: backfill.upperBound, pageToken: "", received: 0)
            } else {
                let now = run.now()
                let start = checkpoint.insertedThrough.map { $0 - configuration.overlap } ?? (now - configuration.lookback)
                checkpoint.window = Window(start: start, end: now, pageToken: "", received: 0)
            }
        }
        var prefetched: FetchedPage?
        for pageIndex in 0..<configuration.maxPagesPerRun {
            guard var window = checkpoint.window else { break }
            let fetched: FetchedPage
            if let ready = prefetched {
                fetched = ready
                prefetched = nil
            } else {
                let (result, counters) = await fetchPage(window, origin: run.origin(.fileEvents, page: run.counters.pages + 1), now: run.now)
                run.counters.add(counters)
                fetched = try result.get()
            }
            guard case .page(let page) = fetched else {
                // The token expired or is unknown: re-read the window from its start; the
                // events already stored come back as duplicates.
                guard !window.pageToken.isEmpty else {
                    throw CollectorError(.rejected, "file_events: Incydr rejected the first page of the window as an invalid page token")
                }
                window.pageToken = ""
                checkpoint.window = window
                run.checkpoint = checkpoint
                try await run.commit([])
                continue
            }
            run.counters.pages += 1
            if window.pageToken.isEmpty, let total = page.totalCount {
                window.expected = total
            }
            window.received += page.events.count
            // "" and null both end the walk, as does an empty page.
            let finished = page.events.isEmpty || page.nextToken.isEmpty
            let count = WindowCount(expected: window.expected, received: window.received)
            if finished {
                checkpoint.insertedThrough = window.end
                checkpoint.window = nil
            } else {
                window.pageToken = page.nextToken
                checkpoint.window = window
            }
            run.checkpoint = checkpoint
            if finished || pageIndex + 1 == configuration.maxPagesPerRun {
                try await run.commit(page.events)
                if finished { return count }
                continue
            }
            // Fetch and parse the next page while this one commits. It is used only after the
            // commit succeeded; if the commit fails, the fetch is cancelled and nothing moved.
            let nextOrigin = run.origin(.fileEvents, page: run.counters.pages + 1)
            let now = run.now
            async let ahead = fetchPage(window, origin: nextOrigin, now: now)
            try await run.commit(page.events)
            let (result, counters) = await ahead
            run.counters.add(counters)
            prefetched = try result.get()
        }
        return nil
    }

    /// A page as read: its events, ready to commit, or Incydr's refusal of the page token.
    enum FetchedPage: Sendable {
        case page(ParsedPage)
        case invalidPageToken
    }

    struct ParsedPage: Sendable {
        var events: [IncomingEvent]
        /// `totalCount`: the events in the whole window, as Incydr counts them.
        var totalCount: Int?
        /// `nextPgToken`, with null read as `""`.
        var nextToken: String
    }

    /// One page of `window`, parsed into events (a 400 about the page token is returned, not
    /// thrown), with the counters of its requests.
    func fetchPage(
        _ window: Window, origin: String, now: @Sendable () -> Timestamp
    ) async -> (Result<FetchedPage, CollectorError>, StreamRunCounters) {
        var counters = StreamRunCounters()
        let response: OutboundResponse
        do {
            response = try await api.call(
                "POST", "/v2/file-events", json: query(window), stream: .fileEvents, counters: &counters,
                accept: { $0.status == 400 && Self.isInvalidPageToken($0.body) }
            )
        } catch {
            return (.failure(error), counters)
        }
        if response.status == 400 { return (.success(.invalidPageToken), counters) }
        let receivedAt = now()
        let source = configuration.name
        let page: (items: [IncomingEvent], hasItems: Bool, fields: [String: JSONValue])
        do {
            // Each event is mapped, not built: the normalizer decodes only the fields it reads.
            page = try JSONPage.map(response.body, itemsKey: "fileEvents") { item, raw in
                let time = IncydrNormalizer.fileEventTime(item)
                let bytes = Array(raw)
                // Without an id the key hashes the whole event.
                let key = IncydrNormalizer.fileEventID(item).map { IncydrNormalizer.key("file_event", $0) }
                    ?? IncydrNormalizer.contentKey((try? JSONParser.parse(bytes)) ?? .null)
                return IncomingEvent(
                    source: source, logType: IncydrConfiguration.logType, dedupeKey: key, dedupeTime: time,
                    raw: bytes, normalized: IncydrNormalizer.fileEvent(item, occurredAt: time ?? receivedAt), origin: origin
                )
            }
        } catch {
            return (.failure(CollectorError(.invalidResponse, "file_events: the response is not the documented JSON page: \(error)")), counters)
        }
        let events = page.items
        let parsed = ParsedPage(
            events: events,
            totalCount: page.fields["totalCount"]?.textValue.flatMap { Int($0) },
            nextToken: page.fields["nextPgToken"]?.stringValue ?? ""
        )
        return (.success(.page(parsed)), counters)
    }

    func query(_ window: Window) -> [UInt8] {
        func filter(_ op: String, _ time: Timestamp) -> JSONValue {
            .object([JSONMember("term", .string("event.inserted")), JSONMember("operator", .string(op)), JSONMember("value", .string(time.incydrMilliseconds))])
        }
        let timeGroup = JSONValue.object([
            JSONMember("filterClause", .string("AND")),
            JSONMember("filters", .array([filter("ON_OR_AFTER", window.start), filter("ON_OR_BEFORE", window.end)])),
        ])
        let body = JSONValue.object([
            JSONMember("groupClause", .string("AND")),
            JSONMember("groups", .array([timeGroup] + configuration.fileEventsFilterGroups)),
            JSONMember("pgNum", .number("1")),
            JSONMember("pgSize", .number(String(configuration.fileEventsPageSize))),
            JSONMember("pgToken", .string(window.pageToken)),
            JSONMember("srtDir", .string("asc")),
            JSONMember("srtKey", .string("event.inserted")),
        ])
        return body.serialized()
    }

    static func isInvalidPageToken(_ body: [UInt8]) -> Bool {
        guard let json = try? JSONParser.parse(body) else { return false }
        return (json["problems"]?.arrayValue ?? []).contains { $0["type"]?.stringValue == "INVALID_PAGE_TOKEN" }
    }
}

/// The provider's count for a window next to what the run received.
public struct WindowCount: Sendable, Hashable, Codable {
    public var expected: Int?
    public var received: Int

    public init(expected: Int?, received: Int) {
        self.expected = expected
        self.received = received
    }
}

extension Timestamp {
    /// `2022-06-01T00:00:00.123Z`: the form Incydr's file-event filters document and the SDK
    /// sends (`parse_ts_to_ms_str`): milliseconds, the microseconds cut off as the SDK cuts them.
    /// Cutting moves a window's start earlier (an overlap, read as duplicates) and its end
    /// earlier too, where the next window, which starts no later, picks up what it left.
    var incydrMilliseconds: String {
        String(rfc3339.dropLast(4)) + "Z"
    }

    /// `1664755200.123456`: POSIX seconds, as the SDK sends the audit search's `dateRange`.
    var posixSeconds: String {
        String(format: "%lld.%06lld", microseconds / 1_000_000, microseconds % 1_000_000)
    }
}
