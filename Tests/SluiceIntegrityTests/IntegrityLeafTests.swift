import SluiceCore
import SluiceIntegrity
import Testing

/// The leaf's layout is a published format (docs/integrity.md; checkpoints signed years ago must
/// still verify): these bytes were produced by docs/examples/verify_export.py's `leaf_data` (leaf v2), an
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
        736c756963652d6c6561662d76320a000000000000002a0000001a303146434e445636503837304541365337544b3144535944473034a2c1616e26054c\
        cfe2aa54ee40b9af16410a78c04744d067319de5897162ee
        """

    @Test func theLeafOfAnEventIsTheDocumentedLayout() {
        let event = Self.event
        #expect(IntegrityLeaf.data(seq: event.seq, id: event.id.rawValue, content: IntegrityLeaf.content(of: event)).hexString == Self.expected)
        #expect(IntegrityLeaf.hash(of: event).hexString == "a587e217541332c2b7a7660251ee546ac1c4ebe6d270215e5b21540e48529393")
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
