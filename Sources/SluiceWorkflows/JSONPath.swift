import SluiceCore

/// The JSONPath subset workflows use to pick values out of an alert: `$`, `.name`,
/// `['name with spaces']`, `[0]`, `[-1]` and the wildcard `[*]` / `.*`.
public struct JSONPath: Sendable, Hashable, CustomStringConvertible {
    enum Segment: Sendable, Hashable {
        case member(String)
        case index(Int)
        case wildcard
    }

    let segments: [Segment]
    public let description: String

    /// Whether the path can select more than one value.
    public var isWildcard: Bool { segments.contains(.wildcard) }

    public init(_ text: String) throws(WorkflowDefinitionError) {
        description = text
        let chars = Array(text)
        guard chars.first == "$" else { throw WorkflowDefinitionError("the JSON path \"\(text)\" must start with $ (for example $.query0Data[*])") }
        var segments: [Segment] = []
        var i = 1
        func fail(_ why: String) -> WorkflowDefinitionError { WorkflowDefinitionError("the JSON path \"\(text)\" \(why) at character \(i + 1)") }
        while i < chars.count {
            switch chars[i] {
            case ".":
                i += 1
                if i < chars.count, chars[i] == "*" {
                    segments.append(.wildcard)
                    i += 1
                    continue
                }
                let start = i
                while i < chars.count, chars[i] != ".", chars[i] != "[" { i += 1 }
                guard i > start else { throw fail("has an empty member name") }
                segments.append(.member(String(chars[start..<i])))
            case "[":
                i += 1
                guard i < chars.count else { throw fail("ends inside brackets") }
                if chars[i] == "'" || chars[i] == "\"" {
                    let quote = chars[i]
                    i += 1
                    var name = ""
                    while i < chars.count, chars[i] != quote {
                        if chars[i] == "\\", i + 1 < chars.count { i += 1 }
                        name.append(chars[i])
                        i += 1
                    }
                    guard i + 1 < chars.count, chars[i + 1] == "]" else { throw fail("has an unclosed quoted name") }
                    segments.append(.member(name))
                    i += 2
                } else {
                    let start = i
                    while i < chars.count, chars[i] != "]" { i += 1 }
                    guard i < chars.count else { throw fail("has an unclosed [") }
                    let inner = String(chars[start..<i]).trimmingWhitespace()
                    i += 1
                    if inner == "*" {
                        segments.append(.wildcard)
                    } else if let index = Int(inner) {
                        segments.append(.index(index))
                    } else {
                        throw fail("has [\(inner)]; use [n], [*] or ['name']")
                    }
                }
            default:
                throw fail("expects . or [")
            }
        }
        self.segments = segments
    }

    /// Every value the path selects, in document order.
    public func select(in root: JSONValue) -> [JSONValue] {
        var current = [root]
        for segment in segments {
            var next: [JSONValue] = []
            for value in current {
                switch segment {
                case .member(let name):
                    if let member = value[name] { next.append(member) }
                case .index(let index):
                    guard let items = value.arrayValue else { continue }
                    let position = index < 0 ? items.count + index : index
                    if items.indices.contains(position) { next.append(items[position]) }
                case .wildcard:
                    if let items = value.arrayValue {
                        next += items
                    } else if let members = value.objectMembers {
                        next += members.map(\.value)
                    }
                }
            }
            current = next
        }
        return current
    }

    /// The selected value: the single match, or a list of matches for a wildcard path; nil when nothing matched.
    public func value(in root: JSONValue) -> JSONValue? {
        let matches = select(in: root)
        if isWildcard { return .array(matches) }
        return matches.first
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice = slice.dropFirst() }
        while let last = slice.last, last.isWhitespace { slice = slice.dropLast() }
        return String(slice)
    }
}
