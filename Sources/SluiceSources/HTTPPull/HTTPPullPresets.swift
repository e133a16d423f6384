import SluiceCore
import SluiceHTTP

/// Built-in `http_pull` descriptions of vendors' audit-log APIs: configured with credentials
/// only (docs/collectors.md, "Presets").
public enum HTTPPullPreset {
    /// Okta's System Log (`GET /api/v1/logs`, stream `system_log`), read as Okta documents
    /// polling it: `since` with `sortOrder=ASCENDING`, following `Link: rel="next"`, which Okta
    /// sends on every page (an empty page means nothing more yet), so the checkpoint is the last
    /// next link. Authenticated with an API token (`Authorization: SSWS <token>`). Log type `OKTA`.
    public static func oktaSystemLog(name: String, baseURL: String, token: String) -> HTTPPullConfiguration {
        var configuration = oktaSystemLog(name: name, baseURL: baseURL)
        configuration.auth = .token(scheme: "SSWS", token: token)
        return configuration
    }

    /// Okta's System Log read by a service app (OAuth 2.0 client credentials with
    /// `private_key_jwt`, scope `okta.logs.read`, from the org's `/oauth2/v1/token`).
    public static func oktaSystemLog(name: String, baseURL: String, clientID: String, signingKey: JWTSigningKey) -> HTTPPullConfiguration {
        var configuration = oktaSystemLog(name: name, baseURL: baseURL)
        let root = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        configuration.auth = .clientCredentials(ClientCredentialsGrant(tokenURL: root + "/oauth2/v1/token", clientID: clientID, signingKey: signingKey, scope: "okta.logs.read"))
        return configuration
    }

    private static func oktaSystemLog(name: String, baseURL: String) -> HTTPPullConfiguration {
        var stream = HTTPPullConfiguration.Stream(name: "system_log", path: RequestTemplate(literal: "/api/v1/logs"), time: FieldPath("published"))
        stream.query = [
            ("since", RequestTemplate(variable: .windowSince)), ("sortOrder", RequestTemplate(literal: "ASCENDING")),
            ("limit", RequestTemplate(variable: .pageSize)),
        ]
        stream.id = FieldPath("uuid")
        stream.pagination = .link
        stream.checkpoint = .cursor
        stream.pageSize = 1_000
        var configuration = HTTPPullConfiguration(name: name, baseURL: baseURL, streams: [stream])
        configuration.type = "okta_system_log"
        configuration.logType = "OKTA"
        // Okta documents 120 requests a minute for /api/v1/logs on most plans.
        configuration.requestsPerMinute = 120
        configuration.normalizer.fields.occurredAt = [FieldPath("published")]
        configuration.normalizer.fields.action = [FieldPath("eventType")]
        configuration.normalizer.fields.actorID = [FieldPath("actor.id")]
        configuration.normalizer.fields.actorName = [FieldPath("actor.displayName"), FieldPath("actor.alternateId")]
        configuration.normalizer.fields.actorType = [FieldPath("actor.type")]
        configuration.normalizer.fields.targets = [FieldPath("target")]
        configuration.normalizer.fields.location = [FieldPath("client.ipAddress")]
        configuration.normalizer.fields.userAgent = [FieldPath("client.userAgent.rawUserAgent")]
        configuration.normalizer.fields.eventID = [FieldPath("uuid")]
        return configuration
    }
}

extension HTTPPullPreset {
    /// Slack's Audit Logs API (Enterprise Grid; `GET /audit/v1/logs`, stream `logs`) with an
    /// org-level user token (`auditlogs:read`): each window `oldest`..`latest` in seconds, pages
    /// of 1,000 by `cursor` from `response_metadata.next_cursor` (Slack lists newest first, so a
    /// window is finished only at its last page; a run cut short resumes at its next cursor).
    /// Log type `SLACK_AUDIT`.
    public static func slackAuditLogs(name: String, baseURL: String, token: String) -> HTTPPullConfiguration {
        var stream = HTTPPullConfiguration.Stream(name: "logs", path: RequestTemplate(literal: "/audit/v1/logs"), time: FieldPath("date_create"))
        stream.query = [
            ("oldest", RequestTemplate(variable: .windowSince)), ("latest", RequestTemplate(variable: .windowUntil)),
            ("limit", RequestTemplate(variable: .pageSize)),
        ]
        stream.timeFormat = .unix
        stream.records = FieldPath("entries")
        stream.id = FieldPath("id")
        stream.pagination = .nextToken(path: FieldPath("response_metadata.next_cursor"), parameter: "cursor")
        stream.pageSize = 1_000
        var configuration = HTTPPullConfiguration(name: name, baseURL: baseURL, streams: [stream])
        configuration.type = "slack_audit_logs"
        configuration.auth = .token(scheme: "Bearer", token: token)
        configuration.logType = "SLACK_AUDIT"
        // The Audit Logs API is in Slack's rate-limit tier 3 (about 50 requests a minute).
        configuration.requestsPerMinute = 50
        var fields = FieldMap.generic
        fields.occurredAt = [FieldPath("date_create")]
        fields.action = [FieldPath("action")]
        fields.actorID = [FieldPath("actor.user.id")]
        fields.actorName = [FieldPath("actor.user.email"), FieldPath("actor.user.name")]
        fields.actorType = [FieldPath("actor.type")]
        fields.targets = []
        let entities = ["user", "channel", "file", "app", "workspace", "enterprise", "usergroup", "workflow", "role", "huddle", "barrier", "list", "message"]
        fields.targetType = [FieldPath("entity.type")]
        fields.targetID = entities.map { FieldPath("entity.\($0).id") }
        fields.targetName = entities.flatMap { [FieldPath("entity.\($0).name"), FieldPath("entity.\($0).email"), FieldPath("entity.\($0).domain")] }
        fields.location = [FieldPath("context.ip_address")]
        fields.userAgent = [FieldPath("context.ua")]
        fields.eventID = [FieldPath("id")]
        configuration.normalizer = EventNormalizer(schema: .generic, fields: fields, wrappers: [])
        return configuration
    }

    /// The logs Duo's Admin API keeps, each a stream of `duo_admin_logs`.
    public enum DuoLog: String, Sendable, CaseIterable {
        case authentication, administrator, telephony
    }

    /// Duo's Admin API logs (log type `DUO`), each request signed with the Admin API
    /// application's integration and secret keys (``DuoRequestSigner``):
    /// - `authentication`: `GET /admin/v2/logs/authentication`, `mintime`/`maxtime` in ms,
    ///   oldest first, 1,000 a page, following `metadata.next_offset` (a `[ts, txid]` pair sent back
    ///   comma-joined); dedupe key `txid`.
    /// - `administrator`: `GET /admin/v1/logs/administrator?mintime=<s>`, which returns the oldest
    ///   1,000 from `mintime` on and pages no other way: the next page asks from the last record's
    ///   second (records of that second come again and are dropped as duplicates).
    /// - `telephony`: `GET /admin/v2/logs/telephony`, like authentication, keyed by `telephony_id`.
    public static func duoAdminLogs(name: String, baseURL: String, signer: DuoRequestSigner, logs: [DuoLog] = DuoLog.allCases) -> HTTPPullConfiguration {
        let streams = logs.map { log -> HTTPPullConfiguration.Stream in
            var stream: HTTPPullConfiguration.Stream
            switch log {
            case .authentication, .telephony:
                let isAuthentication = log == .authentication
                stream = .init(
                    name: log.rawValue, path: RequestTemplate(literal: "/admin/v2/logs/\(log.rawValue)"),
                    time: FieldPath(isAuthentication ? "timestamp" : "ts")
                )
                stream.query = [
                    ("mintime", RequestTemplate(variable: .windowSince)), ("maxtime", RequestTemplate(variable: .windowUntil)),
                    ("limit", RequestTemplate(variable: .pageSize)), ("sort", RequestTemplate(literal: "ts:asc")),
                ]
                stream.timeFormat = .unixMilliseconds
                stream.records = FieldPath(isAuthentication ? "response.authlogs" : "response.items")
                stream.id = FieldPath(isAuthentication ? "txid" : "telephony_id")
                stream.pagination = .nextToken(path: FieldPath("response.metadata.next_offset"), parameter: "next_offset")
            case .administrator:
                stream = .init(name: log.rawValue, path: RequestTemplate(literal: "/admin/v1/logs/administrator"), time: FieldPath("timestamp"))
                stream.query = [("mintime", RequestTemplate(variable: .windowSince))]
                stream.timeFormat = .unix
                stream.records = FieldPath("response")
                stream.pagination = .recordTime(parameter: "mintime")
            }
            stream.pageSize = 1_000
            return stream
        }
        var configuration = HTTPPullConfiguration(name: name, baseURL: baseURL, streams: streams)
        configuration.type = "duo_admin_logs"
        configuration.auth = .duoSignature(signer)
        configuration.logType = "DUO"
        configuration.requestsPerMinute = 50
        var fields = FieldMap.generic
        fields.occurredAt = [FieldPath("isotimestamp"), FieldPath("timestamp"), FieldPath("ts")]
        fields.action = [FieldPath("event_type"), FieldPath("action"), FieldPath("type")]
        fields.actorID = [FieldPath("user.key"), FieldPath("username")]
        fields.actorName = [FieldPath("user.name"), FieldPath("username")]
        fields.actorType = []
        fields.targets = []
        fields.targetID = [FieldPath("application.key")]
        fields.targetName = [FieldPath("application.name"), FieldPath("object")]
        fields.location = [FieldPath("access_device.ip"), FieldPath("ip")]
        fields.userAgent = [FieldPath("access_device.browser")]
        fields.eventID = [FieldPath("txid"), FieldPath("telephony_id")]
        configuration.normalizer = EventNormalizer(schema: .generic, fields: fields, wrappers: [])
        return configuration
    }

    /// The Admin SDK Reports applications collected by default.
    public static let googleWorkspaceApplications = ["login", "admin", "drive", "token"]

    /// Google Workspace's audit activities (Admin SDK Reports API, `activities.list`), one stream
    /// per application: `GET /admin/reports/v1/activity/users/all/applications/<app>` with
    /// `startTime`/`endTime` (RFC 3339) and pages of 1,000 by `pageToken`. Authenticated as a
    /// service account acting, by domain-wide delegation, for an administrator (`subject`), with
    /// the scope `admin.reports.audit.readonly`. Google lists newest first and some applications'
    /// activities arrive late, so each window re-reads 30 minutes (`overlap`). Log type
    /// `GOOGLE_WORKSPACE`; records have no single id, so the dedupe key is their content's hash.
    public static func googleWorkspaceReports(
        name: String, baseURL: String, key: GoogleServiceAccountKey, subject: String, applications: [String] = googleWorkspaceApplications,
        customerID: String? = nil
    ) -> HTTPPullConfiguration {
        let streams = applications.map { application -> HTTPPullConfiguration.Stream in
            var stream = HTTPPullConfiguration.Stream(
                name: application, path: RequestTemplate(literal: "/admin/reports/v1/activity/users/all/applications/\(application)"),
                time: FieldPath("id.time")
            )
            stream.query = [
                ("startTime", RequestTemplate(variable: .windowSince)), ("endTime", RequestTemplate(variable: .windowUntil)),
                ("maxResults", RequestTemplate(variable: .pageSize)),
            ]
            if let customerID { stream.query.append(("customerId", RequestTemplate(literal: customerID))) }
            stream.records = FieldPath("items")
            stream.pagination = .nextToken(path: FieldPath("nextPageToken"), parameter: "pageToken")
            stream.pageSize = 1_000
            return stream
        }
        var configuration = HTTPPullConfiguration(name: name, baseURL: baseURL, streams: streams)
        configuration.type = "google_workspace_reports"
        configuration.auth = .googleServiceAccount(GoogleJWTGrant(key: key, scope: googleReportsScope, subject: subject))
        configuration.logType = "GOOGLE_WORKSPACE"
        configuration.overlap = .seconds(1_800)
        var fields = FieldMap.generic
        fields.occurredAt = [FieldPath("id.time")]
        fields.action = [FieldPath("events.0.name")]
        fields.actorID = [FieldPath("actor.profileId"), FieldPath("actor.key"), FieldPath("actor.email")]
        fields.actorName = [FieldPath("actor.email"), FieldPath("actor.applicationInfo.applicationName")]
        fields.actorType = [FieldPath("actor.callerType")]
        fields.targets = []
        fields.targetType = [FieldPath("id.applicationName")]
        fields.targetName = [FieldPath("events.0.type")]
        fields.location = [FieldPath("ipAddress")]
        fields.userAgent = []
        fields.eventID = []
        configuration.normalizer = EventNormalizer(schema: .generic, fields: fields, wrappers: [])
        return configuration
    }

    /// Read-only access to the audit activities (what the service account's delegation must grant).
    public static let googleReportsScope = "https://www.googleapis.com/auth/admin.reports.audit.readonly"
}
