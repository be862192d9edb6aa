/*
 * Checking an answer against a field list of DocSpace's reference: each member's JSON type,
 * the members that must be there, the ones that must not, and no member the list does not
 * know. Shared by the suites that check the login surface.
 */
#ifndef TH_FIELDS_H
#define TH_FIELDS_H

#include <check.h>
#include <jansson.h>
#include <stdbool.h>
#include <string.h>

/* ---- a field-list validator ----------------------------------------------------------------- */

typedef enum { T_STR, T_INT, T_NUM, T_BOOL, T_ARR, T_OBJ } ftype_t;
typedef enum { REQUIRED, OPTIONAL, FORBIDDEN } fpresence_t;

typedef struct field {
    const char *name;
    ftype_t type;
    fpresence_t presence;
} field_t;

static inline const char *type_name(ftype_t t)
{
    static const char *const names[] = {"string",  "integer", "number",
                                        "boolean", "array",   "object"};
    return names[t];
}

static inline bool has_type(json_t *v, ftype_t t)
{
    switch (t) {
    case T_STR:
        return json_is_string(v);
    case T_INT:
        return json_is_integer(v);
    case T_NUM:
        return json_is_number(v);
    case T_BOOL:
        return json_is_boolean(v);
    case T_ARR:
        return json_is_array(v);
    case T_OBJ:
        return json_is_object(v);
    }
    return false;
}

/* Asserts that object obj (named what, for messages) has every REQUIRED member and no
 * FORBIDDEN one, that each member present has its listed type (null is never a value: DocSpace
 * omits null members), and that it has no member the list does not name. */
static inline void validate(json_t *obj, const char *what, const field_t *fields, size_t n)
{
    ck_assert_msg(json_is_object(obj), "%s is not an object", what);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(obj, fields[i].name);
        if (fields[i].presence == FORBIDDEN) {
            ck_assert_msg(v == NULL, "%s has %s, which it must not", what, fields[i].name);
            continue;
        }
        if (v == NULL) {
            ck_assert_msg(fields[i].presence == OPTIONAL, "%s lacks %s", what, fields[i].name);
            continue;
        }
        ck_assert_msg(has_type(v, fields[i].type), "%s.%s is not a%s %s", what, fields[i].name,
                      fields[i].type == T_ARR || fields[i].type == T_OBJ ? "n" : "",
                      type_name(fields[i].type));
    }
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(fields[i].name, key) == 0 && fields[i].presence != FORBIDDEN;
        ck_assert_msg(known, "%s has a member the reference does not list: %s", what, key);
    }
}

#define VALIDATE(obj, what, list) validate((obj), (what), (list), sizeof(list) / sizeof((list)[0]))

#endif
