import Foundation
import PostgresClient
import TextCoding
import Workflows

/// Reads the `awaiting` jsonb column (written by `Awaiting.json` and by the statements that append
/// decisions) back into the domain's value. The schema and a gate's output are arbitrary JSON and come
/// as their own columns, kept as text; the deadline comes from `due_at`.
struct StoredAwaiting: Decodable {
    let kind: String
    let prompt: String?
    let approvers: Approvers?
    let onReject: String?
    let onTimeout: String?
    let decisions: [StoredDecision]?
    let overdue: Bool?

    struct Approvers: Decodable {
        let count: Int
        let userIds: [String]?
        let allowSelfApproval: Bool?
    }

    struct StoredDecision: Decodable {
        let userId: String
        let decision: String
        let decidedAt: String
    }

    static func decode(_ text: String, schema: String?, output: String?, dueAt: Int64?) throws -> Awaiting {
        func corrupt(_ what: String) -> PostgresError { PostgresError(kind: .decoding, message: "bad \(what) in workflow_instances.awaiting") }
        let stored = try JSONDecoder().decode(StoredAwaiting.self, from: Data(text.utf8))
        guard let kind = Awaiting.Kind(rawValue: stored.kind) else { throw corrupt("kind") }
        let policy = try stored.approvers.map { approvers in
            ApprovalPolicy(
                count: approvers.count,
                userIds: try approvers.userIds.map { ids in try ids.map { guard let id = UUID(text: $0) else { throw corrupt("userIds") }; return id } },
                allowSelfApproval: approvers.allowSelfApproval ?? false)
        }
        let decisions = try (stored.decisions ?? []).map { d in
            guard let userId = UUID(text: d.userId), let decision = Decision(rawValue: d.decision),
                let at = RFC3339.microsecondsSinceEpoch(parsing: d.decidedAt)
            else { throw corrupt("decision") }
            return ApprovalDecision(userId: userId, decision: decision, decidedAt: Timestamp(microsecondsSinceEpoch: at))
        }
        return Awaiting(
            kind: kind, prompt: stored.prompt, schema: schema.map(JSONText.init(unchecked:)), approvers: policy,
            onReject: stored.onReject.flatMap(RejectAction.init(rawValue:)) ?? .rework,
            dueAt: dueAt.map(Timestamp.init(microsecondsSinceEpoch:)), onTimeout: stored.onTimeout.flatMap(TimeoutAction.init(rawValue:)),
            gateOutput: output.map(JSONText.init(unchecked:)), decisions: decisions, overdue: stored.overdue ?? false)
    }
}
