public import Foundation
public import Logging
import Metrics
import Synchronization
public import PostgresClient
public import Workflows
import TextCoding

/// The workflow repository on PostgreSQL. Every write is one statement (data-modifying CTEs), so an
/// instance change and its events commit together in a single round trip, or not at all.
public struct PostgresWorkflowRepository: WorkflowRepository {
    let pool: PostgresPool
    let logger: Logger
    /// Statements re-run after a serialization failure or deadlock, since start (also the metric
    /// `db_statement_retries_total`).
    public let retries = RetryCount()
    let statusMetrics = StatusChangeMetrics()
    /// Told of every committed change (instance id, owner id), after its commit: live updates notify
    /// waiting clients from there. Every write path that adds events must call it.
    let committed: (@Sendable (_ instanceId: UUID, _ ownerId: UUID) -> Void)?

    public init(pool: PostgresPool, logger: Logger, committed: (@Sendable (_ instanceId: UUID, _ ownerId: UUID) -> Void)? = nil) {
        self.pool = pool
        self.logger = logger
        self.committed = committed
    }

    public final class RetryCount: Sendable {
        let count = Atomic(0)
        public var value: Int { count.load(ordering: .relaxed) }
        static let counter = Counter(label: "db_statement_retries_total")
        func increment() {
            count.add(1, ordering: .relaxed)
            Self.counter.increment()
        }
    }

    /// The instance columns, in the order `instance(from:)` reads them; `i` is the instance, `docs` its
    /// documents (`documentsJoin`, or what a statement changed them to), `total` the step count.
    static let instanceColumns = """
        i.id, i.workflow_definition_id, i.user_id, i.status, i.current_step, total, docs.context::text, docs.step_data::text,
        i.version, (extract(epoch FROM i.created_at) * 1000000)::int8, (extract(epoch FROM i.updated_at) * 1000000)::int8,
        i.awaiting::text, (i.awaiting->'schema')::text, (i.awaiting->'output')::text,
        (extract(epoch FROM i.due_at) * 1000000)::int8, i.decided_by::text, (extract(epoch FROM i.status_changed_at) * 1000000)::int8,
        i.retry_of, i.retried_as, i.attempt, i.start_step
        """
    /// How many columns `instanceColumns` has (what `outcomeSelect` adds comes after them).
    static let instanceColumnCount = 21

    /// The documents (context, step_data) of instance `i` as `docs`, for a statement that did not change them.
    /// They are a table of their own so that a status change does not write their GIN indexes
    /// (Migrations/0015_instance_documents.sql).
    static let documentsJoin = "LEFT JOIN workflow_instance_documents docs ON docs.workflow_instance_id = i.id"

    public func definitions() throws -> [WorkflowDefinition] {
        try run { connection in
            let rows = try connection.query("""
                SELECT d.id, d.name, d.description, \(unescaped: Self.stepColumns)
                FROM workflow_definitions d, jsonb_array_elements(d.steps) WITH ORDINALITY AS s(step, ord)
                ORDER BY d.id, s.ord
                """)
            return try Self.definitions(from: rows)
        }
    }

    public func definition(id: String) throws -> WorkflowDefinition? {
        try run { connection in
            let rows = try connection.query("""
                SELECT d.id, d.name, d.description, \(unescaped: Self.stepColumns)
                FROM workflow_definitions d, jsonb_array_elements(d.steps) WITH ORDINALITY AS s(step, ord)
                WHERE d.id = \(id)
                ORDER BY s.ord
                """)
            return try Self.definitions(from: rows).first
        }
    }

    /// A step's columns: id, name and its approval gate (count, prompt, onReject; NULL without a gate).
    static let stepColumns = """
        s.step->>'id', s.step->>'name',
        CASE WHEN s.step ? 'approval' THEN coalesce((s.step->'approval'->>'count')::int, 1) END,
        s.step->'approval'->>'prompt', s.step->'approval'->>'onReject'
        """

    public func createInstance(
        _ new: NewWorkflowInstance, event: NewWorkflowEvent, idempotency: IdempotencyClaim?
    ) throws -> CreateOutcome {
        // One statement: the key (if any) is claimed first, and the instance and its event exist only if
        // the definition exists and the claim succeeded. A concurrent request with the same key waits on
        // the key's unique index until this one commits, then finds the key taken.
        let rows = try run { connection in
            try connection.query(PostgresQuery(Self.createSQL, binds: [
                new.definitionId, new.userId.postgresText, idempotency?.key, idempotency?.requestHash, new.id.postgresText,
                new.context.text, event.type.rawValue, event.fromStatus?.rawValue, event.toStatus?.rawValue, event.step.postgresText,
                event.reason, event.data?.text,
            ]))
        }
        if let row = rows.first {
            let instance = try Self.instance(from: row)
            changed(instance)
            return .created(instance)
        }
        guard let idempotency, let earlier = try earlierClaim(of: idempotency.key, by: new.userId) else {
            throw WorkflowError.unknownDefinition(new.definitionId)
        }
        guard earlier.requestHash == idempotency.requestHash else { return .keyReused }
        guard let instance = try instance(id: earlier.instanceId) else { throw WorkflowError.instanceNotFound }
        return .replayed(instance)
    }

    /// Keys are honoured this long; older ones may be reused and are purged.
    static let idempotencyWindow = "24 hours"

    /// The create statement, written once (building it by interpolation cost ~5 k instructions per create):
    /// $1 definition, $2 user, $3 idempotency key, $4 request hash, $5 instance id, $6 context, then the
    /// event's $7 type, $8 from, $9 to, $10 step, $11 reason, $12 data.
    static let createSQL = PostgresStatement("""
        WITH def AS (
            SELECT id, jsonb_array_length(steps) AS total FROM workflow_definitions WHERE id = $1
        ), k AS (
            INSERT INTO idempotency_keys (user_id, key, request_hash, workflow_instance_id)
            SELECT $2::uuid, $3::text, $4::text, $5::uuid
            FROM def WHERE $3::text IS NOT NULL
            ON CONFLICT (user_id, key) DO UPDATE
                SET request_hash = EXCLUDED.request_hash, workflow_instance_id = EXCLUDED.workflow_instance_id,
                    response_status = NULL, response_headers = NULL, response_body = NULL, created_at = now()
                WHERE idempotency_keys.created_at < now() - interval '\(idempotencyWindow)'
            RETURNING 1
        ), i AS (
            INSERT INTO workflow_instances (id, workflow_definition_id, user_id, status, current_step)
            SELECT $5::uuid, def.id, $2::uuid, 'Created', 0 FROM def
            WHERE $3::text IS NULL OR EXISTS (SELECT 1 FROM k)
            RETURNING *
        ), docs AS (
            INSERT INTO workflow_instance_documents (workflow_instance_id, context)
            SELECT i.id, $6::jsonb FROM i
            RETURNING *
        ), ev AS (
            INSERT INTO workflow_events (workflow_instance_id, type, from_status, to_status, step, reason, data, user_id, occurred_at)
            SELECT i.id, $7, $8, $9, $10::int, $11, $12::jsonb, i.user_id, i.created_at
            FROM i
        )
        SELECT \(instanceColumns) FROM i, def, docs
        """)

    private func earlierClaim(of key: String, by userId: UUID) throws -> (requestHash: String, instanceId: UUID)? {
        try run { connection in
            let rows = try connection.query("""
                SELECT request_hash, workflow_instance_id FROM idempotency_keys
                WHERE user_id = \(userId) AND key = \(key) AND created_at >= now() - interval '\(unescaped: Self.idempotencyWindow)'
                """)
            return try rows.first.map { (try $0.string(0), try $0.uuid(1)) }
        }
    }

    /// Deletes up to `batch` expired idempotency keys; returns how many. Cheap and safe to run from
    /// several processes at once (each statement touches only rows nobody reads any more).
    public func purgeExpiredIdempotencyKeys(batch: Int = 1000) throws -> Int {
        try run { connection in
            try connection.query("""
                DELETE FROM idempotency_keys WHERE ctid IN (
                    SELECT ctid FROM idempotency_keys WHERE created_at < now() - interval '\(unescaped: Self.idempotencyWindow)'
                    LIMIT \(batch)::int)
                """).affectedRows
        }
    }

    public func keyed<Value>(
        _ claim: IdempotencyClaim, userId: UUID, _ command: () throws -> KeyedAnswer<Value>
    ) throws -> KeyedCommand<Value> {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let (outcome, afterCommit) = try keyedTransaction(claim, userId: userId, command)
                afterCommit.forEach { $0() }
                return outcome
            } catch let error as PostgresError {
                // Rolled back whole (the key, the change and its answer): safe to run again from the start.
                if error.isRetryableConflict && attempt < 3 {
                    retries.increment()
                    continue
                }
                throw Self.domainError(for: error, logger: RequestScope.logger ?? logger)
            }
        }
    }

    /// One attempt of `keyed`: BEGIN; the key's lock (not waited for: held means in flight); the key's
    /// earlier answer, if any; else the command on this transaction's connection and its answer stored
    /// with the key; COMMIT. Returns what to do once committed (live-update notices, metrics).
    private func keyedTransaction<Value>(
        _ claim: IdempotencyClaim, userId: UUID, _ command: () throws -> KeyedAnswer<Value>
    ) throws -> (KeyedCommand<Value>, [() -> Void]) {
        var undone: KeyedCommand<Value>?
        return try pool.withConnection { connection in
            let bound = KeyedTransaction(connection: connection, pool: pool)
            do {
                let outcome: KeyedCommand<Value> = try connection.transaction { connection in
                    // The lock is a statement of its own: the next statement's snapshot is taken after it
                    // was granted, so it sees the answer of whoever held the key before.
                    let lock = try connection.query(
                        "SELECT pg_try_advisory_xact_lock(hashtextextended(\(userId.lowercaseText) || ' ' || \(claim.key), \(Self.keyLockSeed)::int8))")
                    guard try lock.first?.bool(0) == true else { return .inFlight }
                    let earlier = try connection.query("""
                        SELECT request_hash, response_status, response_headers, response_body FROM idempotency_keys
                        WHERE user_id = \(userId) AND key = \(claim.key) AND created_at >= now() - interval '\(unescaped: Self.idempotencyWindow)'
                        """)
                    if let row = earlier.first {
                        // A create's key holds an instance, not an answer: another kind of request.
                        guard try row.string(0) == claim.requestHash, !row.isNull(1) else { return .keyReused }
                        return .replay(StoredResponse(
                            status: try row.int(1), headers: StoredHeaders.decode(row.optionalString(2) ?? ""), body: row.optionalString(3) ?? ""))
                    }
                    let answer = try KeyedTransaction.$current.withValue(bound) { try command() }
                    guard let stored = answer.stored else {
                        undone = .ran(answer.value)
                        throw RollBack()
                    }
                    // An expired key is taken over; a live one can only be a create's that committed meanwhile
                    // (creates do not take the lock): then nothing of this request stays.
                    let kept = try connection.query("""
                        INSERT INTO idempotency_keys (user_id, key, request_hash, response_status, response_headers, response_body)
                        VALUES (\(userId), \(claim.key), \(claim.requestHash), \(stored.status)::int, \(StoredHeaders.encode(stored.headers)), \(stored.body))
                        ON CONFLICT (user_id, key) DO UPDATE
                            SET request_hash = EXCLUDED.request_hash, workflow_instance_id = NULL, response_status = EXCLUDED.response_status,
                                response_headers = EXCLUDED.response_headers, response_body = EXCLUDED.response_body, created_at = now()
                            WHERE idempotency_keys.created_at < now() - interval '\(unescaped: Self.idempotencyWindow)'
                        RETURNING 1
                        """)
                    guard kept.count == 1 else {
                        undone = .keyReused
                        throw RollBack()
                    }
                    return .ran(answer.value)
                }
                return (outcome, bound.afterCommit)
            } catch is RollBack {
                return (undone!, [])
            }
        }
    }

    /// Seeds the hash that turns (user, key) into the advisory lock's number, apart from other locks'.
    static let keyLockSeed: Int64 = 0x6964_656D_706F_7465

    /// Runs `work` once what the current statement wrote is committed: at once, or, inside a keyed
    /// command, after its transaction commits (and never if it rolls back).
    private func whenCommitted(_ work: @escaping () -> Void) {
        if let bound = KeyedTransaction.current, bound.serves(pool) { bound.afterCommit.append(work) } else { work() }
    }

    /// How many waits are open and how many of them are overdue (marked so by `Notify`, or past `dueAt`
    /// and about to be applied: both are "`due_at` has passed", Migrations/0014), per kind, every kind
    /// listed. Reads indexes only, never the rows: the open count walks the inbox's partial index of the
    /// kind, the overdue count the waits past their deadline in `workflow_instances_wait_deadlines`.
    public func openWaits() throws -> [OpenWaits] {
        try run { connection in
            try connection.query(PostgresQuery(unsafeSQL: Self.openWaitsSQL, binds: [])).map { row in
                guard let kind = Awaiting.Kind(rawValue: try row.string(0)) else {
                    throw PostgresError(kind: .decoding, message: "unknown wait kind")
                }
                return OpenWaits(kind: kind, open: try row.int(1), overdue: try row.int(2))
            }
        }
    }

    /// One branch per kind with its status as a constant, so that each count is served by its partial
    /// index. Only the kinds' names become SQL text.
    static let openWaitsSQL = Awaiting.Kind.allCases.map { kind in
        """
        SELECT '\(kind.rawValue)',
               (SELECT count(*) FROM workflow_instances WHERE status = '\(kind.status.rawValue)')::int8,
               (SELECT count(*) FROM workflow_instances WHERE status = '\(kind.status.rawValue)' AND due_at <= now())::int8
        """
    }.joined(separator: " UNION ALL ")

    public func instance(id: UUID) throws -> WorkflowInstance? {
        try run { connection in
            let rows = try connection.query(PostgresQuery(Self.instanceByIdSQL, binds: [id.postgresText]))
            return try rows.first.map(Self.instance(from:))
        }
    }

    /// The most frequent statement (every get, and the reads before a change), written once rather than
    /// interpolated per request.
    static let instanceByIdSQL = PostgresStatement("""
        SELECT \(instanceColumns)
        FROM workflow_instances i
        CROSS JOIN LATERAL (SELECT jsonb_array_length(steps) AS total FROM workflow_definitions WHERE id = i.workflow_definition_id) d
        \(documentsJoin)
        WHERE i.id = $1
        """)

    public func instances(matching query: InstanceQuery) throws -> [WorkflowInstance] {
        var conditions: [String] = []
        var binds: [String?] = []
        func bind(_ value: String) -> String {
            binds.append(value)
            return "$\(binds.count)"
        }
        if let owner = query.ownerId { conditions.append("i.user_id = \(bind(owner.postgresText))::uuid") }
        if let status = query.status { conditions.append("i.status = \(bind(status.rawValue))") }
        if let definitionId = query.definitionId { conditions.append("i.workflow_definition_id = \(bind(definitionId))") }
        // Served by the GIN indexes (jsonb_path_ops) on each document; docs/scaling.md has the plans.
        if let context = query.context { conditions.append("docs.context @> \(bind(context.text))::jsonb") }
        if let stepData = query.stepData { conditions.append("docs.step_data @> \(bind(stepData.text))::jsonb") }
        if let after = query.after {
            let micros = bind(after.createdAt.microsecondsSinceEpoch.postgresText)
            let id = bind(after.id.postgresText)
            conditions.append(
                "(i.created_at, i.id) < (timestamptz 'epoch' + \(micros)::int8 * interval '1 microsecond', \(id)::uuid)")
        }
        let limit = bind(query.limit.postgresText)
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        // Only fixed fragments above become SQL text; every value is a bind parameter.
        let sql = """
            SELECT \(Self.instanceColumns)
            FROM workflow_instances i
            CROSS JOIN LATERAL (SELECT jsonb_array_length(steps) AS total FROM workflow_definitions WHERE id = i.workflow_definition_id) d
            \(Self.documentsJoin)
            \(whereClause)
            ORDER BY i.created_at DESC, i.id DESC
            LIMIT \(limit)::int
            """
        var statement = PostgresQuery(unsafeSQL: sql, binds: binds)
        // Whether to walk the newest-first index or to intersect the GIN posting lists and sort depends
        // on how many rows the filter matches: only a plan made with its value can tell.
        statement.plansEachExecution = query.context != nil || query.stepData != nil
        return try run { connection in
            try connection.query(statement).map(Self.instance(from:))
        }
    }

    public func tasks(_ query: TaskQuery) throws -> [WorkflowInstance] {
        guard let sql = Self.tasksSQL(input: query.input, approvals: query.approvals) else { return [] }
        // The first page starts after the end of time, so every page has the same index condition.
        let start = query.after ?? InstanceCursor(
            createdAt: Timestamp(microsecondsSinceEpoch: 253_402_300_799_999_999), id: UUID(uuidString: "ffffffff-ffff-ffff-ffff-ffffffffffff")!)
        let binds: [String?] = [
            query.userId.postgresText, start.createdAt.microsecondsSinceEpoch.postgresText, start.id.postgresText, query.limit.postgresText,
        ]
        return try run { connection in
            try connection.query(PostgresQuery(unsafeSQL: sql, binds: binds)).map(Self.instance(from:))
        }
    }

    /// The inbox's statement for the kinds asked for (nil for none), written once per combination:
    /// $1 caller, $2 and $3 the cursor (µs, id), $4 the limit.
    static func tasksSQL(input: Bool, approvals: Bool) -> String? {
        switch (input, approvals) {
        case (true, true): inboxSQL[0]
        case (true, false): inboxSQL[1]
        case (false, true): inboxSQL[2]
        case (false, false): nil
        }
    }

    /// One branch per kind, each walking its partial index newest wait first (input: the caller's own, by
    /// user_id; approvals: every approval wait, filtered by eligibility), merged and cut to the limit;
    /// docs/scaling.md has the plans. The limit is read through a subquery so that the planner cannot see
    /// its value: a plan made for the value (LIMIT 21) looks cheaper than the generic plan, which must guess
    /// (10 % of the rows), and from about 1 M instances on PostgreSQL then planned the statement anew at
    /// every execution (0.35 ms each, more than running it). Unseen in both, the generic plan is chosen after
    /// five executions, with the same shape (both index walks merged in order, the definitions by key).
    private static let inboxSQL: [String] = {
        let limit = "(SELECT $4::int)"
        let after = "AND (i.status_changed_at, i.id) < (timestamptz 'epoch' + $2::int8 * interval '1 microsecond', $3::uuid)"
        let input = """
            (SELECT i.* FROM workflow_instances i
             WHERE i.status = 'WaitingForInput' AND i.user_id = $1::uuid \(after)
             ORDER BY i.status_changed_at DESC, i.id DESC LIMIT \(limit))
            """
        let approvals = """
            (SELECT i.* FROM workflow_instances i
             WHERE i.status = 'WaitingForApproval' \(after)
               AND (i.user_id <> $1::uuid OR coalesce((i.awaiting->'approvers'->>'allowSelfApproval')::boolean, false))
               AND (NOT coalesce(i.awaiting->'approvers' ? 'userIds', false) OR i.awaiting->'approvers'->'userIds' ? $1::text)
               AND NOT coalesce(i.awaiting->'decisions', '[]') @> jsonb_build_array(jsonb_build_object('userId', $1::text))
             ORDER BY i.status_changed_at DESC, i.id DESC LIMIT \(limit))
            """
        return [[input, approvals], [input], [approvals]].map { branches in
            """
            SELECT \(instanceColumns)
            FROM (\(branches.joined(separator: " UNION ALL "))) i
            CROSS JOIN LATERAL (SELECT jsonb_array_length(steps) AS total FROM workflow_definitions WHERE id = i.workflow_definition_id) d
            \(documentsJoin)
            ORDER BY i.status_changed_at DESC, i.id DESC
            LIMIT \(limit)
            """
        }
    }()

    public func transition(_ t: ConditionalTransition) throws -> ChangeOutcome {
        // `old` locks the row and reads it as it is now (a concurrent writer is waited for), so the
        // conditions, the event's fromStatus and a refusal's explanation all see the same, latest state.
        return try conditionalChange(PostgresQuery(Self.transitionSQL, binds: [
            t.ownerId?.postgresText, t.instanceId.postgresText, t.target.rawValue, Self.arrayText(t.firstStepFrom),
            t.awaiting.map { $0.json(counts: false) }, t.awaiting?.dueAt?.microsecondsSinceEpoch.postgresText,
            Self.arrayText(t.allowedFrom), Self.arrayText(t.onlyWithoutSchemaFrom), t.expectedVersion?.postgresText,
            WorkflowEventType.statusChanged.rawValue, t.reason, t.eventData?.text, t.actorId.postgresText,
        ]))
    }

    /// The transition statement, written once (the most frequent write; interpolating it cost ~5 k
    /// instructions per request): $1 owner scope, $2 instance, $3 target, $4 states that start the first
    /// step, $5 the wait, $6 its due time (µs), $7 allowed states, $8 states allowed only without a schema,
    /// $9 expected version, then the event's $10 type, $11 reason, $12 data, $13 actor.
    static let transitionSQL = PostgresStatement("""
        WITH old AS (
            SELECT id, status, version, awaiting, status_changed_at, ($1::uuid IS NULL OR user_id = $1::uuid) AS visible
            FROM workflow_instances WHERE id = $2
            FOR UPDATE
        ), i AS (
            UPDATE workflow_instances w
            SET status = $3,
                current_step = CASE WHEN old.status = ANY($4::text[]) THEN w.start_step ELSE w.current_step END,
                awaiting = $5::jsonb, due_at = timestamptz 'epoch' + $6::int8 * interval '1 microsecond',
                status_changed_at = now(), version = w.version + 1, updated_at = now()
            FROM old
            WHERE w.id = old.id AND old.visible AND old.status = ANY($7::text[])
              AND NOT (old.status = ANY($8::text[]) AND coalesce(old.awaiting ? 'schema', false))
              AND ($9::int IS NULL OR w.version = $9::int)
            RETURNING w.*
        ), ev AS (
            INSERT INTO workflow_events (workflow_instance_id, type, from_status, to_status, step, reason, data, user_id, occurred_at)
            SELECT i.id, $10, old.status, i.status, i.current_step, $11, $12::jsonb, $13::uuid, i.updated_at
            FROM i, old
        )
        \(outcomeSelect)
        """)

    public func advance(_ a: ConditionalAdvance) throws -> ChangeOutcome {
        try conditionalChange(PostgresQuery(Self.advanceSQL, binds: [
            a.ownerId?.postgresText, a.instanceId.postgresText, a.output.text, a.expectedVersion?.postgresText, a.actorId.postgresText,
        ]))
    }

    /// Like `transition`; the step id, the step count, whether this was the last step and the step's approval
    /// gate come from the definition in the same statement, and the events are written in order (step, then
    /// completion). From a gated step the instance waits for the gate's approval instead, keeping the output
    /// with the wait. Written once, like the others: $1 owner scope, $2 instance, $3 the step's output,
    /// $4 expected version, $5 actor.
    static let advanceSQL = PostgresStatement("""
        WITH \(lockedStep(also: "d.steps -> (w.current_step - 1) -> 'approval' AS gate,")), i AS (
            UPDATE workflow_instances w
            SET status = CASE WHEN old.gate IS NOT NULL THEN 'WaitingForApproval'
                              WHEN old.current_step = old.step_count THEN 'Completed' ELSE 'Running' END,
                current_step = CASE WHEN old.gate IS NOT NULL OR old.current_step = old.step_count THEN old.current_step
                                    ELSE old.current_step + 1 END,
                awaiting = CASE WHEN old.gate IS NOT NULL THEN jsonb_build_object(
                    'kind', 'approval', 'prompt', old.gate->>'prompt',
                    'approvers', jsonb_build_object('count', coalesce((old.gate->>'count')::int, 1), 'allowSelfApproval', false),
                    'onReject', coalesce(old.gate->>'onReject', 'Rework'), 'gate', true, 'output', $3::jsonb,
                    'decisions', '[]'::jsonb, 'overdue', false) END,
                status_changed_at = CASE WHEN old.gate IS NOT NULL OR old.current_step = old.step_count THEN now()
                                         ELSE w.status_changed_at END,
                version = w.version + 1, updated_at = now()
            FROM old
            WHERE w.id = old.id AND old.visible AND old.status = 'Running' AND old.current_step BETWEEN 1 AND old.step_count
              AND ($4::int IS NULL OR w.version = $4::int)
            RETURNING w.*
        ), \(stepDataChange(output: "$3::jsonb", stepOf: "old", when: "old.gate IS NULL")), ev AS (
            INSERT INTO workflow_events (workflow_instance_id, type, from_status, to_status, step, reason, data, user_id, occurred_at)
            SELECT i.id, e.type, e.from_status, e.to_status, old.current_step, e.reason, e.data, $5::uuid, i.updated_at
            FROM i, old, LATERAL (VALUES
                (1, '\(WorkflowEventType.stepCompleted.rawValue)', NULL, NULL, NULL, $3::jsonb),
                (2, '\(WorkflowEventType.statusChanged.rawValue)', 'Running', 'Completed', 'All steps completed', NULL),
                (3, '\(WorkflowEventType.statusChanged.rawValue)', 'Running', 'WaitingForApproval', 'Approval gate', i.awaiting)
            ) AS e(ord, type, from_status, to_status, reason, data)
            WHERE (e.ord = 1 AND i.status <> 'WaitingForApproval') OR (e.ord = 2 AND i.status = 'Completed')
               OR (e.ord = 3 AND i.status = 'WaitingForApproval')
            ORDER BY e.ord
        )
        \(outcomeSelectAfterStepDataChange)
        """)

    /// `old` of a step's change: the instance ($2) locked, with its definition's steps, and whether the owner
    /// scope ($1, NULL for none) lets the caller see it; `columns` adds to the selected ones.
    private static func lockedStep(also columns: String) -> String {
        """
        old AS (
            SELECT w.id, w.status, w.version, w.current_step, w.status_changed_at, d.steps, jsonb_array_length(d.steps) AS step_count,
                   \(columns) ($1::uuid IS NULL OR w.user_id = $1::uuid) AS visible
            FROM workflow_instances w JOIN workflow_definitions d ON d.id = w.workflow_definition_id
            WHERE w.id = $2
            FOR UPDATE OF w
        )
        """
    }

    public func provideInput(_ input: ConditionalInput) throws -> ChangeOutcome {
        try conditionalChange(PostgresQuery(Self.provideInputSQL, binds: [
            input.ownerId?.postgresText, input.instanceId.postgresText, input.data.text, input.expectedVersion.postgresText,
            input.actorId.postgresText,
        ]))
    }

    /// Like `advanceSQL`: the step id comes from the definition; the input ends the wait. $1 owner scope,
    /// $2 instance, $3 the input, $4 expected version, $5 actor.
    static let provideInputSQL = PostgresStatement("""
        WITH \(lockedStep(also: "")), i AS (
            UPDATE workflow_instances w
            SET status = 'Running', awaiting = NULL, due_at = NULL, status_changed_at = now(),
                version = w.version + 1, updated_at = now()
            FROM old
            WHERE w.id = old.id AND old.visible AND old.status = 'WaitingForInput' AND old.current_step BETWEEN 1 AND old.step_count
              AND w.version = $4::int
            RETURNING w.*
        ), \(stepDataChange(output: "$3::jsonb", stepOf: "old", when: "true")), ev AS (
            INSERT INTO workflow_events (workflow_instance_id, type, from_status, to_status, step, reason, data, user_id, occurred_at)
            SELECT i.id, e.type, e.from_status, e.to_status, old.current_step, e.reason, e.data, $5::uuid, i.updated_at
            FROM i, old, LATERAL (VALUES
                (1, '\(WorkflowEventType.inputProvided.rawValue)', NULL, NULL, NULL, $3::jsonb),
                (2, '\(WorkflowEventType.statusChanged.rawValue)', 'WaitingForInput', 'Running', 'Input provided', NULL)
            ) AS e(ord, type, from_status, to_status, reason, data)
            ORDER BY e.ord
        )
        \(outcomeSelectAfterStepDataChange)
        """)

    public func decide(_ d: ConditionalDecision) throws -> ChangeOutcome {
        let decision: String? = if case .decision(let value) = d.kind { value.rawValue } else { nil }
        return try conditionalChange(PostgresQuery(Self.decideSQL, binds: [
            d.instanceId.postgresText, (d.kind == .override).postgresText, decision,
            d.waitStartedAt.microsecondsSinceEpoch.postgresText, d.approverId.postgresText, d.comment,
        ]))
    }

    /// `old` locks the row; `c` keeps it only if it is still the same wait and the approver has not decided
    /// on it, and works out what this decision does: the count-th approval (or an override) ends the wait and
    /// completes a gate's step, a rejection applies onReject, any other approval is recorded. Concurrent
    /// decisions queue on the lock, so each sees the ones before it. $1 instance, $2 override, $3 the
    /// decision (approve, reject; NULL for an override), $4 when the wait began (µs), $5 approver, $6 comment.
    static let decideSQL = PostgresStatement("""
        WITH old AS (
            SELECT w.id, w.status, w.version, w.current_step, w.awaiting, w.status_changed_at, d.steps,
                   jsonb_array_length(d.steps) AS step_count, true AS visible
            FROM workflow_instances w JOIN workflow_definitions d ON d.id = w.workflow_definition_id
            WHERE w.id = $1
            FOR UPDATE OF w
        ), c AS (
            SELECT old.*, a.approvals, a.needed,
                   $2::bool OR ($3::text = 'approve' AND a.approvals >= a.needed) AS approved,
                   $3::text = 'reject' AS rejected,
                   old.awaiting ? 'output' AS gate, old.current_step = old.step_count AS last
            FROM old, LATERAL (SELECT
                (SELECT count(*) FROM jsonb_array_elements(old.awaiting->'decisions') e WHERE e->>'decision' = 'approve')::int
                    + CASE WHEN $3::text = 'approve' THEN 1 ELSE 0 END AS approvals,
                coalesce((old.awaiting->'approvers'->>'count')::int, 1) AS needed) a
            WHERE old.status = 'WaitingForApproval' AND old.current_step BETWEEN 1 AND old.step_count
              AND old.status_changed_at = timestamptz 'epoch' + $4::int8 * interval '1 microsecond'
              AND NOT coalesce(old.awaiting->'decisions', '[]') @> jsonb_build_array(jsonb_build_object('userId', $5::text))
        ), i AS (
            UPDATE workflow_instances w
            SET status = CASE WHEN c.rejected THEN CASE WHEN c.awaiting->>'onReject' = 'Fail' THEN 'Failed' ELSE 'Running' END
                              WHEN c.approved THEN CASE WHEN c.gate AND c.last THEN 'Completed' ELSE 'Running' END
                              ELSE w.status END,
                current_step = CASE WHEN c.approved AND c.gate AND NOT c.last THEN w.current_step + 1 ELSE w.current_step END,
                awaiting = CASE WHEN c.approved OR c.rejected THEN NULL
                                ELSE jsonb_set(w.awaiting, '{decisions}', coalesce(w.awaiting->'decisions', '[]') || jsonb_build_array(jsonb_build_object(
                                    'userId', $5::text, 'decision', $3::text,
                                    'decidedAt', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')))) END,
                due_at = CASE WHEN c.approved OR c.rejected THEN NULL ELSE w.due_at END,
                status_changed_at = CASE WHEN c.approved OR c.rejected THEN now() ELSE w.status_changed_at END,
                decided_by = CASE WHEN $2::bool OR $5::uuid = ANY(w.decided_by) THEN w.decided_by
                                  ELSE w.decided_by || $5::uuid END,
                version = w.version + 1, updated_at = now()
            FROM c
            WHERE w.id = c.id
            RETURNING w.*
        ), \(stepDataChange(output: "c.awaiting->'output'", stepOf: "c", when: "c.approved AND c.gate")), ev AS (
            INSERT INTO workflow_events (workflow_instance_id, type, from_status, to_status, step, reason, data, user_id, occurred_at)
            SELECT i.id, e.type, e.from_status, e.to_status, c.current_step, e.reason, e.data, $5::uuid, i.updated_at
            FROM i, c, LATERAL (VALUES
                (1, '\(WorkflowEventType.approvalGranted.rawValue)', NULL, NULL, $6::text,
                    jsonb_build_object('approvalsGiven', c.approvals, 'approvalsNeeded', c.needed), $3::text = 'approve'),
                (2, '\(WorkflowEventType.approvalRejected.rawValue)', NULL, NULL, $6::text,
                    jsonb_build_object('approvalsGiven', c.approvals, 'approvalsNeeded', c.needed), c.rejected),
                (3, '\(WorkflowEventType.stepCompleted.rawValue)', NULL, NULL, NULL, c.awaiting->'output', c.approved AND c.gate),
                (4, '\(WorkflowEventType.statusChanged.rawValue)', 'WaitingForApproval', i.status,
                    CASE WHEN $2::bool THEN $6::text WHEN c.rejected THEN 'Rejected'
                         WHEN i.status = 'Completed' THEN 'All steps completed' ELSE 'Approved' END,
                    CASE WHEN $2::bool THEN '{"override":true}'::jsonb END, i.status <> 'WaitingForApproval')
            ) AS e(ord, type, from_status, to_status, reason, data, wanted)
            WHERE e.wanted
            ORDER BY e.ord
        )
        \(outcomeSelectAfterStepDataChange)
        """)

    public func applyDeadlines(passedBy now: Timestamp, limit: Int) throws -> [WorkflowInstance] {
        // `old` takes the expired waits it can lock at once and skips those another process (or an answer)
        // holds: each is applied by whoever locked it, and a wait answered meanwhile has no due_at any more
        // when it is next looked at. The WHERE repeats the partial index's predicate so the index serves it.
        let rows = try run { connection in
            try connection.query("""
                WITH old AS (
                    SELECT w.id, w.status, w.status_changed_at, w.current_step, w.awaiting, w.due_at,
                           CASE w.awaiting->>'onTimeout' WHEN 'Fail' THEN 'Failed' WHEN 'Cancel' THEN 'Cancelled' END AS target
                    FROM workflow_instances w
                    WHERE w.due_at IS NOT NULL AND NOT coalesce((w.awaiting->>'overdue')::boolean, false)
                      AND w.due_at <= timestamptz 'epoch' + \(now.microsecondsSinceEpoch)::int8 * interval '1 microsecond'
                    ORDER BY w.due_at
                    LIMIT \(limit)::int
                    FOR UPDATE SKIP LOCKED
                ), i AS (
                    UPDATE workflow_instances w
                    SET status = coalesce(old.target, w.status),
                        awaiting = CASE WHEN old.target IS NULL THEN jsonb_set(w.awaiting, '{overdue}', 'true') END,
                        due_at = CASE WHEN old.target IS NULL THEN w.due_at END,
                        status_changed_at = CASE WHEN old.target IS NULL THEN w.status_changed_at ELSE now() END,
                        version = w.version + 1, updated_at = now()
                    FROM old
                    WHERE w.id = old.id
                    RETURNING w.*
                ), ev AS (
                    INSERT INTO workflow_events (workflow_instance_id, type, from_status, to_status, step, reason, data, user_id, occurred_at)
                    SELECT i.id, e.type, e.from_status, e.to_status, old.current_step, 'Deadline passed', e.data, NULL, i.updated_at
                    FROM i JOIN old ON old.id = i.id, LATERAL (VALUES
                        (1, \(WorkflowEventType.deadlinePassed.rawValue), NULL, NULL, jsonb_build_object(
                            'dueAt', to_char(old.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                            'onTimeout', coalesce(old.awaiting->>'onTimeout', 'Notify')), true),
                        (2, \(WorkflowEventType.statusChanged.rawValue), old.status, i.status, NULL, old.target IS NOT NULL)
                    ) AS e(ord, type, from_status, to_status, data, wanted)
                    WHERE e.wanted
                    ORDER BY i.id, e.ord
                )
                SELECT \(unescaped: Self.instanceColumns), old.status, (extract(epoch FROM old.status_changed_at) * 1000000)::int8
                FROM i JOIN old ON old.id = i.id
                CROSS JOIN LATERAL (SELECT jsonb_array_length(steps) AS total FROM workflow_definitions WHERE id = i.workflow_definition_id) d
                \(unescaped: Self.documentsJoin)
                """)
        }
        return try rows.map { row in
            let instance = try Self.instance(from: row)
            let found = Self.instanceColumnCount
            changed(instance, from: try Self.status(row, found), since: Timestamp(microsecondsSinceEpoch: try row.int64(found + 1)))
            return instance
        }
    }

    public func retry(_ r: ConditionalRetry) throws -> RetryOutcome {
        // `old` locks the failed instance and reads it as it is now, so of two retries at once the second
        // sees the first's retried_as and creates nothing. The new instance, both events and the link are
        // one statement; the context is merged by workflowd_merge_patch (Migrations/0009_retry.sql).
        let rows = try run { connection in
            try connection.query("""
                WITH old AS (
                    SELECT w.*, x.context, x.step_data, d.steps, jsonb_array_length(d.steps) AS step_count,
                           coalesce(\(r.fromStep)::int, w.current_step) AS from_step,
                           (\(r.ownerId)::uuid IS NULL OR w.user_id = \(r.ownerId)::uuid) AS visible
                    FROM workflow_instances w JOIN workflow_definitions d ON d.id = w.workflow_definition_id
                    JOIN workflow_instance_documents x ON x.workflow_instance_id = w.id
                    WHERE w.id = \(r.instanceId)
                    FOR UPDATE OF w
                ), ok AS (
                    SELECT old.* FROM old
                    WHERE old.visible AND old.status = 'Failed' AND old.retried_as IS NULL AND old.from_step BETWEEN 1 AND old.step_count
                ), i AS (
                    INSERT INTO workflow_instances (id, workflow_definition_id, user_id, status, current_step, retry_of, attempt, start_step)
                    SELECT \(r.newId)::uuid, ok.workflow_definition_id, ok.user_id, 'Created', 0, ok.id, ok.attempt + 1, ok.from_step
                    FROM ok
                    RETURNING *
                ), docs AS (
                    INSERT INTO workflow_instance_documents (workflow_instance_id, context, step_data)
                    SELECT i.id, workflowd_merge_patch(ok.context, \(r.contextPatch.text)::jsonb),
                           (SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb) FROM jsonb_each(ok.step_data) e
                            WHERE e.key IN (SELECT s.step->>'id' FROM jsonb_array_elements(ok.steps) WITH ORDINALITY AS s(step, ord)
                                            WHERE s.ord < ok.from_step))
                    FROM i, ok
                    RETURNING *
                ), link AS (
                    UPDATE workflow_instances w SET retried_as = i.id, version = w.version + 1, updated_at = now()
                    FROM i WHERE w.id = i.retry_of
                ), ev AS (
                    INSERT INTO workflow_events (workflow_instance_id, type, from_status, to_status, step, reason, data, user_id, occurred_at)
                    SELECT e.instance, e.type, NULL, e.to_status, e.step, \(r.reason), e.data, \(r.actorId)::uuid, i.created_at
                    FROM i JOIN ok ON ok.id = i.retry_of, LATERAL (VALUES
                        (1, ok.id, \(WorkflowEventType.retriedAs.rawValue), NULL, ok.current_step,
                            jsonb_build_object('retriedAs', i.id, 'attempt', i.attempt, 'fromStep', i.start_step)),
                        (2, i.id, \(WorkflowEventType.instanceCreated.rawValue), 'Created', 0,
                            jsonb_build_object('retryOf', ok.id, 'attempt', i.attempt, 'fromStep', i.start_step,
                                               'contextPatch', \(r.contextPatch.text)::jsonb))
                    ) AS e(ord, instance, type, to_status, step, data)
                    ORDER BY e.ord
                )
                SELECT \(unescaped: Self.instanceColumns), old.status, old.visible, old.step_count, old.retried_as
                FROM old LEFT JOIN i ON true LEFT JOIN docs ON true
                LEFT JOIN LATERAL (SELECT jsonb_array_length(steps) AS total FROM workflow_definitions WHERE id = i.workflow_definition_id) d ON true
                """)
        }
        guard let row = rows.first else { return .refused(nil) }
        if !row.isNull(0) {
            let created = try Self.instance(from: row)
            changed(created)
            whenCommitted { [committed] in committed?(r.instanceId, created.userId) }  // its RetriedAs event
            return .created(created)
        }
        let found = Self.instanceColumnCount
        return .refused(FoundRetry(
            status: try Self.status(row, found), visible: try row.bool(found + 1), totalSteps: try row.int(found + 2),
            retriedAs: row.isNull(found + 3) ? nil : try row.uuid(found + 3)))
    }

    /// The last part of a conditional change: the changed instance (`instanceColumns`, NULL when refused)
    /// and what `old` found (status, version, visible, since when in that status, after them; no row
    /// when there is no such instance).
    static let outcomeSelect = outcomeSelect(documents: documentsJoin)

    /// `outcomeSelect` of a statement with a `stepDataChange`: the documents as it left them (a CTE's
    /// change is not visible to the rest of its statement, so the changed row comes from its RETURNING).
    static let outcomeSelectAfterStepDataChange = outcomeSelect(documents: """
        LEFT JOIN LATERAL (
            SELECT n.context, n.step_data FROM new_docs n
            UNION ALL
            SELECT x.context, x.step_data FROM workflow_instance_documents x
            WHERE x.workflow_instance_id = i.id AND NOT EXISTS (SELECT 1 FROM new_docs)
        ) docs ON true
        """)

    private static func outcomeSelect(documents: String) -> String {
        """
        SELECT \(instanceColumns), old.status, old.version, old.visible, (extract(epoch FROM old.status_changed_at) * 1000000)::int8
        FROM old LEFT JOIN i ON true
        LEFT JOIN LATERAL (SELECT jsonb_array_length(steps) AS total FROM workflow_definitions WHERE id = i.workflow_definition_id) d ON true
        \(documents)
        """
    }

    /// The CTE `new_docs`: the changed instance's (`i`'s) step data with `output` under the id of the step
    /// that `row` (a CTE with the definition's `steps` and the instance's `current_step`) is at, `when` a
    /// condition holds; its documents row is written only then.
    private static func stepDataChange(output: String, stepOf row: String, when condition: String) -> String {
        """
        new_docs AS (
            UPDATE workflow_instance_documents x
            SET step_data = x.step_data || jsonb_build_object(\(row).steps -> (\(row).current_step - 1) ->> 'id', \(output))
            FROM i, \(row)
            WHERE x.workflow_instance_id = i.id AND \(condition)
            RETURNING x.context, x.step_data
        )
        """
    }

    /// Runs a statement ending in `outcomeSelect`.
    private func conditionalChange(_ query: PostgresQuery) throws -> ChangeOutcome {
        let rows = try run { connection in try connection.query(query) }
        guard let row = rows.first else { return .refused(nil) }
        let found = Self.instanceColumnCount
        let from = try Self.status(row, found)
        if !row.isNull(0) {
            let instance = try Self.instance(from: row)
            changed(instance, from: from, since: Timestamp(microsecondsSinceEpoch: try row.int64(found + 3)))
            return .applied(instance)
        }
        return .refused(FoundInstance(status: from, version: try row.int(found + 1), visible: try row.bool(found + 2)))
    }

    /// Every write that adds events reports its instance here, the one place that, once it is committed,
    /// tells live updates and, when the status changed (`from`, held since `since`), counts the transition
    /// and observes the time spent in the status it left.
    private func changed(_ instance: WorkflowInstance, from: WorkflowStatus? = nil, since: Timestamp? = nil) {
        whenCommitted { [committed, statusMetrics] in
            committed?(instance.id, instance.userId)
            guard let from, from != instance.status else { return }
            statusMetrics.transitioned(from: from, to: instance.status)
            if let since {
                statusMetrics.left(from, afterMicroseconds: instance.statusChangedAt.microsecondsSinceEpoch - since.microsecondsSinceEpoch)
            }
        }
    }

    /// `workflow_status_duration_seconds{status}`: time an instance spent in a status, observed as it
    /// leaves it (its buckets, seconds to days, are set where the metrics system is bootstrapped).
    public static let statusDurationLabel = "workflow_status_duration_seconds"

    public func events(instanceId: UUID, afterId: Int64?, limit: Int) throws -> [WorkflowEvent] {
        try run { connection in
            let rows = try connection.query("""
                SELECT id, workflow_instance_id, type, from_status, to_status, step, reason, data::text, user_id,
                       (extract(epoch FROM occurred_at) * 1000000)::int8
                FROM workflow_events
                WHERE workflow_instance_id = \(instanceId) AND id > \(afterId ?? 0)::int8
                ORDER BY id
                LIMIT \(limit)::int
                """)
            return try rows.map(Self.event(from:))
        }
    }

    // MARK: Feed

    /// Now, in feed terms: the oldest transaction still running. Every event it or a later transaction
    /// writes has a txid at or above it.
    public func feedStart() throws -> FeedPosition {
        try run { connection in
            let rows = try connection.query("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
            guard let text = rows.first?.optionalString(0), let txid = UInt64(text) else {
                throw PostgresError(kind: .decoding, message: "pg_snapshot_xmin did not return a transaction id")
            }
            return FeedPosition(txid: txid, eventId: 0)
        }
    }

    /// Walks `workflow_events_feed` in (txid, id) order from `after`, below the horizon (the oldest running
    /// transaction), at most `scanLimit` events; the candidates come with their instance (the columns of
    /// `instanceColumns` first, then the event's). One statement, one snapshot: the horizon, the events and
    /// `heldBack` agree.
    public func feed(_ query: FeedQuery) throws -> FeedSlice {
        let candidate = { (i: String) in
            "(\(i).user_id = $4::uuid OR $4::uuid IS NULL OR ($5::uuid IS NOT NULL AND (\(i).status = 'WaitingForApproval' OR $5::uuid = ANY(\(i).decided_by))))"
        }
        let sql = """
            WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS horizon),
            s AS (
                SELECT e.* FROM workflow_events e
                WHERE e.txid >= $1::xid8 AND (e.txid, e.id) > ($1::xid8, $2::int8) AND e.txid < (SELECT horizon FROM h)
                ORDER BY e.txid, e.id
                LIMIT $3::int
            )
            SELECT \(Self.instanceColumns),
                   s.id, s.workflow_instance_id, s.type, s.from_status, s.to_status, s.step, s.reason, s.data::text, s.user_id,
                   (extract(epoch FROM s.occurred_at) * 1000000)::int8, s.txid::text,
                   EXISTS (SELECT 1 FROM workflow_events x JOIN workflow_instances w ON w.id = x.workflow_instance_id
                           WHERE x.txid >= h.horizon AND \(candidate("w")))
            FROM h
            LEFT JOIN s ON true
            LEFT JOIN workflow_instances i ON i.id = s.workflow_instance_id AND \(candidate("i"))
            LEFT JOIN LATERAL (SELECT jsonb_array_length(steps) AS total FROM workflow_definitions WHERE id = i.workflow_definition_id) d ON true
            \(Self.documentsJoin)
            ORDER BY s.txid, s.id
            """
        // Only the fixed fragments above become SQL text; positions, users and the limit are binds.
        let binds: [String?] = [
            String(query.after.txid), query.after.eventId.postgresText, query.scanLimit.postgresText, query.ownerId?.postgresText,
            query.approverId?.postgresText,
        ]
        let rows = try run { connection in try connection.query(PostgresQuery(unsafeSQL: sql, binds: binds)) }
        let base = Self.instanceColumnCount
        var items: [(event: WorkflowEvent, position: FeedPosition, instance: WorkflowInstance)] = []
        var scanned = 0
        var last: FeedPosition?
        for row in rows where !row.isNull(base) {
            scanned += 1
            guard let txid = UInt64(try row.string(base + 10)) else {
                throw PostgresError(kind: .decoding, message: "bad txid in workflow_events")
            }
            let position = FeedPosition(txid: txid, eventId: try row.int64(base))
            last = position
            guard !row.isNull(0) else { continue }
            let event = try Self.event(from: row.columns(from: base))
            items.append((event, position, try Self.instance(from: row)))
        }
        let heldBack = try rows.first.map { try $0.bool(base + 11) } ?? false
        return FeedSlice(items: items, scannedTo: last, more: scanned == query.scanLimit, heldBack: heldBack)
    }

    // MARK: Plumbing

    /// Runs on a pooled connection; retries a serialization failure or deadlock (rolled back whole) a
    /// bounded number of times, and turns database errors into domain errors. (The webhook repository
    /// runs its statements through this too.)
    func run<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        // Inside a keyed command's transaction an error has aborted the whole transaction: it goes up as
        // it is, for `keyed` to roll back and, after a conflict, run again whole.
        if let bound = KeyedTransaction.current, bound.serves(pool) { return try body(bound.connection) }
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try pool.withConnection(body)
            } catch let error as PostgresError {
                if error.isRetryableConflict && attempt < 3 {
                    retries.increment()
                    continue
                }
                throw Self.domainError(for: error, logger: RequestScope.logger ?? logger)
            }
        }
    }

    static func domainError(for error: PostgresError, logger: Logger) -> any Error {
        if error.isTransient {
            logger.warning("database unavailable", metadata: ["error": "\(error)"])
            switch error.kind {
            case .poolTimeout: return WorkflowError.unavailable("All database connections are busy; try again shortly.")
            case .server where error.sqlState == "57014":
                return WorkflowError.unavailable("The database did not answer in time; try again shortly.")
            default: return WorkflowError.unavailable("The database is not reachable right now; try again shortly.")
            }
        }
        if error.kind == .server, let state = error.sqlState, state.hasPrefix("22") {
            return WorkflowError.invalidData("The database rejected a value as invalid (SQLSTATE \(state)).")
        }
        return error
    }

    static func definitions(from rows: PostgresRows) throws -> [WorkflowDefinition] {
        var result: [WorkflowDefinition] = []
        var steps: [WorkflowStep] = []
        var head: (id: String, name: String, description: String)?
        for row in rows {
            let id = try row.string(0)
            if let current = head, current.id != id {
                result.append(WorkflowDefinition(id: current.id, name: current.name, description: current.description, steps: steps))
                steps = []
            }
            if head?.id != id { head = (id, try row.string(1), try row.string(2)) }
            let gate = row.isNull(5) ? nil : ApprovalGate(
                count: try row.int(5), prompt: row.optionalString(6) ?? "",
                onReject: row.optionalString(7).flatMap(RejectAction.init(rawValue:)) ?? .rework)
            steps.append(WorkflowStep(id: try row.string(3), name: try row.string(4), approval: gate))
        }
        if let head { result.append(WorkflowDefinition(id: head.id, name: head.name, description: head.description, steps: steps)) }
        return result
    }

    static func instance(from row: PostgresRow) throws -> WorkflowInstance {
        WorkflowInstance(
            id: try row.uuid(0), definitionId: try row.string(1), userId: try row.uuid(2), status: try status(row, 3),
            currentStep: try row.int(4), totalSteps: try row.int(5), context: JSONText(unchecked: try row.string(6)),
            stepData: JSONText(unchecked: try row.string(7)), version: try row.int(8),
            createdAt: Timestamp(microsecondsSinceEpoch: try row.int64(9)),
            updatedAt: Timestamp(microsecondsSinceEpoch: try row.int64(10)),
            awaiting: try row.optionalString(11).map {
                try StoredAwaiting.decode($0, schema: row.optionalString(12), output: row.optionalString(13),
                                          dueAt: row.isNull(14) ? nil : try row.int64(14))
            },
            decidedBy: try uuidArray(row.string(15)),
            statusChangedAt: Timestamp(microsecondsSinceEpoch: try row.int64(16)),
            retryOf: row.isNull(17) ? nil : try row.uuid(17), retriedAs: row.isNull(18) ? nil : try row.uuid(18),
            attempt: try row.int(19), startStep: try row.int(20))
    }

    /// The state in `column`, read from the value's bytes.
    static func status(_ row: PostgresRow, _ column: Int) throws -> WorkflowStatus {
        guard let status = row.withBytes(column, { $0.flatMap(WorkflowStatus.init(utf8:)) }) else {
            throw PostgresError(kind: .decoding, message: "unknown status in workflow_instances")
        }
        return status
    }

    /// `{Created,Running}`: a set of states as a text[] literal, in declaration order (statements only ask
    /// `= ANY(...)` of it). Every such literal is written once: building three per transition with
    /// `map` and `joined`, or with `String.append`, cost 3-8 k instructions a transition.
    static func arrayText(_ states: [WorkflowStatus]) -> String {
        var set = 0
        for state in states { set |= 1 << state.position }
        return arrayTexts[set]
    }

    /// By set of states, as bits by position.
    private static let arrayTexts: [String] = (0..<(1 << WorkflowStatus.allCases.count)).map { set in
        "{" + WorkflowStatus.allCases.filter { set & (1 << $0.position) != 0 }.map(\.rawValue).joined(separator: ",") + "}"
    }

    /// `{a,b}` (a uuid[] as text) → [a, b].
    static func uuidArray(_ text: String) throws -> [UUID] {
        if text.utf8.count == 2 { return [] }  // `{}`: most instances, and every read of them
        return try text.dropFirst().dropLast().split(separator: ",").map { part in
            guard let id = UUID(text: part) else { throw PostgresError(kind: .decoding, message: "bad uuid[] in workflow_instances") }
            return id
        }
    }

    static func event(from row: PostgresRow) throws -> WorkflowEvent {
        guard let type = WorkflowEventType(rawValue: try row.string(2)) else {
            throw PostgresError(kind: .decoding, message: "unknown event type in workflow_events")
        }
        return WorkflowEvent(
            id: try row.int64(0), instanceId: try row.uuid(1), type: type,
            fromStatus: row.withBytes(3) { $0.flatMap(WorkflowStatus.init(utf8:)) },
            toStatus: row.withBytes(4) { $0.flatMap(WorkflowStatus.init(utf8:)) }, step: try row.int(5),
            reason: row.optionalString(6), data: row.optionalString(7).map(JSONText.init(unchecked:)),
            userId: row.isNull(8) ? nil : try row.uuid(8), occurredAt: Timestamp(microsecondsSinceEpoch: try row.int64(9)))
    }
}

/// Thrown to roll a keyed command's transaction back when it has an outcome but nothing may stay.
private struct RollBack: Error {}

/// The transaction of the keyed command running on this thread: while it is bound, the repository's
/// statements run on its connection, inside it, and what must wait for the commit is queued here.
/// `@unchecked Sendable`: a task-local bound for one synchronous call on one worker thread; no other
/// thread ever reaches it, as no other thread may use the connection.
final class KeyedTransaction: @unchecked Sendable {
    @TaskLocal static var current: KeyedTransaction?

    let connection: PostgresConnection
    private let pool: ObjectIdentifier
    var afterCommit: [() -> Void] = []

    init(connection: PostgresConnection, pool: PostgresPool) {
        self.connection = connection
        self.pool = ObjectIdentifier(pool)
    }

    /// Whether the connection is `pool`'s: another repository's statements go to their own pool.
    func serves(_ pool: PostgresPool) -> Bool { self.pool == ObjectIdentifier(pool) }
}

/// The open waits of one kind, for the gauges `workflow_waits_open` and `workflow_waits_overdue`.
public struct OpenWaits: Sendable, Hashable {
    public let kind: Awaiting.Kind
    public let open: Int
    public let overdue: Int
}
