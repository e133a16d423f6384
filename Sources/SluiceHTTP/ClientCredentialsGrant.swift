import Foundation
import SluiceCore

/// The client-credentials grant (RFC 6749 §4.4).
public struct ClientCredentialsGrant: Sendable {
    /// Where the client's credentials go.
    public enum Authentication: String, Sendable {
        /// HTTP Basic (RFC 6749 §2.3.1's recommended form; Code42 and Cisco IROH use it).
        case basic
        /// `client_id` and `client_secret` in the form body.
        case form
        /// HTTP Basic and an empty body: no grant type, which the endpoint implies. Code42's
        /// `POST /v1/oauth` as its official SDK calls it.
        case basicWithoutBody
        /// No secret: a JWT signed with the client's private key (`signingKey`), valid five
        /// minutes, as the client's assertion (RFC 7523 §2.2; Okta's service apps).
        case privateKeyJWT = "private_key_jwt"
    }

    public var tokenURL: String
    public var clientID: String
    public var clientSecret: String
    public var authentication: Authentication
    public var scope: String?
    /// The key of `.privateKeyJWT`.
    public var signingKey: JWTSigningKey?

    public init(tokenURL: String, clientID: String, clientSecret: String, authentication: Authentication = .basic, scope: String? = nil) {
        self.tokenURL = tokenURL
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.authentication = authentication
        self.scope = scope
    }

    /// Client credentials proven by a JWT signed with `key` instead of a secret.
    public init(tokenURL: String, clientID: String, signingKey key: JWTSigningKey, scope: String?) {
        self.init(tokenURL: tokenURL, clientID: clientID, clientSecret: "", authentication: .privateKeyJWT, scope: scope)
        signingKey = key
    }

    /// The client assertion for `now`: issued by and about the client, for the token endpoint.
    public func clientAssertion(now: Date = Date()) throws(TokenError) -> String {
        guard let signingKey else { throw TokenError("private_key_jwt needs the client's private key", isTransient: false) }
        let issued = Int64(now.timeIntervalSince1970)
        return try signingKey.sign([
            JSONMember("iss", .string(clientID)), JSONMember("sub", .string(clientID)), JSONMember("aud", .string(tokenURL)),
            JSONMember("iat", .number(String(issued))), JSONMember("exp", .number(String(issued + 300))),
            JSONMember("jti", .string(UUID().uuidString)),
        ])
    }

    public func request(using transport: HTTPTransport) async throws(TokenError) -> AccessToken {
        var headers = [("Accept", "application/json")]
        var form = "grant_type=client_credentials"
        switch authentication {
        case .basic, .basicWithoutBody:
            let credentials = Data("\(clientID):\(clientSecret)".utf8).base64EncodedString()
            headers.append(("Authorization", "Basic \(credentials)"))
        case .form:
            form += "&client_id=\(HTTPTransport.percentEncoded(clientID))&client_secret=\(HTTPTransport.percentEncoded(clientSecret))"
        case .privateKeyJWT:
            form += "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=" + (try clientAssertion())
        }
        if let scope { form += "&scope=\(HTTPTransport.percentEncoded(scope))" }
        var body: [UInt8]? = nil
        if authentication != .basicWithoutBody {
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
            body = Array(form.utf8)
        }
        let check = authentication == .privateKeyJWT ? "client_id and the private key (and the app's public key)" : "client_id and client_secret"
        return try await TokenEndpoint.exchange(
            OutboundRequest(method: "POST", url: tokenURL, headers: headers, body: body, timeout: .seconds(30)), using: transport, defaultLifetime: 300
        ) { status, reason in
            "refused the client credentials (HTTP \(status)\(reason.map { ": \($0.prefix(200))" } ?? "")); check \(check)"
        }
    }
}

/// A token endpoint's answer to a grant (RFC 6749 §5): the one exchange every grant here makes.
enum TokenEndpoint {
    /// Sends `request` (after `guardrail`'s check) and reads the access token. A refusal (400,
    /// 401, 403) is final and worded by `refused` (given the status and the server's
    /// `error_description` or `error`, which name no secret); anything else is transient.
    static func exchange(
        _ request: OutboundRequest, using transport: HTTPTransport, guardrail: OutboundURLGuard? = nil, defaultLifetime seconds: Int,
        refused: (_ status: Int, _ reason: String?) -> String
    ) async throws(TokenError) -> AccessToken {
        let target = HTTPTransport.redacted(request.url)
        let response: OutboundResponse
        do {
            try guardrail?.check(request.url)
            response = try await transport.send(request)
        } catch {
            // A URL the SSRF guard refuses stays refused: no retry.
            throw TokenError("the token request failed: \(error.message)", isTransient: error.code != .forbidden && error.code != .invalidURL)
        }
        let json = try? JSONParser.parse(response.body)
        switch response.status {
        case 200..<300:
            break
        case 400, 401, 403:
            let reason = json?["error_description"]?.stringValue ?? json?["error"]?.stringValue
            throw TokenError("the token endpoint \(target) \(refused(response.status, reason))", isTransient: false)
        default:
            throw TokenError("the token endpoint \(target) answered HTTP \(response.status)", isTransient: true)
        }
        guard let value = json?["access_token"]?.stringValue, !value.isEmpty else {
            throw TokenError("the token endpoint \(target) answered without an access_token", isTransient: true)
        }
        let lifetime = json?["expires_in"]?.textValue.flatMap { Int($0) } ?? seconds
        return AccessToken(value: value, expiresIn: .seconds(max(1, lifetime)))
    }
}
