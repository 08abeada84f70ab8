public import Foundation

/// A `workflowd serve` started by `scripts/stack.sh`, the one place that knows how a responder starts
/// (environment, socket, log, pid file, the wait until it listens) for `make run`, the benchmark, the
/// fuzzer and these tests. The script keeps the pid in NAME.pid and, once the process ended, its exit
/// status in NAME.exit, so a test can signal it and see how it exited although it is not our child.
public final class WorkflowdProcess: Sendable {
    public let pid: pid_t
    public let socketPath: String?
    public let logPath: String
    let exitPath: String

    /// What every test responder gets on top of the stack's settings: JSON logs (the tests search
    /// them) and 8 workers unless WORKFLOWD_WORKERS says otherwise.
    static func environmentArguments(_ extra: [String: String]) -> [String] {
        var environment = ["WORKFLOWD_LOG_FORMAT": "json"]
        environment["WORKFLOWD_WORKERS"] = ProcessInfo.processInfo.environment["WORKFLOWD_WORKERS"] ?? "8"
        environment.merge(extra) { $1 }
        return environment.sorted { $0.key < $1.key }.flatMap { ["--env", "\($0.key)=\($0.value)"] }
    }

    /// The secret the script hands workflowd, so that `TestTokens` are accepted.
    static var scriptEnvironment: [String: String] { ["WORKFLOWD_JWT_SECRET": TestTokens.secret] }

    /// (Re)starts responder `name` in `directory` (`scripts/stack.sh responder`) and waits until it
    /// listens on `socketPath` (default `directory/name.sock`). Without `databaseURL` it uses the
    /// database of the stack started in `directory`.
    public static func start(
        directory: String, databaseURL: String? = nil, socketPath: String? = nil,
        environment extra: [String: String] = [:], name: String = "workflowd"
    ) throws -> WorkflowdProcess {
        var arguments = [Shell.script("stack.sh"), "responder", directory, name, "--bin", TestEnvironment.binary!]
        if let databaseURL { arguments += ["--database-url", databaseURL] }
        if let socketPath { arguments += ["--socket", socketPath] }
        try Shell.run(arguments + environmentArguments(extra), environment: scriptEnvironment)
        return try WorkflowdProcess(directory: directory, name: name, socketPath: socketPath ?? "\(directory)/\(name).sock")
    }

    /// The running responder `name` of the stack in `directory`, from its pid file.
    init(directory: String, name: String, socketPath: String?) throws {
        let pidPath = "\(directory)/\(name).pid"
        let text = try String(contentsOfFile: pidPath, encoding: .utf8)
        guard let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw ShellError(description: "\(pidPath) holds no pid: \(text)")
        }
        self.pid = pid
        self.socketPath = socketPath
        logPath = "\(directory)/\(name).log"
        exitPath = "\(directory)/\(name).exit"
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The exit status once the process ended (128 + signal number when a signal ended it).
    public var exitStatus: Int32? {
        (try? String(contentsOfFile: exitPath, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// The exit file, not the pid alone, decides: a pid of a process that ended may be reused.
    public var isRunning: Bool { exitStatus == nil && kill(pid, 0) == 0 }

    public func signal(_ number: Int32) {
        if isRunning { kill(pid, number) }
    }

    /// Waits for the process to exit; returns its exit status, or nil on timeout.
    @discardableResult
    public func waitForExit(timeout: TimeInterval = 20) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let status = exitStatus { return status }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return exitStatus
    }

    public func stop() {
        guard isRunning else { return }
        signal(SIGTERM)
        if waitForExit(timeout: 15) == nil { signal(SIGKILL); waitForExit() }
    }

    deinit { stop() }
}

/// An nginx started from the project's template by `scripts/nginx.sh`.
public final class NginxProcess: Sendable {
    public let directory: String
    public let port: Int

    public static func start(directory: String, upstreams: [String]) throws -> NginxProcess {
        let port = try Shell.freePort()
        try Shell.run([Shell.script("nginx.sh"), "start", directory, String(port)] + upstreams)
        return NginxProcess(directory: directory, port: port)
    }

    init(directory: String, port: Int) {
        self.directory = directory
        self.port = port
    }

    public func stop() {
        _ = try? Shell.run([Shell.script("nginx.sh"), "stop", directory], check: false)
    }

    deinit { stop() }
}

/// A separate PostgreSQL cluster for tests that stop or restart the server.
public final class PostgresCluster: Sendable {
    public let directory: String
    public let url: String

    public static func start(name: String) throws -> PostgresCluster {
        let directory = try TestEnvironment.scratchDirectory(name) + "/pg"
        let port = try Shell.freePort()
        try Shell.run([Shell.script("pg.sh"), "start", directory, String(port)])
        let url = try Shell.run([Shell.script("pg.sh"), "url", directory]).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return PostgresCluster(directory: directory, url: url)
    }

    init(directory: String, url: String) {
        self.directory = directory
        self.url = url
    }

    public func stop() throws { try Shell.run([Shell.script("pg.sh"), "stop", directory]) }
    public func start() throws { try Shell.run([Shell.script("pg.sh"), "restart", directory]) }
    public func restart() throws { try Shell.run([Shell.script("pg.sh"), "restart", directory]) }

    public func destroy() { _ = try? Shell.run([Shell.script("pg.sh"), "destroy", directory], check: false) }
}
