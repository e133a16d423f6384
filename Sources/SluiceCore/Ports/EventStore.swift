/// The outcome of appending one request's events.
public struct AppendResult: Sendable, Hashable {
    public var accepted: Int
    public var duplicates: Int

    public init(accepted: Int, duplicates: Int) {
        self.accepted = accepted
        self.duplicates = duplicates
    }
}

/// The durable, append-only event log every other part of Sluice reads and writes.
///
/// Implementations must make `append` all-or-nothing per call and return only after the events
/// are committed; a duplicate (same source and dedupe key) is counted, not stored again.
public protocol EventStore: Sendable {
    /// Commits `events` and, when given, a collector checkpoint in one transaction; returns
    /// only after commit. A checkpoint whose expected version is stale fails the whole call
    /// with `.conflict` and stores none of the events.
    func append(_ events: [IncomingEvent], receivedAt: Timestamp, checkpoint: CheckpointUpdate?) async throws(StoreError) -> AppendResult
    /// The stored checkpoint of a collector stream, or nil when it has none.
    func checkpoint(stream: String) async throws(StoreError) -> StreamCheckpoint?
    /// Every stored checkpoint whose stream starts with `prefix` (`incydr/`).
    func checkpoints(prefix: String) async throws(StoreError) -> [StreamCheckpoint]
    /// Stores a run summary beside a stream's checkpoint without moving the checkpoint.
    func recordRun(stream: String, summary: String, at time: Timestamp) async throws(StoreError)
    /// The entity digests a snapshot stream has recorded (entity id → content digest).
    func entityDigests(stream: String) async throws(StoreError) -> [String: [UInt8]]
    /// One entity's digest of `stream` (nil when none is recorded).
    func entityDigest(stream: String, entity: String) async throws(StoreError) -> [UInt8]?
    /// When events of each source were last stored (the time they were received), as recorded
    /// in the commits that stored them; what tells a source that fell silent (``SilenceWatch``).
    func sourceArrivals() async throws(StoreError) -> [String: Timestamp]
    /// Events stored per source and hour of arrival (hours since 1970, UTC) from `since`'s hour on,
    /// as recorded in the commits that stored them (duplicates are not counted).
    func sourceVolume(since: Timestamp) async throws(StoreError) -> [String: [Int64: Int]]
    /// Newest first (by `occurred_at`, then `seq`), after `cursor` when given.
    func events(matching filter: EventFilter, after cursor: EventCursor?, limit: Int) async throws(StoreError) -> EventPage
    func event(id: EventID) async throws(StoreError) -> StoredEvent?
    /// The oldest and newest `occurred_at` stored; nil when the store holds no event.
    func occurredRange() async throws(StoreError) -> ClosedRange<Timestamp>?
    /// How many events matching `filter` occurred in each of `buckets` (and within the filter's
    /// own `since`/`until`); exact, except that a free-text filter counts only what a listing's
    /// bounded scan reads (``EventCounts/complete``). Reads only: it never holds the writer.
    func eventCounts(matching filter: EventFilter, buckets: HistogramBuckets) async throws(StoreError) -> EventCounts
    /// The `limit` most frequent values of each of `fields` among the events matching `filter`.
    func facets(matching filter: EventFilter, fields: [FacetField], limit: Int) async throws(StoreError) -> EventFacets
    /// Events after `seq` in store order (what a consumer reads next), at most `limit`.
    func events(afterSeq seq: Int64, limit: Int) async throws(StoreError) -> [StoredEvent]
    /// Events after `seq` in store order as integrity reads them (``IntegrityRow``), at most
    /// `limit`. With `digestsAtCommit`, a digest this process took as it committed an event may
    /// stand in for reading the event back (what a checkpoint covers is what was committed);
    /// verification passes false and every row is read and digested anew.
    func integrityRows(after seq: Int64, limit: Int, digestsAtCommit: Bool) async throws(StoreError) -> [IntegrityRow]
    /// Asks the store to keep the content digests of the events this process commits from now
    /// on (``CommitDigests``), for ``integrityRows(after:limit:digestsAtCommit:)``; nil when the
    /// store does not (its checkpoints then read every event back).
    func keepCommitDigests() -> CommitDigests?
    /// Deletes up to `limit` events that occurred before `cutoff`, oldest first; returns the seqs
    /// that went. Integrity checkpoints (Sluice's own `SLUICE_INTEGRITY` events) are kept: they
    /// are small, and they are what proves the rest of the chain. `audit`, given the seqs, is
    /// stored in the same transaction when any went, so a purge is never unrecorded.
    func purge(occurredBefore cutoff: Timestamp, limit: Int, audit: (@Sendable ([Int64]) -> AdminAuditEntry)?) async throws(StoreError) -> [Int64]
    /// Whether the store answers a trivial query.
    func checkHealth() async throws(StoreError)
}

extension EventStore {
    /// Reads the events themselves and digests them here; a store that can digest its rows
    /// without building each event answers faster.
    public func integrityRows(after seq: Int64, limit: Int, digestsAtCommit: Bool) async throws(StoreError) -> [IntegrityRow] {
        try await events(afterSeq: seq, limit: limit).map(IntegrityRow.init(reading:))
    }

    public func keepCommitDigests() -> CommitDigests? { nil }

    /// Facets from the newest ``FacetScan/maximumEvents`` matching events, read a page at a time:
    /// exact when fewer match, else the counts of that newest part (``EventFacets/complete``).
    public func scannedFacets(matching filter: EventFilter, fields: [FacetField], limit: Int) async throws(StoreError) -> EventFacets {
        var counts: [FacetField: [String: Int]] = [:]
        var cursor: EventCursor?
        var read = 0
        repeat {
            let page = try await events(matching: filter, after: cursor, limit: min(1_000, FacetScan.maximumEvents - read))
            FacetScan.count(page.events, fields: fields, into: &counts)
            read += page.events.count
            cursor = page.nextCursor
        } while cursor != nil && read < FacetScan.maximumEvents
        return EventFacets(
            fields: Dictionary(uniqueKeysWithValues: fields.map { ($0, FacetValue.ranked(counts[$0] ?? [:], limit: limit)) }),
            eventsCounted: read, complete: cursor == nil
        )
    }

    /// Commits `events` atomically; returns only after commit.
    public func append(_ events: [IncomingEvent], receivedAt: Timestamp) async throws(StoreError) -> AppendResult {
        try await append(events, receivedAt: receivedAt, checkpoint: nil)
    }

    /// ``purge(occurredBefore:limit:audit:)`` without an audit entry.
    public func purge(occurredBefore cutoff: Timestamp, limit: Int) async throws(StoreError) -> [Int64] {
        try await purge(occurredBefore: cutoff, limit: limit, audit: nil)
    }

    /// Stores an audit entry of an action that changes nothing in the store itself.
    public func record(_ entry: AdminAuditEntry) async throws(StoreError) {
        _ = try await append([entry.incomingEvent()], receivedAt: entry.occurredAt, checkpoint: nil)
    }
}

/// Why the store could not do what was asked. Callers answer 503 for `unavailable` and `full`, 409 for `conflict`.
public struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: Sendable, Hashable {
        case unavailable
        case full
        case corrupt
        case invalidRequest
        /// A checkpoint moved under the writer (another run, or an admin's rewind).
        case conflict
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// A short label fit for a metric dimension.
    public var shortDescription: String {
        switch code {
        case .unavailable: "unavailable"
        case .full: "full"
        case .corrupt: "corrupt"
        case .invalidRequest: "invalid_request"
        case .conflict: "conflict"
        }
    }

    public var description: String { "event store \(shortDescription): \(message)" }
}
