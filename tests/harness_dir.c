/*
 * harness_dir.c - data directories and preloads for the durable suites;
 * see harness_dir.h.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness_dir.h"

void
harness_rm_rf(const char *path)
{
	DIR *dp = opendir(path);
	struct dirent *e;
	char p[512];

	if (dp == NULL)
		return;
	while ((e = readdir(dp)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof p, "%s/%s", path, e->d_name);
		if (unlink(p) != 0)
			harness_rm_rf(p);
	}
	closedir(dp);
	rmdir(path);
}

void
harness_asan_preload(bool on)
{
	static char saved[1024];
	static bool had;
	char opts[1100];

	if (on) {
		const char *cur = getenv("ASAN_OPTIONS");
		had = cur != NULL;
		snprintf(saved, sizeof saved, "%s", cur ? cur : "");
		snprintf(opts, sizeof opts, "%s%sverify_asan_link_order=0",
		    saved, had ? ":" : "");
		setenv("ASAN_OPTIONS", opts, 1);
	} else if (had) {
		setenv("ASAN_OPTIONS", saved, 1);
	} else {
		unsetenv("ASAN_OPTIONS");
	}
}
