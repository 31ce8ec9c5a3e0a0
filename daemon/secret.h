/*
 * secret.h - comparing a secret a client sent (the AUTH token, the
 * metrics bearer token) with the one configured.
 *
 * A leaf: every layer may call it, it calls nothing of the daemon.
 */
#ifndef SLUICE_SECRET_H
#define SLUICE_SECRET_H

#include <stdbool.h>
#include <stddef.h>

/*
 * True when a (alen bytes) equals b (blen bytes), in a time that does
 * not depend on where they differ: no timing oracle for guessing.
 */
bool secret_equal(const char *a, size_t alen, const char *b, size_t blen);

#endif
