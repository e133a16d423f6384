/// Polls `condition` until it holds or `limit` passes; returns whether it held. The limit only
/// keeps a broken test from hanging; tests assert on the outcome, never on how long it took.
public func eventually(limit: Duration = .seconds(60), _ condition: @Sendable () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}
