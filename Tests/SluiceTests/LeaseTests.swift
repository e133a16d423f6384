import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import SluiceApp
import SluiceCore
import SluiceDestinations
import SluiceEngine
import SluiceIntegrity
import SluiceStorePostgres
import SluiceStoreSQLite
import SluiceTesting
import Testing

/// Leases on a real PostgreSQL server: one holder at a time, takeover only after a lapse (or a
/// release), and work done under a lost lease never committed.
@Suite(.enabled(if: PostgresTestDatabase.url != nil || PostgresTestDatabase.isRequired))
struct LeaseTests {
    static let logger = Logger(label: "test.lease")

    @Test func aLeaseHasOneHolderAndChangesHandsOnlyAfterItLapsesOrIsReleased() async throws {
        try await PostgresTestDatabase.withStore { store in
            let first = try #require(try await store.acquireLease("destination/x", holder: "a", for: .seconds(60)))
            #expect(first.token == 1)
            #expect(try await store.acquireLease("destination/x", holder: "b", for: .seconds(30)) == nil, "held by a")
            // Renewed for a short while, so the test can watch it lapse.
            let renewed = try #require(try await store.acquireLease("destination/x", holder: "a", for: .seconds(1)))
            #expect(renewed.token == first.token, "a renewal keeps the holding's token")
            // After a lapses, b takes it with a new token, and a can no longer renew.
            let taken = try await eventually { try await store.acquireLease("destination/x", holder: "b", for: .seconds(30)) != nil }
            #expect(taken)
            let b = try #require(try await store.leases().first { $0.name == "destination/x" })
            #expect(b.holder == "b" && b.token == 2)
            #expect(try await store.acquireLease("destination/x", holder: "a", for: .seconds(1)) == nil)
            // A release by a stale holding changes nothing; b's own release frees it at once.
            try await store.releaseLease(first)
            #expect(try await store.acquireLease("destination/x", holder: "c", for: .seconds(30)) == nil)
            try await store.releaseLease(b)
            let c = try #require(try await store.acquireLease("destination/x", holder: "c", for: .seconds(30)))
            #expect(c.token == 3, "tokens only grow, even across a release")
                #expect(try await store.acquireLease("collector/other", holder: "a", for: .seconds(30))?.token == 1, "leases are independent")
        }
    }

    @Test func workDoneUnderALostLeaseIsNeverCommitted() async throws {
        try await PostgresTestDatabase.withStore { store in
            _ = try await store.append((0..<5).map { EventStoreContract.event(occurredAt: .init(seconds: Int64($0)), key: "e\($0)") }, receivedAt: .init(seconds: 10))
            let stale = try #require(try await store.acquireLease("destination/x", holder: "a", for: .seconds(60)))
            // While held, fenced commits go through.
            try await store.commitDelivery(consumer: "x", through: 2, deadLetters: [], at: .init(seconds: 11), fence: stale)
            #expect(try await store.consumerCursor("x") == 2)
            // Renewed for a short while (same holding), then left to lapse.
            #expect(try await store.acquireLease("destination/x", holder: "a", for: .seconds(1))?.token == stale.token)
            let taken = try await eventually { try await store.acquireLease("destination/x", holder: "b", for: .seconds(30)) != nil }
            #expect(taken)
            let current = try #require(try await store.leases().first)
            // Each kind of leased commit, made under the lapsed holding, is refused whole.
            await #expect(throws: StoreError.self) {
                try await store.commitDelivery(
                    consumer: "x", through: 5, deadLetters: [DeadLetter(destination: "x", seq: 3, reason: "r", createdAt: .init(seconds: 12))], at: .init(seconds: 12),
                    fence: stale
                )
            }
            await #expect(throws: StoreError.self) {
                _ = try await store.append(
                    [EventStoreContract.event(source: "c", occurredAt: .init(seconds: 1), key: "page")], receivedAt: .init(seconds: 12),
                    checkpoint: CheckpointUpdate(stream: "c/s", expectedVersion: 0, value: "{}", fence: stale)
                )
            }
            await #expect(throws: StoreError.self) {
                _ = try await store.enqueueRuns(
                    [NewWorkflowRun(workflow: "w", alertKey: "k", eventSeq: 1)], consumer: "w", through: 5, at: .init(seconds: 12), fence: stale
                )
            }
            await #expect(throws: StoreError.self) {
                try await store.settleRedrive(destination: "x", delivered: [1], refused: [], fence: stale)
            }
            await #expect(throws: StoreError.self) {
                try await store.finishAttempt(runID: 1, status: .failed, step: nil, detail: nil, nextAttemptAt: nil, at: .init(seconds: 12), fence: stale)
            }
            #expect(try await store.consumerCursor("x") == 2)
            #expect(try await store.deadLetterCount(destination: "x") == 0)
            #expect(try await store.checkpoint(stream: "c/s") == nil)
            #expect(try await store.events(matching: EventFilter(source: "c"), after: nil, limit: 10).events.isEmpty)
            #expect(try await store.runCounts().isEmpty)
            // The new holder's commits go through.
            try await store.commitDelivery(consumer: "x", through: 5, deadLetters: [], at: .init(seconds: 13), fence: current)
            #expect(try await store.consumerCursor("x") == 5)
        }
    }

    /// An instance hears another's commits through the schema's notifications, each kind on its
    /// own counter, long before the consumers' fallback would have let them look.
    @Test func anInstanceHearsAnotherInstancesCommits() async throws {
        try await PostgresTestDatabase.withSchema { configuration in
            try await PostgresEventStore.withStore(configuration: configuration, logger: Self.logger) { one in
                try await PostgresEventStore.withStore(configuration: configuration, logger: Self.logger) { two in
                    let patience = Duration.seconds(120)
                    #expect(two.changes.fallback < patience)
                    // Both counters move once the listener is connected (commits before it were unheard).
                    let listening = await two.changes.wait(after: StoreChanges.Mark(events: 0, control: 0), timeout: patience)
                    #expect(listening.events > 0 && listening.control > 0)
                    _ = try await one.append([EventStoreContract.event(occurredAt: .init(seconds: 1), key: "heard")], receivedAt: .init(seconds: 2))
                    let afterEvents = await two.changes.wait(after: listening, timeout: patience)
                    #expect(afterEvents.events != listening.events, "an event committed by another instance wakes this one")
                    #expect(afterEvents.control == listening.control)
                    let hold = DestinationHold(reason: "maintenance", heldBy: "test", heldAt: .init(seconds: 3))
                    #expect(try await one.setHold(destination: "x", hold: hold, audit: nil))
                    let afterHold = await two.changes.wait(after: afterEvents, timeout: patience)
                    #expect(afterHold.control != afterEvents.control, "an operator's change made on another instance wakes this one")
                    #expect(afterHold.events == afterEvents.events)
                    // Its own commits are published once, not heard again through the channel.
                    let own = two.changes.mark
                    _ = try await two.append([EventStoreContract.event(occurredAt: .init(seconds: 4), key: "own")], receivedAt: .init(seconds: 5))
                    #expect(two.changes.mark.events == own.events + 1)
                }
            }
        }
    }

    /// Two instances write integrity checkpoints under one lease: only the holder writes; when it
    /// stops, the other takes over, and the chain neither skips nor repeats a range.
    @Test func integrityCheckpointsFailOverWithoutSkippingOrRepeatingARange() async throws {
        let key = IntegrityKey()
        try await PostgresTestDatabase.withSchema { configuration in
            try await PostgresEventStore.withStore(configuration: configuration, logger: Self.logger) { one in
                try await PostgresEventStore.withStore(configuration: configuration, logger: Self.logger) { two in
                    func service(_ store: PostgresEventStore, holder: String) -> IntegrityService {
                        IntegrityService(
                            checkpointer: IntegrityCheckpointer(store: store, key: key), interval: .milliseconds(100),
                            leases: LeaseSettings(store: store, holder: holder, duration: .seconds(2)), logger: Self.logger, now: SluiceRuntimeClock.now
                        )
                    }
                    let tasks = ["one": Task { try await service(one, holder: "one").run() }, "two": Task { try await service(two, holder: "two").run() }]
                    defer { for task in tasks.values { task.cancel() } }
                    @Sendable func covered() async throws -> Bool {
                        try await settle(one)
                        let report = try await IntegrityVerifier(store: one, keys: [key.publicKey]).verify()
                        return report.isIntact && report.pending.count == 0
                    }
                    try await DeliveryTests.push(one, count: 40)
                    #expect(try await eventually { try await covered() })
                    let holder = try #require(try await one.leases().first { $0.name == "integrity" })
                    let stopped = try #require(tasks[holder.holder])
                    stopped.cancel()
                    _ = await stopped.result
                    try await DeliveryTests.push(two, count: 40, from: 40)
                    #expect(try await eventually { try await covered() })
                    let after = try #require(try await two.leases().first { $0.name == "integrity" })
                    #expect(after.holder != holder.holder && after.token > holder.token)
                    let report = try await IntegrityVerifier(store: two, keys: [key.publicKey]).verify()
                    #expect(report.problems.isEmpty && report.verifiedEvents == 80 && report.checkpoints >= 2)
                }
            }
        }
    }

    /// Two instances run the same destination: only the lease holder delivers; when it stops, the
    /// other takes over and delivers the rest. Every event arrives exactly once (the holder is
    /// stopped only after its progress is committed, so nothing is in flight).
    @Test func aDestinationIsDeliveredByOneInstanceAndTakenOverWhenItStops() async throws {
        let double = SinkTestDouble()
        try await PostgresTestDatabase.withSchema { configuration in
            try await PostgresEventStore.withStore(configuration: configuration, logger: Self.logger) { one in
                try await PostgresEventStore.withStore(configuration: configuration, logger: Self.logger) { two in
                    try await double.withServer { base in
                        func service(_ store: PostgresEventStore, holder: String) -> DeliveryService {
                            DeliveryService(
                                destinations: [ConfiguredDestination(destination: DeliveryTests.chronicle(double, base: base), settings: DeliveryTests.fast)],
                                routes: [DeliveryRoute(from: ["incident-io"], to: ["chronicle"])], ledger: store,
                                leases: LeaseSettings(store: store, holder: holder, duration: .seconds(10)), logger: Self.logger, now: SluiceRuntimeClock.now
                            )
                        }
                        let first = Task { try await service(one, holder: "one").run() }
                        let second = Task { try await service(two, holder: "two").run() }
                        defer { first.cancel(); second.cancel() }
                        try await DeliveryTests.push(one, count: 100)
                        let delivered = try await eventually { double.received.events.count >= 100 }
                        #expect(delivered)
                        // Give a second deliverer every chance to show up, then stop the holder.
                        try await DeliveryTests.push(two, count: 50, from: 100)
                        let all = try await eventually { double.received.events.count >= 150 }
                        #expect(all)
                        #expect(double.received.events.count == 150, "one instance delivered; the other stood by")
                        let holder = try #require(try await one.leases().first { $0.name == "destination/chronicle" })
                        // Stop it only once its progress is committed: a pass delivered but not yet
                        // committed would be sent again by the next holder (at least once, by design).
                        let committed = try await eventually { try await one.consumerCursor("chronicle") == (try await one.latestSeq()) }
                        #expect(committed)
                        (holder.holder == "one" ? first : second).cancel()
                        _ = await (holder.holder == "one" ? first : second).result
                        try await DeliveryTests.push(one, count: 50, from: 150)
                        let takenOver = try await eventually { double.received.events.count >= 200 }
                        #expect(takenOver)
                        let after = try #require(try await two.leases().first { $0.name == "destination/chronicle" })
                        #expect(after.holder != holder.holder && after.token > holder.token)
                        let ids = DeliveryTests.ids(double.received.events)
                        #expect(ids.count == 200, "each event delivered once")
                        #expect(Set(ids) == Set((0..<200).map { "e\($0)" }))
                    }
                }
            }
        }
    }
}

/// The CLI on a PostgreSQL store: it connects, works and disconnects, and a running instance on
/// the same schema sees what it changed.
@Suite(.enabled(if: PostgresTestDatabase.url != nil || PostgresTestDatabase.isRequired))
struct PostgresCommandLineTests {
    @Test func storeCommandsWorkOnPostgreSQLBesideARunningInstance() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: SluiceCommandLine.binary), "build the sluice executable first (swift build --build-tests)")
        try await PostgresTestDatabase.withSchema { configuration in
            try await PostgresEventStore.withStore(configuration: configuration, logger: LeaseTests.logger) { store in
                let yaml = """
                    storage:
                      postgres: { url: "${env:PG_URL}", schema: \(configuration.schema) }
                    feeds:
                      default: { secret: "${env:SLUICE_DEFAULT_FEED_SECRET}" }
                    """
                let sluice = try await TestSluice(yaml: yaml, environment: ["PG_URL": try #require(PostgresTestDatabase.url) + "?sslmode=disable"], store: store)
                defer { sluice.cleanUp() }
                let config = sluice.directory.path + "/sluice.yaml"
                try yaml.write(toFile: config, atomically: true, encoding: .utf8)
                let cli = SluiceCommandLine(
                    trailingArguments: ["--config", config, "--log-level", "critical"],
                    environment: ["PG_URL": try #require(PostgresTestDatabase.url) + "?sslmode=disable", "USER": "dana", "SLUICE_DEFAULT_FEED_SECRET": TestSluice.defaultFeedSecret], outputDirectory: sluice.directory.path
                )
                try await sluice.withLiveServer { client in
                    #expect(try await CredentialTests.push(client, secret: TestSluice.defaultFeedSecret, feed: "default") == .ok)
                    let created = try await cli.run(["token", "create", "pg-bot", "--role", "viewer"])
                    #expect(created.status == 0)
                    let token = try #require(try JSONParser.parse(Array(created.output.utf8))["token"]?.stringValue)
                    #expect(try await eventually(limit: .seconds(30)) {
                        try await client.execute(uri: "/v1/events", method: .get, headers: CredentialTests.bearer(token)).status == .ok
                    }, "the instance accepts a token the CLI stored in PostgreSQL")
                }
                let exported = try await cli.run(["events", "export", "--format", "ndjson", "--feed", "default"])
                #expect(exported.status == 0)
                #expect(exported.output.split(separator: "\n").count == 1, "the pushed event, read by the CLI from PostgreSQL")
                let audit = try await cli.run(["events", "export", "--format", "ndjson", "--feed", "sluice", "--action", "admin_token.created"])
                #expect(audit.output.contains("cli:dana") && audit.output.contains("pg-bot"))
            }
        }
    }
}

/// `sluice collect NAME --once` on PostgreSQL: it runs under the collector's lease, so never
/// beside the instance whose schedule holds it, and gives the lease up when it ends.
@Suite(.enabled(if: PostgresTestDatabase.url != nil || PostgresTestDatabase.isRequired))
struct PostgresCollectOnceTests {
    @Test func collectOnceWaitsForNoOneAndRunsOnlyUnderTheCollectorsLease() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: SluiceCommandLine.binary), "build the sluice executable first (swift build --build-tests)")
        let double = IncydrTestDouble()
        double.addFileEvents(count: 7, insertedFrom: SluiceRuntimeClock.now() - .seconds(120))
        try await PostgresTestDatabase.withSchema { configuration in
            try await PostgresEventStore.withStore(configuration: configuration, logger: LeaseTests.logger) { store in
                let directory = try TemporaryDirectory()
                defer { directory.remove() }
                try await double.withServer { baseURL in
                    let config = directory.path + "/sluice.yaml"
                    let yaml = "storage:\n  postgres: { url: \"${env:PG_URL}\", schema: \(configuration.schema) }\n"
                        + double.collectorsYAML(baseURL: baseURL, streams: "file_events")
                    try yaml.write(toFile: config, atomically: true, encoding: .utf8)
                    let cli = SluiceCommandLine(
                        trailingArguments: ["--config", config, "--log-level", "critical"],
                        environment: ["PG_URL": try #require(PostgresTestDatabase.url) + "?sslmode=disable", "INCYDR_SECRET": double.clientSecret],
                        outputDirectory: directory.path
                    )
                    let serving = try #require(try await store.acquireLease("collector/incydr", holder: "node-a:1", for: .seconds(60)))
                    let refused = try await cli.run(["collect", "incydr", "--once"])
                    #expect(refused.status == 1)
                    #expect(!refused.output.contains("outcome"), "no stream ran")
                    let collected = try await store.events(matching: EventFilter(source: "incydr"), after: nil, limit: 100).events
                    #expect(collected.isEmpty)
                    try await store.releaseLease(serving)
                    let ran = try await cli.run(["collect", "incydr", "--once"])
                    #expect(ran.status == 0)
                    #expect(ran.output.contains("\"outcome\":\"succeeded\""))
                    let stored = try await store.events(matching: EventFilter(source: "incydr"), after: nil, limit: 100).events
                    #expect(stored.count == 7)
                    // Given up when the run ended: a serving instance takes it at once, with a newer token.
                    let next = try await store.acquireLease("collector/incydr", holder: "node-b:1", for: .seconds(60))
                    #expect(try #require(next).token > serving.token + 1)
                }
            }
        }
    }
}

/// Two instances on one PostgreSQL run the same workflow configuration: only the holder of the
/// workflow's lease works its runs, so each alert's run is attempted once and makes one incident.
@Suite(.enabled(if: PostgresTestDatabase.url != nil || PostgresTestDatabase.isRequired))
struct PostgresWorkflowLeaseTests {
    @Test func twoInstancesRunEachAlertOnceUnderTheWorkflowsLease() async throws {
        let double = CTIATestDouble()
        try await double.withServer { base in
            try await PostgresTestDatabase.withSchema { configuration in
                try await PostgresEventStore.withStore(configuration: configuration, logger: LeaseTests.logger) { one in
                    try await PostgresEventStore.withStore(configuration: configuration, logger: LeaseTests.logger) { two in
                        let yaml = try WorkflowTests.exampleConfig(base: base)
                        // The store is passed in; naming PostgreSQL in the config turns leases on.
                        let first = try await TestSluice(yaml: yaml, environment: WorkflowTests.environment(double), adjust: { $0.storage.postgres = configuration }, store: one)
                        let second = try await TestSluice(yaml: yaml, environment: WorkflowTests.environment(double), adjust: { $0.storage.postgres = configuration }, store: two)
                        defer { first.cleanUp(); second.cleanUp() }
                        let alerts = 12
                        try await first.withLiveServer { a in
                            try await second.withLiveServer { b in
                                for i in 0..<alerts {
                                    let alert = WorkflowTests.alert.replacingOccurrences(of: "aws-s3-bucket-public", with: "aws-s3-bucket-public-\(i)")
                                    // Every alert reaches both instances, as a retrying sender's would.
                                    #expect(try await WorkflowTests.push(a, alert) == .ok)
                                    #expect(try await WorkflowTests.push(b, alert) == .ok)
                                }
                                let done = try await eventually {
                                    try await WorkflowTests.workflowStatus(a)?["runs"]?["succeeded"]?.textValue == String(alerts)
                                }
                                #expect(done)
                                #expect(double.incidents.count == alerts, "one incident per alert")
                                let runs = try await WorkflowTests.get(b, "/v1/workflows/sci-alert-to-incident/runs?limit=100")["runs"]?.arrayValue ?? []
                                #expect(runs.count == alerts)
                                #expect(runs.allSatisfy { $0["attempts"]?.textValue == "1" }, "no run was attempted by both instances")
                                let lease = try #require(try await one.leases().first { $0.name == "workflow/sci-alert-to-incident" })
                                #expect(lease.expiresAt > SluiceRuntimeClock.now(), "held")
                                // GET /v1/leases on each instance: the same holder, and exactly one says it is its own.
                                var mine: [Bool] = []
                                for client in [a, b] as [any TestClientProtocol] {
                                    let listed = try await WorkflowTests.get(client, "/v1/leases")
                                    let entry = try #require(listed["leases"]?.arrayValue?.first { $0["name"]?.stringValue == "workflow/sci-alert-to-incident" })
                                    #expect(entry["holder"]?.stringValue == lease.holder && entry["held"] == .bool(true))
                                    #expect(listed["instance"]?.stringValue?.isEmpty == false)
                                    mine.append(entry["mine"] == .bool(true))
                                }
                                #expect(mine.filter { $0 }.count == 1)
                            }
                        }
                    }
                }
            }
        }
    }
}
