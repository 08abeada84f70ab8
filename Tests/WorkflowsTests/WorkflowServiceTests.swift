import Foundation
import Synchronization
import TestSupport
import Testing
@testable import Workflows

@Suite struct WorkflowServiceTests {
    let repository = InMemoryWorkflowRepository()
    var service: WorkflowService { WorkflowService(repository: repository) }
    let marcus = Principal(userId: UUID(), roles: [.participant])
    let admin = Principal(userId: UUID(), roles: [.admin])

    @Test func createStartsInCreatedWithParametersAsContextAndAnEvent() throws {
        let instance = try service.create(definitionId: "create-prd", parameters: JSONText(unchecked: #"{"projectName":"Apollo"}"#), by: marcus).instance
        #expect(instance.status == .created)
        #expect(instance.currentStep == 0)
        #expect(instance.totalSteps == 3)
        #expect(instance.context.text == #"{"projectName":"Apollo"}"#)
        #expect(instance.userId == marcus.userId)
        let events = try repository.events(instanceId: instance.id, afterId: nil, limit: 10)
        #expect(events.map(\.type) == [.instanceCreated])
    }

    @Test func newInstancesGetTimeOrderedIds() throws {
        // Version 7 (RFC 9562): consecutive creates sort together in the primary key (UUID.timeOrdered).
        let first = try service.create(definitionId: "create-prd", parameters: .emptyObject, by: marcus).instance.id.uuidString
        Thread.sleep(forTimeInterval: 0.002)
        let second = try service.create(definitionId: "create-prd", parameters: .emptyObject, by: marcus).instance.id.uuidString
        #expect(first.dropFirst(14).first == "7" && second.dropFirst(14).first == "7")
        #expect(first < second)
    }

    @Test func startingExecutesTheFirstStep() throws {
        let instance = try service.create(definitionId: "create-prd", parameters: .emptyObject, by: marcus).instance
        let started = try service.transition(id: instance.id, to: .running, reason: nil, ifMatch: nil, by: marcus)
        #expect(started.status == .running)
        #expect(started.currentStep == 1)
        #expect(started.version == 2)
        let events = try repository.events(instanceId: instance.id, afterId: nil, limit: 10)
        #expect(events.last?.type == .statusChanged)
        #expect(events.last?.fromStatus == .created)
        #expect(events.last?.toStatus == .running)
        #expect(events.last?.step == 1)
    }

    @Test func aValidTransitionIsOneConditionalWriteWithoutARead() throws {
        let instance = try service.create(definitionId: "create-prd", parameters: .emptyObject, by: marcus).instance
        _ = try service.transition(id: instance.id, to: .running, reason: nil, ifMatch: 1, by: marcus)
        let paused = try service.transition(id: instance.id, to: .paused, reason: "lunch", ifMatch: nil, by: admin)
        #expect(paused.status == .paused && paused.currentStep == 1 && paused.version == 3)
        #expect(repository.reads.load(ordering: .relaxed) == 0)
        let last = try #require(try repository.events(instanceId: instance.id, afterId: nil, limit: 10).last)
        #expect(last.fromStatus == .running && last.toStatus == .paused && last.reason == "lunch" && last.userId == admin.userId)
        // A refused one is explained from what the write found: no read either.
        #expect(throws: WorkflowError.invalidTransition(from: .paused, to: .completed)) {
            try service.transition(id: instance.id, to: .completed, reason: nil, ifMatch: nil, by: marcus)
        }
        #expect(throws: WorkflowError.versionMismatch(current: 3)) {
            try service.transition(id: instance.id, to: .running, reason: nil, ifMatch: 2, by: marcus)
        }
        #expect(throws: WorkflowError.notRunning(.paused)) { try service.advance(id: instance.id, output: nil, ifMatch: nil, by: marcus) }
        #expect(repository.reads.load(ordering: .relaxed) == 0)
    }

    @Test func invalidTransitionIsRefusedAndWritesNothing() throws {
        let instance = try service.create(definitionId: "create-prd", parameters: .emptyObject, by: marcus).instance
        #expect(throws: WorkflowError.invalidTransition(from: .created, to: .completed)) {
            try service.transition(id: instance.id, to: .completed, reason: nil, ifMatch: nil, by: marcus)
        }
        #expect(try repository.instance(id: instance.id)?.version == 1)
        #expect(try repository.events(instanceId: instance.id, afterId: nil, limit: 10).count == 1)
    }

    @Test func advanceRecordsOutputAndCompletesAfterTheLastStep() throws {
        let instance = try service.create(definitionId: "create-prd", parameters: .emptyObject, by: marcus).instance
        _ = try service.transition(id: instance.id, to: .running, reason: nil, ifMatch: nil, by: marcus)
        let second = try service.advance(id: instance.id, output: JSONText(unchecked: #"{"goal":1}"#), ifMatch: nil, by: marcus)
        #expect(second.currentStep == 2)
        #expect(second.stepData.text == #"{"goals":{"goal":1}}"#)
        _ = try service.advance(id: instance.id, output: nil, ifMatch: nil, by: marcus)
        let done = try service.advance(id: instance.id, output: nil, ifMatch: nil, by: marcus)
        #expect(done.status == .completed)
        #expect(done.currentStep == 3)
        let types = try repository.events(instanceId: instance.id, afterId: nil, limit: 20).map(\.type)
        #expect(types == [.instanceCreated, .statusChanged, .stepCompleted, .stepCompleted, .stepCompleted, .statusChanged])
    }

    @Test func advanceOutsideRunningIsRefused() throws {
        let instance = try service.create(definitionId: "create-prd", parameters: .emptyObject, by: marcus).instance
        #expect(throws: WorkflowError.notRunning(.created)) {
            try service.advance(id: instance.id, output: nil, ifMatch: nil, by: marcus)
        }
    }

    @Test func staleIfMatchIsRefused() throws {
        let instance = try service.create(definitionId: "create-prd", parameters: .emptyObject, by: marcus).instance
        #expect(throws: WorkflowError.versionMismatch(current: 1)) {
            try service.transition(id: instance.id, to: .running, reason: nil, ifMatch: 7, by: marcus)
        }
        let started = try service.transition(id: instance.id, to: .running, reason: nil, ifMatch: 1, by: marcus)
        #expect(started.version == 2)
    }

    @Test func anotherUsersInstanceIsNotFoundButAnAdminSeesIt() throws {
        let instance = try service.create(definitionId: "create-prd", parameters: .emptyObject, by: marcus).instance
        let stranger = Principal(userId: UUID(), roles: [.participant])
        #expect(throws: WorkflowError.instanceNotFound) { try service.instance(id: instance.id, for: stranger) }
        #expect(throws: WorkflowError.instanceNotFound) {
            try service.transition(id: instance.id, to: .running, reason: nil, ifMatch: nil, by: stranger)
        }
        #expect(try service.instance(id: instance.id, for: admin).id == instance.id)
        #expect(try service.transition(id: instance.id, to: .cancelled, reason: "admin", ifMatch: nil, by: admin).status == .cancelled)
    }

    @Test func aStrangersAdvanceIsNotFoundAndAStaleOneIsAVersionMismatch() throws {
        let instance = try service.create(definitionId: "create-prd", parameters: .emptyObject, by: marcus).instance
        _ = try service.transition(id: instance.id, to: .running, reason: nil, ifMatch: nil, by: marcus)
        let stranger = Principal(userId: UUID(), roles: [.participant])
        #expect(throws: WorkflowError.instanceNotFound) { try service.advance(id: instance.id, output: nil, ifMatch: 2, by: stranger) }
        #expect(throws: WorkflowError.instanceNotFound) { try service.advance(id: UUID(), output: nil, ifMatch: nil, by: marcus) }
        #expect(throws: WorkflowError.versionMismatch(current: 2)) { try service.advance(id: instance.id, output: nil, ifMatch: 1, by: marcus) }
        #expect(try service.advance(id: instance.id, output: nil, ifMatch: 2, by: admin).currentStep == 2)
    }

    @Test func sameIdempotencyKeyReplaysTheOriginalAndADifferentRequestIsRefused() throws {
        let claim = IdempotencyClaim(key: "k-1", requestHash: "h1")
        let first = try service.create(definitionId: "create-prd", parameters: .emptyObject, idempotency: claim, by: marcus)
        #expect(!first.replayed)
        _ = try service.transition(id: first.instance.id, to: .running, reason: nil, ifMatch: nil, by: marcus)
        let again = try service.create(definitionId: "create-prd", parameters: .emptyObject, idempotency: claim, by: marcus)
        #expect(again.replayed)
        #expect(again.instance == first.instance, "the replay is the original response, not the current state")
        #expect(throws: WorkflowError.idempotencyKeyReused) {
            try service.create(definitionId: "create-prd", parameters: .emptyObject, idempotency: IdempotencyClaim(key: "k-1", requestHash: "h2"), by: marcus)
        }
        let stranger = Principal(userId: UUID(), roles: [.participant])
        #expect(try !service.create(definitionId: "create-prd", parameters: .emptyObject, idempotency: claim, by: stranger).replayed, "keys are per user")
    }

    @Test func unknownDefinitionIsRefused() {
        #expect(throws: WorkflowError.unknownDefinition("nope")) {
            try service.create(definitionId: "nope", parameters: .emptyObject, by: marcus)
        }
    }

    @Test func losingARaceReDecidesAgainstTheNewState() throws {
        let instance = try service.create(definitionId: "create-prd", parameters: .emptyObject, by: marcus).instance
        let other = WorkflowService(repository: repository)
        let who = marcus
        // Just before our write, another writer starts the instance.
        repository.beforeChange.withLock { hook in
            hook = { repo in
                repo.beforeChange.withLock { $0 = nil }
                _ = try? other.transition(id: instance.id, to: .running, reason: nil, ifMatch: nil, by: who)
            }
        }
        #expect(throws: WorkflowError.invalidTransition(from: .running, to: .running)) {
            try service.transition(id: instance.id, to: .running, reason: nil, ifMatch: nil, by: marcus)
        }
        let events = try repository.events(instanceId: instance.id, afterId: nil, limit: 10)
        #expect(events.filter { $0.type == .statusChanged }.count == 1)
    }

    @Test func listingPagesNewestFirstAndOnlyOwnForNonAdmins() throws {
        var created: [UUID] = []
        for _ in 0..<5 { created.append(try service.create(definitionId: "create-prd", parameters: .emptyObject, by: marcus).instance.id) }
        _ = try service.create(definitionId: "create-prd", parameters: .emptyObject, by: admin).instance
        let first = try service.list(.init(limit: 2), for: marcus)
        #expect(first.items.map(\.id) == Array(created.reversed().prefix(2)))
        let second = try service.list(.init(cursor: first.nextCursor, limit: 2), for: marcus)
        let third = try service.list(.init(cursor: second.nextCursor, limit: 2), for: marcus)
        #expect((first.items + second.items + third.items).map(\.id) == created.reversed())
        #expect(third.nextCursor == nil)
        #expect(try service.list(.init(limit: 100), for: admin).items.count == 6)
        #expect(throws: WorkflowError.forbidden("Only an Admin may list another user's workflows.")) {
            try service.list(.init(userId: admin.userId), for: marcus)
        }
        #expect(throws: WorkflowError.invalidCursor) { try service.list(.init(cursor: "garbage!"), for: marcus) }
    }

    /// A waiting instance whose version another writer bumps just before each of our next `bumps` writes.
    func inputWait(bumps: Int) throws -> UUID {
        let instance = try service.create(definitionId: "create-prd", parameters: .emptyObject, by: marcus).instance
        _ = try service.transition(id: instance.id, to: .running, reason: nil, ifMatch: nil, by: marcus)
        let schema = Awaiting(kind: .input, prompt: "x?", schema: JSONText(unchecked: #"{"type":"object"}"#))
        _ = try service.transition(id: instance.id, to: .waitingForInput, reason: nil, awaiting: schema, ifMatch: nil, by: marcus)
        let id = instance.id
        var hook: (@Sendable (InMemoryWorkflowRepository) -> Void)? = nil
        for _ in 0..<bumps {
            let next = hook
            hook = { repo in
                repo.state.withLock { $0.instances[id]?.version += 1 }
                repo.beforeChange.withLock { $0 = next }
            }
        }
        repository.beforeChange.withLock { [hook] in $0 = hook }
        return id
    }

    @Test func inputThatLosesARaceIsReadAndValidatedOnceMore() throws {
        let id = try inputWait(bumps: 1)
        var checks = 0
        let answered = try service.provideInput(id: id, data: JSONText(unchecked: #"{"a":1}"#), ifMatch: nil, by: marcus) { _ in checks += 1 }
        #expect(answered.status == .running && checks == 2)
        #expect(try repository.events(instanceId: id, afterId: nil, limit: 10).filter { $0.type == .inputProvided }.count == 1)
    }

    @Test func inputThatLosesTwiceIsAContentionAndWritesNothing() throws {
        let id = try inputWait(bumps: 2)
        var checks = 0
        #expect(throws: WorkflowError.contention) {
            try service.provideInput(id: id, data: JSONText(unchecked: #"{"a":1}"#), ifMatch: nil, by: marcus) { _ in checks += 1 }
        }
        #expect(checks == 2)
        #expect(try repository.instance(id: id)?.status == .waitingForInput)
    }
}
