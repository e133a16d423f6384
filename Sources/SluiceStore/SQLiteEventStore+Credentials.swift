import GRDB
import SluiceCore

/// A secret kept by the store as a digest only.
public struct StoredCredential: Sendable, Hashable {
    public var kind: String
    public var name: String
    public var digest: SecretDigest
    public var role: String?

    public init(kind: String, name: String, digest: SecretDigest, role: String?) {
        self.kind = kind
        self.name = name
        self.digest = digest
        self.role = role
    }
}

extension SQLiteEventStore {
    public func credential(kind: String, name: String) async throws(StoreError) -> StoredCredential? {
        do {
            return try await pool.read { db in
                guard let row = try Row.fetchOne(
                    db, sql: "SELECT digest, role FROM credentials WHERE kind = ? AND name = ?", arguments: [kind, name]
                ) else { return nil }
                guard let digest = SecretDigest(hex: row["digest"]) else {
                    throw StoreError(.corrupt, "credential \(kind)/\(name) has an invalid digest")
                }
                return StoredCredential(kind: kind, name: name, digest: digest, role: row["role"])
            }
        } catch {
            throw Self.storeError(error, doing: "read credential")
        }
    }

    /// Inserts or replaces a credential's digest.
    public func setCredential(_ credential: StoredCredential, at time: Timestamp) async throws(StoreError) {
        do {
            try await pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO credentials (kind, name, digest, role, created_at) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (kind, name) DO UPDATE SET digest = excluded.digest, role = excluded.role, created_at = excluded.created_at
                        """,
                    arguments: [credential.kind, credential.name, credential.digest.hex, credential.role, time.microseconds]
                )
            }
        } catch {
            throw Self.storeError(error, doing: "store credential")
        }
    }

    public func credentials(kind: String) async throws(StoreError) -> [StoredCredential] {
        do {
            return try await pool.read { db in
                try Row.fetchAll(db, sql: "SELECT name, digest, role FROM credentials WHERE kind = ? ORDER BY name", arguments: [kind])
                    .compactMap { row in
                        SecretDigest(hex: row["digest"]).map { StoredCredential(kind: kind, name: row["name"], digest: $0, role: row["role"]) }
                    }
            }
        } catch {
            throw Self.storeError(error, doing: "list credentials")
        }
    }
}
