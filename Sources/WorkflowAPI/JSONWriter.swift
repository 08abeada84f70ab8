import Foundation
import Workflows
import TextCoding

/// Hand-written JSON for the response types: a few string appends instead of Codable's reflection,
/// and jsonb columns are spliced in as the text PostgreSQL already produced.
enum JSONWriter {
    static func quoted(_ s: String) -> String { JSONText.quoted(s) }

    static func instance(_ i: WorkflowInstance) -> String {
        var out = ""
        out.reserveCapacity(400 + i.context.text.utf8.count + i.stepData.text.utf8.count)
        out += "{\"id\":\"\(i.id.lowercaseText)\""
        out += ",\"workflowDefinitionId\":" + quoted(i.definitionId)
        out += ",\"userId\":\"\(i.userId.lowercaseText)\""
        out += ",\"status\":\"\(i.status.rawValue)\""
        out += ",\"currentStep\":\(i.currentStep),\"totalSteps\":\(i.totalSteps)"
        out += ",\"context\":" + i.context.text
        out += ",\"stepData\":" + i.stepData.text
        out += ",\"allowedTransitions\":" + allowedTransitions[i.status]!
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
        out += ",\"userId\":\"\(e.userId.lowercaseText)\",\"occurredAt\":\"\(timestamp(e.occurredAt))\"}"
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

    /// Each state's `allowedTransitions` array, written once.
    static let allowedTransitions = Dictionary(uniqueKeysWithValues: WorkflowStatus.allCases.map { ($0, statuses($0.allowedTransitions)) })

    static func statuses(_ list: [WorkflowStatus]) -> String {
        "[" + list.map { "\"\($0.rawValue)\"" }.joined(separator: ",") + "]"
    }

    static func states() -> String {
        let transitions = WorkflowStatus.allCases.map { "\"\($0.rawValue)\":\(statuses($0.allowedTransitions))" }
        return "{\"states\":\(statuses(WorkflowStatus.allCases)),\"terminal\":\(statuses(WorkflowStatus.terminalStates)),"
            + "\"transitions\":{\(transitions.joined(separator: ","))}}"
    }

    /// RFC 3339 in UTC with milliseconds: 2026-11-27T10:00:00.123Z (years 0–9999), digit by digit.
    static func timestamp(_ t: Timestamp) -> String {
        let micros = t.microsecondsSinceEpoch
        let millis = Int((micros % 1_000_000 + 1_000_000) % 1_000_000 / 1000)
        let seconds = Int((micros - Int64(millis) * 1000).floorDiv(1_000_000))
        let days = seconds.floorDiv(86_400)
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        return String(unsafeUninitializedCapacity: 24) { out in
            var at = 0
            func put(_ value: Int, _ width: Int, then separator: UInt8?) {
                var rest = value
                for position in stride(from: at + width - 1, through: at, by: -1) {
                    out[position] = UInt8(ascii: "0") + UInt8(rest % 10)
                    rest /= 10
                }
                at += width
                if let separator { out[at] = separator; at += 1 }
            }
            put(min(max(year, 0), 9999), 4, then: UInt8(ascii: "-"))
            put(month, 2, then: UInt8(ascii: "-"))
            put(day, 2, then: UInt8(ascii: "T"))
            put(secondOfDay / 3600, 2, then: UInt8(ascii: ":"))
            put(secondOfDay % 3600 / 60, 2, then: UInt8(ascii: ":"))
            put(secondOfDay % 60, 2, then: UInt8(ascii: "."))
            put(millis, 3, then: UInt8(ascii: "Z"))
            return at
        }
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
}

extension BinaryInteger {
    fileprivate func floorDiv(_ divisor: Self) -> Self {
        let q = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? q - 1 : q
    }
}
