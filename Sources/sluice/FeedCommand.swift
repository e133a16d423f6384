import ArgumentParser
import Foundation
import SluiceApp
import SluiceCore

struct FeedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feed",
        abstract: "Work with push feeds: their URL, and the secrets Sluice issues for them.",
        subcommands: [URLCommand.self, RotateSecret.self, Secrets.self, RevokeSecret.self]
    )

    struct RotateSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-secret",
            abstract: "Issue a new secret for a feed and print it once; the feed's other issued secrets stay valid for the grace period.",
            discussion: """
                Secrets written in the config file stay valid until removed there. A running `sluice serve`                 accepts the new secret within 5 seconds. Recorded in Sluice's audit log with your login.
                """
        )

        @Argument(help: "The feed name.")
        var feed: String

        @Option(name: .long, help: "How long the feed's current issued secrets stay valid: 0s to 30d.")
        var grace: String = "24h"

        @OptionGroup var options: StoreOptions

        func run() async throws {
            guard let seconds = DurationText.seconds(grace) else {
                printError("--grace \(grace) is not a duration such as 0s, 30m, 24h or 7d")
                throw ExitCode(2)
            }
            let administration = try await options.credentialAdministration(label: "sluice.feed")
            let result = try await exitOnRefusal { () async throws(CredentialAdministrationError) in
                try await administration.rotateFeedSecret(feed: feed, grace: .seconds(seconds), by: .commandLine)
            }
            print(String(decoding: JSONValue.object([
                JSONMember("feed", .string(feed)),
                JSONMember("secret", .object([JSONMember("id", .number(String(result.credential.id))), JSONMember("value", .string(result.secret))])),
                JSONMember("retiring", .array(result.retired.map { old in
                    .object([JSONMember("id", .number(String(old.id))), JSONMember("expires_at", old.expiresAt.map { .string($0.rfc3339) } ?? .null)])
                })),
            ]).serialized(), as: UTF8.self))
        }
    }

    struct Secrets: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a feed's issued secrets (ids and states, never values).")

        @Argument(help: "The feed name.")
        var feed: String

        @OptionGroup var options: StoreOptions

        func run() async throws {
            let administration = try await options.credentialAdministration(label: "sluice.feed")
            let secrets = try await exitOnRefusal { () async throws(CredentialAdministrationError) in try await administration.feedSecrets(feed: feed) }
            let now = SluiceRuntime.systemNow()
            for secret in secrets { print(String(decoding: secret.summary(at: now).serialized(), as: UTF8.self)) }
        }
    }

    struct RevokeSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke-secret", abstract: "Stop accepting one of a feed's issued secrets at once."
        )

        @Argument(help: "The feed name.")
        var feed: String

        @Argument(help: "The secret's id (sluice feed secrets FEED lists them).")
        var id: Int64

        @OptionGroup var options: StoreOptions

        func run() async throws {
            let administration = try await options.credentialAdministration(label: "sluice.feed")
            let revoked = try await exitOnRefusal { () async throws(CredentialAdministrationError) in
                try await administration.revokeFeedSecret(feed: feed, id: id, by: .commandLine)
            }
            print("{\"feed\":\(JSONValue.quoted(feed)),\"revoked_id\":\(revoked.id)}")
        }
    }

    struct URLCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "url",
            abstract: "Print a feed's push URL with the key and secret filled in, for senders that only take a URL."
        )

        @Argument(help: "The feed name.")
        var feed: String

        @Option(name: .long, help: "Sluice's public base URL, e.g. https://sluice.example.com")
        var base: String

        @Option(name: .long, help: "The feed secret (default: from the config file, or SLUICE_DEFAULT_FEED_SECRET for the default feed).")
        var secret: String?

        @Flag(name: .long, help: "Print the Chronicle-compatible :importPushLogs path instead of /v1/feeds/FEED/events.")
        var chronicle = false

        @OptionGroup var options: StoreOptions

        func run() throws {
            guard var components = URLComponents(string: base), let scheme = components.scheme, ["http", "https"].contains(scheme), components.host != nil else {
                printError("--base \(base) is not an http(s) URL such as https://sluice.example.com")
                throw ExitCode(2)
            }
            let config = try options.loadConfig()
            guard let settings = config.feeds.first(where: { $0.name == feed }) else {
                printError("no feed named \"\(feed)\"; configured feeds: \(config.feeds.map(\.name).sorted().joined(separator: ", "))")
                throw ExitCode(1)
            }
            let environment = ProcessInfo.processInfo.environment
            var feedSecret = secret
            switch settings.auth {
            case .sharedSecrets(let secrets):
                feedSecret = feedSecret ?? secrets.first
            case .generatedSecret:
                feedSecret = feedSecret ?? environment["SLUICE_DEFAULT_FEED_SECRET"]
                if feedSecret == nil {
                    printError("feed \"\(feed)\" keeps only a hash of its generated secret; pass --secret or set SLUICE_DEFAULT_FEED_SECRET")
                    throw ExitCode(1)
                }
            case .standardWebhooks, .bearer:
                printError("feed \"\(feed)\" authenticates by signature or bearer token, which cannot travel in a URL")
                throw ExitCode(1)
            }
            let basePath = components.path.hasSuffix("/") ? String(components.path.dropLast()) : components.path
            components.path = basePath + (chronicle
                ? "/v1alpha/projects/sluice/locations/local/instances/sluice/feeds/\(feed):importPushLogs"
                : "/v1/feeds/\(feed)/events")
            var query: [URLQueryItem] = []
            if let key = config.server.ingestionKey { query.append(URLQueryItem(name: "key", value: key)) }
            query.append(URLQueryItem(name: "secret", value: feedSecret))
            components.queryItems = query
            // URLQueryItem leaves '+' alone, which servers read as a space.
            components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
            print(components.string ?? "")
        }
    }
}
