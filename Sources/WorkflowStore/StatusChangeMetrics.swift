import Locking
import Metrics

/// `workflow_transitions_total{from,to}` and `workflow_status_duration_seconds{status}`, their handles
/// looked up once per label set and kept: asking the metrics factory on every write costs a registry
/// lookup under its lock plus the label arrays (~3 % of a transition's CPU, profiled). Held per
/// repository, so handles come from the factory bootstrapped before it was made.
final class StatusChangeMetrics: Sendable {
    private struct Transition: Hashable {
        let from: String
        let to: String
    }

    private let transitions = Locked<[Transition: Counter]>([:])
    private let durations = Locked<[String: Metrics.Timer]>([:])

    func transitioned(from: String, to: String) {
        let key = Transition(from: from, to: to)
        let counter = transitions.withLock { counters in
            if let found = counters[key] { return found }
            let made = Counter(label: "workflow_transitions_total", dimensions: [("from", from), ("to", to)])
            counters[key] = made
            return made
        }
        counter.increment()
    }

    func left(_ status: String, afterMicroseconds micros: Int64) {
        let timer = durations.withLock { timers in
            if let found = timers[status] { return found }
            let made = Metrics.Timer(label: PostgresWorkflowRepository.statusDurationLabel, dimensions: [("status", status)])
            timers[status] = made
            return made
        }
        timer.recordNanoseconds(max(0, micros) * 1000)
    }
}
