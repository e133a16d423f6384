import SluiceCore
import SluiceHTTP

/// Sends a step's HTTP requests: the SSRF check, then the one ``OutboundClient`` with the step's
/// bearer token cache (a 401 replaces it once) and the workflow's retry policy (backoff on 429
/// with `Retry-After` honoured, 408, 5xx and transport failures).
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
        var request = request
        request.timeout = timeout
        do {
            return try await OutboundClient(transport: transport, tokens: tokens, retry: retry).send(request, accept: { accept($0.status) })
        } catch {
            switch error.kind {
            case .noToken(let transient):
                throw StepFailure("no access token for \(target): \(error.reason)", retryable: transient, attempts: error.attempts)
            case .cancelled:
                throw StepFailure("cancelled while waiting to retry", retryable: true, attempts: error.attempts)
            case .notAllowed, .gaveUp:
                let detail = error.lastResponse.map { Self.errorSummary($0.body) } ?? ""
                throw StepFailure("\(target) failed: \(error.reason)\(detail)", retryable: error.isRetryable, attempts: error.attempts)
            }
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
