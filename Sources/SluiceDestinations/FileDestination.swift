import Foundation
import SluiceCore

/// NDJSON files in a directory, a new file when the current one reaches `maxBytes` or `maxAge`.
/// A batch counts as delivered once written and flushed to disk (fsync). After a restart
/// writing starts in a new file, so a line cut short by a crash is never continued.
public actor FileDestination: Destination {
    public struct Configuration: Sendable {
        public var name: String
        public var directory: String
        public var maxBytes: Int
        public var maxAge: Duration
        public var limits: BatchLimits

        public init(name: String, directory: String, maxBytes: Int = 100 << 20, maxAge: Duration = .seconds(3600), limits: BatchLimits = BatchLimits(maxEvents: 10_000, maxBytes: 8 << 20)) {
            self.name = name
            self.directory = directory
            self.maxBytes = maxBytes
            self.maxAge = maxAge
            self.limits = limits
        }
    }

    let configuration: Configuration
    let now: @Sendable () -> Timestamp
    private var current: (handle: FileHandle, path: String, bytes: Int, opened: ContinuousClock.Instant)?

    public init(configuration: Configuration, now: @escaping @Sendable () -> Timestamp) {
        var configuration = configuration
        // A batch never makes a file outgrow its limit by more than one event.
        configuration.limits.maxBytes = min(configuration.limits.maxBytes, configuration.maxBytes)
        self.configuration = configuration
        self.now = now
    }

    public nonisolated var name: String { configuration.name }
    public nonisolated var type: String { "file" }
    public nonisolated var limits: BatchLimits { configuration.limits }
    public nonisolated func encodedSize(of event: OutboundEvent) -> Int { event.raw.count + 1 }

    public func send(_ batch: [OutboundEvent]) async -> DeliveryOutcome {
        guard let first = batch.first else { return .delivered }
        let body = NDJSON.encode(batch)
        do {
            if let open = current, open.bytes > 0, open.bytes + body.count > configuration.maxBytes || ContinuousClock.now - open.opened >= configuration.maxAge {
                try open.handle.close()
                current = nil
            }
            if current == nil {
                try FileManager.default.createDirectory(atPath: configuration.directory, withIntermediateDirectories: true)
                let stamp = now().rfc3339.replacingOccurrences(of: ":", with: "").replacingOccurrences(of: "-", with: "")
                let path = "\(configuration.directory)/\(ObjectLayout.safe(configuration.name))-\(stamp)-\(first.seq).ndjson"
                guard FileManager.default.createFile(atPath: path, contents: nil) else {
                    return .retry(after: nil, reason: "cannot create \(path); check that the directory is writable and the disk has space")
                }
                guard let handle = FileHandle(forWritingAtPath: path) else {
                    return .retry(after: nil, reason: "cannot open \(path) for writing")
                }
                current = (handle, path, 0, ContinuousClock.now)
            }
            guard var open = current else { return .retry(after: nil, reason: "no open file") }
            try open.handle.write(contentsOf: body)
            try open.handle.synchronize()
            open.bytes += body.count
            current = open
            return .delivered
        } catch {
            if let open = current { try? open.handle.close() }
            current = nil
            return .retry(after: nil, reason: "writing to \(configuration.directory) failed: \(error.localizedDescription)")
        }
    }
}
