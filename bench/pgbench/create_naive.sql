-- The naive create a straightforward repository would do: 6 round trips (check the definition;
-- BEGIN; INSERT the instance, its documents, its event; COMMIT). Same values as create_single.sql.
\set u random(1, 100)
\set r random(1, 9223372036854775806)
SELECT jsonb_array_length(steps) FROM workflow_definitions WHERE id = :def;
BEGIN;
INSERT INTO workflow_instances (id, workflow_definition_id, user_id, status, current_step)
    VALUES (md5(:client_id::text || ':' || :r::text)::uuid, :def, md5('bench-user-' || :u::text)::uuid, 'Created', 0)
    RETURNING *;
INSERT INTO workflow_instance_documents (workflow_instance_id, context)
    VALUES (md5(:client_id::text || ':' || :r::text)::uuid, :ctx::jsonb)
    RETURNING *;
INSERT INTO workflow_events (workflow_instance_id, type, from_status, to_status, step, reason, data, user_id, occurred_at)
    VALUES (md5(:client_id::text || ':' || :r::text)::uuid, :evtype, NULL, :tostatus, :step::int, NULL, NULL,
            md5('bench-user-' || :u::text)::uuid, now());
COMMIT;
