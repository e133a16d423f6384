import Foundation

/// The time buckets of a histogram: `edges.count - 1` adjacent ranges, bucket `i` being
/// `[edges[i], edges[i + 1])`. Edges fall on whole multiples of the width in the chosen time zone
/// (an hour bucket in Asia/Kolkata starts at :30 UTC; a day bucket starts at local midnight, so
/// it is 23 or 25 hours long across a DST change).
public struct HistogramBuckets: Sendable, Hashable {
    public var edges: [Timestamp]
    /// The nominal width (a day bucket may be an hour shorter or longer).
    public var width: HistogramWidth

    public init(edges: [Timestamp], width: HistogramWidth) {
        self.edges = edges
        self.width = width
    }

    public var count: Int { max(0, edges.count - 1) }

    /// The bucket holding `time`, or nil outside every bucket.
    public func bucket(of time: Timestamp) -> Int? {
        guard let first = edges.first, let last = edges.last, time >= first, time < last else { return nil }
        // The last edge not after `time`.
        var low = 0
        var high = edges.count - 1
        while high - low > 1 {
            let mid = (low + high) / 2
            if edges[mid] <= time { low = mid } else { high = mid }
        }
        return low
    }
}

/// A bucket width: one of a fixed ladder of round widths, so bars read as "per 5 minutes".
public struct HistogramWidth: Sendable, Hashable, CustomStringConvertible {
    public var seconds: Int64

    /// The widths a chosen bucket may have, narrowest first.
    public static let ladder: [HistogramWidth] = [
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200, 86_400, 7 * 86_400,
    ].map { HistogramWidth(seconds: $0) }

    public init(seconds: Int64) { self.seconds = seconds }

    /// `30s`, `5m`, `1h`, `1d`; nil for anything else.
    public init?(text: String) {
        guard let unit = text.last, let n = Int64(text.dropLast()), n > 0, n <= 10_000 else { return nil }
        switch unit {
        case "s": seconds = n
        case "m": seconds = n * 60
        case "h": seconds = n * 3_600
        case "d": seconds = n * 86_400
        default: return nil
        }
    }

    public var description: String {
        for (unit, size) in [("d", Int64(86_400)), ("h", 3_600), ("m", 60)] where seconds % size == 0 {
            return "\(seconds / size)\(unit)"
        }
        return "\(seconds)s"
    }

    var microseconds: Int64 { seconds * 1_000_000 }
    /// Whole days step by the calendar (local midnights), not by 86,400 seconds.
    var isDays: Bool { seconds % 86_400 == 0 }
}

/// Why a histogram cannot be planned, naming the parameter.
public struct HistogramPlanError: Error, Sendable, Hashable, CustomStringConvertible {
    public var parameter: String
    public var message: String

    public var description: String { message }
}

/// Chooses the buckets of a histogram over `[since, until)`.
public enum HistogramPlan {
    /// Most buckets one histogram may have.
    public static let maximumBuckets = 1_000

    /// `buckets` (1...1,000) bars at most; `width` when given, else the narrowest ladder width
    /// that fits. Fails, naming the parameter, when a given width would need more than 1,000.
    public static func buckets(
        since: Timestamp, until: Timestamp, buckets: Int, width: HistogramWidth?, zone: TimeZone
    ) throws(HistogramPlanError) -> HistogramBuckets {
        guard buckets >= 1, buckets <= maximumBuckets else {
            throw HistogramPlanError(parameter: "buckets", message: "buckets=\(buckets) must be a whole number from 1 to \(maximumBuckets)")
        }
        guard since < until else {
            throw HistogramPlanError(parameter: "since", message: "since (\(since)) must be before until (\(until))")
        }
        let span = until.microseconds - since.microseconds
        let chosen: HistogramWidth
        if let width {
            // A rough count first, so a tiny width over years is refused before any edge is made.
            guard span / width.microseconds < Int64(maximumBuckets) + 2 else {
                throw HistogramPlanError(parameter: "width", message: "width=\(width) over \(since) to \(until) needs more than \(maximumBuckets) buckets; choose a wider width or a shorter range")
            }
            chosen = width
        } else {
            // +1: aligning the first edge down may add a bucket.
            chosen = HistogramWidth.ladder.first { (span + $0.microseconds - 1) / $0.microseconds + 1 <= Int64(buckets) }
                ?? HistogramWidth.ladder.last!
        }
        let edges = Self.edges(since: since, until: until, width: chosen, zone: zone)
        guard edges.count - 1 <= maximumBuckets else {
            throw HistogramPlanError(parameter: width == nil ? "since" : "width", message: "the range \(since) to \(until) needs \(edges.count - 1) buckets of \(chosen), more than \(maximumBuckets); choose a shorter range\(width == nil ? "" : " or a wider width")")
        }
        return HistogramBuckets(edges: edges, width: chosen)
    }

    /// Edges from the bucket holding `since` to the first edge at or after `until`.
    static func edges(since: Timestamp, until: Timestamp, width: HistogramWidth, zone: TimeZone) -> [Timestamp] {
        var edges = [align(since, width: width, zone: zone)]
        while edges.last! < until, edges.count <= maximumBuckets + 1 {
            let previous = edges.last!
            var next = width.isDays ? addDays(previous, width.seconds / 86_400, zone: zone) : align(previous + .seconds(width.seconds), width: width, zone: zone)
            if next <= previous { next = previous + .seconds(width.seconds) }
            edges.append(next)
        }
        return edges
    }

    /// The start of the bucket holding `time`: the local time floored to the width, for widths
    /// of an hour or less counted from the local day's start; for days, local midnight (and for a
    /// week, the Monday of its ISO week).
    static func align(_ time: Timestamp, width: HistogramWidth, zone: TimeZone) -> Timestamp {
        let seconds = floorDiv(time.microseconds, 1_000_000)
        let offset = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(seconds))))
        let local = seconds + offset
        if width.isDays {
            var calendar = Calendar(identifier: .iso8601)
            calendar.timeZone = zone
            let date = Date(timeIntervalSince1970: TimeInterval(seconds))
            var start = calendar.startOfDay(for: date)
            if width.seconds == 7 * 86_400, let week = calendar.dateInterval(of: .weekOfYear, for: date) { start = week.start }
            return Timestamp(microseconds: Int64(start.timeIntervalSince1970.rounded()) * 1_000_000)
        }
        let flooredLocal = local - floorMod(local, width.seconds)
        // The offset at the floored instant: across a DST change an hour bucket keeps local hours.
        let candidate = flooredLocal - offset
        let offsetThen = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(candidate))))
        var start = flooredLocal - offsetThen
        if start > seconds { start = candidate }
        return Timestamp(microseconds: start * 1_000_000)
    }

    private static func addDays(_ time: Timestamp, _ days: Int64, zone: TimeZone) -> Timestamp {
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = zone
        let date = Date(timeIntervalSince1970: TimeInterval(time.microseconds / 1_000_000))
        let next = calendar.date(byAdding: .day, value: Int(days), to: date) ?? date.addingTimeInterval(TimeInterval(days * 86_400))
        return Timestamp(microseconds: Int64(next.timeIntervalSince1970.rounded()) * 1_000_000)
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
    private static func floorMod(_ a: Int64, _ b: Int64) -> Int64 { a - floorDiv(a, b) * b }

    /// A time zone as the API takes it: an IANA name (`Asia/Kolkata`), `UTC`, or a fixed offset
    /// (`+05:30`, `-04:00`); nil when it is none of them.
    public static func zone(named text: String) -> TimeZone? {
        if text.isEmpty || text == "UTC" || text == "Z" { return TimeZone(identifier: "UTC") }
        if let sign = text.first, sign == "+" || sign == "-" {
            let parts = text.dropFirst().split(separator: ":")
            guard parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]), parts[0].count == 2, parts[1].count == 2, h <= 14, m < 60 else { return nil }
            return TimeZone(secondsFromGMT: (sign == "-" ? -1 : 1) * (h * 3_600 + m * 60))
        }
        guard text.contains("/"), let zone = TimeZone(identifier: text) else { return nil }
        return zone
    }
}

/// Counts of matching events per bucket, exact unless a free-text search bounded the count.
public struct EventCounts: Sendable, Hashable {
    public var counts: [Int]
    /// False when a free-text filter made the store read only the newest events it may scan:
    /// the counts then cover the matching events at or after `countedFrom`.
    public var complete: Bool
    public var countedFrom: Timestamp?

    public init(counts: [Int], complete: Bool = true, countedFrom: Timestamp? = nil) {
        self.counts = counts
        self.complete = complete
        self.countedFrom = countedFrom
    }
}

/// A field the facets count values of; its name is the filter parameter that selects a value.
public enum FacetField: String, Sendable, Hashable, CaseIterable, Comparable {
    case feed, logType = "log_type", action, actor, actorType = "actor_type", target, targetType = "target_type"

    public static func < (a: FacetField, b: FacetField) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// The values an event has for this field, without repeats (an actor's id and name both
    /// count, as the `actor` filter matches either; so do each target's).
    public func values(of event: StoredEvent) -> [String] {
        let n = event.normalized
        var out: [String] = []
        func add(_ value: String?) {
            guard let value, !value.isEmpty, !out.contains(value) else { return }
            out.append(value)
        }
        switch self {
        case .feed: add(event.source)
        case .logType: add(event.logType)
        case .action: add(n.action)
        case .actor: add(n.actor?.id); add(n.actor?.name)
        case .actorType: add(n.actor?.type)
        case .target: for t in n.targets { add(t.id); add(t.name) }
        case .targetType: for t in n.targets { add(t.type) }
        }
        return out
    }
}

/// One value of a facet and how many matching events have it.
public struct FacetValue: Sendable, Hashable {
    public var value: String
    public var events: Int

    public init(value: String, events: Int) {
        self.value = value
        self.events = events
    }

    /// Most events first, then by value, so equal counts list the same way every time.
    public static func ranked(_ counts: [String: Int], limit: Int) -> [FacetValue] {
        counts.map { FacetValue(value: $0.key, events: $0.value) }
            .sorted { $0.events != $1.events ? $0.events > $1.events : $0.value < $1.value }
            .prefix(limit).map { $0 }
    }
}

/// The top values of some fields over the events a filter matches.
public struct EventFacets: Sendable, Hashable {
    public var fields: [FacetField: [FacetValue]]
    /// How many matching events the counts cover.
    public var eventsCounted: Int
    /// True when they cover every matching event; false when the store counted only the newest
    /// ``FacetScan/maximumEvents`` of them (the counts are then those of that newest part).
    public var complete: Bool

    public init(fields: [FacetField: [FacetValue]], eventsCounted: Int, complete: Bool) {
        self.fields = fields
        self.eventsCounted = eventsCounted
        self.complete = complete
    }
}

/// Facets counted by reading matching events, newest first, up to a bound.
public enum FacetScan {
    /// Most events a facet request reads when the store has no totals for its filter.
    public static let maximumEvents = 10_000
    /// Most values a facet may list.
    public static let maximumLimit = 100

    /// Counts `fields` over `events` into `counts`.
    public static func count(_ events: some Sequence<StoredEvent>, fields: [FacetField], into counts: inout [FacetField: [String: Int]]) {
        for event in events {
            for field in fields {
                for value in field.values(of: event) { counts[field, default: [:]][value, default: 0] += 1 }
            }
        }
    }
}
