import ServiceLifecycle

/// Everything Sluice keeps, whichever database holds it: events, delivery progress, workflow
/// journals and issued credentials. The SQLite store (one instance, `SluiceStoreSQLite`) and the
/// PostgreSQL store (several instances, `SluiceStorePostgres`) both pass the same contract suites.
///
/// A store is the first ``Service`` of the one service group of `sluice serve` (and of
/// `sluice collect --schedule`): it is open before any other service starts, and a graceful
/// shutdown, which stops the group's services last to first, reaches it only after everything
/// that reads or writes it has returned. Its ``run()`` then finishes its writes (``close()``).
public protocol SluiceStorage: EventStore, DeliveryLedger, WorkflowJournal, CredentialStore, LeaseStore, Service {
    /// Bytes the store occupies, for `/metrics` (0 when it cannot be measured just now).
    func storedBytes() async -> Int64
    /// Why the store should not take more writes, or nil.
    func capacityProblem() async throws(StoreError) -> String?
    /// Moves a consumer's cursor; it never moves backwards unless `allowRewind` is set.
    func setConsumerCursor(_ consumer: String, to seq: Int64, at time: Timestamp, allowRewind: Bool) async throws(StoreError)
    /// Total stored events (a full count, so not for hot paths).
    func count() async throws(StoreError) -> Int
    /// Events and bytes per source, log type and encoding (`sluice storage stats`).
    func storageStats() async throws(StoreError) -> StorageStats
    /// Moves every event still in the layout before compression into it now; returns how many moved.
    func compactAll() async throws(StoreError) -> Int
    /// Reads every stored event back and runs the database's own check; lists at most
    /// `maxReported` unreadable events.
    func checkStorage(maxReported: Int) async throws(StoreError) -> StorageCheck
    /// Finishes what a clean stop should not leave behind (SQLite: indexes every committed event
    /// and empties the WAL into the database file). The store stays usable; a crash instead of
    /// this loses nothing either, it only leaves that work for the next start.
    func close() async
}

extension SluiceStorage {
    /// Waits for the group's graceful shutdown (or cancellation), then ``close()``s the store.
    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }
}
