/*
 * cli_top.c - "sluice queues" (the names, one a line) and "sluice top"
 * (a live view: a STATS of the server every interval, drawn in place,
 * with each queue's rates from the difference of two samples), plus
 * the terminal helpers the stats table shares: the width, and numbers
 * short enough for a column of five.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

static const char queues_usage[] =
    "usage: sluice queues\n"
    "\n"
    "List the server's queues, one name a line, sorted.\n"
    "\n"
    "  -h, --help   this help\n";

static const char top_usage[] =
    "usage: sluice top [-i MS] [-n FRAMES]\n"
    "\n"
    "A live view of the server's queues, redrawn in place every interval\n"
    "(Ctrl-C to stop): each queue's depth with a bar of how full it is,\n"
    "messages in and out per second over the last interval, producers\n"
    "blocked on a full queue (BLOCK) and consumers waiting on an empty one\n"
    "(WAIT).  It fits the terminal's width (80 columns and up); piped, it\n"
    "prints one frame after another.\n"
    "\n"
    "  -i, --interval MS  time between frames (default 1000, at least 100)\n"
    "  -n, --frames N     stop after N frames (default: never)\n"
    "  -h, --help         this help\n";

int
cli_term_width(int fd)
{
	struct winsize ws;
	const char *env = getenv("COLUMNS");

	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	if (env != NULL && atoi(env) > 0)
		return atoi(env);
	return 80;
}

/* The terminal's height in lines, 0 when unknown. */
static int
term_height(int fd)
{
	struct winsize ws;

	return ioctl(fd, TIOCGWINSZ, &ws) == 0 ? ws.ws_row : 0;
}

void
cli_human(double v, char *buf, size_t size)
{
	static const char units[] = "kMGTPE";
	int u = -1;

	if (v < 100)
		snprintf(buf, size, v == (double)(uint64_t)v ? "%.0f" : "%.1f",
		    v);
	else if (v < 100000)
		snprintf(buf, size, "%.0f", v);
	else {
		while (v >= 999.5 && u < 5) {
			v /= 1000;
			u++;
		}
		snprintf(buf, size, v < 9.95 ? "%.1f%c" : "%.0f%c", v,
		    units[u]);
	}
}

/* The names of a server STATS's queues, sorted; NULL-terminated. */
static const char **
queue_names(json_t *stats, size_t *n)
{
	json_t *queues = json_object_get(stats, "queues"), *q;
	const char *name, **names;

	*n = 0;
	names = calloc(json_object_size(queues) + 1, sizeof *names);
	if (names == NULL)
		return NULL;
	json_object_foreach(queues, name, q) names[(*n)++] = name;
	qsort(names, *n, sizeof *names, cli_compare_strings);
	return names;
}

int
cli_compare_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int
cli_queues(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sluice_ctx *ctx;
	enum sluice_result r;
	const char **names;
	json_t *j;
	size_t n;
	int ch, status;

	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (ch != 'h')
			return cli_option_error(cli, ch, argv);
		fputs(queues_usage, stdout);
		return 0;
	}
	if (optind < argc)
		return cli_usage_error(cli, queues_usage, "too many arguments");
	if ((ctx = cli_connect(cli, &status)) == NULL)
		return status;
	if ((r = cli_stats_json(ctx, NULL, &j)) != SLUICE_OK) {
		status = cli_fail(cli, ctx, NULL, r);
		sluice_free(ctx);
		return status;
	}
	if ((names = queue_names(j, &n)) == NULL)
		status = cli_error(cli, EX_OSERR, "out of memory");
	for (size_t i = 0; names != NULL && i < n; i++)
		printf("%s\n", names[i]);
	free(names);
	json_decref(j);
	sluice_free(ctx);
	return status;
}

/* ---- top ---------------------------------------------------------------- */

static volatile sig_atomic_t top_stop;

static void
top_on_signal(int sig)
{
	(void)sig;
	top_stop = 1;
}

static json_int_t
field(json_t *obj, const char *key)
{
	return json_integer_value(json_object_get(obj, key));
}

/* A rate over dt seconds from two counters; "-" for a new queue. */
static void
rate(json_t *prev, json_t *cur, const char *key, double dt, char *buf,
    size_t size)
{
	json_int_t d;

	if (prev == NULL || dt <= 0) {
		snprintf(buf, size, "-");
		return;
	}
	d = field(cur, key) - field(prev, key);
	cli_human(d > 0 ? (double)d / dt : 0, buf, size);
}

/*
 * One frame, to f: a server line, a header, a row per queue.  Every
 * line fits width - 1 columns (the last column makes some terminals
 * wrap); rows beyond height are summed up in one line.  "eol" ends
 * each line: "\033[K\n" on a terminal, to clear what the previous
 * frame left there.
 */
static void
top_frame(FILE *f, json_t *prev, json_t *cur, double dt, int width, int height,
    const char *eol)
{
	json_t *pq = json_object_get(prev, "queues");
	json_t *cq = json_object_get(cur, "queues");
	int name_w, bar_w, rows;
	const char **names;
	char up[32], head[512], in[16], out[16];
	size_t n;

	if (width < 60)
		width = 60;
	/* The fixed columns take 38: depth, rates, blocked, waiting, and
	 * the bar's brackets, with a space before each. */
	name_w = (width - 1 - 38) / 3;
	if (name_w < 12)
		name_w = 12;
	if (name_w > 32)
		name_w = 32;
	bar_w = width - 1 - 38 - name_w;
	if (bar_w > 50)
		bar_w = 50;
	names = queue_names(cur, &n);
	if (names == NULL)
		return;
	cli_human((double)field(cur, "messages"), in, sizeof in);
	cli_uptime(field(cur, "uptime_s"), up, sizeof up);
	snprintf(head, sizeof head,
	    "sluiced %s  up %s  %" JSON_INTEGER_FORMAT " connections  %zu "
	    "queues  %s messages",
	    json_string_value(json_object_get(cur, "version")) ?: "?", up,
	    field(cur, "connections"), n, in);
	fprintf(f, "%.*s%s", width - 1, head, eol);
	fprintf(f, "%-*s %6s %-*s %7s %7s %5s %5s%s", name_w, "QUEUE", "DEPTH",
	    bar_w + 2, "FILL", "IN/s", "OUT/s", "BLOCK", "WAIT", eol);
	rows = height > 3 ? height - 3 : (int)n;
	for (size_t i = 0; i < n; i++) {
		json_t *q = json_object_get(cq, names[i]);
		json_t *p = json_object_get(pq, names[i]);
		json_int_t depth = field(q, "depth"),
		           cap = field(q, "capacity");
		char bar[64], d[16], name[64];
		int fill;

		if ((int)i >= rows && n - i > 1) {
			fprintf(f, "... and %zu more queues%s", n - i, eol);
			break;
		}
		fill = cap > 0 ? (int)((depth * bar_w + cap - 1) / cap) : 0;
		if (fill > bar_w)
			fill = bar_w;
		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '.', (size_t)(bar_w - fill));
		bar[bar_w] = '\0';
		cli_human((double)depth, d, sizeof d);
		rate(p, q, "puts", dt, in, sizeof in);
		rate(p, q, "gets", dt, out, sizeof out);
		snprintf(name, sizeof name, "%s", names[i]);
		if ((int)strlen(name) > name_w)
			name[name_w - 1] = '~', name[name_w] = '\0';
		fprintf(f,
		    "%-*s %6s [%s] %7s %7s %5" JSON_INTEGER_FORMAT
		    " %5" JSON_INTEGER_FORMAT "%s",
		    name_w, name, d, bar, in, out,
		    field(q, "blocked_producers"),
		    field(q, "waiting_consumers"), eol);
	}
	if (n == 0)
		fprintf(f, "(no queues)%s", eol);
	free((void *)names);
}

/* Sleep ms, or less when a signal comes. */
static void
top_sleep(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000),
		(long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

int
cli_top(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "frames", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t interval = 1000, frames = 0, t0, t1, shown = 0;
	bool tty = isatty(STDOUT_FILENO);
	struct sigaction sa = { .sa_handler = top_on_signal };
	struct sluice_ctx *ctx;
	enum sluice_result r;
	json_t *prev = NULL, *cur;
	int ch, status;

	while ((ch = getopt_long(argc, argv, ":i:n:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'i':
			if (!cli_number(cli, top_usage, "-i", optarg, 86400000,
			        &interval))
				return EX_USAGE;
			if (interval < 100)
				return cli_usage_error(cli, top_usage,
				    "-i wants at least 100 (ms)");
			break;
		case 'n':
			if (!cli_number(cli, top_usage, "-n", optarg, INT32_MAX,
			        &frames))
				return EX_USAGE;
			if (frames == 0)
				return cli_usage_error(cli, top_usage,
				    "-n wants at least 1 (leave it out to "
				    "run until Ctrl-C)");
			break;
		case 'h':
			fputs(top_usage, stdout);
			return 0;
		default:
			return cli_option_error(cli, ch, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error(cli, top_usage, "too many arguments");
	if ((ctx = cli_connect(cli, &status)) == NULL)
		return status;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* The first frame already has rates: two samples, an interval
	 * apart. */
	t0 = cli_now_ms();
	if ((r = cli_stats_json(ctx, NULL, &prev)) != SLUICE_OK)
		goto fail;
	if (tty)
		fputs("\033[?25l\033[H\033[2J", stdout);
	while (!top_stop && (frames == 0 || shown < frames)) {
		top_sleep(interval);
		if (top_stop)
			break;
		if ((r = cli_stats_json(ctx, NULL, &cur)) != SLUICE_OK)
			goto fail;
		t1 = cli_now_ms();
		if (tty)
			fputs("\033[H", stdout);
		top_frame(stdout, prev, cur, (double)(t1 - t0) / 1000.0,
		    cli_term_width(STDOUT_FILENO),
		    tty ? term_height(STDOUT_FILENO) : 0,
		    tty ? "\033[K\n" : "\n");
		if (tty)
			fputs("\033[J", stdout);
		else if (frames == 0 || shown + 1 < frames)
			putchar('\n');
		fflush(stdout);
		json_decref(prev);
		prev = cur;
		t0 = t1;
		shown++;
	}
	if (tty)
		fputs("\033[?25h", stdout);
	json_decref(prev);
	sluice_free(ctx);
	return 0;
fail:
	if (tty)
		fputs("\033[?25h", stdout);
	json_decref(prev);
	status = cli_fail(cli, ctx, NULL, r);
	sluice_free(ctx);
	return status;
}
