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
            let collector: any PullCollector = switch settings.kind {
            case .incydr(let configuration):
                IncydrCollector(configuration: configuration, store: store, transport: transport, logger: collectorLogger, now: now)
            case .httpPull(let configuration):
                HTTPPullCollector(configuration: configuration, store: store, transport: transport, logger: collectorLogger, now: now)
            }
            return ScheduledCollector(collector: collector, schedule: settings.schedule)
        }
    }
}
