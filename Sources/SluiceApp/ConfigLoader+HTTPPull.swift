import SluiceCore
import SluiceHTTP
import SluiceSources
import Yams

extension ConfigReader {
    /// A `type: http_pull` collector: everything that can be known before the first request is
    /// checked here (template variables, time formats, pagination, paths), each error naming its key.
    mutating func readHTTPPull(name: String, _ node: Node, path: String) -> CollectorSettings? {
        let allowed: Set<String> = [
            "type", "base_url", "auth", "headers", "streams", "schedule", "lookback", "overlap", "requests_per_minute", "max_pages_per_run",
            "request_timeout", "retry", "allow_private_networks", "expect_events_within", "log_type", "fields",
        ]
        guard let entries = mapping(node, path, allowed: allowed) else { return nil }
        let fields = Dictionary(entries, uniquingKeysWith: { _, last in last })
        let baseURL = collectorBaseURL(fields, path, example: "https://api.example.com", node)
        var streams: [HTTPPullConfiguration.Stream] = []
        if let v = fields["streams"] {
            if let list = mapping(v, "\(path).streams", allowed: []) {
                for (streamName, streamNode) in list {
                    if let stream = readPullStream(streamName, streamNode, "\(path).streams.\(streamName)") { streams.append(stream) }
                }
                if list.isEmpty { fail("\(path).streams", "no streams; name at least one, e.g. streams: { events: { path: /v1/events, time: created_at } }", v) }
            }
        } else {
            fail("\(path).streams", "missing; describe at least one listing, e.g. streams: { events: { path: /v1/events, time: created_at } }", node)
        }
        var configuration = HTTPPullConfiguration(name: name, baseURL: baseURL ?? "", streams: streams)
        if let v = fields["auth"], let auth = readPullAuth(v, "\(path).auth") { configuration.auth = auth }
        if let v = fields["headers"], let headers = mapping(v, "\(path).headers", allowed: []) {
            for (header, value) in headers {
                if let text = secret(value, "\(path).headers.\(header)") { configuration.headers.append((header, text)) }
            }
        }
        if let v = fields["log_type"], let text = string(v, "\(path).log_type") { configuration.logType = text }
        if let v = fields["fields"] { Self.apply(fieldPaths(v, "\(path).fields"), to: &configuration.normalizer) }
        readTuning(fields, path, into: &configuration)
        let schedule = readSchedule(fields["schedule"], "\(path).schedule")
        guard baseURL != nil, !streams.isEmpty else { return nil }
        let expectEventsWithin = fields["expect_events_within"].flatMap { duration($0, "\(path).expect_events_within") }
        return CollectorSettings(kind: .httpPull(configuration), schedule: schedule, expectEventsWithin: expectEventsWithin)
    }

    /// A built-in preset (`okta_system_log`, `slack_audit_logs`, `duo_admin_logs`,
    /// `google_workspace_reports`): its credentials and options, plus the keys every pull
    /// collector takes. Every key is checked even when one is wrong.
    mutating func readPreset(name: String, type: String, _ node: Node, path: String) -> CollectorSettings? {
        let tuning: Set<String> = [
            "type", "base_url", "schedule", "lookback", "overlap", "requests_per_minute", "max_pages_per_run", "request_timeout", "retry",
            "allow_private_networks", "expect_events_within",
        ]
        let own: Set<String> = switch type {
        case "okta_system_log": ["token", "client_id", "private_key", "key_id"]
        case "slack_audit_logs": ["token"]
        case "duo_admin_logs": ["integration_key", "secret_key", "logs"]
        default: ["credentials_file", "subject", "applications", "customer_id"]
        }
        guard let entries = mapping(node, path, allowed: tuning.union(own)) else { return nil }
        let fields = Dictionary(entries, uniquingKeysWith: { _, last in last })
        // Tenant-specific APIs need their address; Slack's and Google's have one.
        let defaultBaseURL: String? = switch type {
        case "slack_audit_logs": "https://api.slack.com"
        case "google_workspace_reports": "https://admin.googleapis.com"
        default: nil
        }
        let example = type == "okta_system_log" ? "https://your-org.okta.com" : "https://api-XXXXXXXX.duosecurity.com"
        let baseURL = if fields["base_url"] == nil, let defaultBaseURL { defaultBaseURL } else { collectorBaseURL(fields, path, example: example, node) }
        func required(_ key: String, _ what: String) -> String? {
            guard let v = fields[key] else {
                fail("\(path).\(key)", "missing; \(what), referenced with ${env:NAME} or ${file:/path}", node)
                return nil
            }
            return secret(v, "\(path).\(key)")
        }
        var configuration: HTTPPullConfiguration?
        let url = baseURL ?? ""
        switch type {
        case "okta_system_log":
            if fields["client_id"] != nil || fields["private_key"] != nil {
                // A service app: OAuth 2.0 client credentials proven with its private key.
                guard fields["token"] == nil else {
                    fail("\(path).token", "set either token (an API token) or client_id and private_key (a service app), not both", node)
                    break
                }
                let clientID = required("client_id", "the service app's client id")
                if let clientID, let key = signingKey(fields, path, node) {
                    configuration = HTTPPullPreset.oktaSystemLog(name: name, baseURL: url, clientID: clientID, signingKey: key)
                }
            } else if let token = required("token", "an Okta API token (Security > API > Tokens), or client_id and private_key of a service app") {
                configuration = HTTPPullPreset.oktaSystemLog(name: name, baseURL: url, token: token)
            }
        case "slack_audit_logs":
            if let token = required("token", "an org-level user token with the auditlogs:read scope (xoxp-...)") {
                configuration = HTTPPullPreset.slackAuditLogs(name: name, baseURL: url, token: token)
            }
        case "duo_admin_logs":
            let known = HTTPPullPreset.DuoLog.allCases.map(\.rawValue)
            let logs = fields["logs"].map { names($0, "\(path).logs", known: known) } ?? known
            let integrationKey = required("integration_key", "the Admin API application's integration key (DI...)")
            let secretKey = required("secret_key", "the Admin API application's secret key")
            if let integrationKey, let secretKey {
                configuration = HTTPPullPreset.duoAdminLogs(
                    name: name, baseURL: url, signer: DuoRequestSigner(integrationKey: integrationKey, secretKey: secretKey),
                    logs: logs.compactMap(HTTPPullPreset.DuoLog.init(rawValue:))
                )
            }
        default:
            let applications = fields["applications"].map { names($0, "\(path).applications", known: nil) } ?? HTTPPullPreset.googleWorkspaceApplications
            let key = serviceAccountKey(fields, path, node)
            var subject: String?
            if let v = fields["subject"] {
                subject = string(v, "\(path).subject")
            } else {
                fail("\(path).subject", "missing; the administrator the service account acts for by domain-wide delegation, e.g. admin@example.com", node)
            }
            let customerID = fields["customer_id"].flatMap { string($0, "\(path).customer_id") }
            if let key, let subject {
                configuration = HTTPPullPreset.googleWorkspaceReports(
                    name: name, baseURL: url, key: key, subject: subject, applications: applications, customerID: customerID
                )
            }
        }
        let schedule = readSchedule(fields["schedule"], "\(path).schedule")
        let expectEventsWithin = fields["expect_events_within"].flatMap { duration($0, "\(path).expect_events_within") }
        guard var configuration, baseURL != nil else {
            // Still check the common keys, so one check names every problem.
            var scratch = HTTPPullConfiguration(name: name, baseURL: url, streams: [])
            readTuning(fields, path, into: &scratch)
            return nil
        }
        readTuning(fields, path, into: &configuration)
        return CollectorSettings(kind: .httpPull(configuration), schedule: schedule, expectEventsWithin: expectEventsWithin)
    }

    /// A list of names (`[authentication, telephony]`), each one of `known` when given; an
    /// unknown or repeated name is refused. Empty on error (the error is recorded).
    mutating func names(_ node: Node, _ path: String, known: [String]?) -> [String] {
        guard let list = node.sequence, !list.isEmpty else {
            fail(path, "expected a non-empty list such as [\((known ?? ["login", "admin"]).joined(separator: ", "))]", node)
            return []
        }
        var out: [String] = []
        for (i, item) in list.enumerated() {
            guard let text = string(item, "\(path)[\(i)]") else { continue }
            if let known, !known.contains(text) {
                fail("\(path)[\(i)]", "unknown \"\(text)\"; expected \(known.joined(separator: ", "))", item)
            } else if text.isEmpty || text.contains("/") {
                fail("\(path)[\(i)]", "\"\(text)\" is not a name", item)
            } else if out.contains(text) {
                fail("\(path)[\(i)]", "\"\(text)\" is listed twice", item)
            } else {
                out.append(text)
            }
        }
        return out
    }

    mutating func readPullAuth(_ node: Node, _ path: String) -> HTTPPullConfiguration.Auth? {
        guard let entries = mapping(node, path, allowed: [
            "type", "token", "scheme", "user", "password", "header", "query", "value", "token_url", "client_id", "client_secret", "scope",
            "credentials_file", "subject", "integration_key", "secret_key", "private_key", "key_id",
        ]) else { return nil }
        let fields = Dictionary(entries, uniquingKeysWith: { _, last in last })
        func required(_ key: String) -> String? {
            guard let v = fields[key] else {
                fail("\(path).\(key)", "missing; reference it with ${env:NAME} or ${file:/path}", node)
                return nil
            }
            return secret(v, "\(path).\(key)")
        }
        let type = fields["type"].flatMap { string($0, "\(path).type") } ?? "none"
        switch type {
        case "none":
            return HTTPPullConfiguration.Auth.none
        case "bearer":
            let scheme = fields["scheme"].flatMap { string($0, "\(path).scheme") } ?? "Bearer"
            guard let token = required("token") else { return nil }
            return .token(scheme: scheme, token: token)
        case "basic":
            guard let user = required("user"), let password = required("password") else { return nil }
            return .basic(user: user, password: password)
        case "api_key":
            let header = fields["header"].flatMap { string($0, "\(path).header") }
            let query = fields["query"].flatMap { string($0, "\(path).query") }
            guard (header == nil) != (query == nil) else {
                fail(path, "an api_key goes in a header or a query parameter: set exactly one of header and query", node)
                return nil
            }
            guard let value = required("value") else { return nil }
            return .apiKey(header: header, query: query, value: value)
        case "oauth2_client_credentials":
            guard let tokenURL = fields["token_url"].flatMap({ reference($0, "\(path).token_url") }), let clientID = required("client_id"),
                  let clientSecret = required("client_secret") else {
                if fields["token_url"] == nil { fail("\(path).token_url", "missing; the token endpoint, e.g. https://auth.example.com/oauth2/token", node) }
                return nil
            }
            return .clientCredentials(ClientCredentialsGrant(
                tokenURL: tokenURL, clientID: clientID, clientSecret: clientSecret, authentication: .basic, scope: fields["scope"].flatMap { string($0, "\(path).scope") }
            ))
        case "oauth2_private_key_jwt":
            let tokenURL = fields["token_url"].flatMap { reference($0, "\(path).token_url") }
            if fields["token_url"] == nil { fail("\(path).token_url", "missing; the token endpoint, e.g. https://auth.example.com/oauth2/token", node) }
            let clientID = required("client_id")
            let key = signingKey(fields, path, node)
            guard let tokenURL, let clientID, let key else { return nil }
            return .clientCredentials(ClientCredentialsGrant(tokenURL: tokenURL, clientID: clientID, signingKey: key, scope: fields["scope"].flatMap { string($0, "\(path).scope") }))
        case "google_service_account":
            let key = serviceAccountKey(fields, path, node)
            guard let scope = fields["scope"].flatMap({ string($0, "\(path).scope") }) else {
                if fields["scope"] == nil { fail("\(path).scope", "missing; the OAuth scope the API needs, e.g. https://www.googleapis.com/auth/admin.reports.audit.readonly", node) }
                return nil
            }
            let subject = fields["subject"].flatMap { string($0, "\(path).subject") }
            guard let key else { return nil }
            return .googleServiceAccount(GoogleJWTGrant(key: key, scope: scope, subject: subject))
        case "duo_signature":
            guard let integrationKey = required("integration_key"), let secretKey = required("secret_key") else { return nil }
            return .duoSignature(DuoRequestSigner(integrationKey: integrationKey, secretKey: secretKey))
        default:
            fail("\(path).type", "unknown auth type \"\(type)\"; expected none, bearer, basic, api_key, oauth2_client_credentials, oauth2_private_key_jwt, google_service_account or duo_signature", node)
            return nil
        }
    }

    /// `private_key` (a PEM RSA key, by reference: `${file:/run/secrets/app.pem}`) and `key_id`.
    mutating func signingKey(_ fields: [String: Node], _ path: String, _ node: Node) -> JWTSigningKey? {
        guard let v = fields["private_key"] else {
            fail("\(path).private_key", "missing; the app's RSA private key in PEM form, referenced with ${file:/path} or ${env:NAME}", node)
            return nil
        }
        guard let pem = secret(v, "\(path).private_key") else { return nil }
        do {
            return try JWTSigningKey(pem: pem, keyID: fields["key_id"].flatMap { string($0, "\(path).key_id") })
        } catch {
            fail("\(path).private_key", error.message, v)
            return nil
        }
    }

    mutating func readPullStream(_ name: String, _ node: Node, _ path: String) -> HTTPPullConfiguration.Stream? {
        guard let entries = mapping(node, path, allowed: [
            "method", "path", "query", "body", "records", "id", "time", "time_format", "pagination", "checkpoint", "page_size", "log_type",
        ]) else { return nil }
        let fields = Dictionary(entries, uniquingKeysWith: { _, last in last })
        func template(_ node: Node, _ at: String) -> RequestTemplate? {
            guard let text = string(node, at) else { return nil }
            do {
                return try RequestTemplate(text)
            } catch {
                fail(at, error.description, node)
                return nil
            }
        }
        // Every key is checked even when one is wrong, so one check names every problem.
        var requestPath: RequestTemplate?
        if let pathNode = fields["path"] {
            requestPath = template(pathNode, "\(path).path")
        } else {
            fail("\(path).path", "missing; the listing's path after base_url, e.g. /v1/events", node)
        }
        var time: String?
        if let timeNode = fields["time"] {
            time = string(timeNode, "\(path).time")
        } else {
            fail("\(path).time", "missing; the JSON path of each record's time, e.g. created_at", node)
        }
        var stream = HTTPPullConfiguration.Stream(name: name, path: requestPath ?? RequestTemplate(literal: "/"), time: FieldPath(time ?? ""))
        if let v = fields["method"], let method = string(v, "\(path).method") {
            if ["GET", "POST"].contains(method.uppercased()) { stream.method = method.uppercased() } else { fail("\(path).method", "expected GET or POST, got \"\(method)\"", v) }
        }
        if let v = fields["query"], let query = mapping(v, "\(path).query", allowed: []) {
            for (parameter, valueNode) in query {
                if let value = template(valueNode, "\(path).query.\(parameter)") { stream.query.append((parameter, value)) }
            }
        }
        if let v = fields["body"] { stream.body = template(v, "\(path).body") }
        if let v = fields["records"], let text = string(v, "\(path).records"), !text.isEmpty { stream.records = FieldPath(text) }
        if let v = fields["id"], let text = string(v, "\(path).id") { stream.id = FieldPath(text) }
        if let v = fields["time_format"], let text = string(v, "\(path).time_format") {
            if let format = HTTPPullConfiguration.TimeFormat(rawValue: text) {
                stream.timeFormat = format
            } else {
                fail("\(path).time_format", "expected \(HTTPPullConfiguration.TimeFormat.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(text)\"", v)
            }
        }
        if let v = fields["page_size"], let n = int(v, "\(path).page_size", range: 1...100_000) { stream.pageSize = n }
        if let v = fields["log_type"], let text = string(v, "\(path).log_type") { stream.logType = text }
        if let v = fields["checkpoint"], let text = string(v, "\(path).checkpoint") {
            if let mode = HTTPPullConfiguration.CheckpointMode(rawValue: text) { stream.checkpoint = mode } else { fail("\(path).checkpoint", "expected window or cursor, got \"\(text)\"", v) }
        }
        if let v = fields["pagination"], let pagination = readPagination(v, "\(path).pagination") { stream.pagination = pagination }
        if stream.checkpoint == .cursor, case .none = stream.pagination {
            fail("\(path).checkpoint", "a cursor checkpoint keeps the API's next page, so it needs pagination (next_token or link)", node)
        }
        guard requestPath != nil, time != nil else { return nil }
        return stream
    }

    mutating func readPagination(_ node: Node, _ path: String) -> HTTPPullConfiguration.Pagination? {
        guard let entries = mapping(node, path, allowed: ["type", "path", "param", "start"]) else { return nil }
        let fields = Dictionary(entries, uniquingKeysWith: { _, last in last })
        let type = fields["type"].flatMap { string($0, "\(path).type") } ?? ""
        func parameter(_ example: String) -> String? {
            guard let v = fields["param"] else {
                fail("\(path).param", "missing; the query parameter that carries it, e.g. \(example)", node)
                return nil
            }
            return string(v, "\(path).param")
        }
        switch type {
        case "none":
            return HTTPPullConfiguration.Pagination.none
        case "next_token":
            guard let tokenPath = fields["path"].flatMap({ string($0, "\(path).path") }) else {
                fail("\(path).path", "missing; the JSON path of the next page's token in an answer, e.g. response_metadata.next_cursor", node)
                return nil
            }
            return .nextToken(path: FieldPath(tokenPath), parameter: fields["param"].flatMap { string($0, "\(path).param") })
        case "link":
            return .link
        case "page_number":
            guard let name = parameter("page") else { return nil }
            return .pageNumber(parameter: name, start: fields["start"].flatMap { int($0, "\(path).start", range: 0...1) } ?? 1)
        case "offset":
            guard let name = parameter("offset") else { return nil }
            return .offset(parameter: name)
        case "record_time":
            guard let name = parameter("mintime") else { return nil }
            return .recordTime(parameter: name)
        default:
            fail("\(path).type", "expected none, next_token, link, page_number, offset or record_time, got \"\(type)\"", node)
            return nil
        }
    }
}
