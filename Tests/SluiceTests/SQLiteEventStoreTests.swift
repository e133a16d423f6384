import Foundation
import Logging
import SluiceCore
import GRDB
import SluiceStoreKit
@testable import SluiceStoreSQLite
import SluiceServer
import SluiceTesting
import Testing

@Suite struct SQLiteEventStoreTests {
    func withStore(_ configure: (inout SQLiteStoreConfiguration) -> Void = { _ in }, _ body: (SQLiteEventStore, String) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var configuration = SQLiteStoreConfiguration(path: directory.path + "/db/sluice.db")
        configure(&configuration)
        let store = try SQLiteEventStore(configuration: configuration, logger: Logger(label: "test"))
        try await body(store, directory.path)
    }

    /// The filter index is built after commit, so every filter must give the same answer over
    /// unindexed, partly indexed and fully indexed events.
    @Test(arguments: [0, 29, Int.max])
    func contractFiltersAndPaging(indexed: Int) async throws {
        try await withStore({ $0.automaticIndexing = false }) { store, _ in
            try await EventStoreContract.filtersAndPaging(store) {
                if indexed > 0 { try await store.indexPendingTerms(maxEvents: indexed) }
                let left = try await store.unindexedCount()
                #expect(left == (indexed == 0 ? 60 : indexed == 29 ? 31 : 0))
            }
        }
    }

    @Test(arguments: [false, true])
    func contractPurge(indexed: Bool) async throws {
        try await withStore({ $0.automaticIndexing = false }) { store, _ in
            // Passes of 5 events: the first two passes' blocks hold only events the purge removes.
            try await EventStoreContract.purge(store) {
                if indexed { _ = try await store.indexPendingTerms(maxEvents: .max, passSize: 5, blockSize: PostingBlock.maximumCount) }
            }
            // Blocks whose every posting is older than every event left go with the events.
            let (stale, kept) = try await store.pool.read { db in
                (
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM event_postings WHERE last_occurred_at < (SELECT MIN(occurred_at) FROM events)"),
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM event_postings")
                )
            }
            #expect(stale == 0)
            #expect(indexed ? kept ?? 0 > 0 : kept == 0)
        }
    }

    /// A block goes in the purge batch that removes its newest event, even when that event
    /// shares its time with one the batch leaves: a later batch may remove only events of other
    /// terms, and would never look at this block again.
    @Test func aBlockGoesWithItsNewestEventWhenTimesTieAcrossPurgeBatches() async throws {
        try await withStore({ $0.automaticIndexing = false }) { store, _ in
            let tied = Timestamp(seconds: 1)
            _ = try await store.append([EventStoreContract.event(actorID: "only-first", actorName: "only-first", occurredAt: tied, key: "a")], receivedAt: tied)
            _ = try await store.append([EventStoreContract.event(actorID: "other", actorName: "other", occurredAt: tied, key: "b")], receivedAt: tied)
            _ = try await store.append([EventStoreContract.event(actorID: "other", actorName: "other", occurredAt: Timestamp(seconds: 5), key: "c")], receivedAt: tied)
            try await store.indexPendingTerms()
            // Oldest first, ties by store order: the first batch takes only "a".
            #expect(try await store.purge(occurredBefore: Timestamp(seconds: 2), limit: 1).count == 1)
            #expect(try await store.purge(occurredBefore: Timestamp(seconds: 2), limit: 1).count == 1)
            let blocks = try await store.pool.read { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM event_postings WHERE term = ?", arguments: [EventTerms.term(.actor, "only-first")])
            }
            #expect(blocks == 0)
            let left = try await store.events(matching: EventFilter(actor: "other"), after: nil, limit: 10).events
            #expect(left.map(\.normalized.occurredAt) == [Timestamp(seconds: 5)])
        }
    }

    /// Unindexed events left after the store has had up to 5 s to index by itself.
    func unindexedAfterWaiting(_ store: SQLiteEventStore) async throws -> Int {
        var left = try await store.unindexedCount()
        for _ in 0..<100 where left > 0 {
            try await Task.sleep(for: .milliseconds(50))
            left = try await store.unindexedCount()
        }
        return left
    }

    /// Another process's commits (here: another store on the same file, as the CLI would be) wake
    /// this store's consumers through `PRAGMA data_version`, long before the 30 s fallback.
    @Test func commitsOfAnotherWriterWakeThisStoresConsumers() async throws {
        try await withStore { store, _ in
            let other = try SQLiteEventStore(configuration: store.configuration, logger: Logger(label: "test"))
            try await Task.sleep(for: .milliseconds(1_500))  // the watcher has read its first version
            let before = store.changes.mark
            #expect(store.changes.fallback >= .seconds(30))
            let waiter = Task { await store.changes.wait(after: before, timeout: .seconds(25)) }
            _ = try await other.setHold(destination: "d", hold: DestinationHold(reason: "cli", heldBy: "cli:ops", heldAt: Timestamp(seconds: 1)), audit: nil)
            let woken = await waiter.value
            #expect(woken.control != before.control, "the other writer's hold was not noticed")
            #expect(try await store.hold(destination: "d")?.heldBy == "cli:ops")
        }
    }

    @Test func eventsLeftUnindexedAreIndexedWhenTheStoreOpens() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/sluice.db"
        do {
            let store = try SQLiteEventStore(configuration: .init(path: path, automaticIndexing: false), logger: Logger(label: "test"))
            _ = try await store.append((0..<30).map { EventStoreContract.event(occurredAt: Timestamp(seconds: Int64($0)), key: "open\($0)") }, receivedAt: Timestamp(seconds: 1))
            #expect(try await store.unindexedCount() == 30)
        }
        // No new commit after reopening: only the open itself can start indexing.
        let reopened = try SQLiteEventStore(configuration: .init(path: path), logger: Logger(label: "test"))
        #expect(try await unindexedAfterWaiting(reopened) == 0)
    }

    @Test func indexingHappensByItselfAfterCommits() async throws {
        try await withStore { store, _ in
            _ = try await store.append((0..<50).map { EventStoreContract.event(occurredAt: Timestamp(seconds: Int64($0)), key: "auto\($0)") }, receivedAt: Timestamp(seconds: 1))
            #expect(try await unindexedAfterWaiting(store) == 0)
        }
    }

    /// The indexer inserts in the index's order so that the inserts walk the index
    /// sequentially; that order must be SQLite's own (BINARY, byte-wise), not Swift's `String` order.
    @Test func termPostingsComeInTheIndexOrderOfEventPostings() async throws {
        var postings = TermPostings()
        let terms = ["actor\u{1F}Zoë", "actor\u{1F}zoe", "actor\u{1F}Zoe", "action\u{1F}b", "actor\u{1F}e\u{301}", "actor\u{1F}\u{E9}", "feed\u{1F}default"]
        for (n, term) in terms.enumerated() {
            postings.add([TermBytes(term)], occurredAt: Int64(100 - n % 3), seq: Int64(n))
            postings.add([TermBytes(term)], occurredAt: Int64(50 + n), seq: Int64(n + 100))
            postings.add([TermBytes(term)], occurredAt: Int64(100 - n % 3), seq: Int64(n + 200))
        }
        let ordered = postings.inIndexOrder()
        let ours = ordered.flatMap { term, list in list.map { "\(term)|\($0.occurredAt)|\($0.seq)" } }
        try await withStore({ $0.automaticIndexing = false }) { store, _ in
            let sqlite = try await store.pool.write { db in
                for (term, list) in ordered.reversed() {
                    for posting in list.reversed() {
                        try db.execute(
                            sql: """
                                INSERT INTO event_postings (term, last_occurred_at, last_seq, first_occurred_at, first_seq, count, postings)
                                VALUES (?, ?, ?, ?, ?, 1, x'')
                                """,
                            arguments: [term, posting.occurredAt, posting.seq, posting.occurredAt, posting.seq]
                        )
                    }
                }
                return try Row.fetchAll(db, sql: "SELECT term, last_occurred_at, last_seq FROM event_postings ORDER BY term, last_occurred_at, last_seq").map { row in
                    "\(row[0] as String)|\(row[1] as Int64)|\(row[2] as Int64)"
                }
            }
            #expect(ordered.count == terms.count)
            #expect(ours == sqlite)
        }
    }

    @Test func fileIsWALAndSurvivesReopen() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/sluice.db"
        do {
            let store = try SQLiteEventStore(configuration: .init(path: path), logger: Logger(label: "test"))
            _ = try await store.append([EventStoreContract.event(occurredAt: Timestamp(seconds: 1), key: "x")], receivedAt: Timestamp(seconds: 2))
        }
        let reopened = try SQLiteEventStore(configuration: .init(path: path), logger: Logger(label: "test"))
        #expect(try await reopened.count() == 1)
        #expect(try await reopened.integrityCheck() == "ok")
        #expect(FileManager.default.fileExists(atPath: path + "-wal"))
    }

    /// Keys lead with the event's own time in an order that sorts as the times do, before the
    /// epoch too, so live events append to the dedupe index; keys without a time keep the old form.
    @Test func storedDedupeKeysSortByTheEventsOwnTime() {
        let times: [Int64] = [-5_000_000, -1, 0, 1, 255, 256, 1_700_000_000_000_000]
        let keys = times.reversed().map { micros in
            var incoming = EventStoreContract.event(occurredAt: Timestamp(microseconds: micros), key: "same key, any length past sixteen")
            incoming.dedupeTime = Timestamp(microseconds: micros)
            return StoredDedupeKey.bytes(for: incoming)
        }
        #expect(keys.allSatisfy { $0.count == 24 && $0.suffix(16) == Array("same key, any le".utf8) })
        #expect(keys.sorted { $0.lexicographicallyPrecedes($1) } == Array(keys.reversed()))
        let untimed = EventStoreContract.event(occurredAt: Timestamp(seconds: 1), key: "same key, any length past sixteen")
        #expect(StoredDedupeKey.bytes(for: untimed) == Array("same key, any le".utf8))
        #expect(StoredDedupeKey.untimed(for: untimed) == nil)
    }

    /// A database written before keys carried the event's time: migration records how far its
    /// events go, their keys are still found in the old form, and once retention has removed
    /// them all the old-form lookup stops.
    @Test func eventsStoredBeforeTimedKeysStayDuplicates() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/sluice.db"
        let occurred = Timestamp(seconds: 100)
        do {
            let previous = try DatabaseQueue(path: path)
            try SQLiteEventStore.migrator.migrate(previous, upTo: "2026-11-22-workflow-retention")
            try await previous.write { db in
                // The old form: the first 16 bytes of the producer's key, nothing in front.
                try db.execute(
                    sql: """
                        INSERT INTO events (id, source, dedupe_key, log_type, occurred_at, received_at, action, targets, raw)
                        VALUES (?, 'feed-a', ?, 'INCIDENT_IO', ?, ?, 'api_key.created', '[]', ?)
                        """,
                    arguments: [EventID.make(at: occurred).rawValue, Data("0123456789abcdef".utf8), occurred.microseconds, occurred.microseconds, Data("{}".utf8)]
                )
            }
            try previous.close()
        }
        let store = try SQLiteEventStore(configuration: .init(path: path), logger: Logger(label: "test"))
        func untimedThrough() async throws -> Int64? {
            try await store.pool.read { db in
                try Int64.fetchOne(db, sql: "SELECT value FROM store_state WHERE name = 'untimed_dedupe_keys_through'")
            }
        }
        #expect(try await untimedThrough() == 1)
        var redelivered = EventStoreContract.event(occurredAt: occurred, key: "0123456789abcdef and more")
        redelivered.dedupeTime = occurred
        let fresh = EventStoreContract.event(occurredAt: Timestamp(seconds: 101), key: "fresh")
        #expect(try await store.append([redelivered, fresh], receivedAt: Timestamp(seconds: 300)) == AppendResult(accepted: 1, duplicates: 1))
        #expect(try await store.purge(occurredBefore: Timestamp(seconds: 1_000), limit: 100).count == 2)
        #expect(try await untimedThrough() == 0)
        #expect(try await store.append([redelivered], receivedAt: Timestamp(seconds: 400)) == AppendResult(accepted: 1, duplicates: 0))
    }

    /// A database indexed a row per posting (`event_terms`): after the upgrade the old table is
    /// gone, and the store rebuilds the index from the events by itself, so filters find them.
    @Test func anIndexOfRowsPerPostingIsRebuiltAsBlocks() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/sluice.db"
        do {
            let previous = try DatabaseQueue(path: path)
            try SQLiteEventStore.migrator.migrate(previous, upTo: "2026-12-04-timed-dedupe-keys")
            try await previous.write { db in
                for n in 1...3 {
                    let occurred = Timestamp(seconds: Int64(n))
                    try db.execute(
                        sql: """
                            INSERT INTO events (id, source, dedupe_key, log_type, occurred_at, received_at, action, actor_type, actor_id, actor_name, targets, raw)
                            VALUES (?, 'feed-a', ?, 'INCIDENT_IO', ?, ?, 'user.login', 'user', 'u\(n % 2)', NULL, '[]', ?)
                            """,
                        arguments: [EventID.make(at: occurred).rawValue, Data("key-\(n)".utf8), occurred.microseconds, occurred.microseconds, Data("{}".utf8)]
                    )
                    try db.execute(sql: "INSERT INTO event_terms (term, occurred_at, seq) VALUES (?, ?, ?)", arguments: ["actor\u{1F}u\(n % 2)", occurred.microseconds, n])
                }
                try db.execute(sql: "UPDATE store_state SET value = 3 WHERE name = 'terms_indexed_through'")
            }
            try previous.close()
        }
        let store = try SQLiteEventStore(configuration: .init(path: path), logger: Logger(label: "test"))
        let oldTable = try await store.pool.read { db in try db.tableExists("event_terms") }
        #expect(!oldTable)
        #expect(try await SQLiteEventStoreTests().unindexedAfterWaiting(store) == 0)
        let blocks = try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM event_postings WHERE term = ?", arguments: ["actor\u{1F}u1"]) }
        #expect(blocks == 1)
        let page = try await store.events(matching: EventFilter(actor: "u1"), after: nil, limit: 10)
        #expect(page.events.map(\.seq) == [3, 1])
    }

    @Test func fullDatabaseFailsTheWholeRequestAndKeepsEarlierData() async throws {
        try await withStore({ $0.maxSizeBytes = 400 * 1024 }) { store, _ in
            let small = try await store.append([EventStoreContract.event(occurredAt: Timestamp(seconds: 1), key: "kept")], receivedAt: Timestamp(seconds: 1))
            #expect(small.accepted == 1)
            // Random padding: stored events are compressed, so repeated bytes would hardly fill anything.
            var random = SplitMix64()
            let events = (0..<500).map { n in
                let pad = (0..<150).map { _ in String(random.next() as UInt64, radix: 36) }.joined()
                return EventStoreContract.event(occurredAt: Timestamp(seconds: 2), key: "big\(n)", raw: "{\"pad\":\"\(pad)\"}")
            }
            await #expect {
                _ = try await store.append(events, receivedAt: Timestamp(seconds: 2))
            } throws: { error in
                (error as? StoreError)?.code == .full
            }
            // Nothing from the failed request, everything from before.
            let left = try await store.events(matching: EventFilter(), after: nil, limit: 1000).events
            #expect(left.count == 1)
            #expect(try await store.integrityCheck() == "ok")
        }
    }

    @Test func consumerCursorsNeverMoveBackwardsUnlessRewound() async throws {
        try await withStore { store, _ in
            #expect(try await store.consumerCursor("chronicle") == 0)
            try await store.setConsumerCursor("chronicle", to: 10, at: Timestamp(seconds: 1))
            try await store.setConsumerCursor("chronicle", to: 5, at: Timestamp(seconds: 2))
            #expect(try await store.consumerCursor("chronicle") == 10)
            try await store.setConsumerCursor("chronicle", to: 5, at: Timestamp(seconds: 3), allowRewind: true)
            #expect(try await store.consumerCursor("chronicle") == 5)
        }
    }

    /// A prefix naming more actions than are walked one by one falls back to the time index,
    /// with the same answer.
    @Test func anActionPrefixOverManyActionsListsEveryMatchOnce() async throws {
        try await withStore({ $0.automaticIndexing = false }) { store, _ in
            let count = SQLiteEventQuery.maximumPrefixTerms + 6
            let events = (0..<count * 2).map { i in
                EventStoreContract.event(action: i < count ? "bulk.a\(i)" : "other.b\(i)", occurredAt: Timestamp(seconds: Int64(i % 17)), key: "m\(i)")
            }
            _ = try await store.append(events, receivedAt: Timestamp(seconds: 100))
            try await store.indexPendingTerms(maxEvents: count * 2)
            for prefix in ["bulk.", "bulk.a1", "other."] {
                var seen: [Int64] = []
                var cursor: EventCursor?
                repeat {
                    let page = try await store.events(matching: EventFilter(action: .prefix(prefix)), after: cursor, limit: 9)
                    seen += page.events.map(\.seq)
                    #expect(page.events.allSatisfy { $0.normalized.action.hasPrefix(prefix) })
                    cursor = page.nextCursor
                } while cursor != nil
                let expected = events.filter { $0.normalized.action.hasPrefix(prefix) }.count
                #expect(seen.count == expected && Set(seen).count == expected, "\(prefix)")
            }
        }
    }

    /// A rare needle does not make one page read the whole store: the page stops after the scan
    /// bound, says so, and the next page goes on; an export follows every page to the end.
    @Test func aTextSearchReadsABoundedSliceAPageAndContinues() async throws {
        try await withStore { store, _ in
            let total = SQLiteEventQuery.textScanLimit + 20
            let events = (0..<total).map { i in
                EventStoreContract.event(occurredAt: Timestamp(seconds: Int64(1_000 + i)), key: "s\(i)", raw: i == 3 ? "{\"note\":\"rare-needle\"}" : "{\"n\":\(i)}")
            }
            for chunk in stride(from: 0, to: total, by: 10_000) {
                _ = try await store.append(Array(events[chunk..<min(total, chunk + 10_000)]), receivedAt: Timestamp(seconds: 5))
            }
            let first = try await store.events(matching: EventFilter(text: "rare-needle"), after: nil, limit: 50)
            #expect(first.events.isEmpty && first.partial)
            let cursor = try #require(first.nextCursor)
            let second = try await store.events(matching: EventFilter(text: "rare-needle"), after: cursor, limit: 50)
            #expect(second.events.map(\.normalized.occurredAt) == [Timestamp(seconds: 1_003)] && !second.partial && second.nextCursor == nil)
            var exporter = EventExporter(store: store, filter: EventFilter(text: "rare-needle"), format: .ndjson)
            var lines = 0
            while let chunk = try await exporter.next() { lines += chunk.filter { $0 == 0x0A }.count }
            #expect(lines == 1)
        }
    }

    @Test func eventsAfterSeqReadInStoreOrder() async throws {
        try await withStore { store, _ in
            for i in 0..<5 {
                _ = try await store.append([EventStoreContract.event(occurredAt: Timestamp(seconds: Int64(10 - i)), key: "s\(i)")], receivedAt: Timestamp(seconds: 1))
            }
            let firstTwo = try await store.events(afterSeq: 0, limit: 2)
            #expect(firstTwo.map(\.seq) == firstTwo.map(\.seq).sorted())
            let rest = try await store.events(afterSeq: firstTwo.last!.seq, limit: 10)
            #expect(rest.count == 3)
            #expect(rest.first!.seq > firstTwo.last!.seq)
        }
    }

    @Test func credentialsAreStoredAsDigestsAndRotateWithTheirAuditEntries() async throws {
        try await withStore { store, path in
            let t0 = Timestamp(seconds: 1_000)
            let first = try await store.issueCredential(
                NewManagedCredential(kind: .feedSecret, name: "okta", digest: SecretDigest(of: "s3cr3t-value"), createdBy: "token:ops"),
                at: t0, retireOthersAt: nil, refuseIfActive: false, audit: nil
            )
            // Rotation: the old secret is accepted for the grace period only; the entry commits with it.
            let rotated = try await store.issueCredential(
                NewManagedCredential(kind: .feedSecret, name: "okta", digest: SecretDigest(of: "second-value"), createdBy: "token:ops"),
                at: t0 + .seconds(10), retireOthersAt: t0 + .seconds(70), refuseIfActive: false,
                audit: { new, retired in
                    AdminAuditEntry(
                        action: "feed.secret_rotated", actor: AdminAuditEntry.user("ops"), targets: [AuditTarget(type: "feed", id: "okta")],
                        metadata: [JSONMember("retiring", .number(String(retired.count))), JSONMember("secret_id", .number(String(new.id)))],
                        occurredAt: t0 + .seconds(10)
                    )
                }
            )
            #expect(rotated.retired.map(\.id) == [first.credential.id])
            let all = try await store.managedCredentials(kind: .feedSecret, name: "okta")
            #expect(all.map { $0.isActive(at: t0 + .seconds(69)) } == [true, true])
            #expect(all.map { $0.isActive(at: t0 + .seconds(70)) } == [false, true])
            #expect(all.first?.digest.matches("s3cr3t-value") == true)
            let entries = try await store.events(matching: EventFilter(source: AdminAuditEntry.source), after: nil, limit: 10).events
            #expect(entries.map(\.normalized.action) == ["feed.secret_rotated"])

            // A name that must be unique refuses a second active credential and records nothing.
            _ = try await store.issueCredential(
                NewManagedCredential(kind: .adminToken, name: "alice", digest: SecretDigest(of: "token-a"), role: "admin", createdBy: "sluice"),
                at: t0, retireOthersAt: nil, refuseIfActive: true, audit: nil
            )
            await #expect(throws: StoreError.self) {
                try await store.issueCredential(
                    NewManagedCredential(kind: .adminToken, name: "alice", digest: SecretDigest(of: "token-b"), role: "admin", createdBy: "sluice"),
                    at: t0, retireOthersAt: nil, refuseIfActive: true,
                    audit: { _, _ in AdminAuditEntry(action: "admin_token.created", actor: AdminAuditEntry.system, occurredAt: t0) }
                )
            }
            // The last admin-role token cannot be revoked; with another one it can, once.
            await #expect(throws: StoreError.self) {
                try await store.revokeCredentials(kind: .adminToken, name: "alice", id: nil, at: t0, by: "token:alice", keepOneWithRole: "admin", audit: nil)
            }
            _ = try await store.issueCredential(
                NewManagedCredential(kind: .adminToken, name: "bob", digest: SecretDigest(of: "token-c"), role: "admin", createdBy: "sluice"),
                at: t0, retireOthersAt: nil, refuseIfActive: true, audit: nil
            )
            let revoked = try await store.revokeCredentials(kind: .adminToken, name: "alice", id: nil, at: t0, by: "token:bob", keepOneWithRole: "admin", audit: nil)
            #expect(revoked.map(\.revokedBy) == ["token:bob"])
            #expect(try await store.revokeCredentials(kind: .adminToken, name: "alice", id: nil, at: t0, by: "token:bob", keepOneWithRole: "admin", audit: nil).isEmpty)
            #expect(try await store.events(matching: EventFilter(source: AdminAuditEntry.source), after: nil, limit: 10).events.count == 1)

            let fileBytes = try Data(contentsOf: URL(fileURLWithPath: path + "/db/sluice.db")) + ((try? Data(contentsOf: URL(fileURLWithPath: path + "/db/sluice.db-wal"))) ?? Data())
            for value in ["s3cr3t-value", "second-value", "token-a", "token-c"] {
                #expect(fileBytes.range(of: Data(value.utf8)) == nil)
            }
        }
    }
}

@Suite struct SQLiteDurabilityTests {
    /// `PRAGMA synchronous` as the writer (which makes every commit) and a reader see it.
    func synchronousSettings(_ durability: SQLiteDurability) throws -> (writer: Int, reader: Int) {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(
            configuration: SQLiteStoreConfiguration(path: directory.path + "/sluice.db", durability: durability),
            logger: Logger(label: "test")
        )
        let writer = try store.pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        let reader = try store.pool.read { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        return (writer ?? -1, reader ?? -1)
    }

    /// The configured mode is the writer's: enabling WAL must not reset it (GRDB sets NORMAL
    /// while doing so, after the connection's own set-up has run).
    @Test func theWriterCommitsWithTheConfiguredSynchronousMode() throws {
        let full = try synchronousSettings(.full)
        #expect(full.writer == 2, "synchronous = FULL is 2")
        #expect(full.reader == 2)
        let normal = try synchronousSettings(.normal)
        #expect(normal.writer == 1, "synchronous = NORMAL is 1")
        #expect(normal.reader == 1)
    }
}

@Suite struct PostingBlockTests {
    /// Times and seqs in any order a block can hold (sorted by time, seqs going back for late
    /// events), extremes included, read back exactly.
    @Test func blocksRoundTripTheirPostings() throws {
        let postings = [
            Posting(occurredAt: .min, seq: 7), Posting(occurredAt: -1, seq: 1), Posting(occurredAt: 0, seq: .max),
            Posting(occurredAt: 0, seq: 2), Posting(occurredAt: 1_700_000_000_000_000, seq: 3),
            Posting(occurredAt: .max, seq: 1),
        ].sorted()
        let bytes = PostingBlock.encode(postings[...])
        #expect(try PostingBlock.decode(bytes, first: postings[0], count: postings.count) == postings)
        #expect(PostingBlock.encode(postings.prefix(1)).isEmpty)
        #expect(try PostingBlock.decode([UInt8](), first: postings[0], count: 1) == [postings[0]])
    }

    @Test func aDamagedBlockIsReportedNotMisread() {
        let postings = (0..<10).map { Posting(occurredAt: Int64($0) * 1_000_000, seq: Int64($0) + 500) }
        let bytes = PostingBlock.encode(postings[...])
        #expect(throws: StoreError.self) { try PostingBlock.decode(bytes.dropLast(), first: postings[0], count: 10) }
        #expect(throws: StoreError.self) { try PostingBlock.decode(bytes, first: postings[0], count: 9) }
        #expect(throws: StoreError.self) { try PostingBlock.decode(bytes + [0x80], first: postings[0], count: 10) }
        #expect(throws: StoreError.self) { try PostingBlock.decode(bytes, first: postings[0], count: Int.max) }
        #expect(throws: StoreError.self) { try PostingBlock.decode(bytes, first: postings[0], count: 0) }
    }

    /// Events arriving out of time order, indexed in small passes into small blocks, give blocks
    /// that overlap in time; every filtered listing, paged, must equal the one computed directly
    /// from the events.
    @Test func overlappingBlocksListExactlyWhatTheEventsSay() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(
            configuration: SQLiteStoreConfiguration(path: directory.path + "/sluice.db", automaticIndexing: false),
            logger: Logger(label: "test")
        )
        let actors = ["ana", "bo", "cy"]
        var state: UInt64 = 42
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        var stored: [(seq: Int64, occurred: Int64, actor: String, action: String)] = []
        for batch in 0..<12 {
            var events: [IncomingEvent] = []
            for i in 0..<25 {
                let n = batch * 25 + i
                // Mostly rising times with late arrivals up to 200 s old, and ties.
                let occurred = Int64(n * 2) - Int64(next() % 200) + (n % 7 == 0 ? 0 : 1)
                let actor = actors[Int(next() % 3)]
                let action = n % 5 == 0 ? "file.moved" : "file.read"
                events.append(EventStoreContract.event(
                    action: action, actorID: actor, actorName: actor, occurredAt: Timestamp(seconds: occurred), key: "k\(n)"
                ))
            }
            _ = try await store.append(events, receivedAt: Timestamp(seconds: 10_000))
        }
        let all = try await store.events(afterSeq: 0, limit: 1_000)
        stored = all.map { ($0.seq, $0.normalized.occurredAt.microseconds, $0.normalized.actor?.id ?? "", $0.normalized.action) }
        #expect(stored.count == 300)
        // Leave the last 40 unindexed: the listing merges indexed blocks with the scanned tail.
        _ = try await store.indexPendingTerms(maxEvents: 260, passSize: 23, blockSize: 4)
        let blocks = try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM event_postings") ?? 0 }
        #expect(blocks > 100, "small passes and blocks give many blocks (\(blocks))")

        let filters: [(EventFilter, (String, String) -> Bool)] = [
            (EventFilter(actor: "bo"), { actor, _ in actor == "bo" }),
            (EventFilter(actor: "cy", action: .exact("file.moved")), { actor, action in actor == "cy" && action == "file.moved" }),
            (EventFilter(action: .exact("file.moved")), { _, action in action == "file.moved" }),
            (EventFilter(action: .prefix("file.")), { _, _ in true }),
            (EventFilter(actor: "ana", since: Timestamp(seconds: 150), until: Timestamp(seconds: 420)), { actor, _ in actor == "ana" }),
            (EventFilter(actor: "nobody"), { _, _ in false }),
        ]
        for (index, (filter, matches)) in filters.enumerated() {
            let since = filter.since?.microseconds ?? .min
            let until = filter.until?.microseconds ?? .max
            let expected = stored
                .filter { matches($0.actor, $0.action) && $0.occurred >= since && $0.occurred < until }
                .sorted { ($0.occurred, $0.seq) > ($1.occurred, $1.seq) }
                .map(\.seq)
            for limit in [1, 7, 50] {
                var listed: [Int64] = []
                var cursor: EventCursor?
                repeat {
                    let page = try await store.events(matching: filter, after: cursor, limit: limit)
                    listed += page.events.map(\.seq)
                    cursor = page.nextCursor
                } while cursor != nil && listed.count <= stored.count
                #expect(listed == expected, "filter \(index), pages of \(limit)")
            }
        }
    }
}
