/*
 * xmalloc.h - allocation that cannot fail.
 *
 * For the daemon's own small structures only: running out of memory
 * there is not recoverable, so it logs and aborts.  Sizes a client
 * chooses are bounded by configuration before they get here.
 */
#ifndef SLUICE_XMALLOC_H
#define SLUICE_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);

#endif
