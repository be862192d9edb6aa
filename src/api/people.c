/*
 * /api/2.0/people: who the caller is, as DocSpace's EmployeeFullDto (the login client reads
 * it after signing in, and whenever it holds a session cookie). identityd keeps no photos,
 * groups, contacts or quotas, so those members are either DocSpace's defaults or left out
 * (DocSpace omits null members); every value type is always written.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "identityd/api/api.h"
#include "identityd/auth/auth.h"
#include "identityd/core/buf.h"
#include "identityd/core/common.h"
#include "identityd/core/tz.h"
#include "identityd/http/respond.h"

/* DocSpace's default photos, used when a user has none (identityd keeps none). The hash only
 * busts caches when the pictures change; any constant will do. */
#define AVATAR_DEFAULT(size) "/static/images/default_user_photo_size_" size ".png?hash=1"

/* Appends s[0..len) HTML-encoded (& < > " ' as entities, the way .NET's HtmlEncode does for
 * ASCII) and JSON-escaped, inside quotes: displayName is HTML-encoded in DocSpace, and a
 * client that puts it into a page as markup must never meet a tag from a user's name. */
static void json_html_str(idd_buf_t *b, const char *s, size_t len)
{
    /* Every byte of s at most 6 bytes encoded ("&quot;"); names and e-mails are short. */
    char out[6 * (2 * IDD_NAME_MAX + 2 + IDD_EMAIL_MAX)];
    size_t n = 0;
    for (size_t i = 0; i < len && n + 6 <= sizeof(out); i++) {
        const char *entity = NULL;
        switch (s[i]) {
        case '&':
            entity = "&amp;";
            break;
        case '<':
            entity = "&lt;";
            break;
        case '>':
            entity = "&gt;";
            break;
        case '"':
            entity = "&quot;";
            break;
        case '\'':
            entity = "&#39;";
            break;
        default:
            out[n++] = s[i];
            continue;
        }
        size_t elen = strlen(entity);
        memcpy(out + n, entity, elen);
        n += elen;
    }
    idd_buf_json_str(b, out, n);
}

/* Appends s (lowercased, percent-encoded: everything but RFC 3986's unreserved characters)
 * to b, for the search parameter of profileUrl. */
static void url_lower_escaped(idd_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~') {
            idd_buf_putc(b, (char)c);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            idd_buf_append(b, esc, sizeof(esc));
        }
    }
}

static void put_bool(idd_buf_t *b, const char *member, bool v)
{
    idd_buf_puts(b, member);
    idd_buf_puts(b, v ? "true" : "false");
}

/* One EmployeeFullDto of p's user, with members in DocSpace's order. */
static void write_self(idd_buf_t *b, const idd_request_t *r, const idd_principal_t *p)
{
    const idd_user_t *u = &p->user;
    bool guest = u->role == IDD_ROLE_GUEST;

    /* "First Last", trimmed; the e-mail when both are empty */
    char name[2 * IDD_NAME_MAX + 2];
    idd_user_display_name(u, name, sizeof(name));
    const char *start = name;
    size_t len = strlen(name);
    while (len > 0 && *start == ' ') {
        start++;
        len--;
    }
    while (len > 0 && start[len - 1] == ' ')
        len--;
    if (len == 0) {
        start = u->email;
        len = strlen(u->email);
    }

    idd_buf_puts(b, "{\"id\":");
    idd_buf_json_str(b, u->id, strlen(u->id));
    idd_buf_puts(b, ",\"displayName\":");
    json_html_str(b, start, len);
    idd_buf_puts(
        b,
        ",\"avatar\":\"" AVATAR_DEFAULT(
            "82-82") "\""
                     ",\"avatarOriginal\":\"" AVATAR_DEFAULT(
                         "200-200") "\""
                                    ",\"avatarMax\":\"" AVATAR_DEFAULT(
                                        "200-200") "\""
                                                   ",\"avatarMedium\":\"" AVATAR_DEFAULT(
                                                       "48-48") "\""
                                                                ",\"avatarSmall\":"
                                                                "\"" AVATAR_DEFAULT(
                                                                    "32-32") "\""
                                                                             ",\"profileUrl\":\"");
    /* r->origin is the vetted scheme://host[:port] (app/request.c) and the path is ours: no
     * character in either needs JSON escaping, and the e-mail is percent-encoded. */
    idd_buf_append(b, r->origin.base, r->origin.len);
    idd_buf_puts(b, guest ? "/accounts/guests/filter?search=" : "/accounts/people/filter?search=");
    url_lower_escaped(b, u->email);
    idd_buf_puts(b, "\",\"hasAvatar\":false,\"isAnonim\":false,\"firstName\":");
    idd_buf_json_str(b, u->first_name, strlen(u->first_name));
    idd_buf_puts(b, ",\"lastName\":");
    idd_buf_json_str(b, u->last_name, strlen(u->last_name));
    idd_buf_puts(b, ",\"email\":");
    idd_buf_json_str(b, u->email, strlen(u->email));
    /* 1 Active, 2 Terminated (a disabled user cannot authenticate: never seen here) */
    idd_buf_puts(b, u->status == IDD_USER_DISABLED ? ",\"status\":2" : ",\"status\":1");
    idd_buf_puts(b, ",\"activationStatus\":1,\"department\":\"\"");
    /* Role flags: admin -> isAdmin, user -> isCollaborator (DocSpace's type "User"),
     * guest -> isVisitor; identityd has no owner and no room admins. */
    put_bool(b, ",\"isAdmin\":", u->role == IDD_ROLE_ADMIN);
    idd_buf_puts(b, ",\"isRoomAdmin\":false,\"isLDAP\":false,\"isOwner\":false");
    put_bool(b, ",\"isVisitor\":", guest);
    put_bool(b, ",\"isCollaborator\":", u->role == IDD_ROLE_USER);
    idd_buf_puts(b, ",\"mobilePhoneActivationStatus\":0,\"isSSO\":false,\"theme\":\"System\""
                    ",\"loginEventId\":");
    idd_buf_json_int(b, p->via == IDD_CRED_SESSION ? p->session_id : 0);
    /* An ApiDateTime: one string in the tenant's zone (core/tz.h). */
    char date[IDD_DATETIME_LEN];
    size_t n = idd_format_datetime(u->created, 0, r->tenant->tz, date);
    idd_buf_puts(b, ",\"registrationDate\":\"");
    idd_buf_append(b, date, n);
    idd_buf_putc(b, '"');
    put_bool(b, ",\"hasPersonalFolder\":", !guest);
    idd_buf_putc(b, '}');
}

/* GET /api/2.0/people/@self */
void idd_api_people_self(idd_request_t *r, idd_principal_t *p)
{
    idd_buf_t b;
    idd_buf_init(&b);
    write_self(&b, r, p);
    idd_respond_envelope(r->req, r->origin, 200, b.data, b.len, 1);
    idd_buf_dispose(&b);
}
