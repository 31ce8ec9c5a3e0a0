/*
 * answer.h - answers built once and sent to many: the global STATS.
 *
 * A global STATS over 10000 queues is some 3 MB and costs the loop
 * milliseconds to build, so a copy is kept for each view (every queue,
 * or the queues one restricted token may see) and sent by reference:
 * however many connections ask, or leave it unread, one copy exists,
 * counted once in the memory budget.  It is built again as soon as
 * anything changed (a request that changes queues, a connection opened
 * or closed), and at least every ANSWER_STATS_MS (for what timers and
 * wake-ups change).  While the memory budget is spent and ANSWER_LIVE_MAX
 * copies are alive (clients not reading them), the last copy is sent,
 * however old.
 */
#ifndef SLUICE_ANSWER_H
#define SLUICE_ANSWER_H

#include <stdint.h>

#include <event2/buffer.h>

struct conn;
struct server;

/* How long a global STATS answer is served again while nothing changed. */
#define ANSWER_STATS_MS 250
/* Copies alive at most while the memory budget is spent (answer.c). */
#define ANSWER_LIVE_MAX 4

/*
 * Append the whole global STATS answer ("200 JSON <n>", the JSON, the
 * terminator) for c's token to c's output.
 */
void answer_stats(struct conn *c);

/* Forget every copy kept (reload, exit); those being sent live on. */
void answer_clear(struct server *s);

#endif
