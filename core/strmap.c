/* strmap.c: open addressing with linear probing; see strmap.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cxhost/strmap.h"

struct strmap_slot {
    char *key;        /* NULL: empty */
    size_t len;
    uint64_t hash;
    int64_t value;
};

static uint64_t strmap_hash(const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void *strmap_alloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        fputs("cxhost: out of memory\n", stderr);
        abort();
    }
    return p;
}

static struct strmap_slot *strmap_find(const strmap *m, const char *key, size_t len, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct strmap_slot *s = &m->slots[i];
        if (!s->key || (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0))
            return s;
    }
}

int strmap_get(const strmap *m, const char *key, size_t len, int64_t *value)
{
    if (!m->cap)
        return 0;
    struct strmap_slot *s = strmap_find(m, key, len, strmap_hash(key, len));
    if (!s->key)
        return 0;
    *value = s->value;
    return 1;
}

static void strmap_grow(strmap *m)
{
    size_t oldcap = m->cap;
    struct strmap_slot *old = m->slots;
    m->cap = oldcap ? oldcap * 2 : 64;
    m->slots = strmap_alloc(m->cap, sizeof *m->slots);
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].key)
            *strmap_find(m, old[i].key, old[i].len, old[i].hash) = old[i];
    free(old);
}

void strmap_put(strmap *m, const char *key, size_t len, int64_t value)
{
    if ((m->count + 1) * 4 > m->cap * 3)   /* keep the load under 3/4 */
        strmap_grow(m);
    uint64_t h = strmap_hash(key, len);
    struct strmap_slot *s = strmap_find(m, key, len, h);
    if (!s->key) {
        s->key = strmap_alloc(len + 1, 1);
        memcpy(s->key, key, len);
        s->len = len;
        s->hash = h;
        m->count++;
    }
    s->value = value;
}

void strmap_clear(strmap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->slots[i].key);
        m->slots[i].key = NULL;
    }
    m->count = 0;
}

void strmap_free(strmap *m)
{
    strmap_clear(m);
    free(m->slots);
    m->slots = NULL;
    m->cap = 0;
}
