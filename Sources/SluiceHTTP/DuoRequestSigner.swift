import Crypto
import Foundation
import SluiceCore

/// Signs requests to Duo's Admin API as Duo's own client (`duo_client`) does by default
/// (signature version 5): an HMAC-SHA512, keyed by the secret key, of the request's date, method,
/// host, path, sorted parameters, a SHA-512 of its body and one of its `X-Duo-*` headers (none),
/// sent as `Authorization: Basic <integration key>:<hex signature>` with the `Date` it covers.
public struct DuoRequestSigner: Sendable {
    public var integrationKey: String
    let secretKey: String

    public init(integrationKey: String, secretKey: String) {
        self.integrationKey = integrationKey
        self.secretKey = secretKey
    }

    /// `request` with its `Date` and `Authorization` headers, signed for `date`.
    public func signed(_ request: OutboundRequest, date: Date) -> OutboundRequest {
        var request = request
        let dateText = Self.rfc2822(date)
        let signature = HMAC<SHA512>.authenticationCode(for: Array(canonical(request, date: dateText).utf8), using: SymmetricKey(data: Array(secretKey.utf8)))
        let credentials = integrationKey + ":" + Array(signature).hexString
        request.headers.removeAll { ["authorization", "date"].contains($0.0.lowercased()) }
        request.headers.append(("Date", dateText))
        request.headers.append(("Authorization", "Basic " + Data(credentials.utf8).base64EncodedString()))
        return request
    }

    /// The text signed: one line each for the date, method, host, path, parameters, body hash and
    /// `X-Duo-*` headers hash.
    func canonical(_ request: OutboundRequest, date: String) -> String {
        let components = URLComponents(string: request.url)
        let host = (components?.host ?? "").lowercased()
        let path = components?.percentEncodedPath ?? "/"
        let parameters = Self.canonicalParameters(components?.percentEncodedQuery ?? "")
        let body = request.body ?? []
        return [
            date, request.method.uppercased(), host, path, parameters,
            Array(SHA512.hash(data: body)).hexString, Array(SHA512.hash(data: [UInt8]())).hexString,
        ].joined(separator: "\n")
    }

    /// `key=value` pairs, each side percent-encoded but for unreserved characters, sorted by key
    /// and then value, joined with `&` (OAuth 1.0's normalization, RFC 5849 §3.4.1.3.2).
    static func canonicalParameters(_ query: String) -> String {
        let pairs: [(String, String)] = query.split(separator: "&").map { item in
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func normalized(_ text: Substring?) -> String {
                let decoded = text.map { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0) } ?? ""
                return HTTPTransport.percentEncoded(decoded)
            }
            return (normalized(parts.first), normalized(parts.count > 1 ? parts[1] : nil))
        }
        return pairs.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// `Sun, 06 Dec 2026 19:32:45 -0000`, the form Python's `email.utils.formatdate()` writes.
    static func rfc2822(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int?) -> String { String(format: "%02d", n ?? 0) }
        return "\(days[(c.weekday ?? 1) - 1]), \(two(c.day)) \(months[(c.month ?? 1) - 1]) \(c.year ?? 1970) \(two(c.hour)):\(two(c.minute)):\(two(c.second)) -0000"
    }
}
