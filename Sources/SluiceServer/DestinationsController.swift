import Foundation
import Hummingbird
import NIOCore
import SluiceCore
import SluiceDestinations

/// `GET /v1/destinations`, dead-letter listing and re-drive, and replays.
struct DestinationsController: Sendable {
    let control: (any DestinationControl)?

    func addRoutes(to group: RouterGroup<SluiceRequestContext>) {
        group.get("destinations", use: list)
        group.get("destinations/{name}/dead-letters", use: deadLetters)
        group.post("destinations/{name}/dead-letters/redrive", use: redrive)
        group.post("destinations/{name}/replay", use: replay)
        group.post("destinations/{name}/pause", use: pause)
        group.post("destinations/{name}/resume", use: resume)
    }

    @Sendable func list(request: Request, context: SluiceRequestContext) async throws -> Response {
        let statuses: [DestinationStatus]
        do {
            statuses = try await control?.statuses() ?? []
        } catch {
            throw APIError.from(error)
        }
        let destinations = statuses.map { s in
            JSONValue.object([
                JSONMember("name", .string(s.name)),
                JSONMember("type", .string(s.type)),
                JSONMember("cursor", .number(String(s.cursor))),
                JSONMember("lag_events", .number(String(s.lagEvents))),
                JSONMember("lag_events_capped", .bool(s.lagEventsCapped)),
                JSONMember("lag_seconds", .number(String(format: "%.3f", s.lagSeconds))),
                JSONMember("lag_last_hour", .array(s.lagLastHour.map { $0.map { .number(String(format: "%.3f", $0)) } ?? .null })),
                JSONMember("last_success", s.lastSuccess.map { .string($0.rfc3339) } ?? .null),
                JSONMember("last_error", s.lastError.map { .string($0) } ?? .null),
                JSONMember("last_error_at", s.lastErrorAt.map { .string($0.rfc3339) } ?? .null),
                JSONMember("paused", .bool(s.pausedReason != nil)),
                JSONMember("paused_reason", s.pausedReason.map { .string($0) } ?? .null),
                JSONMember("dead_letters", .number(String(s.deadLetters))),
                JSONMember("delivered", .number(String(s.delivered))),
                JSONMember("retried", .number(String(s.retried))),
                JSONMember("dead_lettered", .number(String(s.deadLettered))),
                JSONMember("replays", .array(s.openReplays.map(Self.render))),
            ])
        }
        return Response.json(.object([JSONMember("destinations", .array(destinations))]))
    }

    @Sendable func deadLetters(request: Request, context: SluiceRequestContext) async throws -> Response {
        let name = try context.parameters.require("name")
        let after = Int64(request.uri.queryParameters.get("after") ?? "0") ?? -1
        let limit = Int(request.uri.queryParameters.get("limit") ?? "100") ?? -1
        guard after >= 0, (1...1_000).contains(limit) else {
            throw APIError(.badRequest, "after must be a seq (0 or more) and limit a number from 1 to 1000")
        }
        let letters = try await call { (control) async throws(DeliveryControlError) in try await control.deadLetters(name, afterSeq: after, limit: limit) }
        let items = letters.map { letter in
            JSONValue.object([
                JSONMember("seq", .number(String(letter.seq))),
                JSONMember("reason", .string(letter.reason)),
                JSONMember("created_at", .string(letter.createdAt.rfc3339)),
                JSONMember("attempts", .number(String(letter.attempts))),
                JSONMember("redrive_requested", .bool(letter.redriveRequested)),
            ])
        }
        var members = [JSONMember("destination", .string(name)), JSONMember("dead_letters", .array(items))]
        if letters.count == limit, let last = letters.last { members.append(JSONMember("next_after", .number(String(last.seq)))) }
        return Response.json(.object(members))
    }

    @Sendable func redrive(request: Request, context: SluiceRequestContext) async throws -> Response {
        let name = try context.parameters.require("name")
        let body = try await request.body.collect(upTo: 1 << 20)
        var seqs: [Int64]?
        if body.readableBytes > 0 {
            guard let json = try? JSONParser.parse(Array(body.readableBytesView)), case .object = json else {
                throw APIError(.badRequest, "send {} to re-drive every dead letter, or {\"seqs\": [12, 13]} for some")
            }
            if let list = json["seqs"] {
                guard case .array(let items) = list else { throw APIError(.badRequest, "seqs must be a list of event seq numbers") }
                seqs = try items.map { item in
                    guard case .number(let n) = item, let seq = Int64(n) else { throw APIError(.badRequest, "seqs must be a list of event seq numbers") }
                    return seq
                }
            }
        }
        let requester = context.requester(request)
        let marked = try await call { (control) async throws(DeliveryControlError) in try await control.redrive(name, seqs: seqs, by: requester) }
        return Response.json(.object([JSONMember("destination", .string(name)), JSONMember("redrive_requested", .number(String(marked)))]), status: .accepted)
    }

    @Sendable func replay(request: Request, context: SluiceRequestContext) async throws -> Response {
        let name = try context.parameters.require("name")
        let body = try await request.body.collect(upTo: 64 << 10)
        guard let json = try? JSONParser.parse(Array(body.readableBytesView)),
              let sinceText = json["since"]?.stringValue, let since = Timestamp(rfc3339: sinceText)
        else {
            throw APIError(.badRequest, "send {\"since\": \"<RFC 3339 time>\", \"until\": \"<RFC 3339 time, optional>\"}: the events that occurred in that range are sent again")
        }
        var until = Timestamp.noEnd
        if let untilValue = json["until"] {
            guard let text = untilValue.stringValue, let parsed = Timestamp(rfc3339: text) else {
                throw APIError(.badRequest, "until must be an RFC 3339 time such as 2026-11-22T00:00:00Z")
            }
            until = parsed
        }
        let requester = context.requester(request)
        let job = try await call { (control) async throws(DeliveryControlError) in try await control.replay(name, since: since, until: until, by: requester) }
        return Response.json(.object([JSONMember("destination", .string(name)), JSONMember("replay", Self.render(job))]), status: .accepted)
    }

    /// `{"reason": "…"}` (required: the audit log and status say why); 200 with `changed` false when already paused.
    @Sendable func pause(request: Request, context: SluiceRequestContext) async throws -> Response {
        let name = try context.parameters.require("name")
        let body = try await request.body.collect(upTo: 64 << 10)
        guard let json = try? JSONParser.parse(Array(body.readableBytesView)), let reason = json["reason"]?.stringValue else {
            throw APIError(.badRequest, "send {\"reason\": \"why delivery stops\"} (1 to 500 characters); status and the audit log show it")
        }
        let requester = context.requester(request)
        let changed = try await call { (control) async throws(DeliveryControlError) in try await control.setPaused(name, reason: reason, by: requester) }
        return Response.json(.object([JSONMember("destination", .string(name)), JSONMember("paused", .bool(true)), JSONMember("changed", .bool(changed))]))
    }

    @Sendable func resume(request: Request, context: SluiceRequestContext) async throws -> Response {
        let name = try context.parameters.require("name")
        let requester = context.requester(request)
        let changed = try await call { (control) async throws(DeliveryControlError) in try await control.setPaused(name, reason: nil, by: requester) }
        return Response.json(.object([JSONMember("destination", .string(name)), JSONMember("paused", .bool(false)), JSONMember("changed", .bool(changed))]))
    }

    /// Runs an operator's action through the one ``DestinationAdministration`` the CLI uses too.
    func call<T>(_ body: (DestinationAdministration) async throws(DeliveryControlError) -> T) async throws -> T {
        guard let control else { throw APIError(.notFound, "no destinations are configured") }
        do {
            return try await body(control.administration)
        } catch {
            throw APIError.from(error)
        }
    }

    static func render(_ job: ReplayJob) -> JSONValue {
        .object([
            JSONMember("id", .number(String(job.id))),
            JSONMember("since", .string(job.since.rfc3339)),
            JSONMember("until", job.until.jsonValue),
            JSONMember("sent", .number(String(job.sent))),
            JSONMember("created_at", .string(job.createdAt.rfc3339)),
            JSONMember("finished_at", job.finishedAt.map { .string($0.rfc3339) } ?? .null),
        ])
    }
}
