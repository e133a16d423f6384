import SluiceCore

/// How large one request to a destination may get.
public struct BatchLimits: Sendable, Hashable {
    public var maxEvents: Int
    /// Bytes of the encoded request body (before compression); a lone event larger than this is
    /// dead-lettered, since no batch could carry it.
    public var maxBytes: Int

    public init(maxEvents: Int, maxBytes: Int) {
        self.maxEvents = maxEvents
        self.maxBytes = maxBytes
    }
}

/// What one attempt to send a batch came to.
public enum DeliveryOutcome: Sendable, Hashable {
    case delivered
    /// Worth trying again (429, 5xx, timeouts, connection errors), after `after` when the
    /// destination said how long (Retry-After).
    case retry(after: Duration?, reason: String)
    /// The destination refused the credentials (401, 403): pause, alert, keep retrying slowly.
    case unauthorized(reason: String)
    /// The destination refused the content (400, 413): split the batch to find the offender.
    case rejected(reason: String)
    /// The events before `index` were accepted; the one at `index` was refused for `reason`
    /// (Splunk HEC's `invalid-event-number`).
    case rejectedAt(index: Int, reason: String)
}

/// A place events are delivered to. Implementations encode a batch, send it once, and classify
/// the answer; retrying, splitting, pausing and cursors belong to the delivery loop.
public protocol Destination: Sendable {
    var name: String { get }
    var type: String { get }
    var limits: BatchLimits { get }
    /// Bytes `event` adds to a request body in this destination's framing.
    func encodedSize(of event: OutboundEvent) -> Int
    /// Events with different keys go in different requests; nil (the default) for none.
    func batchKey(of event: OutboundEvent) -> String?
    /// One attempt; never throws: every failure is an outcome.
    func send(_ batch: [OutboundEvent]) async -> DeliveryOutcome
}

extension Destination {
    public func batchKey(of event: OutboundEvent) -> String? { nil }
}
