import SluiceCore
@testable import SluiceApp
@testable import SluiceWorkflows
import Testing
import Yams

/// The config reader's workflow part: conditions and steps read from the YAML tree, each mistake
/// named with its path and line.
@Suite struct WorkflowDefinitionReaderTests {
    static let alert = try! JSONParser.parse(Array("""
        {"name":"aws-s3-bucket-public","level":"HIGH","odd key":{"v":1},
         "query0Data":[{"id":"arn:aws:s3:::a","entity":{"displayName":"a"}},{"id":"arn:aws:s3:::b","entity":{"displayName":"b"}}]}
        """.utf8))

    /// A reader with no environment: every `${env:…}` reference is unset.
    func reader() -> ConfigReader {
        var reader = ConfigReader(environment: [:])
        reader.workflowNames = ["event", "alert"]
        return reader
    }

    static func json(_ text: String) -> JSONValue { try! JSONParser.parse(Array(text.utf8)) }
    /// JSON is YAML too: the tests write their nodes in flow style.
    static func node(_ text: String) -> Node { try! Yams.compose(yaml: text)! }

    @Test func conditionsCompareValuesFromPathsAndTemplates() throws {
        var r = reader()
        let highParsed = r.readCondition(Self.node(#"{"path":"$.level","in":["HIGH","CRITICAL"]}"#), path: "c")
        let namedParsed = r.readCondition(Self.node(#"{"all":[{"value":"{{ alert.name }}","prefix":"aws-"},{"not":{"path":"$.muted","exists":true}}]}"#), path: "c")
        let high = try #require(highParsed)
        let named = try #require(namedParsed)
        let scope = JSONValue.object([JSONMember("alert", Self.alert)])
        #expect(high.holds(alert: Self.alert, scope: scope))
        #expect(named.holds(alert: Self.alert, scope: scope))
        let low = Self.json(#"{"name":"gcp-x","level":"LOW","muted":true}"#)
        #expect(!high.holds(alert: low, scope: .object([JSONMember("alert", low)])))
        #expect(!named.holds(alert: low, scope: .object([JSONMember("alert", low)])))
        #expect(r.errors.isEmpty)
        _ = r.readCondition(Self.node(#"{"path":"$.level","equals":"HIGH","in":["LOW"]}"#), path: "workflows.w.trigger.condition")
        #expect(r.errors.first?.path == "workflows.w.trigger.condition")
    }

    @Test func theReaderNamesEachMistakeWithItsPath() throws {
        var r = reader()
        let steps = Self.node("""
            [{"id":"x","extract":{"name":{"path":"name"}}},
             {"create_ctia_incident":{"token":"later","incident":{"title":"t","status":"New"}}},
             {"id":"later","oauth_token":{"url":"https://h/iroh/oauth2/token","client_id":"id","client_secret":"${env:NOPE}"}},
             {"id":"y","frobnicate":{}},
             {"http_request":{"url":"https://h/x","headers":{"Authorization":"Bearer abc"}}}]
            """)
        _ = r.readSteps(steps, path: "workflows.w.steps")
        let paths = r.errors.map(\.path)
        #expect(paths.contains("workflows.w.steps[0].extract.name.path"))
        #expect(paths.contains("workflows.w.steps[1].create_ctia_incident.token"))
        #expect(paths.contains("workflows.w.steps[1].create_ctia_incident.incident.confidence"))
        #expect(paths.contains("workflows.w.steps[2].oauth_token.client_secret"))
        #expect(paths.contains("workflows.w.steps[3].frobnicate"))
        #expect(paths.contains("workflows.w.steps[4].http_request.headers.Authorization"))
        #expect(!r.errors.map(\.message).joined().contains("abc"))
        // Each mistake points at its own line of the file, not at the workflow's.
        #expect(r.errors.first { $0.path == "workflows.w.steps[3].frobnicate" }?.line == 4)
        #expect(r.errors.first { $0.path == "workflows.w.steps[4].http_request.headers.Authorization" }?.line == 5)

        // A token step with a wrong field is still known to the steps after it: one error, not two.
        var second = reader()
        _ = second.readSteps(Self.node("""
            [{"id":"t","oauth_token":{"url":"https://h/token","client_id":"${env:UNSET}","client_secret":"s"}},
             {"http_request":{"url":"https://h/x","token":"t"}}]
            """), path: "s")
        #expect(second.errors.map(\.path) == ["s[0].oauth_token.client_id"])
    }
}
