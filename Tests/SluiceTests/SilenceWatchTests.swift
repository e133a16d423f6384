import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import SluiceApp
import SluiceCore
import SluiceEngine
import SluiceStorePostgres
import SluiceTesting
import Synchronization
import Testing

/// Sources that fall silent: arrival times kept by the store in each commit, a pure decision, and
/// one audit entry per transition whichever instances (or restarts) look.
@Suite struct SilenceWatchTests {
    static let base = Timestamp(seconds: 1_765_000_000)
    static let feed = SourceExpectation(source: "feed-a", kind: .feed, within: .seconds(3))

    /// A clock the test moves.
    final class Clock: Sendable {
        let time = Mutex(SilenceWatchTests.base)
        var now: @Sendable () -> Timestamp { { [self] in self.time.withLock { $0 } } }
        func set(_ seconds: Int64) { time.withLock { $0 = SilenceWatchTests.base + .seconds(seconds) } }
    }

    @Test func aSourceIsSilentOnlyPastItsAllowance() {
        let heard = SourceSilence.assess(Self.feed, lastArrival: Self.base, watchingSince: Self.base - .seconds(100), now: Self.base + .seconds(3))
        #expect(!heard.isSilent && heard.silentFrom == Self.base + .seconds(3))
        #expect(SourceSilence.assess(Self.feed, lastArrival: Self.base, watchingSince: Self.base, now: Self.base + .milliseconds(3_001)).isSilent)
        // Never heard from: counted from when the watch began.
        let never = SourceSilence.assess(Self.feed, lastArrival: nil, watchingSince: Self.base, now: Self.base + .seconds(2))
        #expect(!never.isSilent && never.silentFrom == Self.base + .seconds(3) && never.age(at: Self.base) == nil)
        // The same transition always makes the same entry (time and key), a new silence another.
        let silent = SourceSilence.assess(Self.feed, lastArrival: Self.base, watchingSince: Self.base, now: Self.base + .seconds(9))
        let again = SourceSilence.assess(Self.feed, lastArrival: Self.base, watchingSince: Self.base + .seconds(5), now: Self.base + .seconds(60))
        #expect(silent.transitionEntry().dedupeKey == again.transitionEntry().dedupeKey)
        #expect(silent.transitionEntry().entry.occurredAt == Self.base + .seconds(3))
        let later = SourceSilence.assess(Self.feed, lastArrival: Self.base + .seconds(1), watchingSince: Self.base, now: Self.base + .seconds(60))
        #expect(later.transitionEntry().dedupeKey != silent.transitionEntry().dedupeKey)
    }

    @Test(arguments: StoreBackend.available)
    func theStoreKeepsWhenEachSourceLastArrived(_ backend: StoreBackend) async throws {
        try await backend.withStore { store in
            _ = try await store.append([EventStoreContract.event(occurredAt: Self.base, key: "a1")], receivedAt: Self.base + .seconds(1))
            _ = try await store.append(
                [EventStoreContract.event(source: "feed-b", occurredAt: Self.base, key: "b1")], receivedAt: Self.base + .seconds(2)
            )
            // A duplicate is not an arrival; a request that fails stores nothing, its arrival neither.
            _ = try await store.append([EventStoreContract.event(occurredAt: Self.base, key: "a1")], receivedAt: Self.base + .seconds(5))
            await #expect(throws: StoreError.self) {
                try await store.append(
                    [EventStoreContract.event(occurredAt: Self.base, key: "a2")], receivedAt: Self.base + .seconds(6),
                    checkpoint: CheckpointUpdate(stream: "collector/x", expectedVersion: 9, value: "v")
                )
            }
            _ = try await store.append([EventStoreContract.event(occurredAt: Self.base - .seconds(3_600), key: "a3")], receivedAt: Self.base + .seconds(4))
            let arrivals = try await store.sourceArrivals()
            #expect(arrivals["feed-a"] == Self.base + .seconds(4) && arrivals["feed-b"] == Self.base + .seconds(2))
            // Per hour of arrival: what was stored, not duplicates or refused requests.
            _ = try await store.append([EventStoreContract.event(occurredAt: Self.base, key: "a4")], receivedAt: Self.base + .seconds(3_600))
            let hour = Self.base.microseconds / 3_600_000_000
            let volume = try await store.sourceVolume(since: Self.base - .seconds(7_200))
            #expect(volume["feed-a"] == [hour: 2, hour + 1: 1] && volume["feed-b"] == [hour: 1])
            #expect(try await store.sourceVolume(since: Self.base + .seconds(3_600))["feed-a"] == [hour + 1: 1])
        }
    }

    @Test(arguments: StoreBackend.available)
    func eachTransitionIsRecordedOnceWhoeverLooks(_ backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let clock = Clock()
            let logger = Logger(label: "test.silence")
            let watch = SilenceWatch(store: store, expectations: [Self.feed], logger: logger, now: clock.now)
            func entries(_ action: String) async throws -> Int {
                try await store.events(matching: EventFilter(source: AdminAuditEntry.source, action: .exact(action)), after: nil, limit: 100).events.count
            }
            _ = try await store.append([EventStoreContract.event(occurredAt: Self.base, key: "a1")], receivedAt: Self.base)
            clock.set(2)
            #expect(try await watch.check().isEmpty)
            clock.set(4)
            let wentSilent = try await watch.check()
            #expect(wentSilent.map(\.action) == [SourceSilence.wentSilentAction])
            #expect(wentSilent.first?.occurredAt == Self.base + .seconds(3))
            #expect(try await watch.check().isEmpty)
            // Another instance, or this one restarted: it finds the silence recorded and adds nothing.
            let other = SilenceWatch(store: store, expectations: [Self.feed], logger: logger, now: clock.now)
            #expect(try await other.check().isEmpty)
            #expect(try await entries(SourceSilence.wentSilentAction) == 1)
            let assessed = try await other.assess()
            #expect(assessed.first?.isSilent == true && assessed.first?.lastArrival == Self.base)

            clock.set(5)
            _ = try await store.append([EventStoreContract.event(occurredAt: Self.base + .seconds(5), key: "a2")], receivedAt: clock.now())
            // Both instances see the recovery; the store keeps one entry, and only one of them stored it.
            let recovered = try await watch.check() + other.check()
            #expect(recovered.map(\.action) == [SourceSilence.recoveredAction])
            #expect(try await entries(SourceSilence.recoveredAction) == 1)
            // Quiet again, past the allowance: a new silence, recorded once.
            clock.set(20)
            #expect(try await other.check().map(\.action) == [SourceSilence.wentSilentAction])
            #expect(try await watch.check().isEmpty)
            #expect(try await entries(SourceSilence.wentSilentAction) == 2)
        }
    }

    @Test func feedsAndCollectorsTakeAnAllowanceAndTheFeedsPageShowsASilentOne() async throws {
        let clock = Clock()
        let yaml = """
            feeds:
              quiet: { secret: "${env:SLUICE_DEFAULT_FEED_SECRET}", expect_events_within: 3s }
              chatty: { secret: "${env:SLUICE_DEFAULT_FEED_SECRET}", expect_events_within: 6h }
            """
        let sluice = try await TestSluice(yaml: yaml, now: clock.now)
        defer { sluice.cleanUp() }
        #expect(Set(sluice.prepared.config.sourceExpectations) == [
            SourceExpectation(source: "chatty", kind: .feed, within: .seconds(21_600)), SourceExpectation(source: "quiet", kind: .feed, within: .seconds(3)),
        ])
        let watch = try #require(sluice.prepared.silence)
        _ = try await sluice.store.append(
            (0..<3).map { EventStoreContract.event(source: "chatty", occurredAt: Self.base, key: "c\($0)") }, receivedAt: Self.base
        )
        clock.set(10)
        #expect(try await watch.check().map { $0.targets.first?.id } == ["quiet"])
        try await sluice.withLiveServer { client in
            let (cookie, _) = try await WebUITests.signIn(client)
            let page = String(buffer: try await client.execute(uri: "/ui/feeds", method: .get, headers: [.cookie: cookie]).body)
            #expect(page.contains(#"class="error silent">Silent since"#))
            #expect(page.contains("Expected within 6h"))
            // Each feed's last 24 hours as bars, from the store: chatty's three events in this hour.
            #expect(page.contains(#"aria-label="Events per hour over the last 24 hours: 3 in all, at most 3 in an hour""#))
            #expect(page.contains(#"<rect x="92" y="0" width="3" height="20"><title>"#) && page.contains(": 3 events</title>"))
            #expect(page.contains(#"aria-label="Events per hour over the last 24 hours: 0 in all, at most 0 in an hour""#))
            // Every signed-in page carries the strip, with a link to the silent source's page.
            let events = String(buffer: try await client.execute(uri: "/ui/events", method: .get, headers: [.cookie: cookie]).body)
            #expect(events.contains(#"<p class="strip" role="status"><strong>Silent:</strong> <a href="/ui/feeds">quiet</a> since"#))
            #expect(!events.contains(">chatty</a> since"))
        }
        for (wrong, path) in [
            ("feeds:\n  f: { secret: s3cr3t-value-0123456789, expect_events_within: soon }\n", "feeds.f.expect_events_within"),
            ("feeds:\n  f: { secret: s3cr3t-value-0123456789, expect_events_within: 0s }\n", "feeds.f.expect_events_within"),
        ] {
            #expect(performing: { try ConfigLoader(environment: [:]).load(yaml: wrong) }, throws: { error in
                (error as? ConfigErrors)?.issues.map(\.path) == [path]
            })
        }
    }

    /// The alarm reaches people through an ordinary destination and route: a chat webhook
    /// (format `chat`, Slack's body) gets one message when the feed goes silent and one when it
    /// recovers, with delivery's own retries and exactly-once cursor.
    @Test func aSilenceAndItsRecoveryReachAChatWebhookOnceEach() async throws {
        let double = SinkTestDouble()
        try await double.withServer { base in
            let clock = Clock()
            let yaml = """
                feeds:
                  quiet: { secret: "${env:SLUICE_DEFAULT_FEED_SECRET}", expect_events_within: 3s }
                destinations:
                  ops-chat: { type: https, url: "\(base)/services/hooks/chat", format: chat, allow_private_networks: true }
                routes:
                  - { from: [sluice], actions: [source.went_silent, source.recovered], to: [ops-chat] }
                """
            let sluice = try await TestSluice(yaml: yaml, now: clock.now)
            defer { sluice.cleanUp() }
            let watch = try #require(sluice.prepared.silence)
            _ = try await sluice.store.append([EventStoreContract.event(source: "quiet", occurredAt: Self.base, key: "q1")], receivedAt: Self.base)
            try await sluice.withLiveServer { _ in
                // The running service checks too: whichever looks first records the transition.
                clock.set(10)
                try await watch.check()
                let told = try await eventually { double.received.chatMessages.count == 1 }
                #expect(told)
                clock.set(11)
                _ = try await sluice.store.append([EventStoreContract.event(source: "quiet", occurredAt: clock.now(), key: "q2")], receivedAt: clock.now())
                try await watch.check()
                let recovered = try await eventually { double.received.chatMessages.count == 2 }
                #expect(recovered)
            }
            let messages = double.received.chatMessages
            #expect(messages.first == "Sluice: feed quiet went silent: no event stored since \(Self.base.rfc3339) (expected within 3s).")
            #expect(messages.last == "Sluice: feed quiet recovered: events arrive again (first at \((Self.base + .seconds(11)).rfc3339)).")
            #expect(double.received.statuses[200] == 2)
            let entries = try await sluice.store.events(matching: EventFilter(source: AdminAuditEntry.source, action: .prefix("source.")), after: nil, limit: 10)
            #expect(entries.events.map(\.normalized.action) == [SourceSilence.recoveredAction, SourceSilence.wentSilentAction])
        }
    }

    /// On PostgreSQL arrivals are written once a second, and when the store closes: a short run
    /// (a CLI collection) leaves its arrivals for the next instance to read at once.
    @Test(.enabled(if: PostgresTestDatabase.url != nil || PostgresTestDatabase.isRequired)) func aClosingPostgreSQLStoreWritesItsLastArrivals() async throws {
        try await PostgresTestDatabase.withSchema { configuration in
            let logger = Logger(label: "test.silence")
            try await PostgresEventStore.withStore(configuration: configuration, logger: logger) { store async throws in
                _ = try await store.append([EventStoreContract.event(occurredAt: Self.base, key: "a1")], receivedAt: Self.base)
            }
            try await PostgresEventStore.withStore(configuration: configuration, logger: logger) { store async throws in
                #expect(try await store.sourceArrivals()["feed-a"] == Self.base)
                #expect(try await store.sourceVolume(since: Self.base)["feed-a"]?.values.reduce(0, +) == 1)
            }
        }
    }

    /// Three instances on one PostgreSQL schema, each with its own watch: each transition is
    /// stored once, and each instance's assessment agrees.
    @Test(.enabled(if: PostgresTestDatabase.url != nil || PostgresTestDatabase.isRequired)) func threeInstancesOnPostgreSQLRecordEachTransitionOnce() async throws {
        try await PostgresTestDatabase.withSchema { configuration in
            let logger = Logger(label: "test.silence")
            try await PostgresEventStore.withStore(configuration: configuration, logger: logger) { one in
                try await PostgresEventStore.withStore(configuration: configuration, logger: logger) { two in
                    try await PostgresEventStore.withStore(configuration: configuration, logger: logger) { three in
                        let clock = Clock()
                        let watches = [one, two, three].map { SilenceWatch(store: $0, expectations: [Self.feed], logger: logger, now: clock.now) }
                        _ = try await two.append([EventStoreContract.event(occurredAt: Self.base, key: "a1")], receivedAt: Self.base)
                        // Another instance's arrivals are written within a second of their commit.
                        let seen = try await eventually { try await one.sourceArrivals()["feed-a"] == Self.base }
                        #expect(seen)
                        clock.set(8)
                        var stored: [AdminAuditEntry] = []
                        for watch in watches { stored += try await watch.check() }
                        #expect(stored.map(\.action) == [SourceSilence.wentSilentAction])
                        for watch in watches { #expect(try await watch.assess().first?.isSilent == true) }
                        clock.set(9)
                        _ = try await three.append([EventStoreContract.event(occurredAt: clock.now(), key: "a2")], receivedAt: clock.now())
                        let back = try await eventually { try await one.sourceArrivals()["feed-a"] == clock.now() }
                        #expect(back)
                        stored = []
                        for watch in watches.reversed() { stored += try await watch.check() }
                        #expect(stored.map(\.action) == [SourceSilence.recoveredAction])
                        let entries = try await one.events(matching: EventFilter(source: AdminAuditEntry.source, action: .prefix("source.")), after: nil, limit: 10)
                        #expect(entries.events.count == 2)
                    }
                }
            }
        }
    }
}
