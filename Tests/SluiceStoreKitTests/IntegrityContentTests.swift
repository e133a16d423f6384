import Crypto
import SluiceCore
import SluiceStoreKit
import Testing

/// A store digests its rows for integrity straight from its record format; the digest must be
/// the one the leaf's definition gives for the event the row reads back as, for every shape of
/// event, or verification would report intact events as changed.
@Suite struct IntegrityContentTests {
    static let received = Timestamp(microseconds: 1_763_759_665_705_234)

    static let events: [(String, String?, NormalizedEvent, [UInt8])] = [
        ("bare", nil, NormalizedEvent(occurredAt: Timestamp(microseconds: 1_629_206_937_801_578), action: "login"), Array("{}".utf8)),
        (
            "full", "10.0.0.1",
            NormalizedEvent(
                occurredAt: Timestamp(microseconds: 1_629_206_937_801_578), action: "api_key.created",
                actor: AuditActor(type: "user", id: "u1", name: "John Doe", metadata: ["z": "1", "ä": "x", "a": "", "B": "2"]),
                targets: [AuditTarget(type: "api_key", id: "k1", name: "Development API Key"), AuditTarget(type: "team", id: "t1", name: "")],
                context: AuditContext(location: "1.2.3.4", userAgent: "curl/8"), schemaVersion: -3
            ),
            Array(#"{"a":1,"é":"ü"}"#.utf8)
        ),
        (
            "one metadata key, no name", nil,
            NormalizedEvent(
                occurredAt: Timestamp(microseconds: -5), action: "", actor: AuditActor(type: "svc", id: "", name: nil, metadata: ["k": "v"]),
                context: AuditContext(userAgent: "")
            ),
            []
        ),
    ]

    @Test(arguments: 0..<3) func theRecordDigestsAsTheEventItHolds(_ index: Int) throws {
        let (name, origin, normalized, raw) = Self.events[index]
        var fields = IntegrityLeaf.Fields(Array("left over from the row before".utf8))
        for legacyID in [nil, EventID("01FCNDV6P870EA6S7TK1DSYDG0")] {
            var record: [UInt8] = []
            EventRecord.encode(raw: raw, normalized: normalized, receivedAt: Self.received, legacyID: legacyID, into: &record)
            let (content, readID) = try EventRecord.integrityContent(
                record, source: "feed-a", logType: "JSON", origin: origin, action: normalized.action, occurredAt: normalized.occurredAt.microseconds,
                into: &fields
            )
            let event = StoredEvent(
                seq: 7, id: legacyID ?? EventID.stored(occurredAt: normalized.occurredAt, seq: 7), source: "feed-a", logType: "JSON",
                receivedAt: Self.received, normalized: normalized, raw: raw, origin: origin
            )
            #expect(content == IntegrityLeaf.content(of: event), "\(name)")
            #expect(readID == legacyID, "\(name)")
            // What the store digests at commit, from the incoming event, is the same again.
            #expect(
                IntegrityLeaf.content(source: "feed-a", logType: "JSON", origin: origin, normalized: normalized, receivedAt: Self.received, raw: raw) == content,
                "\(name)"
            )
        }
    }

    @Test func aDamagedRecordIsAnErrorNotADigest() {
        let (_, origin, normalized, raw) = Self.events[1]
        var record: [UInt8] = []
        EventRecord.encode(raw: raw, normalized: normalized, receivedAt: Self.received, into: &record)
        var fields = IntegrityLeaf.Fields()
        for damaged in [Array(record.dropLast()), record + [0], [2] + record.dropFirst()] {
            #expect(throws: StoreError.self) {
                try EventRecord.integrityContent(damaged, source: "s", logType: "l", origin: origin, action: "a", occurredAt: 0, into: &fields)
            }
        }
    }
}
