import Logging
import SluiceCore
import SluiceHTTP

extension OutboundClient {
    /// Sends one request of a collector's stream through the client (guard, budget, token,
    /// retries): counts it, its retries and its 429s into `counters`, logs each retry, and turns
    /// a failure into a ``CollectorError`` naming the stream, the request and, when the provider
    /// explained it, `explain`'s summary of its last answer.
    func collect(
        _ request: OutboundRequest, stream: String, path: String, counters: inout StreamRunCounters, logger: Logger,
        accept: (OutboundResponse) -> Bool = { _ in false }, explain: (OutboundResponse) -> String
    ) async throws(CollectorError) -> OutboundResponse {
        do {
            return try await send(request, accept: accept) { event in
                switch event {
                case .sent:
                    counters.requests += 1
                case .refreshingToken:
                    logger.info("the API rejected the access token; fetching a new one", metadata: ["collector.stream": "\(stream)"])
                case .retrying(let delay, let reason, let outcome):
                    counters.retries += 1
                    if case .status(429, _)? = outcome { counters.throttled += 1 }
                    logger.notice("collector request will be retried", metadata: [
                        "collector.stream": "\(stream)", "reason": "\(reason)", "retry.delay": "\(delay)", "http.path": "\(path)",
                    ])
                }
            }.response
        } catch {
            switch error.kind {
            case .cancelled:
                throw CollectorError(.cancelled, "\(stream): cancelled")
            case .notAllowed, .noToken(transient: false):
                throw CollectorError(.rejected, "\(stream): \(error.reason)")
            case .noToken(transient: true):
                throw CollectorError(.gaveUp, "\(stream): \(error.reason)")
            case .gaveUp:
                let detail = error.lastResponse.map(explain) ?? ""
                throw CollectorError(error.isRetryable ? .gaveUp : .rejected, "\(stream): \(request.method) \(path) failed: \(error.reason)\(detail)")
            }
        }
    }
}
