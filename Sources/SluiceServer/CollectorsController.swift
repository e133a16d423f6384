import Hummingbird
import NIOCore
import SluiceCore
import SluiceSources

/// `GET /v1/collectors`, `POST /v1/collectors/{name}/run` and
/// `POST /v1/collectors/{name}/streams/{stream}/rewind`.
struct CollectorsController: Sendable {
    let control: (any CollectorControl)?

    func addRoutes(to group: RouterGroup<SluiceRequestContext>) {
        group.get("collectors", use: list)
        group.post("collectors/{name}/run", use: run)
        group.post("collectors/{name}/streams/{stream}/rewind", use: rewind)
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
            switch error.code {
            case .conflict: throw APIError(.conflict, error.message)
            case .rejected: throw APIError(.notFound, error.message)
            default: throw APIError(.serviceUnavailable, error.message)
            }
        }
        var out: [UInt8] = []
        JSONValue.object([
            JSONMember("collector", .string(name)), JSONMember("stream", .string(stream)), JSONMember("rewound_to", .string(time.rfc3339)),
        ]).write(into: &out, sortedKeys: false)
        return .json(out)
    }

    /// Stored JSON shown as JSON, not as a string holding JSON.
    static func embedded(_ text: String?) -> JSONValue {
        guard let text, let value = try? JSONParser.parse(Array(text.utf8)) else { return .null }
        return value
    }
}
