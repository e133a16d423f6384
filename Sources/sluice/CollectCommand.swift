import ArgumentParser
import Foundation
import Logging
import SluiceApp
import SluiceCore
import SluiceEngine
import SluiceSources

/// `sluice collect NAME [--once] [--since T --until T] [--stream S --rewind-to T]`.
struct CollectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collect",
        abstract: "Run a configured collector: once (for external schedulers), as a bounded backfill, or on its schedule.",
        discussion: """
            With --once every stream runs once and the exit code says whether all succeeded (0) or \
            not (1). With --since and --until, file events and the audit log of that window are read \
            under a checkpoint of their own, beside the live one. Without either, the collector runs \
            on its schedule until interrupted. Each finished stream prints one JSON line. \
            With --stream S --rewind-to T, the stream's checkpoint is set back to T (its next run reads \
            again from there; a run in progress in sluice serve stops at its next page) and nothing runs.
            """
    )

    @Argument(help: "The collector's name (a key under collectors: in the config).")
    var name: String

    @Flag(name: .long, help: "Run every stream once and exit.")
    var once = false

    @Option(name: .long, help: "Backfill from this time (RFC 3339 or YYYY-MM-DD, UTC).")
    var since: String?

    @Option(name: .long, help: "Backfill up to this time (RFC 3339 or YYYY-MM-DD, UTC).")
    var until: String?

    @Option(name: .long, parsing: .upToNextOption, help: "Only these streams (Incydr: users, audit, cases, file_events; http_pull: the names under streams:).")
    var stream: [String] = []

    @Option(name: .customLong("rewind-to"), help: "Set the one --stream's checkpoint back to this time (RFC 3339 or YYYY-MM-DD, UTC) and exit.")
    var rewindTo: String?

    @Flag(name: .customLong("dry-run"), help: "With --once: print what would be stored and each checkpoint it would move to; store nothing.")
    var dryRun = false

    @OptionGroup var store: StoreOptions

    func run() async throws {
        let config = try store.loadConfig()
        let logger = try store.makeLogger(label: "sluice.collect")
        try requireConfigured(name, kind: "collector", known: config.collectors.map(\.name))
        var streams: [String]? = stream.isEmpty ? nil : stream
        var backfill: ClosedRange<Timestamp>?
        if since != nil || until != nil {
            guard let sinceText = since, let untilText = until else {
                printError("a backfill needs both --since and --until")
                throw ExitCode(2)
            }
            guard let start = Timestamp(rfc3339: sinceText), let end = Timestamp(rfc3339: untilText) else {
                printError("--since and --until take RFC 3339 times (2026-11-01T00:00:00Z) or dates (2026-11-01)")
                throw ExitCode(2)
            }
            guard start < end else {
                printError("--since must be before --until")
                throw ExitCode(2)
            }
            backfill = start...end
        }
        var rewind: (String, Timestamp)?
        if let rewindTo {
            guard let chosen = streams, chosen.count == 1, !once, backfill == nil else {
                printError("--rewind-to needs exactly one --stream and neither --once nor a backfill")
                throw ExitCode(2)
            }
            guard let time = Timestamp(rfc3339: rewindTo) else {
                printError("--rewind-to takes an RFC 3339 time (2026-11-01T00:00:00Z) or a date (2026-11-01), got \"\(rewindTo)\"")
                throw ExitCode(2)
            }
            rewind = (chosen[0], time)
        }
        if dryRun && (!once || backfill != nil || rewind != nil) {
            printError("--dry-run goes with --once (and neither a backfill nor --rewind-to)")
            throw ExitCode(2)
        }
        let eventStore = try await store.openStore(config, logger: logger)
        let scheduled = SluiceRuntime.makeCollectors(config, store: dryRun ? DryRunStore(eventStore) : eventStore, logger: logger, now: SluiceRuntime.systemNow)
            .filter { $0.collector.name == name }
        let admin = CollectorAdministration(collectors: scheduled, now: SluiceRuntime.systemNow)
        if let unknown = streams?.first(where: { !scheduled[0].collector.streamNames.contains($0) }) {
            printError("collector \(name) has no stream \(unknown); its streams are \(scheduled[0].collector.streamNames.joined(separator: ", "))")
            throw ExitCode(2)
        }
        if let rewind {
            let (chosen, time) = rewind
            try await exitOnRefusal { () async throws(CollectorError) in try await admin.rewind(name, stream: chosen, to: time, by: .commandLine) }
            print("{\"collector\":\(JSONValue.quoted(name)),\"stream\":\(JSONValue.quoted(chosen)),\"rewound_to\":\"\(time.rfc3339)\"}")
            return
        }
        if once || backfill != nil {
            let collector = scheduled[0].collector
            if let backfill {
                streams = try await exitOnRefusal { () async throws(CollectorError) in
                    try await admin.startBackfill(name, window: backfill, streams: streams, by: .commandLine)
                }
            } else if dryRun {
                // Nothing recorded, and no lease: a dry run changes nothing anyone shares.
                let reports = await collector.run(streamsNamed: streams, backfill: nil, fence: nil)
                try Self.printReports(reports)
                if reports.contains(where: { $0.outcome != .succeeded }) { throw ExitCode(1) }
                return
            } else {
                let entry = admin.runTriggered(name, streams: streams ?? collector.streamNames, once: true, by: .commandLine)
                do {
                    try await collector.record(entry)
                } catch {
                    throw error.exit()
                }
            }
            let reports: [StreamRunReport]
            if let backfill {
                // A backfill runs beside the live checkpoints, whoever holds the collector.
                reports = await collector.run(streamsNamed: streams, backfill: backfill, fence: nil)
            } else {
                do {
                    reports = try await CollectorScheduler.runOnce(
                        scheduled[0], streams: streams, leases: SluiceRuntime.leaseSettings(config, store: eventStore), logger: logger
                    )
                } catch {
                    printError(error.description)
                    throw ExitCode(1)
                }
            }
            try Self.printReports(reports)
            if reports.contains(where: { $0.outcome != .succeeded }) { throw ExitCode(1) }
            return
        }
        try await SluiceRuntime.runOnSchedule(scheduled, store: eventStore, leases: SluiceRuntime.leaseSettings(config, store: eventStore), logger: logger)
    }

    static func printReports(_ reports: [StreamRunReport]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        for report in reports {
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        }
    }
}
