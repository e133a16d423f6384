import Crypto
import Logging
import Metrics
import SluiceCore
import SluiceHTTP

/// How a run ended.
public enum RunOutcome: Sendable, Hashable {
    case succeeded
    /// A condition was false or a required value missing: nothing to do, by design.
    case skipped(step: String, reason: String)
    case failed(step: String, error: String, retryable: Bool)
}

/// Runs a workflow's steps for one alert. A live run journals each step as it finishes and, on
/// a later attempt, reuses the outputs of the steps already done, so a resumed run starts at the
/// step that did not finish. A dry run calls nothing remote and journals nothing.
public struct WorkflowRunner: Sendable {
    public let definition: WorkflowDefinition
    let http: WorkflowHTTP
    /// Token caches by `oauth_token` step id; steps with the same URL and client share one.
    let tokens: [String: AccessTokenCache]
    let now: @Sendable () -> Timestamp
    public let logger: Logger

    public init(definition: WorkflowDefinition, transport: HTTPTransport, logger: Logger, now: @escaping @Sendable () -> Timestamp) {
        self.definition = definition
        let settings = definition.settings
        let guardrail = OutboundURLGuard(allowPrivateNetworks: settings.allowPrivateNetworks)
        self.http = WorkflowHTTP(
            transport: transport, guardrail: guardrail, timeout: settings.timeout,
            retry: RetryPolicy(maxAttempts: settings.requestAttempts, backoff: settings.requestBackoff)
        )
        var byTarget: [String: AccessTokenCache] = [:]
        var tokens: [String: AccessTokenCache] = [:]
        func collect(_ steps: [WorkflowStep]) {
            for step in steps {
                switch step.action {
                case .oauthToken(let oauth):
                    let grant = oauth.grant
                    let target = grant.tokenURL + "\n" + grant.clientID
                    let cache = byTarget[target] ?? AccessTokenCache { [transport] in
                        try guardrail.check(grant.tokenURL)
                        return try await grant.request(using: transport)
                    }
                    byTarget[target] = cache
                    tokens[step.id] = cache
                case .forEach(let loop):
                    collect(loop.steps)
                default:
                    break
                }
            }
        }
        collect(definition.steps)
        self.tokens = tokens
        self.now = now
        self.logger = logger
    }

    /// The key that tells this alert apart: the configured path's value, or (when there is none,
    /// or the alert has nothing there) the SHA-256 of the raw bytes.
    public func alertKey(of event: OutboundEvent, alert: JSONValue) -> String {
        if let path = definition.alertKey, let text = path.value(in: alert)?.textValue, !text.isEmpty { return text }
        return "sha256:" + Array(SHA256.hash(data: event.raw)).hexString
    }

    /// The alert key when `event` starts a run; nil when the trigger does not take it.
    public func trigger(_ event: OutboundEvent) -> String? {
        let trigger = definition.trigger
        guard trigger.admits(source: event.source, logType: event.logType) else { return nil }
        // Most triggers need only the source and log type, and the default key only the raw bytes.
        guard trigger.condition != nil || definition.alertKey != nil else { return alertKey(of: event, alert: .null) }
        let alert = (try? JSONParser.parse(event.raw)) ?? .null
        if let condition = trigger.condition, !condition.holds(alert: alert, scope: Self.scope(for: event, alert: alert)) { return nil }
        return alertKey(of: event, alert: alert)
    }

    static func scope(for event: OutboundEvent, alert: JSONValue) -> JSONValue {
        .object([
            JSONMember("event", .object([
                JSONMember("seq", .number(String(event.seq))),
                JSONMember("feed", .string(event.source)),
                JSONMember("log_type", .string(event.logType)),
                JSONMember("action", .string(event.action)),
                JSONMember("occurred_at", .string(event.occurredAt.rfc3339)),
                JSONMember("received_at", .string(event.receivedAt.rfc3339)),
            ])),
            JSONMember("alert", alert),
        ])
    }

    /// Runs (or resumes) `run` for `event`, journaling each step in `journal` under `fence`.
    public func execute(_ run: WorkflowRun, event: OutboundEvent, journal: any WorkflowJournal, fence: Lease?) async -> RunOutcome {
        let done: [String: WorkflowStepRecord]
        do {
            done = Dictionary(try await journal.steps(runID: run.id).filter { $0.status == .succeeded }.map { ($0.key, $0) }, uniquingKeysWith: { $1 })
        } catch {
            return .failed(step: "journal", error: error.message, retryable: true)
        }
        var context = RunContext(runner: self, event: event, run: run, mode: .live(journal, fence: fence), done: done)
        return await context.perform(definition.steps, prefix: "", itemKey: nil)
    }

    /// Runs the steps without calling any remote system or writing anything; returns each step's
    /// journal entry as it would be and how the run would end.
    public func dryRun(event: OutboundEvent) async -> (steps: [WorkflowStepRecord], outcome: RunOutcome) {
        let alert = (try? JSONParser.parse(event.raw)) ?? .null
        let key = alertKey(of: event, alert: alert)
        let run = WorkflowRun(
            id: 0, workflow: definition.name, alertKey: key, eventSeq: event.seq, status: .queued, attempts: 1, nextAttemptAt: nil, step: nil,
            detail: nil, duplicates: 0, createdAt: now(), updatedAt: now()
        )
        var context = RunContext(runner: self, event: event, run: run, mode: .dryRun, done: [:])
        let outcome = await context.perform(definition.steps, prefix: "", itemKey: nil)
        return (context.records, outcome)
    }

    /// The deterministic external id of an alert's (or an item's) incident.
    public func externalID(alertKey: String) -> String {
        let digest = Array(SHA256.hash(data: Array("\(definition.name)\n\(alertKey)".utf8))).hexString
        return "sluice-\(definition.name)-\(digest.prefix(32))"
    }
}

/// The state of one run while its steps execute.
struct RunContext {
    enum Mode {
        case live(any WorkflowJournal, fence: Lease?)
        case dryRun
    }

    let runner: WorkflowRunner
    let event: OutboundEvent
    let run: WorkflowRun
    let mode: Mode
    let done: [String: WorkflowStepRecord]
    let alert: JSONValue
    var scope: [JSONMember]
    var records: [WorkflowStepRecord] = []

    init(runner: WorkflowRunner, event: OutboundEvent, run: WorkflowRun, mode: Mode, done: [String: WorkflowStepRecord]) {
        self.runner = runner
        self.event = event
        self.run = run
        self.mode = mode
        self.done = done
        let alert = (try? JSONParser.parse(event.raw)) ?? .null
        self.alert = alert
        self.scope = WorkflowRunner.scope(for: event, alert: alert).objectMembers ?? []
    }

    var scopeValue: JSONValue { .object(scope) }

    mutating func assign(_ name: String, _ value: JSONValue) {
        if let index = scope.firstIndex(where: { $0.key == name }) { scope[index].value = value } else { scope.append(JSONMember(name, value)) }
    }

    /// Puts a finished step's output where later steps read it.
    mutating func apply(_ step: WorkflowStep, output: JSONValue) {
        switch step.action {
        case .extract, .format:
            for member in output.objectMembers ?? [] { assign(member.key, member.value) }
        default:
            assign(step.id, output)
        }
    }

    mutating func perform(_ steps: [WorkflowStep], prefix: String, itemKey: String?) async -> RunOutcome {
        for step in steps {
            let key = prefix + step.id
            if case .forEach(let loop) = step.action {
                let outcome = await performLoop(loop, step: step, key: key)
                if outcome != .succeeded { return outcome }
                continue
            }
            if let record = done[key], step.kind != "oauth_token" {
                apply(step, output: record.output)
                continue
            }
            let started = runner.now()
            let clock = ContinuousClock.now
            let result: StepResult
            do {
                result = try await execute(step, itemKey: itemKey)
            } catch {
                let record = WorkflowStepRecord(
                    runID: run.id, key: key, kind: step.kind, status: .failed, input: .null, output: .null, error: error.message,
                    attempts: max(1, error.attempts), startedAt: started, finishedAt: runner.now()
                )
                runner.count(step, status: .failed, since: clock)
                if let journalProblem = await write(record, incident: nil) { return journalProblem }
                return .failed(step: key, error: error.message, retryable: error.retryable)
            }
            let record = WorkflowStepRecord(
                runID: run.id, key: key, kind: step.kind, status: result.skipReason == nil ? .succeeded : .skipped, input: result.input,
                output: result.output, error: result.skipReason, attempts: max(1, result.attempts), startedAt: started, finishedAt: runner.now()
            )
            runner.count(step, status: record.status, since: clock)
            if let journalProblem = await write(record, incident: result.incident) { return journalProblem }
            if let reason = result.skipReason { return .skipped(step: key, reason: reason) }
            apply(step, output: result.output)
        }
        return .succeeded
    }

    mutating func performLoop(_ loop: ForEachStep, step: WorkflowStep, key: String) async -> RunOutcome {
        let started = runner.now()
        let clock = ContinuousClock.now
        let listed = loop.items.soleExpression.flatMap { Template.evaluate($0, in: scopeValue) } ?? .null
        let all = ExtractedValue.asList(listed) ?? []
        let items = Array(all.prefix(runner.definition.settings.maxItems))
        var keys: [JSONValue] = []
        for (index, item) in items.enumerated() {
            assign(loop.name, item)
            assign(loop.name + "_index", .number(String(index)))
            let itemKey = loop.itemKey.map { $0.render(scopeValue) }.flatMap { $0.isEmpty ? nil : $0 }
                ?? "sha256:" + Array(SHA256.hash(data: item.canonicalBytes())).hexString
            keys.append(.string(itemKey))
            let outcome = await perform(loop.steps, prefix: "\(key)[\(index)].", itemKey: itemKey)
            if outcome != .succeeded { return outcome }
        }
        var output = [JSONMember("items", .number(String(items.count))), JSONMember("keys", .array(keys))]
        if all.count > items.count { output.append(JSONMember("not_run", .number(String(all.count - items.count)))) }
        let record = WorkflowStepRecord(
            runID: run.id, key: key, kind: step.kind, status: .succeeded, input: .object([JSONMember("items", .number(String(all.count)))]),
            output: .object(output), error: nil, attempts: 1, startedAt: started, finishedAt: runner.now()
        )
        runner.count(step, status: .succeeded, since: clock)
        if let journalProblem = await write(record, incident: nil) { return journalProblem }
        return .succeeded
    }

    /// Journals a step (a dry run keeps it in memory); a store failure fails the run for a retry.
    mutating func write(_ record: WorkflowStepRecord, incident: WorkflowIncident?) async -> RunOutcome? {
        records.append(record)
        guard case .live(let journal, let fence) = mode else { return nil }
        do {
            try await journal.recordStep(record, incident: incident, fence: fence)
            return nil
        } catch {
            return .failed(step: record.key, error: "could not journal the step: \(error.message)", retryable: true)
        }
    }

    struct StepResult {
        var input: JSONValue = .null
        var output: JSONValue = .null
        var skipReason: String?
        var attempts = 1
        var incident: WorkflowIncident?
    }

    var isDryRun: Bool {
        if case .dryRun = mode { return true }
        return false
    }

    func execute(_ step: WorkflowStep, itemKey: String?) async throws(StepFailure) -> StepResult {
        switch step.action {
        case .extract(let values):
            var members: [JSONMember] = []
            for value in values {
                switch value.extract(from: alert) {
                case .success(let found): members.append(JSONMember(value.name, found))
                case .failure(let gap): return StepResult(output: .object(members), skipReason: gap.reason)
                }
            }
            return StepResult(output: .object(members))
        case .condition(let condition, let reason):
            if condition.holds(alert: alert, scope: scopeValue) { return StepResult(output: .bool(true)) }
            return StepResult(output: .bool(false), skipReason: reason ?? "the condition of step \(step.id) is false")
        case .format(let values):
            return StepResult(output: .object(values.map { JSONMember($0.name, $0.value.render(scopeValue)) }))
        case .oauthToken(let oauth):
            let input = JSONValue.object([JSONMember("url", .string(HTTPTransport.redacted(oauth.grant.tokenURL)))])
            if isDryRun { return StepResult(input: input, output: .object([JSONMember("dry_run", .string("no token requested"))])) }
            guard let cache = runner.tokens[step.id] else { throw StepFailure("no token cache for step \(step.id)", retryable: false) }
            do {
                _ = try await cache.token()
            } catch let error as TokenError {
                throw StepFailure(error.message, retryable: error.isTransient, attempts: 1)
            } catch {
                throw StepFailure("could not get an access token: \(error)", retryable: true, attempts: 1)
            }
            // The token itself stays in memory: a journal is no place for a credential.
            return StepResult(input: input, output: .object([JSONMember("token_type", .string("bearer"))]))
        case .httpRequest(let request):
            return try await performRequest(request)
        case .createCTIAIncident(let create):
            return try await createIncident(create, step: step, itemKey: itemKey)
        case .forEach:
            throw StepFailure("for_each runs through performLoop", retryable: false)
        }
    }

    func tokens(for stepID: String?) throws(StepFailure) -> AccessTokenCache? {
        guard let stepID else { return nil }
        guard let cache = runner.tokens[stepID] else { throw StepFailure("no oauth_token step named \(stepID) ran before this one", retryable: false) }
        return cache
    }

    func performRequest(_ request: HTTPRequestStep) async throws(StepFailure) -> StepResult {
        let scope = scopeValue
        let url = request.url.render(scope)
        var headers = request.headers.map { ($0.name, $0.value.render(scope)) }
        var body: [UInt8]?
        var input = [JSONMember("method", .string(request.method)), JSONMember("url", .string(HTTPTransport.redacted(url)))]
        if let template = request.body {
            let rendered = template.render(scope)
            body = rendered.serialized()
            headers.append(("Content-Type", "application/json"))
            input.append(JSONMember("body", rendered))
        }
        headers.append(("Accept", "application/json"))
        if isDryRun {
            return StepResult(input: .object(input), output: .object([JSONMember("dry_run", .string("request not sent"))]))
        }
        let cache = try tokens(for: request.token)
        let expected = request.expect
        let (response, attempts) = try await runner.http.send(
            OutboundRequest(method: request.method, url: url, headers: headers, body: body), tokens: cache,
            accept: { expected.contains($0) }
        )
        if !expected.isEmpty, !expected.contains(response.status) {
            throw StepFailure("\(request.method) \(HTTPTransport.redacted(url)) answered HTTP \(response.status), expected \(expected)", retryable: false, attempts: attempts)
        }
        let answer = (try? JSONParser.parse(response.body)) ?? .string(String(decoding: response.body.prefix(4096), as: UTF8.self))
        return StepResult(
            input: .object(input), output: .object([JSONMember("status", .number(String(response.status))), JSONMember("body", answer)]),
            attempts: attempts
        )
    }

    func createIncident(_ create: CTIAIncidentStep, step: WorkflowStep, itemKey: String?) async throws(StepFailure) -> StepResult {
        let scope = scopeValue
        let incidentKey = itemKey.map { "\(run.alertKey)#\($0)" } ?? run.alertKey
        let externalID = create.externalID.map { $0.render(scope) }.flatMap { $0.isEmpty ? nil : $0 } ?? runner.externalID(alertKey: incidentKey)
        let body = try CTIAIncidentBody.prepare(create.incident.render(scope), externalID: externalID, opened: event.occurredAt)
        let title = body["title"]?.textValue
        if isDryRun {
            return StepResult(
                input: body, output: .object([JSONMember("dry_run", .string("incident not created")), JSONMember("external_id", .string(externalID))])
            )
        }
        let cache = try tokens(for: create.token)
        let client = CTIAClient(http: runner.http, baseURL: create.baseURL)
        var attempts = 0
        let remoteID: String
        let created: Bool
        // The lookup first: a replayed alert, or a create whose answer a crash lost, finds its incident here.
        if let existing = try await client.find(externalID: externalID, tokens: cache, attempts: &attempts) {
            remoteID = existing
            created = false
        } else {
            remoteID = try await client.create(body, tokens: cache, attempts: &attempts)
            created = true
        }
        let incident = WorkflowIncident(
            workflow: run.workflow, alertKey: incidentKey, externalID: externalID, remoteID: remoteID, title: title, runID: run.id,
            eventSeq: run.eventSeq, created: created, recordedAt: runner.now()
        )
        if created { runner.countIncident() }
        return StepResult(
            input: body,
            output: .object([
                JSONMember("id", .string(remoteID)), JSONMember("external_id", .string(externalID)), JSONMember("created", .bool(created)),
            ]),
            attempts: attempts, incident: incident
        )
    }
}

extension WorkflowRunner {
    func count(_ step: WorkflowStep, status: WorkflowStepStatus, since start: ContinuousClock.Instant) {
        let dimensions = [("workflow", definition.name), ("step", step.id)]
        Counter(label: "sluice_workflow_steps_total", dimensions: dimensions + [("status", status.rawValue)]).increment()
        Timer(label: "sluice_workflow_step_duration_seconds", dimensions: dimensions).recordInterval(since: start)
    }

    func countIncident() {
        Counter(label: "sluice_workflow_incidents_created_total", dimensions: [("workflow", definition.name)]).increment()
    }
}

extension Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}

extension ExtractedValue {
    /// The value at the path shaped as asked, the default when there is none, or why the run skips.
    func extract(from alert: JSONValue) -> Result<JSONValue, ExtractionGap> {
        var found = path.value(in: alert)
        if found == .null || found == .string("") || (path.isWildcard && found == .array([])) { found = nil }
        if let value = found {
            switch shape {
            case .any: return .success(value)
            case .string:
                if let text = value.textValue { return .success(.string(text)) }
            case .list:
                if let list = Self.asList(value) { return .success(.array(list)) }
            case .object:
                if value.objectMembers != nil { return .success(value) }
                if let text = value.stringValue, let parsed = try? JSONParser.parse(Array(text.utf8)), parsed.objectMembers != nil { return .success(parsed) }
            }
            if required { return .failure(ExtractionGap("\(path) is not a \(shape.rawValue)")) }
            found = nil
        }
        if let defaultValue { return .success(defaultValue) }
        if required { return .failure(ExtractionGap("the alert has no \(name) (nothing at \(path))")) }
        return .success(.null)
    }

    /// A list, however the sender shaped it: an array; an array serialized as a string (templated
    /// webhook bodies such as JupiterOne's `"{{queries.query0.data}}"`); one object alone.
    static func asList(_ value: JSONValue) -> [JSONValue]? {
        switch value {
        case .array(let items): return items
        case .object: return [value]
        case .string(let text):
            guard let parsed = try? JSONParser.parse(Array(text.utf8)) else { return nil }
            if case .string = parsed { return nil }
            return asList(parsed)
        default: return nil
        }
    }
}

struct ExtractionGap: Error {
    var reason: String
    init(_ reason: String) { self.reason = reason }
}
