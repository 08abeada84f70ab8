import Foundation
import Synchronization
import Logging
import PostgresClient
import TestSupport
import Testing
import Workflows
@testable import WorkflowStore

@Suite(.enabled(if: TestEnvironment.hasStack, Comment(rawValue: TestEnvironment.skipReason)))
struct PostgresWorkflowRepositoryTests {
    let database: TestDatabase
    let pool: PostgresPool
    let repository: PostgresWorkflowRepository
    let user = UUID()

    init() throws {
        database = try TestDatabase.create()
        pool = PostgresPool(
            configuration: PostgresConfiguration(connectionString: database.url), size: 4, checkoutTimeout: .seconds(2),
            logger: Logger(label: "test"))
        repository = PostgresWorkflowRepository(pool: pool, logger: Logger(label: "test"))
    }

    let creation = NewWorkflowEvent(type: .instanceCreated, fromStatus: nil, toStatus: .created, step: 0)

    func create(_ context: String = "{}", key: IdempotencyClaim? = nil) throws -> WorkflowInstance {
        let outcome = try repository.createInstance(
            NewWorkflowInstance(id: UUID(), definitionId: "create-prd", userId: user, context: JSONText(unchecked: context)),
            event: creation, idempotency: key)
        guard case .created(let instance) = outcome else { throw PostgresError(kind: .decoding, message: "not created: \(outcome)") }
        return instance
    }

    @Test func theSeededBMADDefinitionsAreThereWithOrderedSteps() throws {
        let ids = try repository.definitions().map(\.id)
        for id in ["create-prd", "create-architecture", "create-epics-and-stories", "create-story", "dev-story", "code-review"] {
            #expect(ids.contains(id))
        }
        for definition in try repository.definitions() {
            #expect((3...8).contains(definition.steps.count), "\(definition.id)")
        }
        #expect(try repository.definition(id: "nope") == nil)
    }

    @Test func createWritesTheInstanceAndItsEventTogether() throws {
        let instance = try create(#"{"projectName": "Apollo", "n": 1.50}"#)
        #expect(instance.status == .created)
        #expect(instance.version == 1)
        #expect(instance.context.text == #"{"n": 1.50, "projectName": "Apollo"}"#)
        #expect(try repository.instance(id: instance.id) == instance)
        let events = try repository.events(instanceId: instance.id, afterId: nil, limit: 10)
        #expect(events.count == 1)
        #expect(events[0].type == .instanceCreated && events[0].toStatus == .created && events[0].userId == user)
    }

    @Test func unknownDefinitionWritesNothing() throws {
        #expect(throws: WorkflowError.unknownDefinition("nope")) {
            try repository.createInstance(
                NewWorkflowInstance(id: UUID(), definitionId: "nope", userId: user, context: .emptyObject),
                event: creation, idempotency: IdempotencyClaim(key: "k", requestHash: "h"))
        }
        #expect(try database.scalar("SELECT count(*) FROM idempotency_keys") == "0")
        #expect(try database.scalar("SELECT count(*) FROM workflow_instances") == "0")
        #expect(try database.scalar("SELECT count(*) FROM workflow_events") == "0")
    }

    @Test func anIdempotencyKeyCreatesOnceAndExpiresAfterADay() throws {
        let claim = IdempotencyClaim(key: "retry-me", requestHash: "h1")
        let first = try create(key: claim)
        let again = try repository.createInstance(
            NewWorkflowInstance(id: UUID(), definitionId: "create-prd", userId: user, context: .emptyObject), event: creation, idempotency: claim)
        #expect(again == .replayed(first))
        let other = try repository.createInstance(
            NewWorkflowInstance(id: UUID(), definitionId: "create-prd", userId: user, context: .emptyObject), event: creation,
            idempotency: IdempotencyClaim(key: "retry-me", requestHash: "h2"))
        #expect(other == .keyReused)
        #expect(try database.scalar("SELECT count(*) FROM workflow_instances") == "1")
        #expect(try database.scalar("SELECT count(*) FROM workflow_events") == "1")
        // A day later the key is free again, and the purge removes expired keys.
        let connection = try database.connect()
        defer { connection.close() }
        try connection.query("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
        #expect(try repository.purgeExpiredIdempotencyKeys() == 1)
        let reused = try create(key: claim)
        #expect(reused.id != first.id)
    }

    @Test func applyIsConditionalOnTheVersionAndWritesEventsInOrder() throws {
        let instance = try create()
        let change = InstanceChange(
            instanceId: instance.id, expectedVersion: 1, status: .running, currentStep: 1,
            stepOutput: StepOutput(stepId: "s1", output: JSONText(unchecked: #"{"k":"v"}"#)),
            events: [
                NewWorkflowEvent(type: .statusChanged, fromStatus: .created, toStatus: .running, step: 1, reason: "go \"now\""),
                NewWorkflowEvent(type: .stepCompleted, fromStatus: nil, toStatus: nil, step: 1, data: JSONText(unchecked: #"{"k":"v"}"#)),
            ], actorId: user)
        let updated = try #require(try repository.apply(change))
        #expect(updated.version == 2 && updated.status == .running && updated.currentStep == 1)
        #expect(updated.stepData.text == #"{"s1": {"k": "v"}}"#)
        #expect(try repository.apply(change) == nil, "a second apply against version 1 must not write")
        let events = try repository.events(instanceId: instance.id, afterId: nil, limit: 10)
        #expect(events.map(\.type) == [.instanceCreated, .statusChanged, .stepCompleted])
        #expect(events[1].reason == "go \"now\"")
        #expect(events[2].data?.text == #"{"k": "v"}"#)
        #expect(try repository.events(instanceId: instance.id, afterId: events[0].id, limit: 1).map(\.id) == [events[1].id])
    }

    @Test func aConditionalTransitionAppliesOnlyWhenEveryConditionHolds() throws {
        let instance = try create()
        func attempt(from allowed: [WorkflowStatus], owner: UUID?, version: Int?) -> ConditionalTransition {
            ConditionalTransition(
                instanceId: instance.id, target: .running, allowedFrom: allowed, firstStepFrom: [.created], ownerId: owner,
                expectedVersion: version, reason: "go", actorId: user)
        }
        // Each failed condition writes nothing.
        #expect(try repository.transition(attempt(from: [.paused], owner: user, version: nil)) == nil)
        #expect(try repository.transition(attempt(from: [.created], owner: UUID(), version: nil)) == nil)
        #expect(try repository.transition(attempt(from: [.created], owner: user, version: 2)) == nil)
        #expect(try repository.instance(id: instance.id) == instance)
        #expect(try repository.events(instanceId: instance.id, afterId: nil, limit: 10).count == 1)

        let started = try #require(try repository.transition(attempt(from: [.created, .paused], owner: user, version: 1)))
        #expect(started.status == .running && started.currentStep == 1 && started.version == 2)
        #expect(try repository.instance(id: instance.id) == started)
        let events = try repository.events(instanceId: instance.id, afterId: nil, limit: 10)
        #expect(events.count == 2)
        #expect(events[1].type == .statusChanged && events[1].fromStatus == .created && events[1].toStatus == .running)
        #expect(events[1].step == 1 && events[1].reason == "go" && events[1].userId == user)
        #expect(events[1].occurredAt == started.updatedAt)

        // An Admin (no owner condition) pauses it; the step is kept when the from-state starts no step.
        let admin = UUID()
        let paused = try #require(try repository.transition(ConditionalTransition(
            instanceId: instance.id, target: .paused, allowedFrom: [.running], firstStepFrom: [], ownerId: nil,
            expectedVersion: nil, reason: nil, actorId: admin)))
        #expect(paused.status == .paused && paused.currentStep == 1 && paused.version == 3)
        let last = try #require(try repository.events(instanceId: instance.id, afterId: events[1].id, limit: 10).first)
        #expect(last.fromStatus == .running && last.toStatus == .paused && last.userId == admin && last.reason == nil)
    }

    /// Under SERIALIZABLE, a concurrent committed update makes the apply fail with 40001; the repository
    /// retries it (the statement was rolled back whole) and the change goes through exactly once.
    @Test func aSerializationFailureIsRetriedAndAppliesOnce() throws {
        let instance = try create()
        let admin = try database.connect()
        defer { admin.close() }
        try admin.executeScript("ALTER DATABASE \(database.name) SET default_transaction_isolation = 'serializable'")
        let serializable = PostgresPool(
            configuration: PostgresConfiguration(connectionString: database.url), size: 1, checkoutTimeout: .seconds(5),
            logger: Logger(label: "test"))
        defer { serializable.close() }
        let repository = PostgresWorkflowRepository(pool: serializable, logger: Logger(label: "test"))
        let other = try database.connect()
        defer { other.close() }
        try other.execute("BEGIN")
        try other.query("UPDATE workflow_instances SET updated_at = now() WHERE id = \(instance.id)")
        let change = InstanceChange(
            instanceId: instance.id, expectedVersion: 1, status: .running, currentStep: 1, stepOutput: nil,
            events: [NewWorkflowEvent(type: .statusChanged, fromStatus: .created, toStatus: .running, step: 1)], actorId: user)
        let outcome = Mutex<Result<WorkflowInstance?, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let result = Result { try repository.apply(change) }
            outcome.withLock { $0 = result }
            done.signal()
        }
        Thread.sleep(forTimeInterval: 0.5)  // the apply now waits on the row lock
        try other.execute("COMMIT")        // ... and fails with 40001 when it is released
        #expect(done.wait(timeout: .now() + 10) == .success)
        let applied = try #require(try outcome.withLock { $0 }?.get())
        #expect(applied.version == 2)
        #expect(try database.scalar("SELECT count(*) FROM workflow_events WHERE type = 'StatusChanged'") == "1")
    }

    @Test func listingIsNewestFirstWithKeysetFilters() throws {
        var ids: [UUID] = []
        for _ in 0..<3 { ids.append(try create().id) }
        let all = try repository.instances(matching: InstanceQuery(ownerId: user, status: nil, definitionId: nil, after: nil, limit: 10))
        #expect(all.map(\.id) == ids.reversed())
        let after = InstanceCursor(createdAt: all[0].createdAt, id: all[0].id)
        let rest = try repository.instances(matching: InstanceQuery(ownerId: user, status: .created, definitionId: "create-prd", after: after, limit: 10))
        #expect(rest.map(\.id) == Array(ids.reversed().dropFirst()))
        #expect(try repository.instances(matching: InstanceQuery(ownerId: UUID(), status: nil, definitionId: nil, after: nil, limit: 10)).isEmpty)
    }

    @Test func theDatabaseItselfRejectsAnUnknownStatus() throws {
        let instance = try create()
        let connection = try database.connect()
        defer { connection.close() }
        do {
            try connection.query("UPDATE workflow_instances SET status = \("Exploded") WHERE id = \(instance.id)")
            Issue.record("the database accepted an unknown status")
        } catch {
            #expect(error.sqlState == "23514")
        }
    }
}
