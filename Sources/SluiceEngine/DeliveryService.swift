import Logging
import ServiceLifecycle
import SluiceCore
import SluiceDestinations

/// A destination with the routes that feed it and how its loop behaves.
public struct ConfiguredDestination: Sendable {
    public var destination: any Destination
    public var settings: DeliverySettings

    public init(destination: any Destination, settings: DeliverySettings) {
        self.destination = destination
        self.settings = settings
    }
}

/// Runs one delivery loop per destination inside `sluice serve`. The loops share nothing but
/// the store, so one slow or failing destination never delays another. With `leases`, each
/// destination is delivered by whichever instance holds its lease (`destination/NAME`).
public final class DeliveryService: Service, DestinationControl {
    let loops: [String: DeliveryLoop]
    let ledger: any DeliveryLedger
    public let administration: DestinationAdministration
    let leases: LeaseSettings?
    let now: @Sendable () -> Timestamp
    let logger: Logger

    public init(
        destinations: [ConfiguredDestination], routes: [DeliveryRoute], ledger: any DeliveryLedger, leases: LeaseSettings? = nil, logger: Logger,
        now: @escaping @Sendable () -> Timestamp
    ) {
        var loops: [String: DeliveryLoop] = [:]
        for configured in destinations {
            let name = configured.destination.name
            var destinationLogger = logger
            destinationLogger[metadataKey: "destination.name"] = "\(name)"
            loops[name] = DeliveryLoop(
                destination: configured.destination, selection: RouteSelection(destination: name, routes: routes), ledger: ledger,
                settings: configured.settings, state: DestinationState(name: name), logger: destinationLogger, now: now
            )
        }
        self.loops = loops
        self.ledger = ledger
        self.administration = DestinationAdministration(ledger: ledger, destinations: destinations.map(\.destination.name), now: now)
        self.leases = leases
        self.now = now
        self.logger = logger
    }

    /// Runs the loops until cancelled or graceful shutdown; a batch in flight is abandoned (and
    /// sent again after restart), never half-committed.
    public func run() async throws {
        await LeasedWork.runEach(loops.map { name, loop in ("destination/\(name)", loop.logger, { fence in await loop.run(fence: fence) }) }, settings: leases)
    }

    public func statuses() async throws(StoreError) -> [DestinationStatus] {
        var out: [DestinationStatus] = []
        let cap = 1_000_000
        for name in loops.keys.sorted() {
            let loop = loops[name]!
            let cursor = try await ledger.consumerCursor(name)
            let backlog = try await ledger.backlog(afterSeq: cursor, routes: loop.selection.routes, cap: cap)
            let snapshot = loop.state.snapshot
            let lag = backlog.oldest.map { Double(max(0, now().microseconds - $0.microseconds)) / 1e6 } ?? 0
            // Looking counts as a sample: a loop retrying one batch reads nothing new meanwhile.
            loop.state.lag(seconds: lag, at: now())
            var status = DestinationStatus(
                name: name, type: loop.destination.type, cursor: cursor, lagEvents: backlog.count, lagEventsCapped: backlog.count >= cap,
                lagSeconds: lag, lastSuccess: snapshot.lastSuccess, lastError: snapshot.lastError, lastErrorAt: snapshot.lastErrorAt,
                pausedReason: try await ledger.hold(destination: name)?.description ?? snapshot.pausedReason, deadLetters: try await ledger.deadLetterCount(destination: name),
                delivered: snapshot.delivered, retried: snapshot.retried, deadLettered: snapshot.deadLettered,
                openReplays: try await ledger.openReplays(destination: name)
            )
            status.lagLastHour = loop.state.lagLastHour(endingAt: now())
            out.append(status)
        }
        return out
    }
}
