import SluiceCore
import Testing

@Suite struct CSVTests {
    @Test(arguments: [
        ("=HYPERLINK(\"http://evil\")", "\"'=HYPERLINK(\"\"http://evil\"\")\""),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "\"'\rcmd\""),
        ("plain", "plain"),
        ("a,b", "\"a,b\""),
        ("line\nbreak", "\"line\nbreak\""),
        ("say \"hi\"", "\"say \"\"hi\"\"\""),
        ("", ""),
    ])
    func neutralizesAndQuotesCells(input: String, expected: String) {
        #expect(AuditCSV.cell(input) == expected)
    }

    @Test func rowHasTheDocumentedColumnsInOrder() {
        let event = StoredEvent(
            seq: 7, id: EventID.make(at: Timestamp(seconds: 1)), source: "incident-io", logType: "INCIDENT_IO",
            receivedAt: Timestamp(seconds: 2),
            normalized: NormalizedEvent(
                occurredAt: Timestamp(seconds: 1_629_206_937), action: "api_key.created",
                actor: AuditActor(type: "user", id: "U1", name: "=cmd|' /C calc'!A0"),
                targets: [AuditTarget(type: "api_key", id: "K1", name: "Dev key"), AuditTarget(type: "user", id: "U2")],
                context: AuditContext(location: "1.2.3.4", userAgent: "curl/8"), schemaVersion: 1
            ),
            raw: Array("{}".utf8)
        )
        #expect(AuditCSV.header == "occurred_at,action,actor_type,actor_id,actor_name,targets,location,user_agent,version,feed,log_type,id\r\n")
        let row = AuditCSV.row(for: event)
        #expect(row == "2021-08-17T13:28:57.000000Z,api_key.created,user,U1,'=cmd|' /C calc'!A0,api_key:K1 (Dev key); user:U2,1.2.3.4,curl/8,1,incident-io,INCIDENT_IO,\(event.id)\r\n")
    }
}
