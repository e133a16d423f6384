/// An event a destination refused for a reason retrying cannot fix (HTTP 400 or 413 for it alone,
/// or larger than the destination accepts). Kept, with the reason, until an operator re-drives it.
public struct DeadLetter: Sendable, Hashable {
    public var destination: String
    public var seq: Int64
    public var reason: String
    public var createdAt: Timestamp
    /// Times it was re-driven and refused again.
    public var attempts: Int
    /// Set when an operator asked for it to be sent again; the delivery loop picks it up.
    public var redriveRequested: Bool

    public init(destination: String, seq: Int64, reason: String, createdAt: Timestamp, attempts: Int = 1, redriveRequested: Bool = false) {
        self.destination = destination
        self.seq = seq
        self.reason = reason
        self.createdAt = createdAt
        self.attempts = attempts
        self.redriveRequested = redriveRequested
    }
}

/// A request to send a range of events (by occurrence time) to a destination again. Stored, so
/// a replay survives a restart and resumes where it stopped.
public struct ReplayJob: Sendable, Hashable {
    public var id: Int64
    public var destination: String
    public var since: Timestamp
    public var until: Timestamp
    /// The last event sent, by (occurred_at, seq); nil before the first batch.
    public var position: EventCursor?
    public var sent: Int
    public var createdAt: Timestamp
    public var finishedAt: Timestamp?

    public init(
        id: Int64, destination: String, since: Timestamp, until: Timestamp, position: EventCursor?, sent: Int, createdAt: Timestamp,
        finishedAt: Timestamp?
    ) {
        self.id = id
        self.destination = destination
        self.since = since
        self.until = until
        self.position = position
        self.sent = sent
        self.createdAt = createdAt
        self.finishedAt = finishedAt
    }
}
