import Crypto
import Foundation
import SluiceCore

/// AWS Signature Version 4 for one request (header form), as S3 and S3-compatible stores expect.
public struct AWSSignatureV4: Sendable {
    public var accessKeyID: String
    public var secretAccessKey: String
    /// An STS session token, sent as `x-amz-security-token` and signed.
    public var sessionToken: String?
    public var region: String
    public var service: String

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, region: String, service: String = "s3") {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.region = region
        self.service = service
    }

    /// `20130524T000000Z`
    public static func amzDate(_ date: Date) -> String {
        let text = Timestamp(seconds: Int64(date.timeIntervalSince1970.rounded(.down))).rfc3339  // 2013-05-24T00:00:00.000000Z
        return text.prefix(19).filter { $0 != "-" && $0 != ":" } + "Z"
    }

    /// The headers to add to a request: `x-amz-date`, `x-amz-content-sha256`, the session token
    /// when there is one, and `Authorization`. `headers` must include `host`.
    public func sign(
        method: String, canonicalPath: String, query: [(String, String)] = [], headers: [(String, String)], payloadHash: String, date: Date
    ) -> [(String, String)] {
        let stamp = Self.amzDate(date)
        var added = [("x-amz-date", stamp), ("x-amz-content-sha256", payloadHash)]
        if let sessionToken { added.append(("x-amz-security-token", sessionToken)) }
        let signed = headers + added
        let (request, signedNames) = Self.canonicalRequest(
            method: method, canonicalPath: canonicalPath, query: query, headers: signed, payloadHash: payloadHash
        )
        let scope = "\(stamp.prefix(8))/\(region)/\(service)/aws4_request"
        let signature = self.signature(stringToSign: Self.stringToSign(canonicalRequest: request, amzDate: stamp, scope: scope), day: String(stamp.prefix(8)))
        added.append(("Authorization", "AWS4-HMAC-SHA256 Credential=\(accessKeyID)/\(scope), SignedHeaders=\(signedNames), Signature=\(signature)"))
        return added
    }

    /// The canonical request and its signed-header list.
    public static func canonicalRequest(
        method: String, canonicalPath: String, query: [(String, String)], headers: [(String, String)], payloadHash: String
    ) -> (String, String) {
        let encoded: [(String, String)] = query.map { (uriEncode($0.0), uriEncode($0.1)) }
        let sorted = encoded.sorted { (a: (String, String), b: (String, String)) -> Bool in a.0 == b.0 ? a.1 < b.1 : a.0 < b.0 }
        let canonicalQuery = sorted.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            let trimmed = value.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            merged[name.lowercased(), default: []].append(trimmed)
        }
        let names = merged.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        let signedNames = names.joined(separator: ";")
        return ([method, canonicalPath, canonicalQuery, canonicalHeaders, signedNames, payloadHash].joined(separator: "\n"), signedNames)
    }

    public static func stringToSign(canonicalRequest: String, amzDate: String, scope: String) -> String {
        "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n\(hexSHA256(Array(canonicalRequest.utf8)))"
    }

    public func signature(stringToSign: String, day: String) -> String {
        func hmac(_ key: [UInt8], _ text: String) -> [UInt8] {
            Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: SymmetricKey(data: key)))
        }
        let kDate = hmac(Array("AWS4\(secretAccessKey)".utf8), day)
        let kSigning = hmac(hmac(hmac(kDate, region), service), "aws4_request")
        return hmac(kSigning, stringToSign).hexString
    }

    /// An S3 object key as a canonical path: each segment encoded once, slashes kept.
    public static func s3Path(bucket: String?, key: String) -> String {
        let encodedKey = key.split(separator: "/", omittingEmptySubsequences: false).map { uriEncode(String($0)) }.joined(separator: "/")
        if let bucket { return "/\(uriEncode(bucket))/\(encodedKey)" }
        return "/\(encodedKey)"
    }

    /// RFC 3986 encoding as SigV4 wants it: unreserved characters kept, everything else `%XX` (upper case).
    public static func uriEncode(_ text: String) -> String { HTTPTransport.percentEncoded(text) }

    public static func hexSHA256(_ bytes: [UInt8]) -> String { Array(SHA256.hash(data: bytes)).hexString }
}
