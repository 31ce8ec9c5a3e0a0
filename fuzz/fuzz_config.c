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
	config_free(&cfg);
	return 0;
}
