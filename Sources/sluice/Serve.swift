import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import SluiceApp
import SluiceCore
import SluiceServer

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run Sluice: push feeds, query API, metrics.")

    @OptionGroup var options: StoreOptions

    @Option(name: .long, help: "Address to listen on, HOST:PORT (overrides server.listen; default 127.0.0.1:8080).")
    var listen: String?

    func run() async throws {
        let logger = try options.makeLogger(label: "sluice")
        var config = try options.loadConfig()
        if let listen {
            guard let address = ListenAddress(listen) else {
                printError("--listen \(listen) is not HOST:PORT (for example 127.0.0.1:8080 or [::1]:8080)")
                throw ExitCode(2)
            }
            config.server.listen = address
        }
        for warning in config.warnings {
            logger.warning("config: \(warning)")
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        do {
            try await SluiceRuntime.withStore(config, logger: logger) { store in
                try await Self.serve(config, store: store, prometheus: registry, logger: logger)
            }
        } catch let error as StoreError {
            throw error.exit()
        }
        logger.info("sluice stopped")
    }

    /// Prepares and serves on an open store until a graceful shutdown.
    static func serve(_ config: SluiceConfig, store: any SluiceStorage, prometheus registry: PrometheusCollectorRegistry, logger: Logger) async throws {
        let prepared = try await SluiceRuntime.prepare(
            config, store: store, environment: ProcessInfo.processInfo.environment, prometheus: registry, logger: logger
        )
        let generated = prepared.generated
        let feedNames = prepared.dependencies.feeds.keys.sorted()
        try await Self.recordStart(prepared, config: config, feeds: feedNames)
        logger.info("sluice starting", metadata: config.storage.logMetadata.merging([
            "feeds": "\(feedNames.joined(separator: ","))",
            "config.sha256": "\(config.fileDigest ?? "embedded-default")",
        ]) { $1 })
        let host = config.server.listen.host
        try await SluiceRuntime.serve(prepared, logger: logger) { port in
            let base = "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
            var lines = ["Sluice is listening on \(base)"]
            if !generated.isEmpty {
                lines.append("")
                lines.append("First start: these credentials were generated and are shown only now (only their hashes are stored):")
                if let token = generated.adminToken {
                    lines.append("  admin API token (Authorization: Bearer):  \(token)")
                }
                for (feed, secret) in generated.feedSecrets {
                    lines.append("  feed \"\(feed)\" secret (X-Webhook-Access-Key):  \(secret)")
                    lines.append("  push URL: \(base)/v1/feeds/\(feed)/events")
                }
                lines.append("Set SLUICE_ADMIN_TOKEN and SLUICE_DEFAULT_FEED_SECRET to choose these values yourself.")
            }
            FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
        }
    }

    /// `sluice.config_loaded`: the file's hash and what it configures, never a secret. (Credentials
    /// generated at a first start were recorded when they were stored.)
    static func recordStart(_ prepared: SluiceRuntime.Prepared, config: SluiceConfig, feeds: [String]) async throws(StoreError) {
        let now = SluiceRuntime.systemNow()
        func names(_ list: [String]) -> JSONValue { .array(list.map { .string($0) }) }
        try await prepared.store.record(
            AdminAuditEntry(
                action: "sluice.config_loaded", actor: AdminAuditEntry.system,
                metadata: [
                    JSONMember("config_sha256", .string(config.fileDigest ?? "embedded-default")), JSONMember("feeds", names(feeds)),
                    JSONMember("collectors", names(config.collectors.map(\.name))), JSONMember("destinations", names(config.destinations.map(\.name))),
                ],
                occurredAt: now
            )
        )
    }
}
