import Foundation

/// The real thing for end-to-end tests: a fresh database, workflowd processes and nginx in front.
public final class Stack: @unchecked Sendable {
    public let directory: String
    public let database: TestDatabase
    public private(set) var responders: [WorkflowdProcess]
    public let nginx: NginxProcess
    public let client: HTTPClient

    /// `responders` workflowd processes, each on its own unix socket, behind one nginx upstream.
    public init(name: String, responders count: Int = 1, environment: [String: String] = [:], databaseURL: String? = nil) throws {
        directory = try TestEnvironment.scratchDirectory(name)
        if let databaseURL {
            database = TestDatabase(name: "", url: databaseURL)
        } else {
            database = try TestDatabase.create()
        }
        var started: [WorkflowdProcess] = []
        for index in 0..<count {
            started.append(try WorkflowdProcess.start(
                directory: directory, databaseURL: database.url, socketPath: "\(directory)/w\(index).sock",
                environment: environment, name: "workflowd\(index)"))
        }
        responders = started
        nginx = try NginxProcess.start(directory: "\(directory)/nginx", upstreams: started.map { "unix:\($0.socketPath!)" })
        client = HTTPClient(port: nginx.port)
    }

    /// Starts a replacement responder on the socket of responder `index` (after it was stopped).
    public func restartResponder(_ index: Int, environment: [String: String] = [:]) throws {
        responders[index] = try WorkflowdProcess.start(
            directory: directory, databaseURL: database.url, socketPath: responders[index].socketPath,
            environment: environment, name: "workflowd\(index)")
    }

    public func stop() {
        nginx.stop()
        responders.forEach { $0.stop() }
    }

    deinit { stop() }
}
