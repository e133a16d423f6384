/// A public event identifier: 26 Crockford base32 digits of 128 bits, a 48-bit millisecond time
/// first (the ULID layout).
///
/// Events stored since the lean store have an id derived from what their row already holds, so
/// no id is stored or indexed: the event's own time in milliseconds, a 16-bit mark, and its
/// `seq` (``stored(occurredAt:seq:)``); a lookup reads the seq back and checks the time. Events
/// stored before carry the random ULID they were given (80 random bits after the time of
/// arrival), kept with them so that ids handed out earlier still resolve.
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

    /// The mark between the time and the seq of a stored event's id.
    static let storedMark: UInt64 = 0x5E0C

    /// The id of the stored event with `seq` that occurred at `occurredAt`.
    public static func stored(occurredAt: Timestamp, seq: Int64) -> EventID {
        let ms = UInt64(max(0, occurredAt.microseconds / 1000)) & 0xFFFF_FFFF_FFFF
        return encode(high64: ms << 16 | storedMark, low64: UInt64(bitPattern: seq))
    }

    /// For an id made by ``stored(occurredAt:seq:)``: the seq it names and the millisecond it
    /// was made with (both must match the row). Nil for any other id.
    public var storedParts: (seq: Int64, occurredMilliseconds: Int64)? {
        guard let (high, low) = bits, high & 0xFFFF == Self.storedMark else { return nil }
        return (Int64(bitPattern: low), Int64(high >> 16))
    }

    /// Whether this id was made by ``stored(occurredAt:seq:)`` for these values.
    public func names(occurredAt: Timestamp, seq: Int64) -> Bool {
        self == Self.stored(occurredAt: occurredAt, seq: seq)
    }

    /// The 128 bits as two words, or nil when the text holds more than 128 bits.
    public var bits: (high: UInt64, low: UInt64)? {
        var high: UInt64 = 0
        var low: UInt64 = 0
        for c in rawValue.utf8 {
            let digit = UInt64(Self.decodeTable[Int(c)])
            // 26 digits carry 130 bits; the top two must be zero.
            if high >> 59 != 0 { return nil }
            high = high << 5 | low >> 59
            low = low << 5 | digit
        }
        return (high, low)
    }

    /// The 128 bits of a ULID-form id, as text.
    public init(bits high: UInt64, _ low: UInt64) {
        self = Self.encode(high64: high, low64: low)
    }

    /// A new random id for an event received at `time` (the form of events stored before the
    /// lean store, and of tests' fixtures).
    public static func make(at time: Timestamp, using generator: inout some RandomNumberGenerator) -> EventID {
        let ms = UInt64(max(0, time.microseconds / 1000))
        let hi = generator.next() as UInt64
        let lo = generator.next() as UInt64
        // 128 bits: 48 time, 80 random; emitted as 26 base32 digits (130 bits, top 2 zero).
        return encode(high64: ms << 16 | (hi >> 48), low64: (hi << 16) | (lo & 0xFFFF))
    }

    private static func encode(high64: UInt64, low64: UInt64) -> EventID {
        // Written straight into the string's storage: one allocation per id (every event read
        // back gets one).
        EventID(unchecked: String(unsafeUninitializedCapacity: 26) { write(high64, low64, into: $0) })
    }

    /// Writes the 26 digits of 128 bits into `chars`; returns 26.
    private static func write(_ high64: UInt64, _ low64: UInt64, into chars: UnsafeMutableBufferPointer<UInt8>) -> Int {
        var lowBits = low64
        var highBits = high64
        for i in stride(from: 25, through: 0, by: -1) {
            chars[i] = alphabet[Int(lowBits & 0x1F)]
            lowBits = (lowBits >> 5) | ((highBits & 0x1F) << 59)
            highBits >>= 5
        }
        return 26
    }

    /// The text of ``stored(occurredAt:seq:)`` in a temporary buffer, for `body` only: for a
    /// reader that needs the id's bytes (a leaf hash) for every event, not a string.
    public static func withStoredText<R>(occurredAt: Timestamp, seq: Int64, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        let ms = UInt64(max(0, occurredAt.microseconds / 1000)) & 0xFFFF_FFFF_FFFF
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 26) { chars in
            _ = write(ms << 16 | storedMark, UInt64(bitPattern: seq), into: chars)
            return body(UnsafeRawBufferPointer(chars))
        }
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

    /// The same numbers on every run from the same seed (tests, benchmarks).
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
