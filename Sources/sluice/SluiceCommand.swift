import ArgumentParser
import Foundation
import Logging
import SluiceApp
import SluiceCore
import SluiceServer

@main
struct SluiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "Sluice: a self-hosted security telemetry hub.",
        subcommands: [Serve.self, ConfigCommand.self, SecretCommand.self, FeedCommand.self, EventsCommand.self, CollectCommand.self, ReplayCommand.self, DeadLettersCommand.self, PauseCommand.self, ResumeCommand.self, WorkflowCommand.self, TokenCommand.self, StorageCommand.self, VerifyCommand.self, IntegrityCommand.self]
    )

    /// Runs the chosen subcommand inside a ``StorageScope``, so a PostgreSQL store it opens keeps
    /// its connection pool and writer running until the command returns.
    static func main() async {
        do {
            try await StorageScope.run {
                var command = try parseAsRoot()
                if var asyncCommand = command as? any AsyncParsableCommand {
                    try await asyncCommand.run()
                } else {
                    try command.run()
                }
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// Options shared by every subcommand that touches the store.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "YAML config file. Without one, the embedded default runs (SQLite under ./sluice-data, one feed \"default\").")
    var config: String?

    @Option(name: .long, help: "Directory for the SQLite database (overrides storage.sqlite.path).")
    var dataDir: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func loadConfig() throws -> SluiceConfig {
        guard let config else {
            return SluiceConfig.embeddedDefault(dataDirectory: dataDir ?? SluiceConfig.defaultDataDirectory)
        }
        do {
            return try ConfigLoader(dataDirectory: dataDir).load(path: config)
        } catch {
            for issue in error.issues { printError("\(config): \(issue)") }
            throw ExitCode(2)
        }
    }

    /// Opens the store `config` names (PostgreSQL: reachable and migrated, running for the rest of
    /// the command); a store that cannot be opened exits 1 with the reason.
    func openStore(_ config: SluiceConfig, logger: Logger) async throws -> any SluiceStorage {
        do {
            return try await StorageScope.open(config, logger: logger)
        } catch {
            throw error.exit()
        }
    }

    func makeLogger(label: String) throws -> Logger {
        guard let level = Logger.Level(rawValue: logLevel.lowercased()) else {
            printError("--log-level \(logLevel) is not a level; use trace, debug, info, notice, warning, error or critical")
            throw ExitCode(2)
        }
        LoggingBootstrap.bootstrap(level: level)
        return Logger(label: label)
    }
}

/// Exits 2, naming what is configured, when no `kind` is named `name`.
func requireConfigured(_ name: String, kind: String, known: [String]) throws {
    guard !known.contains(name) else { return }
    printError("no \(kind) named \"\(name)\"" + (known.isEmpty ? "; the config has no \(kind)s" : "; configured: \(known.joined(separator: ", "))"))
    throw ExitCode(2)
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
}

/// Bootstraps swift-log once per process (a second bootstrap would crash).
enum LoggingBootstrap {
    nonisolated(unsafe) private static var done = false

    static func bootstrap(level: Logger.Level) {
        guard !done else { return }
        done = true
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

extension StoreError {
    func exit() -> ExitCode {
        printError(description)
        return ExitCode(1)
    }
}

/// An administrative action's refusal as the CLI reports it: its message on standard error, exit
/// 2 when the request itself was refused, 1 when something failed (the store, the provider).
protocol CommandLineRefusal: Error {
    var message: String { get }
    var isRefusal: Bool { get }
}

extension CredentialAdministrationError: CommandLineRefusal {
    var isRefusal: Bool { kind != .store }
}

extension DeliveryControlError: CommandLineRefusal {
    var isRefusal: Bool { code != .store }
}

extension CollectorError: CommandLineRefusal {
    var isRefusal: Bool { code == .rejected || code == .invalid }
}

/// Runs an administrative action; a refusal or failure is printed and ends the command.
func exitOnRefusal<T, Refusal: CommandLineRefusal>(_ body: () async throws(Refusal) -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        printError(error.message)
        throw ExitCode(error.isRefusal ? 2 : 1)
    }
}

/// The time a `--FLAG` option gives (RFC 3339 or a date); nil when not given. A value that is
/// not a time exits 2 naming it.
func timeOption(_ flag: String, _ value: String?) throws -> Timestamp? {
    guard let value else { return nil }
    guard let t = Timestamp(rfc3339: value) else {
        printError("--\(flag) \(value) is not a time; use RFC 3339 (2026-01-31T00:00:00Z) or a date (2026-01-31)")
        throw ExitCode(2)
    }
    return t
}
