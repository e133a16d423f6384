import SluiceCore
import SluiceDestinations
import SluiceEngine
import SluiceHTTP

/// The configured destinations, built.
extension SluiceRuntime {
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
}
