import Foundation
import Synchronization
@testable import Workflows

/// A repository in memory, for unit tests of the service's rules (never instead of the database tests).
final class InMemoryWorkflowRepository: WorkflowRepository {
    struct State {
        var instances: [UUID: WorkflowInstance] = [:]
        var events: [WorkflowEvent] = []
        var clock: Int64 = 1_800_000_000_000_000
        var keys: [[String]: (hash: String, id: UUID)] = [:]
    }
    let state = Mutex(State())
    let catalogue: [WorkflowDefinition]
    /// Called before `apply` or `transition` writes, to simulate a concurrent writer winning the race.
    let beforeApply = Mutex<(@Sendable (InMemoryWorkflowRepository) -> Void)?>(nil)

    init(definitions: [WorkflowDefinition] = [
        WorkflowDefinition(id: "create-prd", name: "Create PRD", description: "d", steps: [
            WorkflowStep(id: "goals", name: "Goals"), WorkflowStep(id: "requirements", name: "Requirements"),
            WorkflowStep(id: "review", name: "Review"),
        ])
    ]) {
        catalogue = definitions
    }

    func definitions() throws -> [WorkflowDefinition] { catalogue }
    func definition(id: String) throws -> WorkflowDefinition? { catalogue.first { $0.id == id } }

    func createInstance(_ new: NewWorkflowInstance, event: NewWorkflowEvent, idempotency: IdempotencyClaim?) throws -> CreateOutcome {
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
    let reads = Atomic(0)

    func instance(id: UUID) throws -> WorkflowInstance? {
        reads.add(1, ordering: .relaxed)
        return state.withLock { $0.instances[id] }
    }

    func instances(matching query: InstanceQuery) throws -> [WorkflowInstance] {
        state.withLock { state in
            state.instances.values
                .filter { query.ownerId == nil || $0.userId == query.ownerId }
                .filter { query.status == nil || $0.status == query.status }
                .filter { query.definitionId == nil || $0.definitionId == query.definitionId }
                .filter { i in query.after.map { (i.createdAt, i.id.uuidString) < ($0.createdAt, $0.id.uuidString) } ?? true }
                .sorted { ($0.createdAt, $0.id.uuidString) > ($1.createdAt, $1.id.uuidString) }
                .prefix(query.limit).map { $0 }
        }
    }

    func apply(_ change: InstanceChange) throws -> WorkflowInstance? {
        beforeApply.withLock { $0 }?(self)
        return state.withLock { state in
            guard var instance = state.instances[change.instanceId], instance.version == change.expectedVersion else { return nil }
            state.clock += 1
            instance.status = change.status
            instance.currentStep = change.currentStep
            if let output = change.stepOutput {
                let existing = instance.stepData.text.dropFirst().dropLast()
                let member = "\(JSONText.quoted(output.stepId)):\(output.output.text)"
                instance.stepData = JSONText(unchecked: "{" + (existing.isEmpty ? "" : existing + ",") + member + "}")
            }
            instance.version += 1
            instance.updatedAt = Timestamp(microsecondsSinceEpoch: state.clock)
            state.instances[instance.id] = instance
            record(change.events, for: instance, actor: change.actorId, in: &state)
            return instance
        }
    }

    func transition(_ t: ConditionalTransition) throws -> WorkflowInstance? {
        beforeApply.withLock { $0 }?(self)
        return state.withLock { state in
            guard var instance = state.instances[t.instanceId], t.allowedFrom.contains(instance.status),
                t.ownerId == nil || t.ownerId == instance.userId, t.expectedVersion == nil || t.expectedVersion == instance.version
            else { return nil }
            state.clock += 1
            let from = instance.status
            instance.status = t.target
            if t.firstStepFrom.contains(from) { instance.currentStep = 1 }
            instance.version += 1
            instance.updatedAt = Timestamp(microsecondsSinceEpoch: state.clock)
            state.instances[instance.id] = instance
            let event = NewWorkflowEvent(
                type: .statusChanged, fromStatus: from, toStatus: t.target, step: instance.currentStep, reason: t.reason)
            record([event], for: instance, actor: t.actorId, in: &state)
            return instance
        }
    }

    func events(instanceId: UUID, afterId: Int64?, limit: Int) throws -> [WorkflowEvent] {
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
