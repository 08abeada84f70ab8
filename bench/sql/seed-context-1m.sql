-- A database for measuring the containment listing (docs/scaling.md, "Finding instances by context"):
-- run after `workflowd migrate` on a throwaway cluster; ~3 minutes on 2 cores, ~1.4 GB.
--   psql -v instances=1000000 -f bench/sql/seed-context-1m.sql
-- Statuses cycle Created, Running, Paused, WaitingForInput, Completed with n / 5 (also within user 1's).
-- Users: md5('ctx-user-' || k)::uuid. User 1 is a heavy user who owns every 5th instance (20 %);
-- users 2..1000 share the rest. Instance n (created_at rises with n) has the context
--   {"projectName": "Project n", "project": "p-<n % 10000>", "team": "team-<n % 7>", "priority": n % 5,
--    "tags": ["bench", "t<n % 97>"], "epic": {"id": n % 1000, "phase": "discovery|delivery"}}
-- so {"project": "p-4240"} matches 0.01 % (all of them the heavy user's: 4240 % 5 = 0),
-- {"project": "p-4241"} matches 0.01 % and none of the heavy user's, {"team": "team-3"} matches 1/7,
-- and {"tags": ["t17"]} about 1 %. Steps done so far are in step_data:
--   {"goals": {"database": "PostgreSQL|MySQL|SQLite"}} for every instance that is not Created.
\set ON_ERROR_STOP 1
BEGIN;
INSERT INTO workflow_instances (id, workflow_definition_id, user_id, status, current_step, version, created_at, updated_at)
SELECT md5('ctx-' || n)::uuid, 'create-prd',
       md5('ctx-user-' || CASE WHEN n % 5 = 0 THEN 1 ELSE 2 + n % 999 END)::uuid,
       (ARRAY['Created', 'Running', 'Paused', 'WaitingForInput', 'Completed'])[n / 5 % 5 + 1],
       CASE n / 5 % 5 WHEN 0 THEN 0 ELSE 1 END,
       2, timestamptz '2020-01-01 00:00:00+00' + n * interval '1 second',
       timestamptz '2020-01-01 00:00:00+00' + n * interval '1 second'
FROM generate_series(1, :instances) AS n;
INSERT INTO workflow_instance_documents (workflow_instance_id, step_data, context)
SELECT md5('ctx-' || n)::uuid,
       CASE n / 5 % 5 WHEN 0 THEN '{}'::jsonb
            ELSE jsonb_build_object('goals', jsonb_build_object(
                     'database', (ARRAY['PostgreSQL', 'MySQL', 'SQLite'])[n % 3 + 1])) END,
       jsonb_build_object('projectName', 'Project ' || n, 'project', 'p-' || n % 10000, 'team', 'team-' || n % 7,
                          'priority', n % 5, 'tags', jsonb_build_array('bench', 't' || n % 97),
                          'epic', jsonb_build_object('id', n % 1000,
                                                     'phase', CASE WHEN n % 2 = 0 THEN 'discovery' ELSE 'delivery' END))
FROM generate_series(1, :instances) AS n;
COMMIT;
VACUUM ANALYZE workflow_instances;
VACUUM ANALYZE workflow_instance_documents;
CHECKPOINT;
