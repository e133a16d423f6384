import Foundation

/// Settings for ``PostgresEventStore``, read from `storage.postgres`.
public struct PostgresStoreConfiguration: Sendable, Hashable {
    /// How the connection is encrypted: the `sslmode` of the URL.
    public enum TLSMode: String, Sendable, Hashable {
        /// `sslmode=disable`: plain TCP (a loopback or private network only).
        case disable
        /// `sslmode=prefer` (the default): TLS when the server offers it.
        case prefer
        /// `sslmode=require`: refuse to connect without TLS.
        case require
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// The schema every table lives in; several deployments (or tests) can share one database.
    public var schema: String
    /// Connections per instance. One is the group-commit writer; the rest serve reads and the
    /// delivery, collector and workflow loops.
    public var poolSize: Int
    /// At most this many events are committed in one group-commit transaction.
    public var maxEventsPerCommit: Int
    /// How long one store call may wait for the server (a connection, then its answer) before it
    /// fails as unavailable: pushes then get their 503 and `/readyz` fails.
    public var timeout: Duration
    /// How long a lease (on a collector, destination or workflow) lasts unless renewed: how soon
    /// another instance takes the work over after its holder died. Renewed every third of it.
    public var leaseDuration: Duration = .seconds(15)

    public init(
        host: String, port: Int = 5432, username: String, password: String? = nil, database: String,
        tls: TLSMode = .prefer, schema: String = "public", poolSize: Int = 10, maxEventsPerCommit: Int = 10_000,
        timeout: Duration = .seconds(10)
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.schema = schema
        self.poolSize = poolSize
        self.maxEventsPerCommit = maxEventsPerCommit
        self.timeout = timeout
    }

    /// Parses `postgres://user:password@host:port/database?sslmode=disable|prefer|require`.
    /// Errors never repeat the URL, which may hold the password.
    public init(url: String, schema: String = "public", poolSize: Int = 10) throws(PostgresConfigurationError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme, ["postgres", "postgresql"].contains(scheme) else {
            throw PostgresConfigurationError("expected a URL of the form postgres://USER:PASSWORD@HOST:PORT/DATABASE")
        }
        guard let host = components.host, !host.isEmpty else {
            throw PostgresConfigurationError("the URL names no host")
        }
        guard let user = components.user, !user.isEmpty else {
            throw PostgresConfigurationError("the URL names no user (postgres://USER@HOST/DATABASE)")
        }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw PostgresConfigurationError("the URL names no database (postgres://USER@HOST/DATABASE)")
        }
        var tls = TLSMode.prefer
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, let mode = TLSMode(rawValue: value) else {
                    throw PostgresConfigurationError("sslmode must be disable, prefer or require")
                }
                tls = mode
            default:
                throw PostgresConfigurationError("unknown URL parameter \"\(item.name)\" (only sslmode is read)")
            }
        }
        guard Self.isValidSchema(schema) else {
            throw PostgresConfigurationError("schema must be a lowercase SQL identifier (letters, digits, _), got \"\(schema)\"")
        }
        guard (2...200).contains(poolSize) else {
            throw PostgresConfigurationError("pool_size must be between 2 and 200, got \(poolSize)")
        }
        self.init(
            host: host, port: components.port ?? 5432, username: user.removingPercentEncoding ?? user,
            password: components.password.map { $0.removingPercentEncoding ?? $0 }, database: database.removingPercentEncoding ?? database,
            tls: tls, schema: schema, poolSize: poolSize
        )
    }

    /// Lowercase letters, digits and underscores, not starting with a digit: safe to splice into SQL.
    public static func isValidSchema(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first), name.utf8.count <= 63 else { return false }
        return name.utf8.allSatisfy { ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: "_") }
    }
}

/// Why `storage.postgres` cannot be used as written.
public struct PostgresConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
