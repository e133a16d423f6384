/// A time-limited claim of one instance on a piece of work (a collector, a destination, a
/// workflow), so that several instances on one store never do it twice at once.
public struct Lease: Sendable, Hashable {
    /// What is held: `destination/NAME`, `collector/NAME`, `workflow/NAME`.
    public var name: String
    /// The instance holding it (see ``InstanceIdentity``).
    public var holder: String
    /// The fencing token: grows every time the lease changes hands (or is taken again after it
    /// lapsed), so a commit made under an older holding can be told apart and refused.
    public var token: Int64
    /// When it lapses unless renewed, by the store's clock.
    public var expiresAt: Timestamp

    public init(name: String, holder: String, token: Int64, expiresAt: Timestamp) {
        self.name = name
        self.holder = holder
        self.token = token
        self.expiresAt = expiresAt
    }
}

/// This process's name as a lease holder: host, process id and a random part, so a restarted
/// process never mistakes its predecessor's leases for its own.
public enum InstanceIdentity {
    public static func make(host: String, processID: Int32) -> String {
        var random = SystemRandomNumberGenerator()
        return "\(host)/\(processID)/\(String(random.next() as UInt32, radix: 36))"
    }
}
