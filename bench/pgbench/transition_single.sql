-- A transition-shaped write for bench/notify-cost.sh: the conditional UPDATE of one instance and its
-- StatusChanged event in one statement, as PostgresWorkflowRepository.transition sends it (simplified:
-- it flips a seeded Running/Paused instance, md5('notify-' || n)::uuid, so every run finds work).
\set n random(1, 20000)
WITH t AS (
    UPDATE workflow_instances
       SET status = CASE status WHEN 'Running' THEN 'Paused' ELSE 'Running' END, version = version + 1, updated_at = now()
     WHERE id = md5('notify-' || :n::text)::uuid AND status IN ('Running', 'Paused')
    RETURNING id, user_id, status, current_step
)
INSERT INTO workflow_events (workflow_instance_id, type, from_status, to_status, step, user_id)
SELECT t.id, 'StatusChanged', CASE t.status WHEN 'Running' THEN 'Paused' ELSE 'Running' END, t.status, t.current_step, t.user_id FROM t;
