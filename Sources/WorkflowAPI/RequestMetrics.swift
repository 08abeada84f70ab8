import Metrics
import Locking

/// `http_requests_total{route,method,status}` and `http_request_duration_seconds{route,method}`.
///
/// The metric handles are looked up once per label set and kept: asking the metrics factory for a
/// handle on every request costs a registry lookup under a lock plus the label strings.
final class RequestMetrics: Sendable {
    private struct Key: Hashable {
        let route: String
        let method: String
        let status: Int

        /// Hashes the labels' lengths and the status, not the labels' text: there are a few dozen label sets,
        /// a collision costs one more `==` (which compares the text, at once when both are the route
        /// table's own string), and hashing two strings on every request cost more than the lookup itself.
        func hash(into hasher: inout Hasher) {
            hasher.combine(route.utf8.count)
            hasher.combine(method.utf8.count)
            hasher.combine(status)
        }
    }

    private struct Handles {
        let requests: Counter
        let duration: Metrics.Timer
    }

    private let handles = Locked<[Key: Handles]>([:])

    func record(route: String, method: String, status: Int, nanoseconds: Int64) {
        let key = Key(route: route, method: method, status: status)
        let found = handles.withLock { $0[key] } ?? makeHandles(key)
        found.requests.increment()
        found.duration.recordNanoseconds(nanoseconds)
    }

    private func makeHandles(_ key: Key) -> Handles {
        let made = Handles(
            requests: Counter(label: "http_requests_total", dimensions: [
                ("route", key.route), ("method", key.method), ("status", String(key.status)),
            ]),
            duration: Metrics.Timer(label: "http_request_duration_seconds", dimensions: [("route", key.route), ("method", key.method)]))
        handles.withLock { $0[key] = made }
        return made
    }
}
