import GRDB
import SluiceCore

extension SQLiteEventStore: CredentialStore {
    /// Every credential of `kind` (and `name`), active or not, oldest first.
    public func managedCredentials(kind: ManagedCredential.Kind? = nil, name: String? = nil) async throws(StoreError) -> [ManagedCredential] {
        do {
            return try await pool.read { db in
                var sql = "SELECT * FROM credential_secrets WHERE 1 = 1"
                var arguments: StatementArguments = []
                if let kind {
                    sql += " AND kind = ?"
                    arguments += [kind.rawValue]
                }
                if let name {
                    sql += " AND name = ?"
                    arguments += [name]
                }
                return try Row.fetchAll(db, sql: sql + " ORDER BY id", arguments: arguments).map(Self.credential(from:))
            }
        } catch {
            throw Self.storeError(error, doing: "read credentials")
        }
    }

    /// Adds a credential, with its audit entry in the same transaction.
    ///
    /// - Parameters:
    ///   - retireOthersAt: when set, the name's other active secrets are accepted until then and
    ///     no longer (a rotation's grace period); an earlier expiry is kept.
    ///   - refuseIfActive: throws `.conflict` when the name already has an active credential.
    /// - Returns: the new credential and the ones whose expiry the rotation set.
    public func issueCredential(
        _ new: NewManagedCredential, at time: Timestamp, retireOthersAt: Timestamp? = nil, refuseIfActive: Bool = false,
        audit: (@Sendable (ManagedCredential, [ManagedCredential]) -> AdminAuditEntry)?
    ) async throws(StoreError) -> (credential: ManagedCredential, retired: [ManagedCredential]) {
        do {
            return try await pool.write { db in
                let active = try Self.active(kind: new.kind, name: new.name, at: time, in: db)
                if refuseIfActive, !active.isEmpty { throw CredentialRules.alreadyExists(new.kind, new.name) }
                let retired = retireOthersAt.map { CredentialRules.retiring(active, at: $0) } ?? []
                for credential in retired {
                    try db.execute(sql: "UPDATE credential_secrets SET expires_at = ? WHERE id = ?", arguments: [credential.expiresAt?.microseconds, credential.id])
                }
                try db.execute(
                    sql: "INSERT INTO credential_secrets (kind, name, digest, role, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: [new.kind.rawValue, new.name, new.digest.hex, new.role, time.microseconds, new.createdBy]
                )
                let credential = ManagedCredential(
                    id: db.lastInsertedRowID, kind: new.kind, name: new.name, digest: new.digest, role: new.role, createdAt: time, createdBy: new.createdBy
                )
                if let audit { try self.insertAudit(audit(credential, retired), in: db) }
                return (credential, retired)
            }
        } catch {
            throw Self.storeError(error, doing: "store a credential")
        }
    }

    /// Revokes the active credentials of `name` (only `id` when given), with the audit entry in
    /// the same transaction; returns what was revoked (nothing, and no entry, when none was active).
    ///
    /// - Parameter keepOneWithRole: throws `.conflict` instead of leaving no active credential of
    ///   this kind with that role (the last admin token would lock everyone out).
    public func revokeCredentials(
        kind: ManagedCredential.Kind, name: String, id: Int64? = nil, at time: Timestamp, by actor: String, keepOneWithRole: String? = nil,
        audit: (@Sendable ([ManagedCredential]) -> AdminAuditEntry)?
    ) async throws(StoreError) -> [ManagedCredential] {
        do {
            return try await pool.write { db in
                let targets = try Self.active(kind: kind, name: name, at: time, in: db).filter { id == nil || $0.id == id }
                guard !targets.isEmpty else { return [] }
                if let role = keepOneWithRole {
                    let withRole = try Row.fetchAll(db, sql: "SELECT * FROM credential_secrets WHERE kind = ? AND role = ?", arguments: [kind.rawValue, role])
                        .map(Self.credential(from:))
                    if let refusal = CredentialRules.keepingOne(withRole: role, among: withRole, revoking: targets, name: name, at: time) { throw refusal }
                }
                var revoked: [ManagedCredential] = []
                for var credential in targets {
                    try db.execute(
                        sql: "UPDATE credential_secrets SET revoked_at = ?, revoked_by = ? WHERE id = ?", arguments: [time.microseconds, actor, credential.id]
                    )
                    credential.revokedAt = time
                    credential.revokedBy = actor
                    revoked.append(credential)
                }
                if let audit { try self.insertAudit(audit(revoked), in: db) }
                return revoked
            }
        } catch {
            throw Self.storeError(error, doing: "revoke a credential")
        }
    }

    private static func active(kind: ManagedCredential.Kind, name: String, at time: Timestamp, in db: Database) throws -> [ManagedCredential] {
        try Row.fetchAll(
            db, sql: "SELECT * FROM credential_secrets WHERE kind = ? AND name = ? AND revoked_at IS NULL ORDER BY id", arguments: [kind.rawValue, name]
        )
        .map(credential(from:))
        .filter { $0.isActive(at: time) }
    }

    private static func credential(from row: Row) throws -> ManagedCredential {
        let id: Int64 = row["id"]
        guard let digest = SecretDigest(hex: row["digest"]) else {
            throw StoreError(.corrupt, "credential \(id) has an invalid digest")
        }
        guard let kind = ManagedCredential.Kind(rawValue: row["kind"]) else {
            throw StoreError(.corrupt, "credential \(id) has an unknown kind")
        }
        return ManagedCredential(
            id: id, kind: kind, name: row["name"], digest: digest, role: row["role"],
            createdAt: Timestamp(microseconds: row["created_at"]), createdBy: row["created_by"],
            expiresAt: (row["expires_at"] as Int64?).map(Timestamp.init(microseconds:)),
            revokedAt: (row["revoked_at"] as Int64?).map(Timestamp.init(microseconds:)), revokedBy: row["revoked_by"]
        )
    }
}
