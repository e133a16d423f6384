import Crypto
import Dispatch
import SluiceCompression
import SluiceCore
import Synchronization

/// One event ready for a store's writer: its record compressed, its dedupe key and filter terms
/// computed. Appends prepare their events in their own task, so that the single writer only
/// binds values; compression, the costliest step, runs on as many cores as there are appends.
package struct PreparedEvent: Sendable {
    package var source: String
    package var logType: String
    package var action: String
    package var origin: String?
    package var occurredAt: Int64
    /// The stored form of the dedupe key (``StoredDedupeKey``).
    package var dedupeKey: [UInt8]
    /// The `dict` column (``PayloadCodec``).
    package var dict: Int64?
    package var payload: [UInt8]
    /// Bytes of the event as received, for the store's statistics.
    package var rawBytes: Int
    /// Bytes of its record before compression.
    package var recordBytes: Int
    package var terms: [TermBytes]
    /// The integrity content digest (``IntegrityLeaf``), when the store keeps commit digests and
    /// this is not a checkpoint's own event.
    package var content: SHA256Digest?
    /// Whether this is an integrity checkpoint's own event.
    package var isCheckpoint: Bool
}

/// Prepares events for a store: record, compression with the stream's dictionary, samples for
/// the dictionary trainer. Shared by both stores.
package struct EventPreparer: Sendable {
    package let book: DictionaryBook
    package let trainer: DictionaryTrainer
    package let contexts: ZstdContextPool

    package init(book: DictionaryBook, trainer: DictionaryTrainer, contexts: ZstdContextPool) {
        self.book = book
        self.trainer = trainer
        self.contexts = contexts
    }

    /// Batches at least this large are prepared in two halves on two threads: a collector's page
    /// then costs the writer's wait half the time, on a machine whose other core would idle.
    package static let parallelThreshold = 256

    /// The prepared events, in order, and whether a dictionary is due for training.
    package func prepare(_ events: [IncomingEvent], receivedAt: Timestamp, legacyIDs: [EventID?]? = nil, digests: Bool = false) throws(StoreError) -> (events: [PreparedEvent], trainingDue: Bool) {
        guard events.count >= Self.parallelThreshold else {
            return try prepare(events[...], receivedAt: receivedAt, legacyIDs: legacyIDs?[...], digests: digests)
        }
        let middle = events.count / 2
        let halves = [0..<middle, middle..<events.count]
        let results = Mutex<[Result<(events: [PreparedEvent], trainingDue: Bool), StoreError>?]>([nil, nil])
        DispatchQueue.concurrentPerform(iterations: 2) { half in
            let range = halves[half]
            let result = Result { () throws(StoreError) in try prepare(events[range], receivedAt: receivedAt, legacyIDs: legacyIDs?[range], digests: digests) }
            results.withLock { $0[half] = result }
        }
        let (first, second) = results.withLock { ($0[0]!, $0[1]!) }
        let a = try first.get()
        let b = try second.get()
        return (a.events + b.events, a.trainingDue || b.trainingDue)
    }

    private func prepare(
        _ events: ArraySlice<IncomingEvent>, receivedAt: Timestamp, legacyIDs: ArraySlice<EventID?>?, digests: Bool
    ) throws(StoreError) -> (events: [PreparedEvent], trainingDue: Bool) {
        var prepared: [PreparedEvent] = []
        prepared.reserveCapacity(events.count)
        var trainingDue = false
        // Events of one append nearly always share one stream; look its state up once per run.
        var stream: DictionaryStream?
        var dictionary: (id: Int64, dictionary: ZstdDictionary)?
        var sampling = false
        var samples: [[UInt8]] = []
        var totals = (rows: 0, plain: 0, stored: 0)
        var record: [UInt8] = []
        var leafFields = IntegrityLeaf.Fields()
        func settle() {
            guard let stream else { return }
            if !samples.isEmpty { trainer.offer(samples, for: stream) }
            if trainer.observe(stream, rows: totals.rows, plain: totals.plain, stored: totals.stored) { trainingDue = true }
            samples = []
            totals = (0, 0, 0)
        }
        try contexts.withCompressor { (compressor) throws(StoreError) in
            // Both slices keep the indices of the whole batch.
            for i in events.indices {
                let event = events[i]
                let key = DictionaryStream(source: event.source, logType: event.logType)
                if key != stream {
                    settle()
                    stream = key
                    dictionary = book.current(for: key)
                    sampling = trainer.wantsSamples(key)
                }
                record.removeAll(keepingCapacity: true)
                EventRecord.encode(raw: event.raw, normalized: event.normalized, receivedAt: receivedAt, legacyID: legacyIDs?[i] ?? nil, into: &record)
                let sealed = PayloadCodec.seal(record, with: dictionary, using: compressor)
                if sampling { samples.append(record) }
                totals.rows += 1
                totals.plain += record.count
                totals.stored += sealed.payload.count
                let n = event.normalized
                let isCheckpoint = IntegrityRow.isCheckpoint(source: event.source, logType: event.logType)
                prepared.append(PreparedEvent(
                    source: event.source, logType: event.logType, action: n.action, origin: event.origin,
                    occurredAt: n.occurredAt.microseconds, dedupeKey: StoredDedupeKey.bytes(for: event),
                    dict: sealed.dict, payload: sealed.payload, rawBytes: event.raw.count, recordBytes: record.count,
                    terms: EventTerms.terms(
                        source: event.source, logType: event.logType, action: n.action, actorType: n.actor?.type,
                        actorID: n.actor?.id, actorName: n.actor?.name, targets: n.targets
                    ),
                    content: digests && !isCheckpoint
                        ? IntegrityLeaf.content(
                            source: event.source, logType: event.logType, origin: event.origin, normalized: n, receivedAt: receivedAt, raw: event.raw,
                            into: &leafFields
                        )
                        : nil,
                    isCheckpoint: isCheckpoint
                ))
            }
        }
        settle()
        return (prepared, trainingDue)
    }
}
