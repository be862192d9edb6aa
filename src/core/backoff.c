/* Retry delays after a failed connection (include/identityd/core/backoff.h). */
#include "identityd/core/backoff.h"

bool idd_backoff_ready(const idd_backoff_t *b, int64_t now_ms)
{
    return now_ms >= b->retry_at_ms;
}

int64_t idd_backoff_failed(idd_backoff_t *b, int64_t now_ms, uint32_t jitter)
{
    int64_t delay = b->delay_ms <= 0 ? IDD_BACKOFF_FIRST_MS : b->delay_ms * 2;
    if (delay > IDD_BACKOFF_MAX_MS)
        delay = IDD_BACKOFF_MAX_MS;
    b->delay_ms = delay;
    int64_t wait = delay - (int64_t)(jitter % (uint32_t)(delay / 4 + 1));
    b->retry_at_ms = now_ms + wait;
    return wait;
}

void idd_backoff_reset(idd_backoff_t *b)
{
    b->retry_at_ms = 0;
    b->delay_ms = 0;
}
