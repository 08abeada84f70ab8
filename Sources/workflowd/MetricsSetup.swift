import Metrics
import PostgresClient
import Prometheus

/// Prometheus metrics for the process: bootstraps swift-metrics once and renders `GET /metrics`.
struct MetricsSetup {
    let registry = PrometheusCollectorRegistry()

    init() {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
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
            return registry.emitToString() + (ProcessMetrics.current()?.text ?? "")
        }
    }
}
