import Locking
import Metrics
import Workflows

/// `workflow_transitions_total{from,to}` and `workflow_status_duration_seconds{status}`, their handles
/// made on first use and kept: asking the metrics factory on every write costs a registry lookup under
/// its lock plus the label arrays (~3 % of a transition's CPU, profiled). Kept by the states' positions,
/// not in dictionaries keyed by their names: hashing two names per write cost ~3 k instructions and
/// ~140 instruction-cache misses a transition (bench/instructions.sh). Held per repository, so handles
/// come from the factory bootstrapped before it was made.
final class StatusChangeMetrics: Sendable {
    private static let states = WorkflowStatus.allCases.count
    /// `from.position * states + to.position`; nil until that transition first happens, so only
    /// transitions that took place are exported.
    private let transitions = Locked<[Counter?]>(Array(repeating: nil, count: states * states))
    private let durations = Locked<[Metrics.Timer?]>(Array(repeating: nil, count: states))

    func transitioned(from: WorkflowStatus, to: WorkflowStatus) {
        let slot = from.position * Self.states + to.position
        let counter = transitions.withLock { counters in
            if let found = counters[slot] { return found }
            let made = Counter(label: "workflow_transitions_total", dimensions: [("from", from.rawValue), ("to", to.rawValue)])
            counters[slot] = made
            return made
        }
        counter.increment()
    }

    func left(_ status: WorkflowStatus, afterMicroseconds micros: Int64) {
        let timer = durations.withLock { timers in
            if let found = timers[status.position] { return found }
            let made = Metrics.Timer(label: PostgresWorkflowRepository.statusDurationLabel, dimensions: [("status", status.rawValue)])
            timers[status.position] = made
            return made
        }
        timer.recordNanoseconds(max(0, micros) * 1000)
    }
}
