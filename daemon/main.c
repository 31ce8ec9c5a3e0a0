/*
 * main.c - sluiced's command line: parse flags, build the server,
 * listen, run.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sysexits.h>

#include "config.h"
#include "log.h"
#include "server.h"

/*
 * Descriptors the daemon needs besides its connections: listeners,
 * stdio, the event loop's own, and slack for files it opens.
 */
#define FD_RESERVE 32

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sluiced [-l ADDR] [-p PORT] [-v] [-h] [-V]\n"
	    "\n"
	    "Serve named, bounded FIFO queues over TCP (sluice protocol v1).\n"
	    "\n"
	    "  -l ADDR   listen address (default %s)\n"
	    "  -p PORT   listen port (default %d; 0 picks a free port and\n"
	    "            logs it as \"listening on ADDR:PORT\")\n"
	    "  -v        log debug lines (every connection and request)\n"
	    "  -h        show this help and exit\n"
	    "  -V        show the version and exit\n"
	    "\n"
	    "Defaults: queues are created on first use with capacity %d,\n"
	    "max_bytes %d and policy block; messages up to %d bytes; at most\n"
	    "%d connections.\n",
	    CONFIG_DEFAULT_ADDR, CONFIG_DEFAULT_PORT, CONFIG_DEFAULT_CAPACITY,
	    CONFIG_DEFAULT_MAX_BYTES, CONFIG_DEFAULT_MAX_MESSAGE,
	    CONFIG_DEFAULT_MAX_CONNECTIONS);
}

/* Parse a port number; -1 when it is not one. */
static int
parse_port(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < 0 || v > 65535)
		return -1;
	return (int)v;
}

/* Let the process hold a descriptor per allowed connection, if it may. */
static void
raise_fd_limit(size_t max_connections)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)max_connections + FD_RESERVE;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want
	    ? want
	    : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
		log_warn("open files limited to %llu: fewer than %zu "
			 "connections may be served",
		    (unsigned long long)rl.rlim_cur, max_connections);
}

int
main(int argc, char **argv)
{
	struct config cfg;
	struct server *s;
	int ch, port;

	log_init();
	config_defaults(&cfg);
	while ((ch = getopt(argc, argv, "l:p:vhV")) != -1) {
		switch (ch) {
		case 'l':
			if (strlen(optarg) >= sizeof cfg.listen[0].addr) {
				fprintf(stderr, "sluiced: -l %s: too long\n",
				    optarg);
				return EX_USAGE;
			}
			strcpy(cfg.listen[0].addr, optarg);
			break;
		case 'p':
			if ((port = parse_port(optarg)) < 0) {
				fprintf(stderr,
				    "sluiced: -p %s: not a port number\n",
				    optarg);
				return EX_USAGE;
			}
			cfg.listen[0].port = port;
			break;
		case 'v':
			cfg.log_level = LOG_DEBUG;
			break;
		case 'h':
			usage(stdout);
			return EX_OK;
		case 'V':
			printf("sluiced %s\n", PACKAGE_VERSION);
			return EX_OK;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sluiced: unexpected argument %s\n",
		    argv[optind]);
		usage(stderr);
		return EX_USAGE;
	}
	log_set_level(cfg.log_level);
	/* A client that vanishes must cost a write error, not the process. */
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit(cfg.max_connections);
	if ((s = server_new(&cfg)) == NULL)
		return EX_OSERR;
	if (server_listen(s) < 0) {
		server_free(s);
		return EX_UNAVAILABLE;
	}
	log_info("sluiced %s ready", PACKAGE_VERSION);
	if (server_run(s) < 0) {
		server_free(s);
		return EX_SOFTWARE;
	}
	server_free(s);
	log_info("stopped");
	return EX_OK;
}
