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
        let page = try walk(bytes, itemsKey: itemsKey, limits: limits) { (parser, buffer) throws(JSONSyntaxError) in
            let start = parser.index
            let value = try parser.parseValue(depth: 3)
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
        var tape = JSONTape()
        return try walk(bytes, itemsKey: itemsKey, limits: limits) { (parser, buffer) throws(JSONSyntaxError) in
            let start = parser.index
            try tape.map(&parser, depth: 3)
            let raw = UnsafeBufferPointer(rebasing: buffer[start..<parser.index])
            return tape.withView(over: buffer) { view in transform(view, raw) }
        }
    }

    /// The page's object: each element of the `itemsKey` array read by `item` (at the parser's
    /// position, which it must move past the element), every other member parsed.
    private static func walk<T>(
        _ bytes: [UInt8], itemsKey: String, limits: JSONParseLimits,
        item: (inout JSONParser, UnsafeBufferPointer<UInt8>) throws(JSONSyntaxError) -> T
    ) throws(JSONSyntaxError) -> (items: [T], hasItems: Bool, fields: [String: JSONValue]) {
        try bytes.withUnsafeBufferPointer { (buffer) throws(JSONSyntaxError) -> (items: [T], hasItems: Bool, fields: [String: JSONValue]) in
            var parser = JSONParser(bytes: buffer, limits: limits)
            var items: [T] = []
            var hasItems = false
            var fields: [String: JSONValue] = [:]
            parser.skipWhitespace()
            guard parser.currentByte == UInt8(ascii: "{") else { throw parser.error("expected a JSON object") }
            parser.advance()
            parser.skipWhitespace()
            if parser.currentByte == UInt8(ascii: "}") {
                parser.advance()
                return (items, hasItems, fields)
            }
            while true {
                parser.skipWhitespace()
                guard parser.currentByte == UInt8(ascii: "\""), case .string(let key) = try parser.parseValue(depth: 1) else {
                    throw parser.error("expected a member name")
                }
                parser.skipWhitespace()
                guard parser.currentByte == UInt8(ascii: ":") else { throw parser.error("expected ':' after a member name") }
                parser.advance()
                parser.skipWhitespace()
                if key == itemsKey, parser.currentByte == UInt8(ascii: "[") {
                    hasItems = true
                    items = try elements(&parser, buffer, item: item)
                } else {
                    let value = try parser.parseValue(depth: 2)
                    if key == itemsKey, value.isNull { hasItems = true }
                    fields[key] = value
                }
                parser.skipWhitespace()
                switch parser.currentByte {
                case UInt8(ascii: ","): parser.advance()
                case UInt8(ascii: "}"):
                    parser.advance()
                    parser.skipWhitespace()
                    guard parser.isAtEnd else { throw parser.error("unexpected content after the JSON object") }
                    return (items, hasItems, fields)
                default: throw parser.error("expected ',' or '}' in an object")
                }
            }
        }
    }

    private static func elements<T>(
        _ parser: inout JSONParser, _ buffer: UnsafeBufferPointer<UInt8>,
        item: (inout JSONParser, UnsafeBufferPointer<UInt8>) throws(JSONSyntaxError) -> T
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
            out.append(try item(&parser, buffer))
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
