import SluiceCore

/// Reads the store in commit order as ``IntegrityRow``s (each event's leaf, or a checkpoint's
/// own event), the next page read while this one is used. Checkpoint writing and verification
/// share it; the store digests its rows (``EventStore/integrityRows(after:limit:digestsAtCommit:)``).
struct LeafReader {
    let store: any EventStore
    let pageSize: Int
    /// Whether digests taken at commit may stand in for the events (checkpoints, not verification).
    var digestsAtCommit = false

    /// Calls `body` with each page of rows after `seq`, in order, until the store has no more
    /// (or, with `through`, until that seq).
    func read(after seq: Int64, through last: Int64 = .max, _ body: ([IntegrityRow]) async throws(StoreError) -> Void) async throws(StoreError) {
        let store = self.store
        let size = pageSize
        let digestsAtCommit = self.digestsAtCommit
        var page = try await store.integrityRows(after: seq, limit: size, digestsAtCommit: digestsAtCommit)
        while !page.isEmpty {
            let after = page.last!.seq
            var full = page.count == size
            if after >= last {
                page = page.filter { $0.seq <= last }
                full = false
            }
            // Read ahead while this page is used.
            async let next: Result<[IntegrityRow], StoreError> = full
                ? Self.result { () async throws(StoreError) in try await store.integrityRows(after: after, limit: size, digestsAtCommit: digestsAtCommit) }
                : .success([])
            try await body(page)
            page = try await next.get()
        }
    }

    static func result(_ read: () async throws(StoreError) -> [IntegrityRow]) async -> Result<[IntegrityRow], StoreError> {
        do { return .success(try await read()) } catch { return .failure(error) }
    }
}
