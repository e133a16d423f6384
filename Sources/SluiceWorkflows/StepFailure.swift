/// Why a step did not finish. `retryable` failures (429, 5xx, timeouts, an unreachable store)
/// send the run back to wait and try again; the others wait for an operator.
public struct StepFailure: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var retryable: Bool
    /// HTTP attempts the step made before failing.
    public var attempts: Int

    public init(_ message: String, retryable: Bool, attempts: Int = 0) {
        self.message = message
        self.retryable = retryable
        self.attempts = attempts
    }

    public var description: String { message }
}
