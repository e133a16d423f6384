import Foundation
import InMemoryLogging
import Logging
import SluiceCore
import SluiceHTTP
import SluiceSources
import SluiceStorePostgres
import SluiceStoreSQLite
import SluiceTesting
import Testing

/// The Incydr collector against the loopback Incydr double, over real HTTP, into a real SQLite file.
@Suite struct IncydrCollectorTests {
    static let now = SluiceRuntimeClock.now

    /// Collected events are stored as the API sent them, byte for byte, however they are
    /// written: line breaks and spaces between tokens, escapes, NUL, non-ASCII, nesting, numbers
    /// as written; the normalizer still reads their fields.
    @Test func collectedEventsAreStoredByteForByte() async throws {
        let double = IncydrTestDouble()
        let start = Self.now() - .seconds(1_800)
        let events = (0..<400).map { n -> IncydrTestDouble.FileEvent in
            let id = "0_varied-\(n)"
            let inserted = Timestamp(microseconds: start.microseconds + Int64(n) * 1_000)
            let json: String = switch n % 5 {
            case 0: "{\n  \"event\" : {\"id\": \"\(id)\", \"inserted\": \"\(inserted.rfc3339)\", \"action\": \"file-created\"},\r\n  \"user\": {\"email\": \"a\(n)@example.com\"}\n}"
            case 1: #"{"event":{"id":"\#(id)","inserted":"\#(inserted.rfc3339)","action":"file-modified"},"file":{"name":"r\u00e9sum\u00e9-\#(n).pdf","note":"a\u0000b"}}"#
            case 2: #"{"event":{"id":"\#(id)","inserted":"\#(inserted.rfc3339)"},"file":{"name":"東京-\#(n) 🛡️.xlsx","sizeInBytes":1.50e+3,"deep":[[[{"x":[-0,true,null]}]]]}}"#
            case 3: #"{"event":{"id":"\#(id)","inserted":"\#(inserted.rfc3339)","action":"file-downloaded"},"user":{"email":"u\#(n)@example.com","id":12345678901234567890},"destination":{"domains":[]},"source":{"privateIp":["10.0.0.\#(n % 250)"]}}"#
            // A later member of the same name (escaped) shadows `event`, id and all: the key is
            // then the canonical JSON, in which `n` tells the events apart.
            default: #"{"event":{"id":"\#(id)","inserted":"\#(inserted.rfc3339)"},"e\u0076ent":{"shadow":true},"n":\#(n),"x":"\"quoted\" \\ \/ \b\f\n\r\t"}"#
            }
            return IncydrTestDouble.FileEvent(id: id, inserted: inserted, json: json)
        }
        double.addFileEvents(events)
        try await withCollector(double) { collector, store, _ in
            let reports = await collector.run()
            #expect(reports.map(\.outcome) == [.succeeded], "\(reports.map { $0.error ?? "" })")
            let stored = try await store.events(afterSeq: 0, limit: 1_000)
            #expect(Set(stored.map(\.raw)) == Set(events.map { Array($0.json.utf8) }))
            #expect(stored.count == events.count)
            let modified = try #require(stored.first { String(decoding: $0.raw, as: UTF8.self).contains("varied-1\"") })
            #expect(modified.normalized.action == "file-modified")
            #expect(modified.normalized.targets.first?.name == "résumé-1.pdf")
            let created = try #require(stored.first { String(decoding: $0.raw, as: UTF8.self).contains("varied-0\"") })
            #expect(created.normalized.actor?.id == "a0@example.com")
        }
    }

    func withCollector(
        _ double: IncydrTestDouble,
        streams: [IncydrConfiguration.Stream] = [.fileEvents],
        configure: @escaping @Sendable (inout IncydrConfiguration) -> Void = { _ in },
        _ body: @escaping @Sendable (IncydrCollector, SQLiteEventStore, @escaping @Sendable () -> IncydrCollector) async throws -> Void
    ) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(configuration: .init(path: directory.path + "/sluice.db"), logger: Logger(label: "test"))
        let logs = InMemoryLogs()
        try await double.withServer { baseURL in
            let make: @Sendable () -> IncydrCollector = {
                var configuration = IncydrConfiguration(
                    name: "incydr", baseURL: baseURL, clientID: double.clientID, clientSecret: double.clientSecret, streams: streams
                )
                configuration.allowPrivateNetworks = true
                configuration.fileEventsPageSize = 40
                configuration.auditPageSize = 50
                configuration.usersPageSize = 10
                configuration.casesPageSize = 5
                configuration.retry = RetryPolicy(maxAttempts: 6, backoff: Backoff(base: .milliseconds(10), cap: .milliseconds(100)))
                configure(&configuration)
                return IncydrCollector(configuration: configuration, store: store, transport: .shared, logger: logs.logger, now: SluiceRuntimeClock.now)
            }
            try await body(make(), store, make)
        }
        #expect(double.stats.refused.isEmpty, "requests the SDK would not send: \(double.stats.refused)")
        #expect(!logs.text.contains(double.clientSecret), "the client secret reached the logs")
        #expect(!logs.text.contains("eyJ.test-token"), "an access token reached the logs")
    }

    /// The collector's events (not the audit entries a failing or recovering stream adds).
    static func count(_ store: SQLiteEventStore, action: String? = nil) async throws -> Int {
        var filter = EventFilter()
        filter.source = "incydr"
        if let action { filter.action = ActionMatch(action) }
        var total = 0
        var cursor: EventCursor?
        repeat {
            let page = try await store.events(matching: filter, after: cursor, limit: 1000)
            total += page.events.count
            cursor = page.nextCursor
        } while cursor != nil
        return total
    }

    @Test func allStreamsStoreEachItemOnceAndARerunStoresNothing() async throws {
        let double = IncydrTestDouble()
        let start = Self.now() - .seconds(1_800)
        double.addFileEvents(count: 250, insertedFrom: start)
        double.addAuditEntries(count: 120, from: start)
        double.setUsers(count: 30)
        double.setCases(count: 12)
        try await withCollector(double, streams: [.users, .audit, .cases, .fileEvents]) { collector, store, _ in
            let reports = await collector.run()
            #expect(reports.map(\.outcome) == [.succeeded, .succeeded, .succeeded, .succeeded], "\(reports.map { $0.error ?? "" })")
            let byStream = Dictionary(uniqueKeysWithValues: reports.map { ($0.stream, $0) })
            #expect(byStream["file_events"]?.eventsNew == 250)
            #expect(byStream["file_events"]?.window == WindowCount(expected: 250, received: 250))
            #expect(byStream["audit"]?.eventsNew == 120)
            #expect(byStream["users"]?.eventsNew == 30)
            #expect(byStream["cases"]?.eventsNew == 12)
            #expect(try await Self.count(store) == 412)
            #expect(try await Self.count(store, action: "file-downloaded") == 250)
            #expect(try await Self.count(store, action: "logged_in") == 120)
            #expect(try await Self.count(store, action: "user.observed") == 30)
            #expect(try await Self.count(store, action: "case.observed") == 12)

            // Raw page items are kept byte for byte; the normalized view follows docs/collectors.md.
            var filter = EventFilter()
            filter.action = ActionMatch("file-downloaded")
            filter.actor = "user3@example.com"
            let event = try #require(try await store.events(matching: filter, after: nil, limit: 1).events.first)
            #expect(event.logType == "CODE42_INCYDR")
            #expect(event.source == "incydr")
            let raw = try JSONParser.parse(event.raw)
            #expect(raw.value(at: FieldPath("user.email"))?.stringValue == "user3@example.com")
            #expect(event.normalized.targets.map(\.type) == ["file", "destination"])
            #expect(event.normalized.context.location?.hasPrefix("203.0.113.") == true)
            // Each event names its stream, run and page: what a bucket destination needs to
            // write the seed's archive layout.
            let origin = try #require(event.origin.flatMap(EventOrigin.init))
            #expect(origin.stream == "file_events")
            #expect((1...7).contains(origin.page))
            var pages = Set<Int>()
            var seq: Int64 = 0
            while true {
                let batch = try await store.events(afterSeq: seq, limit: 500)
                guard let last = batch.last else { break }
                seq = last.seq
                for e in batch { if let o = e.origin.flatMap(EventOrigin.init), o.stream == "file_events" { pages.insert(o.page) } }
            }
            #expect(pages == Set(1...7))

            // Same data again: every stream answers, nothing new is stored.
            let again = await collector.run()
            #expect(again.allSatisfy { $0.outcome == .succeeded })
            #expect(again.map(\.eventsNew).reduce(0, +) == 0)
            #expect(try await Self.count(store) == 412)
        }
    }

    @Test(arguments: [false, true])
    func emptyStringAndNullBothEndTheWalk(emptyString: Bool) async throws {
        let double = IncydrTestDouble(emptyStringLastToken: emptyString)
        double.addFileEvents(count: 95, insertedFrom: Self.now() - .seconds(600))
        try await withCollector(double) { collector, store, _ in
            let report = try #require(await collector.run().first)
            #expect(report.outcome == .succeeded)
            #expect(report.pages == 3)
            #expect(try await Self.count(store) == 95)
        }
    }

    @Test func anExpiredTokenMidPaginationIsRefreshedOnceAndTheWalkContinues() async throws {
        let double = IncydrTestDouble()
        double.addFileEvents(count: 200, insertedFrom: Self.now() - .seconds(600))
        try await withCollector(double) { collector, store, _ in
            // The first page succeeds, then the provider declares the token expired.
            let first = await collector.run(streams: [.fileEvents])
            #expect(first[0].outcome == .succeeded)
            double.addFileEvents(count: 100, insertedFrom: Self.now() - .seconds(60), prefix: "late")
            double.inject([.unauthorized])
            let second = try #require(await collector.run().first)
            #expect(second.outcome == .succeeded, "\(second.error ?? "")")
            #expect(second.eventsNew == 100)
            #expect(double.stats.tokenRequests == 2)
            #expect(try await Self.count(store) == 300)
        }
    }

    @Test func realTokenExpiryDuringAPaginationIsHandled() async throws {
        // Tokens live three seconds and the walk takes longer (40 pages, 100 ms each), so tokens
        // expire during it; the collector renews them before expiry or after a 401. (A one-second
        // life failed on a loaded machine: the fresh token expired before its request arrived.)
        let double = IncydrTestDouble(tokenTTL: 3, latency: .milliseconds(100))
        double.addFileEvents(count: 400, insertedFrom: Self.now() - .seconds(600))
        try await withCollector(double, configure: { $0.fileEventsPageSize = 10 }) { collector, store, _ in
            let report = try #require(await collector.run().first)
            #expect(report.outcome == .succeeded, "\(report.error ?? "")")
            #expect(try await Self.count(store) == 400)
            #expect(double.stats.tokenRequests >= 2, "the walk outlived its first token")
        }
    }

    @Test func rateLimitsAndServerErrorsAreRetriedAndNothingIsLostOrDoubled() async throws {
        let double = IncydrTestDouble()
        double.addFileEvents(count: 120, insertedFrom: Self.now() - .seconds(600))
        double.inject([.tooManyRequests(retryAfter: "1"), .tooManyRequests(retryAfter: nil), .serverError, .serverError, .serverError])
        try await withCollector(double) { collector, store, _ in
            let report = try #require(await collector.run().first)
            #expect(report.outcome == .succeeded, "\(report.error ?? "")")
            #expect(report.throttled == 2)
            #expect(report.retries == 5)
            #expect(report.eventsNew == 120)
            #expect(double.stats.status429 == 2)
            #expect(double.stats.status500 == 3)
            #expect(try await Self.count(store) == 120)
        }
    }

    @Test func aRunThatGivesUpKeepsItsCheckpointAndTheNextRunResumesWithoutLossOrDuplicates() async throws {
        let double = IncydrTestDouble()
        double.addFileEvents(count: 200, insertedFrom: Self.now() - .seconds(600))
        try await withCollector(double, configure: { $0.retry.maxAttempts = 3 }) { _, store, make in
            // Stop after two pages (as a crash or a page budget would), leaving the window open.
            var limitedConfiguration = make().configuration
            limitedConfiguration.maxPagesPerRun = 2
            let limited = IncydrCollector(configuration: limitedConfiguration, store: store, transport: .shared, logger: Logger(label: "t"), now: SluiceRuntimeClock.now)
            #expect(await limited.run()[0].eventsNew == 80)
            // A burst of 500s longer than the retry budget: the run gives up, its checkpoint stays.
            let before = try #require(try await store.checkpoint(stream: "incydr/file_events"))
            double.inject(Array(repeating: .serverError, count: 3))
            let failed = await make().run()[0]
            #expect(failed.outcome == .failed)
            #expect(failed.error?.contains("HTTP 500") == true)
            let after = try #require(try await store.checkpoint(stream: "incydr/file_events"))
            #expect(after.value == before.value && after.version == before.version)
            #expect(after.lastRun?.contains("\"outcome\":\"failed\"") == true)
            // The next run resumes at the stored page token.
            let resumed = await make().run()[0]
            #expect(resumed.outcome == .succeeded)
            #expect(resumed.eventsNew == 120)
            #expect(resumed.eventsDuplicate == 0)
            #expect(try await Self.count(store) == 200)
        }
    }

    @Test func eventsInsertedLateIntoAnAlreadyReadWindowAreCollected() async throws {
        let double = IncydrTestDouble()
        double.addFileEvents(count: 50, insertedFrom: Self.now() - .seconds(900))
        try await withCollector(double, configure: { $0.overlap = .seconds(300) }) { collector, store, _ in
            #expect(await collector.run()[0].eventsNew == 50)
            // Made searchable late: inserted two minutes before the last run's end (inside the
            // overlap), and one that happened long ago but was inserted just now.
            double.addFileEvents(count: 5, insertedFrom: Self.now() - .seconds(120), prefix: "late")
            double.addFileEvents(count: 1, insertedFrom: Self.now(), occurredAt: Self.now() - .seconds(86_400 * 30), prefix: "old")
            let second = await collector.run()[0]
            #expect(second.outcome == .succeeded)
            #expect(second.eventsNew == 6)
            let total = try await Self.count(store)
            #expect(total == 56)
        }
    }

    /// 25,000 entries in one window, pages that never say how many there are, and nothing served
    /// past 10,000: the window's count is asked first and it is halved until each part fits.
    @Test func theAuditSearchCapIsHandledBySplittingTheWindow() async throws {
        let double = IncydrTestDouble()
        double.addAuditEntries(count: 25_000, from: Self.now() - .seconds(900), spacing: .milliseconds(30))
        try await withCollector(double, streams: [.audit], configure: { $0.auditPageSize = 2_000; $0.maxPagesPerRun = 200 }) { collector, store, _ in
            let report = try #require(await collector.run().first)
            #expect(report.outcome == .succeeded, "\(report.error ?? "")")
            #expect(report.warnings.isEmpty)
            #expect(report.eventsNew == 25_000)
            #expect(try await Self.count(store) == 25_000)
            // Asked before each window: the first, and each half of every window over the cap.
            #expect(double.stats.requestsByPath["/v1/audit/search-results-count", default: 0] >= 7)
            #expect(await collector.run()[0].eventsNew == 0)
        }
    }

    /// One second holding more than the cap cannot be split: what Incydr serves is stored, and the
    /// run says what is missing.
    @Test func aWindowTooShortToSplitWarnsOfTheEntriesPastTheCap() async throws {
        let double = IncydrTestDouble()
        let from = Self.now() - .seconds(120)
        // All at one instant, so no split separates them.
        double.addAuditEntries(count: 10_200, from: from, spacing: .zero)
        try await withCollector(double, streams: [.audit], configure: { $0.auditPageSize = 5_000; $0.maxPagesPerRun = 100 }) { collector, store, _ in
            let report = try #require(await collector.run().first)
            #expect(report.outcome == .succeeded, "\(report.error ?? "")")
            #expect(report.warnings.contains { $0.contains("10200 audit events") && $0.contains("missing") }, "\(report.warnings)")
            #expect(try await Self.count(store) == 10_000)
        }
    }

    @Test func oneFailingStreamDoesNotHoldBackAnother() async throws {
        let double = IncydrTestDouble()
        double.addFileEvents(count: 80, insertedFrom: Self.now() - .seconds(600))
        double.addAuditEntries(count: 10, from: Self.now() - .seconds(600))
        double.setFailing("/v1/audit/search-audit-log", true)
        try await withCollector(double, streams: [.audit, .fileEvents], configure: { $0.retry.maxAttempts = 3 }) { collector, store, _ in
            let reports = await collector.run()
            let audit = try #require(reports.first { $0.stream == "audit" })
            let files = try #require(reports.first { $0.stream == "file_events" })
            #expect(audit.outcome == .failed)
            #expect(audit.error?.contains("HTTP 500") == true)
            #expect(files.outcome == .succeeded)
            #expect(files.eventsNew == 80)
            #expect(try await store.checkpoint(stream: "incydr/audit")?.value ?? "" == "")
            let summary = try #require(try await store.checkpoint(stream: "incydr/audit")?.lastRun)
            #expect(summary.contains("\"outcome\":\"failed\""))
        }
    }

    @Test func snapshotStreamsStoreOnlyChanges() async throws {
        let double = IncydrTestDouble()
        double.setUsers(count: 12)
        double.setCases(count: 7)
        try await withCollector(double, streams: [.users, .cases]) { collector, store, _ in
            #expect(await collector.run().map(\.eventsNew) == [7, 12])
            double.setUsers(count: 13, inactive: [4])
            double.setCases(count: 7, status: [1: "CLOSED"], assignees: [2: "someone-else"])
            let second = await collector.run()
            #expect(second.map(\.eventsNew) == [2, 2])
            let counts = [
                try await Self.count(store, action: "user.status_changed"), try await Self.count(store, action: "user.observed"),
                try await Self.count(store, action: "case.status_changed"), try await Self.count(store, action: "case.assignee_changed"),
            ]
            #expect(counts == [1, 13, 1, 1])
            // Back to the first state: that is a change too.
            double.setUsers(count: 13)
            #expect(await collector.run(streams: [.users])[0].eventsNew == 1)
            #expect(await collector.run(streams: [.users])[0].eventsNew == 0)
        }
    }

    @Test func aBackfillReadsItsWindowUnderItsOwnCheckpoint() async throws {
        let double = IncydrTestDouble()
        let old = Self.now() - .seconds(86_400 * 3)
        double.addFileEvents(count: 30, insertedFrom: old, prefix: "old")
        double.addFileEvents(count: 20, insertedFrom: Self.now() - .seconds(600))
        try await withCollector(double) { collector, store, _ in
            #expect(await collector.run()[0].eventsNew == 20)
            let live = try await store.checkpoint(stream: "incydr/file_events")
            let range = (old - .seconds(60))...(old + .seconds(60))
            let backfill = await collector.run(backfill: range)
            #expect(backfill.map(\.stream) == ["file_events"])
            #expect(backfill[0].eventsNew == 30)
            #expect(try await store.checkpoint(stream: "incydr/file_events") == live)
            #expect(try await store.checkpoint(stream: collector.checkpointKey(.fileEvents, backfill: range)) != nil)
            // A finished backfill does nothing when repeated.
            #expect(await collector.run(backfill: range)[0].requests == 0)
        }
    }

    @Test func rewindMakesTheNextRunReadAgainAndDuplicatesAreNotStored() async throws {
        let double = IncydrTestDouble()
        double.addFileEvents(count: 60, insertedFrom: Self.now() - .seconds(3_000))
        try await withCollector(double) { collector, store, _ in
            #expect(await collector.run()[0].eventsNew == 60)
            try await collector.rewind(.fileEvents, to: Self.now() - .seconds(3_500))
            let again = await collector.run()[0]
            #expect(again.eventsNew == 0)
            #expect(again.eventsDuplicate == 60)
        }
    }

    /// A closed port fails each attempt at once with the connection's own error (the HTTP
    /// client does not retry behind the retry policy until its connect timeout), and the run
    /// counts the requests it made.
    @Test func aClosedPortFailsEachAttemptWithTheRefusalAndCountsIt() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(configuration: .init(path: directory.path + "/sluice.db"), logger: Logger(label: "test"))
        // Port 1 on loopback: nothing listens there.
        var configuration = IncydrConfiguration(name: "incydr", baseURL: "http://127.0.0.1:1", clientID: "id", clientSecret: "secret-value", streams: [.fileEvents])
        configuration.retry = RetryPolicy(maxAttempts: 2, backoff: Backoff(base: .milliseconds(10), cap: .milliseconds(20)))
        configuration.allowPrivateNetworks = true
        let collector = IncydrCollector(configuration: configuration, store: store, transport: .shared, logger: Logger(label: "test"), now: SluiceRuntimeClock.now)
        let report = try #require(await collector.run().first)
        #expect(report.outcome == .failed)
        #expect(report.error?.lowercased().contains("refused") == true, "\(report.error ?? "")")
        #expect(report.error?.contains("timed out") == false)
        #expect(report.requests == 2 && report.retries == 1, "requests \(report.requests), retries \(report.retries)")
    }

    /// A base URL on loopback without `allow_private_networks`: the SSRF guard refuses it before
    /// any connection (the token request included), every stream fails with the guard's reason,
    /// and nothing is retried.
    @Test func aPrivateBaseURLIsRefusedByTheGuardWithoutAConnection() async throws {
        let double = IncydrTestDouble()
        double.addFileEvents(count: 5, insertedFrom: Self.now() - .seconds(60))
        try await withCollector(double, streams: [.fileEvents, .audit], configure: { $0.allowPrivateNetworks = false }) { collector, store, _ in
            let reports = await collector.run()
            #expect(reports.count == 2 && reports.allSatisfy { $0.outcome == .failed })
            for report in reports {
                // The double is plain http on loopback: the guard names the first problem it finds.
                #expect(report.error?.contains("127.0.0.1") == true && report.error?.contains("plain http") == true, "\(report.error ?? "")")
                #expect(report.error?.contains("allow_private_networks: true") == true)
                #expect(report.retries == 0)
            }
            #expect(double.stats.tokenRequests == 0 && double.stats.requestsByPath.isEmpty, "the double was contacted")
            let stored = try await Self.count(store)
            #expect(stored == 0)
        }
    }

    @Test func badCredentialsFailEveryStreamWithAClearErrorAndNoSecret() async throws {
        let double = IncydrTestDouble()
        double.addFileEvents(count: 5, insertedFrom: Self.now() - .seconds(60))
        try await withCollector(double, streams: [.fileEvents, .users], configure: { $0.clientSecret = "wrong-secret-value" }) { collector, _, _ in
            let reports = await collector.run()
            #expect(reports.allSatisfy { $0.outcome == .failed })
            for report in reports {
                #expect(report.error?.contains("refused the client credentials") == true)
                #expect(report.error?.contains("wrong-secret-value") == false)
            }
        }
    }
}

/// Wall-clock time for tests that talk to the double (which filters by real time too).
enum SluiceRuntimeClock {
    @Sendable static func now() -> Timestamp {
        Timestamp(microseconds: Int64(Date().timeIntervalSince1970 * 1_000_000))
    }
}

/// Collects log lines for secret-leak checks.
struct InMemoryLogs: Sendable {
    let handler = InMemoryLogHandler()

    var logger: Logger {
        var logger = Logger(label: "sluice.test") { _ in handler }
        logger.logLevel = .trace
        return logger
    }

    var text: String { handler.entries.map { "\($0.level) \($0.message) \($0.metadata)" }.joined(separator: "\n") }
}
