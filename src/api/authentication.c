/*
 * Signing in and out: POST /api/2.0/authentication (password or DocSpace's client hash,
 * answered with an AuthenticationTokenWrapper and the asc_auth_key cookie), GET
 * /api/2.0/authentication (is the caller signed in), POST /api/2.0/authentication/logout,
 * and GET /api/2.0/settings, which publishes the parameters a login client needs to compute
 * the client hash itself.
 */
#include <jansson.h>
#include <string.h>
#include <strings.h>

#include "api/body.h"
#include "identityd/api/api.h"
#include "identityd/auth/auth.h"
#include "identityd/auth/storeread.h"
#include "identityd/auth/tfa.h"
#include "identityd/core/buf.h"
#include "identityd/core/common.h"
#include "identityd/http/cookie.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"
#include "identityd/core/tz.h"
#include "identityd/cred/password.h"
#include "identityd/http/respond.h"

#define SIGNIN_FAILED "User authentication failed"

#define CODE_MAX 32 /* characters of a two-factor code accepted at all */

/* What POST /api/2.0/authentication(/{code}) carries past the asynchronous check. */
typedef struct signin_request {
    bool browser;   /* "session": true */
    bool with_code; /* POST /authentication/{code}: the second step, the SDK's way */
    char code[CODE_MAX + 1];
    size_t code_len;
    bool tfa_given; /* the session answered follows a second factor */
} signin_request_t;

/* Answers a started session with the token (AuthenticationTokenDto) and the cookie; ctx is
 * the sign-in's signin_request_t. */
static void session_answered(idd_request_t *r, const idd_session_started_t *s)
{
    const signin_request_t *sr = s->ctx;
    bool tfa = sr->tfa_given;
    if (s->rc != 0) {
        /* A full or read-only disk refuses every sign-in alike: the store warned already. */
        if (s->rc != IDD_EUNAVAIL)
            idd_log_error("signin: cannot start a session for user %s: %s", s->user_id,
                          idd_strerror(s->rc));
        idd_respond_error(r->req, 503, "Service unavailable");
        return;
    }
    /* .NET's plain DateTime in UTC; a browser session has no expiry of its own to tell
     * (DocSpace sends DateTime.MinValue's text then). */
    char expires_text[IDD_DATETIME_UTC_LEN];
    if (s->browser)
        snprintf(expires_text, sizeof(expires_text), "0001-01-01T00:00:00");
    else
        idd_format_datetime_utc(s->expires, 0, expires_text);
    idd_buf_t b;
    idd_buf_init(&b);
    idd_buf_puts(&b, "{\"token\":\"");
    idd_buf_puts(&b, s->token); /* base64url: nothing to escape */
    idd_buf_puts(&b, "\",\"expires\":\"");
    idd_buf_puts(&b, expires_text);
    idd_buf_puts(&b, tfa ? "\",\"sms\":false,\"tfa\":true}" : "\",\"sms\":false,\"tfa\":false}");
    idd_cookie_set_session(r->req, s->token, s->browser ? 0 : s->expires, r->https);
    idd_respond_envelope(r->req, r->origin, 200, b.data, b.len, 1);
    idd_buf_dispose_secret(&b);
}

/* Starts a session for user, then answers (session_answered); tfa tells whether a second
 * factor was given. */
static void answer_session(idd_request_t *r, const idd_user_t *user, bool tfa)
{
    signin_request_t *sr = r->handler_data;
    sr->tfa_given = tfa;
    idd_session_start(r, user, sr->browser, session_answered, sr);
}

/* Step 1 of a two-factor sign-in: no session, but the confirm cookie and where to go next,
 * with the key to type into an app when one is still to be linked (reference §5.2). */
static void challenge_answer(idd_request_t *r, const idd_user_t *user, idd_tfa_step_t step, int rc,
                             char key[IDD_TOTP_BASE32_MAX])
{
    const char *type = idd_tfa_step_type(step);
    char url[512];
    if (rc == 0)
        rc = idd_tfa_confirm_issue(r, user, type, url, sizeof(url));
    if (rc != 0) {
        idd_log_error("signin: two-factor step for user %s: %s", user->id, idd_strerror(rc));
        idd_respond_error(r->req, 503, "Service unavailable");
        idd_wipe(key, IDD_TOTP_BASE32_MAX);
        return;
    }
    idd_log_info("signin: user %s owes a second factor (%s)", user->id, type);
    idd_buf_t b;
    idd_buf_init(&b);
    idd_buf_puts(&b, "{\"expires\":\"0001-01-01T00:00:00\",\"sms\":false,\"tfa\":true");
    if (key[0] != '\0') {
        idd_buf_puts(&b, ",\"tfaKey\":\"");
        idd_buf_puts(&b, key); /* base32: nothing to escape */
        idd_buf_putc(&b, '"');
    }
    idd_buf_puts(&b, ",\"confirmUrl\":");
    idd_buf_json_str(&b, url, strlen(url));
    idd_buf_putc(&b, '}');
    idd_respond_envelope(r->req, r->origin, 200, b.data, b.len, 1);
    idd_buf_dispose_secret(&b);
    idd_wipe(key, IDD_TOTP_BASE32_MAX);
}

/* The secret of an app still to be linked, read (or made) for the challenge. */
static void challenge_secret(idd_request_t *r, int rc, const idd_totp_secret_t *secret, bool set_up,
                             void *ctx)
{
    (void)set_up;
    const idd_principal_t *p = ctx;
    char key[IDD_TOTP_BASE32_MAX] = "";
    if (rc == 0)
        idd_base32_encode(key, sizeof(key), secret->bytes, secret->len);
    challenge_answer(r, &p->user, IDD_TFA_ACTIVATION, rc, key);
}

static void answer_challenge(idd_request_t *r, idd_principal_t *p, idd_tfa_step_t step)
{
    if (step == IDD_TFA_ACTIVATION) {
        idd_tfa_secret(r, p->user.id, true, challenge_secret, p);
        return;
    }
    char key[IDD_TOTP_BASE32_MAX] = "";
    challenge_answer(r, &p->user, step, 0, key);
}

static void code_checked(idd_request_t *r, int rc, bool activated, void *ctx);

static void signin_step(idd_request_t *r, int rc, idd_tfa_step_t step, void *ctx);

static void signed_in(idd_request_t *r, idd_auth_result_t result, idd_principal_t *p)
{
    idd_auth_note(r, IDD_MSCHEME_PASSWORD, result, p);
    if (result != IDD_AUTH_OK) {
        idd_auth_respond_failure(r, result, SIGNIN_FAILED);
        return;
    }
    idd_tfa_required(r, &p->user, signin_step, p);
}

/* The sign-in's password was right: the session, or the two-factor step owed. */
static void signin_step(idd_request_t *r, int rc, idd_tfa_step_t step, void *ctx)
{
    signin_request_t *sr = r->handler_data;
    idd_principal_t *p = ctx;
    if (rc != 0) {
        idd_respond_error(r->req, 503, "Service unavailable");
        return;
    }
    if (!sr->with_code) {
        if (step == IDD_TFA_NONE)
            answer_session(r, &p->user, false);
        else
            answer_challenge(r, p, step);
        return;
    }
    /* The SDK's second step: every failure after the password, a code that does not apply
     * included, is DocSpace's one 401 (reference §5.4). */
    char code[CODE_MAX + 1];
    size_t code_len = sr->code_len;
    memcpy(code, sr->code, sizeof(code));
    idd_wipe(sr->code, sizeof(sr->code)); /* before any answer: the request may end with it */
    if (step == IDD_TFA_NONE)
        code_checked(r, IDD_EDENIED, false, p);
    else
        idd_tfa_check_code(r, &p->user, code, code_len, code_checked, p);
    idd_wipe(code, sizeof(code));
}

/* The SDK's second step, once its code was checked. */
static void code_checked(idd_request_t *r, int rc, bool activated, void *ctx)
{
    idd_principal_t *p = ctx;
    if (rc == IDD_EDENIED || rc == IDD_EBUSY) {
        idd_log_info("signin: user %s: second factor refused (%s)", p->user.id,
                     rc == IDD_EBUSY ? "too many attempts" : "wrong code");
        idd_auth_respond_failure(r, IDD_AUTH_DENY, SIGNIN_FAILED);
        return;
    }
    if (rc != 0) {
        idd_respond_error(r->req, 503, "Service unavailable");
        return;
    }
    if (activated)
        idd_log_info("user %s linked an authenticator app", p->user.id);
    answer_session(r, &p->user, true);
}

/* Reads the sign-in body (and, with_code, the code: from the body, else the path) and starts
 * the check. */
static void signin(idd_request_t *r, bool with_code)
{
    h2o_req_t *req = r->req;
    json_error_t error;
    const char *user_name = NULL, *password = NULL, *client_hash = NULL;
    char hash_lower[IDD_CLIENT_HASH_HEX_LEN + 1];
    const char *problem = NULL;

    json_t *body = json_loadb(req->entity.base, req->entity.len, JSON_REJECT_DUPLICATES, &error);
    /* The raw body held the password: it is not needed past parsing. */
    idd_wipe(req->entity.base, req->entity.len);
    if (body == NULL || !json_is_object(body)) {
        problem = "The request body must be a JSON object";
        goto done;
    }
    if (idd_api_string_member(body, "userName", &user_name) != 0 || user_name == NULL ||
        *user_name == '\0') {
        problem = "userName is required";
        goto done;
    }
    if (idd_api_string_member(body, "password", &password) != 0 ||
        idd_api_string_member(body, "passwordHash", &client_hash) != 0) {
        problem = "password and passwordHash must be strings";
        goto done;
    }
    if (password != NULL && *password == '\0')
        password = NULL;
    if (client_hash != NULL && *client_hash == '\0')
        client_hash = NULL;
    if ((password == NULL) == (client_hash == NULL)) {
        problem = "Exactly one of password and passwordHash is required";
        goto done;
    }
    if (client_hash != NULL) {
        /* DocSpace's client sends lowercase hex; upper case is accepted and folded. */
        size_t n = strlen(client_hash);
        for (size_t i = 0; i < n && i < IDD_CLIENT_HASH_HEX_LEN; i++) {
            char c = client_hash[i];
            hash_lower[i] = (char)((c >= 'A' && c <= 'F') ? c + 32 : c);
            if (!((hash_lower[i] >= '0' && hash_lower[i] <= '9') ||
                  (hash_lower[i] >= 'a' && hash_lower[i] <= 'f')))
                n = 0;
        }
        if (n != IDD_CLIENT_HASH_HEX_LEN) {
            problem = "passwordHash must be 64 hexadecimal characters";
            goto done;
        }
        hash_lower[IDD_CLIENT_HASH_HEX_LEN] = '\0';
    }
    json_t *session = json_object_get(body, "session");
    if (session != NULL && !json_is_boolean(session)) {
        problem = "session must be a boolean";
        goto done;
    }
    const char *code = NULL;
    size_t code_len = 0;
    if (with_code) {
        if (idd_api_string_member(body, "code", &code) != 0) {
            problem = "code must be a string";
            goto done;
        }
        if (code != NULL && *code != '\0') {
            code_len = strlen(code);
        } else if (r->n_params > 0) {
            code = r->params[0].base;
            code_len = r->params[0].len;
        }
        if (code == NULL || code_len == 0 || code_len > CODE_MAX) {
            problem = "code is required";
            goto done;
        }
    }

    signin_request_t *sr = h2o_mem_alloc_pool(&req->pool, sizeof(*sr));
    memset(sr, 0, sizeof(*sr));
    sr->browser = session != NULL && json_is_true(session);
    sr->with_code = with_code;
    if (with_code) {
        memcpy(sr->code, code, code_len);
        sr->code_len = code_len;
    }
    r->handler_data = sr;
    idd_signin_t in = {
        .login = user_name,
        .password = password,
        .password_len = password ? strlen(password) : 0,
        .client_hash = client_hash ? hash_lower : NULL,
        .remember = false,
        .via = IDD_CRED_SESSION,
    };
    idd_auth_signin(r, &in, signed_in);

done:
    if (problem != NULL)
        idd_respond_error(req, 400, problem);
    idd_wipe(hash_lower, sizeof(hash_lower));
    json_decref(body); /* jansson's allocator wipes what it frees (main.c) */
}

void idd_api_signin(idd_request_t *r, idd_principal_t *p)
{
    (void)p;
    signin(r, false);
}

void idd_api_signin_code(idd_request_t *r, idd_principal_t *p)
{
    (void)p;
    signin(r, true);
}

void idd_api_is_signed_in(idd_request_t *r, idd_principal_t *p)
{
    idd_respond_bool(r->req, r->origin, p != NULL);
}

/* Answers a logout: the cookie cleared unless authentication already deleted an invalid
 * one, and DocSpace's empty string. */
static void signed_out(idd_request_t *r, const idd_principal_t *p)
{
    /* An invalid cookie was already deleted by authentication. */
    if (!(r->auth_from_cookie && p == NULL))
        idd_cookie_clear_session(r->req, r->https);
    idd_respond_string(r->req, r->origin, "");
}

/* The session a logout ends, and the caller to answer on the loop. */
typedef struct logout {
    int64_t session_id;
    const idd_principal_t *p; /* request memory: read only on the loop */
} logout_t;

static int logout_load(idd_store_t *store, void *arg)
{
    const logout_t *l = arg;
    return idd_store_session_end(store, l->session_id);
}

static void logout_resume(idd_request_t *r, void *arg, int rc)
{
    const logout_t *l = arg;
    if (rc != 0 && rc != IDD_ENOTFOUND) {
        if (rc != IDD_EUNAVAIL) /* else the store warned already */
            idd_log_error("logout: session %lld: %s", (long long)l->session_id, idd_strerror(rc));
        idd_respond_error(r->req, 503, "Service unavailable");
        return;
    }
    idd_log_info("session %lld ended by logout", (long long)l->session_id);
    signed_out(r, l->p);
}

void idd_api_sign_out(idd_request_t *r, idd_principal_t *p)
{
    if (p != NULL && p->via == IDD_CRED_SESSION) {
        logout_t *l = idd_xmalloc(sizeof(*l));
        *l = (logout_t){p->session_id, p};
        idd_store_read(r, logout_load, logout_resume, l, free);
        return;
    }
    signed_out(r, p);
}

/* ?withpassword=true, both spelled in any case (the login app sends withPassword=true). */
static bool wants_password(const h2o_req_t *req)
{
    if (req->query_at == SIZE_MAX)
        return false;
    const char *q = req->path.base + req->query_at + 1;
    const char *end = req->path.base + req->path.len;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        size_t n = (size_t)(stop - q);
        if (n == 17 && strncasecmp(q, "withpassword=true", 17) == 0)
            return true;
        q = stop + 1;
    }
    return false;
}

/* What GET /api/2.0/settings sends to every caller that identityd has no value of its own
 * for: DocSpace's constants and defaults (reference §2). */
#define SETTINGS_COMMON                                                                            \
    "\"docSpace\":true,\"standalone\":true,\"isAmi\":false,\"baseDomain\":\"\",\"version\":\"\","  \
    "\"tenantStatus\":0,\"enableAdmMess\":false,\"cookieSettingsEnabled\":false,"                  \
    "\"userNameRegex\":\"^[\\\\p{L}\\\\p{M}' \\\\-]+$\",\"displayAbout\":false,"                   \
    "\"deepLink\":{\"androidPackageName\":\"com.onlyoffice.documents\","                           \
    "\"url\":\"oodocuments://openfile\",\"iosPackageId\":\"944896972\"},"                          \
    "\"logoText\":\"ONLYOFFICE\",\"externalResources\":{},\"trustedDomainsType\":0,"               \
    "\"recaptchaType\":0,\"debugInfo\":false,\"limitedAccessSpace\":false,"                        \
    "\"limitedAccessDevToolsForUsers\":false,\"displayBanners\":false,\"aiEnabled\":false,"        \
    "\"maxImageUploadSize\":0,\"defaultFolderType\":0,\"externalDbEnabled\":false,"                \
    "\"ownerId\":\"00000000-0000-0000-0000-000000000000\""

/* Only for a signed-in caller: empty settings of features identityd does not have. */
#define SETTINGS_SIGNED_IN                                                                         \
    ",\"trustedDomains\":[],\"socketUrl\":\"/socket.io\","                                         \
    "\"domainValidator\":{\"regex\":\"^[a-z0-9]([a-z0-9-]){1,61}[a-z0-9]$\",\"minLength\":3,"      \
    "\"maxLength\":63},"                                                                           \
    "\"firebase\":{\"apiKey\":\"\",\"authDomain\":\"\",\"projectId\":\"\",\"storageBucket\":\"\"," \
    "\"messagingSenderId\":\"\",\"appId\":\"\",\"measurementId\":\"\",\"databaseURL\":\"\"},"      \
    "\"plugins\":{\"enabled\":false,\"upload\":false,\"delete\":false},"                           \
    "\"formGallery\":{\"path\":\"\",\"domain\":\"\",\"ext\":\"\",\"uploadPath\":\"\","             \
    "\"uploadDomain\":\"\",\"uploadExt\":\"\",\"uploadDashboard\":\"\"},\"invitationLimit\":0"

void idd_api_settings(idd_request_t *r, idd_principal_t *p)
{
    const idd_tenant_config_t *t = r->tenant;
    idd_buf_t b;
    idd_buf_init(&b);
    idd_buf_reserve(&b, 2048);
    idd_buf_puts(&b, "{\"culture\":\"en-US\",\"greetingSettings\":");
    idd_buf_json_str(&b, t->name, strlen(t->name));
    idd_buf_puts(&b, ",\"tenantAlias\":");
    idd_buf_json_str(&b, t->name, strlen(t->name));
    idd_buf_puts(&b, "," SETTINGS_COMMON);
    /* The zone's offset now: what DocSpace sends to a signed-in caller; anonymous callers get
     * the TimeSpan's default, as from DocSpace. */
    int32_t offset = p != NULL ? idd_tz_offset(t->tz, idd_now()) : 0;
    char span[11];
    idd_buf_puts(&b, ",\"utcOffset\":\"");
    idd_buf_append(&b, span, idd_format_timespan(offset, span));
    idd_buf_puts(&b, "\",\"utcHoursOffset\":");
    if (offset % 3600 == 0)
        idd_buf_json_int(&b, offset / 3600);
    else
        idd_buf_printf(&b, "%.2f", offset / 3600.0);
    if (p == NULL) {
        idd_buf_puts(&b, ",\"enabledJoin\":false,\"thirdpartyEnable\":false");
    } else {
        idd_buf_puts(&b, SETTINGS_SIGNED_IN ",\"timezone\":");
        idd_buf_json_str(&b, idd_tz_name(t->tz), strlen(idd_tz_name(t->tz)));
    }
    if (p == NULL || wants_password(r->req)) {
        idd_buf_puts(&b, ",\"passwordHash\":{\"size\":256,\"iterations\":");
        idd_buf_json_int(&b, r->gen->cfg->password_iterations);
        idd_buf_puts(&b, ",\"salt\":");
        idd_buf_json_str(&b, r->tenant_row->password_salt, strlen(r->tenant_row->password_salt));
        idd_buf_putc(&b, '}');
    }
    idd_buf_putc(&b, '}');
    idd_respond_envelope(r->req, r->origin, 200, b.data, b.len, 1);
    idd_buf_dispose(&b);
}
