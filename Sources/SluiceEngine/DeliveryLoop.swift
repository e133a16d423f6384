import Logging
import SluiceCore
import SluiceDestinations
import SluiceHTTP

/// Delivers the events routed to one destination, in `seq` order, at least once.
///
/// Each pass reads the events after the destination's cursor, cuts the routed ones into batches,
/// sends up to `concurrency` of them at once, and only when every batch is delivered or
/// dead-lettered moves the cursor, together with the new dead letters, in one transaction. A
/// crash repeats at most the pass in flight. Retries never end unless `maxAttempts` is set;
/// refused credentials pause the destination until they work again. Between passes the loop
/// sends dead letters an operator re-drove and replays an operator asked for. An idle loop does
/// not poll: it waits for the store's next commit (``StoreChanges``).
struct DeliveryLoop: Sendable {
    let destination: any Destination
    let selection: RouteSelection
    let ledger: any DeliveryLedger
    let settings: DeliverySettings
    let state: DestinationState
    let logger: Logger
    let now: @Sendable () -> Timestamp
    let holds: HoldWatch

    init(
        destination: any Destination, selection: RouteSelection, ledger: any DeliveryLedger, settings: DeliverySettings, state: DestinationState,
        logger: Logger, now: @escaping @Sendable () -> Timestamp
    ) {
        self.destination = destination
        self.selection = selection
        self.ledger = ledger
        self.settings = settings
        self.state = state
        self.logger = logger
        self.now = now
        self.holds = HoldWatch(destination: destination.name, ledger: ledger)
    }

    var readLimit: Int { min(max(destination.limits.maxEvents * settings.concurrency, 500), 10_000) }

    /// Delivers until cancelled. Every commit carries `fence`, the lease this instance holds on
    /// the destination (nil when one instance owns the store), so none lands once it is lost.
    func run(fence: Lease?) async {
        let changes = ledger.changes
        var cursor: Int64?
        /// The events after `cursor`, read while the previous pass was being sent.
        var ahead: [OutboundEvent]?
        /// Re-drives and replays are looked for when an operator's change commits (the control
        /// counter moves), at the store's fallback interval, and again while one has more to send.
        var controlSeen: UInt64?
        var sideWorkAt = ContinuousClock.now
        var sideWorkRemains = false
        while !Task.isCancelled {
            // Read before the store: a commit from here on wakes the wait below at once.
            let mark = changes.mark
            do {
                guard try await waitWhileHeld() else { return }
                if sideWorkRemains || controlSeen != mark.control || ContinuousClock.now - sideWorkAt >= changes.fallback {
                    controlSeen = mark.control
                    sideWorkAt = ContinuousClock.now
                    let redriving = try await redrive(fence: fence)
                    let replaying = try await replay(fence: fence)
                    sideWorkRemains = redriving || replaying
                }
                let position: Int64
                if let cursor { position = cursor } else { position = try await ledger.consumerCursor(destination.name) }
                cursor = position
                switch try await pass(after: position, prefetched: ahead, fence: fence) {
                case .nothingNew:
                    ahead = nil
                    if !sideWorkRemains { await changes.wait(after: mark, timeout: changes.fallback) }
                case .waitedForCompany:
                    ahead = nil
                case .moved(let next, let prefetched):
                    cursor = next
                    ahead = prefetched
                }
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                // Store trouble: nothing moved; try again shortly from the stored cursor.
                logger.error("delivery pass failed; retrying", metadata: ["destination.name": "\(destination.name)", "error": "\(error)"])
                cursor = nil
                ahead = nil
                do { try await Task.sleep(for: settings.backoff.cap / 10) } catch { return }
            }
        }
    }

    /// What one pass did.
    enum PassResult {
        /// Nothing is stored after the cursor.
        case nothingNew
        /// The routed events did not fill a batch and are younger than `maxWait`: the pass waited
        /// a little for company and moved nothing.
        case waitedForCompany
        /// Delivered through `cursor`; `ahead` holds the next read when this one was a full backlog.
        case moved(cursor: Int64, ahead: [OutboundEvent]?)
    }

    /// One pass. When the pass was a full read (a backlog), the next read runs while this pass is
    /// sent and comes back in `.moved`.
    func pass(after position: Int64, prefetched: [OutboundEvent]? = nil, fence: Lease?) async throws -> PassResult {
        let events: [OutboundEvent]
        if let prefetched { events = prefetched } else { events = try await ledger.outboundEvents(afterSeq: position, limit: readLimit) }
        guard let last = events.last else {
            state.lag(seconds: 0, at: now())
            return .nothingNew
        }
        let routed = events.filter(selection.matches)
        if let first = routed.first {
            let waited = Duration.microseconds(max(0, now().microseconds - first.receivedAt.microseconds))
            state.lag(seconds: Double(waited.components.seconds) + Double(waited.components.attoseconds) / 1e18, at: now())
            // A batch that is not full waits up to maxWait for company, unless more is already stored.
            if waited < settings.maxWait, events.count < readLimit, routed.count < destination.limits.maxEvents,
               routed.reduce(0, { $0 + destination.encodedSize(of: $1) }) < destination.limits.maxBytes {
                try await Task.sleep(for: min(settings.pollInterval, settings.maxWait - waited))
                return .waitedForCompany
            }
        }
        let backlog = events.count == readLimit
        async let next = backlog ? ledger.outboundEvents(afterSeq: last.seq, limit: readLimit) : nil
        let letters = try await deliver(routed)
        try await ledger.commitDelivery(consumer: destination.name, through: last.seq, deadLetters: letters, at: now(), fence: fence)
        return .moved(cursor: last.seq, ahead: try await next)
    }

    /// Sends `events` in batches, `concurrency` at a time; returns the dead letters. Throws
    /// `CancellationError` when stopped before all were settled.
    func deliver(_ events: [OutboundEvent]) async throws -> [DeadLetter] {
        guard !events.isEmpty else { return [] }
        let plan = BatchPlanner(limits: destination.limits).plan(events, size: destination.encodedSize(of:), key: destination.batchKey(of:))
        var letters = plan.oversized.map { DeadLetter(destination: destination.name, seq: $0.event.seq, reason: $0.reason, createdAt: now()) }
        state.deadLettered(letters.count)
        var cancelled = false
        await withTaskGroup(of: [DeadLetter]?.self) { group in
            var pending = plan.batches.makeIterator()
            for _ in 0..<settings.concurrency {
                guard let batch = pending.next() else { break }
                group.addTask { await self.settle(batch) }
            }
            while let result = await group.next() {
                guard let result else {
                    cancelled = true
                    group.cancelAll()
                    continue
                }
                letters += result
                if !cancelled, let batch = pending.next() { group.addTask { await self.settle(batch) } }
            }
        }
        if cancelled || Task.isCancelled { throw CancellationError() }
        return letters
    }

    /// Sends one batch until every event in it is delivered or dead-lettered; nil when cancelled.
    func settle(_ batch: [OutboundEvent]) async -> [DeadLetter]? {
        var queue: [ArraySlice<OutboundEvent>] = [batch[...]]
        var letters: [DeadLetter] = []
        var random = SystemRandomNumberGenerator()
        while let part = queue.first {
            queue.removeFirst()
            var attempt = 0
            attempts: while true {
                if Task.isCancelled { return nil }
                do {
                    guard try await waitWhileHeld() else { return nil }
                } catch {
                    // The hold could not be read: keep to the retry path, which waits and tries again.
                    logger.error("could not read the destination's pause", metadata: ["destination.name": "\(destination.name)", "error": "\(error)"])
                }
                let outcome = await destination.send(Array(part))
                let wait: Duration
                switch outcome {
                case .delivered:
                    state.delivered(part.count, at: now())
                    break attempts
                case .retry(let after, let reason):
                    attempt += 1
                    state.failed(reason, at: now())
                    if let max = settings.maxAttempts, attempt >= max {
                        letters += part.map { deadLetter($0, "still failing after \(attempt) attempts: \(reason)") }
                        state.deadLettered(part.count)
                        break attempts
                    }
                    wait = settings.retry.delay(attempt: attempt, retryAfter: after, using: &random)
                    logger.warning("delivery failed; retrying", metadata: [
                        "destination.name": "\(destination.name)", "reason": "\(reason)", "attempt": "\(attempt)", "events": "\(part.count)",
                    ])
                case .unauthorized(let reason):
                    state.paused(reason, at: now())
                    logger.error("destination paused: it refused the credentials or the URL is not allowed", metadata: [
                        "destination.name": "\(destination.name)", "reason": "\(reason)",
                    ])
                    wait = settings.pausedRetryInterval
                case .rejected(let reason):
                    if part.count == 1 {
                        letters.append(deadLetter(part[part.startIndex], reason))
                        state.deadLettered(1)
                    } else {
                        // Halve until the refused events stand alone; the rest goes through.
                        let middle = part.startIndex + part.count / 2
                        queue.insert(contentsOf: [part[..<middle], part[middle...]], at: 0)
                    }
                    break attempts
                case .rejectedAt(let index, let reason):
                    let refused = part.startIndex + index
                    if index > 0 { state.delivered(index, at: now()) }
                    letters.append(deadLetter(part[refused], reason))
                    state.deadLettered(1)
                    if refused + 1 < part.endIndex { queue.insert(part[(refused + 1)...], at: 0) }
                    break attempts
                }
                do { try await Task.sleep(for: wait) } catch { return nil }
            }
        }
        return letters
    }

    /// Waits while an operator holds the destination; false when cancelled meanwhile. A batch in
    /// flight stops before its next attempt. The hold is read again only when an operator's change
    /// commits or the store's fallback interval passed (``HoldWatch``), not before every attempt.
    func waitWhileHeld() async throws -> Bool {
        let changes = ledger.changes
        while true {
            let mark = changes.mark
            guard let hold = try await holds.hold(at: mark) else { break }
            state.held(hold.description)
            await changes.wait(after: mark, timeout: changes.fallback)
            if Task.isCancelled { return false }
        }
        state.held(nil)
        return !Task.isCancelled
    }

    func deadLetter(_ event: OutboundEvent, _ reason: String) -> DeadLetter {
        DeadLetter(destination: destination.name, seq: event.seq, reason: reason, createdAt: now())
    }

    /// Sends the dead letters an operator asked to re-drive; true when it sent some (more may wait).
    func redrive(fence: Lease?) async throws -> Bool {
        let requests = try await ledger.redriveRequests(destination: destination.name, limit: readLimit)
        guard !requests.isEmpty else { return false }
        let events = try await ledger.outboundEvents(seqs: requests.map(\.seq))
        let refused = try await deliver(events)
        let refusedSeqs = Set(refused.map(\.seq))
        // A letter whose event retention already removed cannot be sent; it is settled with the rest.
        let delivered = requests.map(\.seq).filter { !refusedSeqs.contains($0) }
        try await ledger.settleRedrive(destination: destination.name, delivered: delivered, refused: refused, fence: fence)
        logger.info("re-drove dead letters", metadata: [
            "destination.name": "\(destination.name)", "delivered": "\(delivered.count)", "refused": "\(refused.count)",
        ])
        return true
    }

    /// Sends the next chunk of the oldest open replay; true while a replay is open.
    func replay(fence: Lease?) async throws -> Bool {
        guard let job = try await ledger.openReplays(destination: destination.name).first else { return false }
        let events = try await ledger.outboundEvents(occurredFrom: job.since, until: job.until, after: job.position, limit: readLimit)
        guard let last = events.last else {
            try await ledger.advanceReplay(id: job.id, to: job.position, sent: job.sent, finishedAt: now(), fence: fence)
            logger.info("replay finished", metadata: ["destination.name": "\(destination.name)", "replay.id": "\(job.id)", "sent": "\(job.sent)"])
            return true
        }
        let routed = events.filter(selection.matches)
        let refused = try await deliver(routed)
        try await ledger.settleRedrive(destination: destination.name, delivered: [], refused: refused, fence: fence)
        try await ledger.advanceReplay(
            id: job.id, to: EventCursor(occurredAt: last.occurredAt, seq: last.seq), sent: job.sent + routed.count - refused.count, finishedAt: nil, fence: fence
        )
        return true
    }
}
