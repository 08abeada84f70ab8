import Foundation

/// The process figures every Prometheus user expects, under the names and meanings of the official
/// clients' process collectors, read from /proc at scrape time (nothing runs between scrapes).
///
/// Rendered as text beside the registry's output rather than through swift-prometheus gauges, because
/// `process_cpu_seconds_total` is a counter that the kernel keeps: a registry counter can only be
/// incremented, not set to the kernel's figure.
struct ProcessMetrics: Equatable {
    var cpuSeconds: Double
    var residentBytes: Double
    var virtualBytes: Double
    var startTimeSeconds: Double
    var openFileDescriptors: Int
    var maxFileDescriptors: Int?

    /// What /proc/self/stat says, in the units of the metrics.
    struct Stat: Equatable {
        var cpuSeconds: Double
        var virtualBytes: Double
        var residentBytes: Double
        /// Seconds after boot.
        var startedAfterBoot: Double
    }

    /// Parses a /proc/PID/stat line. The command name (field 2) is in parentheses and may itself hold
    /// spaces and parentheses, so the fields are counted from the last ")".
    static func parseStat(_ text: String, ticksPerSecond: Double, pageSize: Double) -> Stat? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        // After ")": field 3 (state) is at index 0, so field N is at index N - 3.
        let fields = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count > 21, let utime = Double(fields[11]), let stime = Double(fields[12]),
            let start = Double(fields[19]), let vsize = Double(fields[20]), let rss = Double(fields[21])
        else { return nil }
        return Stat(
            cpuSeconds: (utime + stime) / ticksPerSecond, virtualBytes: vsize, residentBytes: rss * pageSize,
            startedAfterBoot: start / ticksPerSecond)
    }

    /// The `btime` line of /proc/stat: when the machine booted, in seconds since the Unix epoch.
    static func bootTime(procStat text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    /// This process now (or, for tests, the process `pid` names in /proc; the descriptor limit is always this
    /// process's own); nil where there is no /proc (the metrics are then left out).
    static func current(pid: String = "self") -> ProcessMetrics? {
        guard let statText = readFile("/proc/\(pid)/stat"), let procStat = readFile("/proc/stat"),
            let boot = bootTime(procStat: procStat),
            let stat = parseStat(statText, ticksPerSecond: Double(sysconf(Int32(_SC_CLK_TCK))), pageSize: Double(sysconf(Int32(_SC_PAGESIZE)))),
            let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")
        else { return nil }
        var limit = rlimit()  // rlim_t.max is RLIM_INFINITY (not imported: a cast macro)
        let maxDescriptors = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 && limit.rlim_cur != rlim_t.max ? Int(limit.rlim_cur) : nil
        return ProcessMetrics(
            cpuSeconds: stat.cpuSeconds, residentBytes: stat.residentBytes, virtualBytes: stat.virtualBytes,
            startTimeSeconds: boot + stat.startedAfterBoot, openFileDescriptors: descriptors.count, maxFileDescriptors: maxDescriptors)
    }

    /// /proc files report a size of 0: read until end of file.
    private static func readFile(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        return (try? handle.readToEnd()).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Prometheus text exposition format.
    var text: String {
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ value: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
        }
        metric("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", "\(cpuSeconds)")
        metric("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", "\(residentBytes)")
        metric("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", "\(virtualBytes)")
        metric("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", "\(startTimeSeconds)")
        metric("process_open_fds", "gauge", "Number of open file descriptors.", "\(openFileDescriptors)")
        if let maxFileDescriptors {
            metric("process_max_fds", "gauge", "Maximum number of open file descriptors.", "\(maxFileDescriptors)")
        }
        return out
    }
}
