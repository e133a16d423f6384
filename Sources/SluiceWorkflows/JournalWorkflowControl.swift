import SluiceCore

/// ``WorkflowControl`` over the store's journal: what `sluice serve` answers and the CLI does.
public struct JournalWorkflowControl: WorkflowControl {
    public let definitions: [WorkflowDefinition]
    public let journal: any WorkflowJournal & DeliveryLedger
    public let now: @Sendable () -> Timestamp

    public init(definitions: [WorkflowDefinition], journal: any WorkflowJournal & DeliveryLedger, now: @escaping @Sendable () -> Timestamp) {
        self.definitions = definitions
        self.journal = journal
        self.now = now
    }

    func known(_ workflow: String) throws(WorkflowControlError) {
        guard definitions.contains(where: { $0.name == workflow }) else {
            throw WorkflowControlError(.unknownWorkflow, "no workflow named \"\(workflow)\"; GET /v1/workflows lists them")
        }
    }

    func store<T>(_ body: () async throws(StoreError) -> T) async throws(WorkflowControlError) -> T {
        do {
            return try await body()
        } catch {
            throw WorkflowControlError(.store, error.message)
        }
    }

    public func statuses() async throws(WorkflowControlError) -> [WorkflowStatus] {
        let counts = try await store { () async throws(StoreError) in try await journal.runCounts() }
        let created = try await store { () async throws(StoreError) in try await journal.createdIncidentCounts() }
        var out: [WorkflowStatus] = []
        for definition in definitions.sorted(by: { $0.name < $1.name }) {
            let name = definition.name
            let trigger = definition.trigger
            let status = try await store { () async throws(StoreError) -> WorkflowStatus in
                let cursor = try await journal.consumerCursor(definition.consumer)
                let routes = trigger.feeds.isEmpty
                    ? nil : [DeliveryRoute(from: Set(trigger.feeds), to: [], logTypes: trigger.logTypes.isEmpty ? nil : Set(trigger.logTypes))]
                let lag = try await journal.backlog(afterSeq: cursor, routes: routes, cap: 1_000_000).count
                let failed = try await journal.runs(workflow: name, status: .failed, beforeID: nil, limit: 20)
                let retrying = try await journal.runs(workflow: name, status: .retrying, beforeID: nil, limit: 20)
                return WorkflowStatus(
                    name: name, feeds: trigger.feeds, logTypes: trigger.logTypes, cursor: cursor, lagEvents: lag, runs: counts[name] ?? [:],
                    failures: Array((failed + retrying).sorted { $0.id > $1.id }.prefix(20)), incidentsCreated: created[name] ?? 0
                )
            }
            out.append(status)
        }
        return out
    }

    public func runs(_ workflow: String, status: WorkflowRunStatus?, beforeID: Int64?, limit: Int) async throws(WorkflowControlError) -> [WorkflowRun] {
        try known(workflow)
        return try await store { () async throws(StoreError) in try await journal.runs(workflow: workflow, status: status, beforeID: beforeID, limit: limit) }
    }

    public func run(_ workflow: String, id: Int64) async throws(WorkflowControlError) -> (run: WorkflowRun, steps: [WorkflowStepRecord]) {
        try known(workflow)
        let found = try await store { () async throws(StoreError) -> (WorkflowRun, [WorkflowStepRecord])? in
            guard let run = try await journal.run(id: id), run.workflow == workflow else { return nil }
            return (run, try await journal.steps(runID: id))
        }
        guard let found else { throw WorkflowControlError(.unknownRun, "workflow \(workflow) has no run \(id)") }
        return found
    }

    public func retry(_ workflow: String, runID: Int64, by requester: AuditRequester) async throws(WorkflowControlError) -> (run: WorkflowRun, changed: Bool) {
        try known(workflow)
        let time = now()
        let result = try await store { () async throws(StoreError) -> (run: WorkflowRun, changed: Bool)? in
            let step = try await journal.run(id: runID)?.step
            let audit = AdminAuditEntry.workflowRetry(workflow: workflow, runID: runID, step: step, by: requester, at: time)
            return try await journal.requestRetry(runID: runID, workflow: workflow, audit: audit, at: time)
        }
        guard let result else { throw WorkflowControlError(.unknownRun, "workflow \(workflow) has no run \(runID)") }
        return result
    }

    public func incidents(workflow: String?, beforeID: Int64?, limit: Int) async throws(WorkflowControlError) -> [(id: Int64, incident: WorkflowIncident)] {
        if let workflow { try known(workflow) }
        return try await store { () async throws(StoreError) in try await journal.incidents(workflow: workflow, beforeID: beforeID, limit: limit) }
    }
}
