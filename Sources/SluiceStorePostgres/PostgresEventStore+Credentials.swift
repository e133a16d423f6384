import Logging
import PostgresNIO
import SluiceCore

extension PostgresEventStore: CredentialStore {
    static let credentialColumns = "id, kind, name, digest, role, created_at, created_by, expires_at, revoked_at, revoked_by"

    /// Every credential of `kind` (and `name`), active or not, oldest first.
    public func managedCredentials(kind: ManagedCredential.Kind? = nil, name: String? = nil) async throws(StoreError) -> [ManagedCredential] {
        do {
            return try await database.rows(
                """
                SELECT \(unescaped: Self.credentialColumns) FROM credential_secrets
                WHERE (\(kind?.rawValue)::text IS NULL OR kind = \(kind?.rawValue)) AND (\(name)::text IS NULL OR name = \(name)) ORDER BY id
                """
            ).map(Self.credential(from:))
        } catch {
            throw Self.storeError(error, doing: "read credentials")
        }
    }

    /// Adds a credential, with its audit entry in the same transaction (see the SQLite store's
    /// method of the same name for the parameters). Changes to one kind of credential are
    /// serialized across instances, so two cannot both pass the "already exists" or "last admin" checks.
    public func issueCredential(
        _ new: NewManagedCredential, at time: Timestamp, retireOthersAt: Timestamp? = nil, refuseIfActive: Bool = false,
        audit: (@Sendable (ManagedCredential, [ManagedCredential]) -> AdminAuditEntry)?
    ) async throws(StoreError) -> (credential: ManagedCredential, retired: [ManagedCredential]) {
        do {
            return try await database.transaction { [logger] connection in
                try await Self.lockCredentials(new.kind, on: connection, logger: logger)
                let active = try await Self.active(kind: new.kind, name: new.name, at: time, on: connection, logger: logger)
                if refuseIfActive, !active.isEmpty { throw CredentialRules.alreadyExists(new.kind, new.name) }
                let retired = retireOthersAt.map { CredentialRules.retiring(active, at: $0) } ?? []
                for credential in retired {
                    try await connection.query(
                        "UPDATE credential_secrets SET expires_at = \(credential.expiresAt?.microseconds) WHERE id = \(credential.id)", logger: logger
                    )
                }
                let id = try await connection.query(
                    """
                    INSERT INTO credential_secrets (kind, name, digest, role, created_at, created_by)
                    VALUES (\(new.kind.rawValue), \(new.name), \(new.digest.hex), \(new.role), \(time.microseconds), \(new.createdBy)) RETURNING id
                    """,
                    logger: logger
                ).collect()[0].decode(Int64.self)
                let credential = ManagedCredential(
                    id: id, kind: new.kind, name: new.name, digest: new.digest, role: new.role, createdAt: time, createdBy: new.createdBy
                )
                if let audit { try await self.insertAudit(audit(credential, retired), on: connection, logger: logger) }
                return (credential, retired)
            }
        } catch {
            throw Self.storeError(error, doing: "store a credential")
        }
    }

    /// Revokes the active credentials of `name` (only `id` when given), with the audit entry in
    /// the same transaction; returns what was revoked (nothing, and no entry, when none was active).
    public func revokeCredentials(
        kind: ManagedCredential.Kind, name: String, id: Int64? = nil, at time: Timestamp, by actor: String, keepOneWithRole: String? = nil,
        audit: (@Sendable ([ManagedCredential]) -> AdminAuditEntry)?
    ) async throws(StoreError) -> [ManagedCredential] {
        do {
            return try await database.transaction { [logger] connection in
                try await Self.lockCredentials(kind, on: connection, logger: logger)
                let targets = try await Self.active(kind: kind, name: name, at: time, on: connection, logger: logger).filter { id == nil || $0.id == id }
                guard !targets.isEmpty else { return [] }
                if let role = keepOneWithRole {
                    let withRole = try await connection.query(
                        "SELECT \(unescaped: Self.credentialColumns) FROM credential_secrets WHERE kind = \(kind.rawValue) AND role = \(role)", logger: logger
                    ).collect().map(Self.credential(from:))
                    if let refusal = CredentialRules.keepingOne(withRole: role, among: withRole, revoking: targets, name: name, at: time) { throw refusal }
                }
                var revoked: [ManagedCredential] = []
                for var credential in targets {
                    try await connection.query(
                        "UPDATE credential_secrets SET revoked_at = \(time.microseconds), revoked_by = \(actor) WHERE id = \(credential.id)", logger: logger
                    )
                    credential.revokedAt = time
                    credential.revokedBy = actor
                    revoked.append(credential)
                }
                if let audit { try await self.insertAudit(audit(revoked), on: connection, logger: logger) }
                return revoked
            }
        } catch {
            throw Self.storeError(error, doing: "revoke a credential")
        }
    }

    private static func lockCredentials(_ kind: ManagedCredential.Kind, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            "SELECT pg_advisory_xact_lock(1397511491, hashtext(current_schema() || '.credentials.' || \(kind.rawValue)))", logger: logger
        )
    }

    private static func active(kind: ManagedCredential.Kind, name: String, at time: Timestamp, on connection: PostgresConnection, logger: Logger) async throws -> [ManagedCredential] {
        try await connection.query(
            """
            SELECT \(unescaped: credentialColumns) FROM credential_secrets
            WHERE kind = \(kind.rawValue) AND name = \(name) AND revoked_at IS NULL ORDER BY id
            """,
            logger: logger
        ).collect().map(credential(from:)).filter { $0.isActive(at: time) }
    }

    private static func credential(from row: PostgresRow) throws -> ManagedCredential {
        let (id, kind, name, digest, role, createdAt, createdBy, expiresAt, revokedAt, revokedBy) =
            try row.decode((Int64, String, String, String, String?, Int64, String, Int64?, Int64?, String?).self)
        guard let digest = SecretDigest(hex: digest) else {
            throw StoreError(.corrupt, "credential \(id) has an invalid digest")
        }
        guard let kind = ManagedCredential.Kind(rawValue: kind) else {
            throw StoreError(.corrupt, "credential \(id) has an unknown kind")
        }
        return ManagedCredential(
            id: id, kind: kind, name: name, digest: digest, role: role, createdAt: Timestamp(microseconds: createdAt), createdBy: createdBy,
            expiresAt: expiresAt.map(Timestamp.init(microseconds:)), revokedAt: revokedAt.map(Timestamp.init(microseconds:)), revokedBy: revokedBy
        )
    }
}
