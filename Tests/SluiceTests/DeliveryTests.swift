import Foundation
import Logging
import SluiceCore
import SluiceDestinations
import SluiceEngine
import SluiceHTTP
import SluiceStorePostgres
import SluiceStoreSQLite
import SluiceTesting
import Testing

/// Delivery loops over real SQLite files to loopback Chronicle and HEC doubles over real HTTP.
@Suite struct DeliveryTests {
    static let base = Timestamp(seconds: 1_795_300_000)
    static let admin = AuditRequester(actor: AdminAuditEntry.user("ops"))

    static let fast = DeliverySettings(
        concurrency: 2, maxWait: .milliseconds(30), pollInterval: .milliseconds(20), backoff: Backoff(base: .milliseconds(20), cap: .milliseconds(200)),
        pausedRetryInterval: .milliseconds(100)
    )

    /// A fresh store of `backend`, and a temporary directory (for file destinations).
    static func withStore(_ backend: StoreBackend, _ body: (any SluiceStorage, TemporaryDirectory) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await backend.withStore { store in try await body(store, directory) }
    }

    /// Appends events `e<from>`…, one second apart in occurrence time; those in `poison` carry the double's marker.
    @discardableResult
    static func push(_ store: any SluiceStorage, count: Int, from: Int = 0, source: String = "incident-io", pad: Int = 200, poison: Set<Int> = []) async throws -> [String] {
        var ids: [String] = []
        let events = (from..<(from + count)).map { i in
            let id = "e\(i)"
            ids.append(id)
            let padding = String(repeating: "p", count: pad) + (poison.contains(i) ? "POISON" : "")
            return EventStoreContract.event(
                source: source, occurredAt: base + .seconds(i), key: id, raw: "{\"id\":\"\(id)\",\"n\":\(i),\"pad\":\"\(padding)\"}"
            )
        }
        for chunk in stride(from: 0, to: events.count, by: 1_000) {
            _ = try await store.append(Array(events[chunk..<min(chunk + 1_000, events.count)]), receivedAt: SluiceRuntimeClock.now())
        }
        try await settle(store)
        return ids
    }

    static func ids(_ lines: [String]) -> [String] {
        lines.compactMap { (try? JSONParser.parse(Array($0.utf8)))?["id"]?.stringValue }
    }

    static func chronicle(_ double: SinkTestDouble, base: String, name: String = "chronicle", timeout: Duration = .seconds(5), limits: BatchLimits? = nil) -> any Destination {
        var configuration = ChronicleWebhookDestination.Configuration(name: name, url: double.chronicleURL(base: base), apiKey: double.apiKey, secret: double.feedSecret)
        if let limits { configuration.limits = limits }
        return ChronicleWebhookDestination(configuration: configuration, transport: .shared, guardrail: OutboundURLGuard(allowPrivateNetworks: true), timeout: timeout)
    }

    static func hec(_ double: SinkTestDouble, base: String, acknowledgement: Bool = false) -> any Destination {
        var configuration = SplunkHECDestination.Configuration(
            name: "splunk", baseURL: base, token: double.hecToken, index: "security", channel: "0F4B6C2E-0000-4000-8000-000000000003",
            acknowledgement: acknowledgement, ackPollInterval: .milliseconds(20)
        )
        configuration.limits = BatchLimits(maxEvents: 50, maxBytes: 1_000_000)
        return SplunkHECDestination(configuration: configuration, transport: .shared, guardrail: OutboundURLGuard(allowPrivateNetworks: true), timeout: .seconds(5))
    }

    /// Runs delivery for `destinations` while `body` runs.
    static func delivering(
        _ destinations: [any Destination], store: any SluiceStorage, settings: DeliverySettings = fast, sources: Set<String> = ["incident-io"],
        _ body: @Sendable (DeliveryService) async throws -> Void
    ) async throws {
        let routes = [DeliveryRoute(from: sources, to: destinations.map(\.name))]
        let service = DeliveryService(
            destinations: destinations.map { ConfiguredDestination(destination: $0, settings: settings) }, routes: routes, ledger: store,
            logger: Logger(label: "test"), now: SluiceRuntimeClock.now
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            try await body(service)
            group.cancelAll()
        }
    }

    static func status(_ service: DeliveryService, _ name: String) async throws -> DestinationStatus {
        try #require(try await service.statuses().first { $0.name == name })
    }

    @Test(arguments: StoreBackend.available) func anOperatorsPauseHoldsDeliveryUntilResumeAndIsAudited(_ backend: StoreBackend) async throws {
        let double = SinkTestDouble()
        try await Self.withStore(backend) { store, _ in
            try await Self.push(store, count: 20)
            try await double.withServer { base in
                try await Self.delivering([Self.chronicle(double, base: base)], store: store) { service in
                    let first = try await eventually { double.received.events.count == 20 }
                    #expect(first)
                    #expect(try await service.administration.setPaused("chronicle", reason: "SIEM maintenance", by: Self.admin))
                    #expect(try await service.administration.setPaused("chronicle", reason: "again", by: Self.admin) == false, "already paused")
                    // Once the loop shows the pause it waits in it, so nothing new can be sent.
                    let holding = try await eventually { try await Self.status(service, "chronicle").pausedReason?.contains("SIEM maintenance") == true }
                    #expect(holding)
                    try await Self.push(store, count: 30, from: 20)
                    let status = try await Self.status(service, "chronicle")
                    #expect(status.lagEvents == 30)
                    #expect(status.pausedReason?.hasPrefix("paused by ops at ") == true && status.pausedReason?.hasSuffix(": SIEM maintenance") == true)
                    #expect(double.received.events.count == 20)
                    #expect(try await service.administration.setPaused("chronicle", reason: nil, by: Self.admin))
                    let resumed = try await eventually { double.received.events.count == 50 }
                    #expect(resumed)
                    #expect(try await Self.status(service, "chronicle").pausedReason == nil)
                    await #expect(throws: DeliveryControlError.self) { _ = try await service.administration.setPaused("nowhere", reason: "x", by: Self.admin) }
                }
            }
            let audit = try await store.events(matching: EventFilter(source: AdminAuditEntry.source), after: nil, limit: 10).events.sorted { $0.seq < $1.seq }
            #expect(audit.map(\.normalized.action) == ["destination.paused", "destination.resumed"], "a pause that changed nothing is not recorded")
            #expect(audit.allSatisfy { $0.normalized.actor == AdminAuditEntry.user("ops") && $0.normalized.targets.first?.id == "chronicle" })
            #expect(String(decoding: audit[0].raw, as: UTF8.self).contains("SIEM maintenance"))
        }
    }

    @Test(arguments: StoreBackend.available) func backlogCountsWhatTheRoutesSelect(_ backend: StoreBackend) async throws {
        try await Self.withStore(backend) { store, _ in
            let events = (0..<10).map { EventStoreContract.event(source: "incident-io", occurredAt: Self.base, key: "a\($0)") }
                + (0..<5).map { EventStoreContract.event(source: "incident-io", action: "user.created", occurredAt: Self.base, key: "u\($0)") }
                + (0..<3).map { EventStoreContract.event(source: "incydr", occurredAt: Self.base, key: "c\($0)", logType: "CODE42_INCYDR") }
            _ = try await store.append(events, receivedAt: SluiceRuntimeClock.now())
            func count(_ routes: [DeliveryRoute]?) async throws -> Int { try await store.backlog(afterSeq: 0, routes: routes, cap: 1_000).count }
            #expect(try await count(nil) == 18)
            #expect(try await count([]) == 0)
            #expect(try await count([DeliveryRoute(from: ["incident-io"], to: ["d"])]) == 15)
            #expect(try await count([DeliveryRoute(from: ["incident-io"], to: ["d"], actions: ["user.created"])]) == 5)
            #expect(try await count([DeliveryRoute(from: ["incident-io", "incydr"], to: ["d"], logTypes: ["CODE42_INCYDR"])]) == 3)
            let either = [DeliveryRoute(from: ["incident-io"], to: ["d"], actions: ["user.created"]), DeliveryRoute(from: ["incydr"], to: ["d"])]
            #expect(try await count(either) == 8)
            #expect(try await store.backlog(afterSeq: 0, routes: either, cap: 4).count == 4)
        }
    }

    @Test(arguments: StoreBackend.available) func chronicleGetsEveryEventOnceInBodiesUnderOneMegabyteWithCredentialsInHeaders(_ backend: StoreBackend) async throws {
        let double = SinkTestDouble()
        try await Self.withStore(backend) { store, _ in
            let ids = try await Self.push(store, count: 3_000, pad: 1_000)
            // Events of other sources are not routed here.
            try await Self.push(store, count: 50, from: 10_000, source: "other-feed")
            try await double.withServer { base in
                try await Self.delivering([Self.chronicle(double, base: base)], store: store) { service in
                    let done = try await eventually { double.received.events.count >= ids.count }
                    #expect(done)
                    let cursorDone = try await eventually { try await store.consumerCursor("chronicle") == store.latestSeq() }
                    #expect(cursorDone)
                    let status = try await Self.status(service, "chronicle")
                    #expect(status.lagEvents == 0)
                    #expect(status.delivered == ids.count)
                    #expect(status.pausedReason == nil)
                }
            }
        }
        let received = double.received
        let ids = Self.ids(received.events)
        // Batches travel two at a time, so arrival order across batches is not fixed.
        #expect(ids.count == 3_000 && Set(ids) == Set((0..<3_000).map { "e\($0)" }), "every routed event, once")
        #expect(received.requests >= 4, "3,000 events of 1,030 bytes need at least four 1 MB bodies")
        #expect(received.maxBodyBytes <= 1_000_000)
        #expect(received.credentialsInQuery == 0)
    }

    @Test(arguments: StoreBackend.available) func serverErrorsRateLimitsAndHangsAreRetriedUntilDelivered(_ backend: StoreBackend) async throws {
        let double = SinkTestDouble()
        double.inject([.status(500), .status(503), .status(429, retryAfter: "1"), .hang(.seconds(3)), .status(500)])
        try await Self.withStore(backend) { store, _ in
            let ids = try await Self.push(store, count: 300)
            try await double.withServer { base in
                try await Self.delivering([Self.chronicle(double, base: base, timeout: .milliseconds(500))], store: store) { service in
                    let done = try await eventually { Set(Self.ids(double.received.events)).count == ids.count }
                    #expect(done)
                    let status = try await Self.status(service, "chronicle")
                    #expect(status.retried >= 5)
                    #expect(status.lastError != nil)
                    #expect(status.deadLetters == 0)
                }
            }
        }
        let received = double.received
        #expect(received.statuses[500] == 2 && received.statuses[503] == 1 && received.statuses[429] == 1)
        #expect(Set(Self.ids(received.events)).count == 300)
    }

    @Test(arguments: StoreBackend.available) func aPoisonEventIsDeadLetteredAloneAndCanBeReDriven(_ backend: StoreBackend) async throws {
        let double = SinkTestDouble()
        try await Self.withStore(backend) { store, _ in
            try await Self.push(store, count: 200, poison: [77])
            try await double.withServer { base in
                try await Self.delivering([Self.chronicle(double, base: base)], store: store) { service in
                    let settled = try await eventually { try await store.deadLetterCount(destination: "chronicle") == 1 && double.received.events.count == 199 }
                    #expect(settled)
                    let letters = try await service.administration.deadLetters("chronicle", afterSeq: 0, limit: 10)
                    let letter = try #require(letters.first)
                    let event = try #require(try await store.outboundEvents(seqs: [letter.seq]).first)
                    #expect(String(decoding: event.raw, as: UTF8.self).contains("\"id\":\"e77\""))
                    #expect(letter.reason.contains("HTTP 400") && letter.reason.contains("invalid log entry"))
                    let status = try await Self.status(service, "chronicle")
                    #expect(status.deadLetters == 1 && status.lagEvents == 0)

                    // The receiver's parser is fixed; the operator re-drives.
                    double.setPoisonMarker(nil)
                    #expect(try await service.administration.redrive("chronicle", seqs: nil, by: Self.admin) == 1)
                    let redriven = try await eventually { try await store.deadLetterCount(destination: "chronicle") == 0 }
                    #expect(redriven)
                }
            }
        }
        #expect(Set(Self.ids(double.received.events)).count == 200)
        #expect(Self.ids(double.received.events).filter { $0 == "e77" }.count == 1)
    }

    @Test(arguments: StoreBackend.available) func payloadTooLargeSplitsTheBatchAndLosesNothing(_ backend: StoreBackend) async throws {
        let double = SinkTestDouble(maxBodyBytes: 20_000)
        try await Self.withStore(backend) { store, _ in
            try await Self.push(store, count: 300)
            try await double.withServer { base in
                try await Self.delivering([Self.chronicle(double, base: base)], store: store) { _ in
                    let done = try await eventually { try await store.consumerCursor("chronicle") == store.latestSeq() }
                    #expect(done)
                }
            }
            #expect(try await store.deadLetterCount(destination: "chronicle") == 0)
        }
        #expect((double.received.statuses[413] ?? 0) > 0)
        let ids = Self.ids(double.received.events)
        #expect(ids.count == 300 && Set(ids) == Set((0..<300).map { "e\($0)" }))
    }

    @Test(arguments: StoreBackend.available) func refusedCredentialsPauseTheDestinationAndDropNothing(_ backend: StoreBackend) async throws {
        let double = SinkTestDouble()
        double.rejectAll(with: 401)
        try await Self.withStore(backend) { store, _ in
            try await Self.push(store, count: 100)
            try await double.withServer { base in
                try await Self.delivering([Self.chronicle(double, base: base)], store: store) { service in
                    let paused = try await eventually { try await Self.status(service, "chronicle").pausedReason != nil }
                    #expect(paused)
                    let status = try await Self.status(service, "chronicle")
                    #expect(status.pausedReason?.contains("HTTP 401") == true)
                    #expect(status.cursor == 0 && status.lagEvents == 100 && status.deadLetters == 0)
                    // Credentials fixed: delivery resumes on its own.
                    double.rejectAll(with: nil)
                    let resumed = try await eventually { double.received.events.count == 100 }
                    #expect(resumed)
                    // The sink counts a batch before its answer reaches the loop, which then clears the pause.
                    #expect(try await eventually { try await Self.status(service, "chronicle").pausedReason == nil })
                }
            }
        }
    }

    @Test(arguments: StoreBackend.available) func hecKeepsTheAcceptedPrefixAndDeadLettersOnlyTheInvalidEvent(_ backend: StoreBackend) async throws {
        let double = SinkTestDouble()
        try await Self.withStore(backend) { store, _ in
            try await Self.push(store, count: 40, poison: [5])
            try await double.withServer { base in
                try await Self.delivering([Self.hec(double, base: base)], store: store) { _ in
                    let done = try await eventually { try await store.consumerCursor("splunk") == store.latestSeq() }
                    #expect(done)
                }
            }
            let letters = try await store.deadLetters(destination: "splunk", afterSeq: 0, limit: 10)
            #expect(letters.count == 1)
            #expect(letters.first?.reason.contains("Invalid data format") == true)
        }
        let ids = Self.ids(double.received.events)
        #expect(ids.count == 39, "no event before the invalid one is sent twice")
        #expect(Set(ids) == Set((0..<40).filter { $0 != 5 }.map { "e\($0)" }))
        #expect(double.received.envelopes.allSatisfy { $0["index"]?.stringValue == "security" && $0["sourcetype"]?.stringValue == "INCIDENT_IO" })
    }

    @Test(arguments: StoreBackend.available) func hecWithAcknowledgementCountsABatchOnlyOnceIndexed(_ backend: StoreBackend) async throws {
        let double = SinkTestDouble(hecAcknowledgement: true, acknowledgeAfterPolls: 3)
        try await Self.withStore(backend) { store, _ in
            try await Self.push(store, count: 120)
            try await double.withServer { base in
                try await Self.delivering([Self.hec(double, base: base, acknowledgement: true)], store: store) { service in
                    let done = try await eventually { try await store.consumerCursor("splunk") == store.latestSeq() }
                    #expect(done)
                    #expect(try await Self.status(service, "splunk").delivered == 120)
                }
            }
        }
        // The cursor moved only after every ack came back true, so the sink has indexed them all.
        #expect(Set(Self.ids(double.received.events)).count == 120)
    }

    @Test(arguments: StoreBackend.available) func aDownDestinationNeverHoldsBackAHealthyOne(_ backend: StoreBackend) async throws {
        let down = SinkTestDouble()
        let healthy = SinkTestDouble()
        down.rejectAll(with: 503)
        try await Self.withStore(backend) { store, _ in
            try await Self.push(store, count: 500)
            try await down.withServer { downBase in
                try await healthy.withServer { healthyBase in
                    let destinations = [Self.chronicle(down, base: downBase, name: "down"), Self.chronicle(healthy, base: healthyBase, name: "healthy")]
                    try await Self.delivering(destinations, store: store) { service in
                        let first = try await eventually { healthy.received.events.count == 500 }
                        #expect(first)
                        try await Self.push(store, count: 500, from: 500)
                        let second = try await eventually { healthy.received.events.count == 1_000 }
                        #expect(second)
                        #expect(down.received.events.isEmpty)
                        let status = try await Self.status(service, "down")
                        #expect(status.lagEvents == 1_000 && status.lastError?.contains("HTTP 503") == true)
                        down.rejectAll(with: nil)
                        let recovered = try await eventually { Set(Self.ids(down.received.events)).count == 1_000 }
                        #expect(recovered)
                    }
                }
            }
        }
    }

    @Test(arguments: StoreBackend.available) func aReplaySendsTheRangeAgainAndFinishes(_ backend: StoreBackend) async throws {
        let double = SinkTestDouble()
        try await Self.withStore(backend) { store, _ in
            try await Self.push(store, count: 100)
            try await double.withServer { base in
                try await Self.delivering([Self.chronicle(double, base: base)], store: store) { service in
                    let first = try await eventually { double.received.events.count == 100 }
                    #expect(first)
                    let job = try await service.administration.replay("chronicle", since: Self.base + .seconds(20), until: Self.base + .seconds(40), by: Self.admin)
                    let finished = try await eventually { try await store.openReplays(destination: "chronicle").isEmpty }
                    #expect(finished)
                    #expect(job.since == Self.base + .seconds(20))
                    await #expect(throws: DeliveryControlError.self) { _ = try await service.administration.replay("nowhere", since: Self.base, until: Self.base + .seconds(1), by: Self.admin) }
                }
            }
        }
        let ids = Self.ids(double.received.events)
        #expect(ids.count == 120)
        #expect(Set(ids.suffix(20)) == Set((20..<40).map { "e\($0)" }))
    }

    /// The one administration the API, the web UI and the CLI share: its checks and words, the
    /// name a hold records (a token by name, the command line as `cli:<login>`), and an audit
    /// entry only for a change.
    @Test(arguments: StoreBackend.available) func destinationAdministrationChecksOnceForEveryCaller(_ backend: StoreBackend) async throws {
        try await Self.withStore(backend) { store, _ in
            let admin = DestinationAdministration(ledger: store, destinations: ["archive", "siem"], now: SluiceRuntimeClock.now)
            let cli = AuditRequester(actor: AdminAuditEntry.console("alice"))
            do throws(DeliveryControlError) {
                _ = try await admin.setPaused("nowhere", reason: "x", by: Self.admin)
                Issue.record("an unknown destination was paused")
            } catch {
                #expect(error.code == .unknownDestination && error.message == "no destination named \"nowhere\"; configured: archive, siem")
            }
            for blank in ["", "   \n", String(repeating: "r", count: 501)] {
                do throws(DeliveryControlError) {
                    _ = try await admin.setPaused("archive", reason: blank, by: Self.admin)
                    Issue.record("the reason \(blank.debugDescription) was taken")
                } catch {
                    #expect(error.code == .invalidRequest && error.message.contains("Say why delivery stops") && error.message.contains("1 to 500"))
                }
            }
            do throws(DeliveryControlError) {
                _ = try await admin.replay("archive", since: Self.base + .seconds(10), until: Self.base, by: Self.admin)
                Issue.record("a replay ending before it starts was queued")
            } catch {
                #expect(error.code == .invalidRequest && error.message.contains("must be before"))
            }
            #expect(try await admin.setPaused("archive", reason: "  maintenance \n", by: Self.admin))
            #expect(try await store.hold(destination: "archive").map { [$0.heldBy, $0.reason] } == ["ops", "maintenance"])
            #expect(try await admin.setPaused("siem", reason: "change window", by: cli))
            #expect(try await store.hold(destination: "siem")?.heldBy == "cli:alice")
            #expect(try await admin.setPaused("siem", reason: "again", by: cli) == false)
            #expect(try await admin.setPaused("siem", reason: nil, by: cli))
            let audit = try await store.events(matching: EventFilter(source: AdminAuditEntry.source), after: nil, limit: 10).events
            #expect(audit.map(\.normalized.action).sorted() == ["destination.paused", "destination.paused", "destination.resumed"])
        }
    }

    /// An idle loop sleeps until the store's next commit instead of polling: an event appended to
    /// an idle SQLite store reaches the destination long before the store's 30 s fallback, with
    /// the company poll set to a minute so that nothing but the commit's signal can wake it.
    @Test func anIdleLoopIsWokenByTheNextCommit() async throws {
        try await Self.withStore(.sqlite) { store, directory in
            try await Self.push(store, count: 3)
            let file = FileDestination(configuration: .init(name: "archive", directory: directory.path + "/out"), now: SluiceRuntimeClock.now)
            let settings = DeliverySettings(concurrency: 1, maxWait: .zero, pollInterval: .seconds(60))
            #expect(store.changes.fallback >= .seconds(30))
            try await Self.delivering([file], store: store, settings: settings) { _ in
                let first = try await eventually { try await store.consumerCursor("archive") == 3 }
                #expect(first)
                try await Task.sleep(for: .milliseconds(300))  // the loop is waiting now
                try await Self.push(store, count: 1, from: 3)
                let woken = try await eventually(limit: .seconds(20)) { try await store.consumerCursor("archive") == 4 }
                #expect(woken, "the commit did not wake the idle loop")
            }
        }
    }

    @Test(arguments: StoreBackend.available) func fileDestinationWritesEveryEventAcrossRotatedFiles(_ backend: StoreBackend) async throws {
        try await Self.withStore(backend) { store, directory in
            try await Self.push(store, count: 400)
            let out = directory.path + "/out"
            let file = FileDestination(configuration: .init(name: "archive", directory: out, maxBytes: 16_000), now: SluiceRuntimeClock.now)
            try await Self.delivering([file], store: store) { _ in
                let done = try await eventually { try await store.consumerCursor("archive") == store.latestSeq() }
                #expect(done)
            }
            let files = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasSuffix(".ndjson") }.sorted {
                Int($0.split(separator: "-").last!.dropLast(7))! < Int($1.split(separator: "-").last!.dropLast(7))!
            }
            #expect(files.count > 5, "16 kB files cannot hold 400 events of 230 bytes")
            var lines: [String] = []
            for name in files {
                let text = try String(contentsOfFile: out + "/" + name, encoding: .utf8)
                #expect(text.utf8.count <= 16_000)
                lines += text.split(separator: "\n").map(String.init)
            }
            let ids = Self.ids(lines)
            #expect(ids.count == 400 && Set(ids) == Set((0..<400).map { "e\($0)" }))
        }
    }
}
