import Foundation
import SluiceApp
import SluiceCore
import SluiceHTTP
import SluiceSources
import Testing

@Suite struct CronExpressionTests {
    static func t(_ text: String) -> Timestamp { Timestamp(rfc3339: text)! }

    @Test(arguments: [
        ("0 * * * *", "2026-11-21T10:15:00Z", "2026-11-21T11:00:00Z"),
        ("0 * * * *", "2026-11-21T10:00:00Z", "2026-11-21T11:00:00Z"),
        ("*/15 * * * *", "2026-11-21T10:15:30Z", "2026-11-21T10:30:00Z"),
        ("30 2 * * *", "2026-11-21T03:00:00Z", "2026-11-22T02:30:00Z"),
        ("0 0 1 * *", "2026-11-21T00:00:00Z", "2026-12-01T00:00:00Z"),
        ("0 0 * * 1", "2026-11-21T00:00:00Z", "2026-11-23T00:00:00Z"),
        ("0 0 * * 7", "2026-11-21T00:00:00Z", "2026-11-22T00:00:00Z"),
        ("0 9-17/4 * * 1-5", "2026-11-20T17:30:00Z", "2026-11-23T09:00:00Z"),
        ("0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"),
        // Both day fields restricted: either matches (the 1st, or any Monday).
        ("0 0 1 * 1", "2026-11-21T00:00:00Z", "2026-11-23T00:00:00Z"),
    ])
    func nextRun(expression: String, after: String, expected: String) throws {
        #expect(try CronExpression(expression).next(after: Self.t(after)) == Self.t(expected))
    }

    @Test(arguments: ["* * * *", "60 * * * *", "* 24 * * *", "*/0 * * * *", "a * * * *", "5-1 * * * *", "* * 0 * *"])
    func invalidExpressionsNameTheField(expression: String) {
        #expect(throws: CronExpression.ParseError.self) { try CronExpression(expression) }
    }
}

@Suite struct DurationTextTests {
    /// Shown in the largest unit that divides it, and read back by the config loader as the same
    /// duration: `every: 1h` shows as "every 1h", not "every 3600.0 seconds".
    @Test(arguments: [
        (Duration.seconds(3_600), "1h"), (.seconds(86_400 * 7), "7d"), (.seconds(5_400), "90m"), (.seconds(45), "45s"),
        (.seconds(0), "0s"), (.seconds(3_601), "3601s"), (.milliseconds(250), "250ms"), (.milliseconds(1_500), "1500ms"),
    ])
    func durationsAreWrittenAsTheConfigWritesThem(duration: Duration, text: String) {
        #expect(DurationText.text(duration) == text)
        if duration.components.attoseconds == 0 {
            #expect(DurationText.seconds(text).map { Duration.seconds($0) } == duration)
        }
    }

    @Test func aScheduleDescribesItsInterval() {
        #expect(CollectorSchedule.every(.seconds(3_600)).description == "every 1h")
    }
}

@Suite struct RetryPolicyTests {
    @Test func decisions() {
        var rng = SystemRandomNumberGenerator()
        let policy = RetryPolicy(maxAttempts: 3, backoff: Backoff(base: .seconds(1), cap: .seconds(8)))
        #expect(policy.decide(attempt: 1, outcome: .status(200, retryAfter: nil), tokenRefreshed: false, using: &rng) == .succeed)
        #expect(policy.decide(attempt: 1, outcome: .status(401, retryAfter: nil), tokenRefreshed: false, using: &rng) == .refreshTokenAndRetry)
        guard case .giveUp = policy.decide(attempt: 1, outcome: .status(401, retryAfter: nil), tokenRefreshed: true, using: &rng) else {
            Issue.record("a second 401 must give up")
            return
        }
        #expect(policy.decide(attempt: 1, outcome: .status(429, retryAfter: .seconds(7)), tokenRefreshed: false, using: &rng)
            == .retry(after: .seconds(7), reason: "HTTP 429 (rate limited; asked to wait 7.0 seconds)"))
        guard case .retry(let wait, _) = policy.decide(attempt: 2, outcome: .status(429, retryAfter: nil), tokenRefreshed: false, using: &rng) else {
            Issue.record("429 without Retry-After must back off")
            return
        }
        #expect(wait >= .seconds(1) && wait <= .seconds(2))
        guard case .retry = policy.decide(attempt: 1, outcome: .transportFailure("reset"), tokenRefreshed: false, using: &rng),
              case .retry = policy.decide(attempt: 2, outcome: .status(503, retryAfter: nil), tokenRefreshed: false, using: &rng),
              case .giveUp(let reason) = policy.decide(attempt: 3, outcome: .status(503, retryAfter: nil), tokenRefreshed: false, using: &rng),
              case .giveUp = policy.decide(attempt: 1, outcome: .status(400, retryAfter: nil), tokenRefreshed: false, using: &rng)
        else {
            Issue.record("5xx and transport failures retry until the attempts run out; 400 never retries")
            return
        }
        #expect(reason.contains("after 3 attempts"))
        // A huge Retry-After is clamped.
        #expect(policy.decide(attempt: 1, outcome: .status(429, retryAfter: .seconds(86_400)), tokenRefreshed: false, using: &rng)
            == .retry(after: .seconds(300), reason: "HTTP 429 (rate limited; asked to wait 86400.0 seconds)"))
    }

    @Test func backoffGrowsAndIsCapped() {
        var rng = SystemRandomNumberGenerator()
        let backoff = Backoff(base: .seconds(1), cap: .seconds(10))
        for attempt in 1...12 {
            let delay = backoff.delay(attempt: attempt, using: &rng)
            let ceiling = Duration.seconds(min(10, 1 << (attempt - 1)))
            #expect(delay <= ceiling && delay >= ceiling / 2)
        }
    }

    @Test func retryAfterParsing() {
        #expect(RetryAfter.parse("120") == .seconds(120))
        #expect(RetryAfter.parse(" 0 ") == .seconds(0))
        #expect(RetryAfter.parse("-1") == nil)
        #expect(RetryAfter.parse("soon") == nil)
        #expect(RetryAfter.parse(nil) == nil)
        let now = Date(timeIntervalSince1970: 1_445_412_480) // Wed, 21 Oct 2015 07:28:00 GMT
        #expect(RetryAfter.parse("Wed, 21 Oct 2015 07:28:30 GMT", now: now) == .seconds(30))
        // Okta's 429 carries no Retry-After: the reset second, counted from the answer's own Date.
        let okta = OutboundResponse(status: 429, headers: [("X-Rate-Limit-Reset", "1445412540"), ("Date", "Wed, 21 Oct 2015 07:28:30 GMT")], body: [])
        #expect(RetryAfter.of(okta, now: now + 3_600) == .seconds(31))
        let both = OutboundResponse(status: 429, headers: [("Retry-After", "7"), ("X-Rate-Limit-Reset", "1445412540")], body: [])
        #expect(RetryAfter.of(both, now: now) == .seconds(7))
        #expect(RetryAfter.of(OutboundResponse(status: 429, headers: [("X-Rate-Limit-Reset", "soon")], body: []), now: now) == nil)
    }

    @Test func theBudgetNeverStartsMoreThanItsLimitInOneWindow() async throws {
        let budget = RequestBudget(limit: 3, window: .milliseconds(300))
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<3 { try await budget.acquire() }
        try await budget.acquire()
        #expect(clock.now - start >= .milliseconds(300))
    }

    @Test func oneTokenFetchServesConcurrentCallersAndInvalidationFetchesAnew() async throws {
        let cache = AccessTokenCache {
            try await Task.sleep(for: .milliseconds(20))
            return AccessToken(value: "t-\(UUID().uuidString)", expiresIn: .seconds(900))
        }
        let tokens = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<10 { group.addTask { try await cache.token() } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(tokens.count == 1)
        #expect(await cache.fetchCount == 1)
        await cache.invalidate(tokens.first!)
        #expect(try await cache.token() != tokens.first!)
        #expect(await cache.fetchCount == 2)
    }
}

@Suite struct CollectorConfigTests {
    @Test func aCompleteIncydrCollector() throws {
        let yaml = """
            collectors:
              incydr:
                type: code42_incydr
                base_url: https://api.us.code42.com
                client_id: "${env:ID}"
                client_secret: "${env:SECRET}"
                streams: [users, file_events]
                schedule: "0 * * * *"
                lookback: 60m
                overlap: 5m
                page_size: { file_events: 5000, users: "${env:USERS_PAGE}" }
                requests_per_minute: 60
                retry: { attempts: 3, base_delay: 2s, max_delay: 30s }
                file_events_filter:
                  filterClause: OR
                  filters:
                    - { term: user.email, operator: IS, value: "a@example.com" }
            """
        let config = try ConfigLoader(environment: ["ID": "id", "SECRET": "s3cret", "USERS_PAGE": "250"]).load(yaml: yaml)
        let incydr = try #require(config.collectors.first?.incydr)
        #expect(incydr.streams == [.users, .fileEvents])
        #expect(incydr.clientSecret == "s3cret")
        #expect(incydr.fileEventsPageSize == 5000)
        #expect(incydr.usersPageSize == 250)
        #expect(incydr.requestsPerMinute == 60)
        #expect(incydr.retry == RetryPolicy(maxAttempts: 3, backoff: Backoff(base: .seconds(2), cap: .seconds(30))))
        #expect(incydr.overlap == .seconds(300))
        #expect(incydr.fileEventsFilterGroups.count == 1)
        #expect(incydr.fileEventsFilterGroups[0].value(at: FieldPath("filterClause"))?.stringValue == "OR")
        #expect(config.collectors[0].schedule == .cron(try CronExpression("0 * * * *")))
    }

    @Test func everyMistakeIsReportedWithItsPath() {
        let yaml = """
            collectors:
              incydr:
                type: code42_incydr
                base_url: api.us.code42.com
                client_secret: "${env:MISSING}"
                streams: [users, alerts]
                schedule: "0 * * *"
                page_size: { file_events: 20000 }
              other:
                type: splunk
            """
        do {
            _ = try ConfigLoader(environment: [:]).load(yaml: yaml)
            Issue.record("the config must be refused")
        } catch {
            let paths = Set(error.issues.map(\.path))
            #expect(paths.isSuperset(of: [
                "collectors.incydr.base_url", "collectors.incydr.client_id", "collectors.incydr.client_secret",
                "collectors.incydr.streams[1]", "collectors.incydr.schedule", "collectors.incydr.page_size.file_events",
                "collectors.other.type",
            ]), "\(error.issues)")
        }
    }

    @Test func everyInterval() throws {
        let yaml = """
            collectors:
              incydr: { type: code42_incydr, base_url: "http://127.0.0.1:1", client_id: a, client_secret: b, schedule: { every: 5m } }
            """
        let config = try ConfigLoader(environment: [:]).load(yaml: yaml)
        #expect(config.collectors[0].schedule == .every(.seconds(300)))
        #expect(config.collectors[0].incydr?.streams == IncydrConfiguration.Stream.allCases)
    }
}
