import Foundation
import HTTPTypes
import Hummingbird
import SluiceCore
import Synchronization

extension SinkTestDouble {
    // MARK: A generic HTTPS receiver with OAuth 2.0 client credentials (RFC 6749 §4.4)

    public static let clientID = "sluice-client"
    public static let clientSecret = "sluice-client-secret-321"
    public static let staticBearer = "static-bearer-654"

    func clientCredentialsToken(_ request: Request, _ bytes: [UInt8]) -> Response {
        let expected = "Basic " + Data("\(Self.clientID):\(Self.clientSecret)".utf8).base64EncodedString()
        guard request.headers[.authorization] == expected else { return answer(401, "{\"error\":\"invalid_client\"}") }
        guard String(decoding: bytes, as: UTF8.self) == "grant_type=client_credentials" else { return answer(400, "{\"error\":\"unsupported_grant_type\"}") }
        let token = "cc-\(UUID().uuidString)"
        state.withLock { s in
            s.tokens[token] = ContinuousClock.now + .seconds(300)
            s.received.tokensIssued += 1
        }
        return answer(200, "{\"access_token\":\"\(token)\",\"token_type\":\"Bearer\",\"expires_in\":300}")
    }

    /// Takes a JSON array (`application/json`) or NDJSON, with the static bearer or an issued token.
    func httpsIngest(_ request: Request, _ bytes: [UInt8]) -> Response {
        if request.headers[.authorization] != "Bearer \(Self.staticBearer)", let refusal = bearerRefusal(request) { return refusal }
        var events: [String] = []
        if request.headers[.contentType] == "application/json" {
            guard case .array(let items)? = try? JSONParser.parse(bytes) else { return answer(400, "{\"message\":\"expected a JSON array\"}") }
            for item in items {
                var out: [UInt8] = []
                item.write(into: &out, sortedKeys: false)
                events.append(String(decoding: out, as: UTF8.self))
            }
        } else {
            for line in bytes.split(separator: 0x0A) {
                guard (try? JSONParser.parse(line)) != nil else { return answer(400, "{\"message\":\"a line is not JSON\"}") }
                events.append(String(decoding: line, as: UTF8.self))
            }
        }
        state.withLock { s in
            s.received.events += events
            s.received.teamHeaders.append(request.headers[HTTPField.Name("X-Team")!] ?? "")
        }
        return answer(200, "{}")
    }

    /// An incoming webhook as Slack's behaves: a JSON object with a non-empty `text`, answered
    /// `ok`; anything else 400 with Slack's error words (`invalid_payload`, `no_text`).
    func chatMessage(_ bytes: [UInt8]) -> Response {
        guard case .object? = try? JSONParser.parse(bytes), let document = try? JSONParser.parse(bytes) else {
            return answer(400, "invalid_payload")
        }
        guard let text = document["text"]?.stringValue, !text.isEmpty else { return answer(400, "no_text") }
        state.withLock { $0.received.chatMessages.append(text) }
        return answer(200, "ok")
    }
}
