import SluiceCore

/// The strip every signed-in page shows while a watched source is silent: its name (a link to
/// its page) and since when. One read of the store's arrival times per page.
struct SilenceStrip: Sendable {
    let assess: (@Sendable () async throws(StoreError) -> [SourceSilence])?

    /// The header's `strip` value; nil while nothing is silent (or nothing is watched, or the
    /// store does not answer: the page itself then says so).
    func values(offsetMinutes: Int) async -> [String: Any]? {
        guard let assess else { return nil }
        let silent: [SourceSilence]
        do {
            silent = try await assess().filter(\.isSilent)
        } catch {
            return nil
        }
        guard !silent.isEmpty else { return nil }
        return [
            "sources": silent.map { silence -> [String: Any] in
                [
                    "name": silence.expectation.source, "page": silence.expectation.kind == .feed ? "feeds" : "collectors",
                    "since": WebPages.time(silence.silentFrom, offsetMinutes: offsetMinutes),
                ]
            },
        ]
    }
}
