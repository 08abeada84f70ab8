import Foundation
import HTTPTypes
import TextCoding
import Workflows

/// The transition body's wait members: what a waiting target awaits, and an Admin's override.
struct WaitRequest {
    var awaiting: Awaiting?
    var override = false
}

/// Human steps: the `awaiting` object of a transition, `POST /input` and `POST /approvals`.
extension WorkflowAPI {
    static let maxPromptLength = 4000
    static let maxCommentLength = 1000
    /// How far ahead a deadline may be.
    static let maxDueAhead: Int64 = 366 * 86_400 * 1_000_000

    /// The `awaiting` and `override` members of a transition body; appends every problem to `errors`.
    func waitRequest(in body: JSONValue, target: WorkflowStatus?, errors: inout [(String, String)]) -> WaitRequest? {
        var request = WaitRequest()
        switch body["override"] {
        case nil, .null?: break
        case .bool(let value)?:
            request.override = value
            if value && target != nil && target != .running { errors.append(("override", "applies only to \"to\": \"Running\"")) }
        case let other?: errors.append(("override", "must be a boolean, not \(other.typeName)"))
        }
        switch body["awaiting"] {
        case nil, .null?: break
        case .object(let members)?:
            guard let target else { break }
            guard let kind = Awaiting.Kind(waitingIn: target) else {
                errors.append(("awaiting", "only a transition to WaitingForInput or WaitingForApproval awaits something; leave it out for \(target.rawValue)"))
                break
            }
            request.awaiting = awaiting(kind, members, errors: &errors)
        case let other?: errors.append(("awaiting", "must be an object, not \(other.typeName)"))
        }
        return request
    }

    private func awaiting(_ kind: Awaiting.Kind, _ members: [(key: String, value: JSONValue)], errors: inout [(String, String)]) -> Awaiting {
        var wait = Awaiting.plain(kind)
        let known: Set<String> = kind == .input
            ? ["prompt", "schema", "dueAt", "onTimeout"] : ["prompt", "approvers", "onReject", "dueAt", "onTimeout"]
        for (key, _) in members where !known.contains(key) {
            errors.append(("awaiting.\(key)", "is not a member of \(kind == .input ? "an input" : "an approval") wait; use \(known.sorted().joined(separator: ", "))"))
        }
        let object = JSONValue.object(members)
        switch object["prompt"] {
        case .string(let text)? where (1...Self.maxPromptLength).contains(text.count): wait.prompt = text
        case .string?: errors.append(("awaiting.prompt", "must be 1 to \(Self.maxPromptLength) characters"))
        case nil, .null?: errors.append(("awaiting.prompt", "is required"))
        case let other?: errors.append(("awaiting.prompt", "must be a string, not \(other.typeName)"))
        }
        if kind == .input, let schema = object["schema"] {
            let problems = InputSchema.problems(in: schema)
            errors += problems.map { ("awaiting.schema" + $0.0, $0.1) }
            if problems.isEmpty { wait.schema = JSONText(unchecked: schema.serialized) }
        }
        switch object["dueAt"] {
        case nil, .null?: break
        case .string(let text)?:
            let now = Timestamp.now.microsecondsSinceEpoch
            if let micros = RFC3339.microsecondsSinceEpoch(parsing: text) {
                if micros <= now { errors.append(("awaiting.dueAt", "must be in the future")) }
                else if micros > now + Self.maxDueAhead { errors.append(("awaiting.dueAt", "must be at most a year ahead")) }
                else { wait.dueAt = Timestamp(microsecondsSinceEpoch: micros) }
            } else {
                errors.append(("awaiting.dueAt", "must be an RFC 3339 date-time, e.g. 2026-12-01T17:00:00Z"))
            }
        case let other?: errors.append(("awaiting.dueAt", "must be a string, not \(other.typeName)"))
        }
        switch object["onTimeout"] {
        case nil, .null?: if wait.dueAt != nil { wait.onTimeout = .notify }
        case .string(let name)? where TimeoutAction(rawValue: name) != nil:
            wait.onTimeout = TimeoutAction(rawValue: name)
            if object["dueAt"] == nil { errors.append(("awaiting.onTimeout", "needs awaiting.dueAt")) }
        case _?: errors.append(("awaiting.onTimeout", "must be one of \(TimeoutAction.allCases.map(\.rawValue).joined(separator: ", "))"))
        }
        guard kind == .approval else { return wait }
        switch object["onReject"] {
        case nil, .null?: break
        case .string(let name)? where RejectAction(rawValue: name) != nil: wait.onReject = RejectAction(rawValue: name)!
        case _?: errors.append(("awaiting.onReject", "must be one of \(RejectAction.allCases.map(\.rawValue).joined(separator: ", "))"))
        }
        switch object["approvers"] {
        case nil, .null?: break
        case .object(let members)?: wait.approvers = approvers(members, errors: &errors)
        case let other?: errors.append(("awaiting.approvers", "must be an object, not \(other.typeName)"))
        }
        return wait
    }

    private func approvers(_ members: [(key: String, value: JSONValue)], errors: inout [(String, String)]) -> ApprovalPolicy {
        var policy = ApprovalPolicy()
        for (key, _) in members where !["count", "userIds", "allowSelfApproval"].contains(key) {
            errors.append(("awaiting.approvers.\(key)", "is not a member; use count, userIds, allowSelfApproval"))
        }
        let object = JSONValue.object(members)
        switch object["count"] {
        case nil, .null?: break
        case .number(let text)? where Int(text).map({ (1...ApprovalPolicy.maxCount).contains($0) }) ?? false: policy.count = Int(text)!
        case _?: errors.append(("awaiting.approvers.count", "must be an integer from 1 to \(ApprovalPolicy.maxCount)"))
        }
        switch object["userIds"] {
        case nil, .null?: break
        case .array(let items)?:
            let ids = items.compactMap { item -> UUID? in if case .string(let text) = item { UUID(text: text) } else { nil } }
            if ids.count != items.count || ids.isEmpty || items.count > 100 {
                errors.append(("awaiting.approvers.userIds", "must be 1 to 100 user ids (UUIDs)"))
            } else if Set(ids).count != ids.count {
                errors.append(("awaiting.approvers.userIds", "must not repeat a user id"))
            } else if ids.count < policy.count {
                errors.append(("awaiting.approvers.userIds", "lists fewer users than awaiting.approvers.count approvals need"))
            } else {
                policy.userIds = ids
            }
        case let other?: errors.append(("awaiting.approvers.userIds", "must be an array, not \(other.typeName)"))
        }
        switch object["allowSelfApproval"] {
        case nil, .null?: break
        case .bool(let value)?: policy.allowSelfApproval = value
        case let other?: errors.append(("awaiting.approvers.allowSelfApproval", "must be a boolean, not \(other.typeName)"))
        }
        return policy
    }

    /// `POST /api/v1/workflows/{id}/input {"data": {...}}`.
    func provideInput(_ c: RouteContext) throws -> Response {
        let (request, id, principal) = (c.request, c.instanceId, c.principal!)
        let body = try jsonDocument(request, required: true)
        let ifMatch = try version(fromIfMatch: request)
        let data: JSONValue
        switch body?["data"] {
        case let value? where { if case .object = value { true } else { false } }(): data = value
        case nil, .null?: throw Problem.validation([("data", "is required")])
        case let other?: throw Problem.validation([("data", "must be an object, not \(other.typeName)")])
        }
        let changed = try service.provideInput(id: id, data: JSONText(unchecked: body!.text(ofMember: "data")!), ifMatch: ifMatch, by: principal) { schemaText in
            // The stored schema passed `InputSchema.problems` when the wait was set.
            let schema = try JSONParser.parse(Array(schemaText.text.utf8))
            let violations = InputSchema.violations(of: data, against: schema)
            if !violations.isEmpty { throw WorkflowError.invalidInput(violations) }
        }
        return .instance(changed, status: .ok, for: principal)
    }

    /// `POST /api/v1/workflows/{id}/approvals {"decision": "approve" | "reject", "comment": "..."}`.
    func decide(_ c: RouteContext) throws -> Response {
        let (request, id, principal) = (c.request, c.instanceId, c.principal!)
        let body = try jsonBody(request, required: true)
        var errors: [(String, String)] = []
        var decision: Decision?
        switch body?["decision"] {
        case .string(let name)? where Decision(rawValue: name) != nil: decision = Decision(rawValue: name)
        case nil, .null?: errors.append(("decision", "is required"))
        case _?: errors.append(("decision", "must be \"approve\" or \"reject\""))
        }
        var comment: String?
        switch body?["comment"] {
        case nil, .null?: break
        case .string(let text)? where text.count <= Self.maxCommentLength: comment = text
        case .string?: errors.append(("comment", "must be at most \(Self.maxCommentLength) characters"))
        case let other?: errors.append(("comment", "must be a string, not \(other.typeName)"))
        }
        guard errors.isEmpty, let decision else { throw Problem.validation(errors) }
        return .instance(try service.decide(id: id, decision: decision, comment: comment, by: principal), status: .ok, for: principal)
    }

    /// `POST /api/v1/workflows/{id}/retry {"contextPatch": {...}, "reason": "...", "fromStep": n}`: 201 with
    /// the new instance and its `Location`.
    func retry(_ c: RouteContext) throws -> Response {
        let (request, id, principal) = (c.request, c.instanceId, c.principal!)
        let body = try jsonDocument(request, required: false)
        var errors: [(String, String)] = []
        var patch: JSONText?
        switch body?["contextPatch"] {
        case nil, .null?: break
        case .object?: patch = JSONText(unchecked: body!.text(ofMember: "contextPatch")!)
        case let other?: errors.append(("contextPatch", "must be a JSON merge patch object (RFC 7386), not \(other.typeName)"))
        }
        var reason: String?
        switch body?["reason"] {
        case nil, .null?: break
        case .string(let text)? where text.count <= 1000: reason = text
        case .string?: errors.append(("reason", "must be at most 1000 characters"))
        case let other?: errors.append(("reason", "must be a string, not \(other.typeName)"))
        }
        var fromStep: Int?
        switch body?["fromStep"] {
        case nil, .null?: break
        // Bounded here, so that no step number the definition cannot have reaches SQL as an int overflow.
        case .number(let text)? where Int(text).map { (1...10_000).contains($0) } == true: fromStep = Int(text)
        case _?: errors.append(("fromStep", "must be a step number, an integer from 1 to 10000"))
        }
        let members: [(key: String, value: JSONValue)] = if case .object(let members)? = body?.value { members } else { [] }
        for (key, _) in members where !["contextPatch", "reason", "fromStep"].contains(key) {
            errors.append((String(key.prefix(64)), "is not a member; use contextPatch, reason, fromStep"))
        }
        guard errors.isEmpty else { throw Problem.validation(errors) }
        let created = try service.retry(id: id, contextPatch: patch, reason: reason, fromStep: fromStep, by: principal)
        var response = Response.instance(created, status: .created, for: principal)
        response.addLocation(ofInstance: created.id)
        return response
    }
}
