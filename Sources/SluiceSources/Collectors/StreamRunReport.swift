import SluiceCore

/// What one run of one stream did, as `GET /v1/collectors` shows it.
public struct StreamRunReport: Sendable, Hashable, Codable {
    public enum Outcome: String, Sendable, Hashable, Codable {
        case succeeded
        case failed
        /// Not run: the stream was already running.
        case skipped
    }

    public var stream: String
    public var started: Timestamp
    public var finished: Timestamp
    public var outcome: Outcome
    public var error: String?
    public var pages: Int
    public var eventsNew: Int
    public var eventsDuplicate: Int
    public var requests: Int
    public var throttled: Int
    public var retries: Int
    /// For the window finished by this run: the provider's `totalCount` and what was received.
    public var window: WindowCount?
    public var warnings: [String]

    enum CodingKeys: String, CodingKey {
        case stream, started, finished, outcome, error, pages, requests, throttled, retries, window, warnings
        case eventsNew = "events_new"
        case eventsDuplicate = "events_duplicate"
    }
}

/// Counters of one stream's run, reported in its status.
public struct StreamRunCounters: Sendable, Hashable {
    public var pages = 0
    public var eventsNew = 0
    public var eventsDuplicate = 0
    public var requests = 0
    public var throttled = 0
    public var retries = 0

    public init() {}

    /// Adds the request counts of a fetch made beside the run (pages and events are counted on commit).
    mutating func add(_ other: StreamRunCounters) {
        requests += other.requests
        throttled += other.throttled
        retries += other.retries
    }
}
