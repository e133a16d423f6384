import Foundation
import SluiceCore

/// Everything Sluice keeps, whichever database holds it: events, delivery progress, workflow
/// journals and issued credentials. ``SQLiteEventStore`` (one instance) and
/// ``PostgresEventStore`` (several instances) both pass the same contract suites.
public protocol SluiceStorage: EventStore, DeliveryLedger, WorkflowJournal, CredentialStore, LeaseStore {
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

/// A SQLite file has one writing process (`sluice serve`), so every lease is granted at once
/// (token 1) and nothing needs fencing; a collector's checkpoint compare-and-set still keeps a
/// concurrent `sluice collect` from storing a page twice.
extension SQLiteEventStore: LeaseStore {
    public func acquireLease(_ name: String, holder: String, for duration: Duration) async throws(StoreError) -> Lease? {
        let now = Timestamp(microseconds: Int64(Date().timeIntervalSince1970 * 1_000_000))
        return Lease(name: name, holder: holder, token: 1, expiresAt: now + duration)
    }

    public func releaseLease(_ lease: Lease) async throws(StoreError) {}

    public func leases() async throws(StoreError) -> [Lease] { [] }
}

extension PostgresEventStore: SluiceStorage {
    public func storedBytes() async -> Int64 {
        (try? await sizeInBytes()) ?? 0
    }

    /// PostgreSQL's own limits (disk, quotas) surface as `full` errors on write; nothing is capped here.
    public func capacityProblem() async throws(StoreError) -> String? { nil }
}
