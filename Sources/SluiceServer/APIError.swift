import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SluiceCore
import SluiceWorkflows
import SluiceSources
import SluiceDestinations

/// An error answered to a client as JSON in Google's error envelope
/// (`{"error":{"code":400,"status":"INVALID_ARGUMENT","message":"..."}}`), so that senders built
/// for Chronicle read Sluice's refusals the way they read Chronicle's.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var message: String
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    var statusName: String {
        switch status.code {
        case 400: "INVALID_ARGUMENT"
        case 401: "UNAUTHENTICATED"
        case 403: "PERMISSION_DENIED"
        case 404: "NOT_FOUND"
        case 405: "METHOD_NOT_ALLOWED"
        case 409: "ABORTED"
        case 413: "PAYLOAD_TOO_LARGE"
        case 415: "UNSUPPORTED_MEDIA_TYPE"
        case 429: "RESOURCE_EXHAUSTED"
        case 503: "UNAVAILABLE"
        default: status.code >= 500 ? "INTERNAL" : "FAILED_PRECONDITION"
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var body: [UInt8] = Array("{\"error\":{\"code\":\(status.code),\"status\":\"\(statusName)\",\"message\":".utf8)
        JSONValue.writeString(message, into: &body)
        body.append(contentsOf: "}}\n".utf8)
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The single answer to every failed push authentication, whatever was wrong.
    static let unauthorizedPush = APIError(
        .unauthorized,
        "missing or invalid credentials for this feed; send the feed secret in X-Webhook-Access-Key (and the ingestion key in X-goog-api-key when the instance has one), or the feed's configured signature or bearer token"
    )

    /// `reading`: the request only reads, so nothing can be "not stored", and stored data that
    /// does not decode is the server's fault (500, naming the event), not a reason to retry.
    static func from(_ error: StoreError, reading: Bool = false) -> APIError {
        if reading {
            switch error.code {
            case .corrupt:
                return APIError(.internalServerError, "stored data cannot be read: \(error.message); `sluice storage check` lists every unreadable event")
            case .unavailable, .full:
                return APIError(.serviceUnavailable, "the event store cannot be read right now (\(error.shortDescription)); retry later", headers: [.retryAfter: "5"])
            case .invalidRequest, .conflict:
                break
            }
        }
        return switch error.code {
        case .unavailable, .full, .corrupt:
            // Retry-After lets well-behaved senders back off instead of hammering a full disk.
            APIError(.serviceUnavailable, "the event store cannot accept writes right now (\(error.shortDescription)); nothing from this request was stored, retry later", headers: [.retryAfter: "5"])
        case .invalidRequest:
            APIError(.badRequest, error.message)
        case .conflict:
            APIError(.conflict, error.message)
        }
    }
}

extension APIError {
    /// The one HTTP answer for each refusal of the running parts, used by the API and the web UI alike.
    static func from(_ error: DeliveryControlError) -> APIError {
        switch error.code {
        case .unknownDestination: APIError(.notFound, error.message)
        case .invalidRequest: APIError(.badRequest, error.message)
        case .store: APIError(.serviceUnavailable, error.message)
        }
    }

    static func from(_ error: WorkflowControlError) -> APIError {
        switch error.code {
        case .unknownWorkflow, .unknownRun: APIError(.notFound, error.message)
        case .store: APIError(.serviceUnavailable, error.message)
        }
    }

    static func from(_ error: CollectorError) -> APIError {
        switch error.code {
        case .conflict: APIError(.conflict, error.message)
        case .rejected: APIError(.notFound, error.message)
        case .invalid: APIError(.badRequest, error.message)
        default: APIError(.serviceUnavailable, error.message)
        }
    }

    static func from(_ error: CredentialAdministrationError) -> APIError {
        switch error.kind {
        case .notFound: APIError(.notFound, error.message)
        case .conflict: APIError(.conflict, error.message)
        case .invalid: APIError(.badRequest, error.message)
        case .store: APIError(.serviceUnavailable, "the change was not made: \(error.message)")
        }
    }
}

extension Response {
    static func json(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }

    /// `value` as one line of JSON.
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        var out: [UInt8] = []
        value.write(into: &out, sortedKeys: false)
        out.append(0x0A)
        return .json(out, status: status)
    }
}
