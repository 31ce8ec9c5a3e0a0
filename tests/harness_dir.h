/*
 * harness_dir.h - data directories and preloads for the suites that
 * restart a durable sluiced (check_durable, check_crash, check_disk).
 *
 * harness_rm_rf() removes a test's data directory between runs so each
 * test starts from an empty disk.  harness_asan_preload() lets a daemon
 * started under LD_PRELOAD (the power-cut library) run in a sanitized
 * build: AddressSanitizer refuses a preload ahead of its runtime unless
 * told the link order does not matter.
 */
#ifndef SLUICE_HARNESS_DIR_H
#define SLUICE_HARNESS_DIR_H

#include <stdbool.h>

/* Remove path and everything below it; a missing path is no error. */
void harness_rm_rf(const char *path);

/*
 * On: append verify_asan_link_order=0 to ASAN_OPTIONS, remembering
 * what was there.  Off: put ASAN_OPTIONS back as it was.
 */
void harness_asan_preload(bool on);

#endif
