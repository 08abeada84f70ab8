#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import TextCoding

/// The rules: the state machine, step progress and ownership. No I/O of its own. The role each operation
/// needs (`Capability`) is checked before it is called, by the API's route table.
public struct WorkflowService: Sendable {
    public let repository: any WorkflowRepository

    public init(repository: any WorkflowRepository) {
        self.repository = repository
    }

    // MARK: Definitions

    public func definitions() throws -> [WorkflowDefinition] {
        try repository.definitions()
    }

    public func definition(id: String) throws -> WorkflowDefinition {
        guard let definition = try repository.definition(id: id) else { throw WorkflowError.definitionNotFound(id) }
        return definition
    }

    // MARK: Instances

    /// The result of a create: the instance, and whether it is the replay of an earlier identical request.
    public struct Created: Sendable {
        public let instance: WorkflowInstance
        public let replayed: Bool
    }

    public func create(
        definitionId: String, parameters: JSONText, idempotency: IdempotencyClaim? = nil, by principal: Principal
    ) throws -> Created {
        let new = NewWorkflowInstance(id: UUID.timeOrdered(), definitionId: definitionId, userId: principal.userId, context: parameters)
        let event = NewWorkflowEvent(type: .instanceCreated, fromStatus: nil, toStatus: .created, step: 0)
        switch try repository.createInstance(new, event: event, idempotency: idempotency) {
        case .created(let instance): return Created(instance: instance, replayed: false)
        case .replayed(let instance): return Created(instance: instance.asCreated, replayed: true)
        case .keyReused: throw WorkflowError.idempotencyKeyReused
        }
    }

    public func instance(id: UUID, for principal: Principal) throws -> WorkflowInstance {
        return try visibleInstance(id: id, for: principal)
    }

    public struct ListFilter: Sendable {
        public var status: WorkflowStatus?
        public var definitionId: String?
        public var userId: UUID?
        /// Only instances whose `context` contains this JSON object (jsonb `@>`); validated by the caller.
        public var context: JSONText?
        /// Only instances whose `stepData` contains this JSON object (jsonb `@>`); validated by the caller.
        public var stepData: JSONText?
        public var cursor: String?
        public var limit: Int
        public init(
            status: WorkflowStatus? = nil, definitionId: String? = nil, userId: UUID? = nil, context: JSONText? = nil,
            stepData: JSONText? = nil, cursor: String? = nil, limit: Int = 20
        ) {
            self.status = status
            self.definitionId = definitionId
            self.userId = userId
            self.context = context
            self.stepData = stepData
            self.cursor = cursor
            self.limit = limit
        }
    }

    /// Newest first. Non-admins see only their own; only an Admin may filter by another user.
    public func list(_ filter: ListFilter, for principal: Principal) throws -> Page<WorkflowInstance> {
        let owner: UUID?
        if principal.isAdmin {
            owner = filter.userId
        } else if let requested = filter.userId, requested != principal.userId {
            throw WorkflowError.forbidden("Only an Admin may list another user's workflows.")
        } else {
            owner = principal.userId
        }
        let after = try filter.cursor.map { cursor throws(WorkflowError) in try CursorCoding.decodeInstanceCursor(cursor) }
        let query = InstanceQuery(
            ownerId: owner, status: filter.status, definitionId: filter.definitionId, context: filter.context,
            stepData: filter.stepData, after: after, limit: filter.limit + 1)
        let found = try repository.instances(matching: query)
        let items = Array(found.prefix(filter.limit))
        let next = found.count > filter.limit ? items.last.map { CursorCoding.encode(InstanceCursor(createdAt: $0.createdAt, id: $0.id)) } : nil
        return Page(items: items, nextCursor: next)
    }

    /// The caller's inbox: its own instances waiting for input (when it may act) and the approval waits
    /// it may decide now (when it may approve), newest wait first; `kind` keeps one of the two.
    public func tasks(kind: Awaiting.Kind?, cursor: String?, limit: Int, for principal: Principal) throws -> Page<WorkflowInstance> {
        let after = try cursor.map { cursor throws(WorkflowError) in try CursorCoding.decodeTaskCursor(cursor) }
        let query = TaskQuery(
            userId: principal.userId, input: kind != .approval && principal.canAct,
            approvals: kind != .input && Capability.approve.allows(principal), after: after, limit: limit + 1)
        let found = query.input || query.approvals ? try repository.tasks(query) : []
        let items = Array(found.prefix(limit))
        let next = found.count > limit
            ? items.last.map { CursorCoding.encode(task: InstanceCursor(createdAt: $0.statusChangedAt, id: $0.id)) } : nil
        return Page(items: items, nextCursor: next)
    }

    /// Moves the instance to `target`. `Created → Running` also starts the first step; a waiting target
    /// stores what it awaits (`awaiting`, or the plain wait of its kind). One conditional write: the
    /// database applies it if the stored state allows it, and otherwise reports what it found, from
    /// which the refusal is explained. `Running` out of `WaitingForApproval` needs the approvals, or an
    /// Admin's `override`.
    public func transition(
        id: UUID, to target: WorkflowStatus, reason: String?, awaiting: Awaiting? = nil, override: Bool = false,
        ifMatch: Int?, by principal: Principal
    ) throws -> WorkflowInstance {
        if override { return try overrideApproval(id: id, reason: reason, ifMatch: ifMatch, by: principal) }
        if awaiting?.approvers?.allowSelfApproval == true && !principal.isAdmin {
            throw WorkflowError.forbidden("Only an Admin may allow the initiator to approve their own workflow (awaiting.approvers.allowSelfApproval).")
        }
        let wait = Awaiting.Kind(waitingIn: target).map { awaiting ?? .plain($0) }
        let sources = Self.transitionSources[target.position]
        let outcome = try repository.transition(ConditionalTransition(
            instanceId: id, target: target, allowedFrom: sources.allowed, firstStepFrom: sources.firstStep,
            ownerId: principal.ownerScope, expectedVersion: ifMatch, reason: reason, actorId: principal.userId,
            awaiting: wait, onlyWithoutSchemaFrom: target == .running ? [.waitingForInput] : [],
            eventData: wait.map { JSONText(unchecked: $0.json(counts: false)) }))
        return try applied(outcome, ifMatch: ifMatch) { found in
            if found.status == .waitingForApproval && target == .running { return .approvalRequired }
            if found.status == .waitingForInput && target == .running { return .inputRequired }
            return found.status.canTransition(to: target) ? nil : .invalidTransition(from: found.status, to: target)
        }
    }

    /// An Admin ends an approval wait as approved without the approvals (a gate's step completes).
    private func overrideApproval(id: UUID, reason: String?, ifMatch: Int?, by principal: Principal) throws -> WorkflowInstance {
        guard principal.isAdmin else { throw WorkflowError.forbidden("Only an Admin may override an approval.") }
        let instance = try visibleInstance(id: id, for: principal)
        if let ifMatch, ifMatch != instance.version { throw WorkflowError.versionMismatch(current: instance.version) }
        guard instance.status == .waitingForApproval else {
            throw WorkflowError.notWaiting(expected: .waitingForApproval, actual: instance.status)
        }
        let outcome = try repository.decide(ConditionalDecision(
            instanceId: id, waitStartedAt: instance.statusChangedAt, kind: .override, comment: reason, approverId: principal.userId))
        return try applied(outcome, ifMatch: nil) { found in .notWaiting(expected: .waitingForApproval, actual: found.status) }
    }

    /// Answers a `WaitingForInput` wait: `check` validates `data` against the wait's schema (it throws
    /// `.invalidInput`), then one conditional write applies it on the version that was validated. When a
    /// concurrent change wins in between, the instance is read and checked once more.
    public func provideInput(
        id: UUID, data: JSONText, ifMatch: Int?, by principal: Principal, check: (JSONText) throws -> Void
    ) throws -> WorkflowInstance {
        var attempt = 0
        while true {
            attempt += 1
            let instance = try visibleInstance(id: id, for: principal)
            guard WorkflowActions.actsAsOwner(instance, principal) else {
                throw WorkflowError.forbidden("Only the workflow's owner or an Admin may provide its input.")
            }
            if let ifMatch, ifMatch != instance.version { throw WorkflowError.versionMismatch(current: instance.version) }
            guard instance.status == .waitingForInput else {
                throw WorkflowError.notWaiting(expected: .waitingForInput, actual: instance.status)
            }
            if let schema = instance.awaiting?.schema { try check(schema) }
            let outcome = try repository.provideInput(ConditionalInput(
                instanceId: id, ownerId: principal.ownerScope, expectedVersion: instance.version, data: data, actorId: principal.userId))
            if case .refused(let found?) = outcome, found.visible, found.status == .waitingForInput, ifMatch == nil, attempt < 2 { continue }
            return try applied(outcome, ifMatch: ifMatch) { found in
                found.status == .waitingForInput ? nil : .notWaiting(expected: .waitingForInput, actual: found.status)
            }
        }
    }

    /// Records an approver's decision on a `WaitingForApproval` wait. Who may decide is checked on the
    /// instance as read (the policy is fixed for a wait); the write applies only to that same wait and
    /// only if the approver has not decided on it yet, so concurrent decisions each count once.
    public func decide(id: UUID, decision: Decision, comment: String?, by principal: Principal) throws -> WorkflowInstance {
        let instance = try visibleInstance(id: id, for: principal)
        switch WorkflowActions.approvalRefusal(instance, by: principal) {
        case nil: break
        case .notAwaitingApproval?: throw WorkflowError.notWaiting(expected: .waitingForApproval, actual: instance.status)
        case .alreadyDecided?: throw WorkflowError.alreadyDecided
        case let refusal?: throw WorkflowError.notEligible(refusal.explanation)
        }
        let outcome = try repository.decide(ConditionalDecision(
            instanceId: id, waitStartedAt: instance.statusChangedAt, kind: .decision(decision), comment: comment,
            approverId: principal.userId))
        return try applied(outcome, ifMatch: nil) { found in
            found.status == .waitingForApproval ? .alreadyDecided : .notWaiting(expected: .waitingForApproval, actual: found.status)
        }
    }

    /// Retries a Failed instance as a new one (see `ConditionalRetry`); the owner or an Admin.
    public func retry(
        id: UUID, contextPatch: JSONText?, reason: String?, fromStep: Int?, by principal: Principal
    ) throws -> WorkflowInstance {
        let outcome = try repository.retry(ConditionalRetry(
            instanceId: id, newId: UUID.timeOrdered(), ownerId: principal.ownerScope, contextPatch: contextPatch ?? .emptyObject,
            reason: reason, fromStep: fromStep, actorId: principal.userId))
        switch outcome {
        case .created(let instance): return instance
        case .refused(let found):
            guard let found, found.visible else { throw WorkflowError.instanceNotFound }
            guard found.status == .failed else { throw WorkflowError.notFailed(found.status) }
            if let retriedAs = found.retriedAs { throw WorkflowError.alreadyRetried(retriedAs) }
            if let fromStep, !(1...found.totalSteps).contains(fromStep) { throw WorkflowError.invalidFromStep(totalSteps: found.totalSteps) }
            throw WorkflowError.contention
        }
    }

    /// See `WorkflowRepository.keyed`: a command's `Idempotency-Key` is the caller's own (the token's `sub`).
    public func keyed<Value>(
        _ claim: IdempotencyClaim, by principal: Principal, _ command: () throws -> KeyedAnswer<Value>
    ) throws -> KeyedCommand<Value> {
        try repository.keyed(claim, userId: principal.userId, command)
    }

    /// Per target (by position): the states a plain transition may leave for it (the table's, without the
    /// Admin's override), and those of them that start the first step. Derived once from the table, not
    /// filtered on every transition.
    private static let transitionSources: [(allowed: [WorkflowStatus], firstStep: [WorkflowStatus])] =
        WorkflowStatus.allCases.map { target in
            let allowed = WorkflowStatus.allCases.filter {
                $0.canTransition(to: target) && WorkflowActions.action(from: $0, to: target) != .override
            }
            return (allowed, allowed.filter { startsFirstStep(from: $0, to: target) })
        }

    /// Starting a created instance starts its first step.
    static func startsFirstStep(from: WorkflowStatus, to target: WorkflowStatus) -> Bool {
        from == .created && target == .running
    }

    /// Completes the current step (recording `output` under its id) and moves to the next one;
    /// after the last step the instance becomes `Completed`.
    public func advance(id: UUID, output: JSONText?, ifMatch: Int?, by principal: Principal) throws -> WorkflowInstance {
        let outcome = try repository.advance(ConditionalAdvance(
            instanceId: id, ownerId: principal.ownerScope, expectedVersion: ifMatch, output: output ?? .emptyObject,
            actorId: principal.userId))
        return try applied(outcome, ifMatch: ifMatch) { found in
            found.status == .running
                ? .unavailable("The definition of this workflow does not match the instance's step.") : .notRunning(found.status)
        }
    }

    /// The instance a conditional change produced, or the error that explains its refusal, in the order
    /// a client needs them: not visible (404), stale version (412), then the rule that refused it.
    private func applied(
        _ outcome: ChangeOutcome, ifMatch: Int?, rule: (FoundInstance) -> WorkflowError?
    ) throws -> WorkflowInstance {
        switch outcome {
        case .applied(let instance):
            return instance
        case .refused(let found):
            guard let found, found.visible else { throw WorkflowError.instanceNotFound }
            if let ifMatch, ifMatch != found.version { throw WorkflowError.versionMismatch(current: found.version) }
            // Every condition held where the row is, yet nothing applied: a writer changed it in between.
            throw rule(found) ?? WorkflowError.contention
        }
    }

    /// Oldest first, after the `cursor` of an earlier page or after the event `afterId` (a stream's
    /// `Last-Event-ID`).
    public func events(
        instanceId: UUID, cursor: String?, afterId: Int64? = nil, limit: Int, for principal: Principal
    ) throws -> Page<WorkflowEvent> {
        _ = try visibleInstance(id: instanceId, for: principal)
        let after = try cursor.map { cursor throws(WorkflowError) in try CursorCoding.decodeEventCursor(cursor) } ?? afterId
        let found = try repository.events(instanceId: instanceId, afterId: after, limit: limit + 1)
        let items = Array(found.prefix(limit))
        let next = found.count > limit ? items.last.map { CursorCoding.encode(eventId: $0.id) } : nil
        return Page(items: items, nextCursor: next)
    }

    // MARK: Feed

    /// A page of the feed of every instance the caller may see (`Principal.canSee`, judged on the instance
    /// as it is now), in feed order after `position`. `next` is where to continue: past the events looked
    /// at, visible or not, so an idle caller's position keeps up with everyone else's writes.
    public struct FeedPage: Sendable {
        public let items: [(event: WorkflowEvent, position: FeedPosition)]
        public let next: FeedPosition
        /// The page stopped at `limit` or at the scan bound: ask again at once for more.
        public let more: Bool
        /// Events the caller may see committed but wait behind a transaction still running (see `FeedSlice`).
        public let heldBack: Bool
    }

    /// Where a feed without a position starts: now (what commits from here on). The feed is for changes;
    /// an instance's history is its events listing.
    public func feedStart() throws -> FeedPosition { try repository.feedStart() }

    public func feedPosition(cursor: String) throws -> FeedPosition { try CursorCoding.decodeFeedCursor(cursor) }

    public static func feedCursor(_ position: FeedPosition) -> String { CursorCoding.encode(feed: position) }

    /// At most `limit` events after `position`, looking at no more than a few thousand events.
    public func feed(after position: FeedPosition, limit: Int, for principal: Principal) throws -> FeedPage {
        var position = position
        var items: [(event: WorkflowEvent, position: FeedPosition)] = []
        let approver = principal.has(.approver) && !principal.isAdmin ? principal.userId : nil
        for _ in 0..<4 {
            let slice = try repository.feed(FeedQuery(after: position, ownerId: principal.ownerScope, approverId: approver, scanLimit: 500))
            for item in slice.items where principal.canSee(item.instance) {
                items.append((item.event, item.position))
                if items.count == limit { return FeedPage(items: items, next: item.position, more: true, heldBack: false) }
            }
            position = slice.scannedTo ?? position
            if !slice.more { return FeedPage(items: items, next: position, more: false, heldBack: slice.heldBack) }
        }
        return FeedPage(items: items, next: position, more: true, heldBack: false)
    }

    // MARK: Helpers

    private func visibleInstance(id: UUID, for principal: Principal) throws -> WorkflowInstance {
        guard let instance = try repository.instance(id: id), principal.canSee(instance) else {
            throw WorkflowError.instanceNotFound
        }
        return instance
    }
}
