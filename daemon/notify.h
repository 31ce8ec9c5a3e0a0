/*
 * notify.h - sluiced and its service manager (systemd).
 *
 * notify_*() send sd_notify(3) messages: READY=1 once listening,
 * RELOADING=1 and READY=1 around a reload, STOPPING=1 when a drain
 * starts, and a one-line STATUS= (refreshed every few seconds).  When
 * the unit sets WatchdogSec=, WATCHDOG=1 is sent at half that period.
 * notify_listen_fds() adopts the sockets of socket activation.
 *
 * Built without libsystemd (HAVE_SYSTEMD unset) all of it does
 * nothing: the daemon runs the same, only silent to systemd.
 */
#ifndef SLUICE_NOTIFY_H
#define SLUICE_NOTIFY_H

struct server;
struct notify;

/*
 * Listen on the sockets systemd passed (LISTEN_FDS).  Returns how many
 * (0: none were passed, bind the configured addresses), -1 on error
 * (logged).
 */
int notify_listen_fds(struct server *s);

/*
 * Tell systemd the daemon is serving, and start the watchdog and
 * status timers.  The result is freed with notify_free() before the
 * server (NULL when there is nothing to free).
 */
struct notify *notify_ready(struct server *s);

/* A reload begins. */
void notify_reloading(void);

/* A reload ended; problem is NULL, or why it was not applied. */
void notify_reloaded(struct server *s, const char *problem);

/* A drain begins: STOPPING=1, and more time to stop if needed. */
void notify_stopping(struct server *s);

void notify_free(struct notify *n);

#endif
