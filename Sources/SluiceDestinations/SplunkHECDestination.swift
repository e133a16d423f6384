import Foundation
import SluiceCore
import SluiceHTTP

/// Splunk HTTP Event Collector: concatenated JSON envelopes to `/services/collector/event`,
/// `Authorization: Splunk <token>`, a request channel, and optional indexer acknowledgement (a
/// batch counts as delivered only once HEC reports its ackId indexed).
public struct SplunkHECDestination: Destination {
    public struct Configuration: Sendable {
        public var name: String
        /// `https://splunk.example.com:8088`
        public var baseURL: String
        public var token: String
        public var index: String?
        /// nil: the event's log type.
        public var sourcetype: String?
        public var host: String?
        public var channel: String
        public var acknowledgement: Bool
        public var ackTimeout: Duration
        public var ackPollInterval: Duration
        public var limits: BatchLimits

        public init(
            name: String, baseURL: String, token: String, index: String? = nil, sourcetype: String? = nil, host: String? = nil,
            channel: String, acknowledgement: Bool = false, ackTimeout: Duration = .seconds(120), ackPollInterval: Duration = .seconds(1),
            limits: BatchLimits = BatchLimits(maxEvents: 10_000, maxBytes: 1_000_000)
        ) {
            self.name = name
            self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
            self.token = token
            self.index = index
            self.sourcetype = sourcetype
            self.host = host
            self.channel = channel
            self.acknowledgement = acknowledgement
            self.ackTimeout = ackTimeout
            self.ackPollInterval = ackPollInterval
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
    public var type: String { "splunk_hec" }
    public var limits: BatchLimits { configuration.limits }

    /// The envelope around the raw event: everything but `event`'s value.
    func envelopePrefix(_ event: OutboundEvent) -> [UInt8] {
        var out: [UInt8] = Array("{\"time\":".utf8)
        let micros = event.occurredAt.microseconds
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let fraction = micros - seconds * 1_000_000
        out += Array("\(seconds).".utf8)
        let digits = String(fraction)
        out += Array((String(repeating: "0", count: 6 - digits.count) + digits).utf8)
        func member(_ key: String, _ value: String) {
            out += Array(",\"\(key)\":".utf8)
            JSONValue.writeString(value, into: &out)
        }
        if let host = configuration.host { member("host", host) }
        member("source", event.source)
        member("sourcetype", configuration.sourcetype ?? event.logType)
        if let index = configuration.index { member("index", index) }
        out += Array(",\"event\":".utf8)
        return out
    }

    public func encodedSize(of event: OutboundEvent) -> Int { envelopePrefix(event).count + event.raw.count + 2 }

    /// The request body for `batch`: one envelope per line.
    public func encode(_ batch: [OutboundEvent]) -> [UInt8] {
        var body: [UInt8] = []
        for event in batch {
            body += envelopePrefix(event)
            body += event.singleLineRaw
            body += Array("}\n".utf8)
        }
        return body
    }

    var headers: [(String, String)] {
        [("Authorization", "Splunk \(configuration.token)"), ("X-Splunk-Request-Channel", configuration.channel), ("Content-Type", "application/json")]
    }

    public func send(_ batch: [OutboundEvent]) async -> DeliveryOutcome {
        let request = OutboundRequest(method: "POST", url: "\(configuration.baseURL)/services/collector/event", headers: headers, body: encode(batch))
        let response: OutboundResponse
        switch await http.send(request) {
        case .success(let r): response = r
        case .failure(let error): return ResponseClassifier.classify(error)
        }
        let answer = try? JSONParser.parse(response.body)
        let code = answer?["code"].flatMap { if case .number(let n) = $0 { Int(n) } else { nil } }
        let text = ResponseClassifier.errorMessage(response.body) ?? "no body"
        switch response.status {
        case 200..<300:
            guard configuration.acknowledgement else { return .delivered }
            guard let ackID = answer?["ackId"].flatMap({ if case .number(let n) = $0 { Int(n) } else { nil } }) else {
                return .unauthorized(reason: "HEC answered without an ackId though acknowledgement is configured; enable indexer acknowledgement on the token or set acknowledgement: false")
            }
            return await awaitAcknowledgement(ackID)
        case 400 where code == 6:
            if let index = answer?["invalid-event-number"].flatMap({ if case .number(let n) = $0 { Int(n) } else { nil } }), index >= 0, index < batch.count {
                return .rejectedAt(index: index, reason: "HEC refused the event: \(text)")
            }
            return .rejected(reason: "HEC refused the batch: \(text)")
        case 400 where code == 7 || code == 10 || code == 11 || code == 14 || code == 16:
            // Index, channel or acknowledgement settings: fixable configuration, never the events' fault.
            return .unauthorized(reason: "HEC refused the request (\(text)); fix the destination's index, channel or acknowledgement settings")
        default:
            return ResponseClassifier.classify(response, destination: name)
        }
    }

    /// Polls `/services/collector/ack` until the batch's ackId is reported indexed; a batch not
    /// acknowledged in time is sent again (at least once, so a duplicate is possible).
    func awaitAcknowledgement(_ ackID: Int) async -> DeliveryOutcome {
        let deadline = ContinuousClock.now + configuration.ackTimeout
        while ContinuousClock.now < deadline {
            do {
                try await Task.sleep(for: configuration.ackPollInterval)
            } catch {
                return .retry(after: nil, reason: "cancelled while waiting for HEC acknowledgement \(ackID)")
            }
            let request = OutboundRequest(
                method: "POST", url: "\(configuration.baseURL)/services/collector/ack?channel=\(HTTPTransport.percentEncoded(configuration.channel))",
                headers: headers, body: Array("{\"acks\":[\(ackID)]}".utf8)
            )
            switch await http.send(request) {
            case .success(let response) where response.status == 200:
                if case .bool(true)? = (try? JSONParser.parse(response.body))?["acks"]?[String(ackID)] { return .delivered }
            case .success(let response):
                let outcome = ResponseClassifier.classify(response, destination: name)
                if case .unauthorized = outcome { return outcome }
            case .failure:
                continue
            }
        }
        return .retry(after: nil, reason: "HEC did not acknowledge batch \(ackID) within \(configuration.ackTimeout); sending it again")
    }
}
