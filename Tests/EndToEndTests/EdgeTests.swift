import Foundation
import PostgresClient
import Synchronization
import TestSupport
import Testing

/// The edge an operator relies on: nginx's per-client rate limits, the readiness check against a real
/// database, and the metrics as Prometheus' own checker sees them.
@Suite(requiresStack)
struct EdgeEndToEndTests {
    /// Sends `request` from four threads until one answer is 429 (at most `limit` requests in all).
    func floodUntilLimited(limit: Int, _ request: @escaping @Sendable () throws -> HTTPResult) -> (limited: HTTPResult?, sent: Int) {
        let limited = Mutex<HTTPResult?>(nil)
        let sent = Atomic(0)
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            while limited.withLock({ $0 == nil }) && sent.add(1, ordering: .relaxed).newValue <= limit {
                guard let result = try? request(), result.status == 429 else { continue }
                limited.withLock { $0 = $0 ?? result }
            }
        }
        return (limited.withLock { $0 }, sent.load(ordering: .relaxed))
    }

    func expectLimitedProblem(_ result: HTTPResult?, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try #require(result, "no 429 in the burst", sourceLocation: sourceLocation)
        #expect(isProblem(result, status: 429), "\(result)", sourceLocation: sourceLocation)
        #expect(result.header("retry-after") == "1", sourceLocation: sourceLocation)
        #expect(result.header("x-request-id")?.isEmpty == false, sourceLocation: sourceLocation)
    }

    @Test func aBurstFromOneTokenIsLimitedWhileOtherTokensAndAddressesAreServed() throws {
        let stack = try Stack(name: "limit-token")
        let client = stack.client
        let flooder = TestTokens.token(user: UUID(), roles: ["Viewer"])
        // A route that needs a token but not the database: the burst measures nginx, not PostgreSQL.
        let burst = floodUntilLimited(limit: 8000) { try client.request("GET", "/api/v1/workflow-states", token: flooder) }
        try expectLimitedProblem(burst.limited)
        #expect(burst.sent > 1000, "the shipped burst (1000) is served first; limited after \(burst.sent)")
        let other = TestTokens.token(user: UUID(), roles: ["Viewer"])
        #expect(try client.request("GET", "/api/v1/workflow-states", token: other).status == 200, "another token from the same address")
        #expect(try HTTPClient(port: stack.nginx.port, sourceAddress: "127.0.0.2").request("GET", "/api/v1/health/live").status == 200)
    }

    @Test func aBurstWithoutATokenIsLimitedPerAddress() throws {
        let stack = try Stack(name: "limit-anonymous")
        let client = stack.client
        let burst = floodUntilLimited(limit: 3000) { try client.request("GET", "/api/v1/health/live") }
        try expectLimitedProblem(burst.limited)
        #expect(try HTTPClient(port: stack.nginx.port, sourceAddress: "127.0.0.2").request("GET", "/api/v1/health/live").status == 200,
                "another address is unaffected")
        let token = TestTokens.token(user: UUID(), roles: ["Viewer"])
        #expect(try client.request("GET", "/api/v1/workflow-states", token: token).status == 200, "a caller with a token has its own bucket")
    }

    /// nginx's own error pages reach a browser on another origin as what they are (status, Retry-After),
    /// not as an opaque CORS failure: fixed texts, so any origin may read them; no headers without Origin.
    @Test func nginxsOwnErrorsAreReadableFromAnotherOrigin() throws {
        let stack = try Stack(name: "edge-error-cors")
        let origin = ["Origin": "https://console.example.com"]
        let flooder = TestTokens.token(user: UUID(), roles: ["Viewer"])
        let client = stack.client
        let burst = floodUntilLimited(limit: 8000) {
            try client.request("GET", "/api/v1/workflow-states", headers: origin, token: flooder)
        }
        try expectLimitedProblem(burst.limited)
        #expect(burst.limited?.header("access-control-allow-origin") == "*")
        #expect(burst.limited?.header("access-control-expose-headers") == "Retry-After, X-Request-Id")

        stack.responders[0].signal(SIGTERM)
        #expect(stack.responders[0].waitForExit(timeout: 10) == 0)
        let token = TestTokens.token(user: UUID(), roles: ["Viewer"])
        let down = try client.request("GET", "/api/v1/workflow-states", headers: origin, token: token)
        #expect(isProblem(down, status: 502) && down.header("retry-after") == "5", "\(down)")
        #expect(down.header("access-control-allow-origin") == "*")
        let sameOrigin = try client.request("GET", "/api/v1/workflow-states", token: token)
        #expect(isProblem(sameOrigin, status: 502) && sameOrigin.header("access-control-allow-origin") == nil)
    }

    /// Readiness reads `schema_migrations` on each call: an applied migration that disappears (a restore
    /// from an older dump) makes the process not ready, and it is ready again once the row is back.
    @Test func readinessFollowsTheMigrationsInTheDatabase() throws {
        let stack = try Stack(name: "ready-migrations")
        #expect(try stack.client.request("GET", "/api/v1/health/ready").text == #"{"status":"ok"}"#)
        #expect(try stack.client.request("GET", "/api/v1/health/live").status == 200)
        let latest = try #require(try stack.database.scalar("SELECT max(version) FROM schema_migrations"))
        let connection = try stack.database.connect()
        defer { connection.close() }
        try connection.execute("CREATE TABLE saved_migration AS SELECT * FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)")
        try connection.execute("DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)")
        let pending = try stack.client.request("GET", "/api/v1/health/ready")
        #expect(pending.status == 503 && pending.json["reason"] as? String == "migrations_pending", "\(pending)")
        let health = try stack.client.request("GET", "/api/v1/health")
        #expect(health.status == 503 && health.json["database"] as? String == "ok" && health.json["reason"] as? String == "migrations_pending")
        let requestId = try #require(pending.header("x-request-id"))
        #expect(stack.responders[0].log.split(separator: "\n").contains { $0.contains(requestId) && $0.contains("pending: \(latest)_") },
                "the log names the pending migration on the request's line")
        try connection.execute("INSERT INTO schema_migrations SELECT * FROM saved_migration")
        #expect(try stack.client.request("GET", "/api/v1/health/ready").status == 200)
    }

    /// A real scrape through nginx, checked by Prometheus' own linter (names, types, units, HELP).
    @Test func aRealScrapePassesPromtoolCheckMetrics() throws {
        let stack = try Stack(name: "promtool")
        let user = try APIUser(stack, roles: ["Participant"])
        let id = try #require(user.create()["id"] as? String)
        _ = try user.transition(id, to: "Running")
        _ = try stack.client.request("GET", "/api/v1/nothing")
        // The wait gauges exist from the first run of their job, which starts beside the server.
        var scrape = try stack.client.request("GET", "/metrics")
        for _ in 0..<50 where !scrape.text.contains("\n# TYPE workflow_waits_overdue ") {
            Thread.sleep(forTimeInterval: 0.2)
            scrape = try stack.client.request("GET", "/metrics")
        }
        #expect(scrape.status == 200)
        for name in ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds",
                     "process_max_fds", "process_virtual_memory_bytes"] {
            #expect(scrape.text.contains("\n# TYPE \(name) "), "\(name) missing")
        }
        let root = TestEnvironment.root!
        try Shell.run(["\(root)/deploy/install-promtool.sh"])
        let file = try TestEnvironment.scratchDirectory("promtool") + "/scrape.txt"
        try scrape.text.write(toFile: file, atomically: true, encoding: .utf8)
        let check = try Shell.run(["bash", "-c", "promtool check metrics < '\(file)'"], check: false)
        #expect(check.status == 0 && check.output.isEmpty, "\(check.output) (a metric without help text: add it to MetricsSetup.help)")

        // Every metric the alert rules and the dashboard use is one workflowd serves, except those that
        // appear with their first event (db_errors_total: see databaseErrorsAreCountedBySQLStateClass).
        let exported = Set(scrape.text.split(separator: "\n").compactMap { line -> Substring? in
            guard line.hasPrefix("# TYPE ") else { return nil }
            return line.split(separator: " ")[2]
        })
        let later: Set<Substring> = ["db_errors_total"]
        for file in ["deploy/workflowd-alerts.yml", "deploy/workflowd-dashboard.json"] {
            let text = try String(contentsOfFile: "\(root)/\(file)", encoding: .utf8)
            let used = text.matches(of: /\b(?:http|db|process|workflow)_[a-z_]+/).map { match in
                var name = match.output
                for suffix in ["_bucket", "_count", "_sum"] where name.hasSuffix(suffix) { name = name.dropLast(suffix.count) }
                return name
            }
            #expect(!used.isEmpty)
            for name in Set(used) where !later.contains(name) {
                #expect(exported.contains(name), "\(file) uses \(name), which /metrics does not serve")
            }
        }
    }

    /// nginx/workflowd-tls.conf.example, as its comment says to use it, with a throwaway self-signed
    /// certificate: nginx -t accepts it (scripts/nginx.sh checks before starting) and a request over it
    /// speaks HTTP/2 and carries HSTS.
    @Test func theTLSExampleServesHTTP2WithHSTS() throws {
        let stack = try Stack(name: "tls")
        let root = TestEnvironment.root!
        let directory = try TestEnvironment.scratchDirectory("tls")
        try Shell.run([
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", "\(directory)/key.pem", "-out", "\(directory)/cert.pem",
        ])
        let tlsPort = try Shell.freePort()
        var snippet = try String(contentsOfFile: "\(root)/nginx/workflowd-tls.conf.example", encoding: .utf8)
        for (from, to) in [
            ("listen 443 ssl http2;", "listen 127.0.0.1:\(tlsPort) ssl http2;"), ("listen [::]:443 ssl http2;", ""),
            ("/etc/ssl/workflowd/fullchain.pem", "\(directory)/cert.pem"), ("/etc/ssl/workflowd/privkey.pem", "\(directory)/key.pem"),
        ] {
            #expect(snippet.contains(from), "the example changed: \(from)")
            snippet = snippet.replacingOccurrences(of: from, with: to)
        }
        try snippet.write(toFile: "\(directory)/workflowd-tls.conf", atomically: true, encoding: .utf8)
        // The shipped site with the snippet included in its server block (beside the plain listen line
        // that scripts/nginx.sh needs to render it).
        let site = try String(contentsOfFile: "\(root)/nginx/workflowd.conf", encoding: .utf8)
            .replacingOccurrences(of: "    listen 127.0.0.1:8080;\n", with: "    listen 127.0.0.1:8080;\n    include \(directory)/workflowd-tls.conf;\n")
        #expect(site.contains("workflowd-tls.conf"))
        try site.write(toFile: "\(directory)/site-template.conf", atomically: true, encoding: .utf8)
        let plainPort = try Shell.freePort()
        try Shell.run(
            ["\(root)/scripts/nginx.sh", "start", "\(directory)/nginx", String(plainPort), "unix:\(stack.responders[0].socketPath!)"],
            environment: ["WORKFLOWD_NGINX_SITE": "\(directory)/site-template.conf"])
        defer { _ = try? Shell.run(["\(root)/scripts/nginx.sh", "stop", "\(directory)/nginx"], check: false) }
        let answer = try Shell.run([
            "curl", "-sS", "--http2", "--cacert", "\(directory)/cert.pem", "-D", "-", "-o", "/dev/null",
            "-w", "version=%{http_version}\n", "https://127.0.0.1:\(tlsPort)/api/v1/health/live",
        ], check: false)
        #expect(answer.status == 0, "\(answer.output)")
        #expect(answer.output.hasPrefix("HTTP/2 200"), "\(answer.output)")
        #expect(answer.output.lowercased().contains("strict-transport-security: max-age=63072000"), "\(answer.output)")
        #expect(answer.output.contains("version=2"), "\(answer.output)")
    }
}
