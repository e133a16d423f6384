import SluiceCore

/// Built-in `http_pull` descriptions of vendors' audit-log APIs: configured with credentials
/// only (docs/collectors.md, "Presets").
public enum HTTPPullPreset {
    /// Okta's System Log (`GET /api/v1/logs`, stream `system_log`), read as Okta documents
    /// polling it: `since` with `sortOrder=ASCENDING`, following `Link: rel="next"`, which Okta
    /// sends on every page (an empty page means nothing more yet), so the checkpoint is the last
    /// next link. Authenticated with an API token (`Authorization: SSWS <token>`). Log type `OKTA`.
    public static func oktaSystemLog(name: String, baseURL: String, token: String) -> HTTPPullConfiguration {
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
        configuration.auth = .token(scheme: "SSWS", token: token)
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
