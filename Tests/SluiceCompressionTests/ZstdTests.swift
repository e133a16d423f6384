import SluiceCompression
import Testing

@Suite struct ZstdTests {
    /// File-event-like JSON documents that share most of their structure, as a source's events do.
    static func samples(_ count: Int, from start: Int = 0) -> [[UInt8]] {
        (start..<start + count).map { n in
            Array("""
                {"@timestamp":"2026-12-06T10:\(n % 60):00.000Z","event":{"id":"0_\(n * 7919)_9d7b","inserted":"2026-12-06T10:00:0\(n % 10).123Z",\
                "action":"file-\(["downloaded", "created", "modified"][n % 3])","observer":"Endpoint"},\
                "user":{"email":"user\(n % 97)@example.com","id":"\(n % 97 + 1000)","deviceUid":"dev-\(n % 13)"},\
                "file":{"name":"report-\(n).pdf","directory":"/Users/user\(n % 97)/Documents/","sizeInBytes":\(n * 31 % 100_000),\
                "hash":{"sha256":"\(String(repeating: "ab", count: 16))\(n)"}},"source":{"ip":"10.0.\(n % 7).\(n % 250)"}}
                """.utf8)
        }
    }

    @Test func framesRoundTripWithAndWithoutADictionary() throws {
        let compressor = try ZstdCompressor(level: 3)
        let decompressor = try ZstdDecompressor()
        let dictionary = try ZstdDictionary(bytes: try ZstdDictionary.train(samples: Self.samples(2_000), capacity: 16_384), level: 3)
        for sample in Self.samples(50, from: 5_000) + [[], Array("x".utf8), [0, 0, 0]] {
            for dict in [nil, dictionary] {
                let frame = try compressor.compress(sample, dictionary: dict)
                #expect(try decompressor.decompress(frame, dictionary: dict, limit: 1 << 20) == sample)
            }
        }
    }

    @Test func aTrainedDictionaryCompressesSmallEventsFarBetter() throws {
        let compressor = try ZstdCompressor(level: 3)
        let dictionary = try ZstdDictionary(bytes: try ZstdDictionary.train(samples: Self.samples(2_000), capacity: 16_384), level: 3)
        let held = Self.samples(200, from: 10_000)
        let plain = held.reduce(0) { $0 + $1.count }
        let alone = try held.reduce(0) { $0 + (try compressor.compress($1, dictionary: nil)).count }
        let withDictionary = try held.reduce(0) { $0 + (try compressor.compress($1, dictionary: dictionary)).count }
        #expect(withDictionary * 2 < alone, "dictionary \(withDictionary) B, alone \(alone) B, plain \(plain) B")
    }

    @Test func damageAndTheWrongDictionaryAreErrorsNotWrongBytes() throws {
        let compressor = try ZstdCompressor(level: 3)
        let decompressor = try ZstdDecompressor()
        let one = try ZstdDictionary(bytes: try ZstdDictionary.train(samples: Self.samples(1_000), capacity: 8_192), level: 3)
        let other = try ZstdDictionary(bytes: try ZstdDictionary.train(samples: Self.samples(1_000, from: 50_000), capacity: 4_096), level: 3)
        let sample = Self.samples(1, from: 70_000)[0]
        let frame = try compressor.compress(sample, dictionary: one)
        #expect(throws: ZstdError.self) { try decompressor.decompress(frame, dictionary: other, limit: 1 << 20) }
        #expect(throws: ZstdError.self) { try decompressor.decompress(frame, dictionary: nil, limit: 1 << 20) }
        for index in [0, frame.count / 2, frame.count - 1] {
            var damaged = frame
            damaged[index] ^= 0x55
            let result = Result { () throws(ZstdError) in try decompressor.decompress(damaged, dictionary: one, limit: 1 << 20) }
            if case .success(let bytes) = result { #expect(bytes == sample, "byte \(index) damaged, different bytes returned") }
        }
        #expect(throws: ZstdError.self) { try decompressor.decompress(Array(frame.prefix(3)), dictionary: one, limit: 1 << 20) }
        let tooLarge = Result { () throws(ZstdError) in try decompressor.decompress(frame, dictionary: one, limit: 10) }
        if case .failure(let error) = tooLarge { #expect(error.kind == .tooLarge) } else { Issue.record("a frame over the limit was decoded") }
    }

    @Test func trainingNeedsSamples() {
        #expect(throws: ZstdError.self) { try ZstdDictionary.train(samples: Self.samples(3), capacity: 4_096) }
    }
}
