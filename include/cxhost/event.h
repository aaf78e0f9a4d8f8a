/* event.h: one customer event as the readers produce it and ingest consumes it. */
#ifndef CXHOST_EVENT_H
#define CXHOST_EVENT_H

#include <stdint.h>

typedef struct cx_event {
    const char *id;          /* external id, unique per client; required */
    const char *type;        /* "purchase", "survey", "complaint", ...; required */
    const char *customer;    /* external customer id; NULL when the event has none */
    int64_t at;              /* Unix seconds, UTC; required */
    int64_t amount_cents;    /* meaningful only when has_amount */
    int has_amount;
    const char *touchpoint;  /* touchpoint name; NULL when none */
    const char *data_json;   /* the free fields as a JSON object text; NULL for none */
} cx_event;

#endif
