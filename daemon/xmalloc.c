/*
 * xmalloc.c - allocation that logs and aborts on failure.  See xmalloc.h.
 */
#include <stdio.h>
#include <stdlib.h>

#include "xmalloc.h"

static void
out_of_memory(size_t size)
{
	fprintf(stderr, "sluiced: out of memory allocating %zu bytes\n",
	    size);
	abort();
}

void *
xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		out_of_memory(size);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		out_of_memory(n * size);
	return p;
}

void *
xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size ? size : 1);

	if (q == NULL)
		out_of_memory(size);
	return q;
}
