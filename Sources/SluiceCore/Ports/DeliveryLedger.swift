/// What delivery keeps in the store: each destination's cursor over `seq`, its dead letters and
/// its replays. A destination's cursor and the dead letters of the events it passes move in one
/// transaction, so a crash never loses a refused event nor its place.
public protocol DeliveryLedger: Sendable {
    /// Published after each commit of events or of an operator's change to a consumer; consumers
    /// wait on it instead of polling.
    var changes: StoreChanges { get }
    /// Up to `limit` events after `seq`, in store order.
    func outboundEvents(afterSeq seq: Int64, limit: Int) async throws(StoreError) -> [OutboundEvent]
    /// The events with these sequence numbers that still exist, in store order.
    func outboundEvents(seqs: [Int64]) async throws(StoreError) -> [OutboundEvent]
    /// Up to `limit` events that occurred in `[since, until)`, ordered by (occurred_at, seq), after `position`.
    func outboundEvents(occurredFrom since: Timestamp, until: Timestamp, after position: EventCursor?, limit: Int) async throws(StoreError) -> [OutboundEvent]
    /// The highest `seq` committed so far (0 for an empty store).
    func latestSeq() async throws(StoreError) -> Int64

    /// The last `seq` `consumer` has finished with; 0 when it has none.
    func consumerCursor(_ consumer: String) async throws(StoreError) -> Int64
    /// Records `deadLetters` and moves `consumer`'s cursor forward to `seq` in one transaction;
    /// refused with `.conflict` when `fence` (the lease the delivering loop holds) has changed hands.
    func commitDelivery(consumer: String, through seq: Int64, deadLetters: [DeadLetter], at time: Timestamp, fence: Lease?) async throws(StoreError)
    /// How many of the events after `seq` any of `routes` selects (all events when nil), counting at
    /// most `cap`; and the receive time of the first of them.
    func backlog(afterSeq seq: Int64, routes: [DeliveryRoute]?, cap: Int) async throws(StoreError) -> (count: Int, oldest: Timestamp?)

    /// A destination's dead letters, oldest first, after `seq`.
    func deadLetters(destination: String, afterSeq seq: Int64, limit: Int) async throws(StoreError) -> [DeadLetter]
    func deadLetterCount(destination: String) async throws(StoreError) -> Int
    /// Marks dead letters for sending again (all of them when `seqs` is nil); returns how many were
    /// marked. `audit`, with the count added, is stored in the same transaction.
    func requestRedrive(destination: String, seqs: [Int64]?, audit: AdminAuditEntry?) async throws(StoreError) -> Int
    /// Dead letters marked for re-drive, oldest first.
    func redriveRequests(destination: String, limit: Int) async throws(StoreError) -> [DeadLetter]
    /// Settles re-driven letters: `delivered` ones are removed, `refused` ones get their new
    /// reason, one more attempt and their re-drive mark cleared. Fenced like ``commitDelivery(consumer:through:deadLetters:at:fence:)``.
    func settleRedrive(destination: String, delivered: [Int64], refused: [DeadLetter], fence: Lease?) async throws(StoreError)

    /// Holds (pauses) or releases a destination for an operator; returns false when it was
    /// already in that state (then nothing, not even `audit`, is written). `audit` is stored in
    /// the same transaction as the change.
    func setHold(destination: String, hold: DestinationHold?, audit: AdminAuditEntry?) async throws(StoreError) -> Bool
    /// The operator's hold on `destination`, if any.
    func hold(destination: String) async throws(StoreError) -> DestinationHold?

    /// Stores a replay request and returns it with its id; `audit`, with the id added, in the same transaction.
    func createReplay(destination: String, since: Timestamp, until: Timestamp, at time: Timestamp, audit: AdminAuditEntry?) async throws(StoreError) -> ReplayJob
    /// Replays not yet finished (all destinations when nil), oldest first.
    func openReplays(destination: String?) async throws(StoreError) -> [ReplayJob]
    /// Records a replay's progress; `finished` closes it. Fenced like ``commitDelivery(consumer:through:deadLetters:at:fence:)``.
    func advanceReplay(id: Int64, to position: EventCursor?, sent: Int, finishedAt: Timestamp?, fence: Lease?) async throws(StoreError)
}
