import Foundation
import SluiceCore

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
