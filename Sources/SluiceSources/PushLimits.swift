/// Bounds on one push request. Defaults follow the design notes.
public struct PushLimits: Sendable, Hashable {
    /// Largest accepted body as sent (before decompression).
    public var maxBodyBytes: Int
    /// Largest body after gzip decompression.
    public var maxDecompressedBytes: Int
    public var maxEvents: Int
    public var maxDepth: Int

    public static let defaultMaxBodyBytes = 4 * 1024 * 1024

    public init(
        maxBodyBytes: Int = PushLimits.defaultMaxBodyBytes,
        maxDecompressedBytes: Int = 32 * 1024 * 1024,
        maxEvents: Int = 10_000,
        maxDepth: Int = 64
    ) {
        self.maxBodyBytes = maxBodyBytes
        self.maxDecompressedBytes = maxDecompressedBytes
        self.maxEvents = maxEvents
        self.maxDepth = maxDepth
    }
}
