/*
 * jcheck.c - checking JSON against key tables.  See jcheck.h.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "jcheck.h"

/* How much of a bad value a message quotes. */
#define QUOTE_MAX 64

int
jcheck_fail(struct jcheck *k, const char *path, const char *fmt, ...)
{
	char msg[1024]; /* fits unknown_key()'s list of every top-level key */
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (*path != '\0')
		snprintf(k->err, k->errsize, "%s: %s: %s", k->file, path, msg);
	else
		snprintf(k->err, k->errsize, "%s: %s", k->file, msg);
	return -1;
}

const char *
jcheck_quote(char *dst, size_t size, const char *s)
{
	size_t n = 0;

	dst[n++] = '"';
	for (; *s != '\0' && n + 8 < size; s++) {
		unsigned char ch = (unsigned char)*s;
		if (n > QUOTE_MAX) {
			n += (size_t)snprintf(dst + n, size - n, "...");
			break;
		}
		if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\')
			n += (size_t)snprintf(dst + n, size - n, "\\x%02x", ch);
		else
			dst[n++] = (char)ch;
	}
	dst[n++] = '"';
	dst[n] = '\0';
	return dst;
}

void
jcheck_path(char *dst, size_t size, const char *path, const char *key)
{
	/* Cut, visibly, if absurdly deep: the message still goes out. */
	if (snprintf(dst, size, "%s%s%s", path, *path ? "." : "", key) >=
	    (int)size)
		snprintf(dst + size - 4, 4, "...");
}

void
jcheck_index(char *dst, size_t size, const char *path, size_t i)
{
	if (snprintf(dst, size, "%s[%zu]", path, i) >= (int)size)
		snprintf(dst + size - 4, 4, "...");
}

static const char *
type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "something else";
}

int
jcheck_type(struct jcheck *k, const char *path, json_t *v, json_type t,
    const char *what)
{
	if (json_typeof(v) == t ||
	    (t == JSON_TRUE && json_typeof(v) == JSON_FALSE))
		return 0;
	return jcheck_fail(k, path, "expected %s, not %s", what, type_name(v));
}

int
jcheck_uint(struct jcheck *k, const char *path, json_t *v, uint64_t min,
    uint64_t max, uint64_t *out)
{
	json_int_t n;

	if (jcheck_type(k, path, v, JSON_INTEGER, "an integer") < 0)
		return -1;
	n = json_integer_value(v);
	if (n < 0 || (uint64_t)n < min || (uint64_t)n > max)
		return jcheck_fail(k, path,
		    "%" JSON_INTEGER_FORMAT " is not between %" PRIu64
		    " and %" PRIu64,
		    n, min, max);
	*out = (uint64_t)n;
	return 0;
}

int
jcheck_oneof(struct jcheck *k, const char *path, json_t *v,
    const char *const *names, size_t n, int *out)
{
	char q[JCHECK_QUOTE_SIZE], list[256];
	const char *s;

	if (jcheck_type(k, path, v, JSON_STRING, "a string") < 0)
		return -1;
	s = json_string_value(v);
	list[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		/* A NUL inside the JSON string matches no name. */
		if (strcmp(s, names[i]) == 0 && strlen(s) ==
		    json_string_length(v)) {
			*out = (int)i;
			return 0;
		}
		snprintf(list + strlen(list), sizeof list - strlen(list),
		    "%s%s", i ? ", " : "", names[i]);
	}
	return jcheck_fail(k, path, "%s is not one of %s",
	    jcheck_quote(q, sizeof q, s), list);
}

/* Store v, checked against row r, into obj. */
static int
parse_key(struct jcheck *k, const char *path, const struct jcheck_key *r,
    json_t *v, void *obj)
{
	char *at = (char *)obj + r->offset;
	uint64_t n;

	switch (r->kind) {
	case JCHECK_SIZE:
		if (jcheck_uint(k, path, v, r->min,
			r->max < SIZE_MAX ? r->max : SIZE_MAX, &n) < 0)
			return -1;
		*(size_t *)(void *)at = (size_t)n;
		return 0;
	case JCHECK_U64:
		if (jcheck_uint(k, path, v, r->min, r->max, &n) < 0)
			return -1;
		*(uint64_t *)(void *)at = n;
		return 0;
	case JCHECK_UINT:
		if (jcheck_uint(k, path, v, r->min,
		        r->max < UINT_MAX ? r->max : UINT_MAX, &n) < 0)
			return -1;
		*(unsigned *)(void *)at = (unsigned)n;
		return 0;
	case JCHECK_BOOL:
		if (jcheck_type(k, path, v, JSON_TRUE, "true or false") < 0)
			return -1;
		*(bool *)(void *)at = json_is_true(v);
		return 0;
	case JCHECK_FUNC:
		return r->parse(k, path, v, obj);
	}
	return -1;
}

/* The error for a key not in the table, listing those that are. */
static int
unknown_key(struct jcheck *k, const char *path, const char *key,
    const struct jcheck_key *keys, size_t n)
{
	char q[JCHECK_QUOTE_SIZE], list[768];

	list[0] = '\0';
	for (size_t i = 0; i < n; i++)
		snprintf(list + strlen(list), sizeof list - strlen(list),
		    "%s%s", i ? ", " : "", keys[i].key);
	return jcheck_fail(k, path, "unknown key %s (expected one of %s)",
	    jcheck_quote(q, sizeof q, key), list);
}

int
jcheck_object(struct jcheck *k, const char *path, json_t *v,
    const struct jcheck_key *keys, size_t n, void *obj)
{
	char sub[JCHECK_PATH_MAX];
	const char *key;
	json_t *val;
	size_t i;

	if (jcheck_type(k, path, v, JSON_OBJECT, "an object") < 0)
		return -1;
	json_object_foreach(v, key, val) {
		for (i = 0; i < n && strcmp(keys[i].key, key) != 0; i++)
			;
		if (i == n)
			return unknown_key(k, path, key, keys, n);
	}
	for (i = 0; i < n; i++) {
		if ((val = json_object_get(v, keys[i].key)) == NULL)
			continue;
		jcheck_path(sub, sizeof sub, path, keys[i].key);
		if (parse_key(k, sub, &keys[i], val, obj) < 0)
			return -1;
	}
	return 0;
}
