/*
 * Outbound HTTP on libcurl for the worker pool: discovery documents, JWKS and token
 * introspection (httpclient.h is the contract). It assumes it runs on a worker thread, so it
 * blocks; every call is bounded by a connect and a total timeout, a refused scheme is caught
 * before any connection, redirects are never followed (a redirect could take an introspection
 * request and its credentials to another host), TLS peer and host verification stay on, and
 * the response body is capped at IDD_HTTP_BODY_MAX.
 *
 * Each call makes and frees its own easy handle. Calls are rare (discovery and JWKS are
 * cached for minutes, introspection results for cache_ttl seconds), so losing connection
 * reuse costs little, while a handle kept per thread would carry state from one call to the
 * next (headers, credentials, a connection to another authority) and would need a
 * thread-exit destructor that the process's main thread never runs. A shared connection
 * cache (CURLSH) can be added here later without changing the contract.
 *
 * On IDD_EINVAL and IDD_EIO the response is left as no response at all (status 0, empty
 * body, max_age -1); on IDD_ETOOBIG the status and headers that arrived are kept and only the
 * body is emptied. Either way the caller may, and need not, call idd_http_response_dispose.
 * Proxies from the usual environment variables (https_proxy, no_proxy) are honoured, as
 * libcurl does by default, for deployments that reach the authority through one.
 */
#include "identityd/core/httpclient.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "identityd/core/b64.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"

#define URL_MAX 8192 /* longer URLs are refused: ours are an authority plus a short path */
#define CACHE_CONTROL_MAX_AGE 2147483647L /* RFC 9111 §1.2.2: larger delta-seconds saturate */

/* State filled while one transfer runs. */
typedef struct transfer {
    idd_http_response_t *resp;
    int too_big;  /* the write callback refused the body */
    int no_store; /* Cache-Control no-store or no-cache seen */
    long max_age; /* smallest max-age seen, or -1 */
} transfer_t;

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init_once(void)
{
    CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT);
    /* Nothing to undo: every later curl_easy_init fails too, and each call reports IDD_EIO. */
    if (code != CURLE_OK)
        idd_log_error("libcurl initialisation failed: %s", curl_easy_strerror(code));
}

void idd_http_global_init(void)
{
    pthread_once(&global_once, global_init_once);
}

static void response_init(idd_http_response_t *resp)
{
    resp->status = 0;
    idd_buf_init(&resp->body);
    resp->max_age = -1;
    resp->content_type[0] = '\0';
}

void idd_http_response_dispose(idd_http_response_t *resp)
{
    if (resp == NULL)
        return;
    idd_buf_dispose(&resp->body);
    response_init(resp);
}

void idd_http_form_encode(idd_buf_t *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    idd_buf_reserve(b, len * 3);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        /* RFC 3986 unreserved characters pass; a space is '+' as the form encoding has it. */
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            idd_buf_putc(b, (char)c);
        } else if (c == ' ') {
            idd_buf_putc(b, '+');
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 0x0f]};
            idd_buf_append(b, esc, sizeof(esc));
        }
    }
}

static void set_err(char *err, size_t errlen, const char *fmt, const char *detail)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, fmt, detail);
}

/* Whether opt lets us fetch url; checked before libcurl sees the URL at all. */
static int url_allowed(const char *url, const idd_http_options_t *opt, char *err, size_t errlen)
{
    size_t len = strnlen(url, URL_MAX + 1);
    if (len == 0 || len > URL_MAX) {
        set_err(err, errlen, "%s", "the URL is empty or too long");
        return 0;
    }
    if (strncasecmp(url, "https://", 8) == 0)
        return 1;
    if (strncasecmp(url, "http://", 7) == 0) {
        if (opt->allow_http)
            return 1;
        set_err(err, errlen, "%s", "plain http:// is refused (only https://)");
        return 0;
    }
    set_err(err, errlen, "%s", "only https:// URLs are fetched");
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    transfer_t *t = userdata;
    size_t n = size * nmemb;
    if (n > IDD_HTTP_BODY_MAX - t->resp->body.len) {
        t->too_big = 1;
        return 0; /* anything but n aborts the transfer with CURLE_WRITE_ERROR */
    }
    idd_buf_append(&t->resp->body, data, n);
    return n;
}

/* The value of max-age ("120", or "\"120\"" as some servers quote it); -1 when malformed. */
static long delta_seconds(const char *v, size_t len)
{
    if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
        v++;
        len -= 2;
    }
    if (len == 0)
        return -1;
    long n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        n = n > CACHE_CONTROL_MAX_AGE / 10 ? CACHE_CONTROL_MAX_AGE : n * 10 + (v[i] - '0');
        if (n > CACHE_CONTROL_MAX_AGE)
            n = CACHE_CONTROL_MAX_AGE;
    }
    return n;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* One Cache-Control field value: comma-separated directives, names case-insensitive. */
static void parse_cache_control(transfer_t *t, const char *v, size_t len)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && (is_ows(v[i]) || v[i] == ','))
            i++;
        size_t start = i;
        while (i < len && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && is_ows(v[end - 1]))
            end--;
        const char *d = v + start;
        size_t dlen = end - start;
        size_t name_len = 0;
        // cppcheck-suppress knownConditionTrueFalse ; dlen is 0 only for an empty directive
        while (name_len < dlen && d[name_len] != '=' && !is_ows(d[name_len]))
            name_len++;
        if ((name_len == 8 && strncasecmp(d, "no-store", 8) == 0) ||
            (name_len == 8 && strncasecmp(d, "no-cache", 8) == 0)) {
            t->no_store = 1;
        } else if (name_len == 7 && strncasecmp(d, "max-age", 7) == 0) {
            const char *val = memchr(d, '=', dlen);
            /* A max-age we cannot read is treated as "do not keep this", never as forever. */
            long age = val ? delta_seconds(val + 1, dlen - (size_t)(val + 1 - d)) : -1;
            if (age < 0)
                age = 0;
            /* Repeated max-age directives are a server's mistake: believe the shortest. */
            if (t->max_age < 0 || age < t->max_age)
                t->max_age = age;
        }
    }
}

/* Called once per header line, the status line included, for every response curl reads. */
static size_t on_header(char *line, size_t size, size_t nmemb, void *userdata)
{
    transfer_t *t = userdata;
    size_t n = size * nmemb, len = n;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    /* A new status line starts a new response (after a 100 Continue): forget the old one. */
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        t->no_store = 0;
        t->max_age = -1;
        t->resp->content_type[0] = '\0';
        return n;
    }
    const char *colon = memchr(line, ':', len);
    if (colon == NULL)
        return n;
    size_t name_len = (size_t)(colon - line);
    const char *v = colon + 1;
    size_t vlen = len - name_len - 1;
    while (vlen > 0 && is_ows(*v)) {
        v++;
        vlen--;
    }
    while (vlen > 0 && is_ows(v[vlen - 1]))
        vlen--;
    if (name_len == 13 && strncasecmp(line, "Cache-Control", 13) == 0) {
        parse_cache_control(t, v, vlen);
    } else if (name_len == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
        size_t keep =
            vlen < sizeof(t->resp->content_type) ? vlen : sizeof(t->resp->content_type) - 1;
        memcpy(t->resp->content_type, v, keep);
        t->resp->content_type[keep] = '\0';
    }
    return n;
}

/* Sets an option whose failure would weaken a guarantee of this module. */
#define SETOPT(h, opt, value)                                                                      \
    do {                                                                                           \
        code = curl_easy_setopt((h), (opt), (value));                                              \
        if (code != CURLE_OK)                                                                      \
            goto done;                                                                             \
    } while (0)

/* One transfer: GET when form is NULL, else POST form with headers. */
static int perform(const char *url, const idd_http_options_t *opt, struct curl_slist *headers,
                   const char *form, size_t form_len, idd_http_response_t *resp, char *err,
                   size_t errlen)
{
    char curl_err[CURL_ERROR_SIZE] = "";
    transfer_t t = {.resp = resp, .max_age = -1};
    CURLcode code = CURLE_FAILED_INIT;
    int rc = IDD_EIO;
    const char *protocols = opt->allow_http ? "http,https" : "https";

    idd_http_global_init();
    CURL *h = curl_easy_init();
    if (h == NULL)
        goto done;
    SETOPT(h, CURLOPT_URL, url);
    SETOPT(h, CURLOPT_ERRORBUFFER, curl_err);
    /* libcurl's scheme list is a second fence behind url_allowed, for what it parses. */
    SETOPT(h, CURLOPT_PROTOCOLS_STR, protocols);
    SETOPT(h, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
    SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(h, CURLOPT_MAXREDIRS, 0L);
    /* Signals for DNS timeouts would hit whichever thread is running: never use them. */
    SETOPT(h, CURLOPT_NOSIGNAL, 1L);
    SETOPT(h, CURLOPT_CONNECTTIMEOUT, (long)opt->connect_timeout);
    SETOPT(h, CURLOPT_TIMEOUT, (long)opt->total_timeout);
    SETOPT(h, CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(h, CURLOPT_SSL_VERIFYHOST, 2L);
    /* A declared length over the limit is refused before the body is read. */
    SETOPT(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)IDD_HTTP_BODY_MAX);
    SETOPT(h, CURLOPT_USERAGENT, "identityd/0.1");
    SETOPT(h, CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(h, CURLOPT_WRITEDATA, &t);
    SETOPT(h, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(h, CURLOPT_HEADERDATA, &t);
    if (headers != NULL)
        SETOPT(h, CURLOPT_HTTPHEADER, headers);
    if (form != NULL) {
        SETOPT(h, CURLOPT_POST, 1L);
        SETOPT(h, CURLOPT_POSTFIELDS, form);
        SETOPT(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)form_len);
    }

    code = curl_easy_perform(h);
    if (code == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        resp->status = status;
        resp->max_age = t.no_store ? 0 : t.max_age;
        rc = 0;
    } else if (t.too_big || code == CURLE_FILESIZE_EXCEEDED) {
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        resp->status = status;
        resp->max_age = t.no_store ? 0 : t.max_age;
        idd_buf_dispose(&resp->body);
        set_err(err, errlen, "%s", "the response body is larger than IDD_HTTP_BODY_MAX");
        rc = IDD_ETOOBIG;
    } else if (code == CURLE_UNSUPPORTED_PROTOCOL || code == CURLE_URL_MALFORMAT) {
        rc = IDD_EINVAL;
    }

done:
    if (rc != 0 && rc != IDD_ETOOBIG) {
        idd_http_response_dispose(resp);
        set_err(err, errlen, "%s", curl_err[0] ? curl_err : curl_easy_strerror(code));
    }
    if (h != NULL)
        curl_easy_cleanup(h);
    return rc;
}

int idd_http_get(const char *url, const idd_http_options_t *opt, idd_http_response_t *resp,
                 char *err, size_t errlen)
{
    response_init(resp);
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (url == NULL || opt == NULL || opt->connect_timeout <= 0 || opt->total_timeout <= 0) {
        set_err(err, errlen, "%s", "a URL and positive timeouts are required");
        return IDD_EINVAL;
    }
    if (!url_allowed(url, opt, err, errlen))
        return IDD_EINVAL;
    return perform(url, opt, NULL, NULL, 0, resp, err, errlen);
}

/*
 * The credentials travel in our own Authorization header, built here and wiped afterwards,
 * rather than through CURLOPT_USERPWD: libcurl would send the raw bytes, while RFC 6749
 * §2.3.1 wants each of client id and secret form-urlencoded before they are joined with ':'
 * and base64-encoded (a secret with ':' or '%' would otherwise reach the server altered).
 * The header list is made of our own nodes rather than curl_slist_append copies, so that no
 * copy of the credential outlives the call in memory we cannot wipe (libcurl's own request
 * buffer aside).
 */
int idd_http_post_form(const char *url, const idd_http_options_t *opt, const char *user,
                       const char *password, const char *form, size_t form_len,
                       idd_http_response_t *resp, char *err, size_t errlen)
{
    static const char auth_prefix[] = "Authorization: Basic ";
    /* The header nodes live on the stack; libcurl only reads them during the transfer. */
    struct curl_slist headers[4] = {
        {.data = "Content-Type: application/x-www-form-urlencoded", .next = &headers[1]},
        {.data = "Accept: application/json", .next = &headers[2]},
        /* No 100-continue round trip: the form is small and the server answers at once. */
        {.data = "Expect:", .next = NULL},
        {.data = NULL, .next = NULL}, /* Authorization, put first when there are credentials */
    };
    struct curl_slist *list = &headers[0];
    idd_buf_t joined, header;
    int rc = IDD_EINVAL;

    response_init(resp);
    idd_buf_init(&joined);
    idd_buf_init(&header);
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (url == NULL || opt == NULL || opt->connect_timeout <= 0 || opt->total_timeout <= 0 ||
        (form == NULL && form_len > 0) || (user == NULL) != (password == NULL)) {
        set_err(err, errlen, "%s",
                "a URL, positive timeouts and both or neither credential "
                "are required");
        goto done;
    }
    if (form_len > IDD_HTTP_BODY_MAX) {
        set_err(err, errlen, "%s", "the form is larger than IDD_HTTP_BODY_MAX");
        rc = IDD_ETOOBIG;
        goto done;
    }
    if (!url_allowed(url, opt, err, errlen))
        goto done;

    if (user != NULL) {
        idd_http_form_encode(&joined, user, strlen(user));
        idd_buf_putc(&joined, ':');
        idd_http_form_encode(&joined, password, strlen(password));
        idd_buf_reserve(&header, sizeof(auth_prefix) + IDD_B64_LEN(joined.len));
        memcpy(header.data, auth_prefix, sizeof(auth_prefix) - 1);
        header.len = sizeof(auth_prefix) - 1;
        header.len += idd_b64_encode(header.data + header.len, joined.data, joined.len);
        headers[3].data = header.data;
        headers[3].next = list;
        list = &headers[3];
    }
    /* libcurl wants a non-NULL body pointer for a POST, even an empty one. */
    rc = perform(url, opt, list, form ? form : "", form_len, resp, err, errlen);

done:
    idd_buf_dispose_secret(&joined);
    idd_buf_dispose_secret(&header);
    return rc;
}
