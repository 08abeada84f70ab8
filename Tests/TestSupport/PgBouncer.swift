import Foundation

/// A PgBouncer in transaction mode in front of the test cluster, started by `scripts/pgbouncer.sh`
/// (which installs Debian's pgbouncer when it is missing).
public final class PgBouncerProcess: Sendable {
    public let directory: String
    public let port: Int

    /// `poolSize`: server connections PgBouncer opens per database and user, at most.
    public static func start(name: String, poolSize: Int) throws -> PgBouncerProcess {
        let directory = try TestEnvironment.scratchDirectory(name) + "/pgbouncer"
        let port = try Shell.freePort()
        guard let postgresPort = URLComponents(string: TestEnvironment.databaseURL!)?.port else {
            throw ShellError(description: "no port in \(TestEnvironment.databaseURL!)")
        }
        try Shell.run(["\(TestEnvironment.root!)/scripts/pgbouncer.sh", "start", directory, String(port), String(postgresPort), String(poolSize)])
        return PgBouncerProcess(directory: directory, port: port)
    }

    init(directory: String, port: Int) {
        self.directory = directory
        self.port = port
    }

    /// The URL of `database` through PgBouncer.
    public func url(_ database: TestDatabase) -> String { "postgresql://postgres@127.0.0.1:\(port)/\(database.name)" }

    public var log: String { (try? String(contentsOfFile: "\(directory)/pgbouncer.log", encoding: .utf8)) ?? "" }

    public func stop() { _ = try? Shell.run(["\(TestEnvironment.root!)/scripts/pgbouncer.sh", "stop", directory], check: false) }

    deinit { stop() }
}
