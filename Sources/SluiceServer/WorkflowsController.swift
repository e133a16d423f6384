import Hummingbird
import SluiceCore
import SluiceWorkflows

/// `GET /v1/workflows`, runs with their journal, retry from the failed step, and `GET /v1/incidents`.
struct WorkflowsController: Sendable {
    let control: (any WorkflowControl)?

    func addRoutes(to group: RouterGroup<SluiceRequestContext>) {
        group.get("workflows", use: list)
        group.get("workflows/{name}/runs", use: runs)
        group.get("workflows/{name}/runs/{id}", use: run)
        group.post("workflows/{name}/runs/{id}/retry", use: retry)
        group.get("incidents", use: incidents)
    }

    @Sendable func list(request: Request, context: SluiceRequestContext) async throws -> Response {
        let statuses = try await call { (control) async throws(WorkflowControlError) in try await control.statuses() }
        let workflows = statuses.map { s in
            JSONValue.object([
                JSONMember("name", .string(s.name)),
                JSONMember("trigger", .object([
                    JSONMember("feeds", .array(s.feeds.map(JSONValue.string))), JSONMember("log_types", .array(s.logTypes.map(JSONValue.string))),
                ])),
                JSONMember("cursor", .number(String(s.cursor))),
                JSONMember("lag_events", .number(String(s.lagEvents))),
                JSONMember("runs", .object(WorkflowRunStatus.allCases.map { JSONMember($0.rawValue, .number(String(s.runs[$0] ?? 0))) })),
                JSONMember("incidents_created", .number(String(s.incidentsCreated))),
                JSONMember("failures", .array(s.failures.map(Self.render))),
            ])
        }
        return Response.json(.object([JSONMember("workflows", .array(workflows))]))
    }

    @Sendable func runs(request: Request, context: SluiceRequestContext) async throws -> Response {
        let name = try context.parameters.require("name")
        let query = request.uri.queryParameters
        var status: WorkflowRunStatus?
        if let text = query.get("status") {
            guard let parsed = WorkflowRunStatus(rawValue: text) else {
                throw APIError(.badRequest, "status must be one of \(WorkflowRunStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            status = parsed
        }
        let (before, limit) = try Self.paging(query.get("before"), query.get("limit"))
        let found = try await call { (control) async throws(WorkflowControlError) in try await control.runs(name, status: status, beforeID: before, limit: limit) }
        var members = [JSONMember("workflow", .string(name)), JSONMember("runs", .array(found.map(Self.render)))]
        if found.count == limit, let last = found.last { members.append(JSONMember("next_before", .number(String(last.id)))) }
        return Response.json(.object(members))
    }

    @Sendable func run(request: Request, context: SluiceRequestContext) async throws -> Response {
        let name = try context.parameters.require("name")
        let id = try Self.runID(context)
        let (run, steps) = try await call { (control) async throws(WorkflowControlError) in try await control.run(name, id: id) }
        let journal = steps.map { step in
            JSONValue.object([
                JSONMember("step", .string(step.key)),
                JSONMember("kind", .string(step.kind)),
                JSONMember("status", .string(step.status.rawValue)),
                JSONMember("input", step.input),
                JSONMember("output", step.output),
                JSONMember("error", step.error.map(JSONValue.string) ?? .null),
                JSONMember("attempts", .number(String(step.attempts))),
                JSONMember("started_at", .string(step.startedAt.rfc3339)),
                JSONMember("finished_at", .string(step.finishedAt.rfc3339)),
            ])
        }
        return Response.json(.object([JSONMember("run", Self.render(run)), JSONMember("steps", .array(journal))]))
    }

    @Sendable func retry(request: Request, context: SluiceRequestContext) async throws -> Response {
        let name = try context.parameters.require("name")
        let id = try Self.runID(context)
        let requester = context.requester(request)
        let (run, changed) = try await call { (control) async throws(WorkflowControlError) in try await control.retry(name, runID: id, by: requester) }
        guard changed else {
            throw APIError(.conflict, "run \(id) is \(run.status.rawValue); only failed or retrying runs can be retried")
        }
        return Response.json(.object([JSONMember("run", Self.render(run))]), status: .accepted)
    }

    @Sendable func incidents(request: Request, context: SluiceRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        let workflow = query.get("workflow")
        let (before, limit) = try Self.paging(query.get("before"), query.get("limit"))
        let found = try await call { (control) async throws(WorkflowControlError) in try await control.incidents(workflow: workflow, beforeID: before, limit: limit) }
        let items = found.map { id, incident in
            JSONValue.object([
                JSONMember("id", .number(String(id))),
                JSONMember("workflow", .string(incident.workflow)),
                JSONMember("alert_key", .string(incident.alertKey)),
                JSONMember("external_id", .string(incident.externalID)),
                JSONMember("remote_id", .string(incident.remoteID)),
                JSONMember("title", incident.title.map(JSONValue.string) ?? .null),
                JSONMember("run_id", .number(String(incident.runID))),
                JSONMember("event_seq", .number(String(incident.eventSeq))),
                JSONMember("created", .bool(incident.created)),
                JSONMember("recorded_at", .string(incident.recordedAt.rfc3339)),
            ])
        }
        var members = [JSONMember("incidents", .array(items))]
        if found.count == limit, let last = found.last { members.append(JSONMember("next_before", .number(String(last.id)))) }
        return Response.json(.object(members))
    }

    static func runID(_ context: SluiceRequestContext) throws -> Int64 {
        guard let id = Int64(try context.parameters.require("id")), id > 0 else { throw APIError(.badRequest, "the run id is a positive number") }
        return id
    }

    static func paging(_ before: String?, _ limit: String?) throws -> (Int64?, Int) {
        let beforeID = try before.map { text -> Int64 in
            guard let id = Int64(text), id > 0 else { throw APIError(.badRequest, "before must be an id from a previous page") }
            return id
        }
        guard let count = Int(limit ?? "100"), (1...1_000).contains(count) else { throw APIError(.badRequest, "limit must be a number from 1 to 1000") }
        return (beforeID, count)
    }

    static func render(_ run: WorkflowRun) -> JSONValue {
        .object([
            JSONMember("id", .number(String(run.id))),
            JSONMember("workflow", .string(run.workflow)),
            JSONMember("alert_key", .string(run.alertKey)),
            JSONMember("event_seq", .number(String(run.eventSeq))),
            JSONMember("status", .string(run.status.rawValue)),
            JSONMember("attempts", .number(String(run.attempts))),
            JSONMember("next_attempt_at", run.nextAttemptAt.map { .string($0.rfc3339) } ?? .null),
            JSONMember("step", run.step.map(JSONValue.string) ?? .null),
            JSONMember("detail", run.detail.map(JSONValue.string) ?? .null),
            JSONMember("duplicates", .number(String(run.duplicates))),
            JSONMember("created_at", .string(run.createdAt.rfc3339)),
            JSONMember("updated_at", .string(run.updatedAt.rfc3339)),
        ])
    }

    func call<T>(_ body: (any WorkflowControl) async throws(WorkflowControlError) -> T) async throws -> T {
        guard let control else { throw APIError(.notFound, "no workflows are configured") }
        do {
            return try await body(control)
        } catch {
            throw APIError.from(error)
        }
    }
}
