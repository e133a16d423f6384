/// What an admin token may do.
public enum AdminRole: String, Sendable, Hashable, CaseIterable {
    /// Read and change everything.
    case admin
    /// Read only.
    case viewer
}

/// Names of feeds, collectors, destinations and tokens: they appear in URL paths, so letters,
/// digits, `-`, `_` and `.`, 1 to 64 characters.
public enum ResourceName {
    public static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && name.utf8.allSatisfy { b in
            (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) || b == 0x2D || b == 0x5F || b == 0x2E
        }
    }
}

/// Why an administrative credential change was refused.
public struct CredentialAdministrationError: Error, Sendable {
    public enum Kind: Sendable { case notFound, conflict, invalid, store }
    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}

/// Issues, rotates and revokes admin tokens and feed secrets, each change with its audit entry in
/// the same transaction. The HTTP API and the CLI both go through it, so they refuse the same
/// things with the same words and record the same entries.
public struct CredentialAdministration: Sendable {
    /// A feed as far as its secrets are concerned.
    public struct Feed: Sendable {
        /// `shared_secret`, `bearer` or `standard_webhooks`.
        public var authMode: String
        /// How many secrets the config file gives it (they stay valid until removed there).
        public var configuredSecrets: Int

        public init(authMode: String, configuredSecrets: Int) {
            self.authMode = authMode
            self.configuredSecrets = configuredSecrets
        }
    }

    public static let defaultGrace = Duration.seconds(24 * 3600)
    public static let maximumGrace = Duration.seconds(30 * 24 * 3600)

    public let store: any CredentialStore
    public let feeds: [String: Feed]
    /// Admin tokens of the config file: name and role. They cannot be revoked here.
    public let configuredAdminTokens: [String: AdminRole]
    public let now: @Sendable () -> Timestamp

    public init(store: any CredentialStore, feeds: [String: Feed], configuredAdminTokens: [String: AdminRole], now: @escaping @Sendable () -> Timestamp) {
        self.store = store
        self.feeds = feeds
        self.configuredAdminTokens = configuredAdminTokens
        self.now = now
    }

    // MARK: Admin tokens

    /// A new token; its value exists only in the result.
    public func createAdminToken(name: String, role: AdminRole, by requester: AuditRequester) async throws(CredentialAdministrationError) -> (token: String, credential: ManagedCredential) {
        guard ResourceName.isValid(name) else {
            throw CredentialAdministrationError(.invalid, "token name \"\(name)\" is not valid: use 1 to 64 letters, digits, '-', '_' or '.'")
        }
        guard configuredAdminTokens[name] == nil else {
            throw CredentialAdministrationError(.conflict, "admin token \"\(name)\" is defined in the config file (server.admin_tokens); choose another name")
        }
        let token = SecretGenerator.make(prefix: "sluice_admin_")
        let time = now()
        let issued = try await call { () async throws(StoreError) in
            try await store.issueCredential(
                NewManagedCredential(kind: .adminToken, name: name, digest: SecretDigest(of: token), role: role.rawValue, createdBy: requester.actor.id),
                at: time, retireOthersAt: nil, refuseIfActive: true,
                audit: { credential, _ in
                    requester.entry(
                        "admin_token.created", targets: [AuditTarget(type: "admin_token", id: name)],
                        metadata: [JSONMember("role", .string(role.rawValue)), JSONMember("token_id", .number(String(credential.id)))], at: time
                    )
                }
            )
        }
        return (token, issued.credential)
    }

    /// Every issued token, revoked ones too, oldest first.
    public func adminTokens() async throws(CredentialAdministrationError) -> [ManagedCredential] {
        try await call { () async throws(StoreError) in try await store.managedCredentials(kind: .adminToken, name: nil) }
    }

    /// Revokes the issued token `name`; the last admin-role token cannot go when the config file has none.
    public func revokeAdminToken(name: String, by requester: AuditRequester) async throws(CredentialAdministrationError) -> [ManagedCredential] {
        if configuredAdminTokens[name] != nil {
            throw CredentialAdministrationError(
                .conflict, "admin token \"\(name)\" is defined in the config file (server.admin_tokens); remove it there and restart Sluice"
            )
        }
        let time = now()
        let keepAdmin = configuredAdminTokens.values.contains(.admin) ? nil : AdminRole.admin.rawValue
        let revoked = try await call { () async throws(StoreError) in
            try await store.revokeCredentials(
                kind: .adminToken, name: name, id: nil, at: time, by: requester.actor.id, keepOneWithRole: keepAdmin,
                audit: { revoked in
                    requester.entry(
                        "admin_token.revoked", targets: [AuditTarget(type: "admin_token", id: name)],
                        metadata: [
                            JSONMember("role", .string(revoked.first?.role ?? "")),
                            JSONMember("token_ids", .array(revoked.map { .number(String($0.id)) })),
                        ],
                        at: time
                    )
                }
            )
        }
        guard !revoked.isEmpty else {
            throw CredentialAdministrationError(.notFound, "no active admin token named \"\(name)\"")
        }
        return revoked
    }

    // MARK: Feed secrets

    /// A new secret for `feed`; its other issued secrets stay valid for `grace` and no longer.
    public func rotateFeedSecret(feed name: String, grace: Duration, by requester: AuditRequester) async throws(CredentialAdministrationError) -> (secret: String, credential: ManagedCredential, retired: [ManagedCredential]) {
        let feed = try feed(name)
        guard feed.authMode != "standard_webhooks" else {
            throw CredentialAdministrationError(
                .conflict, "feed \"\(name)\" verifies Standard Webhooks signatures with keys its sender holds; rotate them in the config file (several secrets may be listed during a rotation)"
            )
        }
        guard grace >= .zero, grace <= Self.maximumGrace else {
            throw CredentialAdministrationError(.invalid, "the grace period must be between 0s and 30d")
        }
        let secret = SecretGenerator.make(prefix: "sluice_feed_")
        let time = now()
        let graceSeconds = grace.components.seconds
        let result = try await call { () async throws(StoreError) in
            try await store.issueCredential(
                NewManagedCredential(kind: .feedSecret, name: name, digest: SecretDigest(of: secret), createdBy: requester.actor.id),
                at: time, retireOthersAt: time + grace, refuseIfActive: false,
                audit: { credential, retired in
                    requester.entry(
                        retired.isEmpty ? "feed.secret_created" : "feed.secret_rotated", targets: [AuditTarget(type: "feed", id: name)],
                        metadata: [
                            JSONMember("secret_id", .number(String(credential.id))),
                            JSONMember("retiring_ids", .array(retired.map { .number(String($0.id)) })),
                            JSONMember("grace_seconds", .number(String(graceSeconds))),
                        ],
                        at: time
                    )
                }
            )
        }
        return (secret, result.credential, result.retired)
    }

    /// Revokes one issued secret of `feed` at once.
    public func revokeFeedSecret(feed name: String, id: Int64, by requester: AuditRequester) async throws(CredentialAdministrationError) -> ManagedCredential {
        _ = try feed(name)
        let time = now()
        let revoked = try await call { () async throws(StoreError) in
            try await store.revokeCredentials(
                kind: .feedSecret, name: name, id: id, at: time, by: requester.actor.id, keepOneWithRole: nil,
                audit: { _ in
                    requester.entry(
                        "feed.secret_revoked", targets: [AuditTarget(type: "feed", id: name)],
                        metadata: [JSONMember("secret_id", .number(String(id)))], at: time
                    )
                }
            )
        }
        guard let first = revoked.first else {
            throw CredentialAdministrationError(.notFound, "feed \"\(name)\" has no active issued secret with id \(id)")
        }
        return first
    }

    /// The issued secrets of `feed`, newest last.
    public func feedSecrets(feed name: String) async throws(CredentialAdministrationError) -> [ManagedCredential] {
        _ = try feed(name)
        return try await call { () async throws(StoreError) in try await store.managedCredentials(kind: .feedSecret, name: name) }
    }

    public func feed(_ name: String) throws(CredentialAdministrationError) -> Feed {
        guard let feed = feeds[name] else {
            throw CredentialAdministrationError(.notFound, "no feed named \"\(name)\"; configured feeds: \(feeds.keys.sorted().joined(separator: ", "))")
        }
        return feed
    }

    private func call<T>(_ body: () async throws(StoreError) -> T) async throws(CredentialAdministrationError) -> T {
        do {
            return try await body()
        } catch {
            throw CredentialAdministrationError(error.code == .conflict ? .conflict : .store, error.message)
        }
    }
}

/// Durations written as `90s`, `30m`, `24h`, `7d` or a number of seconds.
public enum DurationText {
    /// The seconds `text` stands for; nil when it is not such a duration or is negative.
    public static func seconds(_ text: String) -> Int? {
        let units: [(String, Int)] = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            guard let n = Int(text.dropLast()), n >= 0 else { return nil }
            let (product, overflow) = n.multipliedReportingOverflow(by: factor)
            return overflow ? nil : product
        }
        guard let n = Int(text), n >= 0 else { return nil }
        return n
    }

    /// `duration` as a configuration file writes it: in the largest unit that divides it
    /// (`1h`, `90m`, `45s`, `250ms`), so what is shown can be pasted back.
    public static func text(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        guard attoseconds == 0 else {
            return "\(seconds * 1_000 + attoseconds / 1_000_000_000_000_000)ms"
        }
        for (suffix, factor) in [("d", Int64(86_400)), ("h", 3_600), ("m", 60)] where seconds != 0 && seconds % factor == 0 {
            return "\(seconds / factor)\(suffix)"
        }
        return "\(seconds)s"
    }
}
