import HTTPTypes
import Hummingbird
import SluiceCore

/// Admin tokens (`/v1/admin-tokens`) and feed secrets (`/v1/feeds/{feed}/secrets`): list, issue,
/// rotate with a grace period, revoke. A new value is in the creating response only; lists show
/// ids, states and who did what, never a value.
struct CredentialsController: Sendable {
    let credentials: CredentialRegistry
    let administration: CredentialAdministration

    func addRoutes(to group: RouterGroup<SluiceRequestContext>) {
        group.get("admin-tokens", use: listTokens)
        group.post("admin-tokens", use: createToken)
        group.delete("admin-tokens/:name", use: revokeToken)
        group.get("feeds/:feed/secrets", use: listSecrets)
        group.post("feeds/:feed/secrets", use: rotateSecret)
        group.delete("feeds/:feed/secrets/:id", use: revokeSecret)
    }

    // MARK: Admin tokens

    @Sendable func listTokens(request: Request, context: SluiceRequestContext) async throws -> Response {
        let issued = try await call { () async throws(CredentialAdministrationError) in try await administration.adminTokens() }
        let time = administration.now()
        var items: [JSONValue] = credentials.configuredAdminTokens.map { token in
            .object([JSONMember("name", .string(token.name)), JSONMember("role", .string(token.role.rawValue)), JSONMember("source", .string("config"))])
        }
        items += issued.map { $0.summary(at: time) }
        return Response.json(.object([JSONMember("admin_tokens", .array(items))]))
    }

    /// `{"name": "alice", "role": "viewer"}` (role `admin` or `viewer`; viewer when left out).
    @Sendable func createToken(request: Request, context: SluiceRequestContext) async throws -> Response {
        let body = try await request.body.collect(upTo: 16 << 10)
        let usage = "send {\"name\": \"alice\", \"role\": \"viewer\"} (role admin or viewer)"
        guard let json = try? JSONParser.parse(Array(body.readableBytesView)), case .object = json, let name = json["name"]?.stringValue else {
            throw APIError(.badRequest, usage)
        }
        var role = AdminRole.viewer
        if let value = json["role"] {
            guard let text = value.stringValue, let parsed = AdminRole(rawValue: text) else {
                throw APIError(.badRequest, "role must be admin or viewer; \(usage)")
            }
            role = parsed
        }
        let requester = context.requester(request)
        let (token, credential) = try await call { () async throws(CredentialAdministrationError) in
            try await administration.createAdminToken(name: name, role: role, by: requester)
        }
        await credentials.refresh()
        var response = Response.json(
            .object([
                JSONMember("name", .string(name)), JSONMember("role", .string(role.rawValue)), JSONMember("id", .number(String(credential.id))),
                JSONMember("token", .string(token)), JSONMember("created_at", .string(credential.createdAt.rfc3339)),
                JSONMember("note", .string("the token is shown only now; Sluice keeps its SHA-256")),
            ]),
            status: .created
        )
        response.headers[.cacheControl] = "no-store"
        return response
    }

    @Sendable func revokeToken(request: Request, context: SluiceRequestContext) async throws -> Response {
        let name = try context.parameters.require("name")
        let requester = context.requester(request)
        let revoked = try await call { () async throws(CredentialAdministrationError) in
            try await administration.revokeAdminToken(name: name, by: requester)
        }
        await credentials.refresh()
        return Response.json(.object([
            JSONMember("name", .string(name)), JSONMember("revoked_ids", .array(revoked.map { .number(String($0.id)) })),
        ]))
    }

    // MARK: Feed secrets

    @Sendable func listSecrets(request: Request, context: SluiceRequestContext) async throws -> Response {
        let name = try context.parameters.require("feed")
        let (feed, secrets) = try await call { () async throws(CredentialAdministrationError) in
            (try administration.feed(name), try await administration.feedSecrets(feed: name))
        }
        let time = administration.now()
        return Response.json(.object([
            JSONMember("feed", .string(name)), JSONMember("auth", .string(feed.authMode)),
            JSONMember("configured_secrets", .number(String(feed.configuredSecrets))),
            JSONMember("secrets", .array(secrets.map { $0.summary(at: time) })),
        ]))
    }

    /// Optional `{"grace": "24h"}`: how long the feed's other issued secrets stay valid (0s to 30d).
    @Sendable func rotateSecret(request: Request, context: SluiceRequestContext) async throws -> Response {
        let name = try context.parameters.require("feed")
        let body = try await request.body.collect(upTo: 16 << 10)
        var grace = CredentialAdministration.defaultGrace
        if body.readableBytes > 0 {
            let usage = "send {} or {\"grace\": \"1h\"}: how long the feed's current secrets stay valid (0s to 30d, default 24h)"
            guard let json = try? JSONParser.parse(Array(body.readableBytesView)), case .object = json else {
                throw APIError(.badRequest, usage)
            }
            if let value = json["grace"] {
                guard let text = value.textValue, let seconds = DurationText.seconds(text) else { throw APIError(.badRequest, usage) }
                grace = .seconds(seconds)
            }
        }
        let requester = context.requester(request)
        let (secret, credential, retired, configured) = try await call { () async throws(CredentialAdministrationError) in
            let result = try await administration.rotateFeedSecret(feed: name, grace: grace, by: requester)
            return (result.secret, result.credential, result.retired, try administration.feed(name).configuredSecrets)
        }
        await credentials.refresh()
        var members = [
            JSONMember("feed", .string(name)),
            JSONMember("secret", .object([
                JSONMember("id", .number(String(credential.id))), JSONMember("value", .string(secret)),
                JSONMember("created_at", .string(credential.createdAt.rfc3339)),
            ])),
            JSONMember("retiring", .array(retired.map { old in
                .object([JSONMember("id", .number(String(old.id))), JSONMember("expires_at", .string((old.expiresAt ?? old.createdAt).rfc3339))])
            })),
            JSONMember("push_path", .string("/v1/feeds/\(name)/events")),
        ]
        if configured > 0 {
            members.append(JSONMember(
                "configured_secrets",
                .string("\(configured) secret(s) from the config file stay valid until removed there")
            ))
        }
        var response = Response.json(.object(members), status: .created)
        response.headers[.cacheControl] = "no-store"
        return response
    }

    @Sendable func revokeSecret(request: Request, context: SluiceRequestContext) async throws -> Response {
        let name = try context.parameters.require("feed")
        guard let id = Int64(try context.parameters.require("id")) else {
            throw APIError(.badRequest, "the secret id is a number, as listed by GET /v1/feeds/\(name)/secrets")
        }
        let requester = context.requester(request)
        let revoked = try await call { () async throws(CredentialAdministrationError) in
            try await administration.revokeFeedSecret(feed: name, id: id, by: requester)
        }
        await credentials.refresh()
        return Response.json(.object([JSONMember("feed", .string(name)), JSONMember("revoked_id", .number(String(revoked.id)))]))
    }

    private func call<T>(_ body: () async throws(CredentialAdministrationError) -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw APIError.from(error)
        }
    }
}
