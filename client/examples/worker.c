/*
 * worker.c - libsluice example: take jobs with RESERVE, work, ACK.
 *
 *   worker [QUEUE [HOST [PORT]]]    (default: jobs 127.0.0.1 7470)
 *
 * Each message is printed as "<id> <body>" and then acknowledged: only
 * the ACK deletes it, so a worker that dies holding a reservation loses
 * nothing (the server requeues it when the connection closes).  A job
 * that cannot be done now would be given back with sluice_nack().
 * Stops after 5 seconds without work.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "sluice.h"

int
main(int argc, char **argv)
{
	const char *queue = argc > 1 ? argv[1] : "jobs";
	const char *host = argc > 2 ? argv[2] : SLUICE_DEFAULT_HOST;
	int port = argc > 3 ? atoi(argv[3]) : SLUICE_DEFAULT_PORT;
	struct sluice_ctx *ctx = sluice_connect(host, port, 5000);
	struct sluice_msg *msg;
	enum sluice_result res;

	if (ctx == NULL || sluice_error(ctx) != SLUICE_OK) {
		fprintf(stderr, "worker: %s\n",
		    ctx ? sluice_errstr(ctx) : "out of memory");
		sluice_free(ctx);
		return EXIT_FAILURE;
	}
	while ((res = sluice_reserve(ctx, queue, 5000, &msg)) == SLUICE_OK) {
		printf("%" PRIu64 " %s\n", msg->id, msg->body);
		fflush(stdout);
		res = sluice_ack(ctx, msg->id);
		sluice_msg_free(msg);
		if (res != SLUICE_OK)
			break;
	}
	if (res < 0)
		fprintf(stderr, "worker: %s\n", sluice_errstr(ctx));
	else if (res != SLUICE_EMPTY)
		fprintf(stderr, "worker: %s\n", sluice_status_line(ctx));
	sluice_free(ctx);
	return res == SLUICE_EMPTY ? EXIT_SUCCESS : EXIT_FAILURE;
}
