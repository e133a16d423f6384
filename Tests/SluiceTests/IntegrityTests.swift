import Foundation
import GRDB
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import PostgresNIO
import SluiceApp
import SluiceCore
import SluiceEngine
import SluiceIntegrity
@testable import SluiceStorePostgres
@testable import SluiceStoreSQLite
import SluiceTesting
import Testing

/// Checkpoints written over a real store (SQLite file, PostgreSQL schema), then the store changed
/// behind Sluice's back with SQL: `IntegrityVerifier` names exactly what was done, nothing else.
@Suite struct IntegrityTests {
    static let key = IntegrityKey()
    static let base = Timestamp(seconds: 1_765_000_000)

    /// Appends `count` events and writes a checkpoint over them; returns the checkpoint and its event's seq.
    @discardableResult
    static func batch(_ store: any SluiceStorage, _ count: Int, from: Int, key: IntegrityKey = key) async throws -> (checkpoint: IntegrityCheckpoint, seq: Int64) {
        let events = (from..<(from + count)).map { i in
            EventStoreContract.event(occurredAt: base + .seconds(i), key: "e\(i)", raw: "{\"id\":\"e\(i)\",\"n\":\(i)}")
        }
        _ = try await store.append(events, receivedAt: base + .seconds(from))
        try await settle(store)
        let checkpoint = try #require(try await IntegrityCheckpointer(store: store, key: key).checkpoint(at: base + .seconds(from + count), fence: nil))
        try await settle(store)
        let seq = try await store.latestSeq()
        return (checkpoint, seq)
    }

    /// SQL run on the store's own database, as someone with access to it would.
    static func tamper(_ store: any SluiceStorage, _ statements: String...) async throws {
        if let sqlite = store as? SQLiteEventStore {
            try await sqlite.pool.write { db in for sql in statements { try db.execute(sql: sql) } }
        } else if let postgres = store as? PostgresEventStore {
            try await postgres.database.transaction { connection in
                for sql in statements { try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "test.tamper")) }
            }
        }
    }

    /// The id of the event stored under `seq` now.
    static func id(_ store: any SluiceStorage, _ seq: Int64) async throws -> String {
        try #require(try await store.events(afterSeq: seq - 1, limit: 1).first { $0.seq == seq }).id.rawValue
    }

    /// Verifies what consumers can read, once everything committed is (PostgreSQL holds events
    /// back while older transactions, other tests' among them, run).
    static func verify(_ store: any SluiceStorage, keys: [IntegrityPublicKey] = [key.publicKey]) async throws -> IntegrityReport {
        try await settle(store)
        return try await IntegrityVerifier(store: store, keys: keys).verify()
    }

    @Test(arguments: StoreBackend.available)
    func anUntouchedStoreVerifiesAndNewerEventsWaitForTheNextCheckpoint(_ backend: StoreBackend) async throws {
        try await backend.withStore { store in
            try await Self.batch(store, 10, from: 0)
            try await Self.batch(store, 10, from: 10)
            // Nothing new but checkpoints: no checkpoint is written.
            #expect(try await IntegrityCheckpointer(store: store, key: Self.key).checkpoint(at: Self.base + .seconds(100), fence: nil) == nil)
            var report = try await Self.verify(store)
            #expect(report.problems.isEmpty)
            #expect(report.checkpoints == 2 && report.verifiedEvents == 20 && report.pending.count == 0)
            _ = try await store.append([EventStoreContract.event(occurredAt: Self.base + .seconds(50), key: "late")], receivedAt: Self.base + .seconds(50))
            try await settle(store)
            report = try await Self.verify(store)
            #expect(report.isIntact && report.pending.count == 1)
        }
    }

    @Test(arguments: StoreBackend.available)
    func eachChangeIsNamedWhereItIsAndNothingElse(_ backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let first = try await Self.batch(store, 10, from: 0)
            let second = try await Self.batch(store, 10, from: 10)
            let third = try await Self.batch(store, 10, from: 20)
            let fourth = try await Self.batch(store, 10, from: 30)
            #expect(try await Self.verify(store).problems.isEmpty)
            let removed = first.checkpoint.seqs.ranges[0].lowerBound + 3
            let edited = second.checkpoint.seqs.ranges[0].lowerBound + 5
            // Beside a removal the root cannot be recomputed; the fingerprints still name this one.
            let editedBesideRemoved = removed + 4
            try await Self.tamper(
                store,
                "DELETE FROM events WHERE seq = \(removed)",
                "UPDATE events SET occurred_at = occurred_at + 1 WHERE seq = \(editedBesideRemoved)",
                // A normalized field: the event's time.
                "UPDATE events SET occurred_at = occurred_at + 1000000 WHERE seq = \(edited)",
                // The third checkpoint's own event.
                "DELETE FROM events WHERE seq = \(third.seq)"
            )
            let report = try await Self.verify(store)
            #expect(report.problems == [
                .missingEvents(checkpointSeq: first.seq, seqs: SeqRanges([removed])),
                .changedEvent(seq: editedBesideRemoved, id: try await Self.id(store, editedBesideRemoved), checkpointSeq: first.seq),
                .changedEvent(seq: edited, id: try await Self.id(store, edited), checkpointSeq: second.seq),
                .missingCheckpoint(beforeSeq: fourth.seq, uncovered: third.checkpoint.seqs),
            ])
            #expect(report.verifiedThrough == nil)
        }
    }

    /// A range (of checkpoint times, or of seqs) verifies only the checkpoints in it, trusting
    /// the first one's link to the one before: a change outside the range is not looked at.
    @Test func aRangeVerifiesOnlyItsCheckpoints() async throws {
        try await StoreBackend.sqlite.withStore { store in
            let first = try await Self.batch(store, 10, from: 0)
            let second = try await Self.batch(store, 10, from: 10)
            let third = try await Self.batch(store, 10, from: 20)
            let removed = first.checkpoint.seqs.ranges[0].lowerBound + 1
            try await Self.tamper(store, "DELETE FROM events WHERE seq = \(removed)")
            let verifier = IntegrityVerifier(store: store, keys: [Self.key.publicKey])
            let later = try await verifier.verify(.seqs(second.checkpoint.seqs.first!...third.seq))
            #expect(later.problems.isEmpty && later.checkpoints == 2 && later.verifiedEvents == 20)
            let earlier = try await verifier.verify(.seqs(1...removed))
            #expect(earlier.checkpoints == 1 && earlier.problems == [.missingEvents(checkpointSeq: first.seq, seqs: SeqRanges([removed]))])
            // Checkpoints are written at base + 10, 20 and 30 s.
            let middle = try await verifier.verify(.written((Self.base + .seconds(15))...(Self.base + .seconds(25))))
            #expect(middle.problems.isEmpty && middle.checkpoints == 1 && middle.verifiedEvents == 10)
            #expect(try await verifier.verify(.written((Self.base + .seconds(40))...(Self.base + .seconds(50)))).checkpoints == 0)
            #expect(try await verifier.verify().problems.count == 1)
        }
    }

    @Test(arguments: StoreBackend.available)
    func twoEventsThatSwappedSeqsNoLongerMatchTheirRoot(_ backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let only = try await Self.batch(store, 6, from: 0)
            let a = only.checkpoint.seqs.ranges[0].lowerBound + 1
            let b = a + 1
            try await Self.tamper(
                store, "UPDATE events SET seq = -1 WHERE seq = \(a)", "UPDATE events SET seq = \(a) WHERE seq = \(b)", "UPDATE events SET seq = \(b) WHERE seq = -1"
            )
            #expect(try await Self.verify(store).problems == [
                .changedEvent(seq: a, id: try await Self.id(store, a), checkpointSeq: only.seq),
                .changedEvent(seq: b, id: try await Self.id(store, b), checkpointSeq: only.seq),
            ])
        }
    }

    /// Which event changed is told by the checkpoint's fingerprint list, trusted only while it
    /// hashes to the signed value: with the list altered or gone, the change is still reported,
    /// for the checkpoint's whole range.
    @Test(arguments: StoreBackend.available)
    func withoutItsFingerprintsAChangeIsReportedForTheWholeCheckpoint(_ backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let first = try await Self.batch(store, 4, from: 0)
            let second = try await Self.batch(store, 4, from: 4)
            let a = first.checkpoint.seqs.ranges[0].lowerBound
            let b = second.checkpoint.seqs.ranges[0].lowerBound
            try await Self.tamper(
                store, "UPDATE events SET occurred_at = occurred_at + 1 WHERE seq IN (\(a), \(b))",
                "UPDATE collector_entities SET digest = digest || digest WHERE entity = '\(first.checkpoint.fingerprintsEntity)'",
                "DELETE FROM collector_entities WHERE entity = '\(second.checkpoint.fingerprintsEntity)'"
            )
            #expect(try await Self.verify(store).problems == [
                .changedEvents(checkpointSeq: first.seq, seqs: first.checkpoint.seqs),
                .changedEvents(checkpointSeq: second.seq, seqs: second.checkpoint.seqs),
            ])
        }
    }

    /// A checkpoint signed with another key is named, and only it; given both keys (a rotation),
    /// the chain verifies.
    @Test func aCheckpointSignedWithAnotherKeyIsNamed() async throws {
        try await StoreBackend.sqlite.withStore { store in
            try await Self.batch(store, 5, from: 0)
            let other = IntegrityKey()
            let forged = try await Self.batch(store, 5, from: 5, key: other)
            try await Self.batch(store, 5, from: 10)
            #expect(try await Self.verify(store).problems == [.unknownKey(checkpointSeq: forged.seq, keyID: other.publicKey.id)])
            #expect(try await Self.verify(store, keys: [Self.key.publicKey, other.publicKey]).isIntact)
        }
    }

    @Test func anEventSlippedIntoACoveredRangeOrAfterTheLastCheckpointIsNamed() async throws {
        try await StoreBackend.sqlite.withStore { store in
            let only = try await Self.batch(store, 5, from: 0)
            let gap = only.checkpoint.seqs.ranges[0].lowerBound + 2
            try await Self.tamper(store, "DELETE FROM events WHERE seq = \(gap)")
            // Put back a different event under the removed seq: the checkpoint lists it, so its root no longer matches.
            _ = try await store.append([EventStoreContract.event(occurredAt: Self.base + .seconds(2), key: "forged")], receivedAt: Self.base)
            try await settle(store)
            let appended = try await store.latestSeq()
            try await Self.tamper(store, "UPDATE events SET seq = \(gap) WHERE seq = \(appended)")
            #expect(try await Self.verify(store).problems == [.changedEvent(seq: gap, id: try await Self.id(store, gap), checkpointSeq: only.seq)])
        }
    }

    /// Retention keeps checkpoints and records each purged batch with its seqs, in the same
    /// transaction: verification reports those events as purged, not missing, and a checkpoint
    /// whose events are all gone stays in the chain. A deletion beside the purge is still named.
    @Test(arguments: StoreBackend.available)
    func purgedEventsAreReportedAsPurgedNotMissing(_ backend: StoreBackend) async throws {
        try await backend.withStore { store in
            // Events occurred at base + i seconds; checkpoints at base + 10, + 20, + 30.
            let first = try await Self.batch(store, 10, from: 0)
            let second = try await Self.batch(store, 10, from: 10)
            let third = try await Self.batch(store, 10, from: 20)
            // Everything that occurred before base + 15 s: all of the first checkpoint's events, half the second's.
            let retention = RetentionService(
                store: store, settings: .init(days: 1, batchSize: 4), logger: Logger(label: "test"), now: { Self.base + .seconds(86_400 + 15) }
            )
            #expect(try await retention.purgeOnce().events == 15)
            try await settle(store)
            // Checkpoints stay, although they occurred before the cutoff.
            let kept = try await store.events(matching: EventFilter(source: AdminAuditEntry.source, logType: IntegrityCheckpoint.logType), after: nil, limit: 10)
            #expect(Set(kept.events.map(\.seq)) == [first.seq, second.seq, third.seq])
            var report = try await Self.verify(store)
            #expect(report.problems.isEmpty)
            #expect(report.purgedEvents == 15 && report.unprovableAfterPurge == 5 && report.verifiedEvents == 10)
            // The purge records are events too (four batches of at most 4, and the pass's summary):
            // the next checkpoint covers them.
            #expect(report.pending.count == 5)
            try await IntegrityCheckpointer(store: store, key: Self.key).checkpoint(at: Self.base + .seconds(100_000), fence: nil)
            let removed = third.checkpoint.seqs.ranges[0].lowerBound
            try await Self.tamper(store, "DELETE FROM events WHERE seq = \(removed)")
            report = try await Self.verify(store)
            #expect(report.problems == [.missingEvents(checkpointSeq: third.seq, seqs: SeqRanges([removed]))])
        }
    }

    /// With the store keeping commit digests (as the running service has it), a checkpoint covers
    /// what was committed, not what is stored by the time it is written: a change made in between
    /// is caught. Rows a failed request rolled back (its seqs drawn again by the next) leave no
    /// digest behind, and duplicates none.
    @Test func aCheckpointFromCommitDigestsCoversWhatWasCommitted() async throws {
        try await StoreBackend.sqlite.withStore { store in
            #expect(store.keepCommitDigests() != nil)
            let stale = CheckpointUpdate(stream: "collector/other", expectedVersion: 5, value: "x")
            await #expect(throws: StoreError.self) {
                try await store.append(
                    (0..<3).map { EventStoreContract.event(occurredAt: Self.base + .seconds($0), key: "gone\($0)") }, receivedAt: Self.base, checkpoint: stale
                )
            }
            let first = try await Self.batch(store, 10, from: 0)
            _ = try await store.append([EventStoreContract.event(occurredAt: Self.base + .seconds(3), key: "e3")], receivedAt: Self.base)
            try await settle(store)
            #expect(try await Self.verify(store).problems.isEmpty)
            #expect(first.checkpoint.seqs.count == 10)

            let events = (10..<20).map { i in EventStoreContract.event(occurredAt: Self.base + .seconds(i), key: "e\(i)") }
            _ = try await store.append(events, receivedAt: Self.base + .seconds(10))
            try await settle(store)
            let edited = try await store.latestSeq() - 4
            try await Self.tamper(store, "UPDATE events SET occurred_at = occurred_at + 1000000 WHERE seq = \(edited)")
            _ = try #require(try await IntegrityCheckpointer(store: store, key: Self.key).checkpoint(at: Self.base + .seconds(30), fence: nil))
            let report = try await Self.verify(store)
            #expect(report.problems == [.changedEvent(seq: edited, id: try await Self.id(store, edited), checkpointSeq: try await store.latestSeq())])
        }
    }

    /// Two writers chaining onto the same checkpoint: the second one's compare-and-set fails and
    /// nothing of it is stored, so the chain never forks.
    @Test(arguments: StoreBackend.available)
    func twoCheckpointersNeverForkTheChain(_ backend: StoreBackend) async throws {
        try await backend.withStore { store in
            try await Self.batch(store, 5, from: 0)
            _ = try await store.append([EventStoreContract.event(occurredAt: Self.base + .seconds(9), key: "x")], receivedAt: Self.base)
            try await settle(store)
            let results = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<4 {
                    group.addTask { (try? await IntegrityCheckpointer(store: store, key: Self.key).checkpoint(at: Self.base + .seconds(20), fence: nil)) != nil }
                }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(results.filter { $0 }.count >= 1)
            let report = try await Self.verify(store)
            #expect(report.problems.isEmpty && report.pending.count == 0)
        }
    }
}

/// The running service: its last checkpoint at shutdown covers everything pushed, and the API
/// shows the key, the checkpoints and a verification against the key.
@Suite struct IntegrityServiceTests {
    @Test func aStoppedInstanceIsCoveredAndTheAPIShowsItsKeyCheckpointsAndVerification() async throws {
        let sluice = try await TestSluice()
        defer { sluice.cleanUp() }
        let headers = CredentialTests.bearer(TestSluice.adminToken)
        let key = try IntegrityKey.load(path: sluice.directory.path + "/integrity.key").publicKey
        try await sluice.withLiveServer { client in
            for _ in 0..<5 { #expect(try await CredentialTests.push(client, secret: TestSluice.defaultFeedSecret) == .ok) }
            let shown = try CredentialTests.json(try await client.execute(uri: "/v1/integrity/public-key", method: .get, headers: headers))
            #expect(shown["public_key"]?.stringValue == key.base64 && shown["key_id"]?.stringValue == key.id)
            #expect(try await client.execute(uri: "/v1/integrity/public-key", method: .get).status == .unauthorized)
            // Before any checkpoint: nothing verified yet, everything pending.
            let early = try CredentialTests.json(try await client.execute(uri: "/v1/integrity/verify", method: .get, headers: headers))
            #expect(early["intact"] == .bool(true) && early["checkpoints"]?.textValue == "0")
        }
        // Stopped: the last checkpoint covers every event stored.
        let report = try await IntegrityVerifier(store: sluice.store, keys: [key]).verify()
        #expect(report.isIntact && report.pending.count == 0 && report.checkpoints == 1)
        #expect(report.verifiedEvents == (try await sluice.store.count()) - 1)
        try await sluice.withLiveServer { client in
            let listed = try CredentialTests.json(try await client.execute(uri: "/v1/integrity/checkpoints", method: .get, headers: headers))
            let first = try #require(listed["checkpoints"]?.arrayValue?.first)
            #expect(first["key_id"]?.stringValue == key.id)
            let statement = try #require(first["statement"]?.stringValue)
            let signature = try #require(first["signature"]?.stringValue.flatMap { Data(base64Encoded: $0) })
            #expect(try #require(IntegrityCheckpoint(statement: statement, signature: Array(signature))).isSigned(by: key))
            // The audit log page shows the newest checkpoint before anyone verified here, then what verifying found.
            let (cookie, _) = try await WebUITests.signIn(client)
            var page = String(buffer: try await client.execute(uri: "/ui/events", method: .get, headers: [.cookie: cookie]).body)
            #expect(page.contains("Newest checkpoint: seq") && !page.contains("Verified through"))
            let verified = try CredentialTests.json(try await client.execute(uri: "/v1/integrity/verify", method: .get, headers: headers))
            #expect(verified["intact"] == .bool(true) && verified["verified_events"]?.textValue == String(report.verifiedEvents))
            page = String(buffer: try await client.execute(uri: "/ui/events", method: .get, headers: [.cookie: cookie]).body)
            #expect(page.contains("Verified through seq"))
            // The API's export with proofs: the events, then the checkpoint, then one proof per event it covers.
            let exported = String(buffer: try await client.execute(uri: "/v1/events/export?format=ndjson&proof=true", method: .get, headers: headers).body)
            let lines = try exported.split(separator: "\n").map { try JSONParser.parse(Array($0.utf8)) }
            let proofs = lines.filter { $0["type"] != nil }
            #expect(proofs.filter { $0["type"]?.stringValue == "checkpoint" }.count == 1)
            #expect(proofs.filter { $0["type"]?.stringValue == "event" }.count == report.verifiedEvents)
            // Every event line has its proof but the checkpoint's own event (it carries its
            // signature); the sign-in's audit entry, committed after the last checkpoint, is pending.
            let pending = proofs.filter { $0["type"]?.stringValue == "pending" }.count
            #expect(pending == 1 && lines.count - proofs.count == report.verifiedEvents + 1 + pending)
            #expect(try await client.execute(uri: "/v1/events/export?format=csv&proof=true", method: .get, headers: headers).status == .badRequest)
            #expect(try await client.execute(uri: "/v1/events/export?proof=yes", method: .get, headers: headers).status == .badRequest)
            // A time range: checkpoints written in it only.
            #expect(try await client.execute(uri: "/v1/integrity/verify?since=yesterday", method: .get, headers: headers).status == .badRequest)
            let none = try CredentialTests.json(try await client.execute(uri: "/v1/integrity/verify?since=2020-01-01&until=2020-01-02", method: .get, headers: headers))
            #expect(none["checkpoints"]?.textValue == "0" && none["intact"] == .bool(true))
            let verdict = String(buffer: try await client.execute(uri: "/ui/integrity", method: .get, headers: [.cookie: cookie]).body)
            #expect(verdict.contains("Intact: 1 checkpoints, \(report.verifiedEvents) events verified"))
        }
    }

    /// A key rotation: the next instance signs with a key given by reference, trusts the old
    /// public key, and the API verifies the chain across both; without the old key the old
    /// checkpoint is named as signed by an untrusted key, and the key itself is never logged.
    @Test func aRotatedKeyKeepsOldCheckpointsVerifiableThroughTrustedKeys() async throws {
        let first = try await TestSluice()
        defer { first.cleanUp() }
        let old = try IntegrityKey.load(path: first.directory.path + "/integrity.key").publicKey
        try await first.withLiveServer { client async throws in
            for _ in 0..<3 { #expect(try await CredentialTests.push(client, secret: TestSluice.defaultFeedSecret) == .ok) }
        }
        let new = IntegrityKey()
        let second = try await TestSluice(adjust: { config in
            config.integrity.key = new.fileText
            config.integrity.trustedKeys = [old.base64]
        }, store: first.store)
        defer { second.cleanUp() }
        let headers = CredentialTests.bearer(TestSluice.adminToken)
        try await second.withLiveServer { client in
            for _ in 0..<3 { #expect(try await CredentialTests.push(client, secret: TestSluice.defaultFeedSecret) == .ok) }
            let shown = try CredentialTests.json(try await client.execute(uri: "/v1/integrity/public-key", method: .get, headers: headers))
            #expect(shown["key_id"]?.stringValue == new.publicKey.id)
        }
        // No key file was made: the key came by reference.
        #expect(!FileManager.default.fileExists(atPath: second.directory.path + "/integrity.key"))
        try await second.withLiveServer { client in
            let verified = try CredentialTests.json(try await client.execute(uri: "/v1/integrity/verify", method: .get, headers: headers))
            #expect(verified["intact"] == .bool(true) && verified["checkpoints"]?.textValue == "2")
        }
        let checkpoints = try await IntegrityCheckpoint.stored(in: first.store)
        let keyIDs = checkpoints.map(\.checkpoint.keyID)
        #expect(keyIDs == [old.id, new.publicKey.id])
        let report = try await IntegrityVerifier(store: first.store, keys: [new.publicKey]).verify()
        #expect(report.problems == [.unknownKey(checkpointSeq: checkpoints[0].seq, keyID: old.id)])
        let secretLine = String(new.fileText.split(separator: "\n")[1])
        #expect(!second.allLogText.contains(secretLine))
    }
}
