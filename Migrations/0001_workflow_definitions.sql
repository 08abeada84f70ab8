-- The catalogue of workflow definitions (BMAD-method workflows).
-- steps is an ordered JSON array of {"id": "...", "name": "..."}.
CREATE TABLE workflow_definitions (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name        text NOT NULL,
    description text NOT NULL,
    steps       jsonb NOT NULL CHECK (jsonb_typeof(steps) = 'array' AND jsonb_array_length(steps) > 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);
