/* store.c: the SQLite backend of store.h.
 *
 * Owns the connection, the schema and its migrations, the prepared
 * statements of the hot path, and the caches of customer and touchpoint ids.
 * The id caches are dropped whenever a transaction or savepoint is taken
 * back, because ids handed out inside it no longer exist. Customer facts are
 * cached above the store (facts.h), which it asks to write them back
 * before any query reads the tables and at commit. */

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sqlite3.h>
#include "cxhost/store.h"
#include "cxhost/buf.h"
#include "cxhost/strmap.h"
#include "cxhost/utc.h"

/* The view rfm, its recency counted from the time `latest` (an SQL
 * expression in a string literal): schema 6 made it, schema 7 remade it. */
#define RFM_VIEW(latest) \
    "CREATE VIEW rfm AS\n" \
    "WITH bought AS (\n" \
    "  SELECT customer_id, MAX(at) AS last_at, COUNT(*) AS frequency, SUM(COALESCE(amount_cents, 0)) AS spent\n" \
    "  FROM events WHERE type = 'purchase' AND customer_id IS NOT NULL GROUP BY customer_id),\n" \
    "returned AS (\n" \
    "  SELECT customer_id, SUM(approved_cents) AS cents FROM refunds\n" \
    "  WHERE kind IN ('return', 'price_match') GROUP BY customer_id),\n" \
    "valued AS (\n" \
    "  SELECT b.customer_id, b.last_at, b.frequency, b.spent - COALESCE(r.cents, 0) AS monetary_cents\n" \
    "  FROM bought b LEFT JOIN returned r USING (customer_id)),\n" \
    "scored AS (\n" \
    "  SELECT *,\n" \
    "    1 + 5 * (RANK() OVER (ORDER BY last_at) - 1) / COUNT(*) OVER () AS r,\n" \
    "    1 + 5 * (RANK() OVER (ORDER BY frequency) - 1) / COUNT(*) OVER () AS f,\n" \
    "    1 + 5 * (RANK() OVER (ORDER BY monetary_cents) - 1) / COUNT(*) OVER () AS m\n" \
    "  FROM valued)\n" \
    "SELECT c.external_id AS customer, s.customer_id, s.r, s.f, s.m,\n" \
    "  (" latest " - s.last_at) / 86400 AS recency_days, s.last_at,\n" \
    "  s.frequency, s.monetary_cents, COALESCE(g.segment, 'unsegmented') AS segment\n" \
    "FROM scored s JOIN customers c ON c.id = s.customer_id\n" \
    "LEFT JOIN rfm_segments g ON g.r = s.r AND g.f = s.f;\n"

/* Each entry moves the schema from version i to i + 1. Add, never edit. */
static const char *const migrations[] = {
    /* 0 -> 1: the first schema. */
    "CREATE TABLE meta(\n"
    "  key TEXT PRIMARY KEY,\n"
    "  value TEXT\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE customers(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  external_id TEXT NOT NULL UNIQUE,\n"
    "  first_seen_at INTEGER NOT NULL,\n"
    "  created_at INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE touchpoints(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  name TEXT NOT NULL UNIQUE,\n"
    "  stage TEXT CHECK (stage IN ('before', 'during', 'after')),\n"
    "  provider TEXT\n"
    ");\n"
    "CREATE TABLE imports(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  source TEXT NOT NULL,\n"
    "  format TEXT NOT NULL,\n"
    "  started_at INTEGER NOT NULL,\n"
    "  finished_at INTEGER,\n"
    "  lines INTEGER,\n"
    "  inserted INTEGER,\n"
    "  duplicates INTEGER,\n"
    "  rejected INTEGER\n"
    ");\n"
    "CREATE TABLE events(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  external_id TEXT NOT NULL UNIQUE,\n"
    "  type TEXT NOT NULL,\n"
    "  customer_id INTEGER REFERENCES customers(id),\n"
    "  at INTEGER NOT NULL,\n"
    "  amount_cents INTEGER,\n"
    "  touchpoint_id INTEGER REFERENCES touchpoints(id),\n"
    "  data TEXT,\n"
    "  import_id INTEGER REFERENCES imports(id),\n"
    "  ingested_at INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX events_customer_at ON events(customer_id, at);\n"
    "CREATE TABLE customer_facts(\n"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),\n"
    "  plugin TEXT NOT NULL,\n"
    "  name TEXT NOT NULL,\n"
    "  value,\n"
    "  event_id INTEGER,\n"
    "  updated_at INTEGER NOT NULL,\n"
    "  PRIMARY KEY (customer_id, plugin, name)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE customer_tags(\n"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),\n"
    "  tag TEXT NOT NULL,\n"
    "  plugin TEXT NOT NULL,\n"
    "  event_id INTEGER REFERENCES events(id),\n"
    "  at INTEGER NOT NULL,\n"
    "  PRIMARY KEY (customer_id, tag)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE ledger(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),\n"
    "  points INTEGER NOT NULL,\n"
    "  kind TEXT NOT NULL,\n"
    "  rule TEXT,\n"
    "  note TEXT,\n"
    "  at INTEGER NOT NULL,\n"
    "  plugin TEXT NOT NULL,\n"
    "  event_id INTEGER REFERENCES events(id)\n"
    ");\n"
    "CREATE INDEX ledger_customer ON ledger(customer_id, at);\n"
    "CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger\n"
    "  BEGIN SELECT RAISE(ABORT, 'the loyalty ledger is append-only'); END;\n"
    "CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger\n"
    "  BEGIN SELECT RAISE(ABORT, 'the loyalty ledger is append-only'); END;\n"
    "CREATE TABLE refunds(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  external_id TEXT NOT NULL UNIQUE,\n"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),\n"
    "  purchase_event_id INTEGER REFERENCES events(id),\n"
    "  requested_cents INTEGER NOT NULL,\n"
    "  approved_cents INTEGER NOT NULL DEFAULT 0,\n"
    "  decision TEXT NOT NULL CHECK (decision IN ('approved', 'partial', 'rejected')),\n"
    "  rule TEXT,\n"
    "  reason TEXT NOT NULL,\n"
    "  at INTEGER NOT NULL,\n"
    "  plugin TEXT NOT NULL,\n"
    "  event_id INTEGER REFERENCES events(id)\n"
    ");\n"
    "CREATE TABLE experience_scores(\n"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),\n"
    "  module TEXT NOT NULL CHECK (module IN ('sense', 'feel', 'think', 'act', 'relate')),\n"
    "  touchpoint_id INTEGER NOT NULL DEFAULT 0,\n"
    "  score REAL NOT NULL CHECK (score >= 0 AND score <= 100),\n"
    "  at INTEGER NOT NULL,\n"
    "  plugin TEXT NOT NULL,\n"
    "  event_id INTEGER REFERENCES events(id),\n"
    "  PRIMARY KEY (customer_id, module, touchpoint_id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE campaigns(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  name TEXT NOT NULL UNIQUE,\n"
    "  description TEXT,\n"
    "  module TEXT,\n"
    "  source TEXT,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  next_run_at INTEGER\n"
    ");\n"
    "CREATE TABLE campaign_runs(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  campaign_id INTEGER NOT NULL REFERENCES campaigns(id),\n"
    "  period TEXT NOT NULL,\n"
    "  started_at INTEGER NOT NULL,\n"
    "  finished_at INTEGER,\n"
    "  status TEXT NOT NULL,\n"
    "  stats TEXT,\n"
    "  UNIQUE (campaign_id, period)\n"
    ");\n"
    "CREATE TABLE outbox(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  customer_id INTEGER REFERENCES customers(id),\n"
    "  channel TEXT NOT NULL,\n"
    "  template TEXT NOT NULL,\n"
    "  vars TEXT,\n"
    "  status TEXT NOT NULL DEFAULT 'pending'\n"
    "    CHECK (status IN ('pending', 'sent', 'failed', 'cancelled')),\n"
    "  campaign_run_id INTEGER REFERENCES campaign_runs(id),\n"
    "  plugin TEXT NOT NULL,\n"
    "  event_id INTEGER REFERENCES events(id),\n"
    "  created_at INTEGER NOT NULL,\n"
    "  sent_at INTEGER\n"
    ");\n"
    "CREATE TABLE audit(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  at INTEGER NOT NULL,\n"
    "  plugin TEXT NOT NULL,\n"
    "  event_id INTEGER,\n"
    "  customer_id INTEGER,\n"
    "  effect TEXT NOT NULL,\n"
    "  detail TEXT\n"
    ");\n"
    "CREATE INDEX audit_event ON audit(event_id);\n"
    /* One lookup by primary key per column: much faster than pivoting with GROUP BY. */
    "CREATE VIEW lifecycle AS\n"
    "  SELECT c.id AS customer_id, c.external_id AS customer,\n"
    "    (SELECT value FROM customer_facts f WHERE f.customer_id = c.id AND f.plugin = 'lifecycle'\n"
    "       AND f.name = 'stage') AS stage,\n"
    "    (SELECT value FROM customer_facts f WHERE f.customer_id = c.id AND f.plugin = 'lifecycle'\n"
    "       AND f.name = 'first_purchase_at') AS first_purchase_at,\n"
    "    (SELECT value FROM customer_facts f WHERE f.customer_id = c.id AND f.plugin = 'lifecycle'\n"
    "       AND f.name = 'last_purchase_at') AS last_purchase_at,\n"
    "    (SELECT value FROM customer_facts f WHERE f.customer_id = c.id AND f.plugin = 'lifecycle'\n"
    "       AND f.name = 'purchase_count') AS purchase_count,\n"
    "    (SELECT value FROM customer_facts f WHERE f.customer_id = c.id AND f.plugin = 'lifecycle'\n"
    "       AND f.name = 'total_spend_cents') AS total_spend_cents\n"
    "  FROM customers c\n"
    "  WHERE EXISTS (SELECT 1 FROM customer_facts f WHERE f.customer_id = c.id AND f.plugin = 'lifecycle');\n"
    "CREATE VIEW loyalty_balances AS\n"
    "  SELECT customer_id, SUM(points) AS points FROM ledger GROUP BY customer_id;\n",

    /* 1 -> 2: a customer's facts from one plugin are one row (a JSON object)
     * instead of a row per fact: an import writes a fifth of the rows. The
     * old table's name becomes a view with the same columns. */
    "CREATE TABLE customer_state(\n"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),\n"
    "  plugin TEXT NOT NULL,\n"
    "  facts TEXT NOT NULL,\n"
    "  event_id INTEGER,\n"
    "  updated_at INTEGER NOT NULL,\n"
    "  PRIMARY KEY (customer_id, plugin)\n"
    ") WITHOUT ROWID;\n"
    "INSERT INTO customer_state(customer_id, plugin, facts, event_id, updated_at)\n"
    "  SELECT customer_id, plugin, json_group_object(name, value), MAX(event_id), MAX(updated_at)\n"
    "  FROM (SELECT * FROM customer_facts WHERE value IS NOT NULL ORDER BY customer_id, plugin, name)\n"
    "  GROUP BY customer_id, plugin;\n"
    "DROP VIEW lifecycle;\n"
    "DROP TABLE customer_facts;\n"
    "CREATE VIEW customer_facts AS\n"
    "  SELECT s.customer_id, s.plugin, f.key AS name, f.value, s.event_id, s.updated_at\n"
    "  FROM customer_state s, json_each(s.facts) f;\n"
    "CREATE VIEW lifecycle AS\n"
    "  SELECT c.id AS customer_id, c.external_id AS customer,\n"
    "    json_extract(s.facts, '$.stage') AS stage,\n"
    "    json_extract(s.facts, '$.first_purchase_at') AS first_purchase_at,\n"
    "    json_extract(s.facts, '$.last_purchase_at') AS last_purchase_at,\n"
    "    json_extract(s.facts, '$.purchase_count') AS purchase_count,\n"
    "    json_extract(s.facts, '$.total_spend_cents') AS total_spend_cents\n"
    "  FROM customer_state s JOIN customers c ON c.id = s.customer_id\n"
    "  WHERE s.plugin = 'lifecycle';\n",

    /* 2 -> 3: client-level running measures per touchpoint (the experience
     * grid, NPS, CSAT): kept as decayed sums, so an observation updates one
     * row instead of a report rescanning the events. */
    "CREATE TABLE experience_cells(\n"
    "  measure TEXT NOT NULL,\n"
    "  touchpoint_id INTEGER NOT NULL DEFAULT 0,\n"
    "  value_sum REAL NOT NULL,\n"
    "  weight_sum REAL NOT NULL,\n"
    "  as_of INTEGER NOT NULL,\n"
    "  half_life INTEGER NOT NULL,\n"
    "  observations INTEGER NOT NULL,\n"
    "  high INTEGER NOT NULL,\n"
    "  low INTEGER NOT NULL,\n"
    "  plugin TEXT NOT NULL,\n"
    "  event_id INTEGER,\n"
    "  PRIMARY KEY (measure, touchpoint_id)\n"
    ") WITHOUT ROWID;\n",

    /* 3 -> 4: a customer's facts from all plugins are one row, keyed by the
     * customer's id: { "plugin": { "fact": value, ... }, ... }. An import
     * writes one row per customer instead of one per plugin, appended in id
     * order. customer_state becomes a view with its old columns. */
    "CREATE TABLE facts(\n"
    "  customer_id INTEGER PRIMARY KEY REFERENCES customers(id),\n"
    "  data TEXT NOT NULL,\n"
    "  event_id INTEGER,\n"
    "  updated_at INTEGER NOT NULL\n"
    ");\n"
    "INSERT INTO facts(customer_id, data, event_id, updated_at)\n"
    "  SELECT customer_id, json_group_object(plugin, json(facts)), MAX(event_id), MAX(updated_at)\n"
    "  FROM (SELECT * FROM customer_state ORDER BY customer_id, plugin)\n"
    "  GROUP BY customer_id;\n"
    "DROP VIEW lifecycle;\n"
    "DROP VIEW customer_facts;\n"
    "DROP TABLE customer_state;\n"
    "CREATE VIEW customer_state AS\n"
    "  SELECT f.customer_id, p.key AS plugin, p.value AS facts, f.event_id, f.updated_at\n"
    "  FROM facts f, json_each(f.data) p;\n"
    "CREATE VIEW customer_facts AS\n"
    "  SELECT f.customer_id, p.key AS plugin, x.key AS name, x.value, f.event_id, f.updated_at\n"
    "  FROM facts f, json_each(f.data) p, json_each(p.value) x;\n"
    "CREATE VIEW lifecycle AS\n"
    "  SELECT c.id AS customer_id, c.external_id AS customer,\n"
    "    json_extract(f.data, '$.lifecycle.stage') AS stage,\n"
    "    json_extract(f.data, '$.lifecycle.first_purchase_at') AS first_purchase_at,\n"
    "    json_extract(f.data, '$.lifecycle.last_purchase_at') AS last_purchase_at,\n"
    "    json_extract(f.data, '$.lifecycle.purchase_count') AS purchase_count,\n"
    "    json_extract(f.data, '$.lifecycle.total_spend_cents') AS total_spend_cents\n"
    "  FROM facts f JOIN customers c ON c.id = f.customer_id\n"
    "  WHERE json_type(f.data, '$.lifecycle') = 'object';\n",

    /* 4 -> 5: the loyalty ledger as lots (points pending until a purchase's
     * return window closes, expiring, taken back entry by entry), tier
     * history, and refund decisions in detail. A negative entry with a lot_id takes from that
     * entry first (a clawback, an expiry); one without takes from the
     * oldest available points (a redemption). At most one expiry per lot:
     * the expiry job cannot expire anything twice. What the plugins said of
     * an event (ctx.explain) is one row per event, keyed by it. */
    "ALTER TABLE ledger ADD COLUMN available_at INTEGER;\n"
    "ALTER TABLE ledger ADD COLUMN expires_at INTEGER;\n"
    "ALTER TABLE ledger ADD COLUMN lot_id INTEGER REFERENCES ledger(id);\n"
    "ALTER TABLE ledger ADD COLUMN spend_cents INTEGER NOT NULL DEFAULT 0;\n"
    "CREATE UNIQUE INDEX ledger_expiry ON ledger(lot_id) WHERE kind = 'expire';\n"
    "CREATE TABLE explanations(\n"
    "  event_id INTEGER PRIMARY KEY REFERENCES events(id),\n"
    "  data TEXT NOT NULL\n"
    ");\n"
    "CREATE TABLE tier_history(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),\n"
    "  tier TEXT NOT NULL,\n"
    "  previous TEXT,\n"
    "  at INTEGER NOT NULL,\n"
    "  reason TEXT NOT NULL,\n"
    "  plugin TEXT NOT NULL,\n"
    "  event_id INTEGER REFERENCES events(id)\n"
    ");\n"
    "CREATE INDEX tier_history_customer ON tier_history(customer_id, id);\n"
    "CREATE TRIGGER tier_history_no_update BEFORE UPDATE ON tier_history\n"
    "  BEGIN SELECT RAISE(ABORT, 'tier history is append-only'); END;\n"
    "CREATE TRIGGER tier_history_no_delete BEFORE DELETE ON tier_history\n"
    "  BEGIN SELECT RAISE(ABORT, 'tier history is append-only'); END;\n"
    "ALTER TABLE refunds ADD COLUMN kind TEXT NOT NULL DEFAULT 'return'\n"
    "  CHECK (kind IN ('return', 'price_match', 'compensation'));\n"
    "ALTER TABLE refunds ADD COLUMN lines TEXT;\n"
    "ALTER TABLE refunds ADD COLUMN points INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE refunds ADD COLUMN clawback_points INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE refunds ADD COLUMN clawback_policy TEXT;\n"
    "ALTER TABLE refunds ADD COLUMN deducted_cents INTEGER NOT NULL DEFAULT 0;\n"
    "CREATE INDEX refunds_purchase ON refunds(purchase_event_id);\n"
    "CREATE INDEX refunds_customer ON refunds(customer_id, at);\n",
    /* 5 -> 6: RFM. Each customer who bought is scored 1 to 5 on recency
     * (the last purchase), frequency (purchases) and monetary value (spent,
     * less what refunds and price matches gave back), by quintile of rank:
     * score = 1 + 5 * (rank - 1) / customers, so equal values score alike.
     * The view is worked out when read, as of the latest event; its segment
     * comes from rfm_segments, a grid of recency by frequency that config.lua
     * may redraw (session.c). */
    "CREATE TABLE rfm_segments(\n"
    "  r INTEGER NOT NULL CHECK (r BETWEEN 1 AND 5),\n"
    "  f INTEGER NOT NULL CHECK (f BETWEEN 1 AND 5),\n"
    "  segment TEXT NOT NULL,\n"
    "  PRIMARY KEY (r, f)\n"
    ") WITHOUT ROWID;\n"
    RFM_VIEW("(SELECT MAX(at) FROM events)")

    "INSERT INTO rfm_segments(r, f, segment) VALUES\n"
    "  (5, 1, 'new'), (5, 2, 'potential'), (5, 3, 'loyal'), (5, 4, 'champions'), (5, 5, 'champions'),\n"
    "  (4, 1, 'new'), (4, 2, 'potential'), (4, 3, 'loyal'), (4, 4, 'champions'), (4, 5, 'champions'),\n"
    "  (3, 1, 'potential'), (3, 2, 'potential'), (3, 3, 'loyal'), (3, 4, 'loyal'), (3, 5, 'loyal'),\n"
    "  (2, 1, 'hibernating'), (2, 2, 'at risk'), (2, 3, 'at risk'), (2, 4, 'at risk'), (2, 5, 'cannot lose'),\n"
    "  (1, 1, 'lost'), (1, 2, 'hibernating'), (1, 3, 'at risk'), (1, 4, 'cannot lose'), (1, 5, 'cannot lose');\n",

    /* 6 -> 7: campaigns at work. A campaign is registered (active) with the
     * service or run by hand; each run, each customer's arm (treated or held
     * out, decided once), each action with what it cost, and each
     * customer's place in a journey are rows, written in the transaction of
     * the event that caused them. */
    "ALTER TABLE campaigns ADD COLUMN trigger TEXT;\n"
    "ALTER TABLE campaigns ADD COLUMN active INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE campaigns ADD COLUMN updated_at INTEGER;\n"
    "ALTER TABLE campaigns ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE campaigns ADD COLUMN points_spent INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE campaigns ADD COLUMN money_spent_cents INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE campaigns ADD COLUMN contacts_made INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE campaign_runs ADD COLUMN event_id INTEGER REFERENCES events(id);\n"
    "CREATE TABLE campaign_members(\n"
    "  campaign_id INTEGER NOT NULL REFERENCES campaigns(id),\n"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),\n"
    "  arm TEXT NOT NULL CHECK (arm IN ('treated', 'holdout')),\n"
    "  entered_at INTEGER NOT NULL,\n"
    "  run_id INTEGER REFERENCES campaign_runs(id),\n"
    "  event_id INTEGER REFERENCES events(id),\n"
    "  PRIMARY KEY (campaign_id, customer_id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE campaign_actions(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  campaign_id INTEGER NOT NULL REFERENCES campaigns(id),\n"
    "  run_id INTEGER NOT NULL REFERENCES campaign_runs(id),\n"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),\n"
    "  kind TEXT NOT NULL CHECK (kind IN ('points', 'send', 'tag', 'tier')),\n"
    "  points INTEGER NOT NULL DEFAULT 0,\n"
    "  money_cents INTEGER NOT NULL DEFAULT 0,\n"
    "  contact INTEGER NOT NULL DEFAULT 0 CHECK (contact IN (0, 1)),\n"
    "  detail TEXT,\n"
    "  at INTEGER NOT NULL,\n"
    "  event_id INTEGER REFERENCES events(id)\n"
    ");\n"
    "CREATE INDEX campaign_actions_customer ON campaign_actions(customer_id, at);\n"
    "CREATE INDEX campaign_actions_campaign ON campaign_actions(campaign_id, customer_id);\n"
    "CREATE TABLE journeys(\n"
    "  campaign_id INTEGER NOT NULL REFERENCES campaigns(id),\n"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),\n"
    "  step TEXT,\n"
    "  due_at INTEGER,\n"
    "  entered_at INTEGER NOT NULL,\n"
    "  updated_at INTEGER NOT NULL,\n"
    "  event_id INTEGER REFERENCES events(id),\n"
    "  PRIMARY KEY (campaign_id, customer_id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX journeys_due ON journeys(due_at) WHERE step IS NOT NULL;\n"
    /* A run of a campaign is an event too, but not the client's data: the
     * client's latest time (recency counts from it) is its latest other event. */
    "DROP VIEW rfm;\n"
    RFM_VIEW("(SELECT MAX(at) FROM events WHERE type <> 'campaign')"),
};

enum stmt_id {
    ST_CUSTOMER_INSERT, ST_CUSTOMER_FIND, ST_TOUCHPOINT_INSERT, ST_TOUCHPOINT_FIND,
    ST_EVENT_INSERT, ST_STATE_SET, ST_STATE_DELETE, ST_FACTS_ALL, ST_FACTS_PLUGIN, ST_AUDIT,
    ST_TAG_ON, ST_TAG_OFF, ST_TAG_HAS, ST_LEDGER_ADD, ST_LEDGER_BALANCE, ST_SCORE_SET,
    ST_OUTBOX_ADD, ST_LATEST_EVENT, ST_IMPORT_BEGIN, ST_IMPORT_FINISH, ST_STATE_LOAD,
    ST_SAVEPOINT, ST_RELEASE, ST_ROLLBACK_TO, ST_CUSTOMER_DELETE, ST_TOUCHPOINT_DELETE, ST_CUSTOMER_MAX, ST_FACTS_CUSTOMERS,
    ST_CELL_GET, ST_CELL_SET, ST_TOUCHPOINT_DESCRIBE, ST_LEDGER_SUM, ST_LEDGER_LOT, ST_TIER_RECORD, ST_REFUND_ADD, ST_EXPLANATION, ST_RFM_SEGMENT,
    ST_CAMPAIGN_SAVE, ST_CAMPAIGN_FIND, ST_CAMPAIGN_RUN_ADD, ST_CAMPAIGN_RUN_FIND, ST_CAMPAIGN_RUN_END,
    ST_CAMPAIGN_MEMBER_ADD, ST_CAMPAIGN_MEMBER_ARM, ST_CAMPAIGN_ACTION_ADD, ST_JOURNEY_SET, ST_CAMPAIGNS_REVISION, ST_OUTBOX_RUN, ST_CAMPAIGN_SPENT, ST_CAMPAIGN_RUN_EXISTS, ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_CUSTOMER_INSERT] = "INSERT INTO customers(external_id, first_seen_at, created_at) VALUES (?1, ?2, ?3)",
    [ST_CUSTOMER_FIND] = "SELECT id FROM customers WHERE external_id = ?1",
    [ST_TOUCHPOINT_INSERT] = "INSERT INTO touchpoints(name) VALUES (?1)",
    [ST_TOUCHPOINT_FIND] = "SELECT id FROM touchpoints WHERE name = ?1",
    [ST_RFM_SEGMENT] = "INSERT INTO rfm_segments(r, f, segment) VALUES (?1, ?2, ?3)"
                       " ON CONFLICT(r, f) DO UPDATE SET segment = excluded.segment",
    /* A column left NULL keeps what the campaign had. */
    [ST_CAMPAIGN_SAVE] =
        "INSERT INTO campaigns(name, description, module, source, trigger, active, next_run_at, created_at, updated_at,"
        " revision) VALUES (?1, ?2, ?3, ?4, ?5, COALESCE(?6, 0), ?7, ?8, ?8, ?6 IS NOT NULL) ON CONFLICT(name) DO UPDATE SET"
        " description = COALESCE(excluded.description, description), module = COALESCE(excluded.module, module),"
        " source = COALESCE(excluded.source, source), trigger = COALESCE(excluded.trigger, trigger),"
        " active = COALESCE(?6, active), next_run_at = COALESCE(?7, next_run_at), updated_at = excluded.updated_at,"
        " revision = revision + (?6 IS NOT NULL)",
    [ST_CAMPAIGN_FIND] = "SELECT id FROM campaigns WHERE name = ?1",
    /* The budget's running totals, so that a check against it reads one row. */
    [ST_CAMPAIGN_SPENT] =
        "UPDATE campaigns SET points_spent = points_spent + ?2, money_spent_cents = money_spent_cents + ?3,"
        " contacts_made = contacts_made + ?4 WHERE id = (SELECT campaign_id FROM campaign_runs WHERE id = ?1)",
    [ST_OUTBOX_RUN] = "UPDATE outbox SET campaign_run_id = ?2 WHERE id = ?1 AND campaign_run_id IS NULL",
    [ST_CAMPAIGNS_REVISION] = "SELECT COALESCE(SUM(revision), 0) + COUNT(*) FROM campaigns",
    [ST_CAMPAIGN_RUN_ADD] =
        "INSERT INTO campaign_runs(campaign_id, period, started_at, status, event_id) VALUES (?1, ?2, ?3, 'running', ?4)"
        " ON CONFLICT(campaign_id, period) DO NOTHING",
    [ST_CAMPAIGN_RUN_FIND] = "SELECT id FROM campaign_runs WHERE campaign_id = ?1 AND period = ?2",
    [ST_CAMPAIGN_RUN_EXISTS] = "SELECT 1 FROM campaign_runs WHERE id = ?1",
    [ST_CAMPAIGN_RUN_END] = "UPDATE campaign_runs SET status = ?2, stats = ?3, finished_at = ?4 WHERE id = ?1",
    [ST_CAMPAIGN_MEMBER_ADD] =
        "INSERT INTO campaign_members(campaign_id, customer_id, arm, entered_at, run_id, event_id)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(campaign_id, customer_id) DO NOTHING",
    [ST_CAMPAIGN_MEMBER_ARM] = "SELECT arm FROM campaign_members WHERE campaign_id = ?1 AND customer_id = ?2",
    [ST_CAMPAIGN_ACTION_ADD] =
        "INSERT INTO campaign_actions(campaign_id, run_id, customer_id, kind, points, money_cents, contact, detail, at,"
        " event_id) VALUES ((SELECT campaign_id FROM campaign_runs WHERE id = ?1), ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_JOURNEY_SET] =
        "INSERT INTO journeys(campaign_id, customer_id, step, due_at, entered_at, updated_at, event_id)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6) ON CONFLICT(campaign_id, customer_id) DO UPDATE SET"
        " step = excluded.step, due_at = excluded.due_at, updated_at = excluded.updated_at, event_id = excluded.event_id",
    [ST_EVENT_INSERT] =
        "INSERT INTO events(external_id, type, customer_id, at, amount_cents, touchpoint_id, data, import_id, ingested_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(external_id) DO NOTHING",
    [ST_STATE_SET] =
        "INSERT INTO facts(customer_id, data, event_id, updated_at) VALUES (?1, ?2, ?3, ?4)"
        " ON CONFLICT(customer_id) DO UPDATE SET data = excluded.data,"
        " event_id = excluded.event_id, updated_at = excluded.updated_at"
        " WHERE data IS NOT excluded.data",
    [ST_STATE_DELETE] = "DELETE FROM facts WHERE customer_id = ?1",
    [ST_STATE_LOAD] = "SELECT data FROM facts WHERE customer_id = ?1",
    [ST_SAVEPOINT] = "SAVEPOINT event",
    [ST_FACTS_CUSTOMERS] =
        "SELECT c.id, c.external_id, json_type(f.data, '$.\"' || ?2 || '\"') IS NOT NULL FROM customers c"
        " LEFT JOIN facts f ON f.customer_id = c.id"
        " WHERE c.id > ?1 ORDER BY c.id LIMIT ?3",
    [ST_CUSTOMER_MAX] = "SELECT COALESCE(MAX(id), 0) FROM customers",
    [ST_CUSTOMER_DELETE] = "DELETE FROM customers WHERE id = ?1",
    [ST_TOUCHPOINT_DELETE] = "DELETE FROM touchpoints WHERE id = ?1",
    [ST_RELEASE] = "RELEASE event",
    [ST_ROLLBACK_TO] = "ROLLBACK TO event",
    [ST_FACTS_ALL] = "SELECT plugin, name, value FROM customer_facts WHERE customer_id = ?1 ORDER BY plugin, name",
    [ST_FACTS_PLUGIN] = "SELECT plugin, name, value FROM customer_facts WHERE customer_id = ?1 AND plugin = ?2 ORDER BY name",
    [ST_AUDIT] = "INSERT INTO audit(at, plugin, event_id, customer_id, effect, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_TAG_ON] =
        "INSERT INTO customer_tags(customer_id, tag, plugin, event_id, at) VALUES (?1, ?2, ?3, ?4, ?5)"
        " ON CONFLICT(customer_id, tag) DO NOTHING",
    [ST_TAG_OFF] = "DELETE FROM customer_tags WHERE customer_id = ?1 AND tag = ?2",
    [ST_TAG_HAS] = "SELECT 1 FROM customer_tags WHERE customer_id = ?1 AND tag = ?2",
    [ST_LEDGER_ADD] =
        "INSERT INTO ledger(customer_id, points, kind, rule, note, at, plugin, event_id, available_at, expires_at,"
        " lot_id, spend_cents) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [ST_LEDGER_BALANCE] = "SELECT COALESCE(SUM(points), 0) FROM ledger WHERE customer_id = ?1",
    [ST_LEDGER_SUM] =
        "SELECT COALESCE(SUM(l.points), 0), COALESCE(SUM(l.spend_cents), 0) FROM ledger l"
        " WHERE l.customer_id = ?1 AND l.kind IN (SELECT value FROM json_each(?3))"
        " AND COALESCE((SELECT o.at FROM ledger o WHERE o.id = l.lot_id), l.at) BETWEEN ?2 + 1 AND ?4 - 1",
    [ST_LEDGER_LOT] = "SELECT 1 FROM ledger WHERE id = ?1 AND customer_id = ?2 AND points > 0",
    [ST_EXPLANATION] = "INSERT INTO explanations(event_id, data) VALUES (?1, ?2)",
    [ST_TIER_RECORD] =
        "INSERT INTO tier_history(customer_id, tier, previous, at, reason, plugin, event_id)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_REFUND_ADD] =
        "INSERT INTO refunds(external_id, customer_id, purchase_event_id, requested_cents, approved_cents, decision,"
        " rule, reason, at, plugin, event_id, kind, lines, points, clawback_points, clawback_policy, deducted_cents)"
        " VALUES (?1, ?2, (SELECT id FROM events WHERE external_id = ?3), ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
        " ?13, ?14, ?15, ?16, ?17)",
    [ST_SCORE_SET] =
        "INSERT INTO experience_scores(customer_id, module, touchpoint_id, score, at, plugin, event_id)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(customer_id, module, touchpoint_id) DO UPDATE SET"
        " score = excluded.score, at = excluded.at, plugin = excluded.plugin, event_id = excluded.event_id",
    [ST_OUTBOX_ADD] =
        "INSERT INTO outbox(customer_id, channel, template, vars, plugin, event_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_LATEST_EVENT] = "SELECT COALESCE(MAX(at), 0) FROM events WHERE type <> 'campaign'",
    [ST_CELL_GET] =
        "SELECT value_sum, weight_sum, as_of, half_life, observations, high, low, plugin, event_id"
        " FROM experience_cells WHERE measure = ?1 AND touchpoint_id = ?2",
    [ST_CELL_SET] =
        "INSERT INTO experience_cells(measure, touchpoint_id, value_sum, weight_sum, as_of, half_life, observations,"
        " high, low, plugin, event_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        " ON CONFLICT(measure, touchpoint_id) DO UPDATE SET value_sum = excluded.value_sum,"
        " weight_sum = excluded.weight_sum, as_of = excluded.as_of, half_life = excluded.half_life,"
        " observations = excluded.observations, high = excluded.high, low = excluded.low,"
        " plugin = excluded.plugin, event_id = excluded.event_id",
    [ST_TOUCHPOINT_DESCRIBE] =
        "INSERT INTO touchpoints(name, stage, provider) VALUES (?1, ?2, ?3) ON CONFLICT(name) DO UPDATE SET"
        " stage = excluded.stage, provider = excluded.provider"
        " WHERE stage IS NOT excluded.stage OR provider IS NOT excluded.provider",
    [ST_IMPORT_BEGIN] = "INSERT INTO imports(source, format, started_at) VALUES (?1, ?2, ?3)",
    [ST_IMPORT_FINISH] =
        "UPDATE imports SET finished_at = ?2, lines = ?3, inserted = ?4, duplicates = ?5, rejected = ?6 WHERE id = ?1",
};

struct cell {
    char *measure;
    store_id touchpoint;
    double value_sum, weight_sum;
    int64_t as_of, half_life, observations, high, low;
    const char *plugin;   /* the last observation's origin (plugin names outlive the transaction) */
    store_id event;
    size_t index;         /* its place in store.cells */
    int dirty;            /* changed since written */
    int in_event;         /* already kept in cell_undo for this event */
};

static int store_write_cells(store *s, cx_error *err);
static void store_forget_cells(store *s);
static void store_end_cells_event(store *s, int kept);

static int query_authorizer(void *ud, int action, const char *a, const char *b, const char *c, const char *d);

struct store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmt[ST_COUNT];
    int in_transaction;
    int in_savepoint;
    strmap customers;     /* external id -> id, for this connection's writes */
    int customers_complete;   /* the map holds every customer: a miss needs no query */
    strmap touchpoints;   /* name -> id */
    store_cache cache;    /* the facts above the store (cache.ud NULL: none) */
    store_id new_from;    /* customers from this id on have no facts in the database yet */
    /* Running cells (store_cell_add) touched by the transaction, written back
     * with the facts: an observation updates a struct, not a row. */
    struct cell *cells;
    size_t ncells, capcells;
    strmap cell_index;    /* measure, 0x1f, the touchpoint id's bytes -> index into cells */
    struct cell *cell_undo;   /* the event's cells as they were before it touched them */
    size_t ncell_undo, capcell_undo;
    buf detail;           /* scratch for audit details */
    /* While store_query prepares a consultant's statement: its checks, and
     * whether it reads what a cache holds back (the authorizer sets it). */
    int query_checking, query_reads_cached;
};

static int store_fail(store *s, cx_error *err, const char *what)
{
    cx_error_set(err, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
    return -1;
}

static int store_exec(store *s, const char *sql, cx_error *err)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        cx_error_set(err, "%s: %s", s->path, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* The prepared statement for id, reset and with no bindings. */
static sqlite3_stmt *store_stmt(store *s, enum stmt_id id, cx_error *err)
{
    if (!s->stmt[id]) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[id], NULL) != SQLITE_OK) {
            store_fail(s, err, "preparing a statement");
            return NULL;
        }
    }
    return s->stmt[id];
}

/* Runs a statement expected to return no row; always resets it. */
static int store_step_done(store *s, sqlite3_stmt *st, cx_error *err, const char *what)
{
    int rc = sqlite3_step(st);
    int ok = rc == SQLITE_DONE || rc == SQLITE_ROW;
    if (!ok)
        store_fail(s, err, what);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ok ? 0 : -1;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void bind_id(sqlite3_stmt *st, int i, store_id id)
{
    if (id)
        sqlite3_bind_int64(st, i, id);
    else
        sqlite3_bind_null(st, i);
}

static void bind_value(sqlite3_stmt *st, int i, const store_value *v)
{
    switch (v->type) {
    case STORE_INT: sqlite3_bind_int64(st, i, v->i); break;
    case STORE_REAL: sqlite3_bind_double(st, i, v->r); break;
    case STORE_TEXT: sqlite3_bind_text(st, i, v->s, (int)v->len, SQLITE_STATIC); break;
    default: sqlite3_bind_null(st, i); break;
    }
}

static void column_value(sqlite3_stmt *st, int i, store_value *v)
{
    memset(v, 0, sizeof *v);
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER: v->type = STORE_INT; v->i = sqlite3_column_int64(st, i); break;
    case SQLITE_FLOAT: v->type = STORE_REAL; v->r = sqlite3_column_double(st, i); break;
    case SQLITE_NULL: v->type = STORE_NULL; break;
    default:
        v->type = STORE_TEXT;
        v->s = (const char *)sqlite3_column_text(st, i);
        v->len = (size_t)sqlite3_column_bytes(st, i);
        if (!v->s)
            v->s = "";
        break;
    }
}

/* A single integer from a one-row query, already bound. */
static int store_step_int(store *s, sqlite3_stmt *st, int64_t *out, cx_error *err, const char *what)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_fail(s, err, what);
    return rc == SQLITE_ROW ? 1 : 0;
}

_Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION,
               "one migration per schema version");

static int store_migrate(store *s, cx_error *err)
{
    int version = store_schema_version(s);
    int latest = (int)(sizeof migrations / sizeof migrations[0]);
    if (version > latest) {
        cx_error_set(err, "%s: this store has schema version %d, newer than this cxhost knows (%d); "
                     "use a newer cxhost", s->path, version, latest);
        return -1;
    }
    for (int v = version; v < latest; v++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        if (store_exec(s, "BEGIN IMMEDIATE", err) < 0)
            return -1;
        if (store_exec(s, migrations[v], err) < 0 || store_exec(s, pragma, err) < 0) {
            cx_error_prefix(err, "migrating the schema from version %d to %d", v, v + 1);
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
        if (store_exec(s, "COMMIT", err) < 0)
            return -1;
    }
    return 0;
}

void store_init_library(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);   /* refused (harmlessly) once SQLite is initialised */
}

int store_open(const char *path, int create, store **out, cx_error *err)
{
    struct stat st;
    *out = NULL;
    store_init_library();
    if (!create && stat(path, &st) != 0) {
        cx_error_set(err, "%s: no store there", path);
        return -1;
    }
    store *s = calloc(1, sizeof *s);
    if (!s) {
        cx_error_set(err, "out of memory");
        return -1;
    }
    s->path = strdup(path);
    s->new_from = INT64_MAX;
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
    if (!s->path || sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        cx_error_set(err, "%s: cannot open the store: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        store_close(s);
        return -1;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, 10000);
    sqlite3_set_authorizer(s->db, query_authorizer, s);
    /* WAL lets readers (reports, the REPL) run beside a writer; FULL makes a
     * commit durable before cxhost says it is done. */
    if (store_exec(s, "PRAGMA journal_mode = WAL", err) < 0 ||
        store_exec(s, "PRAGMA synchronous = FULL", err) < 0 ||
        store_exec(s, "PRAGMA foreign_keys = ON", err) < 0 ||
        /* Each event's savepoint keeps its undo pages in memory, not in a temp
         * file; a bigger cache keeps a large import from spilling to the WAL. */
        store_exec(s, "PRAGMA temp_store = MEMORY", err) < 0 ||
        store_exec(s, "PRAGMA cache_size = -65536", err) < 0 ||
        store_migrate(s, err) < 0) {
        store_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

void store_close(store *s)
{
    if (!s)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    if (s->db)
        sqlite3_close(s->db);
    strmap_free(&s->customers);
    strmap_free(&s->touchpoints);
    store_forget_cells(s);
    strmap_free(&s->cell_index);
    free(s->cells);
    free(s->cell_undo);
    buf_free(&s->detail);
    free(s->path);
    free(s);
}

int store_schema_version(store *s)
{
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    return v;
}

/* --- transactions ------------------------------------------------------ */

static void store_forget_caches(store *s)
{
    strmap_clear(&s->customers);
    strmap_clear(&s->touchpoints);
    s->customers_complete = 0;
}

void store_set_cache(store *s, const store_cache *c)
{
    if (c)
        s->cache = *c;
    else
        memset(&s->cache, 0, sizeof s->cache);
}

/* Has the cache above write back what SQL is about to read. */

static int store_write_back(store *s, cx_error *err)
{
    if (!s->in_transaction)
        return 0;
    if (s->cache.write_back && s->cache.write_back(s->cache.ud, err) < 0)
        return -1;
    return store_write_cells(s, err);
}

static void store_cache_forget(store *s)
{
    if (s->cache.forget)
        s->cache.forget(s->cache.ud);
    store_forget_cells(s);
}

/* Notes where the ids of customers added from now on start: their facts
 * can only be in the cache, so the first use of one needs no query. */
static int store_note_new_customers(store *s, cx_error *err)
{
    int64_t max = 0;
    sqlite3_stmt *st = store_stmt(s, ST_CUSTOMER_MAX, err);
    if (!st || store_step_int(s, st, &max, err, "reading customers") < 0)
        return -1;
    s->new_from = max + 1;
    /* No customers yet (a first import): every one the transaction meets is
     * added through the map, so the map alone says who exists. */
    s->customers_complete = max == 0;
    return 0;
}

static int store_run(store *s, enum stmt_id id, cx_error *err, const char *what)
{
    sqlite3_stmt *st = store_stmt(s, id, err);
    return st ? store_step_done(s, st, err, what) : -1;
}

int store_begin(store *s, cx_error *err)
{
    if (s->in_transaction) {
        cx_error_set(err, "%s: a transaction is already open", s->path);
        return -1;
    }
    if (store_exec(s, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    if (store_note_new_customers(s, err) < 0) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    s->in_transaction = 1;
    return 0;
}

int store_commit(store *s, cx_error *err)
{
    if (store_write_back(s, err) < 0 || store_exec(s, "COMMIT", err) < 0) {
        store_rollback(s);
        return -1;
    }
    s->in_transaction = 0;
    store_cache_forget(s);
    return 0;
}

void store_rollback(store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_transaction = 0;
    s->in_savepoint = 0;
    store_forget_caches(s);
    store_cache_forget(s);
}

int store_in_transaction(const store *s) { return s->in_transaction; }

int store_savepoint(store *s, cx_error *err)
{
    if ((s->cache.event_begin && s->cache.event_begin(s->cache.ud, err) < 0) ||
        store_run(s, ST_SAVEPOINT, err, "starting an event") < 0) {
        if (s->cache.event_end)
            s->cache.event_end(s->cache.ud, 0);
        return -1;
    }
    s->in_savepoint = 1;
    return 0;
}

int store_release(store *s, cx_error *err)
{
    s->in_savepoint = 0;
    if (s->cache.event_end)
        s->cache.event_end(s->cache.ud, 1);
    store_end_cells_event(s, 1);
    return store_run(s, ST_RELEASE, err, "finishing an event");
}

void store_rollback_savepoint(store *s)
{
    cx_error ignored;
    if (!s->in_savepoint)
        return;
    store_run(s, ST_ROLLBACK_TO, &ignored, "taking an event back");
    store_run(s, ST_RELEASE, &ignored, "taking an event back");
    s->in_savepoint = 0;
    if (s->cache.event_end)
        s->cache.event_end(s->cache.ud, 0);
    store_end_cells_event(s, 0);
    store_forget_caches(s);
}

/* --- customers, touchpoints, events -------------------------------------- */

/* 1 found (and cached), 0 not, -1 error. */
static int store_find(store *s, strmap *cache, enum stmt_id find, const char *name, store_id *id, cx_error *err)
{
    size_t len = strlen(name);
    if (strmap_get(cache, name, len, id))
        return 1;
    if (cache == &s->customers && s->customers_complete)
        return 0;
    sqlite3_stmt *st = store_stmt(s, find, err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, name, (int)len, SQLITE_STATIC);
    int found = store_step_int(s, st, id, err, "looking up an id");
    if (found == 1)
        strmap_put(cache, name, len, *id);
    return found;
}

/* Inserts name, known to be absent, with the insert statement (whose ?1 is the name). */
static int store_add(store *s, strmap *cache, enum stmt_id insert, const char *name, int64_t first_seen,
                     store_id *id, cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, insert, err);
    if (!st)
        return -1;
    bind_text(st, 1, name);
    if (insert == ST_CUSTOMER_INSERT) {
        sqlite3_bind_int64(st, 2, first_seen);
        sqlite3_bind_int64(st, 3, utc_now());
    }
    if (store_step_done(s, st, err, "adding a row") < 0)
        return -1;
    *id = sqlite3_last_insert_rowid(s->db);
    strmap_put(cache, name, strlen(name), *id);
    return 0;
}

/* Looks name up in cache, then with the find statement, and adds it when missing. */
static int store_ensure(store *s, strmap *cache, enum stmt_id find, enum stmt_id insert,
                        const char *name, int64_t first_seen, store_id *id, cx_error *err)
{
    int found = store_find(s, cache, find, name, id, err);
    if (found != 0)
        return found < 0 ? -1 : 0;
    return store_add(s, cache, insert, name, first_seen, id, err);
}

int store_customer_add(store *s, const char *external_id, int64_t first_seen, store_id *id, cx_error *err)
{
    return store_add(s, &s->customers, ST_CUSTOMER_INSERT, external_id, first_seen, id, err);
}

int store_touchpoint_add(store *s, const char *name, store_id *id, cx_error *err)
{
    return store_add(s, &s->touchpoints, ST_TOUCHPOINT_INSERT, name, 0, id, err);
}

int store_customer_ensure(store *s, const char *external_id, int64_t first_seen, store_id *id, cx_error *err)
{
    return store_ensure(s, &s->customers, ST_CUSTOMER_FIND, ST_CUSTOMER_INSERT, external_id, first_seen, id, err);
}

int store_customer_find(store *s, const char *external_id, store_id *id, cx_error *err)
{
    return store_find(s, &s->customers, ST_CUSTOMER_FIND, external_id, id, err);
}

int store_touchpoint_find(store *s, const char *name, store_id *id, cx_error *err)
{
    return store_find(s, &s->touchpoints, ST_TOUCHPOINT_FIND, name, id, err);
}

int store_touchpoint_ensure(store *s, const char *name, store_id *id, cx_error *err)
{
    return store_ensure(s, &s->touchpoints, ST_TOUCHPOINT_FIND, ST_TOUCHPOINT_INSERT, name, 0, id, err);
}

/* The id caches are simply dropped: this happens once per duplicate event
 * that names a customer or touchpoint never seen, which is rare. */
static int store_remove(store *s, enum stmt_id del, store_id id, cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, del, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    store_forget_caches(s);
    return store_step_done(s, st, err, "taking back a row");
}

int store_customer_remove(store *s, store_id id, cx_error *err)
{
    return store_remove(s, ST_CUSTOMER_DELETE, id, err);
}

int store_touchpoint_remove(store *s, store_id id, cx_error *err)
{
    return store_remove(s, ST_TOUCHPOINT_DELETE, id, err);
}

int store_event_insert(store *s, const cx_event *ev, store_id customer, store_id touchpoint,
                       store_id import_id, store_id *event_id, cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, ST_EVENT_INSERT, err);
    if (!st)
        return -1;
    bind_text(st, 1, ev->id);
    bind_text(st, 2, ev->type);
    bind_id(st, 3, customer);
    sqlite3_bind_int64(st, 4, ev->at);
    if (ev->has_amount)
        sqlite3_bind_int64(st, 5, ev->amount_cents);
    bind_id(st, 6, touchpoint);
    bind_text(st, 7, ev->data_json);
    bind_id(st, 8, import_id);
    sqlite3_bind_int64(st, 9, utc_now());
    if (store_step_done(s, st, err, "storing an event") < 0)
        return -1;
    if (sqlite3_changes(s->db) == 0)
        return 0;
    *event_id = sqlite3_last_insert_rowid(s->db);
    return 1;
}

/* --- effects ----------------------------------------------------------------- */

static int store_audit(store *s, const store_origin *o, store_id customer, const char *effect,
                       const char *detail, cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, ST_AUDIT, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, o->at);
    bind_text(st, 2, o->plugin);
    bind_id(st, 3, o->event);
    bind_id(st, 4, customer);
    bind_text(st, 5, effect);
    bind_text(st, 6, detail);
    return store_step_done(s, st, err, "writing the audit trail");
}

int store_facts_load(store *s, store_id customer, buf *json, cx_error *err)
{
    buf_clear(json);
    if (customer >= s->new_from)
        return 0;
    sqlite3_stmt *st = store_stmt(s, ST_STATE_LOAD, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, customer);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        buf_add(json, sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_fail(s, err, "reading facts");
    return rc == SQLITE_ROW;
}

int store_facts_may_exist(const store *s, store_id customer) { return customer < s->new_from; }

int store_facts_write(store *s, store_id customer, const char *json, size_t len, store_id event, int64_t at,
                      cx_error *err)
{
    if (!s->in_transaction) {
        cx_error_set(err, "%s: facts are written only inside a transaction", s->path);
        return -1;
    }
    sqlite3_stmt *st = store_stmt(s, json ? ST_STATE_SET : ST_STATE_DELETE, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, customer);
    if (json) {
        sqlite3_bind_text(st, 2, json, (int)len, SQLITE_STATIC);
        bind_id(st, 3, event);
        sqlite3_bind_int64(st, 4, at);
    }
    if (store_step_done(s, st, err, "writing facts") < 0)
        return -1;
    /* Customers from new_from on no longer all lack a row. */
    if (json && customer >= s->new_from)
        s->new_from = customer + 1;
    return 0;
}

int store_facts_each(store *s, store_id customer, const char *plugin, store_fact_fn fn, void *ud, cx_error *err)
{
    if (store_write_back(s, err) < 0)
        return -1;
    sqlite3_stmt *st = store_stmt(s, plugin ? ST_FACTS_PLUGIN : ST_FACTS_ALL, err);
    int rc;
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, customer);
    if (plugin)
        bind_text(st, 2, plugin);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_value v;
        column_value(st, 2, &v);
        if (fn(ud, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1), &v))
            break;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_fail(s, err, "reading facts");
    return 0;
}

int store_facts_customers(store *s, const char *plugin, store_customer_fn fn, void *ud, cx_error *err)
{
    enum { PAGE = 1024 };
    store_id ids[PAGE];
    int stored[PAGE];
    size_t external_at[PAGE];   /* where each external id starts in names */
    buf names = BUF_INIT;
    store_id after = 0;
    int rows, stop = 0;
    /* A page at a time, read whole before fn runs: fn may write, and memory
     * stays bounded however many customers there are. */
    do {
        sqlite3_stmt *st = store_stmt(s, ST_FACTS_CUSTOMERS, err);
        int step, n = 0;
        if (!st) {
            stop = -1;
            break;
        }
        rows = 0;
        buf_clear(&names);
        sqlite3_bind_int64(st, 1, after);
        bind_text(st, 2, plugin);
        sqlite3_bind_int(st, 3, PAGE);
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            store_id id = sqlite3_column_int64(st, 0);
            rows++;
            after = id;
            stored[n] = sqlite3_column_int(st, 2);
            ids[n] = id;
            external_at[n++] = names.len;
            buf_add(&names, sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1) + 1);
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (step != SQLITE_DONE)
            stop = store_fail(s, err, "listing customers");
        for (int i = 0; i < n && !stop; i++)
            if (fn(ud, ids[i], names.data + external_at[i], stored[i]))
                stop = 1;
    } while (!stop && rows == PAGE);
    buf_free(&names);
    return stop < 0 ? -1 : 0;
}

int store_tag_set(store *s, const store_origin *o, store_id customer, const char *tag, int on, cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, on ? ST_TAG_ON : ST_TAG_OFF, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, customer);
    bind_text(st, 2, tag);
    if (on) {
        bind_text(st, 3, o->plugin);
        bind_id(st, 4, o->event);
        sqlite3_bind_int64(st, 5, o->at);
    }
    if (store_step_done(s, st, err, "tagging a customer") < 0)
        return -1;
    if (sqlite3_changes(s->db) == 0)
        return 0;   /* already so: nothing to audit */
    buf_clear(&s->detail);
    buf_printf(&s->detail, "%c%s", on ? '+' : '-', tag);
    return store_audit(s, o, customer, "tag", buf_str(&s->detail), err);
}

int store_tag_has(store *s, store_id customer, const char *tag, cx_error *err)
{
    int64_t one = 0;
    sqlite3_stmt *st = store_stmt(s, ST_TAG_HAS, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, customer);
    bind_text(st, 2, tag);
    return store_step_int(s, st, &one, err, "reading tags");
}

int store_ledger_add(store *s, const store_origin *o, store_id customer, const store_ledger_entry *e,
                     store_id *entry_id, cx_error *err)
{
    if (e->lot) {
        /* A lot is one of the customer's own earlier entries that gave points. */
        sqlite3_stmt *lot = store_stmt(s, ST_LEDGER_LOT, err);
        int64_t found = 0;
        if (!lot)
            return -1;
        sqlite3_bind_int64(lot, 1, e->lot);
        sqlite3_bind_int64(lot, 2, customer);
        int rc = store_step_int(s, lot, &found, err, "finding a ledger entry's lot");
        if (rc < 0)
            return -1;
        if (rc == 0) {
            cx_error_set(err, "entry %lld is not a lot of this customer (one of their entries that gave points)",
                         (long long)e->lot);
            return -1;
        }
    }
    sqlite3_stmt *st = store_stmt(s, ST_LEDGER_ADD, err);
    if (!st)
        return -1;
    int64_t at = e->at ? e->at : o->at;
    sqlite3_bind_int64(st, 1, customer);
    sqlite3_bind_int64(st, 2, e->points);
    bind_text(st, 3, e->kind);
    bind_text(st, 4, e->rule);
    bind_text(st, 5, e->note);
    sqlite3_bind_int64(st, 6, at);
    bind_text(st, 7, o->plugin);
    bind_id(st, 8, o->event);
    bind_id(st, 9, e->available_at > at ? e->available_at : 0);
    bind_id(st, 10, e->expires_at);
    bind_id(st, 11, e->lot);
    sqlite3_bind_int64(st, 12, e->spend_cents);
    if (store_step_done(s, st, err, "adding to the loyalty ledger") < 0)
        return -1;
    if (entry_id)
        *entry_id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int store_ledger_balance(store *s, store_id customer, int64_t *points, cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, ST_LEDGER_BALANCE, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, customer);
    *points = 0;
    return store_step_int(s, st, points, err, "reading a balance") < 0 ? -1 : 0;
}

int store_ledger_sum(store *s, store_id customer, int64_t since, int64_t until, const char *kinds_json,
                     int64_t *points, int64_t *spend_cents, cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, ST_LEDGER_SUM, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, customer);
    sqlite3_bind_int64(st, 2, since);
    bind_text(st, 3, kinds_json);
    sqlite3_bind_int64(st, 4, until);
    int rc = sqlite3_step(st);
    *points = *spend_cents = 0;
    if (rc == SQLITE_ROW) {
        *points = sqlite3_column_int64(st, 0);
        *spend_cents = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_fail(s, err, "summing the loyalty ledger");
}

int store_tier_record(store *s, const store_origin *o, store_id customer, const char *tier, const char *previous,
                      const char *reason, cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, ST_TIER_RECORD, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, customer);
    bind_text(st, 2, tier);
    bind_text(st, 3, previous);
    sqlite3_bind_int64(st, 4, o->at);
    bind_text(st, 5, reason);
    bind_text(st, 6, o->plugin);
    bind_id(st, 7, o->event);
    return store_step_done(s, st, err, "recording a tier change");
}

int store_refund_add(store *s, const store_origin *o, store_id customer, const store_refund *r, store_id *id,
                     cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, ST_REFUND_ADD, err);
    if (!st)
        return -1;
    bind_text(st, 1, r->request);
    sqlite3_bind_int64(st, 2, customer);
    bind_text(st, 3, r->purchase);
    sqlite3_bind_int64(st, 4, r->requested_cents);
    sqlite3_bind_int64(st, 5, r->approved_cents);
    bind_text(st, 6, r->decision);
    bind_text(st, 7, r->rule);
    bind_text(st, 8, r->reason);
    sqlite3_bind_int64(st, 9, o->at);
    bind_text(st, 10, o->plugin);
    bind_id(st, 11, o->event);
    bind_text(st, 12, r->kind);
    bind_text(st, 13, r->lines_json);
    sqlite3_bind_int64(st, 14, r->points);
    sqlite3_bind_int64(st, 15, r->clawback_points);
    bind_text(st, 16, r->clawback_policy);
    sqlite3_bind_int64(st, 17, r->deducted_cents);
    if (store_step_done(s, st, err, "recording a refund decision") < 0)
        return -1;
    if (id)
        *id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int store_explanation_write(store *s, store_id event, const char *json, size_t len, cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, ST_EXPLANATION, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, event);
    sqlite3_bind_text(st, 2, json, (int)len, SQLITE_STATIC);
    return store_step_done(s, st, err, "keeping the plugins' explanation of an event");
}

int store_score_set(store *s, const store_origin *o, store_id customer, const char *module,
                    store_id touchpoint, double score, cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, ST_SCORE_SET, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, customer);
    bind_text(st, 2, module);
    sqlite3_bind_int64(st, 3, touchpoint);
    sqlite3_bind_double(st, 4, score);
    sqlite3_bind_int64(st, 5, o->at);
    bind_text(st, 6, o->plugin);
    bind_id(st, 7, o->event);
    if (store_step_done(s, st, err, "setting an experience score") < 0)
        return -1;
    buf_clear(&s->detail);
    buf_printf(&s->detail, "%s=%.2f", module, score);
    if (touchpoint)
        buf_printf(&s->detail, " at touchpoint %lld", (long long)touchpoint);
    return store_audit(s, o, customer, "score", buf_str(&s->detail), err);
}

/* Brings a decayed sum at time from to time to (either way: an observation
 * older than the sums is added at its decayed weight). */
static double decay_factor(int64_t from, int64_t to, int64_t half_life)
{
    if (half_life <= 0 || from == to)
        return 1.0;
    double dt = (double)(to > from ? to - from : from - to);
    return exp2(-dt / (double)half_life);
}

/* Doubles an array of cells. */
static int grow_cells(struct cell **cells, size_t *cap, cx_error *err)
{
    size_t n = *cap ? 2 * *cap : 32;
    struct cell *more = realloc(*cells, n * sizeof *more);
    if (!more) {
        cx_error_set(err, "out of memory");
        return -1;
    }
    *cells = more;
    *cap = n;
    return 0;
}

/* The cached cell of (measure, touchpoint), read from its row on first use
 * in the transaction; NULL with err on failure. */
static struct cell *cell_get(store *s, const char *measure, store_id touchpoint, cx_error *err)
{
    /* The key: the measure, a separator, the touchpoint's id as its bytes
     * (no printf: this runs for every observation). */
    char key[128];
    size_t len = strlen(measure);
    if (len + 1 + sizeof touchpoint > sizeof key) {
        cx_error_set(err, "measure name '%.40s...' is too long", measure);
        return NULL;
    }
    memcpy(key, measure, len);
    key[len] = '\x1f';
    memcpy(key + len + 1, &touchpoint, sizeof touchpoint);
    size_t n = len + 1 + sizeof touchpoint;
    int64_t i;
    if (strmap_get(&s->cell_index, key, n, &i))
        return &s->cells[i];
    if (s->ncells == s->capcells && grow_cells(&s->cells, &s->capcells, err) < 0)
        return NULL;
    struct cell *c = &s->cells[s->ncells];
    memset(c, 0, sizeof *c);
    if (!(c->measure = strdup(measure))) {
        cx_error_set(err, "out of memory");
        return NULL;
    }
    c->touchpoint = touchpoint;
    c->index = s->ncells;
    sqlite3_stmt *st = store_stmt(s, ST_CELL_GET, err);
    if (!st) {
        free(c->measure);
        return NULL;
    }
    bind_text(st, 1, measure);
    sqlite3_bind_int64(st, 2, touchpoint);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        c->value_sum = sqlite3_column_double(st, 0);
        c->weight_sum = sqlite3_column_double(st, 1);
        c->as_of = sqlite3_column_int64(st, 2);
        c->half_life = sqlite3_column_int64(st, 3);
        c->observations = sqlite3_column_int64(st, 4);
        c->high = sqlite3_column_int64(st, 5);
        c->low = sqlite3_column_int64(st, 6);
        c->event = sqlite3_column_int64(st, 8);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        free(c->measure);
        store_fail(s, err, "reading an experience cell");
        return NULL;
    }
    strmap_put(&s->cell_index, key, n, (int64_t)s->ncells);
    s->ncells++;
    return c;
}

int store_cell_add(store *s, const store_origin *o, const store_observation *ob, cx_error *err)
{
    if (!s->in_transaction) {
        cx_error_set(err, "%s: an experience cell changes only inside a transaction", s->path);
        return -1;
    }
    if (strlen(ob->measure) > 64) {
        cx_error_set(err, "an experience measure's name is at most 64 characters");
        return -1;
    }
    struct cell *c = cell_get(s, ob->measure, ob->touchpoint, err);
    if (!c)
        return -1;
    if (s->in_savepoint && !c->in_event) {
        if (s->ncell_undo == s->capcell_undo && grow_cells(&s->cell_undo, &s->capcell_undo, err) < 0)
            return -1;
        c->in_event = 1;
        s->cell_undo[s->ncell_undo++] = *c;
    }
    if (c->observations == 0)
        c->as_of = o->at;
    double k = decay_factor(c->as_of, o->at, ob->half_life);
    if (o->at >= c->as_of) {       /* the sums move on to the observation's time */
        c->value_sum = c->value_sum * k + ob->weight * ob->value;
        c->weight_sum = c->weight_sum * k + ob->weight;
        c->as_of = o->at;
    } else {                       /* an older observation counts for less */
        c->value_sum += ob->weight * ob->value * k;
        c->weight_sum += ob->weight * k;
    }
    c->half_life = ob->half_life > 0 ? ob->half_life : 0;
    c->observations++;
    c->high += ob->high != 0;
    c->low += ob->low != 0;
    c->plugin = o->plugin;
    c->event = o->event;
    c->dirty = 1;
    return 0;
}

/* Writes the changed cells to their rows. */
static int store_write_cells(store *s, cx_error *err)
{
    for (size_t i = 0; i < s->ncells; i++) {
        struct cell *c = &s->cells[i];
        if (!c->dirty)
            continue;
        sqlite3_stmt *st = store_stmt(s, ST_CELL_SET, err);
        if (!st)
            return -1;
        bind_text(st, 1, c->measure);
        sqlite3_bind_int64(st, 2, c->touchpoint);
        sqlite3_bind_double(st, 3, c->value_sum);
        sqlite3_bind_double(st, 4, c->weight_sum);
        sqlite3_bind_int64(st, 5, c->as_of);
        sqlite3_bind_int64(st, 6, c->half_life);
        sqlite3_bind_int64(st, 7, c->observations);
        sqlite3_bind_int64(st, 8, c->high);
        sqlite3_bind_int64(st, 9, c->low);
        bind_text(st, 10, c->plugin ? c->plugin : "?");
        bind_id(st, 11, c->event);
        if (store_step_done(s, st, err, "writing an experience cell") < 0)
            return -1;
        c->dirty = 0;
    }
    return 0;
}

/* The transaction has ended: the cells are read afresh next time. */
static void store_forget_cells(store *s)
{
    for (size_t i = 0; i < s->ncells; i++)
        free(s->cells[i].measure);
    s->ncells = 0;
    s->ncell_undo = 0;
    strmap_clear(&s->cell_index);
}

/* The event is over: kept (its cells stay as they are) or taken back (they
 * are as before it, newest change last undone first). */
static void store_end_cells_event(store *s, int kept)
{
    for (size_t i = s->ncell_undo; i-- > 0;) {
        struct cell *before = &s->cell_undo[i];
        struct cell *c = &s->cells[before->index];
        if (!kept)
            *c = *before;
        c->in_event = 0;
    }
    s->ncell_undo = 0;
}

int store_touchpoint_describe(store *s, const char *name, const char *stage, const char *provider, cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, ST_TOUCHPOINT_DESCRIBE, err);
    if (!st)
        return -1;
    bind_text(st, 1, name);
    bind_text(st, 2, stage);
    bind_text(st, 3, provider);
    if (store_step_done(s, st, err, "describing a touchpoint") < 0)
        return -1;
    return sqlite3_changes(s->db) > 0;
}

int store_rfm_segment_set(store *s, int r, int f, const char *segment, cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, ST_RFM_SEGMENT, err);
    if (!st)
        return -1;
    sqlite3_bind_int(st, 1, r);
    sqlite3_bind_int(st, 2, f);
    bind_text(st, 3, segment);
    return store_step_done(s, st, err, "setting an RFM segment");
}

/* --- campaigns ------------------------------------------------------------------ */

int store_campaign_save(store *s, const store_campaign *c, int64_t at, store_id *id, cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, ST_CAMPAIGN_SAVE, err);
    if (!st)
        return -1;
    bind_text(st, 1, c->name);
    bind_text(st, 2, c->description);
    bind_text(st, 3, c->module);
    bind_text(st, 4, c->source);
    bind_text(st, 5, c->trigger);
    if (c->active >= 0)
        sqlite3_bind_int(st, 6, c->active ? 1 : 0);
    if (c->next_run_at >= 0)
        sqlite3_bind_int64(st, 7, c->next_run_at);
    sqlite3_bind_int64(st, 8, at);
    if (store_step_done(s, st, err, "saving a campaign") < 0)
        return -1;
    if (store_campaign_find(s, c->name, id, err) != 1)
        return store_fail(s, err, "finding the campaign just saved");
    return 0;
}

int store_campaigns_revision(store *s, int64_t *revision, cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, ST_CAMPAIGNS_REVISION, err);
    if (!st)
        return -1;
    *revision = 0;
    return store_step_int(s, st, revision, err, "reading the campaigns' revision") < 0 ? -1 : 0;
}

int store_campaign_find(store *s, const char *name, store_id *id, cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, ST_CAMPAIGN_FIND, err);
    if (!st)
        return -1;
    bind_text(st, 1, name);
    return store_step_int(s, st, id, err, "finding a campaign");
}

int store_campaign_run_add(store *s, const store_origin *o, store_id campaign, const char *period, store_id *run,
                           cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, ST_CAMPAIGN_RUN_ADD, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, campaign);
    bind_text(st, 2, period);
    sqlite3_bind_int64(st, 3, o->at);
    bind_id(st, 4, o->event);
    if (store_step_done(s, st, err, "starting a campaign run") < 0)
        return -1;
    int added = sqlite3_changes(s->db) > 0;
    if (!(st = store_stmt(s, ST_CAMPAIGN_RUN_FIND, err)))
        return -1;
    sqlite3_bind_int64(st, 1, campaign);
    bind_text(st, 2, period);
    if (store_step_int(s, st, run, err, "finding a campaign run") != 1)
        return -1;
    if (!added)
        return 0;
    buf_clear(&s->detail);
    buf_printf(&s->detail, "campaign run %lld: %s", (long long)*run, period);
    return store_audit(s, o, 0, "campaign_run", buf_str(&s->detail), err) < 0 ? -1 : 1;
}

int store_campaign_run_end(store *s, const store_origin *o, store_id run, const char *status,
                           const char *stats_json, cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, ST_CAMPAIGN_RUN_END, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, run);
    bind_text(st, 2, status);
    bind_text(st, 3, stats_json);
    sqlite3_bind_int64(st, 4, o->at);
    if (store_step_done(s, st, err, "ending a campaign run") < 0)
        return -1;
    if (sqlite3_changes(s->db) == 0) {
        cx_error_set(err, "no campaign run %lld", (long long)run);
        return -1;
    }
    return 0;
}

int store_campaign_member_add(store *s, const store_origin *o, store_id campaign, store_id customer,
                              const char *arm, store_id run, char arm_out[16], cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, ST_CAMPAIGN_MEMBER_ADD, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, campaign);
    sqlite3_bind_int64(st, 2, customer);
    bind_text(st, 3, arm);
    sqlite3_bind_int64(st, 4, o->at);
    bind_id(st, 5, run);
    bind_id(st, 6, o->event);
    if (store_step_done(s, st, err, "adding a campaign member") < 0)
        return -1;
    if (sqlite3_changes(s->db) > 0) {
        snprintf(arm_out, 16, "%s", arm);
        return 1;
    }
    if (!(st = store_stmt(s, ST_CAMPAIGN_MEMBER_ARM, err)))
        return -1;
    sqlite3_bind_int64(st, 1, campaign);
    sqlite3_bind_int64(st, 2, customer);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(arm_out, 16, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW)
        return store_fail(s, err, "reading a campaign member's arm");
    return 0;
}

int store_campaign_action_add(store *s, const store_origin *o, store_id run, store_id customer,
                              const store_campaign_action *a, cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, ST_CAMPAIGN_RUN_EXISTS, err);
    int64_t found = 0;
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, run);
    int rc = store_step_int(s, st, &found, err, "finding a campaign run");
    if (rc <= 0) {
        if (rc == 0)
            cx_error_set(err, "no campaign run %lld", (long long)run);
        return -1;
    }
    if (!(st = store_stmt(s, ST_CAMPAIGN_ACTION_ADD, err)))
        return -1;
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_int64(st, 2, customer);
    bind_text(st, 3, a->kind);
    sqlite3_bind_int64(st, 4, a->points);
    sqlite3_bind_int64(st, 5, a->money_cents);
    sqlite3_bind_int(st, 6, a->contact ? 1 : 0);
    bind_text(st, 7, a->detail_json);
    sqlite3_bind_int64(st, 8, o->at);
    bind_id(st, 9, o->event);
    if (store_step_done(s, st, err, "recording a campaign action") < 0)
        return -1;
    if (a->points || a->money_cents || a->contact) {
        if (!(st = store_stmt(s, ST_CAMPAIGN_SPENT, err)))
            return -1;
        sqlite3_bind_int64(st, 1, run);
        sqlite3_bind_int64(st, 2, a->points);
        sqlite3_bind_int64(st, 3, a->money_cents);
        sqlite3_bind_int(st, 4, a->contact ? 1 : 0);
        if (store_step_done(s, st, err, "adding to a campaign's spending") < 0)
            return -1;
    }
    if (!a->outbox)
        return 0;
    if (!(st = store_stmt(s, ST_OUTBOX_RUN, err)))
        return -1;
    sqlite3_bind_int64(st, 1, a->outbox);
    sqlite3_bind_int64(st, 2, run);
    return store_step_done(s, st, err, "naming the run of a message");
}

int store_journey_set(store *s, const store_origin *o, store_id campaign, store_id customer, const char *step,
                      int64_t due_at, cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, ST_JOURNEY_SET, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, campaign);
    sqlite3_bind_int64(st, 2, customer);
    bind_text(st, 3, step);
    if (step)
        sqlite3_bind_int64(st, 4, due_at ? due_at : o->at);
    sqlite3_bind_int64(st, 5, o->at);
    bind_id(st, 6, o->event);
    return store_step_done(s, st, err, "moving a customer in a journey");
}

int store_outbox_add(store *s, const store_origin *o, store_id customer, const char *channel,
                     const char *template_name, const char *vars_json, store_id *id, cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, ST_OUTBOX_ADD, err);
    if (!st)
        return -1;
    bind_id(st, 1, customer);
    bind_text(st, 2, channel);
    bind_text(st, 3, template_name);
    bind_text(st, 4, vars_json);
    bind_text(st, 5, o->plugin);
    bind_id(st, 6, o->event);
    sqlite3_bind_int64(st, 7, o->at);
    if (store_step_done(s, st, err, "queueing a message") < 0)
        return -1;
    store_id row = sqlite3_last_insert_rowid(s->db);
    if (id)
        *id = row;
    buf_clear(&s->detail);
    buf_printf(&s->detail, "outbox %lld: %s via %s", (long long)row, template_name, channel);
    return store_audit(s, o, customer, "outbox", buf_str(&s->detail), err);
}

/* --- reading ------------------------------------------------------------------ */

/* Whether only blanks, semicolons and comments follow the first statement. */
static int sql_tail_is_empty(const char *p)
{
    while (*p) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ';') {
            p++;
        } else if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            if (!end)
                return 1;
            p = end + 2;
        } else {
            return 0;
        }
    }
    return 1;
}

/* SQLite counts ATTACH, DETACH and setting a PRAGMA as read-only, yet
 * ATTACH creates files anywhere and a PRAGMA can switch off foreign keys or
 * durability for the session: queries may only read. */
/* The tables the transaction's caches hold back (facts, running measures):
 * a query that reads one of them first has the caches written. */
static int reads_cached(const char *table)
{
    static const char *const cached[] = {"facts", "experience_cells", "customer_facts", "lifecycle", NULL};
    for (int i = 0; table && cached[i]; i++)
        if (sqlite3_stricmp(table, cached[i]) == 0)
            return 1;
    return 0;
}

/* Installed once for the connection (setting an authorizer expires every
 * prepared statement), it judges only what store_query prepares. ud: the store. */
static int query_authorizer(void *ud, int action, const char *a, const char *b, const char *c, const char *d)
{
    store *s = ud;
    if (!s->query_checking)
        return SQLITE_OK;
    static const char *const pragmas_with_argument[] = {
        "table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list",
        "foreign_key_check", "integrity_check", "quick_check", NULL};
    static const char *const pragmas_refused[] = {
        "wal_checkpoint", "optimize", "incremental_vacuum", "shrink_memory", NULL};
    (void)c;
    (void)d;
    if ((action == SQLITE_READ && reads_cached(a)) || action == SQLITE_PRAGMA)
        s->query_reads_cached = 1;
    if (action == SQLITE_ATTACH || action == SQLITE_DETACH)
        return SQLITE_DENY;
    if (action != SQLITE_PRAGMA || !a)
        return SQLITE_OK;
    const char *const *list = b ? pragmas_with_argument : pragmas_refused;
    int listed = 0;
    for (int i = 0; list[i]; i++)
        listed |= sqlite3_stricmp(a, list[i]) == 0;
    return (b ? listed : !listed) ? SQLITE_OK : SQLITE_DENY;
}

int store_query(store *s, const char *sql, const store_value *params, int nparams,
                store_row_fn fn, void *ud, cx_error *err)
{
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    s->query_checking = 1;
    s->query_reads_cached = 0;
    int prepared = sqlite3_prepare_v2(s->db, sql, -1, &st, &tail);
    s->query_checking = 0;
    int cached = s->query_reads_cached;
    if (prepared == SQLITE_AUTH) {
        cx_error_set(err, "query: refused, it would change the store or its settings (queries are "
                     "read-only; changes go through events and plugins)");
        return -1;
    }
    if (prepared != SQLITE_OK) {
        cx_error_set(err, "query: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    if (!st) {
        cx_error_set(err, "query: no SQL statement given");
        return -1;
    }
    if (!sql_tail_is_empty(tail)) {
        sqlite3_finalize(st);
        cx_error_set(err, "query: only one statement at a time");
        return -1;
    }
    if (!sqlite3_stmt_readonly(st)) {
        sqlite3_finalize(st);
        cx_error_set(err, "query: refused, it would write to the store (queries are read-only; "
                     "changes go through events and plugins)");
        return -1;
    }
    /* Only what reads the caches waits for them to be written (the cache of
     * facts saves most of an import's writes; a plugin's query of the
     * ledger should not undo that). */
    if (cached && store_write_back(s, err) < 0) {
        sqlite3_finalize(st);
        return -1;
    }
    int expected = sqlite3_bind_parameter_count(st);
    if (nparams > expected) {
        sqlite3_finalize(st);
        cx_error_set(err, "query: %d values given for %d parameters", nparams, expected);
        return -1;
    }
    for (int i = 0; i < nparams; i++)
        bind_value(st, i + 1, &params[i]);

    int ncols = sqlite3_column_count(st), rc;
    const char **names = calloc((size_t)ncols + 1, sizeof *names);
    store_value *values = calloc((size_t)ncols + 1, sizeof *values);
    if (!names || !values) {
        free(names);
        free(values);
        sqlite3_finalize(st);
        cx_error_set(err, "out of memory");
        return -1;
    }
    int first = 1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        /* Named after the first step: a statement whose bound values let
         * SQLite pick a partial index is prepared again by that step, which
         * frees the names read before it. */
        for (int i = 0; first && i < ncols; i++)
            names[i] = sqlite3_column_name(st, i);
        first = 0;
        for (int i = 0; i < ncols; i++)
            column_value(st, i, &values[i]);
        if (fn(ud, ncols, names, values)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE)
        cx_error_set(err, "query: %s", sqlite3_errmsg(s->db));
    free(names);
    free(values);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int store_latest_event_at(store *s, int64_t *at, cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, ST_LATEST_EVENT, err);
    *at = 0;
    if (!st)
        return -1;
    return store_step_int(s, st, at, err, "reading the latest event") < 0 ? -1 : 0;
}

/* --- imports -------------------------------------------------------------------- */

int store_import_begin(store *s, const char *source, const char *format, store_id *import_id, cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, ST_IMPORT_BEGIN, err);
    if (!st)
        return -1;
    bind_text(st, 1, source);
    bind_text(st, 2, format);
    sqlite3_bind_int64(st, 3, utc_now());
    if (store_step_done(s, st, err, "recording an import") < 0)
        return -1;
    *import_id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int store_import_finish(store *s, store_id import_id, int64_t lines, int64_t inserted,
                        int64_t duplicates, int64_t rejected, cx_error *err)
{
    sqlite3_stmt *st = store_stmt(s, ST_IMPORT_FINISH, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, import_id);
    sqlite3_bind_int64(st, 2, utc_now());
    sqlite3_bind_int64(st, 3, lines);
    sqlite3_bind_int64(st, 4, inserted);
    sqlite3_bind_int64(st, 5, duplicates);
    sqlite3_bind_int64(st, 6, rejected);
    return store_step_done(s, st, err, "recording an import");
}
