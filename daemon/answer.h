/*
 * answer.h - answers built once and sent to many: the global STATS.
 *
 * A global STATS over 10000 queues is some 3 MB and costs the loop
 * milliseconds to build, so a copy is kept for each view (every queue,
 * or the queues one restricted token may see) and sent by reference:
 * however many connections ask, or leave it unread, one copy exists,
 * counted once in the memory budget.  It is built again after
 * ANSWER_STATS_MS, or ANSWER_REBUILD_MS once anything changed (a
 * request that changes queues, a connection opened or closed), or at
 * once for a connection that changed something since (it reads its
 * own writes).  While the memory budget is spent and ANSWER_LIVE_MAX
 * copies are alive (clients not reading them), the last copy is sent,
 * however old.
 */
#ifndef SLUICE_ANSWER_H
#define SLUICE_ANSWER_H

#include <stdint.h>

#include <event2/buffer.h>

struct conn;
struct server;

/*
 * How long a global STATS answer is served again: a scrape's blink;
 * and, once something changed, how long at most.
 */
#define ANSWER_STATS_MS 250
#define ANSWER_REBUILD_MS 20
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
