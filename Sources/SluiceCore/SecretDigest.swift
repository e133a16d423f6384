import Crypto

/// A stored secret: only its SHA-256 is kept. Sluice's tokens and feed secrets are 256-bit random
/// values, so a fast hash is enough (no password-style stretching is needed to resist guessing).
public struct SecretDigest: Sendable, Hashable {
    public let bytes: [UInt8]

    public init(of secret: String) {
        self.bytes = Array(SHA256.hash(data: Array(secret.utf8)))
    }

    public init?(hex: String) {
        guard hex.utf8.count == 64, let bytes = [UInt8](hex: hex) else { return nil }
        self.bytes = bytes
    }

    public var hex: String { bytes.hexString }

    /// Hashes `candidate` and compares in constant time.
    public func matches(_ candidate: some StringProtocol) -> Bool {
        let other = Array(SHA256.hash(data: Array(candidate.utf8)))
        return constantTimeEquals(bytes, other)
    }

}

/// Compares two byte strings without an early exit, so timing does not reveal where they differ.
public func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<a.count { diff |= a[i] ^ b[i] }
    return diff == 0
}

/// Generates secrets: 32 random bytes, URL-safe base64 without padding, with a readable prefix.
public enum SecretGenerator {
    public static func make(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        for _ in 0..<4 {
            let v = generator.next() as UInt64
            for k in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * k))) }
        }
        return prefix + base64URL(bytes)
    }

    public static func base64URL(_ bytes: [UInt8]) -> String {
        let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var out: [UInt8] = []
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [table[Int(n >> 18 & 63)], table[Int(n >> 12 & 63)], table[Int(n >> 6 & 63)], table[Int(n & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [table[Int(n >> 18 & 63)], table[Int(n >> 12 & 63)]]
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [table[Int(n >> 18 & 63)], table[Int(n >> 12 & 63)], table[Int(n >> 6 & 63)]]
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    /// The bytes `hex` spells (either case); nil when it is not an even number of hex digits.
    public init?(hex: String) {
        guard hex.utf8.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            case 0x41...0x46: c - 0x41 + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(hex.utf8.count / 2)
        var iterator = hex.utf8.makeIterator()
        while let a = iterator.next(), let b = iterator.next() {
            guard let hi = nibble(a), let lo = nibble(b) else { return nil }
            out.append(hi << 4 | lo)
        }
        self = out
    }

    public var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(count * 2)
        for b in self {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
