import Logging
import PostgresNIO
import SluiceCore

extension PostgresEventStore: LeaseStore {
    /// The server's clock in microseconds: instances' clocks may disagree, the database's is one.
    static let serverNow = "(extract(epoch from clock_timestamp()) * 1000000)::bigint"

    public func acquireLease(_ name: String, holder: String, for duration: Duration) async throws(StoreError) -> Lease? {
        let micros = duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
        do {
            // Renewing a holding keeps its token; taking a lapsed lease (even one's own) moves it on.
            let rows = try await database.rows(
                """
                INSERT INTO leases (name, holder, token, expires_at) VALUES (\(name), \(holder), 1, \(unescaped: Self.serverNow) + \(micros))
                ON CONFLICT (name) DO UPDATE SET
                    token = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > \(unescaped: Self.serverNow)
                        THEN leases.token ELSE leases.token + 1 END,
                    holder = excluded.holder, expires_at = excluded.expires_at
                WHERE leases.holder = excluded.holder OR leases.expires_at <= \(unescaped: Self.serverNow)
                RETURNING token, expires_at
                """
            )
            guard let row = rows.first else { return nil }
            let (token, expiresAt) = try row.decode((Int64, Int64).self)
            return Lease(name: name, holder: holder, token: token, expiresAt: Timestamp(microseconds: expiresAt))
        } catch {
            throw Self.storeError(error, doing: "take the lease \(name)")
        }
    }

    public func releaseLease(_ lease: Lease) async throws(StoreError) {
        do {
            try await database.execute(
                "UPDATE leases SET expires_at = 0 WHERE name = \(lease.name) AND holder = \(lease.holder) AND token = \(lease.token)"
            )
        } catch {
            throw Self.storeError(error, doing: "release the lease \(lease.name)")
        }
    }

    public func leases() async throws(StoreError) -> [Lease] {
        do {
            return try await database.rows("SELECT name, holder, token, expires_at FROM leases ORDER BY name COLLATE \"C\"").map { row in
                let (name, holder, token, expiresAt) = try row.decode((String, String, Int64, Int64).self)
                return Lease(name: name, holder: holder, token: token, expiresAt: Timestamp(microseconds: expiresAt))
            }
        } catch {
            throw Self.storeError(error, doing: "list leases")
        }
    }

    /// Inside a commit of leased work: nil when `fence` (the lease the work was done under) is
    /// still held, unlapsed, by the same holding; else the conflict that refuses the commit. The
    /// row stays share-locked to COMMIT, so no takeover can slip in between.
    static func checkFence(_ fence: Lease?, on connection: PostgresConnection, logger: Logger) async throws -> StoreError? {
        guard let fence else { return nil }
        let held = try await connection.query(
            """
            SELECT 1 FROM leases WHERE name = \(fence.name) AND holder = \(fence.holder) AND token = \(fence.token)
            AND expires_at > \(unescaped: serverNow) FOR SHARE
            """,
            logger: logger
        ).collect()
        guard held.isEmpty else { return nil }
        return StoreError(
            .conflict,
            "the lease \(fence.name) (token \(fence.token)) is no longer held by this instance: another took the work over; nothing from this step was committed"
        )
    }

    /// Throws the conflict of ``checkFence(_:on:logger:)``.
    static func requireFence(_ fence: Lease?, on connection: PostgresConnection, logger: Logger) async throws {
        if let conflict = try await checkFence(fence, on: connection, logger: logger) { throw conflict }
    }
}
