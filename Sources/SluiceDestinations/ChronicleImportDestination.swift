import Foundation
import SluiceCore
import SluiceHTTP

/// Google SecOps through the Chronicle API's `logTypes/{T}/logs:import`: raw logs as base64
/// `data` with entry and collection times, namespace and ingestion labels, at most 4 MB per
/// request, with a service-account token (cloud-platform scope). Each event goes under its own
/// log type unless the destination names one.
public struct ChronicleImportDestination: Destination {
    public struct Configuration: Sendable {
        public var name: String
        /// `https://{region}-chronicle.googleapis.com` or a regional `https://chronicle.{region}.rep.googleapis.com`.
        public var endpoint: String
        public var apiVersion: String
        public var project: String
        public var location: String
        /// The SecOps customer ID.
        public var instance: String
        /// Sends every event under this log type; nil uses each event's own.
        public var logType: String?
        public var namespace: String?
        public var labels: [(String, String)]
        /// `projects/P/locations/L/instances/I/forwarders/F`; optional.
        public var forwarder: String?
        public var limits: BatchLimits

        public init(
            name: String, endpoint: String, apiVersion: String = "v1alpha", project: String, location: String, instance: String,
            logType: String? = nil, namespace: String? = nil, labels: [(String, String)] = [], forwarder: String? = nil,
            limits: BatchLimits = BatchLimits(maxEvents: 10_000, maxBytes: 3_900_000)
        ) {
            self.name = name
            self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
            self.apiVersion = apiVersion
            self.project = project
            self.location = location
            self.instance = instance
            self.logType = logType
            self.namespace = namespace
            self.labels = labels
            self.forwarder = forwarder
            self.limits = limits
        }
    }

    /// The request limit the API documents; batches stay under it with room for the envelope.
    public static let maxRequestBytes = 4_000_000

    let configuration: Configuration
    let http: HTTPDelivery
    let authorization: BearerAuthorization
    /// `,"environment_namespace":…,"labels":{…}}` closing every entry, encoded once.
    let entrySuffix: [UInt8]
    let entryOverhead: Int

    public init(configuration: Configuration, tokens: AccessTokenCache, transport: HTTPTransport, guardrail: OutboundURLGuard, timeout: Duration) {
        self.configuration = configuration
        self.http = HTTPDelivery(transport: transport, guardrail: guardrail, timeout: timeout)
        self.authorization = BearerAuthorization(cache: tokens)
        var suffix: [UInt8] = []
        if let namespace = configuration.namespace { suffix += Array(",\"environment_namespace\":\(JSONValue.quoted(namespace))".utf8) }
        if !configuration.labels.isEmpty {
            let labels = JSONValue.object(configuration.labels.map { JSONMember($0.0, .object([JSONMember("value", .string($0.1))])) })
            suffix += Array(",\"labels\":".utf8)
            labels.write(into: &suffix, sortedKeys: false)
        }
        suffix.append(UInt8(ascii: "}"))
        entrySuffix = suffix
        let time = Timestamp(seconds: 0).rfc3339
        entryOverhead = "{\"data\":\"\",\"log_entry_time\":\"\(time)\",\"collection_time\":\"\(time)\"".utf8.count + suffix.count + 1
    }

    public var name: String { configuration.name }
    public var type: String { "chronicle_import" }
    public var limits: BatchLimits { configuration.limits }

    public func encodedSize(of event: OutboundEvent) -> Int { (event.raw.count + 2) / 3 * 4 + entryOverhead }

    func url(logType: String) -> String {
        let c = configuration
        let parent = "projects/\(c.project)/locations/\(c.location)/instances/\(c.instance)"
        return "\(c.endpoint)/\(c.apiVersion)/\(parent)/logTypes/\(HTTPTransport.percentEncoded(logType))/logs:import"
    }

    func body(_ events: ArraySlice<OutboundEvent>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(events.reduce(64) { $0 + encodedSize(of: $1) })
        out.append(contentsOf: "{\"inline_source\":{\"logs\":[".utf8)
        for (i, event) in events.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            // The API wants collection_time >= log_entry_time; an event dated in the future gets its own time.
            let collected = max(event.receivedAt, event.occurredAt)
            out.append(contentsOf: "{\"data\":\"".utf8)
            out.append(contentsOf: Data(event.raw).base64EncodedData())
            out.append(contentsOf: "\",\"log_entry_time\":\"\(event.occurredAt.rfc3339)\",\"collection_time\":\"\(collected.rfc3339)\"".utf8)
            out.append(contentsOf: entrySuffix)
        }
        out.append(UInt8(ascii: "]"))
        if let forwarder = configuration.forwarder { out.append(contentsOf: ",\"forwarder\":\(JSONValue.quoted(forwarder))".utf8) }
        out.append(contentsOf: "}}".utf8)
        return out
    }

    public func batchKey(of event: OutboundEvent) -> String? { configuration.logType ?? event.logType }

    /// The delivery loop batches by ``batchKey(of:)``, so a batch holds one log type.
    public func send(_ batch: [OutboundEvent]) async -> DeliveryOutcome {
        guard let first = batch.first else { return .delivered }
        let request = OutboundRequest(
            method: "POST", url: url(logType: configuration.logType ?? first.logType), headers: [("Content-Type", "application/json")], body: body(batch[...])
        )
        return await authorization.send(request, via: http).outcome(destination: name)
    }
}
