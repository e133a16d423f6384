import Logging
import SluiceCore
import SluiceEngine
import SluiceHTTP
import SluiceSources

/// The configured collectors, built.
extension SluiceRuntime {
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
}
