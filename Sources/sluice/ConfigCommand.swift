import ArgumentParser
import Foundation
import SluiceApp
import SluiceCore

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Work with config files.",
        subcommands: [Check.self]
    )

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check a config file; print every error with the path of the bad key.")

        @Argument(help: "The YAML config file.")
        var file: String

        func run() throws {
            do {
                let config = try ConfigLoader().load(path: file)
                for warning in config.warnings {
                    print("warning: \(file): \(warning)")
                }
                let counts: [(count: Int, noun: String)] = [
                    (config.feeds.count, "feed"), (config.collectors.count, "collector"), (config.destinations.count, "destination"),
                    (config.workflows.count, "workflow"),
                ]
                let parts: [String] = counts.filter { $0.count > 0 || $0.noun == "feed" }.map { item in
                    let plural = item.count == 1 ? "" : "s"
                    return "\(item.count) \(item.noun)\(plural)"
                }
                print("\(file): ok (\(parts.joined(separator: ", ")), storage \(config.storage.location))")
            } catch {
                for issue in error.issues { printError("\(file): \(issue)") }
                throw ExitCode(1)
            }
        }
    }
}

struct SecretCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret",
        abstract: "Generate secrets.",
        subcommands: [Generate.self]
    )

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a new random secret (256 bits).")

        @Flag(name: .long, help: "Print a Standard Webhooks signing secret (whsec_ followed by base64).")
        var standardWebhooks = false

        func run() throws {
            if standardWebhooks {
                var generator = SystemRandomNumberGenerator()
                var bytes: [UInt8] = []
                for _ in 0..<32 { bytes.append(UInt8.random(in: 0...255, using: &generator)) }
                print("whsec_" + Data(bytes).base64EncodedString())
            } else {
                print(SecretGenerator.make(prefix: "sluice_"))
            }
        }
    }
}
