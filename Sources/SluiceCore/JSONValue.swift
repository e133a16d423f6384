/// A parsed JSON document that keeps what matters for faithful storage: numbers keep their
/// original lexeme and objects keep their member order.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    /// The number exactly as written in the source (for example `1.50` stays `1.50`).
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([JSONMember])

    /// The value of the last member named `key`, if this is an object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        for member in members.reversed() where member.key == key {
            return member.value
        }
        return nil
    }

    /// Follows a dotted path (`actor.id`, `event.inserted`); a path segment may contain a dot only
    /// when the object has a member with that exact name (`@timestamp`, `type$`). A number indexes
    /// an array (`events.0.name`).
    public func value(at path: FieldPath) -> JSONValue? {
        var current = self
        for segment in path.segments {
            if case .array(let items) = current {
                guard let i = Int(segment), items.indices.contains(i) else { return nil }
                current = items[i]
                continue
            }
            guard let next = current[segment] else { return nil }
            current = next
        }
        return current
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    public var objectMembers: [JSONMember]? {
        if case .object(let members) = self { return members }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// A scalar rendered as text: strings as themselves, numbers by lexeme, booleans as
    /// `true`/`false`; containers as compact JSON; `null` as nil.
    public var textValue: String? {
        switch self {
        case .null: return nil
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return n
        case .string(let s): return s
        case .array, .object: return String(decoding: self.serialized(), as: UTF8.self)
        }
    }
}

/// One member of a JSON object.
public struct JSONMember: Sendable, Hashable {
    public var key: String
    public var value: JSONValue

    public init(_ key: String, _ value: JSONValue) {
        self.key = key
        self.value = value
    }
}

/// A dotted path into a JSON document, such as `actor.id` or `event.inserted`.
public struct FieldPath: Sendable, Hashable, CustomStringConvertible {
    public var segments: [String]

    public init(_ dotted: String) {
        self.segments = dotted.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    }

    public init(segments: [String]) {
        self.segments = segments
    }

    public var description: String { segments.joined(separator: ".") }
}
