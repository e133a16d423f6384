import SluiceCore
import SluiceIntegrity
import Testing

/// The leaf's layout is a published format (docs/integrity.md; checkpoints signed years ago must
/// still verify): these bytes were produced by docs/examples/verify_export.py's `leaf_data`, an
/// implementation independent of Sluice's, for the same event.
@Suite struct IntegrityLeafTests {
    static let event = StoredEvent(
        seq: 42, id: EventID("01FCNDV6P870EA6S7TK1DSYDG0")!, source: "incident-io", logType: "INCIDENT_IO",
        receivedAt: Timestamp(microseconds: 1_763_759_665_705_234),
        normalized: NormalizedEvent(
            occurredAt: Timestamp(microseconds: 1_629_206_937_801_578), action: "api_key.created",
            actor: AuditActor(type: "user", id: "u1", name: "John Doe", metadata: ["user_base_role_slug": "admin", "ä": "x"]),
            targets: [AuditTarget(type: "api_key", id: "k1", name: "Development API Key"), AuditTarget(type: "team", id: "t1")],
            context: AuditContext(location: "1.2.3.4"), schemaVersion: 1
        ),
        raw: Array(#"{"a":1}"#.utf8)
    )

    static let expected = """
        736c756963652d6c6561662d76310a000000000000002a0000001a303146434e445636503837304541365337544b314453594447300000000b696e636964\
        656e742d696f0000000b494e434944454e545f494f000005c9c14ccb136a000644214c57f1120000000f6170695f6b65792e63726561746564010000000475\
        73657200000002753101000000084a6f686e20446f650000000200000013757365725f626173655f726f6c655f736c75670000000561646d696e00000002c3\
        a4000000017800000002000000076170695f6b6579000000026b310100000013446576656c6f706d656e7420415049204b6579000000047465616d00000002\
        7431000100000007312e322e332e3400010000000000000001000000077b2261223a317d
        """

    @Test func theLeafOfAnEventIsTheDocumentedLayout() {
        #expect(IntegrityLeaf.data(of: Self.event).hexString == Self.expected)
        #expect(IntegrityLeaf.hash(of: Self.event).hexString == "e37ca9da2f360bb8500e50fd26b9967f9c38abddd4b13160d2cf202bfa7593a0")
    }

    @Test func everyFieldChangesTheLeaf() {
        let original = IntegrityLeaf.hash(of: Self.event)
        var changes: [(String, (inout StoredEvent) -> Void)] = [
            ("seq", { $0.seq += 1 }), ("source", { $0.source = "other" }), ("log type", { $0.logType = "JSON" }),
            ("origin", { $0.origin = "x" }), ("received", { $0.receivedAt = Timestamp(microseconds: 1) }),
            ("occurred", { $0.normalized.occurredAt = Timestamp(microseconds: 2) }), ("action", { $0.normalized.action = "api_key.deleted" }),
            ("actor", { $0.normalized.actor = nil }), ("metadata", { $0.normalized.actor?.metadata["k"] = "v" }),
            ("target", { $0.normalized.targets.removeLast() }), ("location", { $0.normalized.context.location = nil }),
            ("user agent", { $0.normalized.context.userAgent = "" }), ("version", { $0.normalized.schemaVersion = 2 }),
            ("raw", { $0.raw.append(0x20) }),
        ]
        // An empty name and no name are told apart.
        changes.append(("name", { $0.normalized.targets[1].name = "" }))
        for (name, change) in changes {
            var event = Self.event
            change(&event)
            #expect(IntegrityLeaf.hash(of: event) != original, "\(name)")
        }
    }
}
