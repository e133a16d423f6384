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

    /// Parses `bytes` as one JSON object; the array under `itemsKey` is split into items, each
    /// parsed keeping only the members `keep` names (all by default).
    public static func parse(
        _ bytes: [UInt8], itemsKey: String, keeping keep: JSONKeep? = nil, limits: JSONParseLimits = .init()
    ) throws(JSONSyntaxError) -> JSONPage {
        try bytes.withUnsafeBufferPointer { (buffer) throws(JSONSyntaxError) -> JSONPage in
            var parser = JSONParser(bytes: buffer, limits: limits)
            var page = JSONPage(items: [], hasItems: false, fields: [:])
            parser.skipWhitespace()
            guard parser.currentByte == UInt8(ascii: "{") else { throw parser.error("expected a JSON object") }
            parser.advance()
            parser.skipWhitespace()
            if parser.currentByte == UInt8(ascii: "}") {
                parser.advance()
                return page
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
                    page.hasItems = true
                    page.items = try items(&parser, buffer, keeping: keep)
                } else {
                    let value = try parser.parseValue(depth: 2)
                    if key == itemsKey, value.isNull { page.hasItems = true }
                    page.fields[key] = value
                }
                parser.skipWhitespace()
                switch parser.currentByte {
                case UInt8(ascii: ","): parser.advance()
                case UInt8(ascii: "}"):
                    parser.advance()
                    parser.skipWhitespace()
                    guard parser.isAtEnd else { throw parser.error("unexpected content after the JSON object") }
                    return page
                default: throw parser.error("expected ',' or '}' in an object")
                }
            }
        }
    }

    private static func items(_ parser: inout JSONParser, _ buffer: UnsafeBufferPointer<UInt8>, keeping keep: JSONKeep?) throws(JSONSyntaxError) -> [Item] {
        parser.advance()
        parser.skipWhitespace()
        var out: [Item] = []
        if parser.currentByte == UInt8(ascii: "]") {
            parser.advance()
            return out
        }
        while true {
            parser.skipWhitespace()
            let start = parser.index
            let value: JSONValue
            if let keep {
                value = try parser.parseValue(depth: 3, keeping: keep)
            } else {
                value = try parser.parseValue(depth: 3)
            }
            out.append(Item(raw: Array(UnsafeBufferPointer(rebasing: buffer[start..<parser.index])), value: value))
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
