import Testing
import Workflows

@testable import WorkflowStore

/// Text the repository writes into its statements' binds, without a database.
struct StatementTextTests {
    @Test func setsOfStatesBecomeTextArrayLiteralsInDeclarationOrder() {
        #expect(PostgresWorkflowRepository.arrayText([]) == "{}")
        #expect(PostgresWorkflowRepository.arrayText([.created]) == "{Created}")
        #expect(PostgresWorkflowRepository.arrayText([.waitingForApproval, .running, .paused, .running]) == "{Running,Paused,WaitingForApproval}")
        let all = WorkflowStatus.allCases
        #expect(PostgresWorkflowRepository.arrayText(all.reversed()) == "{" + all.map(\.rawValue).joined(separator: ",") + "}")
    }
}
