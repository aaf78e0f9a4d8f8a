/* strmap.h: a hash map from strings to int64, for the caches of external ids. */
#ifndef CXHOST_STRMAP_H
#define CXHOST_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct strmap {
    struct strmap_slot *slots;
    size_t cap;     /* a power of two, or 0 */
    size_t count;
} strmap;

#define STRMAP_INIT {NULL, 0, 0}

/* 1 and *value set when key is there, 0 when not. */
int strmap_get(const strmap *m, const char *key, size_t len, int64_t *value);
/* Adds or replaces; the map keeps its own copy of the key. */
void strmap_put(strmap *m, const char *key, size_t len, int64_t value);
void strmap_clear(strmap *m);   /* empties it, keeps the memory */
void strmap_free(strmap *m);

#endif
