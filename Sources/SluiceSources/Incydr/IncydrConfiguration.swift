import SluiceCore
import SluiceHTTP

/// A Code42 Incydr collector as configured (`collectors.<name>` with `type: code42_incydr`).
public struct IncydrConfiguration: Sendable {
    public enum Stream: String, Sendable, Hashable, CaseIterable {
        case users
        case audit
        case cases
        case fileEvents = "file_events"
    }

    /// The collector's name: the events' source and the prefix of its checkpoints.
    public var name: String
    /// `https://api.us.code42.com` or any other region (no trailing slash needed).
    public var baseURL: String
    public var clientID: String
    public var clientSecret: String
    public var streams: [Stream]
    /// How far back the first run of a stream reads.
    public var lookback: Duration = .seconds(3_600)
    /// How far before its checkpoint each incremental run re-reads, for events the provider
    /// makes searchable late; duplicates are dropped by event id or content hash.
    public var overlap: Duration = .seconds(600)
    public var fileEventsPageSize = 1_000
    public var auditPageSize = 1_000
    public var usersPageSize = 500
    public var casesPageSize = 500
    /// Extra Incydr filter groups ANDed to the time window of file-event queries.
    public var fileEventsFilterGroups: [JSONValue] = []
    /// Requests per minute for this tenant, shared by all streams (Code42 documents 120).
    public var requestsPerMinute = 120
    /// An upper bound on pages per stream per run, so one run always ends.
    public var maxPagesPerRun = 10_000
    public var retry = RetryPolicy()
    public var requestTimeout: Duration = .seconds(60)
    /// Whether `baseURL` may be a loopback or private address (or plain http); refused by
    /// default, like destinations and workflows, with the SSRF guard's reason.
    public var allowPrivateNetworks = false

    public init(name: String, baseURL: String, clientID: String, clientSecret: String, streams: [Stream]) {
        self.name = name
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.streams = streams
    }

    /// The store key of a stream's checkpoint.
    public func checkpointKey(_ stream: Stream) -> String { "\(name)/\(stream.rawValue)" }

    public static let logType = "CODE42_INCYDR"
}

extension IncydrConfiguration: PullCollectorTuning {}
