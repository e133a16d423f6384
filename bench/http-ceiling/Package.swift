// swift-tools-version:6.1
import PackageDescription

// The HTTP stacks' own ceilings on this machine, for bench/http_ceiling.sh: what Hummingbird 2
// (Sluice's HTTP stack) and bare SwiftNIO answer for a 1 KB POST with no work behind it.
// A package of its own so that the project's build and CI never compile it.
let package = Package(
    name: "http-ceiling",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "http-ceiling",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
    ]
)
