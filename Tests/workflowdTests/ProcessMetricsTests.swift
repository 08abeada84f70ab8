import Foundation
import Testing
@testable import workflowd

@Suite struct ProcessMetricsTests {
    /// A real /proc/PID/stat line whose command name holds spaces and a ")" (fields 14/15 utime/stime
    /// 250/50 ticks, 22 starttime 12345 ticks, 23 vsize, 24 rss 2048 pages).
    static let stat = "4242 (work flowd) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 9 0 12345 123456789 2048 "
        + "18446744073709551615 1 1 0 0 0 0 4096 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0"

    @Test func statFieldsAreCountedFromTheLastParenthesis() throws {
        let parsed = try #require(ProcessMetrics.parseStat(Self.stat, ticksPerSecond: 100, pageSize: 4096))
        #expect(parsed == ProcessMetrics.Stat(cpuSeconds: 3, virtualBytes: 123_456_789, residentBytes: 2048 * 4096, startedAfterBoot: 123.45))
        #expect(ProcessMetrics.parseStat("4242 (truncated) S 1 2", ticksPerSecond: 100, pageSize: 4096) == nil)
    }

    @Test func bootTimeComesFromTheBtimeLine() {
        #expect(ProcessMetrics.bootTime(procStat: "cpu  1 2 3\nintr 5\nbtime 1732950000\nprocesses 9\n") == 1_732_950_000)
        #expect(ProcessMetrics.bootTime(procStat: "cpu  1 2 3\n") == nil)
    }

    @Test func rendersTheStandardNamesWithTheirTypes() {
        let text = ProcessMetrics(
            cpuSeconds: 3.5, residentBytes: 8_388_608, virtualBytes: 123_456_789, startTimeSeconds: 1_732_950_123.45,
            openFileDescriptors: 12, maxFileDescriptors: 1024
        ).text
        for line in [
            "# TYPE process_cpu_seconds_total counter", "process_cpu_seconds_total 3.5",
            "# TYPE process_resident_memory_bytes gauge", "process_resident_memory_bytes 8388608.0",
            "process_virtual_memory_bytes 123456789.0", "process_start_time_seconds 1732950123.45",
            "# TYPE process_open_fds gauge", "process_open_fds 12", "process_max_fds 1024",
        ] {
            #expect(text.split(separator: "\n").contains(Substring(line)), "\(line) missing in\n\(text)")
        }
    }

    /// Read from this very test process: the figures must be plausible, and move as the process does.
    @Test func currentReadsThisProcessFromProc() throws {
        let before = try #require(ProcessMetrics.current())
        let now = Date().timeIntervalSince1970
        #expect(before.startTimeSeconds <= now + 1 && before.startTimeSeconds > now - 86_400 * 365)
        #expect(before.residentBytes > 1_000_000 && before.virtualBytes >= before.residentBytes)
        #expect(before.openFileDescriptors >= 3)
        #expect(before.maxFileDescriptors.map { $0 >= before.openFileDescriptors } ?? true)
        var spin = 0.0
        let deadline = ProcessInfo.processInfo.systemUptime + 0.05
        while ProcessInfo.processInfo.systemUptime < deadline { spin += 1 }  // burn some CPU
        let after = try #require(ProcessMetrics.current())
        #expect(after.cpuSeconds > before.cpuSeconds && spin > 0)
        #expect(after.startTimeSeconds == before.startTimeSeconds)
    }

    /// Descriptors counted in a process that holds still: this test process's own count moves with the
    /// tests running beside it (a before/after difference here once failed CI), an idle child's does not.
    @Test func openDescriptorsAreCountedFromProc() throws {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sleep")
        child.arguments = ["30"]
        try child.run()
        // SIGKILL: a SIGTERM the test process ignores stays ignored in the child across exec.
        defer { kill(child.processIdentifier, SIGKILL); child.waitUntilExit() }
        let pid = "\(child.processIdentifier)"
        // Until the child sleeps inside `sleep` (state S after "(sleep)"): before and during its exec it may
        // still hold or close the parent's descriptors.
        func sleeping() -> Bool {
            (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.contains("(sleep) S ") ?? false
        }
        let until = Date().addingTimeInterval(10)
        while !sleeping() && Date() < until { usleep(10_000) }
        #expect(sleeping())
        let listed = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
        let metrics = try #require(ProcessMetrics.current(pid: pid))
        #expect(metrics.openFileDescriptors == listed)
        #expect(listed >= 3, "stdin, stdout and stderr at least")
        #expect(abs(metrics.startTimeSeconds - Date().timeIntervalSince1970) < 60)
        #expect(metrics.residentBytes > 0 && metrics.cpuSeconds >= 0)
    }
}

@Suite struct MetricsHelpTests {
    @Test func helpIsAddedOnlyWhereAFamilyHasNone() {
        let text = """
            # TYPE http_requests_total counter
            http_requests_total{status="200"} 3
            # HELP db_pool_size Configured PostgreSQL connections.
            # TYPE db_pool_size gauge
            db_pool_size 8
            # TYPE unknown_total counter
            unknown_total 1

            """
        let expected = """
            # HELP http_requests_total \(MetricsSetup.help["http_requests_total"]!)
            # TYPE http_requests_total counter
            http_requests_total{status="200"} 3
            # HELP db_pool_size Configured PostgreSQL connections.
            # TYPE db_pool_size gauge
            db_pool_size 8
            # TYPE unknown_total counter
            unknown_total 1

            """
        #expect(MetricsSetup.addingHelp(to: text) == expected)
    }
}
