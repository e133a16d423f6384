import SluiceCore

/// When a collector runs: a 5-field cron expression in UTC (`0 * * * *`) or a fixed interval.
public enum CollectorSchedule: Sendable, Hashable, CustomStringConvertible {
    case cron(CronExpression)
    case every(Duration)

    /// The first run time strictly after `time`.
    public func next(after time: Timestamp) -> Timestamp {
        switch self {
        case .cron(let expression): expression.next(after: time)
        case .every(let interval): time + interval
        }
    }

    public var description: String {
        switch self {
        case .cron(let expression): expression.text
        case .every(let interval): "every \(DurationText.text(interval))"
        }
    }
}

/// A 5-field cron expression (minute hour day-of-month month day-of-week), evaluated in UTC.
/// Fields take `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, and lists `a,b`; day of
/// week 0–7 with 0 and 7 both Sunday. As in Vixie cron, when both day fields are restricted a
/// day matches either.
public struct CronExpression: Sendable, Hashable {
    public let text: String
    let minutes: Set<Int>
    let hours: Set<Int>
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    let daysOfWeek: Set<Int>
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool

    /// Why an expression is invalid, naming the field.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public init(_ text: String) throws(ParseError) {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw ParseError(description: "expected 5 fields (minute hour day-of-month month day-of-week), found \(fields.count)")
        }
        self.text = text
        minutes = try Self.field(fields[0], name: "minute", range: 0...59)
        hours = try Self.field(fields[1], name: "hour", range: 0...23)
        daysOfMonth = try Self.field(fields[2], name: "day-of-month", range: 1...31)
        months = try Self.field(fields[3], name: "month", range: 1...12)
        daysOfWeek = Set(try Self.field(fields[4], name: "day-of-week", range: 0...7).map { $0 % 7 })
        dayOfMonthRestricted = fields[2] != "*"
        dayOfWeekRestricted = fields[4] != "*"
    }

    static func field(_ text: String, name: String, range: ClosedRange<Int>) throws(ParseError) -> Set<Int> {
        var values = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            var body = Substring(part)
            var step = 1
            if let slash = part.firstIndex(of: "/") {
                guard let n = Int(part[part.index(after: slash)...]), n > 0 else {
                    throw ParseError(description: "\(name) field \"\(text)\": the step after / must be a positive number")
                }
                step = n
                body = part[..<slash]
            }
            var bounds: ClosedRange<Int>
            if body == "*" {
                bounds = range
            } else if let dash = body.firstIndex(of: "-") {
                guard let low = Int(body[..<dash]), let high = Int(body[body.index(after: dash)...]), low <= high else {
                    throw ParseError(description: "\(name) field \"\(text)\": \"\(body)\" is not a range low-high")
                }
                bounds = low...high
            } else if let n = Int(body) {
                bounds = n...(step > 1 ? range.upperBound : n)
            } else {
                throw ParseError(description: "\(name) field \"\(text)\": \"\(body)\" is not a number, range or *")
            }
            guard range.contains(bounds.lowerBound), range.contains(bounds.upperBound) else {
                throw ParseError(description: "\(name) field \"\(text)\": values must be within \(range.lowerBound)-\(range.upperBound)")
            }
            values.formUnion(stride(from: bounds.lowerBound, through: bounds.upperBound, by: step))
        }
        return values
    }

    /// The first matching minute strictly after `time` (searching up to five years ahead).
    public func next(after time: Timestamp) -> Timestamp {
        let minute: Int64 = 60_000_000
        var t = (time.microseconds / minute + 1) * minute
        let limit = t + 5 * 366 * 24 * 60 * minute
        while t < limit {
            let days = t / (24 * 60 * minute)
            let (_, civilMonth, civilDay) = Timestamp.civil(fromDays: days)
            let month = Int(civilMonth)
            let day = Int(civilDay)
            // 1970-01-01 was a Thursday (4).
            let weekday = Int((days % 7 + 7 + 4) % 7)
            let dayMatches: Bool
            if dayOfMonthRestricted && dayOfWeekRestricted {
                dayMatches = daysOfMonth.contains(day) || daysOfWeek.contains(weekday)
            } else {
                dayMatches = daysOfMonth.contains(day) && daysOfWeek.contains(weekday)
            }
            guard months.contains(month), dayMatches else {
                t = (days + 1) * 24 * 60 * minute
                continue
            }
            let minuteOfDay = Int((t / minute) % (24 * 60))
            if hours.contains(minuteOfDay / 60) && minutes.contains(minuteOfDay % 60) { return Timestamp(microseconds: t) }
            t += minute
        }
        return Timestamp(microseconds: limit)
    }
}
