import Logging
import SluiceCore
import SluiceServer
import SluiceSources
import SluiceStorePostgres
import SluiceStoreSQLite

/// Credentials Sluice made for itself on first start. Their values exist only here, to be shown
/// once; the store keeps digests.
public struct GeneratedCredentials: Sendable {
    public var adminToken: String?
    public var feedSecrets: [(feed: String, secret: String)] = []

    public var isEmpty: Bool { adminToken == nil && feedSecrets.isEmpty }
}

/// Resolves the admin tokens and feed authentication for a config: configured secrets become
/// digests; where the config has none (the embedded default), a value comes from the environment
/// (`SLUICE_ADMIN_TOKEN`, `SLUICE_DEFAULT_FEED_SECRET`), from the store (issued at an earlier
/// start, or through the API or CLI), or is generated now. Each issued secret is stored with its
/// audit entry in one transaction.
public struct CredentialBootstrap: Sendable {
    public static let generatedAdminName = "admin"

    let store: any SluiceStorage
    let environment: [String: String]
    let now: @Sendable () -> Timestamp

    public init(store: any SluiceStorage, environment: [String: String], now: @escaping @Sendable () -> Timestamp) {
        self.store = store
        self.environment = environment
        self.now = now
    }

    public struct Resolved: Sendable {
        public var credentials: CredentialRegistry
        public var feeds: [String: PushFeed]
        public var ingestionKey: SecretDigest?
        public var generated: GeneratedCredentials
    }

    public func resolve(_ config: SluiceConfig, logger: Logger) async throws(StoreError) -> Resolved {
        var generated = GeneratedCredentials()
        let configuredAdmin = config.server.adminTokens.map { AdminToken(name: $0.name, role: $0.role, digest: SecretDigest(of: $0.token)) }
        if configuredAdmin.isEmpty {
            generated.adminToken = try await ensureSecret(
                kind: .adminToken, name: Self.generatedAdminName, role: AdminRole.admin.rawValue, environmentName: "SLUICE_ADMIN_TOKEN", prefix: "sluice_admin_",
                auditAction: "admin_token.created", target: AuditTarget(type: "admin_token", id: Self.generatedAdminName)
            )
        }
        var feeds: [String: PushFeed] = [:]
        for feed in config.feeds {
            let authentication: FeedAuthentication
            switch feed.auth {
            case .sharedSecrets(let secrets):
                authentication = .sharedSecret(secrets.map(SecretDigest.init(of:)))
            case .generatedSecret:
                if let fresh = try await ensureSecret(
                    kind: .feedSecret, name: feed.name, role: nil, environmentName: feed.name == "default" ? "SLUICE_DEFAULT_FEED_SECRET" : nil,
                    prefix: "sluice_feed_", auditAction: "feed.secret_created", target: AuditTarget(type: "feed", id: feed.name)
                ) {
                    generated.feedSecrets.append((feed.name, fresh))
                }
                // All of this feed's secrets are issued ones, which the registry supplies.
                authentication = .sharedSecret([])
            case .standardWebhooks(let secrets, let tolerance):
                let keys = secrets.compactMap(StandardWebhooksVerifier.keyBytes(fromSecret:))
                authentication = .standardWebhooks(StandardWebhooksVerifier(keys: keys, tolerance: .seconds(tolerance)))
            case .bearer(let tokens):
                authentication = .bearer(tokens.map(SecretDigest.init(of:)))
            }
            feeds[feed.name] = PushFeed(
                name: feed.name, logType: feed.logType, authentication: authentication,
                normalizer: feed.normalizer, limits: feed.limits
            )
        }
        let issued = try await store.managedCredentials(kind: nil, name: nil)
        return Resolved(
            credentials: CredentialRegistry(configuredAdminTokens: configuredAdmin, managed: issued, store: store, logger: logger),
            feeds: feeds,
            ingestionKey: config.server.ingestionKey.map(SecretDigest.init(of:)),
            generated: generated
        )
    }

    /// Makes sure `name` has an active secret; returns the plaintext when one was generated now.
    ///
    /// A value from the environment is issued once (replacing the name's other secrets at once);
    /// once revoked or rotated out it is not brought back by a restart, so choose a new value.
    private func ensureSecret(
        kind: ManagedCredential.Kind, name: String, role: String?, environmentName: String?, prefix: String, auditAction: String, target: AuditTarget
    ) async throws(StoreError) -> String? {
        let existing = try await store.managedCredentials(kind: kind, name: name)
        let time = now()
        func issue(_ value: String, origin: String, retireOthers: Bool) async throws(StoreError) {
            _ = try await store.issueCredential(
                NewManagedCredential(kind: kind, name: name, digest: SecretDigest(of: value), role: role, createdBy: AdminAuditEntry.system.id),
                at: time, retireOthersAt: retireOthers ? time : nil, refuseIfActive: false,
                audit: { credential, _ in
                    AdminAuditEntry(
                        action: auditAction, actor: AdminAuditEntry.system, targets: [target],
                        metadata: [JSONMember(origin, .bool(true)), JSONMember(kind == .adminToken ? "token_id" : "secret_id", .number(String(credential.id)))],
                        occurredAt: time
                    )
                }
            )
        }
        if let environmentName, let value = environment[environmentName], !value.isEmpty {
            let digest = SecretDigest(of: value)
            if !existing.contains(where: { $0.digest == digest }) {
                try await issue(value, origin: "from_environment", retireOthers: true)
            }
            return nil
        }
        let activeWithRole = kind == .adminToken
            ? try await store.managedCredentials(kind: kind, name: nil).contains { $0.role == role && $0.isActive(at: time) }
            : existing.contains { $0.isActive(at: time) }
        guard !activeWithRole else { return nil }
        let value = SecretGenerator.make(prefix: prefix)
        try await issue(value, origin: "generated", retireOthers: false)
        return value
    }
}

extension SluiceConfig {
    /// Token and feed-secret administration for this config's feeds and admin tokens (API and CLI alike).
    public func credentialAdministration(store: any CredentialStore, now: @escaping @Sendable () -> Timestamp) -> CredentialAdministration {
        CredentialAdministration(
            store: store,
            feeds: Dictionary(feeds.map { feed in
                let settings: CredentialAdministration.Feed = switch feed.auth {
                case .sharedSecrets(let secrets): .init(authMode: "shared_secret", configuredSecrets: secrets.count)
                case .generatedSecret: .init(authMode: "shared_secret", configuredSecrets: 0)
                case .bearer(let tokens): .init(authMode: "bearer", configuredSecrets: tokens.count)
                case .standardWebhooks(let secrets, _): .init(authMode: "standard_webhooks", configuredSecrets: secrets.count)
                }
                return (feed.name, settings)
            }, uniquingKeysWith: { first, _ in first }),
            configuredAdminTokens: Dictionary(server.adminTokens.map { ($0.name, $0.role) }, uniquingKeysWith: { first, _ in first }),
            now: now
        )
    }
}
