import Foundation
import HTTPTypes
import Logging
import Synchronization
import TestSupport
import Testing
@testable import WorkflowAPI
import Workflows

/// Waits, answers and `allowedActions` through `WorkflowAPI.handle`, over the in-memory repository.
@Suite struct HumanStepsAPITests {
    let api: WorkflowAPI
    let repository = InMemoryWorkflowRepository()
    let owner = UUID()
    let approver = UUID()

    init() async throws {
        let verifier = try await TokenVerifier.make(configuration: TokenVerifierConfiguration(
            hmacSecret: TestTokens.secret, jwksJSON: nil, issuer: nil, audience: nil))
        api = WorkflowAPI(
            service: WorkflowService(repository: repository), verifier: verifier, maxBodyBytes: 1 << 20, logger: Logger(label: "test")
        ) { .ready }
    }

    struct Answer {
        let status: Int
        let body: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
        var type: String? { json["type"] as? String }
        var errors: [String: [String]] { json["errors"] as? [String: [String]] ?? [:] }
    }

    func call(_ method: HTTPRequest.Method, _ path: String, roles: [String], user: UUID, body: String? = nil) -> Answer {
        var head = HTTPRequest(method: method, scheme: "http", authority: "localhost", path: path)
        head.headerFields[.authorization] = "Bearer " + TestTokens.token(user: user, roles: roles)
        if let body {
            head.headerFields[.contentType] = "application/json"
            head.headerFields[.contentLength] = String(body.utf8.count)
        }
        let (response, bytes) = api.handle(head, body: Array((body ?? "").utf8))
        return Answer(status: response.status.code, body: String(decoding: bytes, as: UTF8.self))
    }

    /// An instance of `create-architecture` (step 2 of 3 is a gate) in `status` awaiting `awaiting`, stored directly.
    func stored(_ status: WorkflowStatus, _ awaiting: Awaiting? = nil, step: Int = 1) -> UUID {
        let id = UUID()
        let at = Timestamp(microsecondsSinceEpoch: 1_800_000_000_000_000)
        let instance = WorkflowInstance(
            id: id, definitionId: "create-architecture", userId: owner, status: status, currentStep: status == .created ? 0 : step,
            totalSteps: 3, context: .emptyObject, stepData: .emptyObject, version: 1, createdAt: at, updatedAt: at, awaiting: awaiting)
        repository.state.withLock { $0.instances[id] = instance }
        return id
    }

    func instance(_ id: UUID) -> WorkflowInstance? { repository.state.withLock { $0.instances[id] } }
    func eventCount(_ id: UUID) -> Int { repository.state.withLock { $0.events.filter { $0.instanceId == id }.count } }

    static let schema = #"{"type":"object","required":["x"],"properties":{"x":{"type":"integer"}}}"#

    // MARK: allowedActions is what the server enforces

    struct Caller: CustomStringConvertible {
        let name: String
        let roles: [String]
        let isOwner: Bool
        var description: String { name }
    }

    /// The request each action is; two actions with the same request cannot be told apart by a refusal.
    static func request(for action: WorkflowAction, id: UUID) -> (HTTPRequest.Method, String, String) {
        let base = "/api/v1/workflows/\(id.uuidString.lowercased())"
        func to(_ status: String, _ extra: String = "") -> (HTTPRequest.Method, String, String) {
            (.post, base + "/transitions", #"{"to":"\#(status)"\#(extra)}"#)
        }
        switch action {
        case .start, .resume: return to("Running")
        case .pause: return to("Paused")
        case .cancel: return to("Cancelled")
        case .fail: return to("Failed")
        case .complete: return to("Completed")
        case .requestInput: return to("WaitingForInput", #","awaiting":{"prompt":"Which?"}"#)
        case .requestApproval: return to("WaitingForApproval", #","awaiting":{"prompt":"Sign off"}"#)
        case .override: return to("Running", #","override":true,"reason":"urgent""#)
        case .advance: return (.post, base + "/advance", "{}")
        case .provideInput: return (.post, base + "/input", #"{"data":{"x":1}}"#)
        case .approve: return (.post, base + "/approvals", #"{"decision":"approve"}"#)
        case .reject: return (.post, base + "/approvals", #"{"decision":"reject"}"#)
        case .retry: return (.post, base + "/retry", #"{"reason":"again"}"#)
        }
    }

    /// Every status × wait × caller × action: a published action succeeds, an unpublished one is refused
    /// and writes nothing.
    @Test func everyPublishedActionSucceedsAndEveryOtherIsRefused() throws {
        let other = UUID()
        let waits: [(WorkflowStatus, Awaiting?)] = WorkflowStatus.allCases.filter { Awaiting.Kind(waitingIn: $0) == nil }.map { ($0, nil) } + [
            (.waitingForInput, .plain(.input)),
            (.waitingForInput, Awaiting(kind: .input, prompt: "x?", schema: JSONText(unchecked: Self.schema))),
            (.waitingForApproval, .plain(.approval)),
            (.waitingForApproval, Awaiting(kind: .approval, prompt: "ok?", approvers: ApprovalPolicy(count: 1, userIds: [other]))),
            (.waitingForApproval, Awaiting(kind: .approval, prompt: "ok?", approvers: ApprovalPolicy(count: 1, allowSelfApproval: true))),
            (.waitingForApproval, Awaiting(
                kind: .approval, prompt: "ok?", approvers: ApprovalPolicy(count: 2),
                decisions: [ApprovalDecision(userId: approver, decision: .approve, decidedAt: Timestamp(microsecondsSinceEpoch: 1))])),
            (.waitingForApproval, Awaiting(kind: .approval, prompt: "gate", gateOutput: .emptyObject)),
        ]
        let callers = [
            Caller(name: "owner", roles: ["Participant"], isOwner: true),
            Caller(name: "owner+approver", roles: ["Participant", "Approver"], isOwner: true),
            Caller(name: "viewer owner", roles: ["Viewer"], isOwner: true),
            Caller(name: "other participant", roles: ["Participant"], isOwner: false),
            Caller(name: "approver", roles: ["Approver"], isOwner: false),
            Caller(name: "admin", roles: ["Admin"], isOwner: false),
        ]
        var checked = 0
        for (status, wait) in waits {
            for caller in callers {
                let user = caller.isOwner ? owner : caller.name == "approver" ? approver : UUID()
                let probe = stored(status, wait, step: 2)
                let seen = call(.get, "/api/v1/workflows/\(probe.uuidString.lowercased())", roles: caller.roles, user: user)
                let published = (seen.json["allowedActions"] as? [String] ?? []).compactMap(WorkflowAction.init(rawValue:))
                let context = "\(status.rawValue) \(wait.map { $0.json(counts: false) } ?? "-") as \(caller)"
                #expect(seen.status == 200 || published.isEmpty, "\(context): \(seen.body)")
                let publishedRequests = published.map { Self.request(for: $0, id: probe).2 + Self.request(for: $0, id: probe).1 }
                for action in WorkflowAction.allCases {
                    let id = stored(status, wait, step: 2)
                    let (method, path, body) = Self.request(for: action, id: id)
                    let before = eventCount(id)
                    let answer = call(method, path, roles: caller.roles, user: user, body: body)
                    if published.contains(action) {
                        #expect((200..<300).contains(answer.status), "\(context): published \(action) answered \(answer.status) \(answer.body)")
                    } else if !publishedRequests.contains(body + path.replacingOccurrences(of: id.uuidString.lowercased(), with: probe.uuidString.lowercased())) {
                        #expect(!(200..<300).contains(answer.status), "\(context): unpublished \(action) succeeded")
                        #expect(eventCount(id) == before, "\(context): refused \(action) wrote events")
                    }
                    checked += 1
                }
            }
        }
        #expect(checked == (WorkflowStatus.allCases.count - 2 + 7) * 6 * WorkflowAction.allCases.count)
    }

    @Test func actionsAreThoseOfTheCaller() throws {
        let id = stored(.waitingForApproval, .plain(.approval)).uuidString.lowercased()
        #expect(call(.get, "/api/v1/workflows/\(id)", roles: ["Participant"], user: owner).json["allowedActions"] as? [String] == ["fail", "cancel"])
        #expect(call(.get, "/api/v1/workflows/\(id)", roles: ["Approver"], user: approver).json["allowedActions"] as? [String] == ["approve", "reject"])
        #expect(call(.get, "/api/v1/workflows/\(id)", roles: ["Admin"], user: UUID()).json["allowedActions"] as? [String]
            == ["override", "fail", "cancel", "approve", "reject"])
    }

    // MARK: Setting a wait

    func start() -> String {
        let id = stored(.running).uuidString.lowercased()
        return id
    }

    @Test func awaitingIsValidatedWholeAndABadOneWritesNothing() {
        let id = start()
        let long = String(repeating: "x", count: 4001)
        let answer = call(.post, "/api/v1/workflows/\(id)/transitions", roles: ["Participant"], user: owner, body: #"""
            {"to":"WaitingForInput","awaiting":{"prompt":"\#(long)","schema":{"type":"object","properties":{"a":{"type":"string","pattern":"^x"}}},
             "dueAt":"2001-01-01T00:00:00Z","onTimeout":"Later","approvers":{"count":1}}}
            """#)
        #expect(answer.status == 400 && answer.type == "urn:workflowd:problem:validation")
        #expect(answer.errors["awaiting.prompt"] == ["must be 1 to 4000 characters"])
        #expect(answer.errors["awaiting.schema/properties/a/pattern"]?.first?.contains("\"pattern\" is not a supported keyword") == true)
        #expect(answer.errors["awaiting.dueAt"] == ["must be in the future"])
        #expect(answer.errors["awaiting.onTimeout"] == ["must be one of Fail, Cancel, Notify"])
        #expect(answer.errors["awaiting.approvers"]?.first?.hasPrefix("is not a member of an input wait") == true)
        #expect(instance(UUID(uuidString: id)!)?.status == .running && eventCount(UUID(uuidString: id)!) == 0)
    }

    @Test func awaitingOnANonWaitingTargetIs400() {
        let answer = call(.post, "/api/v1/workflows/\(start())/transitions", roles: ["Participant"], user: owner,
                          body: #"{"to":"Paused","awaiting":{"prompt":"x"}}"#)
        #expect(answer.status == 400 && answer.errors["awaiting"]?.first?.hasPrefix("only a transition to WaitingForInput") == true)
    }

    @Test func approvalPolicyLimits() {
        let id = start()
        let far = call(.post, "/api/v1/workflows/\(id)/transitions", roles: ["Participant"], user: owner, body: #"""
            {"to":"WaitingForApproval","awaiting":{"prompt":"ok?","approvers":{"count":6,"userIds":["nope"]},"onReject":"Retry","dueAt":"2199-01-01T00:00:00Z"}}
            """#)
        #expect(far.errors["awaiting.approvers.count"] == ["must be an integer from 1 to 5"])
        #expect(far.errors["awaiting.approvers.userIds"] == ["must be 1 to 100 user ids (UUIDs)"])
        #expect(far.errors["awaiting.onReject"] == ["must be one of Rework, Fail"])
        #expect(far.errors["awaiting.dueAt"] == ["must be at most a year ahead"])
        let selfApproval = call(.post, "/api/v1/workflows/\(id)/transitions", roles: ["Participant"], user: owner,
                                body: #"{"to":"WaitingForApproval","awaiting":{"prompt":"ok?","approvers":{"allowSelfApproval":true}}}"#)
        #expect(selfApproval.status == 403)
        let byAdmin = call(.post, "/api/v1/workflows/\(id)/transitions", roles: ["Admin"], user: UUID(), body: #"""
            {"to":"WaitingForApproval","reason":"sign","awaiting":{"prompt":"ok?","approvers":{"count":2,"allowSelfApproval":true},"dueAt":"\#(RFC3339Future.inDays(2))"}}
            """#)
        #expect(byAdmin.status == 200, "\(byAdmin.body)")
        let awaiting = byAdmin.json["awaiting"] as? [String: Any]
        #expect(awaiting?["kind"] as? String == "approval" && awaiting?["approvalsNeeded"] as? Int == 2 && awaiting?["approvalsGiven"] as? Int == 0)
        #expect(awaiting?["onTimeout"] as? String == "Notify" && awaiting?["overdue"] as? Bool == false)
        #expect((awaiting?["approvers"] as? [String: Any])?["allowSelfApproval"] as? Bool == true)
        let event = repository.state.withLock { $0.events.last }
        #expect(event?.toStatus == .waitingForApproval && event?.data?.text.contains("\"prompt\":\"ok?\"") == true)
    }

    // MARK: Answering

    @Test func inputIsValidatedAgainstTheSchemaThenStoredUnderTheStep() {
        let id = stored(.waitingForInput, Awaiting(kind: .input, prompt: "x?", schema: JSONText(unchecked: Self.schema)))
        let path = "/api/v1/workflows/\(id.uuidString.lowercased())"
        let plain = call(.post, path + "/transitions", roles: ["Participant"], user: owner, body: #"{"to":"Running"}"#)
        #expect(plain.status == 400 && plain.type == "urn:workflowd:problem:input-required")
        let wrong = call(.post, path + "/input", roles: ["Participant"], user: owner, body: #"{"data":{"x":"one","y":2}}"#)
        #expect(wrong.status == 400 && wrong.errors == ["/x": ["must be an integer, not a string"]])
        #expect(call(.post, path + "/input", roles: ["Participant"], user: owner, body: #"{"data":[1]}"#).errors == ["data": ["must be an object, not an array"]])
        #expect(call(.post, path + "/input", roles: ["Approver"], user: approver, body: #"{"data":{"x":1}}"#).status == 403)
        #expect(call(.post, path + "/input", roles: ["Participant"], user: UUID(), body: #"{"data":{"x":1}}"#).status == 404)
        #expect(eventCount(id) == 0)
        let right = call(.post, path + "/input", roles: ["Participant"], user: owner, body: #"{"data":{"x":1}}"#)
        #expect(right.status == 200 && right.json["status"] as? String == "Running" && right.json["awaiting"] is NSNull)
        #expect((right.json["stepData"] as? [String: Any])?["decisions"] as? [String: Int] == ["x": 1])
        let again = call(.post, path + "/input", roles: ["Participant"], user: owner, body: #"{"data":{"x":1}}"#)
        #expect(again.status == 409 && again.type == "urn:workflowd:problem:not-waiting" && again.json["currentStatus"] as? String == "Running")
    }

    @Test func approvalsFollowThePolicyAndAreVisibleOnlyToEligibleApprovers() {
        let listed = UUID()
        let id = stored(.waitingForApproval, Awaiting(kind: .approval, prompt: "ok?", approvers: ApprovalPolicy(count: 2, userIds: [approver, listed, owner])))
        let path = "/api/v1/workflows/\(id.uuidString.lowercased())"
        let plain = call(.post, path + "/transitions", roles: ["Participant"], user: owner, body: #"{"to":"Running"}"#)
        #expect(plain.status == 403 && plain.type == "urn:workflowd:problem:approval-required")
        #expect((plain.json["detail"] as? String)?.contains("/approvals") == true)
        let selfApproval = call(.post, path + "/approvals", roles: ["Participant", "Approver"], user: owner, body: #"{"decision":"approve"}"#)
        #expect(selfApproval.status == 403 && selfApproval.type == "urn:workflowd:problem:not-eligible")
        #expect(call(.post, path + "/approvals", roles: ["Participant"], user: owner, body: #"{"decision":"approve"}"#).status == 403)
        let outsider = UUID()
        #expect(call(.post, path + "/approvals", roles: ["Approver"], user: outsider, body: #"{"decision":"approve"}"#).status == 404)
        #expect(call(.get, path, roles: ["Approver"], user: outsider).status == 404)
        #expect(call(.get, path + "/events", roles: ["Approver"], user: outsider).status == 404)
        #expect(call(.post, path + "/approvals", roles: ["Approver"], user: approver, body: #"{"decision":"maybe"}"#).errors
            == ["decision": ["must be \"approve\" or \"reject\""]])
        let first = call(.post, path + "/approvals", roles: ["Approver"], user: approver, body: #"{"decision":"approve","comment":"fine"}"#)
        #expect(first.status == 200 && first.json["status"] as? String == "WaitingForApproval")
        #expect((first.json["awaiting"] as? [String: Any])?["approvalsGiven"] as? Int == 1)
        #expect(first.json["allowedActions"] as? [String] == [])
        let twice = call(.post, path + "/approvals", roles: ["Approver"], user: approver, body: #"{"decision":"approve"}"#)
        #expect(twice.status == 409 && twice.type == "urn:workflowd:problem:already-decided")
        let second = call(.post, path + "/approvals", roles: ["Approver"], user: listed, body: #"{"decision":"approve"}"#)
        #expect(second.status == 200 && second.json["status"] as? String == "Running")
        // Those who decided keep seeing it; the list of an Approver holds only its own.
        #expect(call(.get, path, roles: ["Approver"], user: approver).status == 200)
        #expect(call(.get, path + "/events", roles: ["Approver"], user: listed).status == 200)
        #expect((call(.get, "/api/v1/workflows", roles: ["Approver"], user: approver).json["items"] as? [Any])?.isEmpty == true)
        let types = repository.state.withLock { $0.events.filter { $0.instanceId == id }.map(\.type) }
        #expect(types == [.approvalGranted, .approvalGranted, .statusChanged])
    }

    @Test func anAdminOverridesAGateAndTheStepCompletes() {
        let id = stored(.waitingForApproval, Awaiting(kind: .approval, prompt: "gate", gateOutput: JSONText(unchecked: #"{"ok":true}"#)), step: 2)
        let path = "/api/v1/workflows/\(id.uuidString.lowercased())/transitions"
        #expect(call(.post, path, roles: ["Participant"], user: owner, body: #"{"to":"Running","override":true}"#).status == 403)
        #expect(call(.post, path, roles: ["Admin"], user: UUID(), body: #"{"to":"Paused","override":true}"#).errors == ["override": ["applies only to \"to\": \"Running\""]])
        let done = call(.post, path, roles: ["Admin"], user: UUID(), body: #"{"to":"Running","override":true,"reason":"release"}"#)
        #expect(done.status == 200 && done.json["currentStep"] as? Int == 3)
        #expect((done.json["stepData"] as? [String: Any])?["validation"] as? [String: Bool] == ["ok": true])
        let last = repository.state.withLock { $0.events.last }
        #expect(last?.reason == "release" && last?.data?.text == #"{"override":true}"#)
    }

    @Test func advanceFromAGatedStepWaitsForItsApproval() {
        let id = stored(.running, step: 2).uuidString.lowercased()
        let gated = call(.post, "/api/v1/workflows/\(id)/advance", roles: ["Participant"], user: owner, body: #"{"output":{"arch":"ok"}}"#)
        #expect(gated.status == 200 && gated.json["status"] as? String == "WaitingForApproval" && gated.json["currentStep"] as? Int == 2)
        let awaiting = gated.json["awaiting"] as? [String: Any]
        #expect(awaiting?["prompt"] as? String == "Approve the architecture" && awaiting?["gate"] as? Bool == true)
        #expect(awaiting?["output"] as? [String: String] == ["arch": "ok"])
        let definition = call(.get, "/api/v1/workflow-definitions/create-architecture", roles: ["Viewer"], user: owner)
        let steps = definition.json["steps"] as? [[String: Any]]
        #expect((steps?[1]["approval"] as? [String: Any])?["count"] as? Int == 1 && steps?[0]["approval"] == nil)
        let approved = call(.post, "/api/v1/workflows/\(id)/approvals", roles: ["Approver"], user: approver, body: #"{"decision":"approve"}"#)
        #expect(approved.json["currentStep"] as? Int == 3 && (approved.json["stepData"] as? [String: Any])?["validation"] != nil)
    }

    @Test func theStatesEndpointDescribesWaitsAndActions() {
        let states = call(.get, "/api/v1/workflow-states", roles: ["Viewer"], user: owner).json
        #expect((states["waits"] as? [String: String])?.keys.sorted() == ["WaitingForApproval", "WaitingForInput"])
        #expect((states["actions"] as? [String: String])?.keys.sorted() == WorkflowAction.allCases.map(\.rawValue).sorted())
    }
}

/// RFC 3339 text some days from now, for deadlines that must be in the future.
enum RFC3339Future {
    static func inDays(_ days: Double) -> String {
        let formatter = ISO8601DateFormatter()
        return formatter.string(from: Date().addingTimeInterval(days * 86_400))
    }
}
