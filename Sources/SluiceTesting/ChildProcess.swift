import Foundation
import Subprocess
import Synchronization
import SystemPackage

/// A child process of a test (the `sluice` binary, a PyPI emulator), started with
/// swift-subprocess. Foundation's `Process.run()` on Linux reads a whole `d_name` of each
/// `/proc/self/fd` entry and crashes now and then when one ends a page (swift-corelibs-foundation
/// PR #5472, unreleased in Swift 6.3.1); this suite, with its many open sockets, hit it in CI.
public final class ChildProcess: Sendable {
    public let pid: Int32
    private let finished: Task<TerminationStatus, any Error>
    private let done = Atomic<Bool>(false)

    /// Starts `executable` with `arguments`; `environment` replaces the inherited one when given,
    /// and standard output goes to the file at `standardOutput` (or nowhere). Returns once the
    /// child is running.
    public static func start(
        _ executable: String, arguments: [String], environment: [String: String]? = nil, standardOutput: String? = nil
    ) async throws -> ChildProcess {
        let (pids, continuation) = AsyncStream.makeStream(of: Int32.self)
        let output = try FileDescriptor.open(
            FilePath(standardOutput ?? "/dev/null"), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite]
        )
        // `KEY=VALUE` with its NUL, as swift-subprocess spells a raw environment entry.
        let env: Environment = environment.map { variables in .custom(variables.map { Array("\($0.key)=\($0.value)\0".utf8) }) } ?? .inherit
        let finished = Task { () throws -> TerminationStatus in
            defer { continuation.finish() }
            let result = try await Subprocess.run(
                .path(FilePath(executable)), arguments: Arguments(arguments), environment: env, input: .none,
                output: .fileDescriptor(output, closeAfterSpawningProcess: true), error: .discarded
            ) { execution in
                continuation.yield(execution.processIdentifier.value)
            }
            return result.terminationStatus
        }
        var iterator = pids.makeAsyncIterator()
        guard let pid = await iterator.next() else {
            _ = try await finished.value
            throw CocoaError(.executableLoad)
        }
        return ChildProcess(pid: pid, finished: finished)
    }

    private init(pid: Int32, finished: Task<TerminationStatus, any Error>) {
        self.pid = pid
        self.finished = finished
        Task { [self] in
            _ = try? await finished.value
            done.store(true, ordering: .releasing)
        }
    }

    public var isRunning: Bool { !done.load(ordering: .acquiring) }

    /// Sends SIGKILL (nothing when it has ended).
    public func kill() {
        if isRunning { _ = Foundation.kill(pid, SIGKILL) }
    }

    /// How it ended.
    public func wait() async throws -> TerminationStatus {
        try await finished.value
    }

    /// Whether it ended by a signal (as `kill -9` ends it).
    public func wasSignaled() async throws -> Bool {
        if case .signaled = try await wait() { return true }
        return false
    }

    /// Its exit status, or 128 + the signal that ended it (as a shell reports it).
    public func exitStatus() async throws -> Int32 {
        switch try await wait() {
        case .exited(let code): code
        case .signaled(let signal): 128 + signal
        }
    }
}
