/// The states a workflow instance can be in.
///
/// The transition table below is the single source of truth: validation, explanations,
/// `allowedTransitions`, the states endpoint and the OpenAPI enum all derive from it.
public enum WorkflowStatus: String, CaseIterable, Sendable, Hashable {
    case created = "Created"
    case running = "Running"
    case paused = "Paused"
    case waitingForInput = "WaitingForInput"
    case waitingForApproval = "WaitingForApproval"
    case completed = "Completed"
    case failed = "Failed"
    case cancelled = "Cancelled"

    /// Valid transitions, in the order they are presented to people.
    public static let transitionTable: [WorkflowStatus: [WorkflowStatus]] = [
        .created: [.running, .cancelled],
        .running: [.paused, .waitingForInput, .waitingForApproval, .completed, .failed, .cancelled],
        .paused: [.running, .cancelled],
        .waitingForInput: [.running, .paused, .failed, .cancelled],
        .waitingForApproval: [.running, .failed, .cancelled],
        .completed: [],
        .failed: [],
        .cancelled: [],
    ]

    /// The states this one may move to, in table order.
    public var allowedTransitions: [WorkflowStatus] { Self.transitionsByPosition[position] }

    /// `transitionTable` by `position`: read several times per response, by position instead of by hash.
    private static let transitionsByPosition: [[WorkflowStatus]] = allCases.map { transitionTable[$0] ?? [] }

    /// This state's position in `allCases` (declaration order), for data kept per state in an array.
    public var position: Int { Int(caseTag(self)) }

    /// The state whose name `text` spells (a row's value, as bytes), or nil: the one name of that length
    /// and first letters, then compared byte for byte. `init(rawValue:)` on a `String` goes through the
    /// standard library's string-switch search, ~380 instructions and ~15 instruction-cache misses per row
    /// read (bench/README.md).
    public init?(utf8 text: UnsafeRawBufferPointer) {
        let candidate: WorkflowStatus? = switch text.count {
        case 6: text[0] == UInt8(ascii: "P") ? .paused : .failed
        case 7: text[0] == UInt8(ascii: "C") ? .created : .running
        case 9: text[1] == UInt8(ascii: "o") ? .completed : .cancelled
        case 15: .waitingForInput
        case 18: .waitingForApproval
        default: nil
        }
        guard let candidate else { return nil }
        var name = candidate.rawValue
        guard name.withUTF8({ UnsafeRawBufferPointer($0).elementsEqual(text) }) else { return nil }
        self = candidate
    }

    /// A terminal state allows no further transitions.
    public var isTerminal: Bool { allowedTransitions.isEmpty }

    public func canTransition(to target: WorkflowStatus) -> Bool {
        allowedTransitions.contains(target)
    }

    /// All terminal states, in declaration order.
    public static var terminalStates: [WorkflowStatus] { allCases.filter(\.isTerminal) }
}

/// Why a requested transition is not allowed, in words a person can read.
public func explainInvalidTransition(from current: WorkflowStatus, to requested: WorkflowStatus) -> String {
    let head = "Cannot move a workflow from \(current.rawValue) to \(requested.rawValue)"
    if current.isTerminal {
        return "\(head); \(current.rawValue) is a final state and allows no further transitions."
    }
    if current == requested {
        return "\(head); it is already \(current.rawValue). From \(current.rawValue) it can move to \(listInWords(current.allowedTransitions))."
    }
    return "\(head); from \(current.rawValue) it can move to \(listInWords(current.allowedTransitions))."
}

/// "A", "A or B", "A, B or C".
func listInWords(_ states: [WorkflowStatus]) -> String {
    let names = states.map(\.rawValue)
    guard let last = names.last else { return "nothing" }
    if names.count == 1 { return last }
    return names.dropLast().joined(separator: ", ") + " or " + last
}
