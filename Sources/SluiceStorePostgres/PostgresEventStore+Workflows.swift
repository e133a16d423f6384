import Logging
import PostgresNIO
import SluiceCore
import SluiceStoreKit

extension PostgresEventStore: WorkflowJournal {
    static let runColumns = "id, workflow, alert_key, event_seq, status, attempts, next_attempt_at, step, detail, duplicates, created_at, updated_at"

    static func workflowRun(from row: PostgresRow) throws -> WorkflowRun {
        let (id, workflow, alertKey, eventSeq, status, attempts, nextAttemptAt, step, detail, duplicates, createdAt, updatedAt) =
            try row.decode((Int64, String, String, Int64, String, Int32, Int64?, String?, String?, Int32, Int64, Int64).self)
        return WorkflowRun(
            id: id, workflow: workflow, alertKey: alertKey, eventSeq: eventSeq, status: WorkflowRunStatus(rawValue: status) ?? .failed,
            attempts: Int(attempts), nextAttemptAt: nextAttemptAt.map(Timestamp.init(microseconds:)), step: step, detail: detail,
            duplicates: Int(duplicates), createdAt: Timestamp(microseconds: createdAt), updatedAt: Timestamp(microseconds: updatedAt)
        )
    }

    public func startCursor(_ consumer: String, at seq: Int64, time: Timestamp) async throws(StoreError) -> Int64 {
        do {
            return try await database.transaction { [logger] connection in
                try await connection.query(
                    "INSERT INTO consumer_cursors (consumer, seq, updated_at) VALUES (\(consumer), \(seq), \(time.microseconds)) ON CONFLICT (consumer) DO NOTHING",
                    logger: logger
                )
                return try await connection.query("SELECT seq FROM consumer_cursors WHERE consumer = \(consumer)", logger: logger)
                    .collect().first?.decode(Int64.self) ?? seq
            }
        } catch {
            throw Self.storeError(error, doing: "start a workflow cursor")
        }
    }

    public func enqueueRuns(_ runs: [NewWorkflowRun], consumer: String, through seq: Int64, at time: Timestamp, fence: Lease?) async throws(StoreError) -> (created: Int, duplicates: Int) {
        do {
            return try await database.transaction { [logger] connection in
                try await Self.requireFence(fence, on: connection, logger: logger)
                var created = 0
                var duplicates = 0
                for run in runs {
                    // xmax is 0 only on a row this statement inserted (an upsert that updated sets it).
                    let inserted = try await connection.query(
                        """
                        INSERT INTO workflow_runs (workflow, alert_key, event_seq, status, next_attempt_at, created_at, updated_at)
                        VALUES (\(run.workflow), \(run.alertKey), \(run.eventSeq), 'queued', \(time.microseconds), \(time.microseconds), \(time.microseconds))
                        ON CONFLICT (workflow, alert_key) DO UPDATE SET duplicates = workflow_runs.duplicates + 1, updated_at = excluded.updated_at
                        RETURNING (xmax = 0)
                        """,
                        logger: logger
                    ).collect().first?.decode(Bool.self) ?? false
                    if inserted { created += 1 } else { duplicates += 1 }
                }
                try await Self.moveCursor(consumer, to: seq, at: time, allowRewind: false, on: connection, logger: logger)
                return (created, duplicates)
            }
        } catch {
            throw Self.storeError(error, doing: "queue workflow runs")
        }
    }

    public func nextAttemptAt(workflow: String) async throws(StoreError) -> Timestamp? {
        do {
            let rows = try await database.rows(
                "SELECT min(next_attempt_at) FROM workflow_runs WHERE workflow = \(workflow) AND status IN ('queued', 'retrying')"
            )
            return try rows.first?.decode(Int64?.self).map(Timestamp.init(microseconds:))
        } catch {
            throw Self.storeError(error, doing: "read when the next workflow run is due")
        }
    }

    public func dueRuns(workflow: String, at time: Timestamp, limit: Int) async throws(StoreError) -> [WorkflowRun] {
        do {
            return try await database.rows(
                """
                SELECT \(unescaped: Self.runColumns) FROM workflow_runs
                WHERE workflow = \(workflow) AND status IN ('queued', 'retrying') AND next_attempt_at <= \(time.microseconds)
                ORDER BY next_attempt_at, id LIMIT \(limit)
                """
            ).map(Self.workflowRun(from:))
        } catch {
            throw Self.storeError(error, doing: "read due workflow runs")
        }
    }

    public func run(id: Int64) async throws(StoreError) -> WorkflowRun? {
        do {
            return try await database.rows("SELECT \(unescaped: Self.runColumns) FROM workflow_runs WHERE id = \(id)").first.map(Self.workflowRun(from:))
        } catch {
            throw Self.storeError(error, doing: "read a workflow run")
        }
    }

    public func runs(workflow: String, status: WorkflowRunStatus?, beforeID: Int64?, limit: Int) async throws(StoreError) -> [WorkflowRun] {
        do {
            return try await database.rows(
                """
                SELECT \(unescaped: Self.runColumns) FROM workflow_runs
                WHERE workflow = \(workflow) AND id < \(beforeID ?? Int64.max) AND (\(status?.rawValue)::text IS NULL OR status = \(status?.rawValue))
                ORDER BY id DESC LIMIT \(limit)
                """
            ).map(Self.workflowRun(from:))
        } catch {
            throw Self.storeError(error, doing: "list workflow runs")
        }
    }

    public func runCounts() async throws(StoreError) -> [String: [WorkflowRunStatus: Int]] {
        do {
            var counts: [String: [WorkflowRunStatus: Int]] = [:]
            for row in try await database.rows("SELECT workflow, status, count(*) FROM workflow_runs GROUP BY workflow, status") {
                let (workflow, status, count) = try row.decode((String, String, Int64).self)
                guard let status = WorkflowRunStatus(rawValue: status) else { continue }
                counts[workflow, default: [:]][status] = Int(count)
            }
            return counts
        } catch {
            throw Self.storeError(error, doing: "count workflow runs")
        }
    }

    public func purgeRuns(updatedBefore cutoff: Timestamp, limit: Int) async throws(StoreError) -> Int {
        do {
            return try await database.transaction { [logger] connection in
                let ids = try await connection.query(
                    """
                    SELECT id FROM workflow_runs
                    WHERE updated_at < \(cutoff.microseconds) AND status NOT IN ('queued', 'retrying')
                    ORDER BY updated_at LIMIT \(Int64(limit)) FOR UPDATE
                    """,
                    logger: logger
                ).collect().map { try $0.decode(Int64.self) }
                guard !ids.isEmpty else { return 0 }
                try await connection.query("DELETE FROM workflow_steps WHERE run_id = ANY(\(ids))", logger: logger)
                try await connection.query("DELETE FROM workflow_incidents WHERE run_id = ANY(\(ids))", logger: logger)
                try await connection.query("DELETE FROM workflow_runs WHERE id = ANY(\(ids))", logger: logger)
                return ids.count
            }
        } catch {
            throw Self.storeError(error, doing: "purge workflow runs")
        }
    }

    public func steps(runID: Int64) async throws(StoreError) -> [WorkflowStepRecord] {
        do {
            return try await database.rows(
                """
                SELECT run_id, step_key, kind, status, input, output, error, attempts, started_at, finished_at
                FROM workflow_steps WHERE run_id = \(runID) ORDER BY finished_at, step_key COLLATE "C"
                """
            ).map { row in
                let (runID, key, kind, status, input, output, error, attempts, startedAt, finishedAt) =
                    try row.decode((Int64, String, String, String, String, String, String?, Int32, Int64, Int64).self)
                return WorkflowStepRecord(
                    runID: runID, key: key, kind: kind, status: WorkflowStepStatus(rawValue: status) ?? .failed,
                    input: StoredJSON.parsed(input), output: StoredJSON.parsed(output), error: error, attempts: Int(attempts),
                    startedAt: Timestamp(microseconds: startedAt), finishedAt: Timestamp(microseconds: finishedAt)
                )
            }
        } catch {
            throw Self.storeError(error, doing: "read a workflow run's journal")
        }
    }

    public func recordStep(_ record: WorkflowStepRecord, incident: WorkflowIncident?, fence: Lease?) async throws(StoreError) {
        let input = String(decoding: record.input.serialized(), as: UTF8.self)
        let output = String(decoding: record.output.serialized(), as: UTF8.self)
        do {
            try await database.transaction { [logger] connection in
                try await Self.requireFence(fence, on: connection, logger: logger)
                try await connection.query(
                    """
                    INSERT INTO workflow_steps (run_id, step_key, kind, status, input, output, error, attempts, started_at, finished_at)
                    VALUES (\(record.runID), \(record.key), \(record.kind), \(record.status.rawValue), \(input), \(output), \(record.error),
                        \(Int32(clamping: record.attempts)), \(record.startedAt.microseconds), \(record.finishedAt.microseconds))
                    ON CONFLICT (run_id, step_key) DO UPDATE SET status = excluded.status, input = excluded.input,
                        output = excluded.output, error = excluded.error, attempts = workflow_steps.attempts + excluded.attempts,
                        started_at = excluded.started_at, finished_at = excluded.finished_at
                    """,
                    logger: logger
                )
                if let incident {
                    // A lookup that finds an incident already recorded (the answer of a create
                    // that did commit) keeps the first record.
                    try await connection.query(
                        """
                        INSERT INTO workflow_incidents (workflow, alert_key, external_id, remote_id, title, run_id, event_seq, created, recorded_at)
                        VALUES (\(incident.workflow), \(incident.alertKey), \(incident.externalID), \(incident.remoteID), \(incident.title),
                            \(incident.runID), \(incident.eventSeq), \(incident.created), \(incident.recordedAt.microseconds))
                        ON CONFLICT (workflow, external_id) DO NOTHING
                        """,
                        logger: logger
                    )
                }
            }
        } catch {
            throw Self.storeError(error, doing: "journal a workflow step")
        }
    }

    public func beginAttempt(runID: Int64, at time: Timestamp, fence: Lease?) async throws(StoreError) -> WorkflowRun? {
        do {
            return try await database.transaction { [logger] connection in
                try await Self.requireFence(fence, on: connection, logger: logger)
                return try await connection.query(
                    """
                    UPDATE workflow_runs SET attempts = attempts + 1, updated_at = \(time.microseconds)
                    WHERE id = \(runID) AND status IN ('queued', 'retrying') RETURNING \(unescaped: Self.runColumns)
                    """,
                    logger: logger
                ).collect().first.map(Self.workflowRun(from:))
            }
        } catch {
            throw Self.storeError(error, doing: "start a workflow run")
        }
    }

    public func finishAttempt(
        runID: Int64, status: WorkflowRunStatus, step: String?, detail: String?, nextAttemptAt: Timestamp?, at time: Timestamp, fence: Lease?
    ) async throws(StoreError) {
        do {
            try await database.transaction { [logger] connection in
                try await Self.requireFence(fence, on: connection, logger: logger)
                try await connection.query(
                    """
                    UPDATE workflow_runs SET status = \(status.rawValue), step = \(step), detail = \(detail),
                        next_attempt_at = \(nextAttemptAt?.microseconds), updated_at = \(time.microseconds) WHERE id = \(runID)
                    """,
                    logger: logger
                )
            }
        } catch {
            throw Self.storeError(error, doing: "record a workflow run's outcome")
        }
    }

    public func requestRetry(runID: Int64, workflow: String, audit: AdminAuditEntry?, at time: Timestamp) async throws(StoreError) -> (run: WorkflowRun, changed: Bool)? {
        do {
            return try await controlTransaction { [logger] connection in
                guard let run = try await connection.query(
                    "SELECT \(unescaped: Self.runColumns) FROM workflow_runs WHERE id = \(runID) AND workflow = \(workflow) FOR UPDATE", logger: logger
                ).collect().first.map(Self.workflowRun(from:)) else { return nil }
                guard run.status == .failed || run.status == .retrying else { return (run, false) }
                let queued = try await connection.query(
                    """
                    UPDATE workflow_runs SET status = 'queued', next_attempt_at = \(time.microseconds), updated_at = \(time.microseconds)
                    WHERE id = \(runID) RETURNING \(unescaped: Self.runColumns)
                    """,
                    logger: logger
                ).collect().first.map(Self.workflowRun(from:))
                if let audit { try await self.insertAudit(audit, on: connection, logger: logger) }
                return queued.map { ($0, true) }
            }
        } catch {
            throw Self.storeError(error, doing: "queue a workflow run again")
        }
    }

    public func createdIncidentCounts() async throws(StoreError) -> [String: Int] {
        do {
            var counts: [String: Int] = [:]
            for row in try await database.rows("SELECT workflow, count(*) FROM workflow_incidents WHERE created GROUP BY workflow") {
                let (workflow, count) = try row.decode((String, Int64).self)
                counts[workflow] = Int(count)
            }
            return counts
        } catch {
            throw Self.storeError(error, doing: "count workflow incidents")
        }
    }

    public func incidents(workflow: String?, beforeID: Int64?, limit: Int) async throws(StoreError) -> [(id: Int64, incident: WorkflowIncident)] {
        do {
            return try await database.rows(
                """
                SELECT id, workflow, alert_key, external_id, remote_id, title, run_id, event_seq, created, recorded_at
                FROM workflow_incidents WHERE id < \(beforeID ?? Int64.max) AND (\(workflow)::text IS NULL OR workflow = \(workflow))
                ORDER BY id DESC LIMIT \(limit)
                """
            ).map { row in
                let (id, workflow, alertKey, externalID, remoteID, title, runID, eventSeq, created, recordedAt) =
                    try row.decode((Int64, String, String, String, String, String?, Int64, Int64, Bool, Int64).self)
                return (id, WorkflowIncident(
                    workflow: workflow, alertKey: alertKey, externalID: externalID, remoteID: remoteID, title: title, runID: runID,
                    eventSeq: eventSeq, created: created, recordedAt: Timestamp(microseconds: recordedAt)
                ))
            }
        } catch {
            throw Self.storeError(error, doing: "list workflow incidents")
        }
    }
}
