import Foundation
import Logging
import PostgresClient
import TestSupport
import Testing
import Workflows
@testable import WorkflowStore

/// The outbox on a real database: an outbox row is written by the event's own statement, fanned out into
/// a delivery per subscription, claimed one per instance at a time under a lease, and recorded only by the
/// lease holder.
@Suite(.enabled(if: TestEnvironment.hasStack, Comment(rawValue: TestEnvironment.skipReason)))
struct PostgresWebhookRepositoryTests {
    let database: TestDatabase
    let pool: PostgresPool
    let workflows: PostgresWorkflowRepository
    let webhooks: PostgresWebhookRepository
    let user = UUID()

    init() throws {
        database = try TestDatabase.create()
        pool = PostgresPool(
            configuration: PostgresConfiguration(connectionString: database.url), size: 4, checkoutTimeout: .seconds(2),
            logger: Logger(label: "test"))
        workflows = PostgresWorkflowRepository(pool: pool, logger: Logger(label: "test"))
        webhooks = PostgresWebhookRepository(pool: pool, logger: Logger(label: "test"))
    }

    func subscribe(_ types: [WorkflowEventType]? = nil, instances: [UUID]? = nil) throws -> WebhookSubscription {
        try WebhookService(repository: webhooks).create(url: "https://example.com/h", eventTypes: types, workflowIds: instances, description: "").0
    }

    func create() throws -> WorkflowInstance {
        let outcome = try workflows.createInstance(
            NewWorkflowInstance(id: UUID(), definitionId: "create-prd", userId: user, context: .emptyObject),
            event: NewWorkflowEvent(type: .instanceCreated, fromStatus: nil, toStatus: .created, step: 0), idempotency: nil)
        guard case .created(let instance) = outcome else { throw PostgresError(kind: .decoding, message: "not created") }
        return instance
    }

    func start(_ instance: WorkflowInstance) throws {
        _ = try workflows.transition(ConditionalTransition(
            instanceId: instance.id, target: .running, allowedFrom: [.created], firstStepFrom: [.created], ownerId: nil,
            expectedVersion: nil, reason: nil, actorId: user))
    }

    func deliveries(_ subscription: WebhookSubscription) throws -> [WebhookDelivery] {
        try #require(try webhooks.deliveries(subscriptionId: subscription.id, limit: 100))
    }

    @Test func eachEventBecomesADeliveryForEveryMatchingActiveSubscription() throws {
        let all = try subscribe()
        let statusOnly = try subscribe([.statusChanged])
        let inactive = try subscribe()
        _ = try webhooks.updateSubscription(id: inactive.id, WebhookSubscriptionChange(active: false))
        let instance = try create()
        let otherInstanceOnly = try subscribe(instances: [UUID()])
        try start(instance)
        #expect(try deliveries(all).map(\.eventType) == [.statusChanged, .instanceCreated])
        #expect(try deliveries(statusOnly).map(\.eventType) == [.statusChanged])
        #expect(try deliveries(inactive).isEmpty)
        #expect(try deliveries(otherInstanceOnly).isEmpty)
        #expect(try deliveries(all).allSatisfy { $0.state == .pending && $0.workflowInstanceId == instance.id })
    }

    @Test func anEventThatRolledBackLeavesNoDelivery() throws {
        let subscription = try subscribe()
        let instance = try create()
        #expect(try deliveries(subscription).count == 1)
        let connection = try database.connect()
        defer { connection.close() }
        try connection.execute("BEGIN")
        try connection.query("""
            INSERT INTO workflow_events (workflow_instance_id, type, step, user_id) VALUES (\(instance.id), 'StatusChanged', 0, \(user))
            """)
        #expect(try connection.query("SELECT count(*) FROM webhook_outbox").first?.int(0) == 1)
        try connection.execute("ROLLBACK")
        #expect(try deliveries(subscription).count == 1)
        #expect(try webhooks.fanOut() == 0)
    }

    /// The write path pays for one outbox row per event however many subscriptions it matches; an event
    /// that matches none writes nothing.
    @Test func anEventWritesOneOutboxRowNamingEverySubscriptionItMatched() throws {
        let connection = try database.connect()
        defer { connection.close() }
        func outbox() throws -> [String] {
            try connection.query("SELECT cardinality(subscription_ids)::int8 FROM webhook_outbox ORDER BY event_id").map { String(try $0.int(0)) }
        }
        _ = try create()
        #expect(try outbox().isEmpty)
        let subscriptions = try (0..<10).map { _ in try subscribe() }
        _ = try subscribe([.statusChanged])
        let instance = try create()
        #expect(try outbox() == ["10"])
        #expect(try webhooks.fanOut() == 1)
        #expect(try outbox().isEmpty)
        for subscription in subscriptions { #expect(try deliveries(subscription).map(\.workflowInstanceId) == [instance.id]) }
        #expect(try connection.query("SELECT count(*)::int8 FROM webhook_deliveries").first?.int(0) == 10)
    }

    @Test func aSubscriptionDeletedBeforeTheFanOutGetsNoDeliveryAndTheOthersDo() throws {
        let kept = try subscribe()
        let deleted = try subscribe()
        _ = try create()
        #expect(try webhooks.deleteSubscription(id: deleted.id))
        #expect(try webhooks.fanOut() == 1)
        #expect(try deliveries(kept).count == 1)
        #expect(try webhooks.deliveries(subscriptionId: deleted.id, limit: 10) == nil)
    }

    /// While one fan-out holds its turn, another moves nothing (so two never race an instance's events
    /// out of order); the held events are moved by the next fan-out, oldest first, in order per instance.
    @Test func fanOutsTakeTurnsAndKeepEventOrderPerInstance() throws {
        let subscription = try subscribe()
        let instance = try create()
        try start(instance)
        let holder = try database.connect()
        defer { holder.close() }
        try holder.execute("BEGIN")
        try holder.query("SELECT pg_advisory_xact_lock(\(PostgresWebhookRepository.fanOutLockKey))")
        #expect(try webhooks.fanOut() == 0)
        #expect(try webhooks.claimDueDeliveries(limit: 10, lease: .seconds(60)).isEmpty)
        try holder.execute("COMMIT")
        #expect(try webhooks.fanOut(limit: 1) == 1)
        #expect(try webhooks.fanOut(limit: 1) == 1)
        #expect(try deliveries(subscription).map(\.eventType) == [.statusChanged, .instanceCreated])
        let claimed = try webhooks.claimDueDeliveries(limit: 10, lease: .seconds(60))
        #expect(claimed.count == 1)
        #expect(try claimed.first.map { try JSONSerialization.jsonObject(with: Data($0.payload.utf8)) as? [String: Any] }??["type"] as? String == "InstanceCreated")
    }

    @Test func onlyTheEarliestPendingEventOfAnInstanceIsClaimedAndALeaseKeepsOthersAway() throws {
        let subscription = try subscribe()
        let first = try create()
        try start(first)
        let second = try create()
        let claimed = try webhooks.claimDueDeliveries(limit: 10, lease: .seconds(60))
        // One per instance: the first instance's creation, and the second's.
        #expect(Set(claimed.map(\.workflowInstanceId)) == [first.id, second.id])
        #expect(claimed.count == 2)
        #expect(try webhooks.claimDueDeliveries(limit: 10, lease: .seconds(60)).isEmpty)
        let head = try #require(claimed.first { $0.workflowInstanceId == first.id })
        #expect(head.attempt == 1)
        #expect(head.secrets.count == 1)
        let payload = try #require(try JSONSerialization.jsonObject(with: Data(head.payload.utf8)) as? [String: Any])
        #expect(payload["type"] as? String == "InstanceCreated")
        #expect(payload["workflowInstanceId"] as? String == first.id.uuidString.lowercased())
        #expect(payload["workflowDefinitionId"] as? String == "create-prd")

        let ok = PostgresWebhookRepository.AttemptResult(succeeded: true, statusCode: 204, error: nil, durationMilliseconds: 5, retryDelay: .zero)
        #expect(try webhooks.record(head, ok, policy: WebhookRetryPolicy()).state == .succeeded)
        let next = try webhooks.claimDueDeliveries(limit: 10, lease: .seconds(60))
        #expect(next.map(\.workflowInstanceId) == [first.id])
        #expect(try deliveries(subscription).filter { $0.state == .succeeded }.count == 1)
    }

    @Test func aFailedAttemptIsRetriedLaterAndALapsedLeaseIsClaimedByAnother() throws {
        let subscription = try subscribe()
        _ = try create()
        let claimed = try #require(try webhooks.claimDueDeliveries(limit: 10, lease: .seconds(1)).first)
        Thread.sleep(forTimeInterval: 1.2)
        let again = try #require(try webhooks.claimDueDeliveries(limit: 10, lease: .seconds(60)).first)
        #expect(again.id == claimed.id && again.attempt == 2)
        let failure = PostgresWebhookRepository.AttemptResult(
            succeeded: false, statusCode: 500, error: "HTTP 500", durationMilliseconds: 3, retryDelay: .seconds(30))
        // The first worker's lease lapsed: its outcome is not written.
        #expect(try webhooks.record(claimed, failure, policy: WebhookRetryPolicy()).state == nil)
        #expect(try webhooks.record(again, failure, policy: WebhookRetryPolicy()).state == .pending)
        #expect(try webhooks.claimDueDeliveries(limit: 10, lease: .seconds(60)).isEmpty)
        let row = try #require(try deliveries(subscription).first)
        #expect(row.lastStatusCode == 500 && row.attempts == 2 && row.nextAttemptAt != nil)
        // A redelivery makes it due now.
        #expect(try webhooks.redeliver(subscriptionId: subscription.id, deliveryId: row.id)?.state == .pending)
        #expect(try webhooks.claimDueDeliveries(limit: 10, lease: .seconds(60)).map(\.id) == [row.id])
    }

    @Test func aSubscriptionFailingPastTheThresholdIsDisabled() throws {
        let subscription = try subscribe()
        _ = try create()
        var policy = WebhookRetryPolicy()
        policy.disableAfterFailures = 2
        policy.disableAfterFailingFor = .zero
        let failure = PostgresWebhookRepository.AttemptResult(
            succeeded: false, statusCode: nil, error: "refused", durationMilliseconds: 1, retryDelay: .zero)
        let first = try #require(try webhooks.claimDueDeliveries(limit: 1, lease: .seconds(60)).first)
        #expect(try webhooks.record(first, failure, policy: policy) == .init(state: .pending, disabledSubscription: false))
        let second = try #require(try webhooks.claimDueDeliveries(limit: 1, lease: .seconds(60)).first)
        #expect(try webhooks.record(second, failure, policy: policy) == .init(state: .pending, disabledSubscription: true))
        let disabled = try #require(try webhooks.subscription(id: subscription.id))
        #expect(!disabled.active && disabled.disabledReason != nil && disabled.consecutiveFailures == 2)
        #expect(try webhooks.claimDueDeliveries(limit: 1, lease: .seconds(60)).isEmpty)
        let enabled = try #require(try webhooks.updateSubscription(id: subscription.id, WebhookSubscriptionChange(active: true)))
        #expect(enabled.active && enabled.disabledReason == nil && enabled.consecutiveFailures == 0)
    }

    @Test func aRetryPastTheWindowMarksTheDeliveryFailed() throws {
        _ = try subscribe()
        _ = try create()
        let claimed = try #require(try webhooks.claimDueDeliveries(limit: 1, lease: .seconds(60)).first)
        let failure = PostgresWebhookRepository.AttemptResult(
            succeeded: false, statusCode: 503, error: "HTTP 503", durationMilliseconds: 1, retryDelay: .seconds(25 * 3600))
        #expect(try webhooks.record(claimed, failure, policy: WebhookRetryPolicy()).state == .failed)
    }

    @Test func afterARotationBothSecretsSignUntilTheGraceEnds() throws {
        let subscription = try subscribe()
        _ = try create()
        let rotated = try #require(try WebhookService(repository: webhooks).rotateSecret(id: subscription.id))
        #expect(rotated.0.previousSecretExpiresAt != nil)
        let claimed = try #require(try webhooks.claimDueDeliveries(limit: 1, lease: .seconds(60)).first)
        #expect(claimed.secrets.count == 2)
        #expect(claimed.secrets.first == rotated.1)
    }
}
