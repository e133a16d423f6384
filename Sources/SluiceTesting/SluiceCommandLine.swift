import Foundation

/// Runs the built `sluice` executable as an operator would, for tests of the CLI.
public struct SluiceCommandLine: Sendable {
    /// The `sluice` executable beside the test bundle (built by `swift build --build-tests`).
    public static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("sluice").path
    }

    public let trailingArguments: [String]
    public let environment: [String: String]
    let outputDirectory: String

    /// `trailingArguments` (such as `--config` and `--data-dir`) follow every command's own.
    public init(trailingArguments: [String], environment: [String: String], outputDirectory: String) {
        self.trailingArguments = trailingArguments
        self.environment = environment
        self.outputDirectory = outputDirectory
    }

    /// Runs `sluice <arguments>`; returns its exit status and standard output.
    public func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let process = Process()
        let outputPath = outputDirectory + "/stdout-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments + trailingArguments
        process.environment = environment.merging(["PATH": "/usr/bin:/bin"]) { first, _ in first }
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try ProcessLaunch.start(process)
        // Polls rather than blocking a thread of the cooperative pool, which in-process servers share.
        while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        try output.close()
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        return (process.terminationStatus, try String(contentsOfFile: outputPath, encoding: .utf8))
    }
}

/// Starts child processes one at a time. Foundation's `Process.run()` on Linux crashed in a
/// `memcpy` when two tests launched processes at the same moment (a CI run of 2026-12-06);
/// launching under one lock leaves the children themselves running side by side.
public enum ProcessLaunch {
    private static let lock = NSLock()

    public static func start(_ process: Process) throws {
        lock.lock()
        defer { lock.unlock() }
        try process.run()
    }
}
