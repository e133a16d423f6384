import SluiceCore
import SluiceHTTP
import SluiceWorkflows
import Yams

/// The workflow part of the config reader: a workflow's trigger, conditions and steps, read from
/// the same YAML tree as the rest of the file, each mistake reported with its path and line
/// (`workflows.sci.steps[2].create_ctia_incident.token`). The workflows library receives the
/// typed ``WorkflowDefinition``.
extension ConfigReader {
    static let stepKinds = ["extract", "condition", "format", "oauth_token", "http_request", "create_ctia_incident", "for_each"]
    static let comparisons = ["equals", "not_equals", "in", "prefix", "contains", "exists"]

    /// A mapping's entries by key (the last of a repeated key wins), after the unknown-key checks of ``mapping(_:_:allowed:)``.
    mutating func fields(_ node: Node, _ path: String, allowed: Set<String>) -> [String: Node]? {
        mapping(node, path, allowed: allowed).map { Dictionary($0, uniquingKeysWith: { _, last in last }) }
    }

    /// A single non-empty value.
    mutating func text(_ node: Node?, _ path: String) -> String? {
        guard let node, let text = string(node, path) else { return nil }
        guard !text.isEmpty else {
            fail(path, "must not be empty", node)
            return nil
        }
        return text
    }

    mutating func template(_ node: Node?, _ path: String) -> Template? {
        guard let source = text(node, path) else { return nil }
        do {
            return try Template(source)
        } catch {
            fail(path, error.message, node)
            return nil
        }
    }

    /// A value rendered as JSON (a request body, an incident, a formatted value): its strings are templates.
    mutating func templateValue(_ node: Node, _ path: String) -> TemplateValue? {
        do {
            return try TemplateValue(compiling: jsonValue(node))
        } catch {
            fail(path, error.message, node)
            return nil
        }
    }

    mutating func jsonPath(_ node: Node?, _ path: String) -> JSONPath? {
        guard let source = text(node, path) else { return nil }
        do {
            return try JSONPath(source)
        } catch {
            fail(path, error.message, node)
            return nil
        }
    }

    mutating func readTrigger(_ node: Node, path: String) -> WorkflowTrigger? {
        guard let fields = fields(node, path, allowed: ["feeds", "log_types", "condition"]) else { return nil }
        let trigger = WorkflowTrigger(
            feeds: fields["feeds"].map { names($0, "\(path).feeds") } ?? [],
            logTypes: fields["log_types"].map { names($0, "\(path).log_types") } ?? [],
            condition: fields["condition"].flatMap { readCondition($0, path: "\(path).condition") }
        )
        if trigger.feeds.isEmpty && trigger.logTypes.isEmpty {
            fail(path, "name the feeds (or collectors) and/or log_types whose events start a run, as in trigger: {feeds: [sci-alerts]}", node)
            return nil
        }
        return trigger
    }

    mutating func readCondition(_ node: Node, path: String, extraKeys: Set<String> = []) -> WorkflowCondition? {
        guard let mapping = node.mapping else {
            fail(path, "must be a mapping: {path: $.level, equals: HIGH}, {value: \"{{ level }}\", in: [HIGH, CRITICAL]}, or all/any/not of those", node)
            return nil
        }
        var members: [String: Node] = [:]
        for (key, value) in mapping { if let key = key.string { members[key] = value } }
        let keys = Set(members.keys).subtracting(extraKeys)
        if keys == ["all"] || keys == ["any"] {
            let key = keys.first!
            guard let items = members[key]?.sequence, !items.isEmpty else {
                fail("\(path).\(key)", "must be a non-empty list of conditions", members[key])
                return nil
            }
            let parts = items.enumerated().compactMap { readCondition($0.element, path: "\(path).\(key)[\($0.offset)]") }
            return key == "all" ? .all(parts) : .any(parts)
        }
        if keys == ["not"] {
            return readCondition(members["not"]!, path: "\(path).not").map(WorkflowCondition.not)
        }
        let operandKeys = keys.intersection(["path", "value"])
        let comparisonKeys = keys.intersection(Self.comparisons)
        let unknown = keys.subtracting(["path", "value"]).subtracting(Self.comparisons)
        guard operandKeys.count == 1, comparisonKeys.count == 1, unknown.isEmpty else {
            fail(path, "give one of path/value and one of \(Self.comparisons.joined(separator: ", ")) (or all/any/not alone)", node)
            return nil
        }
        let operand: WorkflowCondition.Operand
        if operandKeys.first == "path" {
            guard let p = jsonPath(members["path"], "\(path).path") else { return nil }
            operand = .path(p)
        } else {
            guard let t = template(members["value"], "\(path).value") else { return nil }
            operand = .template(t)
        }
        let key = comparisonKeys.first!
        let argument = members[key]!
        let argPath = "\(path).\(key)"
        switch key {
        case "exists":
            guard let wanted = bool(argument, argPath) else { return nil }
            return .compare(operand, .exists(wanted))
        case "in":
            guard let options = argument.sequence?.compactMap(\.scalar?.string), !options.isEmpty else {
                fail(argPath, "must be a non-empty list of values", argument)
                return nil
            }
            return .compare(operand, .oneOf(options))
        default:
            guard let expected = string(argument, argPath) else { return nil }
            switch key {
            case "equals": return .compare(operand, .equals(expected))
            case "not_equals": return .compare(operand, .notEquals(expected))
            case "prefix": return .compare(operand, .prefix(expected))
            default: return .compare(operand, .contains(expected))
            }
        }
    }

    mutating func readSteps(_ node: Node, path: String) -> [WorkflowStep] {
        guard let items = node.sequence, !items.isEmpty else {
            fail(path, "must be a non-empty list of steps, each one of \(Self.stepKinds.joined(separator: ", "))", node)
            return []
        }
        return items.enumerated().compactMap { readStep($0.element, path: "\(path)[\($0.offset)]") }
    }

    /// Gives a name to a step's output or a value; names are unique within a workflow.
    mutating func claim(_ name: String, _ path: String, _ node: Node?) {
        if workflowNames.contains(name) {
            fail(path, "the name \"\(name)\" is already used (by a step, a value, or Sluice's own event/alert); choose another", node)
        }
        workflowNames.insert(name)
    }

    mutating func readStep(_ node: Node, path: String) -> WorkflowStep? {
        guard node.mapping != nil else {
            fail(path, "must be a mapping such as {id: token, oauth_token: {...}}", node)
            return nil
        }
        guard let fields = fields(node, path, allowed: Set(Self.stepKinds + ["id"])) else { return nil }
        let kinds = Self.stepKinds.filter { fields[$0] != nil }
        guard kinds.count == 1, let kind = kinds.first, let arguments = fields[kind] else {
            fail(path, "a step has exactly one of \(Self.stepKinds.joined(separator: ", ")) (found \(kinds.isEmpty ? "none" : kinds.joined(separator: ", ")))", node)
            return nil
        }
        let id = fields["id"].flatMap { text($0, "\(path).id") } ?? kind
        guard id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
            fail("\(path).id", "use letters, digits, _ and - only (templates read the step's output as {{ \(id).… }})", fields["id"])
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
            guard let entries = mapping(arguments, argPath, allowed: []), !entries.isEmpty else {
                fail(argPath, "name the values to render, as in {title: \"Alert - {{ name }}\"}", arguments)
                return nil
            }
            var values: [(name: String, value: TemplateValue)] = []
            for (name, value) in entries {
                claim(name, "\(argPath).\(name)", value)
                if let compiled = templateValue(value, "\(argPath).\(name)") { values.append((name, compiled)) }
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
        if kind != "extract" && kind != "format" { claim(id, "\(path).id", fields["id"] ?? node) }
        return WorkflowStep(id: id, action: action)
    }

    mutating func readExtract(_ node: Node, path: String) -> [ExtractedValue]? {
        guard let entries = mapping(node, path, allowed: []), !entries.isEmpty else {
            fail(path, "name the values to take from the alert, as in {name: {path: $.name, required: true}}", node)
            return nil
        }
        var values: [ExtractedValue] = []
        for (name, value) in entries {
            let entryPath = "\(path).\(name)"
            claim(name, entryPath, value)
            if value.scalar != nil {
                if let p = jsonPath(value, entryPath) { values.append(ExtractedValue(name: name, path: p, required: false, shape: .any, defaultValue: nil)) }
                continue
            }
            guard let fields = fields(value, entryPath, allowed: ["path", "required", "type", "default"]) else { continue }
            guard let p = jsonPath(fields["path"], "\(entryPath).path") else {
                if fields["path"] == nil { fail("\(entryPath).path", "missing; a JSON path such as $.query0Data", value) }
                continue
            }
            var required = false
            if let r = fields["required"] {
                guard let b = bool(r, "\(entryPath).required") else { continue }
                required = b
            }
            var shape = ExtractedValue.Shape.any
            if let t = fields["type"] {
                guard let parsed = t.scalar.flatMap({ ExtractedValue.Shape(rawValue: $0.string) }) else {
                    fail("\(entryPath).type", "must be one of any, string, list, object", t)
                    continue
                }
                shape = parsed
            }
            values.append(ExtractedValue(name: name, path: p, required: required, shape: shape, defaultValue: fields["default"].map(jsonValue)))
        }
        return values
    }

    mutating func readOAuth(_ node: Node, path: String) -> OAuthTokenStep? {
        guard let fields = fields(node, path, allowed: ["url", "client_id", "client_secret", "auth", "scope"]) else { return nil }
        let url = text(fields["url"], "\(path).url")
        if fields["url"] == nil { fail("\(path).url", "missing; the token endpoint, e.g. https://visibility.amp.cisco.com/iroh/oauth2/token", node) }
        var credentials: [String: String] = [:]
        for key in ["client_id", "client_secret"] {
            guard let value = fields[key] else {
                fail("\(path).\(key)", "missing; give it by reference, as in \"${env:CTR_\(key.uppercased())}\"", node)
                continue
            }
            credentials[key] = secret(value, "\(path).\(key)")
        }
        var authentication = ClientCredentialsGrant.Authentication.basic
        if let a = fields["auth"] {
            guard let parsed = a.scalar.flatMap({ ClientCredentialsGrant.Authentication(rawValue: $0.string) }), [.basic, .form].contains(parsed) else {
                fail("\(path).auth", "must be basic (HTTP Basic, as Cisco IROH expects) or form (credentials in the body)", a)
                return nil
            }
            authentication = parsed
        }
        let scope = fields["scope"].flatMap { text($0, "\(path).scope") }
        guard let url, let clientID = credentials["client_id"], let secret = credentials["client_secret"] else { return nil }
        guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
            fail("\(path).url", "must be an http(s) URL", fields["url"])
            return nil
        }
        return OAuthTokenStep(grant: ClientCredentialsGrant(tokenURL: url, clientID: clientID, clientSecret: secret, authentication: authentication, scope: scope))
    }

    /// The id of an earlier `oauth_token` step.
    mutating func tokenReference(_ node: Node?, _ path: String) -> String? {
        guard let name = text(node, path) else { return nil }
        guard tokenSteps.contains(name) else {
            fail(path, "no oauth_token step with id \"\(name)\" comes before this step", node)
            return nil
        }
        return name
    }

    mutating func readRequest(_ node: Node, path: String) -> HTTPRequestStep? {
        guard let fields = fields(node, path, allowed: ["method", "url", "headers", "token", "json", "expect"]) else { return nil }
        let method = (fields["method"].flatMap { text($0, "\(path).method") } ?? "POST").uppercased()
        guard ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(method) else {
            fail("\(path).method", "must be GET, POST, PUT, PATCH or DELETE", fields["method"])
            return nil
        }
        guard let url = template(fields["url"], "\(path).url") else {
            if fields["url"] == nil { fail("\(path).url", "missing", node) }
            return nil
        }
        var headers: [(name: String, value: Template)] = []
        if let h = fields["headers"] {
            for (name, value) in mapping(h, "\(path).headers", allowed: []) ?? [] {
                if name.lowercased() == "authorization" {
                    fail("\(path).headers.\(name)", "set token: to an oauth_token step instead; headers are journaled and must not carry credentials", value)
                }
                if let t = template(value, "\(path).headers.\(name)") { headers.append((name, t)) }
            }
        }
        let token = tokenReference(fields["token"], "\(path).token")
        let body = fields["json"].flatMap { templateValue($0, "\(path).json") }
        var expect: [Int] = []
        if let e = fields["expect"] {
            expect = (e.sequence.map(Array.init) ?? [e]).compactMap { $0.scalar.flatMap { Int($0.string) } }
            if expect.isEmpty || expect.contains(where: { !(100...599).contains($0) }) {
                fail("\(path).expect", "must be a list of HTTP statuses such as [200, 201]", e)
            }
        }
        return HTTPRequestStep(method: method, url: url, headers: headers, token: token, body: body, expect: expect)
    }

    mutating func readCTIA(_ node: Node, path: String) -> CTIAIncidentStep? {
        guard let fields = fields(node, path, allowed: ["url", "token", "incident", "external_id"]) else { return nil }
        let base = fields["url"].flatMap { text($0, "\(path).url") } ?? "https://private.intel.amp.cisco.com"
        guard base.hasPrefix("https://") || base.hasPrefix("http://") else {
            fail("\(path).url", "must be the CTIA base URL, e.g. https://private.intel.amp.cisco.com", fields["url"])
            return nil
        }
        let token = tokenReference(fields["token"], "\(path).token")
        if fields["token"] == nil { fail("\(path).token", "missing; the id of the oauth_token step whose token CTIA accepts", node) }
        guard let incidentNode = fields["incident"], let incidentFields = incidentNode.mapping else {
            fail("\(path).incident", "missing; the incident's fields (title, description, status, confidence, severity, tlp, source, …)", node)
            return nil
        }
        let keys = Set(incidentFields.compactMap { $0.key.string })
        for required in ["status", "confidence"] where !keys.contains(required) {
            fail("\(path).incident.\(required)", "missing; CTIA requires it", incidentNode)
        }
        if keys.contains("id") { fail("\(path).incident.id", "CTIA refuses ids set by normal users (403); remove it", incidentNode) }
        guard let incident = templateValue(incidentNode, "\(path).incident"), let token else { return nil }
        let externalID = fields["external_id"].flatMap { template($0, "\(path).external_id") }
        return CTIAIncidentStep(baseURL: base, token: token, incident: incident, externalID: externalID)
    }

    mutating func readLoop(_ node: Node, path: String) -> ForEachStep? {
        guard let fields = fields(node, path, allowed: ["items", "as", "item_key", "steps"]) else { return nil }
        guard let items = template(fields["items"], "\(path).items") else {
            if fields["items"] == nil { fail("\(path).items", "missing; the list to go through, as in \"{{ query0Data }}\"", node) }
            return nil
        }
        guard items.isSoleTag else {
            fail("\(path).items", "must be exactly one {{ name }} naming a list", fields["items"])
            return nil
        }
        let name = fields["as"].flatMap { text($0, "\(path).as") } ?? "item"
        claim(name, "\(path).as", fields["as"] ?? node)
        claim(name + "_index", "\(path).as", fields["as"] ?? node)
        let itemKey = fields["item_key"].flatMap { template($0, "\(path).item_key") }
        guard let stepsNode = fields["steps"] else {
            fail("\(path).steps", "missing; the steps to run for each item", node)
            return nil
        }
        return ForEachStep(items: items, name: name, itemKey: itemKey, steps: readSteps(stepsNode, path: "\(path).steps"))
    }
}
