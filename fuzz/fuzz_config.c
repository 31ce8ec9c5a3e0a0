/*
 * fuzz_config.c - libFuzzer target for the daemon's config loader:
 * config_load() (daemon/config.c) on a file with the fuzzer's bytes,
 * as `sluiced -c FILE`, `sluiced -t` and SIGHUP read it.
 *
 * Beyond "no crash, no undefined behaviour, no leak": a file is either
 * accepted with settings inside their documented bounds, or refused
 * with a message.  The file is a memfd, named by its /proc path, so
 * nothing touches the disk.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd = -1;
static char path[64];

/* An accepted "cluster" keeps every rule config.h states. */
static void
check_cluster(const struct config *cfg)
{
	const struct config_cluster *c = &cfg->cluster;
	const struct config_member *self = config_cluster_self(cfg);

	if (!c->on) {
		if (self != NULL)
			abort();
		return;
	}
	if (cfg->data_dir == NULL || self == NULL || self->id != c->id ||
	    c->id == 0 || c->nmembers > CONFIG_MEMBERS_MAX ||
	    (!c->join && c->nmembers == 0) ||
	    c->election_timeout_ms <= c->heartbeat_timeout_ms ||
	    c->election_timeout_ms > CONFIG_ELECTION_TIMEOUT_MAX ||
	    c->heartbeat_timeout_ms < CONFIG_HEARTBEAT_TIMEOUT_MIN ||
	    c->snapshot_threshold < CONFIG_SNAPSHOT_THRESHOLD_MIN ||
	    c->max_batch < CONFIG_MAX_BATCH_MIN ||
	    c->max_batch > CONFIG_MAX_BATCH_MAX ||
	    memchr(self->raft, '\0', CONFIG_ADDR_MAX) == NULL ||
	    memchr(self->client, '\0', CONFIG_ADDR_MAX) == NULL)
		abort();
	for (size_t i = 0; i < c->nmembers; i++) {
		const struct config_member *m = &c->members[i];

		if (m->id == 0 || strchr(m->raft, ':') == NULL ||
		    strchr(m->client, ':') == NULL)
			abort();
		for (size_t j = 0; j < i; j++)
			if (c->members[j].id == m->id ||
			    strcmp(c->members[j].raft, m->raft) == 0 ||
			    strcmp(c->members[j].client, m->client) == 0)
				abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_flags fl = { .file = path, .port = -1 };
	struct config cfg;
	char err[CONFIG_ERR_MAX];

	if (fd < 0) {
		if ((fd = memfd_create("sluice-fuzz-config", 0)) < 0)
			abort();
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		fl.file = path;
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	err[0] = '\0';
	if (config_load(&cfg, &fl, err, sizeof err) < 0) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	if (cfg.nlisten < 1 || cfg.nlisten > CONFIG_LISTEN_MAX ||
	    cfg.max_connections < 1 || cfg.max_queues < 1 ||
	    (cfg.nqueues > 0 && cfg.queues == NULL))
		abort();
	for (int i = 0; i < cfg.nlisten; i++)
		if (cfg.listen[i].port < 0 || cfg.listen[i].port > 65535 ||
		    memchr(cfg.listen[i].addr, '\0', CONFIG_ADDR_MAX) == NULL)
			abort();
	check_cluster(&cfg);
	config_free(&cfg);
	return 0;
}
