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
        #expect(sample(text, "workflow_transitions_total", labels: [#"from="Paused""#]) == nil, "a refused transition counts nothing")
        #expect(sample(text, "workflow_status_duration_seconds_count", labels: [#"status="Created""#]) == 1)
        #expect(sample(text, "workflow_status_duration_seconds_count", labels: [#"status="Running""#]) == 1)
        #expect(sample(text, "workflow_status_duration_seconds_count", labels: [#"status="Paused""#]) == nil)
        #expect(sample(text, "db_pool_size") == 8)
        #expect((sample(text, "db_pool_connections_open") ?? 0) >= 1)
        // Background jobs (webhook workers, deadlines, wait gauges) borrow from the same pool, so one may hold a
        // connection at any scrape; a leaked connection would stay in use, so look until none is.
        var inUse = sample(text, "db_pool_connections_in_use")
        let until = Date().addingTimeInterval(10)
        while inUse != 0 && Date() < until {
            Thread.sleep(forTimeInterval: 0.05)
            inUse = sample(try stack.client.request("GET", "/metrics").text, "db_pool_connections_in_use")
        }
        #expect(inUse == 0, "every connection back in the pool")
        #expect((sample(text, "db_pool_wait_seconds_count") ?? 0) >= 5)
        #expect((sample(text, "process_start_time_seconds") ?? 0) > 1_700_000_000)
        #expect((sample(text, "process_resident_memory_bytes") ?? 0) > 1_000_000)
        #expect((sample(text, "process_open_fds") ?? 0) >= 3)
        #expect((sample(text, "process_cpu_seconds_total") ?? 0) > 0)
    }

    /// `workflow_status_duration_seconds` observes the time spent in a status as an instance leaves it — by a
    /// transition, an approval or a deadline — and the wait gauges count the open and overdue waits by kind.
    @Test func statusDurationsAreObservedOnLeavingAndTheWaitGaugesCountRealWaits() throws {
        let stack = try Stack(name: "metrics-waits")
        let marcus = try APIUser(stack, roles: ["Participant"])
        let ann = try APIUser(stack, roles: ["Approver"])
        func running() throws -> String {
            let id = try #require(marcus.create()["id"] as? String)
            #expect(try marcus.transition(id, to: "Running").status == 200)
            return id
        }
        func wait(_ id: String, _ status: String, dueIn seconds: Double? = nil, onTimeout: String = "Notify") throws {
            var body: [String: Any] = ["to": status]
            if let seconds {
                let format = DateFormatter()
                (format.locale, format.timeZone, format.dateFormat) = (Locale(identifier: "en_US_POSIX"), TimeZone(identifier: "UTC"), "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'")
                body["awaiting"] = ["prompt": "Decide", "dueAt": format.string(from: Date().addingTimeInterval(seconds)), "onTimeout": onTimeout]
            }
            let result = try marcus.call("POST", "/api/v1/workflows/\(id)/transitions", json: body)
            #expect(result.status == 200, "\(result)")
        }
        // Two hours in Running by the database's clock: one observation between the 1 h and the 4 h bucket.
        let slow = try running()
        #expect(try stack.database.scalar(
            "UPDATE workflow_instances SET status_changed_at = now() - interval '2 hours' WHERE id = \(UUID(uuidString: slow)!) RETURNING 1") == "1")
        #expect(try marcus.transition(slow, to: "Paused").status == 200)
        var text = try stack.client.request("GET", "/metrics").text
        #expect(sample(text, "workflow_status_duration_seconds_count", labels: [#"status="Running""#]) == 1)
        #expect((7200..<7300).contains(sample(text, "workflow_status_duration_seconds_sum", labels: [#"status="Running""#]) ?? 0))
        #expect(sample(text, "workflow_status_duration_seconds_bucket", labels: [#"status="Running""#, #"le="3600"#]) == 0)
        #expect(sample(text, "workflow_status_duration_seconds_bucket", labels: [#"status="Running""#, #"le="14400"#]) == 1)
        #expect(sample(text, "workflow_status_duration_seconds_count", labels: [#"status="Created""#]) == 1)

        // Open waits: two for input, one for approval that becomes overdue (Notify), one approved by Ann,
        // and one input wait that its deadline fails.
        for _ in 0..<2 { try wait(try running(), "WaitingForInput") }
        try wait(try running(), "WaitingForApproval", dueIn: 1.5)
        let approved = try running()
        try wait(approved, "WaitingForApproval")
        #expect(try ann.call("POST", "/api/v1/workflows/\(approved)/approvals", json: ["decision": "approve"]).status == 200)
        try wait(try running(), "WaitingForInput", dueIn: 1.5, onTimeout: "Fail")
        let expected: [(String, [String], Double)] = [
            ("workflow_waits_open", [#"kind="input""#], 2), ("workflow_waits_open", [#"kind="approval""#], 1),
            ("workflow_waits_overdue", [#"kind="input""#], 0), ("workflow_waits_overdue", [#"kind="approval""#], 1),
            ("workflow_status_duration_seconds_count", [#"status="WaitingForApproval""#], 1),
            ("workflow_status_duration_seconds_count", [#"status="WaitingForInput""#], 1),
        ]
        func matches() -> Bool { expected.allSatisfy { sample(text, $0.0, labels: $0.1) == $0.2 } }
        let deadline = Date().addingTimeInterval(20)
        while !matches() && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.5)
            text = try stack.client.request("GET", "/metrics").text
        }
        for (name, labels, value) in expected {
            #expect(sample(text, name, labels: labels) == value, "\(name)\(labels)")
        }
        #expect(try stack.database.scalar("SELECT count(*) FROM workflow_instances WHERE status = 'Failed'") == "1", "the deadline failed one wait")
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

/// Startup refusals that a restart cannot fix exit 2 with one `workflowd: …` line (systemd's
/// `RestartPreventExitStatus=2` then leaves them to an operator); an unreachable database exits 1 (retried).
@Suite(requiresStack)
struct StartupRefusalEndToEndTests {
    /// `workflowd serve` on a free TCP port; `timeout` turns "it started serving anyway" into 124.
    func serve(databaseURL: String, migrations: String? = nil, _ extra: [String: String] = [:]) throws -> ShellResult {
        var environment = [
            "DATABASE_URL": databaseURL, "WORKFLOWD_JWT_SECRET": TestTokens.secret, "WORKFLOWD_LOG_FORMAT": "json",
            "WORKFLOWD_MIGRATIONS_DIR": migrations ?? "\(TestEnvironment.root!)/Migrations", "WORKFLOWD_LISTEN": "127.0.0.1:\(try Shell.freePort())",
        ]
        environment.merge(extra) { $1 }
        return try Shell.run(["timeout", "20", TestEnvironment.binary!, "serve"], environment: environment, check: false)
    }

    func expect(_ result: ShellResult, exits status: Int32, saying phrase: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == status, "\(result.output)", sourceLocation: sourceLocation)
        let lines = result.output.split(separator: "\n").filter { $0.hasPrefix("workflowd: ") }
        #expect(lines.count == 1 && lines.first?.contains(phrase) == true, "one clear line: \(result.output)", sourceLocation: sourceLocation)
    }

    /// A copy of the project's migrations that a test may change.
    func migrationsCopy() throws -> String {
        let directory = try TestEnvironment.scratchDirectory("migrations") + "/Migrations"
        try FileManager.default.copyItem(atPath: "\(TestEnvironment.root!)/Migrations", toPath: directory)
        return directory
    }

    @Test func badSettingsShortSecretsAndUnreadableKeysExitTwo() throws {
        let database = try TestDatabase.create()
        expect(try serve(databaseURL: database.url, ["WORKFLOWD_WORKERS": "0"]), exits: 2, saying: "--workers must be between")
        expect(try serve(databaseURL: database.url, ["WORKFLOWD_JWT_SECRET": "short"]), exits: 2, saying: "at least 32 bytes")
        expect(try serve(databaseURL: database.url, ["WORKFLOWD_JWKS_FILE": "/nonexistent/jwks.json"]), exits: 2, saying: "cannot read WORKFLOWD_JWKS_FILE")
    }

    @Test func aMissingMigrationsDirectoryExitsTwo() throws {
        let database = try TestDatabase.create()
        expect(try serve(databaseURL: database.url, migrations: "/nonexistent/migrations"), exits: 2, saying: "cannot read migrations directory")
    }

    @Test func pendingMigrationsExitTwo() throws {
        let database = try TestDatabase.create(migrated: false)
        expect(try serve(databaseURL: database.url), exits: 2, saying: "pending")
    }

    @Test func anEditedAppliedMigrationExitsTwoForServeAndMigrate() throws {
        let database = try TestDatabase.create()
        let migrations = try migrationsCopy()
        let first = try #require(try FileManager.default.contentsOfDirectory(atPath: migrations).sorted().first)
        let handle = try #require(FileHandle(forWritingAtPath: "\(migrations)/\(first)"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("\n-- edited after it was applied\n".utf8))
        try handle.close()
        expect(try serve(databaseURL: database.url, migrations: migrations), exits: 2, saying: "was changed after it was applied")
        let migrate = try Shell.run(
            [TestEnvironment.binary!, "migrate"], environment: ["DATABASE_URL": database.url, "WORKFLOWD_MIGRATIONS_DIR": migrations], check: false)
        expect(migrate, exits: 2, saying: "was changed after it was applied")
    }

    @Test func aDatabaseAheadOfTheBinaryExitsTwo() throws {
        let database = try TestDatabase.create()
        let migrations = try migrationsCopy()
        let last = try #require(try FileManager.default.contentsOfDirectory(atPath: migrations).sorted().last)
        try FileManager.default.removeItem(atPath: "\(migrations)/\(last)")
        expect(try serve(databaseURL: database.url, migrations: migrations), exits: 2, saying: "no such file exists here")
    }

    @Test func anUnreachableDatabaseExitsOneSoThatTheSupervisorRetries() throws {
        let nobody = "postgresql://postgres@127.0.0.1:\(try Shell.freePort())/workflowd"
        expect(try serve(databaseURL: nobody, ["WORKFLOWD_CONNECT_TIMEOUT": "2"]), exits: 1, saying: "workflowd: ")
    }
}

@Suite(requiresStack)
struct ShutdownEndToEndTests {
    /// Bit `number - 1` of a `Sig*:` mask line of /proc/PID/status.
    func signalMask(_ pid: Int32, _ field: String) throws -> UInt64 {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("\(field):") })
        return try #require(UInt64(line.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces), radix: 16))
    }

    func bit(_ number: Int32) -> UInt64 { 1 << UInt64(number - 1) }

    /// The order of a clean stop: drain the request, stop the purge job, close the pool, then say `stopped`.
    @Test func sigtermDrainsTheRequestStopsTheJobsClosesThePoolAndExitsZero() throws {
        let stack = try Stack(name: "lifecycle")
        let responder = stack.responders[0]
        let pid = responder.pid
        // The executable owns the signals: SIGPIPE ignored, SIGTERM/SIGINT taken from their default action
        // (libdispatch's handler feeds the signal sources), and libfcgi's SIGUSR1 handler not left installed.
        let ignored = try signalMask(pid, "SigIgn"), caught = try signalMask(pid, "SigCgt")
        #expect(ignored & bit(SIGPIPE) != 0, "SIGPIPE is ignored")
        for number in [SIGTERM, SIGINT] { #expect((ignored | caught) & bit(number) != 0, "signal \(number) keeps its default action") }
        #expect((ignored | caught) & bit(SIGUSR1) == 0, "libfcgi's SIGUSR1 handler is undone")
        // The purge job runs once at start, and counts it.
        var scrape = ""
        for _ in 0..<50 where !scrape.contains(#"workflowd_job_runs_total{name="idempotency_key_purge",outcome="ok"} 1"#) {
            scrape = try stack.client.request("GET", "/metrics").text
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(scrape.contains(#"workflowd_job_runs_total{name="idempotency_key_purge",outcome="ok"} 1"#), "\(scrape)")

        let user = try APIUser(stack, roles: ["Participant"])
        let id = try #require(user.create()["id"] as? String)
        let lock = try RowLock(stack.database, instance: id)
        let slow = inBackground(timeout: 10) { try user.transition(id, to: "Running") }
        Thread.sleep(forTimeInterval: 0.5)
        responder.signal(SIGTERM)
        Thread.sleep(forTimeInterval: 0.5)
        #expect(responder.isRunning, "workflowd waits for the in-flight request")
        try lock.release()
        #expect(slow()?.status == 200)
        #expect(responder.waitForExit(timeout: 10) == 0)
        let lines = responder.log.split(separator: "\n")
        func index(_ message: String) -> Int? { lines.firstIndex { $0.contains(#""message":"\#(message)""#) } }
        let shuttingDown = try #require(index("shutting down"), "\(responder.log)")
        // Several jobs stop concurrently (the webhook jobs too); the purge job's own line is the one checked.
        let jobStopped = try #require(
            lines.firstIndex { $0.contains(#""message":"background job stopped""#) && $0.contains(#""job":"idempotency_key_purge""#) },
            "\(responder.log)")
        let stopped = try #require(index("stopped"), "\(responder.log)")
        #expect(shuttingDown < jobStopped && jobStopped < stopped, "\(responder.log)")
        #expect(lines[shuttingDown].contains(#""reason":"SIGTERM""#))
        let stoppedJobs = lines[shuttingDown...].filter { $0.contains(#""message":"background job stopped""#) }
        for job in ["idempotency_key_purge", "deadlines", "wait_gauges"] {
            #expect(stoppedJobs.contains { $0.contains(#""job":"\#(job)""#) }, "\(job) did not stop")
        }
        #expect(lines[stopped].contains(#""drained":"true""#) && lines[stopped].contains(#""clean":"true""#), "\(lines[stopped])")
    }

    @Test func aRequestStillInFlightWhenTheGraceRunsOutIsReportedAndTheExitIsOne() throws {
        let stack = try Stack(name: "grace-over", environment: ["WORKFLOWD_SHUTDOWN_GRACE": "1"])
        let responder = stack.responders[0]
        let user = try APIUser(stack, roles: ["Participant"])
        let id = try #require(user.create()["id"] as? String)
        let lock = try RowLock(stack.database, instance: id)
        let slow = inBackground(timeout: 15) { try user.transition(id, to: "Running") }
        Thread.sleep(forTimeInterval: 0.5)
        let signalled = Date()
        responder.signal(SIGTERM)
        #expect(responder.waitForExit(timeout: 10) == 1, "requests cut off: not a clean stop")
        #expect(Date().timeIntervalSince(signalled) < 5, "the 1 s grace period bounds the stop")
        let log = responder.log
        #expect(log.contains(#""message":"grace period over; requests still in flight are cut off""#), "\(log)")
        #expect(log.contains(#""in_flight":"1""#), "\(log)")
        #expect(log.contains(#""drained":"false""#), "\(log)")
        // The orphaned backend notices its client is gone (client_connection_check_interval) and rolls back.
        Thread.sleep(forTimeInterval: 1.5)
        try lock.release()
        #expect(slow().map { isProblem($0, status: 502) } == true, "nginx answers the cut-off request")
        #expect(try stack.database.scalar("SELECT status FROM workflow_instances") == "Created")
    }

    /// The purge runs at start, so a process restarted more often than its 10-minute interval still purges.
    @Test func expiredIdempotencyKeysArePurgedWhenAResponderStarts() throws {
        let stack = try Stack(name: "purge-at-start")
        let user = try APIUser(stack, roles: ["Participant"])
        #expect(try user.call("POST", "/api/v1/workflows", json: ["workflowId": "create-prd"], headers: ["Idempotency-Key": "old"]).status == 201)
        #expect(try user.call("POST", "/api/v1/workflows", json: ["workflowId": "create-prd"], headers: ["Idempotency-Key": "new"]).status == 201)
        let connection = try stack.database.connect()
        defer { connection.close() }
        try connection.query("UPDATE idempotency_keys SET created_at = now() - interval '2 days' WHERE key = 'old'")
        stack.responders[0].stop()
        try stack.restartResponder(0)
        var keys: String?
        for _ in 0..<50 where keys != "new" {
            keys = try stack.database.scalar("SELECT string_agg(key, ',') FROM idempotency_keys")
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(keys == "new", "the expired key is gone, the fresh one kept")
    }
}
