-- Idempotency-Key records for POST /api/v1/workflows, scoped to the token's sub and kept 24 hours.
-- A key is written in the same statement as the instance it created, so a crash can neither
-- duplicate nor lose a create.
CREATE TABLE idempotency_keys (
    user_id              uuid NOT NULL,
    key                  text NOT NULL CHECK (key ~ '^[!-~]{1,255}$'),
    request_hash         text NOT NULL,
    workflow_instance_id uuid NOT NULL REFERENCES workflow_instances (id) ON DELETE CASCADE,
    created_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);

-- The purge of expired keys.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
