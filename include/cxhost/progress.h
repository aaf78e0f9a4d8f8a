/* progress.h: a progress line for long work, drawn on a terminal only. */
#ifndef CXHOST_PROGRESS_H
#define CXHOST_PROGRESS_H

#include <stdint.h>

typedef struct progress {
    int enabled;
    const char *label;
    uint64_t total_bytes;     /* 0: unknown, show counts only */
    uint64_t started_ns;
    uint64_t last_draw_ns;
} progress;

/* Whether stdout and stderr are both terminals (and CI is not set). */
int progress_wanted(void);
void progress_start(progress *p, const char *label, uint64_t total_bytes, int enabled);
/* Cheap to call per record: redraws at most ten times a second. */
void progress_update(progress *p, uint64_t bytes, int64_t records);
void progress_finish(progress *p);

#endif
