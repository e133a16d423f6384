import SluiceCompression
import Testing

/// The gzip reader against members written by Python's `gzip.compress(..., mtime=0)`, so that
/// what is read was not made by the code under test.
@Suite struct GzipTests {
    /// `{"a":1}\n`
    static let first: [UInt8] = [
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xab, 0x56, 0x4a, 0x54, 0xb2, 0x32, 0xac, 0xe5, 0x02, 0x00,
        0x46, 0xa3, 0xe8, 0x74, 0x08, 0x00, 0x00, 0x00,
    ]
    /// `{"b":2}\n`
    static let second: [UInt8] = [
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xab, 0x56, 0x4a, 0x52, 0xb2, 0x32, 0xaa, 0xe5, 0x02, 0x00,
        0xb1, 0x6f, 0x3a, 0xf0, 0x08, 0x00, 0x00, 0x00,
    ]

    func read(_ bytes: [UInt8], limit: Int = 1 << 20) -> Result<String, GzipError> {
        Result { () throws(GzipError) -> String in String(decoding: try Gzip.decompress(bytes, limit: limit), as: UTF8.self) }
    }

    func failure(_ bytes: [UInt8]) -> GzipError? {
        if case .failure(let error) = read(bytes) { return error }
        return nil
    }

    @Test func oneMemberReadsWhole() throws {
        #expect(try read(Self.first).get() == "{\"a\":1}\n")
    }

    @Test func everyMemberIsRead() throws {
        #expect(try read(Self.first + Self.second).get() == "{\"a\":1}\n{\"b\":2}\n")
    }

    @Test func aMissingTrailerIsTruncation() {
        let error = failure(Array(Self.first.dropLast(8)))
        #expect(error?.kind == .truncated)
        #expect(error?.message.contains("trailer") == true)
    }

    @Test func aStreamCutInsideItsDataIsTruncation() {
        #expect(failure(Array(Self.first.prefix(14)))?.kind == .truncated)
        // A second member cut short fails the body, although the first is whole.
        #expect(failure(Self.first + Self.second.prefix(12))?.kind == .truncated)
        #expect(failure(Self.first + [0x1f])?.kind == .truncated)
    }

    @Test func bytesAfterTheLastMemberAreRefused() {
        let error = failure(Self.first + Array("garbage".utf8))
        #expect(error?.kind == .trailingData)
        #expect(error?.message.contains("7 bytes") == true)
        #expect(failure(Self.first + [0, 0, 0, 0])?.kind == .trailingData)
    }

    @Test func aTrailerThatDoesNotMatchIsCorrupt() {
        var damaged = Self.first
        damaged[20] ^= 0xFF  // first byte of the CRC-32
        let error = failure(damaged)
        #expect(error?.kind == .corrupt)
        #expect(error?.message.contains("incorrect data check") == true, "\(String(describing: error))")
        var wrongLength = Self.first
        wrongLength[24] = 9
        #expect(failure(wrongLength)?.kind == .corrupt)
    }

    @Test func notGzipAndNothingAreRefused() {
        #expect(failure(Array("{\"a\":1}".utf8))?.kind == .corrupt)
        #expect(failure([])?.kind == .empty)
    }

    @Test func theLimitCountsEveryMember() throws {
        #expect(try read(Self.first + Self.second, limit: 16).get().count == 16)
        if case .failure(let error) = read(Self.first + Self.second, limit: 15) {
            #expect(error.kind == .tooLarge)
        } else {
            Issue.record("16 bytes were read under a limit of 15")
        }
    }

    @Test func whatItWritesReadsBack() throws {
        let text = Array(String(repeating: "{\"action\":\"file-downloaded\"}\n", count: 500).utf8)
        let compressed = try Gzip.compress(text)
        #expect(compressed.count < text.count / 10)
        #expect(try Gzip.decompress(compressed, limit: text.count) == text)
    }
}
