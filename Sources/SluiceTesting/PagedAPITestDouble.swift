import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SluiceCore
import Synchronization

/// A loopback audit-log API of no vendor in particular, paged in any of the ways an `http_pull`
/// collector knows (a next token in the body, a `Link` header, a page number, an offset), for
/// testing the generic collector. `GET /v1/logs?since=&until=&limit=` lists records with
/// `since <= time < until` in time order; a bearer token is required. Faults on request: 429
/// with `Retry-After`, 500, a 401, and the previous page served again.
public final class PagedAPITestDouble: Sendable {
    public enum Style: String, Sendable, CaseIterable {
        /// `{"data": [...], "meta": {"next": "..."}}`, `cursor=` (null on the last page).
        case nextToken = "next_token"
        /// A bare array; `Link: <...&after=N>; rel="next"` (always, as Okta does: an empty page ends).
        case link
        /// `{"items": [...]}`, `page=1, 2, ...`.
        case pageNumber = "page_number"
        /// `{"results": {"list": [...]}}`, `offset=0, 100, ...`.
        case offset
        /// `{"logs": [...]}`, the oldest `limit` from `since` on (inclusive), paged only by moving
        /// `since` to the last record's time (as Duo's administrator log).
        case recordTime = "record_time"
    }

    public enum Fault: Sendable {
        case tooManyRequests(retryAfter: String)
        case serverError
        case unauthorized
        /// The answer to the request before, again (its records and its next page).
        case repeatPrevious
    }

    public struct Record: Sendable {
        public var id: String
        public var time: Timestamp
        public var json: String
    }

    public struct Stats: Sendable {
        public var requests = 0
        public var status429 = 0
        public var status500 = 0
        public var status401 = 0
    }

    struct State {
        var records: [Record] = []
        var faults: [Fault] = []
        var stats = Stats()
        var previous: Response?
        /// Answer every next token with this one (a looping API).
        var stuckToken: String?
        /// Where it listens, for the absolute next links.
        var port = 0
    }

    public let style: Style
    public let token: String
    /// The listing's path, and the scheme before the token (`Bearer`; Okta's `SSWS`).
    public let path: String
    public let scheme: String
    /// Added before every answer, so a run lasts long enough to be interrupted.
    public let latency: Duration
    private let state = Mutex(State())

    public init(style: Style, token: String = "pull-token-value-123", latency: Duration = .zero, path: String = "/v1/logs", scheme: String = "Bearer") {
        self.style = style
        self.token = token
        self.path = path
        self.scheme = scheme
        self.latency = latency
    }

    /// Adds `count` records from `from`, `spacing` apart, ids `prefix-N`.
    public func addRecords(count: Int, from: Timestamp, spacing: Duration = .seconds(1), prefix: String = "r") {
        state.withLock { s in
            let first = s.records.count
            for i in 0..<count {
                let time = from + spacing * i
                let id = "\(prefix)-\(first + i)"
                let json = #"{"uuid":"\#(id)","published":"\#(time.rfc3339)","eventType":"user.session.start","actor":{"id":"u\#(i % 7)","displayName":"User \#(i % 7)","type":"User"},"target":[{"id":"app-\#(i % 3)","type":"AppInstance","displayName":"App \#(i % 3)"}],"client":{"ipAddress":"198.51.100.\#(i % 250)"}}"#
                s.records.append(Record(id: id, time: time, json: json))
            }
            s.records.sort { $0.time < $1.time }
        }
    }

    public func inject(_ faults: [Fault]) {
        state.withLock { $0.faults += faults }
    }

    /// Makes every answer's next token `token`, whatever was asked (nil: normal paging).
    public func loop(on token: String?) {
        state.withLock { $0.stuckToken = token }
    }

    public var stats: Stats { state.withLock { $0.stats } }

    /// The collector's YAML for this double's style (indented under `collectors:`).
    public func collectorYAML(name: String, baseURL: String, pageSize: Int = 100, checkpoint: String = "window", extra: String = "") -> String {
        let (records, pagination): (String, String) = switch style {
        case .nextToken: ("data", "{ type: next_token, path: meta.next, param: cursor }")
        case .link: ("", "{ type: link }")
        case .pageNumber: ("items", "{ type: page_number, param: page }")
        case .offset: ("results.list", "{ type: offset, param: offset }")
        case .recordTime: ("logs", "{ type: record_time, param: since }")
        }
        // A cursor follows the log as it grows: no end to its window.
        let until = checkpoint == "cursor" ? "" : #", until: "{{window.until}}""#
        return """
              \(name):
                type: http_pull
                base_url: "\(baseURL)"
                allow_private_networks: true
                auth: { type: bearer, token: "\(token)" }
                log_type: TEST_PULL
                lookback: 30d
                overlap: 10m
                retry: { attempts: 4, base_delay: 1s, max_delay: 1s }
                fields: { action: eventType, actor_id: actor.id, actor_name: actor.displayName, actor_type: actor.type, location: client.ipAddress }
                streams:
                  logs:
                    path: /v1/logs
                    query: { since: "{{window.since}}"\(until), limit: "{{page.size}}" }
                    records: "\(records)"
                    id: uuid
                    time: published
                    page_size: \(pageSize)
                    checkpoint: \(checkpoint)
                    pagination: \(pagination)
            \(extra)
            """
    }

    public func withServer<Value: Sendable>(_ body: @Sendable (String) async throws -> Value) async throws -> Value {
        let router = Router()
        router.get(RouterPath(path)) { request, context in
            if self.latency > .zero { try await Task.sleep(for: self.latency) }
            return self.answer(request, port: self.state.withLock { $0.port })
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        return try await app.test(.live) { client in
            guard let port = client.port else { throw HTTPError(.internalServerError, message: "the test double has no port") }
            state.withLock { $0.port = port }
            return try await body("http://127.0.0.1:\(port)")
        }
    }

    private func json(_ status: HTTPResponse.Status, _ text: String, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    private func answer(_ request: Request, port: Int) -> Response {
        state.withLock { s in
            s.stats.requests += 1
            if !s.faults.isEmpty {
                let fault = s.faults.removeFirst()
                switch fault {
                case .tooManyRequests(let retryAfter):
                    s.stats.status429 += 1
                    return json(.tooManyRequests, #"{"error":"rate limited"}"#, headers: [.retryAfter: retryAfter])
                case .serverError:
                    s.stats.status500 += 1
                    return json(.internalServerError, #"{"error":"internal"}"#)
                case .unauthorized:
                    s.stats.status401 += 1
                    return json(.unauthorized, #"{"error":"token expired"}"#)
                case .repeatPrevious:
                    if let previous = s.previous { return previous }
                }
            }
            guard request.headers[.authorization] == "\(scheme) \(token)" else {
                s.stats.status401 += 1
                return json(.unauthorized, #"{"error":"invalid token"}"#)
            }
            let query = request.uri.queryParameters
            // `until` is optional: a cursor that follows the log as it grows has none.
            let until = query["until"].flatMap { Timestamp(rfc3339: String($0)) } ?? .noEnd
            guard let since = query["since"].flatMap({ Timestamp(rfc3339: String($0)) }), let limit = query["limit"].flatMap({ Int(String($0)) }), limit > 0 else {
                return json(.badRequest, #"{"error":"since (RFC 3339) and limit are required"}"#)
            }
            let matching = s.records.filter { $0.time >= since && $0.time < until }
            let start: Int
            switch style {
            case .nextToken: start = query["cursor"].flatMap { Int(String($0).dropFirst(2)) } ?? 0
            case .link: start = query["after"].flatMap { Int(String($0)) } ?? 0
            case .pageNumber: start = ((query["page"].flatMap { Int(String($0)) } ?? 1) - 1) * limit
            case .offset: start = query["offset"].flatMap { Int(String($0)) } ?? 0
            case .recordTime: start = 0
            }
            let page = Array(matching.dropFirst(start).prefix(limit))
            let list = "[" + page.map(\.json).joined(separator: ",") + "]"
            let end = start + page.count
            let more = end < matching.count
            let response: Response
            switch style {
            case .nextToken:
                let next = s.stuckToken.map { "\"\($0)\"" } ?? (more ? "\"c-\(end)\"" : "null")
                response = json(.ok, #"{"data":\#(list),"meta":{"next":\#(next)}}"#)
            case .link:
                // Always a next link, as Okta's system log: an empty page says there is nothing more yet.
                let bound = until == .noEnd ? "" : "&until=\(until.rfc3339)"
                let next = "http://127.0.0.1:\(port)\(path)?since=\(since.rfc3339)\(bound)&limit=\(limit)&after=\(end)"
                response = json(.ok, list, headers: [HTTPField.Name("Link")!: "<http://127.0.0.1:\(port)\(path)?self=1>; rel=\"self\", <\(next)>; rel=\"next\""])
            case .pageNumber:
                response = json(.ok, #"{"items":\#(list)}"#)
            case .offset:
                response = json(.ok, #"{"results":{"list":\#(list),"total":\#(matching.count)}}"#)
            case .recordTime:
                response = json(.ok, #"{"logs":\#(list)}"#)
            }
            s.previous = response
            return response
        }
    }
}
