import SluiceCore

/// Reads the store in commit order with each event's leaf: the next page is read while this one
/// is hashed, and a page is hashed on two threads, so reading and hashing (SHA-256 over every
/// event's fields and raw bytes) keep both cores busy. Checkpoint writing and verification share it.
struct LeafReader {
    /// One event as integrity sees it.
    struct Entry: Sendable {
        var seq: Int64
        var id: String
        /// Nil for a checkpoint's own event (not a leaf); then `checkpoint` holds it when it reads.
        var leaf: MerkleHash?
        var checkpoint: StoredEvent?
    }

    let store: any EventStore
    let pageSize: Int

    /// Calls `body` with each page of entries after `seq`, in order, until the store has no more
    /// (or, with `through`, until that seq).
    func read(after seq: Int64, through last: Int64 = .max, _ body: ([Entry]) async throws(StoreError) -> Void) async throws(StoreError) {
        var cursor = seq
        var page = try await store.events(afterSeq: cursor, limit: pageSize)
        while !page.isEmpty {
            cursor = page.last!.seq
            var full = page.count == pageSize
            if cursor >= last {
                page = page.filter { $0.seq <= last }
                full = false
            }
            let store = self.store
            let size = pageSize
            let after = cursor
            // Read ahead while this page is hashed.
            async let next: Result<[StoredEvent], StoreError> = full ? Self.result { () async throws(StoreError) in try await store.events(afterSeq: after, limit: size) } : .success([])
            let entries = await Self.entries(page)
            try await body(entries)
            page = try await next.get()
        }
    }

    static func result(_ read: () async throws(StoreError) -> [StoredEvent]) async -> Result<[StoredEvent], StoreError> {
        do { return .success(try await read()) } catch { return .failure(error) }
    }

    /// The page's entries, its leaves hashed on two threads.
    static func entries(_ page: [StoredEvent]) async -> [Entry] {
        let half = page.count / 2
        func hash(_ part: ArraySlice<StoredEvent>) -> [Entry] {
            part.map { event in
                IntegrityCheckpoint.isCheckpoint(event)
                    ? Entry(seq: event.seq, id: event.id.rawValue, leaf: nil, checkpoint: event)
                    : Entry(seq: event.seq, id: event.id.rawValue, leaf: IntegrityLeaf.hash(of: event), checkpoint: nil)
            }
        }
        guard half >= 256 else { return hash(page[...]) }
        async let first = hash(page[..<half])
        let second = hash(page[half...])
        return await first + second
    }
}
