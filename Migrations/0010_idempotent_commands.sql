-- Idempotency-Key on every command (transitions, advance, input, approvals, retry), not only on create.
-- A command's key row holds no instance; once the command has answered, it holds that answer (status,
-- the headers a client reads back: Content-Type, ETag, Location; and the body) for replays. A row with
-- neither an instance nor an answer is a command in flight.
ALTER TABLE idempotency_keys
    ALTER COLUMN workflow_instance_id DROP NOT NULL,
    ADD COLUMN response_status integer CHECK (response_status BETWEEN 100 AND 599),
    ADD COLUMN response_headers text,
    ADD COLUMN response_body text,
    ADD CONSTRAINT idempotency_keys_create_or_command CHECK (workflow_instance_id IS NULL OR response_status IS NULL);
