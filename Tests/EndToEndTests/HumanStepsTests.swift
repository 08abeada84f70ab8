import Foundation
import PostgresClient
import TestSupport
import Testing

/// Waits, input and approvals through nginx; every response is checked against the OpenAPI document.
@Suite(requiresStack)
struct HumanStepsEndToEndTests {
    static var storySchema: [String: Any] { [
        "type": "object", "required": ["title", "priority"], "additionalProperties": false,
        "properties": ["title": ["type": "string", "minLength": 3], "priority": ["enum": ["low", "medium", "high"]]],
    ] }

    func events(_ stack: Stack, _ id: String, type: String) throws -> String? {
        try stack.database.scalar("SELECT count(*) FROM workflow_events WHERE workflow_instance_id = \(UUID(uuidString: id)!) AND type = \(type)")
    }

    @Test func aBMADFlowAsksForInputPassesItsGateAndCompletes() throws {
        let stack = try Stack(name: "human-flow")
        let marcus = try APIUser(stack, roles: ["Participant"])
        let ann = try APIUser(stack, roles: ["Approver"])
        let id = try #require(marcus.create("create-prd", parameters: ["projectName": "Apollo"])["id"] as? String)
        let path = "/api/v1/workflows/\(id)"
        #expect(try marcus.transition(id, to: "Running").json["allowedActions"] as? [String]
            == ["pause", "requestInput", "requestApproval", "complete", "fail", "cancel", "advance"])
        let asked = try marcus.call("POST", path + "/transitions", json: [
            "to": "WaitingForInput", "reason": "The PM needs the first story",
            "awaiting": ["prompt": "Name the first story and its priority.", "schema": Self.storySchema, "dueAt": "2099-01-01T00:00:00Z"],
        ])
        #expect(asked.status == 400, "a deadline more than a year ahead is refused: \(asked)")
        let waiting = try marcus.call("POST", path + "/transitions", json: [
            "to": "WaitingForInput", "reason": "The PM needs the first story",
            "awaiting": ["prompt": "Name the first story and its priority.", "schema": Self.storySchema],
        ])
        #expect(waiting.status == 200, "\(waiting)")
        #expect(waiting.json["allowedActions"] as? [String] == ["pause", "fail", "cancel", "provideInput"])
        #expect((waiting.json["awaiting"] as? [String: Any])?["kind"] as? String == "input")
        let wrong = try marcus.call("POST", path + "/input", json: ["data": ["title": "ab", "priority": "urgent"]])
        #expect(isProblem(wrong, status: 400))
        #expect(wrong.json["errors"] as? [String: [String]] == [
            "/title": ["must be at least 3 characters"], "/priority": ["must be one of \"low\", \"medium\", \"high\""],
        ])
        let answered = try marcus.call("POST", path + "/input", json: ["data": ["title": "Checkout", "priority": "high"]])
        #expect(answered.status == 200 && answered.json["status"] as? String == "Running" && answered.json["awaiting"] is NSNull)
        #expect(((answered.json["stepData"] as? [String: Any])?["initialize-discovery"] as? [String: String])?["title"] == "Checkout")
        #expect(try events(stack, id, type: "InputProvided") == "1")

        // Steps 1–6 complete; advancing from step 7 (the checklist validation) opens its approval gate.
        var current = answered
        for _ in 1...6 { current = try marcus.call("POST", path + "/advance", json: ["output": ["ok": true]]) }
        #expect(current.json["currentStep"] as? Int == 7)
        let gated = try marcus.call("POST", path + "/advance", json: ["output": ["checklist": "passed"]])
        #expect(gated.json["status"] as? String == "WaitingForApproval" && gated.json["currentStep"] as? Int == 7)
        #expect(gated.json["allowedActions"] as? [String] == ["fail", "cancel"])
        #expect(isProblem(try marcus.transition(id, to: "Running"), status: 403))
        let selfApproval = try APIUser(stack, roles: ["Participant", "Approver"], id: marcus.id)
            .call("POST", path + "/approvals", json: ["decision": "approve"])
        #expect(isProblem(selfApproval, status: 403) && selfApproval.json["type"] as? String == "urn:workflowd:problem:not-eligible")
        #expect(try ann.call("GET", path).json["allowedActions"] as? [String] == ["approve", "reject"])
        let approved = try ann.call("POST", path + "/approvals", json: ["decision": "approve", "comment": "Checklist is convincing."])
        #expect(approved.status == 200 && approved.json["currentStep"] as? Int == 8 && approved.json["status"] as? String == "Running")
        #expect(((approved.json["stepData"] as? [String: Any])?["checklist-validation"] as? [String: String]) == ["checklist": "passed"])
        let done = try marcus.call("POST", path + "/advance", json: ["output": ["prd": "docs/prd.md"]])
        #expect(done.json["status"] as? String == "Completed")
        let history = try ann.call("GET", path + "/events?limit=100")
        let items = try #require(history.json["items"] as? [[String: Any]])
        let granted = try #require(items.first { $0["type"] as? String == "ApprovalGranted" })
        #expect(granted["userId"] as? String == ann.id.uuidString.lowercased() && granted["reason"] as? String == "Checklist is convincing.")
        #expect(items.suffix(4).map { $0["type"] as? String } == ["ApprovalGranted", "StepCompleted", "StatusChanged", "StepCompleted"].map(Optional.some)
            || items.suffix(5).map { $0["type"] as? String } == ["ApprovalGranted", "StepCompleted", "StatusChanged", "StepCompleted", "StatusChanged"])
    }

    @Test func nastyInputsAreClearProblemsAndWriteNothing() throws {
        let stack = try Stack(name: "human-nasty")
        let marcus = try APIUser(stack, roles: ["Participant"])
        let ann = try APIUser(stack, roles: ["Approver"])
        let bob = try APIUser(stack, roles: ["Approver"])
        let id = try #require(marcus.create()["id"] as? String)
        let path = "/api/v1/workflows/\(id)"
        _ = try marcus.transition(id, to: "Running")
        let before = try stack.database.scalar("SELECT count(*) FROM workflow_events")
        func refused(_ awaiting: [String: Any], to: String = "WaitingForInput", field: String) throws {
            let answer = try marcus.call("POST", path + "/transitions", json: ["to": to, "awaiting": awaiting])
            #expect(isProblem(answer, status: 400), "\(answer)")
            #expect((answer.json["errors"] as? [String: [String]])?[field] != nil, "\(field) not named in \(answer)")
        }
        try refused(["prompt": String(repeating: "p", count: 4001)], field: "awaiting.prompt")
        try refused(["prompt": "x", "schema": ["type": "string", "pattern": "^a"]], field: "awaiting.schema/pattern")
        try refused(["prompt": "x", "dueAt": "2020-01-01T00:00:00Z"], field: "awaiting.dueAt")
        try refused(["prompt": "x", "dueAt": "tomorrow"], field: "awaiting.dueAt")
        try refused(["prompt": "x"], to: "Paused", field: "awaiting")
        try refused(["prompt": "x", "approvers": ["count": 0]], to: "WaitingForApproval", field: "awaiting.approvers.count")
        let wrongState = try marcus.call("POST", path + "/input", json: ["data": ["a": 1]])
        #expect(isProblem(wrongState, status: 409) && wrongState.json["currentStatus"] as? String == "Running")
        #expect(try stack.database.scalar("SELECT count(*) FROM workflow_events") == before)

        let waiting = try marcus.call("POST", path + "/transitions", json: [
            "to": "WaitingForApproval", "awaiting": ["prompt": "Sign off", "approvers": ["count": 2, "userIds": [ann.id.uuidString, UUID().uuidString]]],
        ])
        #expect(waiting.status == 200)
        #expect(isProblem(try bob.call("POST", path + "/approvals", json: ["decision": "approve"]), status: 404), "bob is not listed")
        #expect(isProblem(try bob.call("GET", path), status: 404))
        #expect(try ann.call("POST", path + "/approvals", json: ["decision": "approve"]).status == 200)
        let twice = try ann.call("POST", path + "/approvals", json: ["decision": "reject"])
        #expect(isProblem(twice, status: 409) && twice.json["type"] as? String == "urn:workflowd:problem:already-decided")
        #expect(try events(stack, id, type: "ApprovalGranted") == "1" && events(stack, id, type: "ApprovalRejected") == "0")
    }

    @Test func theSeededGatesShowAndAnAdminOverrideIsRecorded() throws {
        let stack = try Stack(name: "human-override")
        let marcus = try APIUser(stack, roles: ["Participant"])
        let admin = try APIUser(stack, roles: ["Admin"])
        let definition = try marcus.call("GET", "/api/v1/workflow-definitions/create-architecture")
        let gates = (definition.json["steps"] as? [[String: Any]] ?? []).filter { $0["approval"] != nil }
        #expect(gates.map { $0["id"] as? String } == ["validation"])
        #expect((gates.first?["approval"] as? [String: Any])?["count"] as? Int == 1)
        let id = try #require(marcus.create("create-architecture")["id"] as? String)
        let path = "/api/v1/workflows/\(id)"
        _ = try marcus.transition(id, to: "Running")
        for _ in 1...7 { _ = try marcus.call("POST", path + "/advance", json: ["output": ["ok": true]]) }
        #expect(try marcus.call("GET", path).json["status"] as? String == "WaitingForApproval")
        let notAdmin = try marcus.call("POST", path + "/transitions", json: ["to": "Running", "override": true])
        #expect(isProblem(notAdmin, status: 403))
        let overridden = try admin.call("POST", path + "/transitions", json: ["to": "Running", "override": true, "reason": "Architect on leave"])
        #expect(overridden.status == 200 && overridden.json["currentStep"] as? Int == 8)
        let last = try #require((try admin.call("GET", path + "/events?limit=100").json["items"] as? [[String: Any]])?.last)
        #expect(last["type"] as? String == "StatusChanged" && last["reason"] as? String == "Architect on leave")
        #expect(last["data"] as? [String: Bool] == ["override": true] && last["userId"] as? String == admin.id.uuidString.lowercased())
    }

    /// Two eligible approvers decide at the same moment (both requests wait on the row lock, then race).
    func race(count: Int) throws -> (statuses: [Int], stack: Stack, id: String) {
        let stack = try Stack(name: "human-race-\(count)")
        let marcus = try APIUser(stack, roles: ["Participant"])
        let approvers = try (0..<2).map { _ in try APIUser(stack, roles: ["Approver"]) }
        let id = try #require(marcus.create()["id"] as? String)
        _ = try marcus.transition(id, to: "Running")
        let waiting = try marcus.call("POST", "/api/v1/workflows/\(id)/transitions", json: [
            "to": "WaitingForApproval", "awaiting": ["prompt": "Sign off", "approvers": ["count": count]],
        ])
        #expect(waiting.status == 200)
        let lock = try RowLock(stack.database, instance: id)
        let client = stack.client
        let pending = approvers.map { approver in
            let token = approver.token
            return inBackground { try client.send("POST", "/api/v1/workflows/\(id)/approvals", json: ["decision": "approve"], token: token) }
        }
        Thread.sleep(forTimeInterval: 0.5)
        try lock.release()
        let results = pending.map { $0() }
        for result in results.compactMap({ $0 }) {
            #expect(approvers[0].validator.violations(method: "POST", path: "/api/v1/workflows/\(id)/approvals", response: result).isEmpty)
        }
        return (results.map { $0?.status ?? -1 }.sorted(), stack, id)
    }

    @Test func twoApproversAtOnceOnAOneApprovalWaitEndItExactlyOnce() throws {
        let (statuses, stack, id) = try race(count: 1)
        #expect(statuses == [200, 409])
        #expect(try events(stack, id, type: "ApprovalGranted") == "1")
        #expect(try stack.database.scalar("SELECT status FROM workflow_instances WHERE id = \(UUID(uuidString: id)!)") == "Running")
    }

    @Test func twoApproversAtOnceOnATwoApprovalWaitBothCountOnce() throws {
        let (statuses, stack, id) = try race(count: 2)
        #expect(statuses == [200, 200])
        #expect(try events(stack, id, type: "ApprovalGranted") == "2")
        #expect(try stack.database.scalar(
            "SELECT status || ' ' || cardinality(decided_by) FROM workflow_instances WHERE id = \(UUID(uuidString: id)!)") == "Running 2")
    }

    /// Deadlines pass while two workflowd processes (each running the deadline job) serve one database:
    /// every expired wait is applied once, by the system, within 2 s of its dueAt.
    @Test func deadlinesPassWhileTwoProcessesRunAndEachIsAppliedOnceBySystem() throws {
        let stack = try Stack(name: "human-deadlines", responders: 2)
        let marcus = try APIUser(stack, roles: ["Participant"])
        let format = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        let plan: [(kind: String, onTimeout: String)] = [("WaitingForInput", "Notify"), ("WaitingForApproval", "Cancel")]
            + Array(repeating: ("WaitingForInput", "Fail"), count: 10)
        let ids = try plan.map { wait in
            let id = try #require(marcus.create()["id"] as? String)
            _ = try marcus.transition(id, to: "Running")
            let dueAt = Date().addingTimeInterval(2).formatted(format)
            let waiting = try marcus.call("POST", "/api/v1/workflows/\(id)/transitions", json: [
                "to": wait.kind, "awaiting": ["prompt": "Answer by the deadline", "dueAt": dueAt, "onTimeout": wait.onTimeout],
            ])
            #expect(waiting.status == 200, "\(waiting)")
            return id
        }
        let deadline = Date().addingTimeInterval(15)
        while try stack.database.scalar("SELECT count(*) FROM workflow_events WHERE type = 'DeadlinePassed'") != String(ids.count),
              Date() < deadline {
            Thread.sleep(forTimeInterval: 0.2)
        }
        Thread.sleep(forTimeInterval: 1.5)  // both jobs polled again: nothing is applied twice
        for (id, wait) in zip(ids, plan) {
            let instance = try marcus.call("GET", "/api/v1/workflows/\(id)").json
            let items = try #require(try marcus.call("GET", "/api/v1/workflows/\(id)/events?limit=50").json["items"] as? [[String: Any]])
            let passed = items.filter { $0["type"] as? String == "DeadlinePassed" }
            #expect(passed.count == 1, "\(id): \(passed.count) DeadlinePassed events")
            let event = try #require(passed.first)
            #expect(event["actor"] as? [String: String] == ["type": "system"] && event["userId"] is NSNull)
            let data = try #require(event["data"] as? [String: String])
            #expect(data["onTimeout"] == wait.onTimeout)
            let due = try format.parse(try #require(data["dueAt"]))
            let applied = try format.parse(try #require(event["occurredAt"] as? String))
            #expect(applied >= due && applied.timeIntervalSince(due) < 2, "applied \(applied.timeIntervalSince(due)) s after dueAt")
            switch wait.onTimeout {
            case "Notify":
                #expect(instance["status"] as? String == "WaitingForInput")
                #expect((instance["awaiting"] as? [String: Any])?["overdue"] as? Bool == true)
                #expect(items.last?["type"] as? String == "DeadlinePassed")
            default:
                #expect(instance["status"] as? String == (wait.onTimeout == "Fail" ? "Failed" : "Cancelled") && instance["awaiting"] is NSNull)
                let last = try #require(items.last)
                #expect(last["type"] as? String == "StatusChanged" && last["actor"] as? [String: String] == ["type": "system"])
                #expect(last["fromStatus"] as? String == wait.kind)
            }
        }
        // The overdue input wait is still answered the ordinary way, by its owner.
        let answered = try marcus.call("POST", "/api/v1/workflows/\(ids[0])/transitions", json: ["to": "Running"])
        #expect(answered.status == 200)
        let owner = try #require(try marcus.call("GET", "/api/v1/workflows/\(ids[0])/events?limit=1").json["items"] as? [[String: Any]])
        #expect(owner.first?["actor"] as? [String: String] == ["type": "user", "id": marcus.id.uuidString.lowercased()])
    }

    /// The inbox through nginx: each user sees the waits they can answer now, paged, and nothing else;
    /// an unknown parameter or kind is a 400 naming it.
    @Test func theInboxShowsEachUserTheWaitsTheyCanAnswerNow() throws {
        let stack = try Stack(name: "human-inbox")
        let marcus = try APIUser(stack, roles: ["Participant"])
        let ann = try APIUser(stack, roles: ["Approver"])
        let bob = try APIUser(stack, roles: ["Approver"])
        func waiting(_ body: [String: Any]) throws -> String {
            let id = try #require(marcus.create()["id"] as? String)
            _ = try marcus.transition(id, to: "Running")
            #expect(try marcus.call("POST", "/api/v1/workflows/\(id)/transitions", json: body).status == 200)
            return id
        }
        let input = try waiting(["to": "WaitingForInput", "awaiting": ["prompt": "Name the first story.", "schema": Self.storySchema]])
        let forAnn = try waiting(["to": "WaitingForApproval", "awaiting": [
            "prompt": "Sign off the PRD", "approvers": ["count": 2, "userIds": [ann.id.uuidString, UUID().uuidString]],
            "dueAt": Date().addingTimeInterval(3600).formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)),
        ]])
        let anyone = try waiting(["to": "WaitingForApproval", "awaiting": ["prompt": "Sign off the architecture"]])
        func ids(_ user: APIUser, _ query: String = "") throws -> [String] {
            let page = try user.call("GET", "/api/v1/tasks" + query)
            #expect(page.status == 200, "\(page)")
            return (page.json["items"] as? [[String: Any]] ?? []).compactMap { ($0["instance"] as? [String: Any])?["id"] as? String }
        }
        #expect(try ids(marcus) == [input], "the owner answers input; approving their own is not theirs")
        #expect(try ids(ann) == [anyone, forAnn])
        #expect(try ids(bob) == [anyone], "bob is not listed on the PRD sign-off")
        #expect(try ids(ann, "?kind=input").isEmpty && ids(marcus, "?kind=approval").isEmpty)
        let first = try ann.call("GET", "/api/v1/tasks?kind=approval&limit=1")
        let item = try #require((first.json["items"] as? [[String: Any]])?.first)
        #expect(item["kind"] as? String == "approval" && item["prompt"] as? String == "Sign off the architecture")
        #expect(item["approvalsNeeded"] as? Int == 1 && item["approvalsGiven"] as? Int == 0 && item["overdue"] as? Bool == false)
        #expect((item["instance"] as? [String: Any])?["allowedActions"] as? [String] == ["approve", "reject"])
        let cursor = try #require(first.json["nextCursor"] as? String)
        let second = try ann.call("GET", "/api/v1/tasks?kind=approval&limit=1&cursor=\(cursor)")
        let next = try #require((second.json["items"] as? [[String: Any]])?.first)
        #expect((next["instance"] as? [String: Any])?["id"] as? String == forAnn && next["dueAt"] is String && second.json["nextCursor"] is NSNull)
        let inputTask = try #require((try marcus.call("GET", "/api/v1/tasks").json["items"] as? [[String: Any]])?.first)
        #expect(inputTask["kind"] as? String == "input" && (inputTask["schema"] as? [String: Any])?["required"] as? [String] == ["title", "priority"])
        #expect(inputTask["approvalsNeeded"] is NSNull)
        // Deciding takes it out of the decider's inbox only (the wait needs a second approval).
        #expect(try ann.call("POST", "/api/v1/workflows/\(forAnn)/approvals", json: ["decision": "approve"]).status == 200)
        #expect(try ids(ann) == [anyone])
        let unknown = try ann.call("GET", "/api/v1/tasks?knd=input&kind=everything")
        #expect(isProblem(unknown, status: 400))
        #expect(Set((unknown.json["errors"] as? [String: [String]])?.keys.map { $0 } ?? []) == ["knd", "kind"])
    }

    /// A failed run retried through nginx with a corrected context: 201 with Location, linked both ways,
    /// started at the step that failed; a second retry, a retry of a running instance, a bad patch and a
    /// retry by someone else are refused and write nothing.
    @Test func aFailedRunIsRetriedOnceWithACorrectedContext() throws {
        let stack = try Stack(name: "human-retry")
        let marcus = try APIUser(stack, roles: ["Participant"])
        let eve = try APIUser(stack, roles: ["Participant"])
        let id = try #require(marcus.create("create-prd", parameters: ["projectName": "Apolo", "budget": 10])["id"] as? String)
        let path = "/api/v1/workflows/\(id)"
        _ = try marcus.transition(id, to: "Running")
        _ = try marcus.call("POST", path + "/advance", json: ["output": ["vision": "v1"]])
        _ = try marcus.call("POST", path + "/advance", json: ["output": ["users": "PMs"]])
        #expect(isProblem(try marcus.call("POST", path + "/retry", json: [:]), status: 409), "a running instance is not retried")
        let failed = try marcus.transition(id, to: "Failed", reason: "wrong project name")
        #expect(failed.json["allowedActions"] as? [String] == ["retry"])
        let before = try stack.database.scalar("SELECT count(*) FROM workflow_events")
        let badPatch = try marcus.call("POST", path + "/retry", json: ["contextPatch": [1, 2], "fromStep": 0, "colour": "red"])
        #expect(isProblem(badPatch, status: 400))
        #expect(Set((badPatch.json["errors"] as? [String: [String]])?.keys.map { $0 } ?? []) == ["contextPatch", "fromStep", "colour"])
        #expect(isProblem(try marcus.call("POST", path + "/retry", json: ["fromStep": 99]), status: 400))
        #expect(isProblem(try eve.call("POST", path + "/retry", json: [:]), status: 404))
        #expect(try stack.database.scalar("SELECT count(*) FROM workflow_events") == before)

        let retried = try marcus.call("POST", path + "/retry", json: [
            "contextPatch": ["projectName": "Apollo", "budget": NSNull()], "reason": "typo in the project name",
        ])
        #expect(retried.status == 201, "\(retried)")
        let newId = try #require(retried.json["id"] as? String)
        #expect(retried.header("location") == "/api/v1/workflows/\(newId)")
        #expect(retried.json["retryOf"] as? String == id && retried.json["attempt"] as? Int == 2 && retried.json["status"] as? String == "Created")
        #expect(retried.json["context"] as? [String: String] == ["projectName": "Apollo"])
        #expect((retried.json["stepData"] as? [String: Any])?.count == 2, "the two completed steps before step 3 are carried over")
        let old = try marcus.call("GET", path).json
        #expect(old["status"] as? String == "Failed" && old["retriedAs"] as? String == newId && (old["allowedActions"] as? [String])?.isEmpty == true)
        let again = try marcus.call("POST", path + "/retry", json: [:])
        #expect(isProblem(again, status: 409) && again.json["retriedAs"] as? String == newId)
        let last = try #require((try marcus.call("GET", path + "/events?limit=100").json["items"] as? [[String: Any]])?.last)
        #expect(last["type"] as? String == "RetriedAs" && (last["data"] as? [String: Any])?["retriedAs"] as? String == newId)
        let started = try marcus.transition(newId, to: "Running")
        #expect(started.json["currentStep"] as? Int == 3, "the retry starts at the step that failed")
    }

    /// The README's curl session of a full BMAD flow, run as written (this build's workflowd mints the tokens,
    /// BASE_URL is the stack's): every command answers as its comment says, and the database ends as the
    /// story does — one PRD completed through its gate, one failed run retried with a corrected context.
    @Test func theREADMEsBMADSessionRunsAsWritten() throws {
        let stack = try Stack(name: "human-readme")
        let root = try #require(TestEnvironment.root)
        let readme = try String(contentsOfFile: "\(root)/README.md", encoding: .utf8)
        let opening = try #require(readme.range(of: "A full BMAD flow (Marcus runs the PM agent, Ann signs off):\n\n```sh\n"))
        let closing = try #require(readme.range(of: "\n```\n", range: opening.upperBound..<readme.endIndex))
        let session = readme[opening.upperBound..<closing.lowerBound].replacingOccurrences(of: ".build/release/workflowd", with: TestEnvironment.binary!)
        let script = try TestEnvironment.scratchDirectory("readme-session") + "/session.sh"
        try ("set -euo pipefail\n" + session + "\n").write(toFile: script, atomically: true, encoding: .utf8)
        let run = try Shell.run(["bash", script], environment: [
            "BASE_URL": "http://127.0.0.1:\(stack.client.port)", "WORKFLOWD_JWT_SECRET": TestTokens.secret,
        ])
        let said = run.output
        for expected in [
            #""allowedActions":["pause","fail","cancel","provideInput"]"#, #""/title":["must be at least 3 characters"]"#,
            #""/priority":["must be one of \"low\", \"medium\", \"high\""]"#,
            #""stepData":{"initialize-discovery": {"title": "Checkout", "priority": "high"}}"#,
            #""status":"WaitingForApproval""#, #""gate":true"#, "urn:workflowd:problem:approval-required", "Idempotent-Replayed: true", #""status":"Completed""#,
            #""allowedActions":["retry"]"#, "HTTP/1.1 201", "Location: /api/v1/workflows/", #""attempt":2"#,
        ] {
            #expect(said.contains(expected), "the session did not answer \(expected): \(said)")
        }
        func count(_ condition: String) throws -> String? {
            let instances = "workflow_instances JOIN workflow_instance_documents ON workflow_instance_id = id"
            return try stack.database.scalar(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(instances) WHERE " + condition, binds: []))
        }
        #expect(try count("status = 'Completed' AND step_data ? 'checklist-validation'") == "1")
        #expect(try count("status = 'Failed' AND retried_as IS NOT NULL AND context->>'projectName' = 'Apolo'") == "1")
        #expect(try count("status = 'Created' AND attempt = 2 AND start_step = 3 AND context->>'projectName' = 'Apollo'") == "1")
        #expect(try stack.database.scalar("SELECT count(*) FROM workflow_events WHERE type = 'ApprovalGranted'") == "1")
    }

    /// A keyed command answered 5xx keeps nothing: a statement timeout rolls the change and the key back
    /// together, so the same request with the same key runs afresh once the database answers again, and
    /// only then is it replayed.
    @Test func aKeyedCommandThatTimesOutKeepsNeitherItsChangeNorItsKey() throws {
        let stack = try Stack(name: "human-idempotent-5xx", environment: ["WORKFLOWD_STATEMENT_TIMEOUT_MS": "300"])
        let marcus = try APIUser(stack, roles: ["Participant"])
        let id = try #require(marcus.create()["id"] as? String)
        let path = "/api/v1/workflows/\(id)/transitions"
        let lock = try RowLock(stack.database, instance: id)
        let timedOut = try marcus.call("POST", path, json: ["to": "Running"], headers: ["Idempotency-Key": "start-1"])
        #expect(isProblem(timedOut, status: 503) && timedOut.header("idempotent-replayed") == nil)
        try lock.release()
        #expect(try stack.database.scalar("SELECT count(*) FROM idempotency_keys") == "0", "no key without its answer")
        #expect(try events(stack, id, type: "StatusChanged") == "0")
        let ran = try marcus.call("POST", path, json: ["to": "Running"], headers: ["Idempotency-Key": "start-1"])
        #expect(ran.status == 200 && ran.header("idempotent-replayed") == nil, "the key was free: the request ran")
        let replayed = try marcus.call("POST", path, json: ["to": "Running"], headers: ["Idempotency-Key": "start-1"])
        #expect(replayed.status == 200 && replayed.body == ran.body && replayed.header("idempotent-replayed") == "true")
        #expect(try events(stack, id, type: "StatusChanged") == "1")
    }

    /// `Idempotency-Key` on every command through nginx: the same request replays its answer (status, body,
    /// ETag/Location) with `Idempotent-Replayed: true` and writes nothing more, another request with the
    /// key is 422, one sent while the first is still being answered is 409, and a refusal replays too.
    @Test func commandsWithAnIdempotencyKeyTakeEffectOnceAndReplayTheirAnswer() throws {
        let stack = try Stack(name: "human-idempotent")
        let marcus = try APIUser(stack, roles: ["Participant"])
        let ann = try APIUser(stack, roles: ["Approver"])
        let id = try #require(marcus.create()["id"] as? String)
        let path = "/api/v1/workflows/\(id)"
        func eventCount() throws -> Int { Int(try stack.database.scalar("SELECT count(*) FROM workflow_events") ?? "") ?? -1 }
        /// Sends the command twice with `key`: the first writes `events` events, the second replays it and writes none.
        func twice(
            _ user: APIUser, _ command: String, _ body: [String: Any], key: String, events: Int, sourceLocation: SourceLocation = #_sourceLocation
        ) throws -> HTTPResult {
            let before = try eventCount()
            let first = try user.call("POST", path + "/" + command, json: body, headers: ["Idempotency-Key": key])
            #expect(first.header("idempotent-replayed") == nil, sourceLocation: sourceLocation)
            #expect(try eventCount() == before + events, "\(command) wrote its events once", sourceLocation: sourceLocation)
            let again = try user.call("POST", path + "/" + command, json: body, headers: ["Idempotency-Key": key])
            #expect(again.status == first.status && again.body == first.body && again.header("idempotent-replayed") == "true",
                    "\(command): \(again)", sourceLocation: sourceLocation)
            #expect(again.header("etag") == first.header("etag") && again.header("location") == first.header("location"),
                    sourceLocation: sourceLocation)
            #expect(try eventCount() == before + events, "\(command)'s replay wrote nothing", sourceLocation: sourceLocation)
            return first
        }

        #expect(try twice(marcus, "transitions", ["to": "Running"], key: "start-1", events: 1).status == 200)
        let other = try marcus.call("POST", path + "/transitions", json: ["to": "Paused"], headers: ["Idempotency-Key": "start-1"])
        #expect(isProblem(other, status: 422) && other.json["type"] as? String == "urn:workflowd:problem:idempotency-key-reused")
        #expect(try marcus.call("GET", path).json["status"] as? String == "Running", "the 422 changed nothing")

        #expect(try twice(marcus, "advance", ["output": ["n": 1]], key: "step-1", events: 1).json["currentStep"] as? Int == 2)
        #expect(try marcus.call("GET", path).json["currentStep"] as? Int == 2, "the replay did not advance again")

        // A refusal is an answer too: replayed as it was, and still replayed once the state would allow it.
        let refused = try twice(marcus, "input", ["data": ["a": 1]], key: "input-1", events: 0)
        #expect(isProblem(refused, status: 409))
        #expect(try marcus.transition(id, to: "WaitingForInput").status == 200)
        let late = try marcus.call("POST", path + "/input", json: ["data": ["a": 1]], headers: ["Idempotency-Key": "input-1"])
        #expect(late.status == 409 && late.header("idempotent-replayed") == "true")
        let input = try twice(marcus, "input", ["data": ["a": 1]], key: "input-2", events: 2)
        #expect(input.status == 200 && input.json["status"] as? String == "Running")
        #expect(try events(stack, id, type: "InputProvided") == "1")

        // In flight: the first decision waits on the row lock, holding its key, while the second arrives.
        #expect(try marcus.transition(id, to: "WaitingForApproval").status == 200)
        let lock = try RowLock(stack.database, instance: id)
        let (client, token) = (stack.client, ann.token)
        let first = inBackground {
            try client.send("POST", "/api/v1/workflows/\(id)/approvals", json: ["decision": "approve"], token: token, headers: ["Idempotency-Key": "ok-1"])
        }
        Thread.sleep(forTimeInterval: 0.5)
        let meanwhile = try ann.call("POST", path + "/approvals", json: ["decision": "approve"], headers: ["Idempotency-Key": "ok-1"])
        #expect(isProblem(meanwhile, status: 409) && meanwhile.json["type"] as? String == "urn:workflowd:problem:idempotency-key-in-flight")
        #expect(meanwhile.header("retry-after") == "1")
        try lock.release()
        let approved = try #require(first())
        #expect(approved.status == 200 && approved.json["status"] as? String == "Running")
        let approvedAgain = try ann.call("POST", path + "/approvals", json: ["decision": "approve"], headers: ["Idempotency-Key": "ok-1"])
        #expect(approvedAgain.status == 200 && approvedAgain.body == approved.body && approvedAgain.header("idempotent-replayed") == "true")
        #expect(try events(stack, id, type: "ApprovalGranted") == "1")
        _ = try marcus.transition(id, to: "WaitingForApproval")
        #expect(try twice(ann, "approvals", ["decision": "reject", "comment": "not yet"], key: "no-1", events: 2).status == 200)
        #expect(try events(stack, id, type: "ApprovalRejected") == "1")

        // Retry: one new attempt, the same Location on a replay.
        _ = try marcus.transition(id, to: "Failed")
        let retried = try twice(marcus, "retry", ["contextPatch": ["fixed": true]], key: "retry-1", events: 2)
        #expect(retried.status == 201 && retried.header("location") != nil)
        #expect(try stack.database.scalar("SELECT count(*) FROM workflow_instances") == "2")
        let badKey = try marcus.call("POST", path + "/retry", json: [:], headers: ["Idempotency-Key": String(repeating: "k", count: 256)])
        #expect(isProblem(badKey, status: 400))

        // Keys belong to the caller: Ann's key of the same name is hers, and a create's key is not a command's.
        #expect(try ann.call("POST", path + "/approvals", json: ["decision": "approve"], headers: ["Idempotency-Key": "start-1"]).header("idempotent-replayed") == nil)
        let created = try marcus.call("POST", "/api/v1/workflows", json: ["workflowId": "create-prd"], headers: ["Idempotency-Key": "made-1"])
        let createdId = try #require(created.json["id"] as? String)
        let crossed = try marcus.call("POST", "/api/v1/workflows/\(createdId)/transitions", json: ["to": "Running"], headers: ["Idempotency-Key": "made-1"])
        #expect(isProblem(crossed, status: 422))
    }
}
