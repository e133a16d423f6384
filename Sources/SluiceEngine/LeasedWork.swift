import Logging
import ServiceLifecycle
import SluiceCore

/// How this instance shares work with others on the same store.
public struct LeaseSettings: Sendable {
    public var store: any LeaseStore
    /// This instance's holder name (``InstanceIdentity``).
    public var holder: String
    public var duration: Duration

    public init(store: any LeaseStore, holder: String, duration: Duration) {
        self.store = store
        self.holder = holder
        self.duration = duration
    }

    /// Renewals come every third of the lease, so two can fail before it lapses.
    var renewEvery: Duration { duration / 3 }
}

/// Runs a piece of work (a destination's delivery loop, a workflow, a collector's schedule) only
/// while this instance holds its lease: waits while another instance holds it, renews it while
/// working, stops the work the moment a renewal fails or finds the lease taken over, and starts
/// again from the store once it holds it anew. The work is handed the lease it runs under and
/// passes it with each commit (its fence), so the store refuses those commits once the lease has
/// changed hands.
struct LeasedWork: Sendable {
    let name: String
    let settings: LeaseSettings
    let logger: Logger

    /// Runs `work` under the lease `name` when `settings` are given (several instances), else
    /// directly with no lease (one instance owns the store).
    static func run(_ name: String, settings: LeaseSettings?, logger: Logger, _ work: @escaping @Sendable (Lease?) async -> Void) async {
        guard let settings else { return await work(nil) }
        await LeasedWork(name: name, settings: settings, logger: logger).run(work)
    }

    /// Runs every piece of `work` side by side, each under its own lease (``run(_:settings:logger:_:)``),
    /// until cancelled or a graceful shutdown: the delivery loops of the destinations, the workflows.
    static func runEach(
        _ work: [(name: String, logger: Logger, run: @Sendable (Lease?) async -> Void)], settings: LeaseSettings?
    ) async {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for piece in work {
                    group.addTask { await run(piece.name, settings: settings, logger: piece.logger, piece.run) }
                }
            }
        }
    }

    /// Until cancelled: hold the lease and run `work` (again, whenever it returns).
    func run(_ work: @escaping @Sendable (Lease?) async -> Void) async {
        var waiting = false
        while !Task.isCancelled {
            let lease: Lease?
            do {
                lease = try await settings.store.acquireLease(name, holder: settings.holder, for: settings.duration)
            } catch {
                logger.warning("could not take a lease; trying again", metadata: ["lease.name": "\(name)", "error": "\(error)"])
                lease = nil
            }
            guard let lease else {
                if !waiting {
                    waiting = true
                    logger.info("another instance holds this work; standing by", metadata: ["lease.name": "\(name)"])
                }
                do { try await Task.sleep(for: settings.renewEvery) } catch { return }
                continue
            }
            waiting = false
            logger.info("holding lease", metadata: ["lease.name": "\(name)", "lease.token": "\(lease.token)"])
            let lost = await hold(lease, work)
            if lost {
                logger.warning("lease lost; work stopped until it is held again", metadata: ["lease.name": "\(name)", "lease.token": "\(lease.token)"])
            } else if Task.isCancelled {
                // Stopping: let another instance take over now rather than after the lease lapses.
                try? await settings.store.releaseLease(lease)
            }
        }
    }

    /// Runs `work` under `lease` while renewing it; returns true when the lease was lost.
    private func hold(_ lease: Lease, _ work: @escaping @Sendable (Lease?) async -> Void) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await work(lease)
                return false
            }
            group.addTask {
                while true {
                    do { try await Task.sleep(for: settings.renewEvery) } catch { return false }
                    let renewed = try? await settings.store.acquireLease(name, holder: settings.holder, for: settings.duration)
                    if renewed?.token != lease.token { return true }
                }
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    /// Runs `work` once under the lease when this instance holds it or can take it now; false
    /// (and nothing run) when another instance holds it. The lease is kept afterwards (this
    /// instance's own ``run(_:)`` may be working under it), to lapse if nothing renews it, unless
    /// `release` says this process has no other use for it.
    func once(release: Bool = false, _ work: @escaping @Sendable (Lease?) async -> Void) async -> Bool {
        guard let lease = try? await settings.store.acquireLease(name, holder: settings.holder, for: settings.duration) else { return false }
        let lost = await hold(lease, work)
        if release && !lost { try? await settings.store.releaseLease(lease) }
        return true
    }
}
