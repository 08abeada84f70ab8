#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Something a caller can do with an instance. Responses publish the ones a caller may do now
/// (`allowedActions`), and the service refuses every other one.
public enum WorkflowAction: String, Sendable, Hashable, CaseIterable {
    case start, pause, resume, cancel, fail, complete, advance, requestInput, requestApproval, provideInput
    case approve, reject
    /// An Admin's `Running` out of `WaitingForApproval` without the approvals.
    case override
    /// `POST /retry` on a Failed instance not retried yet: a new attempt.
    case retry
}

/// Why a caller may not decide on an approval wait.
public enum ApprovalRefusal: Sendable, Hashable {
    case notAwaitingApproval
    case notAnApprover
    case initiator
    case notListed
    case alreadyDecided

    public var explanation: String {
        switch self {
        case .notAwaitingApproval: "The workflow is not waiting for an approval."
        case .notAnApprover: "Deciding on an approval needs the Approver or Admin role."
        case .initiator: "The initiator of a workflow may not approve it; another Approver must (an Admin can allow self-approval when setting the wait)."
        case .notListed: "This approval is limited to the users listed in awaiting.approvers.userIds."
        case .alreadyDecided: "You already decided on this approval."
        }
    }
}

/// What a caller may do with an instance: the transition table, ownership, roles and the wait, in one
/// pure function that both the responses and the service's checks use.
public enum WorkflowActions {
    /// The action a plain transition from one status to another is (nil: none).
    public static func action(from: WorkflowStatus, to target: WorkflowStatus) -> WorkflowAction? {
        guard from.canTransition(to: target) else { return nil }
        switch target {
        case .created: return nil
        case .running: return from == .created ? .start : from == .waitingForApproval ? .override : .resume
        case .paused: return .pause
        case .waitingForInput: return .requestInput
        case .waitingForApproval: return .requestApproval
        case .completed: return .complete
        case .failed: return .fail
        case .cancelled: return .cancel
        }
    }

    /// Whether the caller may change the instance as its owner (a Participant's own, or an Admin's any).
    public static func actsAsOwner(_ instance: WorkflowInstance, _ principal: Principal) -> Bool {
        principal.canAct && (principal.ownerScope.map { $0 == instance.userId } ?? true)
    }

    public static func allowed(for instance: WorkflowInstance, by principal: Principal) -> [WorkflowAction] {
        var actions: [WorkflowAction] = []
        if actsAsOwner(instance, principal) {
            for target in instance.status.allowedTransitions {
                guard let action = action(from: instance.status, to: target) else { continue }
                if action == .override && !principal.isAdmin { continue }
                if instance.status == .waitingForInput && target == .running && instance.awaiting?.schema != nil { continue }
                actions.append(action)
            }
            if instance.status == .running { actions.append(.advance) }
            if instance.status == .waitingForInput { actions.append(.provideInput) }
            if instance.status == .failed && instance.retriedAs == nil { actions.append(.retry) }
        }
        if approvalRefusal(instance, by: principal) == nil { actions += [.approve, .reject] }
        return actions
    }

    /// Why the caller may not decide on the instance's approval wait; nil when they may.
    public static func approvalRefusal(_ instance: WorkflowInstance, by principal: Principal) -> ApprovalRefusal? {
        guard instance.status == .waitingForApproval else { return .notAwaitingApproval }
        guard Capability.approve.allows(principal) else { return .notAnApprover }
        let policy = instance.awaiting?.approvers ?? ApprovalPolicy()
        if principal.userId == instance.userId && !policy.allowSelfApproval { return .initiator }
        if let listed = policy.userIds, !listed.contains(principal.userId) { return .notListed }
        if instance.awaiting?.hasDecided(principal.userId) == true { return .alreadyDecided }
        return nil
    }
}
