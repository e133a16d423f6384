import SluiceCore
import Synchronization

/// Turns failed authentications (pushes to a feed, UI sign-ins) into at most one audit entry
/// (`feed.auth_failed`, `ui.sign_in_failed`) per scope and source IP per window, so a flood of
/// bad requests costs a counter, not storage. The first
/// failure of a window is reported at once; the ones after it are counted into the next report.
/// Past `maxTracked` pairs, new IPs share one tally (`"*"`), which keeps storage bounded even
/// against a sender that rotates addresses.
final class AuthFailureSummaries: Sendable {
    struct Tally {
        var windowStart: Timestamp
        /// Failures since the last report, and their reasons.
        var unreported = 0
        var reasons: [String: Int] = [:]
        var lastReport: Timestamp
    }

    let action: String
    /// The entry's target: this type, with the scope as id (none when nil).
    let targetType: String?
    let window: Duration
    let maxTracked: Int
    private struct State {
        var tallies: [String: Tally] = [:]
        /// When expired tallies were last dropped: at most once a window, so a sender rotating
        /// addresses past the cap does not make every refused request scan the table.
        var prunedAt: Timestamp?
    }

    private let state = Mutex(State())

    init(action: String, targetType: String?, window: Duration = .seconds(300), maxTracked: Int = 1_024) {
        self.action = action
        self.targetType = targetType
        self.window = window
        self.maxTracked = maxTracked
    }

    /// Counts one failure; returns the entry to store when this failure opens a new window.
    func note(scope: String, ip: String?, reason: String, userAgent: String?, at time: Timestamp) -> AdminAuditEntry? {
        let report: (count: Int, reasons: [String: Int], since: Timestamp, ip: String)? = state.withLock { state in
            var address = ip ?? "unknown"
            if state.tallies["\(scope) \(address)"] == nil && state.tallies.count >= maxTracked {
                if state.prunedAt.map({ time >= $0 + window }) ?? true {
                    state.tallies = state.tallies.filter { time < $0.value.windowStart + window }
                    state.prunedAt = time
                }
                if state.tallies.count >= maxTracked { address = "*" }
            }
            let key = "\(scope) \(address)"
            var tally = state.tallies[key] ?? Tally(windowStart: time - window, lastReport: time)
            tally.unreported += 1
            tally.reasons[reason, default: 0] += 1
            defer { state.tallies[key] = tally }
            guard time >= tally.windowStart + window else { return nil }
            let out = (tally.unreported, tally.reasons, tally.lastReport, address)
            tally = Tally(windowStart: time, lastReport: time)
            return out
        }
        guard let report else { return nil }
        let reasons = report.reasons.sorted { $0.key < $1.key }.map { JSONMember($0.key, .number(String($0.value))) }
        return AdminAuditEntry(
            action: action, actor: AuditActor(type: "api_key", id: "unauthenticated", name: nil),
            targets: targetType.map { [AuditTarget(type: $0, id: scope)] } ?? [], context: AuditContext(location: report.ip, userAgent: userAgent),
            metadata: [
                JSONMember("failures", .number(String(report.count))), JSONMember("since", .string(report.since.rfc3339)),
                JSONMember("reasons", .object(reasons)), JSONMember("window_seconds", .number(String(window.components.seconds))),
            ],
            occurredAt: time
        )
    }
}
