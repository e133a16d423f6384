import SluiceCore
import SluiceServer
import SluiceSources
import SluiceStore

/// Credentials Sluice made for itself on first start. Their values exist only here, to be shown
/// once; the store keeps digests.
public struct GeneratedCredentials: Sendable {
    public var adminToken: String?
    public var feedSecrets: [(feed: String, secret: String)] = []

    public var isEmpty: Bool { adminToken == nil && feedSecrets.isEmpty }
}

/// Resolves the admin tokens and feed authentication for a config: configured secrets become
/// digests, and where the config has none (the embedded default), a value comes from the
/// environment (`SLUICE_ADMIN_TOKEN`, `SLUICE_DEFAULT_FEED_SECRET`), from an earlier start (its
/// digest in the store), or is generated now.
public struct CredentialBootstrap: Sendable {
    public static let adminTokenKind = "admin_token"
    public static let feedSecretKind = "feed_secret"
    public static let generatedAdminName = "admin"

    let store: SQLiteEventStore
    let environment: [String: String]
    let now: @Sendable () -> Timestamp

    public init(store: SQLiteEventStore, environment: [String: String], now: @escaping @Sendable () -> Timestamp) {
        self.store = store
        self.environment = environment
        self.now = now
    }

    public struct Resolved: Sendable {
        public var adminTokens: [AdminToken]
        public var feeds: [String: PushFeed]
        public var ingestionKey: SecretDigest?
        public var generated: GeneratedCredentials
    }

    public func resolve(_ config: SluiceConfig) async throws(StoreError) -> Resolved {
        var generated = GeneratedCredentials()
        var adminTokens = config.server.adminTokens.map { AdminToken(name: $0.name, role: $0.role, digest: SecretDigest(of: $0.token)) }
        if adminTokens.isEmpty {
            let (digest, fresh) = try await storedSecret(
                kind: Self.adminTokenKind, name: Self.generatedAdminName, environmentName: "SLUICE_ADMIN_TOKEN", prefix: "sluice_admin_", role: "admin"
            )
            adminTokens = [AdminToken(name: Self.generatedAdminName, role: .admin, digest: digest)]
            generated.adminToken = fresh
        }
        var feeds: [String: PushFeed] = [:]
        for feed in config.feeds {
            let authentication: FeedAuthentication
            switch feed.auth {
            case .sharedSecrets(let secrets):
                authentication = .sharedSecret(secrets.map(SecretDigest.init(of:)))
            case .generatedSecret:
                let environmentName = feed.name == "default" ? "SLUICE_DEFAULT_FEED_SECRET" : nil
                let (digest, fresh) = try await storedSecret(
                    kind: Self.feedSecretKind, name: feed.name, environmentName: environmentName, prefix: "sluice_feed_", role: nil
                )
                if let fresh { generated.feedSecrets.append((feed.name, fresh)) }
                authentication = .sharedSecret([digest])
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
        return Resolved(
            adminTokens: adminTokens,
            feeds: feeds,
            ingestionKey: config.server.ingestionKey.map(SecretDigest.init(of:)),
            generated: generated
        )
    }

    /// The digest to check against, and the plaintext when it was generated just now.
    private func storedSecret(kind: String, name: String, environmentName: String?, prefix: String, role: String?) async throws(StoreError) -> (SecretDigest, String?) {
        if let environmentName, let value = environment[environmentName], !value.isEmpty {
            let digest = SecretDigest(of: value)
            let existing = try await store.credential(kind: kind, name: name)
            if existing?.digest != digest {
                try await store.setCredential(StoredCredential(kind: kind, name: name, digest: digest, role: role), at: now())
            }
            return (digest, nil)
        }
        if let existing = try await store.credential(kind: kind, name: name) {
            return (existing.digest, nil)
        }
        let value = SecretGenerator.make(prefix: prefix)
        let digest = SecretDigest(of: value)
        try await store.setCredential(StoredCredential(kind: kind, name: name, digest: digest, role: role), at: now())
        return (digest, value)
    }
}
