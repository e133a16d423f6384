import Foundation
import SluiceCore

/// An OAuth 2.0 access token and how long it lasts.
public struct AccessToken: Sendable, Hashable {
    public var value: String
    public var expiresIn: Duration

    public init(value: String, expiresIn: Duration) {
        self.value = value
        self.expiresIn = expiresIn
    }
}

/// Keeps one access token for everything that calls a provider: fetched once for all
/// concurrent callers, reused until shortly before it expires, dropped after a 401.
public actor AccessTokenCache {
    private let fetch: @Sendable () async throws -> AccessToken
    private let refreshMargin: Duration
    private let clock = ContinuousClock()
    private var current: (value: String, refreshAt: ContinuousClock.Instant)?
    /// Callers waiting for the fetch in progress; nil when none is.
    private var waiters: [CheckedContinuation<String, any Error>]?
    public private(set) var fetchCount = 0

    /// - Parameter refreshMargin: how long before expiry a token is replaced (a token shorter-lived
    ///   than twice the margin is replaced at half its life).
    public init(refreshMargin: Duration = .seconds(60), fetch: @escaping @Sendable () async throws -> AccessToken) {
        self.fetch = fetch
        self.refreshMargin = refreshMargin
    }

    /// A cache whose every fetch first takes a request from `budget`, as the API's requests do
    /// (a token request counts against the provider's limit too).
    public init(charging budget: RequestBudget, fetch: @escaping @Sendable () async throws -> AccessToken) {
        self.init {
            try await budget.acquire()
            return try await fetch()
        }
    }

    public func token() async throws -> String {
        if let current, clock.now < current.refreshAt { return current.value }
        if waiters != nil {
            return try await withCheckedThrowingContinuation { waiters?.append($0) }
        }
        waiters = []
        let started = clock.now
        let result: Result<String, any Error>
        do {
            let token = try await fetch()
            fetchCount += 1
            let margin = token.expiresIn > refreshMargin * 2 ? refreshMargin : token.expiresIn / 2
            current = (token.value, started + token.expiresIn - margin)
            result = .success(token.value)
        } catch {
            result = .failure(error)
        }
        for waiter in waiters ?? [] { waiter.resume(with: result) }
        waiters = nil
        return try result.get()
    }

    /// Forgets `token` if it is the cached one (the provider rejected it), so the next call fetches anew.
    public func invalidate(_ token: String) {
        if current?.value == token { current = nil }
    }
}

/// Why a token could not be obtained. Never holds the client secret.
public struct TokenError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// Whether retrying later could help (5xx, 429, transport) as opposed to bad credentials.
    public var isTransient: Bool

    public init(_ message: String, isTransient: Bool) {
        self.message = message
        self.isTransient = isTransient
    }

    public var description: String { message }
}
