import Foundation

/// Capped exponential backoff with jitter: attempt n waits a random time between half and all
/// of `min(cap, base × 2^(n-1))`, so that many clients retrying at once spread out.
public struct Backoff: Sendable, Hashable {
    public var base: Duration
    public var cap: Duration

    public init(base: Duration = .seconds(1), cap: Duration = .seconds(60)) {
        self.base = base
        self.cap = cap
    }

    public func delay(attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let ceiling = min(cap, base * (1 << min(max(attempt - 1, 0), 30)))
        return ceiling * Double.random(in: 0.5...1.0, using: &generator)
    }
}

/// What to do after one attempt of a request.
public enum RetryDecision: Sendable, Hashable {
    case succeed
    /// Fetch a new access token, then retry at once (only once per request).
    case refreshTokenAndRetry
    case retry(after: Duration, reason: String)
    case giveUp(reason: String)
}

/// The outcome of one attempt, as the retry policy sees it.
public enum AttemptOutcome: Sendable, Hashable {
    case status(Int, retryAfter: Duration?)
    case transportFailure(String)
}

/// How a collector or destination reacts to each response: 2xx succeeds; 401 refreshes the
/// token once; 429 waits `Retry-After` (or backs off); 408, 5xx and transport failures back off;
/// any other status gives up at once. After `maxAttempts` it gives up with the last reason.
public struct RetryPolicy: Sendable, Hashable {
    public var maxAttempts: Int
    public var backoff: Backoff
    /// The longest `Retry-After` honoured; a larger one is clamped (and still retried).
    public var maxRetryAfter: Duration

    public init(maxAttempts: Int = 8, backoff: Backoff = Backoff(), maxRetryAfter: Duration = .seconds(300)) {
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.maxRetryAfter = maxRetryAfter
    }

    /// - Parameters:
    ///   - attempt: 1 for the first attempt.
    ///   - tokenRefreshed: whether this request already refreshed its token after a 401.
    public func decide(
        attempt: Int, outcome: AttemptOutcome, tokenRefreshed: Bool, using generator: inout some RandomNumberGenerator
    ) -> RetryDecision {
        let reason: String
        var wait: Duration?
        switch outcome {
        case .status(let code, let retryAfter):
            switch code {
            case 200..<300:
                return .succeed
            case 401:
                if !tokenRefreshed { return .refreshTokenAndRetry }
                return .giveUp(reason: "HTTP 401 again with a fresh token: the credentials lack access")
            case 429:
                reason = retryAfter.map { "HTTP 429 (rate limited; asked to wait \($0))" } ?? "HTTP 429 (rate limited; no wait asked)"
                wait = retryAfter
            case 408, 500..<600:
                reason = "HTTP \(code)"
                wait = retryAfter
            default:
                return .giveUp(reason: "HTTP \(code), which retrying cannot fix")
            }
        case .transportFailure(let message):
            reason = message
        }
        guard attempt < maxAttempts else {
            return .giveUp(reason: "\(reason), still failing after \(attempt) attempts")
        }
        return .retry(after: delay(attempt: attempt, retryAfter: wait, using: &generator), reason: reason)
    }

    /// How long to wait before attempt `attempt + 1`: the server's `Retry-After` (clamped to
    /// `maxRetryAfter`) when it gave one, the jittered backoff otherwise.
    public func delay(attempt: Int, retryAfter: Duration?, using generator: inout some RandomNumberGenerator) -> Duration {
        retryAfter.map { min($0, maxRetryAfter) } ?? backoff.delay(attempt: attempt, using: &generator)
    }
}

/// How long a server asks a client to wait before trying again.
public enum RetryAfter {
    /// A `Retry-After` header: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
    public static func parse(_ value: String?, now: Date = Date()) -> Duration? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Int(value) { return seconds >= 0 ? .seconds(seconds) : nil }
        guard let date = httpDate(value) else { return nil }
        let seconds = date.timeIntervalSince(now)
        return .milliseconds(Int64(max(0, seconds) * 1000))
    }

    /// The wait `response` asks for: its `Retry-After`, else its `X-Rate-Limit-Reset`, the
    /// second (since 1970) the rate-limit window resets, which Okta sends instead. That is
    /// counted from the response's own `Date`, so the two machines' clocks need not agree, plus
    /// one second, as the reset is rounded down to the second.
    public static func of(_ response: OutboundResponse, now: Date = Date()) -> Duration? {
        if let wait = parse(response.header("Retry-After"), now: now) { return wait }
        guard let reset = response.header("X-Rate-Limit-Reset").flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }), reset.isFinite else {
            return nil
        }
        let serverNow = response.header("Date").flatMap(httpDate) ?? now
        let seconds = min(max(0, reset - serverNow.timeIntervalSince1970), 86_400) + 1
        return .milliseconds(Int64(seconds * 1000))
    }

    /// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
    static func httpDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text.trimmingCharacters(in: .whitespaces))
    }
}
