import Foundation
import SluiceCore
import SluiceHTTP
import SluiceTesting
import Testing

/// The client over a real loopback socket: the guard before any connection, one fresh token after
/// a 401, a 429's pause shared through the budget.
@Suite struct OutboundClientTests {
    @Test func theGuardRefusesBeforeAnyConnectionTokenIncluded() async throws {
        let double = IncydrTestDouble()
        try await double.withServer { base in
            let guarded = HTTPTransport.shared.guarded(by: OutboundURLGuard(allowPrivateNetworks: false))
            let grant = ClientCredentialsGrant(tokenURL: base + "/v1/oauth", clientID: double.clientID, clientSecret: double.clientSecret)
            let tokens = AccessTokenCache { try await grant.request(using: guarded) }
            let client = OutboundClient(transport: guarded, tokens: tokens, retry: RetryPolicy(maxAttempts: 3))
            do throws(OutboundFailure) {
                _ = try await client.send(OutboundRequest(method: "GET", url: base + "/v1/users"))
                Issue.record("a loopback URL was contacted")
            } catch {
                #expect(error.kind == .noToken(transient: false), "\(error)")
                #expect(error.reason.contains("allow_private_networks"), "\(error.reason)")
            }
            do throws(OutboundFailure) {
                _ = try await OutboundClient(transport: guarded).send(OutboundRequest(method: "GET", url: base + "/v1/users"))
                Issue.record("a loopback URL was contacted")
            } catch {
                #expect(error.kind == .notAllowed && !error.isRetryable)
            }
            #expect(double.stats.tokenRequests == 0 && double.stats.requestsByPath.isEmpty)
        }
    }

    @Test func aRevokedTokenIsReplacedOnceAndEveryRequestIsObserved() async throws {
        let double = IncydrTestDouble()
        try await double.withServer { base in
            let grant = ClientCredentialsGrant(tokenURL: base + "/v1/oauth", clientID: double.clientID, clientSecret: double.clientSecret, authentication: .basicWithoutBody)
            let tokens = AccessTokenCache { try await grant.request(using: .shared) }
            let client = OutboundClient(transport: .shared, tokens: tokens, retry: RetryPolicy(maxAttempts: 3))
            let first = try await client.send(OutboundRequest(method: "GET", url: base + "/v1/users?page=1&pageSize=10"))
            #expect(first.response.status == 200 && first.attempts == 1)
            double.inject([.unauthorized])
            var events: [String] = []
            let second = try await client.send(OutboundRequest(method: "GET", url: base + "/v1/users?page=1&pageSize=10"), observe: { event in
                switch event {
                case .sent: events.append("sent")
                case .refreshingToken: events.append("refresh")
                case .retrying: events.append("retry")
                }
            })
            #expect(second.response.status == 200 && second.attempts == 2)
            #expect(events == ["sent", "refresh", "sent"])
            #expect(await tokens.fetchCount == 2)
        }
    }
}
