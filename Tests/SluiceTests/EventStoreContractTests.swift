import SluiceCore
import SluiceTesting
import Testing

/// The behaviour every event store must have, run against each backend: SQLite always,
/// PostgreSQL whenever the test script has started a server (and then it must have).
@Suite struct EventStoreContractTests {
    enum Contract: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case appendAndDedupe, timedDedupeKeys, concurrentAppends, filtersAndPaging, purge, checkpointsCommitWithEvents, unusualTextRoundTrips
        case commitsArePublished, nextWorkflowAttempt

        var testDescription: String { rawValue }

        func check(_ store: any SluiceStorage) async throws {
            switch self {
            case .appendAndDedupe: try await EventStoreContract.appendAndDedupe(store)
            case .timedDedupeKeys: try await EventStoreContract.timedDedupeKeys(store)
            case .concurrentAppends: try await EventStoreContract.concurrentAppends(store)
            case .filtersAndPaging: try await EventStoreContract.filtersAndPaging(store)
            case .purge: try await EventStoreContract.purge(store)
            case .checkpointsCommitWithEvents: try await EventStoreContract.checkpointsCommitWithEvents(store)
            case .unusualTextRoundTrips: try await EventStoreContract.unusualTextRoundTrips(store)
            case .commitsArePublished: try await EventStoreContract.commitsArePublished(store)
            case .nextWorkflowAttempt: try await EventStoreContract.nextWorkflowAttempt(store)
            }
        }
    }

    @Test(arguments: StoreBackend.available, Contract.allCases)
    func contract(_ backend: StoreBackend, _ contract: Contract) async throws {
        try await backend.withStore { try await contract.check($0) }
    }

    /// The test script sets SLUICE_REQUIRE_POSTGRES: its run must not quietly skip PostgreSQL.
    @Test func postgresRunsWhenRequired() {
        if PostgresTestDatabase.isRequired {
            #expect(StoreBackend.available.contains(.postgres))
            #expect(PostgresTestDatabase.url != nil)
        }
    }
}
