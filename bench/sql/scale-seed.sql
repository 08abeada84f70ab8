-- One batch of bench/scale.sh's data: instances :lo..:hi of a table that will hold :size, with their
-- events (about 5 each), in one transaction. Run after `workflowd migrate`; the batches go in order.
--   instance n   id md5('scale-' || n)::uuid, created 2020-01-01 + n × 10 s (newest = highest n),
--                owner k = (n - 1) % :users + 1 with id md5('bench-user-' || k)::uuid (bench/run.sh's users),
--                definition: the (n mod 8)-th, status from a hash of n: 5 % Created, 15 % Running,
--                3 % Paused, 5 % WaitingForInput, 5 % WaitingForApproval, 4 % Failed, 3 % Cancelled, 60 % Completed
--   context      ~200 bytes (workflow_instance_documents, as step_data): project, team, priority, tags, customer {id, region}
--   step_data    one output object (~150 bytes) per completed step, up to two, keyed by the definition's step ids
--   awaiting     the wait as workflowd stores it (input: prompt; approval: one approver, Rework on reject)
--   events       InstanceCreated; once started StatusChanged Created→Running, StepCompleted per output
--                (with it as data), and the StatusChanged into the final status
-- psql -v lo=1 -v hi=100000 -v users=100 -f bench/sql/scale-seed.sql
\set ON_ERROR_STOP 1
SET synchronous_commit = off;
BEGIN;

CREATE TEMP TABLE scale_batch ON COMMIT DROP AS
WITH defs AS (
    SELECT array_agg(id ORDER BY id) AS ids, array_agg(steps ORDER BY id) AS steps FROM workflow_definitions
), base AS (
    SELECT n, abs(hashint4(n)) % 100 AS r,
           defs.ids[n % array_length(defs.ids, 1) + 1] AS def,
           defs.steps[n % array_length(defs.ids, 1) + 1] AS steps,
           md5('scale-' || n)::uuid AS id,
           md5('bench-user-' || ((n - 1) % :users + 1))::uuid AS user_id,
           timestamptz '2020-01-01 00:00:00+00' + n * interval '10 seconds' AS created_at
    FROM generate_series(:lo, :hi) AS n, defs
), s AS (
    SELECT base.*, jsonb_array_length(steps) AS total,
           CASE WHEN r < 5 THEN 'Created' WHEN r < 20 THEN 'Running' WHEN r < 23 THEN 'Paused'
                WHEN r < 28 THEN 'WaitingForInput' WHEN r < 33 THEN 'WaitingForApproval' WHEN r < 37 THEN 'Failed'
                WHEN r < 40 THEN 'Cancelled' ELSE 'Completed' END AS status
    FROM base
)
SELECT s.*,
       CASE WHEN status = 'Created' THEN 0 WHEN status = 'Completed' THEN total
            ELSE 1 + abs(hashint4(n + 1)) % total END AS current_step
FROM s;

INSERT INTO workflow_instances (id, workflow_definition_id, user_id, status, current_step, version,
                                created_at, updated_at, awaiting, status_changed_at)
SELECT id, def, user_id, status, current_step,
       CASE WHEN status = 'Created' THEN 1 ELSE 2 + current_step END,
       created_at, created_at + CASE WHEN status = 'Created' THEN interval '0' ELSE interval '1 hour' END,
       CASE status
           WHEN 'WaitingForInput' THEN
               '{"kind":"input","prompt":"Provide the review notes","decisions":[],"overdue":false}'::jsonb
           WHEN 'WaitingForApproval' THEN
               '{"kind":"approval","prompt":"Approve this step","approvers":{"count":1,"allowSelfApproval":false},"onReject":"Rework","decisions":[],"overdue":false}'::jsonb
       END,
       created_at + CASE WHEN status = 'Created' THEN interval '0' ELSE interval '1 hour' END
FROM scale_batch
ORDER BY n;

INSERT INTO workflow_instance_documents (workflow_instance_id, step_data, context)
SELECT id,
       CASE WHEN current_step <= 1 AND status <> 'Completed' THEN '{}'::jsonb
            ELSE jsonb_build_object(steps -> 0 ->> 'id', jsonb_build_object(
                     'summary', 'Output of the first step of instance ' || n, 'score', n % 10,
                     'approved', n % 3 = 0, 'links', jsonb_build_array('https://docs.example.com/' || n)))
                 || CASE WHEN current_step > 2 OR status = 'Completed' THEN jsonb_build_object(steps -> 1 ->> 'id',
                     jsonb_build_object('summary', 'Second step notes ' || n, 'reviewer', 'user-' || n % 977,
                                        'items', jsonb_build_array(n % 7, n % 11, n % 13)))
                    ELSE '{}'::jsonb END END,
       jsonb_build_object('projectName', 'Project ' || n, 'team', 'team-' || n % 50, 'priority', n % 5,
                          'tags', jsonb_build_array('scale', 't' || n % 97),
                          'customer', jsonb_build_object('id', 'c-' || n % 5000,
                                                         'region', (ARRAY['eu', 'us', 'apac'])[n % 3 + 1]))
FROM scale_batch
ORDER BY n;

INSERT INTO workflow_events (workflow_instance_id, type, from_status, to_status, step, reason, data, user_id, occurred_at)
SELECT id, type, from_status, to_status, step, NULL, data, user_id, at
FROM (
    SELECT id, user_id, 'InstanceCreated' AS type, NULL AS from_status, 'Created' AS to_status, 0 AS step,
           NULL::jsonb AS data, created_at AS at
    FROM scale_batch
    UNION ALL
    SELECT id, user_id, 'StatusChanged', 'Created', 'Running', 1, NULL, created_at + interval '1 minute'
    FROM scale_batch WHERE status <> 'Created'
    UNION ALL
    SELECT id, user_id, 'StepCompleted', NULL, NULL, k,
           jsonb_build_object('summary', 'Output of step ' || k || ' of instance ' || n, 'score', n % 10),
           created_at + k * interval '10 minutes'
    FROM scale_batch, generate_series(1, 3) AS k
    WHERE status <> 'Created' AND (current_step > k OR status = 'Completed')
    UNION ALL
    SELECT id, user_id, 'StatusChanged', 'Running', status, current_step, NULL, created_at + interval '1 hour'
    FROM scale_batch WHERE status NOT IN ('Created', 'Running')
) e
ORDER BY at, id;

COMMIT;
