#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import TextCoding

/// What a waiting instance awaits: set by the transition into `WaitingForInput` or `WaitingForApproval`
/// (or by `advance` from a step with an approval gate), cleared when the instance leaves the wait.
public struct Awaiting: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case input, approval

        /// The status an instance has while it awaits this kind of answer.
        public var status: WorkflowStatus { self == .input ? .waitingForInput : .waitingForApproval }

        public init?(waitingIn status: WorkflowStatus) {
            switch status {
            case .waitingForInput: self = .input
            case .waitingForApproval: self = .approval
            default: return nil
            }
        }
    }

    public var kind: Kind
    /// What a person is asked; nil when the wait was entered without saying.
    public var prompt: String?
    /// The JSON Schema the input must satisfy (input waits only).
    public var schema: JSONText?
    /// Who must approve (approval waits only).
    public var approvers: ApprovalPolicy?
    /// What a rejection does (approval waits only).
    public var onReject: RejectAction
    public var dueAt: Timestamp?
    public var onTimeout: TimeoutAction?
    /// Set when the wait is a definition step's approval gate: the step's output, recorded when the
    /// approval completes the step.
    public var gateOutput: JSONText?
    /// The decisions given on this wait so far, oldest first.
    public var decisions: [ApprovalDecision]
    /// The deadline passed with `onTimeout: Notify`.
    public var overdue: Bool

    public init(
        kind: Kind, prompt: String?, schema: JSONText? = nil, approvers: ApprovalPolicy? = nil, onReject: RejectAction = .rework,
        dueAt: Timestamp? = nil, onTimeout: TimeoutAction? = nil, gateOutput: JSONText? = nil,
        decisions: [ApprovalDecision] = [], overdue: Bool = false
    ) {
        self.kind = kind
        self.prompt = prompt
        self.schema = schema
        self.approvers = kind == .approval ? (approvers ?? ApprovalPolicy()) : nil
        self.onReject = onReject
        self.dueAt = dueAt
        self.onTimeout = onTimeout
        self.gateOutput = gateOutput
        self.decisions = decisions
        self.overdue = overdue
    }

    /// What a wait entered without an `awaiting` object awaits: an answer from the owner, or one
    /// approval by someone other than the initiator.
    public static func plain(_ kind: Kind) -> Awaiting { Awaiting(kind: kind, prompt: nil) }

    public var approvalsGiven: Int { decisions.count { $0.decision == .approve } }
    public var approvalsNeeded: Int { approvers?.count ?? 0 }

    public func hasDecided(_ userId: UUID) -> Bool { decisions.contains { $0.userId == userId } }

    /// The wait as JSON: the stored form (jsonb) and, with `counts`, the form responses carry.
    public func json(counts: Bool) -> String {
        var out = "{\"kind\":\"\(kind.rawValue)\",\"prompt\":" + (prompt.map(JSONString.quoted) ?? "null")
        if let schema { out += ",\"schema\":" + schema.text }
        if let approvers {
            out += ",\"approvers\":{\"count\":\(approvers.count)"
            if let ids = approvers.userIds { out += ",\"userIds\":[" + ids.map { "\"\($0.lowercaseText)\"" }.joined(separator: ",") + "]" }
            out += ",\"allowSelfApproval\":\(approvers.allowSelfApproval)},\"onReject\":\"\(onReject.rawValue)\""
        }
        if let dueAt { out += ",\"dueAt\":\"\(RFC3339.utcMilliseconds(microsecondsSinceEpoch: dueAt.microsecondsSinceEpoch))\"" }
        if let onTimeout { out += ",\"onTimeout\":\"\(onTimeout.rawValue)\"" }
        if let gateOutput { out += ",\"gate\":true,\"output\":" + gateOutput.text }
        out += ",\"decisions\":[" + decisions.map(\.json).joined(separator: ",") + "]"
        if counts, kind == .approval { out += ",\"approvalsNeeded\":\(approvalsNeeded),\"approvalsGiven\":\(approvalsGiven)" }
        return out + ",\"overdue\":\(overdue)}"
    }
}

/// Who must approve an approval wait.
public struct ApprovalPolicy: Sendable, Hashable {
    public static let maxCount = 5
    /// Distinct approvals needed (1–5).
    public var count: Int
    /// Only these users may decide; nil: any Approver (or Admin).
    public var userIds: [UUID]?
    /// Whether the initiator may approve their own instance (only an Admin may set it).
    public var allowSelfApproval: Bool
    public init(count: Int = 1, userIds: [UUID]? = nil, allowSelfApproval: Bool = false) {
        self.count = count
        self.userIds = userIds
        self.allowSelfApproval = allowSelfApproval
    }
}

public enum RejectAction: String, Sendable, Hashable, CaseIterable {
    /// Back to Running on the same step.
    case rework = "Rework"
    case fail = "Fail"
}

/// What the deadline job does when a wait's `dueAt` passes.
public enum TimeoutAction: String, Sendable, Hashable, CaseIterable {
    case fail = "Fail"
    case cancel = "Cancel"
    /// No state change; the wait is marked overdue.
    case notify = "Notify"
}

public enum Decision: String, Sendable, Hashable, CaseIterable {
    case approve, reject
}

/// One approver's decision on a wait.
public struct ApprovalDecision: Sendable, Hashable {
    public let userId: UUID
    public let decision: Decision
    public let decidedAt: Timestamp
    public init(userId: UUID, decision: Decision, decidedAt: Timestamp) {
        self.userId = userId
        self.decision = decision
        self.decidedAt = decidedAt
    }

    var json: String {
        "{\"userId\":\"\(userId.lowercaseText)\",\"decision\":\"\(decision.rawValue)\",\"decidedAt\":\""
            + RFC3339.utcMilliseconds(microsecondsSinceEpoch: decidedAt.microsecondsSinceEpoch) + "\"}"
    }
}

/// A definition step's approval gate: `advance` from the step waits for this approval instead of
/// completing the step.
public struct ApprovalGate: Sendable, Hashable {
    public let count: Int
    public let prompt: String
    public let onReject: RejectAction
    public init(count: Int, prompt: String, onReject: RejectAction) {
        self.count = count
        self.prompt = prompt
        self.onReject = onReject
    }
}
