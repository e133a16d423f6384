import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SluiceCore
import Synchronization

/// Loopback receivers for the push destinations, following shared/docs/protocols.md: the
/// Chronicle webhook feed (section C.1: NDJSON up to 1 MB, key and secret in headers, one bad
/// line refuses the whole request with Google's error envelope) and Splunk HEC (section E:
/// concatenated envelopes, `Splunk` auth with HEC codes, `invalid-event-number` on a bad event
/// with the events before it kept, channels and indexer acknowledgement); with a
/// ``GoogleTestAccount``, Google's token endpoint, the Chronicle import API and GCS uploads
/// (SinkTestDouble+Google.swift). Scripted faults come first: 500s, 429 storms with
/// `Retry-After`, 401, 413, hanging answers.
public final class SinkTestDouble: Sendable {
    public enum Fault: Sendable {
        case status(Int, retryAfter: String? = nil)
        /// Answer only after this long (longer than the sender's timeout).
        case hang(Duration)
    }

    public struct Received: Sendable {
        /// Each event as the sink parsed it out of the body: the Chronicle line, or HEC's `event` value re-serialized.
        public var events: [String] = []
        public var requests = 0
        public var statuses: [Int: Int] = [:]
        /// Credentials found in a query string (they belong in headers).
        public var credentialsInQuery = 0
        public var maxBodyBytes = 0
        /// HEC envelopes as received, for field checks.
        public var envelopes: [JSONValue] = []
        /// Chronicle import entries as received (base64 `data` included), and the log type of each.
        public var importEntries: [JSONValue] = []
        public var importLogTypes: [String] = []
        /// Import requests accepted.
        public var importRequests = 0
        /// Google tokens issued, and the scope each assertion asked for.
        public var tokensIssued = 0
        public var tokenScopes: [String] = []
        /// Requests refused for a missing, unknown or expired bearer token.
        public var bearerRefusals = 0
        /// GCS objects by name, and uploads refused because the object existed (`ifGenerationMatch=0`).
        public var objects: [String: [UInt8]] = [:]
        public var preconditionFailures = 0
        /// Requests to the generic HTTPS receiver, by the `X-Team` header they carried.
        public var teamHeaders: [String] = []
        /// Messages posted to the incoming-webhook path (`/services/hooks/chat`): their `text`.
        public var chatMessages: [String] = []
    }

    struct State {
        var received = Received()
        var faults: [Fault] = []
        var rejectAll: Int?
        var poisonMarker: String?
        var nextAck = 0
        var pendingAcks: [Int: (events: [String], polls: Int)] = [:]
        var tokens: [String: ContinuousClock.Instant] = [:]
    }

    public let apiKey: String
    public let feedSecret: String
    public let hecToken: String
    public let maxBodyBytes: Int
    /// HEC requires a channel and answers ackIds; acks turn true after this many polls.
    public let hecAcknowledgement: Bool
    public let acknowledgeAfterPolls: Int
    let state = Mutex(State())
    /// The service account Google's token endpoint knows (section F.1); nil serves no token endpoint.
    public let google: GoogleTestAccount?

    public init(
        apiKey: String = "chronicle-api-key-123", feedSecret: String = "chronicle-feed-secret-456", hecToken: String = "hec-token-789",
        poisonMarker: String? = "POISON", maxBodyBytes: Int = 1_000_000, hecAcknowledgement: Bool = false, acknowledgeAfterPolls: Int = 1,
        google: GoogleTestAccount? = nil
    ) {
        self.google = google
        self.apiKey = apiKey
        self.feedSecret = feedSecret
        self.hecToken = hecToken
        state.withLock { $0.poisonMarker = poisonMarker }
        self.maxBodyBytes = maxBodyBytes
        self.hecAcknowledgement = hecAcknowledgement
        self.acknowledgeAfterPolls = acknowledgeAfterPolls
    }

    public var received: Received { state.withLock { $0.received } }

    public func inject(_ faults: [Fault]) { state.withLock { $0.faults += faults } }

    /// Events containing this text are refused (400); nil refuses none.
    public func setPoisonMarker(_ marker: String?) { state.withLock { $0.poisonMarker = marker } }

    func isPoisoned(_ text: String) -> Bool { state.withLock { $0.poisonMarker }.map { text.contains($0) } ?? false }

    /// Every request answers `status` until cleared with nil (a destination that is down).
    public func rejectAll(with status: Int?) { state.withLock { $0.rejectAll = status } }

    public func chronicleURL(base: String) -> String {
        "\(base)/v1alpha/projects/123456789/locations/us/instances/3b7a442e-0000-4000-8000-000000000001/feeds/b2a4b2c1-0000-4000-8000-000000000002:importPushLogs"
    }

    // MARK: Serving

    public func withServer<Value: Sendable>(_ body: @Sendable (String) async throws -> Value) async throws -> Value {
        let router = Router()
        router.post("**") { request, _ in try await self.handle(request) }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        return try await app.test(.live) { client in
            guard let port = client.port else { throw HTTPError(.internalServerError, message: "the test double has no port") }
            return try await body("http://127.0.0.1:\(port)")
        }
    }

    func handle(_ request: Request) async throws -> Response {
        let path = request.uri.path
        let fault: Fault? = state.withLock { s in
            s.received.requests += 1
            if let status = s.rejectAll { return .status(status) }
            return s.faults.isEmpty ? nil : s.faults.removeFirst()
        }
        switch fault {
        case .status(let code, let retryAfter)?:
            var headers: HTTPFields = [:]
            if let retryAfter { headers[.retryAfter] = retryAfter }
            return answer(code, "{\"error\":{\"code\":\(code),\"message\":\"scripted fault\",\"status\":\"UNAVAILABLE\"}}", headers: headers)
        case .hang(let duration)?:
            try await Task.sleep(for: duration)
        case nil:
            break
        }
        let body = try await request.body.collect(upTo: 64 << 20)
        let bytes = Array(body.readableBytesView)
        state.withLock { $0.received.maxBodyBytes = max($0.received.maxBodyBytes, bytes.count) }
        if path.hasSuffix(":importPushLogs") { return chronicle(request, bytes) }
        if path == "/token" { return googleToken(bytes) }
        if path.hasSuffix("/logs:import") { return chronicleImport(request, bytes) }
        if path.hasPrefix("/upload/storage/v1/b/") { return gcsUpload(request, bytes) }
        if path == "/oauth/token" { return clientCredentialsToken(request, bytes) }
        if path == "/ingest" { return httpsIngest(request, bytes) }
        if path == "/services/hooks/chat" { return chatMessage(bytes) }
        if path == "/services/collector/event" || path == "/services/collector" { return hecEvent(request, bytes) }
        if path == "/services/collector/ack" { return hecAck(request, bytes) }
        return answer(404, "{\"error\":{\"code\":404,\"message\":\"no such path \(path)\",\"status\":\"NOT_FOUND\"}}")
    }

    func answer(_ status: Int, _ text: String, headers: HTTPFields = [:]) -> Response {
        state.withLock { $0.received.statuses[status, default: 0] += 1 }
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: .init(code: status), headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    func googleError(_ status: Int, _ code: String, _ message: String) -> Response {
        answer(status, "{\"error\":{\"code\":\(status),\"message\":\(JSONValue.quoted(message)),\"status\":\"\(code)\"}}")
    }

    // MARK: Chronicle webhook feed

    func chronicle(_ request: Request, _ bytes: [UInt8]) -> Response {
        let query = request.uri.queryParameters
        if query["key"] != nil || query["secret"] != nil { state.withLock { $0.received.credentialsInQuery += 1 } }
        guard request.headers[HTTPField.Name("X-goog-api-key")!] == apiKey else {
            return googleError(401, "UNAUTHENTICATED", "API key not valid. Please pass a valid API key.")
        }
        guard request.headers[HTTPField.Name("X-Webhook-Access-Key")!] == feedSecret else {
            return googleError(401, "UNAUTHENTICATED", "unauthorized")
        }
        guard bytes.count <= maxBodyBytes else {
            return googleError(413, "INVALID_ARGUMENT", "request of \(bytes.count) bytes exceeds the limit")
        }
        guard String(validating: bytes, as: UTF8.self) != nil else {
            return googleError(400, "INVALID_ARGUMENT", "log entries must be valid UTF-8")
        }
        var lines: [String] = []
        for line in bytes.split(separator: 0x0A) where !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) {
            guard (try? JSONParser.parse(line)) != nil else {
                return googleError(400, "INVALID_ARGUMENT", "a line is not a JSON object")
            }
            let text = String(decoding: line, as: UTF8.self)
            if isPoisoned(text) { return googleError(400, "INVALID_ARGUMENT", "invalid log entry") }
            lines.append(text)
        }
        state.withLock { $0.received.events += lines }
        return answer(200, "{}")
    }

    // MARK: Splunk HEC

    func hecCode(_ status: Int, _ code: Int, _ text: String, extra: String = "") -> Response {
        answer(status, "{\"text\":\"\(text)\",\"code\":\(code)\(extra)}")
    }

    func hecAuthorized(_ request: Request) -> Response? {
        guard let header = request.headers[.authorization] else { return hecCode(401, 2, "Token is required") }
        guard header.hasPrefix("Splunk ") else { return hecCode(401, 3, "Invalid authorization") }
        guard header.dropFirst(7) == hecToken else { return hecCode(403, 4, "Invalid token") }
        return nil
    }

    func hecEvent(_ request: Request, _ bytes: [UInt8]) -> Response {
        if let refusal = hecAuthorized(request) { return refusal }
        let channel = request.headers[HTTPField.Name("X-Splunk-Request-Channel")!] ?? request.uri.queryParameters["channel"].map(String.init)
        if hecAcknowledgement && channel == nil { return hecCode(400, 10, "Data channel is missing") }
        guard let objects = Self.concatenatedObjects(bytes), !objects.isEmpty else { return hecCode(400, 6, "Invalid data format") }
        var accepted: [String] = []
        var envelopes: [JSONValue] = []
        for (i, object) in objects.enumerated() {
            guard let envelope = try? JSONParser.parse(object), case .object = envelope else {
                return finishHEC(accepted, envelopes, refusal: hecCode(400, 6, "Invalid data format", extra: ",\"invalid-event-number\":\(i)"))
            }
            guard let event = envelope["event"] else {
                return finishHEC(accepted, envelopes, refusal: hecCode(400, 12, "Event field is required", extra: ",\"invalid-event-number\":\(i)"))
            }
            if case .string("") = event {
                return finishHEC(accepted, envelopes, refusal: hecCode(400, 13, "Event field cannot be blank", extra: ",\"invalid-event-number\":\(i)"))
            }
            var text: [UInt8] = []
            event.write(into: &text, sortedKeys: false)
            let rendered = String(decoding: text, as: UTF8.self)
            if isPoisoned(rendered) {
                return finishHEC(accepted, envelopes, refusal: hecCode(400, 6, "Invalid data format", extra: ",\"invalid-event-number\":\(i)"))
            }
            accepted.append(rendered)
            envelopes.append(envelope)
        }
        guard hecAcknowledgement else { return finishHEC(accepted, envelopes, refusal: nil) }
        // With acknowledgement the events count only once HEC says they are indexed.
        let ackID = state.withLock { s in
            let id = s.nextAck
            s.nextAck += 1
            s.pendingAcks[id] = (accepted, 0)
            s.received.envelopes += envelopes
            return id
        }
        return answer(200, "{\"text\":\"Success\",\"code\":0,\"ackId\":\(ackID)}")
    }

    /// Events before a refused one are kept, as HEC does.
    func finishHEC(_ accepted: [String], _ envelopes: [JSONValue], refusal: Response?) -> Response {
        state.withLock { s in
            s.received.events += accepted
            s.received.envelopes += envelopes
        }
        return refusal ?? answer(200, "{\"text\":\"Success\",\"code\":0}")
    }

    func hecAck(_ request: Request, _ bytes: [UInt8]) -> Response {
        if let refusal = hecAuthorized(request) { return refusal }
        guard hecAcknowledgement else { return hecCode(400, 14, "ACK is disabled") }
        guard let json = try? JSONParser.parse(bytes), case .array(let ids)? = json["acks"] else { return hecCode(400, 6, "Invalid data format") }
        let members: [JSONMember] = state.withLock { s in
            ids.compactMap { item -> JSONMember? in
                guard case .number(let n) = item, let id = Int(n) else { return nil }
                guard var pending = s.pendingAcks[id] else { return JSONMember(n, .bool(false)) }
                pending.polls += 1
                if pending.polls >= acknowledgeAfterPolls {
                    // Reported once, then forgotten, as HEC does.
                    s.received.events += pending.events
                    s.pendingAcks[id] = nil
                    return JSONMember(n, .bool(true))
                }
                s.pendingAcks[id] = pending
                return JSONMember(n, .bool(false))
            }
        }
        var out: [UInt8] = []
        JSONValue.object([JSONMember("acks", .object(members))]).write(into: &out, sortedKeys: false)
        return answer(200, String(decoding: out, as: UTF8.self))
    }

    /// Splits concatenated JSON objects (whitespace between them allowed); nil when the bytes are not that.
    static func concatenatedObjects(_ bytes: [UInt8]) -> [ArraySlice<UInt8>]? {
        var out: [ArraySlice<UInt8>] = []
        var depth = 0
        var inString = false
        var escaped = false
        var start = -1
        for (i, b) in bytes.enumerated() {
            if inString {
                if escaped { escaped = false } else if b == 0x5C { escaped = true } else if b == 0x22 { inString = false }
                continue
            }
            switch b {
            case 0x22: inString = true
            case 0x7B:
                if depth == 0 { start = i }
                depth += 1
            case 0x7D:
                depth -= 1
                if depth < 0 { return nil }
                if depth == 0 { out.append(bytes[start...i]) }
            case 0x20, 0x0A, 0x0D, 0x09: break
            default: if depth == 0 { return nil }
            }
        }
        return depth == 0 && !inString ? out : nil
    }
}
