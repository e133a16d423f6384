import SluiceCore
import SluiceStorePostgres
import SluiceStoreSQLite
import Testing

/// Behaviour every ``EventStore`` must have. Each backend's tests call these with a fresh store.
public enum EventStoreContract {
    public static func event(
        source: String = "feed-a", action: String = "api_key.created", actorID: String = "u1", actorName: String = "Alice",
        actorType: String = "user", targets: [AuditTarget] = [AuditTarget(type: "api_key", id: "k1", name: "Key One")],
        occurredAt: Timestamp, key: String, raw: String? = nil, logType: String = "INCIDENT_IO"
    ) -> IncomingEvent {
        IncomingEvent(
            source: source, logType: logType, dedupeKey: Array(key.utf8),
            raw: Array((raw ?? "{\"k\":\"\(key)\"}").utf8),
            normalized: NormalizedEvent(
                occurredAt: occurredAt, action: action,
                actor: AuditActor(type: actorType, id: actorID, name: actorName, metadata: ["role": "admin"]),
                targets: targets, context: AuditContext(location: "1.2.3.4", userAgent: "UA"), schemaVersion: 1
            )
        )
    }

    static func t(_ seconds: Int64) -> Timestamp { Timestamp(seconds: 1_700_000_000 + seconds) }

    /// Appends count, dedupes per source, keeps raw bytes and normalized fields verbatim.
    public static func appendAndDedupe(_ store: any EventStore) async throws {
        let first = try await store.append([event(occurredAt: t(1), key: "a"), event(occurredAt: t(2), key: "b")], receivedAt: t(10))
        #expect(first == AppendResult(accepted: 2, duplicates: 0))
        // Same keys again, plus a duplicate inside the same request, plus the same key on another source.
        let second = try await store.append(
            [event(occurredAt: t(1), key: "a"), event(occurredAt: t(3), key: "c"), event(occurredAt: t(3), key: "c"), event(source: "feed-b", occurredAt: t(1), key: "a")],
            receivedAt: t(11)
        )
        #expect(second == AppendResult(accepted: 2, duplicates: 2))
        let page = try await store.events(matching: EventFilter(), after: nil, limit: 100)
        #expect(page.events.count == 4)
        let nul = try await store.append([event(occurredAt: t(4), key: "nul", raw: "{\"s\":\"a\\u0000b\"}")], receivedAt: t(12))
        #expect(nul.accepted == 1)
        let stored = try await store.events(matching: EventFilter(), after: nil, limit: 1).events[0]
        #expect(String(decoding: stored.raw, as: UTF8.self) == "{\"s\":\"a\\u0000b\"}")
        #expect(stored.normalized.actor?.metadata == ["role": "admin"])
        #expect(stored.receivedAt == t(12))
        #expect(try await store.event(id: stored.id) == stored)
        // Seq grows with commit order.
        let all = try await store.events(matching: EventFilter(), after: nil, limit: 100).events
        let bySeq = all.sorted { $0.seq < $1.seq }
        #expect(bySeq.map(\.receivedAt) == bySeq.map(\.receivedAt).sorted())
    }

    /// A redelivery is a duplicate when source, key and the event's own time all match; the
    /// same key at another time, or with no time, is another event. Times before the epoch too.
    public static func timedDedupeKeys(_ store: any EventStore) async throws {
        func timed(_ key: String, at time: Timestamp, source: String = "feed-a") -> IncomingEvent {
            var incoming = event(source: source, occurredAt: time, key: key)
            incoming.dedupeTime = time
            return incoming
        }
        let early = Timestamp(seconds: -86_400)
        let first = try await store.append(
            [timed("k", at: t(1)), timed("k", at: t(2)), timed("j", at: t(1)), timed("k", at: early), event(occurredAt: t(1), key: "k")],
            receivedAt: t(10)
        )
        #expect(first == AppendResult(accepted: 5, duplicates: 0))
        let again = try await store.append(
            [timed("k", at: t(2)), timed("k", at: early), event(occurredAt: t(5), key: "k"), timed("k", at: t(1), source: "feed-b"), timed("k", at: t(3))],
            receivedAt: t(11)
        )
        #expect(again == AppendResult(accepted: 2, duplicates: 3))
        let stored = try await store.events(matching: EventFilter(), after: nil, limit: 100).events
        #expect(stored.count == 7)
        #expect(stored.filter { $0.normalized.occurredAt == early }.count == 1)
    }

    /// Concurrent appends each get their own all-or-nothing result and nothing is lost.
    public static func concurrentAppends(_ store: any EventStore) async throws {
        try await withThrowingTaskGroup(of: AppendResult.self) { group in
            for client in 0..<16 {
                group.addTask {
                    var total = AppendResult(accepted: 0, duplicates: 0)
                    for request in 0..<10 {
                        let events = (0..<5).map { i in event(occurredAt: t(Int64(i)), key: "c\(client)-r\(request)-e\(i)") }
                        let r = try await store.append(events, receivedAt: t(100))
                        total.accepted += r.accepted
                        total.duplicates += r.duplicates
                    }
                    return total
                }
            }
            var accepted = 0
            for try await r in group { accepted += r.accepted }
            #expect(accepted == 16 * 10 * 5)
        }
        var count = 0
        var cursor: EventCursor?
        repeat {
            let page = try await store.events(matching: EventFilter(), after: cursor, limit: 333)
            count += page.events.count
            cursor = page.nextCursor
        } while cursor != nil
        #expect(count == 800)
    }

    /// Every filter narrows correctly, newest first, and cursor paging visits each match once.
    /// `afterSeeding` runs between writing and reading (a backend can index some or all events there).
    public static func filtersAndPaging(_ store: any EventStore, afterSeeding: () async throws -> Void = {}) async throws {
        var events: [IncomingEvent] = []
        for i in 0..<60 {
            events.append(event(
                source: i % 3 == 0 ? "feed-b" : "feed-a",
                // Two actions share the prefix api_key., so a prefix filter merges two terms.
                action: i % 2 == 0 ? (i % 4 == 0 ? "api_key.created" : "api_key.rotated") : "user.logged_in",
                actorID: "u\(i % 4)", actorName: "Name \(i % 4)",
                actorType: i % 5 == 0 ? "system" : "user",
                targets: [AuditTarget(type: i % 2 == 0 ? "api_key" : "incident", id: "t\(i % 6)", name: "Target \(i % 6)")],
                occurredAt: t(Int64(i % 20)), key: "f\(i)", raw: "{\"n\":\(i),\"note\":\"Needle\(i % 7)\"}",
                logType: i % 3 == 0 ? "OTHER" : "INCIDENT_IO"
            ))
        }
        _ = try await store.append(events, receivedAt: t(1000))
        try await afterSeeding()
        func all(_ filter: EventFilter, pageSize: Int = 7) async throws -> [StoredEvent] {
            var out: [StoredEvent] = []
            var cursor: EventCursor?
            repeat {
                let page = try await store.events(matching: filter, after: cursor, limit: pageSize)
                out += page.events
                cursor = page.nextCursor
            } while cursor != nil
            return out
        }
        func keys(_ list: [StoredEvent]) -> Set<Int64> { Set(list.map(\.seq)) }
        let everything = try await all(EventFilter())
        #expect(everything.count == 60)
        #expect(keys(everything).count == 60)
        // Newest first by occurred_at, then seq.
        let expectedOrder = everything.sorted { (a: StoredEvent, b: StoredEvent) -> Bool in
            a.normalized.occurredAt != b.normalized.occurredAt ? a.normalized.occurredAt > b.normalized.occurredAt : a.seq > b.seq
        }
        #expect(everything.map(\.seq) == expectedOrder.map(\.seq))

        func expectFilter(_ filter: EventFilter, _ predicate: (StoredEvent) -> Bool, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let got = try await all(filter)
            let want = everything.filter(predicate)
            #expect(!want.isEmpty, sourceLocation: sourceLocation)
            #expect(keys(got) == keys(want), sourceLocation: sourceLocation)
            #expect(got.count == want.count, "no event listed twice", sourceLocation: sourceLocation)
        }
        try await expectFilter(EventFilter(source: "feed-b")) { $0.source == "feed-b" }
        try await expectFilter(EventFilter(logType: "OTHER")) { $0.logType == "OTHER" }
        try await expectFilter(EventFilter(actor: "u1")) { $0.normalized.actor?.id == "u1" }
        try await expectFilter(EventFilter(actor: "Name 2")) { $0.normalized.actor?.name == "Name 2" }
        try await expectFilter(EventFilter(actorType: "system")) { $0.normalized.actor?.type == "system" }
        try await expectFilter(EventFilter(action: .exact("user.logged_in"))) { $0.normalized.action == "user.logged_in" }
        try await expectFilter(EventFilter(action: .prefix("api_key."))) { $0.normalized.action.hasPrefix("api_key.") }
        try await expectFilter(EventFilter(target: "t3")) { $0.normalized.targets.contains { $0.id == "t3" } }
        try await expectFilter(EventFilter(target: "Target 4")) { $0.normalized.targets.contains { $0.name == "Target 4" } }
        try await expectFilter(EventFilter(targetType: "incident")) { $0.normalized.targets.contains { $0.type == "incident" } }
        try await expectFilter(EventFilter(since: t(5), until: t(9))) { $0.normalized.occurredAt >= t(5) && $0.normalized.occurredAt < t(9) }
        try await expectFilter(EventFilter(text: "needle3")) { String(decoding: $0.raw, as: UTF8.self).contains("Needle3") }
        let combined = EventFilter(source: "feed-a", actor: "u2", action: .prefix("api_key"), since: t(2))
        try await expectFilter(combined) { (e: StoredEvent) -> Bool in
            guard e.source == "feed-a", e.normalized.actor?.id == "u2" else { return false }
            return e.normalized.action.hasPrefix("api_key") && e.normalized.occurredAt >= t(2)
        }
        try await expectFilter(EventFilter(actor: "u0", target: "t0")) { (e: StoredEvent) -> Bool in
            e.normalized.actor?.id == "u0" && e.normalized.targets.contains { $0.id == "t0" }
        }
        #expect(try await store.events(matching: EventFilter(actor: "nobody"), after: nil, limit: 10).events.isEmpty)
    }

    /// Retention deletes only what is older than the cutoff, in bounded batches.
    public static func purge(_ store: any EventStore, afterSeeding: () async throws -> Void = {}) async throws {
        let events = (0..<25).map { i in event(occurredAt: t(Int64(i)), key: "p\(i)") }
        _ = try await store.append(events, receivedAt: t(100))
        try await afterSeeding()
        #expect(try await store.purge(occurredBefore: t(10), limit: 4).count == 4)
        #expect(try await store.purge(occurredBefore: t(10), limit: 100).count == 6)
        #expect(try await store.purge(occurredBefore: t(10), limit: 100).count == 0)
        let left = try await store.events(matching: EventFilter(), after: nil, limit: 100).events
        #expect(left.count == 15)
        #expect(left.allSatisfy { $0.normalized.occurredAt >= t(10) })
        // Target rows of purged events are gone too: a target filter finds only survivors.
        let byTarget = try await store.events(matching: EventFilter(target: "k1"), after: nil, limit: 100).events
        #expect(byTarget.count == 15)
    }

    /// A checkpoint moves only together with its page's events, and only from the version the
    /// writer read: a stale writer stores nothing (neither events nor checkpoint).
    public static func checkpointsCommitWithEvents(_ store: any EventStore) async throws {
        #expect(try await store.checkpoint(stream: "c/s") == nil)
        let first = CheckpointUpdate(stream: "c/s", expectedVersion: 0, value: "{\"page\":1}", entityDigests: ["u1": [1, 2, 3]])
        let r1 = try await store.append([event(source: "c", occurredAt: t(1), key: "p1")], receivedAt: t(10), checkpoint: first)
        #expect(r1 == AppendResult(accepted: 1, duplicates: 0))
        let stored = try #require(try await store.checkpoint(stream: "c/s"))
        #expect(stored.value == "{\"page\":1}")
        #expect(stored.version == 1)
        #expect(try await store.entityDigests(stream: "c/s") == ["u1": [1, 2, 3]])

        // A writer that read version 0 is now stale: its page is refused whole.
        let stale = CheckpointUpdate(stream: "c/s", expectedVersion: 0, value: "{\"page\":9}")
        await #expect(throws: StoreError.self) {
            _ = try await store.append([event(source: "c", occurredAt: t(2), key: "stale")], receivedAt: t(11), checkpoint: stale)
        }
        do {
            _ = try await store.append([event(source: "c", occurredAt: t(2), key: "stale")], receivedAt: t(11), checkpoint: stale)
        } catch {
            #expect(error.code == .conflict)
        }
        #expect(try await store.checkpoint(stream: "c/s")?.value == "{\"page\":1}")
        #expect(try await store.events(matching: EventFilter(), after: nil, limit: 10).events.map { String(decoding: $0.raw, as: UTF8.self) } == ["{\"k\":\"p1\"}"])

        // Concurrent writers of one stream: exactly one of the pages holding the same version wins,
        // and the other's events are absent, even when both share one group commit.
        let results = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<8 {
                group.addTask {
                    let update = CheckpointUpdate(stream: "c/s", expectedVersion: 1, value: "{\"page\":\(i + 2)}")
                    return (try? await store.append([event(source: "c", occurredAt: t(3), key: "race\(i)")], receivedAt: t(12), checkpoint: update)) != nil
                }
            }
            var out: [Bool] = []
            for await r in group { out.append(r) }
            return out
        }
        #expect(results.filter { $0 }.count == 1)
        let all = try await store.events(matching: EventFilter(), after: nil, limit: 100).events
        #expect(all.count == 2)
        #expect(try await store.checkpoint(stream: "c/s")?.version == 2)

        // Run summaries sit beside the checkpoint without moving it.
        try await store.recordRun(stream: "c/s", summary: "{\"outcome\":\"succeeded\"}", at: t(20))
        try await store.recordRun(stream: "c/other", summary: "{}", at: t(20))
        let listed = try await store.checkpoints(prefix: "c/")
        #expect(listed.map(\.stream) == ["c/other", "c/s"])
        #expect(listed[1].version == 2)
        #expect(listed[1].lastRun == "{\"outcome\":\"succeeded\"}")
        #expect(listed[0].version == 0)
        #expect(try await store.checkpoints(prefix: "d/").isEmpty)
    }
}

extension EventStoreContract {
    /// NUL and other unusual characters in any text field come back exactly as they went in,
    /// and a filter value holding NUL matches nothing without failing.
    public static func unusualTextRoundTrips(_ store: any EventStore) async throws {
        let odd = IncomingEvent(
            source: "feed-a", logType: "INCIDENT_IO", dedupeKey: Array("odd".utf8), raw: Array("{\"a\":\"x\\u0000y\"}".utf8),
            normalized: NormalizedEvent(
                occurredAt: t(1), action: "user.\u{0}created",
                actor: AuditActor(type: "user", id: "id\u{0}1", name: "N\u{FFFF}0\u{0}", metadata: ["k": "v\u{0}"]),
                targets: [AuditTarget(type: "t\u{0}", id: "\u{FFFF}\u{FFFF}", name: "é\u{0}")],
                context: AuditContext(location: "\u{0}", userAgent: "UA \u{FFFF}"), schemaVersion: 3
            ),
            origin: "o\u{0}"
        )
        let plain = event(occurredAt: t(2), key: "plain")
        #expect(try await store.append([odd, plain], receivedAt: t(10)) == AppendResult(accepted: 2, duplicates: 0))
        let listed = try await store.events(matching: EventFilter(), after: nil, limit: 10).events
        let stored = try #require(listed.first { $0.raw == odd.raw })
        #expect(stored.normalized == odd.normalized)
        #expect(stored.origin == odd.origin)
        #expect(try await store.event(id: stored.id) == stored)
        #expect(try await store.events(matching: EventFilter(actor: "id\u{0}1"), after: nil, limit: 10).events.isEmpty)
        #expect(try await store.events(matching: EventFilter(actor: "u1"), after: nil, limit: 10).events.map(\.raw) == [plain.raw])

        // Filters compare bytes: canonically equivalent spellings (precomposed é, e + U+0301)
        // are distinct values, and one event holding both is found by each.
        let both = event(actorID: "\u{E9}", actorName: "e\u{301}", occurredAt: t(3), key: "both")
        let composed = event(actorID: "\u{E9}", actorName: "Composed", occurredAt: t(4), key: "composed")
        let decomposed = event(actorID: "e\u{301}", actorName: "Decomposed", occurredAt: t(5), key: "decomposed")
        #expect(try await store.append([both, composed, decomposed], receivedAt: t(11)) == AppendResult(accepted: 3, duplicates: 0))
        if let sqlite = store as? SQLiteEventStore { try await sqlite.indexPendingTerms() }
        let byComposed = try await store.events(matching: EventFilter(actor: "\u{E9}"), after: nil, limit: 10).events.map(\.raw)
        let byDecomposed = try await store.events(matching: EventFilter(actor: "e\u{301}"), after: nil, limit: 10).events.map(\.raw)
        #expect(byComposed == [composed.raw, both.raw])
        #expect(byDecomposed == [decomposed.raw, both.raw])
    }
}

extension EventStoreContract {
    /// Commits are published on ``DeliveryLedger/changes``: events move the events counter and wake
    /// a consumer waiting since before them; an operator's hold, re-drive and replay move the
    /// control counter. The waits' limits are far above the store's fallback interval for this
    /// process's own commits, which must wake at once, so a missing signal fails here.
    public static func commitsArePublished(_ store: any SluiceStorage) async throws {
        let changes = store.changes
        let before = changes.mark
        let waiter = Task { await changes.wait(after: before, timeout: .seconds(120)) }
        _ = try await store.append([event(occurredAt: t(1), key: "published")], receivedAt: t(2))
        let woken = await waiter.value
        #expect(woken.events != before.events, "the append did not wake a consumer waiting since before it")
        #expect(woken.control == before.control, "an append is not an operator's change")

        var mark = changes.mark
        _ = try await store.setHold(destination: "d", hold: DestinationHold(reason: "test", heldBy: "ops", heldAt: t(3)), audit: nil)
        #expect(changes.mark.control != mark.control, "a hold did not move the control counter")
        mark = changes.mark
        _ = try await store.requestRedrive(destination: "d", seqs: nil, audit: nil)
        #expect(changes.mark.control != mark.control, "a re-drive request did not move the control counter")
        mark = changes.mark
        _ = try await store.createReplay(destination: "d", since: t(0), until: t(10), at: t(4), audit: nil)
        #expect(changes.mark.control != mark.control, "a replay did not move the control counter")

        // A waiter for a mark already passed returns at once.
        let passed = await changes.wait(after: before, timeout: .seconds(120))
        #expect(passed == changes.mark)
    }
}

extension EventStoreContract {
    /// A workflow sleeps until its next run is due: ``WorkflowJournal/nextAttemptAt(workflow:)``
    /// names the earliest queued or retrying run's time, per workflow, and nothing once runs end.
    public static func nextWorkflowAttempt(_ store: any SluiceStorage) async throws {
        #expect(try await store.nextAttemptAt(workflow: "w") == nil)
        _ = try await store.enqueueRuns(
            [NewWorkflowRun(workflow: "w", alertKey: "a", eventSeq: 1), NewWorkflowRun(workflow: "w", alertKey: "b", eventSeq: 2)],
            consumer: "w", through: 2, at: t(10), fence: nil
        )
        #expect(try await store.nextAttemptAt(workflow: "w") == t(10), "queued runs are due when queued")
        #expect(try await store.nextAttemptAt(workflow: "other") == nil)
        let due = try await store.dueRuns(workflow: "w", at: t(10), limit: 10)
        #expect(due.count == 2)
        for (run, retryAt) in zip(due, [t(70), t(40)]) {
            _ = try await store.beginAttempt(runID: run.id, at: t(11), fence: nil)
            try await store.finishAttempt(runID: run.id, status: .retrying, step: "s", detail: "503", nextAttemptAt: retryAt, at: t(12), fence: nil)
        }
        #expect(try await store.nextAttemptAt(workflow: "w") == t(40), "the earliest retry")
        for run in due {
            _ = try await store.beginAttempt(runID: run.id, at: t(80), fence: nil)
            try await store.finishAttempt(runID: run.id, status: .succeeded, step: nil, detail: nil, nextAttemptAt: nil, at: t(81), fence: nil)
        }
        #expect(try await store.nextAttemptAt(workflow: "w") == nil, "finished runs wait for nothing")
    }
}
