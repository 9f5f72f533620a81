-- Order sagas (order-saga's saga.events), net revenue per currency, and the
-- dashboard's order figures computed from sagas.

-- One row per saga: its newest state (version-guarded upsert).
CREATE TABLE sagas (
  creator_id        text        NOT NULL,
  saga_id           text        NOT NULL,
  channel           text        NOT NULL,
  order_id          text        NOT NULL,
  status            text        NOT NULL,  -- running | compensating | completed | compensated | needs_manual
  step              text        NOT NULL,  -- the current (or last) step
  attempts          integer     NOT NULL,  -- attempts of that step
  attempts_total    integer     NOT NULL,
  manual            boolean     NOT NULL,  -- an operator was needed (needs_manual, retry, abort)
  started_at        timestamptz NOT NULL,
  finished_at       timestamptz,           -- first time it reached completed or compensated
  duration_ms       bigint,                -- finished_at - started_at
  failure           text        NOT NULL,  -- why it compensates ('' when it does not)
  currency          text        NOT NULL,
  amount_minor      bigint      NOT NULL,
  payment_captured  boolean     NOT NULL,
  payment_refunded  boolean     NOT NULL,
  version           bigint      NOT NULL,
  updated_at        timestamptz NOT NULL,
  history           jsonb       NOT NULL,  -- the newest 32 entries: [{at_ms, step, attempt, what}]
  PRIMARY KEY (creator_id, saga_id)
);
CREATE INDEX sagas_by_creator_finished ON sagas (creator_id, finished_at);
CREATE INDEX sagas_open ON sagas (status) WHERE status IN ('running', 'compensating', 'needs_manual');

-- Money given back, at most once per order whatever reported it first: a
-- saga's refund_payment, or the order cancelled after its payment completed.
CREATE TABLE order_refunds (
  creator_id    text        NOT NULL,
  aggregate_id  text        NOT NULL,  -- "<channel>:<order id>", as orders.aggregate_id
  currency      text        NOT NULL,
  amount_minor  bigint      NOT NULL,
  refunded_at   timestamptz NOT NULL,
  source        text        NOT NULL,  -- saga | order_cancelled
  PRIMARY KEY (creator_id, aggregate_id)
);

-- Per creator, day (UTC) and currency: completed payments and refunds.
CREATE TABLE creator_daily_revenue (
  creator_id      text   NOT NULL,
  day             date   NOT NULL,
  currency        text   NOT NULL,
  gross_minor     bigint NOT NULL DEFAULT 0,
  refunded_minor  bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (creator_id, day, currency)
);
CREATE VIEW creator_daily_net_revenue AS
  SELECT creator_id, day, currency, gross_minor, refunded_minor,
         gross_minor - refunded_minor AS net_minor
  FROM creator_daily_revenue;

-- Sagas finished per creator and day. Automation health: the share of
-- finished sagas that fulfilled their order without an operator, not counting
-- orders the buyer cancelled (their compensation is not the automation's
-- failure). Average processing time: order received by the saga -> channel
-- status updated, over completed sagas.
CREATE VIEW creator_daily_sagas AS
  SELECT creator_id, (finished_at AT TIME ZONE 'UTC')::date AS day,
         count(*) AS finished,
         count(*) FILTER (WHERE status = 'completed') AS completed,
         count(*) FILTER (WHERE status = 'compensated') AS compensated,
         count(*) FILTER (WHERE status = 'completed' AND NOT manual) AS completed_automatically,
         count(*) FILTER (WHERE manual) AS needed_operator,
         count(*) FILTER (WHERE failure LIKE 'order cancelled%') AS cancelled_by_buyer,
         (avg(duration_ms) FILTER (WHERE status = 'completed'))::bigint AS avg_processing_ms
  FROM sagas WHERE finished_at IS NOT NULL
  GROUP BY 1, 2;

-- The order card. Automation health used to be 1 - conflicts / events; it
-- now comes from sagas (creator_daily_sagas). Revenue is per currency and net
-- (creator_daily_net_revenue); revenue_minor stays in creator_daily_metrics
-- as the gross of every currency, for compatibility only.
DROP VIEW creator_daily_dashboard;
CREATE VIEW creator_daily_dashboard AS
  SELECT m.creator_id, m.day, m.orders, s.finished AS sagas_finished,
         s.avg_processing_ms,
         s.avg_processing_ms - p.avg_processing_ms AS avg_processing_change_ms,
         s.completed_automatically::numeric / nullif(s.finished - s.cancelled_by_buyer, 0)
           AS automation_health
  FROM creator_daily_metrics m
  LEFT JOIN creator_daily_sagas s ON s.creator_id = m.creator_id AND s.day = m.day
  LEFT JOIN creator_daily_sagas p ON p.creator_id = m.creator_id AND p.day = m.day - 1;
