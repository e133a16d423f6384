import Crypto
import Foundation
import SluiceCore
import _CryptoExtras

/// An RSA private key that signs JWTs with RS256 (RFC 7518 §3.3): Google's service-account
/// assertions and `private_key_jwt` client authentication (RFC 7523 §2.2, as Okta's service
/// apps use it). The key never leaves this value; errors never quote it.
public struct JWTSigningKey: Sendable {
    let key: _RSA.Signing.PrivateKey
    /// Sent as the header's `kid`, so the server can tell which of its keys signed.
    public var keyID: String?

    public init(pem: String, keyID: String? = nil) throws(TokenError) {
        do {
            key = try _RSA.Signing.PrivateKey(pemRepresentation: pem)
        } catch {
            throw TokenError("the private key is not an RSA key of 2048 bits or more in PEM form", isTransient: false)
        }
        self.keyID = keyID
    }

    /// `header.claims.signature`, each part base64url without padding.
    public func sign(_ claims: [JSONMember]) throws(TokenError) -> String {
        var header: [JSONMember] = [JSONMember("alg", .string("RS256")), JSONMember("typ", .string("JWT"))]
        if let keyID { header.append(JSONMember("kid", .string(keyID))) }
        let signingInput = SecretGenerator.base64URL(JSONValue.object(header).serialized()) + "." + SecretGenerator.base64URL(JSONValue.object(claims).serialized())
        do {
            let signature = try key.signature(for: SHA256.hash(data: Array(signingInput.utf8)), padding: .insecurePKCS1v1_5)
            return signingInput + "." + SecretGenerator.base64URL(Array(signature.rawRepresentation))
        } catch {
            throw TokenError("could not sign the token assertion with the private key", isTransient: false)
        }
    }
}
