/// One response page of a list API: the items of one member array, each with its exact bytes,
/// and the page's other top-level members (tokens, counts) parsed.
public struct JSONPage: Sendable {
    public struct Item: Sendable {
        /// The item's bytes exactly as the provider sent them.
        public var raw: [UInt8]
        public var value: JSONValue
    }

    public var items: [Item]
    /// False when the page had no member named like the items (Incydr's audit search past its
    /// 10,000-result window answers without `events`).
    public var hasItems: Bool
    public var fields: [String: JSONValue]

    /// Parses `bytes` as one JSON object; the array under `itemsKey` is split into items.
    public static func parse(_ bytes: [UInt8], itemsKey: String, limits: JSONParseLimits = .init()) throws(JSONSyntaxError) -> JSONPage {
        let page = try walk(bytes, itemsPath: [itemsKey], limits: limits) { (parser, buffer, depth) throws(JSONSyntaxError) in
            let start = parser.index
            let value = try parser.parseValue(depth: depth)
            return Item(raw: Array(UnsafeBufferPointer(rebasing: buffer[start..<parser.index])), value: value)
        }
        return JSONPage(items: page.items, hasItems: page.hasItems, fields: page.fields)
    }

    /// Parses `bytes` as ``parse(_:itemsKey:limits:)`` does, but hands each item to `transform`
    /// as a ``JSONView`` over its exact bytes (`raw`): nothing of an item is built but what
    /// `transform` reads. The view is valid only inside `transform`.
    public static func map<T>(
        _ bytes: [UInt8], itemsKey: String, limits: JSONParseLimits = .init(), _ transform: (_ item: JSONView, _ raw: UnsafeBufferPointer<UInt8>) -> T
    ) throws(JSONSyntaxError) -> (items: [T], hasItems: Bool, fields: [String: JSONValue]) {
        try map(bytes, itemsPath: [itemsKey], limits: limits, transform)
    }

    /// ``map(_:itemsKey:limits:_:)`` for items at any depth: `itemsPath` names the members down to
    /// the array (`["response", "authlogs"]`); empty, the answer itself is the array. The members
    /// beside the path come back in `fields`, those of a nested object as an object under its
    /// name (without the items).
    public static func map<T>(
        _ bytes: [UInt8], itemsPath: [String], limits: JSONParseLimits = .init(), _ transform: (_ item: JSONView, _ raw: UnsafeBufferPointer<UInt8>) -> T
    ) throws(JSONSyntaxError) -> (items: [T], hasItems: Bool, fields: [String: JSONValue]) {
        var tape = JSONTape()
        return try walk(bytes, itemsPath: itemsPath, limits: limits) { (parser, buffer, depth) throws(JSONSyntaxError) in
            let start = parser.index
            try tape.map(&parser, depth: depth)
            let raw = UnsafeBufferPointer(rebasing: buffer[start..<parser.index])
            return tape.withView(over: buffer) { view in transform(view, raw) }
        }
    }

    private typealias Walked<T> = (items: [T], hasItems: Bool, fields: [String: JSONValue])

    /// The page: each element of the array at `itemsPath` read by `item` (at the parser's
    /// position, which it must move past the element; `depth` is the element's nesting), every
    /// other member parsed.
    private static func walk<T>(
        _ bytes: [UInt8], itemsPath: [String], limits: JSONParseLimits,
        item: (inout JSONParser, UnsafeBufferPointer<UInt8>, Int) throws(JSONSyntaxError) -> T
    ) throws(JSONSyntaxError) -> Walked<T> {
        try bytes.withUnsafeBufferPointer { (buffer) throws(JSONSyntaxError) -> Walked<T> in
            var parser = JSONParser(bytes: buffer, limits: limits)
            parser.skipWhitespace()
            let page: Walked<T>
            if itemsPath.isEmpty {
                guard parser.currentByte == UInt8(ascii: "[") else { throw parser.error("expected a JSON array") }
                page = (try elements(&parser, buffer, depth: 2, item: item), true, [:])
            } else {
                page = try object(&parser, buffer, path: itemsPath[...], depth: 1, item: item)
            }
            parser.skipWhitespace()
            guard parser.isAtEnd else { throw parser.error("unexpected content after the JSON value") }
            return page
        }
    }

    /// The object at the parser's position (at nesting `depth`), walked for `path`.
    private static func object<T>(
        _ parser: inout JSONParser, _ buffer: UnsafeBufferPointer<UInt8>, path: ArraySlice<String>, depth: Int,
        item: (inout JSONParser, UnsafeBufferPointer<UInt8>, Int) throws(JSONSyntaxError) -> T
    ) throws(JSONSyntaxError) -> Walked<T> {
        var items: [T] = []
        var hasItems = false
        var fields: [String: JSONValue] = [:]
        guard parser.currentByte == UInt8(ascii: "{") else { throw parser.error("expected a JSON object") }
        parser.advance()
        parser.skipWhitespace()
        if parser.currentByte == UInt8(ascii: "}") {
            parser.advance()
            return (items, hasItems, fields)
        }
        let key = path.first!
        while true {
            parser.skipWhitespace()
            guard parser.currentByte == UInt8(ascii: "\""), case .string(let name) = try parser.parseValue(depth: depth) else {
                throw parser.error("expected a member name")
            }
            parser.skipWhitespace()
            guard parser.currentByte == UInt8(ascii: ":") else { throw parser.error("expected ':' after a member name") }
            parser.advance()
            parser.skipWhitespace()
            if name == key, path.count == 1, parser.currentByte == UInt8(ascii: "[") {
                hasItems = true
                items = try elements(&parser, buffer, depth: depth + 2, item: item)
            } else if name == key, path.count > 1, parser.currentByte == UInt8(ascii: "{") {
                let nested = try object(&parser, buffer, path: path.dropFirst(), depth: depth + 1, item: item)
                (items, hasItems) = (nested.items, nested.hasItems)
                fields[name] = .object(nested.fields.map { JSONMember($0.key, $0.value) })
            } else {
                let value = try parser.parseValue(depth: depth + 1)
                if name == key, path.count == 1, value.isNull { hasItems = true }
                fields[name] = value
            }
            parser.skipWhitespace()
            switch parser.currentByte {
            case UInt8(ascii: ","): parser.advance()
            case UInt8(ascii: "}"):
                parser.advance()
                return (items, hasItems, fields)
            default: throw parser.error("expected ',' or '}' in an object")
            }
        }
    }

    private static func elements<T>(
        _ parser: inout JSONParser, _ buffer: UnsafeBufferPointer<UInt8>, depth: Int,
        item: (inout JSONParser, UnsafeBufferPointer<UInt8>, Int) throws(JSONSyntaxError) -> T
    ) throws(JSONSyntaxError) -> [T] {
        parser.advance()
        parser.skipWhitespace()
        var out: [T] = []
        if parser.currentByte == UInt8(ascii: "]") {
            parser.advance()
            return out
        }
        while true {
            parser.skipWhitespace()
            out.append(try item(&parser, buffer, depth))
            parser.skipWhitespace()
            switch parser.currentByte {
            case UInt8(ascii: ","): parser.advance()
            case UInt8(ascii: "]"):
                parser.advance()
                return out
            default: throw parser.error("expected ',' or ']' in an array")
            }
        }
    }
}
