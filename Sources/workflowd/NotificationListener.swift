import Dispatch
import Foundation
import Logging
import Metrics
import PostgresClient
import Synchronization

/// The process's one LISTEN connection, as a background job: it hands each notification to `deliver`
/// and, after every (re)connect, calls `resynchronise` — notifications sent while it was not listening
/// are lost, so every waiter must look at the table again. It connects with its own setting
/// (`WORKFLOWD_LISTEN_DATABASE_URL`), since LISTEN needs a session of its own: behind PgBouncer in
/// transaction mode it must reach PostgreSQL directly.
///
/// Metrics: `workflowd_listener_notifications_total`, `workflowd_listener_connects_total{outcome}`.
final class NotificationListener: BackgroundJob {
    let name = "notification_listener"
    private let configuration: PostgresConfiguration
    private let channel: String
    private let logger: Logger
    private let deliver: @Sendable (String) -> Void
    private let resynchronise: @Sendable () -> Void
    private let received: Counter
    private let connected: Counter
    private let failed: Counter
    private let stopping = Atomic(false)
    private let thread: JobThread
    /// How long a wait for notifications lasts before the thread looks at `stopping` again.
    static let pollInterval = Duration.milliseconds(200)

    init(
        configuration: PostgresConfiguration, channel: String, logger: Logger, metrics: any MetricsFactory = MetricsSystem.factory,
        deliver: @escaping @Sendable (String) -> Void, resynchronise: @escaping @Sendable () -> Void
    ) {
        var configuration = configuration
        configuration.applicationName = "workflowd-listener"
        // A LISTEN session runs no statements worth a timeout.
        configuration.statementTimeoutMilliseconds = 0
        self.configuration = configuration
        self.channel = channel
        self.logger = logger
        thread = JobThread(name: "notification_listener", logger: logger)
        self.deliver = deliver
        self.resynchronise = resynchronise
        received = Counter(label: "workflowd_listener_notifications_total", factory: metrics)
        connected = Counter(label: "workflowd_listener_connects_total", dimensions: [("outcome", "ok")], factory: metrics)
        failed = Counter(label: "workflowd_listener_connects_total", dimensions: [("outcome", "failed")], factory: metrics)
    }

    func start() { thread.start { [self] in loop() } }

    func requestStop() { stopping.store(true, ordering: .releasing) }

    func waitUntilStopped(deadline: ContinuousClock.Instant) -> Bool { thread.wait(until: deadline) }

    private var isStopping: Bool { stopping.load(ordering: .acquiring) }

    private func loop() {
        var backoff = Duration.milliseconds(100)
        while !isStopping {
            do {
                let connection = try PostgresConnection(configuration: configuration)
                try connection.listen(channel)
                connected.increment()
                logger.info("listening for changes", metadata: ["channel": "\(channel)", "database": "\(connection.target.map(String.init(describing:)) ?? "?")"])
                backoff = .milliseconds(100)
                resynchronise()
                while !isStopping {
                    for notification in try connection.notifications(waitingUpTo: Self.pollInterval) {
                        received.increment()
                        deliver(notification.payload)
                    }
                }
                connection.close()
            } catch {
                failed.increment()
                logger.warning("the LISTEN connection failed; reconnecting", metadata: [
                    "error": "\(error)", "retry_ms": "\(backoff / .milliseconds(1))",
                ])
                pause(backoff)
                backoff = min(backoff * 2, .seconds(2))
            }
        }
    }

    /// Sleeps in short steps so that a stop request is seen promptly.
    private func pause(_ duration: Duration) {
        let until = ContinuousClock.now + duration
        while !isStopping, ContinuousClock.now < until { Thread.sleep(forTimeInterval: 0.02) }
    }
}
