import Logging
import Metrics
import ServiceLifecycle
import SluiceCore
import Synchronization

/// Watches the sources that have an `expect_events_within`: every `checkEvery` it reads when each
/// one's events last arrived (from the store, so a restart or another instance sees the same),
/// exports `sluice_source_silent{source}` and `sluice_source_last_event_age_seconds{source}`, and
/// records one `source.went_silent` or `source.recovered` audit entry per transition. Every
/// instance may run it: a transition's entry has a dedupe key of its own (``SourceSilence``),
/// so the store keeps it once whichever instances saw it.
public final class SilenceWatch: Service {
    let store: any EventStore
    public let expectations: [SourceExpectation]
    let checkEvery: Duration
    let logger: Logger
    let now: @Sendable () -> Timestamp
    /// When this watch began: a source never heard from counts from here.
    let watchingSince: Timestamp
    /// The transition last recorded (or found in the store) per source: true when silent.
    private let recorded = Mutex<[String: Bool]>([:])

    public init(store: any EventStore, expectations: [SourceExpectation], logger: Logger, now: @escaping @Sendable () -> Timestamp) {
        self.store = store
        self.expectations = expectations
        self.logger = logger
        self.now = now
        watchingSince = now()
        // Often enough to notice within a quarter of the shortest allowance, at most once a
        // second and at least once a minute.
        let shortest = expectations.map(\.within).min() ?? .seconds(60)
        checkEvery = min(max(shortest / 4, .seconds(1)), .seconds(60))
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.checkLogged()
                do { try await Task.sleep(for: self.checkEvery) } catch { return }
            }
        }
    }

    func checkLogged() async {
        do {
            _ = try await check()
        } catch {
            logger.warning("could not check sources for silence; the next check tries again", metadata: ["error": "\(error)"])
        }
    }

    /// Each watched source as of now, from the store's arrival times.
    public func assess() async throws(StoreError) -> [SourceSilence] {
        let arrivals = try await store.sourceArrivals()
        let time = now()
        return expectations.map { SourceSilence.assess($0, lastArrival: arrivals[$0.source], watchingSince: watchingSince, now: time) }
    }

    /// One look: gauges for every source, and an audit entry for each that changed state since
    /// the last recorded transition. Returns the entries this instance stored (not those another
    /// instance stored first).
    @discardableResult
    public func check() async throws(StoreError) -> [AdminAuditEntry] {
        let time = now()
        var stored: [AdminAuditEntry] = []
        for silence in try await assess() {
            let source = silence.expectation.source
            Gauge(label: "sluice_source_silent", dimensions: [("source", source)]).record(silence.isSilent ? 1 : 0)
            if let age = silence.age(at: time) {
                Gauge(label: "sluice_source_last_event_age_seconds", dimensions: [("source", source)]).record(age)
            }
            let before = try await recordedState(of: silence.expectation)
            // Recovery is only news after a recorded silence.
            guard silence.isSilent != (before ?? false) else { continue }
            let (entry, key) = silence.transitionEntry()
            let result = try await store.append([entry.incomingEvent(dedupeKey: key)], receivedAt: time)
            recorded.withLock { $0[source] = silence.isSilent }
            if result.accepted == 1 {
                stored.append(entry)
                logger.notice(
                    silence.isSilent ? "a source went silent" : "a silent source recovered",
                    metadata: ["source": "\(source)", "last_event_at": "\(silence.lastArrival?.rfc3339 ?? "never")"]
                )
            }
        }
        return stored
    }

    /// The last transition recorded for `expectation`'s source: from memory, or else the newest
    /// such entry in the store (nil: none ever).
    func recordedState(of expectation: SourceExpectation) async throws(StoreError) -> Bool? {
        if let known = recorded.withLock({ $0[expectation.source] }) { return known }
        let page = try await store.events(
            matching: EventFilter(source: AdminAuditEntry.source, action: .prefix("source."), target: expectation.source), after: nil, limit: 10
        )
        let last = page.events.first {
            [SourceSilence.wentSilentAction, SourceSilence.recoveredAction].contains($0.normalized.action)
                && $0.normalized.targets.contains { $0.type == expectation.kind.rawValue && $0.id == expectation.source }
        }
        guard let last else { return nil }
        let silent = last.normalized.action == SourceSilence.wentSilentAction
        recorded.withLock { $0[expectation.source] = silent }
        return silent
    }
}
