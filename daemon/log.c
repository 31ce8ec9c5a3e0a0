/*
 * log.c - the daemon's log lines.  See log.h.
 *
 * The settings below and the process's debug allowance are the
 * daemon's only file-scope state: the log is a property of the process
 * (its stderr), not of a server.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"

static int log_level = LOG_INFO;
static bool log_to_journal;
static struct log_budget debug_budget;

void
log_init(void)
{
	log_to_journal = getenv("JOURNAL_STREAM") != NULL;
}

void
log_set_level(int level)
{
	log_level = level;
}

int
log_get_level(void)
{
	return log_level;
}

void
log_addr(const struct sockaddr *sa, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		snprintf(buf, size, "[%s]:%d", host, ntohs(in6->sin6_port));
	} else if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		snprintf(buf, size, "%s:%d", host, ntohs(in->sin_port));
	} else {
		snprintf(buf, size, "a local socket");
	}
}

const char *
log_level_name(int level)
{
	switch (level) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warn";
	case LOG_NOTICE:
		return "notice";
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

bool
log_budget_take(struct log_budget *b, unsigned per_second, unsigned *held)
{
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	now = (uint64_t)ts.tv_sec;
	if (now != b->second) {
		b->second = now;
		b->used = 0;
	}
	if (b->used >= per_second) {
		b->held++;
		return false;
	}
	b->used++;
	*held = b->held;
	b->held = 0;
	return true;
}

void
log_msg(int level, const char *fmt, ...)
{
	char line[1024];
	unsigned held = 0;
	va_list ap;

	if (level > log_level)
		return;
	if (level >= LOG_DEBUG &&
	    !log_budget_take(&debug_budget, LOG_DEBUG_LINES, &held))
		return;
	if (held > 0)
		log_msg(LOG_NOTICE,
		    "%u debug lines were held back (more than "
		    "%d a second)",
		    held, LOG_DEBUG_LINES);
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (log_to_journal) {
		fprintf(stderr, "<%d>%s\n", level, line);
	} else {
		char stamp[32];
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld sluiced: %s: %s\n", stamp,
		    ts.tv_nsec / 1000000, log_level_name(level), line);
	}
}
