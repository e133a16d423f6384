import CZstd
import Synchronization

/// Why zstd could not compress, decompress or train.
public struct ZstdError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The frame does not decode: damaged bytes, the wrong dictionary, or a checksum mismatch.
        case corrupt
        /// The frame says it holds more than the caller allows.
        case tooLarge
        /// A dictionary could not be trained from the samples given (too few, too small or too alike).
        case training
        /// zstd refused a parameter or ran out of memory.
        case failed
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    static func check(_ code: Int, _ kind: Kind, _ doing: String) throws(ZstdError) -> Int {
        if ZSTD_isError(code) != 0 {
            throw ZstdError(kind, "\(doing): \(String(cString: ZSTD_getErrorName(code)))")
        }
        return code
    }
}

/// A zstd dictionary. Immutable, so one instance serves every thread (zstd documents CDict and
/// DDict as read-only once created). The decompression side is prepared at once; the
/// compression side, several times larger, only when something compresses with it, so that
/// dictionaries kept only to read old rows stay small.
public final class ZstdDictionary: Sendable {
    /// The dictionary as trained, as it is stored.
    public let bytes: [UInt8]
    public let level: Int32
    private let decompression: Handle
    private let compression = Mutex<Handle?>(nil)

    /// A CDict or DDict pointer and how to free it.
    private final class Handle: @unchecked Sendable {
        let pointer: OpaquePointer
        let free: (OpaquePointer) -> Void

        init(_ pointer: OpaquePointer, free: @escaping (OpaquePointer) -> Void) {
            self.pointer = pointer
            self.free = free
        }

        deinit { free(pointer) }
    }

    public init(bytes: [UInt8], level: Int32) throws(ZstdError) {
        guard !bytes.isEmpty else { throw ZstdError(.failed, "a zstd dictionary cannot be empty") }
        let made = bytes.withUnsafeBytes { raw in ZSTD_createDDict(raw.baseAddress, raw.count) }
        guard let made else { throw ZstdError(.failed, "zstd could not load a dictionary of \(bytes.count) bytes") }
        self.bytes = bytes
        self.level = level
        self.decompression = Handle(made) { _ = ZSTD_freeDDict($0) }
    }

    var ddict: OpaquePointer { decompression.pointer }

    func cdict() throws(ZstdError) -> OpaquePointer {
        let made: OpaquePointer? = compression.withLock { handle in
            if let handle { return handle.pointer }
            let created = bytes.withUnsafeBytes { raw in ZSTD_createCDict(raw.baseAddress, raw.count, level) }
            guard let created else { return nil }
            handle = Handle(created) { _ = ZSTD_freeCDict($0) }
            return created
        }
        guard let made else { throw ZstdError(.failed, "zstd could not prepare a dictionary of \(bytes.count) bytes for compression") }
        return made
    }

    /// Trains a dictionary of at most `capacity` bytes from `samples` (zstd's fastCover trainer,
    /// as `zstd --train` runs it). zstd advises about a hundred times the capacity in samples.
    public static func train(samples: [[UInt8]], capacity: Int) throws(ZstdError) -> [UInt8] {
        guard samples.count >= 8 else {
            throw ZstdError(.training, "a dictionary needs at least 8 samples, got \(samples.count)")
        }
        var joined: [UInt8] = []
        joined.reserveCapacity(samples.reduce(0) { $0 + $1.count })
        for sample in samples { joined += sample }
        let sizes = samples.map { $0.count }
        var dictionary = [UInt8](repeating: 0, count: capacity)
        let size = dictionary.withUnsafeMutableBytes { out in
            joined.withUnsafeBytes { input in
                sizes.withUnsafeBufferPointer { sizes in
                    ZDICT_trainFromBuffer(out.baseAddress, out.count, input.baseAddress, sizes.baseAddress, UInt32(sizes.count))
                }
            }
        }
        if ZDICT_isError(size) != 0 {
            throw ZstdError(.training, "zstd could not train a dictionary from \(samples.count) samples (\(joined.count) bytes): \(String(cString: ZDICT_getErrorName(size)))")
        }
        dictionary.removeLast(dictionary.count - size)
        return dictionary
    }
}

/// A compression context, reused for many small inputs. One thread at a time: it is `Sendable`
/// only so that a pool can hand it from one task to the next.
///
/// Frames carry their content size and a checksum of their content (so damaged bytes or the
/// wrong dictionary are reported, never returned), and no dictionary id: the row says which
/// dictionary it used.
public final class ZstdCompressor: @unchecked Sendable {
    private let context: OpaquePointer
    public let level: Int32

    public init(level: Int32) throws(ZstdError) {
        guard let context = ZSTD_createCCtx() else { throw ZstdError(.failed, "zstd could not allocate a compression context") }
        self.context = context
        self.level = level
        for (parameter, value) in [(ZSTD_c_compressionLevel, level), (ZSTD_c_checksumFlag, 1), (ZSTD_c_dictIDFlag, 0), (ZSTD_c_contentSizeFlag, 1)] {
            if ZSTD_isError(ZSTD_CCtx_setParameter(context, parameter, value)) != 0 {
                ZSTD_freeCCtx(context)
                throw ZstdError(.failed, "zstd refused compression parameter \(parameter.rawValue) = \(value)")
            }
        }
    }

    deinit { ZSTD_freeCCtx(context) }

    /// Appends one frame holding `input` to `output`; with `dictionary`, its level applies.
    public func compress(_ input: UnsafeRawBufferPointer, dictionary: ZstdDictionary?, appendingTo output: inout [UInt8]) throws(ZstdError) {
        _ = try ZstdError.check(ZSTD_CCtx_refCDict(context, try dictionary?.cdict()), .failed, "zstd could not use the dictionary")
        let start = output.count
        let bound = ZSTD_compressBound(input.count)
        output.append(contentsOf: repeatElement(0, count: bound))
        let written = output.withUnsafeMutableBytes { out in
            ZSTD_compress2(context, out.baseAddress! + start, bound, input.baseAddress, input.count)
        }
        if ZSTD_isError(written) != 0 {
            output.removeLast(bound)
            throw ZstdError(.failed, "zstd could not compress \(input.count) bytes: \(String(cString: ZSTD_getErrorName(written)))")
        }
        output.removeLast(bound - written)
    }

    /// One frame holding `input`.
    public func compress(_ input: [UInt8], dictionary: ZstdDictionary?) throws(ZstdError) -> [UInt8] {
        var output: [UInt8] = []
        let result = input.withUnsafeBytes { input in
            Result { () throws(ZstdError) in try compress(input, dictionary: dictionary, appendingTo: &output) }
        }
        try result.get()
        return output
    }
}

/// A decompression context, reused across frames. One thread at a time: it is `Sendable` only so
/// that a pool can hand it from one task to the next.
public final class ZstdDecompressor: @unchecked Sendable {
    private let context: OpaquePointer

    public init() throws(ZstdError) {
        guard let context = ZSTD_createDCtx() else { throw ZstdError(.failed, "zstd could not allocate a decompression context") }
        self.context = context
    }

    deinit { ZSTD_freeDCtx(context) }

    /// The content of the one frame in `input`, which must have been written with `dictionary`
    /// (or none). Refuses a frame that declares more than `limit` bytes before decoding it.
    public func decompress(_ input: UnsafeRawBufferPointer, dictionary: ZstdDictionary?, limit: Int) throws(ZstdError) -> [UInt8] {
        let declared = ZSTD_getFrameContentSize(input.baseAddress, input.count)
        // ZSTD_CONTENTSIZE_UNKNOWN and _ERROR are the two largest values; every frame here has its size.
        guard declared < UInt64.max - 1 else {
            throw ZstdError(.corrupt, "the stored zstd frame has no readable header (\(input.count) bytes)")
        }
        guard declared <= UInt64(limit) else {
            throw ZstdError(.tooLarge, "the stored zstd frame declares \(declared) bytes, more than the limit of \(limit)")
        }
        let size = Int(declared)
        var written = 0
        // Not zeroed first: zstd writes every byte, and a frame that writes fewer is refused below.
        let output = [UInt8](unsafeUninitializedCapacity: size) { out, count in
            written = if let dictionary {
                ZSTD_decompress_usingDDict(context, out.baseAddress, size, input.baseAddress, input.count, dictionary.ddict)
            } else {
                ZSTD_decompressDCtx(context, out.baseAddress, size, input.baseAddress, input.count)
            }
            count = ZSTD_isError(written) == 0 && written == size ? size : 0
        }
        if ZSTD_isError(written) != 0 {
            throw ZstdError(.corrupt, "the stored zstd frame does not decode: \(String(cString: ZSTD_getErrorName(written)))")
        }
        guard written == size else {
            throw ZstdError(.corrupt, "the stored zstd frame decoded to \(written) bytes, not the \(size) its header declares")
        }
        return output
    }

    public func decompress(_ input: [UInt8], dictionary: ZstdDictionary?, limit: Int) throws(ZstdError) -> [UInt8] {
        let result = input.withUnsafeBytes { input in
            Result { () throws(ZstdError) -> [UInt8] in try decompress(input, dictionary: dictionary, limit: limit) }
        }
        return try result.get()
    }
}
