import SluiceCore

/// When each source's stored events arrived, and how many per hour of arrival (``Timestamp/hour``):
/// gathered per request, written per transaction (SQLite, by label id) or once a second
/// (PostgreSQL, by name) into `source_arrivals` and `source_hours`.
package struct ArrivalTally<Source: Hashable & Sendable>: Sendable {
    /// The latest time received per source, in microseconds.
    package private(set) var latest: [Source: Int64] = [:]
    /// Events per source and hour.
    package private(set) var hourly: [Source: [Int64: Int64]] = [:]

    package init() {}

    package var isEmpty: Bool { latest.isEmpty }

    package mutating func note(_ source: Source, count: Int = 1, at time: Timestamp) {
        guard count > 0 else { return }
        latest[source] = max(latest[source] ?? .min, time.microseconds)
        hourly[source, default: [:]][time.hour, default: 0] += Int64(count)
    }

    package mutating func merge(_ other: Self) {
        latest.merge(other.latest, uniquingKeysWith: max)
        hourly.merge(other.hourly) { $0.merging($1, uniquingKeysWith: +) }
    }
}
