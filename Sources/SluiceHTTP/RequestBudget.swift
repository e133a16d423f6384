/// A request budget shared by everything that calls one tenant: at most `limit` requests start
/// in any window of `window` (a sliding window, so a burst can never exceed the provider's
/// per-minute limit), and a 429 pauses every caller until the provider's `Retry-After` passes.
public actor RequestBudget {
    public let limit: Int
    public let window: Duration
    private let clock = ContinuousClock()
    /// Start times of the last `limit` requests, as a ring once full.
    private var starts: [ContinuousClock.Instant] = []
    private var oldest = 0
    private var pausedUntil: ContinuousClock.Instant?
    public private(set) var throttledCount = 0

    public init(limit: Int, window: Duration = .seconds(60)) {
        precondition(limit > 0, "a request budget needs a positive limit")
        self.limit = limit
        self.window = window
    }

    /// Waits until a request may start, then counts it.
    public func acquire() async throws {
        while true {
            let now = clock.now
            if let pausedUntil, now < pausedUntil {
                try await Task.sleep(until: pausedUntil, clock: clock)
                continue
            }
            if starts.count < limit {
                starts.append(now)
                return
            }
            let freeAt = starts[oldest] + window
            if freeAt <= now {
                starts[oldest] = now
                oldest = (oldest + 1) % limit
                return
            }
            try await Task.sleep(until: freeAt, clock: clock)
        }
    }

    /// Holds every caller for `delay` (a 429 from the provider applies to the whole tenant).
    public func pause(for delay: Duration) {
        throttledCount += 1
        let until = clock.now + delay
        if pausedUntil.map({ $0 < until }) ?? true { pausedUntil = until }
    }
}
