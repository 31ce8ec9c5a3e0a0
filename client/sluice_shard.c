/*
 * sluice_shard.c - sharding: which group of servers holds a queue, by
 * rendezvous (highest random weight) hashing, and the sharded handle,
 * one context per group.
 *
 * The function is part of the wire contract between clients: every
 * client of a deployment, in any language, must map a queue to the
 * same group.  protocol/PROTOCOL.md ("Sharding across groups") is its
 * specification, with test vectors; it never changes.
 */
#include <stdlib.h>
#include <string.h>

#include "sluice_priv.h"

/* FNV-1a, 64 bits. */
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t
fnv1a(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= FNV_PRIME;
	}
	return h;
}

/* splitmix64's finalizer: FNV's low bits mix poorly on their own. */
static uint64_t
mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t
sluice_shard_score(const char *key, size_t key_len, const char *queue)
{
	uint64_t h = fnv1a(FNV_OFFSET, key, key_len);

	h = fnv1a(h, "\n", 1);
	return mix(fnv1a(h, queue, strlen(queue)));
}

/* A group's key: NAME of "NAME=servers", else the whole string. */
static size_t
group_key_len(const char *group)
{
	const char *eq = strchr(group, '=');

	return eq != NULL ? (size_t)(eq - group) : strlen(group);
}

size_t
sluice_shard_pick(const char *queue, const char *const groups[], size_t n)
{
	size_t best = 0;
	uint64_t top = 0, s;

	if (queue == NULL)
		return 0;
	for (size_t i = 0; i < n; i++) {
		s = sluice_shard_score(groups[i], group_key_len(groups[i]),
		    queue);
		if (i == 0 || s > top) {
			best = i;
			top = s;
		}
	}
	return best;
}

/* The sharded handle: the groups as given and a context for each. */
struct sluice_shards {
	size_t n;
	char **groups;
	struct sluice_ctx **ctx;
};

struct sluice_shards *
sluice_shards_new(const char *const groups[], size_t n, int port,
    int64_t timeout_ms)
{
	struct sluice_shards *s;

	if (n == 0 || (s = calloc(1, sizeof *s)) == NULL)
		return NULL;
	s->groups = calloc(n, sizeof *s->groups);
	s->ctx = calloc(n, sizeof *s->ctx);
	if (s->groups == NULL || s->ctx == NULL)
		goto fail;
	for (s->n = 0; s->n < n; s->n++) {
		size_t i = s->n;
		if ((s->groups[i] = strdup(groups[i])) == NULL ||
		    (s->ctx[i] = sluice_connect(groups[i], port, timeout_ms)) ==
		        NULL) {
			free(s->groups[i]);
			goto fail;
		}
		/* Even a group of one server: it is tried again later. */
		if (s->ctx[i]->failover_ms == 0)
			sluice_set_failover(s->ctx[i],
			    SLUICE_DEFAULT_FAILOVER_MS);
	}
	return s;
fail:
	sluice_shards_free(s);
	return NULL;
}

void
sluice_shards_free(struct sluice_shards *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++) {
		sluice_free(s->ctx[i]);
		free(s->groups[i]);
	}
	free(s->groups);
	free(s->ctx);
	free(s);
}

size_t
sluice_shards_count(const struct sluice_shards *s)
{
	return s->n;
}

struct sluice_ctx *
sluice_shards_ctx(struct sluice_shards *s, size_t i)
{
	return i < s->n ? s->ctx[i] : NULL;
}

struct sluice_ctx *
sluice_shards_for(struct sluice_shards *s, const char *queue)
{
	return s->ctx[sluice_shard_pick(queue, (const char *const *)s->groups,
	    s->n)];
}
