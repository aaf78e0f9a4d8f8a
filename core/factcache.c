/* factcache.c: see factcache.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cxhost/strmap.h"
#include "factcache.h"

/* The value a fact had before an event changed it. */
struct undo {
    fact_set *set;
    const char *name;    /* interned */
    int existed;
    store_value value;   /* text owned by the record */
    store_id event;      /* the set's before the change */
    int64_t at;
};

struct factcache {
    strmap index;        /* "customer/plugin" -> position in sets */
    fact_set **sets;
    size_t count, cap;
    struct undo *undo;
    size_t undo_count, undo_cap;
    int marking;
    fact_set *last;      /* the set found last: a plugin reads and then writes it */
    /* Fact and plugin names, kept once: a plugin uses the same few names for
     * every customer, and a copy per fact made allocation most of the cost. */
    strmap name_index;   /* name -> position in names */
    char **names;
    size_t name_count, name_cap;
    size_t bytes;        /* roughly what the sets hold, for the store's bound */
};

/* What malloc takes for a block of n bytes, near enough. */
#define BLOCK_BYTES(n) (((n) + 16 + 15) & ~(size_t)15)
/* What one set costs beyond its facts: itself, its index entry, its slot. */
#define SET_BYTES (BLOCK_BYTES(sizeof(fact_set)) + 64 + sizeof(fact_set *))

static const char *intern(factcache *c, const char *name);

static void *factcache_alloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q) {
        fputs("cxhost: out of memory\n", stderr);
        abort();
    }
    return q;
}

static char *copy_text(const char *s, size_t len)
{
    char *p = factcache_alloc(NULL, len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* v with its text copied (the copy owned by the caller). */
static store_value value_copy(const store_value *v)
{
    store_value c = *v;
    if (v->type == STORE_TEXT)
        c.s = copy_text(v->s, v->len);
    return c;
}

static void value_free(store_value *v)
{
    if (v->type == STORE_TEXT)
        free((char *)v->s);
    v->type = STORE_NULL;
}

static int value_equal(const store_value *a, const store_value *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case STORE_INT: return a->i == b->i;
    case STORE_REAL: return a->r == b->r;
    case STORE_TEXT: return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
    default: return 1;
    }
}

factcache *factcache_new(void)
{
    factcache *c = factcache_alloc(NULL, sizeof *c);
    memset(c, 0, sizeof *c);
    return c;
}

static const char *intern(factcache *c, const char *name)
{
    size_t len = strlen(name);
    int64_t at;
    if (strmap_get(&c->name_index, name, len, &at))
        return c->names[at];
    if (c->name_count == c->name_cap) {
        c->name_cap = c->name_cap ? c->name_cap * 2 : 16;
        c->names = factcache_alloc(c->names, c->name_cap * sizeof *c->names);
    }
    c->names[c->name_count] = copy_text(name, len);
    strmap_put(&c->name_index, name, len, (int64_t)c->name_count);
    return c->names[c->name_count++];
}

/* The index key: the customer id's bytes, then the plugin's name. */
static size_t key_of(store_id customer, const char *plugin, char *key, size_t size)
{
    size_t len = strlen(plugin);
    if (len > size - sizeof customer)
        len = size - sizeof customer;
    memcpy(key, &customer, sizeof customer);
    memcpy(key + sizeof customer, plugin, len);
    return sizeof customer + len;
}

fact_set *factcache_find(factcache *c, store_id customer, const char *plugin)
{
    char key[128];
    int64_t at;
    if (c->last && c->last->customer == customer && strcmp(c->last->plugin, plugin) == 0)
        return c->last;
    size_t len = key_of(customer, plugin, key, sizeof key);
    if (!strmap_get(&c->index, key, len, &at))
        return NULL;
    c->last = c->sets[at];
    return c->last;
}

fact_set *factcache_add(factcache *c, store_id customer, const char *plugin)
{
    char key[128];
    size_t len = key_of(customer, plugin, key, sizeof key);
    if (c->count == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->sets = factcache_alloc(c->sets, c->cap * sizeof *c->sets);
    }
    fact_set *set = factcache_alloc(NULL, sizeof *set);
    memset(set, 0, sizeof *set);
    c->bytes += SET_BYTES;
    set->customer = customer;
    set->plugin = intern(c, plugin);
    set->cache = c;
    strmap_put(&c->index, key, len, (int64_t)c->count);
    c->sets[c->count++] = set;
    return set;
}

/* Where name is, or where it would go (*found says which). */
static int fact_position(const fact_set *set, const char *name, int *found)
{
    int lo = 0, hi = set->count;
    while (lo < hi) {
        int mid = (lo + hi) / 2, cmp = strcmp(set->facts[mid].name, name);
        if (cmp == 0) {
            *found = 1;
            return mid;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static fact *fact_insert(fact_set *set, int at, const char *name)
{
    if (set->count == set->cap) {
        int cap = set->cap ? set->cap * 2 : 8;
        set->cache->bytes += BLOCK_BYTES((size_t)cap * sizeof *set->facts);
        if (set->cap)
            set->cache->bytes -= BLOCK_BYTES((size_t)set->cap * sizeof *set->facts);
        set->cap = cap;
        set->facts = factcache_alloc(set->facts, (size_t)set->cap * sizeof *set->facts);
    }
    memmove(&set->facts[at + 1], &set->facts[at], (size_t)(set->count - at) * sizeof *set->facts);
    set->count++;
    fact *f = &set->facts[at];
    memset(f, 0, sizeof *f);
    f->name = intern(set->cache, name);
    return f;
}

/* Frees a value held by a fact of set. */
static void fact_value_free(fact_set *set, store_value *v)
{
    if (v->type == STORE_TEXT)
        set->cache->bytes -= BLOCK_BYTES(v->len + 1);
    value_free(v);
}

/* Puts v (copied) as fact name at pos, where fact_position put it. */
static void fact_put(fact_set *set, int pos, int found, const char *name, const store_value *v)
{
    fact *f = found ? &set->facts[pos] : fact_insert(set, pos, name);
    if (found)
        fact_value_free(set, &f->value);
    f->value = value_copy(v);
    if (v->type == STORE_TEXT)
        set->cache->bytes += BLOCK_BYTES(v->len + 1);
}

void factcache_load(fact_set *set, const char *name, const store_value *v)
{
    int found;
    int pos = fact_position(set, name, &found);
    fact_put(set, pos, found, name, v);
}

int factcache_set(factcache *c, fact_set *set, const char *name, const store_value *v, store_id event, int64_t at)
{
    int found;
    int pos = fact_position(set, name, &found);
    if (found ? value_equal(&set->facts[pos].value, v) : v->type == STORE_NULL)
        return 0;
    if (c->marking) {
        if (c->undo_count == c->undo_cap) {
            c->undo_cap = c->undo_cap ? c->undo_cap * 2 : 64;
            c->undo = factcache_alloc(c->undo, c->undo_cap * sizeof *c->undo);
        }
        struct undo *u = &c->undo[c->undo_count++];
        memset(u, 0, sizeof *u);
        u->set = set;
        u->name = intern(c, name);
        u->existed = found;
        if (found)
            u->value = value_copy(&set->facts[pos].value);
        u->event = set->event;
        u->at = set->at;
    }
    fact_put(set, pos, found, name, v);
    set->event = event;
    set->at = at;
    set->dirty = 1;
    return 1;
}

static void undo_free(struct undo *u)
{
    value_free(&u->value);
}

void factcache_mark(factcache *c)
{
    factcache_release(c);
    c->marking = 1;
}

void factcache_release(factcache *c)
{
    for (size_t i = 0; i < c->undo_count; i++)
        undo_free(&c->undo[i]);
    c->undo_count = 0;
    c->marking = 0;
}

void factcache_undo(factcache *c)
{
    while (c->undo_count > 0) {
        struct undo *u = &c->undo[--c->undo_count];
        int found;
        int pos = fact_position(u->set, u->name, &found);
        if (found) {
            fact *f = &u->set->facts[pos];
            fact_value_free(u->set, &f->value);
            if (u->existed) {
                f->value = u->value;     /* the record's copy moves back in */
                if (f->value.type == STORE_TEXT)
                    c->bytes += BLOCK_BYTES(f->value.len + 1);
                u->value.type = STORE_NULL;
            } else {
                memmove(f, f + 1, (size_t)(u->set->count - pos - 1) * sizeof *f);
                u->set->count--;
            }
        }
        u->set->event = u->event;
        u->set->at = u->at;
        u->set->dirty = 1;               /* the database may hold either version now */
        undo_free(u);
    }
    c->marking = 0;
}

int factcache_flush(factcache *c, factcache_flush_fn fn, void *ud)
{
    for (size_t i = 0; i < c->count; i++) {
        fact_set *set = c->sets[i];
        if (!set->dirty)
            continue;
        if (fn(ud, set))
            return -1;
        set->dirty = 0;
    }
    return 0;
}

size_t factcache_bytes(const factcache *c) { return c->bytes; }

void factcache_clear(factcache *c)
{
    factcache_release(c);
    for (size_t i = 0; i < c->count; i++) {
        fact_set *set = c->sets[i];
        for (int j = 0; j < set->count; j++) {
            value_free(&set->facts[j].value);
        }
        free(set->facts);
        free(set);
    }
    c->count = 0;
    c->bytes = 0;
    c->last = NULL;
    strmap_clear(&c->index);
    for (size_t i = 0; i < c->name_count; i++)   /* no set refers to them now */
        free(c->names[i]);
    c->name_count = 0;
    strmap_clear(&c->name_index);
}

void factcache_free(factcache *c)
{
    if (!c)
        return;
    factcache_clear(c);
    free(c->sets);
    free(c->undo);
    strmap_free(&c->index);
    strmap_free(&c->name_index);
    free(c->names);
    free(c);
}
