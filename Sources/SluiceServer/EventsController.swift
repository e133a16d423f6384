import HTTPTypes
import Logging
import Hummingbird
import NIOCore
import SluiceCore
import SluiceIntegrity

/// `GET /v1/events`, `GET /v1/events/export`, `GET /v1/events/histogram`,
/// `GET /v1/events/facets`, `GET /v1/events/{id}`.
struct EventsController: Sendable {
    let store: any EventStore
    let now: @Sendable () -> Timestamp

    func addRoutes(to group: RouterGroup<SluiceRequestContext>) {
        group.get("events", use: list)
        group.get("events/export", use: export)
        group.get("events/histogram", use: histogram)
        group.get("events/facets", use: facets)
        group.get("events/:id", use: show)
    }

    @Sendable func list(request: Request, context: SluiceRequestContext) async throws -> Response {
        let query = request.uri.formQueryParameters
        let filter = try EventFilterParser.parse(query)
        let limit = try EventFilterParser.limit(query, default: 100, max: 1000)
        var cursor: EventCursor?
        if let token = query["cursor"] {
            guard let parsed = EventCursor(token: String(token)) else {
                throw APIError(.badRequest, "cursor \"\(token)\" is not a cursor this server issued; pass next_cursor from a previous page")
            }
            cursor = parsed
        }
        let page = try await storeCall { try await store.events(matching: filter, after: cursor, limit: limit) }
        var out: [UInt8] = Array("{\"events\":[".utf8)
        for (i, event) in page.events.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            event.writeJSON(into: &out)
        }
        out.append(contentsOf: "],\"next_cursor\":".utf8)
        if let next = page.nextCursor { JSONValue.writeString(next.token, into: &out) } else { out.append(contentsOf: "null".utf8) }
        if page.partial { out.append(contentsOf: ",\"partial\":true".utf8) }
        out.append(contentsOf: "}\n".utf8)
        return .json(out)
    }

    @Sendable func histogram(request: Request, context: SluiceRequestContext) async throws -> Response {
        let query = request.uri.formQueryParameters
        let filter = try EventFilterParser.parse(query, also: EventOverview.histogramParameters, listing: false)
        let parameters = try EventOverview.histogramRequest(query)
        let (buckets, counts) = try await EventOverview(store: store).histogram(filter, parameters, now: now())
        return .json(EventOverview.histogramJSON(buckets, counts, zoneName: parameters.zoneName))
    }

    @Sendable func facets(request: Request, context: SluiceRequestContext) async throws -> Response {
        let query = request.uri.formQueryParameters
        let filter = try EventFilterParser.parse(query, also: EventOverview.facetParameters, listing: false)
        let parameters = try EventOverview.facetRequest(query)
        let facets = try await EventOverview(store: store).facets(filter, parameters)
        return .json(EventOverview.facetsJSON(facets, fields: parameters.fields))
    }

    @Sendable func show(request: Request, context: SluiceRequestContext) async throws -> Response {
        let text = context.parameters.get("id") ?? ""
        guard let id = EventID(text) else {
            throw APIError(.badRequest, "\"\(text)\" is not an event id (26 characters, as in the id field of /v1/events)")
        }
        guard let event = try await storeCall({ try await store.event(id: id) }) else {
            throw APIError(.notFound, "no event with id \(id)")
        }
        var out: [UInt8] = []
        event.writeJSON(into: &out)
        out.append(0x0A)
        return .json(out)
    }

    @Sendable func export(request: Request, context: SluiceRequestContext) async throws -> Response {
        let query = request.uri.formQueryParameters
        let filter = try EventFilterParser.parse(query)
        let proof: Bool
        switch query["proof"].map(String.init) {
        case nil, "false": proof = false
        case "true": proof = true
        case let other?: throw APIError(.badRequest, "proof=\(other) must be true or false")
        }
        return try await Self.exportResponse(
            store: store, filter: filter, format: query["format"].map(String.init) ?? "ndjson", filename: "sluice-events", proof: proof, logger: context.logger
        )
    }
}

extension EventsController {
    /// A streamed export of `filter` in the format named by `formatText` (csv or ndjson), as an
    /// attachment; with `proof`, the proof lines of `sluice events export --with-proof` follow the
    /// events in the same NDJSON stream (docs/integrity.md).
    static func exportResponse(
        store: any EventStore, filter: EventFilter, format formatText: String, filename: String, proof: Bool = false, logger: Logger
    ) async throws -> Response {
        guard let format = ExportFormat(rawValue: formatText) else {
            throw APIError(.badRequest, "format \"\(formatText)\" is not supported; use format=csv or format=ndjson")
        }
        if proof && format != .ndjson { throw APIError(.badRequest, "proof=true needs format=ndjson") }
        // Fail before the 200 is sent if the store cannot answer at all.
        do {
            try await store.checkHealth()
        } catch {
            throw APIError.from(error, reading: true)
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: format.contentType, .contentDisposition: "attachment; filename=\"\(filename).\(format.fileExtension)\"",
                .cacheControl: "no-store",
            ],
            body: exportBody(EventExporter(store: store, filter: filter, format: format), proof: proof ? ExportProofs(store: store) : nil, logger: logger)
        )
    }

    static func exportBody(_ exporter: EventExporter, proof: ExportProofs? = nil, logger: Logger) -> ResponseBody {
        ResponseBody { writer in
            var exporter = exporter
            exporter.recordsSeqs = proof != nil
            do {
                while let chunk = try await exporter.next() {
                    try await writer.write(ByteBuffer(bytes: chunk))
                }
                if let proof {
                    for line in try await proof.lines(for: exporter.seqs) { try await writer.write(ByteBuffer(bytes: line)) }
                }
            } catch {
                logger.error("export stopped", metadata: ["error": "\(error)"])
                throw error
            }
            try await writer.finish(nil)
        }
    }
}

/// Runs a store call and maps its failure to an API error.
func storeCall<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as StoreError {
        throw APIError.from(error, reading: true)
    }
}

/// Parses the shared filter query parameters, naming the parameter that is wrong.
public enum EventFilterParser {
    static let filters: Set<String> = ["feed", "log_type", "actor", "actor_type", "action", "target", "target_type", "since", "until", "q"]

    /// The filter of a listing or export, which also take `limit`, `cursor`, `format`, `proof`.
    public static func parse(_ query: Parameters) throws(APIError) -> EventFilter {
        try parse(query, also: [], listing: true)
    }

    /// The filter, allowing `also` beside the filter parameters (and a listing's, when `listing`).
    static func parse(_ query: Parameters, also: Set<String>, listing: Bool) throws(APIError) -> EventFilter {
        func text(_ name: String) -> String? {
            guard let v = query[Substring(name)], !v.isEmpty else { return nil }
            return String(v)
        }
        func time(_ name: String) throws(APIError) -> Timestamp? { try Self.time(query, name) }
        let known = filters.union(also).union(listing ? ["limit", "cursor", "format", "proof"] : [])
        for (name, _) in query where !known.contains(String(name)) {
            throw APIError(.badRequest, "unknown query parameter \"\(name)\"; this endpoint takes \(known.sorted().joined(separator: ", "))")
        }
        let filter = EventFilter(
            source: text("feed"), logType: text("log_type"), actor: text("actor"), actorType: text("actor_type"),
            action: text("action").map(ActionMatch.init), target: text("target"), targetType: text("target_type"),
            since: try time("since"), until: try time("until"), text: text("q")
        )
        if let since = filter.since, let until = filter.until, since >= until {
            throw APIError(.badRequest, "since (\(since)) must be before until (\(until))")
        }
        return filter
    }

    /// The time in query parameter `name` (RFC 3339 or a date); nil when absent or empty.
    static func time(_ query: Parameters, _ name: String) throws(APIError) -> Timestamp? {
        guard let v = query[Substring(name)], !v.isEmpty else { return nil }
        guard let t = Timestamp(rfc3339: String(v)) else {
            throw APIError(.badRequest, "\(name)=\(v) is not a time; use RFC 3339 such as 2026-01-31T00:00:00Z or a date such as 2026-01-31")
        }
        return t
    }

    static func limit(_ query: Parameters, default defaultValue: Int, max: Int) throws(APIError) -> Int {
        guard let v = query["limit"] else { return defaultValue }
        guard let n = Int(v), n >= 1, n <= max else {
            throw APIError(.badRequest, "limit=\(v) must be a whole number from 1 to \(max)")
        }
        return n
    }
}
