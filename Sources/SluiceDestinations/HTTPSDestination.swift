import SluiceCore
import SluiceHTTP

/// Any HTTPS endpoint: a JSON array or NDJSON POST with configured headers and a bearer token or
/// OAuth 2.0 client-credentials token; or, with format `chat`, one `{"text": ...}` message per
/// event (``ChatMessage``) for a Slack or Microsoft Teams incoming webhook.
public struct HTTPSDestination: Destination {
    public enum Format: String, Sendable { case jsonArray = "json_array", ndjson, chat }

    public enum Authorization: Sendable {
        case none
        case bearer(String)
        case clientCredentials(AccessTokenCache)
    }

    public struct Configuration: Sendable {
        public var name: String
        public var url: String
        public var format: Format
        public var headers: [(String, String)]
        public var authorization: Authorization
        public var limits: BatchLimits

        public init(
            name: String, url: String, format: Format = .ndjson, headers: [(String, String)] = [], authorization: Authorization = .none,
            limits: BatchLimits = BatchLimits(maxEvents: 5_000, maxBytes: 4_000_000)
        ) {
            self.name = name
            self.url = url
            self.format = format
            self.headers = headers
            self.authorization = authorization
            self.limits = limits
        }
    }

    let configuration: Configuration
    let http: HTTPDelivery

    public init(configuration: Configuration, transport: HTTPTransport, guardrail: OutboundURLGuard, timeout: Duration) {
        self.configuration = configuration
        self.http = HTTPDelivery(transport: transport, guardrail: guardrail, timeout: timeout)
    }

    public var name: String { configuration.name }
    public var type: String { "https" }
    public var limits: BatchLimits {
        // A chat message is one event.
        configuration.format == .chat ? BatchLimits(maxEvents: 1, maxBytes: configuration.limits.maxBytes) : configuration.limits
    }

    public func encodedSize(of event: OutboundEvent) -> Int {
        configuration.format == .chat ? ChatMessage.body(for: event).count : event.raw.count + 1
    }

    func encode(_ batch: [OutboundEvent]) -> [UInt8] {
        if configuration.format == .chat { return batch.first.map(ChatMessage.body(for:)) ?? [] }
        guard configuration.format == .jsonArray else { return NDJSON.encode(batch) }
        var body: [UInt8] = [UInt8(ascii: "[")]
        for (i, event) in batch.enumerated() {
            if i > 0 { body.append(UInt8(ascii: ",")) }
            body += event.raw
        }
        body.append(UInt8(ascii: "]"))
        return body
    }

    public func send(_ batch: [OutboundEvent]) async -> DeliveryOutcome {
        var headers = configuration.headers
        headers.append(("Content-Type", configuration.format == .ndjson ? "application/x-ndjson" : "application/json"))
        let body = encode(batch)
        switch configuration.authorization {
        case .none:
            return await http.deliver(OutboundRequest(method: "POST", url: configuration.url, headers: headers, body: body), destination: name)
        case .bearer(let token):
            headers.append(("Authorization", "Bearer \(token)"))
            return await http.deliver(OutboundRequest(method: "POST", url: configuration.url, headers: headers, body: body), destination: name)
        case .clientCredentials(let cache):
            let request = OutboundRequest(method: "POST", url: configuration.url, headers: headers, body: body)
            return await BearerAuthorization(cache: cache).send(request, via: http).outcome(destination: name)
        }
    }
}
