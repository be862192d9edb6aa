/*
 * The credential cache shared by the event loops (credcache.h): 64 shards, each a mutex over
 * an array of 4-way sets, so that loops working on different credentials rarely meet, and a
 * lookup is a hash, an uncontended lock and a copy. Memory is all taken at start.
 */
#include "identityd/auth/credcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/core/common.h"
#include "identityd/core/ct.h"

#define SHARDS 64
#define WAYS 4
#define TFA_SLOTS 64 /* tenants' two-factor settings; more tenants share slots */

typedef struct entry {
    unsigned char key[IDD_CREDCACHE_KEY_LEN];
    unsigned long epoch; /* 0: empty */
    uint64_t filled;     /* the shard's fill count when stored: the oldest goes first */
    int kind;
    idd_cc_cred_t cred;
} entry_t;

typedef struct shard {
    pthread_mutex_t lock;
    uint64_t fills;
    entry_t *sets; /* nsets * WAYS */
} __attribute__((aligned(64))) shard_t;

typedef struct tfa_slot {
    pthread_mutex_t lock;
    unsigned long epoch; /* 0: empty */
    idd_tenant_tfa_t tfa;
} tfa_slot_t;

struct idd_credcache {
    shard_t shards[SHARDS];
    size_t nsets; /* per shard */
    tfa_slot_t tfa[TFA_SLOTS];
    atomic_ulong checks;
    atomic_llong version;
    atomic_bool untrusted; /* the last change check failed: nothing is stored until one succeeds */
};

idd_credcache_t *idd_credcache_new(size_t entries)
{
    idd_credcache_t *c = idd_xcalloc(1, sizeof(*c));
    size_t per_shard = (entries + SHARDS - 1) / SHARDS;
    c->nsets = (per_shard + WAYS - 1) / WAYS;
    if (c->nsets == 0)
        c->nsets = 1;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&c->shards[i].lock, NULL);
        c->shards[i].sets = idd_xcalloc(c->nsets * WAYS, sizeof(entry_t));
    }
    for (int i = 0; i < TFA_SLOTS; i++)
        pthread_mutex_init(&c->tfa[i].lock, NULL);
    atomic_init(&c->checks, 0);
    atomic_init(&c->version, -1);
    atomic_init(&c->untrusted, false);
    return c;
}

void idd_credcache_free(idd_credcache_t *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_destroy(&c->shards[i].lock);
        idd_wipe(c->shards[i].sets, c->nsets * WAYS * sizeof(entry_t));
        free(c->shards[i].sets);
    }
    for (int i = 0; i < TFA_SLOTS; i++)
        pthread_mutex_destroy(&c->tfa[i].lock);
    free(c);
}

size_t idd_credcache_entries(const idd_credcache_t *c)
{
    return SHARDS * c->nsets * WAYS;
}

size_t idd_credcache_bytes(const idd_credcache_t *c)
{
    return sizeof(*c) + idd_credcache_entries(c) * sizeof(entry_t);
}

/* Keys are keyed digests (HMAC-SHA256 outputs): any of their bytes are uniform. */
static shard_t *shard_of(idd_credcache_t *c, const unsigned char *key, entry_t **set)
{
    uint64_t h;
    memcpy(&h, key + 8, sizeof(h));
    shard_t *s = &c->shards[key[0] % SHARDS];
    *set = &s->sets[(h % c->nsets) * WAYS];
    return s;
}

static bool matches(const entry_t *e, int kind, const unsigned char *key)
{
    /* Constant time over the key: the kind and emptiness are not secret. */
    return e->epoch != 0 && e->kind == kind && idd_ct_equal(e->key, key, IDD_CREDCACHE_KEY_LEN);
}

bool idd_credcache_get(idd_credcache_t *c, idd_cc_kind_t kind,
                       const unsigned char key[IDD_CREDCACHE_KEY_LEN], idd_cc_cred_t *out)
{
    entry_t *set;
    shard_t *s = shard_of(c, key, &set);
    unsigned long now = idd_store_epoch();
    bool hit = false;
    pthread_mutex_lock(&s->lock);
    for (int w = 0; w < WAYS; w++) {
        entry_t *e = &set[w];
        if (matches(e, (int)kind, key)) {
            if (e->epoch == now) {
                memcpy(out, &e->cred, sizeof(*out));
                hit = true;
            } else {
                e->epoch = 0; /* stale: the slot is free again */
            }
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return hit;
}

void idd_credcache_put(idd_credcache_t *c, idd_cc_kind_t kind,
                       const unsigned char key[IDD_CREDCACHE_KEY_LEN], const idd_cc_cred_t *in,
                       unsigned long epoch)
{
    entry_t *set;
    shard_t *s = shard_of(c, key, &set);
    pthread_mutex_lock(&s->lock);
    unsigned long now = idd_store_epoch();
    /* A change came between the read and now (the row may be old), or changes cannot be
     * known at all now. */
    if (epoch != now || atomic_load(&c->untrusted)) {
        pthread_mutex_unlock(&s->lock);
        return;
    }
    entry_t *victim = NULL;
    for (int w = 0; w < WAYS && victim == NULL; w++)
        if (matches(&set[w], (int)kind, key))
            victim = &set[w];
    for (int w = 0; w < WAYS && victim == NULL; w++)
        if (set[w].epoch != now)
            victim = &set[w];
    if (victim == NULL) {
        victim = &set[0];
        for (int w = 1; w < WAYS; w++)
            if (set[w].filled < victim->filled)
                victim = &set[w];
    }
    memcpy(victim->key, key, IDD_CREDCACHE_KEY_LEN);
    victim->kind = (int)kind;
    victim->epoch = epoch;
    victim->filled = ++s->fills;
    memcpy(&victim->cred, in, sizeof(*in));
    pthread_mutex_unlock(&s->lock);
}

void idd_credcache_seen(idd_credcache_t *c, const unsigned char key[IDD_CREDCACHE_KEY_LEN],
                        int64_t last_seen)
{
    entry_t *set;
    shard_t *s = shard_of(c, key, &set);
    pthread_mutex_lock(&s->lock);
    for (int w = 0; w < WAYS; w++)
        if (matches(&set[w], IDD_CC_SESSION, key) && set[w].cred.last_seen < last_seen)
            set[w].cred.last_seen = last_seen;
    pthread_mutex_unlock(&s->lock);
}

bool idd_credcache_tenant_tfa_get(idd_credcache_t *c, int64_t tenant_id, idd_tenant_tfa_t *out)
{
    tfa_slot_t *t = &c->tfa[(uint64_t)tenant_id % TFA_SLOTS];
    unsigned long now = idd_store_epoch();
    bool hit = false;
    pthread_mutex_lock(&t->lock);
    if (t->epoch == now && t->tfa.tenant_id == tenant_id) {
        memcpy(out, &t->tfa, sizeof(*out));
        hit = true;
    }
    pthread_mutex_unlock(&t->lock);
    return hit;
}

void idd_credcache_tenant_tfa_put(idd_credcache_t *c, const idd_tenant_tfa_t *in,
                                  unsigned long epoch)
{
    tfa_slot_t *t = &c->tfa[(uint64_t)in->tenant_id % TFA_SLOTS];
    pthread_mutex_lock(&t->lock);
    if (epoch == idd_store_epoch() && !atomic_load(&c->untrusted)) {
        memcpy(&t->tfa, in, sizeof(*in));
        t->epoch = epoch;
    }
    pthread_mutex_unlock(&t->lock);
}

void idd_cc_user_from(idd_cc_user_t *out, const idd_user_t *in)
{
    memcpy(out->id, in->id, sizeof(out->id));
    out->tenant_id = in->tenant_id;
    memcpy(out->email, in->email, sizeof(out->email));
    memcpy(out->first_name, in->first_name, sizeof(out->first_name));
    memcpy(out->last_name, in->last_name, sizeof(out->last_name));
    out->role = in->role;
    out->status = in->status;
    out->auth_version = in->auth_version;
    out->password_change_required = in->password_change_required;
    out->created = in->created;
    out->updated = in->updated;
}

void idd_cc_user_to(idd_user_t *out, const idd_cc_user_t *in)
{
    memcpy(out->id, in->id, sizeof(out->id));
    out->tenant_id = in->tenant_id;
    memcpy(out->email, in->email, sizeof(out->email));
    memcpy(out->first_name, in->first_name, sizeof(out->first_name));
    memcpy(out->last_name, in->last_name, sizeof(out->last_name));
    out->role = in->role;
    out->status = in->status;
    out->password[0] = '\0';
    out->auth_version = in->auth_version;
    out->password_change_required = in->password_change_required;
    out->created = in->created;
    out->updated = in->updated;
}

int idd_credcache_check(idd_credcache_t *c, idd_store_t *store)
{
    int64_t v = 0;
    int rc = idd_store_changes(store, &v);
    if (rc != 0) {
        /* Whatever changed meanwhile cannot be known: what is cached is dropped, and nothing
         * is cached until a read of the version succeeds again (then differs from this one,
         * and empties it once more). */
        atomic_store(&c->untrusted, true);
        idd_store_note_change();
        atomic_store(&c->version, -1);
        atomic_fetch_add(&c->checks, 1);
        return rc;
    }
    if (v != atomic_load(&c->version)) {
        /* The epoch first: whoever sees the new version sees the cache emptied. Two loops
         * that both saw the change move it twice, which costs only refills. */
        idd_store_note_change();
        atomic_store(&c->version, v);
    }
    atomic_store(&c->untrusted, false);
    atomic_fetch_add(&c->checks, 1);
    return rc;
}

unsigned long idd_credcache_checks(const idd_credcache_t *c)
{
    return atomic_load(&c->checks);
}

int64_t idd_credcache_version(const idd_credcache_t *c)
{
    return atomic_load(&c->version);
}
