import Foundation
import Hummingbird
import HummingbirdTesting
import InMemoryLogging
import Logging
import Prometheus
import SluiceApp
import SluiceCore
import SluiceStorePostgres
import SluiceStoreSQLite
import SluiceTesting
import Testing

/// A Sluice instance on a real SQLite file in a temporary directory (or on a store the test
/// opened, such as PostgreSQL), served over a real socket on a loopback port chosen at runtime.
struct TestSluice: Sendable {
    public let prepared: SluiceRuntime.Prepared
    public let directory: TemporaryDirectory
    public let logs: InMemoryLogHandler
    public let logger: Logger

    public static let adminToken = "test-admin-token-0123456789abcdef"
    public static let defaultFeedSecret = "test-default-feed-secret-0123456789"

    /// Prepares an instance from a YAML config (with `{{DIR}}` replaced by the temp directory),
    /// or the embedded default when `yaml` is nil.
    public init(
        yaml: String? = nil,
        environment: [String: String] = [:],
        now: @escaping @Sendable () -> Timestamp = SluiceRuntime.systemNow,
        prometheus: PrometheusCollectorRegistry? = nil,
        adjust: (inout SluiceConfig) -> Void = { _ in },
        store: (any SluiceStorage)? = nil
    ) async throws {
        directory = try TemporaryDirectory()
        var env = ["SLUICE_ADMIN_TOKEN": Self.adminToken, "SLUICE_DEFAULT_FEED_SECRET": Self.defaultFeedSecret]
        env.merge(environment) { $1 }
        var config: SluiceConfig
        if let yaml {
            config = try ConfigLoader(environment: env, dataDirectory: directory.path)
                .load(yaml: yaml.replacingOccurrences(of: "{{DIR}}", with: directory.path))
        } else {
            config = SluiceConfig.embeddedDefault(dataDirectory: directory.path)
        }
        adjust(&config)
        let logs = InMemoryLogHandler()
        var logger = Logger(label: "sluice.test") { _ in logs }
        logger.logLevel = .trace
        self.logs = logs
        self.logger = logger
        if let store {
            prepared = try await SluiceRuntime.prepare(config, store: store, environment: env, prometheus: prometheus, logger: logger, now: now)
        } else {
            prepared = try await SluiceRuntime.prepare(config, environment: env, prometheus: prometheus, logger: logger, now: now)
        }
    }

    public var store: any SluiceStorage { prepared.store }

    /// The store as SQLite, for tests of SQLite's own behaviour (an instance made with a store
    /// of another kind stops the test).
    public var sqliteStore: SQLiteEventStore {
        get throws { try #require(prepared.store as? SQLiteEventStore) }
    }

    /// Serves the instance on 127.0.0.1 (a runtime-chosen port) for the duration of `body`.
    public func withLiveServer<Value: Sendable>(_ body: @Sendable (any TestClientProtocol) async throws -> Value) async throws -> Value {
        let app = SluiceRuntime.buildApplication(prepared, logger: logger, listen: ListenAddress(host: "127.0.0.1", port: 0))
        return try await app.test(.live, body)
    }

    /// Every log line written so far, with its metadata, as text (for secret-leak checks).
    public var allLogText: String {
        logs.entries.map { "\($0.level) \($0.message) \($0.metadata)" }.joined(separator: "\n")
    }

    public func cleanUp() {
        directory.remove()
    }
}
