import Foundation
import Hummingbird
import SluiceCore

/// The pictures above the audit log: volume over time and the top values of some fields, for a
/// filter. One use case for the API (`/v1/events/histogram`, `/v1/events/facets`) and the UI
/// (`/ui/events`), so both parse, bound and answer alike.
struct EventOverview: Sendable {
    let store: any EventStore

    /// Histogram parameters beside the filter's.
    struct HistogramRequest: Sendable {
        var buckets = 60
        var width: HistogramWidth?
        var zone = TimeZone(identifier: "UTC")!
        var zoneName = "UTC"
    }

    /// Facet parameters beside the filter's.
    struct FacetRequest: Sendable {
        static let defaultFields: [FacetField] = [.action, .actor, .target, .feed]
        var fields = FacetRequest.defaultFields
        var limit = 10
    }

    static let histogramParameters: Set<String> = ["buckets", "width", "tz"]
    static let facetParameters: Set<String> = ["fields", "limit"]

    static func histogramRequest(_ query: Parameters) throws(APIError) -> HistogramRequest {
        var request = HistogramRequest()
        if let v = query["buckets"] {
            guard let n = Int(v), n >= 1, n <= HistogramPlan.maximumBuckets else {
                throw APIError(.badRequest, "buckets=\(v) must be a whole number from 1 to \(HistogramPlan.maximumBuckets)")
            }
            request.buckets = n
        }
        if let v = query["width"], !v.isEmpty {
            guard let width = HistogramWidth(text: String(v)) else {
                throw APIError(.badRequest, "width=\(v) is not a bucket width; use a whole number of s, m, h or d, such as 30s, 5m, 1h or 1d")
            }
            request.width = width
        }
        if let v = query["tz"], !v.isEmpty {
            guard let zone = HistogramPlan.zone(named: String(v)) else {
                throw APIError(.badRequest, "tz=\(v) is not a time zone; use an IANA name such as Europe/Berlin, UTC, or an offset such as +05:30")
            }
            request.zone = zone
            request.zoneName = String(v)
        }
        return request
    }

    static func facetRequest(_ query: Parameters) throws(APIError) -> FacetRequest {
        var request = FacetRequest()
        if let v = query["fields"] {
            var fields: [FacetField] = []
            for name in v.split(separator: ",", omittingEmptySubsequences: false) {
                guard let field = FacetField(rawValue: String(name)) else {
                    throw APIError(.badRequest, "fields: \"\(name)\" is not a field with facets; use any of \(FacetField.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                if !fields.contains(field) { fields.append(field) }
            }
            request.fields = fields
        }
        if let v = query["limit"] {
            guard let n = Int(v), n >= 1, n <= FacetScan.maximumLimit else {
                throw APIError(.badRequest, "limit=\(v) must be a whole number from 1 to \(FacetScan.maximumLimit)")
            }
            request.limit = n
        }
        return request
    }

    /// The buckets for `filter` and their counts. Without `since`, the range starts at the
    /// oldest stored event; without `until`, it ends now (or after the newest event, when one
    /// lies in the future).
    func histogram(_ filter: EventFilter, _ request: HistogramRequest, now: Timestamp) async throws -> (HistogramBuckets, EventCounts) {
        var since = filter.since
        var until = filter.until
        if since == nil || until == nil {
            let range = try await storeCall { try await store.occurredRange() }
            since = since ?? range?.lowerBound ?? (until ?? now) - .seconds(86_400)
            until = until ?? max(now, (range?.upperBound ?? now) + .microseconds(1))
            if since! >= until! { since = until! - .seconds(60) }
        }
        let buckets: HistogramBuckets
        do {
            buckets = try HistogramPlan.buckets(since: since!, until: until!, buckets: request.buckets, width: request.width, zone: request.zone)
        } catch {
            throw APIError(.badRequest, error.message)
        }
        let counts = try await storeCall { try await store.eventCounts(matching: filter, buckets: buckets) }
        return (buckets, counts)
    }

    func facets(_ filter: EventFilter, _ request: FacetRequest) async throws -> EventFacets {
        try await storeCall { try await store.facets(matching: filter, fields: request.fields, limit: request.limit) }
    }

    static func histogramJSON(_ buckets: HistogramBuckets, _ counts: EventCounts, zoneName: String) -> JSONValue {
        var rows: [JSONValue] = []
        for i in 0..<buckets.count {
            rows.append(.object([
                JSONMember("start", .string(buckets.edges[i].rfc3339)),
                JSONMember("end", .string(buckets.edges[i + 1].rfc3339)),
                JSONMember("events", .number(String(counts.counts[i]))),
            ]))
        }
        return .object([
            JSONMember("width", .string(buckets.width.description)),
            JSONMember("tz", .string(zoneName)),
            JSONMember("total", .number(String(counts.counts.reduce(0, +)))),
            JSONMember("complete", .bool(counts.complete)),
            JSONMember("counted_from", counts.countedFrom.map { .string($0.rfc3339) } ?? .null),
            JSONMember("buckets", .array(rows)),
        ])
    }

    static func facetsJSON(_ facets: EventFacets, fields: [FacetField]) -> JSONValue {
        .object([
            JSONMember("events_counted", .number(String(facets.eventsCounted))),
            JSONMember("complete", .bool(facets.complete)),
            JSONMember("fields", .object(fields.map { field in
                JSONMember(field.rawValue, .array((facets.fields[field] ?? []).map { value in
                    .object([JSONMember("value", .string(value.value)), JSONMember("events", .number(String(value.events)))])
                }))
            })),
        ])
    }
}
