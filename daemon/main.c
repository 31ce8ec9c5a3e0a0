/*
 * main.c - sluiced's command line: read the settings (defaults, -c
 * file, flags), build the server, listen (or take systemd's sockets),
 * wire the signals to the drain and the reload, tell systemd it is
 * ready, run until stopped.  The top of the daemon: it calls every
 * layer, and nothing calls it.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sysexits.h>

#include "config.h"
#include "drain.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "persist.h"
#include "reload.h"
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
	    "usage: sluiced [-c FILE] [-t] [-l ADDR] [-p PORT] [-d DIR]\n"
	    "               [-f POLICY] [--force-recover] [-v]\n"
	    "       sluiced -h | --help | -V | --version\n"
	    "\n"
	    "Serve named, bounded FIFO queues over TCP (sluice protocol v1).\n"
	    "\n"
	    "  -c FILE        read the settings from the JSON file FILE\n"
	    "                 (every key is in sluiced.json(5)); the flags\n"
	    "                 below win over it.  SIGHUP reads it again\n"
	    "  -t             check the settings (and the data directory)\n"
	    "                 and exit: 0 when they are good, 78 and the\n"
	    "                 reason when not\n"
	    "  -l ADDR        listen address (default %s); replaces the\n"
	    "                 file's \"listen\"\n"
	    "  -p PORT        listen port (default %d; 0 picks a free port\n"
	    "                 and logs it as \"listening on ADDR:PORT\")\n"
	    "  -d DIR         keep disk queues in DIR (locked: one daemon\n"
	    "                 per directory); without it, and without\n"
	    "                 \"data_dir\", every queue is in memory\n"
	    "  -f POLICY      when the log is synced: always (before each\n"
	    "                 answer), everysec (default) or no (the kernel\n"
	    "                 decides)\n"
	    "  --force-recover  start even when an older log segment is\n"
	    "                 damaged, losing what follows the damage in it\n"
	    "  -v             log debug lines (every connection and request)\n"
	    "  -h, --help     show this help and exit\n"
	    "  -V, --version  show the version and exit\n"
	    "\n"
	    "Defaults: queues are created on first use with capacity %d,\n"
	    "max_bytes %d and policy block; messages up to %d bytes; at\n"
	    "most %d connections.  SIGTERM drains the queues for up to %d\n"
	    "ms, then stops; a second SIGTERM stops at once.\n",
	    CONFIG_DEFAULT_ADDR, CONFIG_DEFAULT_PORT, CONFIG_DEFAULT_CAPACITY,
	    CONFIG_DEFAULT_MAX_BYTES, CONFIG_DEFAULT_MAX_MESSAGE,
	    CONFIG_DEFAULT_MAX_CONNECTIONS, CONFIG_DEFAULT_SHUTDOWN_GRACE_MS);
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

/*
 * Large message bodies are a malloc and a free each.  glibc hands the
 * top of the heap back to the kernel as soon as 128 KiB of it is free,
 * and grows it again a page fault at a time: for a stream of 16 KiB
 * messages, a brk() every dozen messages.  Keep up to MALLOC_KEEP free
 * before trimming, and grow in steps of MALLOC_STEP.
 */
#define MALLOC_KEEP (8 * 1024 * 1024)
#define MALLOC_STEP (1024 * 1024)
/*
 * Setting the trim threshold also freezes glibc's mmap threshold at
 * 128 KiB, and a 64 KiB read reserves an input chunk just over 64 KiB,
 * rounded up to 128 KiB: an mmap() and a munmap() per read.  Blocks up
 * to the largest message plus its framing come from the heap instead.
 */
#define MALLOC_MMAP_MIN (2 * 1024 * 1024)

static void
tune_malloc(void)
{
	mallopt(M_TRIM_THRESHOLD, MALLOC_KEEP);
	mallopt(M_TOP_PAD, MALLOC_STEP);
	mallopt(M_MMAP_THRESHOLD, MALLOC_MMAP_MIN);
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

/*
 * Parse the command line into fl; returns -1 to go on, or the exit
 * status (help, version, a usage error).
 */
static int
parse_flags(int argc, char **argv, struct config_flags *fl, bool *check)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "force-recover", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	const char *opts = "c:tl:p:d:f:vhV";
	int ch;

	while ((ch = getopt_long(argc, argv, opts, longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			fl->data_dir = optarg;
			break;
		case 'f':
			fl->fsync = optarg;
			break;
		case 'R':
			fl->force_recover = true;
			break;
		case 'c':
			fl->file = optarg;
			break;
		case 't':
			*check = true;
			break;
		case 'l':
			if (strlen(optarg) >= CONFIG_ADDR_MAX) {
				fprintf(stderr, "sluiced: -l %s: too long\n",
				    optarg);
				return EX_USAGE;
			}
			fl->addr = optarg;
			break;
		case 'p':
			if ((fl->port = parse_port(optarg)) < 0) {
				fprintf(stderr,
				    "sluiced: -p %s: not a port number\n",
				    optarg);
				return EX_USAGE;
			}
			break;
		case 'v':
			fl->verbose = true;
			break;
		case 'h':
			usage(stdout);
			return EX_OK;
		case 'V':
			printf("sluiced %s\n", PACKAGE_VERSION);
			return EX_OK;
		default:
			/* getopt said what is wrong; the help would bury it. */
			fputs("try \"sluiced --help\"\n", stderr);
			return EX_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr,
		    "sluiced: unexpected argument %s\n"
		    "try \"sluiced --help\"\n",
		    argv[optind]);
		return EX_USAGE;
	}
	return -1;
}

/* The signals and what they start. */
struct signals {
	struct server *server;
	struct drain *drain; /* NULL until the first stop signal */
	struct event *term;  /* SIGTERM, SIGINT: drain, then stop */
	struct event *intr;
	struct event *hup;   /* SIGHUP: reload the config file */
};

/* The first SIGTERM or SIGINT drains; a second one stops at once. */
static void
on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct signals *sg = arg;
	struct server *s = sg->server;

	if (s->shutting_down) {
		log_notice("signal %d again: stopping now", (int)sig);
		drain_end(sg->drain);
		return;
	}
	log_notice("signal %d: stopping once drained", (int)sig);
	sg->drain = drain_start(s);
}

static void
on_reload_signal(evutil_socket_t sig, short what, void *arg)
{
	struct signals *sg = arg;

	reload_config(sg->server);
}

static void
signals_add(struct signals *sg, struct server *s)
{
	sg->server = s;
	sg->drain = NULL;
	sg->term = evsignal_new(s->base, SIGTERM, on_stop_signal, sg);
	sg->intr = evsignal_new(s->base, SIGINT, on_stop_signal, sg);
	sg->hup = evsignal_new(s->base, SIGHUP, on_reload_signal, sg);
	evsignal_add(sg->term, NULL);
	evsignal_add(sg->intr, NULL);
	evsignal_add(sg->hup, NULL);
}

/* Free the signal events (their default action comes back) and the drain. */
static void
signals_free(struct signals *sg)
{
	drain_free(sg->drain);
	event_free(sg->term);
	event_free(sg->intr);
	event_free(sg->hup);
}

/*
 * Hold back further signals once the loop is over: signals_free() gives
 * SIGTERM, SIGINT and SIGHUP their default action back, and one arriving
 * then would kill a daemon that is already stopping cleanly (and make
 * its exit status a death by signal).
 */
static void
block_stop_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

/*
 * Blocking holds them back from this thread only: a member of a
 * replication group has libuv's worker threads, where one would still
 * meet the default action signals_free() restored.  Ignored, then.
 */
static void
ignore_stop_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* Listen, run until stopped, free s; returns the exit status. */
static int
serve(struct server *s)
{
	struct metrics *m = NULL;
	struct signals sg;
	struct notify *n;
	int passed, rc = EX_OK;
	uint64_t left;

	/* Before listening: a client may signal as soon as it sees the port. */
	signals_add(&sg, s);
	if ((passed = notify_listen_fds(s)) < 0 ||
	    (passed == 0 && server_listen(s) < 0) || server_listen_tls(s) < 0 ||
	    (s->cfg.metrics_on &&
	        (m = metrics_new(s, &s->cfg.metrics)) == NULL)) {
		signals_free(&sg);
		server_free(s);
		return EX_UNAVAILABLE;
	}
	log_info("sluiced %s ready", PACKAGE_VERSION);
	n = notify_ready(s);
	if (server_run(s) < 0)
		rc = EX_SOFTWARE;
	block_stop_signals();
	left = qtable_messages(&s->queues);
	signals_free(&sg);
	ignore_stop_signals();
	notify_free(n);
	metrics_free(m);
	server_free(s);
	log_notice("stopped, %" PRIu64 " messages left", left);
	return rc;
}

int
main(int argc, char **argv)
{
	struct config_flags flags = { .port = -1 };
	char err[CONFIG_ERR_MAX];
	struct config cfg;
	struct server *s;
	bool check = false;
	int rc;

	log_init();
	if ((rc = parse_flags(argc, argv, &flags, &check)) >= 0)
		return rc;
	if (config_load(&cfg, &flags, err, sizeof err) < 0) {
		fprintf(stderr, "sluiced: %s\n", err);
		return EX_CONFIG;
	}
	/* -t says it too: the file is the same mistake either way. */
	if (cfg.cluster.on && cfg.fsync_set)
		log_notice("\"fsync\" (-f) is ignored in a cluster: every "
		           "Raft log entry is synced before it counts");
	if (check) {
		if (cfg.data_dir != NULL &&
		    persist_check_dir(cfg.data_dir, err, sizeof err) < 0) {
			fprintf(stderr, "sluiced: data_dir %s\n", err);
			config_free(&cfg);
			return EX_CONFIG;
		}
		printf("sluiced: %s: configuration ok\n",
		    flags.file ? flags.file : "built-in defaults");
		config_free(&cfg);
		return EX_OK;
	}
	log_set_level(cfg.log_level);
	if (flags.file != NULL)
		log_info("configuration: %s", flags.file);
	/* A client that vanishes must cost a write error, not the process. */
	signal(SIGPIPE, SIG_IGN);
	tune_malloc();
	raise_fd_limit(cfg.max_connections);
	if ((s = server_new(&cfg)) == NULL)
		return EX_OSERR;
	s->flags = flags;
	return serve(s);
}
