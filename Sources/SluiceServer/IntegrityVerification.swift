import Foundation
import Hummingbird
import SluiceCore
import SluiceIntegrity
import Synchronization

/// Verification as the API (`GET /v1/integrity/verify`) and the web UI (`/ui/integrity`) run it,
/// and the audit log page's integrity line: the newest checkpoint (one indexed read) and, once
/// someone has verified on this instance, what that found. Verifying reads every event, so a
/// page view never does it.
final class IntegrityVerification: Sendable {
    let store: any EventStore
    let key: IntegrityPublicKey?
    /// The keys whose checkpoints verify (`key` and the keys before a rotation).
    let trusted: [IntegrityPublicKey]
    let now: @Sendable () -> Timestamp
    /// The last verification run here: its report's summary and when it ran.
    private let last = Mutex<(report: IntegrityReport, at: Timestamp)?>(nil)

    init(store: any EventStore, key: IntegrityPublicKey?, trusted: [IntegrityPublicKey], now: @escaping @Sendable () -> Timestamp) {
        self.store = store
        self.key = key
        self.trusted = trusted
        self.now = now
    }

    /// The status line's values for the audit log page; nil while integrity is off.
    func line(offsetMinutes: Int) async -> [String: Any]? {
        guard key != nil else { return nil }
        var values: [String: Any] = [:]
        if let (report, at) = last.withLock({ $0 }) {
            if report.isIntact, let through = report.verifiedThrough {
                values["verified"] = "Verified through seq \(through.lastSeq) (checkpoint of \(WebPages.time(through.time, offsetMinutes: offsetMinutes)))"
                    + " at \(WebPages.time(at, offsetMinutes: offsetMinutes))."
            } else if !report.isIntact {
                values["broken"] = "Not intact: \(report.problems.count) problem\(report.problems.count == 1 ? "" : "s") found at \(WebPages.time(at, offsetMinutes: offsetMinutes))."
            }
        }
        let filter = EventFilter(source: AdminAuditEntry.source, logType: IntegrityCheckpoint.logType)
        if let newest = try? await store.events(matching: filter, after: nil, limit: 1).events.first,
           let checkpoint = IntegrityCheckpoint(event: newest) {
            values["newest"] = "Newest checkpoint: seq \(newest.seq), covering through seq \(checkpoint.seqs.last ?? 0), signed \(WebPages.time(checkpoint.time, offsetMinutes: offsetMinutes)) by key \(checkpoint.keyID)."
        } else {
            values["newest"] = "No checkpoint yet: the first is written within integrity.interval of the first event."
        }
        return values
    }

    /// Runs a verification (of the whole store unless `scope` says otherwise) and keeps the
    /// summary of a whole-store one for the status line.
    func verify(_ scope: IntegrityVerifier.Scope = .all) async throws -> IntegrityReport? {
        guard key != nil else { return nil }
        let report = try await storeCall { try await IntegrityVerifier(store: store, keys: trusted).verify(scope) }
        if scope == .all { last.withLock { $0 = (report, now()) } }
        return report
    }
}
