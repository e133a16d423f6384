import Metrics

enum StoreMetrics {
    /// Time from the start of a group-commit transaction to its commit. Resolved on each use
    /// (once per group commit) so that it follows whichever metrics backend is bootstrapped.
    static var commitDuration: Metrics.Timer { Metrics.Timer(label: "sluice_store_commit_duration_seconds") }
}
