import Logging
import SluiceCore
import SluiceStorePostgres
import SluiceStoreSQLite
import Synchronization

/// Where the stores a command opens run: a PostgreSQL store's connection pool and group-commit
/// writer start as it is opened and stop when the scope's body returns (structured: one task
/// group around the whole body). `sluice serve` uses ``SluiceRuntime/withStore(_:logger:_:)``.
public enum StorageScope {
    @TaskLocal static var current: Opened?

    final class Opened: Sendable {
        let stores: AsyncStream<PostgresEventStore>
        let sink: AsyncStream<PostgresEventStore>.Continuation
        /// Every store opened, closed when the scope ends.
        let opened = Mutex<[any SluiceStorage]>([])

        init() {
            (stores, sink) = AsyncStream.makeStream()
        }
    }

    /// Runs `body`; the stores it opens with ``open(_:logger:)`` run until it returns.
    public static func run(isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> Void) async throws {
        let opened = Opened()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await withDiscardingTaskGroup { running in
                    for await store in opened.stores {
                        running.addTask { await store.runConnections() }
                    }
                }
            }
            defer {
                opened.sink.finish()
                group.cancelAll()
            }
            do {
                try await $current.withValue(opened) { try await body() }
            } catch {
                for store in opened.opened.withLock({ $0 }) { await store.close() }
                throw error
            }
            for store in opened.opened.withLock({ $0 }) { await store.close() }
        }
    }

    /// Opens the store `config` names: SQLite, or PostgreSQL (reachable and migrated, running for
    /// the rest of the scope). Must be called inside ``run(isolation:_:)``.
    public static func open(_ config: SluiceConfig, logger: Logger) async throws(StoreError) -> any SluiceStorage {
        guard let scope = current else {
            preconditionFailure("a store was opened outside StorageScope.run")
        }
        guard let postgres = config.storage.postgres else {
            let store = try SluiceRuntime.openStore(config, logger: logger)
            scope.opened.withLock { $0.append(store) }
            return store
        }
        let store = PostgresEventStore(configuration: postgres, logger: logger)
        scope.sink.yield(store)
        try await store.checkHealth()
        try await store.migrate()
        return store
    }
}
