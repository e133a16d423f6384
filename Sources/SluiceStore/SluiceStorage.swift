import SluiceCore

/// Everything Sluice keeps, whichever database holds it: events, delivery progress, workflow
/// journals and issued credentials. ``SQLiteEventStore`` (one instance) and
/// ``PostgresEventStore`` (several instances) both pass the same contract suites.
public protocol SluiceStorage: EventStore, DeliveryLedger, WorkflowJournal, CredentialStore {
    /// Bytes the store occupies, for `/metrics` (0 when it cannot be measured just now).
    func storedBytes() async -> Int64
    /// Why the store should not take more writes, or nil.
    func capacityProblem() async throws(StoreError) -> String?
    /// Moves a consumer's cursor; it never moves backwards unless `allowRewind` is set.
    func setConsumerCursor(_ consumer: String, to seq: Int64, at time: Timestamp, allowRewind: Bool) async throws(StoreError)
    /// Total stored events (a full count, so not for hot paths).
    func count() async throws(StoreError) -> Int
}

extension SQLiteEventStore: SluiceStorage {
    public func storedBytes() async -> Int64 { sizeInBytes() }
}

extension PostgresEventStore: SluiceStorage {
    public func storedBytes() async -> Int64 {
        (try? await sizeInBytes()) ?? 0
    }

    /// PostgreSQL's own limits (disk, quotas) surface as `full` errors on write; nothing is capped here.
    public func capacityProblem() async throws(StoreError) -> String? { nil }
}
