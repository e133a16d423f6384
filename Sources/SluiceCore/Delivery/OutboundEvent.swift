#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a destination needs of a stored event: its order, where it came from and its raw bytes.
/// Lighter than ``StoredEvent`` (no normalized targets or actor), because delivery reads every
/// event once per destination.
public struct OutboundEvent: Sendable, Hashable {
    public var seq: Int64
    public var source: String
    public var logType: String
    public var action: String
    public var occurredAt: Timestamp
    public var receivedAt: Timestamp
    /// ``EventOrigin`` text for collected events; nil for pushes.
    public var origin: String?
    public var raw: [UInt8]

    public init(
        seq: Int64, source: String, logType: String, action: String, occurredAt: Timestamp, receivedAt: Timestamp,
        origin: String? = nil, raw: [UInt8]
    ) {
        self.seq = seq
        self.source = source
        self.logType = logType
        self.action = action
        self.occurredAt = occurredAt
        self.receivedAt = receivedAt
        self.origin = origin
        self.raw = raw
    }

    /// The raw bytes on one line: JSON allows raw CR and LF only as whitespace between tokens
    /// (never inside a string), so replacing them with spaces keeps the document's meaning.
    public var singleLineRaw: [UInt8] {
        let hasBreak = raw.withUnsafeBufferPointer { bytes in
            guard let base = bytes.baseAddress else { return false }
            return memchr(base, 0x0A, bytes.count) != nil || memchr(base, 0x0D, bytes.count) != nil
        }
        guard hasBreak else { return raw }
        return raw.map { $0 == 0x0A || $0 == 0x0D ? 0x20 : $0 }
    }
}
