import SluiceCore

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

/// Why a delivery request could not be done.
public struct DeliveryControlError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Hashable { case unknownDestination, invalidRequest, store }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// What the admin API may see and do with the running destinations.
public protocol DestinationControl: Sendable {
    func statuses() async throws(StoreError) -> [DestinationStatus]
    func deadLetters(_ destination: String, afterSeq: Int64, limit: Int) async throws(DeliveryControlError) -> [DeadLetter]
    /// Marks dead letters (all when `seqs` is nil) to be sent again; returns how many. Recorded
    /// as `destination.dead_letters_redriven` by `requester`.
    func redrive(_ destination: String, seqs: [Int64]?, by requester: AuditRequester) async throws(DeliveryControlError) -> Int
    /// Queues a re-send of the events that occurred in `[since, until)`. Recorded as
    /// `destination.replay_started` by `requester`.
    func replay(_ destination: String, since: Timestamp, until: Timestamp, by requester: AuditRequester) async throws(DeliveryControlError) -> ReplayJob
    /// Pauses (`reason` given) or resumes (nil) delivery to `destination`; false when it already
    /// was in that state. Recorded as `destination.paused` / `destination.resumed` by `requester`.
    func setPaused(_ destination: String, reason: String?, by requester: AuditRequester) async throws(DeliveryControlError) -> Bool
}
