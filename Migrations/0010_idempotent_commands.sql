-- Idempotency-Key on every command (transitions, advance, input, approvals, retry), not only on create.
-- A create's key names the instance it made; a command's key holds the answer it gave (status, the
-- headers a client reads back: Content-Type, ETag, Location, Retry-After; and the body), written in the
-- command's own transaction, so a key never exists without its answer.
ALTER TABLE idempotency_keys
    ALTER COLUMN workflow_instance_id DROP NOT NULL,
    ADD COLUMN response_status integer CHECK (response_status BETWEEN 100 AND 599),
    ADD COLUMN response_headers text,
    ADD COLUMN response_body text,
    ADD CONSTRAINT idempotency_keys_instance_or_answer CHECK (
        num_nonnulls(workflow_instance_id, response_status) = 1
        AND (response_status IS NULL) = (response_body IS NULL) AND (response_status IS NULL) = (response_headers IS NULL));
