import Logging
import PostgresNIO
import SluiceCore

/// The store's way to the server: every call has a deadline, because the connection pool waits
/// for a connection (up to a minute) while the server is unreachable, and a push must get its
/// 503 long before a sender or load balancer gives up.
struct PostgresDatabase: Sendable {
    let client: PostgresClient
    let logger: Logger
    let timeout: Duration

    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await withDeadline { [client, logger] in try await client.query(query, logger: logger).collect() }
    }

    func execute(_ query: PostgresQuery) async throws {
        _ = try await rows(query)
    }

    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws.
    func transaction<Result: Sendable>(timeout: Duration? = nil, _ body: @escaping @Sendable (PostgresConnection) async throws -> Result) async throws -> Result {
        try await withDeadline(timeout ?? self.timeout) { [client, logger] in
            try await client.withTransaction(logger: logger) { connection in try await body(connection) }
        }
    }

    func connection<Result: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> Result) async throws -> Result {
        try await withDeadline { [client] in
            try await client.withConnection { connection in try await body(connection) }
        }
    }

    private func withDeadline<Result: Sendable>(_ limit: Duration? = nil, _ body: @escaping @Sendable () async throws -> Result) async throws -> Result {
        let limit = limit ?? timeout
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw StoreError(.unavailable, "PostgreSQL did not answer within \(limit.components.seconds) s; check that the server is up and reachable at storage.postgres.url")
            }
            return value
        }
    }
}
