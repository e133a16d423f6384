import Foundation
import GRDB
import SluiceCore
import SluiceStoreKit

/// One process owns a SQLite file, so its writes carry no lease: `fence` is always nil here.
extension SQLiteEventStore: WorkflowJournal {
    static let runColumns = "id, workflow, alert_key, event_seq, status, attempts, next_attempt_at, step, detail, duplicates, created_at, updated_at"

    static func workflowRun(from row: Row) -> WorkflowRun {
        WorkflowRun(
            id: row[0], workflow: row[1], alertKey: row[2], eventSeq: row[3], status: WorkflowRunStatus(rawValue: row[4]) ?? .failed,
            attempts: row[5], nextAttemptAt: (row[6] as Int64?).map(Timestamp.init(microseconds:)), step: row[7], detail: row[8],
            duplicates: row[9], createdAt: Timestamp(microseconds: row[10]), updatedAt: Timestamp(microseconds: row[11])
        )
    }

    public func startCursor(_ consumer: String, at seq: Int64, time: Timestamp) async throws(StoreError) -> Int64 {
        do {
            return try await pool.write { db in
                try db.execute(
                    sql: "INSERT INTO consumer_cursors (consumer, seq, updated_at) VALUES (?, ?, ?) ON CONFLICT (consumer) DO NOTHING",
                    arguments: [consumer, seq, time.microseconds]
                )
                return try Int64.fetchOne(db, sql: "SELECT seq FROM consumer_cursors WHERE consumer = ?", arguments: [consumer]) ?? seq
            }
        } catch {
            throw Self.storeError(error, doing: "start a workflow cursor")
        }
    }

    public func enqueueRuns(_ runs: [NewWorkflowRun], consumer: String, through seq: Int64, at time: Timestamp, fence: Lease?) async throws(StoreError) -> (created: Int, duplicates: Int) {
        do {
            return try await pool.write { db in
                var created = 0
                var duplicates = 0
                let insert = try db.cachedStatement(sql: """
                    INSERT INTO workflow_runs (workflow, alert_key, event_seq, status, next_attempt_at, created_at, updated_at)
                    VALUES (?, ?, ?, 'queued', ?, ?, ?)
                    ON CONFLICT (workflow, alert_key) DO UPDATE SET duplicates = duplicates + 1, updated_at = excluded.updated_at
                    """)
                for run in runs {
                    let before = db.totalChangesCount
                    let lastID = db.lastInsertedRowID
                    try insert.execute(arguments: [run.workflow, run.alertKey, run.eventSeq, time.microseconds, time.microseconds, time.microseconds])
                    // An upsert that updated leaves the last inserted rowid as it was.
                    if db.totalChangesCount > before, db.lastInsertedRowID != lastID { created += 1 } else { duplicates += 1 }
                }
                try Self.moveCursor(consumer, to: seq, at: time, allowRewind: false, in: db)
                return (created, duplicates)
            }
        } catch {
            throw Self.storeError(error, doing: "queue workflow runs")
        }
    }

    public func nextAttemptAt(workflow: String) async throws(StoreError) -> Timestamp? {
        do {
            return try await pool.read { db in
                try Int64.fetchOne(
                    db, sql: "SELECT min(next_attempt_at) FROM workflow_runs WHERE workflow = ? AND status IN ('queued', 'retrying')", arguments: [workflow]
                ).map(Timestamp.init(microseconds:))
            }
        } catch {
            throw Self.storeError(error, doing: "read when the next workflow run is due")
        }
    }

    public func dueRuns(workflow: String, at time: Timestamp, limit: Int) async throws(StoreError) -> [WorkflowRun] {
        do {
            return try await pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT \(Self.runColumns) FROM workflow_runs
                        WHERE workflow = ? AND status IN ('queued', 'retrying') AND next_attempt_at <= ?
                        ORDER BY next_attempt_at, id LIMIT ?
                        """,
                    arguments: [workflow, time.microseconds, limit]
                ).map(Self.workflowRun(from:))
            }
        } catch {
            throw Self.storeError(error, doing: "read due workflow runs")
        }
    }

    public func run(id: Int64) async throws(StoreError) -> WorkflowRun? {
        do {
            return try await pool.read { db in
                try Row.fetchOne(db, sql: "SELECT \(Self.runColumns) FROM workflow_runs WHERE id = ?", arguments: [id]).map(Self.workflowRun(from:))
            }
        } catch {
            throw Self.storeError(error, doing: "read a workflow run")
        }
    }

    public func runs(workflow: String, status: WorkflowRunStatus?, beforeID: Int64?, limit: Int) async throws(StoreError) -> [WorkflowRun] {
        do {
            return try await pool.read { db in
                var sql = "SELECT \(Self.runColumns) FROM workflow_runs WHERE workflow = ? AND id < ?"
                var arguments: [any DatabaseValueConvertible] = [workflow, beforeID ?? Int64.max]
                if let status {
                    sql += " AND status = ?"
                    arguments.append(status.rawValue)
                }
                sql += " ORDER BY id DESC LIMIT ?"
                arguments.append(limit)
                return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map(Self.workflowRun(from:))
            }
        } catch {
            throw Self.storeError(error, doing: "list workflow runs")
        }
    }

    public func runCounts() async throws(StoreError) -> [String: [WorkflowRunStatus: Int]] {
        do {
            return try await pool.read { db in
                var counts: [String: [WorkflowRunStatus: Int]] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT workflow, status, count(*) FROM workflow_runs GROUP BY workflow, status") {
                    guard let status = WorkflowRunStatus(rawValue: row[1]) else { continue }
                    counts[row[0], default: [:]][status] = row[2]
                }
                return counts
            }
        } catch {
            throw Self.storeError(error, doing: "count workflow runs")
        }
    }

    public func purgeRuns(updatedBefore cutoff: Timestamp, limit: Int) async throws(StoreError) -> Int {
        do {
            return try await pool.write { db in
                let ids = try Int64.fetchAll(
                    db,
                    sql: """
                        SELECT id FROM workflow_runs
                        WHERE updated_at < ? AND status NOT IN ('queued', 'retrying') ORDER BY updated_at LIMIT ?
                        """,
                    arguments: [cutoff.microseconds, limit]
                )
                let deleteSteps = try db.cachedStatement(sql: "DELETE FROM workflow_steps WHERE run_id = ?")
                let deleteIncidents = try db.cachedStatement(sql: "DELETE FROM workflow_incidents WHERE run_id = ?")
                let deleteRun = try db.cachedStatement(sql: "DELETE FROM workflow_runs WHERE id = ?")
                for id in ids {
                    try deleteSteps.execute(arguments: [id])
                    try deleteIncidents.execute(arguments: [id])
                    try deleteRun.execute(arguments: [id])
                }
                return ids.count
            }
        } catch {
            throw Self.storeError(error, doing: "purge workflow runs")
        }
    }

    public func steps(runID: Int64) async throws(StoreError) -> [WorkflowStepRecord] {
        do {
            return try await pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT run_id, step_key, kind, status, input, output, error, attempts, started_at, finished_at
                        FROM workflow_steps WHERE run_id = ? ORDER BY finished_at, step_key
                        """,
                    arguments: [runID]
                ).map { row in
                    WorkflowStepRecord(
                        runID: row[0], key: row[1], kind: row[2], status: WorkflowStepStatus(rawValue: row[3]) ?? .failed,
                        input: StoredJSON.parsed(row[4]), output: StoredJSON.parsed(row[5]), error: row[6], attempts: row[7],
                        startedAt: Timestamp(microseconds: row[8]), finishedAt: Timestamp(microseconds: row[9])
                    )
                }
            }
        } catch {
            throw Self.storeError(error, doing: "read a workflow run's journal")
        }
    }

    public func recordStep(_ record: WorkflowStepRecord, incident: WorkflowIncident?, fence: Lease?) async throws(StoreError) {
        do {
            try await pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO workflow_steps (run_id, step_key, kind, status, input, output, error, attempts, started_at, finished_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT (run_id, step_key) DO UPDATE SET status = excluded.status, input = excluded.input,
                            output = excluded.output, error = excluded.error, attempts = workflow_steps.attempts + excluded.attempts,
                            started_at = excluded.started_at, finished_at = excluded.finished_at
                        """,
                    arguments: [
                        record.runID, record.key, record.kind, record.status.rawValue,
                        String(decoding: record.input.serialized(), as: UTF8.self), String(decoding: record.output.serialized(), as: UTF8.self),
                        record.error, record.attempts, record.startedAt.microseconds, record.finishedAt.microseconds,
                    ]
                )
                if let incident {
                    // A lookup that finds an incident already recorded (the answer of a create
                    // that did commit) keeps the first record.
                    try db.execute(
                        sql: """
                            INSERT INTO workflow_incidents (workflow, alert_key, external_id, remote_id, title, run_id, event_seq, created, recorded_at)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (workflow, external_id) DO NOTHING
                            """,
                        arguments: [
                            incident.workflow, incident.alertKey, incident.externalID, incident.remoteID, incident.title, incident.runID,
                            incident.eventSeq, incident.created, incident.recordedAt.microseconds,
                        ]
                    )
                }
            }
        } catch {
            throw Self.storeError(error, doing: "journal a workflow step")
        }
    }

    public func beginAttempt(runID: Int64, at time: Timestamp, fence: Lease?) async throws(StoreError) -> WorkflowRun? {
        do {
            return try await pool.write { db in
                try db.execute(
                    sql: "UPDATE workflow_runs SET attempts = attempts + 1, updated_at = ? WHERE id = ? AND status IN ('queued', 'retrying')",
                    arguments: [time.microseconds, runID]
                )
                guard db.changesCount > 0 else { return nil }
                return try Row.fetchOne(db, sql: "SELECT \(Self.runColumns) FROM workflow_runs WHERE id = ?", arguments: [runID]).map(Self.workflowRun(from:))
            }
        } catch {
            throw Self.storeError(error, doing: "start a workflow run")
        }
    }

    public func finishAttempt(
        runID: Int64, status: WorkflowRunStatus, step: String?, detail: String?, nextAttemptAt: Timestamp?, at time: Timestamp, fence: Lease?
    ) async throws(StoreError) {
        do {
            try await pool.write { db in
                try db.execute(
                    sql: "UPDATE workflow_runs SET status = ?, step = ?, detail = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?",
                    arguments: [status.rawValue, step, detail, nextAttemptAt?.microseconds, time.microseconds, runID]
                )
            }
        } catch {
            throw Self.storeError(error, doing: "record a workflow run's outcome")
        }
    }

    public func requestRetry(runID: Int64, workflow: String, audit: AdminAuditEntry?, at time: Timestamp) async throws(StoreError) -> (run: WorkflowRun, changed: Bool)? {
        do {
            return try await writeControl { db in
                let fetch = { () throws -> WorkflowRun? in
                    try Row.fetchOne(db, sql: "SELECT \(Self.runColumns) FROM workflow_runs WHERE id = ? AND workflow = ?", arguments: [runID, workflow])
                        .map(Self.workflowRun(from:))
                }
                guard let run = try fetch() else { return nil }
                guard run.status == .failed || run.status == .retrying else { return (run, false) }
                try db.execute(
                    sql: "UPDATE workflow_runs SET status = 'queued', next_attempt_at = ?, updated_at = ? WHERE id = ?",
                    arguments: [time.microseconds, time.microseconds, runID]
                )
                if let audit { try self.insertAudit(audit, in: db) }
                return try fetch().map { ($0, true) }
            }
        } catch {
            throw Self.storeError(error, doing: "queue a workflow run again")
        }
    }

    public func createdIncidentCounts() async throws(StoreError) -> [String: Int] {
        do {
            return try await pool.read { db in
                var counts: [String: Int] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT workflow, count(*) FROM workflow_incidents WHERE created GROUP BY workflow") {
                    counts[row[0]] = row[1]
                }
                return counts
            }
        } catch {
            throw Self.storeError(error, doing: "count workflow incidents")
        }
    }

    public func incidents(workflow: String?, beforeID: Int64?, limit: Int) async throws(StoreError) -> [(id: Int64, incident: WorkflowIncident)] {
        do {
            return try await pool.read { db in
                var sql = """
                    SELECT id, workflow, alert_key, external_id, remote_id, title, run_id, event_seq, created, recorded_at
                    FROM workflow_incidents WHERE id < ?
                    """
                var arguments: [any DatabaseValueConvertible] = [beforeID ?? Int64.max]
                if let workflow {
                    sql += " AND workflow = ?"
                    arguments.append(workflow)
                }
                sql += " ORDER BY id DESC LIMIT ?"
                arguments.append(limit)
                return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map { row in
                    (row[0], WorkflowIncident(
                        workflow: row[1], alertKey: row[2], externalID: row[3], remoteID: row[4], title: row[5], runID: row[6], eventSeq: row[7],
                        created: row[8], recordedAt: Timestamp(microseconds: row[9])
                    ))
                }
            }
        } catch {
            throw Self.storeError(error, doing: "list workflow incidents")
        }
    }
}
