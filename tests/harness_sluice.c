/*
 * harness_sluice.c - libsluice connections to the test daemon.
 * See harness_sluice.h.
 */
#include <check.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness_sluice.h"

/* sc_await_stat()'s pause between two polls. */
#define SC_AWAIT_PAUSE_US 1000
/* How long a connect, and then a reply, may take before the test fails. */
#define SC_CONNECT_MS 5000
#define SC_IO_MS 10000

struct sluice_ctx *
sc_open(const struct daemon *d)
{
	struct sluice_ctx *c = sluice_connect(d->host, d->port, SC_CONNECT_MS);

	ck_assert_ptr_nonnull(c);
	ck_assert_msg(sluice_error(c) == SLUICE_OK, "connect: %s",
	    sluice_errstr(c));
	sluice_set_io_timeout(c, SC_IO_MS);
	return c;
}

long long
sc_stat(struct sluice_ctx *c, const char *queue, const char *field)
{
	enum sluice_result r;
	json_error_t jerr;
	char *text;
	size_t len;
	json_t *j;
	long long v;

	if ((r = sluice_stats(c, queue, &text, &len)) == SLUICE_NO_QUEUE)
		return -1;
	ck_assert_msg(r == SLUICE_OK, "STATS %s: %s %s", queue,
	    sluice_result_name(r), sluice_errstr(c));
	j = json_loadb(text, len, 0, &jerr);
	free(text);
	ck_assert_msg(json_is_object(j), "STATS %s: %s", queue, jerr.text);
	v = stats_int(j, field);
	json_decref(j);
	return v;
}

void
sc_await_stat(struct sluice_ctx *c, const char *queue, const char *field,
    long long want)
{
	uint64_t until = harness_now_ms() + TC_AWAIT_MS;
	long long got;

	while ((got = sc_stat(c, queue, field)) != want) {
		ck_assert_msg(harness_now_ms() < until,
		    "STATS %s: %s stayed %lld, wanted %lld", queue, field,
		    got, want);
		usleep(SC_AWAIT_PAUSE_US);
	}
}
