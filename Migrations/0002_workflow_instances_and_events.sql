-- Workflow instances and their event history.
CREATE TABLE workflow_instances (
    id                     uuid PRIMARY KEY,
    workflow_definition_id text NOT NULL REFERENCES workflow_definitions (id),
    user_id                uuid NOT NULL,
    status                 text NOT NULL CHECK (status IN (
                               'Created', 'Running', 'Paused', 'WaitingForInput',
                               'WaitingForApproval', 'Completed', 'Failed', 'Cancelled')),
    current_step           integer NOT NULL DEFAULT 0 CHECK (current_step >= 0),
    step_data              jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(step_data) = 'object'),
    context                jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(context) = 'object'),
    version                integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

-- The listing: a user's instances, newest first, keyset-paginated on (created_at, id).
CREATE INDEX workflow_instances_user_created ON workflow_instances (user_id, created_at DESC, id DESC);
-- An admin's listing of everyone's instances, same order.
CREATE INDEX workflow_instances_created ON workflow_instances (created_at DESC, id DESC);
-- Status filtering within a user's listing.
CREATE INDEX workflow_instances_user_status_created ON workflow_instances (user_id, status, created_at DESC, id DESC);
-- Containment queries on the JSON documents.
CREATE INDEX workflow_instances_context ON workflow_instances USING gin (context jsonb_path_ops);
CREATE INDEX workflow_instances_step_data ON workflow_instances USING gin (step_data jsonb_path_ops);

CREATE TABLE workflow_events (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workflow_instance_id uuid NOT NULL REFERENCES workflow_instances (id) ON DELETE CASCADE,
    type                 text NOT NULL CHECK (type IN ('InstanceCreated', 'StatusChanged', 'StepCompleted')),
    from_status          text,
    to_status            text,
    step                 integer NOT NULL,
    reason               text,
    data                 jsonb,
    user_id              uuid NOT NULL,
    occurred_at          timestamptz NOT NULL DEFAULT now()
);

-- A workflow's history, oldest first.
CREATE INDEX workflow_events_instance ON workflow_events (workflow_instance_id, id);
