import CoreMetrics
import Logging
import PostgresNIO
import SluiceCore
import SluiceStoreKit

extension PostgresEventStore {
    /// How often the count of events held back from consumers is refreshed.
    static let heldBackInterval: Duration = .seconds(5)
    /// How long events stay held back before the store names the transaction holding them.
    static let heldBackWarning: Duration = .seconds(60)

    /// Keeps `sluice_store_held_back_events` current and, once events have been held back for
    /// ``heldBackWarning``, logs which transaction on the server holds them (once per episode).
    func watchHeldBack() async {
        var since: ContinuousClock.Instant?
        var warned = false
        while !Task.isCancelled {
            do { try await Task.sleep(for: Self.heldBackInterval) } catch { return }
            guard let held = try? await heldBackEvents() else { continue }
            StoreMetrics.heldBackEvents.record(held)
            guard held > 0 else {
                since = nil
                warned = false
                continue
            }
            let start = since ?? .now
            since = start
            if !warned, ContinuousClock.now - start >= Self.heldBackWarning {
                warned = true
                var metadata: Logger.Metadata = ["events": "\(held)"]
                if let holder = try? await oldestRunningTransaction() { metadata.merge(holder) { $1 } }
                logger.warning("events are held back from consumers until an older transaction on the PostgreSQL server ends", metadata: metadata)
            }
        }
    }

    /// Who runs the oldest transaction that has written anything, server-wide: what holds
    /// consumers back. When no session runs one, a prepared transaction holds them (or the
    /// holder has just ended).
    func oldestRunningTransaction() async throws -> Logger.Metadata {
        let rows = try await database.rows(
            """
            SELECT pid, COALESCE(datname, ''), COALESCE(usename, ''), COALESCE(application_name, ''), COALESCE(state, ''),
                COALESCE(EXTRACT(EPOCH FROM now() - xact_start)::bigint, 0)
            FROM pg_stat_activity WHERE backend_xid IS NOT NULL ORDER BY age(backend_xid) DESC LIMIT 1
            """
        )
        guard let row = rows.first else { return ["holder": "a prepared transaction (see pg_prepared_xacts)"] }
        let (pid, database, user, application, state, seconds) = try row.decode((Int32, String, String, String, String, Int64).self)
        return [
            "holder_pid": "\(pid)", "holder_database": "\(database)", "holder_user": "\(user)",
            "holder_application": "\(application)", "holder_state": "\(state)", "holder_open_seconds": "\(seconds)",
        ]
    }
}

extension PostgresEventStore {
    /// How long commits must pause before the store looks whether consumers can read everything
    /// committed; the looks after it double up to a second while something is still held back.
    static let readableCheck: Duration = .milliseconds(20)

    /// Wakes consumers again once the events of recent commits are readable. A consumer woken
    /// by a commit that an older transaction still held back finds nothing and sleeps; when that
    /// older transaction writes no events (a lease renewal, another application's work) no
    /// commit would wake it again until the next one, or ``StoreChanges/fallback``.
    ///
    /// While commits keep coming, each one wakes the consumers again, so the store only looks
    /// once they pause for ``readableCheck``: under load it sends no queries of its own.
    func wakeConsumersWhenReadable() async {
        var seen = changes.mark
        while !Task.isCancelled {
            let now = await changes.wait(after: seen, timeout: .seconds(3600))
            let committed = now.events != seen.events
            seen = now
            guard committed else { continue }
            var interval = Self.readableCheck
            while true {
                do { try await Task.sleep(for: interval) } catch { return }
                let latest = changes.mark
                if latest.events != seen.events {
                    // Another commit came during the pause: its wake-up reads what this one would.
                    seen = latest
                    interval = Self.readableCheck
                    continue
                }
                guard let held = try? await heldBackEvents(cap: 1) else { break }
                if held == 0 {
                    changes.heldEventsReadable()
                    break
                }
                interval = min(interval * 2, .seconds(1))
            }
        }
    }
}
