import Foundation
import Crypto
import SluiceCore
import _CryptoExtras

/// A Google service-account key: the JSON file the Cloud console downloads. Only what the
/// JWT grant needs is kept; the private key never leaves this value.
public struct GoogleServiceAccountKey: Sendable {
    public var clientEmail: String
    /// Where the signed assertion is exchanged for a token (`token_uri`).
    public var tokenURI: String
    /// The account's private key, with its `private_key_id` as the key id.
    let signingKey: JWTSigningKey

    /// Reads a key file's JSON. Errors name the missing or bad field, never its value.
    public init(json: [UInt8]) throws(TokenError) {
        guard let document = try? JSONParser.parse(json), case .object = document else {
            throw TokenError("the service-account key is not a JSON object; download a JSON key for the service account", isTransient: false)
        }
        if let type = document["type"]?.stringValue, type != "service_account" {
            throw TokenError("the key file is of type \"\(type)\"; a service-account key (type service_account) is needed", isTransient: false)
        }
        guard let email = document["client_email"]?.stringValue, !email.isEmpty else {
            throw TokenError("the service-account key has no client_email", isTransient: false)
        }
        guard let pem = document["private_key"]?.stringValue, !pem.isEmpty else {
            throw TokenError("the service-account key has no private_key", isTransient: false)
        }
        do {
            signingKey = try JWTSigningKey(pem: pem, keyID: document["private_key_id"]?.stringValue)
        } catch {
            throw TokenError("the service-account key's private_key is not an RSA key of 2048 bits or more in PEM form", isTransient: false)
        }
        clientEmail = email
        tokenURI = document["token_uri"]?.stringValue ?? "https://oauth2.googleapis.com/token"
    }
}

/// The JWT bearer grant (RFC 7523) with a service-account key, as Google's token endpoint takes
/// it: an RS256 assertion for one scope, valid one hour, exchanged for an access token.
public struct GoogleJWTGrant: Sendable {
    /// The assertion's audience: always Google's token endpoint, whichever `token_uri` it is
    /// sent to (Google's service-account OAuth documentation; google-auth does the same).
    public static let audience = "https://oauth2.googleapis.com/token"
    public static let cloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"
    public static let storageReadWriteScope = "https://www.googleapis.com/auth/devstorage.read_write"

    public var key: GoogleServiceAccountKey
    public var scope: String
    /// The user the service account acts for (`sub`), under Google Workspace domain-wide
    /// delegation (the Admin SDK's Reports API needs an administrator's address); nil: itself.
    public var subject: String?

    public init(key: GoogleServiceAccountKey, scope: String, subject: String? = nil) {
        self.key = key
        self.scope = scope
        self.subject = subject
    }

    /// The signed assertion for `now`.
    public func assertion(now: Date) throws(TokenError) -> String {
        let issued = Int64(now.timeIntervalSince1970)
        var claims: [JSONMember] = [
            JSONMember("iss", .string(key.clientEmail)), JSONMember("scope", .string(scope)), JSONMember("aud", .string(Self.audience)),
            JSONMember("iat", .number(String(issued))), JSONMember("exp", .number(String(issued + 3600))),
        ]
        if let subject { claims.append(JSONMember("sub", .string(subject))) }
        return try key.signingKey.sign(claims)
    }

    public func request(using transport: HTTPTransport, guardrail: OutboundURLGuard? = nil, now: Date = Date()) async throws(TokenError) -> AccessToken {
        let form = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=" + (try assertion(now: now))
        let request = OutboundRequest(
            method: "POST", url: key.tokenURI, headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")],
            body: Array(form.utf8), timeout: .seconds(30)
        )
        let account = key.clientEmail
        return try await TokenEndpoint.exchange(request, using: transport, guardrail: guardrail, defaultLifetime: 3599) { status, reason in
            // Google explains itself here ("Invalid JWT Signature.", clock skew).
            "refused the service account \(account) (HTTP \(status): \(reason ?? "no reason given")); check the key file and the machine's clock"
        }
    }
}
