-- The create statement workflowd sends (PostgresWorkflowRepository.createInstance): one statement,
-- instance and its InstanceCreated event in data-modifying CTEs, one round trip. Run by bench/run.sh
-- with pgbench -M prepared, -D def=… -D ctx=… -D evtype=InstanceCreated -D tostatus=Created -D step=0.
-- The same text with workflowd's binds as pgbench variables, except: the new id (workflowd makes
-- a UUID in Swift; pgbench cannot) is md5(client, random)::uuid and the owner is a seeded user
-- md5('bench-user-' || k)::uuid; the NULL binds (fromStatus, reason, data) are NULL literals.
\set u random(1, 100)
\set r random(1, 9223372036854775806)
WITH def AS (
    SELECT id, jsonb_array_length(steps) AS total FROM workflow_definitions WHERE id = :def
), i AS (
    INSERT INTO workflow_instances (id, workflow_definition_id, user_id, status, current_step)
    SELECT md5(:client_id::text || ':' || :r::text)::uuid, def.id, md5('bench-user-' || :u::text)::uuid, 'Created', 0 FROM def
    RETURNING *
), docs AS (
    INSERT INTO workflow_instance_documents (workflow_instance_id, context) SELECT i.id, :ctx::jsonb FROM i RETURNING *
), ev AS (
    INSERT INTO workflow_events (workflow_instance_id, type, from_status, to_status, step, reason, data, user_id, occurred_at)
    SELECT i.id, :evtype, NULL, :tostatus,
           :step::int, NULL, NULL::jsonb, i.user_id, i.created_at
    FROM i
)
SELECT i.id, i.workflow_definition_id, i.user_id, i.status, i.current_step, total, docs.context::text, docs.step_data::text,
    i.version, (extract(epoch FROM i.created_at) * 1000000)::int8, (extract(epoch FROM i.updated_at) * 1000000)::int8 FROM i, def, docs;
