import Testing
@testable import Workflows
import TextCoding

@Suite struct TransitionTableTests {
    /// The table from the specification, written out independently of the code under test.
    static let expected: [String: Set<String>] = [
        "Created": ["Running", "Cancelled"],
        "Running": ["Paused", "WaitingForInput", "WaitingForApproval", "Completed", "Failed", "Cancelled"],
        "Paused": ["Running", "Cancelled"],
        "WaitingForInput": ["Running", "Paused", "Failed", "Cancelled"],
        "WaitingForApproval": ["Running", "Failed", "Cancelled"],
        "Completed": [], "Failed": [], "Cancelled": [],
    ]

    @Test func everyPairOfStatesIsValidExactlyWhenTheTableSaysSo() {
        #expect(WorkflowStatus.allCases.count == 8)
        for from in WorkflowStatus.allCases {
            for to in WorkflowStatus.allCases {
                let valid = Self.expected[from.rawValue]!.contains(to.rawValue)
                #expect(from.canTransition(to: to) == valid, "\(from.rawValue) → \(to.rawValue)")
            }
        }
    }

    /// The table is read by position: each state's index is its place in `allCases`, and what it reads there
    /// is the table's own row.
    @Test func eachStateReadsItsOwnRowOfTheTable() {
        for (position, status) in WorkflowStatus.allCases.enumerated() {
            #expect(status.position == position, "\(status)")
            #expect(status.allowedTransitions == WorkflowStatus.transitionTable[status], "\(status)")
        }
    }

    /// A state read from a row's bytes: exactly its name, nothing else.
    @Test func eachStateIsReadFromTheBytesOfItsNameAndNothingElse() {
        func read(_ text: String) -> WorkflowStatus? {
            var text = text
            return text.withUTF8 { WorkflowStatus(utf8: UnsafeRawBufferPointer($0)) }
        }
        for state in WorkflowStatus.allCases { #expect(read(state.rawValue) == state) }
        for text in ["", "running", "Runnin", "RunningX", "Waiting", "WaitingForApprova", "Cancelled "] { #expect(read(text) == nil, "\(text)") }
    }

    @Test func terminalStatesAreCompletedFailedAndCancelled() {
        #expect(WorkflowStatus.terminalStates == [.completed, .failed, .cancelled])
        #expect(!WorkflowStatus.running.isTerminal)
    }

    @Test func invalidTransitionExplainsAllowedStates() {
        #expect(explainInvalidTransition(from: .created, to: .completed)
            == "Cannot move a workflow from Created to Completed; from Created it can move to Running or Cancelled.")
        #expect(explainInvalidTransition(from: .waitingForApproval, to: .paused)
            == "Cannot move a workflow from WaitingForApproval to Paused; from WaitingForApproval it can move to Running, Failed or Cancelled.")
    }

    @Test func explanationForATerminalStateSaysItIsFinal() {
        #expect(explainInvalidTransition(from: .completed, to: .running)
            == "Cannot move a workflow from Completed to Running; Completed is a final state and allows no further transitions.")
    }

    @Test func explanationForTheSameStateSaysItIsAlreadyThere() {
        #expect(explainInvalidTransition(from: .running, to: .running).contains("it is already Running"))
    }

    @Test func jsonQuotingEscapesQuotesBackslashesAndControlCharacters() {
        #expect(JSONString.quoted("a\"b\\c\nd\u{01}") == "\"a\\\"b\\\\c\\nd\\u0001\"")
        #expect(JSONString.quoted("Grüße") == "\"Grüße\"")
    }
}
