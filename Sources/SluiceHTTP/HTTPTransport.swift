import Foundation
import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// One outbound HTTP request, fully buffered (collectors and destinations send bounded bodies).
public struct OutboundRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]?
    public var timeout: Duration

    public init(method: String, url: String, headers: [(String, String)] = [], body: [UInt8]? = nil, timeout: Duration = .seconds(60)) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

/// A response with its body read up to the transport's limit.
public struct OutboundResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first header named `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.0.lowercased() == wanted }?.1
    }
}

/// Why an outbound request got no HTTP response. Safe to log: it never holds headers or bodies.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Hashable {
        case timeout
        case connection
        case responseTooLarge
        case invalidURL
        /// The URL is refused by ``OutboundURLGuard`` (metadata, link-local or private address).
        case forbidden
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// Sends requests. A struct of one closure: the live value wraps AsyncHTTPClient; tests may pass
/// any other, though Sluice's own tests use the live one against loopback servers.
public struct HTTPTransport: Sendable {
    public var send: @Sendable (OutboundRequest) async throws(TransportError) -> OutboundResponse

    public init(send: @escaping @Sendable (OutboundRequest) async throws(TransportError) -> OutboundResponse) {
        self.send = send
    }

    /// The live transport over one client for the whole process (like `HTTPClient.shared`, it is
    /// never shut down). The client never follows redirects: a redirect could lead a credentialed
    /// request somewhere it was not configured to go.
    public static let shared: HTTPTransport = {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10)))
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 16
        // A refused or failed connection is reported at once: every caller retries under its own
        // RetryPolicy (attempts, backoff, counted and shown), so the client must not also retry
        // silently until its connect timeout, which made one attempt at a closed port last 10 s.
        configuration.connectionPool.retryConnectionEstablishment = false
        return live(client: HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration))
    }()

    public static func live(client: HTTPClient, maxResponseBytes: Int = 64 << 20) -> HTTPTransport {
        HTTPTransport { (request) throws(TransportError) -> OutboundResponse in
            var outbound = HTTPClientRequest(url: request.url)
            outbound.method = HTTPMethod(rawValue: request.method)
            for (name, value) in request.headers { outbound.headers.add(name: name, value: value) }
            if let body = request.body { outbound.body = .bytes(ByteBuffer(bytes: body)) }
            let nanos = Int64(request.timeout.components.seconds) * 1_000_000_000 + request.timeout.components.attoseconds / 1_000_000_000
            do {
                let response = try await client.execute(outbound, timeout: .nanoseconds(nanos))
                let buffer = try await response.body.collect(upTo: maxResponseBytes)
                return OutboundResponse(
                    status: Int(response.status.code),
                    headers: response.headers.map { ($0.name, $0.value) },
                    body: Array(buffer.readableBytesView)
                )
            } catch let error as HTTPClientError {
                throw classify(error, url: request.url)
            } catch is NIOTooManyBytesError {
                throw TransportError(.responseTooLarge, "the response from \(redacted(request.url)) is larger than \(maxResponseBytes) bytes")
            } catch {
                throw TransportError(.connection, "request to \(redacted(request.url)) failed: \(error)")
            }
        }
    }

    private static func classify(_ error: HTTPClientError, url: String) -> TransportError {
        let target = redacted(url)
        if [.deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout].contains(error) {
            return TransportError(.timeout, "request to \(target) timed out (\(error))")
        }
        if [.invalidURL, .emptyHost, .emptyScheme].contains(error) {
            return TransportError(.invalidURL, "cannot send to \(target): \(error)")
        }
        return TransportError(.connection, "request to \(target) failed: \(error)")
    }

    /// The URL without its query (which may hold a key) for messages.
    public static func redacted(_ url: String) -> String {
        guard let q = url.firstIndex(of: "?") else { return url }
        return String(url[..<q]) + "?…"
    }

    /// `name=value&...`, each side percent-encoded.
    public static func queryString(_ parameters: [(String, String)]) -> String {
        parameters.map { "\(percentEncoded($0.0))=\(percentEncoded($0.1))" }.joined(separator: "&")
    }

    /// Percent-encodes a query or form component (RFC 3986 unreserved characters stay as they are).
    public static func percentEncoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    private static let unreserved: CharacterSet = {
        var set = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        set.insert(charactersIn: "-._~")
        return set
    }()
}
