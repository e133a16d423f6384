import SluiceCore
import SluiceSources
import Testing

@Suite struct IncidentIONormalizerTests {
    let normalizer = EventNormalizer(schema: .incidentIO)
    let receivedAt = Timestamp(seconds: 1_800_000_000)

    func normalize(_ json: String) throws -> NormalizedEvent {
        normalizer.normalize(try JSONParser.parse(Array(json.utf8)), receivedAt: receivedAt)
    }

    @Test func fixtureEntriesNormalize() throws {
        let events = try PushBodyDecoder(limits: .init()).decode(Fixtures.bytes("incidentio_audit_log_entries_array.json"))
        let normalized = events.map { normalizer.normalize($0.value, receivedAt: receivedAt) }
        let first = normalized[0]
        #expect(first.action == "api_key.created")
        #expect(first.occurredAt == Timestamp(rfc3339: "2021-08-17T13:28:57.801578Z"))
        #expect(first.actor == AuditActor(
            type: "user", id: "01FCNDV6P870EA6S7TK1DSYDG0", name: "John Doe",
            metadata: ["user_base_role_slug": "admin", "user_custom_role_slugs": "engineering,security"]
        ))
        #expect(first.targets == [AuditTarget(type: "api_key", id: "01FCNDV6P870EA6S7TK1DSYDG0", name: "Development API Key")])
        #expect(first.context == AuditContext(location: "1.2.3.4", userAgent: "Chrome/91.0.4472.114"))
        #expect(first.schemaVersion == 1)
        #expect(normalized.map(\.action) == ["api_key.created", "private_incident.access_attempted", "ip_allowlist.updated", "user.role_memberships_updated"])
    }

    @Test(arguments: ["user", "api_key", "system", "workflow", "external_resource", "alert", "some_future_type"])
    func everyActorTypeIsKept(type: String) throws {
        let event = try normalize(#"{"action":"x.y","actor":{"id":"a1","type":"\#(type)","name":"N"},"context":{"location":"l"},"occurred_at":"2021-08-17T13:28:57.801578Z","targets":[],"version":2}"#)
        #expect(event.actor?.type == type)
        #expect(event.schemaVersion == 2)
    }

    @Test func unknownTargetTypesAndMetadataValuesAreKeptAsStrings() throws {
        let event = try normalize(#"""
            {"action":"ip_allowlist.updated","actor":{"id":"s","type":"system","metadata":{"count":2,"enabled":true,"list":["a"],"none":null}},
             "context":{"location":"1.2.3.4"},"occurred_at":"2021-08-17T13:28:57.801578Z",
             "targets":[{"id":"t1","type":"brand_new_target"},{"id":"t2","type":"user","name":"Bob"}],"version":1}
            """#)
        #expect(event.actor?.metadata == ["count": "2", "enabled": "true", "list": "[\"a\"]"])
        #expect(event.targets.map(\.type) == ["brand_new_target", "user"])
        #expect(event.targets[0].name == nil)
    }

    @Test func camelCaseVariantsAndWrappers() throws {
        let camel = try normalize(#"{"event":{"action":"user.logged_in","actor":{"id":"u","type":"user"},"context":{"location":"9.9.9.9","userAgent":"UA"},"occurredAt":"2022-01-01T00:00:00Z","targets":[],"version":1}}"#)
        #expect(camel.action == "user.logged_in")
        #expect(camel.context.userAgent == "UA")
        #expect(camel.occurredAt == Timestamp(rfc3339: "2022-01-01T00:00:00Z"))
        let data = try normalize(#"{"data":{"action":"secret.rotated","actor":{"id":"k","type":"api_key"},"occurred_at":"2022-01-01T00:00:00Z"}}"#)
        #expect(data.action == "secret.rotated")
        #expect(data.actor?.type == "api_key")
    }

    @Test func missingTimeFallsBackToReceivedAt() throws {
        let event = try normalize(#"{"action":"a.b"}"#)
        #expect(event.occurredAt == receivedAt)
        #expect(event.actor == nil)
    }

    @Test func dedupeKeyIgnoresFormattingButNotContent() throws {
        let a = try JSONParser.parse(Array(#"{"a":1,"b":2}"#.utf8))
        let b = try JSONParser.parse(Array(#"{ "b" : 2, "a" : 1 }"#.utf8))
        let c = try JSONParser.parse(Array(#"{"a":1,"b":3}"#.utf8))
        #expect(normalizer.dedupeKey(for: a, webhookID: nil, index: 0) == normalizer.dedupeKey(for: b, webhookID: nil, index: 0))
        #expect(normalizer.dedupeKey(for: a, webhookID: nil, index: 0) != normalizer.dedupeKey(for: c, webhookID: nil, index: 0))
        // A signed webhook's id keys its events by position.
        #expect(normalizer.dedupeKey(for: a, webhookID: "msg_1", index: 0) != normalizer.dedupeKey(for: a, webhookID: "msg_1", index: 1))
        #expect(normalizer.dedupeKey(for: a, webhookID: "msg_1", index: 0) == normalizer.dedupeKey(for: c, webhookID: "msg_1", index: 0))
    }
}

@Suite struct GenericNormalizerTests {
    @Test func defaultsFindCommonSpellings() throws {
        let normalizer = EventNormalizer(schema: .generic)
        let value = try JSONParser.parse(Array(#"{"@timestamp":"2024-05-01T10:00:00Z","event_type":"login","user":{"id":"u7","email":"a@b.c"},"source_ip":"10.0.0.1","userAgent":"UA"}"#.utf8))
        let event = normalizer.normalize(value, receivedAt: Timestamp(seconds: 0))
        #expect(event.action == "login")
        #expect(event.occurredAt == Timestamp(rfc3339: "2024-05-01T10:00:00Z"))
        #expect(event.actor?.id == "u7")
        #expect(event.actor?.name == "a@b.c")
        #expect(event.actor?.type == "unknown")
        #expect(event.context == AuditContext(location: "10.0.0.1", userAgent: "UA"))
    }

    @Test func configuredPathsWinAndEventIDKeysDedupe() throws {
        var fields = FieldMap.generic
        fields.occurredAt = [FieldPath("meta.when")]
        fields.action = [FieldPath("kind")]
        fields.actorID = [FieldPath("who.uid")]
        fields.actorType = [FieldPath("who.kind")]
        fields.targets = [FieldPath("object")]
        fields.eventID = [FieldPath("uuid")]
        let normalizer = EventNormalizer(schema: .generic, fields: fields)
        let value = try JSONParser.parse(Array(#"{"uuid":"e-1","kind":"file.read","meta":{"when":1714557600},"who":{"uid":"u","kind":"service"},"object":{"type":"file","id":"f1","name":"a.txt"}}"#.utf8))
        let event = normalizer.normalize(value, receivedAt: Timestamp(seconds: 0))
        #expect(event.action == "file.read")
        #expect(event.occurredAt == Timestamp(seconds: 1_714_557_600))
        #expect(event.actor == AuditActor(type: "service", id: "u"))
        #expect(event.targets == [AuditTarget(type: "file", id: "f1", name: "a.txt")])
        let other = try JSONParser.parse(Array(#"{"uuid":"e-1","kind":"changed"}"#.utf8))
        #expect(normalizer.dedupeKey(for: value, webhookID: nil, index: 0) == normalizer.dedupeKey(for: other, webhookID: nil, index: 0))
    }
}
