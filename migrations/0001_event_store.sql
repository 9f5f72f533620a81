-- Event store: every domain event the pipeline resolved, once. The id is the
-- deterministic event id; occurred_at is part of the key because PostgreSQL
-- requires the partition key in a partitioned table's unique constraints (an
-- event's id and occurred_at never change, so (occurred_at, id) is as unique).
CREATE TABLE events (
  id             uuid        NOT NULL,
  aggregate_id   text        NOT NULL,
  aggregate_type text        NOT NULL,
  event_type     text        NOT NULL,
  creator_id     text        NOT NULL,
  event_data     jsonb       NOT NULL,
  metadata       jsonb       NOT NULL,
  version        bigint      NOT NULL,
  occurred_at    timestamptz NOT NULL,
  processed_at   timestamptz NOT NULL DEFAULT clock_timestamp(),  -- when the sink wrote it
  PRIMARY KEY (occurred_at, id)
) PARTITION BY RANGE (occurred_at);

CREATE INDEX events_by_aggregate ON events (aggregate_id, version);
CREATE INDEX events_by_type_time ON events (event_type, occurred_at);
CREATE INDEX events_by_creator_time ON events (creator_id, occurred_at);

-- Creates the month's partition (events_yYYYYmMM) if missing; the sink calls
-- it for every month it is about to write, operators for months ahead.
CREATE FUNCTION cf_ensure_event_partition(month_start date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  first_day date := date_trunc('month', month_start)::date;
  name text := format('events_y%sm%s', to_char(first_day, 'YYYY'), to_char(first_day, 'MM'));
BEGIN
  IF to_regclass(name) IS NULL THEN
    EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                   name, first_day, (first_day + interval '1 month')::date);
  END IF;
  RETURN name;
END $$;
