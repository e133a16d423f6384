import SluiceCore
import SluiceHTTP
@testable import SluiceWorkflows
import Testing

/// The pieces of a workflow: JSON paths, templates, conditions, the incident body rules and the
/// definition reader's errors.
@Suite struct WorkflowPartsTests {
    static let alert = try! JSONParser.parse(Array("""
        {"name":"aws-s3-bucket-public","level":"HIGH","odd key":{"v":1},
         "query0Data":[{"id":"arn:aws:s3:::a","entity":{"displayName":"a"}},{"id":"arn:aws:s3:::b","entity":{"displayName":"b"}}]}
        """.utf8))

    @Test func jsonPathsSelectMembersIndexesAndWildcards() throws {
        #expect(try JSONPath("$.name").value(in: Self.alert) == .string("aws-s3-bucket-public"))
        #expect(try JSONPath("$.query0Data[1].id").value(in: Self.alert) == .string("arn:aws:s3:::b"))
        #expect(try JSONPath("$.query0Data[-1].entity.displayName").value(in: Self.alert) == .string("b"))
        #expect(try JSONPath("$['odd key'].v").value(in: Self.alert) == .number("1"))
        #expect(try JSONPath("$.query0Data[*].id").value(in: Self.alert) == .array([.string("arn:aws:s3:::a"), .string("arn:aws:s3:::b")]))
        #expect(try JSONPath("$.missing.deeper").value(in: Self.alert) == nil)
        #expect(throws: WorkflowDefinitionError.self) { try JSONPath("name") }
        #expect(throws: WorkflowDefinitionError.self) { try JSONPath("$.a[") }
        #expect(throws: WorkflowDefinitionError.self) { try JSONPath("$.a[x]") }
    }

    @Test func templatesRenderFiltersAndEscapeHostileText() throws {
        let scope = JSONValue.object([
            JSONMember("name", .string("<script>alert(1)</script>")),
            JSONMember("level", .string("HIGH")),
            JSONMember("rows", .array([
                .object([JSONMember("id", .string("=HYPERLINK(\"x\")")), JSONMember("n", .number("2"))]),
                .object([JSONMember("id", .string("b&c"))]),
            ])),
        ])
        #expect(try Template("Alert - {{ name | html }}").render(scope) == "Alert - &lt;script&gt;alert(1)&lt;/script&gt;")
        #expect(try Template("{{ level | capitalize }}/{{ level | lower }}").render(scope) == "High/high")
        #expect(try Template("{{ missing | default:'none' }}|{{ missing }}|").render(scope) == "none||")
        #expect(try Template("{{ name | truncate:5 }}").render(scope) == "<scr…")
        let table = try Template("{{ rows | html_table }}").render(scope)
        #expect(table == "<table><tr><th>id</th><th>n</th></tr><tr><td>=HYPERLINK(&quot;x&quot;)</td><td>2</td></tr><tr><td>b&amp;c</td><td></td></tr></table>")
        #expect(try Template("{{ rows[0].n }}").render(scope) == "2")
        // A string that is one tag keeps the value's type inside structures.
        let value = try TemplateValue(compiling: .object([JSONMember("list", .string("{{ rows }}")), JSONMember("gone", .string("{{ nothing }}"))]))
        let rendered = value.render(scope)
        #expect(rendered["list"]?.arrayValue?.count == 2)
        #expect(rendered["gone"] == nil)
        #expect(throws: WorkflowDefinitionError.self) { try Template("{{ name | shout }}") }
        #expect(throws: WorkflowDefinitionError.self) { try Template("{{ name ") }
    }

    static func json(_ text: String) -> JSONValue { try! JSONParser.parse(Array(text.utf8)) }
}

extension WorkflowPartsTests {
    @Test func incidentBodiesMeetCTIMRulesBeforeTheyAreSent() throws {
        let opened = try #require(Timestamp(rfc3339: "2026-11-22T10:00:00.123456Z"))
        let body = try CTIAIncidentBody.prepare(
            Self.json(#"{"id":"x","title":"\#(String(repeating: "t", count: 1100))","status":"New","confidence":"High","severity":"","external_ids":["mine"]}"#),
            externalID: "sluice-w-abc", opened: opened
        )
        #expect(body["type"] == .string("incident") && body["id"] == nil && body["severity"] == nil)
        #expect(body["incident_time"]?["opened"] == .string("2026-11-22T10:00:00.123Z"))
        #expect(body["external_ids"] == .array([.string("sluice-w-abc"), .string("mine")]))
        #expect(body["title"]?.stringValue?.count == 1024)
        #expect(throws: StepFailure.self) { try CTIAIncidentBody.prepare(Self.json(#"{"status":"New"}"#), externalID: "e", opened: opened) }
        #expect(throws: StepFailure.self) {
            try CTIAIncidentBody.prepare(Self.json(#"{"status":"Nieuw","confidence":"High"}"#), externalID: "e", opened: opened)
        }
        #expect(throws: StepFailure.self) {
            try CTIAIncidentBody.prepare(Self.json(#"{"status":"New","confidence":"High","incident_time":{"opened":"yesterday"}}"#), externalID: "e", opened: opened)
        }
    }

    @Test func extractTakesListsHoweverTheSenderShapedThem() throws {
        let path = try JSONPath("$.query0Data")
        let value = ExtractedValue(name: "results", path: path, required: true, shape: .list, defaultValue: nil)
        let templated = Self.json(#"{"query0Data":"[{\"id\":\"a\"},{\"id\":\"b\"}]"}"#)
        #expect(try value.extract(from: templated).get().arrayValue?.count == 2)
        #expect(try value.extract(from: Self.json(#"{"query0Data":{"id":"a"}}"#)).get().arrayValue?.count == 1)
        let missing = value.extract(from: Self.json(#"{"name":"x"}"#))
        guard case .failure(let gap) = missing else {
            Issue.record("a missing required value must skip the run")
            return
        }
        #expect(gap.reason.contains("results"))
    }
}
