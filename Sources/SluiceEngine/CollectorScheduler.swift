import Logging
import ServiceLifecycle
import SluiceCore
import SluiceSources
import Synchronization

/// A collector with its schedule.
public struct ScheduledCollector: Sendable {
    public var collector: any PullCollector
    public var schedule: CollectorSchedule

    public init(collector: any PullCollector, schedule: CollectorSchedule) {
        self.collector = collector
        self.schedule = schedule
    }
}

/// Runs every collector on its schedule inside `sluice serve`, and the runs the admin API asks
/// for. A run missed while Sluice was down runs once at start; a stream never runs twice at once.
/// With `leases`, each collector's schedule runs on whichever instance holds its lease
/// (`collector/NAME`); a run asked of another instance runs only if it can take the lease then.
public final class CollectorScheduler: Service, CollectorControl {
    let collectors: [String: ScheduledCollector]
    let leases: LeaseSettings?
    let logger: Logger
    let now: @Sendable () -> Timestamp
    /// The checks and audit entries of operators' actions, shared with the CLI.
    public let administration: CollectorAdministration
    private let nextRuns = Mutex<[String: Timestamp]>([:])
    private let requests: AsyncStream<(name: String, backfill: ClosedRange<Timestamp>?)>
    private let requestSink: AsyncStream<(name: String, backfill: ClosedRange<Timestamp>?)>.Continuation

    public init(collectors: [ScheduledCollector], leases: LeaseSettings? = nil, logger: Logger, now: @escaping @Sendable () -> Timestamp) {
        self.collectors = Dictionary(collectors.map { ($0.collector.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.leases = leases
        self.logger = logger
        self.now = now
        self.administration = CollectorAdministration(collectors: collectors, now: now)
        (requests, requestSink) = AsyncStream.makeStream(of: (name: String, backfill: ClosedRange<Timestamp>?).self, bufferingPolicy: .bufferingNewest(64))
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            for scheduled in collectors.values {
                group.addTask {
                    await LeasedWork.run(Self.leaseName(scheduled), settings: self.leases, logger: self.logger) { fence in await self.loop(scheduled, fence: fence) }
                }
            }
            group.addTask {
                try? await gracefulShutdown()
                self.requestSink.finish()
            }
            for await request in requests {
                guard let scheduled = collectors[request.name] else { continue }
                // Each requested run is its own task, so a long run never delays the next request.
                group.addTask {
                    guard let leases = self.leases else { return _ = await scheduled.collector.run(streamsNamed: nil, backfill: request.backfill, fence: nil) }
                    let ran = await LeasedWork(name: Self.leaseName(scheduled), settings: leases, logger: self.logger).once { fence in
                        _ = await scheduled.collector.run(streamsNamed: nil, backfill: request.backfill, fence: fence)
                    }
                    if !ran {
                        self.logger.warning(
                            "another instance holds this collector; the requested run was not started here (ask that instance, or retry later)",
                            metadata: ["collector.name": "\(request.name)"]
                        )
                    }
                }
            }
            // Shutting down: runs stop at their next request; what they committed stays committed.
            group.cancelAll()
        }
    }

    /// Runs `scheduled` once from a process that does not serve (`sluice collect NAME --once`):
    /// under the collector's lease when `leases` are given, so it never runs beside the instance
    /// whose schedule holds it, and gives the lease up when the run ends.
    public static func runOnce(
        _ scheduled: ScheduledCollector, streams: [String]?, leases: LeaseSettings?, logger: Logger
    ) async throws(CollectorLeaseHeld) -> [StreamRunReport] {
        guard let leases else { return await scheduled.collector.run(streamsNamed: streams, backfill: nil, fence: nil) }
        let reports = Mutex<[StreamRunReport]>([])
        let ran = await LeasedWork(name: leaseName(scheduled), settings: leases, logger: logger).once(release: true) { fence in
            let done = await scheduled.collector.run(streamsNamed: streams, backfill: nil, fence: fence)
            reports.withLock { $0 = done }
        }
        guard ran else {
            let holding = try? await leases.store.leases().first { $0.name == leaseName(scheduled) }
            throw CollectorLeaseHeld(collector: scheduled.collector.name, holding: holding)
        }
        return reports.withLock { $0 }
    }

    private static func leaseName(_ scheduled: ScheduledCollector) -> String {
        "collector/\(scheduled.collector.name)"
    }

    private func loop(_ scheduled: ScheduledCollector, fence: Lease?) async {
        let name = scheduled.collector.name
        var last = await scheduled.collector.lastRunStarted()
        while !Task.isCancelledOrShuttingDown {
            let current = now()
            // Never run before: run now. Missed a run while down: run now, once.
            let due = last.map { scheduled.schedule.next(after: $0) } ?? current
            nextRuns.withLock { $0[name] = due }
            if due > current {
                let wait = Duration.microseconds(due.microseconds - current.microseconds)
                do {
                    try await gracefulShutdownAwareSleep(for: wait)
                } catch {
                    return
                }
                if Task.isCancelledOrShuttingDown { return }
            }
            last = now()
            logger.info("scheduled collector run starting", metadata: ["collector.name": "\(name)", "schedule": "\(scheduled.schedule)"])
            _ = await scheduled.collector.run(streamsNamed: nil, backfill: nil, fence: fence)
        }
    }

    public func statuses() async throws(StoreError) -> [CollectorStatus] {
        var out: [CollectorStatus] = []
        for name in collectors.keys.sorted() {
            let scheduled = collectors[name]!
            out.append(CollectorStatus(
                name: name, type: scheduled.collector.type, baseURL: scheduled.collector.baseURL,
                schedule: scheduled.schedule.description, nextRun: nextRuns.withLock { $0[name] },
                streams: try await scheduled.collector.streamStatuses()
            ))
        }
        return out
    }

    public func requestRun(_ name: String, by requester: AuditRequester) async throws(StoreError) -> Bool {
        guard let scheduled = collectors[name] else { return false }
        try await scheduled.collector.record(administration.runTriggered(name, by: requester))
        requestSink.yield((name, nil))
        return true
    }

    public func requestBackfill(_ name: String, window: ClosedRange<Timestamp>, by requester: AuditRequester) async throws(CollectorError) {
        _ = try await administration.startBackfill(name, window: window, by: requester)
        requestSink.yield((name, window))
    }

    public func rewind(_ name: String, stream: String, to time: Timestamp, by requester: AuditRequester) async throws(CollectorError) {
        try await administration.rewind(name, stream: stream, to: time, by: requester)
    }
}

/// A run asked of a process while another instance holds the collector's lease.
public struct CollectorLeaseHeld: Error, CustomStringConvertible {
    public var collector: String
    /// The lease as the store last recorded it (nil when it could not be read).
    public var holding: Lease?

    public var description: String {
        let holder = holding.map { "instance \($0.holder) holds its lease until \($0.expiresAt.rfc3339)" } ?? "another instance holds its lease"
        return "collector \(collector) is running elsewhere: \(holder); ask that instance (POST /v1/collectors/\(collector)/run) or try again when it is idle"
    }
}
