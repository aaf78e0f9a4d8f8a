/* facts.h: customers' facts as Lua tables, cached for a write transaction.
 *
 * A fact is a plugin's working state about a customer (a purchase count, a
 * stage, a score's running sum). Plugins read and rewrite a customer's facts
 * on nearly every event, so this module keeps each (customer, plugin) set as
 * a Lua table in the session's state from its first use in a transaction:
 * reading is a table copy and writing a merge, with no conversion to the
 * store's rows until they are needed. It owns:
 *  - loading a set from the store on first use (a customer created in this
 *    transaction needs no query);
 *  - handing a plugin its own facts to change in place during a hook (no
 *    copy: what the table holds is written back), and copies otherwise;
 *  - the undo log of the event being handled, so a failing event takes its
 *    facts back with its rows;
 *  - writing changed customers back to the store, each as one JSON object
 *    holding every plugin's set (the store keeps a row per customer, so the
 *    first set asked for of a customer brings in all of that customer's):
 *    before any SQL reads the store, at commit, and when the cache outgrows
 *    its memory limit (then, between events, it is also emptied);
 *  - forgetting everything when the transaction ends.
 * It registers itself with the store (store_set_cache) for those moments.
 *
 * Values are integers, floats and UTF-8 strings; a boolean is kept as 1 or 0
 * and nil unsets a fact. Names are 1 to 64 bytes of UTF-8.
 *
 * The cache's memory is counted apart from the plugins' memory cap
 * (luahost_set_memory_exempt), and bounded by facts_set_limit. */
#ifndef CXHOST_FACTS_H
#define CXHOST_FACTS_H

#include <stddef.h>
#include <lua.h>
#include "cxhost/error.h"
#include "cxhost/luahost.h"
#include "cxhost/store.h"

typedef struct facts facts;

/* How much memory cached facts may hold before they are written back and
 * dropped (about half a million customers of a plugin like lifecycle). */
#define FACTS_CACHE_DEFAULT ((size_t)256 << 20)

/* Plugin names given to this module as writers and origins must outlive the
 * facts cache itself: it remembers a plugin's tables by the name's pointer
 * (reloading plugins means a new cache). */
facts *facts_new(luahost *h, store *st);
void facts_free(facts *f);
void facts_set_limit(facts *f, size_t bytes);
size_t facts_bytes(const facts *f);   /* memory the cached facts hold, roughly */

/* Pushes the customer's facts from plugin, a table of name = value (empty
 * when none). With writer (the plugin itself, writing during a hook, inside
 * a transaction) it is the cached table itself, to change in place: it is
 * written back, as of writer's event, with what it holds then. Otherwise it
 * is a copy. [-0, +1, e] */
void facts_push(facts *f, store_id customer, const char *plugin, const store_origin *writer);
/* Whether the customer has facts from plugin; stored: whether the store's
 * rows say so (the cache may know better). [-0, +0, e] */
int facts_has(facts *f, store_id customer, const char *plugin, int stored);
/* Pushes one fact, or nil. [-0, +1, e] */
void facts_push_one(facts *f, store_id customer, const char *plugin, const char *name);

/* Sets the facts of o->plugin named by the table at idx (name = value)
 * and keeps the others. Raises "FN: ..." for a bad name or value, having
 * changed nothing. [-0, +0, e] */
void facts_merge(facts *f, const store_origin *o, store_id customer, int idx, const char *fn);
/* Sets one fact to the value at idx; nil unsets it. [-0, +0, e] */
void facts_set_one(facts *f, const store_origin *o, store_id customer, const char *name, int idx,
                   const char *fn);

/* Between events: if the cache holds more than its limit, writes it back
 * and empties it. */
int facts_trim(facts *f, cx_error *err);

#endif
