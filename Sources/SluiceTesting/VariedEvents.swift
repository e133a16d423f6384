import SluiceCore

/// Events unlike each other in every way a store could get wrong: incident.io audit entries,
/// Incydr file events, alerts, events with NUL characters (escaped in the JSON and raw in the
/// normalized values), non-ASCII text, pretty-printed JSON with line breaks, empty objects,
/// normalized fields absent, and now and then a 1 MB event. Deterministic for a given seed.
public struct VariedEvents {
    private var random: SeededRandom
    private var n = 0

    public init(seed: UInt64 = 42) {
        random = SeededRandom(seed: seed)
    }

    /// The next `count` events, each with a distinct dedupe key.
    public mutating func next(_ count: Int, source: String? = nil) -> [IncomingEvent] {
        (0..<count).map { _ in next(source: source) }
    }

    public mutating func next(source fixedSource: String? = nil) -> IncomingEvent {
        n += 1
        let time = Timestamp(microseconds: 1_764_979_200_000_000 + Int64(n) * 1_000_003 + Int64(random.below(999)))
        let kind = n % 997 == 0 ? 7 : random.below(7)
        let (source, logType, raw, normalized): (String, String, String, NormalizedEvent)
        switch kind {
        case 0:
            let id = random.token(26)
            raw = """
                {"action":"api_key.created","actor":{"api_key":{"id":"\(random.token(26))","name":"Key \(random.below(90))"},"type":"api_key"},\
                "context":{"location":"10.\(random.below(255)).\(random.below(255)).\(random.below(255))","user_agent":"curl/8.\(random.below(9))"},\
                "id":"\(id)","occurred_at":"\(time.rfc3339)","targets":[{"id":"\(random.token(26))","name":"Dev key","type":"api_key"}],"version":1}
                """
            source = "incident-io"; logType = "INCIDENT_IO"
            normalized = NormalizedEvent(
                occurredAt: time, action: "api_key.created", actor: AuditActor(type: "api_key", id: id, name: "Key", metadata: ["k": "v"]),
                targets: [AuditTarget(type: "api_key", id: random.token(26), name: "Dev key")],
                context: AuditContext(location: "10.0.0.1", userAgent: "curl/8.4"), schemaVersion: 1
            )
        case 1:
            let user = "user\(random.below(5_000))@example.com"
            let file = "\(random.token(12).lowercased())-report.pdf"
            raw = """
                {"@timestamp":"\(time.rfc3339)","event":{"id":"0_\(random.token(36))","action":"file-downloaded","inserted":"\(time.rfc3339)"},\
                "user":{"email":"\(user)","id":"\(random.below(1 << 40))"},"file":{"name":"\(file)","hash":{"sha256":"\(random.hex(64))"},\
                "sizeInBytes":\(random.below(1 << 30))},"source":{"ip":"203.0.113.\(random.below(250))"}}
                """
            source = "incydr"; logType = "CODE42_INCYDR"
            normalized = NormalizedEvent(
                occurredAt: time, action: "file-downloaded", actor: AuditActor(type: "user", id: user, name: user, metadata: ["user_id": "7"]),
                targets: [AuditTarget(type: "file", id: random.hex(64), name: file)], context: AuditContext(location: "203.0.113.9")
            )
        case 2:
            raw = """
                {
                  "alert": {"id": "\(random.token(20))", "severity": "HIGH",
                            "title": "Suspicious login\\r\\n from \(random.below(255)).\(random.below(255)).0.1"},
                  "observed": "\(time.rfc3339)"
                }
                """
            source = "sci-alerts"; logType = "CISCO_SCI_ALERT"
            normalized = NormalizedEvent(occurredAt: time, action: "alert.raised", targets: [AuditTarget(type: "alert", id: random.token(20))])
        case 3:
            raw = "{\"s\":\"a\\u0000b\",\"n\":\(n)}"
            source = "nul-feed"; logType = "GENERIC"
            normalized = NormalizedEvent(
                occurredAt: time, action: "with\u{0}nul", actor: AuditActor(type: "user", id: "x\u{0}\(n)", name: nil),
                targets: [AuditTarget(type: "t\u{0}", id: "\u{0}", name: "\u{0}\u{0}")], context: AuditContext(location: "\u{0}")
            )
        case 4:
            raw = "{\"text\":\"Grüße, 東京, 🛡️ \(n)\",\"ключ\":\"значение\"}"
            source = "ünïcode-feed"; logType = "GENERIC"
            normalized = NormalizedEvent(
                occurredAt: time, action: "übergabe.完了", actor: AuditActor(type: "user", id: "ユーザー\(random.below(9))", name: "Zoë 🛡️"),
                targets: [AuditTarget(type: "ファイル", id: "f\(n)", name: "東京.pdf")]
            )
        case 5:
            raw = "{}"
            source = "empty-feed"; logType = "GENERIC"
            normalized = NormalizedEvent(occurredAt: time, action: "")
        case 6:
            raw = "{\"n\":\(n),\"deep\":[[[[[{\"a\":[1,2.5e-3,-0,true,false,null]}]]]]],\"esc\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\"}"
            source = "generic"; logType = "GENERIC"
            normalized = NormalizedEvent(occurredAt: time, action: "deep.event", schemaVersion: -3)
        default:
            // About 1 MB, as random as a large attachment list would be.
            raw = "{\"blob\":\"\(random.hex(1 << 20))\",\"n\":\(n)}"
            source = "big-feed"; logType = "GENERIC"
            normalized = NormalizedEvent(occurredAt: time, action: "big.event")
        }
        return IncomingEvent(
            source: fixedSource ?? source, logType: logType, dedupeKey: Array("key-\(n)-\(random.token(8))".utf8),
            dedupeTime: n % 3 == 0 ? time : nil, raw: Array(raw.utf8), normalized: normalized,
            origin: kind == 1 ? "file_events@\(time.rfc3339)#\(n / 100)" : nil
        )
    }
}

/// SplitMix64 from a fixed seed: the same events on every run.
struct SeededRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    mutating func token(_ length: Int) -> String {
        let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
        return String((0..<length).map { _ in alphabet[below(alphabet.count)] })
    }

    mutating func hex(_ length: Int) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes = [UInt8](repeating: 0, count: length)
        var word: UInt64 = 0
        for i in 0..<length {
            if i % 16 == 0 { word = next() }
            bytes[i] = digits[Int(word & 0xF)]
            word >>= 4
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
