import Hummingbird
import NIOCore
import SluiceCore
import SluiceSources

/// `GET /v1/collectors`, `POST /v1/collectors/{name}/run`,
/// `POST /v1/collectors/{name}/streams/{stream}/rewind` and `POST /v1/collectors/{name}/backfill`.
struct CollectorsController: Sendable {
    let control: (any CollectorControl)?

    func addRoutes(to group: RouterGroup<SluiceRequestContext>) {
        group.get("collectors", use: list)
        group.post("collectors/{name}/run", use: run)
        group.post("collectors/{name}/streams/{stream}/rewind", use: rewind)
        group.post("collectors/{name}/backfill", use: backfill)
    }

    @Sendable func list(request: Request, context: SluiceRequestContext) async throws -> Response {
        let statuses: [CollectorStatus]
        do {
            statuses = try await control?.statuses() ?? []
        } catch {
            throw APIError.from(error)
        }
        let collectors = statuses.map { status in
            JSONValue.object([
                JSONMember("name", .string(status.name)),
                JSONMember("type", .string(status.type)),
                JSONMember("base_url", .string(status.baseURL)),
                JSONMember("schedule", .string(status.schedule)),
                JSONMember("next_run", status.nextRun.map { .string($0.rfc3339) } ?? .null),
                JSONMember("streams", .array(status.streams.map { stream in
                    .object([
                        JSONMember("stream", .string(stream.stream)),
                        JSONMember("running", .bool(stream.running)),
                        JSONMember("checkpoint", Self.embedded(stream.checkpoint)),
                        JSONMember("checkpoint_version", .number(String(stream.checkpointVersion))),
                        JSONMember("checkpoint_updated_at", stream.checkpointUpdatedAt.map { .string($0.rfc3339) } ?? .null),
                        JSONMember("last_run", Self.embedded(stream.lastRun)),
                    ])
                })),
            ])
        }
        var out: [UInt8] = []
        JSONValue.object([JSONMember("collectors", .array(collectors))]).write(into: &out, sortedKeys: false)
        out.append(0x0A)
        return .json(out)
    }

    @Sendable func run(request: Request, context: SluiceRequestContext) async throws -> Response {
        let name = try context.parameters.require("name")
        let requested: Bool
        do {
            requested = try await control?.requestRun(name, by: context.requester(request)) ?? false
        } catch {
            throw APIError.from(error)
        }
        guard requested else {
            throw APIError(.notFound, "no collector named \"\(name)\"; GET /v1/collectors lists them")
        }
        var out: [UInt8] = []
        JSONValue.object([JSONMember("collector", .string(name)), JSONMember("run", .string("requested"))]).write(into: &out, sortedKeys: false)
        return .json(out, status: .accepted)
    }

    @Sendable func rewind(request: Request, context: SluiceRequestContext) async throws -> Response {
        let name = try context.parameters.require("name")
        let stream = try context.parameters.require("stream")
        guard let control else { throw APIError(.notFound, "no collector named \"\(name)\"") }
        let body = try await request.body.collect(upTo: 64 << 10)
        guard let json = try? JSONParser.parse(Array(body.readableBytesView)),
              let text = json["to"]?.stringValue, let time = Timestamp(rfc3339: text)
        else {
            throw APIError(.badRequest, "send {\"to\": \"<RFC 3339 time>\"}: the time the stream's next run reads from")
        }
        do {
            try await control.rewind(name, stream: stream, to: time, by: context.requester(request))
        } catch {
            throw APIError.from(error)
        }
        var out: [UInt8] = []
        JSONValue.object([
            JSONMember("collector", .string(name)), JSONMember("stream", .string(stream)), JSONMember("rewound_to", .string(time.rfc3339)),
        ]).write(into: &out, sortedKeys: false)
        return .json(out)
    }

    /// `{"since": T, "until": T}`: the file events and audit log of that window are read again,
    /// beside the live checkpoints (duplicates are recognized and not stored twice).
    @Sendable func backfill(request: Request, context: SluiceRequestContext) async throws -> Response {
        let name = try context.parameters.require("name")
        guard let control else { throw APIError(.notFound, "no collector named \"\(name)\"") }
        let body = try await request.body.collect(upTo: 64 << 10)
        guard let json = try? JSONParser.parse(Array(body.readableBytesView)),
              let since = json["since"]?.stringValue.flatMap(Timestamp.init(rfc3339:)),
              let until = json["until"]?.stringValue.flatMap(Timestamp.init(rfc3339:)), since < until
        else {
            throw APIError(.badRequest, "send {\"since\": \"<RFC 3339 time>\", \"until\": \"<later RFC 3339 time>\"}")
        }
        do {
            try await control.requestBackfill(name, window: since...until, by: context.requester(request))
        } catch {
            throw APIError.from(error)
        }
        return Response.json(
            .object([JSONMember("collector", .string(name)), JSONMember("backfill", .object([
                JSONMember("since", .string(since.rfc3339)), JSONMember("until", .string(until.rfc3339)),
            ]))]),
            status: .accepted
        )
    }

    /// Stored JSON shown as JSON, not as a string holding JSON.
    static func embedded(_ text: String?) -> JSONValue {
        guard let text, let value = try? JSONParser.parse(Array(text.utf8)) else { return .null }
        return value
    }
}
