import Foundation
import PostgresClient
import TestSupport
import Testing

@Suite(requiresStack)
struct FoundationEndToEndTests {
    @Test func healthIsOKThroughNginx() throws {
        let stack = try Stack(name: "health")
        let result = try stack.client.request("GET", "/api/v1/health")
        #expect(result.status == 200)
        #expect(result.json["status"] as? String == "ok")
        #expect(result.json["database"] as? String == "ok")
        #expect(result.header("x-request-id")?.isEmpty == false, "nginx's request id is passed through")
        #expect(stack.responders[0].log.contains(result.header("x-request-id")!), "the log line carries the request id")
    }

    @Test func unknownPathIs404AndWrongMethodIs405WithAllow() throws {
        let stack = try Stack(name: "routing")
        let missing = try stack.client.request("GET", "/api/v1/nothing-here")
        #expect(isProblem(missing, status: 404), "\(missing)")
        let outside = try stack.client.request("GET", "/no-such-page.html")
        #expect(isProblem(outside, status: 404), "nginx answers outside /api/v1/ and the console with problem+json: \(outside)")
        let wrong = try stack.client.request("DELETE", "/api/v1/health")
        #expect(isProblem(wrong, status: 405), "\(wrong)")
        #expect(wrong.header("allow") == "GET, HEAD")
        let trace = try stack.client.request("TRACE", "/api/v1/workflows")
        #expect(isProblem(trace, status: 405), "nginx refuses TRACE itself, as problem+json: \(trace)")
        #expect(trace.header("allow") == "GET, HEAD, POST")
        let token = TestTokens.token(user: UUID(), roles: ["Participant"])
        let notUUID = try stack.client.request("GET", "/api/v1/workflows/not-a-uuid", token: token)
        #expect(isProblem(notUUID, status: 404), "\(notUUID)")
    }

    @Test func nginxAnswersProblemJSON502WhenWorkflowdIsDown() throws {
        let stack = try Stack(name: "down")
        stack.responders[0].stop()
        let result = try stack.client.request("GET", "/api/v1/health")
        #expect(isProblem(result, status: 502), "\(result)")
        #expect(result.header("retry-after") == "5", "nginx says when to come back: \(result)")
    }

    @Test func bodiesOverOneMebibyteGet413FromNginx() throws {
        let stack = try Stack(name: "too-large")
        let token = TestTokens.token(user: UUID(), roles: ["Participant"])
        let body = Array("{\"workflowId\":\"create-prd\",\"parameters\":{\"x\":\"".utf8) + [UInt8](repeating: 97, count: 1 << 20) + Array("\"}}".utf8)
        let result = try stack.client.request(
            "POST", "/api/v1/workflows", headers: ["Content-Type": "application/json"], body: body, token: token)
        #expect(isProblem(result, status: 413), "\(result)")
        #expect(try stack.database.scalar("SELECT count(*) FROM workflow_instances") == "0")
    }

    @Test func sigtermLetsASlowRequestFinishAndExitsZero() throws {
        let stack = try Stack(name: "sigterm")
        let user = try APIUser(stack, roles: ["Participant"])
        let id = try #require(user.create()["id"] as? String)
        let lock = try RowLock(stack.database, instance: id)
        let slow = inBackground(timeout: 10) { try user.transition(id, to: "Running") }
        Thread.sleep(forTimeInterval: 0.5)
        stack.responders[0].signal(SIGTERM)
        Thread.sleep(forTimeInterval: 0.5)
        #expect(stack.responders[0].isRunning, "workflowd waits for the in-flight request")
        try lock.release()
        let answer = slow()
        #expect(answer?.status == 200, "the in-flight request finished within 10 s: \(String(describing: answer))")
        #expect(stack.responders[0].waitForExit(timeout: 10) == 0)
        #expect(!FileManager.default.fileExists(atPath: stack.responders[0].socketPath!), "the socket file is removed")
        let after = try stack.client.request("GET", "/api/v1/health")
        #expect(isProblem(after, status: 502), "new requests are refused once it stopped: \(after)")
    }

    @Test func secondInstanceRefusesASocketInUse() throws {
        let stack = try Stack(name: "socket-in-use")
        // `timeout` turns "it started serving anyway" into exit 124 instead of a hang.
        let intruder = try Shell.run(
            ["timeout", "10", TestEnvironment.binary!, "serve", "--socket", stack.responders[0].socketPath!],
            environment: [
                "DATABASE_URL": stack.database.url, "WORKFLOWD_JWT_SECRET": TestTokens.secret,
                "WORKFLOWD_MIGRATIONS_DIR": "\(TestEnvironment.root!)/Migrations",
            ], check: false)
        #expect(intruder.status == 1, "\(intruder.output)")
        #expect(intruder.output.contains("already serving"), "\(intruder.output)")
        #expect(try stack.client.request("GET", "/api/v1/health").status == 200)
    }

    @Test func serveRefusesToStartWithPendingMigrations() throws {
        let database = try TestDatabase.create(migrated: false)
        let directory = try TestEnvironment.scratchDirectory("pending")
        #expect(throws: (any Error).self) {
            try WorkflowdProcess.start(directory: directory, databaseURL: database.url, socketPath: "\(directory)/w.sock")
        }
        let log = (try? String(contentsOfFile: "\(directory)/workflowd.log", encoding: .utf8)) ?? ""
        #expect(log.contains("pending"), "\(log)")
    }
}

/// Stops and restarts PostgreSQL, so it runs on a cluster of its own.
@Suite(requiresStack)
struct DatabaseOutageEndToEndTests {
    @Test func healthIs503WhilePostgresIsDownAnd200AfterItReturns() throws {
        let cluster = try PostgresCluster.start(name: "outage")
        defer { cluster.destroy() }
        let database = try TestDatabase.create(baseURL: cluster.url)
        let stack = try Stack(name: "outage", databaseURL: database.url)
        #expect(try stack.client.request("GET", "/api/v1/health").status == 200)
        try cluster.stop()
        let down = try stack.client.request("GET", "/api/v1/health")
        #expect(down.status == 503, "\(down)")
        #expect(down.json["database"] as? String == "unavailable")
        let ready = try stack.client.request("GET", "/api/v1/health/ready")
        #expect(ready.status == 503, "\(ready)")
        #expect(try stack.client.request("GET", "/api/v1/health/live").status == 200, "liveness does not depend on the database")
        let port = try #require(URLComponents(string: cluster.url)?.port)
        for answer in [down, ready] {
            #expect(answer.json["status"] as? String == "unavailable")
            #expect(answer.json["reason"] as? String == "database_unreachable")
            #expect(answer.header("retry-after") == "5")
            // libpq's message names the host, address and port; none of it may be public.
            for leak in ["connection", "127.0.0.1", "localhost", "port", "\(port)", "refused", "socket", "server"] {
                #expect(!answer.text.lowercased().contains(leak), "'\(leak)' leaks in \(answer)")
            }
            // ...but the log has it, on the line of that request.
            let requestId = try #require(answer.header("x-request-id"))
            let line = stack.responders[0].log.split(separator: "\n").first { $0.contains(requestId) && $0.contains("not ready") }
            #expect(line?.contains("database_unreachable") == true && line?.contains("health.detail") == true, "\(String(describing: line))")
        }
        let token = TestTokens.token(user: UUID(), roles: ["Participant"])
        let create = try stack.client.send("POST", "/api/v1/workflows", json: ["workflowId": "create-prd"], token: token)
        #expect(isProblem(create, status: 503), "\(create)")
        #expect(create.header("retry-after") != nil)
        try cluster.start()
        #expect(try stack.client.request("GET", "/api/v1/health").status == 200)
        #expect(try stack.client.send("POST", "/api/v1/workflows", json: ["workflowId": "create-prd"], token: token).status == 201)
    }
}
