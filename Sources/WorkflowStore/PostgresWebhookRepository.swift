public import Foundation
public import Logging
public import PostgresClient
public import Workflows
import TextCoding

/// Webhook subscriptions and deliveries on PostgreSQL: the Admin's operations (`WebhookRepository`) and
/// the delivery workers' fan-out, claim and record (`fanOut`, `claimDueDeliveries`, `record`). The outbox
/// rows are written by the trigger of the webhooks migration (Migrations/0011_webhooks.sql), in the
/// statement that writes the event; `fanOut` turns them into one delivery row per subscription.
public struct PostgresWebhookRepository: WebhookRepository {
    let statements: PostgresWorkflowRepository

    public init(pool: PostgresPool, logger: Logger) {
        statements = PostgresWorkflowRepository(pool: pool, logger: logger)
    }

    static let subscriptionColumns = """
        s.id, s.url, array_to_string(s.event_types, ','), array_to_string(s.workflow_ids, ','), s.description, s.active,
        s.disabled_reason, s.consecutive_failures,
        CASE WHEN s.previous_secret_expires_at > now() THEN (extract(epoch FROM s.previous_secret_expires_at) * 1000000)::int8 END,
        (extract(epoch FROM s.created_at) * 1000000)::int8, (extract(epoch FROM s.updated_at) * 1000000)::int8
        """

    static let deliveryColumns = """
        d.id, d.subscription_id, d.event_id, e.type, d.workflow_instance_id, d.state, d.attempts,
        CASE WHEN d.state = 'pending' THEN (extract(epoch FROM greatest(d.next_attempt_at, d.lease_expires_at)) * 1000000)::int8 END,
        (extract(epoch FROM d.last_attempt_at) * 1000000)::int8, d.last_status_code, d.last_error, d.last_duration_ms,
        (extract(epoch FROM d.created_at) * 1000000)::int8, (extract(epoch FROM d.completed_at) * 1000000)::int8
        """

    /// `{a,b}` for a text[] or uuid[] bind; nil stays NULL ("all"). The elements are enum raw values or
    /// UUID texts, which need no quoting.
    static func arrayLiteral(_ items: [String]?) -> String? {
        items.map { "{" + $0.joined(separator: ",") + "}" }
    }

    public func createSubscription(_ new: NewWebhookSubscription) throws -> WebhookSubscription {
        let rows = try run { connection in
            try connection.query("""
                WITH s AS (
                    INSERT INTO webhook_subscriptions (id, url, event_types, workflow_ids, description, secret)
                    VALUES (\(new.id), \(new.url), \(Self.arrayLiteral(new.eventTypes?.map(\.rawValue)))::text[],
                            \(Self.arrayLiteral(new.workflowIds?.map(\.lowercaseText)))::uuid[], \(new.description), \(new.secret.text))
                    RETURNING *
                )
                SELECT \(unescaped: Self.subscriptionColumns) FROM s
                """)
        }
        guard let row = rows.first else { throw PostgresError(kind: .decoding, message: "insert returned no row") }
        return try Self.subscription(from: row)
    }

    public func subscriptions() throws -> [WebhookSubscription] {
        try run { connection in
            try connection.query("SELECT \(unescaped: Self.subscriptionColumns) FROM webhook_subscriptions s ORDER BY s.created_at, s.id")
                .map(Self.subscription(from:))
        }
    }

    public func subscription(id: UUID) throws -> WebhookSubscription? {
        try run { connection in
            try connection.query("SELECT \(unescaped: Self.subscriptionColumns) FROM webhook_subscriptions s WHERE s.id = \(id)")
                .first.map(Self.subscription(from:))
        }
    }

    public func updateSubscription(id: UUID, _ change: WebhookSubscriptionChange) throws -> WebhookSubscription? {
        // A filter member is changed only when its flag says so; NULL then means "all".
        let rows = try run { connection in
            try connection.query("""
                WITH s AS (
                    UPDATE webhook_subscriptions SET
                        url = coalesce(\(change.url), url),
                        event_types = CASE WHEN \(change.eventTypes != nil) THEN \(Self.arrayLiteral(change.eventTypes??.map(\.rawValue)))::text[] ELSE event_types END,
                        workflow_ids = CASE WHEN \(change.workflowIds != nil) THEN \(Self.arrayLiteral(change.workflowIds??.map(\.lowercaseText)))::uuid[] ELSE workflow_ids END,
                        description = coalesce(\(change.description), description),
                        active = coalesce(\(change.active), active),
                        disabled_reason = CASE WHEN \(change.active)::bool THEN NULL ELSE disabled_reason END,
                        consecutive_failures = CASE WHEN \(change.active)::bool THEN 0 ELSE consecutive_failures END,
                        failing_since = CASE WHEN \(change.active)::bool THEN NULL ELSE failing_since END,
                        updated_at = now()
                    WHERE id = \(id)
                    RETURNING *
                )
                SELECT \(unescaped: Self.subscriptionColumns) FROM s
                """)
        }
        return try rows.first.map(Self.subscription(from:))
    }

    public func deleteSubscription(id: UUID) throws -> Bool {
        try run { connection in try connection.query("DELETE FROM webhook_subscriptions WHERE id = \(id)").affectedRows > 0 }
    }

    public func rotateSecret(id: UUID, to secret: WebhookSecret, grace: Duration) throws -> WebhookSubscription? {
        let rows = try run { connection in
            try connection.query("""
                WITH s AS (
                    UPDATE webhook_subscriptions SET previous_secret = secret, secret = \(secret.text),
                        previous_secret_expires_at = now() + \(Int(grace.components.seconds))::int * interval '1 second',
                        updated_at = now()
                    WHERE id = \(id)
                    RETURNING *
                )
                SELECT \(unescaped: Self.subscriptionColumns) FROM s
                """)
        }
        return try rows.first.map(Self.subscription(from:))
    }

    public func deliveries(subscriptionId: UUID, limit: Int) throws -> [WebhookDelivery]? {
        try run { connection in
            // Events written since the workers last looked are listed too.
            _ = try Self.fanOut(on: connection, limit: Self.fanOutBatch)
            let rows = try connection.query("""
                SELECT \(unescaped: Self.deliveryColumns)
                FROM webhook_subscriptions s
                LEFT JOIN LATERAL (
                    SELECT * FROM webhook_deliveries WHERE subscription_id = s.id ORDER BY event_id DESC LIMIT \(limit)::int
                ) d ON true
                LEFT JOIN workflow_events e ON e.id = d.event_id
                WHERE s.id = \(subscriptionId)
                ORDER BY d.event_id DESC
                """)
            guard !rows.isEmpty else { return nil }
            return try rows.filter { !$0.isNull(0) }.map(Self.delivery(from:))
        }
    }

    public func redeliver(subscriptionId: UUID, deliveryId: UUID) throws -> WebhookDelivery? {
        let rows = try run { connection in
            try connection.query("""
                WITH d AS (
                    UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = now(),
                        retry_until = now() + interval '\(unescaped: String(WebhookRetryPolicy.retryWindowHours)) hours',
                        completed_at = NULL
                    WHERE id = \(deliveryId) AND subscription_id = \(subscriptionId)
                    RETURNING *
                )
                SELECT \(unescaped: Self.deliveryColumns) FROM d LEFT JOIN workflow_events e ON e.id = d.event_id
                """)
        }
        return try rows.first.map(Self.delivery(from:))
    }

    // MARK: Delivery workers

    /// Outbox rows one fan-out moves (each becomes a delivery per subscription it matched).
    public static let fanOutBatch = 1000
    /// The transaction-level advisory lock one fan-out holds, so that fan-outs never overlap.
    static let fanOutLockKey: Int64 = 0x7765_6268_6F6F_6B73

    /// Moves up to `limit` events from the outbox into delivery rows, one per subscription each event
    /// matched (a subscription deleted meanwhile gets none), and says how many events it moved.
    ///
    /// Fan-outs take turns (a transaction-level advisory lock: a process that finds it taken moves nothing
    /// and lets the holder work) and move the oldest events first. That keeps delivery rows appearing in
    /// event order per instance: events of one instance commit in event order (each writer holds the
    /// instance's row), so an event visible here has its instance's earlier events visible too, and
    /// they are fanned out by this same statement or an earlier one, never a concurrent one. The claim's
    /// "is an earlier delivery pending" check relies on that. One statement, so it also runs as one
    /// transaction behind a transaction-mode pooler.
    public func fanOut(limit: Int = Self.fanOutBatch) throws -> Int {
        try run { connection in try Self.fanOut(on: connection, limit: limit) }
    }

    static func fanOut(on connection: PostgresConnection, limit: Int) throws -> Int {
        let rows = try connection.query("""
            WITH turn AS MATERIALIZED (SELECT pg_try_advisory_xact_lock(\(fanOutLockKey)) AS mine),
            o AS (
                DELETE FROM webhook_outbox WHERE event_id IN (
                    SELECT event_id FROM webhook_outbox WHERE (SELECT mine FROM turn) ORDER BY event_id LIMIT \(limit)::int)
                RETURNING event_id, workflow_instance_id, subscription_ids
            ), d AS (
                INSERT INTO webhook_deliveries (subscription_id, event_id, workflow_instance_id)
                SELECT s.id, o.event_id, o.workflow_instance_id
                FROM o CROSS JOIN LATERAL unnest(o.subscription_ids) AS u(id)
                JOIN webhook_subscriptions s ON s.id = u.id
                WHERE EXISTS (SELECT 1 FROM workflow_events e WHERE e.id = o.event_id)
                ORDER BY o.event_id
                ON CONFLICT (subscription_id, event_id) DO NOTHING
            )
            SELECT count(*)::int8 FROM o
            """)
        return try rows.first?.int(0) ?? 0
    }

    /// A delivery a worker holds a lease on: everything needed to send it, read in the claiming statement.
    public struct ClaimedDelivery: Sendable {
        public let id: UUID
        public let subscriptionId: UUID
        public let url: String
        /// The current secret first, then the previous one while its grace lasts.
        public let secrets: [WebhookSecret]
        /// The event as JSON, built by PostgreSQL: the same bytes on every attempt.
        public let payload: String
        /// Including this one.
        public let attempt: Int
        public let leaseToken: UUID
        public let workflowInstanceId: UUID
        public let eventId: Int64
    }

    /// Claims up to `limit` due deliveries for `lease`: the lease is committed at once, no transaction is
    /// held while the HTTP request runs, and a worker that dies leaves the delivery to be claimed again
    /// when the lease lapses. Per subscription and instance only the delivery of the earliest pending
    /// event is eligible, so a later event waits until the earlier one succeeded or was given up.
    public func claimDueDeliveries(limit: Int, lease: Duration) throws -> [ClaimedDelivery] {
        let token = UUID.random()
        let rows = try run { connection in
            _ = try Self.fanOut(on: connection, limit: Self.fanOutBatch)
            return try connection.query("""
                WITH c AS (
                    SELECT d.id FROM webhook_deliveries d
                    JOIN webhook_subscriptions s ON s.id = d.subscription_id AND s.active
                    WHERE d.state = 'pending' AND d.next_attempt_at <= now()
                      AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= now())
                      AND NOT EXISTS (
                          SELECT 1 FROM webhook_deliveries p
                          WHERE p.subscription_id = d.subscription_id AND p.workflow_instance_id = d.workflow_instance_id
                            AND p.state = 'pending' AND p.event_id < d.event_id)
                    ORDER BY d.next_attempt_at
                    LIMIT \(limit)::int
                    FOR UPDATE OF d SKIP LOCKED
                ), d AS (
                    UPDATE webhook_deliveries w
                    SET lease_token = \(token), attempts = w.attempts + 1,
                        lease_expires_at = now() + \(Int(lease.components.seconds))::int * interval '1 second'
                    FROM c WHERE w.id = c.id
                    RETURNING w.*
                )
                SELECT d.id, d.subscription_id, s.url, s.secret,
                       CASE WHEN s.previous_secret_expires_at > now() THEN s.previous_secret END,
                       jsonb_build_object(
                           'id', e.id, 'type', e.type, 'workflowInstanceId', e.workflow_instance_id,
                           'workflowDefinitionId', i.workflow_definition_id, 'fromStatus', e.from_status,
                           'toStatus', e.to_status, 'step', e.step, 'reason', e.reason, 'data', e.data, 'userId', e.user_id,
                           'occurredAt', to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))::text,
                       d.attempts, d.workflow_instance_id, d.event_id
                FROM d JOIN webhook_subscriptions s ON s.id = d.subscription_id
                JOIN workflow_events e ON e.id = d.event_id
                LEFT JOIN workflow_instances i ON i.id = e.workflow_instance_id
                ORDER BY d.next_attempt_at
                """)
        }
        return try rows.map { row in
            ClaimedDelivery(
                id: try row.uuid(0), subscriptionId: try row.uuid(1), url: try row.string(2),
                secrets: [WebhookSecret(text: try row.string(3))] + (row.optionalString(4).map { [WebhookSecret(text: $0)] } ?? []),
                payload: try row.string(5), attempt: try row.int(6), leaseToken: token, workflowInstanceId: try row.uuid(7),
                eventId: try row.int64(8))
        }
    }

    /// Hands a claimed delivery back unsent (the worker is stopping): due again at once, the attempt not counted.
    public func release(_ claimed: ClaimedDelivery) throws {
        _ = try run { connection in
            try connection.query("""
                UPDATE webhook_deliveries SET lease_token = NULL, lease_expires_at = NULL, attempts = attempts - 1
                WHERE id = \(claimed.id) AND lease_token = \(claimed.leaseToken)
                """)
        }
    }

    /// The outcome of one attempt, as the worker saw it.
    public struct AttemptResult: Sendable {
        public let succeeded: Bool
        public let statusCode: Int?
        /// Short and free of response bodies beyond a small excerpt.
        public let error: String?
        public let durationMilliseconds: Int
        /// The wait before the next attempt if this one failed.
        public let retryDelay: Duration

        public init(succeeded: Bool, statusCode: Int?, error: String?, durationMilliseconds: Int, retryDelay: Duration) {
            self.succeeded = succeeded
            self.statusCode = statusCode
            self.error = error
            self.durationMilliseconds = durationMilliseconds
            self.retryDelay = retryDelay
        }
    }

    /// What recording an attempt did.
    public struct Recorded: Sendable, Equatable {
        /// nil: the lease had lapsed and another worker owns the delivery now (nothing was written).
        public let state: WebhookDelivery.State?
        /// This failure switched the subscription off.
        public let disabledSubscription: Bool
    }

    /// Writes an attempt's outcome, only if the caller still holds the lease, and keeps the
    /// subscription's failure streak (switching it off past the policy's threshold).
    public func record(_ claimed: ClaimedDelivery, _ result: AttemptResult, policy: WebhookRetryPolicy) throws -> Recorded {
        let delayMicros = result.retryDelay.components.seconds * 1_000_000 + result.retryDelay.components.attoseconds / 1_000_000_000_000
        let disableSeconds = Int(policy.disableAfterFailingFor.components.seconds)
        let rows = try run { connection in
            try connection.query("""
                WITH d AS (
                    UPDATE webhook_deliveries SET
                        state = CASE WHEN \(result.succeeded) THEN 'succeeded'
                                     WHEN now() + \(delayMicros)::int8 * interval '1 microsecond' >= retry_until THEN 'failed'
                                     ELSE 'pending' END,
                        next_attempt_at = CASE WHEN \(result.succeeded) THEN next_attempt_at
                                               ELSE now() + \(delayMicros)::int8 * interval '1 microsecond' END,
                        completed_at = CASE WHEN \(result.succeeded) THEN now() END,
                        lease_token = NULL, lease_expires_at = NULL,
                        last_attempt_at = now(), last_status_code = \(result.statusCode)::int,
                        last_error = \(result.error.map { String($0.prefix(500)) }), last_duration_ms = \(result.durationMilliseconds)::int
                    WHERE id = \(claimed.id) AND lease_token = \(claimed.leaseToken)
                    RETURNING state, subscription_id
                ), s AS (
                    UPDATE webhook_subscriptions w SET
                        consecutive_failures = CASE WHEN \(result.succeeded) THEN 0 ELSE w.consecutive_failures + 1 END,
                        failing_since = CASE WHEN \(result.succeeded) THEN NULL ELSE coalesce(w.failing_since, now()) END,
                        active = w.active AND NOT (\(!result.succeeded) AND w.consecutive_failures + 1 >= \(policy.disableAfterFailures)::int
                            AND coalesce(w.failing_since, now()) <= now() - \(disableSeconds)::int * interval '1 second'),
                        disabled_reason = CASE
                            WHEN w.active AND \(!result.succeeded) AND w.consecutive_failures + 1 >= \(policy.disableAfterFailures)::int
                                AND coalesce(w.failing_since, now()) <= now() - \(disableSeconds)::int * interval '1 second'
                            THEN 'failing continuously since ' || to_char(w.failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                            ELSE w.disabled_reason END
                    FROM d WHERE w.id = d.subscription_id
                      -- A success touches the subscription only to end a failure streak: no write per delivery
                      -- on a row every worker delivering to it would otherwise queue for.
                      AND (NOT \(result.succeeded) OR w.consecutive_failures > 0 OR w.failing_since IS NOT NULL)
                    RETURNING w.active, (SELECT active FROM webhook_subscriptions WHERE id = w.id) AS was_active
                )
                SELECT d.state, coalesce((SELECT was_active AND NOT active FROM s), false) FROM d
                """)
        }
        guard let row = rows.first else { return Recorded(state: nil, disabledSubscription: false) }
        return Recorded(state: WebhookDelivery.State(rawValue: try row.string(0)), disabledSubscription: try row.bool(1))
    }

    /// Pending deliveries, those still in the outbox included, and how long the oldest due one has been
    /// waiting (seconds; 0 when none).
    public func queueStatistics() throws -> (pending: Int, oldestDueSeconds: Double) {
        try run { connection in
            let rows = try connection.query("""
                WITH d AS (
                    SELECT count(*) AS pending, min(next_attempt_at) FILTER (WHERE next_attempt_at <= now()) AS oldest
                    FROM webhook_deliveries WHERE state = 'pending'
                ), o AS (
                    SELECT coalesce(sum(cardinality(subscription_ids)), 0) AS pending, min(created_at) AS oldest FROM webhook_outbox
                )
                SELECT (d.pending + o.pending)::int8,
                       coalesce(extract(epoch FROM now() - least(d.oldest, o.oldest)), 0)::float8::text
                FROM d, o
                """)
            guard let row = rows.first else { return (0, 0) }
            return (try row.int(0), Double(try row.string(1)) ?? 0)
        }
    }

    // MARK: Plumbing

    /// A deadlock (a subscription deleted while a worker records an attempt of it) is retried like any
    /// write of the workflow repository.
    private func run<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try statements.run(body)
    }

    static func subscription(from row: PostgresRow) throws -> WebhookSubscription {
        func list<T>(_ column: Int, _ make: (Substring) -> T?) -> [T]? {
            row.optionalString(column).map { $0.split(separator: ",").compactMap(make) }
        }
        return WebhookSubscription(
            id: try row.uuid(0), url: try row.string(1), eventTypes: list(2) { WorkflowEventType(rawValue: String($0)) },
            workflowIds: list(3) { UUID(text: $0) }, description: try row.string(4), active: try row.bool(5),
            disabledReason: row.optionalString(6), consecutiveFailures: try row.int(7),
            previousSecretExpiresAt: row.isNull(8) ? nil : Timestamp(microsecondsSinceEpoch: try row.int64(8)),
            createdAt: Timestamp(microsecondsSinceEpoch: try row.int64(9)), updatedAt: Timestamp(microsecondsSinceEpoch: try row.int64(10)))
    }

    static func delivery(from row: PostgresRow) throws -> WebhookDelivery {
        func time(_ column: Int) throws -> Timestamp? {
            row.isNull(column) ? nil : Timestamp(microsecondsSinceEpoch: try row.int64(column))
        }
        guard let state = WebhookDelivery.State(rawValue: try row.string(5)) else {
            throw PostgresError(kind: .decoding, message: "unknown delivery state")
        }
        return WebhookDelivery(
            id: try row.uuid(0), subscriptionId: try row.uuid(1), eventId: try row.int64(2),
            eventType: row.optionalString(3).flatMap(WorkflowEventType.init(rawValue:)), workflowInstanceId: try row.uuid(4),
            state: state, attempts: try row.int(6), nextAttemptAt: try time(7), lastAttemptAt: try time(8),
            lastStatusCode: row.isNull(9) ? nil : try row.int(9), lastError: row.optionalString(10),
            lastDurationMilliseconds: row.isNull(11) ? nil : try row.int(11), createdAt: try time(12)!, completedAt: try time(13))
    }
}
