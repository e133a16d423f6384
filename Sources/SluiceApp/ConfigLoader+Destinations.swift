import Crypto
import Foundation
import SluiceCore
import SluiceDestinations
import SluiceEngine
import SluiceHTTP
import Yams

/// A configured destination, before the runtime gives it a transport.
public struct DestinationSettings: Sendable {
    public enum Kind: Sendable {
        case chronicleWebhook(ChronicleWebhookDestination.Configuration)
        case splunkHEC(SplunkHECDestination.Configuration)
        case https(HTTPSDestination.Configuration, oauth2: ClientCredentialsGrant?)
        case file(FileDestination.Configuration)
        case s3(S3Destination.Configuration)
        case gcs(GCSDestination.Configuration, grant: GoogleJWTGrant)
        case chronicleImport(ChronicleImportDestination.Configuration, grant: GoogleJWTGrant)
    }

    public var name: String
    public var kind: Kind
    public var allowPrivateNetworks: Bool
    public var timeout: Duration
    public var delivery: DeliverySettings
}

extension ConfigReader {
    static let commonDestinationKeys: Set<String> = ["type", "allow_private_networks", "timeout", "batch", "concurrency", "retry", "paused_retry_interval"]
    static let destinationKeys: [String: Set<String>] = [
        "chronicle_webhook": ["url", "api_key", "secret"],
        "splunk_hec": ["url", "token", "index", "sourcetype", "host", "channel", "acknowledgement", "ack_timeout"],
        "https": ["url", "format", "headers", "bearer_token", "oauth2"],
        "file": ["path", "max_file_size", "max_file_age"],
        "s3": ["bucket", "region", "endpoint", "path_style", "access_key_id", "secret_access_key", "session_token", "prefix", "format", "gzip"],
        "gcs": ["bucket", "endpoint", "credentials_file", "prefix", "format", "gzip"],
        "chronicle_import": [
            "credentials_file", "region", "endpoint", "api_version", "project", "location", "instance", "log_type", "namespace", "labels", "forwarder",
        ],
    ]

    mutating func readDestinations(_ node: Node) -> [DestinationSettings] {
        namedEntries(node, section: "destinations", kind: "destination").compactMap { name, value, path in readDestination(name: name, value, path: path) }
    }

    mutating func readDestination(name: String, _ node: Node, path: String) -> DestinationSettings? {
        guard let typeNode = node.mapping?["type"], let type = typeNode.string else {
            fail("\(path).type", "missing; set type to one of \(Self.destinationKeys.keys.sorted().joined(separator: ", "))", node)
            return nil
        }
        guard let specific = Self.destinationKeys[type] else {
            fail("\(path).type", "unknown destination type \"\(type)\"; expected one of \(Self.destinationKeys.keys.sorted().joined(separator: ", "))", typeNode)
            return nil
        }
        guard let entries = mapping(node, path, allowed: Self.commonDestinationKeys.union(specific)) else { return nil }
        let fields = Dictionary(entries, uniquingKeysWith: { _, last in last })
        var allowPrivate = false
        if let v = fields["allow_private_networks"] { allowPrivate = bool(v, "\(path).allow_private_networks") ?? false }
        var timeout = Duration.seconds(30)
        if let v = fields["timeout"], let d = duration(v, "\(path).timeout") { timeout = d }
        var delivery = DeliverySettings()
        if let v = fields["concurrency"], let n = int(v, "\(path).concurrency", range: 1...64) { delivery.concurrency = n }
        if let v = fields["paused_retry_interval"], let d = duration(v, "\(path).paused_retry_interval") { delivery.pausedRetryInterval = d }
        if let v = fields["retry"], let retry = mapping(v, "\(path).retry", allowed: ["base_delay", "max_delay", "max_attempts"]) {
            for (key, value) in retry {
                switch key {
                case "base_delay": if let d = duration(value, "\(path).retry.base_delay") { delivery.backoff.base = d }
                case "max_delay": if let d = duration(value, "\(path).retry.max_delay") { delivery.backoff.cap = d }
                default: delivery.maxAttempts = int(value, "\(path).retry.max_attempts", range: 1...1_000_000)
                }
            }
        }
        var batchEvents: Int?
        var batchBytes: Int?
        if let v = fields["batch"], let batch = mapping(v, "\(path).batch", allowed: ["max_events", "max_bytes", "max_wait"]) {
            for (key, value) in batch {
                switch key {
                case "max_events": batchEvents = int(value, "\(path).batch.max_events", range: 1...100_000)
                case "max_bytes": batchBytes = byteSize(value, "\(path).batch.max_bytes")
                default: if let d = duration(value, "\(path).batch.max_wait", allowingZero: true) { delivery.maxWait = d }
                }
            }
        }
        func limits(_ defaults: BatchLimits, hardMaxBytes: Int? = nil) -> BatchLimits {
            var out = BatchLimits(maxEvents: batchEvents ?? defaults.maxEvents, maxBytes: batchBytes ?? defaults.maxBytes)
            if let hardMaxBytes, out.maxBytes > hardMaxBytes {
                fail("\(path).batch.max_bytes", "\(type) accepts at most \(hardMaxBytes) bytes per request", fields["batch"])
                out.maxBytes = hardMaxBytes
            }
            return out
        }

        let kind: DestinationSettings.Kind?
        switch type {
        case "chronicle_webhook":
            let url = requiredURL(fields, "url", path, example: "https://us-chronicle.googleapis.com/v1alpha/projects/P/locations/us/instances/I/feeds/F:importPushLogs", node)
            let feedSecret = requiredSecret(fields, "secret", path, node)
            let apiKey = fields["api_key"].flatMap { secret($0, "\(path).api_key") }
            if let url, let feedSecret {
                var configuration = ChronicleWebhookDestination.Configuration(name: name, url: url, apiKey: apiKey, secret: feedSecret)
                configuration.limits = limits(configuration.limits, hardMaxBytes: 1_000_000)
                kind = .chronicleWebhook(configuration)
            } else {
                kind = nil
            }
        case "splunk_hec":
            let url = requiredURL(fields, "url", path, example: "https://splunk.example.com:8088", node)
            let token = requiredSecret(fields, "token", path, node)
            guard let url, let token else { return nil }
            // A stable channel per destination name, so acknowledgements survive a restart.
            let d = Array(SHA256.hash(data: Array("sluice/\(name)".utf8)))
            var channel = UUID(uuid: (d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15])).uuidString
            if let v = fields["channel"], let text = string(v, "\(path).channel") { channel = text }
            var configuration = SplunkHECDestination.Configuration(name: name, baseURL: url, token: token, channel: channel)
            configuration.index = fields["index"].flatMap { string($0, "\(path).index") }
            configuration.sourcetype = fields["sourcetype"].flatMap { string($0, "\(path).sourcetype") }
            configuration.host = fields["host"].flatMap { string($0, "\(path).host") }
            if let v = fields["acknowledgement"] { configuration.acknowledgement = bool(v, "\(path).acknowledgement") ?? false }
            if let v = fields["ack_timeout"], let d = duration(v, "\(path).ack_timeout") { configuration.ackTimeout = d }
            configuration.limits = limits(configuration.limits)
            kind = .splunkHEC(configuration)
        case "https":
            guard let url = requiredURL(fields, "url", path, example: "https://collector.example.com/ingest", node) else { return nil }
            var configuration = HTTPSDestination.Configuration(name: name, url: url)
            if let v = fields["format"], let text = string(v, "\(path).format") {
                if let format = HTTPSDestination.Format(rawValue: text) {
                    configuration.format = format
                } else {
                    fail("\(path).format", "expected ndjson, json_array or chat, got \"\(text)\"", v)
                }
            }
            if let v = fields["headers"], let headers = mapping(v, "\(path).headers", allowed: []) {
                for (key, value) in headers {
                    if let text = reference(value, "\(path).headers.\(key)") { configuration.headers.append((key, text)) }
                }
            }
            var grant: ClientCredentialsGrant?
            if let v = fields["bearer_token"], let token = secret(v, "\(path).bearer_token") { configuration.authorization = .bearer(token) }
            if let v = fields["oauth2"], let oauth = mapping(v, "\(path).oauth2", allowed: ["token_url", "client_id", "client_secret"]) {
                let o = Dictionary(oauth, uniquingKeysWith: { _, last in last })
                let tokenURL = requiredURL(o, "token_url", "\(path).oauth2", example: "https://auth.example.com/oauth/token", v)
                let clientID = requiredSecret(o, "client_id", "\(path).oauth2", v)
                let clientSecret = requiredSecret(o, "client_secret", "\(path).oauth2", v)
                if fields["bearer_token"] != nil { fail("\(path).oauth2", "set either bearer_token or oauth2, not both", v) }
                if let tokenURL, let clientID, let clientSecret { grant = ClientCredentialsGrant(tokenURL: tokenURL, clientID: clientID, clientSecret: clientSecret) }
            }
            configuration.limits = limits(configuration.limits)
            kind = .https(configuration, oauth2: grant)
        case "file":
            guard let v = fields["path"], let directory = string(v, "\(path).path"), !directory.isEmpty else {
                fail("\(path).path", "missing; set the directory the NDJSON files are written to", node)
                return nil
            }
            var configuration = FileDestination.Configuration(name: name, directory: directory)
            if let v = fields["max_file_size"], let n = byteSize(v, "\(path).max_file_size") { configuration.maxBytes = n }
            if let v = fields["max_file_age"], let d = duration(v, "\(path).max_file_age") { configuration.maxAge = d }
            configuration.limits = limits(configuration.limits)
            kind = .file(configuration)
        case "gcs":
            let key = serviceAccountKey(fields, path, node)
            guard let bucket = requiredName(fields, "bucket", path, hint: "set the bucket name", node), let key else { return nil }
            let endpoint = fields["endpoint"].flatMap { reference($0, "\(path).endpoint") }
            var configuration = GCSDestination.Configuration(name: name, bucket: bucket, endpoint: endpoint, layout: readLayout(fields, path))
            configuration.limits = limits(configuration.limits)
            kind = .gcs(configuration, grant: GoogleJWTGrant(key: key, scope: GoogleJWTGrant.storageReadWriteScope))
        case "chronicle_import":
            let key = serviceAccountKey(fields, path, node)
            let project = requiredName(fields, "project", path, hint: "set the Google Cloud project number or ID of the SecOps instance", node)
            let instance = requiredName(fields, "instance", path, hint: "set the SecOps customer ID", node)
            let region = fields["region"].flatMap { string($0, "\(path).region") }
            let endpoint = fields["endpoint"].flatMap { reference($0, "\(path).endpoint") } ?? region.map { "https://\($0)-chronicle.googleapis.com" }
            let location = fields["location"].flatMap { string($0, "\(path).location") } ?? region
            if endpoint == nil || location == nil {
                fail("\(path).region", "missing; set region (us, europe, europe-west3, ...) or both endpoint and location", node)
            }
            guard let key, let project, let instance, let endpoint, let location else { return nil }
            var configuration = ChronicleImportDestination.Configuration(name: name, endpoint: endpoint, project: project, location: location, instance: instance)
            if let v = fields["api_version"], let text = string(v, "\(path).api_version") { configuration.apiVersion = text }
            configuration.logType = fields["log_type"].flatMap { string($0, "\(path).log_type") }
            configuration.namespace = fields["namespace"].flatMap { string($0, "\(path).namespace") }
            configuration.forwarder = fields["forwarder"].flatMap { string($0, "\(path).forwarder") }
            if let v = fields["labels"], let labels = mapping(v, "\(path).labels", allowed: []) {
                configuration.labels = labels.compactMap { key, value in string(value, "\(path).labels.\(key)").map { (key, $0) } }
            }
            configuration.limits = limits(configuration.limits, hardMaxBytes: ChronicleImportDestination.maxRequestBytes - 100_000)
            kind = .chronicleImport(configuration, grant: GoogleJWTGrant(key: key, scope: GoogleJWTGrant.cloudPlatformScope))
        default:
            guard let bucket = requiredName(fields, "bucket", path, hint: "set the bucket name", node) else { return nil }
            let region = fields["region"].flatMap { string($0, "\(path).region") } ?? "us-east-1"
            let endpoint = fields["endpoint"].flatMap { reference($0, "\(path).endpoint") }
            let accessKey = requiredSecret(fields, "access_key_id", path, node)
            let secretKey = requiredSecret(fields, "secret_access_key", path, node)
            let sessionToken = fields["session_token"].flatMap { secret($0, "\(path).session_token") }
            var pathStyle = endpoint != nil
            if let v = fields["path_style"] { pathStyle = bool(v, "\(path).path_style") ?? pathStyle }
            let layout = readLayout(fields, path)
            guard let accessKey, let secretKey else { return nil }
            var configuration = S3Destination.Configuration(
                name: name, bucket: bucket, region: region, endpoint: endpoint, pathStyle: pathStyle, accessKeyID: accessKey,
                secretAccessKey: secretKey, sessionToken: sessionToken, layout: layout
            )
            configuration.limits = limits(configuration.limits)
            kind = .s3(configuration)
        }
        guard let kind else { return nil }
        return DestinationSettings(name: name, kind: kind, allowPrivateNetworks: allowPrivate, timeout: timeout, delivery: delivery)
    }

    mutating func readLayout(_ fields: [String: Node], _ path: String) -> ObjectLayout {
        var layout = ObjectLayout()
        if let v = fields["prefix"], let text = string(v, "\(path).prefix") { layout.prefix = text }
        if let v = fields["gzip"] { layout.gzip = bool(v, "\(path).gzip") ?? false }
        if let v = fields["format"], let text = string(v, "\(path).format") {
            if let format = ObjectLayout.Format(rawValue: text) {
                layout.format = format
            } else {
                fail("\(path).format", "expected ndjson or json, got \"\(text)\"", v)
            }
        }
        return layout
    }

    mutating func requiredURL(_ fields: [String: Node], _ key: String, _ path: String, example: String, _ parent: Node?) -> String? {
        guard let v = fields[key] else {
            fail("\(path).\(key)", "missing; for example \(example)", parent)
            return nil
        }
        guard let text = reference(v, "\(path).\(key)") else { return nil }
        guard (text.hasPrefix("https://") || text.hasPrefix("http://")) && text.count > 8 else {
            fail("\(path).\(key)", "expected an http(s) URL such as \(example)", v)
            return nil
        }
        return text
    }

    mutating func requiredName(_ fields: [String: Node], _ key: String, _ path: String, hint: String, _ parent: Node?) -> String? {
        guard let v = fields[key], let text = string(v, "\(path).\(key)"), !text.isEmpty else {
            fail("\(path).\(key)", "missing; \(hint)", parent)
            return nil
        }
        return text
    }

    /// `credentials_file`: the path of a service-account JSON key, or a reference whose value is
    /// the key itself (`${env:SA_JSON}`, `${file:/run/secrets/sa.json}`).
    mutating func serviceAccountKey(_ fields: [String: Node], _ path: String, _ parent: Node?) -> GoogleServiceAccountKey? {
        let field = "\(path).credentials_file"
        guard let v = fields["credentials_file"] else {
            fail(field, "missing; set the path of the service account's JSON key file", parent)
            return nil
        }
        guard let text = secret(v, field) else { return nil }
        var json = Array(text.utf8)
        if !text.hasPrefix("{") {
            guard let data = FileManager.default.contents(atPath: text) else {
                fail(field, "cannot read \(text); check the path and that sluice may read the file", v)
                return nil
            }
            json = Array(data)
        }
        do {
            return try GoogleServiceAccountKey(json: json)
        } catch {
            fail(field, error.message, v)
            return nil
        }
    }

    mutating func requiredSecret(_ fields: [String: Node], _ key: String, _ path: String, _ parent: Node?) -> String? {
        guard let v = fields[key] else {
            fail("\(path).\(key)", "missing; reference it with ${env:NAME} or ${file:/path}", parent)
            return nil
        }
        return secret(v, "\(path).\(key)")
    }

    mutating func bool(_ node: Node, _ path: String) -> Bool? {
        guard node.scalar != nil, let value = node.bool else {
            fail(path, "expected true or false", node)
            return nil
        }
        return value
    }

    /// `250ms`, `30s`, `5m`, `1h`, `7d`, or whole seconds.
    mutating func duration(_ node: Node, _ path: String, allowingZero: Bool = false) -> Duration? {
        if let text = node.scalar?.string, text.hasSuffix("ms"), let n = Int(text.dropLast(2)), n > 0 || (n == 0 && allowingZero) { return .milliseconds(n) }
        return durationSeconds(node, path, allowingZero: allowingZero).map { .seconds($0) }
    }

    mutating func readRoutes(_ node: Node) -> [DeliveryRoute] {
        guard let list = node.sequence else {
            fail("routes", "expected a list such as - { from: [incydr], to: [archive] }", node)
            return []
        }
        var routes: [DeliveryRoute] = []
        for (i, item) in list.enumerated() {
            let path = "routes[\(i)]"
            guard let entries = mapping(item, path, allowed: ["from", "to", "log_types", "actions"]) else { continue }
            let fields = Dictionary(entries, uniquingKeysWith: { _, last in last })
            let from = fields["from"].map { names($0, "\(path).from") } ?? []
            let to = fields["to"].map { names($0, "\(path).to") } ?? []
            if fields["from"] == nil { fail("\(path).from", "missing; name the feeds or collectors (or sluice, for its own audit log) whose events this route sends", item) }
            if fields["to"] == nil { fail("\(path).to", "missing; name the destinations this route sends to", item) }
            let logTypes = fields["log_types"].map { Set(names($0, "\(path).log_types")) }
            let actions = fields["actions"].map { Set(names($0, "\(path).actions")) }
            routes.append(DeliveryRoute(from: Set(from), to: to, logTypes: logTypes, actions: actions))
        }
        return routes
    }

    mutating func names(_ node: Node, _ path: String) -> [String] {
        if let list = node.sequence {
            if list.isEmpty { fail(path, "the list is empty", node) }
            return list.enumerated().compactMap { string($0.element, "\(path)[\($0.offset)]") }
        }
        return string(node, path).map { [$0] } ?? []
    }

    /// Every route names things that exist; every destination is reached by some route.
    mutating func checkRoutes(_ config: SluiceConfig, routesNode: Node?) {
        // Sluice's own audit log routes like a feed (docs/audit-events.md).
        let sources = Set(config.feeds.map(\.name) + config.collectors.map(\.name) + [AdminAuditEntry.source])
        let destinations = Set(config.destinations.map(\.name))
        for (i, route) in config.routes.enumerated() {
            for name in route.from.sorted() where !sources.contains(name) {
                fail("routes[\(i)].from", "no feed or collector is named \"\(name)\"; known: \(sources.sorted().joined(separator: ", "))", routesNode)
            }
            for name in route.to where !destinations.contains(name) {
                fail("routes[\(i)].to", "no destination is named \"\(name)\"; known: \(destinations.sorted().joined(separator: ", "))", routesNode)
            }
        }
        for destination in config.destinations where !config.routes.contains(where: { $0.to.contains(destination.name) }) {
            warnings.append(ConfigIssue(path: "destinations.\(destination.name)", message: "no route sends events here; add it to a route's to: list"))
        }
    }
}
