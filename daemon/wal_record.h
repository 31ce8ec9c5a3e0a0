/*
 * wal_record.h - the records of the durable log, as bytes.
 *
 * A record is a frame and a payload:
 *
 *   u32 crc    CRC-32C of the len field and the payload
 *   u32 len    payload bytes (1 .. WAL_REC_PAYLOAD_MAX)
 *   payload    u8 kind, then the kind's fields
 *
 * little-endian, packed back to back.  Numbers in a payload are
 * unsigned LEB128 varints (an id costs 1 to 9 bytes, not 8), strings
 * are a varint length then the bytes, a PUT's body is the rest of the
 * payload.  An all-zero frame (a preallocated segment's unwritten
 * tail) can never be a record: len 0 is invalid.
 *
 * Records name a queue by number (assigned by the daemon and carried
 * by the queue's WAL_QUEUE_SET record), so a PUT costs a few bytes of
 * header, not a name.  Each record is a deterministic command on the
 * queue state ("queue 3 has these settings", "message 17 is in queue 3
 * with this body", "17 and 18 left queue 3"), so the same bytes can be
 * a replicated log's entries: applying them in order on any machine
 * gives the same queues.
 *
 *   wal_rec_size()    bytes a record takes, frame included
 *   wal_rec_encode()  write it (the caller has the room)
 *   wal_rec_decode()  check and read one record from a buffer
 *   wal_rm_next()     walk the ids of a WAL_REMOVE record
 */
#ifndef SLUICE_WAL_RECORD_H
#define SLUICE_WAL_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Frame: crc and len. */
#define WAL_REC_HEADER 8
/*
 * The longest payload: a 1 GiB body (config.c's cap on max_message)
 * and its fields, with room to spare; anything longer is corruption.
 */
#define WAL_REC_PAYLOAD_MAX ((1U << 30) + 4096)
/* Ids in one WAL_REMOVE record; a longer PURGE takes several records. */
#define WAL_RM_MAX 65536

enum wal_kind {
	WAL_QUEUE_SET = 1,    /* a queue's settings (create, change, close) */
	WAL_QUEUE_DELETE = 2, /* a queue and its messages are gone */
	WAL_QUEUE_CLOSE = 3,  /* a queue takes no more messages */
	WAL_PUT = 4,          /* a message is in a queue (upsert by id) */
	WAL_REMOVE = 5,       /* messages left a queue */
	WAL_IDS = 6,          /* ids below next_id may have been given */
};

/* Why messages left a queue (for reading a log; all apply alike). */
enum wal_rm_reason {
	WAL_RM_GET = 1,
	WAL_RM_ACK = 2,
	WAL_RM_DROP = 3, /* drop-oldest */
	WAL_RM_PURGE = 4,
	WAL_RM_DEAD = 5, /* past max_deliveries: discarded or moved */
};

/* WAL_QUEUE_SET flags. */
#define WAL_QF_CLOSED 0x01
#define WAL_QF_MEMORY 0x02 /* storage=memory (only replicated logs) */

struct wal_rec_queue {
	const char *name; /* not NUL-terminated */
	size_t name_len;
	uint64_t capacity;
	uint64_t max_bytes;
	uint64_t lease_ms;
	uint64_t max_deliveries;
	uint32_t policy;         /* enum proto_policy */
	uint32_t flags;          /* WAL_QF_* */
	const char *dead_letter; /* not NUL-terminated; length 0: none */
	size_t dead_letter_len;
};

struct wal_rec_put {
	uint64_t id;
	uint64_t deliveries;    /* times delivered so far (dead letters) */
	uint64_t not_before_ms; /* wall clock; 0: ready now (delayed NACK) */
	const char *body;
	size_t len;
};

struct wal_rec_rm {
	uint32_t reason; /* enum wal_rm_reason */
	size_t count;
	const uint64_t *idv; /* encoding: the ids */
	const uint8_t *raw;  /* decoding: count zigzag delta varints */
	size_t raw_len;
};

struct wal_rec {
	enum wal_kind kind;
	uint32_t qno; /* the queue's number; unused by WAL_IDS */
	union {
		struct wal_rec_queue queue;
		struct wal_rec_put put;
		struct wal_rec_rm rm;
		uint64_t next_id; /* WAL_IDS */
	} u;
};

/* Reading a WAL_REMOVE record's ids. */
struct wal_rm_iter {
	const uint8_t *p, *end;
	uint64_t prev;
	size_t left;
};

enum wal_decode {
	WAL_DEC_OK,    /* a record; *used says its size */
	WAL_DEC_ZERO,  /* a zero frame: the end of the written bytes */
	WAL_DEC_SHORT, /* the buffer ends inside the record */
	WAL_DEC_BAD,   /* checksum mismatch or malformed payload */
};

/* Bytes r takes in the log, frame included. */
size_t wal_rec_size(const struct wal_rec *r);

/* Write r to out, which has wal_rec_size(r) bytes; returns that size. */
size_t wal_rec_encode(const struct wal_rec *r, uint8_t *out);

/*
 * Check and read the record at buf[0..len).  On WAL_DEC_OK, r points
 * into buf and *used is the record's size; on WAL_DEC_SHORT, *used is
 * the size the record claims when its frame is readable (else 0).
 */
enum wal_decode wal_rec_decode(const uint8_t *buf, size_t len,
    struct wal_rec *r, size_t *used, const char **why);

void wal_rm_iter_init(struct wal_rm_iter *it, const struct wal_rec *r);

/* The next id of a WAL_REMOVE record; false after the last. */
bool wal_rm_next(struct wal_rm_iter *it, uint64_t *id);

/* The kind's name, for logs and tools. */
const char *wal_kind_name(enum wal_kind k);

#endif
