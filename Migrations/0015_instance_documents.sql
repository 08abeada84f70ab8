-- An instance's JSON documents, context and step_data, in a table of their own: written when they change
-- (create, retry, a step's output, an input, a gate's approval), not by every change of status.
--
-- Why: a status change cannot be a HOT update (status is in the listing's and the inbox's indexes), so
-- PostgreSQL writes a new entry into every index of workflow_instances for it, the GIN indexes on context
-- and step_data included, though neither changed. Measured (bench/README.md, "Cost as the tables grow"):
-- those two GIN indexes were about three quarters of a transition's row update — 92 of 122 µs per row at
-- 10 k instances, 125 of 168 µs at 10 M — and the reason transitions lost 17 % from 10 k to 10 M. Here a
-- transition updates a narrower row with B-tree indexes only; filters on context and step_data keep their
-- GIN indexes, on this table.
--
-- Not compatible with the previous release (it reads and writes the dropped columns): stop workflowd,
-- migrate, start (docs/operations.md, Upgrade). workflow_instances is locked against writes first, so no
-- write can land between the copy and the drop; reads go on until the drop, which is a catalog change.
LOCK TABLE workflow_instances IN SHARE MODE;

CREATE TABLE workflow_instance_documents (
    workflow_instance_id uuid PRIMARY KEY REFERENCES workflow_instances (id) ON DELETE CASCADE,
    context              jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(context) = 'object'),
    step_data            jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(step_data) = 'object')
);

INSERT INTO workflow_instance_documents (workflow_instance_id, context, step_data)
SELECT id, context, step_data FROM workflow_instances ORDER BY id;

-- Containment queries (the listing's context= and stepData= filters), without pending lists (0013 says why).
CREATE INDEX workflow_instance_documents_context ON workflow_instance_documents
    USING gin (context jsonb_path_ops) WITH (fastupdate = off);
CREATE INDEX workflow_instance_documents_step_data ON workflow_instance_documents
    USING gin (step_data jsonb_path_ops) WITH (fastupdate = off);

-- Drops their GIN indexes with them. The old rows keep the bytes until they are next written or vacuumed
-- away by a rewrite (VACUUM FULL); new row versions are narrower at once.
ALTER TABLE workflow_instances DROP COLUMN context, DROP COLUMN step_data;

ANALYZE workflow_instance_documents;
