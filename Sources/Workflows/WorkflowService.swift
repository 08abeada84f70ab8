#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import TextCoding

/// The rules: the state machine, step progress, ownership and roles. No I/O of its own.
public struct WorkflowService: Sendable {
    public let repository: any WorkflowRepository
    /// How often a change is retried after losing a race to another writer before giving up.
    let maxAttempts = 5

    public init(repository: any WorkflowRepository) {
        self.repository = repository
    }

    // MARK: Definitions

    public func definitions(for principal: Principal) throws -> [WorkflowDefinition] {
        try requireRead(principal)
        return try repository.definitions()
    }

    public func definition(id: String, for principal: Principal) throws -> WorkflowDefinition {
        try requireRead(principal)
        guard let definition = try repository.definition(id: id) else { throw WorkflowError.definitionNotFound(id) }
        return definition
    }

    // MARK: Instances

    /// The result of a create: the instance, and whether it is the replay of an earlier identical request.
    public struct Created: Sendable {
        public let instance: WorkflowInstance
        public let replayed: Bool
    }

    public func create(
        definitionId: String, parameters: JSONText, idempotency: IdempotencyClaim? = nil, by principal: Principal
    ) throws -> Created {
        try requireAct(principal)
        let new = NewWorkflowInstance(id: UUID.random(), definitionId: definitionId, userId: principal.userId, context: parameters)
        let event = NewWorkflowEvent(type: .instanceCreated, fromStatus: nil, toStatus: .created, step: 0)
        switch try repository.createInstance(new, event: event, idempotency: idempotency) {
        case .created(let instance): return Created(instance: instance, replayed: false)
        case .replayed(let instance): return Created(instance: instance.asCreated, replayed: true)
        case .keyReused: throw WorkflowError.idempotencyKeyReused
        }
    }

    public func instance(id: UUID, for principal: Principal) throws -> WorkflowInstance {
        try requireRead(principal)
        return try visibleInstance(id: id, for: principal)
    }

    public struct ListFilter: Sendable {
        public var status: WorkflowStatus?
        public var definitionId: String?
        public var userId: UUID?
        public var cursor: String?
        public var limit: Int
        public init(status: WorkflowStatus? = nil, definitionId: String? = nil, userId: UUID? = nil, cursor: String? = nil, limit: Int = 20) {
            self.status = status
            self.definitionId = definitionId
            self.userId = userId
            self.cursor = cursor
            self.limit = limit
        }
    }

    /// Newest first. Non-admins see only their own; only an Admin may filter by another user.
    public func list(_ filter: ListFilter, for principal: Principal) throws -> Page<WorkflowInstance> {
        try requireRead(principal)
        let owner: UUID?
        if principal.isAdmin {
            owner = filter.userId
        } else if let requested = filter.userId, requested != principal.userId {
            throw WorkflowError.forbidden("Only an Admin may list another user's workflows.")
        } else {
            owner = principal.userId
        }
        let after = try filter.cursor.map { cursor throws(WorkflowError) in try CursorCoding.decodeInstanceCursor(cursor) }
        let query = InstanceQuery(
            ownerId: owner, status: filter.status, definitionId: filter.definitionId, after: after, limit: filter.limit + 1)
        let found = try repository.instances(matching: query)
        let items = Array(found.prefix(filter.limit))
        let next = found.count > filter.limit ? items.last.map { CursorCoding.encode(InstanceCursor(createdAt: $0.createdAt, id: $0.id)) } : nil
        return Page(items: items, nextCursor: next)
    }

    /// Moves the instance to `target`. `Created → Running` also starts the first step.
    public func transition(
        id: UUID, to target: WorkflowStatus, reason: String?, ifMatch: Int?, by principal: Principal
    ) throws -> WorkflowInstance {
        try requireAct(principal)
        // The common case in one round trip: the database applies it if the stored state allows it.
        let allowedFrom = WorkflowStatus.allCases.filter { $0.canTransition(to: target) }
        if !allowedFrom.isEmpty {
            let attempt = ConditionalTransition(
                instanceId: id, target: target, allowedFrom: allowedFrom,
                firstStepFrom: allowedFrom.filter { Self.startsFirstStep(from: $0, to: target) },
                ownerId: principal.ownerScope, expectedVersion: ifMatch, reason: reason,
                actorId: principal.userId)
            if let updated = try repository.transition(attempt) { return updated }
        }
        // Not applied: read, and either explain why (not found, invalid, version) or apply what is now valid.
        return try change(id: id, ifMatch: ifMatch, by: principal) { current in
            guard current.status.canTransition(to: target) else {
                throw WorkflowError.invalidTransition(from: current.status, to: target)
            }
            let step = Self.startsFirstStep(from: current.status, to: target) ? 1 : current.currentStep
            let event = NewWorkflowEvent(
                type: .statusChanged, fromStatus: current.status, toStatus: target, step: step, reason: reason)
            return InstanceChange(
                instanceId: id, expectedVersion: current.version, status: target, currentStep: step,
                stepOutput: nil, events: [event], actorId: principal.userId)
        }
    }

    /// Starting a created instance starts its first step.
    static func startsFirstStep(from: WorkflowStatus, to target: WorkflowStatus) -> Bool {
        from == .created && target == .running
    }

    /// Completes the current step (recording `output` under its id) and moves to the next one;
    /// after the last step the instance becomes `Completed`.
    public func advance(id: UUID, output: JSONText?, ifMatch: Int?, by principal: Principal) throws -> WorkflowInstance {
        try requireAct(principal)
        var definition: WorkflowDefinition?
        return try change(id: id, ifMatch: ifMatch, by: principal) { current in
            guard current.status == .running else { throw WorkflowError.notRunning(current.status) }
            if definition == nil { definition = try repository.definition(id: current.definitionId) }
            guard let steps = definition?.steps, current.currentStep >= 1, current.currentStep <= steps.count else {
                throw WorkflowError.unavailable("The definition of \(current.definitionId) does not match the instance's step.")
            }
            let stepId = steps[current.currentStep - 1].id
            let output = output ?? .emptyObject
            var events = [
                NewWorkflowEvent(type: .stepCompleted, fromStatus: nil, toStatus: nil, step: current.currentStep, data: output)
            ]
            var status = WorkflowStatus.running
            var nextStep = current.currentStep + 1
            if current.currentStep == steps.count {
                status = .completed
                nextStep = current.currentStep
                events.append(NewWorkflowEvent(
                    type: .statusChanged, fromStatus: .running, toStatus: .completed, step: current.currentStep,
                    reason: "All steps completed"))
            }
            return InstanceChange(
                instanceId: id, expectedVersion: current.version, status: status, currentStep: nextStep,
                stepOutput: StepOutput(stepId: stepId, output: output), events: events, actorId: principal.userId)
        }
    }

    public func events(instanceId: UUID, cursor: String?, limit: Int, for principal: Principal) throws -> Page<WorkflowEvent> {
        try requireRead(principal)
        _ = try visibleInstance(id: instanceId, for: principal)
        let after = try cursor.map { cursor throws(WorkflowError) in try CursorCoding.decodeEventCursor(cursor) }
        let found = try repository.events(instanceId: instanceId, afterId: after, limit: limit + 1)
        let items = Array(found.prefix(limit))
        let next = found.count > limit ? items.last.map { CursorCoding.encode(eventId: $0.id) } : nil
        return Page(items: items, nextCursor: next)
    }

    // MARK: Helpers

    /// Read, decide, write-if-unchanged; on a lost race read again and decide anew (bounded).
    private func change(
        id: UUID, ifMatch: Int?, by principal: Principal, decide: (WorkflowInstance) throws -> InstanceChange
    ) throws -> WorkflowInstance {
        for _ in 0..<maxAttempts {
            let current = try visibleInstance(id: id, for: principal)
            if let ifMatch, ifMatch != current.version { throw WorkflowError.versionMismatch(current: current.version) }
            if let updated = try repository.apply(try decide(current)) { return updated }
        }
        throw WorkflowError.contention
    }

    private func visibleInstance(id: UUID, for principal: Principal) throws -> WorkflowInstance {
        guard let instance = try repository.instance(id: id), principal.canSee(instance) else {
            throw WorkflowError.instanceNotFound
        }
        return instance
    }

    private func requireRead(_ principal: Principal) throws {
        guard principal.canRead else {
            throw WorkflowError.forbidden("The token carries none of the roles Participant, Viewer or Admin.")
        }
    }

    private func requireAct(_ principal: Principal) throws {
        guard principal.canAct else {
            throw WorkflowError.forbidden("This action needs the Participant or Admin role.")
        }
    }
}
