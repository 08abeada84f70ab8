import PostgresClient
import Foundation
import TestSupport
import Testing

@Suite(requiresStack)
struct MetricsEndToEndTests {
    /// The value of the sample whose line starts with `prefix` (name and labels), or nil.
    func sample(_ text: String, _ name: String, labels: [String] = []) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name) && !line.hasPrefix("#") {
            guard labels.allSatisfy({ line.contains($0) }), let value = line.split(separator: " ").last else { continue }
            return Double(value)
        }
        return nil
    }

    @Test func metricsMoveWithTrafficAndAreServedToLoopbackOnly() throws {
        let stack = try Stack(name: "metrics")
        let marcus = try APIUser(stack, roles: ["Participant"])
        for _ in 0..<3 { _ = try marcus.create() }
        let id = try #require(marcus.create()["id"] as? String)
        _ = try marcus.transition(id, to: "Running")
        _ = try marcus.transition(id, to: "Paused")
        _ = try marcus.transition(id, to: "Completed")  // 400
        let scrape = try stack.client.request("GET", "/metrics")
        #expect(scrape.status == 200)
        #expect(scrape.header("content-type")?.hasPrefix("text/plain") == true)
        let text = scrape.text
        #expect(sample(text, "http_requests_total", labels: [#"route="/api/v1/workflows""#, #"method="POST""#, #"status="201""#]) == 4)
        #expect(sample(text, "http_requests_total", labels: [#"route="/api/v1/workflows/{workflowInstanceId}/transitions""#, #"status="400""#]) == 1)
        #expect(sample(text, "http_request_duration_seconds_count", labels: [#"route="/api/v1/workflows""#, #"method="POST""#]) == 4)
        #expect(sample(text, "workflow_transitions_total", labels: [#"from="Created""#, #"to="Running""#]) == 1)
        #expect(sample(text, "workflow_transitions_total", labels: [#"from="Running""#, #"to="Paused""#]) == 1)
        #expect(sample(text, "db_pool_size") == 8)
        #expect((sample(text, "db_pool_connections_open") ?? 0) >= 1)
        #expect(sample(text, "db_pool_connections_in_use") == 0)
        #expect((sample(text, "db_pool_wait_seconds_count") ?? 0) >= 5)
        #expect((sample(text, "process_start_time_seconds") ?? 0) > 1_700_000_000)
        #expect((sample(text, "process_resident_memory_bytes") ?? 0) > 1_000_000)
        #expect((sample(text, "process_open_fds") ?? 0) >= 3)
        #expect((sample(text, "process_cpu_seconds_total") ?? 0) > 0)
    }

    @Test func databaseErrorsAreCountedBySQLStateClass() throws {
        let stack = try Stack(name: "metrics-errors", environment: ["WORKFLOWD_STATEMENT_TIMEOUT_MS": "200"])
        let marcus = try APIUser(stack, roles: ["Participant"])
        let id = try #require(marcus.create()["id"] as? String)
        let lock = try RowLock(stack.database, instance: id)
        #expect(try marcus.transition(id, to: "Running").status == 503)
        try lock.release()
        let text = try stack.client.request("GET", "/metrics").text
        #expect(sample(text, "db_errors_total", labels: [#"class="57""#]) == 1, "57014 statement timeout is class 57")
    }

    @Test func nginxRefusesMetricsToOtherAddresses() throws {
        let stack = try Stack(name: "metrics-deny")
        let config = try String(contentsOfFile: "\(stack.nginx.directory)/site.conf", encoding: .utf8)
        #expect(config.contains("location = /metrics"))
        #expect(config.contains("deny all;"))
        // The test client is on 127.0.0.1, which is allowed; another source address must be refused.
        let other = try HTTPClient(port: stack.nginx.port, sourceAddress: "127.0.0.2").request("GET", "/metrics")
        #expect(isProblem(other, status: 403), "\(other)")
    }
}

@Suite(requiresStack)
struct DeploymentEndToEndTests {
    /// spawn-fcgi hands workflowd a listening socket on fd 0, as systemd socket activation does.
    @Test func servesOnASocketInheritedOnFileDescriptorZero() throws {
        let database = try TestDatabase.create()
        let directory = try TestEnvironment.scratchDirectory("fd0")
        let socket = "\(directory)/spawned.sock"
        let root = TestEnvironment.root!
        // close_inherited_fds: the daemonised workflowd must not hold this test's descriptors open.
        try Shell.run(
            ["bash", "-c", "source \(root)/scripts/lib.sh; close_inherited_fds; exec spawn-fcgi -s \(socket) -M 0666 -P \(directory)/workflowd.pid -- \(TestEnvironment.binary!) serve"],
            environment: [
                "DATABASE_URL": database.url, "WORKFLOWD_JWT_SECRET": TestTokens.secret,
                "WORKFLOWD_MIGRATIONS_DIR": "\(root)/Migrations", "WORKFLOWD_LOG_FORMAT": "json",
            ])
        let pid = try #require(Int32(try String(contentsOfFile: "\(directory)/workflowd.pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        defer { kill(pid, SIGTERM) }
        let nginx = try NginxProcess.start(directory: "\(directory)/nginx", upstreams: ["unix:\(socket)"])
        let client = HTTPClient(port: nginx.port)
        let health = try waitUntilHealthy(client, attempts: 50)
        #expect(health.status == 200, "\(health)")
        let token = TestTokens.token(user: UUID(), roles: ["Participant"])
        #expect(try client.send("POST", "/api/v1/workflows", json: ["workflowId": "create-prd"], token: token).status == 201)
        kill(pid, SIGTERM)
        var exited = false
        for _ in 0..<100 where !exited {
            Thread.sleep(forTimeInterval: 0.1)
            exited = kill(pid, 0) != 0
        }
        #expect(exited, "workflowd stops on SIGTERM")
    }

    @Test func checkValidatesConfigurationAndReportsPendingMigrations() throws {
        let fresh = try TestDatabase.create(migrated: false)
        let environment = [
            "DATABASE_URL": fresh.url, "WORKFLOWD_JWT_SECRET": TestTokens.secret,
            "WORKFLOWD_MIGRATIONS_DIR": "\(TestEnvironment.root!)/Migrations", "WORKFLOWD_LISTEN": "127.0.0.1:9000",
        ]
        let pending = try Shell.run([TestEnvironment.binary!, "check"], environment: environment, check: false)
        #expect(pending.status != 0)
        #expect(pending.output.contains("pending"), "\(pending.output)")
        try fresh.migrate()
        let ok = try Shell.run([TestEnvironment.binary!, "check"], environment: environment, check: false)
        #expect(ok.status == 0, "\(ok.output)")
        #expect(ok.output.contains("migrations ok"))
        var shortSecret = environment
        shortSecret["WORKFLOWD_JWT_SECRET"] = "short"
        let refused = try Shell.run([TestEnvironment.binary!, "check"], environment: shortSecret, check: false)
        #expect(refused.status == 2)
        #expect(refused.output.contains("at least 32 bytes"))
    }
}

@Suite(requiresStack)
struct SocketActivationEndToEndTests {
    /// Plays systemd: holds a listening socket and hands it to workflowd as fd 0, twice. Stopping the
    /// first process must leave the socket usable for the second (a restart under socket activation).
    @Test func aSupervisorsSocketSurvivesARestart() throws {
        let database = try TestDatabase.create()
        let directory = try TestEnvironment.scratchDirectory("activation")
        let path = "\(directory)/activated.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: Array(path.utf8))
            buffer[path.utf8.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0 && chmod(path, 0o666) == 0 && listen(fd, 128) == 0)
        let listening = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        let nginx = try NginxProcess.start(directory: "\(directory)/nginx", upstreams: ["unix:\(path)"])
        let client = HTTPClient(port: nginx.port)

        func startWorkflowd(_ name: String) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: TestEnvironment.binary!)
            process.arguments = ["serve"]
            process.environment = ProcessInfo.processInfo.environment.merging([
                "DATABASE_URL": database.url, "WORKFLOWD_JWT_SECRET": TestTokens.secret,
                "WORKFLOWD_MIGRATIONS_DIR": "\(TestEnvironment.root!)/Migrations", "WORKFLOWD_SHUTDOWN_GRACE": "5",
            ]) { $1 }
            process.standardInput = listening
            let log = "\(directory)/\(name).log"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.standardError = process.standardOutput
            try process.run()
            return process
        }

        let first = try startWorkflowd("first")
        #expect(try waitUntilHealthy(client, attempts: 100).status == 200)
        let stopping = Date()
        first.terminate()
        first.waitUntilExit()
        #expect(first.terminationStatus == 0)
        #expect(Date().timeIntervalSince(stopping) < 3, "idle workers are woken at once, not after the 5 s grace period")

        let second = try startWorkflowd("second")
        defer { if second.isRunning { second.terminate(); second.waitUntilExit() } }
        #expect(try waitUntilHealthy(client, attempts: 100).status == 200, "the second process serves on the same socket")
        let token = TestTokens.token(user: UUID(), roles: ["Participant"])
        #expect(try client.send("POST", "/api/v1/workflows", json: ["workflowId": "create-prd"], token: token).status == 201)
        second.terminate()
        second.waitUntilExit()
        #expect(second.terminationStatus == 0)
    }
}
