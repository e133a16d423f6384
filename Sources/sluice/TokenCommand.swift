import ArgumentParser
import Foundation
import SluiceApp
import SluiceCore

/// `sluice token create|list|revoke`: admin API tokens issued and kept (as digests) in the store.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Issue, list and revoke admin API tokens.",
        discussion: """
            Tokens live in the store, beside those of the config file (server.admin_tokens), and work \
            for the API and the web UI. A running `sluice serve` picks up a change within 5 seconds. \
            Each change is recorded in Sluice's audit log with your login.
            """,
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Issue a token and print it once (only its SHA-256 is kept).")

        @Argument(help: "The token's name: 1 to 64 letters, digits, '-', '_' or '.'. The audit log names its user by it.")
        var name: String

        @Option(name: .long, help: "admin (read and change) or viewer (read only).")
        var role: String = AdminRole.viewer.rawValue

        @OptionGroup var options: StoreOptions

        func run() async throws {
            guard let chosen = AdminRole(rawValue: role) else {
                printError("--role \(role) is not a role; use admin or viewer")
                throw ExitCode(2)
            }
            let administration = try await options.credentialAdministration(label: "sluice.token")
            let (token, credential) = try await exitOnRefusal { () async throws(CredentialAdministrationError) in
                try await administration.createAdminToken(name: name, role: chosen, by: .commandLine)
            }
            print(String(decoding: JSONValue.object([
                JSONMember("name", .string(name)), JSONMember("role", .string(chosen.rawValue)), JSONMember("id", .number(String(credential.id))),
                JSONMember("token", .string(token)),
            ]).serialized(), as: UTF8.self))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List issued tokens (revoked ones too), never their values.")

        @OptionGroup var options: StoreOptions

        func run() async throws {
            let administration = try await options.credentialAdministration(label: "sluice.token")
            let tokens = try await exitOnRefusal { () async throws(CredentialAdministrationError) in try await administration.adminTokens() }
            let now = SluiceRuntime.systemNow()
            for token in tokens { print(String(decoding: token.summary(at: now).serialized(), as: UTF8.self)) }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an issued token; its API calls and web sessions stop.")

        @Argument(help: "The token's name.")
        var name: String

        @OptionGroup var options: StoreOptions

        func run() async throws {
            let administration = try await options.credentialAdministration(label: "sluice.token")
            let revoked = try await exitOnRefusal { () async throws(CredentialAdministrationError) in
                try await administration.revokeAdminToken(name: name, by: .commandLine)
            }
            print("{\"name\":\(JSONValue.quoted(name)),\"revoked_ids\":[\(revoked.map { String($0.id) }.joined(separator: ","))]}")
        }
    }
}

extension StoreOptions {
    /// Credential administration over the store the config names.
    func credentialAdministration(label: String) async throws -> CredentialAdministration {
        let config = try loadConfig()
        let store = try await openStore(config, logger: try makeLogger(label: label))
        return config.credentialAdministration(store: store, now: SluiceRuntime.systemNow)
    }
}
