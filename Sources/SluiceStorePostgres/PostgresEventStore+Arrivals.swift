import Logging
import PostgresNIO
import SluiceCore
import Synchronization

/// When each source's events were last stored here, and how many per hour of arrival, gathered
/// after each commit and written once a second by ``PostgresEventStore/flushArrivals()``: inside
/// the commit, even one more statement would hold the append lock that every instance's commits
/// wait for (measured: single-event pushes on three instances fell to about 0.8×). What a crash
/// can lose is the last second's counts; an arrival reaches other instances within a second.
final class SourceArrivalBuffer: Sendable {
    struct Delta: Sendable {
        var latest: [String: Int64] = [:]
        var hourly: [String: [Int64: Int64]] = [:]

        var isEmpty: Bool { latest.isEmpty }

        mutating func note(source: String, at microseconds: Int64) {
            latest[source] = max(latest[source] ?? .min, microseconds)
            hourly[source, default: [:]][microseconds / 3_600_000_000, default: 0] += 1
        }

        mutating func merge(_ other: Delta) {
            latest.merge(other.latest, uniquingKeysWith: max)
            hourly.merge(other.hourly) { $0.merging($1, uniquingKeysWith: +) }
        }
    }

    private let pending = Mutex(Delta())

    func add(_ delta: Delta) {
        guard !delta.isEmpty else { return }
        pending.withLock { $0.merge(delta) }
    }

    /// Everything gathered so far, emptied.
    func take() -> Delta {
        pending.withLock { pending in
            defer { pending = Delta() }
            return pending
        }
    }

    /// Puts back what could not be written (the next flush tries again).
    func restore(_ delta: Delta) { add(delta) }
}

extension PostgresEventStore {
    /// Writes the gathered arrivals in one statement (both tables), outside any commit.
    func flushArrivals() async {
        let delta = arrivals.take()
        guard !delta.isEmpty else { return }
        let sources = Array(delta.latest.keys)
        let times = sources.map { delta.latest[$0]! }
        var (hourSources, hours, counts) = ([String](), [Int64](), [Int64]())
        for (source, perHour) in delta.hourly {
            for (hour, count) in perHour {
                hourSources.append(source)
                hours.append(hour)
                counts.append(count)
            }
        }
        do {
            try await database.execute(
                """
                WITH arrived AS (
                    INSERT INTO source_arrivals (source, received_at) SELECT * FROM unnest(\(sources)::text[], \(times)::bigint[])
                    ON CONFLICT (source) DO UPDATE SET received_at = GREATEST(source_arrivals.received_at, excluded.received_at)
                )
                INSERT INTO source_hours (source, hour, events) SELECT * FROM unnest(\(hourSources)::text[], \(hours)::bigint[], \(counts)::bigint[])
                ON CONFLICT (source, hour) DO UPDATE SET events = source_hours.events + excluded.events
                """
            )
        } catch {
            arrivals.restore(delta)
            // Cancelled: the store is stopping, and ``close()`` wrote what it had before.
            guard !Task.isCancelled else { return }
            logger.warning("could not record source arrivals; the next flush tries again", metadata: ["error": "\(error)"])
        }
    }

    static let arrivalsFlushInterval: Duration = .seconds(1)

    func flushArrivalsPeriodically() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: Self.arrivalsFlushInterval) } catch { return }
            await flushArrivals()
        }
    }
}
