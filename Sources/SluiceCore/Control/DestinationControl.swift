/// One destination as the admin API shows it. Never carries credentials.
public struct DestinationStatus: Sendable {
    public var name: String
    public var type: String
    /// The last `seq` the destination is done with.
    public var cursor: Int64
    /// Routed events after the cursor (counted up to a cap; see `lagEventsCapped`).
    public var lagEvents: Int
    public var lagEventsCapped: Bool
    /// How long the oldest routed event after the cursor has waited.
    public var lagSeconds: Double
    public var lastSuccess: Timestamp?
    public var lastError: String?
    public var lastErrorAt: Timestamp?
    /// Why delivery is paused (credentials refused, URL forbidden); nil when it is not.
    public var pausedReason: String?
    public var deadLetters: Int
    public var delivered: Int
    public var retried: Int
    public var deadLettered: Int
    public var openReplays: [ReplayJob]

    public init(
        name: String, type: String, cursor: Int64, lagEvents: Int, lagEventsCapped: Bool, lagSeconds: Double, lastSuccess: Timestamp?,
        lastError: String?, lastErrorAt: Timestamp?, pausedReason: String?, deadLetters: Int, delivered: Int, retried: Int, deadLettered: Int,
        openReplays: [ReplayJob]
    ) {
        self.name = name
        self.type = type
        self.cursor = cursor
        self.lagEvents = lagEvents
        self.lagEventsCapped = lagEventsCapped
        self.lagSeconds = lagSeconds
        self.lastSuccess = lastSuccess
        self.lastError = lastError
        self.lastErrorAt = lastErrorAt
        self.pausedReason = pausedReason
        self.deadLetters = deadLetters
        self.delivered = delivered
        self.retried = retried
        self.deadLettered = deadLettered
        self.openReplays = openReplays
    }
}

/// What the admin API and the web UI may see and do with the running destinations.
public protocol DestinationControl: Sendable {
    func statuses() async throws(StoreError) -> [DestinationStatus]
    /// An operator's actions (re-drive, replay, pause), shared with the CLI.
    var administration: DestinationAdministration { get }
}
