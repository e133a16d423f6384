import SluiceCompression
import SluiceCore

/// How a bucket destination turns a batch into objects: one object per stream (and, for
/// collected events, per fetched page) in the layout SecOps bucket feeds read,
/// `{prefix}{stream}/{YYYY}/{MM}/{DD}/{HHMMSS}-{label}.{json|ndjson}[.gz]`.
///
/// Names depend only on the events, so a retried batch writes the same names; with a
/// create-only write (GCS `ifGenerationMatch=0`, S3 `If-None-Match: *`) a retry adds no copy.
/// Every name carries the first `seq` of its object, so two batches never share a name.
public struct ObjectLayout: Sendable, Hashable {
    public enum Format: String, Sendable { case ndjson, json }

    public var prefix: String
    public var format: Format
    public var gzip: Bool

    public init(prefix: String = "", format: Format = .ndjson, gzip: Bool = false) {
        self.prefix = prefix
        self.format = format
        self.gzip = gzip
    }

    public struct Object: Sendable, Hashable {
        public var name: String
        public var body: [UInt8]
        public var contentType: String
        public var contentEncoding: String?
        public var events: Int
    }

    /// The objects for `batch`, in order of their first event.
    public func objects(for batch: [OutboundEvent]) -> [Object] {
        var groups: [(origin: EventOrigin?, events: [OutboundEvent])] = []
        var index: [String: Int] = [:]
        for event in batch {
            // The origin text names stream, run and page, so it is the group key as it stands.
            let key = event.origin ?? "push:\(event.source)"
            if let i = index[key] {
                groups[i].events.append(event)
            } else {
                index[key] = groups.count
                groups.append((event.origin.flatMap(EventOrigin.init), [event]))
            }
        }
        return groups.map { object(for: $0.events, origin: $0.origin) }
    }

    func object(for events: [OutboundEvent], origin: EventOrigin?) -> Object {
        let first = events[0]
        let stream: String
        let time: Timestamp
        let label: String
        if let origin {
            stream = origin.stream
            time = origin.runStarted
            label = "\(origin.stream)-page-\(origin.page)-\(first.seq)"
        } else {
            stream = first.source
            time = first.receivedAt
            label = "\(first.source)-\(first.seq)-\(events[events.count - 1].seq)"
        }
        let (y, m, d, hhmmss) = Self.civil(time)
        var name = "\(prefix)\(Self.safe(stream))/\(y)/\(m)/\(d)/\(hhmmss)-\(Self.safe(label)).\(format.rawValue)"
        var body: [UInt8]
        switch format {
        case .ndjson:
            body = NDJSON.encode(events)
        case .json:
            body = [UInt8(ascii: "[")]
            for (i, event) in events.enumerated() {
                if i > 0 { body.append(UInt8(ascii: ",")) }
                body += event.raw
            }
            body.append(UInt8(ascii: "]"))
        }
        var encoding: String?
        if gzip, let compressed = try? Self.gzipped(body) {
            body = compressed
            name += ".gz"
            encoding = "gzip"
        }
        return Object(
            name: name, body: body, contentType: format == .ndjson ? "application/x-ndjson" : "application/json", contentEncoding: encoding,
            events: events.count
        )
    }

    /// Bytes an event adds to an object body.
    public func encodedSize(of event: OutboundEvent) -> Int { event.raw.count + 1 }

    static func gzipped(_ bytes: [UInt8]) throws -> [UInt8] {
        try Gzip.compress(bytes)
    }

    /// Letters, digits and `-_.` kept; anything else (a `/` in a feed name) becomes `_`.
    static func safe(_ text: String) -> String {
        String(text.unicodeScalars.map { scalar -> Character in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "-", "_", ".", "/": Character(scalar)
            default: "_"
            }
        })
    }

    /// (`YYYY`, `MM`, `DD`, `HHMMSS`) in UTC.
    static func civil(_ time: Timestamp) -> (Substring, Substring, Substring, String) {
        let text = time.rfc3339  // 2026-11-21T10:05:09.000000Z
        let parts = text.split(separator: "T")[0].split(separator: "-")
        return (parts[0], parts[1], parts[2], text.dropFirst(11).prefix(8).filter { $0 != ":" })
    }
}
