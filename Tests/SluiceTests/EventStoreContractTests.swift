import SluiceCore
import SluiceTesting
import Testing

/// The behaviour every event store must have, run against each backend: SQLite always,
/// PostgreSQL whenever the test script has started a server (and then it must have).
@Suite struct EventStoreContractTests {
    @Test(arguments: StoreBackend.available)
    func appendAndDedupe(_ backend: StoreBackend) async throws {
        try await backend.withStore { try await EventStoreContract.appendAndDedupe($0) }
    }

    @Test(arguments: StoreBackend.available)
    func concurrentAppends(_ backend: StoreBackend) async throws {
        try await backend.withStore { try await EventStoreContract.concurrentAppends($0) }
    }

    @Test(arguments: StoreBackend.available)
    func filtersAndPaging(_ backend: StoreBackend) async throws {
        try await backend.withStore { try await EventStoreContract.filtersAndPaging($0) }
    }

    @Test(arguments: StoreBackend.available)
    func purge(_ backend: StoreBackend) async throws {
        try await backend.withStore { try await EventStoreContract.purge($0) }
    }

    @Test(arguments: StoreBackend.available)
    func checkpointsCommitWithEvents(_ backend: StoreBackend) async throws {
        try await backend.withStore { try await EventStoreContract.checkpointsCommitWithEvents($0) }
    }

    @Test(arguments: StoreBackend.available)
    func unusualTextRoundTrips(_ backend: StoreBackend) async throws {
        try await backend.withStore { try await EventStoreContract.unusualTextRoundTrips($0) }
    }

    /// The test script sets SLUICE_REQUIRE_POSTGRES: its run must not quietly skip PostgreSQL.
    @Test func postgresRunsWhenRequired() {
        if PostgresTestDatabase.isRequired {
            #expect(StoreBackend.available.contains(.postgres))
            #expect(PostgresTestDatabase.url != nil)
        }
    }
}
