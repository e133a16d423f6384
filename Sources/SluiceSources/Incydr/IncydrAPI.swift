import Foundation
import Logging
import SluiceCore
import SluiceHTTP

/// Calls the Incydr REST API: one token and one request budget for all streams of a tenant,
/// a token refresh on 401, and retries with backoff on 429, 5xx and transport failures.
struct IncydrAPI: Sendable {
    let configuration: IncydrConfiguration
    let transport: HTTPTransport
    let budget: RequestBudget
    let tokens: AccessTokenCache
    let logger: Logger
    /// Every call goes through it: the guard, the tenant's token and budget, the retry policy.
    var client: OutboundClient { OutboundClient(transport: transport, tokens: tokens, budget: budget, retry: configuration.retry) }

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
        self.tokens = AccessTokenCache(charging: budget) { [transport] in try await grant.request(using: transport) }
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
            url += "?" + HTTPTransport.queryString(query)
        }
        var headers = [("Accept", "application/json")]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let request = OutboundRequest(method: method, url: url, headers: headers, body: body, timeout: configuration.requestTimeout)
        return try await client.collect(
            request, stream: stream.rawValue, path: path, counters: &counters, logger: logger, accept: accept, explain: Self.problemSummary
        )
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
