import ArgumentParser
import Foundation
import SluiceApp
import SluiceCore

struct FeedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feed",
        abstract: "Work with push feeds.",
        subcommands: [URLCommand.self]
    )

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
