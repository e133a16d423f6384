import SluiceCore
import SluiceHTTP

/// OAuth 2.0 bearer tokens for a destination's requests, from a cache shared by its sends.
struct BearerAuthorization: Sendable {
    let cache: AccessTokenCache

    enum Answer: Sendable {
        case answered(OutboundResponse)
        /// No answer to classify: no token, or no connection.
        case failed(DeliveryOutcome)

        /// With the common reading of a response.
        func outcome(destination: String) -> DeliveryOutcome {
            switch self {
            case .answered(let response): ResponseClassifier.classify(response, destination: destination)
            case .failed(let outcome): outcome
            }
        }
    }

    /// Sends `request` with an `Authorization: Bearer` header through the one outbound client:
    /// one attempt (the delivery loop retries), and a 401 replaces the token once, since a token
    /// can be revoked or expire early; a second 401 is the destination's answer.
    func send(_ request: OutboundRequest, via http: HTTPDelivery) async -> Answer {
        var request = request
        request.timeout = http.timeout
        do {
            return .answered(try await http.client(tokens: cache).send(request, accept: { $0.status != 401 }).response)
        } catch {
            if case .noToken(let transient) = error.kind {
                return .failed(transient ? .retry(after: nil, reason: error.reason) : .unauthorized(reason: error.reason))
            }
            if let response = error.lastResponse { return .answered(response) }
            if let transportError = error.lastError { return .failed(ResponseClassifier.classify(transportError)) }
            return .failed(.retry(after: nil, reason: error.reason))
        }
    }
}
