/// Where a collected event came from: its stream, the run that fetched it and the page number
/// within that run. Kept so that a bucket destination can write pages in the layout SecOps GCS
/// feeds read (`{stream}/{YYYY}/{MM}/{DD}/{HHMMSS}-{stream}-page-{n}.json`).
public struct EventOrigin: Sendable, Hashable, CustomStringConvertible {
    public var stream: String
    public var runStarted: Timestamp
    public var page: Int

    public init(stream: String, runStarted: Timestamp, page: Int) {
        self.stream = stream
        self.runStarted = runStarted
        self.page = page
    }

    /// `file_events@2026-11-21T10:00:00.000000Z#3`
    public var description: String { "\(stream)@\(runStarted.rfc3339)#\(page)" }

    public init?(_ text: String) {
        guard let at = text.firstIndex(of: "@"), let hash = text.lastIndex(of: "#"), at < hash,
              let time = Timestamp(rfc3339: text[text.index(after: at)..<hash]), let page = Int(text[text.index(after: hash)...])
        else { return nil }
        self.init(stream: String(text[..<at]), runStarted: time, page: page)
    }
}
