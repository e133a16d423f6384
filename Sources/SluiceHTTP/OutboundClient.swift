/// One outbound request's life as a pure state machine: which step comes next after a token
/// failure or an answer. ``OutboundClient`` performs the steps; this decides them, so the rules
/// (one token refresh after a 401, backoff and `Retry-After`, when to give up) are tested as a
/// table without sockets or clocks.
public struct OutboundExchange: Sendable {
    public enum Step: Sendable, Hashable {
        /// Done: the last answer is the request's answer.
        case succeed
        /// Drop the token that was refused and try again at once.
        case refreshToken
        /// Wait, then try again.
        case wait(Duration, reason: String)
        case fail(OutboundFailure.Kind, reason: String)
    }

    public let policy: RetryPolicy
    public let usesTokens: Bool
    /// Attempts begun so far (a token fetch that failed counts as one).
    public private(set) var attempts = 0
    private var refreshed = false

    public init(policy: RetryPolicy, usesTokens: Bool) {
        self.policy = policy
        self.usesTokens = usesTokens
    }

    public mutating func beginAttempt() {
        attempts += 1
    }

    /// No token could be had: bad credentials end the request; a passing failure (the token
    /// endpoint's 5xx, 429, a lost connection) is retried like any other.
    public mutating func tokenFailed(_ error: TokenError, using generator: inout some RandomNumberGenerator) -> Step {
        guard error.isTransient else { return .fail(.noToken(transient: false), reason: error.message) }
        guard attempts < policy.maxAttempts else { return .fail(.noToken(transient: true), reason: error.message) }
        return .wait(policy.backoff.delay(attempt: attempts, using: &generator), reason: error.message)
    }

    /// The attempt ended with `outcome`.
    public mutating func answered(_ outcome: AttemptOutcome, using generator: inout some RandomNumberGenerator) -> Step {
        switch policy.decide(attempt: attempts, outcome: outcome, tokenRefreshed: refreshed || !usesTokens, using: &generator) {
        case .succeed:
            return .succeed
        case .refreshTokenAndRetry:
            refreshed = true
            return .refreshToken
        case .retry(let delay, let reason):
            return .wait(delay, reason: reason)
        case .giveUp(let reason):
            return .fail(.gaveUp, reason: reason)
        }
    }
}

/// Why an outbound request ended without an answer its caller accepts.
public struct OutboundFailure: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// No access token: refused credentials, or a passing failure that outlasted the retries.
        case noToken(transient: Bool)
        /// The SSRF guard refused the URL (or it is not a valid URL); no connection was made.
        case notAllowed
        /// The retries ran out, or the answer is one retrying cannot fix.
        case gaveUp
        case cancelled
    }

    public var kind: Kind
    public var reason: String
    public var attempts: Int
    /// The last attempt's outcome, when an attempt was sent.
    public var lastOutcome: AttemptOutcome?
    /// The last answer, when there was one.
    public var lastResponse: OutboundResponse?
    /// The last transport error, when the last attempt got no answer.
    public var lastError: TransportError?

    public var description: String { reason }

    /// Whether trying the whole request again later could help (a 429, 408 or 5xx, no answer, a
    /// passing token failure), as opposed to an answer that says the request itself is wrong.
    public var isRetryable: Bool {
        switch kind {
        case .noToken(let transient): return transient
        case .notAllowed: return false
        case .cancelled: return true
        case .gaveUp:
            switch lastOutcome {
            case .status(let status, _)?: return status == 429 || status == 408 || status >= 500
            case .transportFailure?, nil: return true
            }
        }
    }
}

/// The one way Sluice sends a request out: through the transport it is given (guarded by the
/// SSRF guard where the caller's URLs are configured), with an optional bearer token (a 401
/// drops it and tries once more with a fresh one), an optional per-tenant request budget (a 429
/// pauses every request sharing it) and a ``RetryPolicy``. Destinations make one attempt
/// (``RetryPolicy/once``) and leave retries to the delivery loop; collectors and workflows retry here.
public struct OutboundClient: Sendable {
    /// What the client did, for the caller's counters and logs.
    public enum Event: Sendable {
        /// A request went out (or its token fetch failed: that was a request too).
        case sent
        /// The token was refused (401); a fresh one is fetched for the next attempt.
        case refreshingToken
        /// Waiting to try again; `outcome` is the last attempt's (nil when its token fetch failed).
        case retrying(after: Duration, reason: String, outcome: AttemptOutcome?)
    }

    public var transport: HTTPTransport
    public var tokens: AccessTokenCache?
    public var budget: RequestBudget?
    public var retry: RetryPolicy

    public init(transport: HTTPTransport, tokens: AccessTokenCache? = nil, budget: RequestBudget? = nil, retry: RetryPolicy = .once) {
        self.transport = transport
        self.tokens = tokens
        self.budget = budget
        self.retry = retry
    }

    /// Sends `request` until an answer is 2xx or `accept`ed, or the exchange gives up; returns
    /// the answer and how many attempts it took.
    public func send(
        _ request: OutboundRequest, accept: (OutboundResponse) -> Bool = { _ in false }, observe: (Event) -> Void = { _ in }
    ) async throws(OutboundFailure) -> (response: OutboundResponse, attempts: Int) {
        var exchange = OutboundExchange(policy: retry, usesTokens: tokens != nil)
        var generator = SystemRandomNumberGenerator()
        var lastResponse: OutboundResponse?
        var lastError: TransportError?
        var lastOutcome: AttemptOutcome?
        func failure(_ kind: OutboundFailure.Kind, _ reason: String) -> OutboundFailure {
            OutboundFailure(kind: kind, reason: reason, attempts: exchange.attempts, lastOutcome: lastOutcome, lastResponse: lastResponse, lastError: lastError)
        }
        while true {
            exchange.beginAttempt()
            if let budget {
                do { try await budget.acquire() } catch { throw failure(.cancelled, "cancelled while waiting for the request budget") }
            }
            var authorized = request
            var token: String?
            let step: OutboundExchange.Step
            if let tokens {
                do {
                    let value = try await tokens.token()
                    token = value
                    authorized.headers.append(("Authorization", "Bearer \(value)"))
                } catch {
                    if error is CancellationError || Task.isCancelled { throw failure(.cancelled, "cancelled while fetching an access token") }
                    let tokenError = error as? TokenError ?? TokenError("could not get an access token: \(error)", isTransient: true)
                    observe(.sent)
                    try await perform(exchange.tokenFailed(tokenError, using: &generator), token: nil, outcome: nil, observe: observe, failure: failure)
                    continue
                }
            }
            observe(.sent)
            do {
                let response = try await transport.send(authorized)
                if accept(response) { return (response, exchange.attempts) }
                (lastResponse, lastError) = (response, nil)
                lastOutcome = .status(response.status, retryAfter: RetryAfter.of(response))
            } catch where error.code == .forbidden || error.code == .invalidURL {
                (lastResponse, lastError, lastOutcome) = (nil, error, nil)
                throw failure(.notAllowed, error.message)
            } catch {
                (lastResponse, lastError) = (nil, error)
                lastOutcome = .transportFailure(error.message)
            }
            step = exchange.answered(lastOutcome!, using: &generator)
            if step == .succeed, let lastResponse { return (lastResponse, exchange.attempts) }
            try await perform(step, token: token, outcome: lastOutcome, observe: observe, failure: failure)
        }
    }

    /// Carries out a step other than success: drops a refused token, waits (pausing the shared
    /// budget after a 429), or throws.
    private func perform(
        _ step: OutboundExchange.Step, token: String?, outcome: AttemptOutcome?, observe: (Event) -> Void,
        failure: (OutboundFailure.Kind, String) -> OutboundFailure
    ) async throws(OutboundFailure) {
        switch step {
        case .succeed:
            return
        case .refreshToken:
            if let tokens, let token { await tokens.invalidate(token) }
            observe(.refreshingToken)
        case .wait(let delay, let reason):
            // A tenant's rate limit holds for every request sharing its budget.
            if case .status(429, _)? = outcome, let budget { await budget.pause(for: delay) }
            observe(.retrying(after: delay, reason: reason, outcome: outcome))
            do { try await Task.sleep(for: delay) } catch { throw failure(.cancelled, "cancelled while waiting to retry") }
        case .fail(let kind, let reason):
            throw failure(kind, reason)
        }
    }
}

extension RetryPolicy {
    /// One attempt, and one more only to replace a refused token: for callers that retry on
    /// their own (the delivery loop).
    public static let once = RetryPolicy(maxAttempts: 1)
}
