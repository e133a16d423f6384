import Crypto
import SluiceCore

/// Browser sessions of people who signed in with an admin or viewer token. Kept in memory
/// (a restart signs everyone out), keyed by the SHA-256 of the session id, bounded in number,
/// ended after eight idle hours or a day at most.
actor WebSessions {
    struct Session: Sendable {
        var name: String
        var role: AdminRole
        /// The digest of the token used to sign in: revoking the token ends the session.
        var digest: SecretDigest
        /// The token every form of this session carries.
        var csrf: String
        var created: ContinuousClock.Instant
        var lastSeen: ContinuousClock.Instant
    }

    private var sessions: [[UInt8]: Session] = [:]
    private let clock = ContinuousClock()
    let idleLimit: Duration
    let lifetime: Duration
    let capacity: Int

    init(idleLimit: Duration = .seconds(8 * 3600), lifetime: Duration = .seconds(24 * 3600), capacity: Int = 10_000) {
        self.idleLimit = idleLimit
        self.lifetime = lifetime
        self.capacity = capacity
    }

    static func key(_ id: String) -> [UInt8] { Array(SHA256.hash(data: Array(id.utf8))) }

    /// Starts a session; returns its id (the cookie's value) and its CSRF token.
    func start(name: String, role: AdminRole, digest: SecretDigest) -> (id: String, csrf: String) {
        let now = clock.now
        if sessions.count >= capacity {
            sessions = sessions.filter { alive($0.value, at: now) }
            // Still full: the session idle longest makes room.
            if sessions.count >= capacity, let oldest = sessions.min(by: { $0.value.lastSeen < $1.value.lastSeen }) {
                sessions[oldest.key] = nil
            }
        }
        let id = SecretGenerator.make(prefix: "")
        let csrf = SecretGenerator.make(prefix: "")
        sessions[Self.key(id)] = Session(name: name, role: role, digest: digest, csrf: csrf, created: now, lastSeen: now)
        return (id, csrf)
    }

    /// The live session with this id, its idle clock reset; nil when unknown or expired.
    func session(_ id: String) -> Session? {
        let key = Self.key(id)
        let now = clock.now
        guard var session = sessions[key] else { return nil }
        guard alive(session, at: now) else {
            sessions[key] = nil
            return nil
        }
        session.lastSeen = now
        sessions[key] = session
        return session
    }

    func end(_ id: String) {
        sessions[Self.key(id)] = nil
    }

    private func alive(_ session: Session, at now: ContinuousClock.Instant) -> Bool {
        now - session.lastSeen < idleLimit && now - session.created < lifetime
    }
}
