/*
 * Brute-force protection: a fixed table of failure counters shared by every event-loop
 * thread. Three kinds of counter live in it side by side, each under its own keyed hash:
 * a pair (tenant, ASCII-lowercased login, client), a client, and a (tenant, login).
 *
 * The key is SipHash-2-4 with a 128-bit output under a random key drawn at _new: fast on
 * short inputs (a login and an address hash in well under a microsecond) and, because the
 * key is secret, an attacker cannot choose logins that land in one bucket. Only the 16-byte
 * hash is stored: a memory dump shows neither logins nor addresses, and a collision of two
 * counters is a 2^-128 event. A leading byte keeps the three kinds apart.
 *
 * The table is set-associative: WAYS entries per bucket, the bucket chosen by the hash. A
 * new counter takes an entry that is empty or dead (its window or block is over). A live
 * entry (failures inside their window, or a block) is never taken, so no amount of
 * unrelated traffic can reset or lift someone else's counter. When a bucket is all live the
 * new counter is simply not stored: memory never grows, and idd_bruteforce_check judges
 * such a sign-in by the counters that exist (the client's budget, and the login's), and
 * refuses a client that has no counter and no room for one. Filling a bucket takes WAYS
 * live counters in it, and each client can make only client_attempts of them per window.
 *
 * Buckets are guarded by striped mutexes (bucket index modulo STRIPES): threads touching
 * different counters almost never meet, and the critical section is a scan of WAYS
 * entries. Hashing happens outside the lock. The clock is the caller's (now_ms, monotonic),
 * which keeps this file free of time sources and lets the tests drive it.
 */
#include "identityd/core/bruteforce.h"

#include <arpa/inet.h>
#include <netinet/in.h>
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

/* One counter. failures == 0 marks an empty entry; an entry whose deadline has passed is
 * dead and may be reused. A pair whose failures reached `attempts` is blocked until its
 * deadline; a client or a login whose failures reached its budget is over budget until the
 * end of its window. */
typedef struct entry {
    uint64_t tag[2];     /* SipHash-128 of the counter's kind and subject */
    int64_t deadline_ms; /* end of the counting window, or end of the block while blocked */
    uint32_t failures;
    uint32_t unused; /* keeps the entry at 32 bytes */
} entry_t;

typedef union stripe {
    pthread_mutex_t mutex;
    // cppcheck-suppress unusedStructMember ; sizes the union: one mutex per cache line
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
    uint32_t client_attempts;
    int64_t client_window_ms;
    int client_window_s;
    uint32_t login_attempts;
    int64_t login_window_ms;
    int ipv6_prefix;
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

/* ---- keys ------------------------------------------------------------------------------ */

enum { KIND_PAIR = 'p', KIND_CLIENT = 'c', KIND_LOGIN = 'l' };

/* The client as bytes: family, then the address (IPv4-mapped IPv6 as IPv4, IPv6 cut to the
 * prefix). Returns the length; an address that does not parse is its text. */
static size_t client_bytes(const idd_bruteforce_t *bf, const char *ip, unsigned char out[64])
{
    struct in6_addr a6;
    struct in_addr a4;
    if (inet_pton(AF_INET, ip, &a4) == 1) {
        out[0] = 4;
        memcpy(out + 1, &a4, 4);
        return 5;
    }
    if (inet_pton(AF_INET6, ip, &a6) == 1) {
        if (IN6_IS_ADDR_V4MAPPED(&a6)) {
            out[0] = 4;
            memcpy(out + 1, &a6.s6_addr[12], 4);
            return 5;
        }
        out[0] = 6;
        int bits = bf->ipv6_prefix;
        for (int i = 0; i < 16; i++, bits -= 8)
            out[1 + i] = bits >= 8  ? a6.s6_addr[i]
                         : bits > 0 ? (unsigned char)(a6.s6_addr[i] & (0xff00u >> bits))
                                    : 0;
        return 17;
    }
    size_t n = 0;
    out[n++] = 0;
    for (const char *p = ip; *p != '\0' && n < 63; p++)
        out[n++] = (unsigned char)*p;
    return n;
}

static void sip_bytes(sip_t *s, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sip_byte(s, p[i]);
}

static void sip_login(sip_t *s, int64_t tenant_id, const char *login)
{
    for (int i = 0; i < 8; i++)
        sip_byte(s, (unsigned char)((uint64_t)tenant_id >> (56 - 8 * i)));
    for (const unsigned char *p = (const unsigned char *)login; *p; p++)
        sip_byte(s, (unsigned char)(*p >= 'A' && *p <= 'Z' ? *p + ('a' - 'A') : *p));
    /* The separator keeps ("ab", "c") and ("a", "bc") apart; a login holds no NUL. */
    sip_byte(s, 0);
}

void idd_bruteforce_key(const idd_bruteforce_t *bf, int64_t tenant_id, const char *login,
                        const char *ip, idd_bruteforce_key_t *key)
{
    unsigned char client[64];
    sip_t s;
    memset(key, 0, sizeof(*key));
    if (bf == NULL)
        return;
    if (login == NULL)
        login = "";
    size_t client_len = client_bytes(bf, ip != NULL ? ip : "", client);

    sip_init(&s, bf->key);
    sip_byte(&s, KIND_PAIR);
    sip_login(&s, tenant_id, login);
    sip_bytes(&s, client, client_len);
    sip_final(&s, key->pair);

    sip_init(&s, bf->key);
    sip_byte(&s, KIND_CLIENT);
    sip_bytes(&s, client, client_len);
    sip_final(&s, key->client);

    sip_init(&s, bf->key);
    sip_byte(&s, KIND_LOGIN);
    sip_login(&s, tenant_id, login);
    sip_final(&s, key->login);
    OPENSSL_cleanse(&s, sizeof(s)); /* the state is a function of the secret key */
}

/* ---- the table ------------------------------------------------------------------------- */

void idd_bruteforce_limits_default(idd_bruteforce_limits_t *l)
{
    *l = (idd_bruteforce_limits_t){.attempts = 5,
                                   .window = 60,
                                   .block = 60,
                                   .client_attempts = 20,
                                   .client_window = 600,
                                   .login_attempts = 100,
                                   .login_window = 600,
                                   .ipv6_prefix = 64};
}

static bool count_ok(int n)
{
    return n >= 1 && n <= 1000000;
}

static bool seconds_ok(int s)
{
    return s >= 1 && s <= 86400;
}

idd_bruteforce_t *idd_bruteforce_new_limits(size_t slots, const idd_bruteforce_limits_t *l)
{
    if (l == NULL || !count_ok(l->attempts) || !seconds_ok(l->window) || !seconds_ok(l->block) ||
        !count_ok(l->client_attempts) || !seconds_ok(l->client_window) ||
        !count_ok(l->login_attempts) || !seconds_ok(l->login_window) || l->ipv6_prefix < 1 ||
        l->ipv6_prefix > 128 || slots > MAX_SLOTS)
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
    bf->attempts = (uint32_t)l->attempts;
    bf->window_ms = (int64_t)l->window * 1000;
    bf->block_ms = (int64_t)l->block * 1000;
    bf->block_s = l->block;
    bf->client_attempts = (uint32_t)l->client_attempts;
    bf->client_window_ms = (int64_t)l->client_window * 1000;
    bf->client_window_s = l->client_window;
    bf->login_attempts = (uint32_t)l->login_attempts;
    bf->login_window_ms = (int64_t)l->login_window * 1000;
    bf->ipv6_prefix = l->ipv6_prefix;
    bf->entries = idd_xcalloc(n, sizeof(entry_t));
    for (size_t i = 0; i < STRIPES; i++)
        pthread_mutex_init(&bf->stripes[i].mutex, NULL);
    return bf;
}

idd_bruteforce_t *idd_bruteforce_new(size_t slots, int attempts, int window, int block)
{
    idd_bruteforce_limits_t l;
    idd_bruteforce_limits_default(&l);
    l.attempts = attempts;
    l.window = window;
    l.block = block;
    return idd_bruteforce_new_limits(slots, &l);
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

static bool is_dead(const entry_t *e, int64_t now_ms)
{
    return e->failures == 0 || now_ms >= e->deadline_ms;
}

/* The live entry of tag in bucket, or NULL. The hash is keyed, so comparing it in variable
 * time tells an observer nothing they could use. */
static entry_t *find(entry_t *bucket, const uint64_t tag[2], int64_t now_ms)
{
    for (int i = 0; i < WAYS; i++)
        if (!is_dead(&bucket[i], now_ms) && bucket[i].tag[0] == tag[0] &&
            bucket[i].tag[1] == tag[1])
            return &bucket[i];
    return NULL;
}

/* An entry a new counter may take (empty or dead), or NULL when every entry is live. */
static entry_t *free_entry(entry_t *bucket, int64_t now_ms)
{
    for (int i = 0; i < WAYS; i++)
        if (is_dead(&bucket[i], now_ms))
            return &bucket[i];
    return NULL;
}

/* The soonest deadline of a full bucket: when a new counter may find room. */
static int64_t soonest_deadline(const entry_t *bucket)
{
    int64_t soonest = bucket[0].deadline_ms;
    for (int i = 1; i < WAYS; i++)
        if (bucket[i].deadline_ms < soonest)
            soonest = bucket[i].deadline_ms;
    return soonest;
}

static int whole_seconds(int64_t ms, int most)
{
    int64_t seconds = (ms + 999) / 1000;
    /* A caller whose clock went backwards would otherwise be told to wait longer than any
     * refusal lasts. */
    return seconds > most ? most : seconds < 1 ? 1 : (int)seconds;
}

/* A NULL table (protection not set up) refuses nothing and records nothing. */
int idd_bruteforce_check(idd_bruteforce_t *bf, const idd_bruteforce_key_t *key, int64_t now_ms,
                         int *retry_after)
{
    pthread_mutex_t *mutex;
    int64_t until = 0;
    int most = 1;

    if (retry_after != NULL)
        *retry_after = 0;
    if (bf == NULL)
        return 0;

    entry_t *bucket = lock_bucket(bf, key->pair, &mutex);
    entry_t *e = find(bucket, key->pair, now_ms);
    if (e != NULL && e->failures >= bf->attempts) {
        until = e->deadline_ms;
        most = bf->block_s;
    }
    pthread_mutex_unlock(mutex);

    if (until == 0) {
        bucket = lock_bucket(bf, key->client, &mutex);
        e = find(bucket, key->client, now_ms);
        if (e != NULL ? e->failures >= bf->client_attempts : free_entry(bucket, now_ms) == NULL) {
            until = e != NULL ? e->deadline_ms : soonest_deadline(bucket);
            most = bf->client_window_s > bf->block_s ? bf->client_window_s : bf->block_s;
        }
        pthread_mutex_unlock(mutex);
    }
    if (until == 0)
        return 0;
    if (retry_after != NULL)
        *retry_after = whole_seconds(until - now_ms, most);
    return IDD_EDENIED;
}

bool idd_bruteforce_login_hot(idd_bruteforce_t *bf, const idd_bruteforce_key_t *key, int64_t now_ms)
{
    pthread_mutex_t *mutex;
    if (bf == NULL)
        return false;
    entry_t *bucket = lock_bucket(bf, key->login, &mutex);
    entry_t *e = find(bucket, key->login, now_ms);
    bool hot = e != NULL && e->failures >= bf->login_attempts;
    pthread_mutex_unlock(mutex);
    return hot;
}

bool idd_bruteforce_client_clean(idd_bruteforce_t *bf, const idd_bruteforce_key_t *key,
                                 int64_t now_ms)
{
    pthread_mutex_t *mutex;
    if (bf == NULL)
        return true;
    entry_t *bucket = lock_bucket(bf, key->client, &mutex);
    entry_t *e = find(bucket, key->client, now_ms);
    bool clean = e == NULL || e->failures == 0;
    pthread_mutex_unlock(mutex);
    return clean;
}

/* Counts one failure under tag: a live counter goes up (up to `most`); otherwise a new one
 * starts in a free entry, its window starting now, or nothing is stored when the bucket is
 * all live. Returns the entry when this failure is the one that reached `most`, else NULL;
 * the stripe is locked either way (the caller unlocks *mutex). */
static entry_t *count(idd_bruteforce_t *bf, const uint64_t tag[2], int64_t now_ms,
                      int64_t window_ms, uint32_t most, pthread_mutex_t **mutex, bool *spent)
{
    entry_t *bucket = lock_bucket(bf, tag, mutex);
    entry_t *e = find(bucket, tag, now_ms);
    if (spent != NULL)
        *spent = e != NULL && e->failures >= most;
    if (e == NULL) {
        e = free_entry(bucket, now_ms);
        if (e == NULL)
            return NULL;
        e->tag[0] = tag[0];
        e->tag[1] = tag[1];
        e->failures = 0;
        e->deadline_ms = now_ms + window_ms;
    }
    if (e->failures >= most)
        return NULL;
    return ++e->failures == most ? e : NULL;
}

int idd_bruteforce_fail(idd_bruteforce_t *bf, const idd_bruteforce_key_t *key, int64_t now_ms)
{
    pthread_mutex_t *mutex;
    bool spent = false;
    if (bf == NULL)
        return 0;

    /* The pair: the failure that reaches `attempts` turns the window into a block. Failing
     * while blocked neither extends nor resets it. Callers refuse blocked pairs before
     * checking the password, but parallel requests can all pass that check first: whether
     * the pair was spent is read and the failure counted under one lock, so that of N
     * parallel failures only `attempts` are told apart from a block. */
    entry_t *e = count(bf, key->pair, now_ms, bf->window_ms, bf->attempts, &mutex, &spent);
    if (e != NULL)
        e->deadline_ms = now_ms + bf->block_ms;
    pthread_mutex_unlock(mutex);

    /* The client's and the login's budgets stay spent until their windows end. */
    (void)count(bf, key->client, now_ms, bf->client_window_ms, bf->client_attempts, &mutex, NULL);
    pthread_mutex_unlock(mutex);
    (void)count(bf, key->login, now_ms, bf->login_window_ms, bf->login_attempts, &mutex, NULL);
    pthread_mutex_unlock(mutex);
    return spent ? IDD_EDENIED : 0;
}

size_t idd_bruteforce_used(idd_bruteforce_t *bf, int64_t now_ms)
{
    size_t used = 0, n = (bf->bucket_mask + 1) * WAYS;
    for (size_t s = 0; s < STRIPES; s++)
        pthread_mutex_lock(&bf->stripes[s].mutex);
    for (size_t i = 0; i < n; i++)
        used += !is_dead(&bf->entries[i], now_ms);
    for (size_t s = STRIPES; s > 0; s--)
        pthread_mutex_unlock(&bf->stripes[s - 1].mutex);
    return used;
}

/* ---- sharing --------------------------------------------------------------------------- */

void idd_bruteforce_set_key(idd_bruteforce_t *bf, const unsigned char key[16])
{
    uint64_t words[2];
    idd_bruteforce_tag_read(key, words);
    memcpy(bf->key, words, sizeof(bf->key));
    OPENSSL_cleanse(words, sizeof(words));
}

void idd_bruteforce_rules(const idd_bruteforce_t *bf, const idd_bruteforce_key_t *key,
                          idd_bruteforce_rule_t out[3])
{
    out[0] = (idd_bruteforce_rule_t){
        {key->pair[0], key->pair[1]}, bf->window_ms, bf->block_ms, bf->attempts};
    out[1] = (idd_bruteforce_rule_t){
        {key->client[0], key->client[1]}, bf->client_window_ms, 0, bf->client_attempts};
    out[2] = (idd_bruteforce_rule_t){
        {key->login[0], key->login[1]}, bf->login_window_ms, 0, bf->login_attempts};
}

void idd_bruteforce_tag_bytes(const uint64_t tag[2], unsigned char out[16])
{
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < 8; i++)
            out[8 * w + i] = (unsigned char)(tag[w] >> (8 * i));
}

void idd_bruteforce_tag_read(const unsigned char in[16], uint64_t tag[2])
{
    for (int w = 0; w < 2; w++) {
        tag[w] = 0;
        for (int i = 0; i < 8; i++)
            tag[w] |= (uint64_t)in[8 * w + i] << (8 * i);
    }
}

void idd_bruteforce_merge(idd_bruteforce_t *bf, const uint64_t tag[2], uint32_t failures,
                          int64_t deadline_ms, int64_t now_ms)
{
    pthread_mutex_t *mutex;
    if (bf == NULL || failures == 0 || deadline_ms <= now_ms)
        return;
    entry_t *bucket = lock_bucket(bf, tag, &mutex);
    entry_t *e = find(bucket, tag, now_ms);
    if (e == NULL && (e = free_entry(bucket, now_ms)) != NULL) {
        e->tag[0] = tag[0];
        e->tag[1] = tag[1];
        e->failures = 0;
        e->deadline_ms = 0;
    }
    if (e != NULL) {
        if (failures > e->failures) {
            e->failures = failures;
            e->deadline_ms = deadline_ms;
        } else if (failures == e->failures && deadline_ms > e->deadline_ms) {
            e->deadline_ms = deadline_ms;
        }
    }
    pthread_mutex_unlock(mutex);
}
