import Metrics
import PostgresClient
import Prometheus
import WorkflowStore

/// Prometheus metrics for the process: bootstraps swift-metrics once and renders `GET /metrics`.
struct MetricsSetup {
    let registry = PrometheusCollectorRegistry()

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        // Instances stay in a status from seconds (Running between steps) to days (waiting for a person).
        let seconds: [Int64] = [1, 10, 60, 300, 900, 3_600, 14_400, 86_400, 259_200, 604_800]
        factory.durationHistogramBuckets[PostgresWorkflowRepository.statusDurationLabel] = seconds.map { Duration.seconds($0) }
        MetricsSystem.bootstrap(factory)
    }

    private func gauge(_ name: String, _ unit: String, _ help: String) -> Prometheus.Gauge {
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: unit, helpText: help))
    }

    /// The renderer for the API: pool gauges and the process figures are read at scrape time, the rest
    /// accumulates as it happens.
    func renderer(pool: PostgresPool) -> @Sendable () -> String {
        let size = gauge("db_pool", "size", "Configured PostgreSQL connections.")
        let open = gauge("db_pool_connections", "open", "PostgreSQL connections open now.")
        let inUse = gauge("db_pool_connections", "in_use", "PostgreSQL connections lent to requests now.")
        let waiting = gauge("db_pool", "waiting", "Requests waiting for a connection now.")
        let registry = registry
        return {
            let statistics = pool.statistics
            size.set(Double(statistics.size))
            open.set(Double(statistics.open))
            inUse.set(Double(statistics.inUse))
            waiting.set(Double(statistics.waiting))
            return Self.addingHelp(to: registry.emitToString()) + (ProcessMetrics.current()?.text ?? "")
        }
    }

    /// HELP texts for the metrics that the modules make through swift-metrics: its Prometheus factory
    /// registers them without one, and the registry refuses the same name with another help text, so
    /// they are added to the rendered text instead. A new swift-metrics metric belongs here too
    /// (`aRealScrapePassesPromtoolCheckMetrics` runs `promtool check metrics`, which wants HELP).
    static let help: [String: String] = [
        "http_requests_total": "Requests answered by workflowd, by route template, method and status.",
        "http_request_duration_seconds": "Time workflowd took to answer a request, by route template and method.",
        "workflow_transitions_total": "Workflow status changes, by from and to status.",
        PostgresWorkflowRepository.statusDurationLabel: "Time workflow instances spent in a status, observed as they leave it, by status.",
        "workflow_waits_open": "Workflow instances waiting for input or approval now, by kind (sampled every 5 s; every process reports the same count).",
        "workflow_waits_overdue": "Open waits past their dueAt, by kind (sampled every 5 s; every process reports the same count).",
        "db_pool_wait_seconds": "Time a check-out waited for a pooled PostgreSQL connection.",
        "db_errors_total": "PostgreSQL errors by SQLSTATE class, or by kind (connectionFailed, poolTimeout, ...) without one.",
        "db_statement_retries_total": "Statements run again after a serialization failure or deadlock.",
        "workflowd_job_runs_total": "Background job runs, by job name and outcome (ok or failed).",
        "workflowd_notifications_sent_total": "Coalesced pg_notify calls sent after commits (live updates).",
        "workflowd_notify_failures_total": "pg_notify calls that failed (waiters then see the change at their deadline).",
        "workflowd_listener_notifications_total": "Notifications the LISTEN connection received.",
        "workflowd_listener_connects_total": "LISTEN connection attempts, by outcome (ok or failed).",
        "webhook_deliveries_attempted_total": "Webhook delivery attempts, by subscription.",
        "webhook_deliveries_succeeded_total": "Webhook delivery attempts answered with a 2xx, by subscription.",
        "webhook_deliveries_failed_total": "Webhook delivery attempts that failed (non-2xx, timeout, refused, transport error), by subscription.",
        "webhook_deliveries_given_up_total": "Webhook deliveries marked failed after their retry window, by subscription.",
        "webhook_subscriptions_disabled_total": "Webhook subscriptions disabled by workflowd after continuous failures, by subscription.",
        "webhook_attempt_duration_seconds": "Time one webhook delivery attempt took, from connect to the end of the answer.",
        "webhook_queue_depth": "Pending webhook deliveries (all processes; read every 5 s).",
        "webhook_oldest_due_seconds": "How long the oldest due webhook delivery has waited (all processes; read every 5 s).",
    ]

    /// Puts `# HELP` before each `# TYPE` line of a family from `help` that has none.
    static func addingHelp(to text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count + 1024)
        var previous: Substring = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# TYPE "), let name = line.dropFirst(7).split(separator: " ").first,
                !previous.hasPrefix("# HELP \(name) "), let help = help[String(name)]
            {
                out += "# HELP \(name) \(help)\n"
            }
            out += line
            out += "\n"
            previous = line
        }
        return String(out.dropLast())  // split kept the text's own last line ending as an empty piece
    }
}
