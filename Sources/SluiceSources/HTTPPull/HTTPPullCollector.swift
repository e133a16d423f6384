import Crypto
import Foundation
import Logging
import SluiceCore
import SluiceHTTP

/// Pulls any JSON list API described in configuration (``HTTPPullConfiguration``), with the
/// guarantees of the built-in collectors: each page's events commit in one transaction with the
/// checkpoint that follows them, a record read twice (overlapping windows, a page served again)
/// is stored once, and every request passes the SSRF guard, the collector's request budget and
/// the retry policy (429 with `Retry-After`, 5xx, a token refreshed on 401).
public final class HTTPPullCollector: Sendable {
    public let configuration: HTTPPullConfiguration
    let store: any EventStore
    let client: OutboundClient
    let logger: Logger
    let now: @Sendable () -> Timestamp
    let runs: StreamRuns

    public init(
        configuration: HTTPPullConfiguration, store: any EventStore, transport: HTTPTransport, logger: Logger,
        now: @escaping @Sendable () -> Timestamp
    ) {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        self.now = now
        self.runs = StreamRuns(collector: configuration.name, store: store, logger: logger, now: now)
        // Every request, a token request's included, passes the SSRF guard first.
        let guarded = transport.guarded(by: OutboundURLGuard(allowPrivateNetworks: configuration.allowPrivateNetworks))
        let budget = RequestBudget(limit: configuration.requestsPerMinute)
        let tokens: AccessTokenCache? = switch configuration.auth {
        case .clientCredentials(let grant): AccessTokenCache(charging: budget) { try await grant.request(using: guarded) }
        case .googleServiceAccount(let grant): AccessTokenCache(charging: budget) { try await grant.request(using: guarded) }
        case .none, .token, .basic, .apiKey, .duoSignature: nil
        }
        client = OutboundClient(transport: guarded, tokens: tokens, budget: budget, retry: configuration.retry)
    }

    func stream(named name: String) -> HTTPPullConfiguration.Stream? {
        configuration.streams.first { $0.name == name }
    }

    private func runStream(_ stream: HTTPPullConfiguration.Stream, backfill: ClosedRange<Timestamp>?, fence: Lease?) async -> StreamRunReport {
        let key = StreamRuns.key(configuration.checkpointKey(stream.name), backfill: backfill)
        return await runs.run(stream: stream.name, key: key) { (counters, report) throws(CollectorError) in
            var run = try await StreamRun<HTTPPullCheckpoint>.start(store: store, key: key, fence: fence, now: now)
            defer { counters = run.counters }
            try await HTTPPullStream(collector: self, stream: stream).run(&run, backfill: backfill, warnings: &report.warnings)
        }
    }
}

extension HTTPPullCollector: PullCollector {
    public var name: String { configuration.name }
    public var type: String { configuration.type }
    public var baseURL: String { configuration.baseURL }
    public var streamNames: [String] { configuration.streams.map(\.name) }
    public var windowedStreamNames: [String] { configuration.streams.filter { $0.checkpoint == .window }.map(\.name) }

    public func run(streamsNamed names: [String]?, backfill: ClosedRange<Timestamp>?, fence: Lease?) async -> [StreamRunReport] {
        var chosen = configuration.streams.filter { names?.contains($0.name) ?? true }
        if backfill != nil { chosen.removeAll { $0.checkpoint != .window } }
        return await StreamRuns.concurrently(chosen) { await self.runStream($0, backfill: backfill, fence: fence) }
    }

    public func rewind(streamNamed name: String, to time: Timestamp, audit: AdminAuditEntry?) async throws(CollectorError) {
        guard stream(named: name) != nil else {
            throw CollectorError(.rejected, "collector \(configuration.name) has no stream \(name); its streams are \(streamNames.joined(separator: ", "))")
        }
        let key = configuration.checkpointKey(name)
        try await runs.rewind(key: key, to: try StreamRun.encode(HTTPPullCheckpoint(through: time), key: key), audit: audit)
    }

    public func streamStatuses() async throws(StoreError) -> [StreamStatus] {
        try await runs.statuses(configuration.streams.map { ($0.name, configuration.checkpointKey($0.name)) })
    }

    public func record(_ entry: AdminAuditEntry) async throws(StoreError) {
        try await store.record(entry)
    }
}

/// Where a stream is: the end of the last window read (window mode), the window in progress and
/// its next page, and the API's own cursor (cursor mode).
struct HTTPPullCheckpoint: Codable, Sendable, Hashable {
    /// A window being read, resumed at `page` after a crash.
    struct WindowRun: Codable, Sendable, Hashable {
        var since: Timestamp
        var until: Timestamp
        var page: PageState
    }

    var through: Timestamp?
    var run: WindowRun?
    var cursor: PageState?

    init(through: Timestamp? = nil, run: WindowRun? = nil, cursor: PageState? = nil) {
        self.through = through
        self.run = run
        self.cursor = cursor
    }
}

/// How to ask for one page: the token, link, number or offset the previous page led to.
struct PageState: Codable, Sendable, Hashable {
    var token: String?
    var url: String?
    var number: Int?
    var offset: Int?

    /// What makes two pages the same request (a loop when it comes back).
    var identity: String { [token, url, number.map(String.init), offset.map(String.init)].map { $0 ?? "-" }.joined(separator: "|") }
}

/// One run of one stream.
struct HTTPPullStream {
    let collector: HTTPPullCollector
    let stream: HTTPPullConfiguration.Stream

    var configuration: HTTPPullConfiguration { collector.configuration }

    func run(_ run: inout StreamRun<HTTPPullCheckpoint>, backfill: ClosedRange<Timestamp>?, warnings: inout [String]) async throws(CollectorError) {
        var checkpoint = run.checkpoint ?? HTTPPullCheckpoint()
        let current = collector.now()
        // The window this run reads, and the page it starts at.
        var since: Timestamp
        var until: Timestamp
        var page: PageState
        // A window left unfinished by an earlier run is finished first; the run then reads on to now.
        var resumedWindow = false
        if let backfill, checkpoint.run == nil, checkpoint.through == nil {
            (since, until, page) = (backfill.lowerBound, backfill.upperBound, initialPage)
        } else if let backfill, checkpoint.run == nil {
            // A finished backfill has nothing left.
            guard let through = checkpoint.through, through < backfill.upperBound else { return }
            (since, until, page) = (through, backfill.upperBound, initialPage)
        } else if stream.checkpoint == .window, let resumed = checkpoint.run {
            (since, until, page) = (resumed.since, resumed.until, resumed.page)
            resumedWindow = true
        } else if stream.checkpoint == .cursor, let cursor = checkpoint.cursor {
            (since, until, page) = (checkpoint.through ?? current - configuration.lookback, current, cursor)
        } else {
            since = checkpoint.through.map { $0 - configuration.overlap } ?? current - configuration.lookback
            (until, page) = (current, initialPage)
        }
        var seen: Set<String> = [page.identity]
        for _ in 0..<configuration.maxPagesPerRun {
            let response = try await fetch(page, since: since, until: until, counters: &run.counters)
            let (events, rest) = try self.events(response, origin: run.origin(stream.name), receivedAt: collector.now())
            run.counters.pages += 1
            // A page served again holds records already stored: they count as duplicates.
            // An empty page ends the run, whatever it says comes next (Okta always links a next page).
            let next = events.isEmpty ? nil : nextPage(after: page, response: response, rest: rest, events: events)
            if let following = next, !seen.insert(following.identity).inserted {
                throw CollectorError(.invalidResponse, "\(stream.name): pagination loops: the next page (\(following.identity)) was already read in this run; check the stream's pagination")
            }
            switch stream.checkpoint {
            case .window:
                if let next {
                    checkpoint.run = .init(since: since, until: until, page: next)
                } else {
                    checkpoint.run = nil
                    checkpoint.through = until
                }
            case .cursor:
                // Where the API says to continue; with no next page, the same request again.
                checkpoint.cursor = next ?? page
                if checkpoint.through == nil { checkpoint.through = since }
            }
            run.checkpoint = checkpoint
            try await run.commit(events)
            if let next {
                page = next
            } else if resumedWindow, let through = checkpoint.through {
                resumedWindow = false
                (since, until, page) = (through - configuration.overlap, collector.now(), initialPage)
                seen = [page.identity]
            } else {
                return
            }
        }
        warnings.append("\(stream.name): stopped after \(configuration.maxPagesPerRun) pages (max_pages_per_run); the next run continues from the checkpoint")
    }

    var initialPage: PageState {
        switch stream.pagination {
        case .pageNumber(_, let start): PageState(number: start)
        case .offset: PageState(offset: 0)
        case .none, .nextToken, .link, .recordTime: PageState()
        }
    }

    /// The request for `page`: the configured one with its placeholders filled, plus the
    /// pagination's parameter; or the next link as it is.
    func request(_ page: PageState, since: Timestamp, until: Timestamp) -> OutboundRequest {
        func value(_ variable: RequestTemplate.Variable) -> String {
            switch variable {
            case .windowSince: stream.timeFormat.text(since)
            case .windowUntil: stream.timeFormat.text(until)
            case .pageSize: String(stream.pageSize)
            case .pageToken: page.token ?? ""
            case .pageNumber: String(page.number ?? 1)
            case .pageOffset: String(page.offset ?? 0)
            }
        }
        var headers = [("Accept", "application/json")] + configuration.headers
        var query: [(String, String)] = []
        switch configuration.auth {
        case .token(let scheme, let token): headers.append(("Authorization", "\(scheme) \(token)"))
        case .basic(let user, let password): headers.append(("Authorization", "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()))
        case .apiKey(let header, let parameter, let key):
            if let header { headers.append((header, key)) }
            if let parameter { query.append((parameter, key)) }
        case .none, .clientCredentials, .googleServiceAccount, .duoSignature: break
        }
        var body: [UInt8]?
        if let template = stream.body {
            body = Array(template.render(value, escape: Self.jsonEscaped).utf8)
            headers.append(("Content-Type", "application/json"))
        }
        if let next = page.url {
            // A next link is followed as given (its own query carries the cursor).
            return signed(OutboundRequest(method: stream.method, url: next, headers: headers, body: body, timeout: configuration.requestTimeout))
        }
        query = stream.query.map { ($0.name, $0.value.render(value)) } + query
        // The pagination's parameter replaces a configured one of the same name (Duo's
        // administrator log pages by moving `mintime` itself).
        func paging(_ parameter: String, _ text: String) {
            query.removeAll { $0.0 == parameter }
            query.append((parameter, text))
        }
        switch stream.pagination {
        case .nextToken(_, let parameter?): if let token = page.token { paging(parameter, token) }
        case .recordTime(let parameter): if let token = page.token { paging(parameter, token) }
        case .pageNumber(let parameter, _): paging(parameter, String(page.number ?? 1))
        case .offset(let parameter): paging(parameter, String(page.offset ?? 0))
        case .none, .nextToken(_, nil), .link: break
        }
        var url = configuration.baseURL + stream.path.render(value, escape: HTTPTransport.percentEncoded)
        if !query.isEmpty {
            url += (url.contains("?") ? "&" : "?") + HTTPTransport.queryString(query)
        }
        return signed(OutboundRequest(method: stream.method, url: url, headers: headers, body: body, timeout: configuration.requestTimeout))
    }

    /// The request as sent: signed, when the auth signs requests (Duo), for the wall clock's now.
    func signed(_ request: OutboundRequest) -> OutboundRequest {
        guard case .duoSignature(let signer) = configuration.auth else { return request }
        return signer.signed(request, date: Date())
    }

    static func jsonEscaped(_ text: String) -> String {
        var out: [UInt8] = []
        JSONValue.writeString(text, into: &out)
        return String(decoding: out.dropFirst().dropLast(), as: UTF8.self)
    }

    private func fetch(_ page: PageState, since: Timestamp, until: Timestamp, counters: inout StreamRunCounters) async throws(CollectorError) -> OutboundResponse {
        let request = request(page, since: since, until: until)
        if page.url != nil, !Self.sameOrigin(request.url, configuration.baseURL) {
            throw CollectorError(.invalidResponse, "\(stream.name): the next link \(request.url.prefix(200)) leaves \(configuration.baseURL); it is not followed")
        }
        return try await collector.client.collect(
            request, stream: stream.name, path: URL(string: request.url)?.path ?? "", counters: &counters, logger: collector.logger
        ) { response in " (\(String(decoding: response.body.prefix(200), as: UTF8.self)))" }
    }

    static func sameOrigin(_ url: String, _ base: String) -> Bool {
        guard let a = URL(string: url), let b = URL(string: base) else { return false }
        return a.scheme == b.scheme && a.host == b.host && a.port == b.port
    }

    /// The page's records as events, each with its exact bytes, and the answer around them (the
    /// members beside the records, where a next token is), parsed once. Each record is only
    /// mapped: the normalizer decodes just the fields it reads.
    func events(_ response: OutboundResponse, origin: String, receivedAt: Timestamp) throws(CollectorError) -> (events: [IncomingEvent], rest: JSONValue) {
        let path = stream.records?.segments ?? []
        var index = 0
        let page: (items: [Result<IncomingEvent, CollectorError>], hasItems: Bool, fields: [String: JSONValue])
        do {
            page = try JSONPage.map(response.body, itemsPath: path) { view, raw in
                defer { index += 1 }
                return Result { () throws(CollectorError) in
                    try event(view, raw: Array(raw), index: index, origin: origin, receivedAt: receivedAt) { view.value ?? .null }
                }
            }
        } catch {
            let expected = path.isEmpty ? "a JSON list" : "a JSON object"
            throw CollectorError(.invalidResponse, "\(stream.name): the answer is not \(expected): \(error)")
        }
        guard page.hasItems else {
            throw CollectorError(.invalidResponse, "\(stream.name): records path \"\(stream.records?.description ?? "")\" matches nothing in the answer that is a list (members: \(page.fields.keys.sorted().prefix(10).joined(separator: ", "))); check records:")
        }
        var events: [IncomingEvent] = []
        events.reserveCapacity(page.items.count)
        for item in page.items { events.append(try item.get()) }
        return (events, .object(page.fields.map { JSONMember($0.key, $0.value) }))
    }

    /// One record as an event: its time (required), its id or content hash, the normalized view.
    /// `built` gives the whole record, needed only to hash a record without an id.
    func event<Record: JSONReadable>(
        _ record: Record, raw: [UInt8], index: Int, origin: String, receivedAt: Timestamp, built: () -> JSONValue
    ) throws(CollectorError) -> IncomingEvent {
        guard let time = record.value(at: stream.time)?.timestamp else {
            let found = record.value(at: stream.time).map { String(($0.textValue ?? "null").prefix(60)) } ?? "nothing"
            throw CollectorError(.invalidResponse, "\(stream.name): record \(index + 1) of the page has no time at \"\(stream.time)\" (found \(found)); check time:")
        }
        var normalized = configuration.normalizer.normalize(record, receivedAt: receivedAt)
        normalized.occurredAt = time
        let key: [UInt8]
        if let idPath = stream.id, let id = record.value(at: idPath)?.textValue, !id.isEmpty {
            key = Array(SHA256.hash(data: Array(("id:" + id).utf8)))
        } else {
            key = Array(SHA256.hash(data: built().canonicalBytes(capacity: raw.count)))
        }
        return IncomingEvent(
            source: configuration.name, logType: stream.logType ?? configuration.logType, dedupeKey: key, dedupeTime: time,
            raw: raw, normalized: normalized, origin: origin
        )
    }

    /// The page after `page`, or nil when it was the last.
    func nextPage(after page: PageState, response: OutboundResponse, rest: JSONValue, events: [IncomingEvent]) -> PageState? {
        let count = events.count
        switch stream.pagination {
        case .none:
            return nil
        case .nextToken(let path, _):
            guard let value = rest.value(at: path) else { return nil }
            let token: String?
            switch value {
            case .array(let parts): token = parts.compactMap(\.textValue).joined(separator: ",")
            case .null: token = nil
            default: token = value.textValue
            }
            guard let token, !token.isEmpty else { return nil }
            return PageState(token: token)
        case .link:
            guard let next = Self.nextLink(response.headers) else { return nil }
            return PageState(url: next)
        case .pageNumber:
            guard count >= stream.pageSize, count > 0 else { return nil }
            return PageState(number: (page.number ?? 1) + 1)
        case .offset:
            guard count >= stream.pageSize, count > 0 else { return nil }
            return PageState(offset: (page.offset ?? 0) + count)
        case .recordTime:
            guard count >= stream.pageSize, let lastTime = events.compactMap(\.dedupeTime).max() else { return nil }
            return PageState(token: stream.timeFormat.text(lastTime))
        }
    }

    /// The target of `rel="next"` among the `Link` headers (RFC 8288): each link is `<target>`
    /// and its parameters up to the next `<` (a target may itself hold commas).
    static func nextLink(_ headers: [(String, String)]) -> String? {
        for (name, value) in headers where name.lowercased() == "link" {
            var rest = Substring(value)
            while let open = rest.firstIndex(of: "<"), let close = rest[open...].firstIndex(of: ">") {
                let target = rest[rest.index(after: open)..<close]
                let after = rest[rest.index(after: close)...]
                let parameters = after.prefix { $0 != "<" }
                rest = after.dropFirst(parameters.count)
                let isNext = parameters.split(separator: ";").contains { parameter in
                    let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: ","))) }
                    guard pair.count == 2, pair[0].lowercased() == "rel" else { return false }
                    return pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")).split(separator: " ").contains("next")
                }
                if isNext { return String(target) }
            }
        }
        return nil
    }
}
