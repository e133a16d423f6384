import SluiceHTTP

/// How one destination's delivery loop behaves: concurrency, waiting, retrying.
public struct DeliverySettings: Sendable, Hashable {
    /// Batches in flight at once.
    public var concurrency: Int
    /// How long a batch that is not full may wait for more events.
    public var maxWait: Duration
    /// While a batch waits for company (up to `maxWait`), how often the loop looks for more
    /// events. An idle loop does not poll: the store's commits wake it (``StoreChanges``).
    public var pollInterval: Duration
    public var backoff: Backoff
    /// The longest `Retry-After` honoured; a longer one is clamped.
    public var maxRetryAfter: Duration
    /// How often a paused destination (credentials refused) is tried again.
    public var pausedRetryInterval: Duration
    /// Attempts before a batch that keeps failing is dead-lettered; nil: never give up.
    public var maxAttempts: Int?

    public init(
        concurrency: Int = 2, maxWait: Duration = .milliseconds(500), pollInterval: Duration = .milliseconds(100),
        backoff: Backoff = Backoff(base: .seconds(1), cap: .seconds(60)), maxRetryAfter: Duration = .seconds(300),
        pausedRetryInterval: Duration = .seconds(60), maxAttempts: Int? = nil
    ) {
        self.concurrency = concurrency
        self.maxWait = maxWait
        self.pollInterval = pollInterval
        self.backoff = backoff
        self.maxRetryAfter = maxRetryAfter
        self.pausedRetryInterval = pausedRetryInterval
        self.maxAttempts = maxAttempts
    }

    /// The same rules as every other outbound request (`Retry-After` clamped, else jittered
    /// backoff); `maxAttempts` nil never gives up.
    public var retry: RetryPolicy {
        RetryPolicy(maxAttempts: maxAttempts ?? .max, backoff: backoff, maxRetryAfter: maxRetryAfter)
    }
}
