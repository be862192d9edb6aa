/*
 * Brute-force protection: a fixed table of failure counters keyed by a keyed hash of
 * (ASCII-lowercased login, '\0', client IP), shared by every event-loop thread.
 *
 * The key is SipHash-2-4 with a 128-bit output under a random key drawn at _new: fast on
 * short inputs (a login and an address hash in well under a microsecond) and, because the
 * key is secret, an attacker cannot choose logins that land in one bucket to push a victim's
 * counter out. Only the 16-byte hash is stored: a memory dump shows neither logins nor
 * addresses, and a collision of two pairs is a 2^-128 event.
 *
 * The table is set-associative: WAYS entries per bucket, the bucket chosen by the hash. A
 * new pair takes an empty or expired entry of its bucket, else the unblocked entry whose
 * window began first, and evicts a blocked entry only when every entry of the bucket is
 * blocked (then the one whose block ends soonest). So a flood of made-up logins can reset
 * counters that have not yet blocked, but it cannot unblock a pair unless it blocks a whole
 * bucket of pairs itself, and it can never grow memory.
 *
 * Buckets are guarded by striped mutexes (bucket index modulo STRIPES): threads touching
 * different pairs almost never meet, and the critical section is a scan of WAYS entries.
 * Hashing happens outside the lock. The clock is the caller's (now_ms, monotonic), which
 * keeps this file free of time sources and lets the tests drive it.
 */
#include "identityd/core/bruteforce.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "identityd/core/common.h"

#define WAYS 8               /* entries per bucket: one bucket is 256 bytes */
#define MIN_SLOTS 64         /* as the header promises */
#define MAX_SLOTS (1u << 20) /* 32 MiB of entries; config caps bruteforce.slots here too */
#define STRIPES 64           /* mutexes; more buys nothing once threads rarely collide */
/* A lock's stride: it keeps two locks off one cache line whatever malloc's alignment, since
 * a mutex is well under 64 bytes. */
#define STRIPE_BYTES 128

/* One counter. failures == 0 marks an empty entry; failures == attempts marks a block. */
typedef struct entry {
    uint64_t tag[2];     /* SipHash-128 of the pair */
    int64_t deadline_ms; /* end of the counting window, or end of the block while blocked */
    uint32_t failures;
    uint32_t unused; /* keeps the entry at 32 bytes */
} entry_t;

typedef union stripe {
    pthread_mutex_t mutex;
    char pad[STRIPE_BYTES];
} stripe_t;

_Static_assert(sizeof(entry_t) == 32, "an entry is 32 bytes");
_Static_assert(sizeof(pthread_mutex_t) <= STRIPE_BYTES - 64, "locks could share a cache line");

struct idd_bruteforce {
    uint64_t key[2];    /* SipHash key; wiped at free */
    size_t bucket_mask; /* buckets - 1 */
    uint32_t attempts;
    int64_t window_ms;
    int64_t block_ms;
    int block_s;
    entry_t *entries; /* buckets * WAYS, bucket b at entries[b * WAYS] */
    stripe_t stripes[STRIPES];
};

/* ---- SipHash-2-4, 128-bit output (Aumasson and Bernstein), written for streaming ------- */

typedef struct sip {
    uint64_t v0, v1, v2, v3;
    uint64_t word;   /* bytes not yet compressed, little-endian */
    unsigned filled; /* bytes in word (0..7) */
    uint64_t total;  /* message length; only its low byte enters the hash */
} sip_t;

static inline uint64_t rotl(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64 - b));
}

static inline void sip_round(sip_t *s)
{
    s->v0 += s->v1;
    s->v1 = rotl(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = rotl(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = rotl(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = rotl(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = rotl(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = rotl(s->v2, 32);
}

static void sip_init(sip_t *s, const uint64_t key[2])
{
    s->v0 = 0x736f6d6570736575ULL ^ key[0];
    s->v1 = 0x646f72616e646f6dULL ^ key[1] ^ 0xee; /* 0xee selects the 128-bit variant */
    s->v2 = 0x6c7967656e657261ULL ^ key[0];
    s->v3 = 0x7465646279746573ULL ^ key[1];
    s->word = 0;
    s->filled = 0;
    s->total = 0;
}

static inline void sip_compress(sip_t *s, uint64_t m)
{
    s->v3 ^= m;
    sip_round(s);
    sip_round(s);
    s->v0 ^= m;
}

/* Byte by byte: inputs are a login and an address, tens of bytes, and building words by
 * shifting is independent of the host's byte order. */
static inline void sip_byte(sip_t *s, unsigned char c)
{
    s->word |= (uint64_t)c << (8 * s->filled);
    s->total++;
    if (++s->filled == 8) {
        sip_compress(s, s->word);
        s->word = 0;
        s->filled = 0;
    }
}

static void sip_final(sip_t *s, uint64_t out[2])
{
    sip_compress(s, s->word | (s->total << 56));
    s->v2 ^= 0xee;
    for (int i = 0; i < 4; i++)
        sip_round(s);
    out[0] = s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
    s->v1 ^= 0xdd;
    for (int i = 0; i < 4; i++)
        sip_round(s);
    out[1] = s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

/* The tag of a pair; NULL strings hash as empty. */
static void pair_tag(const idd_bruteforce_t *bf, const char *login, const char *ip, uint64_t tag[2])
{
    sip_t s;
    sip_init(&s, bf->key);
    for (const unsigned char *p = (const unsigned char *)(login ? login : ""); *p; p++)
        sip_byte(&s, (unsigned char)(*p >= 'A' && *p <= 'Z' ? *p + ('a' - 'A') : *p));
    /* The separator keeps ("ab", "c") and ("a", "bc") apart; neither part holds a NUL. */
    sip_byte(&s, 0);
    for (const unsigned char *p = (const unsigned char *)(ip ? ip : ""); *p; p++)
        sip_byte(&s, *p);
    sip_final(&s, tag);
    OPENSSL_cleanse(&s, sizeof(s)); /* the state is a function of the secret key */
}

/* ---- the table ------------------------------------------------------------------------- */

idd_bruteforce_t *idd_bruteforce_new(size_t slots, int attempts, int window, int block)
{
    if (attempts < 1 || window < 1 || block < 1 || slots > MAX_SLOTS)
        return NULL;
    size_t n = MIN_SLOTS;
    while (n < slots)
        n <<= 1;

    idd_bruteforce_t *bf = idd_xcalloc(1, sizeof(*bf));
    if (RAND_bytes((unsigned char *)bf->key, sizeof(bf->key)) != 1) {
        free(bf);
        return NULL;
    }
    bf->bucket_mask = n / WAYS - 1;
    bf->attempts = (uint32_t)attempts;
    bf->window_ms = (int64_t)window * 1000;
    bf->block_ms = (int64_t)block * 1000;
    bf->block_s = block;
    bf->entries = idd_xcalloc(n, sizeof(entry_t));
    for (size_t i = 0; i < STRIPES; i++)
        pthread_mutex_init(&bf->stripes[i].mutex, NULL);
    return bf;
}

void idd_bruteforce_free(idd_bruteforce_t *bf)
{
    if (bf == NULL)
        return;
    for (size_t i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&bf->stripes[i].mutex);
    free(bf->entries);
    OPENSSL_cleanse(bf->key, sizeof(bf->key));
    free(bf);
}

/* The bucket of tag, with its stripe locked; the caller unlocks *mutex. */
static entry_t *lock_bucket(idd_bruteforce_t *bf, const uint64_t tag[2], pthread_mutex_t **mutex)
{
    /* Low bits of a keyed hash: uniform over buckets whatever logins a client makes up. */
    size_t bucket = (size_t)tag[1] & bf->bucket_mask;
    *mutex = &bf->stripes[bucket % STRIPES].mutex;
    pthread_mutex_lock(*mutex);
    return &bf->entries[bucket * WAYS];
}

/* The entry of tag in bucket, or NULL. The hash is keyed, so comparing it in variable time
 * tells an observer nothing they could use. */
static entry_t *find(entry_t *bucket, const uint64_t tag[2])
{
    for (int i = 0; i < WAYS; i++)
        if (bucket[i].failures != 0 && bucket[i].tag[0] == tag[0] && bucket[i].tag[1] == tag[1])
            return &bucket[i];
    return NULL;
}

static bool is_blocked(const idd_bruteforce_t *bf, const entry_t *e)
{
    return e->failures >= bf->attempts;
}

/* The entry a new pair takes: empty or expired first, then the unblocked entry whose window
 * started first (its deadline is the earliest, windows being all the same length), and a
 * blocked one only when the whole bucket is blocked: the one whose block ends soonest. */
static entry_t *victim(const idd_bruteforce_t *bf, entry_t *bucket, int64_t now_ms)
{
    entry_t *oldest_open = NULL, *oldest_blocked = NULL;
    for (int i = 0; i < WAYS; i++) {
        entry_t *e = &bucket[i];
        if (e->failures == 0 || now_ms >= e->deadline_ms)
            return e;
        entry_t **best = is_blocked(bf, e) ? &oldest_blocked : &oldest_open;
        if (*best == NULL || e->deadline_ms < (*best)->deadline_ms)
            *best = e;
    }
    return oldest_open != NULL ? oldest_open : oldest_blocked;
}

/* A NULL table (protection not set up) blocks nothing and records nothing; NULL login or ip
 * counts as empty. Neither is a state worth crashing an event loop over. */
int idd_bruteforce_check(idd_bruteforce_t *bf, const char *login, const char *ip, int64_t now_ms,
                         int *retry_after)
{
    uint64_t tag[2];
    pthread_mutex_t *mutex;
    int rc = 0;
    int64_t remaining = 0;

    if (retry_after != NULL)
        *retry_after = 0;
    if (bf == NULL)
        return 0;
    pair_tag(bf, login, ip, tag);
    entry_t *bucket = lock_bucket(bf, tag, &mutex);
    entry_t *e = find(bucket, tag);
    if (e != NULL && is_blocked(bf, e)) {
        remaining = e->deadline_ms - now_ms;
        if (remaining > 0)
            rc = IDD_EDENIED;
        else
            memset(e, 0, sizeof(*e)); /* the block is over: the pair starts afresh */
    }
    pthread_mutex_unlock(mutex);

    if (rc != 0 && retry_after != NULL) {
        int64_t seconds = (remaining + 999) / 1000;
        /* A caller whose clock went backwards would otherwise be told to wait longer than
         * any block lasts. */
        *retry_after = seconds > bf->block_s ? bf->block_s : seconds < 1 ? 1 : (int)seconds;
    }
    return rc;
}

void idd_bruteforce_fail(idd_bruteforce_t *bf, const char *login, const char *ip, int64_t now_ms)
{
    uint64_t tag[2];
    pthread_mutex_t *mutex;

    if (bf == NULL)
        return;
    pair_tag(bf, login, ip, tag);
    entry_t *bucket = lock_bucket(bf, tag, &mutex);
    entry_t *e = find(bucket, tag);
    if (e != NULL && is_blocked(bf, e) && now_ms < e->deadline_ms) {
        /* Failing while blocked neither extends nor resets the block: callers refuse blocked
         * pairs before checking the password, so this is only a race between two requests. */
        goto done;
    }
    if (e != NULL && !is_blocked(bf, e) && now_ms < e->deadline_ms) {
        e->failures++;
    } else {
        /* A new pair, a window that has passed or a block that has ended: count afresh, the
         * window starting at this failure. */
        if (e == NULL) {
            e = victim(bf, bucket, now_ms);
            e->tag[0] = tag[0];
            e->tag[1] = tag[1];
        }
        e->failures = 1;
        e->deadline_ms = now_ms + bf->window_ms;
    }
    if (e->failures >= bf->attempts) {
        e->failures = bf->attempts;
        e->deadline_ms = now_ms + bf->block_ms;
    }
done:
    pthread_mutex_unlock(mutex);
}

void idd_bruteforce_success(idd_bruteforce_t *bf, const char *login, const char *ip)
{
    uint64_t tag[2];
    pthread_mutex_t *mutex;

    if (bf == NULL)
        return;
    pair_tag(bf, login, ip, tag);
    entry_t *bucket = lock_bucket(bf, tag, &mutex);
    entry_t *e = find(bucket, tag);
    if (e != NULL)
        memset(e, 0, sizeof(*e));
    pthread_mutex_unlock(mutex);
}
