/// Where leases live: the shared store, so every instance sees the same holder.
public protocol LeaseStore: Sendable {
    /// Takes `name` for `holder` (or renews it when `holder` has it) for `duration`; nil while
    /// another holder's lease has not lapsed.
    func acquireLease(_ name: String, holder: String, for duration: Duration) async throws(StoreError) -> Lease?
    /// Gives the lease up at once, so another instance can take it without waiting for it to lapse.
    func releaseLease(_ lease: Lease) async throws(StoreError)
    /// Every lease recorded, held or lapsed, by name.
    func leases() async throws(StoreError) -> [Lease]
}
