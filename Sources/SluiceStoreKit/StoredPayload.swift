import SluiceCompression
import SluiceCore
import Synchronization

/// The source and log type a dictionary is trained for: events of one stream share most of their
/// structure, events of two streams rarely do.
package struct DictionaryStream: Hashable, Sendable, CustomStringConvertible {
    package var source: String
    package var logType: String

    package init(source: String, logType: String) {
        self.source = source
        self.logType = logType
    }

    package var description: String { "\(source)/\(logType)" }
}

/// How a row's payload is stored: the value of its `dict` column.
///
/// - nil: the record itself (compression would not have made it smaller);
/// - 0: a zstd frame without a dictionary;
/// - n > 0: a zstd frame made with dictionary n.
package enum PayloadCodec {
    /// zstd's level for frames without a dictionary and for the dictionaries trained here.
    package static let level: Int32 = 1
    /// Largest record a stored frame may declare (a push body is at most 32 MiB decompressed).
    package static let maximumRecordBytes = 64 << 20

    /// The smallest stored form of `record`: with `dictionary` when given, else plain zstd; the
    /// record itself when neither is smaller.
    package static func seal(
        _ record: [UInt8], with dictionary: (id: Int64, dictionary: ZstdDictionary)?, using compressor: ZstdCompressor
    ) -> (dict: Int64?, payload: [UInt8]) {
        let frame = try? compressor.compress(record, dictionary: dictionary?.dictionary)
        guard let frame, frame.count < record.count else { return (nil, record) }
        return (dictionary?.id ?? 0, frame)
    }

    /// The record a payload holds. A frame that does not decode, or whose dictionary is missing,
    /// is `.corrupt` naming both: never wrong bytes (every frame carries a checksum).
    package static func open(
        _ payload: [UInt8], dict: Int64?, book: DictionaryBook, using decompressor: ZstdDecompressor,
        load: (Int64) throws(StoreError) -> (bytes: [UInt8], level: Int32)?
    ) throws(StoreError) -> [UInt8] {
        try open(payload, dict: dict, using: decompressor) { (dict) throws(StoreError) in
            try book.dictionary(dict, load: { () throws(StoreError) in try load(dict) })
        }
    }

    /// ``open(_:dict:book:using:load:)`` with the dictionary found by `dictionary` (nil: the
    /// store does not have it), for a reader that keeps the last one at hand.
    package static func open(
        _ payload: [UInt8], dict: Int64?, using decompressor: ZstdDecompressor, dictionary find: (Int64) throws(StoreError) -> ZstdDictionary?
    ) throws(StoreError) -> [UInt8] {
        guard let dict else { return payload }
        var dictionary: ZstdDictionary?
        if dict > 0 {
            guard let found = try find(dict) else {
                throw StoreError(.corrupt, "its payload needs zstd dictionary \(dict), which the store does not have")
            }
            dictionary = found
        }
        do {
            return try decompressor.decompress(payload, dictionary: dictionary, limit: maximumRecordBytes)
        } catch {
            throw StoreError(.corrupt, "its payload does not decompress\(dict > 0 ? " with dictionary \(dict)" : ""): \(error.message)")
        }
    }
}

/// Every dictionary a store has loaded, by id, and the one each stream compresses with now.
///
/// Dictionaries never change once stored, so a loaded one is kept for good; a reader passes
/// `load` to read one it has not seen yet (a row written by another instance, or before a
/// restart) on the connection it holds.
package final class DictionaryBook: Sendable {
    private struct State {
        var byID: [Int64: ZstdDictionary] = [:]
        var current: [DictionaryStream: Int64] = [:]
    }

    private let state = Mutex(State())

    package init() {}

    /// The dictionaries loaded so far.
    package var loadedCount: Int { state.withLock { $0.byID.count } }

    /// Whether dictionary `id` is loaded.
    package func isLoaded(_ id: Int64) -> Bool { state.withLock { $0.byID[id] != nil } }

    /// Dictionary `id`, loading it with `load` when needed; nil when the store has no such dictionary.
    package func dictionary(
        _ id: Int64, load: () throws(StoreError) -> (bytes: [UInt8], level: Int32)?
    ) throws(StoreError) -> ZstdDictionary? {
        if let known = state.withLock({ $0.byID[id] }) { return known }
        guard let stored = try load() else { return nil }
        let dictionary: ZstdDictionary
        do {
            dictionary = try ZstdDictionary(bytes: stored.bytes, level: stored.level)
        } catch {
            throw StoreError(.corrupt, "stored zstd dictionary \(id) does not load: \(error.message)")
        }
        return state.withLock { state in
            if let raced = state.byID[id] { return raced }
            state.byID[id] = dictionary
            return dictionary
        }
    }

    /// The dictionary `stream` compresses with, if it has one.
    package func current(for stream: DictionaryStream) -> (id: Int64, dictionary: ZstdDictionary)? {
        state.withLock { state in
            guard let id = state.current[stream], let dictionary = state.byID[id] else { return nil }
            return (id, dictionary)
        }
    }

    /// Makes a stored dictionary the one `stream` compresses with from now on.
    package func adopt(_ id: Int64, _ dictionary: ZstdDictionary, for stream: DictionaryStream) {
        state.withLock { state in
            state.byID[id] = dictionary
            state.current[stream] = id
        }
    }

    /// Registers a stored dictionary without making it current (an older generation).
    package func register(_ id: Int64, _ dictionary: ZstdDictionary) {
        state.withLock { state in _ = state.byID[id, default: dictionary] }
    }
}

/// zstd contexts kept for reuse: making one per event would cost more than compressing it.
package final class ZstdContextPool: Sendable {
    private let compressors = Mutex<[ZstdCompressor]>([])
    private let decompressors = Mutex<[ZstdDecompressor]>([])
    /// Contexts kept idle at most; more are made under load and dropped after.
    private let keep: Int

    package init(keep: Int = 8) {
        self.keep = keep
    }

    package func withCompressor<R>(_ body: (ZstdCompressor) throws(StoreError) -> R) throws(StoreError) -> R {
        let taken = compressors.withLock { $0.popLast() }
        let compressor: ZstdCompressor
        if let taken {
            compressor = taken
        } else {
            do {
                compressor = try ZstdCompressor(level: PayloadCodec.level)
            } catch {
                throw StoreError(.unavailable, "zstd: \(error.message)")
            }
        }
        defer { compressors.withLock { if $0.count < keep { $0.append(compressor) } } }
        return try body(compressor)
    }

    package func withDecompressor<R>(_ body: (ZstdDecompressor) throws(StoreError) -> R) throws(StoreError) -> R {
        let taken = decompressors.withLock { $0.popLast() }
        let decompressor: ZstdDecompressor
        if let taken {
            decompressor = taken
        } else {
            do {
                decompressor = try ZstdDecompressor()
            } catch {
                throw StoreError(.unavailable, "zstd: \(error.message)")
            }
        }
        defer { decompressors.withLock { if $0.count < keep { $0.append(decompressor) } } }
        return try body(decompressor)
    }
}
