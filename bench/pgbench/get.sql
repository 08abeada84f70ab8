-- The read workflowd sends for GET /workflows/{id} (PostgresWorkflowRepository.instance(id:)): by
-- primary key; workflowd checks the owner in Swift. The id bind is a random seeded instance,
-- md5('bench-get-' || n)::uuid with n in 1..:get_instances (bench/sql/seed.sql).
\set n random(1, :get_instances)
SELECT i.id, i.workflow_definition_id, i.user_id, i.status, i.current_step, total, docs.context::text, docs.step_data::text,
    i.version, (extract(epoch FROM i.created_at) * 1000000)::int8, (extract(epoch FROM i.updated_at) * 1000000)::int8
FROM workflow_instances i
CROSS JOIN LATERAL (SELECT jsonb_array_length(steps) AS total FROM workflow_definitions WHERE id = i.workflow_definition_id) d
LEFT JOIN workflow_instance_documents docs ON docs.workflow_instance_id = i.id
WHERE i.id = md5('bench-get-' || :n::text)::uuid;
