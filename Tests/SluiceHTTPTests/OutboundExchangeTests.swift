import SluiceHTTP
import Testing

/// The one outbound client's state machine, as a table.
@Suite struct OutboundExchangeTests {
    typealias Step = OutboundExchange.Step

    enum Input {
        case answer(AttemptOutcome)
        case tokenFails(transient: Bool)
    }

    static let policy = RetryPolicy(maxAttempts: 3, backoff: Backoff(base: .seconds(1), cap: .seconds(8)), maxRetryAfter: .seconds(30))

    /// Each row: whether a token is used, the policy, the inputs of consecutive attempts, and the
    /// step expected after each. A wait names its backoff ceiling: jitter takes it down to half.
    static let table: [(String, Bool, RetryPolicy, [(Input, Step)])] = [
        ("2xx at once", true, policy, [(.answer(.status(200, retryAfter: nil)), .succeed)]),
        ("401 refreshes once, then succeeds", true, policy, [
            (.answer(.status(401, retryAfter: nil)), .refreshToken), (.answer(.status(204, retryAfter: nil)), .succeed),
        ]),
        ("401 twice gives up", true, policy, [
            (.answer(.status(401, retryAfter: nil)), .refreshToken),
            (.answer(.status(401, retryAfter: nil)), .fail(.gaveUp, reason: "HTTP 401 again with a fresh token: the credentials lack access")),
        ]),
        ("401 without a token is an answer", false, policy, [
            (.answer(.status(401, retryAfter: nil)), .fail(.gaveUp, reason: "HTTP 401 again with a fresh token: the credentials lack access")),
        ]),
        ("429 waits Retry-After, clamped", true, policy, [
            (.answer(.status(429, retryAfter: .seconds(120))), .wait(.seconds(30), reason: "HTTP 429 (rate limited; asked to wait 120.0 seconds)")),
            (.answer(.status(200, retryAfter: nil)), .succeed),
        ]),
        ("5xx backs off until the attempts run out", true, policy, [
            (.answer(.status(503, retryAfter: nil)), .wait(.seconds(1), reason: "HTTP 503")),
            (.answer(.transportFailure("connection reset")), .wait(.seconds(2), reason: "connection reset")),
            (.answer(.status(500, retryAfter: nil)), .fail(.gaveUp, reason: "HTTP 500, still failing after 3 attempts")),
        ]),
        ("a 4xx is final", true, policy, [(.answer(.status(404, retryAfter: nil)), .fail(.gaveUp, reason: "HTTP 404, which retrying cannot fix"))]),
        ("refused credentials end at the token", true, policy, [(.tokenFails(transient: false), .fail(.noToken(transient: false), reason: "token refused"))]),
        ("a passing token failure is retried like a request", true, policy, [
            (.tokenFails(transient: true), .wait(.seconds(1), reason: "token refused")),
            (.tokenFails(transient: true), .wait(.seconds(2), reason: "token refused")),
            (.tokenFails(transient: true), .fail(.noToken(transient: true), reason: "token refused")),
        ]),
        ("once: a 503 is the caller's to retry", true, .once, [
            (.answer(.status(503, retryAfter: nil)), .fail(.gaveUp, reason: "HTTP 503, still failing after 1 attempts")),
        ]),
        ("once: still one token refresh", true, .once, [
            (.answer(.status(401, retryAfter: nil)), .refreshToken), (.answer(.status(200, retryAfter: nil)), .succeed),
        ]),
    ]

    @Test(arguments: table.indices) func row(_ index: Int) {
        let (name, usesTokens, policy, steps) = Self.table[index]
        var exchange = OutboundExchange(policy: policy, usesTokens: usesTokens)
        var generator = SystemRandomNumberGenerator()
        for (attempt, (input, expected)) in steps.enumerated() {
            exchange.beginAttempt()
            let step: Step
            switch input {
            case .answer(let outcome): step = exchange.answered(outcome, using: &generator)
            case .tokenFails(let transient): step = exchange.tokenFailed(TokenError("token refused", isTransient: transient), using: &generator)
            }
            if case .wait(let delay, let reason) = step, case .wait(let ceiling, let expectedReason) = expected {
                #expect(reason == expectedReason && delay <= ceiling && delay >= ceiling / 2, "\(name), attempt \(attempt + 1): \(step)")
            } else {
                #expect(step == expected, "\(name), attempt \(attempt + 1)")
            }
        }
        #expect(exchange.attempts == steps.count)
    }
}
