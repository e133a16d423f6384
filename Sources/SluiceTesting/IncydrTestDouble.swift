import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import SluiceCore
import Synchronization

/// A loopback Code42 Incydr API that follows shared/docs/protocols.md section A, with the ugly
/// parts on request: short-lived tokens, 429 with and without `Retry-After`, bursts of 500s,
/// `""` or null as the last page token, events inserted late, and the audit search's
/// 10,000-result window.
///
/// Its shapes are the official SDK's (`incydr` 2.12.6; Tests/system/incydr_sdk_double.py checks
/// Sluice against the SDK's own models): the token request has no body; file-event date
/// filters are in milliseconds; audit pages carry no `totalResultCount` (the count is asked of
/// `search-results-count`) and nothing past 10,000; users and cases are paged by number only,
/// cases with `srtDir=asc&srtKey=number`. A request of another shape gets a 400 naming it, and
/// is listed in ``Stats/refused``.
public final class IncydrTestDouble: Sendable {
    public struct FileEvent: Sendable {
        public var id: String
        public var inserted: Timestamp
        public var json: String

        public init(id: String, inserted: Timestamp, json: String) {
            self.id = id
            self.inserted = inserted
            self.json = json
        }
    }

    public struct AuditEntry: Sendable {
        public var timestamp: Timestamp
        public var json: String
    }

    /// A scripted answer for an upcoming data request.
    public enum Fault: Sendable {
        case tooManyRequests(retryAfter: String?)
        case serverError
        /// A 401 as if the token had expired, whatever its real expiry.
        case unauthorized
    }

    public struct Stats: Sendable {
        public var tokenRequests = 0
        public var requestsByPath: [String: Int] = [:]
        public var status401 = 0
        public var status429 = 0
        public var status500 = 0
        /// Requests the SDK would not send, each with why.
        public var refused: [String] = []
    }

    struct State {
        var fileEvents: [FileEvent] = []
        var audit: [AuditEntry] = []
        var users: [String] = []
        var cases: [String] = []
        var tokens: [String: Date] = [:]
        var faults: [Fault] = []
        var failingPaths: Set<String> = []
        var stats = Stats()
        var tokenCounter = 0
    }

    public let clientID: String
    public let clientSecret: String
    /// Seconds an issued token stays valid.
    public let tokenTTL: Int
    /// True: the last file-events page answers `"nextPgToken": ""`; false: `null`.
    public let emptyStringLastToken: Bool
    /// Added before every data answer, so a run lasts long enough to be interrupted.
    public let latency: Duration
    private let state = Mutex(State())

    public init(
        clientID: String = "incydr-client", clientSecret: String = "incydr-secret-value", tokenTTL: Int = 900,
        emptyStringLastToken: Bool = false, latency: Duration = .zero
    ) {
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.tokenTTL = tokenTTL
        self.emptyStringLastToken = emptyStringLastToken
        self.latency = latency
    }

    // MARK: Data

    /// Adds `count` file events inserted from `insertedFrom`, one millisecond apart.
    public func addFileEvents(count: Int, insertedFrom: Timestamp, occurredAt: Timestamp? = nil, prefix: String = "fe") {
        state.withLock { s in
            let base = s.fileEvents.count
            for i in 0..<count {
                let n = base + i
                let inserted = Timestamp(microseconds: insertedFrom.microseconds + Int64(i) * 1_000)
                let id = "0_\(prefix)-\(n)_973435567569502913_986467523038446097_\(n)"
                let occurred = occurredAt ?? inserted
                let json = """
                    {"@timestamp":"\(occurred.rfc3339)","event":{"id":"\(id)","inserted":"\(inserted.rfc3339)","action":"file-downloaded","observer":"Endpoint","shareType":[]},"user":{"email":"user\(n % 7)@example.com","id":"u\(n % 7)","deviceUid":"d\(n % 7)"},"file":{"name":"report-\(n).pdf","directory":"/home/u/","sizeInBytes":\(1000 + n),"hash":{"md5":null,"sha256":"\(String(repeating: "a", count: 56))\(String(format: "%08d", n))"}},"destination":{"category":"Cloud Storage","name":"Dropbox","domains":["dropbox.com"]},"source":{"ip":"203.0.113.\(n % 250)"},"risk":{"score":\(n % 10),"severity":"LOW"}}
                    """
                s.fileEvents.append(FileEvent(id: id, inserted: inserted, json: json))
            }
            s.fileEvents.sort { ($0.inserted, $0.id) < ($1.inserted, $1.id) }
        }
    }

    /// Adds file events exactly as given (their `json` is served byte for byte).
    public func addFileEvents(_ events: [FileEvent]) {
        state.withLock { s in
            s.fileEvents += events
            s.fileEvents.sort { ($0.inserted, $0.id) < ($1.inserted, $1.id) }
        }
    }

    /// Adds `count` audit entries from `from`, `spacing` apart.
    public func addAuditEntries(count: Int, from: Timestamp, spacing: Duration = .milliseconds(10)) {
        let step = Int64(spacing.components.seconds) * 1_000_000 + spacing.components.attoseconds / 1_000_000_000_000
        state.withLock { s in
            let base = s.audit.count
            for i in 0..<count {
                let n = base + i
                let time = Timestamp(microseconds: from.microseconds + Int64(i) * step)
                let json = """
                    {"type$":"audit_log::logged_in/1","actorId":"actor-\(n % 5)","actorName":"admin\(n % 5)@example.com","actorAgent":"py42 1.0","actorIpAddress":"198.51.100.\(n % 250)","timestamp":"\(time.rfc3339)","actorType":"USER","n":\(n)}
                    """
                s.audit.append(AuditEntry(timestamp: time, json: json))
            }
            s.audit.sort { $0.timestamp < $1.timestamp }
        }
    }

    /// Sets the user listing (each user's fields beyond the id derive from `revision`).
    public func setUsers(count: Int, revision: Int = 0, inactive: Set<Int> = []) {
        state.withLock { s in
            s.users = (0..<count).map { i in
                """
                {"legacyUserId":"L\(i)","userId":"user-\(i)","username":"user\(i)@example.com","firstName":"F\(i)","lastName":"L\(i)","notes":"rev \(revision)","active":\(!inactive.contains(i)),"blocked":false,"creationDate":"2022-07-14T16:49:11.166000Z","modificationDate":"2022-07-14T17:05:44.524000Z"}
                """
            }
        }
    }

    /// Sets the case listing; `assignees` overrides the assignee of some cases.
    public func setCases(count: Int, status: [Int: String] = [:], assignees: [Int: String] = [:]) {
        state.withLock { s in
            s.cases = (0..<count).map { i in
                """
                {"number":\(i + 1),"name":"case \(i + 1)","createdAt":"2022-07-01T16:39:51.356082Z","updatedAt":"2022-07-01T17:04:16.454497Z","subject":"9450567711519\(i)","subjectUsername":"subject\(i)@example.com","status":"\(status[i] ?? "OPEN")","assignee":"\(assignees[i] ?? "942564422882759874")","assigneeUsername":"assignee@example.com","lastModifiedByUserUid":"942564422882759874","lastModifiedByUsername":"admin@example.com"}
                """
            }
        }
    }

    /// Queues answers for the next data requests (in order), before any real answer.
    public func inject(_ faults: [Fault]) {
        state.withLock { $0.faults += faults }
    }

    /// Makes every request to `path` answer 500 until cleared.
    public func setFailing(_ path: String, _ failing: Bool) {
        state.withLock { s in
            if failing { s.failingPaths.insert(path) } else { s.failingPaths.remove(path) }
        }
    }

    public var stats: Stats { state.withLock { $0.stats } }

    /// A `collectors:` config section for a collector named `incydr` pointed at this double (on
    /// loopback, so with `allow_private_networks: true`),
    /// its secret read from `INCYDR_SECRET`; `extra` lines (already indented) are appended.
    public func collectorsYAML(baseURL: String, streams: String, extra: [String] = []) -> String {
        ([
            "collectors:",
            "  incydr:",
            "    type: code42_incydr",
            "    base_url: \(baseURL)",
            "    client_id: \(clientID)",
            "    client_secret: \"${env:INCYDR_SECRET}\"",
            "    streams: [\(streams)]",
            // The double listens on loopback.
            "    allow_private_networks: true",
        ] + extra.map { "    " + $0 }).joined(separator: "\n") + "\n"
    }

    // MARK: Serving

    /// Serves the double on 127.0.0.1 (a runtime-chosen port); `body` gets its base URL.
    public func withServer<Value: Sendable>(_ body: @Sendable (String) async throws -> Value) async throws -> Value {
        let router = Router()
        router.post("/v1/oauth") { request, _ in
            let body = try await request.body.collect(upTo: 1 << 16)
            guard body.readableBytes == 0 else { return self.refuse("POST /v1/oauth with a body; the SDK sends none") }
            return self.token(request)
        }
        router.post("/v2/file-events") { request, context in
            try await self.data(request, path: "/v2/file-events") { try self.fileEvents(body: try await request.body.collect(upTo: 1 << 20)) }
        }
        router.post("/v1/audit/search-audit-log") { request, context in
            try await self.data(request, path: "/v1/audit/search-audit-log") { try self.auditSearch(body: try await request.body.collect(upTo: 1 << 20), countOnly: false) }
        }
        router.post("/v1/audit/search-results-count") { request, context in
            try await self.data(request, path: "/v1/audit/search-results-count") { try self.auditSearch(body: try await request.body.collect(upTo: 1 << 20), countOnly: true) }
        }
        router.get("/v1/users") { request, context in
            try await self.data(request, path: "/v1/users") {
                self.listing(\.users, key: "users", page: request.uri.queryParameters["page"], size: request.uri.queryParameters["pageSize"])
            }
        }
        router.get("/v1/cases") { request, context in
            try await self.data(request, path: "/v1/cases") {
                let query = request.uri.queryParameters
                guard query["srtDir"] == "asc", query["srtKey"] == "number" else {
                    return self.refuse("GET /v1/cases without srtDir=asc&srtKey=number, which the SDK always sends")
                }
                return self.listing(\.cases, key: "cases", page: query["pgNum"], size: query["pgSize"])
            }
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        return try await app.test(.live) { client in
            guard let port = client.port else { throw HTTPError(.internalServerError, message: "the test double has no port") }
            return try await body("http://127.0.0.1:\(port)")
        }
    }

    private func json(_ status: HTTPResponse.Status, _ text: String, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// A 400 for a request the SDK would not send, recorded.
    private func refuse(_ why: String) -> Response {
        state.withLock { $0.stats.refused.append(why) }
        return json(.badRequest, #"{"problems":[{"type":"NOT_AS_THE_SDK_SENDS","description":\#(String(decoding: JSONValue.string(why).serialized(), as: UTF8.self))}]}"#)
    }

    private func token(_ request: Request) -> Response {
        let expected = "Basic " + Data("\(clientID):\(clientSecret)".utf8).base64EncodedString()
        return state.withLock { s in
            s.stats.tokenRequests += 1
            guard request.headers[.authorization] == expected else {
                s.stats.status401 += 1
                return json(.unauthorized, #"{"error":"invalid_client"}"#)
            }
            s.tokenCounter += 1
            let token = "eyJ.test-token-\(s.tokenCounter).sig"
            s.tokens[token] = Date().addingTimeInterval(TimeInterval(tokenTTL))
            return json(.ok, #"{"access_token":"\#(token)","token_type":"bearer","expires_in":\#(tokenTTL)}"#)
        }
    }

    private func data(_ request: Request, path: String, _ answer: () async throws -> Response) async throws -> Response {
        let early: Response? = state.withLock { s in
            s.stats.requestsByPath[path, default: 0] += 1
            let bearer = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
            guard let bearer, let expiry = s.tokens[bearer], expiry > Date() else {
                s.stats.status401 += 1
                return json(.unauthorized, #"{"error":"invalid or expired token"}"#)
            }
            if s.failingPaths.contains(path) {
                s.stats.status500 += 1
                return json(.internalServerError, #"{"error":"injected failure"}"#)
            }
            guard !s.faults.isEmpty else { return nil }
            switch s.faults.removeFirst() {
            case .tooManyRequests(let retryAfter):
                s.stats.status429 += 1
                var headers: HTTPFields = [:]
                if let retryAfter { headers[.retryAfter] = retryAfter }
                return json(.tooManyRequests, #"{"error":"rate limited"}"#, headers: headers)
            case .serverError:
                s.stats.status500 += 1
                return json(.internalServerError, #"{"error":"injected server error"}"#)
            case .unauthorized:
                s.stats.status401 += 1
                return json(.unauthorized, #"{"error":"token expired"}"#)
            }
        }
        if let early { return early }
        if latency > .zero { try await Task.sleep(for: latency) }
        return try await answer()
    }

    private func fileEvents(body: ByteBuffer) throws -> Response {
        let query = try JSONParser.parse(Array(body.readableBytesView))
        let size = query["pgSize"]?.textValue.flatMap { Int($0) } ?? 100
        guard (1...10_000).contains(size) else {
            return json(.badRequest, #"{"fileEvents":[],"nextPgToken":null,"problems":[{"type":"INVALID_PAGE_SIZE","description":"pgSize must be 1..10000"}],"totalCount":0}"#)
        }
        var after: Timestamp?
        var through: Timestamp?
        for group in query["groups"]?.arrayValue ?? [] {
            for filter in group["filters"]?.arrayValue ?? [] where filter["term"]?.stringValue == "event.inserted" {
                // As the SDK writes dates: `2022-06-01T00:00:00.000Z`, milliseconds.
                guard let text = filter["value"]?.stringValue, Self.isMilliseconds(text) else {
                    return refuse("an event.inserted filter value not in milliseconds (\(filter["value"]?.textValue ?? "none"))")
                }
                let value = Timestamp(rfc3339: text)
                switch filter["operator"]?.stringValue {
                case "ON_OR_AFTER": after = value
                case "ON_OR_BEFORE": through = value
                default: break
                }
            }
        }
        let matching = state.withLock { s in
            s.fileEvents.filter { e in
                // Incydr filters at millisecond precision.
                let ms = e.inserted.microseconds / 1_000
                return (after.map { ms >= $0.microseconds / 1_000 } ?? true) && (through.map { ms <= $0.microseconds / 1_000 } ?? true)
            }
        }
        let tokenValue = query["pgToken"]
        var start = 0
        var tokenMode = false
        if let tokenValue, !tokenValue.isNull {
            tokenMode = true
            let token = tokenValue.stringValue ?? ""
            if !token.isEmpty {
                guard let index = matching.firstIndex(where: { $0.id == token }) else {
                    return json(.badRequest, #"{"fileEvents":[],"nextPgToken":null,"problems":[{"type":"INVALID_PAGE_TOKEN","description":"Invalid page token"}],"totalCount":0}"#)
                }
                start = index + 1
            }
        } else {
            let pgNum = query["pgNum"]?.textValue.flatMap { Int($0) } ?? 1
            start = (pgNum - 1) * size
        }
        let page = Array(matching.dropFirst(start).prefix(size))
        let more = start + page.count < matching.count
        let next: String
        if tokenMode, more, let last = page.last {
            next = "\"\(last.id)\""
        } else {
            next = tokenMode && emptyStringLastToken ? "\"\"" : "null"
        }
        let items = page.map(\.json).joined(separator: ",")
        return json(.ok, #"{"fileEvents":[\#(items)],"nextPgToken":\#(next),"problems":null,"totalCount":\#(matching.count)}"#)
    }

    /// `2022-06-01T00:00:00.123Z`
    static func isMilliseconds(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 24, bytes[23] == UInt8(ascii: "Z"), bytes[19] == UInt8(ascii: "."), Timestamp(rfc3339: text) != nil else { return false }
        return bytes[20..<23].allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    /// The members of the SDK's `QueryAuditLogRequest`, all of which it sends (null when unused).
    static let auditQueryMembers: Set<String> = [
        "actorIds", "actorIpAddresses", "actorNames", "dateRange", "eventTypes", "page", "pageSize", "resourceIds", "userTypes",
    ]

    private func auditSearch(body: ByteBuffer, countOnly: Bool) throws -> Response {
        let query = try JSONParser.parse(Array(body.readableBytesView))
        let members = Set(query.objectMembers?.map(\.key) ?? [])
        guard members == Self.auditQueryMembers else {
            return refuse("an audit search whose members are not QueryAuditLogRequest's: \(members.sorted())")
        }
        let page = query["page"]?.textValue.flatMap { Int($0) } ?? 0
        let size = query["pageSize"]?.textValue.flatMap { Int($0) } ?? 100
        func seconds(_ key: String) -> Int64? {
            query["dateRange"]?[key]?.textValue.flatMap { Double($0) }.map { Int64(($0 * 1_000_000).rounded()) }
        }
        let start = seconds("startTime")
        let end = seconds("endTime")
        let matching = state.withLock { s in
            s.audit.filter { e in
                (start.map { e.timestamp.microseconds >= $0 } ?? true) && (end.map { e.timestamp.microseconds <= $0 } ?? true)
            }
        }
        if countOnly { return json(.ok, #"{"totalResultCount":\#(matching.count)}"#) }
        let from = page * size
        // Past the 10,000-result window the API answers without `events`.
        if from >= 10_000 {
            return json(.ok, #"{"paginationRangeStartIndex":10000,"paginationRangeEndIndex":10000}"#)
        }
        let count = min(size, 10_000 - from, max(0, matching.count - from))
        let items = matching.dropFirst(from).prefix(count).map(\.json).joined(separator: ",")
        return json(.ok, #"{"events":[\#(items)],"paginationRangeStartIndex":\#(from),"paginationRangeEndIndex":\#(from + count)}"#)
    }

    private func listing(_ keyPath: KeyPath<State, [String]>, key: String, page: Substring?, size: Substring?) -> Response {
        let pageNumber = max(1, page.flatMap { Int($0) } ?? 1)
        let pageSize = max(1, size.flatMap { Int($0) } ?? 100)
        let all = state.withLock { $0[keyPath: keyPath] }
        let items = all.dropFirst((pageNumber - 1) * pageSize).prefix(pageSize).joined(separator: ",")
        return json(.ok, #"{"\#(key)":[\#(items)],"totalCount":\#(all.count)}"#)
    }
}
