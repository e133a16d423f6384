import Foundation
import Logging
import SluiceCore
import SluiceEngine
import SluiceStorePostgres
import SluiceStoreSQLite

/// The store a config names, and the leases its instances share.
extension SluiceRuntime {
    /// Opens the SQLite store of `config` (which must not name PostgreSQL: that store runs only
    /// inside ``withStore(_:logger:_:)`` or a ``StorageScope``).
    static func openStore(_ config: SluiceConfig, logger: Logger) throws(StoreError) -> SQLiteEventStore {
        try SQLiteEventStore(configuration: config.storage.sqlite, logger: logger)
    }

    /// Runs `body` with the store `config` names: PostgreSQL (its connection pool and group-commit
    /// writer running, migrations applied) when `storage.postgres` is set, else SQLite.
    public static func withStore<Result: Sendable>(
        _ config: SluiceConfig, logger: Logger, _ body: (any SluiceStorage) async throws -> Result
    ) async throws -> Result {
        if let postgres = config.storage.postgres {
            return try await PostgresEventStore.withStore(configuration: postgres, logger: logger) { try await body($0) }
        }
        let store = try openStore(config, logger: logger)
        let result: Result
        do {
            result = try await body(store)
        } catch {
            await store.close()
            throw error
        }
        await store.close()
        return result
    }

    /// Several instances share a PostgreSQL store: each collector, destination and workflow then
    /// runs on whichever process holds its lease. One process owns a SQLite file: no leases.
    public static func leaseSettings(_ config: SluiceConfig, store: any LeaseStore) -> LeaseSettings? {
        config.storage.postgres.map { postgres in
            LeaseSettings(
                store: store, holder: InstanceIdentity.make(host: ProcessInfo.processInfo.hostName, processID: ProcessInfo.processInfo.processIdentifier),
                duration: postgres.leaseDuration
            )
        }
    }
}
