/*
 * producer.c - libsluice example: put each line of stdin into a queue,
 * pipelined.
 *
 *   producer [QUEUE [HOST [PORT]]]    (default: jobs 127.0.0.1 7470)
 *
 * Up to a window of PUTs is in flight at once, so the link stays full;
 * when the queue is full (policy block), the replies stop coming, the
 * window stays full, and the producer waits: backpressure with bounded
 * memory.  Build against an installed library with
 *   cc producer.c $(pkg-config --cflags --libs libsluice)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice.h"

/* Read one reply; returns 0 when the PUT was accepted. */
static int
check_reply(struct sluice_ctx *ctx)
{
	struct sluice_reply *r;
	enum sluice_result res = sluice_read_reply(ctx, &r);

	if (res < 0)
		fprintf(stderr, "producer: %s\n", sluice_errstr(ctx));
	else if (res != SLUICE_OK)
		fprintf(stderr, "producer: PUT refused: %s\n", r->line);
	sluice_reply_free(r);
	return res == SLUICE_OK ? 0 : -1;
}

int
main(int argc, char **argv)
{
	const char *queue = argc > 1 ? argv[1] : "jobs";
	const char *host = argc > 2 ? argv[2] : SLUICE_DEFAULT_HOST;
	int port = argc > 3 ? atoi(argv[3]) : SLUICE_DEFAULT_PORT;
	struct sluice_ctx *ctx = sluice_connect(host, port, 5000);
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int status = EXIT_SUCCESS;

	if (ctx == NULL || sluice_error(ctx) != SLUICE_OK) {
		fprintf(stderr, "producer: %s\n",
		    ctx ? sluice_errstr(ctx) : "out of memory");
		sluice_free(ctx);
		return EXIT_FAILURE;
	}
	while (status == EXIT_SUCCESS &&
	    (n = getline(&line, &cap, stdin)) > 0) {
		if (line[n - 1] == '\n')
			n--;
		/* A full window refuses the append: make room first. */
		if (sluice_pending(ctx) == SLUICE_DEFAULT_WINDOW &&
		    check_reply(ctx) < 0)
			status = EXIT_FAILURE;
		else if (sluice_append_put(ctx, queue, line, (size_t)n,
		             SLUICE_FOREVER) != SLUICE_OK) {
			fprintf(stderr, "producer: %s\n", sluice_errstr(ctx));
			status = EXIT_FAILURE;
		}
	}
	while (status == EXIT_SUCCESS && sluice_pending(ctx) > 0)
		if (check_reply(ctx) < 0)
			status = EXIT_FAILURE;
	free(line);
	sluice_free(ctx);
	return status;
}
