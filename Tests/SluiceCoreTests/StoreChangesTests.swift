import SluiceCore
import Testing

/// The signal consumers wait on instead of polling the store.
@Suite struct StoreChangesTests {
    @Test func aWaitEndsWhenEventsCommitAfterTheMarkWasRead() async throws {
        let changes = StoreChanges(fallback: .seconds(120))
        let seen = changes.mark
        let waiter = Task { await changes.wait(after: seen, timeout: .seconds(120)) }
        try await Task.sleep(for: .milliseconds(50))
        changes.eventsCommitted()
        let woken = await waiter.value
        #expect(woken.events == seen.events + 1 && woken.control == seen.control)
    }

    @Test func aCommitBetweenTheReadAndTheWaitIsNotMissed() async {
        let changes = StoreChanges(fallback: .seconds(120))
        let seen = changes.mark
        changes.controlChanged()  // committed after the consumer read the store, before it waits
        let woken = await changes.wait(after: seen, timeout: .seconds(120))
        #expect(woken.control == seen.control + 1)
    }

    @Test func aWaitWithoutChangesEndsAtItsTimeout() async {
        let changes = StoreChanges(fallback: .seconds(120))
        let seen = changes.mark
        let woken = await changes.wait(after: seen, timeout: .milliseconds(30))
        #expect(woken == seen)
    }

    @Test func aCancelledWaitEndsAndLeavesNoWaiterBehind() async throws {
        let changes = StoreChanges(fallback: .seconds(120))
        let seen = changes.mark
        let waiter = Task { await changes.wait(after: seen, timeout: .seconds(120)) }
        try await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        #expect(await waiter.value == seen)
        changes.changedElsewhere()  // resumes nothing twice
        #expect(changes.mark.events == seen.events + 1 && changes.mark.control == seen.control + 1)
    }

    @Test func everyWaiterWakes() async {
        let changes = StoreChanges(fallback: .seconds(120))
        let seen = changes.mark
        await withTaskGroup(of: StoreChanges.Mark.self) { group in
            for _ in 0..<20 { group.addTask { await changes.wait(after: seen, timeout: .seconds(120)) } }
            try? await Task.sleep(for: .milliseconds(50))
            changes.eventsCommitted()
            var woken = 0
            for await mark in group where mark != seen { woken += 1 }
            #expect(woken == 20)
        }
    }
}
