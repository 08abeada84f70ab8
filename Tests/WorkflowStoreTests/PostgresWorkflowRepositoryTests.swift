import Foundation
import InMemoryLogging
import Logging
import Synchronization
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

    init() throws { try self.init(baseURL: nil) }

    /// A fresh database in the shared test cluster, or in the cluster at `baseURL`.
    init(baseURL: String?) throws {
        database = try TestDatabase.create(baseURL: baseURL)
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
        #expect(try database.scalar("SELECT count(*) FROM workflow_instance_documents") == "0")
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

    /// Under SERIALIZABLE, a concurrent committed update makes the transition fail with 40001; the
    /// repository retries it (the statement was rolled back whole) and the change goes through exactly once.
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
        let start = ConditionalTransition(
            instanceId: instance.id, target: .running, allowedFrom: [.created], firstStepFrom: [.created], ownerId: user,
            expectedVersion: 1, reason: nil, actorId: user)
        let outcome = Mutex<Result<ChangeOutcome, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let result = Result { try repository.transition(start) }
            outcome.withLock { $0 = result }
            done.signal()
        }
        // Wait until the transition really waits on the row lock, then release it: it fails with 40001.
        try waitUntil("the transition waits on the row lock") {
            try admin.query("SELECT count(*) FROM pg_stat_activity WHERE datname = \(database.name) AND wait_event_type = 'Lock'")
                .first?.int(0) == 1
        }
        try other.execute("COMMIT")
        #expect(done.wait(timeout: .now() + 10) == .success)
        guard case .applied(let applied) = try #require(try outcome.withLock { $0 }?.get()) else {
            Issue.record("the retried transition did not apply")
            return
        }
        #expect(applied.version == 2)
        #expect(repository.retries.value == 1, "exactly one retry after the serialization failure")
        #expect(try database.scalar("SELECT count(*) FROM workflow_events WHERE type = 'StatusChanged'") == "1")
    }

    /// Lines the store writes while serving a request carry that request's id (RequestScope).
    @Test func aDatabaseFailureIsLoggedWithTheRequestsId() throws {
        let unreachable = PostgresPool(
            configuration: PostgresConfiguration(connectionString: "postgresql://postgres@127.0.0.1:1/none", connectTimeoutSeconds: 2),
            size: 1, checkoutTimeout: .seconds(1), logger: Logger(label: "test"))
        defer { unreachable.close() }
        let repository = PostgresWorkflowRepository(pool: unreachable, logger: Logger(label: "store"))
        let logs = InMemoryLogHandler()
        let request = RequestLog(base: Logger(label: "request") { _ in logs }, requestId: "req-7")
        #expect(throws: WorkflowError.unavailable("The database is not reachable right now; try again shortly.")) {
            try RequestScope.$request.withValue(request) { try repository.instance(id: UUID()) }
        }
        let warning = try #require(logs.entries.first { $0.message == "database unavailable" })
        #expect(warning.metadata["request_id"] == "req-7")
    }

    func waitUntil(_ what: String, timeout: Duration = .seconds(10), _ condition: () throws -> Bool) throws {
        let deadline = ContinuousClock.now + timeout
        while try !condition() {
            guard ContinuousClock.now < deadline else { throw PostgresError(kind: .decoding, message: "timed out waiting until \(what)") }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    /// An input wait whose deadline (onTimeout: Fail) has already passed, so an answer and the deadline job race.
    func expiredInputWait() throws -> WorkflowInstance {
        try waiting(.input, dueAt: Timestamp(microsecondsSinceEpoch: Timestamp.now.microsecondsSinceEpoch - 1_000_000), onTimeout: .fail)
    }

    /// The deadline job skips a wait whose row another statement holds (an answer in progress) instead of
    /// waiting for it; once the answer commits, the wait has no deadline left to apply.
    @Test func theDeadlineJobSkipsAWaitAnAnswerHoldsAndFindsItAnswered() throws {
        let wait = try expiredInputWait()
        let answer = try database.connect()
        defer { answer.close() }
        try answer.execute("BEGIN")
        try answer.query("""
            UPDATE workflow_instances SET status = 'Running', awaiting = NULL, due_at = NULL, version = version + 1 WHERE id = \(wait.id)
            """)
        let begun = ContinuousClock.now
        #expect(try repository.applyDeadlines(passedBy: .now, limit: 10).isEmpty)
        #expect(ContinuousClock.now - begun < .seconds(2), "the locked row is skipped, not waited for")
        try answer.execute("COMMIT")
        #expect(try repository.applyDeadlines(passedBy: .now, limit: 10).isEmpty)
        #expect(try database.scalar("SELECT count(*) FROM workflow_events WHERE type = 'DeadlinePassed'") == "0")
    }

    /// Answers and the deadline job race over many expired waits: each wait ends exactly one way, either
    /// answered (and no DeadlinePassed) or failed by its deadline (and the answer refused).
    @Test func anAnswerAndItsDeadlineAtTheSameMomentEndTheWaitExactlyOneWay() throws {
        let waits = try (0..<30).map { _ in try expiredInputWait() }
        let answers = Mutex<[UUID: ChangeOutcome]>([:])
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread { [repository, user] in
            for wait in waits {
                let outcome = try? repository.provideInput(ConditionalInput(
                    instanceId: wait.id, ownerId: user, expectedVersion: wait.version, data: JSONText(unchecked: #"{"a":1}"#), actorId: user))
                answers.withLock { $0[wait.id] = outcome }
            }
            done.signal()
        }
        var expired: Set<UUID> = []
        repeat {
            for instance in try repository.applyDeadlines(passedBy: .now, limit: 3) {
                #expect(expired.insert(instance.id).inserted, "a wait is applied once")
            }
        } while done.wait(timeout: .now()) == .timedOut
        expired.formUnion(try repository.applyDeadlines(passedBy: .now, limit: 100).map(\.id))
        let outcomes = answers.withLock { $0 }
        for wait in waits {
            let stored = try #require(try repository.instance(id: wait.id))
            let history = try repository.events(instanceId: wait.id, afterId: nil, limit: 50).map(\.type)
            switch outcomes[wait.id] {
            case .applied?:
                #expect(stored.status == .running && !expired.contains(wait.id) && !history.contains(.deadlinePassed))
                #expect(history.filter { $0 == .inputProvided }.count == 1)
            case .refused(let found)?:
                #expect(found?.status == .failed && stored.status == .failed && expired.contains(wait.id))
                #expect(history.filter { $0 == .deadlinePassed }.count == 1 && !history.contains(.inputProvided))
            case nil:
                Issue.record("the answer threw")
            }
        }
    }

    /// A wait entered from Running with `awaiting` (instance created and started first).
    func waiting(_ kind: Awaiting.Kind, dueAt: Timestamp? = nil, onTimeout: TimeoutAction? = nil) throws -> WorkflowInstance {
        let instance = try create()
        let running = try repository.transition(ConditionalTransition(
            instanceId: instance.id, target: .running, allowedFrom: [.created], firstStepFrom: [.created], ownerId: user,
            expectedVersion: nil, reason: nil, actorId: user))
        guard case .applied = running else { throw PostgresError(kind: .decoding, message: "not started") }
        let status: WorkflowStatus = kind == .input ? .waitingForInput : .waitingForApproval
        let outcome = try repository.transition(ConditionalTransition(
            instanceId: instance.id, target: status, allowedFrom: [.running], firstStepFrom: [], ownerId: user,
            expectedVersion: nil, reason: nil, actorId: user,
            awaiting: Awaiting(kind: kind, prompt: "p", dueAt: dueAt, onTimeout: onTimeout)))
        guard case .applied(let wait) = outcome else { throw PostgresError(kind: .decoding, message: "not waiting: \(outcome)") }
        return wait
    }

    /// The wait gauges: overdue is "due_at has passed", whether the deadline job has marked the wait
    /// (Notify) or not yet; a wait that ended leaves both counts. Answered from indexes alone (Migrations/
    /// 0014): with the table's rows out of reach of an index-only scan the plan would read the heap.
    @Test func theOpenWaitsAreCountedPerKindWithThoseOverdue() throws {
        let now = Timestamp.now.microsecondsSinceEpoch
        let past = Timestamp(microsecondsSinceEpoch: now - 1_000_000), future = Timestamp(microsecondsSinceEpoch: now + 3_600_000_000)
        _ = try waiting(.input)
        _ = try waiting(.input, dueAt: future, onTimeout: .fail)
        let pastDue = try waiting(.input, dueAt: past, onTimeout: .fail)
        let marked = try waiting(.approval, dueAt: past, onTimeout: .notify)
        #expect(try repository.applyDeadlines(passedBy: .now, limit: 10).map(\.id).sorted() == [pastDue.id, marked.id].sorted())
        #expect(try repository.instance(id: marked.id)?.awaiting?.overdue == true)
        _ = try waiting(.approval, dueAt: past, onTimeout: .fail)  // past due, its deadline not applied yet
        _ = try waiting(.approval, dueAt: future, onTimeout: .notify)
        let counts = try repository.openWaits()
        // pastDue failed by its deadline: no longer waiting.
        #expect(counts == [OpenWaits(kind: .input, open: 2, overdue: 0), OpenWaits(kind: .approval, open: 3, overdue: 2)])

        let connection = try database.connect()
        defer { connection.close() }
        try connection.execute("VACUUM workflow_instances")
        try connection.execute("SET enable_seqscan = off")
        try connection.execute("SET enable_bitmapscan = off")
        let plan = try connection.query(PostgresQuery(unsafeSQL: "EXPLAIN " + PostgresWorkflowRepository.openWaitsSQL, binds: [])).map { try $0.string(0) }
        let scans = plan.filter { $0.contains("Scan") }
        #expect(scans.count == 4 && scans.allSatisfy { $0.contains("Index Only Scan") }, "\(plan.joined(separator: "\n"))")
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
