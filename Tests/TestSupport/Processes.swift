public import Foundation

/// A `workflowd serve` child process on a unix socket (or TCP), with its log in a file.
public final class WorkflowdProcess: @unchecked Sendable {
    public let process: Process
    public let socketPath: String?
    public let logPath: String

    /// Starts `workflowd serve` and waits until it accepts connections.
    public static func start(
        directory: String, databaseURL: String, socketPath: String? = nil, listen: String? = nil,
        environment extra: [String: String] = [:], name: String = "workflowd"
    ) throws -> WorkflowdProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.binary!)
        var arguments = ["serve"]
        if let socketPath { arguments += ["--socket", socketPath, "--socket-mode", "0666"] }
        if let listen { arguments += ["--listen", listen] }
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = databaseURL
        environment["WORKFLOWD_JWT_SECRET"] = TestTokens.secret
        environment["WORKFLOWD_MIGRATIONS_DIR"] = "\(TestEnvironment.root!)/Migrations"
        environment["WORKFLOWD_LOG_FORMAT"] = "json"
        environment["WORKFLOWD_WORKERS"] = environment["WORKFLOWD_WORKERS"] ?? "8"
        environment.merge(extra) { $1 }
        process.environment = environment
        let logPath = "\(directory)/\(name).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? "\(process.processIdentifier)\n".write(toFile: "\(directory)/\(name).pid", atomically: true, encoding: .utf8)
        let server = WorkflowdProcess(process: process, socketPath: socketPath, logPath: logPath)
        try server.waitUntilListening(tcp: listen)
        return server
    }

    init(process: Process, socketPath: String?, logPath: String) {
        self.process = process
        self.socketPath = socketPath
        self.logPath = logPath
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    private func waitUntilListening(tcp: String?) throws {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            guard process.isRunning else { throw ShellError(description: "workflowd exited at startup: \(log)") }
            if let socketPath, FileManager.default.fileExists(atPath: socketPath) { return }
            if let tcp, let port = Int(tcp.split(separator: ":").last ?? ""), canConnect(port: port) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw ShellError(description: "workflowd did not start listening within 20 s: \(log)")
    }

    public func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits for the process to exit; returns its exit status, or nil on timeout.
    @discardableResult
    public func waitForExit(timeout: TimeInterval = 20) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        return process.isRunning ? nil : process.terminationStatus
    }

    public func stop() {
        guard process.isRunning else { return }
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
        try Shell.run(["\(TestEnvironment.root!)/scripts/nginx.sh", "start", directory, String(port)] + upstreams)
        return NginxProcess(directory: directory, port: port)
    }

    init(directory: String, port: Int) {
        self.directory = directory
        self.port = port
    }

    public func stop() {
        _ = try? Shell.run(["\(TestEnvironment.root!)/scripts/nginx.sh", "stop", directory], check: false)
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
        try Shell.run(["\(TestEnvironment.root!)/scripts/pg.sh", "start", directory, String(port)])
        let url = try Shell.run(["\(TestEnvironment.root!)/scripts/pg.sh", "url", directory]).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return PostgresCluster(directory: directory, url: url)
    }

    init(directory: String, url: String) {
        self.directory = directory
        self.url = url
    }

    public func stop() throws { try Shell.run(["\(TestEnvironment.root!)/scripts/pg.sh", "stop", directory]) }
    public func start() throws { try Shell.run(["\(TestEnvironment.root!)/scripts/pg.sh", "restart", directory]) }
    public func restart() throws { try Shell.run(["\(TestEnvironment.root!)/scripts/pg.sh", "restart", directory]) }

    public func destroy() { _ = try? Shell.run(["\(TestEnvironment.root!)/scripts/pg.sh", "destroy", directory], check: false) }
}

func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = UInt16(port).bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}
