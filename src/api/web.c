/*
 * GET /login and its script and style sheet: identityd's sign-in page (src/web/), read once
 * at start from the folder installed with the binary, and served from memory with headers
 * that keep it to itself: a Content-Security-Policy allowing only this origin's script and
 * style (the page has no inline code), no framing, no sniffing, no referrer. The file names
 * are fixed: no part of a request ever becomes a path.
 */
#include "identityd/api/api.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "identityd/core/common.h"
#include "identityd/http/respond.h"

/* Far above the page's size: a file this large in the folder is not the page. */
#define WEB_FILE_MAX (256 * 1024)

enum { WEB_HTML, WEB_JS, WEB_CSS, WEB_COUNT };

static const struct {
    const char *name;
    const char *type;
} web_files[WEB_COUNT] = {
    [WEB_HTML] = {"login.html", "text/html; charset=utf-8"},
    [WEB_JS] = {"login.js", "text/javascript; charset=utf-8"},
    [WEB_CSS] = {"login.css", "text/css; charset=utf-8"},
};

struct idd_web {
    char *body[WEB_COUNT];
    size_t len[WEB_COUNT];
};

/* Reads dir/name whole into *out (malloc'd) when it is a regular file of at most
 * WEB_FILE_MAX bytes. Returns 0 or -1 with why in err. */
static int read_file(const char *dir, const char *name, char **out, size_t *len, char *err,
                     size_t errlen)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
        snprintf(err, errlen, "%s/%s: path too long", dir, name);
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > WEB_FILE_MAX) {
        snprintf(err, errlen, "%s: not a regular file of at most %d bytes", path, WEB_FILE_MAX);
        close(fd);
        return -1;
    }
    char *buf = idd_xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n <= 0) {
            snprintf(err, errlen, "%s: %s", path, n < 0 ? strerror(errno) : "shorter than it was");
            free(buf);
            close(fd);
            return -1;
        }
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

int idd_web_load(const char *dir, idd_web_t **out, char *err, size_t errlen)
{
    idd_web_t *w = idd_xcalloc(1, sizeof(*w));
    *out = NULL;
    for (int i = 0; i < WEB_COUNT; i++) {
        if (read_file(dir, web_files[i].name, &w->body[i], &w->len[i], err, errlen) != 0) {
            idd_web_free(w);
            return IDD_EIO;
        }
    }
    *out = w;
    return 0;
}

void idd_web_free(idd_web_t *w)
{
    if (w == NULL)
        return;
    for (int i = 0; i < WEB_COUNT; i++)
        free(w->body[i]);
    free(w);
}

static void serve(idd_request_t *r, int which)
{
    const idd_web_t *w = r->app->web;
    if (w == NULL) {
        idd_respond_error(r->req, 404, "The sign-in page is not installed");
        return;
    }
    h2o_req_t *req = r->req;
    idd_respond_header(req, "content-security-policy",
                       "default-src 'none'; script-src 'self'; style-src 'self'; "
                       "connect-src 'self'; img-src 'self' data:; form-action 'self'; "
                       "base-uri 'none'; frame-ancestors 'none'");
    idd_respond_header(req, "x-content-type-options", "nosniff");
    idd_respond_header(req, "x-frame-options", "DENY");
    idd_respond_header(req, "referrer-policy", "no-referrer");
    /* Revalidated on each visit: a new identityd may bring a new page. */
    idd_respond_header(req, "cache-control", "no-cache");
    idd_respond_body(req, 200, web_files[which].type, w->body[which], w->len[which]);
}

void idd_api_login_page(idd_request_t *r, idd_principal_t *p)
{
    (void)p;
    serve(r, WEB_HTML);
}

void idd_api_login_script(idd_request_t *r, idd_principal_t *p)
{
    (void)p;
    serve(r, WEB_JS);
}

void idd_api_login_style(idd_request_t *r, idd_principal_t *p)
{
    (void)p;
    serve(r, WEB_CSS);
}
