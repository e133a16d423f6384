/// Why an operator's delivery request could not be done.
public struct DeliveryControlError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Hashable { case unknownDestination, invalidRequest, store }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// An operator's actions on destinations: list and re-drive dead letters, replay a time range,
/// pause and resume. Each checks the same things, says the same words and records its audit
/// entry in the same transaction as the change, whether the API, the web UI or the CLI asked.
/// The running delivery loops only read what these write (see ``DeliveryLedger/changes``).
public struct DestinationAdministration: Sendable {
    /// The longest pause reason kept (status and the audit log show it).
    public static let maximumReasonLength = 500

    public let ledger: any DeliveryLedger
    /// The configured destinations' names.
    public let destinations: [String]
    public let now: @Sendable () -> Timestamp

    public init(ledger: any DeliveryLedger, destinations: [String], now: @escaping @Sendable () -> Timestamp) {
        self.ledger = ledger
        self.destinations = destinations
        self.now = now
    }

    /// Throws unless `destination` is configured.
    public func requireConfigured(_ destination: String) throws(DeliveryControlError) {
        try Self.requireConfigured(destination, among: destinations)
    }

    /// Throws unless `destination` is one of `destinations` (the CLI checks before it opens the store).
    public static func requireConfigured(_ destination: String, among destinations: [String]) throws(DeliveryControlError) {
        guard !destinations.contains(destination) else { return }
        let known = destinations.isEmpty ? "the config has no destinations" : "configured: \(destinations.sorted().joined(separator: ", "))"
        throw DeliveryControlError(.unknownDestination, "no destination named \"\(destination)\"; \(known)")
    }

    public func deadLetters(_ destination: String, afterSeq: Int64, limit: Int) async throws(DeliveryControlError) -> [DeadLetter] {
        try requireConfigured(destination)
        return try await stored { () async throws(StoreError) in try await ledger.deadLetters(destination: destination, afterSeq: afterSeq, limit: limit) }
    }

    /// Marks dead letters (all when `seqs` is nil) to be sent again; returns how many. Recorded
    /// as `destination.dead_letters_redriven` by `requester`.
    public func redrive(_ destination: String, seqs: [Int64]?, by requester: AuditRequester) async throws(DeliveryControlError) -> Int {
        try requireConfigured(destination)
        let audit = AdminAuditEntry.redrive(destination: destination, seqs: seqs, by: requester, at: now())
        return try await stored { () async throws(StoreError) in try await ledger.requestRedrive(destination: destination, seqs: seqs, audit: audit) }
    }

    /// Queues a re-send of the events that occurred in `[since, until)` (``Timestamp/noEnd``: no
    /// end). Recorded as `destination.replay_started` by `requester`.
    public func replay(_ destination: String, since: Timestamp, until: Timestamp, by requester: AuditRequester) async throws(DeliveryControlError) -> ReplayJob {
        try requireConfigured(destination)
        guard since < until else {
            throw DeliveryControlError(.invalidRequest, "since (\(since.rfc3339)) must be before until (\(until.rfc3339))")
        }
        let time = now()
        let audit = AdminAuditEntry.replay(destination: destination, since: since, until: until, by: requester, at: time)
        return try await stored { () async throws(StoreError) in
            try await ledger.createReplay(destination: destination, since: since, until: until, at: time, audit: audit)
        }
    }

    /// Pauses (`reason` given: 1 to 500 characters once trimmed) or resumes (nil) delivery to
    /// `destination`; false when it already was in that state. Recorded as `destination.paused` /
    /// `destination.resumed` by `requester`.
    public func setPaused(_ destination: String, reason: String?, by requester: AuditRequester) async throws(DeliveryControlError) -> Bool {
        try requireConfigured(destination)
        let reason = try reason.map { (text) throws(DeliveryControlError) in try Self.pauseReason(text) }
        let time = now()
        // An admin token by its name; an operator at the command line as `cli:<login>`.
        let heldBy = requester.actor.id.hasPrefix("cli:") ? requester.actor.id : requester.actor.name ?? requester.actor.id
        let hold = reason.map { DestinationHold(reason: $0, heldBy: heldBy, heldAt: time) }
        let audit = AdminAuditEntry.hold(destination: destination, reason: reason, by: requester, at: time)
        return try await stored { () async throws(StoreError) in try await ledger.setHold(destination: destination, hold: hold, audit: audit) }
    }

    /// `text` trimmed, or why it cannot be a pause reason.
    public static func pauseReason(_ text: String) throws(DeliveryControlError) -> String {
        var trimmed = Substring(text)
        while trimmed.first?.isWhitespace == true { trimmed.removeFirst() }
        while trimmed.last?.isWhitespace == true { trimmed.removeLast() }
        let reason = String(trimmed)
        guard !reason.isEmpty, reason.count <= maximumReasonLength else {
            throw DeliveryControlError(
                .invalidRequest, "Say why delivery stops: a reason of 1 to \(maximumReasonLength) characters (status and the audit log show it)."
            )
        }
        return reason
    }

    private func stored<T>(_ body: () async throws(StoreError) -> T) async throws(DeliveryControlError) -> T {
        do {
            return try await body()
        } catch {
            throw DeliveryControlError(.store, error.description)
        }
    }
}
