-- Human steps: what a waiting instance awaits, by when, and who decided on it.
-- awaiting: the wait's policy while the instance is WaitingForInput or WaitingForApproval, NULL otherwise
--   (prompt, schema, approvers, onReject, dueAt, onTimeout, the decisions so far, overdue).
-- due_at: the wait's deadline as a column, so the deadline job finds expired waits by index.
-- decided_by: every user who ever decided on one of the instance's approvals (they keep seeing it).
-- status_changed_at: when the instance entered its current status.
ALTER TABLE workflow_instances
    ADD COLUMN awaiting jsonb CHECK (awaiting IS NULL OR jsonb_typeof(awaiting) = 'object'),
    ADD COLUMN due_at timestamptz,
    ADD COLUMN decided_by uuid[] NOT NULL DEFAULT '{}',
    ADD COLUMN status_changed_at timestamptz;

UPDATE workflow_instances SET status_changed_at = updated_at;
ALTER TABLE workflow_instances
    ALTER COLUMN status_changed_at SET NOT NULL,
    ALTER COLUMN status_changed_at SET DEFAULT now(),
    ADD CONSTRAINT workflow_instances_awaiting_only_while_waiting
        CHECK (awaiting IS NULL OR status IN ('WaitingForInput', 'WaitingForApproval')),
    ADD CONSTRAINT workflow_instances_due_at_only_with_awaiting
        CHECK (due_at IS NULL OR awaiting IS NOT NULL);

-- The deadline job: the waits whose deadline passed, oldest first.
CREATE INDEX workflow_instances_due_at ON workflow_instances (due_at) WHERE due_at IS NOT NULL;

ALTER TABLE workflow_events DROP CONSTRAINT workflow_events_type_check;
ALTER TABLE workflow_events ADD CONSTRAINT workflow_events_type_check CHECK (type IN (
    'InstanceCreated', 'StatusChanged', 'StepCompleted', 'InputProvided', 'ApprovalGranted', 'ApprovalRejected'));
