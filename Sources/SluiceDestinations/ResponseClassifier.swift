import Foundation
import SluiceCore
import SluiceHTTP

/// The common reading of an HTTP answer from a destination. Destinations with their own error
/// codes (Splunk HEC) refine it.
public enum ResponseClassifier {
    public static func classify(_ response: OutboundResponse, destination: String) -> DeliveryOutcome {
        let status = response.status
        let detail = errorMessage(response.body).map { ": \($0)" } ?? ""
        switch status {
        case 200..<300:
            return .delivered
        case 401, 403:
            return .unauthorized(reason: "\(destination) answered HTTP \(status)\(detail); check the destination's credentials")
        case 408, 429, 500..<600:
            return .retry(after: RetryAfter.of(response), reason: "HTTP \(status)\(detail)")
        case 400, 413, 422:
            return .rejected(reason: "HTTP \(status)\(detail)")
        default:
            // 404, 405, ...: a configuration problem that may be fixed without losing events.
            return .retry(after: nil, reason: "HTTP \(status)\(detail); check the destination's URL")
        }
    }

    public static func classify(_ error: TransportError) -> DeliveryOutcome {
        switch error.code {
        case .forbidden, .invalidURL:
            return .unauthorized(reason: error.message)
        default:
            return .retry(after: nil, reason: error.message)
        }
    }

    /// A short, printable message from a JSON (`error.message`, `text`, `message`) or XML
    /// (`<Code>`, `<Message>`) error body; at most 300 characters.
    public static func errorMessage(_ body: [UInt8]) -> String? {
        guard !body.isEmpty else { return nil }
        var message: String?
        if let json = try? JSONParser.parse(body) {
            if let error = json["error"] {
                message = error["message"]?.stringValue ?? error.stringValue
            }
            message = message ?? json["text"]?.stringValue ?? json["message"]?.stringValue
            if let code = json["code"], let text = message, case .number(let n) = code { message = "\(text) (code \(n))" }
        } else {
            let text = String(decoding: body.prefix(4096), as: UTF8.self)
            if let code = xmlElement("Code", in: text) {
                message = xmlElement("Message", in: text).map { "\(code): \($0)" } ?? code
            } else {
                message = text
            }
        }
        guard let message else { return nil }
        let printable = String(message.unicodeScalars.map { $0.value < 0x20 ? Character(" ") : Character($0) })
        return printable.count > 300 ? String(printable.prefix(300)) + "…" : printable
    }

    static func xmlElement(_ name: String, in text: String) -> String? {
        guard let open = text.range(of: "<\(name)>"), let close = text.range(of: "</\(name)>", range: open.upperBound..<text.endIndex) else { return nil }
        return String(text[open.upperBound..<close.lowerBound])
    }
}
