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
    /// The storage is unreachable, overloaded or timed out; safe to retry later.
    case unavailable(String)
}
