import Foundation
import Logging
import PostgresClient
import TestSupport
import Testing
import TextCoding
import Workflows
import WorkflowStore

/// What every `WorkflowRepository` must do, written once and run against both implementations, so the
/// in-memory one that the service's unit tests use cannot drift from PostgreSQL's.
enum RepositoryContract: String, CaseIterable, CustomTestStringConvertible {
    case createWritesTheInstanceWithItsEvent
    case anUnknownDefinitionCreatesNothing
    case anIdempotencyKeyReplaysTheSameRequestAndRefusesAnother
    case aTransitionAppliesOnlyWhenEveryConditionHoldsAndReportsWhatItFound
    case anAdminTransitionKeepsTheStepWhenNoStepStarts
    case advanceRecordsOutputAndCompletesAfterTheLastStepWithEventsInOrder
    case aRefusedAdvanceWritesNothingAndReportsWhatItFound
    case listingIsNewestFirstWithKeysetFilters
    case listingFiltersByJSONContainmentOfContextAndStepData
    case aWaitIsStoredWithItsTransitionAndInputEndsIt
    case advanceFromAGatedStepWaitsAndTheApprovalCompletesTheStep
    case decisionsCountOncePerApproverOnTheSameWaitOnly
    case aRejectionAppliesOnRejectAndAnOverrideIsRecorded
    case anExpiredDeadlineAppliesOnTimeoutOnceAsTheSystem
    case theInboxListsTheWaitsAUserCanAnswerNewestWaitFirst
    case aRetryCreatesTheNextAttemptOnceWithThePatchedContextAndEarlierStepData

    var testDescription: String { rawValue }

    func check(_ repository: any WorkflowRepository) throws {
        let user = UUID()
        func create(_ key: IdempotencyClaim? = nil, by owner: UUID? = nil, definition: String = "create-prd") throws -> CreateOutcome {
            try repository.createInstance(
                NewWorkflowInstance(id: UUID(), definitionId: definition, userId: owner ?? user, context: JSONText(unchecked: #"{"p":1}"#)),
                event: NewWorkflowEvent(type: .instanceCreated, fromStatus: nil, toStatus: .created, step: 0), idempotency: key)
        }
        func created(_ definition: String = "create-prd") throws -> WorkflowInstance {
            guard case .created(let instance) = try create(definition: definition) else { throw ContractFailure("not created") }
            return instance
        }
        func running(_ definition: String = "create-prd") throws -> WorkflowInstance {
            let instance = try created(definition)
            return try applied(try transition(instance.id, to: .running, from: [.created], owner: user))
        }
        func wait(_ id: UUID, _ awaiting: Awaiting, from: [WorkflowStatus] = [.running], onlyWithoutSchemaFrom: [WorkflowStatus] = []) throws -> ChangeOutcome {
            try repository.transition(ConditionalTransition(
                instanceId: id, target: awaiting.kind.status, allowedFrom: from, firstStepFrom: [], ownerId: user, expectedVersion: nil,
                reason: "asking", actorId: user, awaiting: awaiting, onlyWithoutSchemaFrom: onlyWithoutSchemaFrom,
                eventData: JSONText(unchecked: awaiting.json(counts: false))))
        }
        func decide(_ instance: WorkflowInstance, _ kind: ConditionalDecision.Kind, by approver: UUID, comment: String? = "ok") throws -> ChangeOutcome {
            try repository.decide(ConditionalDecision(
                instanceId: instance.id, waitStartedAt: instance.statusChangedAt, kind: kind, comment: comment, approverId: approver))
        }
        func events(_ id: UUID) throws -> [WorkflowEvent] { try repository.events(instanceId: id, afterId: nil, limit: 50) }
        func transition(_ id: UUID, to target: WorkflowStatus, from allowed: [WorkflowStatus], owner: UUID?, version: Int? = nil) throws -> ChangeOutcome {
            try repository.transition(ConditionalTransition(
                instanceId: id, target: target, allowedFrom: allowed, firstStepFrom: allowed.filter { $0 == .created },
                ownerId: owner, expectedVersion: version, reason: "why \"not\"", actorId: owner ?? user))
        }
        func advance(_ id: UUID, output: String = #"{"k":"v"}"#, version: Int? = nil) throws -> ChangeOutcome {
            try repository.advance(ConditionalAdvance(
                instanceId: id, ownerId: user, expectedVersion: version, output: JSONText(unchecked: output), actorId: user))
        }
        func applied(_ outcome: ChangeOutcome) throws -> WorkflowInstance {
            guard case .applied(let instance) = outcome else { throw ContractFailure("refused: \(outcome)") }
            return instance
        }

        switch self {
        case .createWritesTheInstanceWithItsEvent:
            let instance = try created()
            let steps = try #require(try repository.definition(id: "create-prd")).steps
            #expect(instance.status == .created && instance.currentStep == 0 && instance.version == 1)
            #expect(instance.totalSteps == steps.count && instance.userId == user)
            #expect(try repository.instance(id: instance.id) == instance)
            let history = try events(instance.id)
            #expect(history.map(\.type) == [.instanceCreated])
            #expect(history.first?.toStatus == .created && history.first?.userId == user && history.first?.occurredAt == instance.createdAt)

        case .anUnknownDefinitionCreatesNothing:
            #expect(throws: WorkflowError.unknownDefinition("nope")) {
                try repository.createInstance(
                    NewWorkflowInstance(id: UUID(), definitionId: "nope", userId: user, context: .emptyObject),
                    event: NewWorkflowEvent(type: .instanceCreated, fromStatus: nil, toStatus: .created, step: 0), idempotency: nil)
            }
            #expect(try repository.instances(matching: InstanceQuery(ownerId: user, status: nil, definitionId: nil, after: nil, limit: 5)).isEmpty)

        case .anIdempotencyKeyReplaysTheSameRequestAndRefusesAnother:
            let key = IdempotencyClaim(key: "k-1", requestHash: "h1")
            guard case .created(let first) = try create(key) else { throw ContractFailure("first create did not create") }
            #expect(try create(key) == .replayed(first))
            #expect(try create(IdempotencyClaim(key: "k-1", requestHash: "h2")) == .keyReused)
            guard case .created = try create(key, by: UUID()) else { throw ContractFailure("keys must be per user") }

        case .aTransitionAppliesOnlyWhenEveryConditionHoldsAndReportsWhatItFound:
            let instance = try created()
            let found = FoundInstance(status: .created, version: 1, visible: true)
            #expect(try transition(instance.id, to: .running, from: [.paused], owner: user) == .refused(found))
            #expect(try transition(instance.id, to: .running, from: [.created], owner: UUID()) == .refused(FoundInstance(status: .created, version: 1, visible: false)))
            #expect(try transition(instance.id, to: .running, from: [.created], owner: user, version: 2) == .refused(found))
            #expect(try transition(UUID(), to: .running, from: [.created], owner: nil) == .refused(nil))
            #expect(try repository.instance(id: instance.id) == instance, "a refusal writes nothing")
            #expect(try events(instance.id).count == 1)

            let started = try applied(try transition(instance.id, to: .running, from: [.created, .paused], owner: user, version: 1))
            #expect(started.status == .running && started.currentStep == 1 && started.version == 2)
            #expect(try repository.instance(id: instance.id) == started)
            let last = try #require(try events(instance.id).last)
            #expect(last.type == .statusChanged && last.fromStatus == .created && last.toStatus == .running)
            #expect(last.step == 1 && last.reason == "why \"not\"" && last.userId == user && last.occurredAt == started.updatedAt)

        case .anAdminTransitionKeepsTheStepWhenNoStepStarts:
            let instance = try created()
            _ = try applied(try transition(instance.id, to: .running, from: [.created], owner: user))
            let paused = try applied(try transition(instance.id, to: .paused, from: [.running], owner: nil))
            #expect(paused.status == .paused && paused.currentStep == 1 && paused.version == 3)
            let last = try #require(try events(instance.id).last)
            #expect(last.fromStatus == .running && last.toStatus == .paused && last.step == 1)

        case .advanceRecordsOutputAndCompletesAfterTheLastStepWithEventsInOrder:
            let instance = try created("create-story")
            let steps = try #require(try repository.definition(id: "create-story")).steps
            _ = try applied(try transition(instance.id, to: .running, from: [.created], owner: user))
            let second = try applied(try advance(instance.id, output: #"{"goal":1}"#, version: 2))
            #expect(second.currentStep == 2 && second.version == 3 && second.status == .running)
            #expect(try JSONValueText.object(second.stepData.text) == [steps[0].id: #"{"goal":1}"#])
            var last = second
            for _ in 2...steps.count { last = try applied(try advance(instance.id)) }
            #expect(last.status == .completed && last.currentStep == steps.count)
            let history = try events(instance.id)
            #expect(history.map(\.type) == [.instanceCreated, .statusChanged] + Array(repeating: .stepCompleted, count: steps.count) + [.statusChanged])
            #expect(history[2].step == 1 && history[2].data.map { try? JSONValueText.canonical($0.text) } == #"{"goal":1}"#)
            let done = try #require(history.last)
            #expect(done.fromStatus == .running && done.toStatus == .completed && done.step == steps.count && done.reason == "All steps completed")
            #expect(history.map(\.id) == history.map(\.id).sorted())

        case .aRefusedAdvanceWritesNothingAndReportsWhatItFound:
            let instance = try created()
            #expect(try advance(instance.id) == .refused(FoundInstance(status: .created, version: 1, visible: true)))
            _ = try applied(try transition(instance.id, to: .running, from: [.created], owner: user))
            #expect(try advance(instance.id, version: 1) == .refused(FoundInstance(status: .running, version: 2, visible: true)))
            #expect(try repository.advance(ConditionalAdvance(
                instanceId: instance.id, ownerId: UUID(), expectedVersion: nil, output: .emptyObject, actorId: user))
                == .refused(FoundInstance(status: .running, version: 2, visible: false)))
            #expect(try advance(UUID()) == .refused(nil))
            #expect(try events(instance.id).count == 2)
            #expect(try repository.instance(id: instance.id)?.stepData.text == "{}")

        case .listingIsNewestFirstWithKeysetFilters:
            var ids: [UUID] = []
            for _ in 0..<3 { ids.append(try created().id) }
            _ = try create(by: UUID())
            let all = try repository.instances(matching: InstanceQuery(ownerId: user, status: nil, definitionId: nil, after: nil, limit: 10))
            #expect(all.map(\.id) == ids.reversed())
            let after = InstanceCursor(createdAt: all[0].createdAt, id: all[0].id)
            let rest = try repository.instances(matching: InstanceQuery(ownerId: user, status: .created, definitionId: "create-prd", after: after, limit: 10))
            #expect(rest.map(\.id) == Array(ids.reversed().dropFirst()))
            #expect(try repository.instances(matching: InstanceQuery(ownerId: user, status: .running, definitionId: nil, after: nil, limit: 10)).isEmpty)
            #expect(try repository.instances(matching: InstanceQuery(ownerId: nil, status: nil, definitionId: nil, after: nil, limit: 10)).count == 4)

        case .listingFiltersByJSONContainmentOfContextAndStepData:
            func make(_ context: String) throws -> UUID {
                guard case .created(let instance) = try repository.createInstance(
                    NewWorkflowInstance(id: UUID(), definitionId: "create-prd", userId: user, context: JSONText(unchecked: context)),
                    event: NewWorkflowEvent(type: .instanceCreated, fromStatus: nil, toStatus: .created, step: 0), idempotency: nil)
                else { throw ContractFailure("not created") }
                return instance.id
            }
            let apollo = try make(#"{"project":{"name":"Apollo","phase":2},"tags":["db","api",["x",1]],"n":1.0,"flag":true,"none":null}"#)
            let gemini = try make(#"{"project":{"name":"Gemini"},"tags":["db"],"n":2}"#)
            _ = try create(by: UUID())
            func found(_ context: String?, stepData: String? = nil, owner: UUID? = user, status: WorkflowStatus? = nil) throws -> [UUID] {
                try repository.instances(matching: InstanceQuery(
                    ownerId: owner, status: status, definitionId: nil, context: context.map(JSONText.init(unchecked:)),
                    stepData: stepData.map(JSONText.init(unchecked:)), after: nil, limit: 10)).map(\.id)
            }
            #expect(try found(#"{"project":{"name":"Apollo"}}"#) == [apollo], "nested objects by containment")
            #expect(try found(#"{"project":{}}"#) == [gemini, apollo])
            #expect(try found(#"{"tags":["db"]}"#) == [gemini, apollo], "an array by any of its elements")
            #expect(try found(#"{"tags":["api","db","api"]}"#) == [apollo], "order and repeats do not matter")
            #expect(try found(#"{"tags":[["x"]]}"#) == [apollo], "nested arrays by containment")
            #expect(try found(#"{"tags":["x"]}"#).isEmpty, "an element of a nested array is not an element")
            #expect(try found(#"{"tags":"db"}"#).isEmpty, "below the top, an array does not contain a scalar")
            #expect(try found(#"{"project":"Apollo"}"#).isEmpty)
            #expect(try found(#"{"n":1}"#) == [apollo], "numbers by value")
            #expect(try found(#"{"flag":1}"#).isEmpty && found(#"{"n":"1"}"#).isEmpty, "no conversion between kinds")
            #expect(try found(#"{"none":null,"flag":true}"#) == [apollo])
            #expect(try found(#"{"project":{"name":"Apollo"},"n":2}"#).isEmpty, "every key must match")
            #expect(try found(#"{"p":1}"#).isEmpty && found(#"{"p":1}"#, owner: nil).count == 1, "with the owner condition")
            #expect(try found(#"{"tags":["db"]}"#, status: .running).isEmpty)

            let step = try #require(try repository.definition(id: "create-prd")).steps[0].id
            _ = try applied(try transition(apollo, to: .running, from: [.created], owner: user))
            _ = try applied(try advance(apollo, output: #"{"decision":{"database":"PostgreSQL","options":["PostgreSQL","SQLite"]}}"#))
            _ = try applied(try transition(gemini, to: .running, from: [.created], owner: user))
            _ = try applied(try advance(gemini, output: #"{"decision":{"database":"SQLite"}}"#))
            #expect(try found(nil, stepData: #"{"\#(step)":{"decision":{"database":"PostgreSQL"}}}"#) == [apollo])
            #expect(try found(nil, stepData: #"{"\#(step)":{"decision":{"options":["SQLite"]}}}"#) == [apollo])
            #expect(try found(nil, stepData: #"{"\#(step)":{}}"#, status: .running) == [gemini, apollo])
            #expect(try found(#"{"tags":["db"]}"#, stepData: #"{"\#(step)":{"decision":{"database":"SQLite"}}}"#) == [gemini])
        case .aWaitIsStoredWithItsTransitionAndInputEndsIt:
            let instance = try running()
            let due = Timestamp(microsecondsSinceEpoch: 4_102_444_800_123_456)
            let asked = Awaiting(
                kind: .input, prompt: "Which goals?", schema: JSONText(unchecked: #"{"type":"object","required":["goal"]}"#),
                dueAt: due, onTimeout: .cancel)
            let waiting = try applied(try wait(instance.id, asked))
            #expect(waiting.status == .waitingForInput && waiting.statusChangedAt == waiting.updatedAt)
            #expect(try repository.instance(id: instance.id) == waiting)
            let stored = try #require(waiting.awaiting)
            #expect(stored.prompt == "Which goals?" && stored.dueAt == due && stored.onTimeout == .cancel && stored.approvers == nil)
            #expect(try stored.schema.map { try JSONValueText.canonical($0.text) } == #"{"required":["goal"],"type":"object"}"#)
            let waitEvent = try #require(try events(instance.id).last)
            #expect(waitEvent.toStatus == .waitingForInput && waitEvent.data.map { try? JSONValueText.object($0.text)["prompt"] } == #""Which goals?""#)
            // A plain way back to Running is refused while the wait has a schema.
            #expect(try repository.transition(ConditionalTransition(
                instanceId: instance.id, target: .running, allowedFrom: [.waitingForInput], firstStepFrom: [], ownerId: user,
                expectedVersion: nil, reason: nil, actorId: user, onlyWithoutSchemaFrom: [.waitingForInput]))
                == .refused(FoundInstance(status: .waitingForInput, version: waiting.version, visible: true)))
            func input(version: Int, owner: UUID?) throws -> ChangeOutcome {
                try repository.provideInput(ConditionalInput(
                    instanceId: instance.id, ownerId: owner, expectedVersion: version, data: JSONText(unchecked: #"{"goal":"ship"}"#), actorId: user))
            }
            #expect(try input(version: waiting.version - 1, owner: user) == .refused(FoundInstance(status: .waitingForInput, version: waiting.version, visible: true)))
            #expect(try input(version: waiting.version, owner: UUID()) == .refused(FoundInstance(status: .waitingForInput, version: waiting.version, visible: false)))
            let answered = try applied(try input(version: waiting.version, owner: user))
            #expect(answered.status == .running && answered.awaiting == nil && answered.currentStep == 1 && answered.statusChangedAt == answered.updatedAt)
            let firstStep = try #require(try repository.definition(id: "create-prd")?.steps.first?.id)
            #expect(try JSONValueText.object(answered.stepData.text) == [firstStep: #"{"goal":"ship"}"#])
            let tail = try events(instance.id).suffix(2)
            #expect(tail.map(\.type) == [.inputProvided, .statusChanged])
            #expect(tail.last?.fromStatus == .waitingForInput && tail.last?.toStatus == .running)
            #expect(try input(version: answered.version, owner: user) == .refused(FoundInstance(status: .running, version: answered.version, visible: true)))

        case .advanceFromAGatedStepWaitsAndTheApprovalCompletesTheStep:
            let steps = try #require(try repository.definition(id: "create-architecture")).steps
            let gateIndex = try #require(steps.firstIndex { $0.approval != nil })
            let gate = try #require(steps[gateIndex].approval)
            let instance = try running("create-architecture")
            for _ in 0..<gateIndex { _ = try applied(try advance(instance.id)) }
            let gated = try applied(try advance(instance.id, output: #"{"verdict":"sound"}"#))
            #expect(gated.status == .waitingForApproval && gated.currentStep == gateIndex + 1)
            let awaiting = try #require(gated.awaiting)
            #expect(awaiting.kind == .approval && awaiting.prompt == gate.prompt && awaiting.approvers == ApprovalPolicy(count: gate.count))
            #expect(awaiting.gateOutput.map { try? JSONValueText.canonical($0.text) } == #"{"verdict":"sound"}"#)
            #expect(try JSONValueText.object(gated.stepData.text)[steps[gateIndex].id] == nil, "the gated step is not complete yet")
            let approver = UUID()
            let approved = try applied(try decide(gated, .decision(.approve), by: approver))
            #expect(approved.status == .running && approved.currentStep == gateIndex + 2 && approved.awaiting == nil)
            #expect(approved.decidedBy == [approver])
            #expect(try JSONValueText.object(approved.stepData.text)[steps[gateIndex].id] == #"{"verdict":"sound"}"#)
            let tail = try events(instance.id).suffix(3)
            #expect(tail.map(\.type) == [.approvalGranted, .stepCompleted, .statusChanged])
            #expect(tail.first?.userId == approver && tail.first?.reason == "ok" && tail.allSatisfy { $0.step == gateIndex + 1 })
            #expect(tail.last?.fromStatus == .waitingForApproval && tail.last?.toStatus == .running)

        case .decisionsCountOncePerApproverOnTheSameWaitOnly:
            let instance = try running()
            let waiting = try applied(try wait(instance.id, Awaiting(kind: .approval, prompt: "Sign off", approvers: ApprovalPolicy(count: 2))))
            let (first, second) = (UUID(), UUID())
            let stale = Timestamp(microsecondsSinceEpoch: waiting.statusChangedAt.microsecondsSinceEpoch - 1)
            #expect(try repository.decide(ConditionalDecision(
                instanceId: instance.id, waitStartedAt: stale, kind: .decision(.approve), comment: nil, approverId: first))
                == .refused(FoundInstance(status: .waitingForApproval, version: waiting.version, visible: true)))
            let once = try applied(try decide(waiting, .decision(.approve), by: first))
            #expect(once.status == .waitingForApproval && once.awaiting?.approvalsGiven == 1 && once.statusChangedAt == waiting.statusChangedAt)
            #expect(once.awaiting?.decisions == [ApprovalDecision(userId: first, decision: .approve, decidedAt: once.updatedAt)])
            #expect(try decide(waiting, .decision(.approve), by: first) == .refused(FoundInstance(status: .waitingForApproval, version: once.version, visible: true)))
            let done = try applied(try decide(waiting, .decision(.approve), by: second))
            #expect(done.status == .running && done.awaiting == nil && done.currentStep == 1 && Set(done.decidedBy) == [first, second])
            #expect(try events(instance.id).suffix(3).map(\.type) == [.approvalGranted, .approvalGranted, .statusChanged])
            #expect(try decide(waiting, .decision(.approve), by: UUID()) == .refused(FoundInstance(status: .running, version: done.version, visible: true)))

        case .aRejectionAppliesOnRejectAndAnOverrideIsRecorded:
            let instance = try running()
            let rework = try applied(try wait(instance.id, Awaiting(kind: .approval, prompt: "Sign off", onReject: .rework)))
            let reworked = try applied(try decide(rework, .decision(.reject), by: UUID(), comment: "needs numbers"))
            #expect(reworked.status == .running && reworked.currentStep == 1 && reworked.awaiting == nil)
            let rejected = try events(instance.id).suffix(2)
            #expect(rejected.map(\.type) == [.approvalRejected, .statusChanged] && rejected.first?.reason == "needs numbers")
            let overridden = try applied(try decide(
                try applied(try wait(instance.id, Awaiting(kind: .approval, prompt: "Sign off", approvers: ApprovalPolicy(count: 3)))),
                .override, by: user, comment: "release blocker"))
            #expect(overridden.status == .running && overridden.decidedBy.count == 1)
            let overrideEvent = try #require(try events(instance.id).last)
            #expect(overrideEvent.type == .statusChanged && overrideEvent.reason == "release blocker" && overrideEvent.userId == user)
            #expect(overrideEvent.data.map { try? JSONValueText.canonical($0.text) } == #"{"override":true}"#)
            let failing = try applied(try wait(instance.id, Awaiting(kind: .approval, prompt: "Sign off", onReject: .fail)))
            #expect(try applied(try decide(failing, .decision(.reject), by: UUID())).status == .failed)

        case .anExpiredDeadlineAppliesOnTimeoutOnceAsTheSystem:
            let due = Timestamp(microsecondsSinceEpoch: 1_900_000_000_000_000)
            let later = Timestamp(microsecondsSinceEpoch: due.microsecondsSinceEpoch + 60_000_000)
            func waiting(_ kind: Awaiting.Kind, _ onTimeout: TimeoutAction, at dueAt: Timestamp = due) throws -> WorkflowInstance {
                try applied(try wait(try running().id, Awaiting(kind: kind, prompt: "By Friday", dueAt: dueAt, onTimeout: onTimeout)))
            }
            let failing = try waiting(.input, .fail)
            let cancelling = try waiting(.approval, .cancel)
            let notifying = try waiting(.approval, .notify)
            let answered = try waiting(.input, .fail)
            let notYet = try waiting(.input, .cancel, at: later)
            _ = try applied(try repository.provideInput(ConditionalInput(
                instanceId: answered.id, ownerId: user, expectedVersion: answered.version, data: JSONText(unchecked: "{}"), actorId: user)))
            #expect(try repository.applyDeadlines(passedBy: Timestamp(microsecondsSinceEpoch: due.microsecondsSinceEpoch - 1), limit: 10).isEmpty)
            let changed = try repository.applyDeadlines(passedBy: due, limit: 10)
            #expect(Set(changed.map(\.id)) == [failing.id, cancelling.id, notifying.id])
            let byId = Dictionary(uniqueKeysWithValues: changed.map { ($0.id, $0) })
            #expect(byId[failing.id]?.status == .failed && byId[failing.id]?.awaiting == nil)
            #expect(byId[cancelling.id]?.status == .cancelled && byId[cancelling.id]?.awaiting == nil)
            let overdue = try #require(byId[notifying.id])
            #expect(overdue.status == .waitingForApproval && overdue.awaiting?.overdue == true && overdue.awaiting?.dueAt == due)
            #expect(overdue.statusChangedAt == notifying.statusChangedAt && overdue.version == notifying.version + 1)
            #expect(try repository.applyDeadlines(passedBy: due, limit: 10).isEmpty, "each expired wait is applied once")
            let failed = try events(failing.id).suffix(2)
            #expect(failed.map(\.type) == [.deadlinePassed, .statusChanged] && failed.allSatisfy { $0.userId == nil })
            #expect(failed.last?.fromStatus == .waitingForInput && failed.last?.toStatus == .failed)
            #expect(try failed.first?.data.map { try JSONValueText.canonical($0.text) }
                == #"{"dueAt":"2030-03-17T17:46:40.000Z","onTimeout":"Fail"}"#)
            let notified = try events(notifying.id)
            #expect(notified.last?.type == .deadlinePassed && notified.last?.userId == nil)
            #expect(!notified.contains { $0.type == .statusChanged && $0.toStatus != .waitingForApproval && $0.fromStatus == .waitingForApproval })
            // The Notify wait can still be answered, and the wait that was not due yet is applied once it is.
            #expect(try applied(try decide(overdue, .decision(.approve), by: UUID())).status == .running)
            #expect(try repository.applyDeadlines(passedBy: later, limit: 10).map(\.id) == [notYet.id])

        case .theInboxListsTheWaitsAUserCanAnswerNewestWaitFirst:
            let (approver, other) = (UUID(), UUID())
            func waiting(_ awaiting: Awaiting) throws -> WorkflowInstance { try applied(try wait(try running().id, awaiting)) }
            let input = try waiting(Awaiting(kind: .input, prompt: "Name it"))
            let anyone = try waiting(Awaiting(kind: .approval, prompt: "Two of you", approvers: ApprovalPolicy(count: 2)))
            let listed = try waiting(Awaiting(kind: .approval, prompt: "Only other", approvers: ApprovalPolicy(userIds: [other])))
            let decided = try waiting(Awaiting(kind: .approval, prompt: "Decided", approvers: ApprovalPolicy(count: 2)))
            _ = try applied(try decide(decided, .decision(.approve), by: approver))
            let selfAllowed = try waiting(Awaiting(kind: .approval, prompt: "Self", approvers: ApprovalPolicy(allowSelfApproval: true)))
            _ = try running()
            func tasks(_ user: UUID, input: Bool = true, approvals: Bool = true, after: WorkflowInstance? = nil, limit: Int = 10) throws -> [UUID] {
                try repository.tasks(TaskQuery(
                    userId: user, input: input, approvals: approvals,
                    after: after.map { InstanceCursor(createdAt: $0.statusChangedAt, id: $0.id) }, limit: limit)).map(\.id)
            }
            #expect(try tasks(user) == [selfAllowed.id, input.id], "own input, and only the approval that allows self-approval")
            #expect(try tasks(user, approvals: false) == [input.id])
            #expect(try tasks(approver) == [selfAllowed.id, anyone.id], "not listed on one, already decided on another")
            #expect(try tasks(other) == [selfAllowed.id, decided.id, listed.id, anyone.id])
            #expect(try tasks(other, approvals: false).isEmpty)
            #expect(try tasks(other, limit: 2) == [selfAllowed.id, decided.id])
            #expect(try tasks(other, after: decided, limit: 2) == [listed.id, anyone.id])
            let page = try repository.tasks(TaskQuery(userId: approver, input: false, approvals: true, after: nil, limit: 1))
            #expect(page.first?.awaiting?.prompt == "Self" && page.first?.awaiting?.approvalsNeeded == 1)

        case .aRetryCreatesTheNextAttemptOnceWithThePatchedContextAndEarlierStepData:
            let instance = try running()
            _ = try applied(try advance(instance.id, output: #"{"goals":"ship"}"#))
            let failed = try applied(try transition(instance.id, to: .failed, from: [.running], owner: user))
            let steps = try #require(try repository.definition(id: "create-prd")).steps
            func retry(_ id: UUID, patch: String = #"{"p":null,"q":{"r":2}}"#, fromStep: Int? = nil, owner: UUID? = nil) throws -> RetryOutcome {
                try repository.retry(ConditionalRetry(
                    instanceId: id, newId: UUID(), ownerId: owner ?? user, contextPatch: JSONText(unchecked: patch), reason: "fixed the input",
                    fromStep: fromStep, actorId: owner ?? user))
            }
            let found = FoundRetry(status: .failed, visible: true, totalSteps: steps.count, retriedAs: nil)
            #expect(try retry(instance.id, fromStep: steps.count + 1) == .refused(found))
            #expect(try retry(instance.id, owner: UUID()) == .refused(FoundRetry(status: .failed, visible: false, totalSteps: steps.count, retriedAs: nil)))
            #expect(try retry(try running().id) == .refused(FoundRetry(status: .running, visible: true, totalSteps: steps.count, retriedAs: nil)))
            #expect(try retry(UUID()) == .refused(nil))
            guard case .created(let next) = try retry(instance.id) else { throw ContractFailure("retry refused") }
            #expect(next.status == .created && next.currentStep == 0 && next.retryOf == instance.id && next.attempt == 2 && next.startStep == 2)
            #expect(next.userId == user && next.definitionId == instance.definitionId && next.version == 1)
            #expect(try JSONValueText.canonical(next.context.text) == #"{"q":{"r":2}}"#)
            #expect(try JSONValueText.canonical(next.stepData.text) == #"{"\#(steps[0].id)":{"goals":"ship"}}"#)
            let old = try #require(try repository.instance(id: instance.id))
            #expect(old.status == .failed && old.retriedAs == next.id && old.version == failed.version + 1)
            #expect(try retry(instance.id) == .refused(FoundRetry(status: .failed, visible: true, totalSteps: steps.count, retriedAs: next.id)))
            let marked = try #require(try events(instance.id).last)
            #expect(marked.type == .retriedAs && marked.reason == "fixed the input" && marked.userId == user)
            #expect(try marked.data.map { try JSONValueText.canonical($0.text) } == #"{"attempt":2,"fromStep":2,"retriedAs":"\#(next.id.lowercaseText)"}"#)
            let born = try events(next.id)
            #expect(born.map(\.type) == [.instanceCreated] && born.first?.toStatus == .created)
            #expect(try born.first?.data.map { try JSONValueText.object($0.text)["retryOf"] } == "\"\(instance.id.lowercaseText)\"")
            let started = try applied(try transition(next.id, to: .running, from: [.created], owner: user))
            #expect(started.currentStep == 2, "the retry starts at fromStep")
            guard case .created(let third) = try retry(
                try applied(try transition(next.id, to: .failed, from: [.running], owner: user)).id, patch: "{}", fromStep: 1)
            else { throw ContractFailure("retry of the retry refused") }
            #expect(third.attempt == 3 && third.startStep == 1)
            #expect(try JSONValueText.canonical(third.stepData.text) == "{}", "from step 1 no step data is carried over")
            #expect(try JSONValueText.canonical(third.context.text) == #"{"q":{"r":2}}"#)
        }
    }
}

struct ContractFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Compares jsonb text regardless of the spacing PostgreSQL adds.
enum JSONValueText {
    static func canonical(_ text: String) throws -> String {
        let value = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        return String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]), as: UTF8.self)
    }

    /// A JSON object's members as canonical text.
    static func object(_ text: String) throws -> [String: String] {
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return [:] }
        return try object.mapValues { value in
            String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]), as: UTF8.self)
        }
    }
}

@Suite struct InMemoryRepositoryContractTests {
    @Test(arguments: RepositoryContract.allCases)
    func holds(_ contract: RepositoryContract) throws {
        try contract.check(InMemoryWorkflowRepository())
    }
}

@Suite(.enabled(if: TestEnvironment.hasDatabase, Comment(rawValue: TestEnvironment.skipReason)))
struct PostgresRepositoryContractTests {
    @Test(arguments: RepositoryContract.allCases)
    func holds(_ contract: RepositoryContract) throws {
        let database = try TestDatabase.create()
        let pool = PostgresPool(
            configuration: PostgresConfiguration(connectionString: database.url), size: 2, checkoutTimeout: .seconds(2),
            logger: Logger(label: "test"))
        defer { pool.close() }
        try contract.check(PostgresWorkflowRepository(pool: pool, logger: Logger(label: "test")))
    }
}
