import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
import SluiceCore
import SluiceEngine
import SluiceHTTP
import SluiceIntegrity
import SluiceServer
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
        /// The checkpoint writer; nil when `integrity.enabled` is false.
        public var integrity: IntegrityService?
        /// The watch over sources with an `expect_events_within`; nil when none has one.
        public var silence: SilenceWatch?

        /// The long-lived services, in the order they start: the store first.
        var services: [any Service] {
            var services: [any Service] = [store]
            // Right after the store: stopped after everything that writes events, so its last
            // checkpoint covers them all.
            if let integrity { services.append(integrity) }
            services.append(dependencies.credentials)
            if let scheduler { services.append(scheduler) }
            if let delivery { services.append(delivery) }
            if let workflows { services.append(workflows) }
            if let silence { services.append(silence) }
            return services
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
        let integrityKey = try integrityKey(config, logger: logger)
        let integrity = integrityKey.map { key in
            IntegrityService(
                checkpointer: IntegrityCheckpointer(store: store, key: key), interval: config.integrity.interval, leases: leases, logger: logger, now: now
            )
        }
        let expectations = config.sourceExpectations
        let silence = expectations.isEmpty ? nil : SilenceWatch(store: store, expectations: expectations, logger: logger, now: now)
        var sourceSilence: (@Sendable () async throws(StoreError) -> [SourceSilence])?
        if let silence { sourceSilence = { () async throws(StoreError) -> [SourceSilence] in try await silence.assess() } }
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
            leases: leases.map { LeaseDirectory(store: $0.store, holder: $0.holder) },
            integrityKey: integrityKey?.publicKey, integrityTrustedKeys: config.integrityTrustedKeys(own: integrityKey?.publicKey),
            sourceSilence: sourceSilence
        )
        return Prepared(
            store: store, dependencies: dependencies, generated: resolved.generated, config: config, scheduler: scheduler, delivery: delivery,
            workflows: workflows, integrity: integrity, silence: silence
        )
    }

    /// The key that signs integrity checkpoints (read, or made on first start), nil when
    /// integrity is off; a key file others can read is refused with the reason.
    static func integrityKey(_ config: SluiceConfig, logger: Logger) throws(StoreError) -> IntegrityKey? {
        guard config.integrity.enabled else { return nil }
        do {
            guard let (key, created) = try config.integritySigningKey(create: true) else { return nil }
            if created {
                logger.notice("made the integrity checkpoint key", metadata: [
                    "integrity.key_file": "\(config.integrity.keyPath(storage: config.storage))", "integrity.key_id": "\(key.publicKey.id)",
                ])
            }
            return key
        } catch {
            throw StoreError(.invalidRequest, "integrity: \(error.message) (or set integrity.key_file, or integrity.enabled: false)")
        }
    }

    /// The Hummingbird application for a prepared runtime; `sluice serve` and the tests both use
    /// it. Its one service group holds, in order, the store, the credentials, the collectors,
    /// the delivery loops, the workflows, the retention purge and, last, the HTTP server: a
    /// graceful shutdown stops them last to first, so the server finishes its requests (and their
    /// commits) first and the store closes after everything that uses it.
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
            services: prepared.services + [retention],
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

    /// Runs `collectors` on their schedules in the foreground until SIGTERM or SIGINT, in one
    /// service group after the store they write to.
    public static func runOnSchedule(
        _ collectors: [ScheduledCollector], store: any SluiceStorage, leases: LeaseSettings?, logger: Logger,
        now: @escaping @Sendable () -> Timestamp = systemNow
    ) async throws {
        let scheduler = CollectorScheduler(collectors: collectors, leases: leases, logger: logger, now: now)
        let group = ServiceGroup(configuration: .init(services: [store, scheduler], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
