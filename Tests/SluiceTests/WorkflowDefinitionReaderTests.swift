import SluiceCore
@testable import SluiceApp
@testable import SluiceWorkflows
import Testing

/// The config reader's workflow part: conditions and steps read from their configured form, each
/// mistake named with its path.
@Suite struct WorkflowDefinitionReaderTests {
    static let alert = try! JSONParser.parse(Array("""
        {"name":"aws-s3-bucket-public","level":"HIGH","odd key":{"v":1},
         "query0Data":[{"id":"arn:aws:s3:::a","entity":{"displayName":"a"}},{"id":"arn:aws:s3:::b","entity":{"displayName":"b"}}]}
        """.utf8))

    func reader() -> WorkflowDefinitionReader {
        WorkflowDefinitionReader { text in
            text.hasPrefix("${") ? .failure(SecretReferenceError("environment variable not set")) : .success(text)
        }
    }

    static func json(_ text: String) -> JSONValue { try! JSONParser.parse(Array(text.utf8)) }

    @Test func conditionsCompareValuesFromPathsAndTemplates() throws {
        var r = reader()
        let highParsed = r.readCondition(Self.json(#"{"path":"$.level","in":["HIGH","CRITICAL"]}"#), path: "c")
        let namedParsed = r.readCondition(Self.json(#"{"all":[{"value":"{{ alert.name }}","prefix":"aws-"},{"not":{"path":"$.muted","exists":true}}]}"#), path: "c")
        let high = try #require(highParsed)
        let named = try #require(namedParsed)
        let scope = JSONValue.object([JSONMember("alert", Self.alert)])
        #expect(high.holds(alert: Self.alert, scope: scope))
        #expect(named.holds(alert: Self.alert, scope: scope))
        let low = Self.json(#"{"name":"gcp-x","level":"LOW","muted":true}"#)
        #expect(!high.holds(alert: low, scope: .object([JSONMember("alert", low)])))
        #expect(!named.holds(alert: low, scope: .object([JSONMember("alert", low)])))
        #expect(r.issues.isEmpty)
        _ = r.readCondition(Self.json(#"{"path":"$.level","equals":"HIGH","in":["LOW"]}"#), path: "workflows.w.trigger.condition")
        #expect(r.issues.first?.path == "workflows.w.trigger.condition")
    }

    @Test func theReaderNamesEachMistakeWithItsPath() throws {
        var r = reader()
        let steps = Self.json("""
            [{"id":"x","extract":{"name":{"path":"name"}}},
             {"create_ctia_incident":{"token":"later","incident":{"title":"t","status":"New"}}},
             {"id":"later","oauth_token":{"url":"https://h/iroh/oauth2/token","client_id":"id","client_secret":"${env:NOPE}"}},
             {"id":"y","frobnicate":{}},
             {"http_request":{"url":"https://h/x","headers":{"Authorization":"Bearer abc"}}}]
            """)
        _ = r.readSteps(steps, path: "workflows.w.steps")
        let paths = r.issues.map(\.path)
        #expect(paths.contains("workflows.w.steps[0].extract.name.path"))
        #expect(paths.contains("workflows.w.steps[1].create_ctia_incident.token"))
        #expect(paths.contains("workflows.w.steps[1].create_ctia_incident.incident.confidence"))
        #expect(paths.contains("workflows.w.steps[2].oauth_token.client_secret"))
        #expect(paths.contains("workflows.w.steps[3].frobnicate"))
        #expect(paths.contains("workflows.w.steps[4].http_request.headers.Authorization"))
        #expect(!r.issues.map(\.message).joined().contains("abc"))

        // A token step with a wrong field is still known to the steps after it: one error, not two.
        var second = reader()
        _ = second.readSteps(Self.json("""
            [{"id":"t","oauth_token":{"url":"https://h/token","client_id":"${env:UNSET}","client_secret":"s"}},
             {"http_request":{"url":"https://h/x","token":"t"}}]
            """), path: "s")
        #expect(second.issues.map(\.path) == ["s[0].oauth_token.client_id"])
    }
}
