import Foundation
import Workflows
import TextCoding

/// Hand-written JSON for the response types: a few string appends instead of Codable's reflection,
/// and jsonb columns are spliced in as the text PostgreSQL already produced.
enum JSONWriter {
    /// The instance as `caller` sees it: `allowedActions` are the caller's. Written piece by piece into one
    /// string: an interpolation or a `+` chain would build a temporary string for each member, on every
    /// response of the busiest endpoints.
    static func instance(_ i: WorkflowInstance, for caller: Principal) -> String {
        var out = ""
        out.reserveCapacity(640 + i.context.text.utf8.count + i.stepData.text.utf8.count)
        out += "{\"id\":\""
        out += i.id.lowercaseText
        out += "\",\"workflowDefinitionId\":"
        out += JSONString.quoted(i.definitionId)
        out += ",\"userId\":\""
        out += i.userId.lowercaseText
        out += "\",\"status\":\""
        out += i.status.rawValue
        out += "\",\"currentStep\":"
        out += String(i.currentStep)
        out += ",\"totalSteps\":"
        out += String(i.totalSteps)
        out += ",\"context\":"
        out += i.context.text
        out += ",\"stepData\":"
        out += i.stepData.text
        out += ",\"allowedTransitions\":"
        out += allowedTransitions[i.status]!
        out += ",\"allowedActions\":"
        appendNames(WorkflowActions.allowed(for: i, by: caller), to: &out)
        out += ",\"awaiting\":"
        out += i.awaiting?.json(counts: true) ?? "null"
        out += ",\"version\":"
        out += String(i.version)
        out += ",\"createdAt\":\""
        out += timestamp(i.createdAt)
        out += "\",\"updatedAt\":\""
        out += timestamp(i.updatedAt)
        out += "\",\"statusChangedAt\":\""
        out += timestamp(i.statusChangedAt)
        out += "\",\"retryOf\":"
        appendOptionalId(i.retryOf, to: &out)
        out += ",\"retriedAs\":"
        appendOptionalId(i.retriedAs, to: &out)
        out += ",\"attempt\":"
        out += String(i.attempt)
        out += "}"
        return out
    }

    /// `["start","cancel"]`: raw values that need no escaping.
    static func appendNames<T: RawRepresentable<String>>(_ values: [T], to out: inout String) {
        out += "["
        for (index, value) in values.enumerated() {
            out += index == 0 ? "\"" : ",\""
            out += value.rawValue
            out += "\""
        }
        out += "]"
    }

    static func appendOptionalId(_ id: UUID?, to out: inout String) {
        guard let id else {
            out += "null"
            return
        }
        out += "\""
        out += id.lowercaseText
        out += "\""
    }

    /// An inbox entry: what is awaited, by when, and the instance in brief (with the caller's actions).
    static func task(_ i: WorkflowInstance, for caller: Principal) -> String {
        let wait = i.awaiting ?? .plain(Awaiting.Kind(waitingIn: i.status) ?? .input)
        var out = "{\"kind\":\"\(wait.kind.rawValue)\",\"prompt\":" + (wait.prompt.map(JSONString.quoted) ?? "null")
        out += ",\"schema\":" + (wait.schema?.text ?? "null")
        out += wait.kind == .approval ? ",\"approvalsNeeded\":\(wait.approvalsNeeded),\"approvalsGiven\":\(wait.approvalsGiven)"
            : ",\"approvalsNeeded\":null,\"approvalsGiven\":null"
        out += ",\"dueAt\":" + (wait.dueAt.map { "\"\(timestamp($0))\"" } ?? "null") + ",\"overdue\":\(wait.overdue)"
        out += ",\"waitingSince\":\"\(timestamp(i.statusChangedAt))\""
        out += ",\"instance\":{\"id\":\"\(i.id.lowercaseText)\",\"workflowDefinitionId\":" + JSONString.quoted(i.definitionId)
        out += ",\"userId\":\"\(i.userId.lowercaseText)\",\"status\":\"\(i.status.rawValue)\""
        out += ",\"currentStep\":\(i.currentStep),\"totalSteps\":\(i.totalSteps),\"version\":\(i.version)"
        out += ",\"allowedActions\":"
        appendNames(WorkflowActions.allowed(for: i, by: caller), to: &out)
        out += ",\"createdAt\":\"\(timestamp(i.createdAt))\"}}"
        return out
    }

    static func event(_ e: WorkflowEvent) -> String {
        // The instance id lets one feed carry many instances' events; per-instance listings have it too.
        var out = "{\"id\":\(e.id),\"workflowInstanceId\":\"\(e.instanceId.lowercaseText)\",\"type\":\"\(e.type.rawValue)\""
        out += ",\"fromStatus\":" + (e.fromStatus.map { "\"\($0.rawValue)\"" } ?? "null")
        out += ",\"toStatus\":" + (e.toStatus.map { "\"\($0.rawValue)\"" } ?? "null")
        out += ",\"step\":\(e.step)"
        out += ",\"reason\":" + (e.reason.map(JSONString.quoted) ?? "null")
        out += ",\"data\":" + (e.data?.text ?? "null")
        // `actor` says plainly who acted; `userId` stays for clients that read it, null for the system.
        if let user = e.userId {
            out += ",\"userId\":\"\(user.lowercaseText)\",\"actor\":{\"type\":\"user\",\"id\":\"\(user.lowercaseText)\"}"
        } else {
            out += ",\"userId\":null,\"actor\":{\"type\":\"system\"}"
        }
        out += ",\"occurredAt\":\"\(timestamp(e.occurredAt))\"}"
        return out
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

    /// Each state's `allowedTransitions` array, written once.
    static let allowedTransitions = Dictionary(uniqueKeysWithValues: WorkflowStatus.allCases.map { ($0, statuses($0.allowedTransitions)) })

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
}
