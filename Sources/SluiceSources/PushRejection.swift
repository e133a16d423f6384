/// Why a push was refused, with the HTTP status a sender should see. Nothing from a rejected
/// request is stored.
public struct PushRejection: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        case unauthorized
        case unknownFeed = "unknown_feed"
        case bodyTooLarge = "body_too_large"
        case decompressedTooLarge = "decompressed_too_large"
        case tooManyEvents = "too_many_events"
        case unsupportedEncoding = "unsupported_encoding"
        case invalidJSON = "invalid_json"
        case tooDeep = "too_deep"
        case notAnObject = "not_an_object"
        case emptyBody = "empty_body"
        case corruptGzip = "corrupt_gzip"
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// The HTTP status code for this rejection.
    public var status: Int {
        switch kind {
        case .unauthorized: 401
        case .unknownFeed: 404
        case .bodyTooLarge, .decompressedTooLarge, .tooManyEvents: 413
        case .unsupportedEncoding: 415
        case .invalidJSON, .tooDeep, .notAnObject, .emptyBody, .corruptGzip: 400
        }
    }

    /// A short label for metrics (`rejected` outcome reason).
    public var reason: String { kind.rawValue }

    public var description: String { message }
}
