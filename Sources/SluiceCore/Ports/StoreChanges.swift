import Synchronization

/// What a store has committed lately, published by the store after each commit, so that
/// consumers (delivery loops, workflows) sleep until there is something to read instead of
/// polling the store.
///
/// Three counters move: `events` when events commit, `control` when an operator's change to a
/// consumer commits (a hold, a re-drive, a replay), `readable` when events committed earlier
/// became readable (PostgreSQL, where consumers read only below the oldest running transaction).
/// A consumer reads ``mark`` *before* it reads the store, and after finding nothing waits with
/// ``wait(after:timeout:)`` for the mark to move: a commit between its read and its wait then
/// wakes it at once, never late.
///
/// A store sees its own process's commits. Changes made elsewhere (another process on the same
/// SQLite file, another instance on PostgreSQL) are published when the store notices them, or
/// only seen when a consumer's wait times out: ``fallback`` is the longest a consumer waits, so
/// the longest such a change can go unseen.
public final class StoreChanges: Sendable {
    /// A point in the store's history, as far as this process knows it.
    public struct Mark: Sendable, Hashable {
        public var events: UInt64
        public var control: UInt64
        public var readable: UInt64

        public init(events: UInt64, control: UInt64, readable: UInt64 = 0) {
            self.events = events
            self.control = control
            self.readable = readable
        }
    }

    private struct State {
        var mark = Mark(events: 0, control: 0)
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())
    /// The longest a consumer waits for a signal before it looks at the store anyway.
    public let fallback: Duration

    public init(fallback: Duration) {
        self.fallback = fallback
    }

    /// Where the store is now.
    public var mark: Mark { state.withLock { $0.mark } }

    /// Events committed; wakes every waiter.
    public func eventsCommitted() {
        resume { $0.events &+= 1 }
    }

    /// Events committed earlier, which consumers could not read yet, are readable now; wakes
    /// every waiter.
    public func heldEventsReadable() {
        resume { $0.readable &+= 1 }
    }

    /// An operator's change to a consumer committed; wakes every waiter.
    public func controlChanged() {
        resume { $0.control &+= 1 }
    }

    /// Another writer changed the store in a way this process cannot tell apart: both counters move.
    public func changedElsewhere() {
        resume {
            $0.events &+= 1
            $0.control &+= 1
        }
    }

    /// Returns when the mark differs from `seen`, when `timeout` has passed, or when the task is
    /// cancelled, whichever comes first; returns the mark then.
    @discardableResult
    public func wait(after seen: Mark, timeout: Duration) async -> Mark {
        if mark != seen || timeout <= .zero { return mark }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForChange(after: seen) }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        return mark
    }

    private func waitForChange(after seen: Mark) async {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    // Moved meanwhile, or cancelled before the continuation was stored.
                    if state.mark != seen || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let continuation = state.withLock { $0.waiters.removeValue(forKey: id) }
            continuation?.resume()
        }
    }

    private func resume(_ change: (inout Mark) -> Void) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            change(&state.mark)
            defer { state.waiters.removeAll(keepingCapacity: true) }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }
}
