import Dispatch
import Foundation
import InMemoryLogging
import Logging
import MetricsTestKit
import Synchronization
import Testing
@testable import workflowd

@Suite struct BackgroundJobTests {
    struct Boom: Error, CustomStringConvertible {
        var description: String { "database unreachable" }
    }

    let logs = InMemoryLogHandler()
    let metrics = TestMetrics()
    var logger: Logger {
        let handler = logs
        var logger = Logger(label: "test") { _ in handler }
        logger.logLevel = .debug
        return logger
    }

    func runs(_ job: String, _ outcome: String) -> Int64 {
        (try? metrics.expectCounter("workflowd_job_runs_total", [("name", job), ("outcome", outcome)]).totalValue) ?? 0
    }

    @Test func runsAtStartThenWaitsAndStopsPromptlyInsteadOfSleepingOutTheInterval() throws {
        let ran = DispatchSemaphore(value: 0)
        let job = PeriodicJob(name: "probe", every: .seconds(3600), logger: logger, metrics: metrics) { _ in ran.signal() }
        job.start()
        #expect(ran.wait(timeout: .now() + 5) == .success, "the first run comes at start")
        let asked = ContinuousClock.now
        job.requestStop()
        #expect(job.waitUntilStopped(deadline: .now + .seconds(5)))
        #expect(ContinuousClock.now - asked < .seconds(1), "a stop ends the hour-long wait at once")
        #expect(runs("probe", "ok") == 1)
        #expect(logs.entries.contains { $0.message.description == "background job stopped" && $0.metadata["job"] == "probe" })
    }

    @Test func aFailedRunIsCountedAndLoggedAtWarningWithTheErrorAndTheJobCarriesOn() throws {
        let attempts = Atomic(0)
        let secondRun = DispatchSemaphore(value: 0)
        let job = PeriodicJob(name: "flaky", every: .milliseconds(20), logger: logger, metrics: metrics) { _ in
            let attempt = attempts.add(1, ordering: .relaxed).newValue
            if attempt == 1 { throw Boom() }
            if attempt == 2 { secondRun.signal() }
        }
        job.start()
        #expect(secondRun.wait(timeout: .now() + 5) == .success, "the job runs again after a failure")
        job.requestStop()
        #expect(job.waitUntilStopped(deadline: .now + .seconds(5)))
        #expect(runs("flaky", "failed") == 1)
        #expect(runs("flaky", "ok") >= 1)
        let failure = try #require(logs.entries.first { $0.message.description == "background job failed" })
        #expect(failure.level == .warning)
        #expect(failure.metadata["job"] == "flaky")
        #expect(failure.metadata["error"] == "database unreachable")
    }

    @Test func aRunStillGoingAtTheDeadlineIsReportedAndSeesTheStopRequest() throws {
        let inside = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let sawStop = Atomic(false)
        let job = PeriodicJob(name: "slow", every: .seconds(3600), logger: logger, metrics: metrics) { isStopping in
            inside.signal()
            release.wait()
            sawStop.store(isStopping(), ordering: .relaxed)
        }
        job.start()
        #expect(inside.wait(timeout: .now() + 5) == .success)
        job.requestStop()
        #expect(job.waitUntilStopped(deadline: .now + .milliseconds(200)) == false, "the run is not interrupted")
        release.signal()
        #expect(job.waitUntilStopped(deadline: .now + .seconds(5)))
        let stopSeen = sawStop.load(ordering: .relaxed)
        #expect(stopSeen, "work can check between steps whether to stop")
        #expect(runs("slow", "ok") == 1, "no second run after the stop request")
    }

    @Test func aJobAskedToStopBeforeItStartedNeverRuns() {
        let ran = Atomic(false)
        let job = PeriodicJob(name: "never", every: .seconds(3600), logger: logger, metrics: metrics) { _ in ran.store(true, ordering: .relaxed) }
        job.requestStop()
        job.start()
        #expect(job.waitUntilStopped(deadline: .now + .seconds(5)))
        let didRun = ran.load(ordering: .relaxed)
        #expect(!didRun)
    }

    @Test func stopWaitsForTheFirstReasonOnly() {
        let stop = StopRequest()
        #expect(stop.request(.signal(SIGTERM)))
        #expect(!stop.request(.failure("later")))
        #expect(stop.wait().description == "SIGTERM")
    }
}
