/// One workflow as the admin API shows it.
public struct WorkflowStatus: Sendable {
    public var name: String
    public var feeds: [String]
    public var logTypes: [String]
    /// The last `seq` the trigger has looked at.
    public var cursor: Int64
    /// Events after the cursor from the trigger's feeds (all events when it names none), up to a cap.
    public var lagEvents: Int
    public var runs: [WorkflowRunStatus: Int]
    /// Runs that failed or wait to retry, newest first (at most 20).
    public var failures: [WorkflowRun]
    public var incidentsCreated: Int

    public init(
        name: String, feeds: [String], logTypes: [String], cursor: Int64, lagEvents: Int, runs: [WorkflowRunStatus: Int], failures: [WorkflowRun],
        incidentsCreated: Int
    ) {
        self.name = name
        self.feeds = feeds
        self.logTypes = logTypes
        self.cursor = cursor
        self.lagEvents = lagEvents
        self.runs = runs
        self.failures = failures
        self.incidentsCreated = incidentsCreated
    }
}

/// What the admin API and the CLI can see and do with workflows.
public protocol WorkflowControl: Sendable {
    func statuses() async throws(WorkflowControlError) -> [WorkflowStatus]
    func runs(_ workflow: String, status: WorkflowRunStatus?, beforeID: Int64?, limit: Int) async throws(WorkflowControlError) -> [WorkflowRun]
    func run(_ workflow: String, id: Int64) async throws(WorkflowControlError) -> (run: WorkflowRun, steps: [WorkflowStepRecord])
    /// Queues a failed run again from the step that failed; `changed` is false when the run was
    /// not failed (nothing is written then).
    func retry(_ workflow: String, runID: Int64, by requester: AuditRequester) async throws(WorkflowControlError) -> (run: WorkflowRun, changed: Bool)
    func incidents(workflow: String?, beforeID: Int64?, limit: Int) async throws(WorkflowControlError) -> [(id: Int64, incident: WorkflowIncident)]
}

/// Why a workflow request could not be done.
public struct WorkflowControlError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Hashable { case unknownWorkflow, unknownRun, store }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
