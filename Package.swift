// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Sluice",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sluice", targets: ["sluice"]),
        .library(name: "SluiceCore", targets: ["SluiceCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
    ],
    targets: [
        // Pure values (event model, audit schema, JSON, filters, errors) and the ports the
        // libraries meet at (a store is a Service, hence ServiceLifecycle). No I/O.
        .target(
            name: "SluiceCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Debian's zlib and zstd, through their -dev packages (scripts/test installs them).
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // gzip (strict multi-member reading, writing) and zstd with trained dictionaries.
        .target(
            name: "SluiceCompression",
            dependencies: ["CZlib", "CZstd"],
            swiftSettings: swiftSettings
        ),
        // What both stores share: the group committer, dedupe keys, filter terms, stored
        // encodings, the wording of failures, metrics. No database driver.
        .target(
            name: "SluiceStoreKit",
            dependencies: [
                "SluiceCore",
                "SluiceCompression",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // The default store: one SQLite file (GRDB, WAL, group commit, posting-block filter index).
        .target(
            name: "SluiceStoreSQLite",
            dependencies: [
                "SluiceCore",
                "SluiceStoreKit",
                "SluiceCompression",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // The store for several instances: one PostgreSQL database (postgres-nio, seq in commit order, leases).
        .target(
            name: "SluiceStorePostgres",
            dependencies: [
                "SluiceCore",
                "SluiceStoreKit",
                "SluiceCompression",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // Outbound HTTP shared by collectors and destinations: one client, OAuth2 client
        // credentials and Google service-account tokens with a shared token cache, retry decisions, per-tenant request budgets.
        .target(
            name: "SluiceHTTP",
            dependencies: [
                "SluiceCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Push decoding, webhook verifiers, per-log-type normalizers, and the pull collectors.
        .target(
            name: "SluiceSources",
            dependencies: [
                "SluiceCore",
                "SluiceHTTP",
                .product(name: "Logging", package: "swift-log"),
                "SluiceCompression",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Destinations: encoding, batching limits, response classification, object layout.
        .target(
            name: "SluiceDestinations",
            dependencies: [
                "SluiceCore",
                "SluiceHTTP",
                "SluiceCompression",
            ],
            swiftSettings: swiftSettings
        ),
        // Alert-to-incident workflows: definitions, templates, the step runner and the CTIA client.
        .target(
            name: "SluiceWorkflows",
            dependencies: [
                "SluiceCore",
                "SluiceHTTP",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // Long-running services: retention purge, collector scheduler, delivery loops, workflows.
        .target(
            name: "SluiceEngine",
            dependencies: [
                "SluiceIntegrity",
                "SluiceCore",
                "SluiceSources",
                "SluiceHTTP",
                "SluiceDestinations",
                "SluiceWorkflows",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The Hummingbird application: push routes, admin API, health, metrics, the web UI.
        .target(
            name: "SluiceServer",
            dependencies: [
                "SluiceIntegrity",
                "SluiceCore",
                "SluiceSources",
                "SluiceDestinations",
                "SluiceWorkflows",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Composition root: YAML config, secret references, first-start bootstrap, ServiceGroup.
        .target(
            name: "SluiceApp",
            dependencies: [
                "SluiceIntegrity",
                "SluiceCore",
                "SluiceHTTP",
                "SluiceDestinations",
                "SluiceStoreSQLite",
                "SluiceStorePostgres",
                "SluiceSources",
                "SluiceEngine",
                "SluiceServer",
                "SluiceWorkflows",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "sluice",
            dependencies: [
                "SluiceIntegrity",
                "SluiceApp",
                "SluiceCore",
                "SluiceEngine",
                "SluiceSources",
                "SluiceWorkflows",
                "SluiceHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Tamper evidence: RFC 6962 Merkle trees, signed and chained checkpoints, their Ed25519 key.
        .target(
            name: "SluiceIntegrity",
            dependencies: ["SluiceCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SluiceTesting",
            dependencies: [
                "SluiceCore",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                "SluiceStoreSQLite",
                "SluiceStorePostgres",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        // One test target per library for what needs only that library; SluiceTests below is the
        // integration target (real sockets, stores, the whole application).
        .testTarget(
            name: "SluiceCoreTests", dependencies: ["SluiceCore", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: swiftSettings
        ),
        .testTarget(name: "SluiceCompressionTests", dependencies: ["SluiceCompression"], swiftSettings: swiftSettings),
        .testTarget(
            name: "SluiceIntegrityTests", dependencies: ["SluiceCore", "SluiceIntegrity", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SluiceStoreKitTests",
            dependencies: [
                "SluiceCore", "SluiceStoreKit", .product(name: "Logging", package: "swift-log"), .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "SluiceHTTPTests", dependencies: ["SluiceHTTP"], swiftSettings: swiftSettings),
        .testTarget(name: "SluiceSourcesTests", dependencies: ["SluiceCore", "SluiceSources"], swiftSettings: swiftSettings),
        .testTarget(name: "SluiceWorkflowsTests", dependencies: ["SluiceCore", "SluiceHTTP", "SluiceWorkflows"], swiftSettings: swiftSettings),
        .testTarget(
            name: "SluiceTests",
            dependencies: [
                "SluiceIntegrity",
                "SluiceCore",
                "SluiceHTTP",
                "SluiceDestinations",
                "SluiceStoreKit",
                "SluiceStoreSQLite",
                "SluiceStorePostgres",
                "SluiceSources",
                "SluiceEngine",
                "SluiceServer",
                "SluiceApp",
                "SluiceTesting",
                "SluiceWorkflows",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                "SluiceCompression",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
    ]
)
