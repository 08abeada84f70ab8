import Foundation

/// What `make test` (scripts/test.sh) hands the integration tests. Without it those tests are skipped,
/// and the skip reason says so: run them with `make test`.
public enum TestEnvironment {
    static let environment = ProcessInfo.processInfo.environment

    /// Absolute path of the repository.
    public static var root: String? { environment["WORKFLOWD_TEST_ROOT"] }
    /// The throwaway cluster's URL (`postgresql://postgres@127.0.0.1:PORT/workflowd`).
    public static var databaseURL: String? { environment["WORKFLOWD_TEST_DATABASE_URL"] }
    /// The debug `workflowd` binary.
    public static var binary: String? { environment["WORKFLOWD_TEST_BINARY"] }

    public static var hasDatabase: Bool { databaseURL != nil && root != nil }
    public static var hasStack: Bool { hasDatabase && binary != nil }

    public static let skipReason =
        "needs a real PostgreSQL, nginx and workflowd: run `make test` (sets WORKFLOWD_TEST_DATABASE_URL, WORKFLOWD_TEST_ROOT, WORKFLOWD_TEST_BINARY)"

    /// A fresh scratch directory under .run/test/ (swept by scripts/test.sh).
    public static func scratchDirectory(_ name: String) throws -> String {
        let path = "\(root!)/.run/test/\(name)-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
