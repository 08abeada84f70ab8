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
        /// Command keys: the request's hash and its answer.
        var commandKeys: [[String]: (hash: String, response: StoredResponse)] = [:]
        /// Command keys whose command is running now.
        var keysInFlight: Set<[String]> = []
    }
    public let state = Mutex(State())
    let catalogue: [WorkflowDefinition]
    /// Called before a conditional change looks at the row, to simulate a concurrent writer getting there first.
    public let beforeChange = Mutex<(@Sendable (InMemoryWorkflowRepository) -> Void)?>(nil)

    public init(definitions: [WorkflowDefinition] = [
        WorkflowDefinition(id: "create-prd", name: "Create PRD", description: "d", steps: [
            WorkflowStep(id: "goals", name: "Goals"), WorkflowStep(id: "requirements", name: "Requirements"),
            WorkflowStep(id: "review", name: "Review"),
        ]),
        WorkflowDefinition(id: "create-architecture", name: "Create Architecture", description: "d", steps: [
            WorkflowStep(id: "decisions", name: "Decisions"),
            WorkflowStep(id: "validation", name: "Validation", approval: ApprovalGate(count: 1, prompt: "Approve the architecture", onReject: .rework)),
            WorkflowStep(id: "complete", name: "Complete"),
        ]),
        WorkflowDefinition(id: "create-story", name: "Create Story", description: "d", steps: [
            WorkflowStep(id: "draft", name: "Draft"), WorkflowStep(id: "validate", name: "Validate"),
        ]),
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

    /// Like PostgreSQL's: a key held while its command runs, the answer kept with the command's writes or,
    /// when none is kept, the writes undone. Undoing restores the instances and events as they were before
    /// the command: tests run keyed commands without concurrent writers to this double.
    public func keyed<Value>(
        _ claim: IdempotencyClaim, userId: UUID, _ command: () throws -> KeyedAnswer<Value>
    ) throws -> KeyedCommand<Value> {
        let id = [userId.uuidString, claim.key]
        let found: KeyedCommand<Value>? = state.withLock { state in
            if state.keysInFlight.contains(id) { return .inFlight }
            if state.keys[id] != nil { return .keyReused }
            if let earlier = state.commandKeys[id] { return earlier.hash == claim.requestHash ? .replay(earlier.response) : .keyReused }
            state.keysInFlight.insert(id)
            return nil
        }
        if let found { return found }
        let before = state.withLock { ($0.instances, $0.events) }
        func undo() { state.withLock { ($0.instances, $0.events) = before; $0.keysInFlight.remove(id) } }
        let answer: KeyedAnswer<Value>
        do { answer = try command() } catch {
            undo()
            throw error
        }
        guard let stored = answer.stored else {
            undo()
            return .ran(answer.value)
        }
        state.withLock { state in
            state.keysInFlight.remove(id)
            state.commandKeys[id] = (claim.requestHash, stored)
        }
        return .ran(answer.value)
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

    public func tasks(_ query: TaskQuery) throws -> [WorkflowInstance] {
        state.withLock { state in
            state.instances.values.filter { i in
                switch i.status {
                case .waitingForInput: return query.input && i.userId == query.userId
                case .waitingForApproval:
                    let policy = i.awaiting?.approvers ?? ApprovalPolicy()
                    return query.approvals && (i.userId != query.userId || policy.allowSelfApproval)
                        && (policy.userIds?.contains(query.userId) ?? true) && i.awaiting?.hasDecided(query.userId) != true
                default: return false
                }
            }
            .filter { i in query.after.map { (i.statusChangedAt, i.id.uuidString) < ($0.createdAt, $0.id.uuidString) } ?? true }
            .sorted { ($0.statusChangedAt, $0.id.uuidString) > ($1.statusChangedAt, $1.id.uuidString) }
            .prefix(query.limit).map { $0 }
        }
    }

    public func transition(_ t: ConditionalTransition) throws -> ChangeOutcome {
        change(t.instanceId, ownerId: t.ownerId, expectedVersion: t.expectedVersion) { instance in
            guard t.allowedFrom.contains(instance.status),
                !(t.onlyWithoutSchemaFrom.contains(instance.status) && instance.awaiting?.schema != nil)
            else { return nil }
            let from = instance.status
            instance.status = t.target
            instance.awaiting = t.awaiting
            if t.firstStepFrom.contains(from) { instance.currentStep = instance.startStep }
            return [NewWorkflowEvent(
                type: .statusChanged, fromStatus: from, toStatus: t.target, step: instance.currentStep, reason: t.reason, data: t.eventData)]
        } actor: { t.actorId }
    }

    public func advance(_ a: ConditionalAdvance) throws -> ChangeOutcome {
        change(a.instanceId, ownerId: a.ownerId, expectedVersion: a.expectedVersion) { instance in
            guard instance.status == .running, let steps = catalogue.first(where: { $0.id == instance.definitionId })?.steps,
                (1...steps.count).contains(instance.currentStep)
            else { return nil }
            let step = instance.currentStep
            if let gate = steps[step - 1].approval {
                let awaiting = Awaiting(
                    kind: .approval, prompt: gate.prompt, approvers: ApprovalPolicy(count: gate.count), onReject: gate.onReject,
                    gateOutput: a.output)
                instance.status = .waitingForApproval
                instance.awaiting = awaiting
                return [NewWorkflowEvent(
                    type: .statusChanged, fromStatus: .running, toStatus: .waitingForApproval, step: step, reason: "Approval gate",
                    data: JSONText(unchecked: awaiting.json(counts: false)))]
            }
            return complete(step: step, of: steps, output: a.output, from: .running, in: &instance)
        } actor: { a.actorId }
    }

    /// Records `output` under the step's id and moves to the next step, or to `Completed` after the last.
    private func complete(
        step: Int, of steps: [WorkflowStep], output: JSONText, from: WorkflowStatus, in instance: inout WorkflowInstance
    ) -> [NewWorkflowEvent] {
        instance.stepData = adding(steps[step - 1].id, output, to: instance.stepData)
        var events = [NewWorkflowEvent(type: .stepCompleted, fromStatus: nil, toStatus: nil, step: step, data: output)]
        let last = step == steps.count
        instance.status = last ? .completed : .running
        if !last { instance.currentStep = step + 1 }
        if from != .running || last {
            events.append(NewWorkflowEvent(
                type: .statusChanged, fromStatus: from, toStatus: instance.status, step: step,
                reason: last ? "All steps completed" : "Approved"))
        }
        return events
    }

    private func adding(_ key: String, _ value: JSONText, to object: JSONText) -> JSONText {
        let existing = object.text.dropFirst().dropLast()
        return JSONText(unchecked: "{" + (existing.isEmpty ? "" : existing + ",") + "\(JSONString.quoted(key)):\(value.text)}")
    }

    public func provideInput(_ input: ConditionalInput) throws -> ChangeOutcome {
        change(input.instanceId, ownerId: input.ownerId, expectedVersion: input.expectedVersion) { instance in
            guard instance.status == .waitingForInput, let steps = catalogue.first(where: { $0.id == instance.definitionId })?.steps,
                (1...steps.count).contains(instance.currentStep)
            else { return nil }
            instance.stepData = adding(steps[instance.currentStep - 1].id, input.data, to: instance.stepData)
            instance.status = .running
            instance.awaiting = nil
            return [
                NewWorkflowEvent(type: .inputProvided, fromStatus: nil, toStatus: nil, step: instance.currentStep, data: input.data),
                NewWorkflowEvent(type: .statusChanged, fromStatus: .waitingForInput, toStatus: .running, step: instance.currentStep, reason: "Input provided"),
            ]
        } actor: { input.actorId }
    }

    public func decide(_ d: ConditionalDecision) throws -> ChangeOutcome {
        let now = state.withLock { Timestamp(microsecondsSinceEpoch: $0.clock + 1) }
        return change(d.instanceId, ownerId: nil, expectedVersion: nil) { instance in
            guard instance.status == .waitingForApproval, instance.statusChangedAt == d.waitStartedAt,
                var awaiting = instance.awaiting, !awaiting.hasDecided(d.approverId),
                let steps = catalogue.first(where: { $0.id == instance.definitionId })?.steps
            else { return nil }
            let step = instance.currentStep
            var events: [NewWorkflowEvent] = []
            let approved: Bool
            switch d.kind {
            case .override:
                approved = true
            case .decision(let decision):
                awaiting.decisions.append(ApprovalDecision(userId: d.approverId, decision: decision, decidedAt: now))
                if !instance.decidedBy.contains(d.approverId) { instance.decidedBy.append(d.approverId) }
                approved = decision == .approve && awaiting.approvalsGiven >= awaiting.approvalsNeeded
                events.append(NewWorkflowEvent(
                    type: decision == .approve ? .approvalGranted : .approvalRejected, fromStatus: nil, toStatus: nil, step: step,
                    reason: d.comment,
                    data: JSONText(unchecked: "{\"approvalsGiven\":\(awaiting.approvalsGiven),\"approvalsNeeded\":\(awaiting.approvalsNeeded)}")))
                if decision == .reject {
                    instance.status = awaiting.onReject == .fail ? .failed : .running
                    instance.awaiting = nil
                    events.append(NewWorkflowEvent(type: .statusChanged, fromStatus: .waitingForApproval, toStatus: instance.status, step: step, reason: "Rejected"))
                    return events
                }
            }
            guard approved else {
                instance.awaiting = awaiting
                return events
            }
            instance.awaiting = nil
            if let output = awaiting.gateOutput {
                events += complete(step: step, of: steps, output: output, from: .waitingForApproval, in: &instance)
            } else {
                instance.status = .running
                events.append(NewWorkflowEvent(type: .statusChanged, fromStatus: .waitingForApproval, toStatus: .running, step: step, reason: "Approved"))
            }
            if case .override = d.kind {
                events = events.map { event in
                    event.type == .statusChanged && event.fromStatus == .waitingForApproval
                        ? NewWorkflowEvent(type: .statusChanged, fromStatus: event.fromStatus, toStatus: event.toStatus, step: step,
                                           reason: d.comment, data: JSONText(unchecked: "{\"override\":true}"))
                        : event
                }
            }
            return events
        } actor: { d.approverId }
    }

    public func applyDeadlines(passedBy now: Timestamp, limit: Int) throws -> [WorkflowInstance] {
        let due = state.withLock { state in
            state.instances.values
                .compactMap { i in i.awaiting.flatMap { a in a.overdue ? nil : a.dueAt.map { (due: $0, id: i.id) } } }
                .filter { $0.due <= now }
                .sorted { ($0.due, $0.id.uuidString) < ($1.due, $1.id.uuidString) }
                .prefix(limit).map(\.id)
        }
        return due.compactMap { id in
            let outcome = change(id, ownerId: nil, expectedVersion: nil) { instance in
                guard var awaiting = instance.awaiting, let dueAt = awaiting.dueAt, !awaiting.overdue, dueAt <= now else { return nil }
                let from = instance.status
                let onTimeout = awaiting.onTimeout ?? .notify
                let data = "{\"dueAt\":\"\(RFC3339.utcMilliseconds(microsecondsSinceEpoch: dueAt.microsecondsSinceEpoch))\",\"onTimeout\":\"\(onTimeout.rawValue)\"}"
                var events = [NewWorkflowEvent(
                    type: .deadlinePassed, fromStatus: nil, toStatus: nil, step: instance.currentStep, reason: "Deadline passed",
                    data: JSONText(unchecked: data))]
                switch onTimeout {
                case .notify:
                    awaiting.overdue = true
                    instance.awaiting = awaiting
                case .fail, .cancel:
                    instance.status = onTimeout == .fail ? .failed : .cancelled
                    instance.awaiting = nil
                    events.append(NewWorkflowEvent(
                        type: .statusChanged, fromStatus: from, toStatus: instance.status, step: instance.currentStep, reason: "Deadline passed"))
                }
                return events
            } actor: { nil }
            if case .applied(let instance) = outcome { return instance }
            return nil
        }
    }

    public func retry(_ r: ConditionalRetry) throws -> RetryOutcome {
        state.withLock { state in
            guard let old = state.instances[r.instanceId], let steps = catalogue.first(where: { $0.id == old.definitionId })?.steps else {
                return .refused(nil)
            }
            let fromStep = r.fromStep ?? old.currentStep
            let found = FoundRetry(
                status: old.status, visible: r.ownerId == nil || r.ownerId == old.userId, totalSteps: steps.count, retriedAs: old.retriedAs)
            guard found.visible, old.status == .failed, old.retriedAs == nil, (1...steps.count).contains(fromStep) else { return .refused(found) }
            state.clock += 1
            let now = Timestamp(microsecondsSinceEpoch: state.clock)
            let kept = Set(steps.prefix(fromStep - 1).map(\.id))
            let new = WorkflowInstance(
                id: r.newId, definitionId: old.definitionId, userId: old.userId, status: .created, currentStep: 0, totalSteps: steps.count,
                context: JSONText(unchecked: JSONMergePatch.apply(r.contextPatch.text, to: old.context.text)),
                stepData: JSONText(unchecked: JSONMergePatch.keeping(kept, of: old.stepData.text)), version: 1, createdAt: now, updatedAt: now,
                retryOf: old.id, attempt: old.attempt + 1, startStep: fromStep)
            var linked = old
            linked.retriedAs = new.id
            linked.version += 1
            linked.updatedAt = now
            state.instances[old.id] = linked
            state.instances[new.id] = new
            let link = "\"attempt\":\(new.attempt),\"fromStep\":\(fromStep)"
            record([NewWorkflowEvent(
                type: .retriedAs, fromStatus: nil, toStatus: nil, step: old.currentStep, reason: r.reason,
                data: JSONText(unchecked: "{\"retriedAs\":\"\(new.id.lowercaseText)\",\(link)}"))], for: linked, actor: r.actorId, in: &state)
            record([NewWorkflowEvent(
                type: .instanceCreated, fromStatus: nil, toStatus: .created, step: 0, reason: r.reason,
                data: JSONText(unchecked: "{\"retryOf\":\"\(old.id.lowercaseText)\",\(link),\"contextPatch\":\(r.contextPatch.text)}"))],
                for: new, actor: r.actorId, in: &state)
            return .created(new)
        }
    }

    /// The shape every conditional change has: find the row, check owner and version, let `rule` change
    /// it (nil: refused), bump the version and record the events; or report what was found.
    private func change(
        _ id: UUID, ownerId: UUID?, expectedVersion: Int?, rule: (inout WorkflowInstance) -> [NewWorkflowEvent]?,
        actor: () -> UUID?
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
            if instance.status != stored.status { instance.statusChangedAt = instance.updatedAt }
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

    /// Every change commits at once here, so the feed is the events in id order (one "transaction" id).
    public func feedStart() throws -> FeedPosition {
        state.withLock { FeedPosition(txid: 1, eventId: Int64($0.events.count)) }
    }

    public func feed(_ query: FeedQuery) throws -> FeedSlice {
        state.withLock { state in
            let scanned = Array(state.events.filter { FeedPosition(txid: 1, eventId: $0.id) > query.after }.prefix(query.scanLimit))
            let items = scanned.compactMap { event -> (event: WorkflowEvent, position: FeedPosition, instance: WorkflowInstance)? in
                guard let instance = state.instances[event.instanceId] else { return nil }
                let candidate = query.ownerId.map { $0 == instance.userId } ?? true
                    || query.approverId.map { instance.status == .waitingForApproval || instance.decidedBy.contains($0) } ?? false
                return candidate ? (event, FeedPosition(txid: 1, eventId: event.id), instance) : nil
            }
            return FeedSlice(
                items: items, scannedTo: scanned.last.map { FeedPosition(txid: 1, eventId: $0.id) }, more: scanned.count == query.scanLimit,
                heldBack: false)
        }
    }

    private func record(_ events: [NewWorkflowEvent], for instance: WorkflowInstance, actor: UUID?, in state: inout State) {
        for event in events {
            state.events.append(WorkflowEvent(
                id: Int64(state.events.count + 1), instanceId: instance.id, type: event.type, fromStatus: event.fromStatus,
                toStatus: event.toStatus, step: event.step, reason: event.reason, data: event.data, userId: actor,
                occurredAt: instance.updatedAt))
        }
    }
}
