import SluiceCore
import SluiceHTTP

/// Sends one request for a destination through the one ``OutboundClient``: one attempt (the
/// delivery loop decides retries), the SSRF guard before any connection; a failure to connect
/// becomes an outcome, never an error.
struct HTTPDelivery: Sendable {
    var transport: HTTPTransport
    var guardrail: OutboundURLGuard
    var timeout: Duration

    /// The client for this destination's requests, with `tokens` when it sends bearer tokens.
    func client(tokens: AccessTokenCache? = nil) -> OutboundClient {
        OutboundClient(transport: transport.guarded(by: guardrail), tokens: tokens, retry: .once)
    }

    /// Any answer, whatever its status, or the transport's failure.
    func send(_ request: OutboundRequest) async -> Result<OutboundResponse, TransportError> {
        var request = request
        request.timeout = timeout
        do {
            return .success(try await client().send(request, accept: { _ in true }).response)
        } catch {
            return .failure(error.lastError ?? TransportError(.connection, error.reason))
        }
    }

    /// Sends and classifies with the common rules.
    func deliver(_ request: OutboundRequest, destination: String) async -> DeliveryOutcome {
        switch await send(request) {
        case .success(let response): ResponseClassifier.classify(response, destination: destination)
        case .failure(let error): ResponseClassifier.classify(error)
        }
    }
}

/// NDJSON framing: each event's raw bytes on one line.
enum NDJSON {
    static func encode(_ batch: [OutboundEvent]) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(batch.reduce(0) { $0 + $1.raw.count + 1 })
        for event in batch {
            body += event.singleLineRaw
            body.append(0x0A)
        }
        return body
    }
}
