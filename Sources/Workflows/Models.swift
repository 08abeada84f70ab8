#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A JSON document kept as text: validated at the edge, stored as jsonb, never parsed in the domain.
public struct JSONText: Sendable, Hashable, CustomStringConvertible {
    public let text: String
    public init(unchecked text: String) { self.text = text }
    public static let emptyObject = JSONText(unchecked: "{}")
    public var description: String { text }
}

/// A point in time with microsecond precision, as PostgreSQL keeps it.
public struct Timestamp: Sendable, Hashable, Comparable {
    public let microsecondsSinceEpoch: Int64
    public init(microsecondsSinceEpoch: Int64) { self.microsecondsSinceEpoch = microsecondsSinceEpoch }
    /// This process's clock (deadlines are set and applied by it, so both sides use the same clock).
    public static var now: Timestamp { Timestamp(microsecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1_000_000)) }
    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.microsecondsSinceEpoch < b.microsecondsSinceEpoch }
}

public struct WorkflowStep: Sendable, Hashable {
    public let id: String
    public let name: String
    /// When set, `advance` from this step waits for this approval before the step completes.
    public let approval: ApprovalGate?
    public init(id: String, name: String, approval: ApprovalGate? = nil) {
        self.id = id
        self.name = name
        self.approval = approval
    }
}

/// A kind of workflow (e.g. "create-prd") with its ordered steps.
public struct WorkflowDefinition: Sendable, Hashable {
    public let id: String
    public let name: String
    public let description: String
    public let steps: [WorkflowStep]
    public init(id: String, name: String, description: String, steps: [WorkflowStep]) {
        self.id = id
        self.name = name
        self.description = description
        self.steps = steps
    }
}

/// One run of a workflow definition, owned by a user.
public struct WorkflowInstance: Sendable, Hashable {
    public let id: UUID
    public let definitionId: String
    public let userId: UUID
    public var status: WorkflowStatus
    /// 0 before the start; 1…totalSteps while it runs.
    public var currentStep: Int
    public let totalSteps: Int
    public let context: JSONText
    public var stepData: JSONText
    public var version: Int
    public let createdAt: Timestamp
    public var updatedAt: Timestamp
    /// What the instance awaits while it is WaitingForInput or WaitingForApproval; nil otherwise.
    public var awaiting: Awaiting?
    /// Everyone who ever decided on one of its approvals: they keep seeing the instance.
    public var decidedBy: [UUID]
    /// When the instance entered its current status (also what identifies a wait).
    public var statusChangedAt: Timestamp
    /// The failed instance this one retries; nil for a first run.
    public let retryOf: UUID?
    /// The retry of this failed instance, once there is one.
    public var retriedAs: UUID?
    /// 1 for a first run; a retry of attempt n is attempt n + 1.
    public let attempt: Int
    /// The step `Created → Running` starts (a retry starts where it was told to).
    public let startStep: Int

    public init(
        id: UUID, definitionId: String, userId: UUID, status: WorkflowStatus, currentStep: Int, totalSteps: Int,
        context: JSONText, stepData: JSONText, version: Int, createdAt: Timestamp, updatedAt: Timestamp,
        awaiting: Awaiting? = nil, decidedBy: [UUID] = [], statusChangedAt: Timestamp? = nil, retryOf: UUID? = nil,
        retriedAs: UUID? = nil, attempt: Int = 1, startStep: Int = 1
    ) {
        self.retryOf = retryOf
        self.retriedAs = retriedAs
        self.attempt = attempt
        self.startStep = startStep
        self.awaiting = awaiting
        self.decidedBy = decidedBy
        self.statusChangedAt = statusChangedAt ?? updatedAt
        self.id = id
        self.definitionId = definitionId
        self.userId = userId
        self.status = status
        self.currentStep = currentStep
        self.totalSteps = totalSteps
        self.context = context
        self.stepData = stepData
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

extension WorkflowInstance {
    /// The instance as its create returned it (what an idempotent replay answers).
    public var asCreated: WorkflowInstance {
        WorkflowInstance(
            id: id, definitionId: definitionId, userId: userId, status: .created, currentStep: 0, totalSteps: totalSteps,
            context: context, stepData: .emptyObject, version: 1, createdAt: createdAt, updatedAt: createdAt, retryOf: retryOf,
            attempt: attempt, startStep: startStep)
    }
}

public enum WorkflowEventType: String, Sendable, CaseIterable {
    case instanceCreated = "InstanceCreated"
    case statusChanged = "StatusChanged"
    case stepCompleted = "StepCompleted"
    case inputProvided = "InputProvided"
    case approvalGranted = "ApprovalGranted"
    case approvalRejected = "ApprovalRejected"
    /// A wait's deadline passed and the deadline job applied its `onTimeout` (the system acted).
    case deadlinePassed = "DeadlinePassed"
    /// A failed instance was retried; `data` names the new instance.
    case retriedAs = "RetriedAs"
}

/// An event about to be written, in the same transaction as the change it records.
public struct NewWorkflowEvent: Sendable, Hashable {
    public let type: WorkflowEventType
    public let fromStatus: WorkflowStatus?
    public let toStatus: WorkflowStatus?
    public let step: Int
    public let reason: String?
    public let data: JSONText?
    public init(
        type: WorkflowEventType, fromStatus: WorkflowStatus?, toStatus: WorkflowStatus?, step: Int,
        reason: String? = nil, data: JSONText? = nil
    ) {
        self.type = type
        self.fromStatus = fromStatus
        self.toStatus = toStatus
        self.step = step
        self.reason = reason
        self.data = data
    }
}

/// A recorded event of an instance's history.
public struct WorkflowEvent: Sendable, Hashable {
    public let id: Int64
    public let instanceId: UUID
    public let type: WorkflowEventType
    public let fromStatus: WorkflowStatus?
    public let toStatus: WorkflowStatus?
    public let step: Int
    public let reason: String?
    public let data: JSONText?
    /// The user who acted; nil when workflowd itself did (a deadline passing).
    public let userId: UUID?
    public let occurredAt: Timestamp
    public init(
        id: Int64, instanceId: UUID, type: WorkflowEventType, fromStatus: WorkflowStatus?, toStatus: WorkflowStatus?,
        step: Int, reason: String?, data: JSONText?, userId: UUID?, occurredAt: Timestamp
    ) {
        self.id = id
        self.instanceId = instanceId
        self.type = type
        self.fromStatus = fromStatus
        self.toStatus = toStatus
        self.step = step
        self.reason = reason
        self.data = data
        self.userId = userId
        self.occurredAt = occurredAt
    }
}

/// A page of a keyset-paginated listing.
public struct Page<Item: Sendable>: Sendable {
    public let items: [Item]
    /// Opaque; nil on the last page.
    public let nextCursor: String?
    public init(items: [Item], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }
}
