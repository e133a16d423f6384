import Synchronization

/// Appends waiting for a store's single group-commit writer, handed out oldest first in groups
/// bounded by their event count.
package final class GroupCommitQueue<Item: Sendable>: Sendable {
    private let items = Mutex<[Item]>([])
    private let eventCount: @Sendable (Item) -> Int

    package init(eventCount: @escaping @Sendable (Item) -> Int) {
        self.eventCount = eventCount
    }

    package func add(_ item: Item) {
        items.withLock { $0.append(item) }
    }

    /// The oldest items holding at most `maxEvents` events together (at least one item, however
    /// large), removed from the queue; empty when nothing waits.
    package func takeGroup(maxEvents: Int) -> [Item] {
        items.withLock { queue in
            var taken = 0
            var count = 0
            while taken < queue.count, count == 0 || count + eventCount(queue[taken]) <= maxEvents {
                count += eventCount(queue[taken])
                taken += 1
            }
            let group = Array(queue.prefix(taken))
            queue.removeFirst(taken)
            return group
        }
    }

    /// Everything still waiting, removed (for failing it when the writer stops).
    package func takeAll() -> [Item] {
        items.withLock { queue in
            defer { queue.removeAll() }
            return queue
        }
    }
}
