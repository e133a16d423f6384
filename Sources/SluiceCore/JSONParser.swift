#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where and why a JSON document failed to parse, with a position a sender can act on.
public struct JSONSyntaxError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Zero-based byte offset of the problem within the parsed bytes.
    public var offset: Int
    /// One-based line and column (column counted in bytes).
    public var line: Int
    public var column: Int
    public var reason: String

    public var description: String {
        "\(reason) at line \(line), column \(column) (byte offset \(offset))"
    }
}

/// Limits that keep a hostile document from exhausting the stack or memory.
public struct JSONParseLimits: Sendable, Hashable {
    /// The deepest allowed nesting of arrays and objects; the top-level value is depth 1.
    public var maxDepth: Int

    public init(maxDepth: Int = 64) {
        self.maxDepth = maxDepth
    }
}

/// A strict RFC 8259 parser over UTF-8 bytes: it validates UTF-8, rejects control characters in
/// strings and reports the exact byte offset, line and column of the first problem.
public struct JSONParser: ~Copyable {
    @usableFromInline let bytes: UnsafeBufferPointer<UInt8>
    public private(set) var index: Int
    let limits: JSONParseLimits
    /// Added to reported offsets when parsing a slice of a larger body.
    let baseOffset: Int
    /// The bytes reported positions count lines in (the whole body), when the parser sees a slice.
    let lineSource: UnsafeBufferPointer<UInt8>?

    public init(
        bytes: UnsafeBufferPointer<UInt8>,
        limits: JSONParseLimits = .init(),
        baseOffset: Int = 0,
        lineSource: UnsafeBufferPointer<UInt8>? = nil
    ) {
        self.bytes = bytes
        self.index = 0
        self.limits = limits
        self.baseOffset = baseOffset
        self.lineSource = lineSource
    }

    /// Parses exactly one JSON value surrounded by optional whitespace.
    public static func parse(_ data: some Collection<UInt8>, limits: JSONParseLimits = .init()) throws(JSONSyntaxError) -> JSONValue {
        let array = Array(data)
        return try array.withUnsafeBufferPointer { (buffer) throws(JSONSyntaxError) -> JSONValue in
            var parser = JSONParser(bytes: buffer, limits: limits)
            let value = try parser.parseValue()
            parser.skipWhitespace()
            if !parser.isAtEnd {
                throw parser.error("unexpected content after the JSON value")
            }
            return value
        }
    }

    public var isAtEnd: Bool { index >= bytes.count }

    public var currentByte: UInt8? { index < bytes.count ? bytes[index] : nil }

    public mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    /// Skips spaces and tabs but stops at line breaks (for NDJSON framing).
    public mutating func skipInlineWhitespace() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x09 || bytes[index] == 0x0D {
            index += 1
        }
    }

    public mutating func advance() { index += 1 }

    public func error(_ reason: String, at position: Int? = nil) -> JSONSyntaxError {
        let local = position ?? index
        let offset = baseOffset + local
        var line = 1
        var lineStart = 0
        let source = lineSource ?? bytes
        var i = 0
        let end = min(offset, source.count)
        while i < end {
            if source[i] == 0x0A {
                line += 1
                lineStart = i + 1
            }
            i += 1
        }
        return JSONSyntaxError(offset: offset, line: line, column: offset - lineStart + 1, reason: reason)
    }

    /// Parses one value starting at the current position (leading whitespace allowed).
    public mutating func parseValue() throws(JSONSyntaxError) -> JSONValue {
        skipWhitespace()
        return try parseValue(depth: 1)
    }

    /// Parses one value at the current position, counting `depth` as its nesting level.
    public mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard index < bytes.count else { throw error("unexpected end of input, expected a value") }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            return try parseObject(depth: depth)
        case UInt8(ascii: "["):
            return try parseArray(depth: depth)
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try parseNumber())
        case let byte:
            if byte >= 0x80 {
                throw error("unexpected non-ASCII byte 0x\(String(byte, radix: 16, uppercase: true)), expected a value")
            }
            throw error("unexpected character '\(printable(byte))', expected a value")
        }
    }

    private func printable(_ byte: UInt8) -> String {
        (0x20..<0x7F).contains(byte) ? String(UnicodeScalar(byte)) : "\\u{\(String(byte, radix: 16))}"
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONSyntaxError) {
        let count = literal.utf8CodeUnitCount
        let start = literal.utf8Start
        for i in 0..<count {
            guard index + i < bytes.count, bytes[index + i] == start[i] else {
                throw error("invalid literal, expected '\(literal)'", at: index + i)
            }
        }
        index += count
    }

    private mutating func parseNumber() throws(JSONSyntaxError) -> String {
        let start = index
        try scanNumber()
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
    }

    /// Moves past one number, checking its syntax.
    private mutating func scanNumber() throws(JSONSyntaxError) {
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number, expected a digit") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number, expected a digit after '.'") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number, expected a digit in the exponent") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
    }

    @inline(__always) private func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    private mutating func parseString() throws(JSONSyntaxError) -> String {
        index += 1
        let start = index
        var sawNonASCII = false
        // Fast path: no escapes.
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
                index += 1
                if sawNonASCII {
                    return try validatedString(slice, startOffset: start)
                }
                return String(decoding: slice, as: UTF8.self)
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw error("unescaped control character 0x\(String(b, radix: 16, uppercase: true)) in a string") }
            if b >= 0x80 { sawNonASCII = true }
            index += 1
        }
        guard index < bytes.count else { throw error("unterminated string", at: start - 1) }
        // Slow path with escapes.
        var scalars = [UInt8]()
        scalars.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                // Escapes decode to whole characters, so the raw bytes are valid UTF-8 exactly
                // when the decoded ones are; checking the raw ones reports the sender's offset.
                if sawNonASCII, let bad = UTF8Validation.firstInvalidOffset(in: UnsafeBufferPointer(rebasing: bytes[start..<index])) {
                    throw error("invalid UTF-8", at: start + bad)
                }
                index += 1
                return String(decoding: scalars, as: UTF8.self)
            }
            if b < 0x20 { throw error("unescaped control character 0x\(String(b, radix: 16, uppercase: true)) in a string") }
            if b >= 0x80 { sawNonASCII = true }
            if b != UInt8(ascii: "\\") {
                scalars.append(b)
                index += 1
                continue
            }
            index += 1
            guard index < bytes.count else { throw error("unterminated escape sequence") }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""): scalars.append(0x22)
            case UInt8(ascii: "\\"): scalars.append(0x5C)
            case UInt8(ascii: "/"): scalars.append(0x2F)
            case UInt8(ascii: "b"): scalars.append(0x08)
            case UInt8(ascii: "f"): scalars.append(0x0C)
            case UInt8(ascii: "n"): scalars.append(0x0A)
            case UInt8(ascii: "r"): scalars.append(0x0D)
            case UInt8(ascii: "t"): scalars.append(0x09)
            case UInt8(ascii: "u"):
                var code = try parseHex4()
                if (0xD800...0xDBFF).contains(code) {
                    if index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") {
                        let save = index
                        index += 2
                        let low = try parseHex4()
                        if (0xDC00...0xDFFF).contains(low) {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            index = save
                            code = 0xFFFD
                        }
                    } else {
                        code = 0xFFFD
                    }
                } else if (0xDC00...0xDFFF).contains(code) {
                    code = 0xFFFD
                }
                let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                scalars.append(contentsOf: String(Character(scalar)).utf8)
            default:
                throw error("invalid escape sequence '\\\(printable(escape))'", at: index - 2)
            }
        }
        throw error("unterminated string", at: start - 1)
    }

    /// Steps into an object or array at `depth`; true when it closes at once (`closing` is next).
    @inline(__always)
    private mutating func open(depth: Int, closing: UInt8) throws(JSONSyntaxError) -> Bool {
        if depth > limits.maxDepth {
            throw error("JSON nested deeper than \(limits.maxDepth) levels")
        }
        index += 1
        skipWhitespace()
        guard index < bytes.count, bytes[index] == closing else { return false }
        index += 1
        return true
    }

    /// After a member or item of a `container` ("object" or "array"): true when `closing` ended
    /// it, false when a comma says another follows.
    @inline(__always)
    private mutating func closes(_ container: String, with closing: UInt8) throws(JSONSyntaxError) -> Bool {
        skipWhitespace()
        guard index < bytes.count else { throw error("unexpected end of input inside an \(container)") }
        switch bytes[index] {
        case UInt8(ascii: ","):
            index += 1
            return false
        case closing:
            index += 1
            return true
        default:
            throw error("expected ',' or '\(Character(Unicode.Scalar(closing)))' in an \(container)")
        }
    }

    private mutating func parseObject(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        var members: [JSONMember] = []
        if try open(depth: depth, closing: UInt8(ascii: "}")) { return .object(members) }
        repeat {
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input inside an object") }
            guard bytes[index] == UInt8(ascii: "\"") else { throw error("expected a member name in double quotes") }
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':' after a member name") }
            index += 1
            skipWhitespace()
            members.append(JSONMember(key, try parseValue(depth: depth + 1)))
        } while try !closes("object", with: UInt8(ascii: "}"))
        return .object(members)
    }

    private mutating func parseArray(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        var items: [JSONValue] = []
        if try open(depth: depth, closing: UInt8(ascii: "]")) { return .array(items) }
        repeat {
            skipWhitespace()
            items.append(try parseValue(depth: depth + 1))
        } while try !closes("array", with: UInt8(ascii: "]"))
        return .array(items)
    }

    /// Moves past one string, checking escapes, control characters and UTF-8 as ``parseString()``
    /// does; returns whether it had escapes.
    private mutating func skipString() throws(JSONSyntaxError) -> Bool {
        index += 1
        let start = index
        var sawNonASCII = false
        var escaped = false
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                if sawNonASCII, let bad = UTF8Validation.firstInvalidOffset(in: UnsafeBufferPointer(rebasing: bytes[start..<index])) {
                    throw error("invalid UTF-8", at: start + bad)
                }
                index += 1
                return escaped
            }
            if b < 0x20 { throw error("unescaped control character 0x\(String(b, radix: 16, uppercase: true)) in a string") }
            if b >= 0x80 { sawNonASCII = true }
            if b == UInt8(ascii: "\\") {
                escaped = true
                index += 1
                guard index < bytes.count else { throw error("unterminated escape sequence") }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"),
                     UInt8(ascii: "r"), UInt8(ascii: "t"):
                    break
                case UInt8(ascii: "u"):
                    _ = try parseHex4()
                default:
                    throw error("invalid escape sequence '\\\(printable(escape))'", at: index - 2)
                }
                continue
            }
            index += 1
        }
        throw error("unterminated string", at: start - 1)
    }

    private mutating func parseHex4() throws(JSONSyntaxError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("incomplete \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let digit: UInt32
            switch b {
            case 0x30...0x39: digit = UInt32(b - 0x30)
            case 0x41...0x46: digit = UInt32(b - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(b - 0x61 + 10)
            default: throw error("invalid hex digit in \\u escape")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    private func validatedString(_ slice: UnsafeBufferPointer<UInt8>, startOffset: Int) throws(JSONSyntaxError) -> String {
        if let s = String(validating: slice, as: UTF8.self) { return s }
        // Locate the first invalid byte for the error message.
        let bad = UTF8Validation.firstInvalidOffset(in: slice) ?? 0
        throw error("invalid UTF-8", at: startOffset + bad)
    }
}

/// UTF-8 validation that reports where the first invalid sequence starts.
public enum UTF8Validation {
    public static func firstInvalidOffset(in bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        var i = 0
        let n = bytes.count
        while i < n {
            let b0 = bytes[i]
            if b0 < 0x80 { i += 1; continue }
            let (length, minScalar): (Int, UInt32)
            var scalar: UInt32
            switch b0 {
            case 0xC2...0xDF: (length, minScalar) = (2, 0x80); scalar = UInt32(b0 & 0x1F)
            case 0xE0...0xEF: (length, minScalar) = (3, 0x800); scalar = UInt32(b0 & 0x0F)
            case 0xF0...0xF4: (length, minScalar) = (4, 0x10000); scalar = UInt32(b0 & 0x07)
            default: return i
            }
            guard i + length <= n else { return i }
            for k in 1..<length {
                let b = bytes[i + k]
                guard b & 0xC0 == 0x80 else { return i }
                scalar = scalar << 6 | UInt32(b & 0x3F)
            }
            if scalar < minScalar || scalar > 0x10FFFF || (0xD800...0xDFFF).contains(scalar) { return i }
            i += length
        }
        return nil
    }
}

extension JSONParser {
    /// Maps one value into `tokens` (see ``JSONTape``), checking it as ``parseValue(depth:)``
    /// does.
    mutating func tape(depth: Int, into tokens: inout [JSONTape.Token]) throws(JSONSyntaxError) {
        guard index < bytes.count else { throw error("unexpected end of input, expected a value") }
        let start = index
        let me = tokens.count
        func close(_ kind: JSONTape.Kind, escaped: Bool = false, start: Int, end: Int) {
            tokens.append(JSONTape.Token(kind: kind, escaped: escaped, start: Int32(start), end: Int32(end), after: Int32(tokens.count + 1)))
        }
        switch bytes[index] {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let object = bytes[index] == UInt8(ascii: "{")
            if depth > limits.maxDepth { throw error("JSON nested deeper than \(limits.maxDepth) levels") }
            tokens.append(JSONTape.Token(kind: object ? .object : .array, escaped: false, start: Int32(start), end: 0, after: 0))
            index += 1
            skipWhitespace()
            let closing = object ? UInt8(ascii: "}") : UInt8(ascii: "]")
            if index < bytes.count, bytes[index] == closing {
                index += 1
            } else {
                while true {
                    skipWhitespace()
                    if object {
                        guard index < bytes.count else { throw error("unexpected end of input inside an object") }
                        guard bytes[index] == UInt8(ascii: "\"") else { throw error("expected a member name in double quotes") }
                        let keyStart = index + 1
                        let escaped = try skipString()
                        close(.string, escaped: escaped, start: keyStart, end: index - 1)
                        skipWhitespace()
                        guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':' after a member name") }
                        index += 1
                        skipWhitespace()
                    }
                    try tape(depth: depth + 1, into: &tokens)
                    skipWhitespace()
                    guard index < bytes.count else { throw error(object ? "unexpected end of input inside an object" : "unexpected end of input inside an array") }
                    if bytes[index] == UInt8(ascii: ",") {
                        index += 1
                        continue
                    }
                    if bytes[index] == closing {
                        index += 1
                        break
                    }
                    throw error(object ? "expected ',' or '}' in an object" : "expected ',' or ']' in an array")
                }
            }
            tokens[me].end = Int32(index)
            tokens[me].after = Int32(tokens.count)
        case UInt8(ascii: "\""):
            let escaped = try skipString()
            close(.string, escaped: escaped, start: start + 1, end: index - 1)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try scanNumber()
            close(.number, start: start, end: index)
        default:
            // Literals, and the errors for anything else, as the parser reports them.
            let value = try parseValue(depth: depth)
            let kind: JSONTape.Kind = switch value {
            case .bool(true): .boolTrue
            case .bool(false): .boolFalse
            default: .null
            }
            close(kind, start: start, end: index)
        }
    }
}
