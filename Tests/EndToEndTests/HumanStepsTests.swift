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
}
