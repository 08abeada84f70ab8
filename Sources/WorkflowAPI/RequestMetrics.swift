import Metrics
import Locking

/// `http_requests_total{route,method,status}` and `http_request_duration_seconds{route,method}`.
///
/// The metric handles are made once per label set and kept: asking the metrics factory for a handle on
/// every request costs a registry lookup under a lock plus the label strings. They are kept by the route
/// label's position in `Router.labels`, each position holding its few (method, status) pairs: found by an
/// index and a short scan, where a dictionary keyed by the labels' text hashed it on every request
/// (~370 instructions and ~25 instruction-cache misses of a get, bench/README.md).
final class RequestMetrics: Sendable {
    private struct Entry {
        let method: String
        let status: Int
        let handles: Handles
    }

    private struct Handles {
        let requests: Counter
        let duration: Metrics.Timer
    }

    /// By label position; each position's entries in the order they were first seen.
    private let handles: Locked<[[Entry]]>

    init(labelCount: Int) {
        handles = Locked(Array(repeating: [], count: labelCount))
    }

    /// Records one request: `label` is its route label's position in `router.labels`.
    func record(label: Int, of router: Router, method: String, status: Int, nanoseconds: Int64) {
        let found = handles.withLock { all in all[label].first { $0.status == status && $0.method == method }?.handles }
            ?? makeHandles(label: label, route: router.labels[label], method: method, status: status)
        found.requests.increment()
        found.duration.recordNanoseconds(nanoseconds)
    }

    private func makeHandles(label: Int, route: String, method: String, status: Int) -> Handles {
        let made = Handles(
            requests: Counter(label: "http_requests_total", dimensions: [
                ("route", route), ("method", method), ("status", String(status)),
            ]),
            duration: Metrics.Timer(label: "http_request_duration_seconds", dimensions: [("route", route), ("method", method)]))
        handles.withLock { all in
            // Another worker may have made the same pair meanwhile: the factory returns the same metric
            // for the same labels, so either handle counts alike; keep one entry.
            if !all[label].contains(where: { $0.status == status && $0.method == method }) {
                all[label].append(Entry(method: method, status: status, handles: made))
            }
        }
        return made
    }
}
