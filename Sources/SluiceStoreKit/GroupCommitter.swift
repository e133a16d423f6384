import CoreMetrics
import Logging
import SluiceCore
import Synchronization

/// The group commit both stores use. Appends wait here; the store's single writer takes them
/// oldest first in groups bounded by their event count and commits each group as one
/// transaction. When that fails because of one request (its data, not the disk or the server),
/// the group is committed again request by request, so that the request at fault fails alone.
/// Every caller is resumed only after the transaction holding its events committed, or with
/// why it did not: acknowledged means durable.
///
/// The writer brings the two ways of committing (SQLite: a transaction, then savepoints inside
/// one; PostgreSQL: a transaction, then one per request) and when to retry; the rest is here,
/// with the commit-duration metric and the log line of a failed group.
package final class GroupCommitter<Request: Sendable>: Sendable {
    package typealias Results = [Result<AppendResult, StoreError>]

    private struct Waiting: Sendable {
        var request: Request
        var continuation: CheckedContinuation<AppendResult, any Error>
    }

    private let waiting = Mutex<[Waiting]>([])
    /// The writer while it waits for company: resumed by the submission that brings the queue to
    /// `target`, or by its deadline, whichever comes first (``gatherCompany(within:)``).
    private let gatherer = Mutex<(target: Int, continuation: CheckedContinuation<Void, Never>)?>(nil)
    /// Requests in play at the end of the last commit (its group and those that waited meanwhile),
    /// and how long that commit took (``gatherCompany(within:)``).
    private let lastGroup = Mutex<(inPlay: Int, took: Duration)>((0, .zero))
    private let eventCount: @Sendable (Request) -> Int
    private let logger: Logger

    package init(logger: Logger, eventCount: @escaping @Sendable (Request) -> Int) {
        self.logger = logger
        self.eventCount = eventCount
    }

    /// Queues `request` and waits for its commit; `wake` tells the writer there is work (called
    /// once the request is queued).
    package func submit(_ request: Request, wake: @Sendable () -> Void) async throws -> AppendResult {
        try await withCheckedThrowingContinuation { continuation in
            let queued = waiting.withLock { queue in
                queue.append(Waiting(request: request, continuation: continuation))
                return queue.count
            }
            stopGathering { queued >= $0 }
            wake()
        }
    }

    /// The oldest waiting requests holding at most `maxEvents` events together (at least one
    /// request, however large), removed from the queue; empty when nothing waits.
    private func takeGroup(maxEvents: Int) -> [Waiting] {
        waiting.withLock { queue in
            var taken = 0
            var count = 0
            while taken < queue.count, count == 0 || count + eventCount(queue[taken].request) <= maxEvents {
                count += eventCount(queue[taken].request)
                taken += 1
            }
            let group = Array(queue.prefix(taken))
            queue.removeFirst(taken)
            return group
        }
    }

    /// Commits everything waiting, group after group, for a writer that commits synchronously.
    /// `together` commits a group as one transaction; `alone` commits each request on its own
    /// when `retryAlone` accepts what `together` threw; `failure` names what went wrong (it is
    /// logged and given to every caller of the group); `committed` runs after each group that
    /// committed, once its duration is recorded.
    package func drain(
        maxEvents: Int,
        together: ([Request]) throws -> Results,
        alone: ([Request]) throws -> Results,
        retryAlone: (any Error) -> Bool,
        failure: (any Error) -> StoreError,
        committed: () -> Void = {}
    ) {
        while let group = nextGroup(maxEvents: maxEvents) {
            let requests = group.waiting.map(\.request)
            do {
                do {
                    settle(group, try together(requests), committed: committed)
                } catch where requests.count > 1 && retryAlone(error) {
                    settle(group, try alone(requests), committed: committed)
                }
            } catch {
                fail(group.waiting, with: failure(error))
            }
        }
    }

    /// The same for a writer that commits asynchronously. While busy it waits a little for
    /// company before each group (``gatherCompany(within:)``, at most `gather`), so that requests
    /// answered by the last commit and sent again join the next one instead of each costing one.
    package func drain(
        maxEvents: Int,
        gather: Duration = .zero,
        together: ([Request]) async throws -> Results,
        alone: ([Request]) async throws -> Results,
        retryAlone: (any Error) -> Bool,
        failure: (any Error) -> StoreError,
        committed: () -> Void = {}
    ) async {
        while await gatherCompany(within: gather), let group = nextGroup(maxEvents: maxEvents) {
            let requests = group.waiting.map(\.request)
            do {
                do {
                    settle(group, try await together(requests), committed: committed)
                } catch where requests.count > 1 && retryAlone(error) {
                    settle(group, try await alone(requests), committed: committed)
                }
            } catch {
                fail(group.waiting, with: failure(error))
            }
        }
    }

    /// Waits, when the last commit had company, until as many requests wait as were in play when it
    /// ended (its group, answered and likely to send again, and those that waited meanwhile), or
    /// half its duration has passed, at most `limit`; like PostgreSQL's `commit_delay`, but
    /// only when there is company to wait for. Without it, clients that each wait for their commit
    /// split into cohorts that take turns, each commit carrying only half of them. Always true (a
    /// condition of the drain loop).
    private func gatherCompany(within limit: Duration) async -> Bool {
        guard limit > .zero else { return true }
        let (inPlay, took) = lastGroup.withLock { $0 }
        guard inPlay > 1 else { return true }
        let wait = min(took / 2, limit)
        var deadline: Task<Void, Never>?
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            gatherer.withLock { $0 = (inPlay, continuation) }
            // Started only once the gatherer is set, so that it cannot fire too early to resume it.
            deadline = Task {
                try? await Task.sleep(for: wait)
                if !Task.isCancelled { self.stopGathering { _ in true } }
            }
            // Submissions made before the gatherer was set count too.
            let queued = waiting.withLock { $0.count }
            stopGathering { queued >= $0 }
        }
        // A deadline cancelled after it woke only cuts a later wait short.
        deadline?.cancel()
        return true
    }

    /// Resumes the gathering writer if `reached` says its target is met.
    private func stopGathering(when reached: (Int) -> Bool) {
        let continuation = gatherer.withLock { gatherer -> CheckedContinuation<Void, Never>? in
            guard let (target, continuation) = gatherer, reached(target) else { return nil }
            gatherer = nil
            return continuation
        }
        continuation?.resume()
    }

    /// A group taken off the queue, and when its commit started.
    private struct Group {
        var waiting: [Waiting]
        var started: ContinuousClock.Instant
    }

    private func nextGroup(maxEvents: Int) -> Group? {
        let waiting = takeGroup(maxEvents: maxEvents)
        return waiting.isEmpty ? nil : Group(waiting: waiting, started: .now)
    }

    private func settle(_ group: Group, _ results: Results, committed: () -> Void) {
        finish(group.waiting, with: results, started: group.started, committed: committed)
    }

    /// Fails every waiting request (the writer is stopping); none of them was committed.
    package func failAll(_ error: StoreError) {
        resume(waiting.withLock { queue in
            defer { queue.removeAll() }
            return queue
        }, failing: error)
    }

    private func finish(_ group: [Waiting], with results: Results, started: ContinuousClock.Instant, committed: () -> Void) {
        let took = ContinuousClock.now - started
        let waitedMeanwhile = waiting.withLock { $0.count }
        lastGroup.withLock { $0 = (group.count + waitedMeanwhile, took) }
        StoreMetrics.commitDuration.recordNanoseconds(took.nanosecondsApprox)
        committed()
        resume(group, with: results)
    }

    private func fail(_ group: [Waiting], with error: StoreError) {
        logger.error("event store commit failed", metadata: ["error": "\(error)"])
        resume(group, failing: error)
    }

    private func resume(_ group: [Waiting], with results: Results) {
        for (waiting, result) in zip(group, results) {
            waiting.continuation.resume(with: result.mapError { $0 as any Error })
        }
    }

    private func resume(_ group: [Waiting], failing error: StoreError) {
        for waiting in group { waiting.continuation.resume(throwing: error) }
    }
}
