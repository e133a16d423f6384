import Dispatch
import SluiceCompression
import SluiceCore
import Synchronization

/// One event row as a store reads it for integrity: its columns (labels resolved) and its payload
/// as stored.
package struct IntegrityRowInput: Sendable {
    package var seq: Int64
    package var source: String
    package var logType: String
    package var action: String
    package var origin: String?
    package var occurredAt: Int64
    package var dict: Int64?
    package var payload: [UInt8]

    package init(seq: Int64, source: String, logType: String, action: String, origin: String?, occurredAt: Int64, dict: Int64?, payload: [UInt8]) {
        self.seq = seq
        self.source = source
        self.logType = logType
        self.action = action
        self.origin = origin
        self.occurredAt = occurredAt
        self.dict = dict
        self.payload = payload
    }
}

/// Turns rows into ``IntegrityRow``s as a store reads them: each payload decompressed and its
/// record digested straight into the leaf's encoding
/// (``EventRecord/integrityContent(_:source:logType:origin:action:occurredAt:into:)``), no event
/// built except for checkpoints. Rows are handed over in chunks as they are read, each chunk
/// digested on a worker thread, so that reading (one connection, one thread) and digesting
/// (decompression and SHA-256, what reading costs) overlap on every core. The dictionaries a
/// row names must be loaded in `book` before it is added (a store loads them on its connection).
///
/// One reader adds rows, then calls ``finish()`` once.
package final class IntegrityDigester {
    package static let chunkSize = 512

    private let book: DictionaryBook
    private let contexts: ZstdContextPool
    private let group = DispatchGroup()
    private let results = Results()
    private var pending: [IntegrityRowInput] = []
    private var chunks = 0

    package init(book: DictionaryBook, contexts: ZstdContextPool) {
        self.book = book
        self.contexts = contexts
        pending.reserveCapacity(Self.chunkSize)
    }

    package func add(_ input: IntegrityRowInput) {
        pending.append(input)
        if pending.count == Self.chunkSize { submit() }
    }

    private func submit() {
        let (chunk, index, book, contexts, results) = (pending, chunks, book, contexts, results)
        pending = []
        pending.reserveCapacity(Self.chunkSize)
        chunks += 1
        DispatchQueue.global().async(group: group) {
            let result = Result { () throws(StoreError) in try IntegrityDigester.rows(chunk[...], book: book, contexts: contexts) }
            results.chunks.withLock { $0[index] = result }
        }
    }

    /// The digested chunks by their order, filled in by the workers.
    private final class Results: Sendable {
        let chunks = Mutex<[Int: Result<[IntegrityRow], StoreError>]>([:])
    }

    /// Every row added, in order, once all are digested; the first failure is thrown.
    package func finish() throws(StoreError) -> [IntegrityRow] {
        if !pending.isEmpty { submit() }
        group.wait()
        let done = results.chunks.withLock { $0 }
        var rows: [IntegrityRow] = []
        rows.reserveCapacity(chunks * Self.chunkSize)
        for index in 0..<chunks { rows += try done[index]!.get() }
        return rows
    }

    /// The rows of `inputs`, all at once (for a store that has them in hand).
    package static func rows(_ inputs: [IntegrityRowInput], book: DictionaryBook, contexts: ZstdContextPool) throws(StoreError) -> [IntegrityRow] {
        let digester = IntegrityDigester(book: book, contexts: contexts)
        for input in inputs { digester.add(input) }
        return try digester.finish()
    }

    private static func rows(_ inputs: ArraySlice<IntegrityRowInput>, book: DictionaryBook, contexts: ZstdContextPool) throws(StoreError) -> [IntegrityRow] {
        try contexts.withDecompressor { (decompressor) throws(StoreError) in
            var fields = IntegrityLeaf.Fields()
            // Rows of a stream share a dictionary: skip the book's lock for the same one again.
            var last: (id: Int64, dictionary: ZstdDictionary)?
            var out: [IntegrityRow] = []
            out.reserveCapacity(inputs.count)
            for input in inputs {
                let occurredAt = Timestamp(microseconds: input.occurredAt)
                do throws(StoreError) {
                    let record = try PayloadCodec.open(input.payload, dict: input.dict, using: decompressor) { (id) throws(StoreError) in
                        if id == last?.id { return last?.dictionary }
                        let found = try book.dictionary(id) { () throws(StoreError) in nil }
                        last = found.map { (id, $0) }
                        return found
                    }
                    if IntegrityRow.isCheckpoint(source: input.source, logType: input.logType) {
                        let event = try EventRecord.storedEvent(
                            seq: input.seq, source: input.source, logType: input.logType, action: input.action, origin: input.origin,
                            occurredAt: occurredAt, record: record
                        )
                        out.append(IntegrityRow(seq: input.seq, occurredAt: input.occurredAt, legacyID: nil, content: nil, checkpoint: event))
                    } else {
                        let (content, legacyID) = try EventRecord.integrityContent(
                            record, source: input.source, logType: input.logType, origin: input.origin, action: input.action, occurredAt: input.occurredAt,
                            into: &fields
                        )
                        out.append(IntegrityRow(seq: input.seq, occurredAt: input.occurredAt, legacyID: legacyID, content: content, checkpoint: nil))
                    }
                } catch {
                    throw StoreError(.corrupt, "event \(EventID.stored(occurredAt: occurredAt, seq: input.seq)) (seq \(input.seq)) cannot be read: \(error.message)")
                }
            }
            return out
        }
    }
}
