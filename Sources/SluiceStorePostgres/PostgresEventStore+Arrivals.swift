import Logging
import PostgresNIO
import SluiceCore
import SluiceStoreKit
import Synchronization

/// When each source's events were last stored here, and how many per hour of arrival, gathered
/// after each commit and written once a second by ``PostgresEventStore/flushArrivals()``: inside
/// the commit, one more statement is one more round trip that every push of the group waits for
/// (measured while a lock still ordered commits: single-event pushes on three instances fell to
/// about 0.8×). What a crash
/// can lose is the last second's counts; an arrival reaches other instances within a second.
final class SourceArrivalBuffer: Sendable {
    typealias Delta = ArrivalTally<String>

    private struct State {
        var pending = Delta()
        /// Flushes that took a delta and have not finished writing it.
        var writing = 0
    }

    private let state = Mutex(State())

    func add(_ delta: Delta) {
        guard !delta.isEmpty else { return }
        state.withLock { $0.pending.merge(delta) }
    }

    /// Everything gathered so far, emptied; a non-empty one must be handed back to ``written(_:)``.
    func take() -> Delta {
        state.withLock { state in
            defer { state.pending = Delta() }
            if !state.pending.isEmpty { state.writing += 1 }
            return state.pending
        }
    }

    /// A taken delta is written (`failed` nil), or could not be and waits for the next flush.
    func written(failed delta: Delta?) {
        state.withLock { state in
            state.writing -= 1
            if let delta { state.pending.merge(delta) }
        }
    }

    /// Whether a flush is writing right now.
    var isWriting: Bool { state.withLock { $0.writing > 0 } }
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
            arrivals.written(failed: nil)
        } catch {
            arrivals.written(failed: delta)
            // Cancelled: the store is stopping, and ``close()`` wrote what it had before.
            guard !Task.isCancelled else { return }
            logger.warning("could not record source arrivals; the next flush tries again", metadata: ["error": "\(error)"])
        }
    }

    /// Everything gathered so far, written: after the periodic flush, if it is writing, has
    /// finished (it completes or hands its delta back), whatever is left. For a reader, which
    /// must see every arrival committed before it asked (a periodic flush that took the delta a
    /// moment before would otherwise still be writing it), and for a closing store.
    func flushAllArrivals() async {
        while arrivals.isWriting {
            do { try await Task.sleep(for: .milliseconds(5)) } catch { break }
        }
        await flushArrivals()
    }

    static let arrivalsFlushInterval: Duration = .seconds(1)

    func flushArrivalsPeriodically() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: Self.arrivalsFlushInterval) } catch { return }
            await flushArrivals()
        }
    }
}
