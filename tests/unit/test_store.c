/* test_store.c: the store on its own: schema migration, transactions and
 * savepoints, idempotent events, effects with their audit rows, read-only
 * queries, the append-only ledger. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include "check.h"
#include "cxhost/buf.h"
#include "cxhost/store.h"

static char dir[] = "/tmp/cxhost-test-store-XXXXXX";

static void path_in_dir(const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", dir, name);
}

struct one_int {
    int64_t value;
    int rows;
};

static int grab_int(void *ud, int ncols, const char *const *names, const store_value *values)
{
    struct one_int *o = ud;
    (void)names;
    if (ncols > 0 && values[0].type == STORE_INT)
        o->value = values[0].i;
    o->rows++;
    return 0;
}

/* The first column of the first row of sql, as an integer (-1 on error). */
static int64_t query_int(store *s, const char *sql)
{
    struct one_int o = {-1, 0};
    cx_error err;
    if (store_query(s, sql, NULL, 0, grab_int, &o, &err) < 0) {
        fprintf(stderr, "query failed: %s: %s\n", sql, err.text);
        return -1;
    }
    return o.value;
}

struct fact_sum {
    int count, reals;
};

static int sum_facts(void *ud, const char *plugin, const char *name, const store_value *v)
{
    struct fact_sum *f = ud;
    (void)plugin;
    (void)name;
    f->count++;
    f->reals += v->type == STORE_REAL;
    return 0;
}

static cx_event purchase(const char *id, const char *customer, int64_t at, int64_t cents)
{
    cx_event ev = {id, "purchase", customer, at, cents, 1, "web", "{\"quantity\":1}"};
    return ev;
}

/* Campaigns at work (version 7): the tables of members, actions and
 * journeys with their indexes, and the columns added to campaigns and
 * campaign_runs. */
static void check_schema_7(store *s)
{
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                              "('campaign_members','campaign_actions','journeys')"), 3);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM pragma_table_info('campaign_members') WHERE name IN "
                              "('campaign_id','customer_id','arm','entered_at','run_id','event_id')"), 6);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM pragma_table_info('campaign_actions') WHERE name IN "
                              "('id','campaign_id','run_id','customer_id','kind','points','money_cents','contact',"
                              "'detail','at','event_id')"), 11);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM pragma_table_info('journeys') WHERE name IN "
                              "('campaign_id','customer_id','step','due_at','entered_at','updated_at','event_id')"), 7);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM pragma_table_info('campaigns') WHERE name IN "
                              "('trigger','active','updated_at','revision')"), 4);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM pragma_table_info('campaign_runs') WHERE name = 'event_id'"), 1);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN "
                              "('campaign_actions_customer','campaign_actions_campaign','journeys_due')"), 3);
}

static void test_migration_from_empty(void)
{
    char path[256];
    cx_error err;
    store *s = NULL;
    path_in_dir("empty.db", path, sizeof path);
    CHECK(store_open(path, 0, &s, &err) < 0);           /* no create: refused */
    CHECK_CONTAINS(err.text, "no store there");
    CHECK_EQ_INT(store_open(path, 1, &s, &err), 0);
    CHECK_EQ_INT(store_schema_version(s), STORE_SCHEMA_VERSION);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                              "('customers','touchpoints','events','ledger','refunds','experience_scores',"
                              "'campaigns','campaign_runs','outbox','audit','facts','customer_tags',"
                              "'imports','experience_cells')"), 14);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'view' AND name IN "
                              "('customer_state','customer_facts','lifecycle','loyalty_balances','rfm')"), 5);
    /* RFM (version 6): the grid's 25 cells, and the view (no buyers yet). */
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM rfm_segments"), 25);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(DISTINCT segment) FROM rfm_segments"), 8);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM rfm_segments WHERE r = 5 AND f = 5 AND segment = 'champions'"), 1);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM rfm"), 0);
    check_schema_7(s);
    CHECK_EQ_INT(STORE_SCHEMA_VERSION, 7);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"), 1);
    CHECK_EQ_INT(query_int(s, "SELECT foreign_keys FROM pragma_foreign_keys"), 1);
    store_close(s);
    /* Opening again migrates nothing and keeps the version. */
    CHECK_EQ_INT(store_open(path, 0, &s, &err), 0);
    CHECK_EQ_INT(store_schema_version(s), STORE_SCHEMA_VERSION);
    store_close(s);
}

/* A version 1 store (tests/data/store-v1.sql, a fact per row) moves to
 * version 2 (a JSON object per customer and plugin), then to version 4 (a
 * JSON object per customer, holding each plugin's) with every fact kept,
 * and on to version 7: a campaign and a run from before keep their rows,
 * the campaign not started. */
static void test_migration_from_v1(void)
{
    char path[256], sql_path[512];
    const char *source = getenv("CXHOST_SOURCE_DIR");
    buf sql = BUF_INIT;
    sqlite3 *db;
    store *s = NULL;
    cx_error err;
    snprintf(sql_path, sizeof sql_path, "%s/tests/data/store-v1.sql", source ? source : ".");
    CHECK_EQ_INT(buf_read_file(&sql, sql_path), 0);
    path_in_dir("v1.db", path, sizeof path);
    CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(db, buf_str(&sql), NULL, NULL, NULL), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(db, "INSERT INTO campaigns(id, name, module, created_at, next_run_at)"
                                  " VALUES (1, 'old', 'relate', 1767225600, 1767312000);"
                                  "INSERT INTO campaign_runs(campaign_id, period, started_at, finished_at, status)"
                                  " VALUES (1, '2026-01', 1767225600, 1767225601, 'done')",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(db);
    buf_free(&sql);
    CHECK_EQ_INT(store_open(path, 0, &s, &err), 0);
    if (!s)
        return;
    CHECK_EQ_INT(store_schema_version(s), STORE_SCHEMA_VERSION);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM customer_state"), 4);   /* 3 lifecycle, 1 tester (bob) */
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM facts"), 3);            /* bob's two in one row */
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM facts f JOIN customers c ON c.id = f.customer_id"
                              " WHERE c.external_id = 'bob' AND json_type(f.data, '$.tester') = 'object'"
                              " AND json_type(f.data, '$.lifecycle') = 'object'"), 1);
    /* The 14 facts with a value come through, with their types; NULL facts go. */
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM customer_facts"), 14);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM customer_facts WHERE name = 'gone'"), 0);
    CHECK_EQ_INT(query_int(s, "SELECT total_spend_cents FROM lifecycle WHERE customer = 'ann'"), 4250);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM rfm_segments"), 25);   /* through every migration to 6 */
    check_schema_7(s);                                                        /* and to 7 */
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM campaigns WHERE name = 'old' AND module = 'relate'"
                              " AND next_run_at = 1767312000 AND active = 0 AND revision = 0"
                              " AND trigger IS NULL AND updated_at IS NULL"), 1);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM campaign_runs WHERE period = '2026-01' AND status = 'done'"
                              " AND event_id IS NULL"), 1);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM campaign_members"), 0);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM campaign_actions"), 0);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM journeys"), 0);
    CHECK_EQ_INT(query_int(s, "SELECT purchase_count FROM lifecycle WHERE customer = 'cy \"q\"'"), 1);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM lifecycle WHERE customer = 'ann' AND stage = 'active'"
                              " AND first_purchase_at = 1767607200 AND last_purchase_at = 1769936400"), 1);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM customer_facts WHERE plugin = 'tester' AND name = 'ratio'"
                              " AND typeof(value) = 'real' AND value = 2.5"), 1);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM customer_facts WHERE plugin = 'tester' AND name = 'whole'"
                              " AND typeof(value) = 'real' AND value = 3.0"), 1);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM customer_facts WHERE plugin = 'tester' AND name = 'note'"
                              " AND value = 'line one' || char(10) || '\"two\" ' || char(233)"), 1);
    /* The row's origin is its latest event. */
    CHECK_EQ_INT(query_int(s, "SELECT event_id FROM customer_state s JOIN customers c ON c.id = s.customer_id"
                              " WHERE c.external_id = 'ann'"), 2);
    /* And the store reads its migrated facts back through the cache. */
    CHECK_EQ_INT(store_begin(s, &err), 0);
    store_id bob = 0;
    CHECK_EQ_INT(store_customer_find(s, "bob", &bob, &err), 1);
    struct fact_sum sum = {0, 0};
    CHECK_EQ_INT(store_facts_each(s, bob, "tester", sum_facts, &sum, &err), 0);
    CHECK_EQ_INT(sum.count, 3);
    CHECK_EQ_INT(sum.reals, 2);
    store_rollback(s);
    store_close(s);
}

static void test_newer_schema_refused(void)
{
    char path[256];
    sqlite3 *db;
    cx_error err;
    store *s = NULL;
    path_in_dir("future.db", path, sizeof path);
    CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    CHECK(store_open(path, 0, &s, &err) < 0);
    CHECK(s == NULL);
    CHECK_CONTAINS(err.text, "schema version 99");
}

static void test_events_and_rollback(store *s)
{
    cx_error err;
    store_id customer = 0, tp = 0, ev_id = 0;
    cx_event ev = purchase("e1", "c1", 1000, 1234);

    CHECK_EQ_INT(store_begin(s, &err), 0);
    CHECK_EQ_INT(store_customer_ensure(s, "c1", 1000, &customer, &err), 0);
    CHECK_EQ_INT(store_touchpoint_ensure(s, "web", &tp, &err), 0);
    CHECK_EQ_INT(store_event_insert(s, &ev, customer, tp, 0, &ev_id, &err), 1);
    CHECK_EQ_INT(store_event_insert(s, &ev, customer, tp, 0, &ev_id, &err), 0);   /* the same id: no-op */
    CHECK_EQ_INT(store_commit(s, &err), 0);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM events"), 1);
    CHECK_EQ_INT(query_int(s, "SELECT amount_cents FROM events WHERE external_id = 'e1'"), 1234);

    /* A rolled-back transaction leaves nothing, and its customer id is not reused from the cache. */
    store_id c2 = 0;
    CHECK_EQ_INT(store_begin(s, &err), 0);
    CHECK_EQ_INT(store_customer_ensure(s, "c2", 2000, &c2, &err), 0);
    store_rollback(s);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM customers WHERE external_id = 'c2'"), 0);
    store_id found = 0;
    CHECK_EQ_INT(store_customer_find(s, "c2", &found, &err), 0);

    /* A savepoint taken back removes only its own work. */
    cx_event e2 = purchase("e2", "c1", 2000, 500), e3 = purchase("e3", "c1", 3000, 700);
    CHECK_EQ_INT(store_begin(s, &err), 0);
    CHECK_EQ_INT(store_savepoint(s, &err), 0);
    CHECK_EQ_INT(store_event_insert(s, &e2, customer, tp, 0, &ev_id, &err), 1);
    CHECK_EQ_INT(store_release(s, &err), 0);
    CHECK_EQ_INT(store_savepoint(s, &err), 0);
    CHECK_EQ_INT(store_event_insert(s, &e3, customer, tp, 0, &ev_id, &err), 1);
    store_rollback_savepoint(s);
    CHECK_EQ_INT(store_commit(s, &err), 0);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM events WHERE external_id IN ('e2', 'e3')"), 1);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM events WHERE external_id = 'e3'"), 0);
}

static void test_effects_and_audit(store *s)
{
    cx_error err;
    store_id customer = 0, entry = 0, outbox = 0;
    CHECK_EQ_INT(store_customer_find(s, "c1", &customer, &err), 1);
    store_origin o = {"tester", 1, 5000};
    const char *facts = "{\"tester\":{\"count\":3,\"stage\":\"active\"}}";
    store_ledger_entry earn = {.points = 120, .kind = "earn", .rule = "base"},
                       spend = {.points = -20, .kind = "redeem", .note = "mug"};
    int64_t balance = 0;

    CHECK_EQ_INT(store_begin(s, &err), 0);
    CHECK_EQ_INT(store_facts_write(s, customer, facts, strlen(facts), 1, 5000, &err), 0);
    CHECK_EQ_INT(store_tag_set(s, &o, customer, "vip", 1, &err), 0);
    CHECK_EQ_INT(store_tag_set(s, &o, customer, "vip", 1, &err), 0);   /* already tagged: no new audit row */
    CHECK_EQ_INT(store_ledger_add(s, &o, customer, &earn, &entry, &err), 0);
    CHECK_EQ_INT(store_ledger_add(s, &o, customer, &spend, NULL, &err), 0);
    CHECK_EQ_INT(store_score_set(s, &o, customer, "feel", 0, 72.5, &err), 0);
    CHECK_EQ_INT(store_outbox_add(s, &o, customer, "email", "thanks", "{\"name\":\"Ann\"}", &outbox, &err), 0);
    CHECK_EQ_INT(store_commit(s, &err), 0);

    CHECK_EQ_INT(store_ledger_balance(s, customer, &balance, &err), 0);
    CHECK_EQ_INT(balance, 100);
    CHECK_EQ_INT(store_tag_has(s, customer, "vip", &err), 1);
    CHECK_EQ_INT(store_tag_has(s, customer, "gold", &err), 0);
    CHECK_EQ_INT(query_int(s, "SELECT value FROM customer_facts WHERE plugin = 'tester' AND name = 'count'"), 3);
    /* One audit row per effect (tag once, score, outbox); facts and ledger entries carry their origin. */
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM audit WHERE plugin = 'tester' AND event_id = 1"), 3);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM ledger WHERE plugin = 'tester' AND event_id = 1 AND at = 5000"), 2);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM customer_facts WHERE plugin = 'tester' AND event_id = 1"
                              " AND updated_at = 5000"), 2);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM audit WHERE effect = 'ledger'"), 0);
    CHECK_EQ_INT(query_int(s, "SELECT points FROM loyalty_balances"), 100);

    /* Unchanged facts are not written again (their event stays the first one). */
    CHECK_EQ_INT(store_begin(s, &err), 0);
    CHECK_EQ_INT(store_facts_write(s, customer, facts, strlen(facts), 2, 6000, &err), 0);
    CHECK_EQ_INT(store_commit(s, &err), 0);
    CHECK_EQ_INT(query_int(s, "SELECT updated_at FROM customer_facts WHERE plugin = 'tester' AND name = 'count'"), 5000);

    /* A score outside 0..100 is refused by the schema; the transaction is then taken back whole. */
    CHECK_EQ_INT(store_begin(s, &err), 0);
    CHECK(store_score_set(s, &o, customer, "feel", 0, 140, &err) < 0);
    store_rollback(s);
}

/* Facts rows: a customer's, written and read whole, deleted when empty,
 * refused outside a transaction; a customer created in the transaction
 * needs no query. */
static void test_facts_rows(store *s)
{
    cx_error err;
    store_id customer = 0, fresh = 0;
    buf json = BUF_INIT;
    const char *row = "{\"rows\":{\"visits\":2},\"tester\":{\"count\":3,\"stage\":\"active\"}}";
    CHECK_EQ_INT(store_customer_find(s, "c1", &customer, &err), 1);
    CHECK(store_facts_write(s, customer, row, strlen(row), 1, 7000, &err) < 0);   /* outside a transaction */
    CHECK_CONTAINS(err.text, "inside a transaction");
    CHECK_EQ_INT(store_facts_load(s, customer, &json, &err), 1);
    CHECK_EQ_STR(buf_str(&json), "{\"tester\":{\"count\":3,\"stage\":\"active\"}}");
    CHECK_EQ_INT(store_begin(s, &err), 0);
    CHECK_EQ_INT(store_facts_write(s, customer, row, strlen(row), 1, 7000, &err), 0);
    CHECK_EQ_INT(store_facts_load(s, customer, &json, &err), 1);
    CHECK_EQ_STR(buf_str(&json), row);
    CHECK_EQ_INT(store_customer_add(s, "rows-new", 7000, &fresh, &err), 0);
    CHECK_EQ_INT(store_facts_load(s, fresh, &json, &err), 0);
    CHECK_EQ_STR(buf_str(&json), "");
    CHECK_EQ_INT(store_facts_write(s, fresh, row, strlen(row), 1, 7000, &err), 0);
    CHECK_EQ_INT(store_facts_load(s, fresh, &json, &err), 1);   /* written: no longer taken as new */
    CHECK_EQ_INT(store_commit(s, &err), 0);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM customer_state WHERE plugin = 'rows'"), 2);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM facts WHERE json_extract(data, '$.rows.visits') = 2"), 2);
    CHECK_EQ_INT(store_begin(s, &err), 0);
    CHECK_EQ_INT(store_facts_write(s, fresh, NULL, 0, 2, 8000, &err), 0);   /* none left: no row */
    CHECK_EQ_INT(store_commit(s, &err), 0);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM customer_state WHERE plugin = 'rows'"), 1);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM facts f JOIN customers c ON c.id = f.customer_id"
                              " WHERE c.external_id = 'rows-new'"), 0);
    buf_free(&json);
}

static int count_facts(void *ud, const char *plugin, const char *name, const store_value *v)
{
    (void)plugin;
    (void)name;
    (void)v;
    ++*(int *)ud;
    return 0;
}

static void test_facts_each(store *s)
{
    cx_error err;
    store_id customer = 0;
    int n = 0;
    CHECK_EQ_INT(store_customer_find(s, "c1", &customer, &err), 1);
    CHECK_EQ_INT(store_facts_each(s, customer, "tester", count_facts, &n, &err), 0);
    CHECK_EQ_INT(n, 2);
    n = 0;
    CHECK_EQ_INT(store_facts_each(s, customer, "nobody", count_facts, &n, &err), 0);
    CHECK_EQ_INT(n, 0);
}

static void test_queries_are_read_only(store *s)
{
    cx_error err;
    struct one_int o = {0, 0};
    const char *writes[] = {
        "DELETE FROM events", "INSERT INTO customers(external_id, first_seen_at, created_at) VALUES ('x', 0, 0)",
        "UPDATE ledger SET points = 0", "DROP TABLE events", "PRAGMA user_version = 8",
        "CREATE TABLE t(x)", "ATTACH DATABASE '/tmp/x.db' AS x", NULL};
    for (int i = 0; writes[i]; i++) {
        CHECK(store_query(s, writes[i], NULL, 0, grab_int, &o, &err) < 0);
    }
    CHECK(store_query(s, "SELECT 1; DELETE FROM events", NULL, 0, grab_int, &o, &err) < 0);
    CHECK_CONTAINS(err.text, "one statement");
    CHECK(store_query(s, "SELEC 1", NULL, 0, grab_int, &o, &err) < 0);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM events"), 2);

    /* Parameters. */
    store_value p[] = {{STORE_TEXT, 0, 0, "e1", 2}};
    o.value = -1;
    CHECK_EQ_INT(store_query(s, "SELECT amount_cents FROM events WHERE external_id = ?1", p, 1, grab_int, &o, &err), 0);
    CHECK_EQ_INT(o.value, 1234);
    CHECK(store_query(s, "SELECT 1", p, 1, grab_int, &o, &err) < 0);   /* more values than parameters */
}

/* Experience cells: decayed sums kept for the transaction, visible to a
 * query (written back first), taken back with their event, kept at commit. */
static void test_cells(store *s)
{
    cx_error err;
    const int64_t day = 86400, t0 = 1700000000;
    store_observation ob = {"feel", 0, 100, 1, 10 * day, 1, 0};
    store_origin o = {"tester", 0, t0};
    CHECK(store_cell_add(s, &o, &ob, &err) < 0);               /* outside a transaction */
    CHECK_CONTAINS(err.text, "only inside a transaction");
    CHECK_EQ_INT(store_begin(s, &err), 0);
    CHECK_EQ_INT(store_touchpoint_ensure(s, "desk", &ob.touchpoint, &err), 0);
    CHECK_EQ_INT(store_cell_add(s, &o, &ob, &err), 0);
    /* Ten days (one half-life) on, a 0 of weight 1: sums 50 + 0 and 0.5 + 1. */
    o.at = t0 + 10 * day;
    ob.value = 0;
    ob.high = 0;
    ob.low = 1;
    CHECK_EQ_INT(store_cell_add(s, &o, &ob, &err), 0);
    CHECK_EQ_INT(query_int(s, "SELECT CAST(round(value_sum * 1000) AS INTEGER) FROM experience_cells"), 50000);
    CHECK_EQ_INT(query_int(s, "SELECT CAST(round(weight_sum * 1000) AS INTEGER) FROM experience_cells"), 1500);
    CHECK_EQ_INT(query_int(s, "SELECT as_of FROM experience_cells"), t0 + 10 * day);
    CHECK_EQ_INT(query_int(s, "SELECT observations * 100 + high * 10 + low FROM experience_cells"), 211);
    /* An event taken back takes its observations back, even after a query
     * wrote them mid-event. */
    CHECK_EQ_INT(store_savepoint(s, &err), 0);
    ob.value = 100;
    CHECK_EQ_INT(store_cell_add(s, &o, &ob, &err), 0);
    ob.measure = "nps";
    CHECK_EQ_INT(store_cell_add(s, &o, &ob, &err), 0);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM experience_cells"), 2);
    store_rollback_savepoint(s);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM experience_cells"), 1);
    CHECK_EQ_INT(query_int(s, "SELECT observations FROM experience_cells WHERE measure = 'feel'"), 2);
    /* A kept event stays; an older observation counts at its decayed weight. */
    CHECK_EQ_INT(store_savepoint(s, &err), 0);
    ob.measure = "feel";
    o.at = t0 - 10 * day;
    CHECK_EQ_INT(store_cell_add(s, &o, &ob, &err), 0);
    CHECK_EQ_INT(store_release(s, &err), 0);
    CHECK_EQ_INT(store_commit(s, &err), 0);
    /* 100 * 2^-2 = 25 more in value, 0.25 more in weight. */
    CHECK_EQ_INT(query_int(s, "SELECT CAST(round(value_sum * 1000) AS INTEGER) FROM experience_cells"), 75000);
    CHECK_EQ_INT(query_int(s, "SELECT CAST(round(weight_sum * 1000) AS INTEGER) FROM experience_cells"), 1750);
    CHECK_EQ_INT(query_int(s, "SELECT observations FROM experience_cells"), 3);
    /* The next transaction starts from the row. */
    CHECK_EQ_INT(store_begin(s, &err), 0);
    o.at = t0 + 10 * day;
    CHECK_EQ_INT(store_cell_add(s, &o, &ob, &err), 0);
    store_rollback(s);
    CHECK_EQ_INT(query_int(s, "SELECT observations FROM experience_cells"), 3);
    CHECK_EQ_INT(store_begin(s, &err), 0);
    CHECK_EQ_INT(store_cell_add(s, &o, &ob, &err), 0);
    CHECK_EQ_INT(store_commit(s, &err), 0);
    CHECK_EQ_INT(query_int(s, "SELECT observations FROM experience_cells"), 4);
    CHECK_EQ_INT(query_int(s, "SELECT CAST(round(value_sum * 1000) AS INTEGER) FROM experience_cells"), 175000);
}

static void test_ledger_append_only(void)
{
    char path[256];
    sqlite3 *db;
    path_in_dir("store.db", path, sizeof path);
    CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK(sqlite3_exec(db, "UPDATE ledger SET points = 1000", NULL, NULL, NULL) != SQLITE_OK);
    CHECK_CONTAINS(sqlite3_errmsg(db), "append-only");
    CHECK(sqlite3_exec(db, "DELETE FROM ledger", NULL, NULL, NULL) != SQLITE_OK);
    sqlite3_close(db);
}

struct first_name {
    char name[32];
};

static int grab_name(void *ud, int ncols, const char *const *names, const store_value *values)
{
    (void)values;
    struct first_name *f = ud;
    if (ncols > 0)
        snprintf(f->name, sizeof f->name, "%s", names[0]);
    return 1;
}

/* Schema 5: lots, one expiry per lot, sums that date a clawback by its
 * lot, tier history and refund decisions. */
static void test_lots_and_refunds(store *s)
{
    cx_error err;
    store_id customer = 0, lot = 0, refund = 0;
    int64_t points = 0, spend = 0, balance = 0;
    CHECK_EQ_INT(store_customer_find(s, "c1", &customer, &err), 1);
    store_origin o = {"loyalty", 1, 10000};
    store_ledger_entry earn = {.points = 50, .kind = "earn", .rule = "purchase", .available_at = 20000,
                               .expires_at = 90000, .spend_cents = 5000};
    CHECK_EQ_INT(store_begin(s, &err), 0);
    CHECK_EQ_INT(store_ledger_add(s, &o, customer, &earn, &lot, &err), 0);
    o.at = 15000;
    store_ledger_entry clawback = {.points = -10, .kind = "clawback", .lot = lot, .spend_cents = -1000};
    CHECK_EQ_INT(store_ledger_add(s, &o, customer, &clawback, NULL, &err), 0);
    o.at = 95000;
    store_ledger_entry expire = {.points = -40, .kind = "expire", .lot = lot, .at = 90000};
    CHECK_EQ_INT(store_ledger_add(s, &o, customer, &expire, NULL, &err), 0);
    CHECK(store_ledger_add(s, &o, customer, &expire, NULL, &err) < 0);   /* a lot expires once */
    CHECK_CONTAINS(err.text, "UNIQUE");
    store_id other = 0;
    CHECK_EQ_INT(store_customer_add(s, "lot-thief", 95000, &other, &err), 0);
    CHECK(store_ledger_add(s, &o, other, &clawback, NULL, &err) < 0);    /* another customer's lot */
    CHECK_CONTAINS(err.text, "is not a lot of this customer");
    CHECK_EQ_INT(store_tier_record(s, &o, customer, "silver", "member", "500 points in 12 months", &err), 0);
    store_refund r = {.request = "e1", .kind = "return", .purchase = "e1", .requested_cents = 1000,
                      .approved_cents = 1000, .clawback_points = 10, .clawback_policy = "within_balance",
                      .decision = "approved", .rule = "return_window", .reason = "within the 30-day window",
                      .lines_json = "[{\"sku\":\"A\",\"qty\":1}]"};
    CHECK_EQ_INT(store_refund_add(s, &o, customer, &r, &refund, &err), 0);
    CHECK(store_refund_add(s, &o, customer, &r, NULL, &err) < 0);        /* a request is decided once */
    CHECK_EQ_INT(store_commit(s, &err), 0);

    CHECK_EQ_INT(store_ledger_balance(s, customer, &balance, &err), 0);
    CHECK_EQ_INT(balance, 100 + 50 - 10 - 40);   /* test_effects_and_audit left 100 */
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM ledger WHERE customer_id = 1"), 5);
    CHECK_EQ_INT(query_int(s, "SELECT available_at FROM ledger WHERE kind = 'earn' AND rule = 'purchase'"), 20000);
    CHECK_EQ_INT(query_int(s, "SELECT at FROM ledger WHERE kind = 'expire'"), 90000);
    /* The clawback (at 15000) counts at its lot's time (10000): inside a window from 9999, outside one from 10000. */
    CHECK_EQ_INT(store_ledger_sum(s, customer, 9999, INT64_MAX, "[\"earn\",\"clawback\"]", &points, &spend, &err), 0);
    CHECK_EQ_INT(points, 40);
    CHECK_EQ_INT(spend, 4000);
    CHECK_EQ_INT(store_ledger_sum(s, customer, 10000, INT64_MAX, "[\"earn\",\"clawback\"]", &points, &spend, &err), 0);
    CHECK_EQ_INT(points, 0);
    CHECK_EQ_INT(spend, 0);
    /* Before `until` (exclusive): the lot at 10000 counts up to 10001, not up to 10000. */
    CHECK_EQ_INT(store_ledger_sum(s, customer, 9999, 10001, "[\"earn\"]", &points, &spend, &err), 0);
    CHECK_EQ_INT(points, 50);
    CHECK_EQ_INT(store_ledger_sum(s, customer, 9999, 10000, "[\"earn\"]", &points, &spend, &err), 0);
    CHECK_EQ_INT(points, 0);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM tier_history WHERE tier = 'silver' AND previous = 'member'"), 1);
    CHECK_EQ_INT(query_int(s, "SELECT purchase_event_id FROM refunds WHERE external_id = 'e1'"),
                 query_int(s, "SELECT id FROM events WHERE external_id = 'e1'"));
    CHECK_EQ_INT(query_int(s, "SELECT json_extract(lines, '$[0].qty') FROM refunds"), 1);
    /* Append-only rows that name their plugin and event: no audit rows. */
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM tier_history WHERE plugin = 'loyalty' AND at = 95000"), 1);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM audit WHERE effect IN ('ledger', 'tier', 'refund')"), 0);

    /* A bound value that lets SQLite use the partial index ledger_expiry
     * prepares the statement again at its first step: the columns keep
     * their names. */
    struct first_name fn = {""};
    store_value kind = {STORE_TEXT, 0, 0, "expire", 6};
    CHECK_EQ_INT(store_query(s, "SELECT COUNT(*) AS n FROM ledger WHERE kind = ?1", &kind, 1, grab_name, &fn, &err), 0);
    CHECK_EQ_STR(fn.name, "n");
}

/* Campaigns at work (schema 7): a campaign saved and updated (fields not
 * given keep their value; starting and stopping move the revision), one run
 * per period, a customer's arm decided once, actions with what they cost (a
 * message queued by one names its run), a journey's steps; the schema's
 * checks refuse an unknown arm or kind of action. */
static void test_campaigns(store *s)
{
    cx_error err;
    store_id customer = 0, campaign = 0, same = 0, run = 0, again = 0, outbox = 0;
    int64_t before = -1, revision = -1;
    char arm[16] = "";
    store_origin o = {"campaigns", 1, 9000}, later = {"campaigns", 2, 9600};
    CHECK_EQ_INT(store_customer_find(s, "c1", &customer, &err), 1);
    CHECK_EQ_INT(store_campaigns_revision(s, &before, &err), 0);
    CHECK_EQ_INT(store_campaign_find(s, "winback", &campaign, &err), 0);

    CHECK_EQ_INT(store_begin(s, &err), 0);
    store_campaign added = {"winback", "Lapsed buyers", "relate", "return {}", "once", -1, -1};
    CHECK_EQ_INT(store_campaign_save(s, &added, 9000, &campaign, &err), 0);
    CHECK(campaign > 0);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM campaigns WHERE name = 'winback' AND description = 'Lapsed buyers'"
                              " AND module = 'relate' AND source = 'return {}' AND trigger = 'once' AND active = 0"
                              " AND revision = 0 AND next_run_at IS NULL AND created_at = 9000 AND updated_at = 9000"), 1);
    CHECK_EQ_INT(store_campaigns_revision(s, &revision, &err), 0);
    CHECK_EQ_INT(revision, before + 1);   /* a campaign added */
    store_campaign started = {"winback", NULL, NULL, NULL, "daily 09:00", 1, 12000};
    CHECK_EQ_INT(store_campaign_save(s, &started, 9500, &same, &err), 0);
    CHECK_EQ_INT(same, campaign);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM campaigns WHERE name = 'winback' AND description = 'Lapsed buyers'"
                              " AND source = 'return {}' AND trigger = 'daily 09:00' AND active = 1 AND revision = 1"
                              " AND next_run_at = 12000 AND created_at = 9000 AND updated_at = 9500"), 1);
    CHECK_EQ_INT(store_campaigns_revision(s, &revision, &err), 0);
    CHECK_EQ_INT(revision, before + 2);   /* started */
    store_campaign rescheduled = {"winback", NULL, NULL, NULL, NULL, -1, 0};
    CHECK_EQ_INT(store_campaign_save(s, &rescheduled, 9600, &same, &err), 0);
    CHECK_EQ_INT(query_int(s, "SELECT active * 10 + revision FROM campaigns WHERE name = 'winback'"), 11);
    CHECK_EQ_INT(query_int(s, "SELECT next_run_at FROM campaigns WHERE name = 'winback'"), 0);
    CHECK_EQ_INT(store_campaigns_revision(s, &revision, &err), 0);
    CHECK_EQ_INT(revision, before + 2);   /* neither started nor stopped */
    CHECK_EQ_INT(store_campaign_find(s, "winback", &same, &err), 1);
    CHECK_EQ_INT(same, campaign);

    /* One run per period: the same period again is the run there. */
    CHECK_EQ_INT(store_campaign_run_add(s, &o, campaign, "2026-11-23T09:00Z", &run, &err), 1);
    CHECK(run > 0);
    CHECK_EQ_INT(store_campaign_run_add(s, &later, campaign, "2026-11-23T09:00Z", &again, &err), 0);
    CHECK_EQ_INT(again, run);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM campaign_runs WHERE period = '2026-11-23T09:00Z'"
                              " AND status = 'running' AND started_at = 9000 AND event_id = 1 AND finished_at IS NULL"), 1);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM audit WHERE effect = 'campaign_run' AND plugin = 'campaigns'"), 1);

    /* The arm is decided once. */
    CHECK_EQ_INT(store_campaign_member_add(s, &o, campaign, customer, "treated", run, arm, &err), 1);
    CHECK_EQ_STR(arm, "treated");
    CHECK_EQ_INT(store_campaign_member_add(s, &later, campaign, customer, "holdout", 0, arm, &err), 0);
    CHECK_EQ_STR(arm, "treated");
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM campaign_members WHERE arm = 'treated' AND entered_at = 9000"
                              " AND run_id IS NOT NULL AND event_id = 1"), 1);

    /* Actions: the campaign is the run's; a message names the run. */
    CHECK_EQ_INT(store_outbox_add(s, &o, customer, "email", "winback", NULL, &outbox, &err), 0);
    store_campaign_action points = {"points", 500, 0, 0, "{\"entry\":7}", 0},
                          send = {"send", 0, 250, 1, NULL, outbox};
    CHECK_EQ_INT(store_campaign_action_add(s, &o, run, customer, &points, &err), 0);
    CHECK_EQ_INT(store_campaign_action_add(s, &o, run, customer, &send, &err), 0);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM campaign_actions a JOIN campaigns k ON k.id = a.campaign_id"
                              " WHERE k.name = 'winback' AND a.at = 9000 AND a.event_id = 1"), 2);
    CHECK_EQ_INT(query_int(s, "SELECT SUM(points) * 1000000 + SUM(money_cents) * 10 + SUM(contact)"
                              " FROM campaign_actions"), 500002501);
    CHECK_EQ_INT(query_int(s, "SELECT json_extract(detail, '$.entry') FROM campaign_actions WHERE kind = 'points'"), 7);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM outbox o JOIN campaign_runs r ON r.id = o.campaign_run_id"
                              " WHERE o.template = 'winback' AND r.period = '2026-11-23T09:00Z'"), 1);

    /* A journey: on a step, due now or later, ended with no step. */
    CHECK_EQ_INT(store_journey_set(s, &o, campaign, customer, "welcome", 0, &err), 0);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM journeys WHERE step = 'welcome' AND due_at = 9000"
                              " AND entered_at = 9000 AND updated_at = 9000"), 1);
    CHECK_EQ_INT(store_journey_set(s, &later, campaign, customer, "reminder", 20000, &err), 0);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM journeys WHERE step = 'reminder' AND due_at = 20000"
                              " AND entered_at = 9000 AND updated_at = 9600 AND event_id = 2"), 1);
    CHECK_EQ_INT(store_journey_set(s, &later, campaign, customer, NULL, 0, &err), 0);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM journeys WHERE step IS NULL AND due_at IS NULL"
                              " AND entered_at = 9000"), 1);

    CHECK_EQ_INT(store_campaign_run_end(s, &later, run, "done", "{\"acted\":1}", &err), 0);
    CHECK_EQ_INT(store_commit(s, &err), 0);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM campaign_runs WHERE status = 'done' AND finished_at = 9600"
                              " AND json_extract(stats, '$.acted') = 1"), 1);

    /* The schema refuses an arm or a kind of action it does not know. */
    store_id other = 0;
    CHECK_EQ_INT(store_begin(s, &err), 0);
    CHECK_EQ_INT(store_customer_ensure(s, "camp-2", 9000, &other, &err), 0);
    CHECK(store_campaign_member_add(s, &o, campaign, other, "control", 0, arm, &err) < 0);
    store_campaign_action refund = {"refund", 0, 0, 0, NULL, 0};
    CHECK(store_campaign_action_add(s, &o, run, other, &refund, &err) < 0);
    store_rollback(s);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM campaign_members"), 1);
    CHECK_EQ_INT(query_int(s, "SELECT COUNT(*) FROM campaign_actions"), 2);
}

int main(void)
{
    char path[256];
    cx_error err;
    store *s = NULL;
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_migration_from_empty();
    test_newer_schema_refused();
    test_migration_from_v1();
    path_in_dir("store.db", path, sizeof path);
    if (store_open(path, 1, &s, &err) < 0) {
        fprintf(stderr, "%s\n", err.text);
        return 1;
    }
    test_events_and_rollback(s);
    test_effects_and_audit(s);
    test_facts_each(s);
    test_facts_rows(s);
    test_queries_are_read_only(s);
    test_cells(s);
    test_lots_and_refunds(s);
    test_campaigns(s);
    store_close(s);
    test_ledger_append_only();

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return CHECK_DONE();
}
