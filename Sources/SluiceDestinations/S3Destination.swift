import Foundation
import SluiceCore
import SluiceHTTP

/// Amazon S3 or any S3-compatible store: one PutObject per object of ``ObjectLayout``, signed
/// with SigV4, create-only (`If-None-Match: *`), so a retried batch never adds a second copy.
public struct S3Destination: Destination {
    public struct Configuration: Sendable {
        public var name: String
        public var bucket: String
        public var region: String
        /// `https://s3.{region}.amazonaws.com` when nil; set for S3-compatible stores.
        public var endpoint: String?
        /// Path-style URLs (`{endpoint}/{bucket}/{key}`); virtual-hosted when false.
        public var pathStyle: Bool
        public var credentials: AWSSignatureV4
        public var layout: ObjectLayout
        public var limits: BatchLimits

        public init(
            name: String, bucket: String, region: String, endpoint: String?, pathStyle: Bool, accessKeyID: String, secretAccessKey: String,
            sessionToken: String? = nil, layout: ObjectLayout, limits: BatchLimits = BatchLimits(maxEvents: 50_000, maxBytes: 16 << 20)
        ) {
            self.name = name
            self.bucket = bucket
            self.region = region
            self.endpoint = endpoint.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
            self.pathStyle = pathStyle
            self.credentials = AWSSignatureV4(accessKeyID: accessKeyID, secretAccessKey: secretAccessKey, sessionToken: sessionToken, region: region)
            self.layout = layout
            self.limits = limits
        }
    }

    let configuration: Configuration
    let http: HTTPDelivery
    let now: @Sendable () -> Date

    public init(
        configuration: Configuration, transport: HTTPTransport, guardrail: OutboundURLGuard, timeout: Duration, now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.configuration = configuration
        self.http = HTTPDelivery(transport: transport, guardrail: guardrail, timeout: timeout)
        self.now = now
    }

    public var name: String { configuration.name }
    public var type: String { "s3" }
    public var limits: BatchLimits { configuration.limits }

    public func encodedSize(of event: OutboundEvent) -> Int { configuration.layout.encodedSize(of: event) }

    /// The URL and signing path of an object.
    func location(of key: String) -> (url: String, host: String, path: String) {
        let c = configuration
        let base = c.endpoint ?? "https://s3.\(c.region).amazonaws.com"
        guard let components = URLComponents(string: base), let scheme = components.scheme, let host = components.host else {
            return (base, "", "")
        }
        let port = components.port.map { ":\($0)" } ?? ""
        if c.pathStyle {
            let path = AWSSignatureV4.s3Path(bucket: c.bucket, key: key)
            return ("\(scheme)://\(host)\(port)\(path)", "\(host)\(port)", path)
        }
        let path = AWSSignatureV4.s3Path(bucket: nil, key: key)
        return ("\(scheme)://\(c.bucket).\(host)\(port)\(path)", "\(c.bucket).\(host)\(port)", path)
    }

    public func send(_ batch: [OutboundEvent]) async -> DeliveryOutcome {
        for object in configuration.layout.objects(for: batch) {
            let outcome = await put(object)
            guard case .delivered = outcome else { return outcome }
        }
        return .delivered
    }

    func put(_ object: ObjectLayout.Object) async -> DeliveryOutcome {
        let (url, host, path) = location(of: object.name)
        var headers = [("host", host), ("content-type", object.contentType), ("if-none-match", "*")]
        if let encoding = object.contentEncoding { headers.append(("content-encoding", encoding)) }
        let signed = configuration.credentials.sign(
            method: "PUT", canonicalPath: path, headers: headers, payloadHash: AWSSignatureV4.hexSHA256(object.body), date: now()
        )
        // Host is set by the HTTP client from the URL; it was signed with the same value.
        let request = OutboundRequest(method: "PUT", url: url, headers: headers.filter { $0.0 != "host" } + signed, body: object.body)
        switch await http.send(request) {
        case .success(let response) where response.status == 412:
            // The object exists: an earlier attempt of this same batch wrote it.
            return .delivered
        case .success(let response):
            return ResponseClassifier.classify(response, destination: name)
        case .failure(let error):
            return ResponseClassifier.classify(error)
        }
    }
}
