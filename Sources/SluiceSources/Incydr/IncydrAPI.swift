import Foundation
import Logging
import SluiceCore
import SluiceHTTP

/// Counters of one stream's run, reported in its status.
public struct StreamRunCounters: Sendable, Hashable {
    public var pages = 0
    public var eventsNew = 0
    public var eventsDuplicate = 0
    public var requests = 0
    public var throttled = 0
    public var retries = 0

    public init() {}

    /// Adds the request counts of a fetch made beside the run (pages and events are counted on commit).
    mutating func add(_ other: StreamRunCounters) {
        requests += other.requests
        throttled += other.throttled
        retries += other.retries
    }
}

/// Calls the Incydr REST API: one token and one request budget for all streams of a tenant,
/// a token refresh on 401, and retries with backoff on 429, 5xx and transport failures.
struct IncydrAPI: Sendable {
    let configuration: IncydrConfiguration
    let transport: HTTPTransport
    let budget: RequestBudget
    let tokens: AccessTokenCache
    let logger: Logger

    init(configuration: IncydrConfiguration, transport: HTTPTransport, logger: Logger) {
        self.configuration = configuration
        // Every request, the token's included, passes the SSRF guard first.
        let transport = transport.guarded(by: OutboundURLGuard(allowPrivateNetworks: configuration.allowPrivateNetworks))
        self.transport = transport
        self.logger = logger
        self.budget = RequestBudget(limit: configuration.requestsPerMinute)
        let grant = ClientCredentialsGrant(
            tokenURL: configuration.baseURL + "/v1/oauth", clientID: configuration.clientID,
            clientSecret: configuration.clientSecret, authentication: .basicWithoutBody
        )
        let budget = self.budget
        self.tokens = AccessTokenCache { [transport] in
            try await budget.acquire()
            return try await grant.request(using: transport)
        }
    }

    /// Sends one API request until it succeeds or the retry policy gives up; returns the 2xx
    /// answer, or a non-2xx one that `accept` claims (a file-events 400 about its page token).
    func call(
        _ method: String, _ path: String, query: [(String, String)] = [], json body: [UInt8]? = nil,
        stream: IncydrConfiguration.Stream, counters: inout StreamRunCounters,
        accept: (OutboundResponse) -> Bool = { _ in false }
    ) async throws(CollectorError) -> OutboundResponse {
        var url = configuration.baseURL + path
        if !query.isEmpty {
            url += "?" + query.map { "\(HTTPTransport.percentEncoded($0.0))=\(HTTPTransport.percentEncoded($0.1))" }.joined(separator: "&")
        }
        var generator = SystemRandomNumberGenerator()
        var refreshed = false
        var attempt = 0
        while true {
            attempt += 1
            let token: String
            do {
                try await budget.acquire()
                token = try await tokens.token()
            } catch let error as TokenError {
                // The token request this call waited on failed: it counts as this stream's request.
                counters.requests += 1
                if !error.isTransient { throw CollectorError(.rejected, "\(stream.rawValue): \(error.message)") }
                if attempt >= configuration.retry.maxAttempts { throw CollectorError(.gaveUp, "\(stream.rawValue): \(error.message)") }
                counters.retries += 1
                try await sleep(configuration.retry.backoff.delay(attempt: attempt, using: &generator))
                continue
            } catch {
                throw CollectorError(.cancelled, "\(stream.rawValue): cancelled")
            }
            var headers = [("Authorization", "Bearer \(token)"), ("Accept", "application/json")]
            if body != nil { headers.append(("Content-Type", "application/json")) }
            counters.requests += 1
            let outcome: AttemptOutcome
            var response: OutboundResponse?
            do {
                let answer = try await transport.send(OutboundRequest(method: method, url: url, headers: headers, body: body, timeout: configuration.requestTimeout))
                response = answer
                if accept(answer) { return answer }
                outcome = .status(answer.status, retryAfter: RetryAfter.parse(answer.header("Retry-After")))
            } catch where error.code == .forbidden || error.code == .invalidURL {
                throw CollectorError(.rejected, "\(stream.rawValue): \(error.message)")
            } catch {
                outcome = .transportFailure(error.message)
            }
            switch configuration.retry.decide(attempt: attempt, outcome: outcome, tokenRefreshed: refreshed, using: &generator) {
            case .succeed:
                return response!
            case .refreshTokenAndRetry:
                refreshed = true
                await tokens.invalidate(token)
                logger.info("Incydr rejected the access token; fetching a new one", metadata: ["collector.stream": "\(stream.rawValue)"])
            case .retry(let delay, let reason):
                counters.retries += 1
                if case .status(429, _) = outcome {
                    counters.throttled += 1
                    // The limit is per tenant: every stream of this collector waits.
                    await budget.pause(for: delay)
                }
                logger.notice("Incydr request will be retried", metadata: [
                    "collector.stream": "\(stream.rawValue)", "reason": "\(reason)", "retry.delay": "\(delay)", "http.path": "\(path)",
                ])
                try await sleep(delay)
            case .giveUp(let reason):
                let detail = response.map { Self.problemSummary($0) } ?? ""
                let code: CollectorError.Code = {
                    if case .status(let status, _) = outcome, (400..<500).contains(status), status != 429, status != 408 { return .rejected }
                    return .gaveUp
                }()
                throw CollectorError(code, "\(stream.rawValue): \(method) \(path) failed: \(reason)\(detail)")
            }
        }
    }

    private func sleep(_ delay: Duration) async throws(CollectorError) {
        do {
            try await Task.sleep(for: delay)
        } catch {
            throw CollectorError(.cancelled, "cancelled while waiting to retry")
        }
    }

    /// Incydr's own explanation of a failure (`problems[].type`/`description`, `problem`), shortened.
    static func problemSummary(_ response: OutboundResponse) -> String {
        guard let json = try? JSONParser.parse(response.body) else { return "" }
        var parts: [String] = []
        for problem in json["problems"]?.arrayValue ?? [] {
            parts.append([problem["type"]?.textValue, problem["description"]?.textValue].compactMap { $0 }.joined(separator: ": "))
        }
        if let problem = json["problem"]?.textValue { parts.append(problem) }
        if let description = json["description"]?.textValue { parts.append(description) }
        let text = parts.joined(separator: "; ")
        return text.isEmpty ? "" : " (\(String(text.prefix(300))))"
    }
}
