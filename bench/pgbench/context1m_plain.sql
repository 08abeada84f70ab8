-- For the manual 1 M-row measurement in docs/scaling.md, on bench/sql/seed-context-1m.sql (not run by
-- make bench): pgbench -n -M prepared -c 16 -j 2 -T 10 -f bench/pgbench/context1m_plain.sql "$DATABASE_URL" (prepared: workflowd prepares the unfiltered listing)
-- The plain listing of a random one of users 2..1000 (about 800 instances each), page of 20.
-- The statement is the repository's listing.
\set k random(2, 1000)
SELECT i.id, i.workflow_definition_id, i.user_id, i.status, i.current_step, total, docs.context::text, docs.step_data::text, i.version, (extract(epoch FROM i.created_at) * 1000000)::int8, (extract(epoch FROM i.updated_at) * 1000000)::int8 FROM workflow_instances i CROSS JOIN LATERAL (SELECT jsonb_array_length(steps) AS total FROM workflow_definitions WHERE id = i.workflow_definition_id) d LEFT JOIN workflow_instance_documents docs ON docs.workflow_instance_id = i.id WHERE i.user_id = md5('ctx-user-' || :k)::uuid ORDER BY i.created_at DESC, i.id DESC LIMIT 21;
