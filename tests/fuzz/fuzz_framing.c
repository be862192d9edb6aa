/*
 * The raw HTTP/1 request head check (http/framing.c, idd_framing_check_http1): one Host,
 * one Content-Length or a lone chunked Transfer-Encoding, read from the bytes the client
 * sent before h2o's own parser had its say.
 *
 * Input: a selector byte (bit 0: HTTP/1.0), then the head.
 *
 * Promises checked: no read outside the head (ASan), a reason that is a non-empty string.
 */
#include <string.h>

#include "identityd/http/framing.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *why = idd_framing_check_http1((const char *)data + 1, size - 1, data[0] & 1);
    if (why != NULL)
        FUZZ_CHECK(strlen(why) > 0);
    return 0;
}
