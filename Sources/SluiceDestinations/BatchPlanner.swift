import SluiceCore

/// Cuts routed events into batches that fit a destination's limits, in order. An event that
/// alone exceeds the byte limit cannot be carried by any batch and is set aside with a reason.
public struct BatchPlanner: Sendable {
    public struct Plan: Sendable {
        public var batches: [[OutboundEvent]]
        public var oversized: [(event: OutboundEvent, reason: String)]
    }

    public var limits: BatchLimits

    public init(limits: BatchLimits) {
        self.limits = limits
    }

    /// - Parameter key: events whose keys differ never share a batch (a destination that sends
    ///   one log type per request); nil keeps every event batchable with every other.
    public func plan(_ events: [OutboundEvent], size: (OutboundEvent) -> Int, key: ((OutboundEvent) -> String?)? = nil) -> Plan {
        var plan = Plan(batches: [], oversized: [])
        var current: [OutboundEvent] = []
        var currentKey: String?
        var bytes = 0
        for event in events {
            let eventBytes = size(event)
            if eventBytes > limits.maxBytes {
                plan.oversized.append((event, "the event encodes to \(eventBytes) bytes, more than the destination's limit of \(limits.maxBytes) bytes per request"))
                continue
            }
            let eventKey = key?(event)
            if !current.isEmpty && (current.count >= limits.maxEvents || bytes + eventBytes > limits.maxBytes || eventKey != currentKey) {
                plan.batches.append(current)
                current = []
                bytes = 0
            }
            currentKey = eventKey
            current.append(event)
            bytes += eventBytes
        }
        if !current.isEmpty { plan.batches.append(current) }
        return plan
    }
}
