import Logging
import SluiceCore
import SluiceStoreKit
import Synchronization
import Testing

/// The group commit both stores share, driven by a writer that records what it was asked to
/// commit: groups are bounded by events, one bad request fails alone, a failure of the whole
/// transaction fails the whole group, and a stop fails whatever still waits.
@Suite struct GroupCommitterTests {
    struct Append: Sendable {
        var name: String
        var events: Int
    }

    struct BadRequest: Error {}
    struct DiskFull: Error {}

    /// Submits `appends` in order (each queued before the next) without draining, and returns
    /// the tasks waiting on them.
    static func submitAll(_ appends: [Append], to committer: GroupCommitter<Append>) async -> [Task<Result<AppendResult, StoreError>, Never>] {
        var tasks: [Task<Result<AppendResult, StoreError>, Never>] = []
        for append in appends {
            let queued = AsyncStream<Void>.makeStream()
            tasks.append(Task {
                do {
                    return .success(try await committer.submit(append) { queued.continuation.yield(); queued.continuation.finish() })
                } catch let error as StoreError {
                    return .failure(error)
                } catch {
                    return .failure(StoreError(.unavailable, "\(error)"))
                }
            })
            for await _ in queued.stream {}
        }
        return tasks
    }

    @Test func groupsAreBoundedByEventsAndResumedInOrder() async throws {
        let committer = GroupCommitter<Append>(logger: Logger(label: "test")) { $0.events }
        let tasks = await Self.submitAll([
            Append(name: "a", events: 3), Append(name: "b", events: 4), Append(name: "c", events: 5), Append(name: "d", events: 20),
        ], to: committer)
        var groups: [[String]] = []
        var commits = 0
        committer.drain(
            maxEvents: 8,
            together: { batch in
                groups.append(batch.map(\.name))
                return batch.map { .success(AppendResult(accepted: $0.events, duplicates: 0)) }
            },
            alone: { _ in Issue.record("nothing failed, so nothing is retried alone"); return [] },
            retryAlone: { _ in true },
            failure: { StoreError(.unavailable, "\($0)") },
            committed: { commits += 1 }
        )
        // 3 + 4 fit in 8; 5 starts the next group; 20 is over the bound but goes alone.
        #expect(groups == [["a", "b"], ["c"], ["d"]])
        #expect(commits == 3)
        var accepted: [Int] = []
        for task in tasks { accepted.append(try await task.value.get().accepted) }
        #expect(accepted == [3, 4, 5, 20])
    }

    @Test func aRequestWhoseDataFailsTheGroupFailsAlone() async throws {
        let committer = GroupCommitter<Append>(logger: Logger(label: "test")) { $0.events }
        let tasks = await Self.submitAll([Append(name: "good", events: 1), Append(name: "bad", events: 1), Append(name: "also good", events: 1)], to: committer)
        var aloneCalls = 0
        await committer.drain(
            maxEvents: 100,
            together: { batch async throws in
                if batch.contains(where: { $0.name == "bad" }) { throw BadRequest() }
                return batch.map { _ in .success(AppendResult(accepted: 1, duplicates: 0)) }
            },
            alone: { batch async throws in
                aloneCalls += 1
                return batch.map { $0.name == "bad" ? .failure(StoreError(.invalidRequest, "bad data")) : .success(AppendResult(accepted: 1, duplicates: 0)) }
            },
            retryAlone: { $0 is BadRequest },
            failure: { _ in StoreError(.unavailable, "not expected") }
        )
        #expect(aloneCalls == 1)
        let results = await [tasks[0].value, tasks[1].value, tasks[2].value]
        #expect((try? results[0].get().accepted) == 1)
        #expect((try? results[2].get().accepted) == 1)
        guard case .failure(let error) = results[1] else { Issue.record("the bad request was acknowledged"); return }
        #expect(error.code == .invalidRequest)
    }

    @Test func aFailureOfTheTransactionFailsTheWholeGroupWithoutRetrying() async throws {
        let committer = GroupCommitter<Append>(logger: Logger(label: "test")) { $0.events }
        let tasks = await Self.submitAll([Append(name: "one", events: 1), Append(name: "two", events: 1)], to: committer)
        committer.drain(
            maxEvents: 100,
            together: { _ in throw DiskFull() },
            alone: { _ in Issue.record("a full disk fails every retry too"); return [] },
            retryAlone: { !($0 is DiskFull) },
            failure: { _ in StoreError(.unavailable, "the disk is full") },
            committed: { Issue.record("nothing committed") }
        )
        for task in tasks {
            guard case .failure(let error) = await task.value else { Issue.record("acknowledged without a commit"); continue }
            #expect(error.code == .unavailable)
            #expect(error.message.contains("disk is full"))
        }
    }

    @Test func stoppingFailsWhatStillWaits() async throws {
        let committer = GroupCommitter<Append>(logger: Logger(label: "test")) { $0.events }
        let tasks = await Self.submitAll([Append(name: "late", events: 2)], to: committer)
        committer.failAll(StoreError(.unavailable, "the store stopped"))
        guard case .failure(let error) = await tasks[0].value else { Issue.record("acknowledged without a commit"); return }
        #expect(error.message == "the store stopped")
        // Nothing is left to commit.
        committer.drain(maxEvents: 10, together: { _ in Issue.record("drained a failed request"); return [] }, alone: { _ in [] }, retryAlone: { _ in false }, failure: { StoreError(.unavailable, "\($0)") })
    }
}
