/// A secret Sluice issued and keeps as a digest: an admin token or a feed secret. Rows are never
/// deleted; a rotation sets the old secrets' `expiresAt`, a revocation their `revokedAt`, so the
/// store answers "which secrets were valid when" for an investigation.
public struct ManagedCredential: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case adminToken = "admin_token"
        case feedSecret = "feed_secret"

        /// For messages: "admin token", "feed secret".
        public var displayName: String {
            switch self {
            case .adminToken: "admin token"
            case .feedSecret: "feed secret"
            }
        }
    }

    public var id: Int64
    public var kind: Kind
    /// The token's name, or the feed's.
    public var name: String
    public var digest: SecretDigest
    /// For admin tokens: `admin` or `viewer`.
    public var role: String?
    public var createdAt: Timestamp
    /// The audit actor id of whoever made it (`sluice` for a first start).
    public var createdBy: String
    public var expiresAt: Timestamp?
    public var revokedAt: Timestamp?
    public var revokedBy: String?

    public init(
        id: Int64, kind: Kind, name: String, digest: SecretDigest, role: String?, createdAt: Timestamp, createdBy: String,
        expiresAt: Timestamp? = nil, revokedAt: Timestamp? = nil, revokedBy: String? = nil
    ) {
        self.id = id
        self.kind = kind
        self.name = name
        self.digest = digest
        self.role = role
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.revokedBy = revokedBy
    }

    /// Accepted at `time`: not revoked and not past its expiry.
    public func isActive(at time: Timestamp) -> Bool {
        revokedAt == nil && (expiresAt.map { $0 > time } ?? true)
    }

    /// `active`, `expiring` (rotated out, still accepted), `expired` or `revoked`.
    public func state(at time: Timestamp) -> String {
        if revokedAt != nil { return "revoked" }
        guard let expiresAt else { return "active" }
        return expiresAt > time ? "expiring" : "expired"
    }
}

extension ManagedCredential {
    /// The credential without its digest, for lists: id, state, and who made or revoked it when.
    public func summary(at time: Timestamp) -> JSONValue {
        var members = [JSONMember("id", .number(String(id)))]
        if kind == .adminToken {
            members += [JSONMember("name", .string(name)), JSONMember("role", .string(role ?? "")), JSONMember("source", .string("issued"))]
        }
        members += [
            JSONMember("state", .string(state(at: time))),
            JSONMember("created_at", .string(createdAt.rfc3339)), JSONMember("created_by", .string(createdBy)),
            JSONMember("expires_at", expiresAt.map { .string($0.rfc3339) } ?? .null),
            JSONMember("revoked_at", revokedAt.map { .string($0.rfc3339) } ?? .null),
            JSONMember("revoked_by", revokedBy.map(JSONValue.string) ?? .null),
        ]
        return .object(members)
    }
}

/// A credential to add; the store assigns its id.
public struct NewManagedCredential: Sendable, Hashable {
    public var kind: ManagedCredential.Kind
    public var name: String
    public var digest: SecretDigest
    public var role: String?
    public var createdBy: String

    public init(kind: ManagedCredential.Kind, name: String, digest: SecretDigest, role: String? = nil, createdBy: String) {
        self.kind = kind
        self.name = name
        self.digest = digest
        self.role = role
        self.createdBy = createdBy
    }
}

/// The rules every store applies inside its credential transactions, written once.
public enum CredentialRules {
    /// The refusal when `refuseIfActive` finds the name taken.
    public static func alreadyExists(_ kind: ManagedCredential.Kind, _ name: String) -> StoreError {
        StoreError(.conflict, "\(kind.displayName) \"\(name)\" already exists; revoke it first or choose another name")
    }

    /// The active credentials a rotation shortens to expire at `time` (one that already expires
    /// earlier keeps its expiry), with their new expiry set.
    public static func retiring(_ active: [ManagedCredential], at time: Timestamp) -> [ManagedCredential] {
        active.filter { $0.expiresAt.map { $0 > time } ?? true }.map { credential in
            var retired = credential
            retired.expiresAt = time
            return retired
        }
    }

    /// Nil when revoking `targets` leaves another active credential with `role` among
    /// `candidates` (the credentials of their kind); else the refusal that keeps the last one.
    public static func keepingOne(withRole role: String, among candidates: [ManagedCredential], revoking targets: [ManagedCredential], name: String, at time: Timestamp) -> StoreError? {
        let revoked = Set(targets.map(\.id))
        guard !candidates.contains(where: { $0.role == role && $0.isActive(at: time) && !revoked.contains($0.id) }) else { return nil }
        return StoreError(.conflict, "\"\(name)\" is the last active token with the \(role) role; create another \(role) token before revoking it")
    }
}
