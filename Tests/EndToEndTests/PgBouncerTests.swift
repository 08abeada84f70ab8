import Foundation
import PostgresClient
import Synchronization
import TestSupport
import Testing

/// Through Debian's PgBouncer in transaction mode (`WORKFLOWD_PGBOUNCER=transaction`): each transaction may
/// run on any of a few server sessions shared by every client.
@Suite(requiresStack)
struct PgBouncerEndToEndTests {
    /// A migrated database whose server-side statement_timeout is the one workflowd is configured with.
    func database(statementTimeout: Int = 5000, migrated: Bool = true) throws -> TestDatabase {
        let database = try TestDatabase.create(migrated: migrated)
        let admin = try database.connect()
        defer { admin.close() }
        try admin.executeScript("ALTER DATABASE \(database.name) SET statement_timeout = \(statementTimeout)")  // generated name
        return database
    }

    func connection(_ url: String, _ pooling: ConnectionPooling, statementTimeout: Int = 5000) throws -> PostgresConnection {
        try PostgresConnection(configuration: PostgresConfiguration(
            connectionString: url, statementTimeoutMilliseconds: statementTimeout, pooling: pooling))
    }

    @Test func namedStatementsCollideOnASharedServerSessionAndUnnamedOnesDoNot() throws {
        let database = try database(migrated: false)
        let bouncer = try PgBouncerProcess.start(name: "pgbouncer-statements", poolSize: 1)
        let url = bouncer.url(database)

        let a = try connection(url, .transaction)
        let b = try connection(url, .transaction)
        for i in 0..<3 {
            #expect(try a.query("SELECT \(i)::int + 1").first?.int(0) == i + 1)
            #expect(try b.query("SELECT \("b\(i)")::text").first?.string(0) == "b\(i)")
        }
        // PgBouncer carries TimeZone to whichever server session runs the next statement: b's change does
        // not reach a, although both share the one server session.
        try b.execute("SET TimeZone = 'Asia/Tokyo'")
        #expect(try a.query("SELECT current_setting('TimeZone')").first?.string(0) == "UTC")
        #expect(try b.query("SELECT current_setting('TimeZone')").first?.string(0) == "Asia/Tokyo")
        a.close()
        b.close()

        // The control: names prepared per client connection meet on the one server session.
        let c = try connection(url, .session)
        let d = try connection(url, .session)
        defer { c.close(); d.close() }
        try c.query("SELECT 1")
        let collision = #expect(throws: PostgresError.self) { try d.query("SELECT 2") }
        #expect(collision?.sqlState == "42P05", "prepared statement \"s1\" already exists")
    }

    @Test func theStatementTimeoutComesFromTheServerAndAMismatchIsRefused() throws {
        let database = try database(statementTimeout: 300, migrated: false)
        let bouncer = try PgBouncerProcess.start(name: "pgbouncer-timeout", poolSize: 2)
        let refused = #expect(throws: PostgresError.self) {
            try connection(bouncer.url(database), .transaction, statementTimeout: 5000)
        }
        #expect(refused?.message.contains("statement_timeout is 300 ms") == true, "\(String(describing: refused))")
        #expect(refused?.message.contains("ALTER ROLE \"postgres\" SET statement_timeout = 5000") == true)
        let limited = try connection(bouncer.url(database), .transaction, statementTimeout: 300)
        defer { limited.close() }
        let timedOut = #expect(throws: PostgresError.self) { try limited.query("SELECT pg_sleep(2)") }
        #expect(timedOut?.sqlState == "57014")
        #expect(try limited.query("SELECT 'still usable'").first?.string(0) == "still usable")
    }

    @Test func migrateNeedsPostgresItselfAndWarnsWhenItIsRelayed() throws {
        let database = try TestDatabase.create(migrated: false)
        let bouncer = try PgBouncerProcess.start(name: "pgbouncer-migrate", poolSize: 2)
        let migrate = [TestEnvironment.binary!, "migrate"]
        var environment = [
            "DATABASE_URL": bouncer.url(database), "WORKFLOWD_PGBOUNCER": "transaction",
            "WORKFLOWD_MIGRATIONS_DIR": "\(TestEnvironment.root!)/Migrations", "WORKFLOWD_LOG_FORMAT": "text",
        ]
        let refused = try Shell.run(migrate, environment: environment, check: false)
        #expect(refused.status == 2, "\(refused.output)")
        #expect(refused.output.contains("WORKFLOWD_MIGRATIONS_DATABASE_URL"), "\(refused.output)")
        #expect(try database.scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'schema_migrations'") == "0")

        environment["WORKFLOWD_MIGRATIONS_DATABASE_URL"] = bouncer.url(database)
        let relayed = try Shell.run(migrate + ["--status"], environment: environment, check: false)
        #expect(relayed.status == 0, "\(relayed.output)")
        let relayedMigrate = try Shell.run(migrate, environment: environment, check: false)
        #expect(relayedMigrate.output.contains("warning: connected to 127.0.0.1 port \(bouncer.port), but the server listens on port"),
                "\(relayedMigrate.output)")

        environment["WORKFLOWD_MIGRATIONS_DATABASE_URL"] = database.url
        let direct = try Shell.run(migrate, environment: environment, check: false)
        #expect(direct.status == 0, "\(direct.output)")
        #expect(!direct.output.contains("warning"), "\(direct.output)")
    }

    @Test func checkRefusesAStatementTimeoutThePoolerWouldNotApply() throws {
        let database = try TestDatabase.create()
        let bouncer = try PgBouncerProcess.start(name: "pgbouncer-check", poolSize: 2)
        let environment = [
            "DATABASE_URL": bouncer.url(database), "WORKFLOWD_PGBOUNCER": "transaction", "WORKFLOWD_JWT_SECRET": TestTokens.secret,
            "WORKFLOWD_MIGRATIONS_DIR": "\(TestEnvironment.root!)/Migrations", "WORKFLOWD_LISTEN": "127.0.0.1:9000",
        ]
        let refused = try Shell.run([TestEnvironment.binary!, "check"], environment: environment, check: false)
        #expect(refused.status != 0)
        #expect(refused.output.contains("statement_timeout is 0 ms"), "\(refused.output)")
        let admin = try database.connect()
        defer { admin.close() }
        try admin.executeScript("ALTER DATABASE \(database.name) SET statement_timeout = 5000")
        // PgBouncer's server sessions keep the settings they started with: only new ones see the change.
        _ = try Shell.run(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", "\(bouncer.port)", "-U", "postgres", "-d", "pgbouncer", "-c", "RECONNECT"])
        let ok = try Shell.run([TestEnvironment.binary!, "check"], environment: environment, check: false)
        #expect(ok.status == 0, "\(ok.output)")
    }

    /// Two responders with 6 connections each share PgBouncer's 4 server connections.
    @Test func theCoreHoldsWithTwoRespondersSharingASmallerServerPool() throws {
        let database = try database()
        let bouncer = try PgBouncerProcess.start(name: "pgbouncer-core", poolSize: 4)
        let stack = try Stack(
            name: "pgbouncer-core", responders: 2,
            environment: ["WORKFLOWD_PGBOUNCER": "transaction", "WORKFLOWD_POOL_SIZE": "6", "WORKFLOWD_WORKERS": "8"],
            databaseURL: bouncer.url(database))
        let marcus = try APIUser(stack, roles: ["Participant"])

        // Create, transition, advance, events.
        let id = try #require(marcus.create("code-review", parameters: ["projectName": "Apollo"])["id"] as? String)
        #expect(try marcus.transition(id, to: "Running").status == 200)
        let advanced = try marcus.call("POST", "/api/v1/workflows/\(id)/advance", json: ["output": ["note": "one"]])
        #expect(advanced.status == 200, "\(advanced)")
        #expect(advanced.json["currentStep"] as? Int == 2)
        #expect(try marcus.transition(id, to: "Paused", reason: "lunch").status == 200)
        let events = try marcus.call("GET", "/api/v1/workflows/\(id)/events").json["items"] as? [[String: Any]] ?? []
        #expect(events.map { $0["type"] as? String } == ["InstanceCreated", "StatusChanged", "StepCompleted", "StatusChanged"])
        #expect(events.last?["reason"] as? String == "lunch")

        // If-Match.
        let stale = try marcus.transition(id, to: "Running", headers: ["If-Match": "\"1\""])
        #expect(isProblem(stale, status: 412), "\(stale)")
        #expect(stale.json["currentVersion"] as? Int == 4)

        // Idempotent create replay.
        let body: [String: Any] = ["workflowId": "create-prd", "parameters": ["projectName": "Zeus"]]
        let first = try marcus.call("POST", "/api/v1/workflows", json: body, headers: ["Idempotency-Key": "zeus-1"])
        let replay = try marcus.call("POST", "/api/v1/workflows", json: body, headers: ["Idempotency-Key": "zeus-1"])
        #expect(first.status == 201 && replay.status == 201)
        #expect(replay.header("idempotent-replayed") == "true")
        #expect(replay.text == first.text)

        // A burst of creates from both responders: 16 at once over 12 client connections and 4 server ones.
        let client = stack.client
        let token = marcus.token
        let created = Mutex<[Int]>([])
        DispatchQueue.concurrentPerform(iterations: 16) { i in
            let result = try? client.send("POST", "/api/v1/workflows", json: ["workflowId": "create-prd", "parameters": ["n": i]], token: token)
            created.withLock { $0.append(result?.status ?? -1) }
        }
        #expect(created.withLock { $0 } == Array(repeating: 201, count: 16))

        // List.
        let listed = try marcus.call("GET", "/api/v1/workflows?limit=100").json["items"] as? [[String: Any]] ?? []
        #expect(listed.count == 18)
        #expect(listed.last?["id"] as? String == id)

        // Concurrent transitions of one instance: exactly one winner.
        let raced = try #require(marcus.create()["id"] as? String)
        let statuses = Mutex<[Int]>([])
        DispatchQueue.concurrentPerform(iterations: 12) { _ in
            let result = try? client.send("POST", "/api/v1/workflows/\(raced)/transitions", json: ["to": "Running"], token: token)
            statuses.withLock { $0.append(result?.status ?? -1) }
        }
        let all = statuses.withLock { $0 }
        #expect(all.filter { $0 == 200 }.count == 1, "\(all)")
        #expect(all.filter { $0 == 400 }.count == 11, "\(all)")
        #expect(try database.scalar(
            "SELECT count(*) FROM workflow_events WHERE workflow_instance_id = \(UUID(uuidString: raced)!) AND to_status = 'Running'") == "1")

        // It went through PgBouncer, which never opened more than its 4 server connections.
        #expect(bouncer.log.contains("login attempt: db=\(database.name)"))
        let serverConnections = try #require(Int(database.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = \(database.name) AND pid <> pg_backend_pid()") ?? ""))
        #expect((1...4).contains(serverConnections), "\(serverConnections)")
        for responder in stack.responders {
            #expect(!responder.log.contains("\"level\":\"error\""), "\(responder.log)")
        }
    }
}
