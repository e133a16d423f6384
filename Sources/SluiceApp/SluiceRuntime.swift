import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
import SluiceCore
import SluiceDestinations
import SluiceEngine
import SluiceHTTP
import SluiceServer
import SluiceSources
import SluiceStorePostgres
import SluiceStoreSQLite
import SluiceWorkflows
import UnixSignals

/// The composition root: from a typed config to a running set of services.
public enum SluiceRuntime {
    /// Wall-clock time as a ``Timestamp``.
    @Sendable public static func systemNow() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(microseconds: Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1_000)
    }

    /// Opens the SQLite store of `config` (which must not name PostgreSQL: that store runs only
    /// inside ``withStore(_:logger:_:)`` or a ``StorageScope``).
    static func openStore(_ config: SluiceConfig, logger: Logger) throws(StoreError) -> SQLiteEventStore {
        try SQLiteEventStore(configuration: config.storage.sqlite, logger: logger)
    }

    /// Runs `body` with the store `config` names: PostgreSQL (its connection pool and group-commit
    /// writer running, migrations applied) when `storage.postgres` is set, else SQLite.
    public static func withStore<Result: Sendable>(
        _ config: SluiceConfig, logger: Logger, _ body: (any SluiceStorage) async throws -> Result
    ) async throws -> Result {
        if let postgres = config.storage.postgres {
            return try await PostgresEventStore.withStore(configuration: postgres, logger: logger) { try await body($0) }
        }
        let store = try openStore(config, logger: logger)
        let result: Result
        do {
            result = try await body(store)
        } catch {
            await store.close()
            throw error
        }
        await store.close()
        return result
    }

    /// Everything needed to serve: the store, resolved credentials, the router's dependencies.
    public struct Prepared: Sendable {
        public var store: any SluiceStorage
        public var dependencies: ServerDependencies
        public var generated: GeneratedCredentials
        public var config: SluiceConfig
        /// The configured collectors, scheduled; nil when there are none.
        public var scheduler: CollectorScheduler?
        /// The delivery loops of the configured destinations; nil when there are none.
        public var delivery: DeliveryService?
        /// The configured workflows; nil when there are none.
        public var workflows: WorkflowService?
    }

    /// The destinations of `config`, each with the shared outbound transport and its own SSRF guard.
    public static func makeDestinations(
        _ config: SluiceConfig, transport: HTTPTransport = .shared, now: @escaping @Sendable () -> Timestamp
    ) -> [ConfiguredDestination] {
        config.destinations.map { settings in
            let guardrail = OutboundURLGuard(allowPrivateNetworks: settings.allowPrivateNetworks)
            let destination: any Destination
            switch settings.kind {
            case .chronicleWebhook(let c):
                destination = ChronicleWebhookDestination(configuration: c, transport: transport, guardrail: guardrail, timeout: settings.timeout)
            case .splunkHEC(let c):
                destination = SplunkHECDestination(configuration: c, transport: transport, guardrail: guardrail, timeout: settings.timeout)
            case .https(var c, let grant):
                if let grant {
                    // The token URL passes the destination's guard, like its URL.
                    let guarded = transport.guarded(by: guardrail)
                    c.authorization = .clientCredentials(AccessTokenCache { try await grant.request(using: guarded) })
                }
                destination = HTTPSDestination(configuration: c, transport: transport, guardrail: guardrail, timeout: settings.timeout)
            case .file(let c):
                destination = FileDestination(configuration: c, now: now)
            case .s3(let c):
                destination = S3Destination(configuration: c, transport: transport, guardrail: guardrail, timeout: settings.timeout)
            case .gcs(let c, let grant):
                let tokens = AccessTokenCache { try await grant.request(using: transport, guardrail: guardrail) }
                destination = GCSDestination(configuration: c, tokens: tokens, transport: transport, guardrail: guardrail, timeout: settings.timeout)
            case .chronicleImport(let c, let grant):
                let tokens = AccessTokenCache { try await grant.request(using: transport, guardrail: guardrail) }
                destination = ChronicleImportDestination(configuration: c, tokens: tokens, transport: transport, guardrail: guardrail, timeout: settings.timeout)
            }
            return ConfiguredDestination(destination: destination, settings: settings.delivery)
        }
    }

    /// The collectors of `config`, each with the shared outbound transport.
    public static func makeCollectors(
        _ config: SluiceConfig, store: any EventStore, transport: HTTPTransport = .shared, logger: Logger,
        now: @escaping @Sendable () -> Timestamp
    ) -> [ScheduledCollector] {
        config.collectors.map { settings in
            var collectorLogger = logger
            collectorLogger[metadataKey: "collector.name"] = "\(settings.name)"
            return ScheduledCollector(
                collector: IncydrCollector(configuration: settings.incydr, store: store, transport: transport, logger: collectorLogger, now: now),
                schedule: settings.schedule
            )
        }
    }

    public static func prepare(
        _ config: SluiceConfig,
        environment: [String: String],
        prometheus: PrometheusCollectorRegistry?,
        logger: Logger,
        now: @escaping @Sendable () -> Timestamp = systemNow
    ) async throws(StoreError) -> Prepared {
        try await prepare(config, store: try openStore(config, logger: logger), environment: environment, prometheus: prometheus, logger: logger, now: now)
    }

    /// Prepares to serve on an open store (from ``withStore(_:logger:_:)``).
    public static func prepare(
        _ config: SluiceConfig,
        store: any SluiceStorage,
        environment: [String: String],
        prometheus: PrometheusCollectorRegistry?,
        logger: Logger,
        now: @escaping @Sendable () -> Timestamp = systemNow
    ) async throws(StoreError) -> Prepared {
        let resolved = try await CredentialBootstrap(store: store, environment: environment, now: now).resolve(config, logger: logger)
        let leases = leaseSettings(config, store: store)
        let collectors = makeCollectors(config, store: store, logger: logger, now: now)
        let scheduler = collectors.isEmpty ? nil : CollectorScheduler(collectors: collectors, leases: leases, logger: logger, now: now)
        let destinations = makeDestinations(config, now: now)
        let delivery = destinations.isEmpty
            ? nil : DeliveryService(destinations: destinations, routes: config.routes, ledger: store, leases: leases, logger: logger, now: now)
        let workflows = config.workflows.isEmpty
            ? nil : WorkflowService(definitions: config.workflows, journal: store, transport: .shared, leases: leases, logger: logger, now: now)
        let dependencies = ServerDependencies(
            store: store,
            storeSize: { await store.storedBytes() },
            feeds: resolved.feeds,
            ingestionKey: resolved.ingestionKey,
            credentials: resolved.credentials,
            credentialAdministration: config.credentialAdministration(store: store, now: now),
            prometheus: prometheus,
            now: now,
            readinessProblem: { (try? await store.capacityProblem()) ?? nil },
            collectors: scheduler,
            destinations: delivery,
            workflows: workflows?.control,
            leases: leases.map { LeaseDirectory(store: $0.store, holder: $0.holder) }
        )
        return Prepared(
            store: store, dependencies: dependencies, generated: resolved.generated, config: config, scheduler: scheduler, delivery: delivery,
            workflows: workflows
        )
    }

    /// The Hummingbird application for a prepared runtime (with the retention purge as a
    /// service); `sluice serve` and the tests both use it.
    public static func buildApplication(
        _ prepared: Prepared,
        logger: Logger,
        listen: ListenAddress? = nil,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let address = listen ?? prepared.config.server.listen
        let retention = RetentionService(
            store: prepared.store,
            settings: .init(
                days: prepared.config.retention.days,
                batchSize: prepared.config.retention.batchSize,
                interval: .seconds(prepared.config.retention.intervalSeconds)
            ),
            logger: logger,
            now: prepared.dependencies.now
        )
        return Application(
            router: buildRouter(prepared.dependencies),
            server: .http1(configuration: .init(idleTimeout: .seconds(Int64(prepared.config.server.idleTimeoutSeconds)))),
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: "sluice"),
            services: [retention, prepared.dependencies.credentials] + (prepared.scheduler.map { [$0] } ?? []) + (prepared.delivery.map { [$0] } ?? [])
                + (prepared.workflows.map { [$0] } ?? []),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger
        )
    }

    /// Runs until SIGTERM or SIGINT, then stops accepting connections, finishes in-flight
    /// requests (and so their commits), and returns.
    public static func serve(
        _ prepared: Prepared,
        logger: Logger,
        listen: ListenAddress? = nil,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws {
        let app = buildApplication(prepared, logger: logger, listen: listen, onRunning: onRunning)
        let group = ServiceGroup(
            configuration: .init(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
    }

    /// Runs `collectors` on their schedules in the foreground until SIGTERM or SIGINT.
    /// Several instances share a PostgreSQL store: each collector, destination and workflow then
    /// runs on whichever process holds its lease. One process owns a SQLite file: no leases.
    public static func leaseSettings(_ config: SluiceConfig, store: any LeaseStore) -> LeaseSettings? {
        config.storage.postgres.map { postgres in
            LeaseSettings(
                store: store, holder: InstanceIdentity.make(host: ProcessInfo.processInfo.hostName, processID: ProcessInfo.processInfo.processIdentifier),
                duration: postgres.leaseDuration
            )
        }
    }

    public static func runOnSchedule(
        _ collectors: [ScheduledCollector], leases: LeaseSettings?, logger: Logger, now: @escaping @Sendable () -> Timestamp = systemNow
    ) async throws {
        let scheduler = CollectorScheduler(collectors: collectors, leases: leases, logger: logger, now: now)
        let group = ServiceGroup(configuration: .init(services: [scheduler], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
