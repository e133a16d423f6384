import Hummingbird
import Logging
import Prometheus
import SluiceCore
import SluiceDestinations
import SluiceIntegrity
import SluiceSources
import SluiceWorkflows

/// Everything the HTTP layer needs, built by the composition root.
public struct ServerDependencies: Sendable {
    public var store: any EventStore
    public var storeSize: @Sendable () async -> Int64
    public var feeds: [String: PushFeed]
    public var ingestionKey: SecretDigest?
    /// The admin tokens and issued feed secrets accepted now.
    public var credentials: CredentialRegistry
    /// Issues, rotates and revokes them, with their audit entries.
    public var credentialAdministration: CredentialAdministration
    public var prometheus: PrometheusCollectorRegistry?
    public var now: @Sendable () -> Timestamp
    /// Why the instance should not receive traffic (for `/readyz`), beyond the store not answering.
    public var readinessProblem: @Sendable () async -> String?
    /// The running collectors (nil when none are configured).
    public var collectors: (any CollectorControl)?
    /// The running destinations (nil when none are configured).
    public var destinations: (any DestinationControl)?
    /// The configured workflows (nil when none are configured).
    public var workflows: (any WorkflowControl)?
    /// Who holds which collector, destination and workflow, and this instance's holder name
    /// (nil on a single-instance store).
    public var leases: LeaseDirectory?
    /// The key that signs integrity checkpoints (nil while integrity is off).
    public var integrityKey: IntegrityPublicKey?
    /// The keys verification trusts: the signing key and those used before a rotation.
    public var integrityTrustedKeys: [IntegrityPublicKey]
    /// The sources with an `expect_events_within`, as of now (nil when none is configured).
    public var sourceSilence: (@Sendable () async throws(StoreError) -> [SourceSilence])?

    public init(
        store: any EventStore,
        storeSize: @escaping @Sendable () async -> Int64 = { 0 },
        feeds: [String: PushFeed],
        ingestionKey: SecretDigest?,
        credentials: CredentialRegistry,
        credentialAdministration: CredentialAdministration,
        prometheus: PrometheusCollectorRegistry?,
        now: @escaping @Sendable () -> Timestamp,
        readinessProblem: @escaping @Sendable () async -> String? = { nil },
        collectors: (any CollectorControl)? = nil,
        destinations: (any DestinationControl)? = nil,
        workflows: (any WorkflowControl)? = nil,
        leases: LeaseDirectory? = nil,
        integrityKey: IntegrityPublicKey? = nil,
        integrityTrustedKeys: [IntegrityPublicKey]? = nil,
        sourceSilence: (@Sendable () async throws(StoreError) -> [SourceSilence])? = nil
    ) {
        self.sourceSilence = sourceSilence
        self.integrityKey = integrityKey
        self.integrityTrustedKeys = integrityTrustedKeys ?? (integrityKey.map { [$0] } ?? [])
        self.workflows = workflows
        self.leases = leases
        self.collectors = collectors
        self.destinations = destinations
        self.store = store
        self.storeSize = storeSize
        self.feeds = feeds
        self.ingestionKey = ingestionKey
        self.credentials = credentials
        self.credentialAdministration = credentialAdministration
        self.prometheus = prometheus
        self.now = now
        self.readinessProblem = readinessProblem
    }
}

/// Builds the router that `sluice serve` and the tests both use.
public func buildRouter(_ dependencies: ServerDependencies) -> Router<SluiceRequestContext> {
    let router = Router(context: SluiceRequestContext.self)
    router.add(middleware: ErrorEnvelopeMiddleware())
    let activity = FeedActivity(now: dependencies.now)
    PushController(
        feeds: dependencies.feeds,
        credentials: dependencies.credentials,
        authenticator: FeedAuthenticator(ingestionKey: dependencies.ingestionKey),
        ingestor: PushIngestor(store: dependencies.store),
        now: dependencies.now,
        auditLog: dependencies.store,
        metrics: PushMetrics(activity: activity)
    ).addRoutes(to: router)
    let operations = OperationsController(
        store: dependencies.store, storeSize: dependencies.storeSize, readinessProblem: dependencies.readinessProblem,
        prometheus: dependencies.prometheus,
        feeds: dependencies.feeds, ingestionKeyConfigured: dependencies.ingestionKey != nil
    )
    operations.addRoutes(to: router)
    // Per-route request metrics on the admin API only: the push path counts its own requests
    // and events per feed, and the generic middleware cost about a fifth of the request ceiling.
    let admin = router.group("v1")
        .add(middleware: MetricsMiddleware())
        .add(middleware: AdminAuthMiddleware(credentials: dependencies.credentials, now: dependencies.now))
    EventsController(store: dependencies.store, now: dependencies.now).addRoutes(to: admin)
    operations.addAdminRoutes(to: admin)
    CollectorsController(control: dependencies.collectors).addRoutes(to: admin)
    DestinationsController(control: dependencies.destinations).addRoutes(to: admin)
    WorkflowsController(control: dependencies.workflows).addRoutes(to: admin)
    CredentialsController(credentials: dependencies.credentials, administration: dependencies.credentialAdministration).addRoutes(to: admin)
    LeasesController(leases: dependencies.leases, now: dependencies.now).addRoutes(to: admin)
    let integrity = IntegrityVerification(
        store: dependencies.store, key: dependencies.integrityKey, trusted: dependencies.integrityTrustedKeys, now: dependencies.now
    )
    IntegrityController(store: dependencies.store, verification: integrity).addRoutes(to: admin)
    let gate = WebGate(sessions: WebSessions(), credentials: dependencies.credentials, now: dependencies.now)
    WebOperationsController(
        gate: gate, store: dependencies.store, feeds: dependencies.feeds, ingestionKeyConfigured: dependencies.ingestionKey != nil, activity: activity,
        administration: dependencies.credentialAdministration, collectors: dependencies.collectors, destinations: dependencies.destinations,
        workflows: dependencies.workflows, sourceSilence: dependencies.sourceSilence
    ).addRoutes(to: router)
    WebUIController(store: dependencies.store, integrity: integrity, gate: gate, strip: SilenceStrip(assess: dependencies.sourceSilence))
        .addRoutes(to: router)
    return router
}

/// Turns Hummingbird's own errors (unknown route, wrong method, oversized body) into the same
/// JSON envelope as Sluice's, so a client parses one error shape.
struct ErrorEnvelopeMiddleware: RouterMiddleware {
    typealias Context = SluiceRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            throw APIError(error.status, error.body ?? "\(error.status.reasonPhrase)", headers: error.headers)
        }
    }
}
