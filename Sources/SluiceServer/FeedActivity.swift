import SluiceCore
import Synchronization

/// What each feed received over the last 24 hours on this instance, in hourly buckets: events
/// accepted and duplicate, requests refused by reason, and the last accepted push. Kept in
/// memory (a restart starts from zero) for the web UI's feeds page; metrics carry the totals.
final class FeedActivity: Sendable {
    struct Bucket {
        var hour: Int64
        var accepted = 0
        var duplicates = 0
        var rejected: [String: Int] = [:]
    }

    struct Summary: Sendable {
        var accepted = 0
        var duplicates = 0
        var rejected: [String: Int] = [:]
        var lastAccepted: Timestamp?
    }

    private struct FeedState {
        var buckets: [Bucket] = []
        var lastAccepted: Timestamp?
    }

    private let state = Mutex<[String: FeedState]>([:])
    let now: @Sendable () -> Timestamp

    init(now: @escaping @Sendable () -> Timestamp) {
        self.now = now
    }

    func accepted(feed: String, events: Int, duplicates: Int) {
        update(feed, at: now(), acceptedEvents: events > 0) { bucket in
            bucket.accepted += events
            bucket.duplicates += duplicates
        }
    }

    func rejected(feed: String, reason: String) {
        update(feed, at: now()) { $0.rejected[reason, default: 0] += 1 }
    }

    /// The last 24 hours of `feed`.
    func summary(_ feed: String) -> Summary {
        let since = Self.hour(of: now()) - 23
        return state.withLock { all in
            var summary = Summary(lastAccepted: all[feed]?.lastAccepted)
            for bucket in all[feed]?.buckets ?? [] where bucket.hour >= since {
                summary.accepted += bucket.accepted
                summary.duplicates += bucket.duplicates
                summary.rejected.merge(bucket.rejected, uniquingKeysWith: +)
            }
            return summary
        }
    }

    /// One lock per push: the hour's bucket, and the last accepted time when events were accepted.
    private func update(_ feed: String, at time: Timestamp, acceptedEvents: Bool = false, _ change: (inout Bucket) -> Void) {
        let hour = Self.hour(of: time)
        state.withLock { all in
            var feedState = all[feed] ?? FeedState()
            if acceptedEvents { feedState.lastAccepted = time }
            if feedState.buckets.last?.hour != hour {
                feedState.buckets.removeAll { $0.hour < hour - 23 }
                feedState.buckets.append(Bucket(hour: hour))
            }
            change(&feedState.buckets[feedState.buckets.count - 1])
            all[feed] = feedState
        }
    }

    private static func hour(of time: Timestamp) -> Int64 { time.hour }
}
