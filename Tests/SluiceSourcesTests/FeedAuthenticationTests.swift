import Foundation
import SluiceCore
import SluiceSources
import Testing

@Suite struct FeedAuthenticationTests {
    let now = Timestamp(seconds: 1_614_265_330)

    @Test func standardWebhooksPublishedTestVector() {
        // The example from the Standard Webhooks specification.
        let key = StandardWebhooksVerifier.keyBytes(fromSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")!
        let body = Array(#"{"test": 2432232314}"#.utf8)
        let signature = StandardWebhooksVerifier.sign(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: body, key: key)
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        let verifier = StandardWebhooksVerifier(keys: [key])
        let credentials = PushCredentials(webhookID: "msg_p5jXN8AQM9LWM0D4loKWxJek", webhookTimestamp: "1614265330", webhookSignature: signature)
        #expect(verifier.verify(credentials, body: body, now: now) == .success("msg_p5jXN8AQM9LWM0D4loKWxJek"))
    }

    @Test func standardWebhooksRefusals() {
        let old = Array("old-secret-bytes".utf8)
        let new = Array("new-secret-bytes".utf8)
        let verifier = StandardWebhooksVerifier(keys: [old, new])
        let body = Array("{\"a\":1}".utf8)
        func credentials(_ key: [UInt8], id: String = "msg_1", at t: Int64 = 1_614_265_330, body b: [UInt8]? = nil) -> PushCredentials {
            PushCredentials(webhookID: id, webhookTimestamp: String(t), webhookSignature: StandardWebhooksVerifier.sign(id: id, timestamp: t, body: b ?? body, key: key))
        }
        // Either secret during rotation.
        #expect(verifier.verify(credentials(old), body: body, now: now) == .success("msg_1"))
        #expect(verifier.verify(credentials(new), body: body, now: now) == .success("msg_1"))
        // Several signatures in one header, one valid.
        var multi = credentials(new)
        multi.webhookSignature = "v1,AAAA " + multi.webhookSignature!
        #expect(verifier.verify(multi, body: body, now: now) == .success("msg_1"))
        #expect(verifier.verify(credentials(Array("other".utf8)), body: body, now: now) == .failure(.badSignature))
        #expect(verifier.verify(credentials(old, body: Array("{\"a\":2}".utf8)), body: body, now: now) == .failure(.badSignature))
        #expect(verifier.verify(credentials(old, at: 1_614_265_330 - 301), body: body, now: now) == .failure(.staleTimestamp))
        #expect(verifier.verify(credentials(old, at: 1_614_265_330 + 301), body: body, now: now) == .failure(.staleTimestamp))
        #expect(verifier.verify(credentials(old, at: 1_614_265_330 - 299), body: body, now: now) == .success("msg_1"))
        #expect(verifier.verify(PushCredentials(), body: body, now: now) == .failure(.missingHeaders))
        var badTime = credentials(old)
        badTime.webhookTimestamp = "yesterday"
        #expect(verifier.verify(badTime, body: body, now: now) == .failure(.badTimestamp))
    }

    @Test func sharedSecretWithIngestionKey() {
        let secret = "feed-secret"
        let auth = FeedAuthentication.sharedSecret([SecretDigest(of: secret)])
        let withKey = FeedAuthenticator(ingestionKey: SecretDigest(of: "api-key"))
        let plain = FeedAuthenticator(ingestionKey: nil)
        #expect(plain.authenticate(PushCredentials(accessKeyHeader: secret), with: auth, body: [], now: now) == .accepted(webhookID: nil))
        #expect(plain.authenticate(PushCredentials(secretParameter: secret), with: auth, body: [], now: now) == .accepted(webhookID: nil))
        #expect(plain.authenticate(PushCredentials(accessKeyHeader: "nope"), with: auth, body: [], now: now) == .refused(reason: "wrong_secret"))
        #expect(plain.authenticate(PushCredentials(), with: auth, body: [], now: now) == .refused(reason: "missing_secret"))
        #expect(withKey.authenticate(PushCredentials(accessKeyHeader: secret), with: auth, body: [], now: now) == .refused(reason: "wrong_ingestion_key"))
        #expect(withKey.authenticate(PushCredentials(accessKeyHeader: secret, apiKeyHeader: "api-key"), with: auth, body: [], now: now) == .accepted(webhookID: nil))
        #expect(withKey.authenticate(PushCredentials(secretParameter: secret, keyParameter: "api-key"), with: auth, body: [], now: now) == .accepted(webhookID: nil))
    }

    @Test func bearerTokens() {
        let auth = FeedAuthentication.bearer([SecretDigest(of: "t1"), SecretDigest(of: "t2")])
        let authenticator = FeedAuthenticator(ingestionKey: nil)
        #expect(authenticator.authenticate(PushCredentials(authorization: "Bearer t2"), with: auth, body: [], now: now) == .accepted(webhookID: nil))
        #expect(authenticator.authenticate(PushCredentials(authorization: "bearer t1"), with: auth, body: [], now: now) == .accepted(webhookID: nil))
        #expect(authenticator.authenticate(PushCredentials(authorization: "Bearer t3"), with: auth, body: [], now: now) == .refused(reason: "wrong_bearer"))
        #expect(authenticator.authenticate(PushCredentials(authorization: "Basic dDE="), with: auth, body: [], now: now) == .refused(reason: "missing_bearer"))
    }

    @Test func constantTimeComparison() {
        #expect(constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!constantTimeEquals([1, 2], [1, 2, 3]))
        #expect(SecretDigest(hex: SecretDigest(of: "x").hex) == SecretDigest(of: "x"))
    }
}

