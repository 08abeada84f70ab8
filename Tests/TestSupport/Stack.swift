import Foundation

/// The real thing for end-to-end tests: a fresh database, workflowd processes and nginx in front,
/// started by `scripts/stack.sh up` — the same sequence and health wait as `make run`, the benchmark
/// and the fuzzer — on a database of the test's own.
public final class Stack: @unchecked Sendable {
    public let directory: String
    public let database: TestDatabase
    public private(set) var responders: [WorkflowdProcess]
    public let nginx: NginxProcess
    public let client: HTTPClient

    /// `responders` workflowd processes, each on its own unix socket (`workflowdN.sock`), behind one
    /// nginx upstream; `environment` goes to every one of them. Returns once /api/v1/health answers 200.
    public init(name: String, responders count: Int = 1, environment: [String: String] = [:], databaseURL: String? = nil) throws {
        let directory = try TestEnvironment.scratchDirectory(name)
        self.directory = directory
        if let databaseURL {
            database = TestDatabase(name: "", url: databaseURL)
        } else {
            database = try TestDatabase.create(migrated: false)  // `stack.sh up` migrates
        }
        let port = try Shell.freePort()
        try Shell.run(
            [Shell.script("stack.sh"), "up", directory, "--bin", TestEnvironment.binary!, "--database-url", database.url,
             "--responders", String(count), "--port", String(port)] + WorkflowdProcess.environmentArguments(environment),
            environment: WorkflowdProcess.scriptEnvironment)
        responders = try (0..<count).map { index in
            try WorkflowdProcess(directory: directory, name: "workflowd\(index)", socketPath: "\(directory)/workflowd\(index).sock")
        }
        nginx = NginxProcess(directory: "\(directory)/nginx", port: port)
        client = HTTPClient(port: port)
    }

    /// Starts a replacement responder on the socket of responder `index` (stopping it first if it
    /// still runs), with the stack's environment plus `environment`.
    public func restartResponder(_ index: Int, environment: [String: String] = [:]) throws {
        responders[index] = try WorkflowdProcess.start(directory: directory, environment: environment, name: "workflowd\(index)")
    }

    /// Stops nginx and every responder (`scripts/stack.sh down`).
    public func stop() {
        _ = try? Shell.run([Shell.script("stack.sh"), "down", directory], check: false)
    }

    deinit { stop() }
}
