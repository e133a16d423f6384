import SluiceCore
import SluiceHTTP
import SluiceWorkflows

/// Reads a workflow's trigger and steps from their configured form (the config's YAML as JSON,
/// see ``ConfigReader/json(from:)``) and reports every problem with its path
/// (`workflows.sci.steps[2].create_ctia_incident.token`). Part of the one config reader: the
/// workflows library receives the typed ``WorkflowDefinition``.
struct WorkflowDefinitionReader {
    private(set) var issues: [(path: String, message: String)] = []
    /// Resolves `${env:…}`/`${file:…}` references in fields that hold credentials.
    let resolveSecret: (String) -> Result<String, SecretReferenceError>
    /// Names already given to step outputs, extracted and formatted values.
    private var names: Set<String> = ["event", "alert"]
    /// `oauth_token` steps defined so far (a later step can only use an earlier token).
    private var tokenSteps: Set<String> = []

    static let stepKinds = ["extract", "condition", "format", "oauth_token", "http_request", "create_ctia_incident", "for_each"]

    init(resolveSecret: @escaping (String) -> Result<String, SecretReferenceError>) {
        self.resolveSecret = resolveSecret
    }

    mutating func fail(_ path: String, _ message: String) {
        issues.append((path, message))
    }

    mutating func members(_ value: JSONValue, _ path: String, allowed: Set<String>) -> [JSONMember]? {
        guard let members = value.objectMembers else {
            fail(path, "must be a mapping with keys among \(allowed.sorted().joined(separator: ", "))")
            return nil
        }
        for member in members where !allowed.contains(member.key) {
            fail("\(path).\(member.key)", "unknown key; expected one of \(allowed.sorted().joined(separator: ", "))")
        }
        return members
    }

    mutating func text(_ value: JSONValue?, _ path: String) -> String? {
        guard let value else { return nil }
        guard case .string(let s) = value, !s.isEmpty else {
            fail(path, "must be a non-empty text")
            return nil
        }
        return s
    }

    mutating func stringList(_ value: JSONValue, _ path: String) -> [String] {
        if case .string(let one) = value { return [one] }
        guard let items = value.arrayValue, items.allSatisfy({ $0.stringValue != nil }) else {
            fail(path, "must be a list of names")
            return []
        }
        return items.compactMap(\.stringValue)
    }

    mutating func template(_ value: JSONValue?, _ path: String) -> Template? {
        guard let source = text(value, path) else { return nil }
        do {
            return try Template(source)
        } catch {
            fail(path, error.message)
            return nil
        }
    }

    mutating func templateValue(_ value: JSONValue, _ path: String) -> TemplateValue? {
        do {
            return try TemplateValue(compiling: value)
        } catch {
            fail(path, error.message)
            return nil
        }
    }

    mutating func jsonPath(_ value: JSONValue?, _ path: String) -> JSONPath? {
        guard let source = text(value, path) else { return nil }
        do {
            return try JSONPath(source)
        } catch {
            fail(path, error.message)
            return nil
        }
    }

    mutating func readTrigger(_ value: JSONValue, path: String) -> WorkflowTrigger? {
        guard let members = members(value, path, allowed: ["feeds", "log_types", "condition"]) else { return nil }
        var trigger = WorkflowTrigger(feeds: [], logTypes: [], condition: nil)
        for member in members {
            switch member.key {
            case "feeds": trigger.feeds = stringList(member.value, "\(path).feeds")
            case "log_types": trigger.logTypes = stringList(member.value, "\(path).log_types")
            case "condition": trigger.condition = readCondition(member.value, path: "\(path).condition")
            default: break
            }
        }
        if trigger.feeds.isEmpty && trigger.logTypes.isEmpty {
            fail(path, "name the feeds (or collectors) and/or log_types whose events start a run, as in trigger: {feeds: [sci-alerts]}")
            return nil
        }
        return trigger
    }

    static let comparisons = ["equals", "not_equals", "in", "prefix", "contains", "exists"]

    mutating func readCondition(_ value: JSONValue, path: String, extraKeys: Set<String> = []) -> WorkflowCondition? {
        guard let members = value.objectMembers else {
            fail(path, "must be a mapping: {path: $.level, equals: HIGH}, {value: \"{{ level }}\", in: [HIGH, CRITICAL]}, or all/any/not of those")
            return nil
        }
        let keys = Set(members.map(\.key)).subtracting(extraKeys)
        func sub(_ key: String) -> JSONValue? { members.last { $0.key == key }?.value }
        if keys == ["all"] || keys == ["any"] {
            let key = keys.first!
            guard let items = sub(key)?.arrayValue, !items.isEmpty else {
                fail("\(path).\(key)", "must be a non-empty list of conditions")
                return nil
            }
            var parts: [WorkflowCondition] = []
            for (index, item) in items.enumerated() {
                if let part = readCondition(item, path: "\(path).\(key)[\(index)]") { parts.append(part) }
            }
            return key == "all" ? .all(parts) : .any(parts)
        }
        if keys == ["not"] {
            return readCondition(sub("not")!, path: "\(path).not").map(WorkflowCondition.not)
        }
        let operandKeys = keys.intersection(["path", "value"])
        let comparisonKeys = keys.intersection(Self.comparisons)
        let unknown = keys.subtracting(["path", "value"]).subtracting(Self.comparisons)
        guard operandKeys.count == 1, comparisonKeys.count == 1, unknown.isEmpty else {
            fail(path, "give one of path/value and one of \(Self.comparisons.joined(separator: ", ")) (or all/any/not alone)")
            return nil
        }
        let operand: WorkflowCondition.Operand
        if operandKeys.first == "path" {
            guard let p = jsonPath(sub("path"), "\(path).path") else { return nil }
            operand = .path(p)
        } else {
            guard let t = template(sub("value"), "\(path).value") else { return nil }
            operand = .template(t)
        }
        let key = comparisonKeys.first!
        let argument = sub(key)!
        let argPath = "\(path).\(key)"
        switch key {
        case "exists":
            guard case .bool(let wanted) = argument else {
                fail(argPath, "must be true or false")
                return nil
            }
            return .compare(operand, .exists(wanted))
        case "in":
            guard let options = argument.arrayValue?.compactMap(\.textValue), !options.isEmpty else {
                fail(argPath, "must be a non-empty list of values")
                return nil
            }
            return .compare(operand, .oneOf(options))
        default:
            guard let expected = argument.textValue else {
                fail(argPath, "must be a value")
                return nil
            }
            switch key {
            case "equals": return .compare(operand, .equals(expected))
            case "not_equals": return .compare(operand, .notEquals(expected))
            case "prefix": return .compare(operand, .prefix(expected))
            default: return .compare(operand, .contains(expected))
            }
        }
    }

    mutating func readSteps(_ value: JSONValue, path: String) -> [WorkflowStep] {
        guard let items = value.arrayValue, !items.isEmpty else {
            fail(path, "must be a non-empty list of steps, each one of \(Self.stepKinds.joined(separator: ", "))")
            return []
        }
        var steps: [WorkflowStep] = []
        for (index, item) in items.enumerated() {
            if let step = readStep(item, path: "\(path)[\(index)]") { steps.append(step) }
        }
        return steps
    }

    mutating func claim(_ name: String, _ path: String) {
        if names.contains(name) {
            fail(path, "the name \"\(name)\" is already used (by a step, a value, or Sluice's own event/alert); choose another")
        }
        names.insert(name)
    }

    mutating func readStep(_ value: JSONValue, path: String) -> WorkflowStep? {
        guard let stepMembers = value.objectMembers else {
            fail(path, "must be a mapping such as {id: token, oauth_token: {...}}")
            return nil
        }
        let kinds = stepMembers.map(\.key).filter { Self.stepKinds.contains($0) }
        for member in stepMembers where member.key != "id" && !Self.stepKinds.contains(member.key) {
            fail("\(path).\(member.key)", "unknown key; a step has an id and one of \(Self.stepKinds.joined(separator: ", "))")
        }
        guard kinds.count == 1, let kind = kinds.first, let arguments = stepMembers.last(where: { $0.key == kind })?.value else {
            fail(path, "a step has exactly one of \(Self.stepKinds.joined(separator: ", ")) (found \(kinds.isEmpty ? "none" : kinds.joined(separator: ", ")))")
            return nil
        }
        let id = stepMembers.last { $0.key == "id" }.flatMap { text($0.value, "\(path).id") } ?? kind
        guard id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
            fail("\(path).id", "use letters, digits, _ and - only (templates read the step's output as {{ \(id).… }})")
            return nil
        }
        let argPath = "\(path).\(kind)"
        let action: WorkflowStep.Action
        switch kind {
        case "extract":
            guard let values = readExtract(arguments, path: argPath) else { return nil }
            action = .extract(values)
        case "condition":
            guard let condition = readCondition(arguments, path: argPath, extraKeys: ["reason"]) else { return nil }
            let reason = arguments["reason"].flatMap { text($0, "\(argPath).reason") }
            action = .condition(condition, reason: reason)
        case "format":
            guard let entries = members(arguments, argPath, allowed: Set(arguments.objectMembers?.map(\.key) ?? [])), !entries.isEmpty else {
                fail(argPath, "name the values to render, as in {title: \"Alert - {{ name }}\"}")
                return nil
            }
            var values: [(name: String, value: TemplateValue)] = []
            for entry in entries {
                claim(entry.key, "\(argPath).\(entry.key)")
                if let compiled = templateValue(entry.value, "\(argPath).\(entry.key)") { values.append((entry.key, compiled)) }
            }
            action = .format(values)
        case "oauth_token":
            // Known even when its own fields are wrong, so later steps do not report it missing too.
            tokenSteps.insert(id)
            guard let oauth = readOAuth(arguments, path: argPath) else { return nil }
            action = .oauthToken(oauth)
        case "http_request":
            guard let request = readRequest(arguments, path: argPath) else { return nil }
            action = .httpRequest(request)
        case "create_ctia_incident":
            guard let create = readCTIA(arguments, path: argPath) else { return nil }
            action = .createCTIAIncident(create)
        default:
            guard let loop = readLoop(arguments, path: argPath) else { return nil }
            action = .forEach(loop)
        }
        if kind != "extract" && kind != "format" { claim(id, "\(path).id") }
        return WorkflowStep(id: id, action: action)
    }

    mutating func readExtract(_ value: JSONValue, path: String) -> [ExtractedValue]? {
        guard let entries = value.objectMembers, !entries.isEmpty else {
            fail(path, "name the values to take from the alert, as in {name: {path: $.name, required: true}}")
            return nil
        }
        var values: [ExtractedValue] = []
        for entry in entries {
            let entryPath = "\(path).\(entry.key)"
            claim(entry.key, entryPath)
            if case .string = entry.value {
                if let p = jsonPath(entry.value, entryPath) { values.append(ExtractedValue(name: entry.key, path: p, required: false, shape: .any, defaultValue: nil)) }
                continue
            }
            guard let fields = members(entry.value, entryPath, allowed: ["path", "required", "type", "default"]) else { continue }
            func field(_ key: String) -> JSONValue? { fields.last { $0.key == key }?.value }
            guard let p = jsonPath(field("path"), "\(entryPath).path") else {
                if field("path") == nil { fail("\(entryPath).path", "missing; a JSON path such as $.query0Data") }
                continue
            }
            var required = false
            if let r = field("required") {
                guard case .bool(let b) = r else {
                    fail("\(entryPath).required", "must be true or false")
                    continue
                }
                required = b
            }
            var shape = ExtractedValue.Shape.any
            if let t = field("type") {
                guard let name = t.stringValue, let parsed = ExtractedValue.Shape(rawValue: name) else {
                    fail("\(entryPath).type", "must be one of any, string, list, object")
                    continue
                }
                shape = parsed
            }
            values.append(ExtractedValue(name: entry.key, path: p, required: required, shape: shape, defaultValue: field("default")))
        }
        return values
    }

    mutating func readOAuth(_ value: JSONValue, path: String) -> OAuthTokenStep? {
        guard let fields = members(value, path, allowed: ["url", "client_id", "client_secret", "auth", "scope"]) else { return nil }
        func field(_ key: String) -> JSONValue? { fields.last { $0.key == key }?.value }
        let url = text(field("url"), "\(path).url")
        if url == nil, field("url") == nil { fail("\(path).url", "missing; the token endpoint, e.g. https://visibility.amp.cisco.com/iroh/oauth2/token") }
        var clientID: String?
        var secret: String?
        for key in ["client_id", "client_secret"] {
            guard let v = field(key) else {
                fail("\(path).\(key)", "missing; give it by reference, as in \"${env:CTR_\(key.uppercased())}\"")
                continue
            }
            guard let reference = text(v, "\(path).\(key)") else { continue }
            switch resolveSecret(reference) {
            case .success(let resolved):
                if key == "client_id" { clientID = resolved } else { secret = resolved }
            case .failure(let problem):
                fail("\(path).\(key)", problem.message)
            }
        }
        var authentication = ClientCredentialsGrant.Authentication.basic
        if let a = field("auth") {
            guard let name = a.stringValue, let parsed = ClientCredentialsGrant.Authentication(rawValue: name) else {
                fail("\(path).auth", "must be basic (HTTP Basic, as Cisco IROH expects) or form (credentials in the body)")
                return nil
            }
            authentication = parsed
        }
        let scope = field("scope").flatMap { text($0, "\(path).scope") }
        guard let url, let clientID, let secret else { return nil }
        guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
            fail("\(path).url", "must be an http(s) URL")
            return nil
        }
        return OAuthTokenStep(grant: ClientCredentialsGrant(tokenURL: url, clientID: clientID, clientSecret: secret, authentication: authentication, scope: scope))
    }

    mutating func tokenReference(_ value: JSONValue?, _ path: String) -> String? {
        guard let value else { return nil }
        guard let name = text(value, path) else { return nil }
        guard tokenSteps.contains(name) else {
            fail(path, "no oauth_token step with id \"\(name)\" comes before this step")
            return nil
        }
        return name
    }

    mutating func readRequest(_ value: JSONValue, path: String) -> HTTPRequestStep? {
        guard let fields = members(value, path, allowed: ["method", "url", "headers", "token", "json", "expect"]) else { return nil }
        func field(_ key: String) -> JSONValue? { fields.last { $0.key == key }?.value }
        let method = (field("method").flatMap { text($0, "\(path).method") } ?? "POST").uppercased()
        guard ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(method) else {
            fail("\(path).method", "must be GET, POST, PUT, PATCH or DELETE")
            return nil
        }
        guard let url = template(field("url"), "\(path).url") else {
            if field("url") == nil { fail("\(path).url", "missing") }
            return nil
        }
        var headers: [(name: String, value: Template)] = []
        if let h = field("headers") {
            for member in h.objectMembers ?? [] {
                if member.key.lowercased() == "authorization" {
                    fail("\(path).headers.\(member.key)", "set token: to an oauth_token step instead; headers are journaled and must not carry credentials")
                }
                if let t = template(member.value, "\(path).headers.\(member.key)") { headers.append((member.key, t)) }
            }
        }
        let token = tokenReference(field("token"), "\(path).token")
        let body = field("json").flatMap { templateValue($0, "\(path).json") }
        var expect: [Int] = []
        if let e = field("expect") {
            expect = (e.arrayValue ?? [e]).compactMap { $0.textValue.flatMap { Int($0) } }
            if expect.isEmpty || expect.contains(where: { !(100...599).contains($0) }) {
                fail("\(path).expect", "must be a list of HTTP statuses such as [200, 201]")
            }
        }
        return HTTPRequestStep(method: method, url: url, headers: headers, token: token, body: body, expect: expect)
    }

    mutating func readCTIA(_ value: JSONValue, path: String) -> CTIAIncidentStep? {
        guard let fields = members(value, path, allowed: ["url", "token", "incident", "external_id"]) else { return nil }
        func field(_ key: String) -> JSONValue? { fields.last { $0.key == key }?.value }
        let base = field("url").flatMap { text($0, "\(path).url") } ?? "https://private.intel.amp.cisco.com"
        guard base.hasPrefix("https://") || base.hasPrefix("http://") else {
            fail("\(path).url", "must be the CTIA base URL, e.g. https://private.intel.amp.cisco.com")
            return nil
        }
        let token = tokenReference(field("token"), "\(path).token")
        if field("token") == nil { fail("\(path).token", "missing; the id of the oauth_token step whose token CTIA accepts") }
        guard let incidentValue = field("incident"), incidentValue.objectMembers != nil else {
            fail("\(path).incident", "missing; the incident's fields (title, description, status, confidence, severity, tlp, source, …)")
            return nil
        }
        let keys = Set(incidentValue.objectMembers!.map(\.key))
        for required in ["status", "confidence"] where !keys.contains(required) {
            fail("\(path).incident.\(required)", "missing; CTIA requires it")
        }
        if keys.contains("id") { fail("\(path).incident.id", "CTIA refuses ids set by normal users (403); remove it") }
        guard let incident = templateValue(incidentValue, "\(path).incident"), let token else { return nil }
        let externalID = field("external_id").flatMap { template($0, "\(path).external_id") }
        return CTIAIncidentStep(baseURL: base, token: token, incident: incident, externalID: externalID)
    }

    mutating func readLoop(_ value: JSONValue, path: String) -> ForEachStep? {
        guard let fields = members(value, path, allowed: ["items", "as", "item_key", "steps"]) else { return nil }
        func field(_ key: String) -> JSONValue? { fields.last { $0.key == key }?.value }
        guard let items = template(field("items"), "\(path).items") else {
            if field("items") == nil { fail("\(path).items", "missing; the list to go through, as in \"{{ query0Data }}\"") }
            return nil
        }
        guard items.isSoleTag else {
            fail("\(path).items", "must be exactly one {{ name }} naming a list")
            return nil
        }
        let name = field("as").flatMap { text($0, "\(path).as") } ?? "item"
        claim(name, "\(path).as")
        claim(name + "_index", "\(path).as")
        let itemKey = field("item_key").flatMap { template($0, "\(path).item_key") }
        guard let stepsValue = field("steps") else {
            fail("\(path).steps", "missing; the steps to run for each item")
            return nil
        }
        let steps = readSteps(stepsValue, path: "\(path).steps")
        return ForEachStep(items: items, name: name, itemKey: itemKey, steps: steps)
    }
}
