import SluiceCore
import Testing

@Suite struct JSONParserTests {
    /// Escapes at the start, middle and end of a string, between runs of bytes copied whole,
    /// and each written string parses back to itself.
    @Test func stringsAreEscapedExactlyAndReadBack() throws {
        let cases: [(String, String)] = [
            ("", #""""#),
            ("plain", #""plain""#),
            ("\"q\"", #""\"q\"""#),
            ("a\\b", #""a\\b""#),
            ("line\nnext\r\tend", #""line\nnext\r\tend""#),
            ("\u{01}x\u{1F}", #""\u0001x\u001f""#),
            ("é漢🙂\u{7F}", "\"é漢🙂\u{7F}\""),
            ("\u{0}", #""\u0000""#),
        ]
        for (text, expected) in cases {
            let written = JSONValue.quoted(text)
            #expect(written == expected)
            #expect(try JSONParser.parse(Array(written.utf8)) == .string(text))
        }
    }

    @Test func parsesScalarsAndKeepsNumberLexemes() throws {
        let value = try JSONParser.parse(Array(#"{"a":1.50,"b":[true,false,null],"c":"x\u00e9\n","d":-0,"e":1e-7}"#.utf8))
        #expect(value["a"] == .number("1.50"))
        #expect(value["b"] == .array([.bool(true), .bool(false), .null]))
        #expect(value["c"] == .string("xé\n"))
        #expect(value["d"] == .number("-0"))
        #expect(value["e"] == .number("1e-7"))
    }

    @Test func keepsNULCharactersFaithfully() throws {
        let value = try JSONParser.parse(Array(#"{"name":"a\u0000b"}"#.utf8))
        #expect(value["name"]?.stringValue == "a\u{0}b")
        #expect(value["name"]?.stringValue?.utf8.count == 3)
    }

    @Test func decodesSurrogatePairsAndReplacesLoneSurrogates() throws {
        #expect(try JSONParser.parse(Array(#""\ud83d\ude00""#.utf8)) == .string("😀"))
        #expect(try JSONParser.parse(Array(#""\ud83d x""#.utf8)) == .string("\u{FFFD} x"))
    }

    @Test(arguments: [
        ("{\"a\":1,}", 1, 8, "expected a member name"),
        ("{\"a\":\n tru}", 2, 5, "invalid literal"),
        ("[1,2", 1, 5, "unexpected end of input"),
        ("{\"a\":\"\u{01}\"}", 1, 7, "unescaped control character"),
        ("{\"a\":01}", 1, 7, "expected ',' or '}'"),
    ])
    func reportsLineAndColumn(input: String, line: Int, column: Int, reason: String) {
        #expect {
            _ = try JSONParser.parse(Array(input.utf8))
        } throws: { error in
            guard let error = error as? JSONSyntaxError else { return false }
            return error.line == line && error.column == column && error.reason.contains(reason)
        }
    }

    @Test func reportsTheByteOffsetOfInvalidUTF8() {
        var bytes = Array(#"{"name":"ok"#.utf8)
        bytes.append(0xC3)   // a lead byte with no continuation
        bytes.append(contentsOf: Array(#""}"#.utf8))
        #expect {
            _ = try JSONParser.parse(bytes)
        } throws: { error in
            guard let error = error as? JSONSyntaxError else { return false }
            return error.offset == 11 && error.reason == "invalid UTF-8"
        }
    }

    @Test func rejectsOverlongAndSurrogateEncodings() {
        for bad: [UInt8] in [[0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF5, 0x80, 0x80, 0x80]] {
            let input = [0x22] + bad + [0x22]
            #expect(throws: JSONSyntaxError.self) { _ = try JSONParser.parse(input) }
        }
    }

    @Test func enforcesTheDepthLimit() throws {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        _ = try JSONParser.parse(Array(ok.utf8), limits: .init(maxDepth: 64))
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect {
            _ = try JSONParser.parse(Array(deep.utf8), limits: .init(maxDepth: 64))
        } throws: { error in
            (error as? JSONSyntaxError)?.reason.contains("nested deeper than 64") == true
        }
        // A hostile depth far past the limit fails cleanly instead of exhausting the stack.
        let hostile = String(repeating: "[", count: 200_000)
        #expect(throws: JSONSyntaxError.self) { _ = try JSONParser.parse(Array(hostile.utf8)) }
    }

    @Test func canonicalFormSortsKeysAndDropsWhitespace() throws {
        let a = try JSONParser.parse(Array(#"{ "b": 1, "a": {"y": [1, 2], "x": null} }"#.utf8))
        let b = try JSONParser.parse(Array(#"{"a":{"x":null,"y":[1,2]},"b":1}"#.utf8))
        #expect(a.canonicalBytes() == b.canonicalBytes())
        #expect(String(decoding: a.canonicalBytes(), as: UTF8.self) == #"{"a":{"x":null,"y":[1,2]},"b":1}"#)
    }

    @Test func serializationRoundTrips() throws {
        let text = #"{"s":"quote\" backslash\\ tab\t nul\u0000 é","n":[1,-2.5e3]}"#
        let value = try JSONParser.parse(Array(text.utf8))
        #expect(try JSONParser.parse(value.serialized()) == value)
    }
}

@Suite struct TimestampTests {
    @Test(arguments: [
        ("2021-08-17T13:28:57.801578Z", Int64(1_629_206_937_801_578)),
        ("2021-08-17T13:28:57Z", Int64(1_629_206_937_000_000)),
        ("2025-08-04T01:01:01.816033973Z", Int64(1_754_269_261_816_033)),
        ("2021-08-17T15:28:57.8+02:00", Int64(1_629_206_937_800_000)),
        ("2021-08-17 13:28:57z", Int64(1_629_206_937_000_000)),
        ("1970-01-01", Int64(0)),
        ("1969-12-31T23:59:59.5Z", Int64(-500_000)),
    ])
    func parsesRFC3339(text: String, micros: Int64) {
        #expect(Timestamp(rfc3339: text)?.microseconds == micros)
    }

    @Test(arguments: ["2021-13-01T00:00:00Z", "2021-08-17T13:28:57", "yesterday", "2021-08-17T25:00:00Z", "2021-08-17T13:28:57.Z"])
    func rejectsMalformedTimes(text: String) {
        #expect(Timestamp(rfc3339: text) == nil)
    }

    @Test func formatsWithMicroseconds() {
        #expect(Timestamp(microseconds: 1_629_206_937_801_578).rfc3339 == "2021-08-17T13:28:57.801578Z")
        #expect(Timestamp(microseconds: -500_000).rfc3339 == "1969-12-31T23:59:59.500000Z")
    }

    @Test func readsEpochNumbersByMagnitude() {
        #expect(Timestamp(json: .number("1629206937"))?.microseconds == 1_629_206_937_000_000)
        #expect(Timestamp(json: .number("1629206937801"))?.microseconds == 1_629_206_937_801_000)
        #expect(Timestamp(json: .string("1664755200.0"))?.microseconds == 1_664_755_200_000_000)
    }
}

@Suite struct EventIDTests {
    @Test func idsAreSortableByTimeAndRoundTrip() {
        let early = EventID.make(at: Timestamp(seconds: 1_700_000_000))
        let late = EventID.make(at: Timestamp(seconds: 1_800_000_000))
        #expect(early < late)
        #expect(early.rawValue.count == 26)
        #expect(EventID(early.rawValue.lowercased()) == early)
        #expect(EventID("not-an-id") == nil)
    }

    @Test func cursorTokensRoundTrip() {
        let cursor = EventCursor(occurredAt: Timestamp(microseconds: 1_629_206_937_801_578), seq: 42)
        #expect(EventCursor(token: cursor.token) == cursor)
        #expect(EventCursor(token: "garbage") == nil)
    }
}

@Suite struct CanonicalJSONTests {
    @Test func repeatedNamesKeepTheLastValue() throws {
        let value = try JSONParser.parse(Array(#"{"b":1,"a":2,"b":3,"c":{"z":1,"z":2}}"#.utf8))
        #expect(String(decoding: value.canonicalBytes(), as: UTF8.self) == #"{"a":2,"b":3,"c":{"z":2}}"#)
        #expect(value["b"] == .number("3"))
    }
}

/// A mapped document (``JSONTape``) accepts and refuses exactly what a full parse does, and its
/// views read what the built value holds.
@Suite struct JSONTapeTests {
    static func mapped(_ text: [UInt8]) -> Result<JSONTape, JSONSyntaxError> {
        text.withUnsafeBufferPointer { buffer in
            Result { () throws(JSONSyntaxError) -> JSONTape in
                var parser = JSONParser(bytes: buffer)
                parser.skipWhitespace()
                var tape = JSONTape()
                try tape.map(&parser, depth: 1)
                parser.skipWhitespace()
                if !parser.isAtEnd { throw parser.error("unexpected content after the JSON value") }
                return tape
            }
        }
    }

    static let document = #"""
        {"@timestamp":"2026-12-06T10:00:00Z","event":{"id":"e1","action":"file-downloaded","list":[1,-2.5e3,true,null,{"x":"\u00e9\n"}]},
         "user":{"email":"ana@example.com","id":1234567890123,"email":"ana2@example.com"},"destination":{"domains":["a.com","b\"c.com"],"none":[]},
         "file":{"name":"r\u00e9sum\u00e9.pdf","nested":[[[[{}]]]],"size":0,"ok":false},"ünïcode":"東京","e\u0076ent":{"id":"escaped-key"},"epoch":1733479200123}
        """#

    @Test func viewsReadWhatTheBuiltValueHolds() throws {
        let bytes = Array(Self.document.utf8)
        let full = try JSONParser.parse(bytes)
        let tape = try Self.mapped(bytes).get()
        bytes.withUnsafeBufferPointer { buffer in
            tape.withView(over: buffer) { view in
                for path in ["event.id", "event.action", "user.email", "user.id", "file.name", "file.size", "file.ok", "file.nested", "event.list",
                             "destination.domains", "ünïcode", "@timestamp", "epoch", "missing", "event.missing", "event.id.deeper"] {
                    let segments = path == "@timestamp" ? FieldPath(segments: ["@timestamp"]) : FieldPath(path)
                    #expect(view.value(at: segments)?.textValue == full.value(at: segments)?.textValue, "\(path)")
                    #expect(view.value(at: segments)?.timestamp == full.value(at: segments).flatMap(Timestamp.init(json:)), "\(path)")
                }
                // The last of two members of one name, as the built value answers; names with escapes.
                #expect(view["user"]?["email"]?.stringValue == "ana2@example.com")
                #expect(view["event"]?["id"]?.stringValue == "escaped-key")
                #expect(view["destination"]?["domains"]?.first?.stringValue == "a.com")
                #expect(view["destination"]?["none"]?.first == nil)
                #expect(view["file"]?["size"]?.kind == .number && view["file"]?["ok"]?.kind == .boolFalse && view["user"]?.kind == .object)
                #expect(view["event"]?["list"] == nil, "the later member named event (escaped) wins")
                #expect(view["file"]?["nested"]?.first?.textValue == "[[[{}]]]")
                #expect(view.value == full)
            }
        }
    }

    /// Every one-byte change and every truncation of a document: the tape and the parser agree
    /// on whether it is JSON, and on where the first problem is.
    @Test func acceptsAndRefusesWhatAFullParseDoes() {
        let base = Array(Self.document.utf8)
        let replacements: [UInt8] = [0x22, 0x5C, 0x7B, 0x7D, 0x5B, 0x5D, 0x2C, 0x3A, 0x30, 0x2D, 0x01, 0x80, 0xC3, 0xFF, 0x20, 0x6E, 0x75, 0x74]
        var variants: [[UInt8]] = (0...base.count).map { Array(base.prefix($0)) }
        for i in stride(from: 0, to: base.count, by: 2) {
            for r in replacements where base[i] != r {
                var v = base
                v[i] = r
                variants.append(v)
            }
        }
        var disagreements: [String] = []
        for v in variants {
            let full = Result { () throws(JSONSyntaxError) -> JSONValue in try JSONParser.parse(v) }
            switch (full, Self.mapped(v)) {
            case (.success, .success): continue
            case (.failure(let a), .failure(let b)) where a.offset == b.offset && a.reason == b.reason: continue
            case (let a, let b): disagreements.append("\(String(decoding: v, as: UTF8.self)): full \(a), tape \(b)")
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(3))")
    }

    @Test func depthLimitsApply() {
        let deep = Array((String(repeating: "[", count: 70) + String(repeating: "]", count: 70)).utf8)
        guard case .failure(let error) = Self.mapped(deep) else {
            Issue.record("70 levels were mapped")
            return
        }
        #expect(error.reason.contains("nested deeper than 64"))
    }
}
