/*
 * log.h - one line per event on stderr.
 *
 * When stderr is the systemd journal (JOURNAL_STREAM names it) each
 * line starts with a syslog priority prefix such as "<6>" so the
 * journal files it at the right level; otherwise with a timestamp.
 * log_set_level() chooses what is shown (LOG_INFO by default, LOG_DEBUG
 * with -v).
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <syslog.h>

void log_init(void);
void log_set_level(int level);
int log_get_level(void);
void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
/* Debug lines name their function, so a trace reads like a call path. */
#define log_debug(fmt, ...)                                              \
	do {                                                             \
		if (log_get_level() >= LOG_DEBUG)                        \
			log_msg(LOG_DEBUG, "%s: " fmt, __func__,         \
			    ##__VA_ARGS__);                              \
	} while (0)

#endif
