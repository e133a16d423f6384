import Foundation
import SluiceCore

/// An OAuth 2.0 access token obtained with the client-credentials grant.
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
public actor ClientCredentialsTokenCache {
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

/// The client-credentials grant (RFC 6749 §4.4).
public struct ClientCredentialsGrant: Sendable {
    public var tokenURL: String
    public var clientID: String
    public var clientSecret: String

    public init(tokenURL: String, clientID: String, clientSecret: String) {
        self.tokenURL = tokenURL
        self.clientID = clientID
        self.clientSecret = clientSecret
    }

    public func request(using transport: HTTPTransport) async throws(TokenError) -> AccessToken {
        // HTTP Basic with the grant type in the body: the form RFC 6749 recommends, and Code42's.
        let credentials = Data("\(clientID):\(clientSecret)".utf8).base64EncodedString()
        let headers = [
            ("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json"), ("Authorization", "Basic \(credentials)"),
        ]
        let form = "grant_type=client_credentials"
        let target = HTTPTransport.redacted(tokenURL)
        let response: OutboundResponse
        do {
            response = try await transport.send(OutboundRequest(method: "POST", url: tokenURL, headers: headers, body: Array(form.utf8), timeout: .seconds(30)))
        } catch {
            throw TokenError("token request to \(target) failed: \(error.message)", isTransient: true)
        }
        switch response.status {
        case 200..<300:
            break
        case 400, 401, 403:
            throw TokenError(
                "the token endpoint \(target) refused the client credentials (HTTP \(response.status)); check client_id and client_secret",
                isTransient: false
            )
        default:
            throw TokenError("the token endpoint \(target) answered HTTP \(response.status)", isTransient: true)
        }
        guard let json = try? JSONParser.parse(response.body),
              let value = json["access_token"]?.stringValue, !value.isEmpty
        else {
            throw TokenError("the token endpoint \(target) answered without an access_token", isTransient: true)
        }
        let seconds = json["expires_in"]?.textValue.flatMap { Int($0) } ?? 300
        return AccessToken(value: value, expiresIn: .seconds(max(1, seconds)))
    }
}
