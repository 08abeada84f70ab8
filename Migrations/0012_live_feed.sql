-- The feed of a caller's work (GET /api/v1/events, /api/v1/events/stream): a position that is safe to
-- resume from although event ids are taken before commit (a lower id may commit after a higher one).
--
-- txid: at least the id of the transaction that wrote the event. The feed orders events by (txid, id) and
-- serves only those whose txid is below the oldest transaction still running (pg_snapshot_xmin): every
-- transaction that could still add an event at or before a served position has ended, so a client that
-- resumes after a position misses nothing and receives nothing twice. Rows from before this migration keep
-- NULL: they are "before the feed" (the per-instance listing still has them).
--
-- Per-instance order needs more than the writer's transaction id. Writers of one instance take its row
-- lock in turn, so its event ids follow the order they commit in, but their transaction ids need not:
-- when several writers wait for the lock, each one that wakes takes a transaction id while following
-- the row's update chain, before it knows whether it got the lock (seen here: 8 writers on 3 instances
-- put ~1 event in 10 out of id order). So the trigger raises an event's txid to its instance's previous
-- event's when that is higher. It reads the previous event with a snapshot of its own (a plpgsql query
-- in READ COMMITTED), taken after this writer got the row lock, so after the previous writer committed.
-- Raising keeps the feed safe: an event's txid is still at least its writer's, so it is not served
-- before its writer ended.
ALTER TABLE workflow_events ADD COLUMN txid xid8;

CREATE FUNCTION workflowd_event_txid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.txid := greatest(pg_current_xact_id(), (
        SELECT e.txid FROM workflow_events e
        WHERE e.workflow_instance_id = NEW.workflow_instance_id
        ORDER BY e.id DESC LIMIT 1));
    RETURN NEW;
END
$$;

CREATE TRIGGER workflow_events_txid BEFORE INSERT ON workflow_events
    FOR EACH ROW EXECUTE FUNCTION workflowd_event_txid();

CREATE INDEX workflow_events_feed ON workflow_events (txid, id) WHERE txid IS NOT NULL;
