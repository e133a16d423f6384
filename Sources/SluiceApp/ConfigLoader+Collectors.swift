import SluiceCore
import SluiceHTTP
import SluiceSources
import Yams

extension ConfigReader {
    mutating func readCollectors(_ node: Node) -> [CollectorSettings] {
        namedEntries(node, section: "collectors", kind: "collector").compactMap { name, value, path in
            switch value.mapping?["type"]?.string {
            case "http_pull": readHTTPPull(name: name, value, path: path)
            case let type? where ["okta_system_log", "slack_audit_logs", "duo_admin_logs", "google_workspace_reports"].contains(type):
                readPreset(name: name, type: type, value, path: path)
            default: readIncydr(name: name, value, path: path)
            }
        }
    }

    /// `schedule:`: a 5-field cron expression or `{every: 5m}`; every 5 minutes when absent.
    mutating func readSchedule(_ node: Node?, _ path: String) -> CollectorSchedule {
        guard let v = node else { return .every(.seconds(300)) }
        if let every = v.mapping {
            if every.count == 1, let key = every.keys.first?.string, key == "every", let interval = durationSeconds(every.values.first!, "\(path).every") {
                return .every(.seconds(interval))
            } else if !(every.keys.first?.string == "every") {
                fail(path, "expected a 5-field cron expression or {every: 5m}", v)
            }
        } else if let text = string(v, path) {
            do {
                return .cron(try CronExpression(text))
            } catch {
                fail(path, "\(error.description) in \"\(text)\"", v)
            }
        }
        return .every(.seconds(300))
    }

    /// The keys every pull collector takes alike.
    mutating func readTuning(_ fields: [String: Node], _ path: String, into configuration: inout some PullCollectorTuning) {
        if let v = fields["lookback"], let seconds = durationSeconds(v, "\(path).lookback") { configuration.lookback = .seconds(seconds) }
        if let v = fields["overlap"], let seconds = durationSeconds(v, "\(path).overlap", allowingZero: true) { configuration.overlap = .seconds(seconds) }
        if let v = fields["request_timeout"], let seconds = durationSeconds(v, "\(path).request_timeout") { configuration.requestTimeout = .seconds(seconds) }
        if let v = fields["allow_private_networks"], let allowed = bool(v, "\(path).allow_private_networks") { configuration.allowPrivateNetworks = allowed }
        if let v = fields["requests_per_minute"], let n = int(v, "\(path).requests_per_minute", range: 1...1_000_000) { configuration.requestsPerMinute = n }
        if let v = fields["max_pages_per_run"], let n = int(v, "\(path).max_pages_per_run", range: 1...10_000_000) { configuration.maxPagesPerRun = n }
        if let v = fields["retry"] { readRetry(v, "\(path).retry", into: &configuration.retry) }
    }

    /// `retry: {attempts, base_delay, max_delay}` over `policy`.
    mutating func readRetry(_ node: Node, _ path: String, into policy: inout RetryPolicy) {
        guard let retry = mapping(node, path, allowed: ["attempts", "base_delay", "max_delay"]) else { return }
        for (key, value) in retry {
            switch key {
            case "attempts":
                if let n = int(value, "\(path).attempts", range: 1...100) { policy.maxAttempts = n }
            case "base_delay":
                if let n = durationSeconds(value, "\(path).base_delay") { policy.backoff.base = .seconds(n) }
            default:
                if let n = durationSeconds(value, "\(path).max_delay") { policy.backoff.cap = .seconds(n) }
            }
        }
    }

    /// `base_url:`, an http(s) URL (also by reference); fails naming an example when absent.
    mutating func collectorBaseURL(_ fields: [String: Node], _ path: String, example: String, _ node: Node) -> String? {
        guard let v = fields["base_url"] else {
            fail("\(path).base_url", "missing; set the API's base URL, e.g. \(example)", node)
            return nil
        }
        guard let text = reference(v, "\(path).base_url") else { return nil }
        guard (text.hasPrefix("https://") || text.hasPrefix("http://")) && text.count > 8 else {
            fail("\(path).base_url", "expected an http(s) URL such as \(example), got \"\(text)\"", v)
            return nil
        }
        return text
    }

    mutating func readIncydr(name: String, _ node: Node, path: String) -> CollectorSettings? {
        let allowed: Set<String> = [
            "type", "base_url", "client_id", "client_secret", "streams", "schedule", "lookback", "overlap", "page_size",
            "file_events_filter", "requests_per_minute", "max_pages_per_run", "request_timeout", "retry", "allow_private_networks",
            "expect_events_within",
        ]
        guard let entries = mapping(node, path, allowed: allowed) else { return nil }
        let fields = Dictionary(entries, uniquingKeysWith: { _, last in last })
        guard let typeNode = fields["type"], let type = string(typeNode, "\(path).type") else {
            fail("\(path).type", "missing; set type: code42_incydr", node)
            return nil
        }
        guard type == "code42_incydr" else {
            fail("\(path).type", "unknown collector type \"\(type)\"; this version supports code42_incydr, http_pull, okta_system_log, slack_audit_logs, duo_admin_logs and google_workspace_reports", typeNode)
            return nil
        }
        let baseURL = collectorBaseURL(fields, path, example: "https://api.us.code42.com", node)
        var clientID: String?
        var clientSecret: String?
        for (key, target) in [("client_id", 0), ("client_secret", 1)] {
            guard let v = fields[key] else {
                fail("\(path).\(key)", "missing; reference it with ${env:NAME} or ${file:/path}", node)
                continue
            }
            let resolved = secret(v, "\(path).\(key)")
            if target == 0 { clientID = resolved } else { clientSecret = resolved }
        }
        var streams = IncydrConfiguration.Stream.allCases
        if let v = fields["streams"] {
            if let list = v.sequence {
                streams = []
                for (i, item) in list.enumerated() {
                    guard let text = string(item, "\(path).streams[\(i)]") else { continue }
                    guard let stream = IncydrConfiguration.Stream(rawValue: text) else {
                        fail("\(path).streams[\(i)]", "unknown stream \"\(text)\"; expected users, audit, cases or file_events", item)
                        continue
                    }
                    if !streams.contains(stream) { streams.append(stream) }
                }
                if list.isEmpty { fail("\(path).streams", "the list is empty; name at least one of users, audit, cases, file_events", v) }
            } else {
                fail("\(path).streams", "expected a list such as [users, audit, cases, file_events]", v)
            }
        }
        let schedule = readSchedule(fields["schedule"], "\(path).schedule")
        // Placeholders until the required keys are known good: every key is still checked.
        var configuration = IncydrConfiguration(name: name, baseURL: baseURL ?? "", clientID: clientID ?? "", clientSecret: clientSecret ?? "", streams: streams)
        readTuning(fields, path, into: &configuration)
        if let v = fields["page_size"], let sizes = mapping(v, "\(path).page_size", allowed: ["file_events", "audit", "users", "cases"]) {
            for (key, sizeNode) in sizes {
                guard let n = int(sizeNode, "\(path).page_size.\(key)", range: 1...10_000) else { continue }
                switch key {
                case "file_events": configuration.fileEventsPageSize = n
                case "audit": configuration.auditPageSize = n
                case "users": configuration.usersPageSize = n
                default: configuration.casesPageSize = n
                }
            }
        }
        if let v = fields["file_events_filter"] {
            let value = jsonValue(v)
            switch value {
            case .array(let groups): configuration.fileEventsFilterGroups = groups
            case .object: configuration.fileEventsFilterGroups = [value]
            default: fail("\(path).file_events_filter", "expected an Incydr filter group ({filterClause, filters}) or a list of them", v)
            }
        }
        guard baseURL != nil, clientID != nil, clientSecret != nil else { return nil }
        let expectEventsWithin = fields["expect_events_within"].flatMap { duration($0, "\(path).expect_events_within") }
        return CollectorSettings(kind: .incydr(configuration), schedule: schedule, expectEventsWithin: expectEventsWithin)
    }

    /// A plain value that may also be given as `${env:NAME}` or `${file:/path}`.
    mutating func reference(_ node: Node, _ path: String) -> String? {
        guard let text = string(node, path) else { return nil }
        return text.hasPrefix("${") ? secret(node, path) : text
    }

    /// A YAML value as JSON: mappings as objects, sequences as arrays, and plain scalars typed
    /// by YAML's core schema (quoted scalars stay strings).
    func jsonValue(_ node: Node) -> JSONValue {
        switch node {
        case .mapping(let mapping):
            return .object(mapping.map { JSONMember($0.key.string ?? "", jsonValue($0.value)) })
        case .sequence(let sequence):
            return .array(sequence.map(jsonValue))
        case .scalar(let scalar):
            guard scalar.style == .plain else { return .string(scalar.string) }
            if node.null != nil { return .null }
            if let b = node.bool { return .bool(b) }
            if let i = node.int { return .number(String(i)) }
            if let d = node.float, d.isFinite, scalar.string.first?.isNumber == true || scalar.string.first == "-" { return .number(String(d)) }
            return .string(scalar.string)
        case .alias:
            return .null
        }
    }
}
