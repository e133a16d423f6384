import SluiceCore
import SluiceHTTP

/// A declarative pull collector (`collectors.<name>` with `type: http_pull`): any JSON API that
/// lists records by time, described by how to authenticate, what to request, how to page, where
/// the records are and what to checkpoint. See docs/collectors.md, "Write your own".
public struct HTTPPullConfiguration: Sendable {
    /// How each request proves who it is.
    public enum Auth: Sendable {
        case none
        /// `Authorization: Bearer <token>` (`scheme` replaces `Bearer`, e.g. Okta's `SSWS`).
        case token(scheme: String, token: String)
        case basic(user: String, password: String)
        /// A key in a header or a query parameter.
        case apiKey(header: String?, query: String?, value: String)
        /// OAuth 2.0 client credentials (RFC 6749 §4.4), with a secret or a private key
        /// (`private_key_jwt`); the token is kept until it expires and fetched again on a 401.
        case clientCredentials(ClientCredentialsGrant)
        /// A Google service account's JWT grant (with `sub` under domain-wide delegation); the
        /// token is kept until it expires and fetched again on a 401.
        case googleServiceAccount(GoogleJWTGrant)
        /// Each request signed with Duo's HMAC (``DuoRequestSigner``).
        case duoSignature(DuoRequestSigner)
    }

    /// How a time is written in a request (`{{window.since}}`).
    public enum TimeFormat: String, Sendable, Hashable, CaseIterable {
        case rfc3339
        /// Whole seconds since 1970.
        case unix
        /// Milliseconds since 1970.
        case unixMilliseconds = "unix_ms"

        public func text(_ time: Timestamp) -> String {
            switch self {
            case .rfc3339: time.rfc3339Seconds
            case .unix: String(time.microseconds / 1_000_000)
            case .unixMilliseconds: String(time.microseconds / 1_000)
            }
        }
    }

    /// How the next page is asked for.
    public enum Pagination: Sendable, Hashable {
        /// One request per run.
        case none
        /// The answer's body holds the next page's token (or cursor object) at `path`; it goes
        /// into `{{page.token}}` and, when given, the query parameter `parameter`. A missing,
        /// null or empty token ends the run; an array (Duo's `next_offset`) is joined with commas.
        case nextToken(path: FieldPath, parameter: String?)
        /// RFC 8288 `Link: <url>; rel="next"`, followed as it is (it must stay on `base_url`'s host).
        case link
        /// `parameter` = 1, 2, 3, ... (from `start`) until a page has fewer records than asked.
        case pageNumber(parameter: String, start: Int)
        /// `parameter` = records read so far, until a page has fewer records than asked.
        case offset(parameter: String)
        /// `parameter` = the last record's time (in the stream's `time_format`), until a page has
        /// fewer records than asked: for APIs that return the oldest N records from a time on and
        /// page no other way (Duo's administrator log). The records at that time come again and
        /// are dropped as duplicates; a full page all at one time stops with `pagination loops`.
        case recordTime(parameter: String)
    }

    /// What a stream's checkpoint keeps between runs.
    public enum CheckpointMode: String, Sendable, Hashable {
        /// The end of the last window read: each run reads from there (less `overlap`) to now.
        case window
        /// The API's own cursor for what comes next (the last page's next link or token), read
        /// from where it left off; the first run starts `lookback` ago.
        case cursor
    }

    /// One listing of the API, with its own checkpoint (`<collector>/<stream>`).
    public struct Stream: Sendable {
        public var name: String
        public var method = "GET"
        /// Appended to `base_url`; its placeholders are percent-encoded.
        public var path: RequestTemplate
        public var query: [(name: String, value: RequestTemplate)] = []
        /// A JSON body (placeholders are JSON-escaped); sent as `application/json`.
        public var body: RequestTemplate?
        /// Where the list of records is in the answer; nil when the answer is the list.
        public var records: FieldPath?
        /// The record's own id (its dedupe key); nil: the SHA-256 of its canonical JSON.
        public var id: FieldPath?
        /// The record's time (RFC 3339, or seconds or milliseconds since 1970).
        public var time: FieldPath
        public var timeFormat = TimeFormat.rfc3339
        public var pagination = Pagination.none
        public var checkpoint = CheckpointMode.window
        public var pageSize = 100
        /// The events' log type (default: the collector's).
        public var logType: String?

        public init(name: String, path: RequestTemplate, time: FieldPath) {
            self.name = name
            self.path = path
            self.time = time
        }
    }

    public var name: String
    /// `http_pull`, or the preset's type (`okta_system_log`, ...), as the collectors API shows it.
    public var type = "http_pull"
    public var baseURL: String
    public var auth = Auth.none
    /// Sent with every request (besides `Accept: application/json` and the auth).
    public var headers: [(String, String)] = []
    public var streams: [Stream]
    public var logType = "HTTP_PULL"
    /// Where actor, action, targets and context are in a record (the push feeds' `fields:`).
    public var normalizer = EventNormalizer(schema: .generic)
    /// How far back the first run of a stream reads.
    public var lookback: Duration = .seconds(3_600)
    /// How far before its checkpoint each window run re-reads, for late records; the records read
    /// twice are dropped as duplicates.
    public var overlap: Duration = .seconds(300)
    public var requestsPerMinute = 600
    public var maxPagesPerRun = 10_000
    public var retry = RetryPolicy()
    public var requestTimeout: Duration = .seconds(60)
    public var allowPrivateNetworks = false

    public init(name: String, baseURL: String, streams: [Stream]) {
        self.name = name
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.streams = streams
    }

    public func checkpointKey(_ stream: String) -> String { "\(name)/\(stream)" }
}

extension Timestamp {
    /// `2026-11-01T08:00:00Z`: whole seconds, the form most APIs take in a query.
    public var rfc3339Seconds: String {
        let full = rfc3339
        return String(full.prefix(19)) + "Z"
    }
}

extension HTTPPullConfiguration: PullCollectorTuning {}
