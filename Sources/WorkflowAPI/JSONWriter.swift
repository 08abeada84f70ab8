import Foundation
import Workflows
import TextCoding

/// Hand-written JSON for the response types: a few string appends instead of Codable's reflection,
/// and jsonb columns are spliced in as the text PostgreSQL already produced.
enum JSONWriter {
    static func instance(_ i: WorkflowInstance) -> String {
        var out = ""
        out.reserveCapacity(400 + i.context.text.utf8.count + i.stepData.text.utf8.count)
        out += "{\"id\":\"\(i.id.lowercaseText)\""
        out += ",\"workflowDefinitionId\":" + JSONString.quoted(i.definitionId)
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
        out += ",\"reason\":" + (e.reason.map(JSONString.quoted) ?? "null")
        out += ",\"data\":" + (e.data?.text ?? "null")
        out += ",\"userId\":\"\(e.userId.lowercaseText)\",\"occurredAt\":\"\(timestamp(e.occurredAt))\"}"
        return out
    }

    static func definition(_ d: WorkflowDefinition) -> String {
        let steps = d.steps.map { "{\"id\":\(JSONString.quoted($0.id)),\"name\":\(JSONString.quoted($0.name))}" }.joined(separator: ",")
        return "{\"id\":\(JSONString.quoted(d.id)),\"name\":\(JSONString.quoted(d.name)),\"description\":\(JSONString.quoted(d.description)),\"steps\":[\(steps)]}"
    }

    static func page<T>(_ page: Page<T>, item: (T) -> String) -> String {
        "{\"items\":[" + page.items.map(item).joined(separator: ",") + "],\"nextCursor\":"
            + (page.nextCursor.map(JSONString.quoted) ?? "null") + "}"
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

    /// RFC 3339 in UTC with milliseconds: 2026-11-27T10:00:00.123Z.
    static func timestamp(_ t: Timestamp) -> String {
        RFC3339.utcMilliseconds(microsecondsSinceEpoch: t.microsecondsSinceEpoch)
    }
}
