import SluiceCore

/// What a backend's own error means, as the store reports it: the kind of failure, what the
/// database said, and what the operator should do about it. Each backend reads its driver's
/// errors into one of these; ``StoreError/wrapping(_:doing:reading:)`` turns it into the
/// message every caller sees, so both backends word failures the same way.
package struct StoreFailure: Sendable {
    package var code: StoreError.Code
    package var detail: String
    package var remedy: String?

    package init(_ code: StoreError.Code, _ detail: String, remedy: String? = nil) {
        self.code = code
        self.detail = detail
        self.remedy = remedy
    }
}

extension StoreError {
    /// `error`, thrown while doing `operation`, as a ``StoreError``: store errors pass through,
    /// a cancellation means the store is stopping, and a backend error reads as `reading`
    /// says ("append failed: the disk is full (…); free space on the data volume"). An error
    /// the backend does not recognise is reported as unavailable, with its description.
    package static func wrapping(_ error: any Error, doing operation: String, reading: (any Error) -> StoreFailure?) -> StoreError {
        if let error = error as? StoreError { return error }
        if error is CancellationError { return StoreError(.unavailable, "\(operation) was cancelled: the store is stopping") }
        guard let failure = reading(error) else { return StoreError(.unavailable, "\(operation) failed: \(error)") }
        let message = "\(operation) failed: \(failure.detail)"
        return StoreError(failure.code, failure.remedy.map { "\(message); \($0)" } ?? message)
    }
}
