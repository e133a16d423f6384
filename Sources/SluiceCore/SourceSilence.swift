import Crypto

/// A source that is expected to send: a feed or a collector, and how long it may stay quiet
/// (`expect_events_within` in its configuration).
public struct SourceExpectation: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case feed
        case collector
    }

    public var source: String
    public var kind: Kind
    public var within: Duration

    public init(source: String, kind: Kind, within: Duration) {
        self.source = source
        self.kind = kind
        self.within = within
    }
}

/// What one look at a source finds: when its events last arrived, and whether it has been quiet
/// for longer than expected. A pure decision over the store's arrival times, so every instance
/// (and every restart) comes to the same answer.
public struct SourceSilence: Sendable, Hashable {
    public var expectation: SourceExpectation
    /// When its events were last stored; nil when none were since Sluice began to record arrivals.
    public var lastArrival: Timestamp?
    /// The moment it became (or becomes) silent: the last arrival, or the watch's start for a
    /// source never heard from, plus the allowance.
    public var silentFrom: Timestamp
    public var isSilent: Bool

    public static func assess(
        _ expectation: SourceExpectation, lastArrival: Timestamp?, watchingSince: Timestamp, now: Timestamp
    ) -> SourceSilence {
        let from = (lastArrival ?? watchingSince) + expectation.within
        return SourceSilence(expectation: expectation, lastArrival: lastArrival, silentFrom: from, isSilent: now > from)
    }

    /// Seconds since the last arrival (nil when none is recorded).
    public func age(at now: Timestamp) -> Double? {
        lastArrival.map { Double(now.microseconds - $0.microseconds) / 1_000_000 }
    }

    public static let wentSilentAction = "source.went_silent"
    public static let recoveredAction = "source.recovered"

    /// The audit entry of this source's transition into silence (when `isSilent`) or out of it.
    /// Its time and dedupe key derive from the arrival that preceded (or ended) the silence, so
    /// every instance that sees the same transition writes the same entry, and the store keeps
    /// one: the entry's acceptance is what tells the one instance that should notify.
    public func transitionEntry() -> (entry: AdminAuditEntry, dedupeKey: [UInt8]) {
        let action = isSilent ? Self.wentSilentAction : Self.recoveredAction
        var metadata = [
            JSONMember("expected_within_seconds", .number(String(expectation.within.components.seconds))),
        ]
        if let lastArrival { metadata.append(JSONMember("last_event_at", .string(lastArrival.rfc3339))) }
        let entry = AdminAuditEntry(
            action: action, actor: AdminAuditEntry.system,
            targets: [AuditTarget(type: expectation.kind.rawValue, id: expectation.source)], metadata: metadata,
            occurredAt: isSilent ? silentFrom : (lastArrival ?? silentFrom)
        )
        var hasher = SHA256()
        hasher.update(data: Array("\(action)\u{0}\(expectation.source)\u{0}\(lastArrival?.microseconds ?? 0)".utf8))
        return (entry, Array(hasher.finalize().prefix(16)))
    }
}

extension Duration {
    /// As a configuration spells it: `6h`, `1h 30m`, `45s` (whole seconds).
    public var shortText: String {
        var rest = components.seconds
        var parts: [String] = []
        for (unit, size) in [("d", Int64(86_400)), ("h", 3_600), ("m", 60)] where rest >= size {
            parts.append("\(rest / size)\(unit)")
            rest %= size
        }
        if rest > 0 || parts.isEmpty { parts.append("\(rest)s") }
        return parts.joined(separator: " ")
    }
}
