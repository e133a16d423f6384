import SluiceCore

/// Export formats of the audit log.
public enum ExportFormat: String, Sendable, CaseIterable {
    case csv
    case ndjson

    public var contentType: String {
        switch self {
        case .csv: "text/csv; charset=utf-8"
        case .ndjson: "application/x-ndjson"
        }
    }

    public var fileExtension: String { rawValue }
}

/// Streams every event matching a filter, page by page, so memory stays constant however many
/// events match. Used by the HTTP export route and by `sluice events export`.
public struct EventExporter: Sendable {
    let store: any EventStore
    let filter: EventFilter
    let format: ExportFormat
    let pageSize: Int
    private var cursor: EventCursor?
    private var started = false
    private var finished = false
    /// Events emitted so far.
    public private(set) var count = 0
    /// Their seqs, when ``recordsSeqs`` (for the proofs of `--with-proof`).
    public private(set) var seqs: [Int64] = []
    public var recordsSeqs = false

    public init(store: any EventStore, filter: EventFilter, format: ExportFormat, pageSize: Int = 1000) {
        self.store = store
        self.filter = filter
        self.format = format
        self.pageSize = pageSize
    }

    /// The next chunk of the export (the CSV header first), or nil at the end.
    public mutating func next() async throws -> [UInt8]? {
        if !started {
            started = true
            if format == .csv { return Array(AuditCSV.header.utf8) }
        }
        if finished { return nil }
        let page = try await store.events(matching: filter, after: cursor, limit: pageSize)
        var chunk: [UInt8] = []
        chunk.reserveCapacity(page.events.count * 512)
        for event in page.events {
            switch format {
            case .csv:
                chunk.append(contentsOf: AuditCSV.row(for: event).utf8)
            case .ndjson:
                event.writeJSON(into: &chunk)
                chunk.append(0x0A)
            }
        }
        count += page.events.count
        if recordsSeqs { seqs.append(contentsOf: page.events.map(\.seq)) }
        cursor = page.nextCursor
        if cursor == nil { finished = true }
        if chunk.isEmpty { return finished ? nil : chunk }
        return chunk
    }
}
