import Metrics
import SluiceCore

package enum StoreMetrics {
    /// Time from the start of a group-commit transaction to its commit. Resolved on each use
    /// (once per group commit) so that it follows whichever metrics backend is bootstrapped.
    package static var commitDuration: Metrics.Timer { Metrics.Timer(label: "sluice_store_commit_duration_seconds") }

    /// Events committed but not yet in the filter index, as of the last indexing pass: high after
    /// an upgrade that rebuilds the index, or when the writer cannot keep up.
    package static var unindexedEvents: Gauge { Gauge(label: "sluice_store_unindexed_events") }

    /// Events committed that consumers cannot read yet because an older transaction on the
    /// PostgreSQL server is still running (PostgreSQL only; docs/storage.md, "Ordering on PostgreSQL").
    package static var heldBackEvents: Gauge { Gauge(label: "sluice_store_held_back_events") }
}

extension Duration {
    /// Whole nanoseconds, for timers.
    package var nanosecondsApprox: Int64 {
        let (s, atto) = components
        return s * 1_000_000_000 + atto / 1_000_000_000
    }
}

/// Bounds shared by both stores' listings.
package enum QueryLimits {
    /// Most events one page of a free-text search reads when no indexed term narrows it (about
    /// 100 ms on a 2-core machine); the next page continues where it stopped.
    package static let textScanLimit = 50_000
}

extension EventCounts {
    /// The counts of what a histogram's bounded free-text scan found (the events of the window,
    /// newest first, at most ``QueryLimits/textScanLimit``): incomplete when the scan filled its
    /// bound or stopped early, counted from the oldest time it reached.
    package init(scanned events: [StoredEvent], stoppedAt: EventCursor?, buckets: HistogramBuckets) {
        var counts = [Int](repeating: 0, count: buckets.count)
        for event in events {
            if let bucket = buckets.bucket(of: event.normalized.occurredAt) { counts[bucket] += 1 }
        }
        if events.count >= QueryLimits.textScanLimit, let last = events.last {
            self.init(counts: counts, complete: false, countedFrom: last.normalized.occurredAt)
        } else if let stoppedAt {
            self.init(counts: counts, complete: false, countedFrom: stoppedAt.occurredAt)
        } else {
            self.init(counts: counts)
        }
    }
}
