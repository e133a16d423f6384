import Foundation
import Synchronization

/// Refuses outbound URLs that could reach what Sluice's owner did not mean to expose: cloud
/// metadata and link-local addresses always; loopback, private and shared ranges and plain
/// `http://` unless the destination, collector or workflow allows private networks. Decisions are cached per host for
/// `cacheLifetime`, so a busy destination does not resolve its host for every batch.
///
/// The check resolves the host itself; the HTTP client resolves again when it connects, so a DNS
/// answer that changes in between (rebinding) is not caught here. Redirects are never followed.
public final class OutboundURLGuard: Sendable {
    public let allowPrivateNetworks: Bool
    let cacheLifetime: Duration
    private let verdicts = Mutex<[String: (ContinuousClock.Instant, String?)]>([:])

    public init(allowPrivateNetworks: Bool, cacheLifetime: Duration = .seconds(30)) {
        self.allowPrivateNetworks = allowPrivateNetworks
        self.cacheLifetime = cacheLifetime
    }

    /// Throws `.forbidden` with the reason when `url` may not be used.
    public func check(_ url: String) throws(TransportError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), let host = components.host, !host.isEmpty else {
            throw TransportError(.invalidURL, "\(HTTPTransport.redacted(url)) is not an absolute http(s) URL")
        }
        guard scheme == "https" || scheme == "http" else {
            throw TransportError(.invalidURL, "\(HTTPTransport.redacted(url)) uses \(scheme):; only https (or http to a private network) is allowed")
        }
        if scheme == "http" && !allowPrivateNetworks {
            throw TransportError(.forbidden, "\(HTTPTransport.redacted(url)) is plain http; use https, or set allow_private_networks: true for a host on your own network")
        }
        let now = ContinuousClock.now
        if let cached = verdicts.withLock({ $0[host] }), now < cached.0 + cacheLifetime {
            if let reason = cached.1 { throw TransportError(.forbidden, reason) }
            return
        }
        let reason = Self.problem(host: host, allowPrivate: allowPrivateNetworks)
        verdicts.withLock { $0[host] = (now, reason) }
        if let reason { throw TransportError(.forbidden, reason) }
    }

    static func problem(host: String, allowPrivate: Bool) -> String? {
        let name = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        if name == "metadata.google.internal" || name == "metadata" {
            return "host \(host) is a cloud metadata service; Sluice never sends requests there"
        }
        let addresses = resolve(name)
        if addresses.isEmpty { return nil }  // the client reports the resolution failure itself, and it is retried
        for address in addresses {
            switch classify(address) {
            case .metadataOrLinkLocal:
                return "host \(host) resolves to \(render(address)), a link-local or metadata address; Sluice never sends requests there"
            case .privateRange where !allowPrivate:
                return "host \(host) resolves to \(render(address)), a loopback or private address; set allow_private_networks: true if that is intended"
            default:
                continue
            }
        }
        return nil
    }

    public enum AddressClass: Sendable { case publicAddress, privateRange, metadataOrLinkLocal }

    /// What an address is: IPv4 as 4 bytes, IPv6 as 16.
    public static func classify(_ bytes: [UInt8]) -> AddressClass {
        if bytes.count == 16 {
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF { return classify(Array(bytes[12..<16])) }
            if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] <= 1 { return .privateRange }  // :: and ::1
            if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80 { return .metadataOrLinkLocal }  // fe80::/10
            if bytes == [0xFD, 0x00, 0x0E, 0xC2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54] { return .metadataOrLinkLocal }  // AWS IMDS
            if bytes[0] & 0xFE == 0xFC { return .privateRange }  // fc00::/7
            if bytes[0] == 0xFF { return .privateRange }  // multicast
            return .publicAddress
        }
        guard bytes.count == 4 else { return .privateRange }
        switch (bytes[0], bytes[1]) {
        case (169, 254): return .metadataOrLinkLocal
        case (0, _), (10, _), (127, _): return .privateRange
        case (172, 16...31), (192, 168), (100, 64...127), (198, 18...19): return .privateRange
        case (224...255, _): return .privateRange
        default: return .publicAddress
        }
    }

    static func render(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: bytes.count, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
    }

    static func resolve(_ host: String) -> [[UInt8]] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var out: [[UInt8]] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if let address = info.pointee.ai_addr {
                if info.pointee.ai_family == AF_INET {
                    address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                        out.append(withUnsafeBytes(of: sin.pointee.sin_addr) { Array($0) })
                    }
                } else if info.pointee.ai_family == AF_INET6 {
                    address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin in
                        out.append(withUnsafeBytes(of: sin.pointee.sin6_addr) { Array($0) })
                    }
                }
            }
            cursor = info.pointee.ai_next
        }
        return out
    }
}

extension HTTPTransport {
    /// This transport with `guardrail` checked before every request: a refused URL fails with
    /// `.forbidden` (or `.invalidURL`) and nothing is sent. Token grants sent through it are
    /// checked like the requests they authorize.
    public func guarded(by guardrail: OutboundURLGuard) -> HTTPTransport {
        HTTPTransport { (request) throws(TransportError) -> OutboundResponse in
            try guardrail.check(request.url)
            return try await send(request)
        }
    }
}
