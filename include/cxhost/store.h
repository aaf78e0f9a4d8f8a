/* store.h: one client's data, behind a narrow interface.
 *
 * The store owns the client's database file (SQLite today) and is the only
 * module that sees the database library: plugins and the rest of the core
 * speak in customers, events and effects, so another backend can be added
 * without touching them.
 *
 * Conventions:
 *  - time is Unix seconds, UTC (int64); money is int64 cents; points integers.
 *  - customers, events and touchpoints have an internal id (store_id) and,
 *    for customers and events, the external id the client's systems use.
 *  - every write happens inside store_begin/store_commit; an event and the
 *    effects plugins derive from it sit inside a savepoint within it, so a
 *    failing plugin takes back exactly that event.
 *  - every effect names its origin (plugin and event). Scores, outbox
 *    messages and tags leave one row each in the audit trail. Rows that
 *    carry their origin themselves have none: ledger entries, tier changes
 *    and refund decisions (append-only, each naming its plugin and event),
 *    and a customer's facts (a plugin's working state, such as a purchase
 *    count), whose row names the event that last changed them.
 *  - functions return 0 on success and -1 with err filled in on failure,
 *    unless said otherwise. */
#ifndef CXHOST_STORE_H
#define CXHOST_STORE_H

#include <stdint.h>
#include <stddef.h>
#include "cxhost/buf.h"
#include "cxhost/error.h"
#include "cxhost/event.h"

typedef struct store store;
typedef int64_t store_id;

/* The schema version this build writes (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 7

/* SQLite's process-wide options (no memory statistics: their mutex is taken
 * on every allocation). store_open calls it; a program that opens SQLite
 * databases of its own first (bench/ingest) calls it before them. */
void store_init_library(void);

/* Opens (and with create, makes) the store at path, migrating its schema
 * forward to STORE_SCHEMA_VERSION. A store written by a newer cxhost is
 * refused. */
int store_open(const char *path, int create, store **out, cx_error *err);
void store_close(store *s);
int store_schema_version(store *s);

/* A write-back cache above the store (facts.h): the store calls it when
 * what it holds must reach the database, and at the edges of events and
 * transactions. */
typedef struct store_cache {
    void *ud;
    int (*write_back)(void *ud, cx_error *err);   /* before SQL reads the store, and at commit */
    int (*event_begin)(void *ud, cx_error *err);  /* before an event's savepoint opens */
    void (*event_end)(void *ud, int kept);        /* the savepoint was released (1) or taken back (0) */
    void (*forget)(void *ud);                     /* the transaction has ended */
} store_cache;
/* c is copied; NULL removes it. */
void store_set_cache(store *s, const store_cache *c);

/* --- transactions ------------------------------------------------------ */
int store_begin(store *s, cx_error *err);      /* a write transaction */
int store_commit(store *s, cx_error *err);
void store_rollback(store *s);                  /* no-op outside a transaction */
int store_in_transaction(const store *s);
/* One event's unit of work inside the transaction. */
int store_savepoint(store *s, cx_error *err);
int store_release(store *s, cx_error *err);
void store_rollback_savepoint(store *s);       /* takes back and closes it */

/* --- values ------------------------------------------------------------ */
typedef enum store_type { STORE_NULL, STORE_INT, STORE_REAL, STORE_TEXT } store_type;

typedef struct store_value {
    store_type type;
    int64_t i;
    double r;
    const char *s;   /* STORE_TEXT: not always NUL-terminated, see len */
    size_t len;
} store_value;

/* Where an effect comes from: the plugin (or "script", "campaign:NAME") and
 * the event being handled, 0 when none. */
typedef struct store_origin {
    const char *plugin;
    store_id event;
    int64_t at;      /* the time the effect takes place (the event's time) */
} store_origin;

/* --- customers, touchpoints, events ---------------------------------- */
/* Finds or creates the customer; first_seen is used when creating. */
int store_customer_ensure(store *s, const char *external_id, int64_t first_seen, store_id *id, cx_error *err);
/* 1 found (id set), 0 not found, -1 error. */
int store_customer_find(store *s, const char *external_id, store_id *id, cx_error *err);
int store_touchpoint_ensure(store *s, const char *name, store_id *id, cx_error *err);
/* Creates one that a find has just said is not there. */
int store_customer_add(store *s, const char *external_id, int64_t first_seen, store_id *id, cx_error *err);
int store_touchpoint_add(store *s, const char *name, store_id *id, cx_error *err);
/* 1 found (id set), 0 not found, -1 error. */
int store_touchpoint_find(store *s, const char *name, store_id *id, cx_error *err);

/* Takes back a customer or touchpoint just added for an event that turned out
 * to be a duplicate (nothing refers to it yet). */
int store_customer_remove(store *s, store_id id, cx_error *err);
int store_touchpoint_remove(store *s, store_id id, cx_error *err);

/* 1 inserted (*event_id set), 0 already there (the same external id: a no-op),
 * -1 error. customer and touchpoint are 0 when the event has none. */
int store_event_insert(store *s, const cx_event *ev, store_id customer, store_id touchpoint,
                       store_id import_id, store_id *event_id, cx_error *err);

/* --- effects ------------------------------------------------------------- */
/* A customer's facts are one JSON object, { "plugin": { "fact": value } }
 * (see facts.h, which caches them). Reads it into json: 1 found, 0 none,
 * -1 error. */
int store_facts_load(store *s, store_id customer, buf *json, cx_error *err);
/* 0 when the customer has no facts row for sure (made in this transaction,
 * none written yet): store_facts_load would find nothing. */
int store_facts_may_exist(const store *s, store_id customer);
/* Writes the object (inside a transaction); NULL for none. The event and
 * time are those of the last change. */
int store_facts_write(store *s, store_id customer, const char *json, size_t len, store_id event, int64_t at,
                      cx_error *err);
/* Calls fn for each fact of the customer (of one plugin, or all when plugin is
 * NULL), in plugin and name order. fn returns non-zero to stop. Strings live
 * for the call only. */
typedef int (*store_fact_fn)(void *ud, const char *plugin, const char *name, const store_value *v);
int store_facts_each(store *s, store_id customer, const char *plugin, store_fact_fn fn, void *ud, cx_error *err);
/* Calls fn for every customer in id order, with whether the database holds
 * facts from plugin for it (a cache above may know better). fn may write.
 * external lives for the call only. */
typedef int (*store_customer_fn)(void *ud, store_id customer, const char *external, int stored);
int store_facts_customers(store *s, const char *plugin, store_customer_fn fn, void *ud, cx_error *err);

int store_tag_set(store *s, const store_origin *o, store_id customer, const char *tag, int on, cx_error *err);
/* 1 tagged, 0 not, -1 error. */
int store_tag_has(store *s, store_id customer, const char *tag, cx_error *err);

/* Appends an entry to the loyalty ledger (which is append-only). A positive
 * entry is a lot of points: pending until available_at, and what is left of
 * it expiring at expires_at. A negative entry with a lot takes from that
 * entry first (a clawback, an expiry), one without from the oldest
 * available lots (a redemption). A balance is always the sum of the
 * entries: no copy is kept that could disagree with them. */
typedef struct store_ledger_entry {
    int64_t points;      /* positive earns, negative spends */
    const char *kind;    /* "earn", "redeem", "expire", "adjust", ... */
    const char *rule;    /* the rule that decided it, or NULL */
    const char *note;    /* free text for people, or NULL */
    int64_t at;          /* when it takes effect; 0: the origin's time */
    int64_t available_at;   /* 0: at once */
    int64_t expires_at;     /* 0: never */
    store_id lot;        /* the entry it takes from, or 0 */
    int64_t spend_cents; /* the spend it counts toward tiers (negative: refunded) */
} store_ledger_entry;
int store_ledger_add(store *s, const store_origin *o, store_id customer, const store_ledger_entry *e,
                     store_id *entry_id, cx_error *err);
int store_ledger_balance(store *s, store_id customer, int64_t *points, cx_error *err);
/* Sums the points and spend of the customer's entries whose kind is in
 * kinds_json (a JSON array of texts) and which count after `since` and
 * before `until` (both exclusive): an entry with a lot counts at its lot's
 * time, so a clawback leaves the window with the purchase it takes back. */
int store_ledger_sum(store *s, store_id customer, int64_t since, int64_t until, const char *kinds_json,
                     int64_t *points, int64_t *spend_cents, cx_error *err);

/* Records a change of loyalty tier (append-only history). */
int store_tier_record(store *s, const store_origin *o, store_id customer, const char *tier, const char *previous,
                      const char *reason, cx_error *err);

/* A refund decision (or a compensation): the request's id is the event's
 * external id, so a request is decided once. */
typedef struct store_refund {
    const char *request;        /* the request's id (unique) */
    const char *kind;           /* "return", "price_match", "compensation" */
    const char *purchase;       /* the purchase's event id, or NULL */
    int64_t requested_cents;
    int64_t approved_cents;     /* money refunded or credited */
    int64_t deducted_cents;     /* taken off for points already spent */
    int64_t points;             /* points granted (compensation) */
    int64_t clawback_points;    /* points taken back */
    const char *clawback_policy;
    const char *decision;       /* "approved", "partial", "rejected" */
    const char *rule;
    const char *reason;         /* for people: "rejected: the 7-day window closed on 2026-03-09" */
    const char *lines_json;     /* the lines decided, a JSON array, or NULL */
} store_refund;
int store_refund_add(store *s, const store_origin *o, store_id customer, const store_refund *r, store_id *id,
                     cx_error *err);

/* Keeps what the plugins said of an event (ctx.explain): a JSON object,
 * { "plugin": [ { "rule", "fired", "reason", "values" }, ... ] }. */
int store_explanation_write(store *s, store_id event, const char *json, size_t len, cx_error *err);
/* One of "sense", "feel", "think", "act", "relate"; score 0..100; touchpoint 0
 * for the customer's overall score in that module. */
int store_score_set(store *s, const store_origin *o, store_id customer, const char *module,
                    store_id touchpoint, double score, cx_error *err);

/* A client-level running measure (a module of the experience grid, NPS,
 * CSAT) at a touchpoint: one row per (measure, touchpoint) holding the sums
 * of weight * value and of weight, each weight decaying by half every
 * half_life seconds (0: never), and counts of observations and of those
 * the caller classed high (a promoter) or low (a detractor). The row carries
 * o's plugin and event; o->at is the observation's time. */
typedef struct store_observation {
    const char *measure;   /* "feel", "nps", ... */
    store_id touchpoint;   /* 0: none */
    double value;
    double weight;
    int64_t half_life;     /* seconds; 0: no decay */
    int high, low;
} store_observation;
int store_cell_add(store *s, const store_origin *o, const store_observation *ob, cx_error *err);

/* Sets a touchpoint's lifecycle stage ("before", "during", "after" or NULL)
 * and experience provider (or NULL), adding it if missing: 1 changed, 0
 * already so, -1 error. Inside a transaction. */
int store_touchpoint_describe(store *s, const char *name, const char *stage, const char *provider, cx_error *err);

/* Names the RFM segment of recency score r and frequency score f (1 to 5
 * each; the view rfm reads it). Inside a transaction. */
int store_rfm_segment_set(store *s, int r, int f, const char *segment, cx_error *err);

/* Queues a message or offer for delivery; vars_json is a JSON object or NULL. */
int store_outbox_add(store *s, const store_origin *o, store_id customer, const char *channel,
                     const char *template_name, const char *vars_json, store_id *id, cx_error *err);

/* --- campaigns (docs/campaigns.md) ------------------------------------------ */
/* What a campaign row holds; a NULL field (active < 0, next_run_at < 0)
 * keeps what the campaign had. */
typedef struct store_campaign {
    const char *name, *description, *module, *source, *trigger;
    int active;            /* 1 registered with the service, 0 not, -1 keep */
    int64_t next_run_at;   /* Unix seconds, 0 none, -1 keep */
} store_campaign;
/* Adds or updates the campaign named c->name and sets *id. */
int store_campaign_save(store *s, const store_campaign *c, int64_t at, store_id *id, cx_error *err);
/* A number that changes whenever a campaign is added, started or stopped
 * (the service reloads its plugins then). */
int store_campaigns_revision(store *s, int64_t *revision, cx_error *err);
/* 1 found (*id set), 0 no campaign by that name, -1 error. */
int store_campaign_find(store *s, const char *name, store_id *id, cx_error *err);
/* Starts the run of campaign for period (status "running"): 1 started, 0
 * that period has a run already (*run set to it), -1 error. */
int store_campaign_run_add(store *s, const store_origin *o, store_id campaign, const char *period, store_id *run,
                           cx_error *err);
/* Ends a run: its status ("done", "stopped", ...) and stats (JSON). */
int store_campaign_run_end(store *s, const store_origin *o, store_id run, const char *status,
                           const char *stats_json, cx_error *err);
/* Puts customer in an arm ("treated" or "holdout") of the campaign, once:
 * *arm_out is the arm recorded (this one, or the one decided before) and
 * the return 1 when it was recorded now, 0 when it was there, -1 error. */
int store_campaign_member_add(store *s, const store_origin *o, store_id campaign, store_id customer,
                              const char *arm, store_id run, char arm_out[16], cx_error *err);
/* One action a run took for a customer, with what it cost. */
typedef struct store_campaign_action {
    const char *kind;        /* "points", "send", "tag", "tier" */
    int64_t points, money_cents;
    int contact;             /* 1: it contacted the customer (frequency caps count it) */
    const char *detail_json; /* what was done, or NULL */
    store_id outbox;         /* the message it queued (its row then names the run), or 0 */
} store_campaign_action;
int store_campaign_action_add(store *s, const store_origin *o, store_id run, store_id customer,
                              const store_campaign_action *a, cx_error *err);
/* Sets the customer's step in the campaign's journey (NULL: finished) and
 * when it is due (0: now). */
int store_journey_set(store *s, const store_origin *o, store_id campaign, store_id customer, const char *step,
                      int64_t due_at, cx_error *err);

/* --- reading --------------------------------------------------------------- */
/* Runs one read-only SQL statement with positional parameters (?1, ?2, ...),
 * calling fn for each row; fn returns non-zero to stop. A statement that
 * would write, or more than one statement, is refused. */
typedef int (*store_row_fn)(void *ud, int ncols, const char *const *names, const store_value *values);
int store_query(store *s, const char *sql, const store_value *params, int nparams,
                store_row_fn fn, void *ud, cx_error *err);

/* The latest event time in the store, 0 when it holds none: the latest
 * event of the client's, not a run of a campaign (type campaign). */
int store_latest_event_at(store *s, int64_t *at, cx_error *err);

/* --- imports --------------------------------------------------------------- */
int store_import_begin(store *s, const char *source, const char *format, store_id *import_id, cx_error *err);
int store_import_finish(store *s, store_id import_id, int64_t lines, int64_t inserted,
                        int64_t duplicates, int64_t rejected, cx_error *err);

#endif
