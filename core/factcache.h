/* factcache.h: customer facts held in memory for the length of a write
 * transaction (private to the store).
 *
 * A plugin reads and rewrites a customer's facts on every event; writing
 * them through to SQLite each time would make facts most of an import's
 * cost. The store keeps each (customer, plugin) fact set here from its first
 * use in a transaction, writes back only what changed, once (at commit,
 * before any query, or when the cache grows large), and keeps an undo log so
 * taking one event back restores the facts it changed. */
#ifndef CXHOST_FACTCACHE_H
#define CXHOST_FACTCACHE_H

#include <stddef.h>
#include "cxhost/store.h"

typedef struct factcache factcache;

/* One fact as the cache holds it. */
typedef struct fact {
    const char *name;     /* owned by the cache, shared */
    store_value value;    /* text owned by the cache; STORE_NULL: unset */
} fact;

/* The facts of one customer for one plugin, sorted by name: one row of the
 * store (customer_state), written back whole. */
typedef struct fact_set {
    store_id customer;
    const char *plugin;   /* owned by the cache, shared */
    factcache *cache;
    fact *facts;
    int count, cap;
    store_id event;       /* the event that last changed one of them */
    int64_t at;
    int dirty;            /* differs from the database */
} fact_set;

factcache *factcache_new(void);
void factcache_free(factcache *c);

/* The cached set, or NULL when not cached yet. */
fact_set *factcache_find(factcache *c, store_id customer, const char *plugin);
/* Adds an empty set (to be filled with factcache_load). */
fact_set *factcache_add(factcache *c, store_id customer, const char *plugin);
/* Puts a fact read from the database into a set being loaded (not dirty). */
void factcache_load(fact_set *set, const char *name, const store_value *v);

/* Sets a fact; records the old value in the undo log when one is open.
 * Returns whether the value changed. */
int factcache_set(factcache *c, fact_set *set, const char *name, const store_value *v, store_id event, int64_t at);

/* The undo log of one event: mark, then keep (release) or undo. */
void factcache_mark(factcache *c);
void factcache_release(factcache *c);
void factcache_undo(factcache *c);

/* Calls fn for every dirty set and marks it clean; stops on fn's non-zero. */
typedef int (*factcache_flush_fn)(void *ud, const fact_set *set);
int factcache_flush(factcache *c, factcache_flush_fn fn, void *ud);

size_t factcache_bytes(const factcache *c);  /* memory they hold, roughly */
void factcache_clear(factcache *c);          /* forgets everything, undo log included */

#endif
