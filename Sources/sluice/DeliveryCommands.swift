import ArgumentParser
import Foundation
import SluiceApp
import SluiceCore

/// The operator's actions on destinations over the store of `options`' config, the same
/// ``DestinationAdministration`` the API and the web UI use; `destination` is checked first.
private func administration(_ options: StoreOptions, destination: String, label: String) async throws -> DestinationAdministration {
    let config = try options.loadConfig()
    let logger = try options.makeLogger(label: label)
    let names = config.destinations.map(\.name)
    try await exitOnRefusal { () async throws(DeliveryControlError) in try DestinationAdministration.requireConfigured(destination, among: names) }
    let store = try await options.openStore(config, logger: logger)
    return DestinationAdministration(ledger: store, destinations: names, now: SluiceRuntime.systemNow)
}

/// `sluice replay DESTINATION --since T [--until T]`.
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Send the events that occurred in a time range to a destination again.",
        discussion: """
            Queues a replay in the store; the running `sluice serve` sends it beside live delivery \
            (only the events the destination's routes select) and resumes it after a restart. \
            Progress shows under GET /v1/destinations. Prints the replay as one JSON line.
            """
    )

    @Argument(help: "The destination's name (a key under destinations: in the config).")
    var destination: String

    @Option(name: .long, help: "From this occurrence time (RFC 3339 or YYYY-MM-DD, UTC), inclusive.")
    var since: String

    @Option(name: .long, help: "Up to this occurrence time, exclusive (default: no end).")
    var until: String?

    @OptionGroup var store: StoreOptions

    func run() async throws {
        guard let start = Timestamp(rfc3339: since) else {
            printError("--since takes an RFC 3339 time (2026-11-01T00:00:00Z) or a date (2026-11-01), got \"\(since)\"")
            throw ExitCode(2)
        }
        var end = Timestamp.noEnd
        if let until {
            guard let parsed = Timestamp(rfc3339: until) else {
                printError("--until takes an RFC 3339 time (2026-11-01T00:00:00Z) or a date (2026-11-01), got \"\(until)\"")
                throw ExitCode(2)
            }
            end = parsed
        }
        let admin = try await administration(store, destination: destination, label: "sluice.replay")
        let job = try await exitOnRefusal { () async throws(DeliveryControlError) in
            try await admin.replay(destination, since: start, until: end, by: .commandLine)
        }
        print("{\"destination\":\(JSONValue.quoted(destination)),\"replay\":\(job.id),\"since\":\"\(start.rfc3339)\",\"until\":\(String(decoding: end.jsonValue.serialized(), as: UTF8.self)),\"status\":\"queued\"}")
    }
}

/// `sluice dead-letters list|redrive DESTINATION`.
struct DeadLettersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "List a destination's dead letters, or send them again.",
        subcommands: [List.self, Redrive.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print dead letters as JSON lines (seq, reason, created_at, attempts).")

        @Argument(help: "The destination's name.")
        var destination: String

        @Option(name: .long, help: "Only letters after this seq.")
        var after: Int64 = 0

        @Option(name: .long, help: "At most this many letters.")
        var limit: Int = 1_000

        @OptionGroup var store: StoreOptions

        func run() async throws {
            let admin = try await administration(store, destination: destination, label: "sluice.dead-letters")
            let letters = try await exitOnRefusal { () async throws(DeliveryControlError) in try await admin.deadLetters(destination, afterSeq: after, limit: limit) }
            for letter in letters {
                print("{\"seq\":\(letter.seq),\"reason\":\(JSONValue.quoted(letter.reason)),\"created_at\":\"\(letter.createdAt.rfc3339)\",\"attempts\":\(letter.attempts),\"redrive_requested\":\(letter.redriveRequested)}")
            }
        }
    }

    struct Redrive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Mark dead letters to be sent again by the running sluice serve (all, or those given with --seq)."
        )

        @Argument(help: "The destination's name.")
        var destination: String

        @Option(name: .long, parsing: .upToNextOption, help: "Only these seqs.")
        var seq: [Int64] = []

        @OptionGroup var store: StoreOptions

        func run() async throws {
            let admin = try await administration(store, destination: destination, label: "sluice.dead-letters")
            let seqs = seq.isEmpty ? nil : seq
            let marked = try await exitOnRefusal { () async throws(DeliveryControlError) in try await admin.redrive(destination, seqs: seqs, by: .commandLine) }
            print("{\"destination\":\(JSONValue.quoted(destination)),\"redrive_requested\":\(marked)}")
        }
    }
}

/// `sluice pause DESTINATION --reason TEXT` and `sluice resume DESTINATION`.
struct PauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause",
        abstract: "Stop sending to a destination until `sluice resume`; events keep being stored and wait.",
        discussion: "The running `sluice serve` stops before its next request (it notices within about a second) and shows the reason under GET /v1/destinations."
    )

    @Argument(help: "The destination's name (a key under destinations: in the config).")
    var destination: String

    @Option(name: .long, help: "Why (shown in status and the audit log).")
    var reason: String

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await setHold(store, destination: destination, reason: reason)
    }
}

struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Start sending to a paused destination again.")

    @Argument(help: "The destination's name.")
    var destination: String

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await setHold(store, destination: destination, reason: nil)
    }
}

private func setHold(_ options: StoreOptions, destination: String, reason: String?) async throws {
    // The reason is checked before the store is opened.
    if let reason { _ = try await exitOnRefusal { () throws(DeliveryControlError) in try DestinationAdministration.pauseReason(reason) } }
    let admin = try await administration(options, destination: destination, label: reason == nil ? "sluice.resume" : "sluice.pause")
    let changed = try await exitOnRefusal { () async throws(DeliveryControlError) in try await admin.setPaused(destination, reason: reason, by: .commandLine) }
    print("{\"destination\":\(JSONValue.quoted(destination)),\"paused\":\(reason != nil),\"changed\":\(changed)}")
}

extension AuditRequester {
    /// An operator at this host's command line, by login name (the one sudo was called by, if any;
    /// the account's name when the environment has none, as under cron or systemd).
    static var commandLine: AuditRequester {
        let environment = ProcessInfo.processInfo.environment
        let account = getpwuid(getuid()).flatMap { $0.pointee.pw_name.map { String(cString: $0) } }
        let login = environment["SUDO_USER"] ?? environment["USER"] ?? environment["LOGNAME"] ?? account ?? "unknown"
        return AuditRequester(actor: AdminAuditEntry.console(login), context: AuditContext(location: "local", userAgent: "sluice-cli"))
    }
}
