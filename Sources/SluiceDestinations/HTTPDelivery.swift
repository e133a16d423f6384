import SluiceCore
import SluiceHTTP

/// Sends one request for a destination: the SSRF check first, then the transport; a failure to
/// connect becomes an outcome, never an error.
struct HTTPDelivery: Sendable {
    var transport: HTTPTransport
    var guardrail: OutboundURLGuard
    var timeout: Duration

    func send(_ request: OutboundRequest) async -> Result<OutboundResponse, TransportError> {
        var request = request
        request.timeout = timeout
        do {
            try guardrail.check(request.url)
            return .success(try await transport.send(request))
        } catch {
            return .failure(error)
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
