/* Pooled random bytes for identifiers (include/identityd/core/rand.h). */
#include "identityd/core/rand.h"

#include <pthread.h>
#include <string.h>

#include <openssl/rand.h>

#include "identityd/core/common.h"

static __thread unsigned char pool[IDD_RAND_POOL];
static __thread size_t pool_left; /* bytes not handed out, at the end of pool */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* fork() copies the calling thread's pool: the child must not hand out the same bytes as
 * its parent. (Only the forking thread lives on in the child.) */
static void forget_pool(void)
{
    pool_left = 0;
}

static void register_atfork(void)
{
    (void)pthread_atfork(NULL, NULL, forget_pool);
}

int idd_rand_id(void *out, size_t n)
{
    if (n > 256)
        return IDD_EINVAL;
    pthread_once(&atfork_once, register_atfork);
    if (pool_left < n) {
        if (RAND_bytes(pool, sizeof pool) != 1) {
            pool_left = 0;
            return IDD_ECRYPTO;
        }
        pool_left = sizeof pool;
    }
    unsigned char *from = pool + sizeof pool - pool_left;
    memcpy(out, from, n);
    memset(from, 0, n); /* handed out once */
    pool_left -= n;
    return 0;
}
