import ArgumentParser
import Foundation
import SluiceApp
import SluiceCore

struct StorageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage",
        abstract: "Inspect and maintain the event store: its size and compression, a full read-back check, moving old rows into the compressed layout.",
        subcommands: [Stats.self, Check.self, Compact.self]
    )

    /// Opens the store of an existing instance; exits 1 naming it when there is none.
    static func open(_ options: StoreOptions, label: String) async throws -> (any SluiceStorage, SluiceConfig) {
        let logger = try options.makeLogger(label: label)
        let config = try options.loadConfig()
        if let missing = config.storage.missingStore {
            printError("\(missing); pass --data-dir or --config of the instance")
            throw ExitCode(1)
        }
        return (try await options.openStore(config, logger: logger), config)
    }

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bytes per event, and the compression ratio per source, log type and dictionary; events not yet compressed."
        )

        @Flag(name: .long, help: "Print one JSON object instead of a table.")
        var json = false

        @OptionGroup var options: StoreOptions

        func run() async throws {
            let (store, config) = try await StorageCommand.open(options, label: "sluice.storage")
            let stats: StorageStats
            do {
                stats = try await store.storageStats()
            } catch {
                throw error.exit()
            }
            print(json ? Self.json(stats, location: config.storage.location) : Self.table(stats, location: config.storage.location), terminator: "")
        }

        static func table(_ s: StorageStats, location: String) -> String {
            var out = "store: \(location)\n"
            let events = s.events + s.uncompressedEvents
            out += "events: \(events) (\(s.events) compressed, \(s.uncompressedEvents) waiting to be compressed)\n"
            out += "database: \(mib(s.databaseBytes)) in use, \(mib(s.fileBytes)) on disk"
            if events > 0 { out += ", \(s.databaseBytes / Int64(events)) B per event (rows, indexes and filter index)" }
            out += "\n"
            if s.rawBytes > 0 {
                out += "payloads: \(mib(s.rawBytes)) received, \(mib(s.storedBytes)) stored, ratio \(ratio(s.rawBytes, s.storedBytes))\n"
            }
            out += "dictionaries: \(s.dictionaries)\n"
            if let paused = s.compactionPaused { out += "compression of old rows is paused: \(paused)\n" }
            guard !s.parts.isEmpty else { return out }
            let header = ["source", "log type", "encoding", "events", "received", "stored", "ratio", "B/event"]
            let rows = s.parts.map { p in
                [p.source, p.logType, p.encoding.description, String(p.events), mib(p.rawBytes), mib(p.storedBytes), ratio(p.rawBytes, p.storedBytes),
                 p.events > 0 ? String(p.storedBytes / Int64(p.events)) : "-"]
            }
            let widths = header.indices.map { i in ([header] + rows).map { $0[i].count }.max() ?? 0 }
            for row in [header] + rows {
                out += zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ") + "\n"
            }
            return out
        }

        static func json(_ s: StorageStats, location: String) -> String {
            let parts = JSONValue.array(s.parts.map { p in
                var members = [
                    JSONMember("source", .string(p.source)), JSONMember("log_type", .string(p.logType)),
                    JSONMember("events", .number(String(p.events))), JSONMember("raw_bytes", .number(String(p.rawBytes))),
                    JSONMember("stored_bytes", .number(String(p.storedBytes))),
                ]
                switch p.encoding {
                case .plain: members.append(JSONMember("encoding", .string("plain")))
                case .zstd: members.append(JSONMember("encoding", .string("zstd")))
                case .dictionary(let id, let bytes):
                    members.append(JSONMember("encoding", .string("zstd+dictionary")))
                    members.append(JSONMember("dictionary", .number(String(id))))
                    members.append(JSONMember("dictionary_bytes", .number(String(bytes))))
                }
                return .object(members)
            })
            var members = [
                JSONMember("store", .string(location)), JSONMember("events", .number(String(s.events))),
                JSONMember("uncompressed_events", .number(String(s.uncompressedEvents))), JSONMember("dictionaries", .number(String(s.dictionaries))),
                JSONMember("database_bytes", .number(String(s.databaseBytes))), JSONMember("file_bytes", .number(String(s.fileBytes))),
                JSONMember("raw_bytes", .number(String(s.rawBytes))), JSONMember("stored_bytes", .number(String(s.storedBytes))),
                JSONMember("parts", parts),
            ]
            if let paused = s.compactionPaused { members.append(JSONMember("compaction_paused", .string(paused))) }
            return String(decoding: JSONValue.object(members).serialized(), as: UTF8.self) + "\n"
        }

        static func mib(_ bytes: Int64) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }

        static func ratio(_ raw: Int64, _ stored: Int64) -> String { stored > 0 ? String(format: "%.2f", Double(raw) / Double(stored)) : "-" }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read every stored event back (decompressing it) and run the database's own check; exit 1 if anything is wrong."
        )

        @Option(name: .long, help: "List at most this many unreadable events.")
        var list = 100

        @OptionGroup var options: StoreOptions

        func run() async throws {
            let (store, _) = try await StorageCommand.open(options, label: "sluice.storage")
            let check: StorageCheck
            do {
                check = try await store.checkStorage(maxReported: max(0, list))
            } catch {
                throw error.exit()
            }
            for event in check.unreadable {
                print("unreadable: event \(event.id) (seq \(event.seq)): \(event.reason)")
            }
            if check.unreadableCount > check.unreadable.count {
                print("... and \(check.unreadableCount - check.unreadable.count) more unreadable events")
            }
            print("checked \(check.checked) events: \(check.unreadableCount) unreadable; database check: \(check.database)")
            if !check.isHealthy { throw ExitCode(1) }
        }
    }

    struct Compact: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move every event still in the layout before compression into it now (a running instance does this in the background)."
        )

        @OptionGroup var options: StoreOptions

        func run() async throws {
            let (store, _) = try await StorageCommand.open(options, label: "sluice.storage")
            do {
                let moved = try await store.compactAll()
                print("compressed \(moved) events")
            } catch {
                throw error.exit()
            }
        }
    }
}
