import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import SluiceCore
import SluiceSources

/// `POST /v1/feeds/{feed}/events` and the Chronicle-compatible
/// `POST /v1alpha/projects/{p}/locations/{l}/instances/{i}/feeds/{feed}:importPushLogs`.
struct PushController: Sendable {
    let feeds: [String: PushFeed]
    /// Secrets issued through the API or CLI, accepted beside the config file's.
    let credentials: CredentialRegistry
    let authenticator: FeedAuthenticator
    let ingestor: PushIngestor
    let now: @Sendable () -> Timestamp
    /// Where `feed.auth_failed` summaries go.
    let auditLog: any EventStore
    let failures = AuthFailureSummaries(action: "feed.auth_failed", targetType: "feed")
    let metrics: PushMetrics

    func addRoutes(to router: Router<SluiceRequestContext>) {
        router.post("v1/feeds/:feed/events", use: push)
        for version in ["v1", "v1beta", "v1alpha"] {
            router.post("\(version)/projects/:project/locations/:location/instances/:instance/feeds/{feed}:importPushLogs", use: push)
        }
    }

    @Sendable func push(request: Request, context: SluiceRequestContext) async throws -> Response {
        let feedName = context.parameters.get("feed") ?? ""
        guard let feed = feeds[feedName] else {
            metrics.rejected(feed: "unknown", reason: "unknown_feed")
            throw APIError(.notFound, "no feed named \"\(feedName)\" is configured on this Sluice instance")
        }
        let credentials = PushCredentials(
            accessKeyHeader: request.headers[PushHeaders.accessKey],
            apiKeyHeader: request.headers[PushHeaders.apiKey],
            authorization: request.headers[.authorization],
            secretParameter: request.uri.queryParameters["secret"].map(String.init),
            keyParameter: request.uri.queryParameters["key"].map(String.init),
            webhookID: request.headers[PushHeaders.webhookID],
            webhookTimestamp: request.headers[PushHeaders.webhookTimestamp],
            webhookSignature: request.headers[PushHeaders.webhookSignature]
        )
        let receivedAt = now()
        // Shared secrets and bearer tokens are checked before the body is read, so an
        // unauthenticated sender cannot make the server buffer megabytes.
        var webhookID: String?
        if case .standardWebhooks = feed.authentication {} else {
            webhookID = try await authenticate(credentials, feed: feed, body: [], at: receivedAt, request: request, context: context)
        }
        var body: ByteBuffer
        do {
            body = try await readBody(request, limit: feed.limits.maxBodyBytes)
        } catch let rejection as PushRejection {
            metrics.rejected(feed: feed.name, reason: rejection.reason)
            throw APIError(.contentTooLarge, rejection.message, headers: [.connection: "close"])
        }
        if case .standardWebhooks = feed.authentication {
            let bytes = body.getBytes(at: body.readerIndex, length: body.readableBytes) ?? []
            webhookID = try await authenticate(credentials, feed: feed, body: bytes, at: receivedAt, request: request, context: context)
        }
        let events: [DecodedEvent]
        do {
            events = try PushBodyDecoder(limits: feed.limits).decode(body: body, contentEncoding: request.headers[.contentEncoding])
        } catch {
            metrics.rejected(feed: feed.name, reason: error.reason)
            context.logger.debug("push refused", metadata: ["feed.name": "\(feed.name)", "push.reason": "\(error.reason)"])
            throw APIError(HTTPResponse.Status(code: error.status), error.message)
        }
        body = ByteBuffer()
        let result: AppendResult
        do {
            result = try await ingestor.ingest(events, feed: feed, webhookID: webhookID, receivedAt: receivedAt)
        } catch {
            metrics.rejected(feed: feed.name, reason: "store_\(error.shortDescription)")
            context.logger.error("push not stored", metadata: ["feed.name": "\(feed.name)", "error": "\(error)"])
            throw APIError.from(error)
        }
        metrics.accepted(feed: feed.name, result: result)
        return .json(Array("{\"accepted\":\(result.accepted),\"duplicates\":\(result.duplicates)}\n".utf8))
    }

    private func authenticate(
        _ credentials: PushCredentials, feed: PushFeed, body: [UInt8], at time: Timestamp, request: Request, context: SluiceRequestContext
    ) async throws -> String? {
        var authentication = feed.authentication
        switch authentication {
        case .sharedSecret(let configured): authentication = .sharedSecret(configured + self.credentials.feedSecrets(feed.name, at: time))
        case .bearer(let configured): authentication = .bearer(configured + self.credentials.feedSecrets(feed.name, at: time))
        case .standardWebhooks: break
        }
        switch authenticator.authenticate(credentials, with: authentication, body: body, now: time) {
        case .accepted(let webhookID):
            return webhookID
        case .refused(let reason):
            metrics.rejected(feed: feed.name, reason: "unauthorized")
            metrics.authFailure(feed: feed.name, reason: reason)
            context.logger.debug("push authentication failed", metadata: ["feed.name": "\(feed.name)", "auth.reason": "\(reason)"])
            let ip = context.remoteAddress?.ipAddress
            if let summary = failures.note(scope: feed.name, ip: ip, reason: reason, userAgent: request.headers[.userAgent], at: time) {
                // Best effort: a store that cannot take it still has the metric, and the sender gets its 401 either way.
                do {
                    try await auditLog.record(summary)
                } catch {
                    context.logger.warning("could not record a push authentication failure", metadata: ["feed.name": "\(feed.name)", "error": "\(error)"])
                }
            }
            throw APIError.unauthorizedPush
        }
    }

    /// Reads the body up to `limit` bytes; a declared or actual size over the limit stops reading at once.
    private func readBody(_ request: Request, limit: Int) async throws -> ByteBuffer {
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit {
            throw PushRejection(.bodyTooLarge, "the body is \(declared) bytes, over this feed's limit of \(limit) bytes; send smaller batches")
        }
        var collected = ByteBuffer()
        for try await chunk in request.body {
            if collected.readableBytes + chunk.readableBytes > limit {
                throw PushRejection(.bodyTooLarge, "the body is over this feed's limit of \(limit) bytes; send smaller batches")
            }
            var chunk = chunk
            collected.writeBuffer(&chunk)
        }
        return collected
    }
}

enum PushHeaders {
    static let accessKey = HTTPField.Name("X-Webhook-Access-Key")!
    static let apiKey = HTTPField.Name("X-goog-api-key")!
    static let webhookID = HTTPField.Name("webhook-id")!
    static let webhookTimestamp = HTTPField.Name("webhook-timestamp")!
    static let webhookSignature = HTTPField.Name("webhook-signature")!
}

/// Push counters: process-wide metrics, and the per-feed 24-hour activity the web UI shows.
struct PushMetrics: Sendable {
    let activity: FeedActivity

    func accepted(feed: String, result: AppendResult) {
        Counter(label: "sluice_push_requests_total", dimensions: [("feed", feed), ("outcome", "accepted")]).increment()
        if result.accepted > 0 {
            Counter(label: "sluice_events_total", dimensions: [("feed", feed), ("outcome", "accepted")]).increment(by: result.accepted)
        }
        if result.duplicates > 0 {
            Counter(label: "sluice_events_total", dimensions: [("feed", feed), ("outcome", "duplicate")]).increment(by: result.duplicates)
        }
        activity.accepted(feed: feed, events: result.accepted, duplicates: result.duplicates)
    }

    func rejected(feed: String, reason: String) {
        Counter(label: "sluice_push_requests_total", dimensions: [("feed", feed), ("outcome", "rejected"), ("reason", reason)]).increment()
        activity.rejected(feed: feed, reason: reason)
    }

    func authFailure(feed: String, reason: String) {
        Counter(label: "sluice_push_auth_failures_total", dimensions: [("feed", feed), ("reason", reason)]).increment()
    }
}
