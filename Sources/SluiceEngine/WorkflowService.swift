import Logging
import Metrics
import ServiceLifecycle
import SluiceCore
import SluiceHTTP
import SluiceWorkflows

/// Runs the configured workflows inside `sluice serve`: each follows the store with its own
/// cursor, turns matching events into runs (one per alert key, committed with the cursor), and
/// works through the runs that are due. One workflow's trouble never holds back another.
public final class WorkflowService: Service {
    public let runners: [WorkflowRunner]
    let journal: any WorkflowJournal & DeliveryLedger
    public let control: JournalWorkflowControl
    /// How long a workflow waits before it tries again when the store could not be read.
    let storeRetryInterval: Duration
    let leases: LeaseSettings?
    let now: @Sendable () -> Timestamp
    let logger: Logger

    /// With `leases`, each workflow runs on whichever instance holds its lease (`workflow/NAME`).
    public init(
        definitions: [WorkflowDefinition], journal: any WorkflowJournal & DeliveryLedger, transport: HTTPTransport, leases: LeaseSettings? = nil,
        logger: Logger, storeRetryInterval: Duration = .milliseconds(500), now: @escaping @Sendable () -> Timestamp
    ) {
        self.runners = definitions.map { definition in
            var workflowLogger = logger
            workflowLogger[metadataKey: "workflow.name"] = "\(definition.name)"
            return WorkflowRunner(definition: definition, transport: transport, logger: workflowLogger, now: now)
        }
        self.journal = journal
        self.control = JournalWorkflowControl(definitions: definitions, journal: journal, now: now)
        self.storeRetryInterval = storeRetryInterval
        self.leases = leases
        self.now = now
        self.logger = logger
    }

    public func run() async throws {
        await LeasedWork.runEach(
            runners.map { runner in ("workflow/\(runner.definition.name)", runner.logger, { fence in await self.follow(runner, fence: fence) }) }, settings: leases
        )
    }

    /// Follows the events for `runner` until cancelled; every journal write carries `fence`, the
    /// lease held on the workflow (nil when one instance owns the store).
    func follow(_ runner: WorkflowRunner, fence: Lease?) async {
        let definition = runner.definition
        var cursor: Int64?
        let changes = journal.changes
        while !Task.isCancelled {
            // Read before the store: a commit from here on ends the wait below at once.
            let mark = changes.mark
            var wait = storeRetryInterval
            do {
                if cursor == nil {
                    let start = definition.settings.fromBeginning ? 0 : try await journal.latestSeq()
                    cursor = try await journal.startCursor(definition.consumer, at: start, time: now())
                }
                var found = true
                while found, !Task.isCancelled {
                    found = false
                    if let moved = try await scan(runner, after: cursor!, fence: fence) {
                        cursor = moved
                        found = true
                    }
                    if try await runDue(runner, fence: fence) > 0 { found = true }
                }
                // Sleep until new events or an operator's retry commit, or the next run comes due.
                wait = changes.fallback
                if let due = try await journal.nextAttemptAt(workflow: definition.name) {
                    wait = min(wait, .microseconds(max(0, due.microseconds - now().microseconds)))
                }
            } catch {
                runner.logger.warning("workflow could not read the store; trying again", metadata: ["error": "\(error)"])
            }
            await changes.wait(after: mark, timeout: wait)
        }
    }

    /// Queues runs for the matching events after `cursor`; returns the new cursor, nil when there was nothing.
    func scan(_ runner: WorkflowRunner, after cursor: Int64, fence: Lease?) async throws(StoreError) -> Int64? {
        let events = try await journal.outboundEvents(afterSeq: cursor, limit: 500)
        guard let last = events.last else { return nil }
        var runs: [NewWorkflowRun] = []
        for event in events {
            guard let match = runner.trigger(event) else { continue }
            runs.append(NewWorkflowRun(workflow: runner.definition.name, alertKey: match, eventSeq: event.seq))
        }
        let result = try await journal.enqueueRuns(runs, consumer: runner.definition.consumer, through: last.seq, at: now(), fence: fence)
        if result.duplicates > 0 {
            runner.logger.info("alerts already seen by this workflow started no new run", metadata: ["duplicates": "\(result.duplicates)"])
        }
        return last.seq
    }

    /// Works through the runs due now; returns how many it attempted.
    func runDue(_ runner: WorkflowRunner, fence: Lease?) async throws(StoreError) -> Int {
        let name = runner.definition.name
        let due = try await journal.dueRuns(workflow: name, at: now(), limit: 20)
        var attempted = 0
        for candidate in due {
            guard !Task.isCancelled else { break }
            guard let run = try await journal.beginAttempt(runID: candidate.id, at: now(), fence: fence) else { continue }
            attempted += 1
            let outcome: RunOutcome
            if let event = try await journal.outboundEvents(seqs: [run.eventSeq]).first {
                outcome = await runner.execute(run, event: event, journal: journal, fence: fence)
            } else {
                outcome = .failed(step: "trigger", error: "the alert's event (seq \(run.eventSeq)) is no longer stored; retention removed it", retryable: false)
            }
            // A shutdown mid-run leaves the run queued; the next start resumes it.
            if Task.isCancelled { break }
            try await settle(run, outcome: outcome, runner: runner, fence: fence)
        }
        return attempted
    }

    func settle(_ run: WorkflowRun, outcome: RunOutcome, runner: WorkflowRunner, fence: Lease?) async throws(StoreError) {
        let settings = runner.definition.settings
        let time = now()
        let metadata: Logger.Metadata = ["workflow.run": "\(run.id)", "workflow.alert_key": "\(run.alertKey)", "workflow.attempt": "\(run.attempts)"]
        let status: WorkflowRunStatus
        switch outcome {
        case .succeeded:
            status = .succeeded
            try await journal.finishAttempt(runID: run.id, status: status, step: nil, detail: nil, nextAttemptAt: nil, at: time, fence: fence)
            runner.logger.info("workflow run succeeded", metadata: metadata)
        case .skipped(let step, let reason):
            status = .skipped
            try await journal.finishAttempt(runID: run.id, status: status, step: step, detail: reason, nextAttemptAt: nil, at: time, fence: fence)
            runner.logger.info("workflow run skipped", metadata: metadata.merging(["workflow.step": "\(step)", "reason": "\(reason)"]) { $1 })
        case .failed(let step, let error, let retryable):
            var generator = SystemRandomNumberGenerator()
            let again = retryable && run.attempts < settings.runAttempts
            status = again ? .retrying : .failed
            let next = again ? time + settings.runBackoff.delay(attempt: run.attempts, using: &generator) : nil
            try await journal.finishAttempt(runID: run.id, status: status, step: step, detail: error, nextAttemptAt: next, at: time, fence: fence)
            runner.logger.warning(
                again ? "workflow run failed; it will be retried" : "workflow run failed; retry it from the failed step with sluice workflow retry",
                metadata: metadata.merging(["workflow.step": "\(step)", "error": "\(error)", "retry.at": "\(next?.rfc3339 ?? "-")"]) { $1 }
            )
        }
        Counter(label: "sluice_workflow_runs_total", dimensions: [("workflow", runner.definition.name), ("status", status.rawValue)]).increment()
    }
}
