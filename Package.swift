// swift-tools-version:6.1
import PackageDescription

/// One settings list for every target: imports stay internal unless a type really leaks.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "workflowd",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "workflowd", targets: ["workflowd"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.0.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // C libraries (Debian packages) seen through module maps.
        .systemLibrary(name: "CFastCGI", pkgConfig: "fcgi", providers: [.apt(["libfcgi-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // A plain pthread mutex around a value: the locks on the request path (see Locked.swift for why).
        .target(name: "Locking", swiftSettings: swiftSettings),

        // A request's method, target and header fields as the web server passed them: what the FastCGI
        // adapter hands the API (HTTPTypes' `HTTPRequest` cost a tenth of a get to build; RequestHead.swift).
        .target(
            name: "HTTPHead",
            dependencies: [.product(name: "HTTPTypes", package: "swift-http-types")],
            swiftSettings: swiftSettings
        ),

        // Generic edges: know nothing of workflows.
        .target(
            name: "FastCGI",
            dependencies: [
                "CFastCGI", "HTTPHead", "Locking",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "PostgresClient",
            dependencies: [
                "CLibPQ", "Locking", "TextCoding",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),

        // Webhook delivery over HTTP: libcurl POST with a destination policy, and Standard Webhooks signatures.
        .target(
            name: "WebhookClient",
            dependencies: ["CCurl", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),

        // UUID, hex and RFC 3339 text without Foundation's slow paths (used on every request and log line).
        .target(name: "TextCoding", swiftSettings: swiftSettings),

        // The domain: pure, no I/O.
        .target(
            name: "Workflows",
            dependencies: ["TextCoding", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),

        // The PostgreSQL repository and the migrations runner, with Migrations/*.sql built in.
        .target(
            name: "WorkflowStore",
            dependencies: [
                "Workflows", "Locking", "PostgresClient", "TextCoding",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings,
            plugins: ["EmbedMigrations"]
        ),
        // Migrations/ stays at the top level, the one copy of the SQL: a build-tool plugin turns it into a
        // Swift file of WorkflowStore (SwiftPM resources would have to live inside the target's directory).
        .plugin(name: "EmbedMigrations", capability: .buildTool(), dependencies: ["EmbedMigrationsTool"]),
        .executableTarget(name: "EmbedMigrationsTool", swiftSettings: swiftSettings),

        // HTTP: routes, handlers, JSON, auth, problem details, OpenAPI.
        .target(
            name: "WorkflowAPI",
            dependencies: [
                "HTTPHead", "Workflows", "Locking", "TextCoding",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            resources: [.embedInCode("Resources/openapi.json")],
            swiftSettings: swiftSettings
        ),

        // The executable: configuration and wiring, thinly.
        .executableTarget(
            name: "workflowd",
            dependencies: [
                "FastCGI", "Locking", "PostgresClient", "TextCoding", "Workflows", "WorkflowStore", "WorkflowAPI", "WebhookClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),

        .testTarget(name: "FastCGITests", dependencies: ["FastCGI", "HTTPHead"], swiftSettings: swiftSettings),
        .testTarget(name: "PostgresClientTests", dependencies: ["PostgresClient", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "WebhookClientTests", dependencies: ["WebhookClient", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "TextCodingTests", dependencies: ["TextCoding"], swiftSettings: swiftSettings),
        .testTarget(name: "WorkflowsTests", dependencies: ["Workflows", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "WorkflowStoreTests",
            dependencies: ["WorkflowStore", "TestSupport", .product(name: "InMemoryLogging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WorkflowAPITests",
            dependencies: [
                "WorkflowAPI", "HTTPHead", "Workflows", "TestSupport", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "InMemoryLogging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "workflowdTests",
            dependencies: [
                "workflowd", "PostgresClient", "FastCGI", "WorkflowAPI", "WorkflowStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "EndToEndTests", dependencies: ["TestSupport", "PostgresClient", "WebhookClient"], swiftSettings: swiftSettings),

        // Helpers shared by the tests that need real PostgreSQL, nginx and workflowd processes.
        .target(
            name: "TestSupport",
            dependencies: [
                "PostgresClient", "Workflows", "TextCoding", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
    ]
)
