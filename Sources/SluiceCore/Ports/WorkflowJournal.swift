/// What workflows keep in the store: each workflow's cursor over the events, its runs, each
/// step's journal entry and the incidents made. Runs and the cursor that found them move in one
/// transaction, and so do a create step's journal entry and its incident. The writes of a
/// running workflow carry the lease it holds (`fence`; nil when one instance owns the store):
/// a store shared by several instances refuses them with `.conflict` once that lease has
/// changed hands, so work done under a lost lease is never committed.
public protocol WorkflowJournal: Sendable {
    /// Sets `consumer`'s cursor to `seq` unless it already has one; returns the cursor in force.
    func startCursor(_ consumer: String, at seq: Int64, time: Timestamp) async throws(StoreError) -> Int64
    /// Creates `runs` (an alert key the workflow already has counts as a duplicate of its run)
    /// and moves `consumer`'s cursor to `seq`, in one transaction.
    func enqueueRuns(_ runs: [NewWorkflowRun], consumer: String, through seq: Int64, at time: Timestamp, fence: Lease?) async throws(StoreError) -> (created: Int, duplicates: Int)
    /// `queued` or `retrying` runs of `workflow` due at `time`, oldest first.
    func dueRuns(workflow: String, at time: Timestamp, limit: Int) async throws(StoreError) -> [WorkflowRun]
    /// When the earliest `queued` or `retrying` run of `workflow` is due; nil when none waits.
    func nextAttemptAt(workflow: String) async throws(StoreError) -> Timestamp?
    func run(id: Int64) async throws(StoreError) -> WorkflowRun?
    /// Runs of `workflow` (any status when nil), newest first, with ids below `beforeID`.
    func runs(workflow: String, status: WorkflowRunStatus?, beforeID: Int64?, limit: Int) async throws(StoreError) -> [WorkflowRun]
    /// How many runs each workflow has in each status.
    func runCounts() async throws(StoreError) -> [String: [WorkflowRunStatus: Int]]
    /// The journal of a run, in the order the steps finished.
    func steps(runID: Int64) async throws(StoreError) -> [WorkflowStepRecord]
    /// Writes a step's journal entry and, for a create step, its incident, in one transaction.
    func recordStep(_ record: WorkflowStepRecord, incident: WorkflowIncident?, fence: Lease?) async throws(StoreError)
    /// Records that an attempt of the run started (counts it, clears the due time).
    func beginAttempt(runID: Int64, at time: Timestamp, fence: Lease?) async throws(StoreError) -> WorkflowRun?
    /// Records where a run ended up after an attempt.
    func finishAttempt(runID: Int64, status: WorkflowRunStatus, step: String?, detail: String?, nextAttemptAt: Timestamp?, at time: Timestamp, fence: Lease?) async throws(StoreError)
    /// Queues a `failed` or `retrying` run again at once, from the step that failed; stores
    /// `audit` in the same transaction. Nil when no such run exists; the run unchanged when it
    /// is not one that can be retried.
    func requestRetry(runID: Int64, workflow: String, audit: AdminAuditEntry?, at time: Timestamp) async throws(StoreError) -> (run: WorkflowRun, changed: Bool)?
    /// How many incidents each workflow created (not counting ones its lookups found).
    func createdIncidentCounts() async throws(StoreError) -> [String: Int]
    /// Incidents (of one workflow when given), newest first, recorded before `beforeID`.
    func incidents(workflow: String?, beforeID: Int64?, limit: Int) async throws(StoreError) -> [(id: Int64, incident: WorkflowIncident)]
    /// Deletes up to `limit` finished runs (succeeded, skipped or failed) last changed before
    /// `cutoff`, with their step journals and incident records, in one transaction; returns how
    /// many runs went. Queued and retrying runs are never purged. An alert seen again after its
    /// run is purged runs again, as an event pushed again after retention is stored again.
    func purgeRuns(updatedBefore cutoff: Timestamp, limit: Int) async throws(StoreError) -> Int
}

extension AdminAuditEntry {
    /// `workflow.run_retried`: an operator queued a failed run again.
    public static func workflowRetry(workflow: String, runID: Int64, step: String?, by requester: AuditRequester, at time: Timestamp) -> AdminAuditEntry {
        requester.entry(
            "workflow.run_retried", targets: [AuditTarget(type: "workflow", id: workflow), AuditTarget(type: "workflow_run", id: String(runID))],
            metadata: step.map { [JSONMember("from_step", .string($0))] } ?? [], at: time
        )
    }
}
