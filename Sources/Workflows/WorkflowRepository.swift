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

/// Output recorded in `stepData` under a step's id.
public struct StepOutput: Sendable, Hashable {
    public let stepId: String
    public let output: JSONText
    public init(stepId: String, output: JSONText) {
        self.stepId = stepId
        self.output = output
    }
}

/// A change to an instance, applied only if the stored version still equals `expectedVersion`.
public struct InstanceChange: Sendable, Hashable {
    public let instanceId: UUID
    public let expectedVersion: Int
    public let status: WorkflowStatus
    public let currentStep: Int
    public let stepOutput: StepOutput?
    /// Written in the same transaction, in this order.
    public let events: [NewWorkflowEvent]
    /// Who made the change (recorded on each event).
    public let actorId: UUID
    public init(
        instanceId: UUID, expectedVersion: Int, status: WorkflowStatus, currentStep: Int, stepOutput: StepOutput?,
        events: [NewWorkflowEvent], actorId: UUID
    ) {
        self.instanceId = instanceId
        self.expectedVersion = expectedVersion
        self.status = status
        self.currentStep = currentStep
        self.stepOutput = stepOutput
        self.events = events
        self.actorId = actorId
    }
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
    public init(
        instanceId: UUID, target: WorkflowStatus, allowedFrom: [WorkflowStatus], firstStepFrom: [WorkflowStatus],
        ownerId: UUID?, expectedVersion: Int?, reason: String?, actorId: UUID
    ) {
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
    public let after: InstanceCursor?
    public let limit: Int
    public init(ownerId: UUID?, status: WorkflowStatus?, definitionId: String?, after: InstanceCursor?, limit: Int) {
        self.ownerId = ownerId
        self.status = status
        self.definitionId = definitionId
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
    /// Applies the change and its events atomically; nil when the stored version is no longer the expected one.
    func apply(_ change: InstanceChange) throws -> WorkflowInstance?
    /// Applies the transition and its `StatusChanged` event (from the stored status, at the resulting
    /// step) atomically if every condition holds; nil, writing nothing, if one does not (or no such instance).
    func transition(_ transition: ConditionalTransition) throws -> WorkflowInstance?
    /// Oldest first, with ids greater than `afterId`.
    func events(instanceId: UUID, afterId: Int64?, limit: Int) throws -> [WorkflowEvent]
}
