import PostgresClient
import Synchronization
import Foundation
import TestSupport
import Testing

@Suite(requiresStack)
struct WorkflowAPIEndToEndTests {
    @Test func theWholeWalkFromCreatedToCompleted() throws {
        let stack = try Stack(name: "walk")
        let marcus = try APIUser(stack, roles: ["Participant"])
        let created = try stack.client.send(
            "POST", "/api/v1/workflows", json: ["workflowId": "create-prd", "parameters": ["projectName": "Apollo"]], token: marcus.token)
        #expect(created.status == 201)
        let id = try #require(created.json["id"] as? String)
        #expect(created.header("location") == "/api/v1/workflows/\(id)")
        #expect(created.header("etag") == "\"1\"")
        #expect(created.json["status"] as? String == "Created")
        #expect(created.json["currentStep"] as? Int == 0)
        #expect((created.json["context"] as? [String: Any])?["projectName"] as? String == "Apollo")
        #expect(created.json["allowedTransitions"] as? [String] == ["Running", "Cancelled"])
        #expect(created.json["userId"] as? String == marcus.id.uuidString.lowercased())
        #expect((created.json["createdAt"] as? String)?.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression) != nil)

        let started = try marcus.transition(id, to: "Running")
        #expect(started.status == 200)
        #expect(started.json["currentStep"] as? Int == 1)
        #expect(try stack.database.scalar(
            "SELECT count(*) FROM workflow_events WHERE workflow_instance_id = \(UUID(uuidString: id)!) AND to_status = 'Running' AND step = 1") == "1")

        for status in ["Paused", "Running", "WaitingForInput", "Running", "WaitingForApproval", "Approved", "Completed"] {
            // Out of WaitingForApproval an Approver's approval, not a transition, leads back to Running.
            let moved = status == "Approved"
                ? try APIUser(stack, roles: ["Approver"]).call("POST", "/api/v1/workflows/\(id)/approvals", json: ["decision": "approve"])
                : try marcus.transition(id, to: status, reason: "walk")
            #expect(moved.status == 200, "\(status): \(moved)")
            #expect(moved.json["status"] as? String == (status == "Approved" ? "Running" : status))
        }
        let final = try marcus.call("GET", "/api/v1/workflows/\(id)")
        #expect(final.json["status"] as? String == "Completed")
        #expect(final.json["allowedTransitions"] as? [String] == [])
        #expect(final.json["version"] as? Int == 9)
        #expect(final.header("etag") == "\"9\"")

        let history = try marcus.call("GET", "/api/v1/workflows/\(id)/events")
        let items = try #require(history.json["items"] as? [[String: Any]])
        #expect(items.map { $0["type"] as? String }
            == ["InstanceCreated"] + Array(repeating: "StatusChanged", count: 6) + ["ApprovalGranted", "StatusChanged", "StatusChanged"])
        #expect(items.compactMap { $0["toStatus"] as? String }
            == ["Created", "Running", "Paused", "Running", "WaitingForInput", "Running", "WaitingForApproval", "Running", "Completed"])
        #expect(items.last?["reason"] as? String == "walk")
        #expect(history.json["nextCursor"] is NSNull)
    }

    @Test func advanceRecordsStepOutputAndCompletesAfterTheLastStep() throws {
        let stack = try Stack(name: "advance")
        let marcus = try APIUser(stack, roles: ["Participant"])
        let id = try #require(marcus.create("code-review")["id"] as? String)
        let notRunning = try marcus.call("POST", "/api/v1/workflows/\(id)/advance")
        #expect(isProblem(notRunning, status: 400), "\(notRunning)")
        #expect(notRunning.json["currentStatus"] as? String == "Created")
        _ = try marcus.transition(id, to: "Running")
        let definition = try marcus.call("GET", "/api/v1/workflow-definitions/code-review")
        let steps = try #require(definition.json["steps"] as? [[String: Any]])
        var last: HTTPResult?
        for (index, step) in steps.enumerated() {
            let result = try marcus.call("POST", "/api/v1/workflows/\(id)/advance", json: ["output": ["note": "step \(index + 1)"]])
            #expect(result.status == 200, "\(result)")
            last = result
            let stepData = result.json["stepData"] as? [String: Any]
            #expect((stepData?[step["id"] as! String] as? [String: Any])?["note"] as? String == "step \(index + 1)")
        }
        #expect(last?.json["status"] as? String == "Completed")
        #expect(last?.json["currentStep"] as? Int == steps.count)
        let events = try marcus.call("GET", "/api/v1/workflows/\(id)/events?limit=100").json["items"] as? [[String: Any]] ?? []
        #expect(events.filter { $0["type"] as? String == "StepCompleted" }.count == steps.count)
        #expect(events.last?["toStatus"] as? String == "Completed")
    }

    @Test func invalidTransitionIs400WithAnExplanationAndWritesNothing() throws {
        let stack = try Stack(name: "invalid")
        let marcus = try APIUser(stack, roles: ["Participant"])
        let id = try #require(marcus.create()["id"] as? String)
        let result = try marcus.transition(id, to: "Completed")
        #expect(isProblem(result, status: 400), "\(result)")
        #expect(result.json["detail"] as? String
            == "Cannot move a workflow from Created to Completed; from Created it can move to Running or Cancelled.")
        #expect(result.json["currentStatus"] as? String == "Created")
        #expect(result.json["requestedStatus"] as? String == "Completed")
        #expect(result.json["allowedTransitions"] as? [String] == ["Running", "Cancelled"])
        let unknown = try marcus.transition(id, to: "Exploded")
        #expect(isProblem(unknown, status: 400))
        #expect((unknown.json["errors"] as? [String: Any])?["to"] != nil)
        _ = try marcus.transition(id, to: "Cancelled")
        let terminal = try marcus.transition(id, to: "Running")
        #expect((terminal.json["detail"] as? String)?.contains("final state") == true)
        #expect(try stack.database.scalar("SELECT count(*) FROM workflow_events") == "2")
        #expect(try stack.database.scalar("SELECT version FROM workflow_instances") == "2")
    }

    @Test func staleIfMatchIs412WithTheCurrentVersion() throws {
        let stack = try Stack(name: "if-match")
        let marcus = try APIUser(stack, roles: ["Participant"])
        let id = try #require(marcus.create()["id"] as? String)
        let stale = try marcus.transition(id, to: "Running", headers: ["If-Match": "\"7\""])
        #expect(isProblem(stale, status: 412), "\(stale)")
        #expect(stale.json["currentVersion"] as? Int == 1)
        let fresh = try marcus.transition(id, to: "Running", headers: ["If-Match": "\"1\""])
        #expect(fresh.status == 200)
        #expect(fresh.header("etag") == "\"2\"")
    }

    @Test func anotherUsersWorkflowIs404ForReadsAndWritesButVisibleToAnAdmin() throws {
        let stack = try Stack(name: "ownership")
        let marcus = try APIUser(stack, roles: ["Participant"])
        let eve = try APIUser(stack, roles: ["Participant", "Viewer"])
        let admin = try APIUser(stack, roles: ["Admin"])
        let id = try #require(marcus.create()["id"] as? String)
        #expect(isProblem(try eve.call("GET", "/api/v1/workflows/\(id)"), status: 404))
        #expect(isProblem(try eve.transition(id, to: "Running"), status: 404))
        #expect(isProblem(try eve.call("GET", "/api/v1/workflows/\(id)/events"), status: 404))
        #expect(isProblem(try eve.call("POST", "/api/v1/workflows/\(id)/advance"), status: 404))
        #expect((try eve.call("GET", "/api/v1/workflows").json["items"] as? [Any])?.isEmpty == true)
        #expect(try admin.call("GET", "/api/v1/workflows/\(id)").status == 200)
        #expect(try admin.transition(id, to: "Running").status == 200)
        let filtered = try admin.call("GET", "/api/v1/workflows?userId=\(marcus.id.uuidString)")
        #expect((filtered.json["items"] as? [[String: Any]])?.map { $0["id"] as? String } == [id])
        #expect(isProblem(try eve.call("GET", "/api/v1/workflows?userId=\(marcus.id.uuidString)"), status: 403))
    }

    @Test func missingOrBadTokensAre401AndMissingRolesAre403() throws {
        let stack = try Stack(name: "auth")
        let none = try stack.client.request("GET", "/api/v1/workflows")
        #expect(isProblem(none, status: 401), "\(none)")
        #expect(none.header("www-authenticate")?.hasPrefix("Bearer error=\"invalid_token\"") == true)
        let forged = TestTokens.token(user: UUID(), roles: ["Admin"], secret: "not-the-secret-not-the-secret-not-the-secret")
        let bad = try stack.client.request("GET", "/api/v1/workflows", token: forged)
        #expect(isProblem(bad, status: 401))
        #expect(!bad.text.contains(forged.prefix(30)))
        let expired = try stack.client.request("GET", "/api/v1/workflows", token: TestTokens.token(user: UUID(), roles: ["Admin"], expiresIn: -600))
        #expect(isProblem(expired, status: 401))
        let viewer = try APIUser(stack, roles: ["Viewer"])
        #expect(isProblem(try viewer.call("POST", "/api/v1/workflows", json: ["workflowId": "create-prd"]), status: 403))
        #expect(try viewer.call("GET", "/api/v1/workflows").status == 200)
        let roleless = try APIUser(stack, roles: [])
        #expect(isProblem(try roleless.call("GET", "/api/v1/workflow-definitions"), status: 403))
        #expect(try stack.database.scalar("SELECT count(*) FROM workflow_instances") == "0")
    }

    @Test func listingPaginatesNewestFirstAndFilters() throws {
        let stack = try Stack(name: "pagination")
        let marcus = try APIUser(stack, roles: ["Participant"])
        var ids: [String] = []
        for i in 0..<7 { ids.append(try #require(marcus.create(i % 2 == 0 ? "create-prd" : "dev-story")["id"] as? String)) }
        var seen: [String] = []
        var cursor: String?
        var pages = 0
        repeat {
            let path = "/api/v1/workflows?limit=3" + (cursor.map { "&cursor=\($0)" } ?? "")
            let page = try marcus.call("GET", path)
            #expect(page.status == 200)
            seen += (page.json["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            cursor = page.json["nextCursor"] as? String
            pages += 1
        } while cursor != nil && pages < 10
        #expect(pages == 3)
        #expect(seen == ids.reversed())
        let prds = try marcus.call("GET", "/api/v1/workflows?workflowId=dev-story").json["items"] as? [[String: Any]] ?? []
        #expect(prds.count == 3)
        _ = try marcus.transition(ids[0], to: "Running")
        let running = try marcus.call("GET", "/api/v1/workflows?status=Running").json["items"] as? [[String: Any]] ?? []
        #expect(running.compactMap { $0["id"] as? String } == [ids[0]])
        for bad in ["limit=0", "limit=101", "limit=x", "status=Nope", "userId=x", "cursor=garbage"] {
            #expect(isProblem(try marcus.call("GET", "/api/v1/workflows?\(bad)"), status: 400), "\(bad)")
        }
    }

    @Test func concurrentTransitionsFromTheSameStateHaveExactlyOneWinner() throws {
        let stack = try Stack(name: "race")
        let marcus = try APIUser(stack, roles: ["Participant"])
        let id = try #require(marcus.create()["id"] as? String)
        let client = stack.client
        let token = marcus.token
        let statuses = Mutex<[Int]>([])
        DispatchQueue.concurrentPerform(iterations: 12) { _ in
            let result = try? client.send("POST", "/api/v1/workflows/\(id)/transitions", json: ["to": "Running"], token: token)
            statuses.withLock { $0.append(result?.status ?? -1) }
        }
        let all = statuses.withLock { $0 }
        #expect(all.filter { $0 == 200 }.count == 1, "\(all)")
        #expect(all.filter { $0 == 400 }.count == 11, "\(all)")
        #expect(try stack.database.scalar("SELECT count(*) FROM workflow_events WHERE to_status = 'Running'") == "1")
        #expect(try stack.database.scalar("SELECT version FROM workflow_instances") == "2")
    }

    @Test func badInputGetsAClearErrorAndWritesNothing() throws {
        let stack = try Stack(name: "bad-input")
        let marcus = try APIUser(stack, roles: ["Participant"])
        let client = stack.client
        func post(_ body: String, contentType: String = "application/json") throws -> HTTPResult {
            let result = try client.request("POST", "/api/v1/workflows", headers: ["Content-Type": contentType], body: Array(body.utf8), token: marcus.token)
            #expect(marcus.validator.violations(method: "POST", path: "/api/v1/workflows", response: result).isEmpty, "\(result)")
            return result
        }
        #expect(isProblem(try post("{\"workflowId\": "), status: 400))
        #expect(isProblem(try post("[]"), status: 400))
        #expect(isProblem(try post(#"{"workflowId":"create-prd","workflowId":"dev-story"}"#), status: 400), "duplicate keys")
        let missing = try post("{}")
        #expect(isProblem(missing, status: 400))
        #expect((missing.json["errors"] as? [String: Any])?["workflowId"] != nil)
        let mistyped = try post(#"{"workflowId": 5, "parameters": []}"#)
        #expect(Set(((mistyped.json["errors"] as? [String: Any]) ?? [:]).keys) == ["workflowId", "parameters"])
        let unknown = try post(#"{"workflowId": "make-coffee"}"#)
        #expect(isProblem(unknown, status: 400))
        #expect((unknown.json["errors"] as? [String: Any])?["workflowId"] != nil)
        #expect(isProblem(try post(#"{"workflowId": "create-prd"}"#, contentType: "text/plain"), status: 415))
        #expect(isProblem(try post(#"{"workflowId":"create-prd","parameters":{"s":"\u0000"}}"#), status: 400))
        #expect(isProblem(try post(#"{"workflowId":"create-prd","parameters":{"n":1e999999}}"#), status: 400))
        #expect(isProblem(try post(String(repeating: "[", count: 10_000)), status: 400))
        let invalidUTF8 = try client.request(
            "POST", "/api/v1/workflows", headers: ["Content-Type": "application/json"],
            body: Array(#"{"workflowId":"create-prd","parameters":{"s":""#.utf8) + [0xC3, 0x28] + Array(#""}}"#.utf8), token: marcus.token)
        #expect(isProblem(invalidUTF8, status: 400), "\(invalidUTF8)")
        #expect(try stack.database.scalar("SELECT count(*) FROM workflow_instances") == "0")
        #expect(try stack.database.scalar("SELECT count(*) FROM workflow_events") == "0")
    }

    /// Bodies just under the 1 MiB limit, valid and hostile, again and again: every one a 4xx or 201, and
    /// workflowd's peak memory stays bounded.
    @Test func largeAndHostileBodiesKeepMemoryBounded() throws {
        let stack = try Stack(name: "memory")
        let marcus = try APIUser(stack, roles: ["Participant"])
        let filler = String(repeating: "x", count: 1_000_000)
        let bodies = [
            #"{"workflowId":"create-prd","parameters":{"notes":"\#(filler)"}}"#,
            #"{"workflowId":"create-prd","parameters":{"notes":"\#(filler)"#,
            String(repeating: "[", count: 500_000) + String(repeating: "]", count: 500_000),
            "{" + (0..<50_000).map { #""k\#($0)":\#($0)"# }.joined(separator: ",") + "}",
            "[" + String(repeating: "123456789,", count: 99_000) + "1]",
        ]
        for round in 0..<4 {
            for body in bodies {
                let result = try stack.client.request(
                    "POST", "/api/v1/workflows", headers: ["Content-Type": "application/json"], body: Array(body.utf8), token: marcus.token)
                #expect(result.status == 201 || (400..<500).contains(result.status), "round \(round): \(result.status)")
            }
        }
        let status = try String(contentsOfFile: "/proc/\(stack.responders[0].pid)/status", encoding: .utf8)
        let peak = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
            .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true)[1]) } ?? Int.max
        #expect(peak < 200 * 1024, "workflowd's peak RSS is \(peak) KiB")
    }

    @Test func definitionsAndStatesDescribeTheCatalogueAndTheMachine() throws {
        let stack = try Stack(name: "catalogue")
        let viewer = try APIUser(stack, roles: ["Viewer"])
        let list = try viewer.call("GET", "/api/v1/workflow-definitions")
        let ids = (list.json["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        #expect(Set(["create-prd", "create-architecture", "create-epics-and-stories", "create-story", "dev-story", "code-review"]).isSubset(of: Set(ids)))
        #expect(isProblem(try viewer.call("GET", "/api/v1/workflow-definitions/make-coffee"), status: 404))
        let states = try viewer.call("GET", "/api/v1/workflow-states")
        #expect((states.json["states"] as? [String])?.count == 8)
        #expect(states.json["terminal"] as? [String] == ["Completed", "Failed", "Cancelled"])
        #expect((states.json["transitions"] as? [String: [String]])?["WaitingForInput"] == ["Running", "Paused", "Failed", "Cancelled"])
    }
}
