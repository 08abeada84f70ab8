-- The inbox (GET /api/v1/tasks): the waits a user can answer, newest wait first, keyset-paged on
-- (status_changed_at, id). Input tasks are the user's own instances waiting for input; approval tasks are
-- all approval waits, filtered by eligibility while the index is walked in order.
CREATE INDEX workflow_instances_input_tasks ON workflow_instances (user_id, status_changed_at DESC, id DESC)
    WHERE status = 'WaitingForInput';
CREATE INDEX workflow_instances_approval_tasks ON workflow_instances (status_changed_at DESC, id DESC)
    WHERE status = 'WaitingForApproval';
