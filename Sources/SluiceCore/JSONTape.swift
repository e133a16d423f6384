#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A JSON value checked and mapped in one pass: the position of every value in the bytes, and
/// no value built. A reader asks for the fields it needs (``JSONView``), and only those are
/// decoded: a normalizer reading a dozen fields of a large event pays for those alone.
///
/// Checking is exactly ``JSONParser``'s: a document is mapped if and only if it parses, and a
/// refusal reports the same position.
public struct JSONTape: Sendable {
    public enum Kind: UInt8, Sendable {
        case object, array, string, number, boolTrue, boolFalse, null
    }

    struct Token: Sendable {
        var kind: Kind
        /// A string holding escapes (decoded when read).
        var escaped: Bool
        /// Where the value starts and ends (a string: its content, without the quotes).
        var start: Int32
        var end: Int32
        /// The token after this value and everything in it.
        var after: Int32
    }

    var tokens: [Token] = []

    public init() {
        tokens.reserveCapacity(256)
    }

    /// Maps one value at the parser's position (`depth` as ``JSONParser/parseValue(depth:)``
    /// counts it), replacing what the tape held.
    public mutating func map(_ parser: inout JSONParser, depth: Int) throws(JSONSyntaxError) {
        tokens.removeAll(keepingCapacity: true)
        try parser.tape(depth: depth, into: &tokens)
    }

    /// The mapped value over `bytes` (the buffer the parser read), valid while both are.
    public func withView<T>(over bytes: UnsafeBufferPointer<UInt8>, _ body: (JSONView) throws -> T) rethrows -> T {
        try tokens.withUnsafeBufferPointer { tokens in
            try body(JSONView(tokens: tokens, bytes: bytes, index: 0))
        }
    }
}

/// One value of a ``JSONTape``, read without building the values around it. It borrows the
/// tape's and the document's storage: use it only inside ``JSONTape/withView(over:_:)``.
public struct JSONView {
    let tokens: UnsafeBufferPointer<JSONTape.Token>
    let bytes: UnsafeBufferPointer<UInt8>
    let index: Int

    private var token: JSONTape.Token { tokens[index] }

    public var kind: JSONTape.Kind { token.kind }

    public var isNull: Bool { kind == .null }

    /// The value's bytes as written (a string's without its quotes).
    public var bytesWritten: UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: bytes[Int(token.start)..<Int(token.end)])
    }

    /// The value of the last member named `key`, if this is an object (as ``JSONValue``'s).
    public subscript(key: String) -> JSONView? {
        guard kind == .object else { return nil }
        var key = key
        return key.withUTF8 { name in
            var found: JSONView?
            var i = index + 1
            let end = Int(token.after)
            while i < end {
                let keyToken = tokens[i]
                if keyToken.escaped {
                    if JSONView(tokens: tokens, bytes: bytes, index: i).stringValue?.utf8.elementsEqual(name) == true {
                        found = JSONView(tokens: tokens, bytes: bytes, index: i + 1)
                    }
                } else if Int(keyToken.end - keyToken.start) == name.count,
                          name.isEmpty || memcmp(bytes.baseAddress! + Int(keyToken.start), name.baseAddress!, name.count) == 0 {
                    found = JSONView(tokens: tokens, bytes: bytes, index: i + 1)
                }
                i = Int(tokens[i + 1].after)
            }
            return found
        }
    }

    /// Follows a dotted path, as ``JSONValue/value(at:)`` does.
    public func value(at path: FieldPath) -> JSONView? {
        var current = self
        for segment in path.segments {
            if current.kind == .array {
                // A number indexes an array, as in ``JSONValue/value(at:)``.
                guard let n = Int(segment), n >= 0 else { return nil }
                var i = current.index + 1
                let end = Int(current.token.after)
                for _ in 0..<n where i < end { i = Int(tokens[i].after) }
                guard i < end else { return nil }
                current = JSONView(tokens: tokens, bytes: bytes, index: i)
                continue
            }
            guard let next = current[segment] else { return nil }
            current = next
        }
        return current
    }

    /// The elements, if this is an array.
    public var elements: [JSONView]? {
        guard kind == .array else { return nil }
        var out: [JSONView] = []
        var i = index + 1
        let end = Int(token.after)
        while i < end {
            out.append(JSONView(tokens: tokens, bytes: bytes, index: i))
            i = Int(tokens[i].after)
        }
        return out
    }

    /// The members in order, if this is an object (names decoded).
    public var members: [(key: String, value: JSONView)]? {
        guard kind == .object else { return nil }
        var out: [(key: String, value: JSONView)] = []
        var i = index + 1
        let end = Int(token.after)
        while i < end {
            out.append((JSONView(tokens: tokens, bytes: bytes, index: i).stringValue ?? "", JSONView(tokens: tokens, bytes: bytes, index: i + 1)))
            i = Int(tokens[i + 1].after)
        }
        return out
    }

    /// The only member, if this is an object with exactly one.
    public var onlyMember: (key: String, value: JSONView)? {
        guard kind == .object, index + 1 < Int(token.after), Int(tokens[index + 2].after) == Int(token.after) else { return nil }
        return (JSONView(tokens: tokens, bytes: bytes, index: index + 1).stringValue ?? "", JSONView(tokens: tokens, bytes: bytes, index: index + 2))
    }

    /// The first element, if this is a non-empty array.
    public var first: JSONView? {
        guard kind == .array, index + 1 < Int(token.after) else { return nil }
        return JSONView(tokens: tokens, bytes: bytes, index: index + 1)
    }

    /// A string's text, decoded; nil for anything else.
    public var stringValue: String? {
        guard kind == .string else { return nil }
        guard token.escaped else { return String(decoding: bytesWritten, as: UTF8.self) }
        // Rare: let the parser decode the escapes, from the opening quote.
        var parser = JSONParser(bytes: UnsafeBufferPointer(rebasing: bytes[(Int(token.start) - 1)..<(Int(token.end) + 1)]))
        guard case .string(let text)? = try? parser.parseValue(depth: 1) else { return nil }
        return text
    }

    /// A scalar as text, as ``JSONValue/textValue`` gives it: strings as themselves, numbers as
    /// written, booleans as `true`/`false`, containers as compact JSON, `null` as nil.
    public var textValue: String? {
        switch kind {
        case .null: nil
        case .boolTrue: "true"
        case .boolFalse: "false"
        case .number: String(decoding: bytesWritten, as: UTF8.self)
        case .string: stringValue
        case .object, .array: value?.textValue
        }
    }

    /// The whole value built (for the rare reader that needs it).
    public var value: JSONValue? {
        try? JSONParser.parse(bytesWritten)
    }

    /// A time, read as ``Timestamp/init(json:)`` reads one.
    public var timestamp: Timestamp? {
        switch kind {
        case .string:
            guard let text = stringValue else { return nil }
            return Timestamp(rfc3339: text) ?? Timestamp(epochText: text)
        case .number:
            return Timestamp(epochText: String(decoding: bytesWritten, as: UTF8.self))
        default:
            return nil
        }
    }
}

