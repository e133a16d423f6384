import Foundation
import GRDB
import Logging
import SluiceCore
import SluiceCompression
import SluiceStoreKit
@testable import SluiceStoreSQLite
import SluiceTesting
import Testing

/// The compressed layout: what goes in comes out byte for byte, whatever it is; dictionaries are
/// trained, retrained and kept readable; damage is reported per event, never returned as data.
@Suite struct LeanStoreTests {
    /// Every field of a stored event against what was appended.
    static func expectSame(_ stored: StoredEvent, _ incoming: IncomingEvent, receivedAt: Timestamp, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(stored.raw == incoming.raw, "raw of seq \(stored.seq)", sourceLocation: sourceLocation)
        #expect(stored.source.utf8.elementsEqual(incoming.source.utf8), sourceLocation: sourceLocation)
        #expect(stored.logType == incoming.logType, sourceLocation: sourceLocation)
        #expect(stored.origin == incoming.origin, sourceLocation: sourceLocation)
        #expect(stored.receivedAt == receivedAt, sourceLocation: sourceLocation)
        let (a, b) = (stored.normalized, incoming.normalized)
        #expect(a.occurredAt == b.occurredAt && a.schemaVersion == b.schemaVersion, sourceLocation: sourceLocation)
        #expect(a.action.utf8.elementsEqual(b.action.utf8), sourceLocation: sourceLocation)
        #expect(a.actor == b.actor && a.targets == b.targets && a.context == b.context, "normalized of seq \(stored.seq)", sourceLocation: sourceLocation)
    }

    @Test(arguments: StoreBackend.available) func variedEventsComeBackByteForByte(_ backend: StoreBackend) async throws {
        try await backend.withStore { store in
            var varied = VariedEvents(seed: 7)
            let count = backend == .sqlite ? 6_000 : 1_500
            var appended: [(IncomingEvent, Timestamp)] = []
            var batch = 0
            while appended.count < count {
                batch += 1
                let events = varied.next(min(count - appended.count, 1 + batch % 400))
                let receivedAt = Timestamp(seconds: 1_765_000_000 + Int64(batch))
                let result = try await store.append(events, receivedAt: receivedAt)
                #expect(result == AppendResult(accepted: events.count, duplicates: 0))
                appended += events.map { ($0, receivedAt) }
            }
            // In store order, as consumers read them, and as delivery reads them.
            try await settle(store)
            var seq: Int64 = 0
            var index = 0
            while true {
                let page = try await store.events(afterSeq: seq, limit: 500)
                if page.isEmpty { break }
                let outbound = try await store.outboundEvents(afterSeq: seq, limit: 500)
                #expect(outbound.map(\.seq) == page.map(\.seq))
                for (stored, out) in zip(page, outbound) {
                    let (incoming, receivedAt) = appended[index]
                    Self.expectSame(stored, incoming, receivedAt: receivedAt)
                    #expect(out.raw == incoming.raw && out.receivedAt == receivedAt && out.action == stored.normalized.action)
                    if index % 50 == 0 { #expect(try await store.event(id: stored.id) == stored) }
                    index += 1
                }
                seq = page.last!.seq
            }
            #expect(index == count)
            let stats = try await store.storageStats()
            #expect(stats.events == count)
            #expect(stats.rawBytes == Int64(appended.reduce(0) { $0 + $1.0.raw.count }))
        }
    }

    @Test func idsDeriveFromTheRowAndAWrongTimeFindsNothing() async throws {
        try await StoreBackend.sqlite.withStore { store in
            _ = try await store.append([EventStoreContract.event(occurredAt: Timestamp(seconds: 1_765_000_000), key: "a")], receivedAt: Timestamp(seconds: 1_765_000_001))
            let stored = try #require(try await store.events(matching: EventFilter(), after: nil, limit: 1).events.first)
            #expect(stored.id == EventID.stored(occurredAt: stored.normalized.occurredAt, seq: stored.seq))
            #expect(try await store.event(id: stored.id) == stored)
            let otherTime = EventID.stored(occurredAt: stored.normalized.occurredAt + .seconds(1), seq: stored.seq)
            #expect(try await store.event(id: otherTime) == nil)
            #expect(try await store.event(id: EventID.stored(occurredAt: stored.normalized.occurredAt, seq: stored.seq + 1)) == nil)
        }
    }

    /// Shapes of JSON unlike one another, so that a dictionary trained on one fits the next badly.
    static func shaped(_ shape: Int, _ n: Int) -> IncomingEvent {
        let raw: String
        switch shape {
        case 0:
            raw = "{\"@timestamp\":\"2026-12-06T10:00:\(n % 60)Z\",\"event\":{\"id\":\"fe-\(n * 7919)\",\"action\":\"file-downloaded\",\"observer\":\"Endpoint\"},\"user\":{\"email\":\"user\(n % 89)@example.com\",\"deviceUid\":\"dev-\(n % 13)\"},\"file\":{\"name\":\"report-\(n).pdf\",\"directory\":\"/Users/u\(n % 89)/Documents/\",\"category\":\"Document\",\"sizeInBytes\":\(n * 31 % 100_000)}}"
        case 1:
            raw = "[\"audit\",{\"typ\":\"AuditLogEntry\",\"actorIpAddress\":\"198.51.100.\(n % 250)\",\"actorAgent\":\"py-requests/2.\(n % 30)\",\"success\":\(n % 2 == 0),\"tenantId\":\"c4e43418-07d9-4a9f-a138-29f39a124d33\",\"eventId\":\"ae-\(n * 104_729)\",\"userRoleAdded\":{\"role\":\"Customer Cloud Admin\",\"by\":\"admin\(n % 7)\"}}]"
        default:
            raw = "{\"kind\":\"case\",\"number\":\(n),\"name\":\"Case for Person \(n % 41)\",\"status\":\"\(n % 3 == 0 ? "OPEN" : "CLOSED")\",\"description\":\"Potential exfiltration reviewed by the insider risk team on shift \(n % 5)\",\"assigneeUsername\":\"analyst\(n % 9)@corp.example\",\"findings\":\"\"}"
        }
        return EventStoreContract.event(source: "incydr", occurredAt: Timestamp(seconds: 1_765_000_000 + Int64(n)), key: "s\(shape)-\(n)", raw: raw, logType: "CODE42_INCYDR")
    }

    @Test func dictionariesAreTrainedRetrainedAndEveryGenerationReadsBack() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var policy = DictionaryPolicy()
        policy.firstSamples = 150
        policy.firstCapacity = 4_096
        policy.retrainSamples = 300
        policy.retrainCapacity = 8_192
        policy.checkEvery = 200
        policy.backoff = 1_000
        let configuration = SQLiteStoreConfiguration(path: directory.path + "/sluice.db", dictionaries: policy)
        var appended: [IncomingEvent] = []
        var n = 0
        do {
            let store = try SQLiteEventStore(configuration: configuration, logger: Logger(label: "test.sqlite"))
            // Each shape long enough for the stream to settle on it, then the next.
            for shape in 0..<3 {
                for _ in 0..<12 {
                    let events = (0..<100).map { _ in n += 1; return Self.shaped(shape, n) }
                    _ = try await store.append(events, receivedAt: Timestamp(seconds: 1_765_100_000))
                    appended += events
                    await store.trainDueDictionaries()
                }
            }
            let stats = try await store.storageStats()
            let dictionaries = Set(stats.parts.compactMap { part -> Int64? in if case .dictionary(let id, _) = part.encoding { return id } else { return nil } })
            #expect(dictionaries.count >= 3, "\(stats.parts)")
            #expect(stats.parts.contains { $0.encoding == .zstd }, "rows before the first dictionary use zstd alone")
            // Every generation compresses better than zstd alone did before the first.
            let plain = try #require(stats.parts.first { $0.encoding == .zstd })
            for part in stats.parts where part.encoding != .zstd && part.encoding != .plain {
                #expect(part.ratio > plain.ratio, "\(part)")
            }
        }
        // A fresh process reads all of them back, loading the older dictionaries as it meets them.
        let reopened = try SQLiteEventStore(configuration: configuration, logger: Logger(label: "test.sqlite"))
        let stored = try await reopened.events(afterSeq: 0, limit: 10_000)
        #expect(stored.count == appended.count)
        for (event, incoming) in zip(stored, appended) {
            #expect(event.raw == incoming.raw)
        }
        let check = try await reopened.checkStorage(maxReported: 10)
        #expect(check.isHealthy && check.checked == appended.count)
    }

    @Test func aDamagedPayloadIsAnErrorNamingItsEventNeverWrongBytes() async throws {
        try await withSQLite { store in
            let events = (0..<300).map { Self.shaped(0, $0) }
            _ = try await store.append(events, receivedAt: Timestamp(seconds: 1_765_100_000))
            await store.trainDueDictionaries()
            _ = try await store.append((300..<400).map { Self.shaped(0, $0) }, receivedAt: Timestamp(seconds: 1_765_100_001))
            let victim = try #require(try await store.events(afterSeq: 350, limit: 1).first)
            try await store.pool.write { db in
                let payload = try #require(try Data.fetchOne(db, sql: "SELECT payload FROM events WHERE seq = ?", arguments: [victim.seq]))
                var damaged = [UInt8](payload)
                damaged[damaged.count / 2] ^= 0x5A
                try db.execute(sql: "UPDATE events SET payload = ? WHERE seq = ?", arguments: [Data(damaged), victim.seq])
            }
            for read in [
                { _ = try await store.events(matching: EventFilter(), after: nil, limit: 1000) },
                { _ = try await store.event(id: victim.id) },
                { _ = try await store.outboundEvents(afterSeq: victim.seq - 1, limit: 5) },
            ] as [() async throws -> Void] {
                do {
                    try await read()
                    Issue.record("a damaged payload was read without an error")
                } catch let error as StoreError {
                    #expect(error.code == .corrupt)
                    #expect(error.message.contains(victim.id.rawValue), "\(error)")
                }
            }
            // Events before it still read; the check lists it and nothing else.
            #expect(try await store.events(afterSeq: 0, limit: Int(victim.seq - 1)).count == Int(victim.seq - 1))
            let check = try await store.checkStorage(maxReported: 10)
            #expect(check.unreadable.map(\.seq) == [victim.seq])
            #expect(check.unreadable.first?.id == victim.id.rawValue)
        }
    }

    @Test func aMissingDictionaryIsNamed() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let configuration = SQLiteStoreConfiguration(path: directory.path + "/sluice.db")
        do {
            let store = try SQLiteEventStore(configuration: configuration, logger: Logger(label: "test.sqlite"))
            _ = try await store.append((0..<1_200).map { Self.shaped(0, $0) }, receivedAt: Timestamp(seconds: 1_765_100_000))
            await store.trainDueDictionaries()
            _ = try await store.append((1_200..<1_300).map { Self.shaped(0, $0) }, receivedAt: Timestamp(seconds: 1_765_100_001))
            // A store of a later release that lost the dictionary (a damaged table, a bad manual edit).
            try await store.pool.write { db in
                try db.execute(sql: "DROP TABLE dictionaries")
                try db.execute(sql: "CREATE TABLE dictionaries (id INTEGER PRIMARY KEY, source TEXT NOT NULL, log_type TEXT NOT NULL, level INTEGER NOT NULL, samples INTEGER NOT NULL, ratio REAL NOT NULL, created_at INTEGER NOT NULL, bytes BLOB NOT NULL)")
            }
        }
        let reopened = try SQLiteEventStore(configuration: configuration, logger: Logger(label: "test.sqlite"))
        await #expect {
            _ = try await reopened.events(afterSeq: 1_250, limit: 10)
        } throws: { error in
            (error as? StoreError)?.code == .corrupt && (error as? StoreError)?.message.contains("dictionary") == true
        }
        #expect(try await reopened.events(afterSeq: 0, limit: 100).count == 100, "rows before the dictionary read as they are")
    }

    @Test func recordsRoundTripAndRefuseDamage() throws {
        var varied = VariedEvents(seed: 3)
        for incoming in varied.next(300) {
            var record: [UInt8] = []
            let receivedAt = incoming.normalized.occurredAt + .seconds(90)
            let legacy: EventID? = incoming.raw.count % 2 == 0 ? EventID.make(at: receivedAt) : nil
            EventRecord.encode(raw: incoming.raw, normalized: incoming.normalized, receivedAt: receivedAt, legacyID: legacy, into: &record)
            let fields = try EventRecord.decode(record, occurredAt: incoming.normalized.occurredAt)
            #expect(fields.raw == incoming.raw && fields.receivedAt == receivedAt && fields.legacyID == legacy)
            #expect(fields.actor == incoming.normalized.actor && fields.targets == incoming.normalized.targets)
            #expect(fields.context == incoming.normalized.context && fields.schemaVersion == incoming.normalized.schemaVersion)
            #expect(try EventRecord.decodeHead(record, occurredAt: incoming.normalized.occurredAt).raw == incoming.raw)
            // Cut anywhere, it fails; it never decodes to something else.
            for cut in [1, record.count / 2, record.count - 1] where cut < record.count {
                #expect(throws: StoreError.self) { try EventRecord.decode(Array(record.prefix(cut)), occurredAt: incoming.normalized.occurredAt) }
            }
            #expect(throws: StoreError.self) { try EventRecord.decode(record + [0], occurredAt: incoming.normalized.occurredAt) }
        }
    }

    /// A store of the layout before: `count` events in `events`, as that release wrote them.
    static func legacyStore(at path: String, count: Int) throws -> [(id: EventID, raw: [UInt8])] {
        let previous = try DatabaseQueue(path: path)
        try SQLiteEventStore.migrator.migrate(previous, upTo: "2026-12-05-posting-blocks")
        var random = SplitMix64()
        var written: [(EventID, [UInt8])] = []
        try previous.write { db in
            for n in 0..<count {
                let occurred = Timestamp(seconds: 1_765_000_000 + Int64(n))
                let id = EventID.make(at: occurred, using: &random)
                let raw = Array("{\"n\":\(n),\"pad\":\"\((0..<8).map { _ in String(random.next() as UInt64, radix: 36) }.joined())\"}".utf8)
                try db.execute(
                    sql: """
                        INSERT INTO events (id, source, dedupe_key, log_type, occurred_at, received_at, action, actor_type, actor_id, targets, raw)
                        VALUES (?, 'feed-a', ?, 'INCIDENT_IO', ?, ?, 'api_key.created', 'user', ?, '[{"type":"api_key","id":"k"}]', ?)
                        """,
                    arguments: [id.rawValue, Data("key-\(n)".utf8), occurred.microseconds, occurred.microseconds + 1, "u\(n % 5)", Data(raw)]
                )
                written.append((id, raw))
            }
        }
        try previous.close()
        return written
    }

    @Test func anUpgradedStoreReadsOldRowsInPlaceThenMovesThemKeepingTheirIds() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/sluice.db"
        let written = try Self.legacyStore(at: path, count: 5_000)
        let store = try SQLiteEventStore(configuration: .init(path: path, automaticCompaction: false), logger: Logger(label: "test"))
        // Readable where they are.
        #expect(try await store.storageStats().uncompressedEvents == 5_000)
        #expect(try await store.event(id: written[17].id)?.raw == written[17].raw)
        #expect(try await store.events(matching: EventFilter(actor: "u3"), after: nil, limit: 1000).events.count == 1_000)
        // Names no lean row has yet still find the old rows, which hold them as text.
        #expect(try await store.events(matching: EventFilter(source: "feed-a", action: .exact("api_key.created")), after: nil, limit: 10).events.count == 10)
        #expect(try await store.events(matching: EventFilter(source: "no-such-feed"), after: nil, limit: 10).events.isEmpty)
        // New events go beside them, after them in seq; a redelivered old event is a duplicate.
        let again = IncomingEvent(source: "feed-a", logType: "INCIDENT_IO", dedupeKey: Array("key-7".utf8), raw: Array("{}".utf8), normalized: NormalizedEvent(occurredAt: Timestamp(seconds: 1), action: "x"))
        #expect(try await store.append([again, EventStoreContract.event(occurredAt: Timestamp(seconds: 1_765_100_000), key: "new")], receivedAt: Timestamp(seconds: 1_765_100_001)) == AppendResult(accepted: 1, duplicates: 1))
        #expect(try await store.compactAll() == 5_000)
        let stats = try await store.storageStats()
        #expect(stats.uncompressedEvents == 0 && stats.events == 5_001)
        for (id, raw) in written.shuffled().prefix(200) {
            let found = try #require(try await store.event(id: id))
            #expect(found.id == id && found.raw == raw)
        }
        #expect(try await store.events(matching: EventFilter(actor: "u3"), after: nil, limit: 1000).events.count == 1_000)
        #expect(try await store.events(matching: EventFilter(source: "feed-a", logType: "INCIDENT_IO", action: .exact("api_key.created")), after: nil, limit: 1000).events.count == 1_000)
        #expect(try await store.events(matching: EventFilter(source: "feed-a", action: .exact("no.such.action")), after: nil, limit: 10).events.isEmpty)
        #expect(try await store.append([again], receivedAt: Timestamp(seconds: 1_765_100_002)) == AppendResult(accepted: 0, duplicates: 1))
        // Retention removes moved rows with their old ids.
        #expect(try await store.purge(occurredBefore: Timestamp(seconds: 1_765_000_100), limit: 1_000).count == 100)
        #expect(try await store.event(id: written[50].id) == nil)
        let check = try await store.checkStorage(maxReported: 5)
        #expect(check.isHealthy && check.checked == 4_901)
    }

    @Test func aFullDiskPausesTheUpgradeAndSaysSo() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/sluice.db"
        _ = try Self.legacyStore(at: path, count: 3_000)
        // Migrated first, with room to spare (the cap is for the batches), and nothing else writing.
        let migrated = try SQLiteEventStore(configuration: .init(path: path, automaticIndexing: false, automaticCompaction: false), logger: Logger(label: "test"))
        let size = try await migrated.pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()") ?? 0
        }
        // No room for a batch's compressed copies beside the rows they replace.
        let store = try SQLiteEventStore(
            configuration: .init(path: path, maxSizeBytes: size + 4_096, automaticIndexing: false, automaticCompaction: false), logger: Logger(label: "test")
        )
        await #expect {
            _ = try await store.compactAll()
        } throws: { error in
            (error as? StoreError)?.code == .full
        }
        #expect(try await store.storageStats().uncompressedEvents == 3_000, "nothing was lost or half moved")
        store.scheduleCompaction(after: .milliseconds(0))
        #expect(try await eventually(limit: .seconds(10)) { try await store.storageStats().compactionPaused?.contains("disk is full") == true })
        #expect(try await store.events(afterSeq: 0, limit: 5_000).count == 3_000)
    }

    func withSQLite(_ body: (SQLiteEventStore) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await body(try SQLiteEventStore(configuration: SQLiteStoreConfiguration(path: directory.path + "/sluice.db"), logger: Logger(label: "test.sqlite")))
    }
}

/// When a stream's dictionary is trained: the policy alone, decision by decision.
@Suite struct DictionaryPolicyTests {
    typealias State = DictionaryTrainer.StreamState

    static func state(_ phase: DictionaryTrainer.Phase, samples: Int = 0, rows: Int = 0, plain: Int = 0, stored: Int = 0, adopted: Double = 0,
                      collecting: Bool = false, training: Bool = false, wait: Int = 0) -> State {
        var s = State()
        s.phase = phase
        s.samples = Array(repeating: [0], count: samples)
        s.window = .init(rows: rows, plain: plain, stored: stored)
        s.adoptedRatio = adopted
        s.collecting = collecting
        s.training = training
        s.rowsUntilRetry = wait
        return s
    }

    @Test func decisions() {
        let p = DictionaryPolicy()
        #expect(p.decide(Self.state(.first)) == .collect)
        #expect(p.decide(Self.state(.first, samples: 999)) == .collect)
        #expect(p.decide(Self.state(.first, samples: 1_000)) == .train(capacity: p.firstCapacity))
        #expect(p.decide(Self.state(.first, samples: 1_000, training: true)) == .keep, "one training at a time")
        #expect(p.decide(Self.state(.first, samples: 1_000, wait: 5)) == .keep, "backing off after a failed training")
        // Steady: looks at the ratio every checkEvery rows.
        #expect(p.decide(Self.state(.steady, rows: 9_999, plain: 100, stored: 100, adopted: 6)) == .keep)
        #expect(p.decide(Self.state(.steady, rows: 10_000, plain: 6_000, stored: 1_000, adopted: 6)) == .keep, "ratio as adopted")
        #expect(p.decide(Self.state(.steady, rows: 10_000, plain: 5_200, stored: 1_000, adopted: 6)) == .keep, "within the drift allowed")
        #expect(p.decide(Self.state(.steady, rows: 10_000, plain: 5_000, stored: 1_000, adopted: 6)) == .collect, "drifted: collect for a fresh one")
        #expect(p.decide(Self.state(.steady, samples: 1_999, collecting: true)) == .collect)
        #expect(p.decide(Self.state(.steady, samples: 2_000, collecting: true)) == .train(capacity: p.retrainCapacity))
    }

    @Test func aCandidateMustBeatTheCurrentDictionary() throws {
        let samples = (0..<600).map { LeanStoreTests.shaped(0, $0).raw }
        let stream = DictionaryStream(source: "s", logType: "L")
        let first = try #require(DictionaryTrainer.train(stream, samples: samples, capacity: 8_192, against: nil, policy: DictionaryPolicy()))
        let current = try ZstdDictionary(bytes: first.bytes, level: first.level)
        // The same kind of events again: a fresh dictionary is no better, so none is adopted.
        let again = (600..<1_200).map { LeanStoreTests.shaped(0, $0).raw }
        #expect(DictionaryTrainer.train(stream, samples: again, capacity: 8_192, against: current, policy: DictionaryPolicy()) == nil)
        // Events of another shape: the candidate is far better and is adopted.
        let other = (0..<600).map { LeanStoreTests.shaped(1, $0).raw }
        let candidate = try #require(DictionaryTrainer.train(stream, samples: other, capacity: 8_192, against: current, policy: DictionaryPolicy()))
        #expect(candidate.ratio > 2)
    }
}
