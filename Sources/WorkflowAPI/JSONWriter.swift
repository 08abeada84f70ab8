import Foundation
import Workflows

/// Hand-written JSON for the response types: a few string appends instead of Codable's reflection,
/// and jsonb columns are spliced in as the text PostgreSQL already produced.
enum JSONWriter {
    static func quoted(_ s: String) -> String { JSONText.quoted(s) }

    static func instance(_ i: WorkflowInstance) -> String {
        var out = "{\"id\":\"\(i.id.uuidString.lowercased())\""
        out += ",\"workflowDefinitionId\":" + quoted(i.definitionId)
        out += ",\"userId\":\"\(i.userId.uuidString.lowercased())\""
        out += ",\"status\":\"\(i.status.rawValue)\""
        out += ",\"currentStep\":\(i.currentStep),\"totalSteps\":\(i.totalSteps)"
        out += ",\"context\":" + i.context.text
        out += ",\"stepData\":" + i.stepData.text
        out += ",\"allowedTransitions\":" + statuses(i.status.allowedTransitions)
        out += ",\"version\":\(i.version)"
        out += ",\"createdAt\":\"\(timestamp(i.createdAt))\",\"updatedAt\":\"\(timestamp(i.updatedAt))\"}"
        return out
    }

    static func event(_ e: WorkflowEvent) -> String {
        var out = "{\"id\":\(e.id),\"type\":\"\(e.type.rawValue)\""
        out += ",\"fromStatus\":" + (e.fromStatus.map { "\"\($0.rawValue)\"" } ?? "null")
        out += ",\"toStatus\":" + (e.toStatus.map { "\"\($0.rawValue)\"" } ?? "null")
        out += ",\"step\":\(e.step)"
        out += ",\"reason\":" + (e.reason.map(quoted) ?? "null")
        out += ",\"data\":" + (e.data?.text ?? "null")
        out += ",\"userId\":\"\(e.userId.uuidString.lowercased())\",\"occurredAt\":\"\(timestamp(e.occurredAt))\"}"
        return out
    }

    static func definition(_ d: WorkflowDefinition) -> String {
        let steps = d.steps.map { "{\"id\":\(quoted($0.id)),\"name\":\(quoted($0.name))}" }.joined(separator: ",")
        return "{\"id\":\(quoted(d.id)),\"name\":\(quoted(d.name)),\"description\":\(quoted(d.description)),\"steps\":[\(steps)]}"
    }

    static func page<T>(_ page: Page<T>, item: (T) -> String) -> String {
        "{\"items\":[" + page.items.map(item).joined(separator: ",") + "],\"nextCursor\":"
            + (page.nextCursor.map(quoted) ?? "null") + "}"
    }

    static func statuses(_ list: [WorkflowStatus]) -> String {
        "[" + list.map { "\"\($0.rawValue)\"" }.joined(separator: ",") + "]"
    }

    static func states() -> String {
        let transitions = WorkflowStatus.allCases.map { "\"\($0.rawValue)\":\(statuses($0.allowedTransitions))" }
        return "{\"states\":\(statuses(WorkflowStatus.allCases)),\"terminal\":\(statuses(WorkflowStatus.terminalStates)),"
            + "\"transitions\":{\(transitions.joined(separator: ","))}}"
    }

    /// RFC 3339 in UTC with milliseconds: 2026-11-27T10:00:00.123Z.
    static func timestamp(_ t: Timestamp) -> String {
        let micros = t.microsecondsSinceEpoch
        let millis = Int((micros % 1_000_000 + 1_000_000) % 1_000_000 / 1000)
        let seconds = Int((micros - Int64(millis) * 1000).floorDiv(1_000_000))
        let days = seconds.floorDiv(86_400)
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay % 3600 / 60, 2)):"
            + "\(pad(secondOfDay % 60, 2)).\(pad(millis, 3))Z"
    }

    /// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
    static func civilDate(daysSinceEpoch: Int) -> (Int, Int, Int) {
        let z = daysSinceEpoch + 719_468
        let era = z.floorDiv(146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}

extension BinaryInteger {
    fileprivate func floorDiv(_ divisor: Self) -> Self {
        let q = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? q - 1 : q
    }
}
