import SluiceCore
import Synchronization

/// A destination's operator hold as last read from the store, read again only when an operator's
/// change commits (the store's control counter moves) or the store's fallback interval passed, so
/// that a delivery attempt does not cost a read of the store.
final class HoldWatch: Sendable {
    private struct Reading {
        var control: UInt64
        var at: ContinuousClock.Instant
        var hold: DestinationHold?
    }

    let destination: String
    let ledger: any DeliveryLedger
    private let last = Mutex<Reading?>(nil)

    init(destination: String, ledger: any DeliveryLedger) {
        self.destination = destination
        self.ledger = ledger
    }

    /// The hold in force at `mark` (read by the caller before this call).
    func hold(at mark: StoreChanges.Mark) async throws(StoreError) -> DestinationHold? {
        let fallback = ledger.changes.fallback
        if let reading = last.withLock({ $0 }), reading.control == mark.control, ContinuousClock.now - reading.at < fallback {
            return reading.hold
        }
        // A change committed after `mark` was read moves the counter past it, so this reading is
        // taken again next time: it can be early, never stale.
        let hold = try await ledger.hold(destination: destination)
        last.withLock { $0 = Reading(control: mark.control, at: .now, hold: hold) }
        return hold
    }
}
