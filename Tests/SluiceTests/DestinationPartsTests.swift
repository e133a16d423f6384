import Foundation
import NIOCore
import SluiceCompression
import SluiceCore
import SluiceDestinations
import SluiceHTTP
import Testing

/// The pure parts of delivery: signing, URL guard, batching, object names, encodings, response reading.
@Suite struct DestinationPartsTests {
    static func event(_ seq: Int64, raw: String = "{\"a\":1}", source: String = "incident-io", origin: String? = nil, received: Int64 = 1_795_311_000) -> OutboundEvent {
        OutboundEvent(
            seq: seq, source: source, logType: "INCIDENT_IO", action: "x.y", occurredAt: Timestamp(microseconds: 1_500_000),
            receivedAt: Timestamp(seconds: received), origin: origin, raw: Array(raw.utf8)
        )
    }

    @Test func sigV4MatchesTheAWSPutExample() {
        let signer = AWSSignatureV4(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1")
        let body = Array("Welcome to Amazon S3.".utf8)
        #expect(AWSSignatureV4.hexSHA256(body) == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let path = AWSSignatureV4.s3Path(bucket: nil, key: "test$file.text")
        #expect(path == "/test%24file.text")
        let headers = signer.sign(
            method: "PUT", canonicalPath: path,
            headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
            payloadHash: AWSSignatureV4.hexSHA256(body), date: Date(timeIntervalSince1970: 1_369_353_600)
        )
        let authorization = headers.first { $0.0 == "Authorization" }?.1 ?? ""
        #expect(authorization == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
        #expect(headers.contains { $0 == ("x-amz-date", "20130524T000000Z") })
    }

    @Test func sigV4MatchesTheAWSGetExample() {
        let signer = AWSSignatureV4(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1")
        let headers = signer.sign(
            method: "GET", canonicalPath: "/test.txt", headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9")],
            payloadHash: AWSSignatureV4.hexSHA256([]), date: Date(timeIntervalSince1970: 1_369_353_600)
        )
        let authorization = headers.first { $0.0 == "Authorization" }?.1 ?? ""
        #expect(authorization.hasSuffix("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"))
    }

    @Test(arguments: [
        ("169.254.169.254", "metadata"), ("127.0.0.1", "private"), ("10.1.2.3", "private"), ("172.20.0.1", "private"), ("192.168.1.1", "private"),
        ("100.64.0.1", "private"), ("8.8.8.8", "public"), ("172.32.0.1", "public"),
    ])
    func urlGuardClassifiesIPv4(address: String, expected: String) {
        let bytes = address.split(separator: ".").map { UInt8($0)! }
        #expect(Self.name(OutboundURLGuard.classify(bytes)) == expected)
    }

    @Test func urlGuardClassifiesIPv6() {
        let mappedLoopback: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 127, 0, 0, 1]
        let mappedMetadata: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 169, 254, 169, 254]
        let loopback: [UInt8] = Array(repeating: 0, count: 15) + [1]
        let linkLocal: [UInt8] = [0xFE, 0x80] + Array(repeating: 0, count: 13) + [1]
        let imds: [UInt8] = [0xFD, 0x00, 0x0E, 0xC2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54]
        let google: [UInt8] = [0x20, 0x01, 0x48, 0x60] + Array(repeating: 0, count: 11) + [0x68]
        #expect(Self.name(OutboundURLGuard.classify(mappedLoopback)) == "private")
        #expect(Self.name(OutboundURLGuard.classify(mappedMetadata)) == "metadata")
        #expect(Self.name(OutboundURLGuard.classify(loopback)) == "private")
        #expect(Self.name(OutboundURLGuard.classify(linkLocal)) == "metadata")
        #expect(Self.name(OutboundURLGuard.classify(imds)) == "metadata")
        #expect(Self.name(OutboundURLGuard.classify(google)) == "public")
    }

    static func name(_ c: OutboundURLGuard.AddressClass) -> String {
        switch c {
        case .publicAddress: "public"
        case .privateRange: "private"
        case .metadataOrLinkLocal: "metadata"
        }
    }

    static func refusal(_ guardrail: OutboundURLGuard, _ url: String) -> TransportError? {
        do {
            try guardrail.check(url)
            return nil
        } catch {
            return error
        }
    }

    @Test func urlGuardRefusesMetadataAlwaysAndPrivateUnlessAllowed() {
        let strict = OutboundURLGuard(allowPrivateNetworks: false)
        let open = OutboundURLGuard(allowPrivateNetworks: true)
        #expect(Self.refusal(open, "http://169.254.169.254/latest/meta-data/")?.code == .forbidden)
        #expect(Self.refusal(open, "https://metadata.google.internal/computeMetadata/v1/")?.code == .forbidden)
        #expect(Self.refusal(strict, "https://127.0.0.1:8443/ingest")?.message.contains("allow_private_networks") == true)
        #expect(Self.refusal(strict, "http://collector.example.com/ingest")?.message.contains("plain http") == true)
        #expect(Self.refusal(open, "http://127.0.0.1:8443/ingest") == nil)
        #expect(Self.refusal(open, "ftp://127.0.0.1/x")?.code == .invalidURL)
    }

    @Test func plannerCutsByCountAndBytesAndSetsAsideOversizedEvents() {
        let events = (1...10).map { Self.event(Int64($0), raw: String(repeating: "x", count: 99)) }
        let byCount = BatchPlanner(limits: BatchLimits(maxEvents: 3, maxBytes: 10_000)).plan(events) { $0.raw.count + 1 }
        #expect(byCount.batches.map(\.count) == [3, 3, 3, 1])
        let byBytes = BatchPlanner(limits: BatchLimits(maxEvents: 100, maxBytes: 250)).plan(events) { $0.raw.count + 1 }
        #expect(byBytes.batches.map(\.count) == [2, 2, 2, 2, 2])
        let mixed = events[0..<3] + [Self.event(99, raw: String(repeating: "y", count: 400))] + events[3..<5]
        let plan = BatchPlanner(limits: BatchLimits(maxEvents: 100, maxBytes: 300)).plan(Array(mixed)) { $0.raw.count + 1 }
        #expect(plan.oversized.map(\.event.seq) == [99])
        #expect(plan.oversized.first?.reason.contains("401 bytes") == true)
        #expect(plan.batches.flatMap { $0 }.map(\.seq) == [1, 2, 3, 4, 5])
    }

    @Test func objectNamesFollowTheBucketFeedLayoutAndNeverCollide() {
        let layout = ObjectLayout(prefix: "code42/", format: .json)
        let run = Timestamp(rfc3339: "2026-11-21T10:05:09Z")!
        let page3 = EventOrigin(stream: "file_events", runStarted: run, page: 3).description
        let page4 = EventOrigin(stream: "file_events", runStarted: run, page: 4).description
        let batch = [Self.event(10, origin: page3, received: 0), Self.event(11, origin: page3), Self.event(12, origin: page4), Self.event(13, raw: "{\"b\":2}")]
        let objects = layout.objects(for: batch)
        #expect(objects.map(\.name) == [
            "code42/file_events/2026/11/21/100509-file_events-page-3-10.json",
            "code42/file_events/2026/11/21/100509-file_events-page-4-12.json",
            "code42/incident-io/2026/11/22/013000-incident-io-13-13.json",
        ])
        #expect(objects[0].body == Array("[{\"a\":1},{\"a\":1}]".utf8))
        #expect(objects.map(\.events) == [2, 1, 1])
        // The same page split over two batches gets two names.
        #expect(layout.objects(for: [Self.event(11, origin: page3)])[0].name != objects[0].name)
    }

    @Test func gzippedObjectsInflateToTheNDJSONBody() throws {
        let layout = ObjectLayout(prefix: "", format: .ndjson, gzip: true)
        let batch = [Self.event(1, raw: "{\n  \"a\": 1\n}"), Self.event(2, raw: "{\"b\":\"two\"}")]
        let object = try #require(layout.objects(for: batch).first)
        #expect(object.name.hasSuffix(".ndjson.gz"))
        #expect(object.contentEncoding == "gzip")
        let inflated = try Gzip.decompress(object.body, limit: 1 << 20)
        #expect(String(decoding: inflated, as: UTF8.self) == "{   \"a\": 1 }\n{\"b\":\"two\"}\n")
    }

    @Test func hecEnvelopeCarriesTimeSourceSourcetypeIndexAndTheRawEvent() throws {
        let destination = SplunkHECDestination(
            configuration: .init(name: "splunk", baseURL: "https://splunk.example.com:8088/", token: "t", index: "security", channel: "C"),
            transport: HTTPTransport { _ throws(TransportError) in OutboundResponse(status: 200) }, guardrail: OutboundURLGuard(allowPrivateNetworks: false),
            timeout: .seconds(1)
        )
        let body = destination.encode([Self.event(1, raw: "{\"action\":\"file-downloaded\"}"), Self.event(2)])
        let lines = String(decoding: body, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 2)
        let first = try JSONParser.parse(Array(lines[0].utf8))
        #expect(lines[0].hasPrefix("{\"time\":1.500000,"))
        #expect(first["source"]?.stringValue == "incident-io")
        #expect(first["sourcetype"]?.stringValue == "INCIDENT_IO")
        #expect(first["index"]?.stringValue == "security")
        #expect(first["event"]?["action"]?.stringValue == "file-downloaded")
        #expect(destination.encodedSize(of: Self.event(1, raw: "{\"action\":\"file-downloaded\"}")) == lines[0].utf8.count + 1)
    }

    @Test func responsesAreReadIntoOutcomes() {
        func outcome(_ status: Int, _ body: String = "", retryAfter: String? = nil) -> DeliveryOutcome {
            ResponseClassifier.classify(
                OutboundResponse(status: status, headers: retryAfter.map { [("Retry-After", $0)] } ?? [], body: Array(body.utf8)), destination: "d"
            )
        }
        #expect(outcome(200) == .delivered)
        #expect(outcome(429, retryAfter: "7") == .retry(after: .seconds(7), reason: "HTTP 429"))
        #expect(outcome(503, "{\"error\":{\"code\":503,\"message\":\"backend busy\"}}") == .retry(after: nil, reason: "HTTP 503: backend busy"))
        if case .unauthorized(let reason) = outcome(403, "<Error><Code>SignatureDoesNotMatch</Code><Message>bad sig</Message></Error>") {
            #expect(reason.contains("SignatureDoesNotMatch: bad sig"))
        } else {
            Issue.record("403 must pause the destination")
        }
        #expect(outcome(413) == .rejected(reason: "HTTP 413"))
        #expect(outcome(400, "{\"text\":\"Invalid data format\",\"code\":6}") == .rejected(reason: "HTTP 400: Invalid data format (code 6)"))
    }
}
