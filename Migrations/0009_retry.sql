-- Retry of a failed run: a new instance of the same definition, linked both ways, starting at a chosen step.
-- retry_of: the failed instance this one retries; attempt: 1 for a first run, n + 1 for a retry of attempt n.
-- retried_as: set on the failed instance by its (only) retry; start_step: the step Created → Running starts.
ALTER TABLE workflow_instances
    ADD COLUMN retry_of uuid REFERENCES workflow_instances (id),
    ADD COLUMN retried_as uuid REFERENCES workflow_instances (id),
    ADD COLUMN attempt integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    ADD COLUMN start_step integer NOT NULL DEFAULT 1 CHECK (start_step >= 1),
    ADD CONSTRAINT workflow_instances_retried_only_when_failed CHECK (retried_as IS NULL OR status = 'Failed');

ALTER TABLE workflow_events DROP CONSTRAINT workflow_events_type_check;
ALTER TABLE workflow_events ADD CONSTRAINT workflow_events_type_check CHECK (type IN (
    'InstanceCreated', 'StatusChanged', 'StepCompleted', 'InputProvided', 'ApprovalGranted', 'ApprovalRejected',
    'DeadlinePassed', 'RetriedAs'));

-- RFC 7386 JSON merge patch: an object patch merges member by member (recursively), a null member removes
-- the member, anything else replaces the target. PostgreSQL has no operator for it (`||` is shallow and
-- keeps nulls), and the retry statement needs it where the old context is.
CREATE FUNCTION workflowd_merge_patch(target jsonb, patch jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(patch) IS DISTINCT FROM 'object' THEN patch ELSE (
        SELECT coalesce(jsonb_object_agg(m.key, m.value), '{}'::jsonb) FROM (
            SELECT t.key, t.value
            FROM jsonb_each(CASE WHEN jsonb_typeof(target) = 'object' THEN target ELSE '{}'::jsonb END) t
            WHERE NOT patch ? t.key
            UNION ALL
            SELECT p.key, workflowd_merge_patch(CASE WHEN jsonb_typeof(target) = 'object' THEN target -> p.key END, p.value)
            FROM jsonb_each(patch) p
            WHERE jsonb_typeof(p.value) <> 'null'
        ) m)
    END
$$;
