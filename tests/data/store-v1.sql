-- A store written by cxhost with schema version 1 (before facts became one
-- JSON row per customer and plugin), for tests/unit/test_store.c's migration
-- test. Made with: cxhost import of four events, a few facts added by hand,
-- then sqlite3 store.db .dump
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE meta(
  key TEXT PRIMARY KEY,
  value TEXT
) WITHOUT ROWID;
CREATE TABLE customers(
  id INTEGER PRIMARY KEY,
  external_id TEXT NOT NULL UNIQUE,
  first_seen_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
INSERT INTO customers VALUES(1,'ann',1767607200,1795541303);
INSERT INTO customers VALUES(2,'bob',1770120000,1795541303);
INSERT INTO customers VALUES(3,'cy "q"',1770206400,1795541303);
CREATE TABLE touchpoints(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  stage TEXT CHECK (stage IN ('before', 'during', 'after')),
  provider TEXT
);
INSERT INTO touchpoints VALUES(1,'web',NULL,NULL);
INSERT INTO touchpoints VALUES(2,'store',NULL,NULL);
CREATE TABLE imports(
  id INTEGER PRIMARY KEY,
  source TEXT NOT NULL,
  format TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  finished_at INTEGER,
  lines INTEGER,
  inserted INTEGER,
  duplicates INTEGER,
  rejected INTEGER
);
INSERT INTO imports VALUES(1,'/tmp/v1ev.ndjson','ndjson',1795541303,1795541303,4,4,0,0);
CREATE TABLE events(
  id INTEGER PRIMARY KEY,
  external_id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  customer_id INTEGER REFERENCES customers(id),
  at INTEGER NOT NULL,
  amount_cents INTEGER,
  touchpoint_id INTEGER REFERENCES touchpoints(id),
  data TEXT,
  import_id INTEGER REFERENCES imports(id),
  ingested_at INTEGER NOT NULL
);
INSERT INTO events VALUES(1,'e-1','purchase',1,1767607200,1250,1,NULL,1,1795541303);
INSERT INTO events VALUES(2,'e-2','purchase',1,1769936400,3000,2,NULL,1,1795541303);
INSERT INTO events VALUES(3,'e-3','visit',2,1770120000,NULL,2,NULL,1,1795541303);
INSERT INTO events VALUES(4,'e-4','purchase',3,1770206400,199,NULL,NULL,1,1795541303);
CREATE TABLE customer_facts(
  customer_id INTEGER NOT NULL REFERENCES customers(id),
  plugin TEXT NOT NULL,
  name TEXT NOT NULL,
  value,
  event_id INTEGER,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (customer_id, plugin, name)
) WITHOUT ROWID;
INSERT INTO customer_facts VALUES(1,'lifecycle','first_purchase_at',1767607200,1,1767607200);
INSERT INTO customer_facts VALUES(1,'lifecycle','last_purchase_at',1769936400,2,1769936400);
INSERT INTO customer_facts VALUES(1,'lifecycle','purchase_count',2,2,1769936400);
INSERT INTO customer_facts VALUES(1,'lifecycle','stage','active',2,1769936400);
INSERT INTO customer_facts VALUES(1,'lifecycle','total_spend_cents',4250,2,1769936400);
INSERT INTO customer_facts VALUES(2,'lifecycle','stage','prospect',3,1770120000);
INSERT INTO customer_facts VALUES(2,'tester','gone',NULL,3,1770120000);
INSERT INTO customer_facts VALUES(2,'tester','note',replace('line one\n"two" é','\n',char(10)),NULL,1770120000);
INSERT INTO customer_facts VALUES(2,'tester','ratio',2.5,3,1770120000);
INSERT INTO customer_facts VALUES(2,'tester','whole',3.0,3,1770120000);
INSERT INTO customer_facts VALUES(3,'lifecycle','first_purchase_at',1770206400,4,1770206400);
INSERT INTO customer_facts VALUES(3,'lifecycle','last_purchase_at',1770206400,4,1770206400);
INSERT INTO customer_facts VALUES(3,'lifecycle','purchase_count',1,4,1770206400);
INSERT INTO customer_facts VALUES(3,'lifecycle','stage','new',4,1770206400);
INSERT INTO customer_facts VALUES(3,'lifecycle','total_spend_cents',199,4,1770206400);
INSERT INTO customer_facts VALUES(3,'tester','gone',NULL,NULL,1770120000);
CREATE TABLE customer_tags(
  customer_id INTEGER NOT NULL REFERENCES customers(id),
  tag TEXT NOT NULL,
  plugin TEXT NOT NULL,
  event_id INTEGER REFERENCES events(id),
  at INTEGER NOT NULL,
  PRIMARY KEY (customer_id, tag)
) WITHOUT ROWID;
CREATE TABLE ledger(
  id INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers(id),
  points INTEGER NOT NULL,
  kind TEXT NOT NULL,
  rule TEXT,
  note TEXT,
  at INTEGER NOT NULL,
  plugin TEXT NOT NULL,
  event_id INTEGER REFERENCES events(id)
);
CREATE TABLE refunds(
  id INTEGER PRIMARY KEY,
  external_id TEXT NOT NULL UNIQUE,
  customer_id INTEGER NOT NULL REFERENCES customers(id),
  purchase_event_id INTEGER REFERENCES events(id),
  requested_cents INTEGER NOT NULL,
  approved_cents INTEGER NOT NULL DEFAULT 0,
  decision TEXT NOT NULL CHECK (decision IN ('approved', 'partial', 'rejected')),
  rule TEXT,
  reason TEXT NOT NULL,
  at INTEGER NOT NULL,
  plugin TEXT NOT NULL,
  event_id INTEGER REFERENCES events(id)
);
CREATE TABLE experience_scores(
  customer_id INTEGER NOT NULL REFERENCES customers(id),
  module TEXT NOT NULL CHECK (module IN ('sense', 'feel', 'think', 'act', 'relate')),
  touchpoint_id INTEGER NOT NULL DEFAULT 0,
  score REAL NOT NULL CHECK (score >= 0 AND score <= 100),
  at INTEGER NOT NULL,
  plugin TEXT NOT NULL,
  event_id INTEGER REFERENCES events(id),
  PRIMARY KEY (customer_id, module, touchpoint_id)
) WITHOUT ROWID;
CREATE TABLE campaigns(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  description TEXT,
  module TEXT,
  source TEXT,
  created_at INTEGER NOT NULL,
  next_run_at INTEGER
);
CREATE TABLE campaign_runs(
  id INTEGER PRIMARY KEY,
  campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
  period TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  finished_at INTEGER,
  status TEXT NOT NULL,
  stats TEXT,
  UNIQUE (campaign_id, period)
);
CREATE TABLE outbox(
  id INTEGER PRIMARY KEY,
  customer_id INTEGER REFERENCES customers(id),
  channel TEXT NOT NULL,
  template TEXT NOT NULL,
  vars TEXT,
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'sent', 'failed', 'cancelled')),
  campaign_run_id INTEGER REFERENCES campaign_runs(id),
  plugin TEXT NOT NULL,
  event_id INTEGER REFERENCES events(id),
  created_at INTEGER NOT NULL,
  sent_at INTEGER
);
CREATE TABLE audit(
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  plugin TEXT NOT NULL,
  event_id INTEGER,
  customer_id INTEGER,
  effect TEXT NOT NULL,
  detail TEXT
);
CREATE INDEX events_customer_at ON events(customer_id, at);
CREATE INDEX ledger_customer ON ledger(customer_id, at);
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
  BEGIN SELECT RAISE(ABORT, 'the loyalty ledger is append-only'); END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
  BEGIN SELECT RAISE(ABORT, 'the loyalty ledger is append-only'); END;
CREATE INDEX audit_event ON audit(event_id);
CREATE VIEW lifecycle AS
  SELECT c.id AS customer_id, c.external_id AS customer,
    (SELECT value FROM customer_facts f WHERE f.customer_id = c.id AND f.plugin = 'lifecycle'
       AND f.name = 'stage') AS stage,
    (SELECT value FROM customer_facts f WHERE f.customer_id = c.id AND f.plugin = 'lifecycle'
       AND f.name = 'first_purchase_at') AS first_purchase_at,
    (SELECT value FROM customer_facts f WHERE f.customer_id = c.id AND f.plugin = 'lifecycle'
       AND f.name = 'last_purchase_at') AS last_purchase_at,
    (SELECT value FROM customer_facts f WHERE f.customer_id = c.id AND f.plugin = 'lifecycle'
       AND f.name = 'purchase_count') AS purchase_count,
    (SELECT value FROM customer_facts f WHERE f.customer_id = c.id AND f.plugin = 'lifecycle'
       AND f.name = 'total_spend_cents') AS total_spend_cents
  FROM customers c
  WHERE EXISTS (SELECT 1 FROM customer_facts f WHERE f.customer_id = c.id AND f.plugin = 'lifecycle');
CREATE VIEW loyalty_balances AS
  SELECT customer_id, SUM(points) AS points FROM ledger GROUP BY customer_id;
COMMIT;
PRAGMA user_version = 1;
