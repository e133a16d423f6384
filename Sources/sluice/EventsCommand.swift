import ArgumentParser
import Foundation
import SluiceApp
import SluiceCore
import SluiceIntegrity
import SluiceServer

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Read stored events.",
        subcommands: [Export.self]
    )

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Export events as CSV or NDJSON, newest first, in constant memory.")

        @Option(name: .long, help: "csv or ndjson.")
        var format: String

        @Option(name: .long, help: "Write to this file instead of standard output.")
        var out: String?

        @Flag(name: .long, help: "With --format ndjson and --out FILE: also write FILE.proofs.ndjson, each event's inclusion proof and the signed checkpoints that cover it (docs/integrity.md).")
        var withProof = false

        @Option(name: .long, help: "Feed or collector name.") var feed: String?
        @Option(name: .customLong("log-type"), help: "Log type, e.g. INCIDENT_IO.") var logType: String?
        @Option(name: .long, help: "Actor id or name.") var actor: String?
        @Option(name: .customLong("actor-type"), help: "Actor type, e.g. user or api_key.") var actorType: String?
        @Option(name: .long, help: "Action, exact or prefix (api_key.*).") var action: String?
        @Option(name: .long, help: "Target id or name.") var target: String?
        @Option(name: .customLong("target-type"), help: "Target type.") var targetType: String?
        @Option(name: .long, help: "Occurred at or after (RFC 3339 or YYYY-MM-DD).") var since: String?
        @Option(name: .long, help: "Occurred before (RFC 3339 or YYYY-MM-DD).") var until: String?
        @Option(name: .customLong("q"), help: "Free text.") var text: String?

        @OptionGroup var options: StoreOptions

        func run() async throws {
            guard let exportFormat = ExportFormat(rawValue: format) else {
                printError("--format \(format) is not supported; use csv or ndjson")
                throw ExitCode(2)
            }
            let time = timeOption
            let filter = EventFilter(
                source: feed, logType: logType, actor: actor, actorType: actorType, action: action.map(ActionMatch.init),
                target: target, targetType: targetType, since: try time("since", since), until: try time("until", until), text: text
            )
            if withProof && (exportFormat != .ndjson || out == nil) {
                printError("--with-proof needs --format ndjson and --out FILE (the proofs go to FILE.proofs.ndjson)")
                throw ExitCode(2)
            }
            let logger = try options.makeLogger(label: "sluice.export")
            let config = try options.loadConfig()
            if let missing = config.storage.missingStore {
                printError("\(missing); pass --data-dir or --config of the instance to export from")
                throw ExitCode(1)
            }
            let store = try await options.openStore(config, logger: logger)
            let handle: FileHandle
            if let out {
                guard FileManager.default.createFile(atPath: out, contents: nil), let h = FileHandle(forWritingAtPath: out) else {
                    printError("cannot write to \(out)")
                    throw ExitCode(1)
                }
                handle = h
            } else {
                handle = FileHandle.standardOutput
            }
            var exporter = EventExporter(store: store, filter: filter, format: exportFormat)
            exporter.recordsSeqs = withProof
            while let chunk = try await exporter.next() {
                try handle.write(contentsOf: chunk)
            }
            if withProof, let out {
                let proofs: [[UInt8]]
                do {
                    proofs = try await ExportProofs(store: store).lines(for: exporter.seqs)
                } catch {
                    throw error.exit()
                }
                let path = out + ".proofs.ndjson"
                guard FileManager.default.createFile(atPath: path, contents: Data(proofs.joined())) else {
                    printError("cannot write to \(path)")
                    throw ExitCode(1)
                }
            }
            if out != nil {
                try handle.close()
                FileHandle.standardError.write(Data("exported \(exporter.count) events to \(out!)\n".utf8))
            }
        }
    }
}
