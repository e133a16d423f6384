import SluiceCore
import SluiceHTTP

/// `POST /v1/audit/search-audit-log` over a window whose end is fixed before paging; 0-based
/// page numbers. Each window's size is asked first (`POST /v1/audit/search-results-count`); one
/// holding more than the API's 10,000-result cap is split in halves until each fits.
struct AuditLogStream: Sendable {
    struct Checkpoint: Codable, Sendable {
        var through: Timestamp?
        var run: Run?
    }

    struct Run: Codable, Sendable {
        var end: Timestamp
        /// Windows still to read, oldest first; the first is being read at `page`.
        var windows: [Span]
        var page: Int
    }

    struct Span: Codable, Sendable, Hashable {
        var start: Timestamp
        var end: Timestamp
    }

    /// The most results Incydr's audit search pages through for one query.
    static let resultCap = 10_000

    let api: IncydrAPI
    let configuration: IncydrConfiguration

    func run(_ run: inout StreamRun<Checkpoint>, backfill: ClosedRange<Timestamp>?, warnings: inout [String]) async throws(CollectorError) {
        var checkpoint = run.checkpoint ?? Checkpoint()
        if checkpoint.run == nil {
            if let backfill {
                if checkpoint.through != nil { return }
                checkpoint.run = Run(end: backfill.upperBound, windows: [Span(start: backfill.lowerBound, end: backfill.upperBound)], page: 0)
            } else {
                let now = run.now()
                let start = checkpoint.through.map { $0 - configuration.overlap } ?? (now - configuration.lookback)
                checkpoint.run = Run(end: now, windows: [Span(start: start, end: now)], page: 0)
            }
        }
        let size = configuration.auditPageSize
        for _ in 0..<configuration.maxPagesPerRun {
            guard var state = checkpoint.run else { return }
            guard let window = state.windows.first else {
                checkpoint.through = state.end
                checkpoint.run = nil
                run.checkpoint = checkpoint
                try await run.commit([])
                return
            }
            if state.page == 0 {
                // Ask the window's size first, as the SDK does (`search-results-count`): pages
                // do not say it, and nothing past the cap is ever served.
                let total = try await count(window, counters: &run.counters)
                // Windows of under two seconds are not split further.
                let splittable = window.end.microseconds - window.start.microseconds >= 2_000_000
                if total > Self.resultCap {
                    if splittable {
                        let middle = Timestamp(microseconds: window.start.microseconds + (window.end.microseconds - window.start.microseconds) / 2)
                        state.windows.replaceSubrange(0..<1, with: [Span(start: window.start, end: middle), Span(start: middle, end: window.end)])
                        checkpoint.run = state
                        run.checkpoint = checkpoint
                        try await run.commit([])
                        continue
                    }
                    warnings.append("\(total) audit events between \(window.start) and \(window.end), more than the \(Self.resultCap) Incydr pages through; the rest of this window is missing")
                }
            }
            let response = try await api.call("POST", "/v1/audit/search-audit-log", json: Self.query(window, page: state.page, size: size), stream: .audit, counters: &run.counters)
            let page: JSONPage
            do {
                page = try JSONPage.parse(response.body, itemsKey: "events")
            } catch {
                throw CollectorError(.invalidResponse, "audit: the response is not the documented JSON page: \(error)")
            }
            run.counters.pages += 1
            let receivedAt = run.now()
            let origin = run.origin(.audit)
            let events = page.items.map { item in
                let time = IncydrNormalizer.auditEntryTime(item.value)
                return IncomingEvent(
                    source: configuration.name, logType: IncydrConfiguration.logType,
                    dedupeKey: IncydrNormalizer.contentKey(item.value), dedupeTime: time,
                    raw: item.raw, normalized: IncydrNormalizer.auditEntry(item.value, occurredAt: time ?? receivedAt), origin: origin
                )
            }
            // A short page ends the window, as does one past the cap (no `events`).
            if page.items.count < size || !page.hasItems {
                state.windows.removeFirst()
                state.page = 0
            } else {
                state.page += 1
            }
            checkpoint.run = state
            run.checkpoint = checkpoint
            try await run.commit(events)
        }
    }

    /// `search-results-count` for `window`: how many entries it holds.
    func count(_ window: Span, counters: inout StreamRunCounters) async throws(CollectorError) -> Int {
        let response = try await api.call("POST", "/v1/audit/search-results-count", json: Self.query(window, page: 0, size: configuration.auditPageSize), stream: .audit, counters: &counters)
        guard let total = (try? JSONParser.parse(response.body))?["totalResultCount"]?.textValue.flatMap({ Int($0) }), total >= 0 else {
            throw CollectorError(.invalidResponse, "audit: the search-results-count answer has no totalResultCount")
        }
        return total
    }

    /// The search body as the SDK writes it (`QueryAuditLogRequest`): every member present, the
    /// filters Sluice does not use as null, the range in POSIX seconds.
    static func query(_ window: Span, page: Int, size: Int) -> [UInt8] {
        JSONValue.object([
            JSONMember("actorIds", .null),
            JSONMember("actorIpAddresses", .null),
            JSONMember("actorNames", .null),
            JSONMember("dateRange", .object([
                JSONMember("endTime", .number(window.end.posixSeconds)), JSONMember("startTime", .number(window.start.posixSeconds)),
            ])),
            JSONMember("eventTypes", .null),
            JSONMember("page", .number(String(page))),
            JSONMember("pageSize", .number(String(size))),
            JSONMember("resourceIds", .null),
            JSONMember("userTypes", .null),
        ]).serialized()
    }
}
