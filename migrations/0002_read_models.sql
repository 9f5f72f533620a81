-- Read models of the dashboard. Upserts are version-guarded: a row changes
-- only when the incoming version is newer, so an older event never
-- overwrites a newer state.
CREATE TABLE orders (
  aggregate_id    text PRIMARY KEY,           -- "<channel>:<order id>"
  creator_id      text        NOT NULL,
  channel         text        NOT NULL,
  status          text        NOT NULL,
  total_minor     bigint      NOT NULL,
  currency        text        NOT NULL,
  version         bigint      NOT NULL,
  first_seen_at   timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL,
  status_history  jsonb       NOT NULL DEFAULT '[]'  -- [{status, at, version}]
);
CREATE INDEX orders_by_creator ON orders (creator_id, updated_at);

-- Per creator and day (UTC, of the event time).
CREATE TABLE creator_daily_metrics (
  creator_id         text   NOT NULL,
  day                date   NOT NULL,
  revenue_minor      bigint NOT NULL DEFAULT 0,  -- completed payments
  orders             bigint NOT NULL DEFAULT 0,  -- orders first seen that day
  orders_completed   bigint NOT NULL DEFAULT 0,
  processing_ms_sum  bigint NOT NULL DEFAULT 0,  -- first seen -> COMPLETED, summed
  events             bigint NOT NULL DEFAULT 0,  -- resolved events that day
  conflicts          bigint NOT NULL DEFAULT 0,  -- automation health: conflicts audited
  PRIMARY KEY (creator_id, day)
);
CREATE VIEW creator_daily_dashboard AS
  SELECT creator_id, day, revenue_minor, orders,
         CASE WHEN orders_completed > 0 THEN processing_ms_sum / orders_completed END AS avg_processing_ms,
         CASE WHEN events > 0 THEN 1.0 - conflicts::numeric / events END AS automation_health
  FROM creator_daily_metrics;

CREATE TABLE inventory_levels (
  creator_id    text        NOT NULL,
  product_sku   text        NOT NULL,
  total         bigint      NOT NULL,
  reserved      bigint      NOT NULL,
  sold          bigint      NOT NULL,
  available     bigint      NOT NULL,
  counted       boolean     NOT NULL,
  sales_1h      bigint      NOT NULL,
  sales_24h     bigint      NOT NULL,
  velocity_1h   numeric     NOT NULL,
  velocity_24h  numeric     NOT NULL,
  spike_ratio   numeric     NOT NULL,
  viral         boolean     NOT NULL,
  version       bigint      NOT NULL,
  as_of         timestamptz NOT NULL,
  PRIMARY KEY (creator_id, product_sku)
);

CREATE TABLE stockout_predictions (
  creator_id             text        NOT NULL,
  product_sku            text        NOT NULL,
  available              bigint      NOT NULL,
  rate_per_hour          numeric     NOT NULL,
  time_to_stockout_hours numeric,
  interval_low_hours     numeric,
  interval_high_hours    numeric,
  reorder_quantity       bigint      NOT NULL,
  version                bigint      NOT NULL,
  as_of                  timestamptz NOT NULL,
  PRIMARY KEY (creator_id, product_sku)
);

-- One row per creator, SKU and alert kind: active when state = 'raised'.
CREATE TABLE alerts (
  creator_id   text        NOT NULL,
  product_sku  text        NOT NULL,
  alert        text        NOT NULL,
  state        text        NOT NULL,
  severity     text        NOT NULL,
  raised_at    timestamptz,
  cleared_at   timestamptz,
  last_alert_id uuid       NOT NULL,
  as_of        timestamptz NOT NULL,
  PRIMARY KEY (creator_id, product_sku, alert)
);

CREATE TABLE conflicts (
  conflict_id   uuid PRIMARY KEY,
  creator_id    text        NOT NULL,
  kind          text        NOT NULL,
  entity_type   text        NOT NULL,
  entity_id     text        NOT NULL,
  strategy      text        NOT NULL,
  winner        text        NOT NULL,
  escalated     boolean     NOT NULL,
  detected_at   timestamptz NOT NULL,
  resolved_at   timestamptz,                -- automatic resolution, null when the current state was kept pending review
  reviewed_at   timestamptz,                -- set by an operator who handled an escalated conflict
  record        jsonb       NOT NULL
);
-- Escalated conflicts an operator has not reviewed yet (mark one handled with
-- UPDATE conflicts SET reviewed_at = now() WHERE conflict_id = '...').
CREATE VIEW manual_resolution_queue AS
  SELECT * FROM conflicts WHERE escalated AND reviewed_at IS NULL;

-- Per creator and source: the newest event time seen and when it was written.
CREATE TABLE sync_status (
  creator_id      text        NOT NULL,
  source          text        NOT NULL,
  last_event_at   timestamptz NOT NULL,
  last_written_at timestamptz NOT NULL,
  PRIMARY KEY (creator_id, source)
);

CREATE TABLE dead_letter_counts (
  topic   text   NOT NULL,
  reason  text   NOT NULL,
  records bigint NOT NULL,
  PRIMARY KEY (topic, reason)
);

-- The sink's consumed positions, written in the same transaction as the rows
-- they produced: the source of truth for where the sink resumes.
CREATE TABLE sink_offsets (
  consumer_group text   NOT NULL,
  topic          text   NOT NULL,
  partition      int    NOT NULL,
  next_offset    bigint NOT NULL,
  PRIMARY KEY (consumer_group, topic, partition)
);
