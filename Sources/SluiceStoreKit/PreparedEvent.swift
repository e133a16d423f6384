import SluiceCompression
import SluiceCore

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

    /// The prepared events, in order, and whether a dictionary is due for training.
    package func prepare(_ events: [IncomingEvent], receivedAt: Timestamp, legacyIDs: [EventID?]? = nil) throws(StoreError) -> (events: [PreparedEvent], trainingDue: Bool) {
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
        func settle() {
            guard let stream else { return }
            if !samples.isEmpty { trainer.offer(samples, for: stream) }
            if trainer.observe(stream, rows: totals.rows, plain: totals.plain, stored: totals.stored) { trainingDue = true }
            samples = []
            totals = (0, 0, 0)
        }
        try contexts.withCompressor { (compressor) throws(StoreError) in
            for (i, event) in events.enumerated() {
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
                prepared.append(PreparedEvent(
                    source: event.source, logType: event.logType, action: n.action, origin: event.origin,
                    occurredAt: n.occurredAt.microseconds, dedupeKey: StoredDedupeKey.bytes(for: event),
                    dict: sealed.dict, payload: sealed.payload, rawBytes: event.raw.count, recordBytes: record.count,
                    terms: EventTerms.terms(
                        source: event.source, logType: event.logType, action: n.action, actorType: n.actor?.type,
                        actorID: n.actor?.id, actorName: n.actor?.name, targets: n.targets
                    )
                ))
            }
        }
        settle()
        return (prepared, trainingDue)
    }
}
