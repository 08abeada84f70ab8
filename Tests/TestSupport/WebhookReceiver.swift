import Foundation

/// scripts/webhook-receiver.py on a loopback port: logs every request it gets (one JSON object per line)
/// and fails on purpose as its arguments say (`--fail-rate`, `--hang-rate`, `--drop-rate`, `--hang-first`).
public final class WebhookReceiver: Sendable {
    let process: Process
    public let port: Int
    public let logPath: String

    public static var isAvailable: Bool { TestEnvironment.root != nil && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") }

    /// `port` nil: a free one; `logPath` nil: a new scratch file (give the old one to keep a log across a restart).
    public init(_ arguments: [String] = [], port: Int? = nil, logPath: String? = nil) throws {
        let directory = NSTemporaryDirectory() + "webhook-receiver-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.logPath = logPath ?? directory + "/log.jsonl"
        let portFile = directory + "/port"
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [
            "\(TestEnvironment.root!)/scripts/webhook-receiver.py", "--port-file", portFile, "--log", self.logPath,
            "--port", String(port ?? 0),
        ] + arguments
        process.standardInput = FileHandle.nullDevice
        try process.run()
        var found: Int?
        for _ in 0..<200 where found == nil {
            found = (try? String(contentsOfFile: portFile, encoding: .utf8)).flatMap { Int($0) }
            if found == nil { Thread.sleep(forTimeInterval: 0.05) }
        }
        guard let found else {
            process.terminate()
            throw ShellError(description: "webhook-receiver.py did not start")
        }
        self.port = found
    }

    /// Every request so far: path, id, timestamp, signature, body, status (0: dropped, -1: hung), received, answered.
    public func requests() -> [[String: Any]] {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// SIGKILL: the test runner's blocked signal mask is inherited by the child, so SIGTERM would wait forever.
    /// The requests once the log stopped growing for half a second (at most `timeout`): the receiver logs an
    /// attempt after its answer went out, so the sender may know the outcome a moment before the log does.
    public func settledRequests(timeout: Double = 5) -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(timeout)
        var last = requests()
        while Date() < deadline {
            Thread.sleep(forTimeInterval: 0.5)
            let now = requests()
            if now.count == last.count { return now }
            last = now
        }
        return last
    }

    public func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { stop() }
}
