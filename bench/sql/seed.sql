-- The benchmark's database state, the same on every run (bench/run.sh, after `workflowd migrate`):
--   :users users                    user k = md5('bench-user-' || k)::uuid, k = 1..:users
--   :get_instances instances        id md5('bench-get-' || n)::uuid, owner k = (n-1) % :users + 1, for
--                                   get/list; statuses cycle Created, Running, Paused, WaitingForInput,
--                                   Completed, with their events
--   :trans_instances instances      id md5('bench-tr-' || n)::uuid, owner (n-1) % :users + 1, Created,
--                                   with their InstanceCreated event: the transition scenarios start
--                                   each once (bench/run.sh hands out disjoint ranges of n)
-- Timestamps are fixed so that the listing's first page is the same every run (before the creates).
-- psql -v users=100 -v get_instances=2000 -v trans_instances=N -f bench/sql/seed.sql
\set ON_ERROR_STOP 1
BEGIN;

CREATE TEMP TABLE bench_defs AS
SELECT d.id, jsonb_array_length(d.steps) AS total, row_number() OVER (ORDER BY d.id) - 1 AS idx
FROM workflow_definitions d;

-- get/list instances
CREATE TEMP TABLE bench_get AS
SELECT n,
       md5('bench-get-' || n)::uuid AS id,
       md5('bench-user-' || ((n - 1) % :users + 1))::uuid AS user_id,
       (ARRAY['Created', 'Running', 'Paused', 'WaitingForInput', 'Completed'])[(n - 1) % 5 + 1] AS status,
       timestamptz '2020-01-01 00:00:00+00' + n * interval '1 minute' AS created_at
FROM generate_series(1, :get_instances) AS n;

INSERT INTO workflow_instances (id, workflow_definition_id, user_id, status, current_step, version, created_at, updated_at)
SELECT g.id, d.id, g.user_id, g.status,
       CASE g.status WHEN 'Created' THEN 0 WHEN 'Completed' THEN d.total ELSE 1 END,
       CASE g.status WHEN 'Created' THEN 1 WHEN 'Running' THEN 2 ELSE 3 END,
       g.created_at, g.created_at + interval '5 minutes'
FROM bench_get g JOIN bench_defs d ON d.idx = (g.n - 1) % (SELECT count(*) FROM bench_defs);

INSERT INTO workflow_instance_documents (workflow_instance_id, step_data, context)
SELECT g.id,
       CASE g.status WHEN 'Created' THEN '{}'::jsonb
                     ELSE jsonb_build_object('step-1', jsonb_build_object('notes', 'seeded output ' || g.n)) END,
       jsonb_build_object('projectName', 'Project ' || g.n, 'team', 'team-' || g.n % 7, 'priority', g.n % 5,
                          'tags', jsonb_build_array('bench', 'seed'))
FROM bench_get g;

INSERT INTO workflow_events (workflow_instance_id, type, from_status, to_status, step, user_id, occurred_at)
SELECT id, 'InstanceCreated', NULL, 'Created', 0, user_id, created_at FROM bench_get
UNION ALL
SELECT id, 'StatusChanged', 'Created', 'Running', 1, user_id, created_at + interval '1 minute'
FROM bench_get WHERE status <> 'Created'
UNION ALL
SELECT id, 'StatusChanged', 'Running', status, 1, user_id, created_at + interval '5 minutes'
FROM bench_get WHERE status NOT IN ('Created', 'Running')
ORDER BY 7, 1;

-- transition targets (older than the get instances, so they are not on anyone's first page)
INSERT INTO workflow_instances (id, workflow_definition_id, user_id, status, current_step, version, created_at, updated_at)
SELECT md5('bench-tr-' || n)::uuid, d.id, md5('bench-user-' || ((n - 1) % :users + 1))::uuid, 'Created', 0,
       1, timestamptz '2019-01-01 00:00:00+00' + n * interval '1 second',
       timestamptz '2019-01-01 00:00:00+00' + n * interval '1 second'
FROM generate_series(1, :trans_instances) AS n
JOIN bench_defs d ON d.idx = (n - 1) % (SELECT count(*) FROM bench_defs);

INSERT INTO workflow_instance_documents (workflow_instance_id, context)
SELECT md5('bench-tr-' || n)::uuid, jsonb_build_object('projectName', 'Pool ' || n)
FROM generate_series(1, :trans_instances) AS n;

INSERT INTO workflow_events (workflow_instance_id, type, from_status, to_status, step, user_id, occurred_at)
SELECT md5('bench-tr-' || n)::uuid, 'InstanceCreated', NULL, 'Created', 0,
       md5('bench-user-' || ((n - 1) % :users + 1))::uuid,
       timestamptz '2019-01-01 00:00:00+00' + n * interval '1 second'
FROM generate_series(1, :trans_instances) AS n;

COMMIT;
ANALYZE workflow_definitions;
ANALYZE workflow_instances;
ANALYZE workflow_instance_documents;
ANALYZE workflow_events;
CHECKPOINT;
