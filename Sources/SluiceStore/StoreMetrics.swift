import Metrics

enum StoreMetrics {
    /// Time from the start of a group-commit transaction to its commit. Resolved on each use
    /// (once per group commit) so that it follows whichever metrics backend is bootstrapped.
    static var commitDuration: Metrics.Timer { Metrics.Timer(label: "sluice_store_commit_duration_seconds") }

    /// Events committed but not yet in the filter index, as of the last indexing pass: high after
    /// an upgrade that rebuilds the index, or when the writer cannot keep up.
    static var unindexedEvents: Gauge { Gauge(label: "sluice_store_unindexed_events") }
}
