/*
 * Two-factor sign-in's endpoints (DocSpace's login-surface reference §5.3, §5.8):
 *   POST /api/2.0/authentication/confirm      is a confirm key good (anonymous)
 *   GET  /api/2.0/settings/tfaapp/setup       the key and QR code to link an app (confirm)
 *   POST /api/2.0/settings/tfaapp/validate    the code that ends a sign-in (confirm)
 *   GET, PUT /api/2.0/settings/tfaapp         the tenant's settings (PUT: admins)
 *   PUT  /api/2.0/settings/tfaappwithlink     the same, answering with the caller's next step
 *   GET  /api/2.0/settings/tfaapp/confirm     the caller's confirm link, when one applies
 *   GET  /api/2.0/settings/tfaappcodes        the caller's backup codes (api/tfa_codes.c)
 *   PUT  /api/2.0/settings/tfaappnewcodes     new backup codes (api/tfa_codes.c)
 *   PUT  /api/2.0/settings/tfaappnewapp       unlink an app (the caller's; an admin: anyone's)
 * The sign-in steps themselves are in api/authentication.c; the rules in auth/tfa.c.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/body.h"
#include "identityd/api/api.h"
#include "identityd/auth/storeread.h"
#include "identityd/auth/tfa.h"
#include "identityd/core/buf.h"
#include "identityd/core/cidr.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"
#include "identityd/core/qr.h"
#include "identityd/http/cookie.h"
#include "identityd/http/respond.h"

#define NOT_AVAILABLE "TFA application settings are not available"
#define TOO_MANY "You have sent too many text messages. Please try again later."
#define NO_PERMISSION "No permissions to perform this action"

/* A string member: NULL when absent or null, *bad when of another type or holding a NUL. */
static const char *member_string(json_t *o, const char *name, bool *bad)
{
    const char *v;
    if (idd_api_string_member(o, name, &v) != 0)
        *bad = true;
    return v;
}

/* ---- POST /api/2.0/authentication/confirm ---- */

static void confirm_answered(idd_request_t *r, idd_confirm_result_t result, const idd_user_t *user,
                             void *ctx);

void idd_api_auth_confirm(idd_request_t *r, idd_principal_t *p)
{
    json_t *body = idd_api_body_object(r);
    if (body == NULL)
        return;
    bool bad = false;
    const char *type_text = member_string(body, "type", &bad);
    const char *uid = member_string(body, "uid", &bad);
    if (bad || type_text == NULL) {
        json_decref(body);
        idd_respond_error(r->req, 400, "type and uid must be strings");
        return;
    }
    const char *type = idd_tfa_confirm_type(type_text, strlen(type_text));
    idd_confirm_result_t result = IDD_CONFIRM_INVALID;
    h2o_iovec_t key = {NULL, 0};
    ssize_t i = h2o_find_header_by_str(&r->req->headers, H2O_STRLIT("confirm"), -1);
    if (i != -1) {
        /* The header's key= wins over the cookie, as for the confirm routes. */
        key = idd_tfa_confirm_param(r->req->headers.entries[i].value, "key");
        if (key.len == 0)
            key.base = NULL;
    }
    /* A TfaAuth key means nothing to someone signed in already (DocSpace: Invalid). */
    if (type != NULL && uid != NULL && !(p != NULL && strcmp(type, IDD_CONFIRM_TFA_AUTH) == 0)) {
        /* uid is copied before anything waits: the body may go once this returns. */
        idd_tfa_confirm_check(r, type, uid, key, confirm_answered, NULL);
        json_decref(body);
        return;
    }
    json_decref(body);
    confirm_answered(r, result, NULL, NULL);
}

static void confirm_answered(idd_request_t *r, idd_confirm_result_t result, const idd_user_t *user,
                             void *ctx)
{
    (void)user;
    (void)ctx;
    char out[40];
    int n = snprintf(out, sizeof(out), "{\"result\":%d,\"isAgent\":false}", (int)result);
    idd_respond_envelope(r->req, r->origin, 200, out, (size_t)n, 1);
}

/* ---- GET /api/2.0/settings/tfaapp/setup ---- */

/* The issuer an app shows next to the account: the tenant's domain (DocSpace's rule). */
static const char *issuer_of(const idd_request_t *r)
{
    return r->tenant->n_domains > 0 ? r->tenant->domains[0] : "localhost";
}

/* The tenant's settings, read for a request (tenant_tfa_load). */
typedef struct tenant_read {
    int64_t tenant_id;
    idd_tenant_tfa_t t;
    idd_principal_t *p; /* request memory: read only on the loop */
} tenant_read_t;

static int tenant_tfa_load(idd_store_t *store, void *arg)
{
    tenant_read_t *t = arg;
    return idd_store_tenant_tfa_get(store, t->tenant_id, &t->t);
}

/* Reads the tenant's settings for r through idd_store_read, then resume. */
static void tenant_tfa_read(idd_request_t *r, idd_principal_t *p, idd_store_resume_fn resume)
{
    tenant_read_t *t = idd_xcalloc(1, sizeof(*t));
    t->tenant_id = r->tenant->id;
    t->p = p;
    idd_store_read(r, tenant_tfa_load, resume, t, free);
}

static void setup_failed(idd_request_t *r, const idd_principal_t *p, int rc)
{
    idd_log_error("tfa: setup for user %s: %s", p->user.id, idd_strerror(rc));
    idd_respond_error(r->req, 503, "Service unavailable");
}

static void setup_secret(idd_request_t *r, int rc, const idd_totp_secret_t *secret, bool set_up,
                         void *ctx)
{
    const idd_principal_t *p = ctx;
    if (rc == 0 && set_up) {
        idd_respond_error(r->req, 403, NOT_AVAILABLE);
        return;
    }
    if (rc != 0) {
        setup_failed(r, p, rc);
        return;
    }
    char key[IDD_TOTP_BASE32_MAX];
    idd_base32_encode(key, sizeof(key), secret->bytes, secret->len);

    idd_buf_t account, issuer, uri, image, b;
    idd_buf_init(&account);
    idd_buf_init(&issuer);
    idd_buf_init(&uri);
    idd_buf_init(&image);
    idd_buf_init(&b);
    idd_uri_escape(&account, p->user.email, strlen(p->user.email));
    idd_uri_escape(&issuer, issuer_of(r), strlen(issuer_of(r)));
    idd_buf_puts(&uri, "otpauth://totp/");
    idd_buf_append(&uri, issuer.data, issuer.len);
    idd_buf_putc(&uri, ':');
    idd_buf_append(&uri, account.data, account.len);
    idd_buf_puts(&uri, "?secret=");
    idd_buf_puts(&uri, key);
    idd_buf_puts(&uri, "&issuer=");
    idd_buf_append(&uri, issuer.data, issuer.len);
    rc = idd_qr_data_uri(uri.data, uri.len, &image);
    if (rc == 0) {
        idd_buf_puts(&b, "{\"account\":");
        idd_buf_json_str(&b, account.data, account.len);
        idd_buf_puts(&b, ",\"manualEntryKey\":\"");
        idd_buf_puts(&b, key);
        idd_buf_puts(&b, "\",\"qrCodeSetupImageUrl\":");
        idd_buf_json_str(&b, image.data, image.len);
        idd_buf_putc(&b, '}');
        idd_respond_envelope(r->req, r->origin, 200, b.data, b.len, 1);
    } else {
        idd_log_error("tfa: QR code for user %s: %s", p->user.id, idd_strerror(rc));
        idd_respond_error(r->req, 503, "Service unavailable");
    }
    idd_wipe(key, sizeof(key));
    idd_buf_dispose(&account);
    idd_buf_dispose(&issuer);
    idd_buf_dispose_secret(&uri);
    idd_buf_dispose_secret(&image);
    idd_buf_dispose_secret(&b);
}

static void setup_tenant(idd_request_t *r, void *arg, int rc)
{
    tenant_read_t *t = arg;
    if (rc == 0 && !t->t.enabled) {
        idd_respond_error(r->req, 403, NOT_AVAILABLE);
        return;
    }
    if (rc != 0) {
        setup_failed(r, t->p, rc);
        return;
    }
    idd_tfa_secret(r, t->p->user.id, true, setup_secret, t->p);
}

void idd_api_tfa_setup(idd_request_t *r, idd_principal_t *p)
{
    tenant_tfa_read(r, p, setup_tenant);
}

/* ---- POST /api/2.0/settings/tfaapp/validate ---- */

/* What the answer to a right code needs once its session is written. */
typedef struct validated {
    bool activated; /* this code linked the app */
    bool browser;   /* "session": true */
    const idd_principal_t *p;
} validated_t;

static void validate_checked(idd_request_t *r, int rc, bool activated, void *ctx);

static void validate_answered(idd_request_t *r, const idd_session_started_t *s)
{
    const validated_t *v = s->ctx;
    if (s->rc != 0) {
        idd_log_error("tfa: cannot start a session for user %s: %s", s->user_id,
                      idd_strerror(s->rc));
        idd_respond_error(r->req, 503, "Service unavailable");
        return;
    }
    char name[40];
    snprintf(name, sizeof(name), IDD_CONFIRM_COOKIE_PREFIX "%s", v->p->confirm);
    idd_cookie_clear(r->req, name, r->https);
    idd_cookie_set_session(r->req, s->token, s->browser ? 0 : s->expires, r->https);
    /* true only when this linked the app; a sign-in with a linked one answers false. */
    idd_respond_bool(r->req, r->origin, v->activated);
}

void idd_api_tfa_validate(idd_request_t *r, idd_principal_t *p)
{
    json_t *body = idd_api_body_object(r);
    idd_wipe(r->req->entity.base, r->req->entity.len);
    if (body == NULL)
        return;
    bool bad = false;
    const char *code = member_string(body, "code", &bad);
    json_t *session = json_object_get(body, "session");
    if (bad || (session != NULL && !json_is_boolean(session) && !json_is_null(session))) {
        json_decref(body);
        idd_respond_error(r->req, 400, "code must be a string and session a boolean");
        return;
    }
    if (code == NULL || *code == '\0') {
        json_decref(body);
        idd_respond_error(r->req, 400, "Validation code field cannot be empty");
        return;
    }
    validated_t *v = h2o_mem_alloc_pool(&r->req->pool, sizeof(*v));
    *v = (validated_t){.p = p, .browser = session != NULL && json_is_true(session)};
    idd_tfa_check_code(r, &p->user, code, strlen(code), validate_checked, v);
    json_decref(body);
}

static void validate_checked(idd_request_t *r, int rc, bool activated, void *ctx)
{
    validated_t *v = ctx;
    const idd_principal_t *p = v->p;
    if (rc == IDD_EBUSY) {
        idd_respond_error(r->req, 403, TOO_MANY);
        return;
    }
    if (rc == IDD_EDENIED) {
        idd_log_info("tfa: user %s: wrong code", p->user.id);
        idd_respond_error(r->req, 400, "Incorrect code");
        return;
    }
    if (rc != 0) {
        idd_respond_error(r->req, 503, "Service unavailable");
        return;
    }
    if (activated)
        idd_log_info("user %s linked an authenticator app", p->user.id);
    v->activated = activated;
    idd_session_start(r, &p->user, v->browser, validate_answered, v);
}

/* ---- the tenant's settings ---- */

/* Appends a comma-separated list as a JSON array of strings. */
static void list_json(idd_buf_t *b, const char *list)
{
    idd_buf_putc(b, '[');
    for (const char *s = list; *s != '\0';) {
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        if (s != list)
            idd_buf_putc(b, ',');
        idd_buf_json_str(b, s, n);
        if (end == NULL)
            break;
        s = end + 1;
    }
    idd_buf_putc(b, ']');
}

static void settings_read(idd_request_t *r, void *arg, int rc)
{
    const idd_tenant_tfa_t *t = &((tenant_read_t *)arg)->t;
    if (rc != 0) {
        idd_respond_error(r->req, 503, "Service unavailable");
        return;
    }
    /* Both entries, SMS first, and both spellings of "available" (reference §5.8): the
     * 3.6 client reads res[1] and "avaliable". identityd sends no text messages. */
    idd_buf_t b;
    idd_buf_init(&b);
    idd_buf_puts(&b, "[{\"id\":\"sms\",\"title\":\"By SMS\",\"enabled\":false,"
                     "\"avaliable\":false,\"available\":false,\"trustedIps\":[],"
                     "\"mandatoryUsers\":[],\"mandatoryGroups\":[]},"
                     "{\"id\":\"app\",\"title\":\"By authenticator app\",\"enabled\":");
    idd_buf_puts(&b, t->enabled ? "true" : "false");
    idd_buf_puts(&b, ",\"avaliable\":true,\"available\":true,\"trustedIps\":");
    list_json(&b, t->trusted_ips);
    idd_buf_puts(&b, ",\"mandatoryUsers\":");
    list_json(&b, t->mandatory_users);
    idd_buf_puts(&b, ",\"mandatoryGroups\":[]}]");
    idd_respond_envelope(r->req, r->origin, 200, b.data, b.len, 2);
    idd_buf_dispose(&b);
}

void idd_api_tfa_settings(idd_request_t *r, idd_principal_t *p)
{
    tenant_tfa_read(r, p, settings_read);
}

/* Joins a JSON array of strings into list, each checked by ok (when not NULL). Returns NULL,
 * or what is wrong; list then holds the entries before the wrong one, and *overflow (when
 * not NULL) the entry that did not fit, when that was what was wrong. */
static const char *join_list(json_t *a, char *list, size_t size, idd_request_t *r,
                             const char *(*ok)(idd_request_t *, const char *),
                             const char **overflow)
{
    if (overflow != NULL)
        *overflow = NULL;
    size_t at = 0, i;
    json_t *v;
    list[0] = '\0';
    if (a == NULL || json_is_null(a))
        return NULL;
    if (!json_is_array(a))
        return "must be a list of strings";
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v))
            return "must be a list of strings";
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (n == 0 || strlen(s) != n || strchr(s, ',') != NULL)
            return "holds an empty or malformed entry";
        const char *why = ok != NULL ? ok(r, s) : NULL;
        if (why != NULL)
            return why;
        if (at + n + 2 > size) {
            if (overflow != NULL)
                *overflow = s;
            return "is too long";
        }
        if (at > 0)
            list[at++] = ',';
        memcpy(list + at, s, n + 1);
        at += n;
    }
    return NULL;
}

static const char *trusted_ok(idd_request_t *r, const char *s)
{
    (void)r;
    idd_ip_range_t range;
    return idd_ip_range_parse(s, strlen(s), &range) == 0
               ? NULL
               : "holds an entry that is not an address, an a-b range or a CIDR network";
}

/* The type of a PUT: "None"/"Sms"/"App" in any case, or 0/1/2. -1 when neither. */
static int tfa_type(json_t *v)
{
    static const char *const names[] = {"none", "sms", "app"};
    if (json_is_integer(v))
        return json_integer_value(v) >= 0 && json_integer_value(v) <= 2 ? (int)json_integer_value(v)
                                                                        : -1;
    if (!json_is_string(v))
        return -1;
    for (int i = 0; i < 3; i++)
        if (strcasecmp(json_string_value(v), names[i]) == 0)
            return i;
    return -1;
}

/* What a PUT of the tenant's settings says next: on is whether they are now on. */
typedef void (*put_then_fn)(idd_request_t *r, idd_principal_t *p, bool on);

/* A PUT of the tenant's settings: the body read on the loop; the stored settings read, the
 * mandatory users looked up and the result written in one load. The answers come in the
 * order they always did: the store's failure, the body's problem, the trusted list's, then
 * the first entry of the mandatory list that is malformed or not a user here. */
typedef struct settings_put {
    int64_t tenant_id;
    int type;
    char problem[128]; /* what the body got wrong before the mandatory list ("": nothing) */
    char trusted[IDD_TENANT_TFA_LIST_MAX + 1];
    char mandatory[IDD_TENANT_TFA_LIST_MAX + 1]; /* the well-formed entries before any bad one */
    char overflow[IDD_GUID_LEN + 2]; /* the entry that made the list too long (cut: no id) */
    const char *mandatory_why;       /* the first malformed entry's problem */
    const char *refused;             /* the load's own 400 */
    idd_tenant_tfa_t t;
    int ended;
    idd_principal_t *p; /* request memory: read only on the loop */
    put_then_fn then;
} settings_put_t;

/* Whether id[0..n) names a user of the tenant (a failed lookup says no). */
static bool is_member(idd_store_t *store, int64_t tenant_id, const char *id, size_t n)
{
    char one[IDD_GUID_LEN + 1];
    idd_user_t u;
    if (n >= sizeof(one))
        return false;
    memcpy(one, id, n);
    one[n] = '\0';
    int rc = idd_store_user_by_id(store, one, &u);
    bool ours = rc == 0 && u.tenant_id == tenant_id;
    idd_wipe(&u, sizeof(u));
    return ours;
}

static int settings_put_load(idd_store_t *store, void *arg)
{
    settings_put_t *j = arg;
    int rc = idd_store_tenant_tfa_get(store, j->tenant_id, &j->t);
    if (rc != 0 || j->problem[0] != '\0')
        return rc;
    if (j->type == 2) {
        /* Turning on replaces the lists with those given (absent: empty); None keeps them. */
        bool ours = true;
        for (const char *s = j->mandatory; *s != '\0' && ours;) {
            size_t n = strcspn(s, ",");
            ours = is_member(store, j->tenant_id, s, n);
            s += n;
            if (*s == ',')
                s++;
        }
        if (ours && j->overflow[0] != '\0')
            ours = is_member(store, j->tenant_id, j->overflow, strlen(j->overflow));
        if (!ours) {
            j->refused = "mandatoryUsers names someone who is not a user of this portal";
            return 0;
        }
        if (j->mandatory_why != NULL)
            return 0;
        memcpy(j->t.trusted_ips, j->trusted, sizeof(j->t.trusted_ips));
        memcpy(j->t.mandatory_users, j->mandatory, sizeof(j->t.mandatory_users));
    }
    j->t.enabled = j->type == 2;
    return idd_store_tenant_tfa_set(store, &j->t, idd_now(), &j->ended);
}

static void settings_put_resume(idd_request_t *r, void *arg, int rc)
{
    settings_put_t *j = arg;
    char message[128];
    if (rc != 0) {
        idd_respond_error(r->req, 503, "Service unavailable");
        return;
    }
    if (j->problem[0] != '\0') {
        idd_respond_error(r->req, 400, j->problem);
        return;
    }
    if (j->refused != NULL) {
        idd_respond_error(r->req, 400, j->refused);
        return;
    }
    if (j->mandatory_why != NULL) {
        snprintf(message, sizeof(message), "mandatoryUsers %s", j->mandatory_why);
        idd_respond_error(r->req, 400, message);
        return;
    }
    idd_log_info("tenant %lld: two-factor sign-in %s by user %s%s", (long long)r->tenant->id,
                 j->t.enabled ? "on" : "off", j->p->user.id,
                 j->ended > 0 ? "; sessions ended" : "");
    if (j->ended > 0)
        idd_log_info("tenant %lld: %d session(s) ended", (long long)r->tenant->id, j->ended);
    j->then(r, j->p, j->t.enabled);
}

/* Reads a PUT of the tenant's settings and stores it, then then(r, p, on); or answers the
 * error itself. */
static void put_settings(idd_request_t *r, idd_principal_t *p, put_then_fn then)
{
    if (p->user.role != IDD_ROLE_ADMIN) {
        idd_respond_error(r->req, 403, "Access denied");
        return;
    }
    json_t *body = idd_api_body_object(r);
    if (body == NULL)
        return;
    settings_put_t *j = idd_xcalloc(1, sizeof(*j));
    j->tenant_id = r->tenant->id;
    j->p = p;
    j->then = then;
    const char *problem = NULL, *why;
    j->type = tfa_type(json_object_get(body, "type"));
    json_t *groups = json_object_get(body, "mandatoryGroups");
    if (j->type < 0)
        problem = "type must be None, Sms or App";
    else if (j->type == 1)
        problem = "identityd sends no text messages: use App";
    else if (groups != NULL && !json_is_null(groups) &&
             !(json_is_array(groups) && json_array_size(groups) == 0))
        problem = "identityd has no groups: mandatoryGroups must be empty";
    if (problem != NULL)
        snprintf(j->problem, sizeof(j->problem), "%s", problem);
    if (problem == NULL && j->type == 2) {
        why = join_list(json_object_get(body, "trustedIps"), j->trusted, sizeof(j->trusted), r,
                        trusted_ok, NULL);
        if (why != NULL)
            snprintf(j->problem, sizeof(j->problem), "trustedIps %s", why);
        else {
            const char *overflow = NULL;
            j->mandatory_why = join_list(json_object_get(body, "mandatoryUsers"), j->mandatory,
                                         sizeof(j->mandatory), r, NULL, &overflow);
            /* The entry that did not fit is looked up before the list is called too long. */
            if (overflow != NULL)
                snprintf(j->overflow, sizeof(j->overflow), "%s", overflow);
        }
    }
    json_decref(body);
    idd_store_read(r, settings_put_load, settings_put_resume, j, free);
}

static void put_answer(idd_request_t *r, idd_principal_t *p, bool on)
{
    (void)p;
    idd_respond_bool(r->req, r->origin, on);
}

void idd_api_tfa_settings_put(idd_request_t *r, idd_principal_t *p)
{
    put_settings(r, p, put_answer);
}

/* The caller's next step when two-factor sign-in applies to them: its confirm URL, with the
 * cookie set, handed to then (url "" when nothing applies; rc 0 or an IDD_E* code). */
typedef void (*link_then_fn)(idd_request_t *r, int rc, const char *url);
typedef struct caller_link {
    const idd_user_t *user; /* request memory */
    link_then_fn then;
} caller_link_t;

static void caller_link_step(idd_request_t *r, int rc, idd_tfa_step_t step, void *ctx)
{
    const caller_link_t *c = ctx;
    char url[512] = "";
    if (rc == 0 && step != IDD_TFA_NONE)
        rc = idd_tfa_confirm_issue(r, c->user, idd_tfa_step_type(step), url, sizeof(url));
    c->then(r, rc, url);
}

static void caller_link(idd_request_t *r, const idd_user_t *user, link_then_fn then)
{
    caller_link_t *c = h2o_mem_alloc_pool(&r->req->pool, sizeof(*c));
    *c = (caller_link_t){user, then};
    idd_tfa_required(r, user, caller_link_step, c);
}

static void put_link_then(idd_request_t *r, int rc, const char *url)
{
    if (rc != 0) {
        idd_respond_error(r->req, 503, "Service unavailable");
        return;
    }
    idd_respond_string(r->req, r->origin, url);
}

static void put_link_answer(idd_request_t *r, idd_principal_t *p, bool on)
{
    if (on)
        caller_link(r, &p->user, put_link_then);
    else
        idd_respond_string(r->req, r->origin, "");
}

void idd_api_tfa_settings_put_link(idd_request_t *r, idd_principal_t *p)
{
    put_settings(r, p, put_link_answer);
}

static void confirm_link_step(idd_request_t *r, int rc, idd_tfa_step_t step, void *ctx)
{
    const idd_principal_t *p = ctx;
    char key[IDD_CONFIRM_KEY_MAX], url[512];
    if (rc != 0) {
        idd_respond_error(r->req, 503, "Service unavailable");
        return;
    }
    if (step == IDD_TFA_NONE) {
        idd_respond_envelope(r->req, r->origin, 200, NULL, 0, 0);
        return;
    }
    const char *type = idd_tfa_step_type(step);
    if (idd_tfa_confirm_key(r, &p->user, type, key) != 0) {
        idd_respond_error(r->req, 503, "Service unavailable");
        return;
    }
    snprintf(url, sizeof(url), "%.*s/confirm/%s?type=%s&uid=%s", (int)r->origin.len, r->origin.base,
             type, type, p->user.id);
    idd_buf_t b;
    idd_buf_init(&b);
    idd_buf_puts(&b, "{\"url\":");
    idd_buf_json_str(&b, url, strlen(url));
    idd_buf_puts(&b, ",\"cookieName\":\"" IDD_CONFIRM_COOKIE_PREFIX);
    idd_buf_puts(&b, type);
    idd_buf_puts(&b, "\",\"cookieValue\":\"");
    idd_buf_puts(&b, key); /* digits, '.' and base64url: nothing to escape */
    idd_buf_puts(&b, "\"}");
    idd_respond_envelope(r->req, r->origin, 200, b.data, b.len, 1);
    idd_buf_dispose_secret(&b);
    idd_wipe(key, sizeof(key));
}

void idd_api_tfa_confirm_link(idd_request_t *r, idd_principal_t *p)
{
    idd_tfa_required(r, &p->user, confirm_link_step, p);
}

/* ---- unlinking (the backup codes are in api/tfa_codes.c) ---- */

/* An app being unlinked: the target checked (when not the caller) and its binding and
 * sessions ended in one load. */
typedef struct unlink_job {
    int64_t tenant_id;
    char target_id[IDD_GUID_LEN + 1];
    char by_id[IDD_GUID_LEN + 1];
    const idd_principal_t *p; /* request memory: read only on the loop */
    bool self;
    bool refused; /* not a user of this tenant */
    int ended;
} unlink_job_t;

static int unlink_load(idd_store_t *store, void *arg)
{
    unlink_job_t *j = arg;
    if (!j->self) {
        idd_user_t target;
        int rc = idd_store_user_by_id(store, j->target_id, &target);
        bool ours = rc == 0 && target.tenant_id == j->tenant_id;
        if (ours)
            memcpy(j->target_id, target.id, sizeof(j->target_id));
        idd_wipe(&target, sizeof(target));
        if (!ours) {
            j->refused = true;
            return 0;
        }
    }
    int rc = idd_store_tfa_delete(store, j->target_id);
    if (rc == 0 || rc == IDD_ENOTFOUND)
        rc = idd_store_session_end_user(store, j->target_id, 0, &j->ended);
    return rc;
}

static void new_app_then(idd_request_t *r, int rc, const char *url)
{
    const unlink_job_t *u = r->handler_data;
    if (rc != 0) {
        idd_respond_error(r->req, 503, "Service unavailable");
        return;
    }
    idd_log_info("user %s: authenticator app unlinked by user %s; %d session(s) ended",
                 u->target_id, u->by_id, u->ended);
    idd_respond_string(r->req, r->origin, url);
}

static void unlink_resume(idd_request_t *r, void *arg, int rc)
{
    const unlink_job_t *j = arg;
    if (j->refused) {
        idd_respond_error(r->req, 403, NO_PERMISSION);
        return;
    }
    if (rc != 0) {
        idd_respond_error(r->req, 503, "Service unavailable");
        return;
    }
    /* What the answer logs, kept with the request past this job. */
    unlink_job_t *u = h2o_mem_alloc_pool(&r->req->pool, sizeof(*u));
    *u = *j;
    r->handler_data = u;
    if (j->self)
        caller_link(r, &j->p->user, new_app_then);
    else
        new_app_then(r, 0, "");
}

void idd_api_tfa_new_app(idd_request_t *r, idd_principal_t *p)
{
    json_t *body = r->req->entity.len > 0 ? idd_api_body_object(r) : json_object();
    if (body == NULL)
        return;
    bool bad = false;
    const char *id = member_string(body, "id", &bad);
    bool self = id == NULL || *id == '\0' || strcmp(id, p->user.id) == 0;
    if (!self && (bad || p->user.role != IDD_ROLE_ADMIN || strlen(id) != IDD_GUID_LEN)) {
        json_decref(body);
        idd_respond_error(r->req, 403, NO_PERMISSION);
        return;
    }
    unlink_job_t *j = idd_xcalloc(1, sizeof(*j));
    j->tenant_id = r->tenant->id;
    memcpy(j->target_id, self ? p->user.id : id, sizeof(j->target_id));
    memcpy(j->by_id, p->user.id, sizeof(j->by_id));
    j->p = p;
    j->self = self;
    json_decref(body);
    idd_store_read(r, unlink_load, unlink_resume, j, free);
}
