/// An operator's pause of a destination: nothing is sent until it is released; events keep
/// being stored and wait behind the destination's cursor.
public struct DestinationHold: Sendable, Hashable {
    public var reason: String
    /// The actor's name (an admin token's name, or `cli:<login>`).
    public var heldBy: String
    public var heldAt: Timestamp

    public init(reason: String, heldBy: String, heldAt: Timestamp) {
        self.reason = reason
        self.heldBy = heldBy
        self.heldAt = heldAt
    }

    /// How status shows it.
    public var description: String { "paused by \(heldBy) at \(heldAt.rfc3339): \(reason)" }
}
