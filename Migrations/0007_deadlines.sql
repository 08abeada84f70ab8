-- Deadlines: the deadline job applies a wait's onTimeout once its due_at has passed, and records it as a
-- DeadlinePassed event whose actor is the system.
-- workflow_events.user_id: the user who acted; NULL when workflowd itself acted (a deadline passing).
-- The API says so on every event as `actor`: {"type":"user","id":...} or {"type":"system"}.
ALTER TABLE workflow_events ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE workflow_events DROP CONSTRAINT workflow_events_type_check;
ALTER TABLE workflow_events ADD CONSTRAINT workflow_events_type_check CHECK (type IN (
    'InstanceCreated', 'StatusChanged', 'StepCompleted', 'InputProvided', 'ApprovalGranted', 'ApprovalRejected',
    'DeadlinePassed'));
-- Only the system's own events have no user: a user's actions always name them.
ALTER TABLE workflow_events ADD CONSTRAINT workflow_events_user_unless_system
    CHECK (user_id IS NOT NULL OR type IN ('DeadlinePassed', 'StatusChanged'));

-- The deadline job's scan: waits whose deadline is still to be applied, oldest first. A Notify wait keeps
-- its due_at once overdue (it is still its deadline) but leaves this index, so overdue waits are not
-- scanned again at every poll. The job's WHERE repeats this predicate word for word.
DROP INDEX workflow_instances_due_at;
CREATE INDEX workflow_instances_deadline_pending ON workflow_instances (due_at)
    WHERE due_at IS NOT NULL AND NOT coalesce((awaiting->>'overdue')::boolean, false);
