/*
 * log.h - one line per event on stderr.
 *
 * When stderr is the systemd journal (JOURNAL_STREAM names it) each
 * line starts with a syslog priority prefix such as "<6>" so the
 * journal files it at the right level; otherwise with a timestamp and
 * the level in words ("2026-01-02 03:04:05.678 sluiced: warn: ...").
 * log_set_level() chooses what is shown (LOG_INFO by default, LOG_DEBUG
 * with -v).
 *
 * Debug lines are for operators too, so they say what happened in
 * words, never which function said it, and they cannot fill a disk:
 * each source (a connection) may log LOG_BUDGET_LINES a second
 * (struct log_budget), and the whole process LOG_DEBUG_LINES a second;
 * what is held back is counted and the count is logged.
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

/* Debug lines one source may log per second. */
#define LOG_BUDGET_LINES 10
/* Debug lines the process logs per second, all sources together. */
#define LOG_DEBUG_LINES 200

void log_init(void);
void log_set_level(int level);
int log_get_level(void);
void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A socket address as a log shows it: "1.2.3.4:5", "[::1]:5". */
struct sockaddr;
void log_addr(const struct sockaddr *sa, char *buf, size_t size);

/* The word for a level in plain-text lines ("error", "warn", ...). */
const char *log_level_name(int level);

/*
 * One source's allowance of lines per second, and what it held back;
 * zero it to start.
 */
struct log_budget {
	uint64_t second; /* the second the count is for */
	unsigned used;
	unsigned held; /* lines held back, not reported yet */
};

/*
 * True when the source may log a line now (at most `per_second` in a
 * second); *held is then the lines held back since its last one, to be
 * reported with it.
 */
bool log_budget_take(struct log_budget *b, unsigned per_second, unsigned *held);

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                   \
	do {                                             \
		if (log_get_level() >= LOG_DEBUG)        \
			log_msg(LOG_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
