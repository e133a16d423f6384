import Foundation
import SluiceCore

/// Text with `{{variable}}` placeholders over a run's window and page, checked when the config is
/// read: a name that is not one of ``Variable`` is refused there, not at the first request.
public struct RequestTemplate: Sendable, Hashable, CustomStringConvertible {
    /// What a placeholder may name.
    public enum Variable: String, Sendable, Hashable, CaseIterable {
        /// The window's start and end, in the stream's `time_format`.
        case windowSince = "window.since"
        case windowUntil = "window.until"
        /// The page size asked for.
        case pageSize = "page.size"
        /// The next-page token (or cursor) the previous page gave; empty on the first page.
        case pageToken = "page.token"
        /// The page number (from the pagination's `start`) and the offset of the first record.
        case pageNumber = "page.number"
        case pageOffset = "page.offset"
    }

    enum Part: Sendable, Hashable {
        case text(String)
        case variable(Variable)
    }

    let parts: [Part]
    public let description: String

    /// Why a template was refused, in words for the config check.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public init(_ text: String) throws(ParseError) {
        var parts: [Part] = []
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            if open.lowerBound > rest.startIndex { parts.append(.text(String(rest[..<open.lowerBound]))) }
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw ParseError(description: "\"\(text)\" opens {{ without closing it")
            }
            let name = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            guard let variable = Variable(rawValue: name) else {
                throw ParseError(description: "unknown template variable {{\(name)}} in \"\(text)\"; known: \(Variable.allCases.map { "{{\($0.rawValue)}}" }.joined(separator: ", "))")
            }
            parts.append(.variable(variable))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { parts.append(.text(String(rest))) }
        self.parts = parts
        description = text
    }

    /// Text without placeholders, taken as it is.
    public init(literal text: String) {
        parts = text.isEmpty ? [] : [.text(text)]
        description = text
    }

    /// Just one placeholder.
    public init(variable: Variable) {
        parts = [.variable(variable)]
        description = "{{\(variable.rawValue)}}"
    }

    /// The text with each placeholder replaced by `value(variable)`, passed through `escape`
    /// (percent-encoding in a path; JSON string escaping in a body).
    public func render(_ value: (Variable) -> String, escape: (String) -> String = { $0 }) -> String {
        parts.map { part in
            switch part {
            case .text(let text): text
            case .variable(let variable): escape(value(variable))
            }
        }.joined()
    }
}
