import Foundation
import PostgresClient
import Synchronization
import TestSupport
import Testing

@Suite(requiresStack)
struct IdempotencyEndToEndTests {
    @Test func sameKeyAndBodyReplaysTheOriginalAndADifferentBodyIs422() throws {
        let stack = try Stack(name: "idempotency")
        let marcus = try APIUser(stack, roles: ["Participant"])
        let body: [String: Any] = ["workflowId": "create-prd", "parameters": ["projectName": "Apollo"]]
        let first = try marcus.call("POST", "/api/v1/workflows", json: body, headers: ["Idempotency-Key": "create-apollo-1"])
        #expect(first.status == 201)
        #expect(first.header("idempotent-replayed") == nil)
        let id = try #require(first.json["id"] as? String)
        _ = try marcus.transition(id, to: "Running")
        let replay = try marcus.call("POST", "/api/v1/workflows", json: body, headers: ["Idempotency-Key": "create-apollo-1"])
        #expect(replay.status == 201)
        #expect(replay.header("idempotent-replayed") == "true")
        #expect(replay.text == first.text, "the original response is replayed, not the current state")
        #expect(replay.header("location") == first.header("location"))
        let different = try marcus.call(
            "POST", "/api/v1/workflows", json: ["workflowId": "create-prd", "parameters": ["projectName": "Zeus"]],
            headers: ["Idempotency-Key": "create-apollo-1"])
        #expect(isProblem(different, status: 422), "\(different)")
        let otherUser = try APIUser(stack, roles: ["Participant"])
        #expect(try otherUser.call("POST", "/api/v1/workflows", json: body, headers: ["Idempotency-Key": "create-apollo-1"]).header("idempotent-replayed") == nil,
                "keys are scoped to the token's sub")
        #expect(try stack.database.scalar("SELECT count(*) FROM workflow_instances") == "2")
        #expect(try stack.database.scalar("SELECT count(*) FROM workflow_events WHERE type = 'InstanceCreated'") == "2")
    }

    @Test func concurrentRetriesWithOneKeyCreateExactlyOneInstance() throws {
        let stack = try Stack(name: "idempotency-race")
        let marcus = try APIUser(stack, roles: ["Participant"])
        let client = stack.client
        let results = Mutex<[HTTPResult]>([])
        DispatchQueue.concurrentPerform(iterations: 10) { _ in
            if let result = try? client.send(
                "POST", "/api/v1/workflows", json: ["workflowId": "dev-story"], token: marcus.token, headers: ["Idempotency-Key": "double-click"])
            {
                results.withLock { $0.append(result) }
            }
        }
        let all = results.withLock { $0 }
        #expect(all.count == 10)
        #expect(all.allSatisfy { $0.status == 201 }, "\(all.map(\.status))")
        #expect(Set(all.compactMap { $0.json["id"] as? String }).count == 1)
        #expect(all.filter { $0.header("idempotent-replayed") == nil }.count == 1)
        #expect(try stack.database.scalar("SELECT count(*) FROM workflow_instances") == "1")
    }

    @Test(arguments: ["", String(repeating: "k", count: 256), "has space", "tab\there", "é"])
    func malformedKeysAre400AndWriteNothing(_ key: String) throws {
        let stack = try Stack(name: "idempotency-bad-key")
        let marcus = try APIUser(stack, roles: ["Participant"])
        let result = try marcus.call("POST", "/api/v1/workflows", json: ["workflowId": "create-prd"], headers: ["Idempotency-Key": key])
        #expect(isProblem(result, status: 400), "\(result)")
        #expect(try stack.database.scalar("SELECT count(*) FROM workflow_instances") == "0")
    }
}

@Suite(requiresStack)
struct FaultEndToEndTests {
    @Test func exhaustedPoolAnswers503AfterTheConfiguredWait() throws {
        let stack = try Stack(name: "pool-exhausted", environment: ["WORKFLOWD_POOL_SIZE": "1", "WORKFLOWD_POOL_TIMEOUT_MS": "500"])
        let marcus = try APIUser(stack, roles: ["Participant"])
        let id = try #require(marcus.create()["id"] as? String)
        let lock = try RowLock(stack.database, instance: id)
        let client = stack.client, token = marcus.token
        let slow = inBackground { try client.send("POST", "/api/v1/workflows/\(id)/transitions", json: ["to": "Running"], token: token) }
        Thread.sleep(forTimeInterval: 0.3)
        let started = Date()
        let starved = try marcus.call("GET", "/api/v1/workflows/\(id)")
        let waited = Date().timeIntervalSince(started)
        #expect(isProblem(starved, status: 503), "\(starved)")
        #expect(starved.header("retry-after") != nil)
        #expect(waited >= 0.4 && waited < 3, "answered after \(waited) s")
        try lock.release()
        #expect(slow()?.status == 200)
        #expect(try marcus.call("GET", "/api/v1/workflows/\(id)").status == 200)
    }

    @Test func statementTimeoutIs503AndTheChangeIsRolledBack() throws {
        let stack = try Stack(name: "statement-timeout", environment: ["WORKFLOWD_STATEMENT_TIMEOUT_MS": "300"])
        let marcus = try APIUser(stack, roles: ["Participant"])
        let id = try #require(marcus.create()["id"] as? String)
        let lock = try RowLock(stack.database, instance: id)
        let result = try marcus.transition(id, to: "Running")
        #expect(isProblem(result, status: 503), "\(result)")
        try lock.release()
        #expect(try stack.database.scalar("SELECT status || version FROM workflow_instances") == "Created1")
        #expect(try stack.database.scalar("SELECT count(*) FROM workflow_events") == "1")
    }

    @Test func sigkillMidRequestIs502AndLeavesNothingHalfWritten() throws {
        let stack = try Stack(name: "sigkill")
        let marcus = try APIUser(stack, roles: ["Participant"])
        let id = try #require(marcus.create()["id"] as? String)
        let lock = try RowLock(stack.database, instance: id)
        let client = stack.client, token = marcus.token
        let pending = inBackground { try client.send("POST", "/api/v1/workflows/\(id)/transitions", json: ["to": "Running"], token: token) }
        Thread.sleep(forTimeInterval: 0.5)
        stack.responders[0].signal(SIGKILL)
        let answer = pending()
        #expect(answer.map { isProblem($0, status: 502) } == true, "\(String(describing: answer))")
        // The orphaned backend notices its client is gone (client_connection_check_interval) and rolls back.
        Thread.sleep(forTimeInterval: 1.5)
        try lock.release()
        Thread.sleep(forTimeInterval: 0.3)
        #expect(try stack.database.scalar("SELECT status || version FROM workflow_instances") == "Created1")
        #expect(try stack.database.scalar("SELECT count(*) FROM workflow_events") == "1")
    }

    @Test func failedAuthRoutingAndValidationNeverNeedTheDatabase() throws {
        let cluster = try PostgresCluster.start(name: "no-db-needed")
        defer { cluster.destroy() }
        let database = try TestDatabase.create(baseURL: cluster.url)
        let stack = try Stack(name: "no-db-needed", databaseURL: database.url)
        try cluster.stop()
        let token = TestTokens.token(user: UUID(), roles: ["Participant"])
        let client = stack.client
        #expect(isProblem(try client.request("GET", "/api/v1/workflows"), status: 401))
        #expect(isProblem(try client.request("GET", "/api/v1/nope", token: token), status: 404))
        #expect(isProblem(try client.request("PUT", "/api/v1/workflows", token: token), status: 405))
        #expect(isProblem(try client.request("GET", "/api/v1/workflows/123", token: token), status: 404))
        #expect(isProblem(try client.send("POST", "/api/v1/workflows", json: ["workflowId": 1], token: token), status: 400))
        #expect(isProblem(try client.request("GET", "/api/v1/workflows?limit=0", token: token), status: 400))
        #expect(try client.request("GET", "/api/v1/workflow-states", token: token).status == 200)
        #expect(isProblem(try client.send("POST", "/api/v1/workflows", json: ["workflowId": "create-prd"], token: token), status: 503))
    }

    @Test func idempotentRetryAcrossADatabaseRestartCreatesExactlyOne() throws {
        let cluster = try PostgresCluster.start(name: "restart-retry")
        defer { cluster.destroy() }
        let database = try TestDatabase.create(baseURL: cluster.url)
        let stack = try Stack(name: "restart-retry", databaseURL: database.url)
        let marcus = try APIUser(stack, roles: ["Participant"])
        let body: [String: Any] = ["workflowId": "create-story"]
        #expect(try marcus.call("POST", "/api/v1/workflows", json: body, headers: ["Idempotency-Key": "warm"]).status == 201)
        try cluster.stop()
        let during = try marcus.call("POST", "/api/v1/workflows", json: body, headers: ["Idempotency-Key": "k-restart"])
        #expect(isProblem(during, status: 503), "\(during)")
        try cluster.start()
        var statuses: [Int] = []
        for _ in 0..<3 {
            statuses.append(try marcus.call("POST", "/api/v1/workflows", json: body, headers: ["Idempotency-Key": "k-restart"]).status)
        }
        #expect(statuses == [201, 201, 201])
        #expect(try database.scalar("SELECT count(*) FROM workflow_instances") == "2")
    }
}

@Suite(requiresStack)
struct ScaleOutEndToEndTests {
    /// Several responders behind one upstream, many clients, random transitions; then every 2xx must have
    /// exactly one event, every event a 2xx, and every instance's status must be its last event's.
    @Test func twoRespondersUnderConcurrentTransitionsReconcileExactly() throws {
        let stack = try Stack(name: "scale-out", responders: 2)
        let marcus = try APIUser(stack, roles: ["Participant"])
        let ids = try (0..<12).map { _ in try #require(marcus.create()["id"] as? String) }
        let statuses = ["Running", "Paused", "WaitingForInput", "WaitingForApproval", "Running", "Running", "Failed", "Cancelled", "Completed"]
        let successes = Mutex<[String: Int]>([:])
        let failures = Mutex<[Int]>([])
        let client = stack.client, token = marcus.token
        DispatchQueue.concurrentPerform(iterations: 16) { worker in
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<25 {
                let id = ids.randomElement(using: &generator)!
                let to = statuses.randomElement(using: &generator)!
                guard let result = try? client.send("POST", "/api/v1/workflows/\(id)/transitions", json: ["to": to], token: token) else {
                    failures.withLock { $0.append(-1) }
                    continue
                }
                switch result.status {
                case 200: successes.withLock { $0[id, default: 0] += 1 }
                case 400: break
                // Running out of WaitingForApproval needs the approvals, not a transition.
                case 403 where result.json["type"] as? String == "urn:workflowd:problem:approval-required": break
                default: failures.withLock { $0.append(result.status) }
                }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty, "only 200, 400 and approval-required expected: \(failures.withLock { $0 })")
        let wins = successes.withLock { $0 }
        let events = try stack.database.scalar("SELECT count(*) FROM workflow_events WHERE type = 'StatusChanged'")
        #expect(events == String(wins.values.reduce(0, +)))
        for id in ids {
            let uuid = UUID(uuidString: id)!
            #expect(try stack.database.scalar("SELECT version - 1 FROM workflow_instances WHERE id = \(uuid)") == String(wins[id] ?? 0))
            let matches = try stack.database.scalar("""
                SELECT i.status = e.to_status FROM workflow_instances i
                JOIN LATERAL (SELECT to_status FROM workflow_events WHERE workflow_instance_id = i.id ORDER BY id DESC LIMIT 1) e ON true
                WHERE i.id = \(uuid)
                """)
            #expect(matches == "t", "instance \(id) disagrees with its last event")
        }
        // Both responders served traffic.
        for responder in stack.responders {
            #expect(responder.log.contains("\"path\":\"/api/v1/workflows/"), "a responder got no requests")
        }
    }

    /// Three responders, mixed traffic, one responder killed mid-run: nginx routes around it, creates
    /// retried with their Idempotency-Key after a 502 yield exactly one instance each, and the history
    /// agrees with every instance's state.
    @Test func killingOneOfThreeRespondersLosesAndDuplicatesNothing() throws {
        let stack = try Stack(name: "kill-one", responders: 3)
        let marcus = try APIUser(stack, roles: ["Participant"])
        let client = stack.client, token = marcus.token
        let seeded = try (0..<6).map { _ in try #require(marcus.create()["id"] as? String) }
        let created = Mutex<[String]>([])
        let transitionOutcomes = Mutex<[Int]>([])
        let unexpected = Mutex<[String]>([])
        let killAfter = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = killAfter.wait(timeout: .now() + 30)
            stack.responders[1].signal(SIGKILL)
        }
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for round in 0..<30 {
                if worker == 0 && round == 10 { killAfter.signal() }
                if round % 3 == 0 {
                    let key = "w\(worker)-r\(round)"
                    for _ in 0..<3 {
                        guard let result = try? client.send(
                            "POST", "/api/v1/workflows", json: ["workflowId": "dev-story"], token: token, headers: ["Idempotency-Key": key])
                        else { continue }
                        if result.status == 201, let id = result.json["id"] as? String {
                            created.withLock { $0.append(id) }
                            break
                        }
                        if result.status != 502 { unexpected.withLock { $0.append("create \(result.status)") } }
                    }
                } else {
                    let id = seeded[(worker + round) % seeded.count]
                    let to = ["Running", "Paused", "Running", "WaitingForInput"][round % 4]
                    let status = (try? client.send("POST", "/api/v1/workflows/\(id)/transitions", json: ["to": to], token: token))?.status ?? -1
                    transitionOutcomes.withLock { $0.append(status) }
                    if ![200, 400, 502].contains(status) { unexpected.withLock { $0.append("transition \(status)") } }
                }
            }
        }
        #expect(unexpected.withLock { $0 }.isEmpty, "\(unexpected.withLock { $0 })")
        #expect(stack.responders[1].waitForExit(timeout: 5) != nil, "the killed responder is gone")
        let ids = created.withLock { $0 }
        #expect(ids.count == 8 * 10, "every create got its 201, on retry if needed")
        #expect(Set(ids).count == ids.count)
        #expect(try stack.database.scalar("SELECT count(*) FROM workflow_instances WHERE workflow_definition_id = 'dev-story'") == String(ids.count))
        #expect(try stack.database.scalar("SELECT count(*) FROM idempotency_keys") == String(ids.count))
        let outcomes = transitionOutcomes.withLock { $0 }
        let events = Int(try stack.database.scalar("SELECT count(*) FROM workflow_events WHERE type = 'StatusChanged'") ?? "") ?? -1
        let ok = outcomes.filter { $0 == 200 }.count, lost = outcomes.filter { $0 == 502 }.count
        #expect(events >= ok && events <= ok + lost, "events \(events), 200s \(ok), 502s \(lost)")
        #expect(try stack.database.scalar("""
            SELECT count(*) FROM workflow_instances i
            WHERE i.version - 1 <> (SELECT count(*) FROM workflow_events e WHERE e.workflow_instance_id = i.id AND e.type = 'StatusChanged')
               OR i.status <> (SELECT to_status FROM workflow_events e WHERE e.workflow_instance_id = i.id ORDER BY id DESC LIMIT 1)
            """) == "0")
        // After the kill, the two survivors answer everything.
        for _ in 0..<6 { #expect(try marcus.call("GET", "/api/v1/workflows?limit=1").status == 200) }
    }
}
