/*
 * reload.h - SIGHUP: read the config file again and apply it.
 *
 * What can change while running changes at once: limits, auto-create
 * and its defaults (for queues made from now on), the token, the log
 * level, the grace period, and the predefined queues (new ones are
 * made, changed ones take their new settings, and their waiters are
 * served under them).  The listen and metrics addresses need a restart
 * and are logged as such.  A file that does not load changes nothing.
 */
#ifndef SLUICE_RELOAD_H
#define SLUICE_RELOAD_H

#include "config.h"

struct server;

/* Reload s->flags.file (the -c file) into s, or log why not. */
void reload_config(struct server *s);

/* Make cfg's predefined queues, or give existing ones their settings. */
void reload_queues(struct server *s, const struct config *cfg);

#endif
