import Foundation
import SluiceCore

/// A text template over a run's values: literal text with `{{ path | filter | filter:arg }}`
/// tags. Paths are dotted names into the run's scope (`alert.name`, `item.entity.displayName`,
/// `event.occurred_at`, `query0Data[0].id`). Filters: `json`, `html`, `html_table`, `upper`,
/// `lower`, `capitalize`, `truncate:N`, `default:'text'`. A missing value renders as an empty string.
public struct Template: Sendable, Hashable, CustomStringConvertible {
    enum Part: Sendable, Hashable {
        case text(String)
        case tag(Expression)
    }

    struct Expression: Sendable, Hashable {
        var path: JSONPath?
        var literal: String?
        var filters: [Filter]
    }

    enum Filter: Sendable, Hashable {
        case json, html, htmlTable, upper, lower, capitalize
        case truncate(Int)
        case defaultValue(String)
    }

    let parts: [Part]
    public let description: String

    public init(_ text: String) throws(WorkflowDefinitionError) {
        description = text
        var parts: [Part] = []
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            if open.lowerBound > rest.startIndex { parts.append(.text(String(rest[..<open.lowerBound]))) }
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw WorkflowDefinitionError("the template \"\(text.prefix(80))\" has {{ without a closing }}")
            }
            parts.append(.tag(try Self.expression(String(rest[open.upperBound..<close.lowerBound]), in: text)))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { parts.append(.text(String(rest))) }
        self.parts = parts
    }

    /// Whether the text holds `{{` tags at all.
    public var hasTags: Bool { parts.contains { if case .tag = $0 { true } else { false } } }

    /// Whether the template is exactly one tag (`{{ rows }}`), whose value keeps its JSON type.
    public var isSoleTag: Bool { soleExpression != nil }

    /// The template when it is exactly one tag: its value keeps its JSON type.
    var soleExpression: Expression? {
        if parts.count == 1, case .tag(let expression) = parts[0] { return expression }
        return nil
    }

    static func expression(_ source: String, in template: String) throws(WorkflowDefinitionError) -> Expression {
        let pieces = splitOutsideQuotes(source, on: "|").map { $0.trimmingWhitespace() }
        guard let head = pieces.first, !head.isEmpty else {
            throw WorkflowDefinitionError("the template \"\(template.prefix(80))\" has an empty {{ }}")
        }
        var expression = Expression(path: nil, literal: nil, filters: [])
        if let literal = unquoted(head) {
            expression.literal = literal
        } else {
            expression.path = try JSONPath(head.hasPrefix("[") ? "$" + head : "$." + head)
        }
        for piece in pieces.dropFirst() {
            let nameAndArgument = piece.split(separator: ":", maxSplits: 1).map { String($0).trimmingWhitespace() }
            let argument = nameAndArgument.count > 1 ? nameAndArgument[1] : nil
            switch nameAndArgument[0] {
            case "json": expression.filters.append(.json)
            case "html": expression.filters.append(.html)
            case "html_table": expression.filters.append(.htmlTable)
            case "upper": expression.filters.append(.upper)
            case "lower": expression.filters.append(.lower)
            case "capitalize": expression.filters.append(.capitalize)
            case "truncate":
                guard let argument, let n = Int(argument), n > 0 else {
                    throw WorkflowDefinitionError("truncate needs a length, as in {{ description | truncate:4500 }}")
                }
                expression.filters.append(.truncate(n))
            case "default":
                guard let argument, let text = unquoted(argument) else {
                    throw WorkflowDefinitionError("default needs a quoted text, as in {{ level | default:'Medium' }}")
                }
                expression.filters.append(.defaultValue(text))
            default:
                throw WorkflowDefinitionError(
                    "unknown template filter \"\(nameAndArgument[0])\" in \"\(template.prefix(80))\"; filters are json, html, html_table, upper, lower, capitalize, truncate:N, default:'text'"
                )
            }
        }
        return expression
    }

    static func unquoted(_ text: String) -> String? {
        guard text.count >= 2, let first = text.first, first == "'" || first == "\"", text.last == first else { return nil }
        return String(text.dropFirst().dropLast())
    }

    static func splitOutsideQuotes(_ text: String, on separator: Character) -> [String] {
        var pieces: [String] = []
        var current = ""
        var quote: Character?
        for c in text {
            if let q = quote {
                if c == q { quote = nil }
                current.append(c)
            } else if c == "'" || c == "\"" {
                quote = c
                current.append(c)
            } else if c == separator {
                pieces.append(current)
                current = ""
            } else {
                current.append(c)
            }
        }
        pieces.append(current)
        return pieces
    }

    public func render(_ scope: JSONValue) -> String {
        var out = ""
        for part in parts {
            switch part {
            case .text(let text): out += text
            case .tag(let expression): out += Self.text(of: Self.evaluate(expression, in: scope))
            }
        }
        return out
    }

    /// A tag's value: the path's value (or the literal) passed through the filters.
    static func evaluate(_ expression: Expression, in scope: JSONValue) -> JSONValue? {
        var value: JSONValue? = expression.literal.map(JSONValue.string) ?? expression.path.flatMap { $0.value(in: scope) }
        for filter in expression.filters {
            switch filter {
            case .json:
                value = value.map { .string(String(decoding: $0.serialized(), as: UTF8.self)) }
            case .html:
                value = value.map { .string(HTMLText.escaped(text(of: $0))) }
            case .htmlTable:
                value = value.map { .string(HTMLText.table($0)) }
            case .upper:
                value = value.map { .string(text(of: $0).uppercased()) }
            case .lower:
                value = value.map { .string(text(of: $0).lowercased()) }
            case .capitalize:
                value = value.map { .string(text(of: $0).prefix(1).uppercased() + text(of: $0).dropFirst().lowercased()) }
            case .truncate(let n):
                value = value.map { v in
                    let t = text(of: v)
                    return .string(t.count <= n ? t : String(t.prefix(n - 1)) + "…")
                }
            case .defaultValue(let fallback):
                if value == nil || value == .null || value == .string("") || value == .array([]) { value = .string(fallback) }
            }
        }
        return value
    }

    static func text(of value: JSONValue?) -> String {
        value?.textValue ?? ""
    }
}

/// A JSON structure (an incident, a request body) whose strings may be templates. A string that
/// is exactly one tag keeps the value's JSON type (`"{{ query0Data }}"` stays a list).
public indirect enum TemplateValue: Sendable {
    case literal(JSONValue)
    case text(Template)
    case array([TemplateValue])
    case object([(key: String, value: TemplateValue)])

    /// Compiles the strings of `value` that hold `{{` tags.
    public init(compiling value: JSONValue) throws(WorkflowDefinitionError) {
        switch value {
        case .string(let s):
            let template = try Template(s)
            self = template.hasTags ? .text(template) : .literal(value)
        case .array(let items):
            var compiled: [TemplateValue] = []
            for item in items { compiled.append(try TemplateValue(compiling: item)) }
            self = .array(compiled)
        case .object(let members):
            var compiled: [(key: String, value: TemplateValue)] = []
            for member in members { compiled.append((member.key, try TemplateValue(compiling: member.value))) }
            self = .object(compiled)
        default:
            self = .literal(value)
        }
    }

    /// The value with every template rendered; object members whose sole tag found nothing are left out.
    public func render(_ scope: JSONValue) -> JSONValue {
        renderIfPresent(scope) ?? .null
    }

    func renderIfPresent(_ scope: JSONValue) -> JSONValue? {
        switch self {
        case .literal(let v):
            return v
        case .text(let template):
            if let sole = template.soleExpression { return Template.evaluate(sole, in: scope) }
            return .string(template.render(scope))
        case .array(let items):
            return .array(items.compactMap { $0.renderIfPresent(scope) })
        case .object(let members):
            return .object(members.compactMap { member in member.value.renderIfPresent(scope).map { JSONMember(member.key, $0) } })
        }
    }
}

/// HTML output for templates: escaping, and a value as a table (the form SecureX workflow 0059
/// gave an alert in an incident's description).
enum HTMLText {
    static func escaped(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// An object as a two-column table; a list of objects as one row per item with the union
    /// of their keys as columns; nested values as compact JSON. Everything escaped.
    static func table(_ value: JSONValue) -> String {
        func cell(_ v: JSONValue?) -> String { escaped(v?.textValue ?? "") }
        if let members = value.objectMembers {
            let rows = members.map { "<tr><th>\(escaped($0.key))</th><td>\(cell($0.value))</td></tr>" }
            return "<table>" + rows.joined() + "</table>"
        }
        if let items = value.arrayValue {
            var columns: [String] = []
            for item in items {
                for member in item.objectMembers ?? [] where !columns.contains(member.key) { columns.append(member.key) }
            }
            if columns.isEmpty {
                return "<table>" + items.map { "<tr><td>\(cell($0))</td></tr>" }.joined() + "</table>"
            }
            let head = "<tr>" + columns.map { "<th>\(escaped($0))</th>" }.joined() + "</tr>"
            let rows = items.map { item in "<tr>" + columns.map { "<td>\(cell(item[$0]))</td>" }.joined() + "</tr>" }
            return "<table>" + head + rows.joined() + "</table>"
        }
        return escaped(value.textValue ?? "")
    }
}
