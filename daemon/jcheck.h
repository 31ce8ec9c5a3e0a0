/*
 * jcheck.h - checking a JSON document (jansson) against tables of the
 * keys each of its objects may hold.
 *
 * A table row names a key, its kind (an integer within bounds, a
 * boolean, or a parse function of its own) and where its value goes.
 * jcheck_object() rejects keys not in the table, listing those that
 * are, and parses the rest.  Every error is one line naming the file
 * and the JSON path: "conf/x.json: queues[2].policy: ...".  The daemon
 * uses it for its config file (config.c); nothing here knows sluiced.
 */
#ifndef SLUICE_JCHECK_H
#define SLUICE_JCHECK_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Room for a JSON path such as queues[12].policy. */
#define JCHECK_PATH_MAX 256
/* Room for a value quoted by jcheck_quote(). */
#define JCHECK_QUOTE_SIZE 80

/* The document being checked, and where its error message goes. */
struct jcheck {
	const char *file;
	char *err;
	size_t errsize;
};

enum jcheck_kind {
	JCHECK_SIZE, /* size_t: an integer within [min, max] */
	JCHECK_U64,  /* uint64_t: likewise */
	JCHECK_UINT, /* unsigned: likewise (max at most UINT_MAX) */
	JCHECK_BOOL, /* bool */
	JCHECK_FUNC, /* the row's own parse function */
};

struct jcheck_key {
	const char *key;
	enum jcheck_kind kind;
	size_t offset; /* of the value in the object being filled */
	uint64_t min, max;
	int (*parse)(struct jcheck *k, const char *path, json_t *v,
	    void *obj);
};

/* Write "FILE: PATH: what" (or "FILE: what" at the top); returns -1. */
int jcheck_fail(struct jcheck *k, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Check v against the n rows of keys and store what it holds into obj,
 * row by row in the table's order.  0, or -1 with the error set.
 */
int jcheck_object(struct jcheck *k, const char *path, json_t *v,
    const struct jcheck_key *keys, size_t n, void *obj);

/* 0 when v is of type t (JSON_TRUE: either boolean), else -1. */
int jcheck_type(struct jcheck *k, const char *path, json_t *v, json_type t,
    const char *what);

/* An integer within [min, max] into *out; 0 or -1. */
int jcheck_uint(struct jcheck *k, const char *path, json_t *v, uint64_t min,
    uint64_t max, uint64_t *out);

/* A string equal to one of the n names: its index into *out; 0 or -1. */
int jcheck_oneof(struct jcheck *k, const char *path, json_t *v,
    const char *const *names, size_t n, int *out);

/* s in double quotes, unprintable bytes escaped, cut when too long. */
const char *jcheck_quote(char *dst, size_t size, const char *s);

/* path + "." + key, or key alone at the top. */
void jcheck_path(char *dst, size_t size, const char *path, const char *key);

/* path + "[i]". */
void jcheck_index(char *dst, size_t size, const char *path, size_t i);

#endif
