import Logging
import Metrics
import ServiceLifecycle
import SluiceCore
import SluiceIntegrity

/// Deletes events older than the retention period, and finished workflow runs (with their step
/// journals and incident records) last changed before it, in bounded batches so that the writer
/// is never held for long, then sleeps until the next pass.
public struct RetentionService: Service {
    public struct Settings: Sendable, Hashable {
        public var days: Int
        public var batchSize: Int
        public var interval: Duration

        public init(days: Int = 365, batchSize: Int = 5_000, interval: Duration = .seconds(3600)) {
            self.days = days
            self.batchSize = batchSize
            self.interval = interval
        }
    }

    let store: any EventStore & WorkflowJournal
    let settings: Settings
    let logger: Logger
    let now: @Sendable () -> Timestamp

    public init(store: any EventStore & WorkflowJournal, settings: Settings, logger: Logger, now: @escaping @Sendable () -> Timestamp) {
        self.store = store
        self.settings = settings
        self.logger = logger
        self.now = now
    }

    /// What one pass deleted.
    public struct Purged: Sendable, Hashable {
        public var events: Int
        public var workflowRuns: Int

        public init(events: Int = 0, workflowRuns: Int = 0) {
            self.events = events
            self.workflowRuns = workflowRuns
        }
    }

    /// One full pass: purges batch after batch until nothing older than the cutoff remains.
    @discardableResult
    public func purgeOnce() async throws(StoreError) -> Purged {
        let cutoff = now() - .seconds(Int64(settings.days) * 86_400)
        var purged = Purged()
        while true {
            // Each batch records the seqs it removed, in its own transaction, so that
            // verification tells purged events from deleted ones (docs/integrity.md).
            let time = now()
            let removed = try await store.purge(occurredBefore: cutoff, limit: settings.batchSize) { seqs in
                AdminAuditEntry(
                    action: IntegrityVerifier.purgedAction, actor: AdminAuditEntry.system,
                    metadata: [
                        JSONMember("seqs", .string(SeqRanges(seqs.sorted()).description)), JSONMember("count", .number(String(seqs.count))),
                        JSONMember("cutoff", .string(cutoff.rfc3339)),
                    ],
                    occurredAt: time
                )
            }
            purged.events += removed.count
            if removed.count < settings.batchSize { break }
            await Task.yield()
        }
        while true {
            let removed = try await store.purgeRuns(updatedBefore: cutoff, limit: settings.batchSize)
            purged.workflowRuns += removed
            if removed < settings.batchSize { break }
            await Task.yield()
        }
        if purged != Purged() {
            try await store.record(
                AdminAuditEntry(
                    action: "retention.purge_completed", actor: AdminAuditEntry.system,
                    metadata: [
                        JSONMember("deleted", .number(String(purged.events))),
                        JSONMember("workflow_runs_deleted", .number(String(purged.workflowRuns))),
                        JSONMember("cutoff", .string(cutoff.rfc3339)),
                    ],
                    occurredAt: now()
                )
            )
            Counter(label: "sluice_retention_purged_events_total").increment(by: purged.events)
            Counter(label: "sluice_retention_purged_workflow_runs_total").increment(by: purged.workflowRuns)
            logger.info("retention purge completed", metadata: [
                "retention.deleted": "\(purged.events)", "retention.workflow_runs_deleted": "\(purged.workflowRuns)",
                "retention.cutoff": "\(cutoff)",
            ])
        }
        return purged
    }

    public func run() async throws {
        while !Task.isCancelledOrShuttingDown {
            do {
                try await purgeOnce()
            } catch {
                logger.error("retention purge failed; will retry next pass", metadata: ["error": "\(error)"])
            }
            try? await gracefulShutdownAwareSleep(for: settings.interval)
        }
    }
}

extension Task where Success == Never, Failure == Never {
    static var isCancelledOrShuttingDown: Bool {
        Task.isCancelled || Task.isShuttingDownGracefully
    }
}

func gracefulShutdownAwareSleep(for duration: Duration) async throws {
    try await cancelWhenGracefulShutdown {
        try await Task.sleep(for: duration)
    }
}
