/// Where a workflow run stands. `queued` and `retrying` runs are picked up when due; `failed`
/// runs wait for an operator's retry; `succeeded` and `skipped` are final.
public enum WorkflowRunStatus: String, Sendable, Hashable, CaseIterable {
    case queued
    case retrying
    case succeeded
    case skipped
    case failed

    /// Whether the run still has work to do without an operator.
    public var isPending: Bool { self == .queued || self == .retrying }
}

/// One alert going through one workflow: created from a stored event, unique per
/// (workflow, alert key), so the same alert seen twice never runs twice.
public struct WorkflowRun: Sendable, Hashable {
    public var id: Int64
    public var workflow: String
    public var alertKey: String
    /// The stored event that triggered the run.
    public var eventSeq: Int64
    public var status: WorkflowRunStatus
    /// Attempts started so far (the first run is attempt 1).
    public var attempts: Int
    /// When a `queued` or `retrying` run is due.
    public var nextAttemptAt: Timestamp?
    /// The step that failed or ended the run as skipped.
    public var step: String?
    /// Why the run failed, or why it was skipped.
    public var detail: String?
    /// How many more events carried the same alert key (and started nothing).
    public var duplicates: Int
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(
        id: Int64, workflow: String, alertKey: String, eventSeq: Int64, status: WorkflowRunStatus, attempts: Int, nextAttemptAt: Timestamp?,
        step: String?, detail: String?, duplicates: Int, createdAt: Timestamp, updatedAt: Timestamp
    ) {
        self.id = id
        self.workflow = workflow
        self.alertKey = alertKey
        self.eventSeq = eventSeq
        self.status = status
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.step = step
        self.detail = detail
        self.duplicates = duplicates
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A run to create for a matching event.
public struct NewWorkflowRun: Sendable, Hashable {
    public var workflow: String
    public var alertKey: String
    public var eventSeq: Int64

    public init(workflow: String, alertKey: String, eventSeq: Int64) {
        self.workflow = workflow
        self.alertKey = alertKey
        self.eventSeq = eventSeq
    }
}

/// What became of one step of a run.
public enum WorkflowStepStatus: String, Sendable, Hashable {
    case succeeded
    /// The step ended the run on purpose (a condition was false, a required value was missing).
    case skipped
    case failed
}

/// The journal entry of one step: what went in, what came out. Keyed by the step's path in the
/// workflow (`create`, `items[2].create`), so a resumed run knows which steps are done.
/// Never holds a credential: token steps journal the token's lifetime, not the token.
public struct WorkflowStepRecord: Sendable, Hashable {
    public var runID: Int64
    public var key: String
    public var kind: String
    public var status: WorkflowStepStatus
    public var input: JSONValue
    public var output: JSONValue
    public var error: String?
    /// Attempts of this step over the run's life (retries after failures add to it).
    public var attempts: Int
    public var startedAt: Timestamp
    public var finishedAt: Timestamp

    public init(
        runID: Int64, key: String, kind: String, status: WorkflowStepStatus, input: JSONValue, output: JSONValue, error: String?, attempts: Int,
        startedAt: Timestamp, finishedAt: Timestamp
    ) {
        self.runID = runID
        self.key = key
        self.kind = kind
        self.status = status
        self.input = input
        self.output = output
        self.error = error
        self.attempts = attempts
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }
}

/// An incident a workflow created (or found already created under its external id).
public struct WorkflowIncident: Sendable, Hashable {
    public var workflow: String
    /// The alert key, with the item's key after a `#` for incidents made per `for_each` item.
    public var alertKey: String
    /// The deterministic id Sluice puts in the incident's `external_ids`.
    public var externalID: String
    /// The id the remote system gave the incident (CTIA: its URL).
    public var remoteID: String
    public var title: String?
    public var runID: Int64
    public var eventSeq: Int64
    /// False when the lookup found the incident already there (a replay, or a create whose
    /// answer was lost to a crash), so nothing was created this time.
    public var created: Bool
    public var recordedAt: Timestamp

    public init(
        workflow: String, alertKey: String, externalID: String, remoteID: String, title: String?, runID: Int64, eventSeq: Int64, created: Bool,
        recordedAt: Timestamp
    ) {
        self.workflow = workflow
        self.alertKey = alertKey
        self.externalID = externalID
        self.remoteID = remoteID
        self.title = title
        self.runID = runID
        self.eventSeq = eventSeq
        self.created = created
        self.recordedAt = recordedAt
    }
}
