/* The KDF's CPU budget while the event loops are busy (include/identityd/core/pacer.h). */
#include "identityd/core/pacer.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "identityd/core/common.h"

#define WINDOW_NS ((int64_t)PACER_WINDOW_MS * 1000000)

struct idd_pacer {
    pthread_mutex_t lock;
    idd_pacer_state_t s;
    int64_t (*read_loops)(void);
};

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void idd_pacer_state_init(idd_pacer_state_t *s, int percent, int loops, int64_t now_ns,
                          int64_t loops_ns)
{
    *s = (idd_pacer_state_t){.percent = percent < 1     ? 1
                                        : percent > 100 ? 100
                                                        : percent,
                             .loops = loops < 1 ? 1 : loops,
                             .window_start = now_ns,
                             .loops_at = loops_ns,
                             .free_at = now_ns};
}

int64_t idd_pacer_step(idd_pacer_state_t *s, int64_t now_ns, int64_t slice_ns,
                       int64_t (*read_loops)(void))
{
    if (slice_ns < 0)
        slice_ns = 0;
    if (s->percent >= 100)
        return 0;
    int64_t elapsed = now_ns - s->window_start;
    if (elapsed >= WINDOW_NS) {
        int64_t loops_ns = read_loops();
        /* Busy: at least half of the loops' cores' time in the window. */
        s->busy = (loops_ns - s->loops_at) * 2 >= elapsed * s->loops;
        s->window_start = now_ns;
        s->loops_at = loops_ns;
    }
    if (!s->busy) {
        s->free_at = now_ns;
        return 0;
    }
    /* The budget's clock: a slice of slice_ns CPU costs slice_ns * 100 / (percent * loops)
     * of wall time. Time when nothing was spent is not saved up. */
    if (s->free_at < now_ns)
        s->free_at = now_ns;
    s->free_at += slice_ns * 100 / ((int64_t)s->percent * s->loops);
    if (s->free_at <= now_ns)
        return 0;
    s->paced_ns += (uint64_t)(s->free_at - now_ns);
    return s->free_at;
}

idd_pacer_t *idd_pacer_new(int percent, int loops, int64_t (*read_loops)(void))
{
    idd_pacer_t *p = idd_xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->lock, NULL);
    p->read_loops = read_loops;
    idd_pacer_state_init(&p->s, percent, loops, clock_ns(CLOCK_MONOTONIC), read_loops());
    return p;
}

void idd_pacer_release(idd_pacer_t *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->s.percent = 100;
    pthread_mutex_unlock(&p->lock);
}

void idd_pacer_free(idd_pacer_t *p)
{
    if (p == NULL)
        return;
    pthread_mutex_destroy(&p->lock);
    free(p);
}

void idd_pacer_begin(const idd_pacer_t *p, idd_pacer_mark_t *m)
{
    m->cpu_ns = p != NULL ? clock_ns(CLOCK_THREAD_CPUTIME_ID) : 0;
}

void idd_pacer_end(idd_pacer_t *p, idd_pacer_mark_t *m)
{
    if (p == NULL)
        return;
    int64_t slice = clock_ns(CLOCK_THREAD_CPUTIME_ID) - m->cpu_ns;
    pthread_mutex_lock(&p->lock);
    int64_t until = idd_pacer_step(&p->s, clock_ns(CLOCK_MONOTONIC), slice, p->read_loops);
    pthread_mutex_unlock(&p->lock);
    if (until > 0) {
        struct timespec ts = {.tv_sec = until / 1000000000, .tv_nsec = until % 1000000000};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
        }
    }
}

double idd_pacer_slept(idd_pacer_t *p)
{
    if (p == NULL)
        return 0;
    pthread_mutex_lock(&p->lock);
    uint64_t ns = p->s.paced_ns;
    pthread_mutex_unlock(&p->lock);
    return (double)ns / 1e9;
}
