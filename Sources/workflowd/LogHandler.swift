import Foundation
import Logging
import Workflows
import TextCoding

/// One line per event on stderr: a JSON object (default, for log pipelines) or `key=value` text for humans.
///
/// Kept within an existential's three-word inline buffer (no label: lines do not print it): a request's
/// logger is a copy with its request id, user and instance set (`RequestLog.logger`, for each line it
/// writes), and a larger handler would be boxed on the heap and the box copied on the first of those writes.
struct StderrLogHandler: LogHandler {
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    let format: LogFormat

    init(level: Logger.Level, format: LogFormat) {
        self.logLevel = level
        self.format = format
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set {
            // A request sets three keys: room for them at the first, not two regrowths.
            if metadata.isEmpty { metadata.reserveCapacity(4) }
            metadata[key] = newValue
        }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let time = Self.timestamp()
        var line: String
        switch format {
        case .json:
            line = "{\"time\":\"\(time)\",\"level\":\"\(event.level)\",\"message\":\(JSONString.quoted(event.message.description))"
            for key in merged.keys.sorted() { line += ",\(JSONString.quoted(key)):\(JSONString.quoted(merged[key]!.description))" }
            line += "}\n"
        case .text:
            line = "\(time) \(event.level) \(event.message)"
            for key in merged.keys.sorted() { line += " \(key)=\(merged[key]!)" }
            line += "\n"
        }
        // One write(2) per line keeps lines from different threads whole.
        line.withUTF8 { bytes in _ = Foundation.write(2, bytes.baseAddress, bytes.count) }
    }

    private static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return RFC3339.utcMilliseconds(microsecondsSinceEpoch: Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec / 1000))
    }
}

enum Logging {
    /// Sets up swift-log once, from WORKFLOWD_LOG_LEVEL and WORKFLOWD_LOG_FORMAT.
    static func bootstrap(environment: [String: String]) throws -> Logger {
        let levelText = environment["WORKFLOWD_LOG_LEVEL"].flatMap { $0.isEmpty ? nil : $0 } ?? "info"
        guard let level = Logger.Level(rawValue: levelText) else {
            throw ConfigurationError("WORKFLOWD_LOG_LEVEL must be one of trace, debug, info, notice, warning, error, critical")
        }
        let formatText = environment["WORKFLOWD_LOG_FORMAT"].flatMap { $0.isEmpty ? nil : $0 } ?? "json"
        guard let format = LogFormat(rawValue: formatText) else { throw ConfigurationError("WORKFLOWD_LOG_FORMAT must be json or text") }
        LoggingSystem.bootstrap { _ in StderrLogHandler(level: level, format: format) }
        return Logger(label: "workflowd")
    }
}
