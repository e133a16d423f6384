import SluiceCore
import SluiceHTTP

/// Google SecOps webhook feed (`…/feeds/{id}:importPushLogs`): NDJSON bodies of at most 1 MB,
/// the API key and feed secret in headers (never in the query string, where proxies log them).
public struct ChronicleWebhookDestination: Destination {
    public struct Configuration: Sendable {
        public var name: String
        public var url: String
        public var apiKey: String?
        public var secret: String
        public var limits: BatchLimits

        public init(name: String, url: String, apiKey: String?, secret: String, limits: BatchLimits = BatchLimits(maxEvents: 10_000, maxBytes: 1_000_000)) {
            self.name = name
            self.url = url
            self.apiKey = apiKey
            self.secret = secret
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
    public var type: String { "chronicle_webhook" }
    public var limits: BatchLimits { configuration.limits }

    public func encodedSize(of event: OutboundEvent) -> Int { event.raw.count + 1 }

    public func send(_ batch: [OutboundEvent]) async -> DeliveryOutcome {
        var headers = [("Content-Type", "application/json"), ("X-Webhook-Access-Key", configuration.secret)]
        if let apiKey = configuration.apiKey { headers.append(("X-goog-api-key", apiKey)) }
        return await http.deliver(OutboundRequest(method: "POST", url: configuration.url, headers: headers, body: NDJSON.encode(batch)), destination: name)
    }
}
