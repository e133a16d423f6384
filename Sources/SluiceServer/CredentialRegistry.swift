import Logging
import ServiceLifecycle
import SluiceCore
import Synchronization

/// The admin tokens and feed secrets this instance accepts right now: those of the config file,
/// plus the ones issued through the API or CLI and kept in the store.
///
/// Changes made through this instance's API apply at once; changes made by the CLI (or another
/// instance sharing the store) within ``refreshInterval``, when the service reloads the store's list.
public final class CredentialRegistry: Service, Sendable {
    public let configuredAdminTokens: [AdminToken]
    let store: any CredentialStore
    let refreshInterval: Duration
    let logger: Logger
    private let managed: Mutex<Snapshot>

    struct Snapshot {
        var adminTokens: [ManagedCredential] = []
        var feedSecrets: [String: [ManagedCredential]] = [:]
    }

    public init(
        configuredAdminTokens: [AdminToken], managed: [ManagedCredential], store: any CredentialStore,
        refreshInterval: Duration = .seconds(5), logger: Logger
    ) {
        self.configuredAdminTokens = configuredAdminTokens
        self.store = store
        self.refreshInterval = refreshInterval
        self.logger = logger
        self.managed = Mutex(Self.snapshot(of: managed))
    }

    /// Every token accepted at `time`, configured first.
    public func adminTokens(at time: Timestamp) -> [AdminToken] {
        let issued = managed.withLock { $0.adminTokens }.filter { $0.isActive(at: time) }.map { credential in
            AdminToken(name: credential.name, role: AdminRole(rawValue: credential.role ?? "") ?? .viewer, digest: credential.digest)
        }
        return configuredAdminTokens + issued
    }

    /// The issued secrets of `feed` accepted at `time` (beside those of the config file).
    public func feedSecrets(_ feed: String, at time: Timestamp) -> [SecretDigest] {
        managed.withLock { $0.feedSecrets[feed] ?? [] }.filter { $0.isActive(at: time) }.map(\.digest)
    }

    /// Reloads the issued credentials from the store; keeps the last list when the store does not answer.
    public func refresh() async {
        do {
            let all = try await store.managedCredentials(kind: nil, name: nil)
            managed.withLock { $0 = Self.snapshot(of: all) }
        } catch {
            logger.warning("could not reload credentials; keeping the last list", metadata: ["error": "\(error.message)"])
        }
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: self.refreshInterval)
                await self.refresh()
            }
        }
    }

    private static func snapshot(of credentials: [ManagedCredential]) -> Snapshot {
        var snapshot = Snapshot()
        for credential in credentials where credential.revokedAt == nil {
            switch credential.kind {
            case .adminToken: snapshot.adminTokens.append(credential)
            case .feedSecret: snapshot.feedSecrets[credential.name, default: []].append(credential)
            }
        }
        return snapshot
    }
}
