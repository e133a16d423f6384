import HTTPTypes
import Hummingbird
import Metrics
import NIOCore
import Prometheus
import SluiceCore
import SluiceSources

/// `/healthz`, `/readyz`, `/metrics` and `GET /v1/feeds`.
struct OperationsController: Sendable {
    let store: any EventStore
    let storeSize: @Sendable () async -> Int64
    let readinessProblem: @Sendable () async -> String?
    let prometheus: PrometheusCollectorRegistry?
    let feeds: [String: PushFeed]
    let ingestionKeyConfigured: Bool

    func addRoutes(to router: Router<SluiceRequestContext>) {
        router.get("healthz") { _, _ in
            Response.json(Array("{\"status\":\"alive\"}\n".utf8))
        }
        router.get("readyz", use: ready)
        router.get("metrics", use: metrics)
    }

    func addAdminRoutes(to group: RouterGroup<SluiceRequestContext>) {
        group.get("feeds", use: listFeeds)
    }

    @Sendable func ready(request: Request, context: SluiceRequestContext) async throws -> Response {
        do {
            try await store.checkHealth()
        } catch {
            throw APIError(.serviceUnavailable, "not ready: \(error.shortDescription) event store (\(error.message))")
        }
        if let problem = await readinessProblem() {
            throw APIError(.serviceUnavailable, "not ready: \(problem)")
        }
        return .json(Array("{\"status\":\"ready\"}\n".utf8))
    }

    @Sendable func metrics(request: Request, context: SluiceRequestContext) async throws -> Response {
        guard let prometheus else {
            throw APIError(.notFound, "metrics are not enabled in this process")
        }
        Gauge(label: "sluice_store_size_bytes").record(await storeSize())
        var buffer: [UInt8] = []
        prometheus.emit(into: &buffer)
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: buffer))
        )
    }

    @Sendable func listFeeds(request: Request, context: SluiceRequestContext) async throws -> Response {
        var out: [UInt8] = Array("{\"feeds\":[".utf8)
        for (i, name) in feeds.keys.sorted().enumerated() {
            let feed = feeds[name]!
            if i > 0 { out.append(UInt8(ascii: ",")) }
            let object = JSONValue.object([
                JSONMember("name", .string(feed.name)),
                JSONMember("log_type", .string(feed.logType)),
                JSONMember("auth", .string(feed.authentication.modeName)),
                JSONMember("requires_ingestion_key", .bool(ingestionKeyConfigured && feed.authentication.modeName == "shared_secret")),
                JSONMember("normalizer", .string(feed.normalizer.schema.rawValue)),
                JSONMember("path", .string("/v1/feeds/\(feed.name)/events")),
                JSONMember("max_body_bytes", .number(String(feed.limits.maxBodyBytes))),
            ])
            object.write(into: &out, sortedKeys: false)
        }
        out.append(contentsOf: "]}\n".utf8)
        return .json(out)
    }
}
