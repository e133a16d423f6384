import CZlib

/// Why a gzip body could not be read: each kind names what the sender got wrong.
public struct GzipError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// No bytes at all.
        case empty
        /// The data stops inside a member, before its trailer (CRC-32 and length) was read.
        case truncated
        /// zlib refused the data: a bad header, a bad block, or a trailer that does not match.
        case corrupt
        /// Bytes after the last complete member that do not start another member.
        case trailingData
        /// The members together expand past the caller's limit.
        case tooLarge
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// gzip (RFC 1952) through Debian's zlib.
public enum Gzip {
    /// Inflates every member of `input` and returns their concatenated output, as `zcat` does.
    ///
    /// Stricter than a reader that stops at the first end of stream: each member's trailer must
    /// be present and match (zlib checks the CRC-32 and length), nothing but further members may
    /// follow the first, and output past `limit` bytes (across all members) stops the read
    /// without ever holding more than `limit` bytes.
    public static func decompress(_ input: UnsafeRawBufferPointer, limit: Int) throws(GzipError) -> [UInt8] {
        guard let base = input.baseAddress, !input.isEmpty else {
            throw GzipError(.empty, "the gzip body is empty")
        }
        guard input.count <= Int(UInt32.max) else {
            throw GzipError(.tooLarge, "the gzip body is larger than zlib reads in one call (\(input.count) bytes)")
        }
        var stream = z_stream()
        guard sluice_inflate_init_gzip(&stream) == Z_OK else {
            throw GzipError(.corrupt, "zlib could not start inflating (out of memory)")
        }
        defer { inflateEnd(&stream) }
        stream.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = UInt32(input.count)

        var output: [UInt8] = []
        var window = [UInt8](repeating: 0, count: 64 * 1024)
        var member = 1
        while true {
            let (status, produced) = window.withUnsafeMutableBufferPointer { window in
                stream.next_out = window.baseAddress
                stream.avail_out = UInt32(window.count)
                let status = inflate(&stream, Z_NO_FLUSH)
                return (status, window.count - Int(stream.avail_out))
            }
            if output.count + produced > limit {
                throw GzipError(.tooLarge, "the gzip body expands past the limit of \(limit) bytes")
            }
            output.append(contentsOf: window[0..<produced])
            switch status {
            case Z_STREAM_END:
                let left = Int(stream.avail_in)
                if left == 0 { return output }
                // A gzip file is a series of members (RFC 1952 §2.2); anything else after one is not gzip.
                let next = stream.next_in!
                guard next[0] == 0x1F, left == 1 || next[1] == 0x8B else {
                    throw GzipError(
                        .trailingData,
                        "the gzip body has \(left) byte\(left == 1 ? "" : "s") after its last complete member (member \(member)) that are not another gzip member"
                    )
                }
                member += 1
                inflateReset(&stream)
            case Z_OK where stream.avail_out == 0:
                continue  // the window is full; more output follows
            case Z_OK, Z_BUF_ERROR:
                // Input ran out inside a member: the sender stopped before its end and trailer.
                throw GzipError(
                    .truncated,
                    "the gzip body ends inside member \(member), before its trailer (CRC-32 and length): the stream was not finished"
                )
            case Z_MEM_ERROR:
                throw GzipError(.corrupt, "zlib ran out of memory inflating member \(member)")
            default:
                let reason = stream.msg.map { String(cString: $0) } ?? "zlib status \(status)"
                throw GzipError(.corrupt, "the gzip body is damaged in member \(member): \(reason)")
            }
        }
    }

    /// `decompress(_:limit:)` over an array.
    public static func decompress(_ input: [UInt8], limit: Int) throws(GzipError) -> [UInt8] {
        let result = input.withUnsafeBytes { bytes in
            Result { () throws(GzipError) -> [UInt8] in try decompress(bytes, limit: limit) }
        }
        return try result.get()
    }

    /// One gzip member holding `input`, at zlib `level` (1 fastest … 9 smallest, 6 by default).
    public static func compress(_ input: [UInt8], level: Int32 = Z_DEFAULT_COMPRESSION) throws(GzipError) -> [UInt8] {
        var stream = z_stream()
        guard sluice_deflate_init_gzip(&stream, level) == Z_OK else {
            throw GzipError(.corrupt, "zlib could not start deflating at level \(level)")
        }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))))
        let status = input.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.avail_in = UInt32(input.count)
                stream.next_out = out.baseAddress
                stream.avail_out = UInt32(out.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else {
            throw GzipError(.corrupt, "zlib could not finish a gzip member (status \(status))")
        }
        output.removeLast(output.count - Int(stream.total_out))
        return output
    }
}
