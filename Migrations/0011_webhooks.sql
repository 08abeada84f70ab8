-- Webhooks: subscriptions, and a transactional outbox of deliveries.
--
-- The outbox row is written by a statement-level trigger on workflow_events, so it is part of the very
-- statement that writes the event: it commits with the change or rolls back with it, no event is skipped
-- because another transaction committed later, and no write statement of the store has to know about
-- webhooks (event types added later are covered without touching this file).
--
-- The write path pays for one row per event, whatever the number of subscriptions: webhook_outbox holds
-- the event with the ids of the subscriptions it matched. The delivery workers fan it out into one
-- webhook_deliveries row per subscription (attempts, lease, outcome) in a transaction of their own, one
-- fan-out at a time, in event order. Writing the per-subscription rows in the event's statement instead
-- (ten rows, their index entries and foreign-key checks for ten subscriptions) cost the create statement
-- about 45 % of its throughput (bench/outbox-cost.sh).
CREATE TABLE webhook_subscriptions (
    id                          uuid PRIMARY KEY,
    url                         text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2048),
    -- NULL: every event type.
    event_types                 text[],
    -- NULL: every workflow instance.
    workflow_ids                uuid[],
    description                 text NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
    active                      boolean NOT NULL DEFAULT true,
    -- Why it was switched off by workflowd itself (continuous failures); NULL when an Admin did it or it is active.
    disabled_reason             text,
    secret                      text NOT NULL,
    -- After a rotation the previous secret still signs until this time (both signatures are sent).
    previous_secret             text,
    previous_secret_expires_at  timestamptz,
    -- Attempts that failed in a row, across deliveries, and since when; a 2xx resets both.
    consecutive_failures        integer NOT NULL DEFAULT 0,
    failing_since               timestamptz,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    subscription_id      uuid NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_id             bigint NOT NULL REFERENCES workflow_events (id) ON DELETE CASCADE,
    workflow_instance_id uuid NOT NULL,
    state                text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'succeeded', 'failed')),
    attempts             integer NOT NULL DEFAULT 0,
    next_attempt_at      timestamptz NOT NULL DEFAULT now(),
    -- Retries stop here and the delivery is marked failed (a redelivery starts a new window).
    retry_until          timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    -- A claimed delivery: the claim's token and when the claim lapses (a worker that died mid-attempt
    -- leaves it to another process after this time). No transaction is held across the HTTP call.
    lease_token          uuid,
    lease_expires_at     timestamptz,
    last_attempt_at      timestamptz,
    last_status_code     integer,
    last_error           text,
    last_duration_ms     integer,
    created_at           timestamptz NOT NULL DEFAULT now(),
    completed_at         timestamptz,
    UNIQUE (subscription_id, event_id)
);

-- The claim: due pending deliveries, oldest due first.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
-- Per subscription and instance, event order: is an earlier delivery still pending?
CREATE INDEX webhook_deliveries_chain ON webhook_deliveries (subscription_id, workflow_instance_id, event_id)
    WHERE state = 'pending';
-- A subscription's recent deliveries are read through the UNIQUE (subscription_id, event_id) index, newest
-- event first; the cascade from workflow_events (instances are never deleted by the API) goes without an
-- index of its own.

-- Events not yet fanned out, with the subscriptions they matched when they were written. Only the fan-out
-- reads or deletes rows here (oldest event first, through the primary key); the trigger only appends.
CREATE TABLE webhook_outbox (
    event_id             bigint PRIMARY KEY,
    workflow_instance_id uuid NOT NULL,
    subscription_ids     uuid[] NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now()
);

-- One outbox row per event that matches at least one active subscription; none at all (and no row) for
-- an event that matches nothing.
CREATE FUNCTION webhook_outbox_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_outbox (event_id, workflow_instance_id, subscription_ids)
    SELECT e.id, e.workflow_instance_id, m.ids
    FROM new_events e
    CROSS JOIN LATERAL (
        SELECT array_agg(s.id) AS ids FROM webhook_subscriptions s
        WHERE s.active
          AND (s.event_types IS NULL OR e.type = ANY (s.event_types))
          AND (s.workflow_ids IS NULL OR e.workflow_instance_id = ANY (s.workflow_ids))
    ) m
    WHERE m.ids IS NOT NULL;
    RETURN NULL;
END
$$;

CREATE TRIGGER workflow_events_webhook_outbox
    AFTER INSERT ON workflow_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_outbox_write();
