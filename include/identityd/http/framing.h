/*
 * Request framing: what a request says about where it ends and whom it addresses must be
 * said once. h2o 2.2.5 does not check this itself, and takes headers that decide framing out
 * of req->headers before the application sees them:
 *
 *  - HTTP/1: Host, Content-Length and Transfer-Encoding never reach req->headers. Of several
 *    Host fields the last becomes req->input.authority; of several Content-Length fields the
 *    first is used; a Transfer-Encoding (the last one, whatever came before) wins over any
 *    Content-Length, so with both the bytes after the chunked body are read as the next
 *    request on the connection. Only the raw request head, still at the start of the
 *    socket's input buffer while the handler runs, says what was sent: it is scanned here.
 *  - HTTP/2: a Host field is dropped and :authority used, whatever the Host said.
 *    idd_framing_init makes h2o keep it in req->headers, where it is compared.
 *  - HTTP/1 upgraded to h2c (Upgrade: h2c): stream 1 is the HTTP/1 request, already
 *    stripped as above; its raw head sits in h2o's private connection struct, whose header
 *    (http2_internal.h) the Debian package cannot compile (no khash.h). Only what h2o passed
 *    on is checked there; the bytes after it are read as HTTP/2 frames, never as HTTP/1.
 *
 * A request that fails gets 400 in the error envelope and, on HTTP/1, its connection ends
 * after the response, so nothing after the request head is ever read as a request.
 */
#ifndef IDENTITYD_FRAMING_H
#define IDENTITYD_FRAMING_H

#include <stdbool.h>
#include <stddef.h>

#include <h2o.h>

/* Makes h2o 2.2.5 keep an HTTP/2 request's Host field in req->headers instead of dropping
 * it. Process-wide (it changes h2o's header table): call once, before any loop serves. */
void idd_framing_init(void);

/* Checks the raw head of an HTTP/1 request (from the request line to the empty line; bytes
 * after it are ignored). http10: the request is HTTP/1.0. Returns NULL when Host,
 * Content-Length and Transfer-Encoding frame it unambiguously, or the reason to refuse it. */
const char *idd_framing_check_http1(const char *head, size_t len, bool http10);

/* Checks req as h2o delivered it (HTTP/1 or HTTP/2). Returns NULL or the reason. */
const char *idd_framing_check(h2o_req_t *req);

/* Runs idd_framing_check; on a reason, answers 400 with it in the error envelope, ends an
 * HTTP/1 connection after that response, and returns 1. Returns 0 when req may proceed. */
int idd_framing_refuse(h2o_req_t *req);

#endif
