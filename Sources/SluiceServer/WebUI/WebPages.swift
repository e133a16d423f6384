import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore
import SluiceCore

/// What every page of the web UI shares: the response with its security headers, redirects,
/// links with query strings, and who made a change for the audit log.
enum WebPages {

    static func page(_ template: String, _ values: [String: Any], status: HTTPResponse.Status) -> Response {
        Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                .contentSecurityPolicy: "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                HTTPField.Name("X-Content-Type-Options")!: "nosniff", HTTPField.Name("Referrer-Policy")!: "no-referrer",
            ],
            body: .init(byteBuffer: ByteBuffer(string: WebTemplates.render(template, values)))
        )
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    static func user(_ session: WebSessions.Session) -> [String: Any] {
        ["name": session.name, "role": session.role.rawValue]
    }

    /// Whether the browser reached Sluice over TLS (directly or through a proxy that says so), for `Secure` cookies.
    static func isTLS(_ request: Request) -> Bool {
        request.uri.scheme == .https || request.headers[HTTPField.Name("X-Forwarded-Proto")!]?.lowercased() == "https"
    }

    static func requester(name: String, request: Request, context: SluiceRequestContext) -> AuditRequester {
        AuditRequester(
            actor: AdminAuditEntry.user(name), context: AuditContext(location: context.remoteAddress?.ipAddress, userAgent: request.headers[.userAgent])
        )
    }

    static func link(_ path: String, _ parameters: [(String, String)]) -> String {
        guard !parameters.isEmpty else { return path }
        return path + "?" + parameters.map { "\(percentEncoded($0.0))=\(percentEncoded($0.1))" }.joined(separator: "&")
    }

    static func percentEncoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }

    static func parameters(_ pairs: [(String, String)]) -> Parameters {
        var parameters = Parameters()
        for (name, value) in pairs { parameters[Substring(name)] = Substring(value) }
        return parameters
    }

    /// A template value that may be missing: Mustache sections treat `false` as absent, while an
    /// optional's `nil` would be rendered as the text "nil".
    static func present(_ value: String?) -> Any {
        value.map { $0 as Any } ?? false
    }

    static func problem(_ title: String, _ message: String, session: WebSessions.Session, status: HTTPResponse.Status) -> Response {
        page("problem", ["title": title, "message": message, "user": user(session), "csrf": session.csrf], status: status)
    }

    /// Times as the browser asked: UTC, or shifted by the offset (minutes east of UTC) that the
    /// page's script puts in `tz`.
    /// The `spark` value of a source: its events in each of the last 24 hours of arrival
    /// (`hourly`: hours since 1970 → events), the current hour last, scaled to the busiest one.
    static func sparkline(_ hourly: [Int64: Int], endingAt now: Timestamp, offsetMinutes: Int) -> [String: Any] {
        let last = now.hour
        let hours = (last - 23)...last
        let counts = hours.map { hourly[$0] ?? 0 }
        let busiest = max(counts.max() ?? 0, 1)
        let bars = zip(hours, counts).enumerated().map { index, entry -> [String: Any] in
            let (hour, count) = entry
            // Any event shows: at least one pixel.
            let height = count == 0 ? 0 : max(1, Int((Double(count) / Double(busiest) * 20).rounded()))
            return [
                "x": index * 4, "y": 20 - height, "height": height,
                "title": "\(time(Timestamp(hour: hour), offsetMinutes: offsetMinutes)): \(count) event\(count == 1 ? "" : "s")",
            ]
        }
        let total = counts.reduce(0, +)
        return ["bars": bars, "viewWidth": 96, "barWidth": 3, "label": "Events per hour over the last 24 hours: \(total) in all, at most \(counts.max() ?? 0) in an hour"]
    }

    /// A destination's lag over the last hour: one bar a minute, its height the largest lag of
    /// that minute against the largest of the hour; a minute with no sample has no bar.
    static func lagSparkline(_ lags: [Double?], endingAt now: Timestamp, offsetMinutes: Int) -> [String: Any] {
        let worst = max(lags.compactMap { $0 }.max() ?? 0, 0.001)
        let lastMinute = now.microseconds / 60_000_000
        let bars = lags.enumerated().compactMap { index, lag -> [String: Any]? in
            guard let lag else { return nil }
            let height = lag <= 0 ? 0 : max(1, Int((lag / worst * 20).rounded()))
            let minute = Timestamp(microseconds: (lastMinute - Int64(lags.count - 1 - index)) * 60_000_000)
            return ["x": index * 2, "y": 20 - height, "height": height, "title": "\(time(minute, offsetMinutes: offsetMinutes)): lag up to \(String(format: "%.1f", lag)) s"]
        }
        let label = bars.isEmpty
            ? "No lag measured on this instance in the last hour"
            : "Lag per minute over the last hour: at most \(String(format: "%.1f", lags.compactMap { $0 }.max() ?? 0)) s"
        return ["bars": bars, "viewWidth": 120, "barWidth": 1.5, "label": label]
    }

    /// The histogram above the audit log: one bar per bucket, each a link to its time range
    /// (`link`), its height its share of the busiest bucket.
    static func chart(_ buckets: HistogramBuckets, _ counts: EventCounts, offsetMinutes: Int, link: (Timestamp, Timestamp) -> String) -> [String: Any] {
        let width = 600.0
        let height = 80.0
        let slot = width / Double(max(buckets.count, 1))
        let busiest = max(counts.counts.max() ?? 0, 1)
        let bars = (0..<buckets.count).map { i -> [String: Any] in
            let count = counts.counts[i]
            let h = count == 0 ? 0 : max(1, (Double(count) / Double(busiest) * height).rounded())
            let start = buckets.edges[i]
            let end = buckets.edges[i + 1]
            return [
                "x": String(format: "%.2f", Double(i) * slot), "y": String(format: "%.0f", height - h), "width": String(format: "%.2f", max(slot - 1, 0.5)),
                "height": String(format: "%.0f", h), "events": count, "start": start.rfc3339, "end": end.rfc3339, "href": link(start, end),
                "title": "\(time(start, offsetMinutes: offsetMinutes)) to \(time(end, offsetMinutes: offsetMinutes)): \(count) event\(count == 1 ? "" : "s")",
            ]
        }
        let total = counts.counts.reduce(0, +)
        var values: [String: Any] = [
            "bars": bars, "total": total, "width": buckets.width.description,
            "from": time(buckets.edges.first!, offsetMinutes: offsetMinutes), "to": time(buckets.edges.last!, offsetMinutes: offsetMinutes),
            "label": "Matching events per \(buckets.width) from \(time(buckets.edges.first!, offsetMinutes: offsetMinutes)): \(total) in all, at most \(counts.counts.max() ?? 0) in a bar",
        ]
        if !counts.complete, let from = counts.countedFrom { values["countedFrom"] = time(from, offsetMinutes: offsetMinutes) }
        return values
    }

    /// The top values beside the audit log, each a link that adds it to the filter.
    static func facets(_ facets: EventFacets, fields: [FacetField], link: (FacetField, String) -> String) -> [String: Any] {
        let names: [FacetField: String] = [.action: "Event types", .actor: "Actors", .target: "Targets", .feed: "Feeds", .logType: "Log types", .actorType: "Actor types", .targetType: "Target types"]
        return [
            "fields": fields.map { field -> [String: Any] in
                [
                    "name": field.rawValue, "title": names[field] ?? field.rawValue,
                    "values": (facets.fields[field] ?? []).map { ["value": $0.value, "events": $0.events, "href": link(field, $0.value)] },
                ]
            },
            "counted": facets.eventsCounted, "complete": facets.complete,
        ]
    }

    static func time(_ time: Timestamp, offsetMinutes: Int) -> String {
        guard offsetMinutes != 0 else { return time.rfc3339 }
        let shifted = Timestamp(microseconds: time.microseconds + Int64(offsetMinutes) * 60_000_000).rfc3339
        let sign = offsetMinutes < 0 ? "-" : "+"
        let zone = String(format: "%@%02d:%02d", sign, abs(offsetMinutes) / 60, abs(offsetMinutes) % 60)
        return String(shifted.dropLast()) + zone
    }

    /// Minutes east of UTC the browser's script put in `tz` when `zone=local` was chosen; 0 otherwise.
    static func offset(_ request: Request) -> Int {
        let query = request.uri.formQueryParameters
        guard query["zone"] == "local", let minutes = query["tz"].flatMap({ Int($0) }), abs(minutes) <= 14 * 60 else { return 0 }
        return minutes
    }

    /// A time typed in a form: RFC 3339 with its zone as written; a date, or a date and time
    /// without a zone (what `datetime-local` inputs send), in the page's zone.
    static func parseTime(_ text: String, offsetMinutes: Int) -> Timestamp? {
        let value = text.trimmingCharacters(in: .whitespaces)
        guard !value.isEmpty else { return nil }
        let afterDate = value.dropFirst(10)
        let hasZone = value.hasSuffix("Z") || value.hasSuffix("z") || afterDate.contains("+") || afterDate.contains("-")
        if hasZone { return Timestamp(rfc3339: value) }
        let candidates = value.count == 10 ? [value] : [value + "Z", value + ":00Z"]
        guard let utc = candidates.lazy.compactMap({ Timestamp(rfc3339: $0) }).first else { return nil }
        return Timestamp(microseconds: utc.microseconds - Int64(offsetMinutes) * 60_000_000)
    }
}

extension URI {
    /// The query decoded the way HTML forms and most clients (Python's `urlencode`) encode it:
    /// `+` is a space, and a literal plus arrives as `%2B`.
    var formQueryParameters: Parameters {
        var parameters = Parameters()
        guard let raw = query, !raw.isEmpty else { return parameters }
        for pair in raw.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> Substring {
                let spaced = text.replacingOccurrences(of: "+", with: " ")
                return Substring(spaced.removingPercentEncoding ?? spaced)
            }
            parameters[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return parameters
    }
}
