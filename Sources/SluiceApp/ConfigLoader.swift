import Crypto
import Foundation
import SluiceCore
import SluiceIntegrity
import SluiceServer
import SluiceSources
import SluiceStorePostgres
import SluiceStoreSQLite
import SluiceWorkflows
import Yams

/// Reads a YAML config file into ``SluiceConfig``, resolving `${env:NAME}` and `${file:PATH}`
/// references, and collects every problem with the path of the offending key.
public struct ConfigLoader: Sendable {
    public var environment: [String: String]
    /// Overrides `storage.sqlite.path` with `DIR/sluice.db` (the `--data-dir` flag).
    public var dataDirectory: String?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, dataDirectory: String? = nil) {
        self.environment = environment
        self.dataDirectory = dataDirectory
    }

    public func load(path: String) throws(ConfigErrors) -> SluiceConfig {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigErrors(issues: [ConfigIssue(path: "", message: "cannot read config file \(path): \(error.localizedDescription)")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigErrors(issues: [ConfigIssue(path: "", message: "config file \(path) is not UTF-8 text")])
        }
        var config = try load(yaml: text)
        config.fileDigest = Array(SHA256.hash(data: data)).hexString
        return config
    }

    public func load(yaml text: String) throws(ConfigErrors) -> SluiceConfig {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw ConfigErrors(issues: [ConfigIssue(path: "", message: "the file is not valid YAML: \(error)")])
        }
        var reader = ConfigReader(environment: environment)
        let config = reader.read(root, dataDirectory: dataDirectory)
        if !reader.errors.isEmpty { throw ConfigErrors(issues: reader.errors) }
        guard var config else { throw ConfigErrors(issues: [ConfigIssue(path: "", message: "the config is empty")]) }
        config.warnings = reader.warnings
        return config
    }
}

/// Walks the YAML tree, recording errors instead of stopping at the first one.
struct ConfigReader {
    let environment: [String: String]
    var errors: [ConfigIssue] = []
    var warnings: [ConfigIssue] = []
    /// Names given so far in the workflow being read (step outputs, extracted and formatted values).
    var workflowNames: Set<String> = []
    /// `oauth_token` steps defined so far in the workflow being read (a later step can only use an earlier token).
    var tokenSteps: Set<String> = []

    init(environment: [String: String]) {
        self.environment = environment
    }

    mutating func fail(_ path: String, _ message: String, _ node: Node? = nil) {
        errors.append(ConfigIssue(path: path, message: message, line: node?.mark.map { $0.line }))
    }

    mutating func mapping(_ node: Node?, _ path: String, allowed: Set<String>) -> [(String, Node)]? {
        guard let node else { return nil }
        guard let mapping = node.mapping else {
            fail(path, allowed.isEmpty ? "expected a mapping of keys to values" : "expected a mapping with keys among \(allowed.sorted().joined(separator: ", "))", node)
            return nil
        }
        var out: [(String, Node)] = []
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else {
                fail(path, "keys must be strings", keyNode)
                continue
            }
            let child = path.isEmpty ? key : "\(path).\(key)"
            if !allowed.isEmpty && !allowed.contains(key) {
                fail(child, "unknown key; expected one of \(allowed.sorted().joined(separator: ", "))", keyNode)
                continue
            }
            out.append((key, value))
        }
        return out
    }

    mutating func string(_ node: Node, _ path: String) -> String? {
        guard let scalar = node.scalar else {
            fail(path, "expected a single value, not a list or mapping", node)
            return nil
        }
        return scalar.string
    }

    mutating func int(_ node: Node, _ path: String, range: ClosedRange<Int>) -> Int? {
        guard var text = string(node, path) else { return nil }
        // Numbers may come from the environment too (`${env:PAGE_SIZE}`).
        if text.hasPrefix("${") {
            guard let resolved = secret(node, path) else { return nil }
            text = resolved
        }
        guard let value = Int(text), range.contains(value) else {
            fail(path, "expected a whole number from \(range.lowerBound) to \(range.upperBound), got \"\(text)\"", node)
            return nil
        }
        return value
    }

    mutating func byteSize(_ node: Node, _ path: String) -> Int? {
        guard let text = string(node, path) else { return nil }
        let units: [(String, Int)] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1_000), ("B", 1)]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            if let n = Int(trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), n > 0 { return n * factor }
        }
        if let n = Int(trimmed), n > 0 { return n }
        fail(path, "expected a size such as 4194304, 512KiB or 4MiB, got \"\(text)\"", node)
        return nil
    }

    /// A duration in whole seconds; zero only where `allowingZero` (it means "none", as a
    /// batch's `max_wait: 0s` means "do not wait").
    mutating func durationSeconds(_ node: Node, _ path: String, allowingZero: Bool = false) -> Int? {
        guard let text = string(node, path) else { return nil }
        guard let seconds = DurationText.seconds(text) else {
            fail(path, "expected a duration such as 300s, 5m, 1h or 7d, got \"\(text)\"", node)
            return nil
        }
        if seconds == 0 && !allowingZero {
            fail(path, "must be longer than 0s, got \"\(text)\"", node)
            return nil
        }
        return seconds
    }

    /// A secret: `${env:NAME}`, `${file:/path}` or (discouraged) the literal value.
    mutating func secret(_ node: Node, _ path: String) -> String? {
        guard let text = string(node, path) else { return nil }
        switch resolveSecret(text) {
        case .success(let value):
            return value
        case .failure(let problem):
            fail(path, problem.message, node)
            return nil
        }
    }

    /// A secret's value: the text itself, or what its `${env:NAME}` / `${file:/path}` reference holds.
    func resolveSecret(_ text: String) -> Result<String, SecretReferenceError> {
        guard text.hasPrefix("${"), text.hasSuffix("}") else {
            return text.isEmpty ? .failure(SecretReferenceError("the secret is empty")) : .success(text)
        }
        let reference = String(text.dropFirst(2).dropLast())
        if reference.hasPrefix("env:") {
            let name = String(reference.dropFirst(4))
            guard let value = environment[name], !value.isEmpty else {
                return .failure(SecretReferenceError("environment variable \(name) is not set (referenced as ${env:\(name)})"))
            }
            return .success(value)
        }
        if reference.hasPrefix("file:") {
            let file = String(reference.dropFirst(5))
            guard let data = FileManager.default.contents(atPath: file), let value = String(data: data, encoding: .utf8) else {
                return .failure(SecretReferenceError("cannot read secret file \(file) (referenced as ${file:\(file)})"))
            }
            let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
            return trimmed.isEmpty ? .failure(SecretReferenceError("secret file \(file) is empty")) : .success(trimmed)
        }
        return .failure(SecretReferenceError("unknown secret reference \"\(text)\"; use ${env:NAME} or ${file:/path}"))
    }

    mutating func secretList(_ node: Node, _ path: String) -> [String] {
        if let sequence = node.sequence {
            var out: [String] = []
            for (i, item) in sequence.enumerated() {
                if let s = secret(item, "\(path)[\(i)]") { out.append(s) }
            }
            if out.isEmpty && sequence.isEmpty { fail(path, "the list of secrets is empty", node) }
            return out
        }
        return secret(node, path).map { [$0] } ?? []
    }

    mutating func read(_ root: Node?, dataDirectory: String?) -> SluiceConfig? {
        guard let root else { return nil }
        guard let top = mapping(root, "", allowed: ["storage", "server", "retention", "integrity", "feeds", "collectors", "destinations", "routes", "workflows"]) else { return nil }
        var config = SluiceConfig.embeddedDefault(dataDirectory: dataDirectory ?? SluiceConfig.defaultDataDirectory)
        config.isEmbeddedDefault = false
        config.feeds = []
        var sawFeeds = false
        var routesNode: Node?
        for (key, node) in top {
            switch key {
            case "storage": readStorage(node, into: &config.storage)
            case "server": readServer(node, into: &config.server)
            case "retention": readRetention(node, into: &config.retention)
            case "integrity": readIntegrity(node, into: &config.integrity)
            case "feeds":
                sawFeeds = true
                config.feeds = readFeeds(node)
            case "collectors":
                config.collectors = readCollectors(node)
            case "destinations":
                config.destinations = readDestinations(node)
            case "routes":
                routesNode = node
                config.routes = readRoutes(node)
            default:
                config.workflows = readWorkflows(node)
            }
        }
        if let dataDirectory {
            config.storage.sqlite.path = dataDirectory + "/sluice.db"
        }
        checkRoutes(config, routesNode: routesNode)
        if config.storage.postgres != nil, config.integrity.enabled, config.integrity.keyFile == nil, config.integrity.key == nil {
            warnings.append(ConfigIssue(
                path: "integrity.key_file",
                message: "not set: each instance on PostgreSQL signs checkpoints with a key of its own data directory; give all instances one key_file (or key by reference) so one public key verifies the chain"
            ))
        }
        checkWorkflowTriggers(config)
        if !sawFeeds && config.collectors.isEmpty {
            warnings.append(ConfigIssue(path: "feeds", message: "no feeds are configured, so nothing can push events"))
        }
        return config
    }

    mutating func readStorage(_ node: Node, into storage: inout StorageSettings) {
        guard let entries = mapping(node, "storage", allowed: ["sqlite", "postgres"]) else { return }
        for (key, value) in entries {
            if key == "postgres" {
                readPostgres(value, into: &storage)
                continue
            }
            guard let sqlite = mapping(value, "storage.sqlite", allowed: ["path", "synchronous", "max_size"]) else { continue }
            for (k, v) in sqlite {
                switch k {
                case "path":
                    if let p = string(v, "storage.sqlite.path"), !p.isEmpty { storage.sqlite.path = p }
                case "max_size":
                    storage.sqlite.maxSizeBytes = byteSize(v, "storage.sqlite.max_size").map(Int64.init)
                default:
                    guard let text = string(v, "storage.sqlite.synchronous") else { continue }
                    guard let mode = SQLiteDurability(rawValue: text.lowercased()) else {
                        fail("storage.sqlite.synchronous", "expected full or normal, got \"\(text)\"", v)
                        continue
                    }
                    storage.sqlite.durability = mode
                }
            }
        }
    }

    /// `storage.postgres`: `url` (a secret reference, as it holds the password), `schema`,
    /// `pool_size`, `timeout`, `lease_ttl`.
    mutating func readPostgres(_ node: Node, into storage: inout StorageSettings) {
        guard let entries = mapping(node, "storage.postgres", allowed: ["url", "schema", "pool_size", "timeout", "lease_ttl"]) else { return }
        let fields = Dictionary(entries, uniquingKeysWith: { _, last in last })
        guard let urlNode = fields["url"] else {
            fail("storage.postgres.url", "is required: postgres://USER:PASSWORD@HOST:PORT/DATABASE, best as ${env:NAME}", node)
            return
        }
        guard let url = secret(urlNode, "storage.postgres.url") else { return }
        let schema = fields["schema"].flatMap { string($0, "storage.postgres.schema") } ?? "public"
        let poolSize = fields["pool_size"].flatMap { int($0, "storage.postgres.pool_size", range: 2...200) } ?? 10
        do {
            var configuration = try PostgresStoreConfiguration(url: url, schema: schema, poolSize: poolSize)
            if let timeoutNode = fields["timeout"], let timeout = duration(timeoutNode, "storage.postgres.timeout") {
                configuration.timeout = timeout
            }
            if let leaseNode = fields["lease_ttl"], let lease = duration(leaseNode, "storage.postgres.lease_ttl") {
                if lease < .seconds(1) {
                    fail("storage.postgres.lease_ttl", "must be at least 1s (it is renewed every third of it)", leaseNode)
                } else {
                    configuration.leaseDuration = lease
                }
            }
            storage.postgres = configuration
        } catch {
            fail(schema == "public" || PostgresStoreConfiguration.isValidSchema(schema) ? "storage.postgres.url" : "storage.postgres.schema", error.message, urlNode)
        }
    }

    mutating func readServer(_ node: Node, into server: inout ServerSettings) {
        guard let entries = mapping(node, "server", allowed: ["listen", "admin_tokens", "ingestion_key", "idle_timeout"]) else { return }
        for (key, value) in entries {
            switch key {
            case "listen":
                guard let text = string(value, "server.listen") else { continue }
                guard let address = ListenAddress(text) else {
                    fail("server.listen", "expected HOST:PORT such as 127.0.0.1:8080, got \"\(text)\"", value)
                    continue
                }
                server.listen = address
            case "ingestion_key":
                server.ingestionKey = secret(value, "server.ingestion_key")
            case "idle_timeout":
                server.idleTimeoutSeconds = durationSeconds(value, "server.idle_timeout") ?? server.idleTimeoutSeconds
            default:
                guard let list = value.sequence else {
                    fail("server.admin_tokens", "expected a list of {name, role, token}", value)
                    continue
                }
                var names = Set<String>()
                for (i, item) in list.enumerated() {
                    let path = "server.admin_tokens[\(i)]"
                    guard let fields = mapping(item, path, allowed: ["name", "role", "token"]) else { continue }
                    var name: String?
                    var role: AdminRole?
                    var token: String?
                    for (k, v) in fields {
                        switch k {
                        case "name": name = string(v, "\(path).name")
                        case "role":
                            if let text = string(v, "\(path).role") {
                                role = AdminRole(rawValue: text)
                                if role == nil { fail("\(path).role", "expected admin or viewer, got \"\(text)\"", v) }
                            }
                        default: token = secret(v, "\(path).token")
                        }
                    }
                    guard let name, !name.isEmpty else { fail("\(path).name", "every admin token needs a name", item); continue }
                    if !names.insert(name).inserted { fail("\(path).name", "duplicate token name \"\(name)\"", item) }
                    guard let role else {
                        if fields.contains(where: { $0.0 == "role" }) == false { fail("\(path).role", "missing; set admin or viewer", item) }
                        continue
                    }
                    guard let token else {
                        if fields.contains(where: { $0.0 == "token" }) == false { fail("\(path).token", "missing; reference the token with ${env:NAME} or ${file:/path}", item) }
                        continue
                    }
                    server.adminTokens.append(ConfiguredAdminToken(name: name, role: role, token: token))
                }
            }
        }
    }

    mutating func readIntegrity(_ node: Node, into integrity: inout IntegritySettings) {
        guard let entries = mapping(node, "integrity", allowed: ["enabled", "interval", "key_file", "key", "trusted_keys"]) else { return }
        for (key, value) in entries {
            switch key {
            case "enabled": integrity.enabled = bool(value, "integrity.enabled") ?? integrity.enabled
            case "interval": integrity.interval = duration(value, "integrity.interval") ?? integrity.interval
            case "key": integrity.key = secret(value, "integrity.key") ?? integrity.key
            case "trusted_keys":
                guard let items = value.sequence else {
                    fail("integrity.trusted_keys", "expected a list of base64 public keys (as `sluice integrity public-key` prints them)", value)
                    continue
                }
                for (index, item) in items.enumerated() {
                    let path = "integrity.trusted_keys[\(index)]"
                    guard let text = text(item, path) else { continue }
                    if IntegrityPublicKey(base64: text) == nil {
                        fail(path, "\(text) is not a base64 Ed25519 public key (32 bytes)", item)
                    } else {
                        integrity.trustedKeys.append(text)
                    }
                }
            default: integrity.keyFile = text(value, "integrity.key_file") ?? integrity.keyFile
            }
        }
        if integrity.key != nil && integrity.keyFile != nil {
            fail("integrity.key", "give the signing key either by reference (key) or as a file (key_file), not both", node)
        }
    }

    mutating func readRetention(_ node: Node, into retention: inout RetentionSettings) {
        guard let entries = mapping(node, "retention", allowed: ["days", "batch_size", "interval"]) else { return }
        for (key, value) in entries {
            switch key {
            case "days": retention.days = int(value, "retention.days", range: 1...36_500) ?? retention.days
            case "batch_size": retention.batchSize = int(value, "retention.batch_size", range: 1...1_000_000) ?? retention.batchSize
            default: retention.intervalSeconds = durationSeconds(value, "retention.interval") ?? retention.intervalSeconds
            }
        }
    }

    mutating func readFeeds(_ node: Node) -> [FeedSettings] {
        namedEntries(node, section: "feeds", kind: "feed").compactMap { name, value, path in readFeed(name: name, value, path: path) }
    }

    /// The entries of a section keyed by name (`feeds`, `collectors`), each with its key path;
    /// names that could not be used in URLs and metric labels are reported and skipped.
    mutating func namedEntries(_ node: Node, section: String, kind: String) -> [(name: String, node: Node, path: String)] {
        guard let entries = mapping(node, section, allowed: []) else { return [] }
        var out: [(name: String, node: Node, path: String)] = []
        for (name, value) in entries {
            let path = "\(section).\(name)"
            guard PushFeed.isValidName(name) else {
                fail(path, "\(kind) names may use letters, digits, '-', '_' and '.', up to 64 characters", value)
                continue
            }
            if section != "destinations" && name == AdminAuditEntry.source {
                fail(path, "\"\(name)\" is the source of Sluice's own audit log; choose another \(kind) name", value)
                continue
            }
            out.append((name, value, path))
        }
        return out
    }

    mutating func readFeed(name: String, _ node: Node, path: String) -> FeedSettings? {
        let allowed: Set<String> = [
            "log_type", "secret", "secrets", "verify", "normalizer", "fields", "max_body_bytes", "max_decompressed_bytes", "max_events", "max_depth",
            "expect_events_within",
        ]
        guard let entries = mapping(node, path, allowed: allowed) else { return nil }
        var logType: String?
        var auths: [FeedSettings.Auth] = []
        var normalizerName: String?
        var fieldOverrides: [(String, [FieldPath])] = []
        var limits = PushLimits()
        var expectEventsWithin: Duration?
        for (key, value) in entries {
            let child = "\(path).\(key)"
            switch key {
            case "log_type": logType = string(value, child)
            case "expect_events_within": expectEventsWithin = duration(value, child)
            case "secret", "secrets": auths.append(.sharedSecrets(secretList(value, child)))
            case "verify":
                guard let modes = mapping(value, child, allowed: ["standard_webhooks", "bearer"]) else { continue }
                for (mode, modeNode) in modes {
                    let modePath = "\(child).\(mode)"
                    if mode == "bearer" {
                        guard let fields = mapping(modeNode, modePath, allowed: ["token", "tokens"]) else { continue }
                        auths.append(.bearer(fields.flatMap { secretList($0.1, "\(modePath).\($0.0)") }))
                        continue
                    }
                    guard let fields = mapping(modeNode, modePath, allowed: ["secrets", "secret", "tolerance"]) else { continue }
                    var secrets: [String] = []
                    var tolerance = 300
                    for (k, v) in fields {
                        if k == "tolerance" {
                            tolerance = durationSeconds(v, "\(modePath).tolerance") ?? tolerance
                        } else {
                            for (i, s) in secretList(v, "\(modePath).\(k)").enumerated() {
                                if StandardWebhooksVerifier.keyBytes(fromSecret: s) == nil {
                                    fail("\(modePath).\(k)[\(i)]", "not a Standard Webhooks secret (expected whsec_ followed by base64)", v)
                                } else {
                                    secrets.append(s)
                                }
                            }
                        }
                    }
                    auths.append(.standardWebhooks(secrets: secrets, toleranceSeconds: tolerance))
                }
            case "normalizer":
                normalizerName = string(value, child)
            case "fields":
                fieldOverrides += fieldPaths(value, child)
            case "max_body_bytes": limits.maxBodyBytes = byteSize(value, child) ?? limits.maxBodyBytes
            case "max_decompressed_bytes": limits.maxDecompressedBytes = byteSize(value, child) ?? limits.maxDecompressedBytes
            case "max_events": limits.maxEvents = int(value, child, range: 1...1_000_000) ?? limits.maxEvents
            default: limits.maxDepth = int(value, child, range: 1...1_000) ?? limits.maxDepth
            }
        }
        guard auths.count == 1, let auth = auths.first else {
            fail(path, auths.isEmpty
                ? "no authentication configured; set secret (X-Webhook-Access-Key) or verify.standard_webhooks or verify.bearer"
                : "configure exactly one of secret, verify.standard_webhooks or verify.bearer", node)
            return nil
        }
        var schema: EventNormalizer.Schema = logType == "INCIDENT_IO" ? .incidentIO : .generic
        if let normalizerName {
            guard let chosen = EventNormalizer.Schema(rawValue: normalizerName) else {
                fail("\(path).normalizer", "expected incident_io or generic, got \"\(normalizerName)\"", node)
                return nil
            }
            schema = chosen
        }
        var normalizer = EventNormalizer(schema: schema)
        Self.apply(fieldOverrides, to: &normalizer)
        return FeedSettings(
            name: name,
            logType: logType ?? (schema == .incidentIO ? "INCIDENT_IO" : "JSON"),
            auth: auth,
            normalizer: normalizer,
            limits: limits,
            expectEventsWithin: expectEventsWithin
        )
    }
}

extension ConfigReader {
    /// A `fields:` mapping (a push feed's, an `http_pull` collector's): for each audit field, the
    /// JSON path or paths, tried in order, where a sender's event holds it.
    mutating func fieldPaths(_ value: Node, _ path: String) -> [(String, [FieldPath])] {
        let names = ["occurred_at", "action", "actor_id", "actor_name", "actor_type", "actor_metadata", "targets", "target_id", "target_name", "target_type", "location", "user_agent", "version", "event_id"]
        guard let fields = mapping(value, path, allowed: Set(names)) else { return [] }
        var out: [(String, [FieldPath])] = []
        for (k, v) in fields {
            if let list = v.sequence {
                out.append((k, list.compactMap { $0.string }.map(FieldPath.init)))
            } else if let s = string(v, "\(path).\(k)") {
                out.append((k, [FieldPath(s)]))
            }
        }
        return out
    }

    static func apply(_ overrides: [(String, [FieldPath])], to normalizer: inout EventNormalizer) {
        for (field, paths) in overrides {
            switch field {
            case "occurred_at": normalizer.fields.occurredAt = paths
            case "action": normalizer.fields.action = paths
            case "actor_id": normalizer.fields.actorID = paths
            case "actor_name": normalizer.fields.actorName = paths
            case "actor_type": normalizer.fields.actorType = paths
            case "actor_metadata": normalizer.fields.actorMetadata = paths
            case "targets": normalizer.fields.targets = paths
            case "target_id": normalizer.fields.targetID = paths
            case "target_name": normalizer.fields.targetName = paths
            case "target_type": normalizer.fields.targetType = paths
            case "location": normalizer.fields.location = paths
            case "user_agent": normalizer.fields.userAgent = paths
            case "version": normalizer.fields.version = paths
            default: normalizer.fields.eventID = paths
            }
        }
    }
}

/// Why a secret reference (`${env:NAME}`, `${file:/path}`) gives no value, wherever in the config it stands.
struct SecretReferenceError: Error, Sendable, CustomStringConvertible {
    var message: String

    init(_ message: String) {
        self.message = message
    }

    var description: String { message }
}
