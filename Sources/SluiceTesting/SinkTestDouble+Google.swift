import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import SluiceCore
import Synchronization
import _CryptoExtras

/// A service account for the Google parts of ``SinkTestDouble``: a fresh RSA key and the JSON
/// key file that names it, with `token_uri` pointing at the double.
public struct GoogleTestAccount: Sendable {
    public let clientEmail = "sluice-test@sluice-test-project.iam.gserviceaccount.com"
    public let privateKeyID = "0123456789abcdef0123456789abcdef01234567"
    let privateKey: _RSA.Signing.PrivateKey
    /// Seconds each issued token lasts.
    public let tokenLifetime: Int

    public init(tokenLifetime: Int = 3599) throws {
        privateKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        self.tokenLifetime = tokenLifetime
    }

    /// The key file as the Cloud console writes it (PKCS#8 PEM).
    public func keyFile(tokenURI: String) -> String {
        let members: [JSONMember] = [
            JSONMember("type", .string("service_account")), JSONMember("project_id", .string("sluice-test-project")),
            JSONMember("private_key_id", .string(privateKeyID)), JSONMember("private_key", .string(privateKey.pkcs8PEMRepresentation)),
            JSONMember("client_email", .string(clientEmail)), JSONMember("client_id", .string("100000000000000000001")),
            JSONMember("token_uri", .string(tokenURI)),
        ]
        var out: [UInt8] = []
        JSONValue.object(members).write(into: &out, sortedKeys: false)
        return String(decoding: out, as: UTF8.self)
    }
}

extension SinkTestDouble {
    // MARK: Google token endpoint (protocols.md F.1)

    func tokenError(_ description: String) -> Response {
        answer(400, "{\"error\":\"invalid_grant\",\"error_description\":\(JSONValue.quoted(description))}")
    }

    func googleToken(_ bytes: [UInt8]) -> Response {
        guard let account = google else { return answer(404, "{\"error\":\"not_found\"}") }
        var form: [String: String] = [:]
        for pair in String(decoding: bytes, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
            if parts.count == 2 { form[parts[0]] = parts[1] }
        }
        guard form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer" else { return answer(400, "{\"error\":\"unsupported_grant_type\"}") }
        let pieces = (form["assertion"] ?? "").split(separator: ".", omittingEmptySubsequences: false)
        guard pieces.count == 3, let header = Self.jsonSegment(pieces[0]), let claims = Self.jsonSegment(pieces[1]),
              let signature = Self.base64URLDecoded(pieces[2])
        else { return tokenError("Invalid JWT: Token must be a short-lived token and in a reasonable timeframe") }
        guard header["alg"]?.stringValue == "RS256", header["kid"]?.stringValue == account.privateKeyID else { return tokenError("Invalid JWT header") }
        let signed = Array("\(pieces[0]).\(pieces[1])".utf8)
        guard account.privateKey.publicKey.isValidSignature(
            _RSA.Signing.RSASignature(rawRepresentation: signature), for: SHA256.hash(data: signed), padding: .insecurePKCS1v1_5
        ) else { return tokenError("Invalid JWT Signature.") }
        guard claims["iss"]?.stringValue == account.clientEmail else { return tokenError("Invalid issuer") }
        guard let audience = claims["aud"]?.stringValue, audience.hasSuffix("/token") else { return tokenError("Invalid JWT audience") }
        guard let scope = claims["scope"]?.stringValue, !scope.isEmpty else { return tokenError("Invalid scope: no scope") }
        let now = Int64(Date().timeIntervalSince1970)
        guard let iat = claims["iat"]?.textValue.flatMap({ Int64($0) }), let exp = claims["exp"]?.textValue.flatMap({ Int64($0) }),
              abs(iat - now) <= 300, exp > iat, exp - iat <= 3600
        else { return tokenError("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values.") }
        let token = "ya29.test-\(UUID().uuidString)"
        state.withLock { s in
            s.tokens[token] = ContinuousClock.now + .seconds(account.tokenLifetime)
            s.received.tokensIssued += 1
            s.received.tokenScopes.append(scope)
        }
        return answer(200, "{\"access_token\":\"\(token)\",\"expires_in\":\(account.tokenLifetime),\"token_type\":\"Bearer\"}")
    }

    /// Forgets every issued token (Google or client credentials), as if they were revoked: the next request with one gets 401.
    public func revokeTokens() { state.withLock { $0.tokens = [:] } }

    /// A 401 in Google's envelope unless the request carries a live token.
    func bearerRefusal(_ request: Request) -> Response? {
        let header = request.headers[.authorization] ?? ""
        let live = state.withLock { s -> Bool in
            guard header.hasPrefix("Bearer "), let expiry = s.tokens[String(header.dropFirst(7))], ContinuousClock.now < expiry else {
                s.received.bearerRefusals += 1
                return false
            }
            return true
        }
        return live ? nil : googleError(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token.")
    }

    // MARK: Chronicle logTypes.logs.import (protocols.md C.2)

    func chronicleImport(_ request: Request, _ bytes: [UInt8]) -> Response {
        if let refusal = bearerRefusal(request) { return refusal }
        guard bytes.count <= 4_000_000 else { return googleError(400, "INVALID_ARGUMENT", "Request payload size exceeds the limit: 4000000 bytes.") }
        let parts = request.uri.path.split(separator: "/")
        guard let i = parts.firstIndex(of: "logTypes"), i + 1 < parts.count else { return googleError(404, "NOT_FOUND", "no log type in the path") }
        let logType = String(parts[i + 1])
        guard let body = try? JSONParser.parse(bytes), case .array(let logs)? = body["inline_source"]?["logs"] ?? body["inlineSource"]?["logs"], !logs.isEmpty else {
            return googleError(400, "INVALID_ARGUMENT", "inline_source.logs is required")
        }
        for (n, log) in logs.enumerated() {
            guard let data = log["data"]?.stringValue, let raw = Data(base64Encoded: data) else {
                return googleError(400, "INVALID_ARGUMENT", "logs[\(n)].data is not base64")
            }
            guard let entry = log["log_entry_time"]?.stringValue.flatMap({ Timestamp(rfc3339: $0) }),
                  let collected = log["collection_time"]?.stringValue.flatMap({ Timestamp(rfc3339: $0) }), entry <= collected
            else { return googleError(400, "INVALID_ARGUMENT", "logs[\(n)]: collection_time must be a timestamp at or after log_entry_time") }
            if isPoisoned(String(decoding: raw, as: UTF8.self)) { return googleError(400, "INVALID_ARGUMENT", "logs[\(n)] could not be parsed") }
        }
        state.withLock { s in
            s.received.importRequests += 1
            for log in logs {
                let raw = Data(base64Encoded: log["data"]?.stringValue ?? "") ?? Data()
                s.received.events.append(String(decoding: raw, as: UTF8.self))
                s.received.importEntries.append(log)
                s.received.importLogTypes.append(logType)
            }
        }
        return answer(200, "{\"operation\":\"projects/123456789/locations/us/operations/operation-\(UUID().uuidString)\"}")
    }

    // MARK: GCS JSON API media upload (protocols.md F.2)

    func gcsUpload(_ request: Request, _ bytes: [UInt8]) -> Response {
        if let refusal = bearerRefusal(request) { return refusal }
        let query = request.uri.queryParameters
        guard query["uploadType"] == "media", let name = query["name"].map(String.init)?.removingPercentEncoding, !name.isEmpty else {
            return googleError(400, "INVALID_ARGUMENT", "uploadType=media and name are required")
        }
        let createOnly = query["ifGenerationMatch"] == "0"
        let stored = state.withLock { s -> Bool in
            if createOnly && s.received.objects[name] != nil {
                s.received.preconditionFailures += 1
                return false
            }
            s.received.objects[name] = bytes
            return true
        }
        guard stored else { return googleError(412, "FAILED_PRECONDITION", "At least one of the pre-conditions you specified did not hold.") }
        return answer(200, "{\"kind\":\"storage#object\",\"name\":\(JSONValue.quoted(name)),\"generation\":\"1735689600123456\",\"size\":\"\(bytes.count)\"}")
    }

    static func base64URLDecoded(_ text: Substring) -> [UInt8]? {
        var base64 = String(text.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64).map(Array.init)
    }

    static func jsonSegment(_ text: Substring) -> JSONValue? {
        base64URLDecoded(text).flatMap { try? JSONParser.parse($0) }
    }
}
