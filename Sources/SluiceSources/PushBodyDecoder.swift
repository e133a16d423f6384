import NIOCore
import SluiceCompression
import SluiceCore

/// One event found in a push body: its exact bytes and its parsed value.
public struct DecodedEvent: Sendable {
    public var raw: [UInt8]
    public var value: JSONValue
    /// One-based line of the body where the event starts (for error messages).
    public var line: Int
}

/// Splits a push body into events. Accepted shapes: one JSON object, a JSON array of objects, or
/// newline-delimited JSON objects; optionally gzip-compressed.
public struct PushBodyDecoder: Sendable {
    public var limits: PushLimits

    public init(limits: PushLimits) {
        self.limits = limits
    }

    /// Decodes a body after undoing `contentEncoding` (`gzip`, `x-gzip`, `identity` or none).
    public func decode(body: ByteBuffer, contentEncoding: String?) throws(PushRejection) -> [DecodedEvent] {
        let bytes = try decompress(body: body, contentEncoding: contentEncoding)
        return try decode(bytes)
    }

    func decompress(body: ByteBuffer, contentEncoding: String?) throws(PushRejection) -> [UInt8] {
        let encodings = (contentEncoding ?? "")
            .split(separator: ",")
            .map { $0.trimmingSpaces().lowercased() }
            .filter { !$0.isEmpty && $0 != "identity" }
        var buffer = body
        switch encodings {
        case []:
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        case ["gzip"], ["x-gzip"]:
            return try gunzip(&buffer)
        default:
            throw PushRejection(
                .unsupportedEncoding,
                "unsupported Content-Encoding \"\(contentEncoding ?? "")\"; send the body uncompressed or with gzip"
            )
        }
    }

    /// Inflates every gzip member of the body (RFC 1952), as `zcat` reads it: each member's
    /// trailer must be present and match, and nothing else may follow. A sender whose stream was
    /// cut short, or that appends anything else, gets a 400 and nothing is stored. Output is
    /// bounded across all members, so a small body that expands without bound stops at the limit.
    func gunzip(_ input: inout ByteBuffer) throws(PushRejection) -> [UInt8] {
        let limit = limits.maxDecompressedBytes
        let result = input.withUnsafeReadableBytes { bytes in
            Result { () throws(GzipError) -> [UInt8] in try Gzip.decompress(bytes, limit: limit) }
        }
        switch result {
        case .success(let bytes):
            return bytes
        case .failure(let error) where error.kind == .tooLarge:
            throw PushRejection(.decompressedTooLarge, "the gzip body expands past the limit of \(limit) bytes")
        case .failure(let error):
            throw PushRejection(.corruptGzip, "\(error.message) (Content-Encoding: gzip); nothing was stored")
        }
    }

    /// Decodes already-decompressed bytes.
    public func decode(_ bytes: [UInt8]) throws(PushRejection) -> [DecodedEvent] {
        try bytes.withUnsafeBufferPointer { (buffer) throws(PushRejection) -> [DecodedEvent] in
            var parser = JSONParser(bytes: buffer, limits: JSONParseLimits(maxDepth: limits.maxDepth))
            parser.skipWhitespace()
            guard !parser.isAtEnd else {
                throw PushRejection(.emptyBody, "the request body is empty; send a JSON object, a JSON array or NDJSON")
            }
            var events: [DecodedEvent] = []
            var lines = LineCounter(buffer)
            var documents = 0
            var firstWasArray = false
            while true {
                parser.skipWhitespace()
                if parser.isAtEnd { break }
                documents += 1
                let start = parser.index
                if documents == 2 && firstWasArray {
                    throw rejection(parser.error("unexpected content after the JSON array"))
                }
                if parser.currentByte == UInt8(ascii: "[") {
                    if documents > 1 {
                        throw rejection(parser.error("expected a JSON object on this line, found an array"))
                    }
                    firstWasArray = true
                    try decodeArray(&parser, into: &events, buffer: buffer, lines: &lines)
                    continue
                }
                let value: JSONValue
                do throws(JSONSyntaxError) {
                    value = try parser.parseValue(depth: 1)
                } catch {
                    throw rejection(error)
                }
                let line = lines.line(at: start)
                guard case .object = value else {
                    throw PushRejection(.notAnObject, "the event on line \(line) is not a JSON object; each event must be an object")
                }
                try append(DecodedEvent(raw: Array(UnsafeBufferPointer(rebasing: buffer[start..<parser.index])), value: value, line: line), to: &events)
                // NDJSON: the next event must start on a new line.
                parser.skipInlineWhitespace()
                if let next = parser.currentByte, next != 0x0A {
                    throw rejection(parser.error("expected a line break after the JSON object (NDJSON puts one event per line)"))
                }
            }
            return events
        }
    }

    private func decodeArray(
        _ parser: inout JSONParser, into events: inout [DecodedEvent], buffer: UnsafeBufferPointer<UInt8>, lines: inout LineCounter
    ) throws(PushRejection) {
        if limits.maxDepth < 1 {
            throw rejection(parser.error("JSON nested deeper than \(limits.maxDepth) levels"))
        }
        parser.advance()
        parser.skipWhitespace()
        if parser.currentByte == UInt8(ascii: "]") {
            parser.advance()
            return
        }
        while true {
            parser.skipWhitespace()
            let start = parser.index
            let value: JSONValue
            do throws(JSONSyntaxError) {
                value = try parser.parseValue(depth: 2)
            } catch {
                throw rejection(error)
            }
            let line = lines.line(at: start)
            guard case .object = value else {
                throw PushRejection(.notAnObject, "array element \(events.count + 1) (line \(line)) is not a JSON object; each event must be an object")
            }
            try append(DecodedEvent(raw: Array(UnsafeBufferPointer(rebasing: buffer[start..<parser.index])), value: value, line: line), to: &events)
            parser.skipWhitespace()
            switch parser.currentByte {
            case UInt8(ascii: ","):
                parser.advance()
            case UInt8(ascii: "]"):
                parser.advance()
                return
            case nil:
                throw rejection(parser.error("unexpected end of input inside an array"))
            default:
                throw rejection(parser.error("expected ',' or ']' in an array"))
            }
        }
    }

    private func append(_ event: DecodedEvent, to events: inout [DecodedEvent]) throws(PushRejection) {
        if events.count >= limits.maxEvents {
            throw PushRejection(.tooManyEvents, "the request carries more than \(limits.maxEvents) events; split it into smaller requests")
        }
        events.append(event)
    }

    private func rejection(_ error: JSONSyntaxError) -> PushRejection {
        if error.reason.hasPrefix("JSON nested deeper") {
            return PushRejection(.tooDeep, "\(error.description); flatten the event or raise the feed's max_depth")
        }
        return PushRejection(.invalidJSON, "invalid JSON: \(error.description)")
    }
}

/// One-based line numbers for increasing offsets, counting each newline once.
struct LineCounter {
    let bytes: UnsafeBufferPointer<UInt8>
    var offset = 0
    var line = 1

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    mutating func line(at target: Int) -> Int {
        while offset < target {
            if bytes[offset] == 0x0A { line += 1 }
            offset += 1
        }
        return line
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
