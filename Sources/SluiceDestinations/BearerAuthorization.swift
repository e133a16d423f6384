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

    /// Sends `request` with an `Authorization: Bearer` header. A 401 replaces the token once and
    /// tries again, since a token can be revoked or expire early; a second 401 is the destination's answer.
    func send(_ request: OutboundRequest, via http: HTTPDelivery) async -> Answer {
        var attempt = 0
        while true {
            attempt += 1
            let token: String
            do {
                token = try await cache.token()
            } catch let error as TokenError {
                return .failed(error.isTransient ? .retry(after: nil, reason: error.message) : .unauthorized(reason: error.message))
            } catch {
                return .failed(.retry(after: nil, reason: "could not get an access token: \(error)"))
            }
            var authorized = request
            authorized.headers.append(("Authorization", "Bearer \(token)"))
            switch await http.send(authorized) {
            case .success(let response) where response.status == 401:
                await cache.invalidate(token)
                if attempt < 2 { continue }
                return .answered(response)
            case .success(let response):
                return .answered(response)
            case .failure(let error):
                return .failed(ResponseClassifier.classify(error))
            }
        }
    }
}
