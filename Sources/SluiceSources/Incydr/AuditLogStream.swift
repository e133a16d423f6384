import SluiceCore
import SluiceHTTP

/// `POST /v1/audit/search-audit-log` over a window whose end is fixed before paging; 0-based
/// page numbers; a window holding more than the API's 10,000-result cap is split in halves.
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
            let body = JSONValue.object([
                JSONMember("dateRange", .object([
                    JSONMember("startTime", .number(window.start.posixSeconds)), JSONMember("endTime", .number(window.end.posixSeconds)),
                ])),
                JSONMember("page", .number(String(state.page))),
                JSONMember("pageSize", .number(String(size))),
            ]).serialized()
            let response = try await api.call("POST", "/v1/audit/search-audit-log", json: body, stream: .audit, counters: &run.counters)
            let page: JSONPage
            do {
                page = try JSONPage.parse(response.body, itemsKey: "events")
            } catch {
                throw CollectorError(.invalidResponse, "audit: the response is not the documented JSON page: \(error)")
            }
            run.counters.pages += 1
            let total = page.fields["totalResultCount"]?.textValue.flatMap { Int($0) }
            let overCap = !page.hasItems || (state.page == 0 && (total ?? 0) > Self.resultCap)
            // Windows of under two seconds are not split further.
            let splittable = window.end.microseconds - window.start.microseconds >= 2_000_000
            if overCap && splittable {
                // Re-read the window as two halves; events already stored come back as duplicates.
                let middle = Timestamp(microseconds: window.start.microseconds + (window.end.microseconds - window.start.microseconds) / 2)
                state.windows.replaceSubrange(0..<1, with: [Span(start: window.start, end: middle), Span(start: middle, end: window.end)])
                state.page = 0
                checkpoint.run = state
                run.checkpoint = checkpoint
                try await run.commit([])
                continue
            }
            if !page.hasItems {
                warnings.append("more than \(Self.resultCap) audit events between \(window.start) and \(window.end); Incydr pages no further, so some may be missing")
            }
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
}
