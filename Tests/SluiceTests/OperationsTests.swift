import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Metrics
import NIOCore
import Prometheus
import SluiceApp
import SluiceCore
import SluiceEngine
import SluiceServer
import SluiceStorePostgres
import SluiceStoreSQLite
import SluiceTesting
import Testing

@Suite struct OperationsTests {
    @Test func healthReadinessAndMetrics() async throws {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        // Metrics are process-wide and other suites push to "default" at the same time: this test's feed has its own name.
        let yaml = """
            feeds:
              metrics-probe: { secret: "${env:SLUICE_DEFAULT_FEED_SECRET}" }
            """
        let sluice = try await TestSluice(yaml: yaml, prometheus: registry)
        defer { sluice.cleanUp() }
        try await sluice.withLiveServer { client in
            #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/readyz", method: .get).status == .ok)
            let headers: HTTPFields = [HTTPField.Name("X-Webhook-Access-Key")!: TestSluice.defaultFeedSecret]
            _ = try await client.execute(uri: "/v1/feeds/metrics-probe/events", method: .post, headers: headers, body: ByteBuffer(string: "{\"a\":1}\n{\"a\":2}"))
            _ = try await client.execute(uri: "/v1/feeds/metrics-probe/events", method: .post, headers: headers, body: ByteBuffer(string: "{\"a\":1}"))
            _ = try await client.execute(uri: "/v1/feeds/metrics-probe/events", method: .post, headers: headers, body: ByteBuffer(string: "{\"a\":"))
            _ = try await client.execute(uri: "/v1/feeds/metrics-probe/events", method: .post, body: ByteBuffer(string: "{}"))
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains("sluice_events_total{feed=\"metrics-probe\",outcome=\"accepted\"} 2"))
            #expect(metrics.contains("sluice_events_total{feed=\"metrics-probe\",outcome=\"duplicate\"} 1"))
            #expect(metrics.contains("sluice_push_requests_total{feed=\"metrics-probe\",outcome=\"rejected\",reason=\"invalid_json\"} 1"))
            #expect(metrics.contains("sluice_push_auth_failures_total{feed=\"metrics-probe\",reason=\"missing_secret\"} 1"))
            #expect(metrics.contains("sluice_store_commit_duration_seconds_bucket"))
            #expect(metrics.contains("sluice_store_size_bytes"))
            // Recorded by each indexing pass, the first of which starts as the store opens.
            var indexMetric = metrics.contains("sluice_store_unindexed_events ")
            for _ in 0..<50 where !indexMetric {
                try await Task.sleep(for: .milliseconds(100))
                indexMetric = String(buffer: try await client.execute(uri: "/metrics", method: .get).body).contains("sluice_store_unindexed_events ")
            }
            #expect(indexMetric)
            #expect(!metrics.contains(TestSluice.defaultFeedSecret))
        }
    }

    @Test func embeddedDefaultGeneratesCredentialsOnceAndKeepsOnlyDigests() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let config = SluiceConfig.embeddedDefault(dataDirectory: directory.path)
        let logger = Logger(label: "test")
        let first = try await SluiceRuntime.prepare(config, environment: [:], prometheus: nil, logger: logger)
        let token = try #require(first.generated.adminToken)
        let secret = try #require(first.generated.feedSecrets.first?.secret)
        #expect(first.generated.feedSecrets.first?.feed == "default")
        // The second start reuses the stored digests and shows nothing.
        let second = try await SluiceRuntime.prepare(config, environment: [:], prometheus: nil, logger: logger)
        #expect(second.generated.isEmpty)
        #expect(second.dependencies.credentials.adminTokens(at: SluiceRuntime.systemNow()).map(\.name) == ["admin"])
        #expect(second.dependencies.credentials.adminTokens(at: SluiceRuntime.systemNow()).first?.digest.matches(token) == true)
        let database = try Data(contentsOf: URL(fileURLWithPath: directory.path + "/sluice.db")) + ((try? Data(contentsOf: URL(fileURLWithPath: directory.path + "/sluice.db-wal"))) ?? Data())
        #expect(database.range(of: Data(token.utf8)) == nil)
        #expect(database.range(of: Data(secret.utf8)) == nil)
        // Values from the environment replace generated ones.
        let third = try await SluiceRuntime.prepare(config, environment: ["SLUICE_ADMIN_TOKEN": "chosen-token"], prometheus: nil, logger: logger)
        let accepted = third.dependencies.credentials.adminTokens(at: SluiceRuntime.systemNow())
        #expect(accepted.count == 1)
        #expect(accepted.first?.digest.matches("chosen-token") == true)
        #expect(!accepted.contains { $0.digest.matches(token) })
    }

    @Test func readinessFailsAtTheSizeCap() async throws {
        // A cap barely above the empty schema leaves less than the 1 MiB margin.
        let sluice = try await TestSluice(adjust: { $0.storage.sqlite.maxSizeBytes = 200 * 1024 })
        defer { sluice.cleanUp() }
        try await sluice.withLiveServer { client in
            let response = try await client.execute(uri: "/readyz", method: .get)
            #expect(response.status == .serviceUnavailable)
            #expect(String(buffer: response.body).contains("size cap"))
            #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok)
        }
        let roomy = try await TestSluice(adjust: { $0.storage.sqlite.maxSizeBytes = 64 * 1024 * 1024 })
        defer { roomy.cleanUp() }
        let status = try await roomy.withLiveServer { client in
            try await client.execute(uri: "/readyz", method: .get).status
        }
        #expect(status == .ok)
    }

    @Test func retentionPurgesOldEventsInBatches() async throws {
        let now = Timestamp(rfc3339: "2026-06-01T00:00:00Z")!
        let sluice = try await TestSluice(now: { now })
        defer { sluice.cleanUp() }
        let old = (0..<12).map { EventStoreContract.event(occurredAt: now - .seconds(400 * 86_400 + $0), key: "old\($0)") }
        let recent = (0..<3).map { EventStoreContract.event(occurredAt: now - .seconds(10 * 86_400), key: "new\($0)") }
        _ = try await sluice.store.append(old + recent, receivedAt: now)
        let service = RetentionService(store: sluice.store, settings: .init(days: 365, batchSize: 5), logger: sluice.logger, now: { now })
        #expect(try await service.purgeOnce() == RetentionService.Purged(events: 12, workflowRuns: 0))
        let left = try await sluice.store.events(matching: EventFilter(), after: nil, limit: 100).events
        #expect(left.filter { $0.source != AdminAuditEntry.source }.count == 3)
        let audit = left.filter { $0.source == AdminAuditEntry.source && $0.normalized.action.hasPrefix("retention.") }.sorted { $0.seq < $1.seq }
        // One record per batch naming its seqs (for verification, docs/integrity.md), then the pass's summary.
        #expect(audit.map(\.normalized.action) == ["retention.purged", "retention.purged", "retention.purged", "retention.purge_completed"])
        #expect(audit.allSatisfy { $0.normalized.actor == AdminAuditEntry.system })
        let batches = audit.dropLast().map { String(decoding: $0.raw, as: UTF8.self) }
        #expect(batches.map { $0.contains("\"count\":5") } == [true, true, false] && batches[2].contains("\"count\":2"))
        let raw = String(decoding: audit.last?.raw ?? [], as: UTF8.self)
        #expect(raw.contains("\"deleted\":12"))
        let stored = try await sluice.store.count()
        #expect(try await service.purgeOnce() == RetentionService.Purged())
        #expect(try await sluice.store.count() == stored, "a pass that deletes nothing records nothing")
    }

    /// Retention also forgets finished workflow runs, with their journals and incident records,
    /// once they are older than the retention period; pending runs and recent ones stay.
    @Test(arguments: StoreBackend.available)
    func retentionPurgesFinishedWorkflowRunsWithTheirJournals(_ backend: StoreBackend) async throws {
        let now = Timestamp(rfc3339: "2026-06-01T00:00:00Z")!
        let long = now - .seconds(400 * 86_400)
        let recent = now - .seconds(10 * 86_400)
        try await backend.withStore { store in
            let seq = try await store.append([EventStoreContract.event(occurredAt: recent, key: "alert")], receivedAt: recent)
            #expect(seq.accepted == 1)
            _ = try await store.startCursor("workflow/wf", at: 0, time: long)
            let outcomes: [(key: String, at: Timestamp, status: WorkflowRunStatus)] = [
                ("old-succeeded", long, .succeeded), ("old-failed", long, .failed), ("old-skipped", long, .skipped),
                ("old-retrying", long, .retrying), ("old-queued", long, .queued), ("recent-succeeded", recent, .succeeded),
            ]
            var ids: [String: Int64] = [:]
            for outcome in outcomes {
                _ = try await store.enqueueRuns(
                    [NewWorkflowRun(workflow: "wf", alertKey: outcome.key, eventSeq: 1)], consumer: "workflow/wf", through: 1, at: outcome.at, fence: nil
                )
                let run = try #require(try await store.runs(workflow: "wf", status: nil, beforeID: nil, limit: 1).first)
                ids[outcome.key] = run.id
                guard outcome.status != .queued else { continue }
                _ = try await store.beginAttempt(runID: run.id, at: outcome.at, fence: nil)
                let step = WorkflowStepRecord(
                    runID: run.id, key: "create", kind: "ctia.create_incident", status: .succeeded, input: .object([]),
                    output: .object([]), error: nil, attempts: 1, startedAt: outcome.at, finishedAt: outcome.at
                )
                let incident = WorkflowIncident(
                    workflow: "wf", alertKey: outcome.key, externalID: "ext-\(outcome.key)", remoteID: "r-\(outcome.key)", title: nil,
                    runID: run.id, eventSeq: 1, created: true, recordedAt: outcome.at
                )
                try await store.recordStep(step, incident: incident, fence: nil)
                try await store.finishAttempt(
                    runID: run.id, status: outcome.status, step: nil, detail: nil,
                    nextAttemptAt: outcome.status == .retrying ? now : nil, at: outcome.at, fence: nil
                )
            }
            let service = RetentionService(store: store, settings: .init(days: 365, batchSize: 2), logger: Logger(label: "test"), now: { now })
            #expect(try await service.purgeOnce() == RetentionService.Purged(events: 0, workflowRuns: 3))
            let left = try await store.runs(workflow: "wf", status: nil, beforeID: nil, limit: 10).map(\.alertKey)
            #expect(Set(left) == ["old-retrying", "old-queued", "recent-succeeded"])
            for key in ["old-succeeded", "old-failed", "old-skipped"] {
                #expect(try await store.run(id: ids[key]!) == nil)
                #expect(try await store.steps(runID: ids[key]!).isEmpty)
            }
            #expect(try await store.steps(runID: ids["recent-succeeded"]!).count == 1)
            let incidents = try await store.incidents(workflow: "wf", beforeID: nil, limit: 10).map(\.incident.alertKey)
            #expect(Set(incidents) == ["old-retrying", "recent-succeeded"])
            let audit = try await store.events(matching: EventFilter(action: ActionMatch("retention.purge_completed")), after: nil, limit: 10).events
            let raw = String(decoding: audit.first?.raw ?? [], as: UTF8.self)
            #expect(raw.contains("\"workflow_runs_deleted\":3"))
            #expect(try await service.purgeOnce() == RetentionService.Purged())
        }
    }
}
