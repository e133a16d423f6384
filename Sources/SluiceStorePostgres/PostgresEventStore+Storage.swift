import SluiceCore

extension PostgresEventStore: SluiceStorage {
    public func storedBytes() async -> Int64 {
        (try? await sizeInBytes()) ?? 0
    }

    /// PostgreSQL's own limits (disk, quotas) surface as `full` errors on write; nothing is capped here.
    public func capacityProblem() async throws(StoreError) -> String? { nil }

    /// Nothing to finish: the connection pool and the writer stop with ``run()``.
    public func close() async {}
}
