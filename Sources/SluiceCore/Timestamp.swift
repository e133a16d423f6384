/// An instant in microseconds since the Unix epoch, UTC. Microseconds match the precision of
/// incident.io's `occurred_at`; finer digits (Incydr sends nanoseconds) are truncated.
public struct Timestamp: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var microseconds: Int64

    public init(microseconds: Int64) {
        self.microseconds = microseconds
    }

    public init(seconds: Int64) {
        self.microseconds = seconds * 1_000_000
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.microseconds < rhs.microseconds }

    public static func - (lhs: Timestamp, rhs: Duration) -> Timestamp {
        let (s, atto) = rhs.components
        return Timestamp(microseconds: lhs.microseconds - s * 1_000_000 - atto / 1_000_000_000_000)
    }

    public static func + (lhs: Timestamp, rhs: Duration) -> Timestamp {
        let (s, atto) = rhs.components
        return Timestamp(microseconds: lhs.microseconds + s * 1_000_000 + atto / 1_000_000_000_000)
    }

    public var description: String { rfc3339 }

    /// The end of a range that has none (a replay "until further notice"): the largest instant,
    /// so comparisons need no special case, and shown as null, never as a date.
    public static let noEnd = Timestamp(microseconds: .max)

    /// This time as JSON: its RFC 3339 text, or null for ``noEnd``.
    public var jsonValue: JSONValue { self == .noEnd ? .null : .string(rfc3339) }

    /// `2021-08-17T13:28:57.801578Z`: always six fractional digits, always UTC.
    public var rfc3339: String {
        var us = microseconds % 1_000_000
        var secs = microseconds / 1_000_000
        if us < 0 { us += 1_000_000; secs -= 1 }
        var days = secs / 86_400
        var rem = secs % 86_400
        if rem < 0 { rem += 86_400; days -= 1 }
        let (y, m, d) = Timestamp.civil(fromDays: days)
        var out = ""
        out.reserveCapacity(27)
        out += Timestamp.pad(y, 4) + "-" + Timestamp.pad(m, 2) + "-" + Timestamp.pad(d, 2)
        out += "T" + Timestamp.pad(rem / 3600, 2) + ":" + Timestamp.pad(rem % 3600 / 60, 2) + ":" + Timestamp.pad(rem % 60, 2)
        out += "." + Timestamp.pad(us, 6) + "Z"
        return out
    }

    private static func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    /// Parses RFC 3339 (`T`, `t` or a space between date and time; `Z` or `±hh:mm`; up to nine
    /// fractional digits) and, for convenience on the command line and in filters, a bare date
    /// `YYYY-MM-DD` (midnight UTC).
    public init?(rfc3339 text: some StringProtocol) {
        let b = Array(text.utf8)
        func num(_ from: Int, _ count: Int) -> Int64? {
            guard from + count <= b.count else { return nil }
            var v: Int64 = 0
            for i in from..<(from + count) {
                let c = b[i]
                guard c >= 0x30, c <= 0x39 else { return nil }
                v = v * 10 + Int64(c - 0x30)
            }
            return v
        }
        guard let year = num(0, 4), b.count >= 10, b[4] == UInt8(ascii: "-"), let month = num(5, 2),
              b[7] == UInt8(ascii: "-"), let day = num(8, 2),
              (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        let days = Timestamp.days(fromCivil: year, month, day)
        if b.count == 10 {
            self.microseconds = days * 86_400 * 1_000_000
            return
        }
        guard b.count >= 19, [UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")].contains(b[10]),
              let hour = num(11, 2), b[13] == UInt8(ascii: ":"), let minute = num(14, 2),
              b[16] == UInt8(ascii: ":"), let second = num(17, 2),
              hour < 24, minute < 60, second < 61
        else { return nil }
        var i = 19
        var micros: Int64 = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                if digits < 6 { micros = micros * 10 + Int64(b[i] - 0x30) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            if digits < 6 { for _ in digits..<6 { micros *= 10 } }
        }
        guard i < b.count else { return nil }
        var offsetSeconds: Int64 = 0
        switch b[i] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            i += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign: Int64 = b[i] == UInt8(ascii: "-") ? -1 : 1
            guard let oh = num(i + 1, 2), i + 3 < b.count, b[i + 3] == UInt8(ascii: ":"), let om = num(i + 4, 2) else { return nil }
            offsetSeconds = sign * (oh * 3600 + om * 60)
            i += 6
        default:
            return nil
        }
        guard i == b.count else { return nil }
        let secs = days * 86_400 + hour * 3600 + minute * 60 + min(second, 59) - offsetSeconds
        self.microseconds = secs * 1_000_000 + micros
    }

    /// Interprets a JSON value as a time: RFC 3339 text, or epoch seconds / milliseconds /
    /// microseconds as a number or numeric string (chosen by magnitude).
    public init?(json: JSONValue) {
        switch json {
        case .string(let s):
            if let t = Timestamp(rfc3339: s) { self = t; return }
            if let t = Timestamp(epochText: s) { self = t; return }
            return nil
        case .number(let n):
            guard let t = Timestamp(epochText: n) else { return nil }
            self = t
        default:
            return nil
        }
    }

    init?(epochText: String) {
        guard let value = Double(epochText), value.isFinite else { return nil }
        let magnitude = abs(value)
        let micros: Double
        if magnitude >= 1e14 { micros = value }            // already microseconds
        else if magnitude >= 1e11 { micros = value * 1_000 } // milliseconds
        else { micros = value * 1_000_000 }                 // seconds
        guard abs(micros) < 9e18 else { return nil }
        self.microseconds = Int64(micros)
    }

    // Howard Hinnant's civil-from-days algorithms.
    static func days(fromCivil y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// (year, month, day) of a day count since 1970-01-01.
    public static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rfc3339)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let t = Timestamp(rfc3339: s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an RFC 3339 time: \(s)")
        }
        self = t
    }
}

extension Timestamp {
    /// Whole hours since 1970 (UTC): the buckets of the stores' per-source counts and the pages'
    /// hourly figures.
    public var hour: Int64 { microseconds / 3_600_000_000 }

    /// The start of `hour` (hours since 1970).
    public init(hour: Int64) {
        self.init(microseconds: hour * 3_600_000_000)
    }
}
