#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A new instance to insert together with its creation event.
public struct NewWorkflowInstance: Sendable, Hashable {
    public let id: UUID
    public let definitionId: String
    public let userId: UUID
    public let context: JSONText
    public init(id: UUID, definitionId: String, userId: UUID, context: JSONText) {
        self.id = id
        self.definitionId = definitionId
        self.userId = userId
        self.context = context
    }
}

/// An `Idempotency-Key` sent with a create, and a fingerprint of the request it came with.
public struct IdempotencyClaim: Sendable, Hashable {
    public let key: String
    public let requestHash: String
    public init(key: String, requestHash: String) {
        self.key = key
        self.requestHash = requestHash
    }
}

/// What a create did.
public enum CreateOutcome: Sendable, Hashable {
    case created(WorkflowInstance)
    /// The key was used before with the same request: the instance it created (as it is now).
    case replayed(WorkflowInstance)
    /// The key was used before with a different request.
    case keyReused
}

/// A command's answer as it was sent, kept with its `Idempotency-Key` so that the same request replays it.
public struct StoredResponse: Sendable, Hashable {
    public let status: Int
    /// The headers a client reads back (Content-Type, ETag, Location), by name.
    public let headers: [String: String]
    public let body: String
    public init(status: Int, headers: [String: String], body: String) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// What a command sent with an `Idempotency-Key` produced, and whether its answer is to be kept.
public struct KeyedAnswer<Value> {
    public let value: Value
    /// The answer to keep with the key, committed together with the command's writes; nil: keep nothing
    /// and undo the command's writes too (a 5xx: the same request may be sent again with the key).
    public let stored: StoredResponse?
    public init(_ value: Value, stored: StoredResponse?) {
        self.value = value
        self.stored = stored
    }
}

/// What running a command under its `Idempotency-Key` found or did.
public enum KeyedCommand<Value> {
    /// The command ran now; its writes and its answer committed together (or, with no answer kept,
    /// neither did).
    case ran(Value)
    /// The same request was answered before: send this again.
    case replay(StoredResponse)
    /// The key was used in the last 24 hours with a different request.
    case keyReused
    /// A request with this key is being answered right now.
    case inFlight
}

/// A status change applied without reading the instance first: it happens only if the stored instance is
/// in one of `allowedFrom`, belongs to `ownerId` (nil: anyone's, for an Admin) and is at `expectedVersion`
/// when one is given. The service derives the lists from the transition table, so the rules stay in the
/// domain; the repository only checks them where the row is (one round trip instead of read + write).
public struct ConditionalTransition: Sendable, Hashable {
    public let instanceId: UUID
    public let target: WorkflowStatus
    public let allowedFrom: [WorkflowStatus]
    /// From these states the change also starts the first step (`currentStep = 1`); from the others the
    /// step stays as it is.
    public let firstStepFrom: [WorkflowStatus]
    public let ownerId: UUID?
    public let expectedVersion: Int?
    public let reason: String?
    /// Who made the change (recorded on its `StatusChanged` event).
    public let actorId: UUID
    /// What the target status awaits (stored while waiting; nil clears the wait).
    public let awaiting: Awaiting?
    /// From these states the change applies only when the stored wait has no schema (its input must
    /// come through `provideInput`).
    public let onlyWithoutSchemaFrom: [WorkflowStatus]
    /// Recorded as the `StatusChanged` event's data.
    public let eventData: JSONText?
    public init(
        instanceId: UUID, target: WorkflowStatus, allowedFrom: [WorkflowStatus], firstStepFrom: [WorkflowStatus],
        ownerId: UUID?, expectedVersion: Int?, reason: String?, actorId: UUID, awaiting: Awaiting? = nil,
        onlyWithoutSchemaFrom: [WorkflowStatus] = [], eventData: JSONText? = nil
    ) {
        self.awaiting = awaiting
        self.onlyWithoutSchemaFrom = onlyWithoutSchemaFrom
        self.eventData = eventData
        self.instanceId = instanceId
        self.target = target
        self.allowedFrom = allowedFrom
        self.firstStepFrom = firstStepFrom
        self.ownerId = ownerId
        self.expectedVersion = expectedVersion
        self.reason = reason
        self.actorId = actorId
    }
}

/// Completes the current step of a Running instance (recording `output` under the step's id in
/// `stepData`) and moves to the next step, or to `Completed` after the last one; from a step with an
/// approval gate it moves to `WaitingForApproval` with the gate's policy instead (keeping `output` with
/// the wait) — applied only if the
/// stored instance is Running at a step its definition has, belongs to `ownerId` (nil: anyone's) and is at
/// `expectedVersion` when one is given.
public struct ConditionalAdvance: Sendable, Hashable {
    public let instanceId: UUID
    public let ownerId: UUID?
    public let expectedVersion: Int?
    public let output: JSONText
    /// Who made the change (recorded on its events).
    public let actorId: UUID
    public init(instanceId: UUID, ownerId: UUID?, expectedVersion: Int?, output: JSONText, actorId: UUID) {
        self.instanceId = instanceId
        self.ownerId = ownerId
        self.expectedVersion = expectedVersion
        self.output = output
        self.actorId = actorId
    }
}

/// Answers a `WaitingForInput` instance: records `data` under the current step's id in `stepData`, ends the
/// wait and moves to `Running` (events `InputProvided`, then `StatusChanged`) — applied only if the stored
/// instance is still WaitingForInput at `expectedVersion` and belongs to `ownerId` (nil: anyone's).
public struct ConditionalInput: Sendable, Hashable {
    public let instanceId: UUID
    public let ownerId: UUID?
    /// The version the input was validated against (the wait's schema is part of it).
    public let expectedVersion: Int
    public let data: JSONText
    public let actorId: UUID
    public init(instanceId: UUID, ownerId: UUID?, expectedVersion: Int, data: JSONText, actorId: UUID) {
        self.instanceId = instanceId
        self.ownerId = ownerId
        self.expectedVersion = expectedVersion
        self.data = data
        self.actorId = actorId
    }
}

/// A decision on an approval wait, applied only if the stored instance is still in the same wait
/// (`WaitingForApproval` since `waitStartedAt`) and `approverId` has not decided on it yet. Where the row
/// is, it records the decision and, on the `count`-th approval (or an override), ends the wait: back to
/// `Running`, completing the step when the wait is a step's gate. A rejection applies `onReject`.
public struct ConditionalDecision: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case decision(Decision)
        /// An Admin ends the wait as approved without the approvals.
        case override
    }
    public let instanceId: UUID
    public let waitStartedAt: Timestamp
    public let kind: Kind
    /// The approver's comment, or the override's reason.
    public let comment: String?
    public let approverId: UUID
    public init(instanceId: UUID, waitStartedAt: Timestamp, kind: Kind, comment: String?, approverId: UUID) {
        self.instanceId = instanceId
        self.waitStartedAt = waitStartedAt
        self.kind = kind
        self.comment = comment
        self.approverId = approverId
    }
}

/// What a conditional change found where the row is, when it did not apply: enough for the service to
/// explain the refusal without reading the instance again.
public struct FoundInstance: Sendable, Hashable {
    public let status: WorkflowStatus
    public let version: Int
    /// Whether the instance belongs to the change's `ownerId` (always true for an Admin's change).
    public let visible: Bool
    public init(status: WorkflowStatus, version: Int, visible: Bool) {
        self.status = status
        self.version = version
        self.visible = visible
    }
}

/// The result of a conditional change: applied, or refused with what was found (nil: no such instance).
public enum ChangeOutcome: Sendable, Hashable {
    case applied(WorkflowInstance)
    case refused(FoundInstance?)
}

/// Retries a Failed instance: creates `newId`, an instance of the same definition and owner whose context is
/// the old one with `contextPatch` applied (RFC 7386 merge patch), whose step data holds the old step data
/// of the steps before `fromStep` (nil: the step that failed), and whose start begins at that step — with
/// its `InstanceCreated` event, the failed instance's `RetriedAs` event and its `retriedAs` link, all at
/// once. Applied only if the stored instance is Failed, not retried yet, belongs to `ownerId` (nil: anyone's)
/// and has the step.
public struct ConditionalRetry: Sendable, Hashable {
    public let instanceId: UUID
    public let newId: UUID
    public let ownerId: UUID?
    /// A JSON object.
    public let contextPatch: JSONText
    public let reason: String?
    public let fromStep: Int?
    public let actorId: UUID
    public init(
        instanceId: UUID, newId: UUID, ownerId: UUID?, contextPatch: JSONText, reason: String?, fromStep: Int?, actorId: UUID
    ) {
        self.instanceId = instanceId
        self.newId = newId
        self.ownerId = ownerId
        self.contextPatch = contextPatch
        self.reason = reason
        self.fromStep = fromStep
        self.actorId = actorId
    }
}

/// What a retry found where the row is, when it did not apply.
public struct FoundRetry: Sendable, Hashable {
    public let status: WorkflowStatus
    public let visible: Bool
    public let totalSteps: Int
    public let retriedAs: UUID?
    public init(status: WorkflowStatus, visible: Bool, totalSteps: Int, retriedAs: UUID?) {
        self.status = status
        self.visible = visible
        self.totalSteps = totalSteps
        self.retriedAs = retriedAs
    }
}

public enum RetryOutcome: Sendable, Hashable {
    /// The new instance.
    case created(WorkflowInstance)
    /// Nothing written; what was found (nil: no such instance).
    case refused(FoundRetry?)
}

/// Keyset position in the newest-first instance listing.
public struct InstanceCursor: Sendable, Hashable {
    public let createdAt: Timestamp
    public let id: UUID
    public init(createdAt: Timestamp, id: UUID) {
        self.createdAt = createdAt
        self.id = id
    }
}

public struct InstanceQuery: Sendable, Hashable {
    /// nil: everyone's (Admin only).
    public let ownerId: UUID?
    public let status: WorkflowStatus?
    public let definitionId: String?
    /// A JSON object the instance's `context` must contain, by PostgreSQL's jsonb `@>` rules: every key of
    /// an object present with a containing value, every element of an array matched by some element, scalars
    /// equal. nil: no condition.
    public let context: JSONText?
    /// The same over `stepData`.
    public let stepData: JSONText?
    public let after: InstanceCursor?
    public let limit: Int
    public init(
        ownerId: UUID?, status: WorkflowStatus?, definitionId: String?, context: JSONText? = nil, stepData: JSONText? = nil,
        after: InstanceCursor?, limit: Int
    ) {
        self.ownerId = ownerId
        self.status = status
        self.definitionId = definitionId
        self.context = context
        self.stepData = stepData
        self.after = after
        self.limit = limit
    }
}

/// The inbox: the waits one user can answer now, newest wait first (by `statusChangedAt`, then id).
public struct TaskQuery: Sendable, Hashable {
    /// The caller.
    public let userId: UUID
    /// Include the caller's own instances waiting for input.
    public let input: Bool
    /// Include the approval waits the caller is eligible for (not the initiator unless allowed, listed
    /// when the wait lists users) and has not decided on.
    public let approvals: Bool
    /// Keyset position: waits that began before this wait (its `createdAt` is the wait's statusChangedAt).
    public let after: InstanceCursor?
    public let limit: Int
    public init(userId: UUID, input: Bool, approvals: Bool, after: InstanceCursor?, limit: Int) {
        self.userId = userId
        self.input = input
        self.approvals = approvals
        self.after = after
        self.limit = limit
    }
}

/// Storage of definitions, instances and events. Implementations are synchronous (called from worker
/// threads), throw `WorkflowError` for every expected failure, and make each write atomic with its events.
public protocol WorkflowRepository: Sendable {
    func definitions() throws -> [WorkflowDefinition]
    func definition(id: String) throws -> WorkflowDefinition?
    /// Inserts the instance, `event` and the idempotency record (if any) atomically; a key seen in the last
    /// 24 hours creates nothing. Throws `.unknownDefinition` for a missing definition.
    func createInstance(_ instance: NewWorkflowInstance, event: NewWorkflowEvent, idempotency: IdempotencyClaim?) throws -> CreateOutcome
    func instance(id: UUID) throws -> WorkflowInstance?
    /// Newest first; at most `query.limit` items.
    func instances(matching query: InstanceQuery) throws -> [WorkflowInstance]
    /// The waits `query.userId` can answer now; at most `query.limit`, newest wait first.
    func tasks(_ query: TaskQuery) throws -> [WorkflowInstance]
    /// Applies the transition and its `StatusChanged` event (from the stored status, at the resulting
    /// step) atomically if every condition holds; otherwise writes nothing and returns what it found.
    func transition(_ transition: ConditionalTransition) throws -> ChangeOutcome
    /// Applies the advance with its `StepCompleted` event (and, after the last step, the `StatusChanged`
    /// event to `Completed`) atomically if every condition holds; otherwise writes nothing and returns
    /// what it found.
    func advance(_ advance: ConditionalAdvance) throws -> ChangeOutcome
    /// Applies the input with its events atomically if every condition holds; otherwise writes nothing
    /// and returns what it found.
    func provideInput(_ input: ConditionalInput) throws -> ChangeOutcome
    /// Applies the decision with its events atomically if every condition holds; otherwise writes
    /// nothing and returns what it found.
    func decide(_ decision: ConditionalDecision) throws -> ChangeOutcome
    /// Applies `onTimeout` to at most `limit` waits whose `dueAt` is at or before `now` and that were not
    /// applied yet: `Fail`/`Cancel` end the wait in `Failed`/`Cancelled` (events `DeadlinePassed`, then
    /// `StatusChanged`), `Notify` only marks it overdue (event `DeadlinePassed`); the events have no user.
    /// Each wait is applied once even when several processes run this at once, and a wait answered at the
    /// same moment ends exactly one way. Returns the changed instances.
    func applyDeadlines(passedBy now: Timestamp, limit: Int) throws -> [WorkflowInstance]
    /// Applies the retry with its events atomically if every condition holds; otherwise writes nothing and
    /// returns what it found.
    func retry(_ retry: ConditionalRetry) throws -> RetryOutcome
    /// Runs `command` as the holder of `userId`'s `Idempotency-Key`: the key's earlier answer is replayed
    /// instead when there is one (same request) and `.keyReused` given when the key was used for another
    /// request; otherwise `command` runs, and every write it makes through this repository commits in one
    /// transaction with the answer it returns, or none of it does (no key is ever left claimed without its
    /// answer, and no effect without its key). While it runs, the same key from anywhere is `.inFlight`.
    /// `command` may run more than once (a transaction lost to a deadlock is run again whole).
    func keyed<Value>(_ claim: IdempotencyClaim, userId: UUID, _ command: () throws -> KeyedAnswer<Value>) throws -> KeyedCommand<Value>
    /// Oldest first, with ids greater than `afterId`.
    func events(instanceId: UUID, afterId: Int64?, limit: Int) throws -> [WorkflowEvent]
    /// The feed's position now: what commits from here on comes after it.
    func feedStart() throws -> FeedPosition
    /// The next events of every instance, in feed order after `query.after`, that no running transaction
    /// can still precede (see `FeedPosition`).
    func feed(_ query: FeedQuery) throws -> FeedSlice
}

/// A place in the feed of every instance's events: events are ordered by (the writing transaction's id,
/// event id), and a position is only handed out once every transaction that could still write an event
/// before it has ended. So, unlike "event id > n", resuming after a position never skips an event that
/// committed late, and never repeats one. Each instance's events keep their id order (an event's txid is
/// raised to its instance's previous one's when lower: Migrations/0012_live_feed.sql).
public struct FeedPosition: Sendable, Hashable, Comparable {
    public let txid: UInt64
    public let eventId: Int64
    public init(txid: UInt64, eventId: Int64) {
        self.txid = txid
        self.eventId = eventId
    }
    public static func < (a: FeedPosition, b: FeedPosition) -> Bool { (a.txid, a.eventId) < (b.txid, b.eventId) }
}

public struct FeedQuery: Sendable, Hashable {
    public let after: FeedPosition
    /// Whose instances are candidates: nil for everyone's (an Admin). The repository narrows by it cheaply;
    /// `Principal.canSee` decides.
    public let ownerId: UUID?
    /// Also candidates: instances waiting for an approval or decided on by this user (an Approver's).
    public let approverId: UUID?
    /// At most this many events are looked at (visible to the caller or not), so one call's cost is bounded.
    public let scanLimit: Int
    public init(after: FeedPosition, ownerId: UUID?, approverId: UUID?, scanLimit: Int) {
        self.after = after
        self.ownerId = ownerId
        self.approverId = approverId
        self.scanLimit = scanLimit
    }
}

public struct FeedSlice: Sendable {
    /// The candidates among the events looked at, in feed order, with their instance as it is now.
    public let items: [(event: WorkflowEvent, position: FeedPosition, instance: WorkflowInstance)]
    /// The last event looked at (nil: none): the next call starts after it.
    public let scannedTo: FeedPosition?
    /// Whether `scanLimit` cut the scan short (more may follow at once).
    public let more: Bool
    /// Whether candidates committed already but are held back behind a transaction still running: the
    /// caller should look again soon, since that transaction's end may notify nobody it waits on.
    public let heldBack: Bool
    public init(
        items: [(event: WorkflowEvent, position: FeedPosition, instance: WorkflowInstance)], scannedTo: FeedPosition?, more: Bool,
        heldBack: Bool
    ) {
        self.items = items
        self.scannedTo = scannedTo
        self.more = more
        self.heldBack = heldBack
    }
}
