import Metrics

enum StoreMetrics {
    /// Time from the start of a group-commit transaction to its commit.
    static let commitDuration = Metrics.Timer(label: "sluice_store_commit_duration_seconds")
}
