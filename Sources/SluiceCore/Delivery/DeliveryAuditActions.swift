/// The audit entries of the delivery actions (docs/audit-events.md), built the same way by the
/// API and the CLI.
extension AdminAuditEntry {
    public static func redrive(destination: String, seqs: [Int64]?, by requester: AuditRequester, at time: Timestamp) -> AdminAuditEntry {
        requester.entry(
            "destination.dead_letters_redriven", targets: [AuditTarget(type: "destination", id: destination)],
            metadata: [JSONMember("seqs", seqs.map { .array($0.map { .number(String($0)) }) } ?? .string("all"))], at: time
        )
    }

    public static func replay(destination: String, since: Timestamp, until: Timestamp, by requester: AuditRequester, at time: Timestamp) -> AdminAuditEntry {
        requester.entry(
            "destination.replay_started", targets: [AuditTarget(type: "destination", id: destination)],
            metadata: [JSONMember("since", .string(since.rfc3339)), JSONMember("until", until.jsonValue)], at: time
        )
    }

    /// `destination.paused` with the operator's reason, or `destination.resumed` when `reason` is nil.
    public static func hold(destination: String, reason: String?, by requester: AuditRequester, at time: Timestamp) -> AdminAuditEntry {
        requester.entry(
            reason == nil ? "destination.resumed" : "destination.paused", targets: [AuditTarget(type: "destination", id: destination)],
            metadata: reason.map { [JSONMember("reason", .string($0))] } ?? [], at: time
        )
    }
}
