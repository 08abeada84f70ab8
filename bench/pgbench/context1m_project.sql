-- For the manual 1 M-row measurement in docs/scaling.md, on bench/sql/seed-context-1m.sql (not run by
-- make bench): pgbench -n -M extended -c 16 -j 2 -T 10 -f bench/pgbench/context1m_project.sql "$DATABASE_URL"
-- Selective, as an Admin: everyone's instances filtered by a random project (100 of 1 000 000 match).
-- The statement is the repository's listing.
\set p random(0, 9999)
SELECT i.id, i.workflow_definition_id, i.user_id, i.status, i.current_step, total, docs.context::text, docs.step_data::text, i.version, (extract(epoch FROM i.created_at) * 1000000)::int8, (extract(epoch FROM i.updated_at) * 1000000)::int8 FROM workflow_instances i CROSS JOIN LATERAL (SELECT jsonb_array_length(steps) AS total FROM workflow_definitions WHERE id = i.workflow_definition_id) d LEFT JOIN workflow_instance_documents docs ON docs.workflow_instance_id = i.id WHERE docs.context @> ('{"project":"p-' || :p || '"}')::jsonb ORDER BY i.created_at DESC, i.id DESC LIMIT 21;
