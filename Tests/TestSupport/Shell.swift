import Foundation

public struct ShellResult: Sendable {
    public let status: Int32
    public let output: String
}

public enum Shell {
    /// Runs a program to completion and returns its exit status and combined output.
    @discardableResult
    public static func run(_ arguments: [String], environment: [String: String] = [:], check: Bool = true) throws -> ShellResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        // Output goes to a file, not a pipe: a daemon started by the command (nginx) inherits the
        // descriptor and would keep a pipe open forever.
        let outputPath = NSTemporaryDirectory() + "workflowd-shell-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        defer { try? output.close() }
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let data = FileManager.default.contents(atPath: outputPath) ?? Data()
        let result = ShellResult(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
        if check && result.status != 0 {
            throw ShellError(description: "\(arguments.joined(separator: " ")) exited \(result.status): \(result.output)")
        }
        return result
    }

    /// The path of one of the repository's scripts (scripts/NAME).
    public static func script(_ name: String) -> String { "\(TestEnvironment.root!)/scripts/\(name)" }

    /// A free loopback TCP port.
    public static func freePort() throws -> Int {
        let output = try run([script("pg.sh"), "free-port"]).output
        guard let port = Int(output.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw ShellError(description: "free-port printed \(output)")
        }
        return port
    }
}

public struct ShellError: Error, CustomStringConvertible {
    public let description: String
}
