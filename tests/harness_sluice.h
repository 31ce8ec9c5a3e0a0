/*
 * harness_sluice.h - libsluice connections to the test daemon, for the
 * suites that drive it through the client library (check_client,
 * check_cli): sc_ is to a struct sluice_ctx what tc_ is to a tconn.
 *
 * A separate object in libharness.a, so that only the suites that link
 * libsluice pull it in.
 */
#ifndef SLUICE_HARNESS_SLUICE_H
#define SLUICE_HARNESS_SLUICE_H

#include "harness.h"
#include "sluice.h"

/*
 * Connect libsluice to the daemon (fails the test if it cannot), with a
 * 10 s I/O timeout so a missing reply fails the test instead of hanging.
 */
struct sluice_ctx *sc_open(const struct daemon *d);

/*
 * One integer field (never negative) of STATS <queue>; -1 when the
 * queue does not exist.
 */
long long sc_stat(struct sluice_ctx *c, const char *queue,
    const char *field);

/* Poll STATS <queue> until field equals want; fails after TC_AWAIT_MS. */
void sc_await_stat(struct sluice_ctx *c, const char *queue,
    const char *field, long long want);

#endif
