/* progress.c: see progress.h. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>
#include "cxhost/progress.h"

int progress_wanted(void)
{
    const char *ci = getenv("CI");
    return isatty(STDOUT_FILENO) && isatty(STDERR_FILENO) && !(ci && *ci);
}

void progress_start(progress *p, const char *label, uint64_t total_bytes, int enabled)
{
    p->enabled = enabled;
    p->label = label;
    p->total_bytes = total_bytes;
    p->started_ns = uv_hrtime();
    p->last_draw_ns = 0;
}

void progress_update(progress *p, uint64_t bytes, int64_t records)
{
    if (!p->enabled)
        return;
    uint64_t now = uv_hrtime();
    if (now - p->last_draw_ns < 100000000ULL)
        return;
    p->last_draw_ns = now;
    double seconds = (double)(now - p->started_ns) / 1e9;
    double rate = seconds > 0 ? (double)records / seconds : 0;
    if (p->total_bytes) {
        int pct = (int)(bytes * 100 / p->total_bytes);
        int filled = pct * 30 / 100;
        char bar[31];
        for (int i = 0; i < 30; i++)
            bar[i] = i < filled ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r%s [%s] %3d%%  %lld records  %.0f/s ", p->label, bar, pct, (long long)records, rate);
    } else {
        fprintf(stderr, "\r%s %lld records  %.0f/s ", p->label, (long long)records, rate);
    }
    fflush(stderr);
}

void progress_finish(progress *p)
{
    if (p->enabled && p->last_draw_ns)
        fputs("\r\033[K", stderr);
}
