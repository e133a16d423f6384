import Foundation
import Logging
import SluiceCore
import SluiceDestinations
import SluiceHTTP
import SluiceStorePostgres
import SluiceStoreSQLite
import SluiceTesting
import Testing

/// The S3 destination against moto's S3 server (from PyPI), started on loopback for each test.
@Suite struct S3DestinationTests {
    static let keyID = "AKIDSLUICETEST"
    static let secretKey = "sluice-test-secret-access-key"

    static func signedRequest(_ method: String, _ moto: EmulatorProcess, path: String, query: [(String, String)] = [], body: [UInt8] = []) -> OutboundRequest {
        let signer = AWSSignatureV4(accessKeyID: keyID, secretAccessKey: secretKey, region: "us-east-1")
        let host = "127.0.0.1:\(moto.port)"
        let headers = signer.sign(method: method, canonicalPath: path, query: query, headers: [("host", host)], payloadHash: AWSSignatureV4.hexSHA256(body), date: Date())
        let queryText = query.isEmpty ? "" : "?" + query.map { "\(AWSSignatureV4.uriEncode($0.0))=\(AWSSignatureV4.uriEncode($0.1))" }.joined(separator: "&")
        return OutboundRequest(method: method, url: moto.baseURL + path + queryText, headers: headers, body: body.isEmpty ? nil : body)
    }

    static func keys(_ moto: EmulatorProcess, bucket: String) async throws -> [String] {
        let response = try await HTTPTransport.shared.send(signedRequest("GET", moto, path: "/\(bucket)", query: [("list-type", "2")]))
        let text = String(decoding: response.body, as: UTF8.self)
        return text.components(separatedBy: "<Key>").dropFirst().compactMap { $0.components(separatedBy: "</Key>").first }
    }

    static func destination(_ moto: EmulatorProcess, secret: String = secretKey, gzip: Bool = false) -> S3Destination {
        S3Destination(
            configuration: .init(
                name: "archive", bucket: "sluice-archive", region: "us-east-1", endpoint: moto.baseURL, pathStyle: true, accessKeyID: keyID,
                secretAccessKey: secret, layout: ObjectLayout(prefix: "code42/", format: .ndjson, gzip: gzip),
                limits: BatchLimits(maxEvents: 100, maxBytes: 1 << 20)
            ),
            transport: .shared, guardrail: OutboundURLGuard(allowPrivateNetworks: true), timeout: .seconds(10)
        )
    }

    @Test func deliveredObjectsHoldTheEventsAndARetryAddsNoCopy() async throws {
        let moto = try await EmulatorProcess(executable: "moto_server", arguments: ["-H", "127.0.0.1", "-p", "{port}"])
        defer { moto.stop() }
        let created = try await HTTPTransport.shared.send(Self.signedRequest("PUT", moto, path: "/sluice-archive"))
        #expect(created.status == 200)

        try await DeliveryTests.withStore(.sqlite) { store, _ in
            try await DeliveryTests.push(store, count: 250)
            let s3 = Self.destination(moto)
            try await DeliveryTests.delivering([s3], store: store) { _ in
                let done = try await eventually { try await store.consumerCursor("archive") == store.latestSeq() }
                #expect(done)
            }
            let keys = try await Self.keys(moto, bucket: "sluice-archive")
            #expect(keys.count == 3, "250 events in batches of at most 100")
            #expect(keys.allSatisfy { $0.hasPrefix("code42/incident-io/") && $0.hasSuffix(".ndjson") })
            var lines: [String] = []
            for key in keys {
                let object = try await HTTPTransport.shared.send(Self.signedRequest("GET", moto, path: AWSSignatureV4.s3Path(bucket: "sluice-archive", key: key)))
                #expect(object.status == 200)
                lines += String(decoding: object.body, as: UTF8.self).split(separator: "\n").map(String.init)
            }
            #expect(Set(DeliveryTests.ids(lines)) == Set((0..<250).map { "e\($0)" }), "every event in some object")
            #expect(lines.count == 250)

            // The same batch again (a retry after a lost answer): create-only, so nothing changes.
            let first = try await store.outboundEvents(afterSeq: 0, limit: 100)
            #expect(await s3.send(first) == .delivered)
            #expect(try await Self.keys(moto, bucket: "sluice-archive").count == 3)
        }
    }

    @Test func gzipObjectsAreWrittenAndAMissingBucketIsRetried() async throws {
        let moto = try await EmulatorProcess(executable: "moto_server", arguments: ["-H", "127.0.0.1", "-p", "{port}"])
        defer { moto.stop() }
        _ = try await HTTPTransport.shared.send(Self.signedRequest("PUT", moto, path: "/sluice-archive"))
        try await DeliveryTests.withStore(.sqlite) { store, _ in
            try await DeliveryTests.push(store, count: 10)
            let events = try await store.outboundEvents(afterSeq: 0, limit: 10)
            let gzipped = Self.destination(moto, gzip: true)
            #expect(await gzipped.send(events) == .delivered)
            let keys = try await Self.keys(moto, bucket: "sluice-archive")
            #expect(keys.count == 1 && keys[0].hasSuffix(".ndjson.gz"))
        }
        // moto checks no signatures by default, so a missing bucket stands in for a refused write.
        let missing = S3Destination(
            configuration: .init(
                name: "archive", bucket: "no-such-bucket", region: "us-east-1", endpoint: moto.baseURL, pathStyle: true, accessKeyID: Self.keyID,
                secretAccessKey: Self.secretKey, layout: ObjectLayout()
            ),
            transport: .shared, guardrail: OutboundURLGuard(allowPrivateNetworks: true), timeout: .seconds(10)
        )
        let outcome = await missing.send([DestinationPartsTests.event(1)])
        if case .retry(_, let reason) = outcome {
            #expect(reason.contains("NoSuchBucket"))
        } else {
            Issue.record("a missing bucket must be retried (fixable configuration), got \(outcome)")
        }
    }
}
