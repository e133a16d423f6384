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
    /// The largest lag seen in each of the last 60 minutes, oldest first; nil for a minute this
    /// instance did not look (it did not deliver to the destination then).
    public var lagLastHour: [Double?] = []

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

/// The largest value recorded in each minute of the last hour (a destination's lag).
public struct MinuteMaxima: Sendable {
    private var minutes: [Int64: Double] = [:]

    public init() {}

    public mutating func record(_ value: Double, at time: Timestamp) {
        let minute = time.microseconds / 60_000_000
        minutes[minute] = max(minutes[minute] ?? value, value)
        // Forget what is older than an hour.
        if minutes.count > 90 { minutes = minutes.filter { $0.key > minute - 60 } }
    }

    /// The 60 minutes ending with the one holding `now`, oldest first.
    public func lastHour(endingAt now: Timestamp) -> [Double?] {
        let last = now.microseconds / 60_000_000
        return ((last - 59)...last).map { minutes[$0] }
    }
}
