import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SluiceCore
import SluiceStorePostgres
@testable import SluiceStoreSQLite
import SluiceStoreKit
import SluiceTesting
import Testing

/// Histograms and facets: bucket edges, counts against a brute-force count on both stores, the
/// API's answers to bad parameters, and the chart and facets of `/ui/events`.
@Suite struct EventOverviewTests {
    static func utc(_ text: String) -> Timestamp { Timestamp(rfc3339: text)! }

    // MARK: Buckets

    @Test func widthIsTheNarrowestThatFits() throws {
        let b = try HistogramPlan.buckets(since: Self.utc("2026-03-01T00:00:00Z"), until: Self.utc("2026-03-02T00:00:00Z"), buckets: 60, width: nil, zone: TimeZone(identifier: "UTC")!)
        #expect(b.width.description == "30m")
        #expect(b.count == 48)
        #expect(b.edges.first == Self.utc("2026-03-01T00:00:00Z"))
        #expect(b.edges.last == Self.utc("2026-03-02T00:00:00Z"))
        // An unaligned start goes down to the bucket holding it.
        let c = try HistogramPlan.buckets(since: Self.utc("2026-03-01T00:07:13Z"), until: Self.utc("2026-03-01T00:20:00Z"), buckets: 60, width: nil, zone: TimeZone(identifier: "UTC")!)
        #expect(c.width.description == "15s")
        #expect(c.edges.first == Self.utc("2026-03-01T00:07:00Z"))
        #expect(c.bucket(of: Self.utc("2026-03-01T00:07:14Z")) == 0)
        #expect(c.bucket(of: Self.utc("2026-03-01T00:07:15Z")) == 1)
        #expect(c.bucket(of: Self.utc("2026-03-01T00:06:59Z")) == nil)
    }

    @Test func hoursFollowHalfHourAndQuarterHourZones() throws {
        let kolkata = try HistogramPlan.buckets(since: Self.utc("2026-03-01T10:10:00Z"), until: Self.utc("2026-03-01T14:00:00Z"), buckets: 10, width: HistogramWidth(text: "1h"), zone: TimeZone(identifier: "Asia/Kolkata")!)
        // 10:10Z is 15:40 in Kolkata: its hour starts at 15:00 local, 09:30Z.
        #expect(kolkata.edges.first == Self.utc("2026-03-01T09:30:00Z"))
        #expect(kolkata.edges[1] == Self.utc("2026-03-01T10:30:00Z"))
        let kathmandu = try HistogramPlan.buckets(since: Self.utc("2026-03-01T10:10:00Z"), until: Self.utc("2026-03-01T11:00:00Z"), buckets: 10, width: HistogramWidth(text: "30m"), zone: TimeZone(identifier: "Asia/Kathmandu")!)
        // +05:45: local half hours fall at :15 and :45 UTC.
        #expect(kathmandu.edges.first == Self.utc("2026-03-01T09:45:00Z"))
        #expect(kathmandu.edges[1] == Self.utc("2026-03-01T10:15:00Z"))
        let fixed = try HistogramPlan.buckets(since: Self.utc("2026-03-01T10:10:00Z"), until: Self.utc("2026-03-01T12:00:00Z"), buckets: 10, width: HistogramWidth(text: "1h"), zone: HistogramPlan.zone(named: "-03:30")!)
        #expect(fixed.edges.first == Self.utc("2026-03-01T09:30:00Z"))
    }

    @Test func daysFollowLocalMidnightsAcrossDST() throws {
        let newYork = TimeZone(identifier: "America/New_York")!
        // Spring forward on 2026-03-08: that local day has 23 hours.
        let spring = try HistogramPlan.buckets(since: Self.utc("2026-03-07T12:00:00Z"), until: Self.utc("2026-03-10T12:00:00Z"), buckets: 10, width: HistogramWidth(text: "1d"), zone: newYork)
        #expect(spring.edges.first == Self.utc("2026-03-07T05:00:00Z"))
        #expect(spring.edges[1] == Self.utc("2026-03-08T05:00:00Z"))
        #expect(spring.edges[2] == Self.utc("2026-03-09T04:00:00Z"))
        #expect(spring.edges[2].microseconds - spring.edges[1].microseconds == 23 * 3_600_000_000)
        // Fall back on 2026-11-01: 25 hours.
        let fall = try HistogramPlan.buckets(since: Self.utc("2026-10-31T12:00:00Z"), until: Self.utc("2026-11-02T12:00:00Z"), buckets: 10, width: HistogramWidth(text: "1d"), zone: newYork)
        #expect(fall.edges[2].microseconds - fall.edges[1].microseconds == 25 * 3_600_000_000)
        // Hour buckets across the fall-back hour stay an hour apart and strictly increasing.
        let hours = try HistogramPlan.buckets(since: Self.utc("2026-11-01T03:00:00Z"), until: Self.utc("2026-11-01T09:00:00Z"), buckets: 20, width: HistogramWidth(text: "1h"), zone: newYork)
        for (a, b) in zip(hours.edges, hours.edges.dropFirst()) { #expect(b.microseconds - a.microseconds == 3_600_000_000) }
        #expect(hours.count == 6)
    }

    @Test func plansThatWouldBeTooLargeAreRefusedNamingTheParameter() {
        let utcZone = TimeZone(identifier: "UTC")!
        #expect(throws: HistogramPlanError.self) { try HistogramPlan.buckets(since: Self.utc("2026-01-01T00:00:00Z"), until: Self.utc("2026-01-02T00:00:00Z"), buckets: 0, width: nil, zone: utcZone) }
        do {
            _ = try HistogramPlan.buckets(since: Self.utc("2026-01-01T00:00:00Z"), until: Self.utc("2026-02-01T00:00:00Z"), buckets: 60, width: HistogramWidth(text: "1m"), zone: utcZone)
            Issue.record("a month of minute buckets was planned")
        } catch {
            #expect(error.parameter == "width")
        }
        // Without a width, a year still fits in 60 weekly buckets.
        #expect((try? HistogramPlan.buckets(since: Self.utc("2025-01-01T00:00:00Z"), until: Self.utc("2026-01-01T00:00:00Z"), buckets: 60, width: nil, zone: utcZone))?.width.description == "7d")
    }

    @Test func lagMaximaKeepTheLastHourByMinute() {
        var maxima = MinuteMaxima()
        let start = Self.utc("2026-03-01T10:00:10Z")
        maxima.record(2, at: start)
        maxima.record(5, at: start + .seconds(20))
        maxima.record(1, at: start + .seconds(40))
        maxima.record(0, at: start + .seconds(120))
        let hour = maxima.lastHour(endingAt: start + .seconds(125))
        #expect(hour.count == 60)
        #expect(hour[59] == 0)
        #expect(hour[58] == nil)
        #expect(hour[57] == 5)
        // An hour later the old minutes are gone.
        #expect(maxima.lastHour(endingAt: start + .seconds(3_800)).compactMap { $0 }.isEmpty)
    }

    // MARK: Counts against brute force

    /// Events over three days: ten actors, five actions, targets from fifty, three feeds, some
    /// arriving late (older times after newer ones).
    static func randomEvents(count: Int, seed: UInt64) -> [IncomingEvent] {
        var rng = SplitMix64(seed: seed)
        let base = utc("2026-03-01T00:00:00Z").microseconds
        let actions = ["user.created", "user.deleted", "api_key.created", "api_key.revoked", "file.read"]
        let feeds = ["feed-a", "feed-b", "incydr"]
        return (0..<count).map { i in
            let late = Int.random(in: 0..<10, using: &rng) == 0
            let offset = late ? Int64.random(in: 0..<(3 * 86_400_000_000), using: &rng) : Int64(i) * (3 * 86_400_000_000 / Int64(count))
            let targetCount = Int.random(in: 1...2, using: &rng)
            let targets = (0..<targetCount).map { _ in
                let t = Int.random(in: 0..<50, using: &rng)
                return AuditTarget(type: t % 3 == 0 ? "file" : "api_key", id: "t\(t)", name: "Target \(t)")
            }
            let actor = Int.random(in: 0..<10, using: &rng)
            return EventStoreContract.event(
                source: feeds[Int.random(in: 0..<3, using: &rng)], action: actions[Int.random(in: 0..<5, using: &rng)], actorID: "u\(actor)", actorName: "User \(actor)",
                targets: targets, occurredAt: Timestamp(microseconds: base + offset + Int64(i % 997)), key: "k\(i)", raw: "{\"n\":\(i),\"needle\":\(i % 7 == 0)}"
            )
        }
    }

    static let filters: [EventFilter] = [
        EventFilter(),
        EventFilter(actor: "u3"),
        EventFilter(actor: "User 4", action: .exact("file.read")),
        EventFilter(action: .prefix("api_key.")),
        EventFilter(source: "incydr", target: "t7"),
        EventFilter(targetType: "file", since: utc("2026-03-01T13:17:29Z"), until: utc("2026-03-02T20:00:00Z")),
        EventFilter(since: utc("2026-03-01T05:00:30.5Z"), until: utc("2026-03-02T07:59:59Z")),
        EventFilter(actor: "nobody"),
        EventFilter(source: "no-such-feed"),
        EventFilter(actor: "u1", text: "\"needle\":true"),
    ]

    static func plans() throws -> [HistogramBuckets] {
        let since = utc("2026-02-28T22:00:00Z")
        let until = utc("2026-03-04T00:00:00Z")
        return [
            try HistogramPlan.buckets(since: since, until: until, buckets: 60, width: nil, zone: TimeZone(identifier: "UTC")!),
            try HistogramPlan.buckets(since: since, until: until, buckets: 10, width: HistogramWidth(text: "1d"), zone: TimeZone(identifier: "Asia/Kolkata")!),
            try HistogramPlan.buckets(since: utc("2026-03-01T12:00:00Z"), until: utc("2026-03-01T12:20:00Z"), buckets: 100, width: HistogramWidth(text: "15s"), zone: TimeZone(identifier: "UTC")!),
            try HistogramPlan.buckets(since: since, until: until, buckets: 1_000, width: HistogramWidth(text: "7m"), zone: TimeZone(identifier: "UTC")!),
        ]
    }

    static func bruteForce(_ events: [StoredEvent], _ filter: EventFilter, _ buckets: HistogramBuckets) -> [Int] {
        var counts = [Int](repeating: 0, count: buckets.count)
        for event in events where filter.matches(event) {
            if let b = buckets.bucket(of: event.normalized.occurredAt) { counts[b] += 1 }
        }
        return counts
    }

    static func bruteFacets(_ events: [StoredEvent], _ filter: EventFilter, _ fields: [FacetField], limit: Int) -> [FacetField: [FacetValue]] {
        var counts: [FacetField: [String: Int]] = [:]
        FacetScan.count(events.filter(filter.matches), fields: fields, into: &counts)
        return Dictionary(uniqueKeysWithValues: fields.map { ($0, FacetValue.ranked(counts[$0] ?? [:], limit: limit)) })
    }

    static func allEvents(_ store: any EventStore) async throws -> [StoredEvent] {
        if let storage = store as? any SluiceStorage { try await settle(storage) }
        var all: [StoredEvent] = []
        var after: Int64 = 0
        while true {
            let page = try await store.events(afterSeq: after, limit: 1_000)
            guard let last = page.last else { return all }
            all += page
            after = last.seq
        }
    }

    func checkCounts(_ store: any EventStore, _ label: String) async throws {
        let events = try await Self.allEvents(store)
        for filter in Self.filters {
            for buckets in try Self.plans() {
                let counts = try await store.eventCounts(matching: filter, buckets: buckets)
                #expect(counts.complete)
                #expect(counts.counts == Self.bruteForce(events, filter, buckets), "\(label): \(filter) per \(buckets.width)")
            }
        }
        let fields = FacetField.allCases
        for filter in Self.filters {
            let facets = try await store.facets(matching: filter, fields: fields, limit: 5)
            #expect(facets.complete)
            #expect(facets.eventsCounted == events.filter(filter.matches).count, "\(label): \(filter)")
            #expect(facets.fields == Self.bruteFacets(events, filter, fields, limit: 5), "\(label): facets of \(filter)")
        }
    }

    @Test func sqliteCountsEqualABruteForceCountIndexedOrNot() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(
            configuration: SQLiteStoreConfiguration(path: directory.path + "/sluice.db", automaticIndexing: false), logger: Logger(label: "test")
        )
        let events = Self.randomEvents(count: 2_400, seed: 7)
        for chunk in stride(from: 0, to: events.count, by: 300) {
            _ = try await store.append(Array(events[chunk..<min(chunk + 300, events.count)]), receivedAt: Self.utc("2026-03-05T00:00:00Z"))
        }
        // Nothing indexed: every count comes from reading rows.
        try await checkCounts(store, "unindexed")
        // Part indexed, in small overlapping blocks: index and tail together.
        _ = try await store.indexPendingTerms(maxEvents: 1_500, passSize: 200, blockSize: 16)
        try await checkCounts(store, "half indexed")
        _ = try await store.indexPendingTerms(maxEvents: .max, passSize: 500, blockSize: 64)
        try await checkCounts(store, "indexed")
        // Retention takes events out of blocks, minutes and term totals alike.
        let purged = try await store.purge(occurredBefore: Self.utc("2026-03-02T02:00:00Z"), limit: 700)
        #expect(purged.count == 700)
        try await checkCounts(store, "after a purge")
        let range = try await store.occurredRange()
        let remaining = try await Self.allEvents(store)
        #expect(range?.lowerBound == remaining.map(\.normalized.occurredAt).min())
        #expect(range?.upperBound == remaining.map(\.normalized.occurredAt).max())
    }

    @Test func aStoreFromBeforeTheRollupsStartsThemFromItsRowsAndBlocks() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/sluice.db"
        do {
            let store = try SQLiteEventStore(configuration: SQLiteStoreConfiguration(path: path, automaticIndexing: false), logger: Logger(label: "test"))
            _ = try await store.append(Self.randomEvents(count: 1_000, seed: 3), receivedAt: Self.utc("2026-03-05T00:00:00Z"))
            _ = try await store.indexPendingTerms(maxEvents: 700, passSize: 100, blockSize: 32)
            await store.close()
        }
        // What a store written before the rollups has: no rollup tables, the migration not run.
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(sql: "DROP TABLE event_minutes; DROP TABLE event_hours; DROP TABLE index_terms; DELETE FROM grdb_migrations WHERE identifier = '2026-12-08-event-rollups'")
        }
        try queue.close()
        let store = try SQLiteEventStore(configuration: SQLiteStoreConfiguration(path: path, automaticIndexing: false), logger: Logger(label: "test"))
        try await checkCounts(store, "upgraded, part indexed")
        _ = try await store.indexPendingTerms()
        try await checkCounts(store, "upgraded, indexed")
    }

    @Test(.enabled(if: PostgresTestDatabase.url != nil || PostgresTestDatabase.isRequired))
    func postgresCountsEqualABruteForceCount() async throws {
        try await PostgresTestDatabase.withStore { store in
            let events = Self.randomEvents(count: 1_200, seed: 11)
            for chunk in stride(from: 0, to: events.count, by: 300) {
                _ = try await store.append(Array(events[chunk..<min(chunk + 300, events.count)]), receivedAt: Self.utc("2026-03-05T00:00:00Z"))
            }
            try await checkCounts(store, "postgres")
        }
    }

    @Test func aBoundedTextCountSaysWhereItStarted() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(configuration: SQLiteStoreConfiguration(path: directory.path + "/sluice.db"), logger: Logger(label: "test"))
        let base = Self.utc("2026-03-01T00:00:00Z")
        let events = (0..<(QueryLimits.textScanLimit + 500)).map { i in
            EventStoreContract.event(occurredAt: base + .seconds(Int64(i)), key: "k\(i)", raw: "{\"n\":\(i)}")
        }
        for chunk in stride(from: 0, to: events.count, by: 10_000) {
            _ = try await store.append(Array(events[chunk..<min(chunk + 10_000, events.count)]), receivedAt: base)
        }
        let buckets = try HistogramPlan.buckets(since: base, until: base + .seconds(86_400), buckets: 24, width: nil, zone: TimeZone(identifier: "UTC")!)
        let counts = try await store.eventCounts(matching: EventFilter(text: "\"n\""), buckets: buckets)
        #expect(!counts.complete)
        #expect(counts.counts.reduce(0, +) == QueryLimits.textScanLimit)
        #expect(counts.countedFrom == base + .seconds(500))
    }

    // MARK: API and UI

    static let yaml = """
        server:
          admin_tokens:
            - { name: soc, role: viewer, token: "${env:SOC_TOKEN}" }
        feeds:
          incident-io:
            log_type: INCIDENT_IO
            secret: "${env:FEED_SECRET}"
        """
    static let environment = ["SOC_TOKEN": "soc-token-value-456", "FEED_SECRET": "feed-secret-789"]
    static let viewer: HTTPFields = [.authorization: "Bearer soc-token-value-456"]

    static func seed(_ client: any TestClientProtocol) async throws {
        var lines: [String] = []
        for i in 0..<40 {
            let actor = i % 4
            let action = i % 3 == 0 ? "api_key.created" : "user.logged_in"
            let hour = String(format: "%02d", i % 20)
            lines.append(#"{"action":"\#(action)","actor":{"id":"u\#(actor)","name":"User \#(actor)","type":"user"},"occurred_at":"2026-03-10T\#(hour):15:00.\#(String(format: "%06d", i))Z","targets":[{"id":"t\#(i % 5)","type":"api_key","name":"Target \#(i % 5)"}],"version":1}"#)
        }
        let response = try await client.execute(
            uri: "/v1/feeds/incident-io/events", method: .post, headers: [HTTPField.Name("X-Webhook-Access-Key")!: "feed-secret-789"],
            body: ByteBuffer(string: lines.joined(separator: "\n"))
        )
        #expect(response.status == .ok)
    }

    static func json(_ response: TestResponse) throws -> JSONValue {
        try JSONParser.parse(response.body.getBytes(at: response.body.readerIndex, length: response.body.readableBytes) ?? [])
    }

    @Test func theAuditLogPageDrawsLinkedBarsAndFacets() async throws {
        let sluice = try await TestSluice(yaml: """
            feeds:
              incident-io: { log_type: INCIDENT_IO, secret: "feed-secret-789" }
            """)
        defer { sluice.cleanUp() }
        try await sluice.withLiveServer { client in
            try await Self.seed(client)
            let session = try await WebUITests.signIn(client)
            let page = try await WebOperationsTests.html(client, "/ui/events?since=2026-03-10T00:00:00Z&until=2026-03-12T00:00:00Z&zone=local&tz=330", cookie: session.cookie)
            let counts = page.matches(of: /data-events="(\d+)"/).map { Int($0.output.1)! }
            #expect(counts.reduce(0, +) == 40)
            // Two days make hour bars, aligned in the page's zone (+05:30): the first starts at 05:00 local.
            #expect(page.contains("data-start=\"2026-03-09T23:30:00.000000Z\""))
            // Each bar links to its own range, keeping the zone.
            #expect(page.contains("href=\"/ui/events?since=2026-03-10T01%3A30%3A00.000000Z&amp;until=2026-03-10T02%3A30%3A00.000000Z&amp;zone=local&amp;tz=330\""))
            // Facets: each value adds itself to the filter; 14 of 40 entries are api_key.created.
            #expect(page.contains(">api_key.created</a> <span class=\"muted\">14</span>"))
            #expect(page.contains("href=\"/ui/events?since=2026-03-10T00%3A00%3A00Z&amp;until=2026-03-12T00%3A00%3A00Z&amp;actor=u0&amp;zone=local&amp;tz=330\""))
            #expect(page.contains("Counted over all 40 matching events."))
        }
    }

    @Test(arguments: StoreBackend.available)
    func theAPICountsAndRefusesBadParameters(_ backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let sluice = try await TestSluice(yaml: Self.yaml, environment: Self.environment, store: backend == .sqlite ? nil : store)
            defer { sluice.cleanUp() }
            try await sluice.withLiveServer { client in
                try await Self.seed(client)
                let histogram = try Self.json(try await client.execute(
                    uri: "/v1/events/histogram?since=2026-03-10T00:00:00Z&until=2026-03-11T00:00:00Z&width=1h&tz=Asia/Kolkata&actor=u1", method: .get, headers: Self.viewer
                ))
                #expect(histogram["width"]?.stringValue == "1h")
                #expect(histogram["total"]?.textValue == "10")
                let buckets = histogram["buckets"]?.arrayValue ?? []
                #expect(buckets.first?["start"]?.stringValue == "2026-03-09T23:30:00.000000Z")
                #expect(buckets.compactMap { $0["events"]?.textValue.flatMap(Int.init) }.reduce(0, +) == 10)
                // Actor u1 is i = 1, 5, 9, ...: hours 01, 05, 09, 13, 17 at :15, twice each; in Kolkata's hours (starting :30 UTC) that is 00:30-01:30.
                let busy = buckets.first { $0["start"]?.stringValue == "2026-03-10T00:30:00.000000Z" }
                #expect(busy?["events"]?.textValue == "2")

                let facets = try Self.json(try await client.execute(uri: "/v1/events/facets?fields=action,actor&limit=2&action=user.logged_in", method: .get, headers: Self.viewer))
                #expect(facets["complete"] == .bool(true))
                #expect(facets["events_counted"]?.textValue == "26")
                let actions = facets["fields"]?["action"]?.arrayValue ?? []
                #expect(actions.count == 1)
                #expect(actions.first?["value"]?.stringValue == "user.logged_in")
                #expect(facets["fields"]?["actor"]?.arrayValue?.count == 2)

                let bad: [(String, String)] = [
                    ("/v1/events/histogram?buckets=0", "buckets=0"),
                    ("/v1/events/histogram?buckets=1001", "buckets=1001"),
                    ("/v1/events/histogram?since=2020-01-01&until=2026-01-01&width=1m", "width=1m"),
                    ("/v1/events/histogram?width=fortnight", "width=fortnight"),
                    ("/v1/events/histogram?tz=Mars/Olympus", "tz=Mars/Olympus"),
                    ("/v1/events/histogram?fields=action", "unknown query parameter \\\"fields\\\""),
                    ("/v1/events/facets?fields=action,colour", "fields: \\\"colour\\\" is not a field"),
                    ("/v1/events/facets?limit=101", "limit=101"),
                    ("/v1/events/facets?limit=0", "limit=0"),
                    ("/v1/events/facets?buckets=3", "unknown query parameter \\\"buckets\\\""),
                    ("/v1/events/facets?since=yesterday", "since=yesterday"),
                ]
                for (uri, named) in bad {
                    let response = try await client.execute(uri: uri, method: .get, headers: Self.viewer)
                    #expect(response.status == .badRequest, "\(uri)")
                    #expect(String(buffer: response.body).contains(named), "\(uri): \(String(buffer: response.body))")
                }
                let anonymous = try await client.execute(uri: "/v1/events/histogram", method: .get)
                #expect(anonymous.status == .unauthorized)
            }
        }
    }
}
