public import Foundation
import Logging
public import Synchronization
import TextCoding
public import Workflows

/// A repository in memory, for unit tests of the service's rules (never instead of the database tests).
/// The repository contract suite (WorkflowStoreTests) holds it to the same behaviour as PostgreSQL's.
public final class InMemoryWorkflowRepository: WorkflowRepository {
    public struct State {
        public var instances: [UUID: WorkflowInstance] = [:]
        public var events: [WorkflowEvent] = []
        var clock: Int64 = 1_800_000_000_000_000
        var keys: [[String]: (hash: String, id: UUID)] = [:]
    }
    public let state = Mutex(State())
    let catalogue: [WorkflowDefinition]
    /// Called before a conditional change looks at the row, to simulate a concurrent writer getting there first.
    public let beforeChange = Mutex<(@Sendable (InMemoryWorkflowRepository) -> Void)?>(nil)

    public init(definitions: [WorkflowDefinition] = [
        WorkflowDefinition(id: "create-prd", name: "Create PRD", description: "d", steps: [
            WorkflowStep(id: "goals", name: "Goals"), WorkflowStep(id: "requirements", name: "Requirements"),
            WorkflowStep(id: "review", name: "Review"),
        ])
    ]) {
        catalogue = definitions
    }

    public func definitions() throws -> [WorkflowDefinition] { catalogue }
    public func definition(id: String) throws -> WorkflowDefinition? { catalogue.first { $0.id == id } }

    /// The `request_id` of `RequestScope.logger` at each create: whether the API's request logger reaches
    /// the repository.
    public let requestIdsSeen = Mutex<[String?]>([])

    public func createInstance(_ new: NewWorkflowInstance, event: NewWorkflowEvent, idempotency: IdempotencyClaim?) throws -> CreateOutcome {
        requestIdsSeen.withLock { $0.append(RequestScope.logger?[metadataKey: "request_id"].map { "\($0)" }) }
        guard let definition = catalogue.first(where: { $0.id == new.definitionId }) else {
            throw WorkflowError.unknownDefinition(new.definitionId)
        }
        return state.withLock { state in
            if let idempotency, let earlier = state.keys[[new.userId.uuidString, idempotency.key]] {
                return earlier.hash == idempotency.requestHash ? .replayed(state.instances[earlier.id]!) : .keyReused
            }
            state.clock += 1
            let now = Timestamp(microsecondsSinceEpoch: state.clock)
            let instance = WorkflowInstance(
                id: new.id, definitionId: new.definitionId, userId: new.userId, status: .created, currentStep: 0,
                totalSteps: definition.steps.count, context: new.context, stepData: .emptyObject, version: 1, createdAt: now, updatedAt: now)
            state.instances[new.id] = instance
            if let idempotency { state.keys[[new.userId.uuidString, idempotency.key]] = (idempotency.requestHash, new.id) }
            record([event], for: instance, actor: new.userId, in: &state)
            return .created(instance)
        }
    }

    /// How many times `instance(id:)` was called (a valid transition should not need a read).
    public let reads = Atomic(0)

    public func instance(id: UUID) throws -> WorkflowInstance? {
        reads.add(1, ordering: .relaxed)
        return state.withLock { $0.instances[id] }
    }

    public func instances(matching query: InstanceQuery) throws -> [WorkflowInstance] {
        state.withLock { state in
            state.instances.values
                .filter { query.ownerId == nil || $0.userId == query.ownerId }
                .filter { query.status == nil || $0.status == query.status }
                .filter { query.definitionId == nil || $0.definitionId == query.definitionId }
                .filter { i in query.context.map { JSONContainment.contains(i.context.text, $0.text) } ?? true }
                .filter { i in query.stepData.map { JSONContainment.contains(i.stepData.text, $0.text) } ?? true }
                .filter { i in query.after.map { (i.createdAt, i.id.uuidString) < ($0.createdAt, $0.id.uuidString) } ?? true }
                .sorted { ($0.createdAt, $0.id.uuidString) > ($1.createdAt, $1.id.uuidString) }
                .prefix(query.limit).map { $0 }
        }
    }

    public func transition(_ t: ConditionalTransition) throws -> ChangeOutcome {
        change(t.instanceId, ownerId: t.ownerId, expectedVersion: t.expectedVersion) { instance in
            guard t.allowedFrom.contains(instance.status) else { return nil }
            let from = instance.status
            instance.status = t.target
            if t.firstStepFrom.contains(from) { instance.currentStep = 1 }
            return [NewWorkflowEvent(type: .statusChanged, fromStatus: from, toStatus: t.target, step: instance.currentStep, reason: t.reason)]
        } actor: { t.actorId }
    }

    public func advance(_ a: ConditionalAdvance) throws -> ChangeOutcome {
        change(a.instanceId, ownerId: a.ownerId, expectedVersion: a.expectedVersion) { instance in
            guard instance.status == .running, let steps = catalogue.first(where: { $0.id == instance.definitionId })?.steps,
                (1...steps.count).contains(instance.currentStep)
            else { return nil }
            let step = instance.currentStep
            let existing = instance.stepData.text.dropFirst().dropLast()
            let member = "\(JSONString.quoted(steps[step - 1].id)):\(a.output.text)"
            instance.stepData = JSONText(unchecked: "{" + (existing.isEmpty ? "" : existing + ",") + member + "}")
            var events = [NewWorkflowEvent(type: .stepCompleted, fromStatus: nil, toStatus: nil, step: step, data: a.output)]
            if step == steps.count {
                instance.status = .completed
                events.append(NewWorkflowEvent(type: .statusChanged, fromStatus: .running, toStatus: .completed, step: step, reason: "All steps completed"))
            } else {
                instance.currentStep = step + 1
            }
            return events
        } actor: { a.actorId }
    }

    /// The shape every conditional change has: find the row, check owner and version, let `rule` change
    /// it (nil: refused), bump the version and record the events; or report what was found.
    private func change(
        _ id: UUID, ownerId: UUID?, expectedVersion: Int?, rule: (inout WorkflowInstance) -> [NewWorkflowEvent]?,
        actor: () -> UUID
    ) -> ChangeOutcome {
        beforeChange.withLock { $0 }?(self)
        return state.withLock { state in
            guard let stored = state.instances[id] else { return .refused(nil) }
            let found = FoundInstance(status: stored.status, version: stored.version, visible: ownerId == nil || ownerId == stored.userId)
            var instance = stored
            guard found.visible, expectedVersion == nil || expectedVersion == stored.version, let events = rule(&instance) else {
                return .refused(found)
            }
            state.clock += 1
            instance.version += 1
            instance.updatedAt = Timestamp(microsecondsSinceEpoch: state.clock)
            state.instances[id] = instance
            record(events, for: instance, actor: actor(), in: &state)
            return .applied(instance)
        }
    }

    public func events(instanceId: UUID, afterId: Int64?, limit: Int) throws -> [WorkflowEvent] {
        state.withLock { state in
            Array(state.events.filter { $0.instanceId == instanceId && $0.id > (afterId ?? 0) }.prefix(limit))
        }
    }

    private func record(_ events: [NewWorkflowEvent], for instance: WorkflowInstance, actor: UUID, in state: inout State) {
        for event in events {
            state.events.append(WorkflowEvent(
                id: Int64(state.events.count + 1), instanceId: instance.id, type: event.type, fromStatus: event.fromStatus,
                toStatus: event.toStatus, step: event.step, reason: event.reason, data: event.data, userId: actor,
                occurredAt: instance.updatedAt))
        }
    }
}
