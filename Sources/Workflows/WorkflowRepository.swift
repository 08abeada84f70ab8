#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A new instance to insert together with its creation event.
public struct NewWorkflowInstance: Sendable, Hashable {
    public let id: UUID
    public let definitionId: String
    public let userId: UUID
    public let context: JSONText
    public init(id: UUID, definitionId: String, userId: UUID, context: JSONText) {
        self.id = id
        self.definitionId = definitionId
        self.userId = userId
        self.context = context
    }
}

/// An `Idempotency-Key` sent with a create, and a fingerprint of the request it came with.
public struct IdempotencyClaim: Sendable, Hashable {
    public let key: String
    public let requestHash: String
    public init(key: String, requestHash: String) {
        self.key = key
        self.requestHash = requestHash
    }
}

/// What a create did.
public enum CreateOutcome: Sendable, Hashable {
    case created(WorkflowInstance)
    /// The key was used before with the same request: the instance it created (as it is now).
    case replayed(WorkflowInstance)
    /// The key was used before with a different request.
    case keyReused
}

/// A status change applied without reading the instance first: it happens only if the stored instance is
/// in one of `allowedFrom`, belongs to `ownerId` (nil: anyone's, for an Admin) and is at `expectedVersion`
/// when one is given. The service derives the lists from the transition table, so the rules stay in the
/// domain; the repository only checks them where the row is (one round trip instead of read + write).
public struct ConditionalTransition: Sendable, Hashable {
    public let instanceId: UUID
    public let target: WorkflowStatus
    public let allowedFrom: [WorkflowStatus]
    /// From these states the change also starts the first step (`currentStep = 1`); from the others the
    /// step stays as it is.
    public let firstStepFrom: [WorkflowStatus]
    public let ownerId: UUID?
    public let expectedVersion: Int?
    public let reason: String?
    /// Who made the change (recorded on its `StatusChanged` event).
    public let actorId: UUID
    /// What the target status awaits (stored while waiting; nil clears the wait).
    public let awaiting: Awaiting?
    /// From these states the change applies only when the stored wait has no schema (its input must
    /// come through `provideInput`).
    public let onlyWithoutSchemaFrom: [WorkflowStatus]
    /// Recorded as the `StatusChanged` event's data.
    public let eventData: JSONText?
    public init(
        instanceId: UUID, target: WorkflowStatus, allowedFrom: [WorkflowStatus], firstStepFrom: [WorkflowStatus],
        ownerId: UUID?, expectedVersion: Int?, reason: String?, actorId: UUID, awaiting: Awaiting? = nil,
        onlyWithoutSchemaFrom: [WorkflowStatus] = [], eventData: JSONText? = nil
    ) {
        self.awaiting = awaiting
        self.onlyWithoutSchemaFrom = onlyWithoutSchemaFrom
        self.eventData = eventData
        self.instanceId = instanceId
        self.target = target
        self.allowedFrom = allowedFrom
        self.firstStepFrom = firstStepFrom
        self.ownerId = ownerId
        self.expectedVersion = expectedVersion
        self.reason = reason
        self.actorId = actorId
    }
}

/// Completes the current step of a Running instance (recording `output` under the step's id in
/// `stepData`) and moves to the next step, or to `Completed` after the last one; from a step with an
/// approval gate it moves to `WaitingForApproval` with the gate's policy instead (keeping `output` with
/// the wait) — applied only if the
/// stored instance is Running at a step its definition has, belongs to `ownerId` (nil: anyone's) and is at
/// `expectedVersion` when one is given.
public struct ConditionalAdvance: Sendable, Hashable {
    public let instanceId: UUID
    public let ownerId: UUID?
    public let expectedVersion: Int?
    public let output: JSONText
    /// Who made the change (recorded on its events).
    public let actorId: UUID
    public init(instanceId: UUID, ownerId: UUID?, expectedVersion: Int?, output: JSONText, actorId: UUID) {
        self.instanceId = instanceId
        self.ownerId = ownerId
        self.expectedVersion = expectedVersion
        self.output = output
        self.actorId = actorId
    }
}

/// Answers a `WaitingForInput` instance: records `data` under the current step's id in `stepData`, ends the
/// wait and moves to `Running` (events `InputProvided`, then `StatusChanged`) — applied only if the stored
/// instance is still WaitingForInput at `expectedVersion` and belongs to `ownerId` (nil: anyone's).
public struct ConditionalInput: Sendable, Hashable {
    public let instanceId: UUID
    public let ownerId: UUID?
    /// The version the input was validated against (the wait's schema is part of it).
    public let expectedVersion: Int
    public let data: JSONText
    public let actorId: UUID
    public init(instanceId: UUID, ownerId: UUID?, expectedVersion: Int, data: JSONText, actorId: UUID) {
        self.instanceId = instanceId
        self.ownerId = ownerId
        self.expectedVersion = expectedVersion
        self.data = data
        self.actorId = actorId
    }
}

/// A decision on an approval wait, applied only if the stored instance is still in the same wait
/// (`WaitingForApproval` since `waitStartedAt`) and `approverId` has not decided on it yet. Where the row
/// is, it records the decision and, on the `count`-th approval (or an override), ends the wait: back to
/// `Running`, completing the step when the wait is a step's gate. A rejection applies `onReject`.
public struct ConditionalDecision: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case decision(Decision)
        /// An Admin ends the wait as approved without the approvals.
        case override
    }
    public let instanceId: UUID
    public let waitStartedAt: Timestamp
    public let kind: Kind
    /// The approver's comment, or the override's reason.
    public let comment: String?
    public let approverId: UUID
    public init(instanceId: UUID, waitStartedAt: Timestamp, kind: Kind, comment: String?, approverId: UUID) {
        self.instanceId = instanceId
        self.waitStartedAt = waitStartedAt
        self.kind = kind
        self.comment = comment
        self.approverId = approverId
    }
}

/// What a conditional change found where the row is, when it did not apply: enough for the service to
/// explain the refusal without reading the instance again.
public struct FoundInstance: Sendable, Hashable {
    public let status: WorkflowStatus
    public let version: Int
    /// Whether the instance belongs to the change's `ownerId` (always true for an Admin's change).
    public let visible: Bool
    public init(status: WorkflowStatus, version: Int, visible: Bool) {
        self.status = status
        self.version = version
        self.visible = visible
    }
}

/// The result of a conditional change: applied, or refused with what was found (nil: no such instance).
public enum ChangeOutcome: Sendable, Hashable {
    case applied(WorkflowInstance)
    case refused(FoundInstance?)
}

/// Keyset position in the newest-first instance listing.
public struct InstanceCursor: Sendable, Hashable {
    public let createdAt: Timestamp
    public let id: UUID
    public init(createdAt: Timestamp, id: UUID) {
        self.createdAt = createdAt
        self.id = id
    }
}

public struct InstanceQuery: Sendable, Hashable {
    /// nil: everyone's (Admin only).
    public let ownerId: UUID?
    public let status: WorkflowStatus?
    public let definitionId: String?
    /// A JSON object the instance's `context` must contain, by PostgreSQL's jsonb `@>` rules: every key of
    /// an object present with a containing value, every element of an array matched by some element, scalars
    /// equal. nil: no condition.
    public let context: JSONText?
    /// The same over `stepData`.
    public let stepData: JSONText?
    public let after: InstanceCursor?
    public let limit: Int
    public init(
        ownerId: UUID?, status: WorkflowStatus?, definitionId: String?, context: JSONText? = nil, stepData: JSONText? = nil,
        after: InstanceCursor?, limit: Int
    ) {
        self.ownerId = ownerId
        self.status = status
        self.definitionId = definitionId
        self.context = context
        self.stepData = stepData
        self.after = after
        self.limit = limit
    }
}

/// Storage of definitions, instances and events. Implementations are synchronous (called from worker
/// threads), throw `WorkflowError` for every expected failure, and make each write atomic with its events.
public protocol WorkflowRepository: Sendable {
    func definitions() throws -> [WorkflowDefinition]
    func definition(id: String) throws -> WorkflowDefinition?
    /// Inserts the instance, `event` and the idempotency record (if any) atomically; a key seen in the last
    /// 24 hours creates nothing. Throws `.unknownDefinition` for a missing definition.
    func createInstance(_ instance: NewWorkflowInstance, event: NewWorkflowEvent, idempotency: IdempotencyClaim?) throws -> CreateOutcome
    func instance(id: UUID) throws -> WorkflowInstance?
    /// Newest first; at most `query.limit` items.
    func instances(matching query: InstanceQuery) throws -> [WorkflowInstance]
    /// Applies the transition and its `StatusChanged` event (from the stored status, at the resulting
    /// step) atomically if every condition holds; otherwise writes nothing and returns what it found.
    func transition(_ transition: ConditionalTransition) throws -> ChangeOutcome
    /// Applies the advance with its `StepCompleted` event (and, after the last step, the `StatusChanged`
    /// event to `Completed`) atomically if every condition holds; otherwise writes nothing and returns
    /// what it found.
    func advance(_ advance: ConditionalAdvance) throws -> ChangeOutcome
    /// Applies the input with its events atomically if every condition holds; otherwise writes nothing
    /// and returns what it found.
    func provideInput(_ input: ConditionalInput) throws -> ChangeOutcome
    /// Applies the decision with its events atomically if every condition holds; otherwise writes
    /// nothing and returns what it found.
    func decide(_ decision: ConditionalDecision) throws -> ChangeOutcome
    /// Oldest first, with ids greater than `afterId`.
    func events(instanceId: UUID, afterId: Int64?, limit: Int) throws -> [WorkflowEvent]
}
