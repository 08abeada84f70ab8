import FastCGI
import Foundation
import PostgresClient
import Testing
import WorkflowStore
@testable import workflowd

@Suite struct ExitStatusTests {
    @Test(arguments: [
        (ConfigurationError("WORKFLOWD_JWT_SECRET is 5 bytes long"), 2),
        (MigrationError.unreadableDirectory("/nowhere", "no such file"), 2),
        (MigrationError.checksumMismatch(version: 2, name: "instances"), 2),
        (MigrationError.unknownAppliedVersion(9), 2),
        (MigrationError.failed(version: 3, name: "x", reason: "lock timeout"), 1),
        (ListenError(description: "socket path is too long", isPermanent: true), 2),
        (ListenError(description: "another process is already serving", isPermanent: false), 1),
        (PostgresError(kind: .connectionFailed, message: "connection refused"), 1),
    ] as [(any Error, Int32)])
    func refusalsARestartCannotFixExitTwoAndTheRestOne(_ error: any Error, _ status: Int32) {
        #expect(exitStatus(for: error) == status, "\(error)")
    }

    /// nginx refuses larger bodies before they reach workflowd; the responder and the API must agree with it.
    @Test func nginxBodyLimitIsTheResponderLimit() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let config = try String(contentsOf: root.appendingPathComponent("nginx/workflowd.conf"), encoding: .utf8)
        let setting = try #require(config.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("client_max_body_size ") })
        let value = setting.trimmingCharacters(in: .whitespaces).dropFirst("client_max_body_size ".count).dropLast()  // the `;`
        let multiplier = ["k": 1 << 10, "m": 1 << 20, "g": 1 << 30][value.last.map { $0.lowercased() } ?? ""]
        let bytes = try #require(Int(multiplier == nil ? value : value.dropLast())) * (multiplier ?? 1)
        #expect(bytes == FastCGIServerConfiguration.defaultMaxBodyBytes, "nginx/workflowd.conf says \(setting)")
    }
}
