import NIOCore
import SluiceCompression
import SluiceCore
import SluiceSources
import Testing

@Suite struct PushBodyDecoderTests {
    let decoder = PushBodyDecoder(limits: PushLimits())

    func decode(_ text: String, encoding: String? = nil) throws(PushRejection) -> [DecodedEvent] {
        try decoder.decode(body: ByteBuffer(string: text), contentEncoding: encoding)
    }

    func rejection(_ body: () throws -> Void) -> PushRejection? {
        do {
            try body()
            return nil
        } catch {
            return error as? PushRejection
        }
    }

    @Test func singleObjectKeepsItsExactBytes() throws {
        let events = try decode("  {\"a\": 1,  \"b\":[2]}\n")
        #expect(events.count == 1)
        #expect(String(decoding: events[0].raw, as: UTF8.self) == "{\"a\": 1,  \"b\":[2]}")
    }

    @Test func arrayElementsBecomeEvents() throws {
        let events = try decoder.decode(Fixtures.bytes("incidentio_audit_log_entries_array.json"))
        #expect(events.count == 4)
        #expect(events.map { $0.value["action"]?.stringValue } == [
            "api_key.created", "private_incident.access_attempted", "ip_allowlist.updated", "user.role_memberships_updated",
        ])
        // Each raw slice is exactly one element, parseable alone.
        for event in events {
            #expect(try JSONParser.parse(event.raw) == event.value)
        }
    }

    @Test func ndjsonLinesBecomeEvents() throws {
        let events = try decoder.decode(Fixtures.bytes("incidentio_audit_log_entries.ndjson"))
        #expect(events.count == 4)
        #expect(events.map(\.line) == [1, 2, 3, 4])
        let chronicle = try decoder.decode(Fixtures.bytes("chronicle_webhook_body.ndjson"))
        #expect(chronicle.count >= 2)
    }

    @Test func ndjsonToleratesCRLFAndBlankLines() throws {
        let events = try decode("{\"a\":1}\r\n\r\n{\"a\":2}\r\n")
        #expect(events.count == 2)
    }

    @Test func invalidNDJSONLineIsNamed() {
        let error = rejection { _ = try decode("{\"a\":1}\n{\"a\":2}\n{\"a\":}\n") }
        #expect(error?.kind == .invalidJSON)
        #expect(error?.message.contains("line 3") == true)
        #expect(error?.status == 400)
    }

    @Test func objectsOnOneLineWithoutBreakAreRefused() {
        let error = rejection { _ = try decode("{\"a\":1} {\"a\":2}") }
        #expect(error?.kind == .invalidJSON)
        #expect(error?.message.contains("line break") == true)
    }

    @Test func nonObjectEventsAreRefused() {
        #expect(rejection { _ = try decode("[{\"a\":1}, 5]") }?.kind == .notAnObject)
        #expect(rejection { _ = try decode("\"text\"") }?.kind == .notAnObject)
        #expect(rejection { _ = try decode("{\"a\":1}\n[1]") }?.kind == .invalidJSON)
    }

    @Test func emptyBodyIsRefused() {
        #expect(rejection { _ = try decode("  \n") }?.kind == .emptyBody)
    }

    @Test func invalidUTF8NamesTheByteOffset() {
        var bytes = Array("{\"a\":\"".utf8)
        bytes.append(0xFF)
        bytes.append(contentsOf: Array("\"}".utf8))
        let error = rejection { _ = try decoder.decode(bytes) }
        #expect(error?.kind == .invalidJSON)
        #expect(error?.message.contains("byte offset 6") == true)
    }

    @Test func depthLimitIsEnforcedPerFeed() throws {
        let shallow = PushBodyDecoder(limits: PushLimits(maxDepth: 3))
        _ = try shallow.decode(Array("{\"a\":{\"b\":{}}}".utf8))
        let error = rejection { _ = try shallow.decode(Array("{\"a\":{\"b\":{\"c\":{}}}}".utf8)) }
        #expect(error?.kind == .tooDeep)
        #expect(error?.status == 400)
        // Array bodies count the array as a level too.
        #expect(rejection { _ = try shallow.decode(Array("[{\"a\":{\"b\":{}}}]".utf8)) }?.kind == .tooDeep)
    }

    @Test func eventCountLimitIsEnforced() throws {
        let small = PushBodyDecoder(limits: PushLimits(maxEvents: 3))
        _ = try small.decode(Array("[{},{},{}]".utf8))
        #expect(rejection { _ = try small.decode(Array("[{},{},{},{}]".utf8)) }?.status == 413)
        #expect(rejection { _ = try small.decode(Array("{}\n{}\n{}\n{}".utf8)) }?.kind == .tooManyEvents)
    }

    @Test func gzipBodiesAreDecompressed() throws {
        let compressed = try Gzip.compress(Array("{\"a\":1}\n{\"a\":2}\n".utf8))
        let events = try decoder.decode(body: ByteBuffer(bytes: compressed), contentEncoding: "gzip")
        #expect(events.count == 2)
    }

    @Test func gzipBombIsStoppedAtTheLimit() throws {
        let limits = PushLimits(maxDecompressedBytes: 1 << 20)
        let bomb = try Gzip.compress([UInt8](repeating: UInt8(ascii: " "), count: 2 << 20))
        #expect(bomb.count < 20_000)
        let error = rejection { _ = try PushBodyDecoder(limits: limits).decode(body: ByteBuffer(bytes: bomb), contentEncoding: "gzip") }
        #expect(error?.kind == .decompressedTooLarge, "\(String(describing: error))")
        #expect(error?.status == 413)
    }

    @Test func theLimitHoldsAcrossMembers() throws {
        // Three members of 400 KiB each: every one is under the 1 MiB limit, together they are not.
        let member = try Gzip.compress([UInt8](repeating: UInt8(ascii: " "), count: 400 << 10))
        let limits = PushLimits(maxDecompressedBytes: 1 << 20)
        let error = rejection { _ = try PushBodyDecoder(limits: limits).decode(body: ByteBuffer(bytes: member + member + member), contentEncoding: "gzip") }
        #expect(error?.kind == .decompressedTooLarge, "\(String(describing: error))")
    }

    @Test func defaultGzipLimitIs32MiB() throws {
        let bomb = try Gzip.compress([UInt8](repeating: UInt8(ascii: " "), count: 33 * 1024 * 1024))
        let error = rejection { _ = try decoder.decode(body: ByteBuffer(bytes: bomb), contentEncoding: "gzip") }
        #expect(error?.kind == .decompressedTooLarge, "\(String(describing: error))")
    }

    @Test func corruptGzipAndUnknownEncodingsAreRefused() {
        #expect(rejection { _ = try decode("not gzip", encoding: "gzip") }?.kind == .corruptGzip)
        let unsupported = rejection { _ = try decode("{}", encoding: "br") }
        #expect(unsupported?.kind == .unsupportedEncoding)
        #expect(unsupported?.status == 415)
        #expect(throws: Never.self) { _ = try decode("{}", encoding: "identity") }
    }
}
