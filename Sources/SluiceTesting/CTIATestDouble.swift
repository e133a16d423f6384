import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import SluiceCore
import Synchronization

/// A loopback Cisco Threat Response pair, as shared/docs/protocols.md section D documents it:
/// the IROH token endpoint (client credentials over HTTP Basic, 600-second tokens) and CTIA's
/// incident routes (`POST /ctia/incident` enforcing CTIM's required fields and vocabularies,
/// refusing caller-set ids with 403; `GET /ctia/incident/external_id/{id}`). Faults on request:
/// 500s, 429 with `Retry-After`, tokens that expire at once.
public final class CTIATestDouble: Sendable {
    public enum Fault: Sendable {
        case serverError
        case tooManyRequests(retryAfter: String?)
    }

    public struct Stats: Sendable {
        public var tokenRequests = 0
        public var creates = 0
        public var lookups = 0
        public var status401 = 0
        public var status429 = 0
        public var status500 = 0
        public var status400 = 0
    }

    struct State {
        var incidents: [JSONValue] = []
        var tokens: [String: Date] = [:]
        var createFaults: [Fault] = []
        var stats = Stats()
        var counter = 0
    }

    public let clientID: String
    public let clientSecret: String
    public let tokenTTL: Int
    /// Whether the token endpoint also takes `client_id`/`client_secret` in the form body (IROH
    /// documents HTTP Basic only, so by default a form-only request is refused).
    public let acceptsFormCredentials: Bool
    private let state = Mutex(State())

    public init(
        clientID: String = "ctr-client-id", clientSecret: String = "ctr-client-password-value", tokenTTL: Int = 600,
        acceptsFormCredentials: Bool = false
    ) {
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.tokenTTL = tokenTTL
        self.acceptsFormCredentials = acceptsFormCredentials
    }

    /// The incidents stored, in creation order.
    public var incidents: [JSONValue] { state.withLock { $0.incidents } }
    public var stats: Stats { state.withLock { $0.stats } }

    /// Answers the next creates with these faults, in order.
    public func injectCreateFaults(_ faults: [Fault]) {
        state.withLock { $0.createFaults += faults }
    }

    /// Makes every token issued so far invalid, as if each had expired.
    public func expireTokens() {
        state.withLock { $0.tokens.removeAll() }
    }

    /// Stores an incident as if someone had created it earlier (for lookups to find).
    public func seed(externalID: String, title: String) {
        state.withLock { s in
            s.counter += 1
            s.incidents.append(
                .object([
                    JSONMember("type", .string("incident")), JSONMember("id", .string(Self.incidentID(s.counter))), JSONMember("title", .string(title)),
                    JSONMember("external_ids", .array([.string(externalID)])), JSONMember("status", .string("New")),
                    JSONMember("confidence", .string("High")),
                ])
            )
        }
    }

    static func incidentID(_ n: Int) -> String {
        "https://private.intel.amp.cisco.com:443/ctia/incident/incident-\(String(format: "%08d", n))-0000-4000-8000-000000000000"
    }

    public func withServer<Value: Sendable>(_ body: @Sendable (String) async throws -> Value) async throws -> Value {
        let router = Router()
        router.post("/iroh/oauth2/token") { request, _ in self.token(request, body: try await request.body.collect(upTo: 1 << 16)) }
        router.get("/ctia/incident/external_id/{id}") { request, context in
            self.lookup(request, externalID: context.parameters.get("id") ?? "")
        }
        router.post("/ctia/incident") { request, _ in self.create(request, body: try await request.body.collect(upTo: 1 << 20)) }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        return try await app.test(.live) { client in
            guard let port = client.port else { throw HTTPError(.internalServerError, message: "the test double has no port") }
            return try await body("http://127.0.0.1:\(port)")
        }
    }

    private func json(_ status: HTTPResponse.Status, _ value: JSONValue, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: value.serialized())))
    }

    private func error(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) -> Response {
        json(status, .object([JSONMember("error", .string(message))]), headers: headers)
    }

    private func token(_ request: Request, body: ByteBuffer) -> Response {
        let expected = "Basic " + Data("\(clientID):\(clientSecret)".utf8).base64EncodedString()
        let form = String(buffer: body)
        let fields = Set(form.split(separator: "&").map(String.init))
        let formCredentials = acceptsFormCredentials
            && fields.contains("client_id=\(clientID)") && fields.contains("client_secret=\(clientSecret)")
        return state.withLock { s in
            s.stats.tokenRequests += 1
            guard request.headers[.authorization] == expected || formCredentials else {
                s.stats.status401 += 1
                return error(.unauthorized, "invalid_client")
            }
            guard request.headers[.contentType]?.hasPrefix("application/x-www-form-urlencoded") == true,
                  fields.contains("grant_type=client_credentials")
            else {
                s.stats.status400 += 1
                return error(.badRequest, "unsupported_grant_type")
            }
            s.counter += 1
            let token = "eyJhbGciOi.iroh-\(s.counter).sig"
            s.tokens[token] = Date().addingTimeInterval(TimeInterval(tokenTTL))
            return json(.ok, .object([
                JSONMember("access_token", .string(token)), JSONMember("token_type", .string("bearer")),
                JSONMember("expires_in", .number(String(tokenTTL))), JSONMember("scope", .string("private-intel casebook")),
            ]))
        }
    }

    /// Nil when the bearer token is valid; the 401 otherwise.
    private func unauthorized(_ request: Request, _ s: inout State) -> Response? {
        let bearer = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        guard let bearer, let expiry = s.tokens[bearer], expiry > Date() else {
            s.stats.status401 += 1
            return error(.unauthorized, "invalid or expired token")
        }
        return nil
    }

    private func lookup(_ request: Request, externalID: String) -> Response {
        let id = externalID.removingPercentEncoding ?? externalID
        return state.withLock { s in
            s.stats.lookups += 1
            if let refused = unauthorized(request, &s) { return refused }
            let found = s.incidents.filter { ($0["external_ids"]?.arrayValue ?? []).contains(.string(id)) }
            return json(.ok, .array(found))
        }
    }

    private func create(_ request: Request, body: ByteBuffer) -> Response {
        state.withLock { s in
            s.stats.creates += 1
            if let refused = unauthorized(request, &s) { return refused }
            if !s.createFaults.isEmpty {
                switch s.createFaults.removeFirst() {
                case .serverError:
                    s.stats.status500 += 1
                    return error(.internalServerError, "injected server error")
                case .tooManyRequests(let retryAfter):
                    s.stats.status429 += 1
                    var headers: HTTPFields = [:]
                    if let retryAfter { headers[.retryAfter] = retryAfter }
                    return error(.tooManyRequests, "Too Many Requests", headers: headers)
                }
            }
            guard let incident = try? JSONParser.parse(Array(buffer: body)), let members = incident.objectMembers else {
                s.stats.status400 += 1
                return error(.badRequest, "the body is not a JSON object")
            }
            if incident["id"] != nil {
                return error(.forbidden, "Normal users shouldn't be allowed to set the ids during creation")
            }
            var problems: [String] = []
            if !["High", "Medium", "Low", "Info", "None", "Unknown"].contains(incident["confidence"]?.stringValue ?? "") { problems.append("confidence") }
            if (incident["status"]?.stringValue ?? "").isEmpty { problems.append("status") }
            if let opened = incident["incident_time"]?["opened"]?.stringValue, Timestamp(rfc3339: opened) != nil {} else { problems.append("incident_time.opened") }
            if let tlp = incident["tlp"]?.stringValue, !["white", "green", "amber", "red"].contains(tlp) { problems.append("tlp") }
            if let title = incident["title"]?.stringValue, title.count > 1024 { problems.append("title") }
            if let description = incident["description"]?.stringValue, description.count > 5000 { problems.append("description") }
            guard problems.isEmpty else {
                s.stats.status400 += 1
                return json(.badRequest, .object([
                    JSONMember("errors", .object(problems.map { JSONMember($0, .string("missing-required-key or invalid")) })),
                    JSONMember("message", .string("The request was invalid")),
                ]))
            }
            s.counter += 1
            var stored = members.filter { $0.key != "type" }
            stored.insert(JSONMember("type", .string("incident")), at: 0)
            stored.insert(JSONMember("id", .string(Self.incidentID(s.counter))), at: 1)
            stored += [
                JSONMember("schema_version", .string("1.1.3")), JSONMember("owner", .string("e173c521-5c58-4f90-a850-3097a89cf6b8")),
                JSONMember("groups", .array([.string("f1631ad1-316b-438c-a055-631a63f8b6f6")])),
                JSONMember("timestamp", .string(Timestamp(microseconds: Int64(Date().timeIntervalSince1970 * 1e6)).rfc3339)),
            ]
            if incident["tlp"] == nil { stored.append(JSONMember("tlp", .string("amber"))) }
            let entity = JSONValue.object(stored)
            s.incidents.append(entity)
            return json(.created, entity)
        }
    }
}
