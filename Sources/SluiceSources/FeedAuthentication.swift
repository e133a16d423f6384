import Crypto
import Foundation
import SluiceCore

/// How a feed proves a push came from its sender.
public enum FeedAuthentication: Sendable {
    /// A shared secret in `X-Webhook-Access-Key` or `?secret=` (the Chronicle webhook-feed scheme).
    /// Several digests are accepted at once so a secret can be rotated without downtime.
    case sharedSecret([SecretDigest])
    /// Standard Webhooks signatures (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
    case standardWebhooks(StandardWebhooksVerifier)
    /// `Authorization: Bearer <token>`.
    case bearer([SecretDigest])

    public var modeName: String {
        switch self {
        case .sharedSecret: "shared_secret"
        case .standardWebhooks: "standard_webhooks"
        case .bearer: "bearer"
        }
    }
}

/// The credential-bearing parts of a push request.
public struct PushCredentials: Sendable {
    public var accessKeyHeader: String?
    public var apiKeyHeader: String?
    public var authorization: String?
    public var secretParameter: String?
    public var keyParameter: String?
    public var webhookID: String?
    public var webhookTimestamp: String?
    public var webhookSignature: String?

    public init(
        accessKeyHeader: String? = nil, apiKeyHeader: String? = nil, authorization: String? = nil,
        secretParameter: String? = nil, keyParameter: String? = nil,
        webhookID: String? = nil, webhookTimestamp: String? = nil, webhookSignature: String? = nil
    ) {
        self.accessKeyHeader = accessKeyHeader
        self.apiKeyHeader = apiKeyHeader
        self.authorization = authorization
        self.secretParameter = secretParameter
        self.keyParameter = keyParameter
        self.webhookID = webhookID
        self.webhookTimestamp = webhookTimestamp
        self.webhookSignature = webhookSignature
    }
}

/// The result of checking a push's credentials.
public enum AuthenticationOutcome: Sendable, Hashable {
    /// Accepted; `webhookID` is set for signed webhooks and keys their dedupe.
    case accepted(webhookID: String?)
    /// Refused. The reason goes to metrics and debug logs only: every refusal gets the same
    /// response body, so a caller learns nothing about which part was wrong.
    case refused(reason: String)
}

/// Checks push credentials for one feed. All secret comparisons are constant time.
public struct FeedAuthenticator: Sendable {
    /// The instance-wide ingestion key (`X-goog-api-key` / `?key=`), required with shared secrets when set.
    public var ingestionKey: SecretDigest?

    public init(ingestionKey: SecretDigest?) {
        self.ingestionKey = ingestionKey
    }

    public func authenticate(
        _ credentials: PushCredentials,
        with authentication: FeedAuthentication,
        body: [UInt8],
        now: Timestamp
    ) -> AuthenticationOutcome {
        switch authentication {
        case .sharedSecret(let digests):
            guard let secret = credentials.accessKeyHeader ?? credentials.secretParameter else {
                return .refused(reason: "missing_secret")
            }
            // Evaluate both checks before deciding so that timing does not say which one failed.
            let secretOK = matchesAny(digests, secret)
            var keyOK = true
            if let ingestionKey {
                let key = credentials.apiKeyHeader ?? credentials.keyParameter ?? ""
                keyOK = ingestionKey.matches(key)
            }
            if secretOK && keyOK { return .accepted(webhookID: nil) }
            return .refused(reason: secretOK ? "wrong_ingestion_key" : "wrong_secret")
        case .bearer(let digests):
            guard let header = credentials.authorization, header.count > 7,
                  header.prefix(7).lowercased() == "bearer "
            else { return .refused(reason: "missing_bearer") }
            let token = header.dropFirst(7)
            let ok = matchesAny(digests, token)
            return ok ? .accepted(webhookID: nil) : .refused(reason: "wrong_bearer")
        case .standardWebhooks(let verifier):
            switch verifier.verify(credentials, body: body, now: now) {
            case .success(let id): return .accepted(webhookID: id)
            case .failure(let reason): return .refused(reason: reason.rawValue)
            }
        }
    }
}

/// Verifies Standard Webhooks signatures: `v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>`,
/// with the timestamp within a tolerance of now and any of several secrets (for rotation).
public struct StandardWebhooksVerifier: Sendable {
    public enum Failure: String, Error, Sendable {
        case missingHeaders = "missing_signature_headers"
        case badTimestamp = "bad_timestamp"
        case staleTimestamp = "timestamp_outside_tolerance"
        case badSignature = "signature_mismatch"
    }

    let keys: [SymmetricKey]
    public var tolerance: Duration

    /// - Parameter secrets: raw key bytes, one per accepted secret.
    public init(keys: [[UInt8]], tolerance: Duration = .seconds(300)) {
        self.keys = keys.map { SymmetricKey(data: $0) }
        self.tolerance = tolerance
    }

    /// Decodes a secret as Standard Webhooks libraries print it: `whsec_` followed by base64.
    /// Returns nil when it is not valid base64.
    public static func keyBytes(fromSecret secret: String) -> [UInt8]? {
        let body = secret.hasPrefix("whsec_") ? String(secret.dropFirst(6)) : secret
        guard let data = Data(base64Encoded: body), !data.isEmpty else { return nil }
        return Array(data)
    }

    public func verify(_ credentials: PushCredentials, body: [UInt8], now: Timestamp) -> Result<String, Failure> {
        guard let id = credentials.webhookID, !id.isEmpty,
              let timestampText = credentials.webhookTimestamp,
              let signatures = credentials.webhookSignature
        else { return .failure(.missingHeaders) }
        guard let seconds = Int64(timestampText.trimmingCharacters(in: .whitespaces)) else { return .failure(.badTimestamp) }
        let toleranceSeconds = tolerance.components.seconds
        let nowSeconds = now.microseconds / 1_000_000
        guard abs(nowSeconds - seconds) <= toleranceSeconds else { return .failure(.staleTimestamp) }
        var signed = Array(id.utf8)
        signed.append(UInt8(ascii: "."))
        signed.append(contentsOf: String(seconds).utf8)
        signed.append(UInt8(ascii: "."))
        signed.append(contentsOf: body)
        let candidates: [[UInt8]] = signatures.split(separator: " ").compactMap { part in
            guard part.hasPrefix("v1,"), let data = Data(base64Encoded: String(part.dropFirst(3))) else { return nil }
            return Array(data)
        }
        var matched = false
        for key in keys {
            let mac = Array(HMAC<SHA256>.authenticationCode(for: signed, using: key))
            for candidate in candidates {
                if constantTimeEquals(mac, candidate) { matched = true }
            }
        }
        return matched ? .success(id) : .failure(.badSignature)
    }

    /// Produces a signature header value, for tests and for `sluice` tooling that sends webhooks.
    public static func sign(id: String, timestamp: Int64, body: [UInt8], key: [UInt8]) -> String {
        var signed = Array(id.utf8)
        signed.append(UInt8(ascii: "."))
        signed.append(contentsOf: String(timestamp).utf8)
        signed.append(UInt8(ascii: "."))
        signed.append(contentsOf: body)
        let mac = HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: key))
        return "v1," + Data(mac).base64EncodedString()
    }
}

/// True when any digest matches; every digest is checked so timing does not reveal which matched.
func matchesAny(_ digests: [SecretDigest], _ candidate: some StringProtocol) -> Bool {
    var matched = false
    for digest in digests where digest.matches(candidate) {
        matched = true
    }
    return matched
}
