/*
 * admit.c - the per-address connection limit and TCP keepalive of new
 * client sockets.  See admit.h.
 *
 * The counts are a chained hash table of addresses, each entry freed
 * when its count falls to zero, so it holds at most one entry per open
 * connection; it doubles when it holds twice as many entries as
 * buckets.  byfd maps a descriptor to the entry it counts against
 * (descriptors are small integers, bounded by the open-files limit).
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admit.h"
#include "log.h"
#include "server.h"
#include "xmalloc.h"

#define ADMIT_BUCKETS_MIN 256
/* Keepalive probes before the peer is given up; see keepalive(). */
#define KEEPALIVE_PROBES 6

struct addr_key {
	int family; /* AF_INET (v4-mapped IPv6 too) or AF_INET6 */
	unsigned char a[16];
};

struct addr_count {
	struct addr_count *next;
	struct addr_key key;
	size_t n; /* connections open from it */
};

struct admit {
	struct addr_count **buckets;
	size_t nbuckets, nentries;
	struct addr_count **byfd; /* fd -> its entry, or NULL */
	size_t nfd;
};

/* The client's address as a key; false for other kinds of socket. */
static bool
key_of(const struct sockaddr *sa, struct addr_key *k)
{
	memset(k, 0, sizeof *k);
	if (sa->sa_family == AF_INET) {
		k->family = AF_INET;
		memcpy(k->a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *in6 =
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;
		/* An IPv4 client of an IPv6 listener is the IPv4 address. */
		if (IN6_IS_ADDR_V4MAPPED(in6)) {
			k->family = AF_INET;
			memcpy(k->a, in6->s6_addr + 12, 4);
		} else {
			k->family = AF_INET6;
			memcpy(k->a, in6->s6_addr, 16);
		}
		return true;
	}
	return false;
}

/* FNV-1a: addresses are attacker-chosen, but only 16 bytes of them. */
static size_t
hash(const struct addr_key *k, size_t nbuckets)
{
	uint64_t h = 14695981039346656037ULL ^ (uint64_t)k->family;

	for (size_t i = 0; i < sizeof k->a; i++)
		h = (h ^ k->a[i]) * 1099511628211ULL;
	return (size_t)(h % nbuckets);
}

static void
grow(struct admit *a)
{
	size_t n = a->nbuckets * 2;
	struct addr_count **b = xcalloc(n, sizeof *b);

	for (size_t i = 0; i < a->nbuckets; i++) {
		struct addr_count *e, *next;
		for (e = a->buckets[i]; e != NULL; e = next) {
			size_t h = hash(&e->key, n);
			next = e->next;
			e->next = b[h];
			b[h] = e;
		}
	}
	free(a->buckets);
	a->buckets = b;
	a->nbuckets = n;
}

/* The entry of k, made (with a count of 0) when there is none. */
static struct addr_count *
lookup(struct admit *a, const struct addr_key *k)
{
	struct addr_count *e;
	size_t h = hash(k, a->nbuckets);

	for (e = a->buckets[h]; e != NULL; e = e->next)
		if (memcmp(&e->key, k, sizeof *k) == 0)
			return e;
	if (a->nentries >= 2 * a->nbuckets) {
		grow(a);
		h = hash(k, a->nbuckets);
	}
	e = xcalloc(1, sizeof *e);
	e->key = *k;
	e->next = a->buckets[h];
	a->buckets[h] = e;
	a->nentries++;
	return e;
}

static void
drop_if_unused(struct admit *a, struct addr_count *e)
{
	struct addr_count **p = &a->buckets[hash(&e->key, a->nbuckets)];

	if (e->n > 0)
		return;
	while (*p != e)
		p = &(*p)->next;
	*p = e->next;
	a->nentries--;
	free(e);
}

/*
 * Keepalive after `idle` seconds of silence, then a probe every
 * idle/KEEPALIVE_PROBES seconds: a vanished peer is given up (and the
 * connection closed, its reservations back) within about 2 x idle.
 */
static void
keepalive(int fd, int idle)
{
	int on = idle > 0,
	    intvl = (idle + KEEPALIVE_PROBES - 1) / KEEPALIVE_PROBES,
	    cnt = KEEPALIVE_PROBES;

	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) != 0 ||
	    !on)
		return;
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

bool
admit_client(struct server *s, int fd, const struct sockaddr *sa)
{
	struct admit *a = s->admit;
	struct addr_key k;
	struct addr_count *e;

	if (fd < 0 || !key_of(sa, &k))
		return true;
	if (a == NULL) {
		a = s->admit = xcalloc(1, sizeof *a);
		a->nbuckets = ADMIT_BUCKETS_MIN;
		a->buckets = xcalloc(a->nbuckets, sizeof *a->buckets);
	}
	e = lookup(a, &k);
	if (e->n >= s->cfg.max_connections_per_address) {
		drop_if_unused(a, e);
		return false;
	}
	if ((size_t)fd >= a->nfd) {
		size_t n =
		    (size_t)fd + 1 > 2 * a->nfd ? (size_t)fd + 1 : 2 * a->nfd;
		struct addr_count **byfd = xcalloc(n, sizeof *byfd);

		if (a->nfd > 0)
			memcpy(byfd, a->byfd, a->nfd * sizeof *byfd);
		free(a->byfd);
		a->byfd = byfd;
		a->nfd = n;
	}
	e->n++;
	a->byfd[fd] = e;
	keepalive(fd, (int)s->cfg.tcp_keepalive_s);
	return true;
}

void
admit_release(struct server *s, int fd)
{
	struct admit *a = s->admit;
	struct addr_count *e;

	if (a == NULL || fd < 0 || (size_t)fd >= a->nfd ||
	    (e = a->byfd[fd]) == NULL)
		return;
	a->byfd[fd] = NULL;
	e->n--;
	drop_if_unused(a, e);
}

void
admit_free(struct admit *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->nbuckets; i++) {
		struct addr_count *e, *next;
		for (e = a->buckets[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(a->buckets);
	free(a->byfd);
	free(a);
}
