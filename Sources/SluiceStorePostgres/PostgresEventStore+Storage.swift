import SluiceCore

extension PostgresEventStore: SluiceStorage {
    public func storedBytes() async -> Int64 {
        (try? await sizeInBytes()) ?? 0
    }

    /// PostgreSQL's own limits (disk, quotas) surface as `full` errors on write; nothing is capped here.
    public func capacityProblem() async throws(StoreError) -> String? { nil }

    /// Writes the source arrivals gathered since the last flush (``SourceArrivalBuffer``). Nothing
    /// else to finish: an append returns only once committed or failed, so when every producer has
    /// stopped nothing is queued; the connection pool and the writer stop with ``runConnections()``,
    /// after this.
    public func close() async {
        await flushAllArrivals()
    }
}
