/*
 * check_queue.c - unit tests of the daemon's storage and policy code:
 * the packed message log (msglog), one queue's bounds, drops,
 * reservations, give-backs and delayed messages (queue), the table of
 * queues by name (qtable), and the heap of delayed messages (delay).
 * No sockets: these modules only decide and store, so the tests drive
 * them directly, as deliver.c does; delay's one timer runs on a bare
 * event base.
 *
 * Memory is measured from the allocator (mallinfo2(), or the sanitizer
 * allocator's own count under AddressSanitizer), never by timing.
 */
#include <check.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "delay.h"
#include "msg.h"
#include "msglog.h"
#include "qtable.h"
#include "queue.h"
#include "testrand.h"

/* GCC says __SANITIZE_ADDRESS__, clang __has_feature(address_sanitizer). */
#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif

#if defined(HAVE_ASAN)
/* From the sanitizer runtime (GCC ships no header declaring it). */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

/*
 * How far heap_in_use() may stay above its old value once everything is
 * freed: glibc counts small freed blocks parked in its per-thread cache
 * as in use.  The sanitizer allocator counts exactly, so there leaks
 * are caught to the byte.
 */
#if defined(HAVE_ASAN)
#define HEAP_SLACK 0
#else
#define HEAP_SLACK (64 * 1024)
#endif

/* Bytes the process has allocated and not freed. */
static size_t
heap_in_use(void)
{
#if defined(HAVE_ASAN)
	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 mi = mallinfo2();

	/* Large chunks are mmapped and counted apart from the arena. */
	return mi.uordblks + mi.hblkhd;
#endif
}

/*
 * An assertion for loops that run many thousand times: check's own
 * ck_assert reports every passing check to the runner (a write and an
 * allocation each), which would make these tests slow for no benefit.
 */
#define CHECK(cond, ...)                          \
	do {                                      \
		if (!(cond))                      \
			ck_abort_msg(__VA_ARGS__); \
	} while (0)

/* The body of message id: bytes that tell messages apart. */
static void
fill_body(char *b, uint64_t id, size_t len)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (char)(id * 31 + i * 7);
}

static bool
body_ok(const char *b, uint64_t id, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (b[i] != (char)(id * 31 + i * 7))
			return false;
	return true;
}

/* ---- msglog ----------------------------------------------------------- */

static void
log_push(struct msglog *l, uint64_t id, size_t len)
{
	if (msglog_wants_heap(len)) {
		char *b = malloc(len);

		fill_body(b, id, len);
		msglog_push_heap(l, id, b, len);
	} else {
		fill_body(msglog_push(l, id, len), id, len);
	}
}

/* Check the head is message id of len bytes, then remove it. */
static void
log_pop_expect(struct msglog *l, uint64_t id, size_t len)
{
	struct msglog_entry e;

	CHECK(msglog_front(l, &e), "log empty, wanted %" PRIu64, id);
	CHECK(e.id == id && e.len == len, "head is %" PRIu64 " of %zu "
	    "bytes, wanted %" PRIu64 " of %zu", e.id, e.len, id, len);
	CHECK(e.heap == msglog_wants_heap(len), "%" PRIu64 ": heap %d",
	    id, e.heap);
	CHECK(body_ok(e.body, id, len), "body of %" PRIu64 " damaged", id);
	msglog_pop(l, false);
}

START_TEST(test_msglog_starts_empty)
{
	struct msglog l;
	struct msglog_entry e;

	msglog_init(&l);
	ck_assert(!msglog_front(&l, &e));
	ck_assert_uint_eq(l.count, 0);
	ck_assert_uint_eq(l.bytes, 0);
	msglog_pop(&l, false);
	ck_assert_uint_eq(l.count, 0);
	msglog_clear(&l);
}
END_TEST

/* Record i's length: mixed sizes, some at the inline limit, some above. */
static size_t
len_of(uint64_t i)
{
	if (i % 97 == 0)
		return MSGLOG_INLINE_MAX;
	if (i % 211 == 0)
		return MSGLOG_INLINE_MAX + 1 + i % 50;
	return (size_t)((i * 37) % 301);
}

START_TEST(test_msglog_keeps_fifo_order_across_many_chunks)
{
	const uint64_t n = 20000;
	uint64_t pushed = 0, popped = 0, bytes = 0;
	struct msglog l;

	msglog_init(&l);
	/* Push three, pop one: the log grows through many chunks while its
	 * head keeps moving, so emptied chunks are unlinked and reused. */
	while (pushed < n) {
		for (int k = 0; k < 3 && pushed < n; k++) {
			pushed++;
			log_push(&l, pushed, len_of(pushed));
			bytes += len_of(pushed);
		}
		popped++;
		log_pop_expect(&l, popped, len_of(popped));
		bytes -= len_of(popped);
		CHECK(l.count == pushed - popped, "count %zu", l.count);
		CHECK(l.bytes == bytes, "bytes %" PRIu64, l.bytes);
	}
	while (popped < n) {
		popped++;
		log_pop_expect(&l, popped, len_of(popped));
	}
	ck_assert_uint_eq(l.count, 0);
	ck_assert_uint_eq(l.bytes, 0);
	msglog_clear(&l);
}
END_TEST

/*
 * Emptied, the log keeps its one chunk for the next record; a record too
 * big for that chunk must still be the one read back, not the stale
 * record left in the old chunk.
 */
START_TEST(test_emptied_log_reads_back_a_record_bigger_than_its_chunk)
{
	struct msglog l;

	msglog_init(&l);
	log_push(&l, 1, 10);
	log_pop_expect(&l, 1, 10);
	log_push(&l, 2, MSGLOG_INLINE_MAX);
	log_push(&l, 3, 10);
	ck_assert_uint_eq(l.count, 2);
	ck_assert_uint_eq(l.bytes, MSGLOG_INLINE_MAX + 10);
	log_pop_expect(&l, 2, MSGLOG_INLINE_MAX);
	log_pop_expect(&l, 3, 10);
	ck_assert_uint_eq(l.count, 0);
	ck_assert_uint_eq(l.bytes, 0);
	msglog_clear(&l);
}
END_TEST

/*
 * Random pushes and pops against a plain array of what should be in the
 * log.  Many short lives (chunks are small early on) and one long one
 * (they grow to the maximum); the log runs empty often, and sizes
 * straddle the chunk sizes and the inline limit, so every way of adding,
 * rewinding and retiring a chunk occurs.
 */
static void
random_life(uint64_t *state, int ops)
{
	enum { MAXLEN = 3 * MSGLOG_INLINE_MAX };
	static size_t lens[200000];
	uint64_t head = 0, tail = 0, bytes = 0;
	struct msglog l;

	ck_assert_int_le(ops, 200000);
	msglog_init(&l);
	for (int op = 0; op < ops; op++) {
		uint64_t r = testrand_next(state);
		/* Phases of filling and of draining, so depth swings. */
		bool filling = (op / 5000) % 2 == 0;
		bool push = head == tail || r % 8 < (filling ? 5u : 3u);

		if (push) {
			size_t len = (r >> 8) % 4 == 0 ? (r >> 16) % MAXLEN
							: (r >> 16) % 200;
			lens[tail] = len;
			log_push(&l, tail + 1, len);
			bytes += len;
			tail++;
		} else {
			log_pop_expect(&l, head + 1, lens[head]);
			bytes -= lens[head];
			head++;
		}
		CHECK(l.count == tail - head && l.bytes == bytes,
		    "op %d: count %zu bytes %" PRIu64 ", want %" PRIu64
		    " and %" PRIu64, op, l.count, l.bytes, tail - head, bytes);
	}
	while (head < tail) {
		log_pop_expect(&l, head + 1, lens[head]);
		head++;
	}
	msglog_clear(&l);
}

START_TEST(test_msglog_matches_a_plain_fifo_under_random_use)
{
	uint64_t state = 0x9e3779b97f4a7c15ULL;

	for (int life = 0; life < 2000; life++)
		random_life(&state, 1 + (int)(testrand_next(&state) % 50));
	random_life(&state, 100000);
}
END_TEST

START_TEST(test_msglog_body_of_inline_max_stays_inline)
{
	struct msglog l;
	struct msglog_entry e;

	ck_assert(!msglog_wants_heap(0));
	ck_assert(!msglog_wants_heap(MSGLOG_INLINE_MAX));
	ck_assert(msglog_wants_heap(MSGLOG_INLINE_MAX + 1));

	msglog_init(&l);
	log_push(&l, 1, MSGLOG_INLINE_MAX);
	/* Later records must not disturb the inline body. */
	for (uint64_t id = 2; id < 200; id++)
		log_push(&l, id, MSGLOG_INLINE_MAX);
	ck_assert(msglog_front(&l, &e));
	ck_assert(!e.heap);
	ck_assert_uint_eq(e.len, MSGLOG_INLINE_MAX);
	ck_assert(body_ok(e.body, 1, MSGLOG_INLINE_MAX));
	for (uint64_t id = 1; id < 200; id++)
		log_pop_expect(&l, id, MSGLOG_INLINE_MAX);
	msglog_clear(&l);
}
END_TEST

START_TEST(test_msglog_heap_body_is_handed_over_by_reference)
{
	const size_t big = MSGLOG_INLINE_MAX + 1;
	char *block = malloc(big);
	struct msglog l;
	struct msglog_entry e;

	fill_body(block, 7, big);
	msglog_init(&l);
	log_push(&l, 6, 10);
	msglog_push_heap(&l, 7, block, big);
	log_push(&l, 8, 0);
	log_pop_expect(&l, 6, 10);

	ck_assert(msglog_front(&l, &e));
	ck_assert(e.heap);
	ck_assert_ptr_eq(e.body, block);
	ck_assert_uint_eq(e.len, big);
	/* keep_heap: the caller owns the block now (freed below). */
	msglog_pop(&l, true);
	ck_assert(body_ok(block, 7, big));
	free(block);

	log_pop_expect(&l, 8, 0);
	/* Without keep_heap the log frees it (the sanitizer build checks). */
	log_push(&l, 9, 100000);
	msglog_pop(&l, false);
	msglog_clear(&l);
}
END_TEST

START_TEST(test_msglog_counts_records_and_body_bytes)
{
	struct msglog l;

	msglog_init(&l);
	log_push(&l, 1, 10);
	log_push(&l, 2, 5000);
	log_push(&l, 3, 0);
	log_push(&l, 4, MSGLOG_INLINE_MAX);
	ck_assert_uint_eq(l.count, 4);
	ck_assert_uint_eq(l.bytes, 10 + 5000 + 0 + MSGLOG_INLINE_MAX);
	log_pop_expect(&l, 1, 10);
	ck_assert_uint_eq(l.count, 3);
	ck_assert_uint_eq(l.bytes, 5000 + MSGLOG_INLINE_MAX);
	log_pop_expect(&l, 2, 5000);
	ck_assert_uint_eq(l.bytes, MSGLOG_INLINE_MAX);
	log_pop_expect(&l, 3, 0);
	ck_assert_uint_eq(l.count, 1);
	log_pop_expect(&l, 4, MSGLOG_INLINE_MAX);
	ck_assert_uint_eq(l.count, 0);
	ck_assert_uint_eq(l.bytes, 0);
	msglog_clear(&l);
}
END_TEST

START_TEST(test_msglog_clear_frees_everything_and_log_is_reusable)
{
	size_t before = heap_in_use();
	struct msglog l;

	msglog_init(&l);
	for (uint64_t id = 1; id <= 5000; id++)
		log_push(&l, id, len_of(id));
	for (uint64_t id = 1; id <= 100; id++)
		log_pop_expect(&l, id, len_of(id));
	msglog_clear(&l);
	ck_assert_uint_eq(l.count, 0);
	ck_assert_uint_eq(l.bytes, 0);
	ck_assert_uint_le(heap_in_use(), before + HEAP_SLACK);

	log_push(&l, 1, 3);
	log_pop_expect(&l, 1, 3);
	msglog_clear(&l);
}
END_TEST

/* The log's own claim (msglog.h): about 76 MB for a million records. */
START_TEST(test_million_64_byte_records_take_under_80_mb)
{
	const uint64_t n = 1000000;
	size_t before = heap_in_use(), used;
	struct msglog l;

	msglog_init(&l);
	for (uint64_t id = 1; id <= n; id++)
		memset(msglog_push(&l, id, 64), (int)id, 64);
	used = heap_in_use() - before;
	/* At least the bodies, or the measurement is not measuring. */
	ck_assert_uint_ge(used, 64 * n);
	ck_assert_msg(used < 80u * 1000 * 1000,
	    "%zu bytes for a million 64-byte records", used);
	ck_assert_uint_eq(l.count, n);
	ck_assert_uint_eq(l.bytes, 64 * n);
	msglog_clear(&l);
}
END_TEST

/* A log that is drained as fast as it fills reuses its chunks. */
START_TEST(test_msglog_steady_flow_does_not_grow)
{
	struct msglog l;
	size_t base;

	msglog_init(&l);
	for (uint64_t id = 1; id <= 1000; id++)
		log_push(&l, id, 100);
	base = heap_in_use();
	for (uint64_t id = 1001; id <= 200000; id++) {
		log_push(&l, id, 100);
		log_pop_expect(&l, id - 1000, 100);
	}
	ck_assert_uint_eq(l.count, 1000);
	ck_assert_msg(heap_in_use() < base + 1024 * 1024,
	    "grew from %zu to %zu bytes", base, heap_in_use());
	msglog_clear(&l);
}
END_TEST

/* ---- queue ------------------------------------------------------------ */

static struct queue *
new_queue(uint64_t capacity, uint64_t max_bytes, enum proto_policy policy)
{
	struct queue_settings s = {
		.capacity = capacity,
		.max_bytes = max_bytes,
		.policy = policy,
	};

	return queue_new("q", &s);
}

/* Store message id of len bytes, as a PUT that found room does. */
static void
put(struct queue *q, uint64_t id, size_t len)
{
	fill_body(queue_store(q, id, len), id, len);
}

/* Deliver the head as GET does; returns its id. */
static uint64_t
get(struct queue *q)
{
	struct queue_item it;

	ck_assert(queue_front(q, &it));
	ck_assert(body_ok(it.body, it.id, it.len));
	queue_pop(q, &it, 1000);
	if (it.msg != NULL)
		msg_free(it.msg);
	else if (it.heap)
		free(it.body);
	return it.id;
}

/*
 * Deliver the head as RESERVE does; the caller holds the reservation.
 * An inline body is copied before the pop, which may free its chunk.
 */
static struct msg *
reserve(struct queue *q)
{
	struct queue_item it;
	struct msg *m;

	ck_assert(queue_front(q, &it));
	m = it.msg ? it.msg
	    : it.heap ? msg_new_adopt(it.id, it.body, it.len)
		      : msg_new_copy(it.id, it.body, it.len);
	queue_pop(q, &it, 1000);
	queue_reserve(q, m, 1000);
	return m;
}

static void
ack(struct queue *q, struct msg *m)
{
	queue_ack(q, m, 1000);
	msg_free(m);
}

static uint64_t
front_id(const struct queue *q)
{
	struct queue_item it;

	ck_assert(queue_front(q, &it));
	return it.id;
}

/* The emptied-log case through a queue: PUT, GET, then a larger PUT and GET. */
START_TEST(test_queue_emptied_then_refilled_delivers_the_new_message)
{
	struct queue *q = new_queue(10, 1 << 20, PROTO_POLICY_BLOCK);

	put(q, 1, 5);
	ck_assert_uint_eq(get(q), 1);
	put(q, 2, 2000);
	ck_assert_uint_eq(queue_depth(q), 1);
	ck_assert_uint_eq(get(q), 2);
	ck_assert_uint_eq(queue_depth(q), 0);
	ck_assert_uint_eq(queue_bytes(q), 0);
	queue_free(q);
}
END_TEST

START_TEST(test_room_is_bounded_by_count)
{
	struct queue *q = new_queue(3, 1000, PROTO_POLICY_BLOCK);

	for (uint64_t id = 1; id <= 3; id++) {
		ck_assert(queue_has_room(q, 1));
		put(q, id, 1);
	}
	ck_assert(!queue_has_room(q, 0));
	ck_assert_uint_eq(queue_depth(q), 3);
	ck_assert_uint_eq(get(q), 1);
	ck_assert(queue_has_room(q, 1));
	queue_free(q);
}
END_TEST

START_TEST(test_room_is_bounded_by_bytes)
{
	struct queue *q = new_queue(100, 10, PROTO_POLICY_BLOCK);

	ck_assert(queue_has_room(q, 10));
	ck_assert(!queue_has_room(q, 11));
	put(q, 1, 6);
	ck_assert_uint_eq(queue_bytes(q), 6);
	ck_assert(queue_has_room(q, 4));
	ck_assert(!queue_has_room(q, 5));
	put(q, 2, 4);
	ck_assert(!queue_has_room(q, 1));
	/* An empty message still fits when only bytes are at the limit. */
	ck_assert(queue_has_room(q, 0));
	ck_assert_uint_eq(get(q), 1);
	ck_assert(queue_has_room(q, 6));
	ck_assert(!queue_has_room(q, 7));
	queue_free(q);
}
END_TEST

START_TEST(test_capacity_zero_never_has_room)
{
	struct queue *q = new_queue(0, 1 << 20, PROTO_POLICY_BLOCK);

	ck_assert(!queue_has_room(q, 0));
	ck_assert(!queue_has_room(q, 1));
	ck_assert(!queue_can_drop_for(q, 0));
	queue_free(q);
}
END_TEST

START_TEST(test_reserved_messages_count_toward_capacity_and_bytes)
{
	struct queue *q = new_queue(2, 10, PROTO_POLICY_BLOCK);
	struct msg *m;

	put(q, 1, 4);
	put(q, 2, 3);
	m = reserve(q);
	ck_assert_uint_eq(m->id, 1);
	ck_assert_uint_eq(queue_depth(q), 1);
	ck_assert_uint_eq(q->nreserved, 1);
	ck_assert_uint_eq(queue_bytes(q), 7);
	ck_assert(!queue_has_room(q, 0));
	ck_assert_uint_eq(get(q), 2);
	/* One reserved 4-byte message: room for one of at most 6 bytes. */
	ck_assert_uint_eq(queue_depth(q), 0);
	ck_assert(queue_has_room(q, 6));
	ck_assert(!queue_has_room(q, 7));
	ack(q, m);
	ck_assert_uint_eq(q->nreserved, 0);
	ck_assert_uint_eq(queue_bytes(q), 0);
	ck_assert(queue_has_room(q, 10));
	ck_assert_uint_eq(q->stat.acks, 1);
	queue_free(q);
}
END_TEST

START_TEST(test_given_back_message_counts_as_ready)
{
	struct queue *q = new_queue(2, 100, PROTO_POLICY_BLOCK);
	struct msg *m;

	put(q, 1, 5);
	m = reserve(q);
	ck_assert_uint_eq(queue_depth(q), 0);
	queue_give_back(q, m);
	ck_assert_uint_eq(q->nreserved, 0);
	ck_assert_uint_eq(q->reserved_bytes, 0);
	ck_assert_uint_eq(queue_depth(q), 1);
	ck_assert_uint_eq(queue_bytes(q), 5);
	ck_assert_ptr_null(m->owner);
	put(q, 2, 5);
	ck_assert(!queue_has_room(q, 0));
	queue_free(q);
}
END_TEST

START_TEST(test_drop_for_discards_the_oldest)
{
	struct queue *q = new_queue(3, 1000, PROTO_POLICY_DROP_OLDEST);

	for (uint64_t id = 1; id <= 3; id++)
		put(q, id, 1);
	ck_assert(queue_can_drop_for(q, 1));
	ck_assert_uint_eq(queue_drop_for(q, 1), 1);
	ck_assert_uint_eq(q->stat.dropped, 1);
	ck_assert(queue_has_room(q, 1));
	ck_assert_uint_eq(front_id(q), 2);
	ck_assert_uint_eq(queue_depth(q), 2);
	/* With room already there, nothing goes. */
	ck_assert_uint_eq(queue_drop_for(q, 1), 0);
	ck_assert_uint_eq(queue_depth(q), 2);
	queue_free(q);
}
END_TEST

START_TEST(test_drop_for_discards_as_many_as_the_bytes_need)
{
	struct queue *q = new_queue(100, 10, PROTO_POLICY_DROP_OLDEST);

	put(q, 1, 3);
	put(q, 2, 3);
	put(q, 3, 3);
	ck_assert(queue_can_drop_for(q, 7));
	ck_assert_uint_eq(queue_drop_for(q, 7), 2);
	ck_assert_uint_eq(front_id(q), 3);
	ck_assert_uint_eq(queue_bytes(q), 3);
	ck_assert(queue_can_drop_for(q, 10));
	ck_assert_uint_eq(queue_drop_for(q, 10), 1);
	ck_assert_uint_eq(queue_depth(q), 0);
	ck_assert_uint_eq(q->stat.dropped, 3);
	ck_assert(!queue_can_drop_for(q, 11));
	queue_free(q);
}
END_TEST

START_TEST(test_drop_for_discards_given_back_messages_first)
{
	struct queue *q = new_queue(4, 1000, PROTO_POLICY_DROP_OLDEST);
	struct msg *m;

	for (uint64_t id = 1; id <= 3; id++)
		put(q, id, 1);
	m = reserve(q);
	put(q, 4, 1);
	queue_give_back(q, m);
	/* Ready now: 1 (given back, at the head), then 2 3 4. */
	ck_assert_uint_eq(front_id(q), 1);
	ck_assert(!queue_has_room(q, 1));
	ck_assert_uint_eq(queue_drop_for(q, 1), 1);
	ck_assert_uint_eq(q->nreturned, 0);
	ck_assert_uint_eq(queue_bytes(q), 3);
	ck_assert_uint_eq(front_id(q), 2);
	queue_free(q);
}
END_TEST

START_TEST(test_drop_for_never_discards_reserved_messages)
{
	struct queue *q = new_queue(3, 1000, PROTO_POLICY_DROP_OLDEST);
	struct msg *m1, *m2;

	for (uint64_t id = 1; id <= 3; id++)
		put(q, id, 1);
	m1 = reserve(q);
	m2 = reserve(q);
	ck_assert(queue_can_drop_for(q, 1));
	ck_assert_uint_eq(queue_drop_for(q, 1), 1);
	ck_assert_uint_eq(queue_depth(q), 0);
	ck_assert_uint_eq(q->nreserved, 2);
	ck_assert_uint_eq(q->reserved_bytes, 2);
	ack(q, m1);
	ack(q, m2);
	queue_free(q);
}
END_TEST

START_TEST(test_can_drop_for_refuses_when_reserved_alone_fill_the_bound)
{
	struct queue *q = new_queue(2, 10, PROTO_POLICY_DROP_OLDEST);
	struct queue *qb = new_queue(10, 10, PROTO_POLICY_DROP_OLDEST);
	struct msg *m1, *m2, *mb;

	/* By count: both slots reserved. */
	put(q, 1, 1);
	put(q, 2, 1);
	m1 = reserve(q);
	m2 = reserve(q);
	ck_assert(!queue_can_drop_for(q, 0));

	/* By bytes: 5 reserved, 3 ready; 6 more fits only by dropping the
	 * reserved one too, so nothing may be dropped. */
	put(qb, 1, 5);
	mb = reserve(qb);
	put(qb, 2, 3);
	ck_assert(!queue_can_drop_for(qb, 6));
	ck_assert_uint_eq(queue_depth(qb), 1);
	ck_assert(queue_can_drop_for(qb, 5));

	ack(q, m1);
	ack(q, m2);
	ack(qb, mb);
	queue_free(q);
	queue_free(qb);
}
END_TEST

START_TEST(test_give_back_puts_message_before_all_ready_ones)
{
	struct queue *q = new_queue(10, 1000, PROTO_POLICY_BLOCK);
	struct msg *m1, *m2;

	for (uint64_t id = 1; id <= 4; id++)
		put(q, id, id);
	m1 = reserve(q);
	m2 = reserve(q);
	/* NACK 2, then NACK 1: each goes to the head at once. */
	queue_give_back(q, m2);
	ck_assert_uint_eq(front_id(q), 2);
	queue_give_back(q, m1);
	ck_assert_uint_eq(front_id(q), 1);
	ck_assert_uint_eq(queue_depth(q), 4);
	ck_assert_uint_eq(queue_bytes(q), 1 + 2 + 3 + 4);
	for (uint64_t id = 1; id <= 4; id++)
		ck_assert_uint_eq(get(q), id);
	ck_assert_uint_eq(q->stat.redelivered, 2);
	ck_assert_uint_eq(q->stat.gets, 6);
	queue_free(q);
}
END_TEST

/* A closed connection gives back its reservations newest first. */
START_TEST(test_giving_back_newest_first_restores_original_order)
{
	struct queue *q = new_queue(10, 1000, PROTO_POLICY_BLOCK);
	struct msg *m[3];

	for (uint64_t id = 1; id <= 5; id++)
		put(q, id, 8);
	for (int i = 0; i < 3; i++)
		m[i] = reserve(q);
	ck_assert_uint_eq(q->nreserved, 3);
	ck_assert_uint_eq(queue_bytes(q), 40);
	for (int i = 2; i >= 0; i--)
		queue_give_back(q, m[i]);
	ck_assert_uint_eq(q->nreserved, 0);
	ck_assert_uint_eq(queue_bytes(q), 40);
	for (uint64_t id = 1; id <= 5; id++)
		ck_assert_uint_eq(get(q), id);
	ck_assert_uint_eq(queue_bytes(q), 0);
	queue_free(q);
}
END_TEST

START_TEST(test_reserving_a_given_back_message_keeps_its_id_and_body)
{
	struct queue *q = new_queue(10, 1000, PROTO_POLICY_BLOCK);
	struct msg *m;

	put(q, 1, 20);
	m = reserve(q);
	queue_give_back(q, m);
	m = reserve(q);
	ck_assert_uint_eq(m->id, 1);
	ck_assert_uint_eq(m->len, 20);
	ck_assert(body_ok(m->body, 1, 20));
	ck_assert_uint_eq(q->nreturned, 0);
	ck_assert_uint_eq(q->nreserved, 1);
	ck_assert_uint_eq(queue_bytes(q), 20);
	ack(q, m);
	queue_free(q);
}
END_TEST

START_TEST(test_purge_discards_ready_and_leaves_reserved)
{
	struct queue *q = new_queue(10, 1000, PROTO_POLICY_BLOCK);
	struct msg *kept, *back;

	for (uint64_t id = 1; id <= 6; id++)
		put(q, id, 10);
	kept = reserve(q);
	back = reserve(q);
	queue_give_back(q, back);
	/* Ready: 2 (given back), 3 4 5 6; reserved: 1. */
	ck_assert_uint_eq(queue_purge(q), 5);
	ck_assert_uint_eq(queue_depth(q), 0);
	ck_assert_uint_eq(q->nreturned, 0);
	ck_assert_uint_eq(q->nreserved, 1);
	ck_assert_uint_eq(queue_bytes(q), 10);
	ck_assert(!queue_front(q, &(struct queue_item){ 0 }));
	ck_assert_uint_eq(queue_purge(q), 0);
	ack(q, kept);
	queue_free(q);
}
END_TEST

START_TEST(test_large_bodies_are_stored_on_the_heap)
{
	const size_t big = MSGLOG_INLINE_MAX + 100;
	struct queue *q = new_queue(10, 1 << 20, PROTO_POLICY_BLOCK);
	struct queue_item it;
	struct msg *m;

	put(q, 1, big);
	put(q, 2, 1);
	put(q, 3, big);
	ck_assert(queue_front(q, &it));
	ck_assert(it.heap);
	ck_assert_uint_eq(get(q), 1);
	ck_assert_uint_eq(get(q), 2);
	/* A reservation adopts the block; NACK and GET hand it on. */
	m = reserve(q);
	ck_assert(body_ok(m->body, 3, big));
	queue_give_back(q, m);
	ck_assert_uint_eq(get(q), 3);
	put(q, 4, big);
	queue_free(q); /* frees the ready heap body */
}
END_TEST

START_TEST(test_free_releases_every_kind_of_message)
{
	size_t before = heap_in_use();
	struct queue *q = new_queue(100, 1 << 20, PROTO_POLICY_BLOCK);

	for (uint64_t id = 1; id <= 50; id++)
		put(q, id, len_of(id));
	(void)reserve(q);
	queue_give_back(q, reserve(q));
	(void)reserve(q);
	queue_free(q);
	ck_assert_uint_le(heap_in_use(), before + HEAP_SLACK);
}
END_TEST

START_TEST(test_delayed_messages_count_toward_bounds_but_are_not_ready)
{
	struct queue *q = new_queue(2, 10, PROTO_POLICY_DROP_OLDEST);
	struct msg *m;

	put(q, 1, 4);
	put(q, 2, 3);
	m = reserve(q);
	queue_delay(q, m);
	ck_assert_uint_eq(q->ndelayed, 1);
	ck_assert_uint_eq(q->nreserved, 0);
	ck_assert_uint_eq(queue_depth(q), 1);
	ck_assert_uint_eq(queue_held(q), 2);
	ck_assert_uint_eq(queue_bytes(q), 7);
	ck_assert(!queue_has_room(q, 1));
	/* Dropping the ready one makes room for 6 bytes, not for 7. */
	ck_assert(queue_can_drop_for(q, 6));
	ck_assert(!queue_can_drop_for(q, 7));
	/* A purge leaves it; once ready it is at the head. */
	ck_assert_uint_eq(queue_purge(q), 1);
	ck_assert_uint_eq(queue_held(q), 1);
	put(q, 3, 1);
	queue_undelay(q, m);
	ck_assert_uint_eq(q->ndelayed, 0);
	ck_assert_uint_eq(front_id(q), 1);
	ck_assert_uint_eq(get(q), 1);
	ck_assert_uint_eq(get(q), 3);
	queue_free(q);
}
END_TEST

START_TEST(test_closed_queue_is_drained_only_when_nothing_is_held)
{
	struct queue *q = new_queue(10, 1000, PROTO_POLICY_BLOCK);
	struct msg *m;

	ck_assert(!queue_drained(q));
	put(q, 1, 1);
	q->closed = true;
	ck_assert(!queue_drained(q));
	m = reserve(q);
	ck_assert(!queue_drained(q));
	queue_delay(q, m);
	ck_assert(!queue_drained(q));
	queue_undelay(q, m);
	ck_assert_uint_eq(get(q), 1);
	ck_assert(queue_drained(q));
	queue_free(q);
}
END_TEST

START_TEST(test_stored_msg_goes_to_the_tail_keeping_id_and_body)
{
	struct queue *q = new_queue(10, 1 << 20, PROTO_POLICY_BLOCK);
	struct queue *dl = new_queue(10, 1 << 20, PROTO_POLICY_BLOCK);
	size_t big = MSGLOG_INLINE_MAX + 1;

	put(q, 7, 5);
	put(q, 8, big);
	put(dl, 1, 3);
	for (int i = 0; i < 2; i++) {
		struct msg *m = reserve(q);
		/* Dead-lettered: it leaves q, freeing its room. */
		queue_unreserve(q, m, 1000);
		/* The second, a heap body, moves into the log uncopied. */
		queue_store_msg(dl, m);
	}
	ck_assert_uint_eq(queue_held(q), 0);
	ck_assert_uint_eq(queue_bytes(q), 0);
	ck_assert_uint_eq(queue_depth(dl), 3);
	ck_assert_uint_eq(queue_bytes(dl), 3 + 5 + big);
	ck_assert_uint_eq(get(dl), 1);
	ck_assert_uint_eq(get(dl), 7);
	ck_assert_uint_eq(get(dl), 8);
	queue_free(q);
	queue_free(dl);
}
END_TEST

/* What the delay heap's callback saw. */
struct delay_seen {
	struct delay *d;
	uint64_t last_ready_us;
	uint64_t last_seq;
	size_t n;
	bool early;	/* a message came before its time */
	bool disorder;	/* ... or before one due earlier */
};

static void
delay_seen_cb(struct msg *m, void *arg)
{
	struct delay_seen *x = arg;

	if (clock_now_us() < m->ready_us)
		x->early = true;
	if (x->n > 0 && (m->ready_us < x->last_ready_us ||
			    (m->ready_us == x->last_ready_us &&
				m->delay_seq < x->last_seq)))
		x->disorder = true;
	x->last_ready_us = m->ready_us;
	x->last_seq = m->delay_seq;
	x->n++;
	msg_free(m);
}

START_TEST(test_delay_heap_releases_every_message_in_time_order)
{
	enum { N = 100000, REMOVED = 5000 };
	struct event_base *base = event_base_new();
	struct delay_seen x = { 0 };
	struct msg **m = calloc(N, sizeof *m);
	uint64_t seed = 12345;
	size_t removed = 0;

	x.d = delay_new(base, delay_seen_cb, &x);
	for (size_t i = 0; i < N; i++) {
		m[i] = msg_new(i + 1, 0);
		/* Many ties: 200 distinct delays, 0 to 199 ms. */
		delay_add(x.d, m[i], testrand_next(&seed) % 200);
	}
	ck_assert_uint_eq(delay_count(x.d), N);
	/* Take some out from anywhere in the heap (a deleted queue). */
	for (size_t i = 0; i < REMOVED; i++) {
		size_t k = (size_t)(testrand_next(&seed) % N);
		if (m[k] == NULL)
			continue;
		delay_remove(x.d, m[k]);
		msg_free(m[k]);
		m[k] = NULL;
		removed++;
	}
	/* The loop runs while the one timer is pending: until all are out. */
	event_base_dispatch(base);
	ck_assert_uint_eq(x.n + removed, N);
	ck_assert_uint_eq(delay_count(x.d), 0);
	ck_assert(!x.early);
	ck_assert(!x.disorder);
	delay_free(x.d);
	event_base_free(base);
	free(m);
}
END_TEST

START_TEST(test_waiters_line_up_in_arrival_order)
{
	struct queue *q = new_queue(1, 100, PROTO_POLICY_BLOCK);
	struct waiter w[3];

	memset(w, 0, sizeof w);
	/* No connections here: the line is all that is checked. */
	for (int i = 0; i < 3; i++)
		queue_wait(q, &w[i], true);
	ck_assert_uint_eq(q->nproducers, 3);
	ck_assert_uint_eq(q->nconsumers, 0);
	ck_assert_ptr_eq(TAILQ_FIRST(&q->producers), &w[0]);
	queue_unwait(&w[1], true);
	ck_assert_ptr_null(w[1].queue);
	queue_unwait(&w[1], true); /* no longer waiting: harmless */
	ck_assert_uint_eq(q->nproducers, 2);
	ck_assert_ptr_eq(TAILQ_NEXT(&w[0], link), &w[2]);
	queue_unwait(&w[0], true);
	queue_unwait(&w[2], true);
	ck_assert_uint_eq(q->nproducers, 0);
	ck_assert(TAILQ_EMPTY(&q->producers));

	queue_wait(q, &w[0], false);
	ck_assert_uint_eq(q->nconsumers, 1);
	ck_assert_ptr_eq(w[0].queue, q);
	queue_unwait(&w[0], false);
	ck_assert_uint_eq(q->nconsumers, 0);
	queue_free(q);
}
END_TEST

START_TEST(test_retry_after_follows_the_drain_rate)
{
	struct queue *q = new_queue(1000, 1 << 20, PROTO_POLICY_REJECT);
	struct waiter w[2];
	struct queue_item it;
	uint64_t alone;

	/* Before anything has drained there is still an answer. */
	ck_assert_uint_gt(queue_retry_after_ms(q), 0);
	for (uint64_t id = 1; id <= 20; id++)
		put(q, id, 1);
	for (uint64_t t = 1; t <= 20; t++) {
		ck_assert(queue_front(q, &it));
		queue_pop(q, &it, 5000 + t * 10);
	}
	alone = queue_retry_after_ms(q);
	ck_assert_uint_ge(alone, 10);
	ck_assert_uint_le(alone, 20);
	/* Room for a new producer comes after room for those waiting. */
	memset(w, 0, sizeof w);
	queue_wait(q, &w[0], true);
	queue_wait(q, &w[1], true);
	ck_assert_uint_eq(queue_retry_after_ms(q), 3 * alone);
	queue_unwait(&w[0], true);
	queue_unwait(&w[1], true);
	queue_free(q);
}
END_TEST

/*
 * The queue against a model: ready messages as an array in delivery
 * order (given-back ones inserted at the front), reservations as a
 * list.  Random PUTs (with drop-oldest when full), GETs, RESERVEs,
 * ACKs, NACKs and PURGEs; after each, what the queue says about room,
 * depth, reservations and bytes must match the model.
 */
enum { MODEL_MAX = 64 };

struct model_msg {
	uint64_t id;
	size_t len;
	struct msg *m; /* reservations only */
};

struct model {
	struct model_msg ready[MODEL_MAX];
	int nready;
	struct model_msg reserved[MODEL_MAX];
	int nreserved;
	uint64_t capacity, max_bytes;
};

static uint64_t
model_bytes(const struct model *mo, bool ready_too)
{
	uint64_t b = 0;

	for (int i = 0; i < mo->nreserved; i++)
		b += mo->reserved[i].len;
	for (int i = 0; ready_too && i < mo->nready; i++)
		b += mo->ready[i].len;
	return b;
}

static bool
model_has_room(const struct model *mo, size_t len)
{
	return (uint64_t)(mo->nready + mo->nreserved) + 1 <= mo->capacity &&
	    model_bytes(mo, true) + len <= mo->max_bytes;
}

/* Dropping every ready message would make room (reservations stay). */
static bool
model_can_drop_for(const struct model *mo, size_t len)
{
	return (uint64_t)mo->nreserved + 1 <= mo->capacity &&
	    model_bytes(mo, false) + len <= mo->max_bytes;
}

static void
model_check(const struct queue *q, const struct model *mo, int op)
{
	struct queue_item it;

	CHECK(queue_depth(q) == (uint64_t)mo->nready &&
		q->nreserved == (size_t)mo->nreserved &&
		queue_bytes(q) == model_bytes(mo, true),
	    "op %d: depth %" PRIu64 " reserved %zu bytes %" PRIu64, op,
	    queue_depth(q), q->nreserved, queue_bytes(q));
	CHECK(queue_front(q, &it) == (mo->nready > 0), "op %d: front", op);
	if (mo->nready > 0)
		CHECK(it.id == mo->ready[0].id && it.len == mo->ready[0].len,
		    "op %d: head %" PRIu64 ", want %" PRIu64, op, it.id,
		    mo->ready[0].id);
}

/* One random step, checked against the model as it goes. */
static void
model_step(struct queue *q, struct model *mo, uint64_t r, uint64_t *ids)
{
	size_t len = (r >> 8) % 3 == 0 ? (r >> 12) % 6000 : (r >> 12) % 300;
	int k;

	switch (r % 10) {
	case 0: case 1: case 2: case 3: /* PUT, dropping the oldest if full */
		CHECK(queue_has_room(q, len) == model_has_room(mo, len),
		    "has_room(%zu)", len);
		if (!model_has_room(mo, len)) {
			bool can = model_can_drop_for(mo, len);
			uint64_t n = 0;

			CHECK(queue_can_drop_for(q, len) == can,
			    "can_drop_for(%zu)", len);
			if (!can)
				return;
			while (!model_has_room(mo, len)) {
				memmove(mo->ready, mo->ready + 1,
				    (size_t)--mo->nready * sizeof *mo->ready);
				n++;
			}
			CHECK(queue_drop_for(q, len) == n, "dropped");
		}
		++*ids;
		put(q, *ids, len);
		mo->ready[mo->nready++] = (struct model_msg){ *ids, len, NULL };
		return;
	case 4: /* GET */
		if (mo->nready == 0)
			return;
		CHECK(get(q) == mo->ready[0].id, "get");
		memmove(mo->ready, mo->ready + 1,
		    (size_t)--mo->nready * sizeof *mo->ready);
		return;
	case 5: case 6: /* RESERVE */
		if (mo->nready == 0)
			return;
		mo->reserved[mo->nreserved] = mo->ready[0];
		mo->reserved[mo->nreserved++].m = reserve(q);
		memmove(mo->ready, mo->ready + 1,
		    (size_t)--mo->nready * sizeof *mo->ready);
		return;
	case 7: /* ACK */
	case 8: /* NACK */
		if (mo->nreserved == 0)
			return;
		k = (int)((r >> 20) % (uint64_t)mo->nreserved);
		if (r % 10 == 7) {
			ack(q, mo->reserved[k].m);
		} else {
			queue_give_back(q, mo->reserved[k].m);
			memmove(mo->ready + 1, mo->ready,
			    (size_t)mo->nready++ * sizeof *mo->ready);
			mo->ready[0] = mo->reserved[k];
		}
		mo->reserved[k] = mo->reserved[--mo->nreserved];
		return;
	default: /* PURGE, now and then */
		if ((r >> 20) % 8 != 0)
			return;
		CHECK(queue_purge(q) == (uint64_t)mo->nready, "purge");
		mo->nready = 0;
		return;
	}
}

START_TEST(test_queue_matches_a_model_under_random_use)
{
	uint64_t state = 0x2545f4914f6cdd1dULL, ids = 0;
	struct model mo = { .capacity = 8, .max_bytes = 12000 };
	struct queue *q = new_queue(mo.capacity, mo.max_bytes,
	    PROTO_POLICY_DROP_OLDEST);

	for (int op = 0; op < 100000; op++) {
		model_step(q, &mo, testrand_next(&state), &ids);
		model_check(q, &mo, op);
	}
	ck_assert_uint_gt(ids, 1000);
	queue_free(q); /* frees the reservations still held */
}
END_TEST

/* ---- qtable ----------------------------------------------------------- */

#define NQUEUES 5000

static const struct queue_settings defaults = {
	.capacity = 1024,
	.max_bytes = 1 << 24,
	.policy = PROTO_POLICY_BLOCK,
};

static void
name_of(char *buf, size_t size, int i)
{
	snprintf(buf, size, "queue.%d", i);
}

static void
mark_seen(struct queue *q, void *arg)
{
	unsigned char *seen = arg;
	int i = atoi(q->name + strlen("queue."));

	CHECK(i >= 0 && i < NQUEUES, "stray queue %s", q->name);
	seen[i]++;
}

START_TEST(test_qtable_finds_thousands_of_queues_across_growth)
{
	static unsigned char seen[NQUEUES];
	struct qtable t;
	char name[32];

	qtable_init(&t);
	for (int i = 0; i < NQUEUES; i++) {
		name_of(name, sizeof name, i);
		CHECK(qtable_find(&t, name) == NULL, "%s before insert", name);
		qtable_insert(&t, queue_new(name, &defaults));
		CHECK(qtable_find(&t, name) != NULL, "%s lost", name);
	}
	ck_assert_uint_eq(t.count, NQUEUES);
	/* It grew: at most one queue per bucket on average (qtable.h). */
	ck_assert_uint_ge(t.nbuckets, t.count);
	ck_assert_uint_eq(t.nbuckets & (t.nbuckets - 1), 0);
	for (int i = 0; i < NQUEUES; i++) {
		struct queue *q;

		name_of(name, sizeof name, i);
		q = qtable_find(&t, name);
		CHECK(q != NULL && strcmp(q->name, name) == 0, "%s lost", name);
	}
	ck_assert_ptr_null(qtable_find(&t, "queue.5000"));
	ck_assert_ptr_null(qtable_find(&t, "queue."));
	ck_assert_ptr_null(qtable_find(&t, "Queue.1"));

	memset(seen, 0, sizeof seen);
	qtable_foreach(&t, mark_seen, seen);
	for (int i = 0; i < NQUEUES; i++)
		CHECK(seen[i] == 1, "queue.%d visited %d times", i, seen[i]);
	qtable_clear(&t);
}
END_TEST

START_TEST(test_qtable_remove_takes_out_only_that_queue)
{
	struct qtable t;
	char name[32];

	qtable_init(&t);
	for (int i = 0; i < NQUEUES; i++) {
		name_of(name, sizeof name, i);
		qtable_insert(&t, queue_new(name, &defaults));
	}
	for (int i = 0; i < NQUEUES; i += 2) {
		struct queue *q;

		name_of(name, sizeof name, i);
		q = qtable_find(&t, name);
		qtable_remove(&t, q);
		queue_free(q);
	}
	ck_assert_uint_eq(t.count, NQUEUES / 2);
	for (int i = 0; i < NQUEUES; i++) {
		name_of(name, sizeof name, i);
		CHECK((qtable_find(&t, name) == NULL) == (i % 2 == 0),
		    "%s found wrongly", name);
	}
	/* A removed name can come back. */
	qtable_insert(&t, queue_new("queue.0", &defaults));
	ck_assert_ptr_nonnull(qtable_find(&t, "queue.0"));
	ck_assert_uint_eq(t.count, NQUEUES / 2 + 1);
	qtable_clear(&t);
}
END_TEST

START_TEST(test_qtable_names_are_case_sensitive)
{
	struct qtable t;
	struct queue *lower = queue_new("jobs", &defaults);
	struct queue *upper = queue_new("Jobs", &defaults);
	struct queue *stranger = queue_new("other", &defaults);

	qtable_init(&t);
	qtable_insert(&t, lower);
	qtable_insert(&t, upper);
	ck_assert_ptr_eq(qtable_find(&t, "jobs"), lower);
	ck_assert_ptr_eq(qtable_find(&t, "Jobs"), upper);
	ck_assert_ptr_null(qtable_find(&t, "JOBS"));
	/* Removing a queue that is not in the table changes nothing. */
	qtable_remove(&t, stranger);
	ck_assert_uint_eq(t.count, 2);
	queue_free(stranger);
	qtable_clear(&t);
}
END_TEST

/* ---- qage -------------------------------------------------------------- */

/*
 * A queue fed one message every 100 ms for 2000 s while a consumer
 * takes them a random while behind: at every step the sampled store
 * time of the oldest message is never after its true time, and is
 * before it by at most a second, or an eighth of the longest span of
 * messages held so far, whichever is more.
 */
START_TEST(test_qage_places_the_oldest_message_within_its_bound)
{
	struct qage a = { .n = 0 };
	uint64_t oldest = 1, id, rng = 7, widest = 0;

	for (id = 1; id <= 20000; id++) {
		uint64_t now = id * 100;
		/* The consumer keeps up, or falls behind, at random. */
		if (testrand_next(&rng) % 4 == 0)
			oldest += testrand_next(&rng) % 3;
		if (oldest > id)
			oldest = id;
		qage_note(&a, id, oldest, now);
		uint64_t at = qage_stored_ms(&a, oldest, now);
		uint64_t truth = oldest * 100;
		if (now - truth > widest)
			widest = now - truth;
		uint64_t bound = widest / 8 > 1000 ? widest / 8 : 1000;
		ck_assert_uint_le(at, truth);
		ck_assert_msg(truth - at <= bound,
		    "id %" PRIu64 ": off by %" PRIu64 " ms, bound %" PRIu64,
		    oldest, truth - at, bound);
	}
	/* Emptied and refilled: the gap is back to a second. */
	qage_note(&a, id, id, id * 100);
	ck_assert_uint_eq(qage_stored_ms(&a, id, id * 100 + 5000), id * 100);
	ck_assert_uint_eq(a.gap_ms, QAGE_GAP_MIN_MS);
}
END_TEST

/* ---- suite ------------------------------------------------------------ */

static Suite *
queue_suite(void)
{
	Suite *s = suite_create("queue");
	TCase *tc;

	tc = tcase_create("msglog");
	tcase_add_test(tc, test_msglog_starts_empty);
	tcase_add_test(tc, test_msglog_keeps_fifo_order_across_many_chunks);
	tcase_add_test(tc,
	    test_emptied_log_reads_back_a_record_bigger_than_its_chunk);
	tcase_add_test(tc, test_msglog_matches_a_plain_fifo_under_random_use);
	tcase_add_test(tc, test_msglog_body_of_inline_max_stays_inline);
	tcase_add_test(tc, test_msglog_heap_body_is_handed_over_by_reference);
	tcase_add_test(tc, test_msglog_counts_records_and_body_bytes);
	tcase_add_test(tc,
	    test_msglog_clear_frees_everything_and_log_is_reusable);
	tcase_add_test(tc, test_million_64_byte_records_take_under_80_mb);
	tcase_add_test(tc, test_msglog_steady_flow_does_not_grow);
	tcase_add_test(tc,
	    test_qage_places_the_oldest_message_within_its_bound);
	tcase_set_timeout(tc, 20);
	suite_add_tcase(s, tc);

	tc = tcase_create("queue");
	tcase_add_test(tc, test_room_is_bounded_by_count);
	tcase_add_test(tc,
	    test_queue_emptied_then_refilled_delivers_the_new_message);
	tcase_add_test(tc, test_room_is_bounded_by_bytes);
	tcase_add_test(tc, test_capacity_zero_never_has_room);
	tcase_add_test(tc,
	    test_reserved_messages_count_toward_capacity_and_bytes);
	tcase_add_test(tc, test_given_back_message_counts_as_ready);
	tcase_add_test(tc, test_drop_for_discards_the_oldest);
	tcase_add_test(tc, test_drop_for_discards_as_many_as_the_bytes_need);
	tcase_add_test(tc, test_drop_for_discards_given_back_messages_first);
	tcase_add_test(tc, test_drop_for_never_discards_reserved_messages);
	tcase_add_test(tc,
	    test_can_drop_for_refuses_when_reserved_alone_fill_the_bound);
	tcase_add_test(tc, test_give_back_puts_message_before_all_ready_ones);
	tcase_add_test(tc,
	    test_giving_back_newest_first_restores_original_order);
	tcase_add_test(tc,
	    test_reserving_a_given_back_message_keeps_its_id_and_body);
	tcase_add_test(tc, test_purge_discards_ready_and_leaves_reserved);
	tcase_add_test(tc, test_large_bodies_are_stored_on_the_heap);
	tcase_add_test(tc, test_free_releases_every_kind_of_message);
	tcase_add_test(tc, test_waiters_line_up_in_arrival_order);
	tcase_add_test(tc, test_retry_after_follows_the_drain_rate);
	tcase_add_test(tc, test_queue_matches_a_model_under_random_use);
	tcase_add_test(tc,
	    test_delayed_messages_count_toward_bounds_but_are_not_ready);
	tcase_add_test(tc,
	    test_closed_queue_is_drained_only_when_nothing_is_held);
	tcase_add_test(tc,
	    test_stored_msg_goes_to_the_tail_keeping_id_and_body);
	suite_add_tcase(s, tc);

	tc = tcase_create("delay");
	tcase_add_test(tc,
	    test_delay_heap_releases_every_message_in_time_order);
	tcase_set_timeout(tc, 20);
	suite_add_tcase(s, tc);

	tc = tcase_create("qtable");
	tcase_add_test(tc,
	    test_qtable_finds_thousands_of_queues_across_growth);
	tcase_add_test(tc, test_qtable_remove_takes_out_only_that_queue);
	tcase_add_test(tc, test_qtable_names_are_case_sensitive);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(queue_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
