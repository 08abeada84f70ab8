import Foundation
import HTTPTypes
import HTTPHead
import Workflows
import TextCoding

/// An RFC 9457 problem: the one shape every error response takes (`application/problem+json`).
struct Problem: Error {
    var status: HTTPResponse.Status
    /// `about:blank` for plain HTTP errors, else a stable URN naming the kind of problem.
    var type: String
    var title: String
    var detail: String
    /// Extension members, as raw JSON values, in order.
    var extensions: [(String, String)] = []
    var headers = HeaderFields()

    init(_ status: HTTPResponse.Status, _ slug: String?, title: String? = nil, detail: String) {
        self.status = status
        self.type = slug.map { "urn:workflowd:problem:\($0)" } ?? "about:blank"
        self.title = title ?? status.reasonPhrase
        self.detail = detail
    }

    func body(instance: String, requestId: String) -> String {
        var out = "{\"type\":\(JSONString.quoted(type)),\"title\":\(JSONString.quoted(title)),\"status\":\(status.code)"
        out += ",\"detail\":\(JSONString.quoted(detail)),\"instance\":\(JSONString.quoted(instance))"
        out += ",\"requestId\":\(JSONString.quoted(requestId))"
        for (name, value) in extensions { out += ",\(JSONString.quoted(name)):\(value)" }
        return out + "}"
    }

    // MARK: Common problems

    static func validation(_ errors: [(field: String, message: String)]) -> Problem {
        var grouped: [(String, [String])] = []
        for (field, message) in errors {
            if let i = grouped.firstIndex(where: { $0.0 == field }) { grouped[i].1.append(message) } else { grouped.append((field, [message])) }
        }
        let detail = errors.map { "\($0.field): \($0.message)" }.joined(separator: "; ")
        var problem = Problem(.badRequest, "validation", title: "Invalid request", detail: detail)
        let map = grouped.map { "\(JSONString.quoted($0.0)):[\($0.1.map(JSONString.quoted).joined(separator: ","))]" }
        problem.extensions.append(("errors", "{\(map.joined(separator: ","))}"))
        return problem
    }

    static func malformedJSON(_ failure: JSONParser.Failure) -> Problem {
        Problem(.badRequest, "malformed-json", title: "Malformed JSON", detail: "The body is not valid JSON: \(failure.message) (at byte \(failure.offset)).")
    }

    static func unauthorized(_ reason: String) -> Problem {
        var problem = Problem(.unauthorized, "invalid-token", title: "Unauthorized", detail: reason)
        problem.headers[.wwwAuthenticate] = HeaderFields.legal(
            "Bearer error=\"invalid_token\", error_description=\"\(reason.replacingOccurrences(of: "\"", with: "'"))\"")
        return problem
    }

    static let notFound = Problem(.notFound, nil, detail: "No such resource.")

    static func unavailable(_ detail: String, retryAfter: Int = 1) -> Problem {
        var problem = Problem(.serviceUnavailable, "unavailable", title: "Service Unavailable", detail: detail)
        problem.headers[.retryAfter] = String(retryAfter)
        return problem
    }

    static let internalError = Problem(
        .internalServerError, nil, detail: "An unexpected error occurred; it has been logged with this request's id.")

    /// Domain errors → problems, in one place.
    static func from(_ error: WorkflowError) -> Problem {
        switch error {
        case .instanceNotFound:
            return Problem(.notFound, "not-found", title: "Not Found", detail: "No workflow instance with this id is visible to you.")
        case .definitionNotFound(let id):
            return Problem(.notFound, "not-found", title: "Not Found", detail: "There is no workflow definition \(JSONString.quoted(id)).")
        case .unknownDefinition(let id):
            return .validation([("workflowId", "There is no workflow definition \(JSONString.quoted(id)); GET /api/v1/workflow-definitions lists them.")])
        case .invalidTransition(let from, let to):
            var problem = Problem(.badRequest, "invalid-transition", title: "Invalid transition", detail: explainInvalidTransition(from: from, to: to))
            problem.extensions = [
                ("currentStatus", "\"\(from.rawValue)\""), ("requestedStatus", "\"\(to.rawValue)\""),
                ("allowedTransitions", JSONWriter.statuses(from.allowedTransitions)),
            ]
            return problem
        case .notRunning(let status):
            var problem = Problem(
                .badRequest, "not-running", title: "Workflow is not running",
                detail: "Only a Running workflow can advance to its next step; this one is \(status.rawValue)."
                    + (status.canTransition(to: .running) ? " Move it to Running first." : ""))
            problem.extensions = [("currentStatus", "\"\(status.rawValue)\""), ("allowedTransitions", JSONWriter.statuses(status.allowedTransitions))]
            return problem
        case .versionMismatch(let current):
            var problem = Problem(
                .preconditionFailed, "version-mismatch", title: "Precondition Failed",
                detail: "If-Match names a version that is no longer current; the current version is \(current). Fetch the workflow and retry.")
            problem.extensions = [("currentVersion", String(current))]
            problem.headers[.eTag] = DecimalText.quoted(current)
            return problem
        case .forbidden(let reason):
            return Problem(.forbidden, "forbidden", title: "Forbidden", detail: reason)
        case .idempotencyKeyReused:
            return Problem(
                .unprocessableContent, "idempotency-key-reused", title: "Idempotency-Key reused",
                detail: "This Idempotency-Key was already used with a different request in the last 24 hours; use a new key for a new request.")
        case .idempotencyKeyInFlight:
            var problem = Problem(
                .conflict, "idempotency-key-in-flight", title: "Idempotency-Key in flight",
                detail: "A request with this Idempotency-Key is still being answered; send it again in a moment to get its answer.")
            problem.headers[.retryAfter] = "1"
            return problem
        case .invalidCursor:
            return .validation([("cursor", "The cursor is not one this server issued; start again without it.")])
        case .invalidData(let reason):
            return Problem(.badRequest, "invalid-data", title: "Invalid data", detail: reason)
        case .contention:
            return .unavailable("Too many concurrent changes to this workflow; try again.")
        case .unavailable(let reason):
            return .unavailable(reason)
        case .approvalRequired:
            return Problem(
                .forbidden, "approval-required", title: "Approval required",
                detail: "This workflow is waiting for approval: it moves on when an eligible Approver (not the initiator) sends "
                    + "POST /api/v1/workflows/{id}/approvals {\"decision\":\"approve\"}. An Admin may override with "
                    + "{\"to\":\"Running\",\"override\":true,\"reason\":\"...\"}; the owner may still cancel or fail it.")
        case .inputRequired:
            return Problem(
                .badRequest, "input-required", title: "Input required",
                detail: "This wait declares a schema for its input: send the input with POST /api/v1/workflows/{id}/input {\"data\":{...}}.")
        case .notWaiting(let expected, let actual):
            var problem = Problem(
                .conflict, "not-waiting", title: "Not waiting",
                detail: "This answer needs a workflow that is \(expected.rawValue); this one is \(actual.rawValue).")
            problem.extensions = [("currentStatus", "\"\(actual.rawValue)\"")]
            return problem
        case .notEligible(let reason):
            return Problem(.forbidden, "not-eligible", title: "Not eligible to decide", detail: reason)
        case .alreadyDecided:
            return Problem(
                .conflict, "already-decided", title: "Already decided",
                detail: "This approval already has your decision, or another decision ended it a moment ago; fetch the workflow to see where it stands.")
        case .notFailed(let status):
            var problem = Problem(
                .conflict, "not-failed", title: "Not failed",
                detail: "Only a Failed workflow can be retried; this one is \(status.rawValue).")
            problem.extensions = [("currentStatus", "\"\(status.rawValue)\"")]
            return problem
        case .alreadyRetried(let id):
            var problem = Problem(
                .conflict, "already-retried", title: "Already retried",
                detail: "This failed workflow was already retried as \(id.lowercaseText); retry that one if it fails too.")
            problem.extensions = [("retriedAs", "\"\(id.lowercaseText)\"")]
            return problem
        case .invalidFromStep(let total):
            return .validation([("fromStep", "must be a step of this workflow, from 1 to \(total)")])
        case .invalidInput(let violations):
            var problem = Problem.validation(violations.map { ($0.path, $0.message) })
            problem.detail = "The input does not match the wait's schema: " + problem.detail
            return problem
        }
    }
}
