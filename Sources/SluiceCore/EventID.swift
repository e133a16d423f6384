/// A public event identifier: a ULID (48-bit millisecond time, 80 random bits, Crockford
/// base32), so ids sort roughly by arrival and never reveal the store's row numbers.
public struct EventID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let rawValue: String

    public init?(_ text: String) {
        guard text.utf8.count == 26, text.utf8.allSatisfy({ EventID.decodeTable[Int($0)] != 0xFF }) else { return nil }
        self.rawValue = text.uppercased()
    }

    private init(unchecked: String) {
        self.rawValue = unchecked
    }

    public static func < (lhs: EventID, rhs: EventID) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { rawValue }

    private static let alphabet: [UInt8] = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)
    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() {
            table[Int(c)] = UInt8(i)
            table[Int(Character(UnicodeScalar(c)).lowercased().utf8.first!)] = UInt8(i)
        }
        return table
    }()

    /// A new id for an event received at `time`.
    public static func make(at time: Timestamp, using generator: inout some RandomNumberGenerator) -> EventID {
        let ms = UInt64(max(0, time.microseconds / 1000))
        let hi = generator.next() as UInt64
        let lo = generator.next() as UInt64
        // 128 bits: 48 time, 80 random; emitted as 26 base32 digits (130 bits, top 2 zero).
        let high64 = ms << 16 | (hi >> 48)
        let low64 = (hi << 16) | (lo & 0xFFFF)
        var chars = [UInt8](repeating: 0, count: 26)
        var i = 25
        var lowBits = low64
        var highBits = high64
        for _ in 0..<26 {
            let digit = Int(lowBits & 0x1F)
            chars[i] = alphabet[digit]
            lowBits = (lowBits >> 5) | ((highBits & 0x1F) << 59)
            highBits >>= 5
            i -= 1
        }
        return EventID(unchecked: String(decoding: chars, as: UTF8.self))
    }

    public static func make(at time: Timestamp) -> EventID {
        var generator = SystemRandomNumberGenerator()
        return make(at: time, using: &generator)
    }
}

/// A fast generator (SplitMix64) for id randomness, seeded from the system generator. Event ids
/// need uniqueness, not secrecy; this avoids a `getrandom` call per event on the commit path.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
