#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// What can go wrong in the domain. The API layer maps each case to a status code in one place.
public enum WorkflowError: Error, Equatable, Sendable {
    /// The instance does not exist or is not visible to the caller.
    case instanceNotFound
    /// A definition looked up by id does not exist.
    case definitionNotFound(String)
    /// A create named a definition that does not exist (bad input, not a missing resource).
    case unknownDefinition(String)
    case invalidTransition(from: WorkflowStatus, to: WorkflowStatus)
    /// `advance` outside `Running`.
    case notRunning(WorkflowStatus)
    /// `If-Match` named a version that is no longer current.
    case versionMismatch(current: Int)
    /// The caller's roles do not allow this action.
    case forbidden(String)
    case invalidCursor
    /// An `Idempotency-Key` was used before with a different request.
    case idempotencyKeyReused
    /// The storage refused a value as invalid data (a safety net behind the API's own validation).
    case invalidData(String)
    /// Other writers kept winning the race for this instance.
    case contention
    /// A plain transition out of `WaitingForApproval` to `Running`: approval is given by
    /// `POST /approvals` (or an Admin's override).
    case approvalRequired
    /// A plain transition out of a `WaitingForInput` whose wait has a schema: the input goes to `POST /input`.
    case inputRequired
    /// An answer to a wait the instance is not in (it is `actual`, not `expected`).
    case notWaiting(expected: WorkflowStatus, actual: WorkflowStatus)
    /// The caller may not decide on this approval, and why.
    case notEligible(String)
    /// The caller already decided on this wait.
    case alreadyDecided
    /// Input that the wait's schema refuses: each failing instance path with its message.
    case invalidInput([InputViolation])
    /// A retry of an instance that is not Failed.
    case notFailed(WorkflowStatus)
    /// A retry of a failed instance that was already retried (as the given instance).
    case alreadyRetried(UUID)
    /// A retry's `fromStep` the definition does not have.
    case invalidFromStep(totalSteps: Int)
    /// The storage is unreachable, overloaded or timed out; safe to retry later.
    case unavailable(String)
}

/// One way an input fails its wait's schema: the JSON Pointer of the failing value and why.
public struct InputViolation: Sendable, Hashable {
    public let path: String
    public let message: String
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
}
