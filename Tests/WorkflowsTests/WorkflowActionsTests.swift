import Foundation
import Testing
import Workflows

@Suite struct WorkflowActionsTests {
    let owner = UUID()

    func instance(_ status: WorkflowStatus, _ awaiting: Awaiting? = nil, decidedBy: [UUID] = []) -> WorkflowInstance {
        let at = Timestamp(microsecondsSinceEpoch: 0)
        return WorkflowInstance(
            id: UUID(), definitionId: "d", userId: owner, status: status, currentStep: 1, totalSteps: 2, context: .emptyObject,
            stepData: .emptyObject, version: 1, createdAt: at, updatedAt: at, awaiting: awaiting, decidedBy: decidedBy)
    }

    @Test func everyTransitionOfTheTableIsExactlyOneAction() {
        for from in WorkflowStatus.allCases {
            for to in WorkflowStatus.allCases {
                #expect((WorkflowActions.action(from: from, to: to) != nil) == from.canTransition(to: to), "\(from) → \(to)")
            }
        }
        #expect(WorkflowActions.action(from: .waitingForApproval, to: .running) == .override)
        #expect(WorkflowActions.action(from: .created, to: .running) == .start)
    }

    @Test func eachReasonAnApproverMayNotDecide() {
        let approver = Principal(userId: UUID(), roles: [.approver])
        let selfApprover = Principal(userId: owner, roles: [.participant, .approver])
        let policy = Awaiting(kind: .approval, prompt: "ok?", approvers: ApprovalPolicy(count: 2, userIds: [approver.userId]))
        #expect(WorkflowActions.approvalRefusal(instance(.running), by: approver) == .notAwaitingApproval)
        #expect(WorkflowActions.approvalRefusal(instance(.waitingForApproval), by: Principal(userId: UUID(), roles: [.participant])) == .notAnApprover)
        #expect(WorkflowActions.approvalRefusal(instance(.waitingForApproval), by: selfApprover) == .initiator)
        #expect(WorkflowActions.approvalRefusal(instance(.waitingForApproval, policy), by: Principal(userId: UUID(), roles: [.approver])) == .notListed)
        var decided = policy
        decided.decisions = [ApprovalDecision(userId: approver.userId, decision: .approve, decidedAt: Timestamp(microsecondsSinceEpoch: 1))]
        #expect(WorkflowActions.approvalRefusal(instance(.waitingForApproval, decided), by: approver) == .alreadyDecided)
        #expect(WorkflowActions.approvalRefusal(instance(.waitingForApproval, policy), by: approver) == nil)
        let allowed = Awaiting(kind: .approval, prompt: "ok?", approvers: ApprovalPolicy(allowSelfApproval: true))
        #expect(WorkflowActions.approvalRefusal(instance(.waitingForApproval, allowed), by: selfApprover) == nil)
    }

    @Test func anApproverSeesWhatAwaitsItAndWhatItDecidedOnlyThat() {
        let approver = Principal(userId: UUID(), roles: [.approver])
        #expect(approver.canSee(instance(.waitingForApproval)))
        #expect(!approver.canSee(instance(.running)))
        #expect(approver.canSee(instance(.completed, decidedBy: [approver.userId])))
        #expect(!Principal(userId: UUID(), roles: [.viewer]).canSee(instance(.waitingForApproval)))
    }

    @Test func aWaitWithASchemaIsLeftOnlyThroughItsInput() {
        let schema = Awaiting(kind: .input, prompt: "x", schema: JSONText(unchecked: #"{"type":"object"}"#))
        let ownerPrincipal = Principal(userId: owner, roles: [.participant])
        #expect(WorkflowActions.allowed(for: instance(.waitingForInput, schema), by: ownerPrincipal) == [.pause, .fail, .cancel, .provideInput])
        #expect(WorkflowActions.allowed(for: instance(.waitingForInput, .plain(.input)), by: ownerPrincipal) == [.resume, .pause, .fail, .cancel, .provideInput])
        #expect(WorkflowActions.allowed(for: instance(.waitingForInput, schema), by: Principal(userId: owner, roles: [.viewer])).isEmpty)
    }
}
