import ArgumentParser
import Foundation
import SluiceApp
import SluiceCore
import SluiceHTTP
import SluiceSources
import SluiceWorkflows

/// `sluice workflow test|runs|retry`.
struct WorkflowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workflow",
        abstract: "Try a workflow on an alert without side effects, list its runs, or retry a failed run.",
        subcommands: [Test.self, Runs.self, Retry.self]
    )

    static func definition(_ name: String, in config: SluiceConfig) throws -> WorkflowDefinition {
        try requireConfigured(name, kind: "workflow", known: config.workflows.map(\.name))
        return config.workflows.first { $0.name == name }!
    }

    static func control(_ options: StoreOptions, workflow: String, label: String) async throws -> JournalWorkflowControl {
        let config = try options.loadConfig()
        let definition = try definition(workflow, in: config)
        let store = try await options.openStore(config, logger: try options.makeLogger(label: label))
        return JournalWorkflowControl(definitions: [definition], journal: store, now: SluiceRuntime.systemNow)
    }

    /// `sluice workflow test NAME --event FILE`: a dry run.
    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "test",
            abstract: "Run a workflow's steps on an alert from a file and print each step's output, calling nothing remote.",
            discussion: """
                No token is requested, no request sent and no incident created: the create step prints \
                the incident it would send. Nothing is written to the store. Exit status 0 when the run \
                would succeed or be skipped, 1 when a step would fail.
                """
        )

        @Argument(help: "The workflow's name (a key under workflows: in the config).")
        var workflow: String

        @Option(name: .long, help: "A file holding the alert as its sender posts it (one JSON document).")
        var event: String

        @Option(name: .long, help: "The feed the alert arrives on (default: the trigger's first feed).")
        var feed: String?

        @OptionGroup var store: StoreOptions

        func run() async throws {
            let config = try store.loadConfig()
            let definition = try WorkflowCommand.definition(workflow, in: config)
            guard let bytes = FileManager.default.contents(atPath: event) else {
                printError("cannot read the alert file \(event)")
                throw ExitCode(2)
            }
            let source = feed ?? definition.trigger.feeds.first ?? "test"
            let feedConfig = config.feeds.first { $0.name == source }
            // Read as a push of the file would be, so the alert (and the external id hashed from
            // it) is the one the store would keep: no surrounding whitespace or final newline.
            let decoded: [DecodedEvent]
            do {
                decoded = try PushBodyDecoder(limits: feedConfig?.limits ?? PushLimits()).decode(Array(bytes))
            } catch {
                printError("\(event) is not one JSON document as a feed accepts it: \(error.message)")
                throw ExitCode(2)
            }
            guard decoded.count == 1, let pushed = decoded.first else {
                printError("\(event) holds \(decoded.count) events; put the one alert to test in the file")
                throw ExitCode(2)
            }
            let logType = definition.trigger.logTypes.first ?? feedConfig?.logType ?? "JSON"
            let now = SluiceRuntime.systemNow()
            let alert = OutboundEvent(seq: 0, source: source, logType: logType, action: "", occurredAt: now, receivedAt: now, raw: pushed.raw)
            let runner = WorkflowRunner(definition: definition, transport: .shared, logger: try store.makeLogger(label: "sluice.workflow"), now: SluiceRuntime.systemNow)
            if runner.trigger(alert) == nil {
                print("trigger: the workflow would not start for this alert on feed \(source) (log type \(logType)); running the steps anyway")
            } else {
                print("trigger: matches; alert key \(runner.alertKey(of: alert, alert: (try? JSONParser.parse(alert.raw)) ?? .null))")
            }
            let (steps, outcome) = await runner.dryRun(event: alert)
            for step in steps {
                print("step \(step.key) (\(step.kind)): \(step.status.rawValue)" + (step.error.map { ": \($0)" } ?? ""))
                if step.input != .null { print("  input:  \(String(decoding: step.input.serialized(), as: UTF8.self))") }
                if step.output != .null { print("  output: \(String(decoding: step.output.serialized(), as: UTF8.self))") }
                if step.kind == "create_ctia_incident", step.status == .succeeded {
                    print("  would create this incident: \(String(decoding: step.input.serialized(), as: UTF8.self))")
                }
            }
            switch outcome {
            case .succeeded:
                print("outcome: succeeded")
            case .skipped(let step, let reason):
                print("outcome: skipped at \(step): \(reason)")
            case .failed(let step, let error, _):
                print("outcome: failed at \(step): \(error)")
                throw ExitCode(1)
            }
        }
    }

    /// `sluice workflow runs NAME [--status S]`.
    struct Runs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "runs", abstract: "List a workflow's runs, newest first, as JSON lines.")

        @Argument(help: "The workflow's name.")
        var workflow: String

        @Option(name: .long, help: "Only runs in this status: queued, retrying, succeeded, skipped or failed.")
        var status: String?

        @Option(name: .long, help: "At most this many runs (1 to 1000).")
        var limit = 100

        @OptionGroup var store: StoreOptions

        func run() async throws {
            var wanted: WorkflowRunStatus?
            if let status {
                guard let parsed = WorkflowRunStatus(rawValue: status) else {
                    printError("--status must be one of \(WorkflowRunStatus.allCases.map(\.rawValue).joined(separator: ", "))")
                    throw ExitCode(2)
                }
                wanted = parsed
            }
            guard (1...1_000).contains(limit) else {
                printError("--limit must be from 1 to 1000")
                throw ExitCode(2)
            }
            let control = try await WorkflowCommand.control(store, workflow: workflow, label: "sluice.workflow")
            do {
                for run in try await control.runs(workflow, status: wanted, beforeID: nil, limit: limit) {
                    var line: [JSONMember] = [
                        JSONMember("id", .number(String(run.id))), JSONMember("alert_key", .string(run.alertKey)),
                        JSONMember("status", .string(run.status.rawValue)), JSONMember("attempts", .number(String(run.attempts))),
                    ]
                    if let step = run.step { line.append(JSONMember("step", .string(step))) }
                    if let detail = run.detail { line.append(JSONMember("detail", .string(detail))) }
                    print(String(decoding: JSONValue.object(line).serialized(), as: UTF8.self))
                }
            } catch {
                printError(error.message)
                throw ExitCode(1)
            }
        }
    }

    /// `sluice workflow retry NAME RUN`.
    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "retry",
            abstract: "Queue a failed run again; it resumes at the step that failed.",
            discussion: "The running `sluice serve` picks the run up within a second. The retry is recorded in Sluice's audit log."
        )

        @Argument(help: "The workflow's name.")
        var workflow: String

        @Argument(help: "The run's id (sluice workflow runs NAME --status failed lists them).")
        var run: Int64

        @OptionGroup var store: StoreOptions

        func run() async throws {
            let control = try await WorkflowCommand.control(store, workflow: workflow, label: "sluice.workflow")
            let result: (run: WorkflowRun, changed: Bool)
            do {
                result = try await control.retry(workflow, runID: run, by: .commandLine)
            } catch {
                printError(error.message)
                throw ExitCode(error.code == .store ? 1 : 2)
            }
            guard result.changed else {
                printError("run \(run) is \(result.run.status.rawValue); only failed or retrying runs can be retried")
                throw ExitCode(2)
            }
            print("{\"workflow\":\(JSONValue.quoted(workflow)),\"run\":\(run),\"status\":\"queued\",\"from_step\":\(result.run.step.map(JSONValue.quoted) ?? "null")}")
        }
    }
}
