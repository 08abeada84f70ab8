import Foundation
import Workflows
import TextCoding

/// Hand-written JSON for the response types, written as bytes into the response body (`JSONBuffer`)
/// instead of Codable's reflection or `String` building; jsonb columns are spliced in as the text
/// PostgreSQL already produced.
enum JSONWriter {
    /// The instance as `caller` sees it: `allowedActions` are the caller's.
    static func instance(_ i: WorkflowInstance, for caller: Principal, into out: inout JSONBuffer) {
        identity(i, into: &out)
        out.raw(",\"context\":")
        out.raw(i.context.text)
        out.raw(",\"stepData\":")
        out.raw(i.stepData.text)
        out.raw(",\"allowedTransitions\":")
        out.raw(allowedTransitions[i.status.position])
        out.raw(",\"allowedActions\":")
        names(WorkflowActions.allowed(for: i, by: caller), into: &out)
        out.raw(",\"awaiting\":")
        if let awaiting = i.awaiting { out.raw(awaiting.json(counts: true)) } else { out.raw("null") }
        out.raw(",\"version\":")
        out.number(i.version)
        out.raw(",\"createdAt\":")
        timestamp(i.createdAt, into: &out)
        out.raw(",\"updatedAt\":")
        timestamp(i.updatedAt, into: &out)
        out.raw(",\"statusChangedAt\":")
        timestamp(i.statusChangedAt, into: &out)
        out.raw(",\"retryOf\":")
        optionalId(i.retryOf, into: &out)
        out.raw(",\"retriedAs\":")
        optionalId(i.retriedAs, into: &out)
        out.raw(",\"attempt\":")
        out.number(i.attempt)
        out.raw("}")
    }

    /// `{"id":…,"workflowDefinitionId":…,"userId":…,"status":…,"currentStep":…,"totalSteps":…`: how the
    /// instance and an inbox entry's brief of it begin.
    static func identity(_ i: WorkflowInstance, into out: inout JSONBuffer) {
        out.raw("{\"id\":")
        out.quoted(i.id)
        out.raw(",\"workflowDefinitionId\":")
        out.quoted(i.definitionId)
        out.raw(",\"userId\":")
        out.quoted(i.userId)
        out.raw(",\"status\":\"")
        out.raw(i.status.rawValue)
        out.raw("\",\"currentStep\":")
        out.number(i.currentStep)
        out.raw(",\"totalSteps\":")
        out.number(i.totalSteps)
    }

    /// The bytes an instance's JSON takes, roughly: enough to write it without growing the buffer.
    static func capacity(for i: WorkflowInstance) -> Int {
        640 + i.context.text.utf8.count + i.stepData.text.utf8.count
    }

    /// `["start","cancel"]`: raw values that need no escaping.
    static func names<T: RawRepresentable<String>>(_ values: [T], into out: inout JSONBuffer) {
        out.raw("[")
        for (index, value) in values.enumerated() {
            out.raw(index == 0 ? "\"" : ",\"")
            out.raw(value.rawValue)
            out.raw("\"")
        }
        out.raw("]")
    }

    static func optionalId(_ id: UUID?, into out: inout JSONBuffer) {
        if let id { out.quoted(id) } else { out.raw("null") }
    }

    static func optionalString(_ text: String?, into out: inout JSONBuffer) {
        if let text { out.quoted(text) } else { out.raw("null") }
    }

    /// An inbox entry: what is awaited, by when, and the instance in brief (with the caller's actions).
    static func task(_ i: WorkflowInstance, for caller: Principal, into out: inout JSONBuffer) {
        let wait = i.awaiting ?? .plain(Awaiting.Kind(waitingIn: i.status) ?? .input)
        out.raw("{\"kind\":\"")
        out.raw(wait.kind.rawValue)
        out.raw("\",\"prompt\":")
        optionalString(wait.prompt, into: &out)
        out.raw(",\"schema\":")
        out.raw(wait.schema?.text ?? "null")
        if wait.kind == .approval {
            out.raw(",\"approvalsNeeded\":")
            out.number(wait.approvalsNeeded)
            out.raw(",\"approvalsGiven\":")
            out.number(wait.approvalsGiven)
        } else {
            out.raw(",\"approvalsNeeded\":null,\"approvalsGiven\":null")
        }
        out.raw(",\"dueAt\":")
        if let due = wait.dueAt { timestamp(due, into: &out) } else { out.raw("null") }
        out.raw(wait.overdue ? ",\"overdue\":true" : ",\"overdue\":false")
        out.raw(",\"waitingSince\":")
        timestamp(i.statusChangedAt, into: &out)
        out.raw(",\"instance\":")
        identity(i, into: &out)
        out.raw(",\"version\":")
        out.number(i.version)
        out.raw(",\"allowedActions\":")
        names(WorkflowActions.allowed(for: i, by: caller), into: &out)
        out.raw(",\"createdAt\":")
        timestamp(i.createdAt, into: &out)
        out.raw("}}")
    }

    /// The bytes an event's JSON takes, roughly.
    static func eventCapacity(for e: WorkflowEvent) -> Int { 512 + (e.data?.text.utf8.count ?? 0) }

    static func event(_ e: WorkflowEvent, into out: inout JSONBuffer) {
        // The instance id lets one feed carry many instances' events; per-instance listings have it too.
        out.raw("{\"id\":")
        out.number(Int(e.id))
        out.raw(",\"workflowInstanceId\":")
        out.quoted(e.instanceId)
        out.raw(",\"type\":\"")
        out.raw(e.type.rawValue)
        out.raw("\",\"fromStatus\":")
        optionalString(e.fromStatus?.rawValue, into: &out)
        out.raw(",\"toStatus\":")
        optionalString(e.toStatus?.rawValue, into: &out)
        out.raw(",\"step\":")
        out.number(e.step)
        out.raw(",\"reason\":")
        optionalString(e.reason, into: &out)
        out.raw(",\"data\":")
        out.raw(e.data?.text ?? "null")
        // `actor` says plainly who acted; `userId` stays for clients that read it, null for the system.
        if let user = e.userId {
            out.raw(",\"userId\":")
            out.quoted(user)
            out.raw(",\"actor\":{\"type\":\"user\",\"id\":")
            out.quoted(user)
            out.raw("}")
        } else {
            out.raw(",\"userId\":null,\"actor\":{\"type\":\"system\"}")
        }
        out.raw(",\"occurredAt\":")
        timestamp(e.occurredAt, into: &out)
        out.raw("}")
    }

    /// `{"items":[...],"nextCursor":...}`, each item written by `item` into the same buffer.
    static func page<T>(_ page: Page<T>, itemCapacity: (T) -> Int, item: (T, inout JSONBuffer) -> Void) -> JSONBuffer {
        var out = JSONBuffer(reservingCapacity: page.items.reduce(64) { $0 + itemCapacity($1) })
        out.raw("{\"items\":[")
        for (index, element) in page.items.enumerated() {
            if index > 0 { out.raw(",") }
            item(element, &out)
        }
        out.raw("],\"nextCursor\":")
        optionalString(page.nextCursor, into: &out)
        out.raw("}")
        return out
    }

    static func instances(_ page: Page<WorkflowInstance>, for caller: Principal) -> JSONBuffer {
        Self.page(page, itemCapacity: capacity(for:)) { instance($0, for: caller, into: &$1) }
    }

    static func tasks(_ page: Page<WorkflowInstance>, for caller: Principal) -> JSONBuffer {
        Self.page(page, itemCapacity: { 512 + ($0.awaiting?.schema?.text.utf8.count ?? 0) }) { task($0, for: caller, into: &$1) }
    }

    static func events(_ page: Page<WorkflowEvent>) -> JSONBuffer {
        Self.page(page, itemCapacity: eventCapacity(for:)) { event($0, into: &$1) }
    }

    static func definition(_ d: WorkflowDefinition) -> String {
        let steps = d.steps.map { step in
            var out = "{\"id\":\(JSONString.quoted(step.id)),\"name\":\(JSONString.quoted(step.name))"
            if let gate = step.approval {
                out += ",\"approval\":{\"count\":\(gate.count),\"prompt\":\(JSONString.quoted(gate.prompt)),\"onReject\":\"\(gate.onReject.rawValue)\"}"
            }
            return out + "}"
        }.joined(separator: ",")
        return "{\"id\":\(JSONString.quoted(d.id)),\"name\":\(JSONString.quoted(d.name)),\"description\":\(JSONString.quoted(d.description)),\"steps\":[\(steps)]}"
    }

    static func page<T>(_ page: Page<T>, item: (T) -> String) -> String {
        var out = "{\"items\":["
        for (index, element) in page.items.enumerated() {
            if index > 0 { out += "," }
            out += item(element)
        }
        out += "],\"nextCursor\":"
        out += page.nextCursor.map(JSONString.quoted) ?? "null"
        out += "}"
        return out
    }

    /// Each state's `allowedTransitions` array, written once, by `WorkflowStatus.position`.
    static let allowedTransitions: [String] = WorkflowStatus.allCases.map { statuses($0.allowedTransitions) }

    static func statuses(_ list: [WorkflowStatus]) -> String {
        "[" + list.map { "\"\($0.rawValue)\"" }.joined(separator: ",") + "]"
    }

    /// The state machine as clients read it: the same on every request, so written once.
    static let statesDocument = states()

    static func states() -> String {
        let transitions = WorkflowStatus.allCases.map { "\"\($0.rawValue)\":\(statuses($0.allowedTransitions))" }
        let actions = WorkflowAction.allCases.map { "\"\($0.rawValue)\":\(JSONString.quoted(actionDescription($0)))" }
        return "{\"states\":\(statuses(WorkflowStatus.allCases)),\"terminal\":\(statuses(WorkflowStatus.terminalStates)),"
            + "\"transitions\":{\(transitions.joined(separator: ","))},"
            + "\"waits\":{\"WaitingForInput\":\(JSONString.quoted(waitDescription(.input))),"
            + "\"WaitingForApproval\":\(JSONString.quoted(waitDescription(.approval)))},"
            + "\"actions\":{\(actions.joined(separator: ","))}}"
    }

    static func waitDescription(_ kind: Awaiting.Kind) -> String {
        switch kind {
        case .input:
            "Awaits input from the owner (or an Admin): POST /api/v1/workflows/{id}/input {\"data\":{...}}, validated against awaiting.schema; "
                + "without a schema a plain transition to Running also ends the wait."
        case .approval:
            "Awaits awaiting.approvers.count distinct approvals by Approvers (or Admins) other than the initiator: "
                + "POST /api/v1/workflows/{id}/approvals {\"decision\":\"approve\"|\"reject\"}; a rejection applies awaiting.onReject. "
                + "A plain transition to Running is refused (approval-required) unless an Admin overrides."
        }
    }

    static func actionDescription(_ action: WorkflowAction) -> String {
        switch action {
        case .start: "transition Created → Running (starts step 1)"
        case .pause: "transition to Paused"
        case .resume: "transition back to Running"
        case .cancel: "transition to Cancelled"
        case .fail: "transition to Failed"
        case .complete: "transition to Completed"
        case .advance: "POST /advance: complete the current step (or open its approval gate)"
        case .requestInput: "transition to WaitingForInput with an optional awaiting object"
        case .requestApproval: "transition to WaitingForApproval with an optional awaiting object"
        case .provideInput: "POST /input with the awaited data"
        case .approve: "POST /approvals {\"decision\":\"approve\"}"
        case .reject: "POST /approvals {\"decision\":\"reject\"}"
        case .override: "Admin: transition to Running with override: true, ending an approval wait without the approvals"
        case .retry: "POST /retry: a new attempt of a Failed instance, with an optional contextPatch and fromStep"
        }
    }

    /// RFC 3339 in UTC with milliseconds: 2026-11-27T10:00:00.123Z.
    static func timestamp(_ t: Timestamp) -> String {
        RFC3339.utcMilliseconds(microsecondsSinceEpoch: t.microsecondsSinceEpoch)
    }

    /// The same, quoted, into the body.
    static func timestamp(_ t: Timestamp, into out: inout JSONBuffer) {
        out.quotedTimestamp(microsecondsSinceEpoch: t.microsecondsSinceEpoch)
    }
}
