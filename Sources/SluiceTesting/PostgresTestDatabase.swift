import Foundation
import Logging
import PostgresNIO
import SluiceCore
import SluiceStorePostgres
import SluiceStoreSQLite
import Testing

/// The PostgreSQL server the test script starts (`SLUICE_TEST_POSTGRES_URL`); each test gets a
/// schema of its own, dropped when it ends, so tests run in parallel on one server.
public enum PostgresTestDatabase {
    public static var url: String? {
        guard let url = ProcessInfo.processInfo.environment["SLUICE_TEST_POSTGRES_URL"], !url.isEmpty else { return nil }
        return url
    }

    /// Set by the test script: a missing server then fails the run instead of skipping its suites.
    public static var isRequired: Bool {
        ProcessInfo.processInfo.environment["SLUICE_REQUIRE_POSTGRES"] == "1"
    }

    /// A configuration on a fresh schema, dropped (with everything in it) after `body`.
    public static func withSchema<Result: Sendable>(
        poolSize: Int = 10, _ body: (PostgresStoreConfiguration) async throws -> Result
    ) async throws -> Result {
        let url = try #require(url, "SLUICE_TEST_POSTGRES_URL is not set; scripts/test starts a server and sets it")
        var configuration = try PostgresStoreConfiguration(url: url + "?sslmode=disable", poolSize: poolSize)
        configuration.schema = "t_" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        do {
            let result = try await body(configuration)
            try await execute("DROP SCHEMA IF EXISTS \(configuration.schema) CASCADE", on: configuration)
            return result
        } catch {
            try? await execute("DROP SCHEMA IF EXISTS \(configuration.schema) CASCADE", on: configuration)
            throw error
        }
    }

    /// A migrated store on a fresh schema, running for the length of `body`.
    public static func withStore<Result: Sendable>(
        beforeCommit: (@Sendable () async -> Void)? = nil, _ body: (PostgresEventStore) async throws -> Result
    ) async throws -> Result {
        try await withSchema { configuration in
            try await PostgresEventStore.withStore(configuration: configuration, logger: Logger(label: "test.postgres"), beforeCommit: beforeCommit, body)
        }
    }

    /// Runs one statement on its own connection (outside any store).
    public static func execute(_ sql: String, on configuration: PostgresStoreConfiguration) async throws {
        _ = try await scalar(sql, on: configuration)
    }

    /// Runs one statement and returns the first column of its first row as text, if any.
    public static func scalar(_ sql: String, on configuration: PostgresStoreConfiguration) async throws -> String? {
        try await withConnection(on: configuration) { connection in
            var first: String?
            for try await row in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "test.postgres.admin")) {
                if first == nil, let cell = row.first { first = try cell.decode(String?.self) }
            }
            return first
        }
    }

    /// One connection of its own (outside any store) for the length of `body`, then closed.
    public static func withConnection<Result: Sendable>(
        on configuration: PostgresStoreConfiguration, _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let connection = try await PostgresConnection.connect(
            configuration: PostgresConnection.Configuration(
                host: configuration.host, port: configuration.port, username: configuration.username,
                password: configuration.password, database: configuration.database, tls: .disable
            ),
            id: 1, logger: Logger(label: "test.postgres.admin")
        )
        do {
            let result = try await body(connection)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }
}

/// The event store backends a contract test runs against: SQLite always, PostgreSQL when the
/// test script has started a server.
public enum StoreBackend: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case sqlite
    case postgres

    public static var available: [StoreBackend] {
        PostgresTestDatabase.url == nil && !PostgresTestDatabase.isRequired ? [.sqlite] : [.sqlite, .postgres]
    }

    public var testDescription: String { rawValue }

    /// A fresh, empty store of this backend for the length of `body`.
    public func withStore<Result: Sendable>(_ body: (any SluiceStorage) async throws -> Result) async throws -> Result {
        switch self {
        case .sqlite:
            let directory = try TemporaryDirectory()
            defer { directory.remove() }
            let store = try SQLiteEventStore(configuration: SQLiteStoreConfiguration(path: directory.path + "/sluice.db"), logger: Logger(label: "test.sqlite"))
            return try await body(store)
        case .postgres:
            return try await PostgresTestDatabase.withStore { try await body($0) }
        }
    }
}

/// Waits until consumers can read every event committed to `store`. On PostgreSQL they read only
/// below the oldest transaction still running on the server, and other tests' transactions run
/// beside this one; SQLite has nothing to wait for.
public func settle(_ store: any SluiceStorage) async throws {
    guard let postgres = store as? PostgresEventStore else { return }
    let settled = try await eventually { try await postgres.heldBackEvents() == 0 }
    if !settled { throw StoreError(.unavailable, "events stayed held back from consumers for a minute") }
}
