import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SluiceCore
import SluiceStorePostgres
import SluiceStoreSQLite
import SluiceTesting
import Testing

/// The web UI over real HTTP: sign-in, session cookie and CSRF, the audit log's HTML (escaping,
/// filters, paging), entries and exports.
@Suite struct WebUITests {
    static let pushHeaders: HTTPFields = [HTTPField.Name("X-Webhook-Access-Key")!: TestSluice.defaultFeedSecret]

    /// The value of cookie `name` in a response's `Set-Cookie` headers, and the whole header.
    static func cookie(_ name: String, in response: TestResponse) -> (value: String, header: String)? {
        for header in response.headers[values: .setCookie] where header.hasPrefix("\(name)=") {
            let value = header.dropFirst(name.count + 1).prefix { $0 != ";" }
            return (String(value), header)
        }
        return nil
    }

    static func hiddenCSRF(_ html: String) -> String? {
        guard let range = html.range(of: "name=\"csrf\" value=\"") else { return nil }
        return String(html[range.upperBound...].prefix { $0 != "\"" })
    }

    static func form(_ fields: [(String, String)]) -> ByteBuffer {
        ByteBuffer(string: fields.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&"))
    }

    static let formType: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

    /// Signs in with `token`; returns the session cookie header value and the page's CSRF token.
    static func signIn(_ client: some TestClientProtocol, token: String = TestSluice.adminToken) async throws -> (cookie: String, csrf: String) {
        let page = try await client.execute(uri: "/ui/sign-in", method: .get)
        let pre = try #require(cookie("sluice_signin", in: page))
        let csrf = try #require(hiddenCSRF(String(buffer: page.body)))
        var headers = formType
        headers[.cookie] = "sluice_signin=\(pre.value)"
        let signedIn = try await client.execute(uri: "/ui/sign-in", method: .post, headers: headers, body: form([("csrf", csrf), ("token", token)]))
        #expect(signedIn.status == .seeOther)
        let session = try #require(cookie("sluice_session", in: signedIn))
        let events = try await client.execute(uri: "/ui/events", method: .get, headers: [.cookie: "sluice_session=\(session.value)"])
        return ("sluice_session=\(session.value)", try #require(hiddenCSRF(String(buffer: events.body))))
    }

    @Test func signInNeedsAValidTokenAndTheFormsCSRFAndSignOutEndsTheSession() async throws {
        let sluice = try await TestSluice()
        defer { sluice.cleanUp() }
        try await sluice.withLiveServer { client in
            let anonymous = try await client.execute(uri: "/ui/events", method: .get)
            #expect(anonymous.status == .seeOther && anonymous.headers[.location] == "/ui/sign-in")
            #expect(try await client.execute(uri: "/", method: .get).headers[.location] == "/ui/events")

            let page = try await client.execute(uri: "/ui/sign-in", method: .get)
            #expect(page.status == .ok && page.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
            let pre = try #require(Self.cookie("sluice_signin", in: page))
            #expect(pre.header.contains("HttpOnly") && pre.header.contains("SameSite=Strict"))
            let csrf = try #require(Self.hiddenCSRF(String(buffer: page.body)))
            #expect(csrf == pre.value)

            // No CSRF cookie (a form posted from elsewhere): refused, no session.
            let forged = try await client.execute(
                uri: "/ui/sign-in", method: .post, headers: Self.formType, body: Self.form([("csrf", csrf), ("token", TestSluice.adminToken)])
            )
            #expect(forged.status == .forbidden && Self.cookie("sluice_session", in: forged) == nil)
            #expect(String(buffer: forged.body).contains("CSRF check failed"))

            var headers = Self.formType
            headers[.cookie] = "sluice_signin=\(pre.value)"
            let wrong = try await client.execute(uri: "/ui/sign-in", method: .post, headers: headers, body: Self.form([("csrf", csrf), ("token", "not-the-token")]))
            #expect(wrong.status == .unauthorized && Self.cookie("sluice_session", in: wrong) == nil)
            #expect(String(buffer: wrong.body).contains("That token is not valid."))

            let good = try await client.execute(uri: "/ui/sign-in", method: .post, headers: headers, body: Self.form([("csrf", csrf), ("token", TestSluice.adminToken)]))
            #expect(good.status == .seeOther && good.headers[.location] == "/ui/events")
            let session = try #require(Self.cookie("sluice_session", in: good))
            #expect(session.header.contains("HttpOnly") && session.header.contains("SameSite=Strict") && session.header.contains("Path=/"))
            #expect(!session.header.contains("Secure"))
            let cookie: HTTPFields = [.cookie: "sluice_session=\(session.value)"]
            let events = try await client.execute(uri: "/ui/events", method: .get, headers: cookie)
            #expect(events.status == .ok)
            let html = String(buffer: events.body)
            #expect(html.contains("<h1>Audit log</h1>") && html.contains("admin (admin)"))
            #expect(!html.contains(TestSluice.adminToken))
            let sessionCSRF = try #require(Self.hiddenCSRF(html))

            var signOut = Self.formType
            signOut[.cookie] = "sluice_session=\(session.value)"
            let noToken = try await client.execute(uri: "/ui/sign-out", method: .post, headers: signOut, body: Self.form([("csrf", "guess")]))
            #expect(noToken.status == .forbidden)
            #expect(try await client.execute(uri: "/ui/events", method: .get, headers: cookie).status == .ok)
            let out = try await client.execute(uri: "/ui/sign-out", method: .post, headers: signOut, body: Self.form([("csrf", sessionCSRF)]))
            #expect(out.status == .seeOther && out.headers[.location] == "/ui/sign-in")
            #expect(try await client.execute(uri: "/ui/events", method: .get, headers: cookie).status == .seeOther)

            // Behind a TLS proxy the session cookie is Secure.
            let tlsPage = try await client.execute(uri: "/ui/sign-in", method: .get, headers: [HTTPField.Name("X-Forwarded-Proto")!: "https"])
            #expect(Self.cookie("sluice_signin", in: tlsPage)?.header.contains("Secure") == true)
        }
        let audit = try await sluice.store.events(matching: EventFilter(source: AdminAuditEntry.source, action: .prefix("ui.")), after: nil, limit: 10)
        #expect(audit.events.map(\.normalized.action).sorted() == ["ui.sign_in_failed", "ui.signed_in", "ui.signed_out"])
        #expect(audit.events.filter { $0.normalized.action != "ui.sign_in_failed" }.allSatisfy { $0.normalized.actor?.id == "token:admin" })
        #expect(audit.events.first { $0.normalized.action == "ui.sign_in_failed" }?.normalized.actor?.type == "api_key")
    }

    @Test func theAuditLogPageEscapesHostileTextFiltersPagesAndExportsTheFilter() async throws {
        let sluice = try await TestSluice()
        defer { sluice.cleanUp() }
        try await sluice.withLiveServer { client in
            func entry(_ n: Int, actor: String, day: Int) -> String {
                #"{"id":"e\#(n)","action":"user.updated","actor":{"id":"a\#(n)","type":"user","name":\#(JSONValue.quoted(actor))},"occurred_at":"2026-11-\#(day)T10:00:00Z","targets":[{"id":"t\#(n)","type":"user","name":"target-\#(n)"}],"version":1}"#
            }
            var lines = [entry(1, actor: "<script>alert(1)</script>", day: 10), entry(2, actor: "=HYPERLINK(\"http://x\",\"y\")", day: 11)]
            lines += (3..<63).map { entry($0, actor: "Alice", day: 20) }
            let pushed = try await client.execute(uri: "/v1/feeds/default/events", method: .post, headers: Self.pushHeaders, body: ByteBuffer(string: lines.joined(separator: "\n")))
            #expect(pushed.status == .ok)
            let (cookie, _) = try await Self.signIn(client)
            let headers: HTTPFields = [.cookie: cookie]

            let hostile = String(buffer: try await client.execute(uri: "/ui/events?actor_type=user&until=2026-11-12", method: .get, headers: headers).body)
            #expect(!hostile.contains("<script>alert(1)</script>"))
            #expect(hostile.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            #expect(hostile.contains("=HYPERLINK(&quot;http://x&quot;,&quot;y&quot;)"))
            #expect(!hostile.contains("Alice"))

            let alice = String(buffer: try await client.execute(uri: "/ui/events?actor=Alice", method: .get, headers: headers).body)
            #expect(alice.components(separatedBy: "<tr>").count - 2 == 50)  // the header row and 50 entries
            #expect(!alice.contains("HYPERLINK") && alice.contains("value=\"Alice\""))
            let older = try #require(alice.range(of: "href=\"/ui/events?actor=Alice&amp;cursor=").map { alice[$0.lowerBound...].dropFirst(6).prefix { $0 != "\"" } })
            let second = String(buffer: try await client.execute(uri: String(older).replacingOccurrences(of: "&amp;", with: "&"), method: .get, headers: headers).body)
            #expect(second.components(separatedBy: "<tr>").count - 2 == 10 && !second.contains("rel=\"next\""))

            let bad = try await client.execute(uri: "/ui/events?since=yesterday", method: .get, headers: headers)
            #expect(bad.status == .badRequest && String(buffer: bad.body).contains("since=yesterday is not a time"))

            // Export exactly the current filter, from the page's own link.
            let csvLink = try #require(hostile.range(of: "href=\"/ui/events/export?").map { hostile[$0.lowerBound...].dropFirst(6).prefix { $0 != "\"" } })
            let csv = try await client.execute(uri: String(csvLink).replacingOccurrences(of: "&amp;", with: "&"), method: .get, headers: headers)
            #expect(csv.status == .ok && csv.headers[.contentType]?.hasPrefix("text/csv") == true)
            let rows = String(buffer: csv.body).split(separator: "\r\n", omittingEmptySubsequences: true)
            #expect(rows.count == 3)
            #expect(rows.contains { $0.contains("'=HYPERLINK") })
            let anonymousExport = try await client.execute(uri: String(csvLink).replacingOccurrences(of: "&amp;", with: "&"), method: .get)
            #expect(anonymousExport.status == .seeOther)

            // An entry: its fields and its raw JSON, pretty-printed and escaped.
            let idLink = try #require(hostile.range(of: "<td><a href=\"/ui/events/").map { hostile[$0.lowerBound...].dropFirst(13).prefix { $0 != "\"" } })
            let entryPage = String(buffer: try await client.execute(uri: String(idLink), method: .get, headers: headers).body)
            #expect(entryPage.contains("<th scope=\"row\">Actor name</th>"))
            #expect(entryPage.contains("&quot;actor&quot;: {\n"))
            #expect(!entryPage.contains("<script>"))
            let missing = try await client.execute(uri: "/ui/events/01M00000000000000000000000", method: .get, headers: headers)
            #expect(missing.status == .notFound)
        }
    }
}
