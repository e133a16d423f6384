import Logging
import PostgresNIO
import SluiceCore
import SluiceStoreKit
@testable import SluiceStorePostgres
import SluiceStoreSQLite
import SluiceTesting
import Synchronization
import Testing

/// Holds one commit open (between its inserts and COMMIT) until the test opens the gate.
final class CommitGate: Sendable {
    private let held: AsyncStream<Void>
    private let heldSignal: AsyncStream<Void>.Continuation
    private let released: AsyncStream<Void>
    private let releaseSignal: AsyncStream<Void>.Continuation

    init() {
        (held, heldSignal) = AsyncStream.makeStream()
        (released, releaseSignal) = AsyncStream.makeStream()
    }

    /// Called by the store inside its transaction.
    func pass() async {
        heldSignal.yield()
        for await _ in released { break }
    }

    func waitUntilHeld() async {
        for await _ in held { break }
    }

    func open() {
        releaseSignal.yield()
        releaseSignal.finish()
    }
}

@Suite(.enabled(if: PostgresTestDatabase.url != nil || PostgresTestDatabase.isRequired))
struct PostgresEventStoreTests {
    static let logger = Logger(label: "test.postgres")

    /// Two instances: the first inserts and holds its transaction open; the second appends and
    /// commits meanwhile (nothing makes it wait for the first). A consumer reading in between must
    /// not see the second event: it would then move past the first one's seq and never see it.
    @Test func seqOrderIsCommitOrderAcrossInstances() async throws {
        try await PostgresTestDatabase.withSchema { configuration in
            let gate = CommitGate()
            try await PostgresEventStore.withStore(configuration: configuration, logger: Self.logger, beforeCommit: { await gate.pass() }) { first in
                try await PostgresEventStore.withStore(configuration: configuration, logger: Self.logger) { second in
                    let early = Task { try await first.append([EventStoreContract.event(occurredAt: .init(seconds: 1), key: "early")], receivedAt: .init(seconds: 10)) }
                    await gate.waitUntilHeld()
                    let late = try await second.append([EventStoreContract.event(occurredAt: .init(seconds: 2), key: "late")], receivedAt: .init(seconds: 11))
                    #expect(late.accepted == 1, "the second instance commits while the first holds its transaction open")
                    let committed = try await PostgresTestDatabase.scalar("SELECT count(*)::text FROM \(configuration.schema).events", on: configuration)
                    #expect(committed == "1")
                    let seenEarly = try await second.events(afterSeq: 0, limit: 10)
                    #expect(seenEarly.isEmpty, "nothing is visible while a transaction that began earlier is open")
                    let latest = try await second.latestSeq()
                    #expect(latest == 0, "a consumer starting now starts below the open transaction")
                    gate.open()
                    _ = try await early.value
                    try await settle(second)
                    let all = try await second.events(afterSeq: 0, limit: 10)
                    #expect(all.map { String(decoding: $0.raw, as: UTF8.self) } == ["{\"k\":\"early\"}", "{\"k\":\"late\"}"])
                    let outbound = try await second.outboundEvents(afterSeq: 0, limit: 10)
                    #expect(outbound.map(\.seq) == all.map(\.seq))
                }
            }
        }
    }

    /// The same proof for the path pushes take, where the insert commits inside its own CALL (no
    /// BEGIN or COMMIT around it): a trigger makes the first instance's insert wait, mid-statement
    /// and with its transaction id drawn, on an advisory lock the test holds.
    @Test func seqOrderIsCommitOrderWhenTheInsertCommitsItself() async throws {
        try await PostgresTestDatabase.withSchema { configuration in
            let schema = configuration.schema
            try await PostgresEventStore.withStore(configuration: configuration, logger: Self.logger) { first in
                try await PostgresEventStore.withStore(configuration: configuration, logger: Self.logger) { second in
                    try await PostgresTestDatabase.execute(
                        """
                        CREATE FUNCTION \(schema).hold_insert() RETURNS trigger LANGUAGE plpgsql AS $$
                        BEGIN IF NEW.source = 'held' THEN PERFORM pg_advisory_xact_lock_shared(424242); END IF; RETURN NEW; END $$
                        """, on: configuration)
                    try await PostgresTestDatabase.execute(
                        "CREATE TRIGGER hold_insert BEFORE INSERT ON \(schema).events FOR EACH ROW EXECUTE FUNCTION \(schema).hold_insert()", on: configuration)
                    try await PostgresTestDatabase.withConnection(on: configuration) { lock in
                        try await lock.query("SELECT pg_advisory_lock(424242)", logger: Self.logger)
                        let early = Task {
                            try await first.append([EventStoreContract.event(source: "held", occurredAt: .init(seconds: 1), key: "early")], receivedAt: .init(seconds: 10))
                        }
                        // The first instance's CALL waits for the lock, inside its transaction.
                        var waiting = "0"
                        var looks = 0
                        while waiting == "0", looks < 500 {
                            looks += 1
                            try await Task.sleep(for: .milliseconds(10))
                            waiting = try await PostgresTestDatabase.scalar(
                                "SELECT count(*)::text FROM pg_stat_activity WHERE wait_event = 'advisory' AND query LIKE '%insert_events%' AND backend_xid IS NOT NULL",
                                on: configuration) ?? "0"
                        }
                        #expect(waiting == "1", "the first insert waits mid-statement with its transaction id drawn")
                        let late = try await second.append([EventStoreContract.event(occurredAt: .init(seconds: 2), key: "late")], receivedAt: .init(seconds: 11))
                        #expect(late.accepted == 1, "the second instance commits while the first insert is still running")
                        #expect(try await second.events(afterSeq: 0, limit: 10).isEmpty, "nothing is visible while an insert that began earlier runs")
                        #expect(try await second.latestSeq() == 0)
                        try await lock.query("SELECT pg_advisory_unlock(424242)", logger: Self.logger)
                        #expect(try await early.value.accepted == 1)
                    }
                    try await settle(second)
                    let all = try await second.events(afterSeq: 0, limit: 10)
                    #expect(all.map { String(decoding: $0.raw, as: UTF8.self) } == ["{\"k\":\"early\"}", "{\"k\":\"late\"}"])
                }
            }
        }
    }

    /// A long transaction on a table Sluice does not know holds consumers back (they read only
    /// below the oldest running transaction) while three instances keep appending and
    /// acknowledging; once it ends, the consumer sees every event exactly once.
    @Test func longTransactionElsewhereDelaysConsumersAndLosesNothing() async throws {
        try await PostgresTestDatabase.withSchema { configuration in
            try await PostgresEventStore.withStore(configuration: configuration, logger: Self.logger) { a in
                try await PostgresTestDatabase.execute("CREATE TABLE \(configuration.schema).unrelated (note text)", on: configuration)
                try await PostgresEventStore.withStore(configuration: configuration, logger: Self.logger) { b in
                    try await PostgresEventStore.withStore(configuration: configuration, logger: Self.logger) { c in
                        let stores = [a, b, c]
                        _ = try await a.append([EventStoreContract.event(occurredAt: .init(seconds: 1), key: "before")], receivedAt: .init(seconds: 5))
                        var cursor: Int64 = 0
                        var seen: [String] = []
                        func follow() async throws {
                            while true {
                                let page = try await a.events(afterSeq: cursor, limit: 64)
                                guard let last = page.last else { return }
                                seen += page.map { String(decoding: $0.raw, as: UTF8.self) }
                                cursor = last.seq
                            }
                        }
                        // Other tests' transactions on the same server may hold it back a moment.
                        try await settle(a)
                        try await follow()
                        #expect(seen == ["{\"k\":\"before\"}"])
                        try await PostgresTestDatabase.withConnection(on: configuration) { connection in
                            try await connection.query("BEGIN", logger: Self.logger)
                            try await connection.query(PostgresQuery(unsafeSQL: "INSERT INTO \(configuration.schema).unrelated VALUES ('long')"), logger: Self.logger)
                            try await withThrowingTaskGroup(of: Void.self) { group in
                                for writer in 0..<6 {
                                    group.addTask {
                                        for request in 0..<10 {
                                            let events = (0..<3).map { EventStoreContract.event(occurredAt: .init(seconds: 1), key: "w\(writer)-r\(request)-e\($0)") }
                                            let result = try await stores[writer % 3].append(events, receivedAt: .init(seconds: 5))
                                            #expect(result.accepted == 3)
                                        }
                                    }
                                }
                                try await group.waitForAll()
                            }
                            try await follow()
                            #expect(seen.count == 1, "acknowledged, but held back behind the open transaction")
                            let held = try await b.heldBackEvents()
                            #expect(held == 6 * 10 * 3)
                            // What the warning after a minute names: some open transaction's backend.
                            let holder = try await b.oldestRunningTransaction()
                            #expect(holder["holder_pid"] != nil && holder["holder_open_seconds"] != nil)
                            let before = a.changes.mark
                            try await connection.query("COMMIT", logger: Self.logger)
                            // No commit of events follows, yet consumers are woken once they can read.
                            let woken = try await eventually { a.changes.mark.readable > before.readable }
                            #expect(woken, "consumers are woken when the events held back become readable")
                        }
                        try await settle(a)
                        try await follow()
                        #expect(seen.count == 1 + 6 * 10 * 3)
                        #expect(Set(seen).count == seen.count)
                    }
                }
            }
        }
    }

    /// Three instances append concurrently while a consumer follows seq: it sees every event
    /// exactly once, in the order it was committed.
    @Test func consumerFollowingSeqMissesNothingUnderThreeWriters() async throws {
        try await PostgresTestDatabase.withSchema { configuration in
            try await PostgresEventStore.withStore(configuration: configuration, logger: Self.logger) { a in
                try await PostgresEventStore.withStore(configuration: configuration, logger: Self.logger) { b in
                    try await PostgresEventStore.withStore(configuration: configuration, logger: Self.logger) { c in
                        let stores = [a, b, c]
                        let writersDone = Atomic<Bool>(false)
                        async let consumed: [String] = {
                            var seen: [String] = []
                            var cursor: Int64 = 0
                            var settled = false
                            while true {
                                let finished = writersDone.load(ordering: .acquiring)
                                let page = try await a.events(afterSeq: cursor, limit: 64)
                                seen += page.map { String(decoding: $0.raw, as: UTF8.self) }
                                cursor = page.last?.seq ?? cursor
                                if page.isEmpty && finished {
                                    // Other tests' transactions may still hold the last commits back.
                                    if settled { return seen }
                                    try await settle(a)
                                    settled = true
                                }
                            }
                        }()
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            for writer in 0..<9 {
                                group.addTask {
                                    for request in 0..<20 {
                                        let events = (0..<3).map { EventStoreContract.event(occurredAt: .init(seconds: 1), key: "w\(writer)-r\(request)-e\($0)") }
                                        _ = try await stores[writer % 3].append(events, receivedAt: .init(seconds: 5))
                                    }
                                }
                            }
                            try await group.waitForAll()
                        }
                        writersDone.store(true, ordering: .releasing)
                        let seen = try await consumed
                        #expect(seen.count == 9 * 20 * 3)
                        #expect(Set(seen).count == seen.count)
                    }
                }
            }
        }
    }

    /// Two instances append the same keys at once, in opposite orders. Nothing serializes their
    /// transactions, so each waits for the other's uncommitted keys; inserted in one order they
    /// never wait in a cycle (PostgreSQL would abort one as a deadlock and its pushes get 503).
    /// Every key is stored once, and each request learns which of its events were duplicates.
    @Test func instancesAppendingTheSameKeysInOppositeOrdersNeverDeadlock() async throws {
        try await PostgresTestDatabase.withSchema { configuration in
            try await PostgresEventStore.withStore(configuration: configuration, logger: Self.logger) { a in
                try await PostgresEventStore.withStore(configuration: configuration, logger: Self.logger) { b in
                    for round in 0..<8 {
                        let events = (0..<200).map { EventStoreContract.event(occurredAt: .init(seconds: 1), key: "r\(round)-k\($0)") }
                        async let forward = a.append(events, receivedAt: .init(seconds: 5))
                        async let backward = b.append(events.reversed(), receivedAt: .init(seconds: 5))
                        let (one, other) = try await (forward, backward)
                        #expect(one.accepted + other.accepted == 200)
                        #expect(one.duplicates + other.duplicates == 200)
                    }
                    try await settle(a)
                    let stored = try await a.events(afterSeq: 0, limit: 2_000)
                    #expect(stored.count == 8 * 200)
                }
            }
        }
    }

    /// Instances starting together on an empty schema apply each migration exactly once.
    @Test func migrationsRunOnceWhenInstancesStartTogether() async throws {
        try await PostgresTestDatabase.withSchema { configuration in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        try await PostgresEventStore.withStore(configuration: configuration, logger: Self.logger) { store in
                            _ = try await store.append([EventStoreContract.event(occurredAt: .init(seconds: 1), key: "m")], receivedAt: .init(seconds: 1))
                        }
                    }
                }
                try await group.waitForAll()
            }
            let applied = try await PostgresTestDatabase.scalar("SELECT count(*)::text FROM \(configuration.schema).schema_migrations", on: configuration)
            #expect(applied == String(PostgresEventStore.migrations.count))
            let events = try await PostgresTestDatabase.scalar("SELECT count(*)::text FROM \(configuration.schema).events", on: configuration)
            #expect(events == "1")
        }
    }

    /// Events stored before keys carried the event's time (an untimed key is stored exactly as
    /// every key was then) are found as duplicates in that form until retention removes them.
    @Test func eventsStoredBeforeTimedKeysStayDuplicates() async throws {
        try await PostgresTestDatabase.withSchema { configuration in
            try await PostgresEventStore.withStore(configuration: configuration, logger: Self.logger) { store in
                let schema = configuration.schema
                let old = EventStoreContract.event(occurredAt: .init(seconds: 100), key: "0123456789abcdef and more")
                #expect(try await store.append([old], receivedAt: .init(seconds: 200)).accepted == 1)
                let through = try await PostgresTestDatabase.scalar(
                    "UPDATE \(schema).store_state SET value = (SELECT max(seq) FROM \(schema).events) RETURNING value::text", on: configuration
                )
                try await settle(store)
                let stored = try await store.events(afterSeq: 0, limit: 10)
                #expect(through == stored.first.map { String($0.seq) })
                try await store.migrate()
                var timed = old
                timed.dedupeTime = old.normalized.occurredAt
                let fresh = EventStoreContract.event(occurredAt: .init(seconds: 101), key: "fresh")
                #expect(try await store.append([timed, fresh], receivedAt: .init(seconds: 300)) == AppendResult(accepted: 1, duplicates: 1))
                #expect(try await store.purge(occurredBefore: .init(seconds: 1_000), limit: 100).count == 2)
                let after = try await PostgresTestDatabase.scalar(
                    "SELECT value::text FROM \(schema).store_state WHERE name = 'untimed_dedupe_keys_through'", on: configuration
                )
                #expect(after == "0")
                #expect(try await store.append([timed], receivedAt: .init(seconds: 400)) == AppendResult(accepted: 1, duplicates: 0))
            }
        }
    }

    /// A schema as release 929f3ce left it (its four migrations, rows drawn from `events_seq`, a
    /// consumer part way, a dead letter) upgrades in place: consumers carry on from their cursors
    /// through the old rows into new ones, the dead letter still reads its event, and an instance
    /// of the old release could no longer append (its sequence is gone), so mixing fails loudly.
    @Test func aSchemaOf929f3ceUpgradesInPlace() async throws {
        try await PostgresTestDatabase.withSchema { configuration in
            let store = PostgresEventStore(configuration: configuration, logger: Self.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await store.runConnections() }
                defer { group.cancelAll() }
                try await PostgresEventStore.migrate(store.database, schema: configuration.schema, through: "2026-12-04-timed-dedupe-keys")
                // As 929f3ce inserted: seq from the sequence, the event in columns.
                let oldInsert = { (n: Int) in
                    """
                    INSERT INTO \(configuration.schema).events (seq, id, source, dedupe_key, log_type, occurred_at, received_at, action, targets, raw, terms)
                    VALUES (nextval('\(configuration.schema).events_seq'), '0000000000000000000000000\(n)', 'feed-a', '\\x0\(n)', 'INCIDENT_IO',
                        \(1_765_000_000_000_000 + n), \(1_765_000_000_000_001 + n), 'api_key.created', '[]', '{"n":\(n)}', '{}')
                    """
                }
                for n in 1...5 { try await PostgresTestDatabase.execute(oldInsert(n), on: configuration) }
                try await PostgresTestDatabase.execute(
                    "INSERT INTO \(configuration.schema).consumer_cursors (consumer, seq, updated_at) VALUES ('destination/s3', 2, 0)", on: configuration
                )
                try await PostgresTestDatabase.execute(
                    "INSERT INTO \(configuration.schema).dead_letters (destination, seq, reason, created_at, attempts) VALUES ('s3', 1, 'refused', 0, 1)",
                    on: configuration
                )
                try await store.migrate()
                _ = try await store.append([EventStoreContract.event(occurredAt: .init(seconds: 9), key: "new")], receivedAt: .init(seconds: 9))
                try await settle(store)
                var cursor = try await store.consumerCursor("destination/s3")
                #expect(cursor == 2)
                var seen: [String] = []
                while true {
                    let page = try await store.outboundEvents(afterSeq: cursor, limit: 2)
                    guard let last = page.last else { break }
                    seen += page.map { String(decoding: $0.raw, as: UTF8.self) }
                    cursor = last.seq
                }
                #expect(seen == ["{\"n\":3}", "{\"n\":4}", "{\"n\":5}", "{\"k\":\"new\"}"])
                #expect(cursor > 5)
                let lettered = try await store.outboundEvents(seqs: [1])
                #expect(lettered.map { String(decoding: $0.raw, as: UTF8.self) } == ["{\"n\":1}"])
                await #expect(throws: (any Error).self, "an instance of 929f3ce cannot append beside this one") {
                    try await PostgresTestDatabase.execute(oldInsert(6), on: configuration)
                }
                await store.close()
            }
        }
    }

    /// A server that cannot be reached is `unavailable` (pushes answer 503), never an acknowledgement.
    @Test func unreachableServerIsUnavailable() async throws {
        let configuration = PostgresStoreConfiguration(
            host: "127.0.0.1", port: try EmulatorProcess.freePort(), username: "sluice", database: "sluice", tls: .disable, timeout: .seconds(2)
        )
        let store = PostgresEventStore(configuration: configuration, logger: Self.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await store.runConnections() }
            do throws(StoreError) {
                try await store.checkHealth()
                Issue.record("a health check against a closed port succeeded")
            } catch {
                #expect(error.code == .unavailable)
            }
            do throws(StoreError) {
                _ = try await store.append([EventStoreContract.event(occurredAt: .init(seconds: 1), key: "x")], receivedAt: .init(seconds: 1))
                Issue.record("an append against a closed port succeeded")
            } catch {
                #expect(error.code == .unavailable)
                #expect(error.message.contains("storage.postgres.url"))
            }
            group.cancelAll()
        }
    }
}

@Suite struct PostgresStoreConfigurationTests {
    @Test func parsesURLs() throws {
        let c = try PostgresStoreConfiguration(url: "postgres://app:s%40cret@db.internal:6543/sluice?sslmode=require", schema: "sluice", poolSize: 20)
        #expect(c.host == "db.internal")
        #expect(c.port == 6543)
        #expect(c.username == "app")
        #expect(c.password == "s@cret")
        #expect(c.database == "sluice")
        #expect(c.tls == .require)
        #expect(c.schema == "sluice")
        #expect(c.poolSize == 20)
        let d = try PostgresStoreConfiguration(url: "postgresql://app@localhost/db")
        #expect(d.port == 5432 && d.password == nil && d.tls == .prefer && d.schema == "public")
    }

    @Test(arguments: [
        ("mysql://app:pw@h/db", "postgres://"),
        ("postgres://app:pw@/db", "no host"),
        ("postgres://h/db", "no user"),
        ("postgres://app:pw@h", "no database"),
        ("postgres://app:pw@h/db?sslmode=verify", "sslmode"),
        ("postgres://app:pw@h/db?timeout=3", "unknown URL parameter"),
    ])
    func refusesBadURLs(url: String, problem: String) {
        do {
            _ = try PostgresStoreConfiguration(url: url)
            Issue.record("accepted \(url)")
        } catch {
            #expect(error.message.contains(problem))
            #expect(!error.message.contains("pw"), "the password never appears in an error")
        }
    }

    @Test func refusesBadSchemaAndPoolSize() {
        #expect(throws: PostgresConfigurationError.self) { try PostgresStoreConfiguration(url: "postgres://a@h/d", schema: "Robert'); DROP") }
        #expect(throws: PostgresConfigurationError.self) { try PostgresStoreConfiguration(url: "postgres://a@h/d", poolSize: 1) }
    }
}
