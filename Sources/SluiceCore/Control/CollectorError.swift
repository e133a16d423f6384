/// Why a collector stream's run stopped early. Messages name the stream and what to check;
/// they never contain credentials or tokens.
public struct CollectorError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Hashable {
        /// Retries were exhausted (429, 5xx, timeouts).
        case gaveUp
        /// The provider refused the credentials or the request; retrying will not help.
        case rejected
        /// The provider answered something that is not the documented shape.
        case invalidResponse
        /// The store could not commit (the checkpoint did not move).
        case store
        /// Another run or an admin's rewind moved the checkpoint meanwhile.
        case conflict
        case cancelled
        /// The request to the collector itself was not valid (a backfill window, say).
        case invalid
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// A short label fit for a metric dimension.
    public var shortDescription: String {
        switch code {
        case .gaveUp: "gave_up"
        case .rejected: "rejected"
        case .invalidResponse: "invalid_response"
        case .store: "store"
        case .conflict: "conflict"
        case .cancelled: "cancelled"
        case .invalid: "invalid"
        }
    }

    public var description: String { message }

    /// A store failure during a run: a moved checkpoint is a conflict, anything else the store's.
    public static func from(_ error: StoreError) -> CollectorError {
        CollectorError(error.code == .conflict ? .conflict : .store, error.description)
    }
}
