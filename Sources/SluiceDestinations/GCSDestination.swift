import SluiceCore
import SluiceHTTP

/// Google Cloud Storage through the JSON API: one media upload per object of ``ObjectLayout``
/// with a service-account token, create-only (`ifGenerationMatch=0`), so a retried batch never
/// adds a second copy.
public struct GCSDestination: Destination {
    public struct Configuration: Sendable {
        public var name: String
        public var bucket: String
        /// `https://storage.googleapis.com` unless set (an emulator, a private endpoint).
        public var endpoint: String
        public var layout: ObjectLayout
        public var limits: BatchLimits

        public init(
            name: String, bucket: String, endpoint: String? = nil, layout: ObjectLayout,
            limits: BatchLimits = BatchLimits(maxEvents: 50_000, maxBytes: 16 << 20)
        ) {
            self.name = name
            self.bucket = bucket
            let base = endpoint ?? "https://storage.googleapis.com"
            self.endpoint = base.hasSuffix("/") ? String(base.dropLast()) : base
            self.layout = layout
            self.limits = limits
        }
    }

    let configuration: Configuration
    let http: HTTPDelivery
    let authorization: BearerAuthorization

    public init(configuration: Configuration, tokens: AccessTokenCache, transport: HTTPTransport, guardrail: OutboundURLGuard, timeout: Duration) {
        self.configuration = configuration
        self.http = HTTPDelivery(transport: transport, guardrail: guardrail, timeout: timeout)
        self.authorization = BearerAuthorization(cache: tokens)
    }

    public var name: String { configuration.name }
    public var type: String { "gcs" }
    public var limits: BatchLimits { configuration.limits }

    public func encodedSize(of event: OutboundEvent) -> Int { configuration.layout.encodedSize(of: event) }

    func uploadURL(for object: ObjectLayout.Object) -> String {
        var url = "\(configuration.endpoint)/upload/storage/v1/b/\(HTTPTransport.percentEncoded(configuration.bucket))/o"
        url += "?uploadType=media&ifGenerationMatch=0&name=\(HTTPTransport.percentEncoded(object.name))"
        if let encoding = object.contentEncoding { url += "&contentEncoding=\(encoding)" }
        return url
    }

    public func send(_ batch: [OutboundEvent]) async -> DeliveryOutcome {
        for object in configuration.layout.objects(for: batch) {
            let request = OutboundRequest(method: "POST", url: uploadURL(for: object), headers: [("Content-Type", object.contentType)], body: object.body)
            let answer = await authorization.send(request, via: http)
            if case .answered(let response) = answer, response.status == 412 {
                continue  // The object exists: an earlier attempt of this same batch wrote it.
            }
            let outcome = answer.outcome(destination: name)
            guard case .delivered = outcome else { return outcome }
        }
        return .delivered
    }
}
