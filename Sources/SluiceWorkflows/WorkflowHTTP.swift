import SluiceCore
import SluiceHTTP

/// Sends a step's HTTP requests: the SSRF check, a bearer token from the step's cache (a 401
/// replaces it once), and retries with backoff on 429 (`Retry-After` honoured), 408, 5xx and
/// transport failures.
struct WorkflowHTTP: Sendable {
    var transport: HTTPTransport
    var guardrail: OutboundURLGuard
    var timeout: Duration
    var retry: RetryPolicy

    /// The answer and how many attempts it took. `accept` claims non-2xx answers the caller reads
    /// itself (a lookup's 404).
    func send(
        _ request: OutboundRequest, tokens: AccessTokenCache?, accept: (Int) -> Bool = { _ in false }
    ) async throws(StepFailure) -> (response: OutboundResponse, attempts: Int) {
        let target = "\(request.method) \(HTTPTransport.redacted(request.url))"
        do {
            try guardrail.check(request.url)
        } catch {
            throw StepFailure("\(target) is not allowed: \(error.message)", retryable: false)
        }
        var generator = SystemRandomNumberGenerator()
        var refreshed = false
        var attempt = 0
        while true {
            attempt += 1
            var authorized = request
            authorized.timeout = timeout
            var token: String?
            if let tokens {
                do {
                    let value = try await tokens.token()
                    token = value
                    authorized.headers.append(("Authorization", "Bearer \(value)"))
                } catch let error as TokenError {
                    guard error.isTransient, attempt < retry.maxAttempts else {
                        throw StepFailure("no access token for \(target): \(error.message)", retryable: error.isTransient, attempts: attempt)
                    }
                    try await pause(retry.backoff.delay(attempt: attempt, using: &generator), attempts: attempt)
                    continue
                } catch {
                    throw StepFailure("no access token for \(target): \(error)", retryable: true, attempts: attempt)
                }
            }
            let outcome: AttemptOutcome
            var answer: OutboundResponse?
            do {
                let response = try await transport.send(authorized)
                if accept(response.status) { return (response, attempt) }
                answer = response
                outcome = .status(response.status, retryAfter: RetryAfter.parse(response.header("Retry-After")))
            } catch {
                outcome = .transportFailure(error.message)
            }
            switch retry.decide(attempt: attempt, outcome: outcome, tokenRefreshed: refreshed || tokens == nil, using: &generator) {
            case .succeed:
                return (answer!, attempt)
            case .refreshTokenAndRetry:
                refreshed = true
                if let tokens, let token { await tokens.invalidate(token) }
            case .retry(let delay, _):
                try await pause(delay, attempts: attempt)
            case .giveUp(let reason):
                let retryable: Bool
                switch outcome {
                case .status(let status, _): retryable = status == 429 || status == 408 || status >= 500
                case .transportFailure: retryable = true
                }
                let detail = answer.map { Self.errorSummary($0.body) } ?? ""
                throw StepFailure("\(target) failed: \(reason)\(detail)", retryable: retryable, attempts: attempt)
            }
        }
    }

    private func pause(_ delay: Duration, attempts: Int) async throws(StepFailure) {
        do {
            try await Task.sleep(for: delay)
        } catch {
            throw StepFailure("cancelled while waiting to retry", retryable: true, attempts: attempts)
        }
    }

    /// The remote's own explanation, shortened (CTIA answers schema errors as JSON).
    static func errorSummary(_ body: [UInt8]) -> String {
        guard !body.isEmpty else { return "" }
        let text = String(decoding: body.prefix(400), as: UTF8.self).replacingNewlines()
        return " (\(text))"
    }
}

extension String {
    func replacingNewlines() -> String {
        String(map { $0 == "\n" || $0 == "\r" ? " " : $0 })
    }
}
