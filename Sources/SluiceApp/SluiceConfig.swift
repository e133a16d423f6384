import Foundation
import Logging
import SluiceCore
import SluiceDestinations
import SluiceIntegrity
import SluiceServer
import SluiceSources
import SluiceStorePostgres
import SluiceStoreSQLite
import SluiceWorkflows

/// The typed configuration of one Sluice process, decoded from the YAML file (or the embedded
/// default) with every secret reference already resolved.
public struct SluiceConfig: Sendable {
    public var storage: StorageSettings
    public var server: ServerSettings
    public var retention: RetentionSettings
    public var integrity = IntegritySettings()
    public var feeds: [FeedSettings]
    public var collectors: [CollectorSettings] = []
    public var destinations: [DestinationSettings] = []
    public var routes: [DeliveryRoute] = []
    public var workflows: [WorkflowDefinition] = []
    /// True when no config file was given: one generic feed `default`, generated credentials.
    public var isEmbeddedDefault: Bool
    /// Keys that were recognised but are not acted on by this version (reported, not fatal).
    public var warnings: [ConfigIssue]
    /// SHA-256 of the config file as read (never of resolved secrets), for audit and status.
    public var fileDigest: String?

    public static let defaultDataDirectory = "./sluice-data"

    /// The configuration `sluice serve` runs with no config file.
    public static func embeddedDefault(dataDirectory: String = defaultDataDirectory) -> SluiceConfig {
        SluiceConfig(
            storage: StorageSettings(sqlite: SQLiteStoreConfiguration(path: dataDirectory + "/sluice.db")),
            server: ServerSettings(),
            retention: RetentionSettings(),
            feeds: [FeedSettings(name: "default", logType: "JSON", auth: .generatedSecret, normalizer: EventNormalizer(schema: .generic))],
            isEmbeddedDefault: true,
            warnings: [],
            fileDigest: nil
        )
    }
}

public struct StorageSettings: Sendable {
    public var sqlite: SQLiteStoreConfiguration
    /// Set by `storage.postgres`: then every instance on the same database shares one store.
    public var postgres: PostgresStoreConfiguration?

    public init(sqlite: SQLiteStoreConfiguration, postgres: PostgresStoreConfiguration? = nil) {
        self.sqlite = sqlite
        self.postgres = postgres
    }

    /// Where the events are, in a few words (`sqlite ./sluice-data/sluice.db`).
    public var location: String {
        if let postgres { return "postgres \(postgres.host):\(postgres.port)/\(postgres.database) schema \(postgres.schema)" }
        return "sqlite \(sqlite.path)"
    }

    /// Log metadata naming the store.
    public var logMetadata: Logger.Metadata {
        if let postgres {
            return ["store": "postgres", "store.host": "\(postgres.host):\(postgres.port)", "store.database": "\(postgres.database)", "store.schema": "\(postgres.schema)"]
        }
        return ["store": "sqlite", "store.path": "\(sqlite.path)", "store.synchronous": "\(sqlite.durability.rawValue)"]
    }

    /// Why a command that reads an existing store should not open this one (a SQLite file that
    /// does not exist would be created empty), or nil.
    public var missingStore: String? {
        guard postgres == nil, !FileManager.default.fileExists(atPath: sqlite.path) else { return nil }
        return "no Sluice database at \(sqlite.path)"
    }
}

public struct ServerSettings: Sendable {
    public var listen: ListenAddress = ListenAddress(host: "127.0.0.1", port: 8080)
    /// Tokens from the config file; when empty, one admin token is generated and kept in the store.
    public var adminTokens: [ConfiguredAdminToken] = []
    public var ingestionKey: String?
    /// Connections with no traffic for this long are closed (bounds idle and trickling senders).
    public var idleTimeoutSeconds: Int = 60
}

public struct ConfiguredAdminToken: Sendable {
    public var name: String
    public var role: AdminRole
    public var token: String
}

/// `integrity:`: signed, chained checkpoints over the stored events (docs/integrity.md).
public struct IntegritySettings: Sendable {
    public var enabled = true
    public var interval: Duration = .seconds(60)
    /// The Ed25519 key that signs checkpoints; nil: `integrity.key` beside the SQLite database,
    /// made on first start.
    public var keyFile: String?
    /// The signing key itself, from a secret reference (`integrity.key: "${env:NAME}"`): the key
    /// file's text, or its base64 line alone. Excludes `keyFile`.
    public var key: String?
    /// Public keys (base64) whose checkpoints also verify: the keys used before a rotation.
    public var trustedKeys: [String] = []

    /// Where the signing key is read (and, the first time, written).
    public func keyPath(storage: StorageSettings) -> String {
        keyFile ?? (URL(fileURLWithPath: storage.sqlite.path).deletingLastPathComponent().path + "/integrity.key")
    }
}

extension SluiceConfig {
    /// The key that signs this instance's checkpoints: the one `integrity.key` references, or the
    /// key file (made there first when `create`; nil when there is none and not creating).
    /// Errors name where the key came from, never the key.
    public func integritySigningKey(create: Bool) throws(IntegrityKeyError) -> (key: IntegrityKey, created: Bool)? {
        if let text = integrity.key {
            return (try IntegrityKey.parse(text, source: "integrity.key (the secret it references)"), false)
        }
        let path = integrity.keyPath(storage: storage)
        if create { return try IntegrityKey.loadOrCreate(path: path) }
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return (try IntegrityKey.load(path: path), false)
    }

    /// The public keys verification trusts: the instance's own (`own`) and `integrity.trusted_keys`.
    public func integrityTrustedKeys(own: IntegrityPublicKey?) -> [IntegrityPublicKey] {
        (own.map { [$0] } ?? []) + integrity.trustedKeys.compactMap(IntegrityPublicKey.init(base64:))
    }
}

extension SluiceConfig {
    /// The feeds and collectors with an `expect_events_within`, for the silence watch.
    public var sourceExpectations: [SourceExpectation] {
        feeds.compactMap { feed in feed.expectEventsWithin.map { SourceExpectation(source: feed.name, kind: .feed, within: $0) } }
            + collectors.compactMap { collector in
                collector.expectEventsWithin.map { SourceExpectation(source: collector.name, kind: .collector, within: $0) }
            }
    }
}

public struct RetentionSettings: Sendable {
    public var days: Int = 365
    public var batchSize: Int = 5_000
    public var intervalSeconds: Int = 3_600
}

/// A pull collector as configured.
public struct CollectorSettings: Sendable {
    /// The collector's type and its own settings.
    public enum Kind: Sendable {
        case incydr(IncydrConfiguration)
        case httpPull(HTTPPullConfiguration)
    }

    public var kind: Kind
    public var schedule: CollectorSchedule
    /// `expect_events_within`: quieter than this, the collector's source is silent (SilenceWatch).
    public var expectEventsWithin: Duration?

    public var name: String {
        switch kind {
        case .incydr(let configuration): configuration.name
        case .httpPull(let configuration): configuration.name
        }
    }

    /// The Incydr settings, when it is an Incydr collector.
    public var incydr: IncydrConfiguration? {
        if case .incydr(let configuration) = kind { configuration } else { nil }
    }

    /// The `http_pull` settings, when it is one.
    public var httpPull: HTTPPullConfiguration? {
        if case .httpPull(let configuration) = kind { configuration } else { nil }
    }
}

/// A feed as configured, before its secrets become digests.
public struct FeedSettings: Sendable {
    public enum Auth: Sendable {
        case sharedSecrets([String])
        /// The embedded default's feed: the secret is generated on first start and kept as a digest.
        case generatedSecret
        case standardWebhooks(secrets: [String], toleranceSeconds: Int)
        case bearer([String])
    }

    public var name: String
    public var logType: String
    public var auth: Auth
    public var normalizer: EventNormalizer
    public var limits: PushLimits = PushLimits()
    /// `expect_events_within`: quieter than this, the feed is silent (SilenceWatch).
    public var expectEventsWithin: Duration?
}

/// `host:port`, with IPv6 hosts in brackets (`[::1]:8080`).
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init?(_ text: String) {
        var hostPart: Substring
        var portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portPart = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        guard !hostPart.isEmpty, let port = Int(portPart), (0...65535).contains(port) else { return nil }
        self.host = String(hostPart)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// One problem in a config file, named by its key path (`feeds.incident-io.secret`).
public struct ConfigIssue: Error, Sendable, Hashable, CustomStringConvertible {
    public var path: String
    public var message: String
    /// 1-based line in the file, when known.
    public var line: Int?

    public init(path: String, message: String, line: Int? = nil) {
        self.path = path
        self.message = message
        self.line = line
    }

    public var description: String {
        let location = line.map { " (line \($0))" } ?? ""
        return path.isEmpty ? "\(message)\(location)" : "\(path): \(message)\(location)"
    }
}

/// Every problem found in a config file.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var issues: [ConfigIssue]
    public var description: String { issues.map(\.description).joined(separator: "\n") }
}
