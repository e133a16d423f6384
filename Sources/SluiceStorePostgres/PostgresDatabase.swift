import Logging
import PostgresNIO
import SluiceCore
import Synchronization

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

    /// Returns `body`'s result, or fails as unavailable once `limit` passes. The work runs in a
    /// task of its own, not a child task: a query on a connection the server dropped mid-way can
    /// ignore cancellation, and a task group would wait for it, deadline or not (seen when
    /// PostgreSQL was stopped in immediate mode under load: the group-commit writer stayed stuck).
    private func withDeadline<Result: Sendable>(_ limit: Duration? = nil, _ body: @escaping @Sendable () async throws -> Result) async throws -> Result {
        let limit = limit ?? timeout
        let race = DeadlineRace<Result>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Result, any Error>) in
                race.start(continuation)
                let work = Task {
                    do {
                        race.finish(.success(try await body()))
                    } catch {
                        race.finish(.failure(error))
                    }
                }
                let timer = Task {
                    try? await Task.sleep(for: limit)
                    let message = "PostgreSQL did not answer within \(limit.components.seconds) s; check that the server is up and reachable at storage.postgres.url"
                    if race.finish(.failure(StoreError(.unavailable, message))) { work.cancel() }
                }
                race.whenFinished { work.cancel(); timer.cancel() }
            }
        } onCancel: {
            race.finish(.failure(CancellationError()))
        }
    }
}

/// The first of a deadline's outcomes (result, timeout, cancellation) resumes the caller; the rest are dropped.
private final class DeadlineRace<Result: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Result, any Error>?
        var outcome: Swift.Result<Result, any Error>?
        var cleanup: (@Sendable () -> Void)?
        var finished = false
    }

    private let state = Mutex(State())

    func start(_ continuation: CheckedContinuation<Result, any Error>) {
        let early = state.withLock { state -> Swift.Result<Result, any Error>? in
            if let outcome = state.outcome { return outcome }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    /// Registers what to stop once finished (at once when already finished).
    func whenFinished(_ cleanup: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { state -> Bool in
            if state.finished { return true }
            state.cleanup = cleanup
            return false
        }
        if runNow { cleanup() }
    }

    /// True when this outcome was the first.
    @discardableResult
    func finish(_ outcome: Swift.Result<Result, any Error>) -> Bool {
        let (first, continuation, cleanup) = state.withLock { state -> (Bool, CheckedContinuation<Result, any Error>?, (@Sendable () -> Void)?) in
            guard !state.finished else { return (false, nil, nil) }
            state.finished = true
            let continuation = state.continuation
            state.continuation = nil
            if continuation == nil { state.outcome = outcome }
            let cleanup = state.cleanup
            state.cleanup = nil
            return (true, continuation, cleanup)
        }
        continuation?.resume(with: outcome)
        cleanup?()
        return first
    }
}
