import SluiceCore
import SluiceHTTP
import SluiceSources
import Yams

extension ConfigReader {
    mutating func readCollectors(_ node: Node) -> [CollectorSettings] {
        namedEntries(node, section: "collectors", kind: "collector").compactMap { name, value, path in readIncydr(name: name, value, path: path) }
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
            fail("\(path).type", "unknown collector type \"\(type)\"; this version supports code42_incydr", typeNode)
            return nil
        }
        var baseURL: String?
        if let v = fields["base_url"], let text = reference(v, "\(path).base_url") {
            if (text.hasPrefix("https://") || text.hasPrefix("http://")) && text.count > 8 {
                baseURL = text
            } else {
                fail("\(path).base_url", "expected an http(s) URL such as https://api.us.code42.com, got \"\(text)\"", v)
            }
        } else if fields["base_url"] == nil {
            fail("\(path).base_url", "missing; set the API host of your region, e.g. https://api.us.code42.com", node)
        }
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
        var schedule = CollectorSchedule.every(.seconds(300))
        if let v = fields["schedule"] {
            if let every = v.mapping {
                if every.count == 1, let key = every.keys.first?.string, key == "every", let interval = durationSeconds(every.values.first!, "\(path).schedule.every") {
                    schedule = .every(.seconds(interval))
                } else if !(every.keys.first?.string == "every") {
                    fail("\(path).schedule", "expected a 5-field cron expression or {every: 5m}", v)
                }
            } else if let text = string(v, "\(path).schedule") {
                do {
                    schedule = .cron(try CronExpression(text))
                } catch {
                    fail("\(path).schedule", "\(error.description) in \"\(text)\"", v)
                }
            }
        }
        // Placeholders until the required keys are known good: every key is still checked.
        var configuration = IncydrConfiguration(name: name, baseURL: baseURL ?? "", clientID: clientID ?? "", clientSecret: clientSecret ?? "", streams: streams)
        if let v = fields["lookback"], let seconds = durationSeconds(v, "\(path).lookback") { configuration.lookback = .seconds(seconds) }
        if let v = fields["overlap"], let seconds = durationSeconds(v, "\(path).overlap", allowingZero: true) { configuration.overlap = .seconds(seconds) }
        if let v = fields["request_timeout"], let seconds = durationSeconds(v, "\(path).request_timeout") { configuration.requestTimeout = .seconds(seconds) }
        if let v = fields["allow_private_networks"], let allowed = bool(v, "\(path).allow_private_networks") { configuration.allowPrivateNetworks = allowed }
        if let v = fields["requests_per_minute"], let n = int(v, "\(path).requests_per_minute", range: 1...1_000_000) { configuration.requestsPerMinute = n }
        if let v = fields["max_pages_per_run"], let n = int(v, "\(path).max_pages_per_run", range: 1...10_000_000) { configuration.maxPagesPerRun = n }
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
        if let v = fields["retry"], let retry = mapping(v, "\(path).retry", allowed: ["attempts", "base_delay", "max_delay"]) {
            for (key, value) in retry {
                switch key {
                case "attempts":
                    if let n = int(value, "\(path).retry.attempts", range: 1...100) { configuration.retry.maxAttempts = n }
                case "base_delay":
                    if let n = durationSeconds(value, "\(path).retry.base_delay") { configuration.retry.backoff.base = .seconds(n) }
                default:
                    if let n = durationSeconds(value, "\(path).retry.max_delay") { configuration.retry.backoff.cap = .seconds(n) }
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
        return CollectorSettings(incydr: configuration, schedule: schedule, expectEventsWithin: expectEventsWithin)
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
