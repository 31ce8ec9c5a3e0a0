/*
 * wal_record.c - encoding and checking log records (see wal_record.h).
 *
 * Decoding trusts nothing: every varint is bounded, every length is
 * checked against what is left, and a payload must be used up exactly,
 * so a record that passes its checksum but was written by a different
 * version of this file is reported, not misread.
 */
#include <string.h>

#include "crc32c.h"
#include "wal_record.h"

/* A varint of a uint64_t takes at most 10 bytes. */
#define VARINT_MAX 10

static size_t
varint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *
varint_put(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* Read a varint from [*pp, end); false when truncated or too long. */
static bool
varint_get(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
	const uint8_t *p = *pp;
	uint64_t r = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (p == end)
			return false;
		uint8_t b = *p++;
		if (shift == 63 && b > 1)
			return false;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*pp = p;
			*v = r;
			return true;
		}
	}
	return false;
}

static uint64_t
zigzag(uint64_t cur, uint64_t prev)
{
	int64_t d = (int64_t)(cur - prev);

	return ((uint64_t)d << 1) ^ (uint64_t)(d >> 63);
}

static uint64_t
unzigzag(uint64_t z)
{
	return (z >> 1) ^ (uint64_t) - (int64_t)(z & 1);
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static size_t
payload_size(const struct wal_rec *r)
{
	size_t n = 1;

	if (r->kind != WAL_IDS)
		n += varint_size(r->qno);
	switch (r->kind) {
	case WAL_QUEUE_SET: {
		const struct wal_rec_queue *q = &r->u.queue;
		n += varint_size(q->flags) + varint_size(q->policy) +
		    varint_size(q->capacity) + varint_size(q->max_bytes) +
		    varint_size(q->lease_ms) + varint_size(q->max_deliveries) +
		    varint_size(q->name_len) + q->name_len +
		    varint_size(q->dead_letter_len) + q->dead_letter_len;
		break;
	}
	case WAL_QUEUE_DELETE:
	case WAL_QUEUE_CLOSE:
		break;
	case WAL_PUT:
		n += varint_size(r->u.put.id) +
		    varint_size(r->u.put.deliveries) +
		    varint_size(r->u.put.not_before_ms) + r->u.put.len;
		break;
	case WAL_REMOVE: {
		uint64_t prev = 0;
		n += varint_size(r->u.rm.reason) + varint_size(r->u.rm.count);
		for (size_t i = 0; i < r->u.rm.count; i++) {
			n += varint_size(zigzag(r->u.rm.idv[i], prev));
			prev = r->u.rm.idv[i];
		}
		break;
	}
	case WAL_IDS:
		n += varint_size(r->u.next_id);
		break;
	}
	return n;
}

size_t
wal_rec_size(const struct wal_rec *r)
{
	return WAL_REC_HEADER + payload_size(r);
}

size_t
wal_rec_encode(const struct wal_rec *r, uint8_t *out)
{
	size_t plen = payload_size(r);
	uint8_t *p = out + WAL_REC_HEADER;

	*p++ = (uint8_t)r->kind;
	if (r->kind != WAL_IDS)
		p = varint_put(p, r->qno);
	switch (r->kind) {
	case WAL_QUEUE_SET: {
		const struct wal_rec_queue *q = &r->u.queue;
		p = varint_put(p, q->flags);
		p = varint_put(p, q->policy);
		p = varint_put(p, q->capacity);
		p = varint_put(p, q->max_bytes);
		p = varint_put(p, q->lease_ms);
		p = varint_put(p, q->max_deliveries);
		p = varint_put(p, q->name_len);
		memcpy(p, q->name, q->name_len);
		p += q->name_len;
		p = varint_put(p, q->dead_letter_len);
		if (q->dead_letter_len > 0)
			memcpy(p, q->dead_letter, q->dead_letter_len);
		p += q->dead_letter_len;
		break;
	}
	case WAL_QUEUE_DELETE:
	case WAL_QUEUE_CLOSE:
		break;
	case WAL_PUT:
		p = varint_put(p, r->u.put.id);
		p = varint_put(p, r->u.put.deliveries);
		p = varint_put(p, r->u.put.not_before_ms);
		if (r->u.put.len > 0)
			memcpy(p, r->u.put.body, r->u.put.len);
		p += r->u.put.len;
		break;
	case WAL_REMOVE: {
		uint64_t prev = 0;
		p = varint_put(p, r->u.rm.reason);
		p = varint_put(p, r->u.rm.count);
		for (size_t i = 0; i < r->u.rm.count; i++) {
			p = varint_put(p, zigzag(r->u.rm.idv[i], prev));
			prev = r->u.rm.idv[i];
		}
		break;
	}
	case WAL_IDS:
		p = varint_put(p, r->u.next_id);
		break;
	}
	put32(out + 4, (uint32_t)plen);
	put32(out, crc32c(out + 4, 4 + plen));
	return WAL_REC_HEADER + plen;
}

/* Read a varint length and that many bytes of string. */
static bool
string_get(const uint8_t **pp, const uint8_t *end, const char **s, size_t *len,
    size_t max)
{
	uint64_t n;

	if (!varint_get(pp, end, &n) || n > max || n > (size_t)(end - *pp))
		return false;
	*s = (const char *)*pp;
	*len = (size_t)n;
	*pp += n;
	return true;
}

/* The longest queue name (proto.h's PROTO_NAME_MAX, kept apart). */
#define WAL_NAME_MAX 128

static bool
decode_queue(const uint8_t *p, const uint8_t *end, struct wal_rec_queue *q)
{
	uint64_t flags, policy;

	if (!varint_get(&p, end, &flags) || !varint_get(&p, end, &policy) ||
	    !varint_get(&p, end, &q->capacity) ||
	    !varint_get(&p, end, &q->max_bytes) ||
	    !varint_get(&p, end, &q->lease_ms) ||
	    !varint_get(&p, end, &q->max_deliveries) ||
	    !string_get(&p, end, &q->name, &q->name_len, WAL_NAME_MAX) ||
	    q->name_len == 0 ||
	    !string_get(&p, end, &q->dead_letter, &q->dead_letter_len,
	        WAL_NAME_MAX))
		return false;
	if (flags > UINT32_MAX || policy > UINT32_MAX)
		return false;
	q->flags = (uint32_t)flags;
	q->policy = (uint32_t)policy;
	return p == end;
}

static bool
decode_remove(const uint8_t *p, const uint8_t *end, struct wal_rec_rm *rm)
{
	uint64_t reason, count, v;

	if (!varint_get(&p, end, &reason) || !varint_get(&p, end, &count) ||
	    reason > UINT32_MAX || count == 0 || count > WAL_RM_MAX)
		return false;
	rm->reason = (uint32_t)reason;
	rm->count = (size_t)count;
	rm->idv = NULL;
	rm->raw = p;
	rm->raw_len = (size_t)(end - p);
	/* The ids must fill the payload exactly. */
	for (uint64_t i = 0; i < count; i++)
		if (!varint_get(&p, end, &v))
			return false;
	return p == end;
}

static bool
decode_payload(const uint8_t *p, const uint8_t *end, struct wal_rec *r)
{
	uint64_t v;

	r->kind = (enum wal_kind) * p++;
	r->qno = 0;
	if (r->kind < WAL_QUEUE_SET || r->kind > WAL_IDS)
		return false;
	if (r->kind != WAL_IDS) {
		if (!varint_get(&p, end, &v) || v > UINT32_MAX)
			return false;
		r->qno = (uint32_t)v;
	}
	switch (r->kind) {
	case WAL_QUEUE_SET:
		return decode_queue(p, end, &r->u.queue);
	case WAL_QUEUE_DELETE:
	case WAL_QUEUE_CLOSE:
		return p == end;
	case WAL_PUT:
		if (!varint_get(&p, end, &r->u.put.id) ||
		    !varint_get(&p, end, &r->u.put.deliveries) ||
		    !varint_get(&p, end, &r->u.put.not_before_ms))
			return false;
		r->u.put.body = (const char *)p;
		r->u.put.len = (size_t)(end - p);
		return true;
	case WAL_REMOVE:
		return decode_remove(p, end, &r->u.rm);
	case WAL_IDS:
		return varint_get(&p, end, &r->u.next_id) && p == end;
	}
	return false;
}

enum wal_decode
wal_rec_decode(const uint8_t *buf, size_t len, struct wal_rec *r, size_t *used,
    const char **why)
{
	uint32_t crc, plen;

	*used = 0;
	*why = NULL;
	if (len < WAL_REC_HEADER) {
		for (size_t i = 0; i < len; i++)
			if (buf[i] != 0)
				return WAL_DEC_SHORT;
		return len == 0 ? WAL_DEC_SHORT : WAL_DEC_ZERO;
	}
	crc = get32(buf);
	plen = get32(buf + 4);
	if (crc == 0 && plen == 0)
		return WAL_DEC_ZERO;
	if (plen == 0 || plen > WAL_REC_PAYLOAD_MAX) {
		*why = "impossible record length";
		return WAL_DEC_BAD;
	}
	*used = WAL_REC_HEADER + (size_t)plen;
	if (len < *used)
		return WAL_DEC_SHORT;
	if (crc32c(buf + 4, 4 + (size_t)plen) != crc) {
		*why = "checksum mismatch";
		return WAL_DEC_BAD;
	}
	if (!decode_payload(buf + WAL_REC_HEADER, buf + *used, r)) {
		*why = "malformed payload";
		return WAL_DEC_BAD;
	}
	return WAL_DEC_OK;
}

void
wal_rm_iter_init(struct wal_rm_iter *it, const struct wal_rec *r)
{
	it->p = r->u.rm.raw;
	it->end = r->u.rm.raw + r->u.rm.raw_len;
	it->prev = 0;
	it->left = r->u.rm.count;
}

bool
wal_rm_next(struct wal_rm_iter *it, uint64_t *id)
{
	uint64_t z;

	if (it->left == 0 || !varint_get(&it->p, it->end, &z))
		return false;
	it->left--;
	it->prev += unzigzag(z);
	*id = it->prev;
	return true;
}

const char *
wal_kind_name(enum wal_kind k)
{
	static const char *const names[] = {
		[WAL_QUEUE_SET] = "QUEUE_SET",
		[WAL_QUEUE_DELETE] = "QUEUE_DELETE",
		[WAL_QUEUE_CLOSE] = "QUEUE_CLOSE",
		[WAL_PUT] = "PUT",
		[WAL_REMOVE] = "REMOVE",
		[WAL_IDS] = "IDS",
	};

	if (k < WAL_QUEUE_SET || k > WAL_IDS)
		return "?";
	return names[k];
}
