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
        let outputPath = outputDirectory + "/stdout-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let child = try await Self.start(arguments + trailingArguments, environment: environment, standardOutput: outputPath)
        let status = try await child.exitStatus()
        return (status, try String(contentsOfFile: outputPath, encoding: .utf8))
    }

    /// Starts `sluice <arguments>` and returns at once (for tests that kill it mid-run); its
    /// standard output goes to `standardOutput` or nowhere, its standard error nowhere.
    public static func start(_ arguments: [String], environment: [String: String], standardOutput: String? = nil) async throws -> ChildProcess {
        try await ChildProcess.start(
            binary, arguments: arguments, environment: environment.merging(["PATH": "/usr/bin:/bin"]) { first, _ in first },
            standardOutput: standardOutput
        )
    }
}
