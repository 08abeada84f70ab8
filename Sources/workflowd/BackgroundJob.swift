import Dispatch
import Foundation
import Logging
import Metrics
import Synchronization

/// Work that runs beside the request workers (idempotency-key purge today; the deadline sweeper, webhook
/// delivery and the LISTEN connection later). The composition root starts every job after the server and,
/// on SIGTERM, asks them all to stop and waits for them before it closes the database pool.
///
/// Every job must be safe with several workflowd processes running the same job at once.
protocol BackgroundJob: Sendable {
    var name: String { get }
    func start()
    /// Asks the job to stop; returns at once.
    func requestStop()
    /// Waits until the job has stopped, at most until `deadline`; false when it was still running then.
    func waitUntilStopped(deadline: ContinuousClock.Instant) -> Bool
}

/// Runs `work` on a thread of its own: once at start, then every `interval`, until stopped. It waits on a
/// semaphore, so a stop request ends the wait at once instead of after the interval; a run in progress is
/// not interrupted, but `work` can ask `isStopping()` between steps.
///
/// Each run counts in `workflowd_job_runs_total{name, outcome}` (`ok` or `failed`); a failure is logged
/// at warning with the error and the job carries on at the next interval.
final class PeriodicJob: BackgroundJob {
    typealias Work = @Sendable (_ isStopping: () -> Bool) throws -> Void

    let name: String
    private let interval: Duration
    private let logger: Logger
    private let work: Work
    private let succeeded: Counter
    private let failed: Counter
    private let stopping = Atomic(false)
    private let wake = DispatchSemaphore(value: 0)
    private let thread: JobThread

    init(
        name: String, every interval: Duration, logger: Logger, metrics: any MetricsFactory = MetricsSystem.factory,
        work: @escaping Work
    ) {
        self.name = name
        self.interval = interval
        self.logger = logger
        self.work = work
        thread = JobThread(name: name, logger: logger)
        // The label is `name`, not `job`: Prometheus sets `job` on every scraped series itself.
        succeeded = Counter(label: "workflowd_job_runs_total", dimensions: [("name", name), ("outcome", "ok")], factory: metrics)
        failed = Counter(label: "workflowd_job_runs_total", dimensions: [("name", name), ("outcome", "failed")], factory: metrics)
    }

    func start() { thread.start { [self] in loop() } }

    func requestStop() {
        if stopping.exchange(true, ordering: .acquiringAndReleasing) == false { wake.signal() }
    }

    func waitUntilStopped(deadline: ContinuousClock.Instant) -> Bool { thread.wait(until: deadline) }

    private func loop() {
        let pause = interval.dispatchInterval
        repeat {
            guard !stopping.load(ordering: .acquiring) else { return }
            runOnce()
        } while wake.wait(timeout: .now() + pause) == .timedOut
    }

    private func runOnce() {
        let begun = ContinuousClock.now
        do {
            try work { self.stopping.load(ordering: .acquiring) }
            succeeded.increment()
            logger.debug("background job ran", metadata: ["job": "\(name)", "duration_ms": "\((ContinuousClock.now - begun) / .milliseconds(1))"])
        } catch {
            failed.increment()
            logger.warning("background job failed", metadata: ["job": "\(name)", "error": "\(error)"])
        }
    }
}

/// The thread of a job: started once, named `job-<name>`, logs when it ends, and can be waited for with a deadline.
final class JobThread: Sendable {
    private let name: String
    private let logger: Logger
    private let started = Atomic(false)
    private let running = DispatchGroup()

    init(name: String, logger: Logger) {
        self.name = name
        self.logger = logger
    }

    func start(_ body: @escaping @Sendable () -> Void) {
        guard started.exchange(true, ordering: .acquiringAndReleasing) == false else { return }
        running.enter()
        let thread = Thread { @Sendable [self] in
            body()
            logger.info("background job stopped", metadata: ["job": "\(name)"])
            running.leave()
        }
        thread.name = "job-\(name)"
        thread.start()
    }

    /// False when the thread was still running at `deadline`.
    func wait(until deadline: ContinuousClock.Instant) -> Bool {
        running.wait(timeout: .now() + max(deadline - .now, .zero).dispatchInterval) == .success
    }
}

extension Duration {
    var dispatchInterval: DispatchTimeInterval {
        .nanoseconds(Int(components.seconds) * 1_000_000_000 + Int(components.attoseconds / 1_000_000_000))
    }
}
