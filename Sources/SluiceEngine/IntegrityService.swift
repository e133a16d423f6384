import Logging
import ServiceLifecycle
import SluiceCore
import SluiceIntegrity

/// Writes an integrity checkpoint every `interval`, and a last one at shutdown (the service
/// group stops it after everything that writes events, so the last checkpoint covers them all).
/// With `leases`, one instance at a time writes checkpoints (lease `integrity`), each commit
/// fenced by its lease; the chain's compare-and-set keeps a failover from skipping or repeating
/// a range. Between checkpoints the store keeps the digests of what this instance commits
/// (``CommitDigests``); a checkpoint comes sooner than `interval` once ``CommitDigests/checkpointAt`` events wait.
public final class IntegrityService: Service {
    let checkpointer: IntegrityCheckpointer
    let interval: Duration
    let leases: LeaseSettings?
    let logger: Logger
    let now: @Sendable () -> Timestamp

    static let leaseName = "integrity"

    public init(checkpointer: IntegrityCheckpointer, interval: Duration, leases: LeaseSettings?, logger: Logger, now: @escaping @Sendable () -> Timestamp) {
        self.checkpointer = checkpointer
        self.interval = interval
        self.leases = leases
        self.logger = logger
        self.now = now
    }

    public func run() async throws {
        // Digests taken as events commit spare the checkpoint reading them back.
        let digests = checkpointer.store.keepCommitDigests()
        await cancelWhenGracefulShutdown {
            await LeasedWork.run(Self.leaseName, settings: self.leases, logger: self.logger) { fence in
                while !Task.isCancelled {
                    do { try await self.waitForNextCheckpoint(digests) } catch { return }
                    await self.checkpoint(fence: fence)
                }
            }
        }
        // Stopping: cover what was committed since the last checkpoint.
        guard let leases else { return await checkpoint(fence: nil) }
        _ = await LeasedWork(name: Self.leaseName, settings: leases, logger: logger).once(release: true) { fence in
            await self.checkpoint(fence: fence)
        }
    }

    /// Sleeps `interval`, or less when the commit digests fill up: a busy store is then covered
    /// in more, smaller checkpoints rather than read back.
    func waitForNextCheckpoint(_ digests: CommitDigests?) async throws {
        guard let digests else { return try await Task.sleep(for: interval) }
        let start = ContinuousClock.now
        while start.duration(to: .now) < interval {
            try await Task.sleep(for: min(Self.fillCheck, interval - start.duration(to: .now)))
            if digests.isFilling { return }
        }
    }

    /// How often a waiting service looks whether the commit digests are filling up.
    static let fillCheck: Duration = .seconds(1)

    /// Writes one checkpoint now; a failure is logged and the next interval tries again (the
    /// events stay uncovered until then, never lost).
    func checkpoint(fence: Lease?) async {
        do {
            if let written = try await checkpointer.checkpoint(at: now(), fence: fence) {
                logger.debug("integrity checkpoint written", metadata: ["integrity.seqs": "\(written.seqs)", "integrity.root": "\(written.root.hexString)"])
            }
        } catch {
            logger.warning("could not write an integrity checkpoint; the next one covers these events", metadata: ["error": "\(error)"])
        }
    }
}
