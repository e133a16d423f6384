import Foundation

/// A storage emulator from PyPI (moto's S3 server), installed by `scripts/test` into
/// `.build/test-venv`, started on a free loopback port for one test and stopped after it.
public final class EmulatorProcess: Sendable {
    public let port: Int
    let process: ChildProcess

    /// The virtual environment `scripts/test` creates, beside the package's build directory.
    public static var virtualEnvironment: String {
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return ProcessInfo.processInfo.environment["SLUICE_TEST_VENV"] ?? packageRoot.appendingPathComponent(".build/test-venv").path
    }

    /// Starts `executable` (a script of the test venv) with `arguments`, where `{port}` becomes the
    /// chosen port, and waits until the port accepts connections.
    public init(executable: String, arguments: [String]) async throws {
        let path = Self.virtualEnvironment + "/bin/" + executable
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw EmulatorError("\(path) is missing; run scripts/test once (it installs the emulators into .build/test-venv)")
        }
        let port = try Self.freePort()
        self.port = port
        process = try await ChildProcess.start(path, arguments: arguments.map { $0.replacingOccurrences(of: "{port}", with: String(port)) })
        let deadline = ContinuousClock.now + .seconds(60)
        while !Self.accepts(port: port) {
            guard process.isRunning, ContinuousClock.now < deadline else {
                stop()
                throw EmulatorError("\(executable) did not start listening on 127.0.0.1:\(port)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Kills the emulator (moto's development server ignores SIGTERM); it keeps nothing worth a clean stop.
    public func stop() {
        process.kill()
    }

    deinit { stop() }

    /// A loopback port nothing listens on (bound, read, released).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw EmulatorError("cannot open a socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw EmulatorError("cannot bind a loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

public struct EmulatorError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
