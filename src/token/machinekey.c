/*
 * DocSpace's machine-key derivation, reproduced bit for bit because DocSpace and its
 * identity service verify HS256 tokens with the key it yields. The machine key, prefixed
 * with four zero bytes, contributes only its last four bytes as a little-endian int32 seed
 * of the legacy .NET System.Random (Knuth's subtractive generator); each output byte is one
 * sample modulo 256. C# evaluates that generator in wrapping 32-bit arithmetic, which C
 * leaves undefined for signed integers, so the arithmetic below is done in 64 bits and
 * wrapped explicitly where .NET would overflow.
 *
 * One deliberate difference from System.Random: DocSpace's copy (AscRandom) wraps its two
 * sample indices back to 1 when they reach 55, not 56, so slot 55 takes part in seeding but
 * is never sampled. Only that variant reproduces DocSpace's own test vectors (both are in
 * tests/unit/check_machinekey.c); with the System.Random bound the bytes diverge from the
 * 33rd on.
 */
#include "identityd/token/machinekey.h"

#include <stdint.h>
#include <string.h>

#include "identityd/core/common.h"
#include "identityd/core/ct.h"

#define MBIG INT32_MAX
#define MSEED 161803398

typedef struct dotnet_random {
    int32_t seed_array[56]; /* slot 0 unused, as in .NET */
    int inext;
    int inextp;
} dotnet_random_t;

/* Two's-complement wrap of v into int32, written without implementation-defined casts. */
static int32_t wrap32(int64_t v)
{
    uint32_t u = (uint32_t)((uint64_t)v & 0xffffffffu);
    if (u <= (uint32_t)INT32_MAX)
        return (int32_t)u;
    return (int32_t)(u - 0x80000000u) + INT32_MIN;
}

static void random_init(dotnet_random_t *r, int32_t seed)
{
    int32_t subtraction = seed == INT32_MIN ? INT32_MAX : (seed < 0 ? -seed : seed);
    int32_t mj = MSEED - subtraction;
    int32_t mk = 1;

    r->seed_array[0] = 0;
    r->seed_array[55] = mj;
    for (int i = 1; i < 55; i++) {
        int ii = (21 * i) % 55;
        r->seed_array[ii] = mk;
        mk = wrap32((int64_t)mj - mk);
        if (mk < 0)
            mk = wrap32((int64_t)mk + MBIG);
        mj = r->seed_array[ii];
    }
    /* Slot 55 may still hold a negative mj in the first round, so a subtraction here can
     * leave the int32 range; .NET wraps it and so must we. */
    for (int k = 1; k < 5; k++) {
        for (int i = 1; i < 56; i++) {
            int32_t v = wrap32((int64_t)r->seed_array[i] - r->seed_array[1 + (i + 30) % 55]);
            if (v < 0)
                v = wrap32((int64_t)v + MBIG);
            r->seed_array[i] = v;
        }
    }
    r->inext = 0;
    r->inextp = 21;
}

static int32_t random_internal_sample(dotnet_random_t *r)
{
    /* 55, not 56: see the note at the top of this file. */
    int next = r->inext + 1;
    int nextp = r->inextp + 1;
    if (next >= 55)
        next = 1;
    if (nextp >= 55)
        nextp = 1;
    int32_t v = wrap32((int64_t)r->seed_array[next] - r->seed_array[nextp]);
    if (v == MBIG)
        v--;
    if (v < 0)
        v = wrap32((int64_t)v + MBIG);
    r->seed_array[next] = v;
    r->inext = next;
    r->inextp = nextp;
    return v;
}

int idd_machinekey_derive(const char *machine_key, size_t len, unsigned char *out, size_t outlen)
{
    if (outlen == 0 || out == NULL || (machine_key == NULL && len > 0))
        return IDD_EINVAL;

    /* The last four bytes of (0,0,0,0 ‖ key): shorter keys borrow from the zero prefix. */
    unsigned char tail[4] = {0, 0, 0, 0};
    size_t take = len < 4 ? len : 4;
    // cppcheck-suppress knownConditionTrueFalse ; take is len (0 to 3) or 4: it can be 0 or not
    if (take > 0)
        memcpy(tail + (4 - take), machine_key + (len - take), take);
    uint32_t useed = (uint32_t)tail[0] | ((uint32_t)tail[1] << 8) | ((uint32_t)tail[2] << 16) |
                     ((uint32_t)tail[3] << 24);

    dotnet_random_t r;
    random_init(&r, wrap32((int64_t)useed));
    for (size_t i = 0; i < outlen; i++)
        out[i] = (unsigned char)(random_internal_sample(&r) % 256);

    /* The generator state reproduces the key: do not leave it on the stack. */
    idd_wipe(&r, sizeof(r));
    idd_wipe(tail, sizeof(tail));
    return 0;
}
