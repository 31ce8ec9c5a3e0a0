/*
 * check_disk.c - durable queues when the disk misbehaves or fills up,
 * against the real sluiced with tests/powercut.c preloaded to make the
 * disk fail: a full disk refuses new messages (503 DISK_FULL) while GET
 * and ACK go on; a failed sync stops the daemon (exit 74) and nothing
 * it acknowledged is lost; and the log's disk use stays bounded however
 * long a consumer keeps one old message reserved.
 */
#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "harness.h"
#include "harness_dir.h"

static struct daemon d;
static char dir[64], conf[96], shadow[96];

static void
setup(void)
{
	FILE *f;

	strcpy(dir, "/tmp/sluice_disk.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(conf, sizeof conf, "%s.json", dir);
	snprintf(shadow, sizeof shadow, "%s.shadow", dir);
	ck_assert_int_eq(mkdir(shadow, 0700), 0);
	f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	/* Small segments: a few hundred KiB of messages roll several. */
	fprintf(f, "{\"segment_size\": 65536}\n");
	fclose(f);
}

static void
teardown(void)
{
	if (d.pid != 0)
		harness_stop(&d);
	harness_rm_rf(dir);
	harness_rm_rf(shadow);
	unlink(conf);
}

/* Start on dir with policy; fault "NAME=N" (or NULL) through powercut.so. */
static void
start(const char *policy, const char *fault)
{
	const char *extra[] = { "-c", conf, "-d", dir, "-f", policy, NULL };
	const char *lib = getenv("POWERCUT_LIB");
	char name[64];

	if (fault != NULL) {
		const char *eq = strchr(fault, '=');
		ck_assert_msg(lib != NULL,
		    "POWERCUT_LIB must name powercut.so");
		snprintf(name, sizeof name, "%.*s", (int)(eq - fault), fault);
		setenv(name, eq + 1, 1);
		setenv("POWERCUT_DIR", dir, 1);
		setenv("POWERCUT_SHADOW", shadow, 1);
		setenv("LD_PRELOAD", lib, 1);
		harness_asan_preload(true);
	}
	harness_start(&d, extra);
	if (fault != NULL)
		harness_asan_preload(false);
	if (fault != NULL) {
		unsetenv(name);
		unsetenv("LD_PRELOAD");
		unsetenv("POWERCUT_DIR");
		unsetenv("POWERCUT_SHADOW");
	}
}

/* A 1000-byte body that names its message. */
static void
body_of(int i, char *buf)
{
	memset(buf, 'a' + i % 26, 1000);
	snprintf(buf, 16, "%08d", i);
	buf[8] = '-';
}

START_TEST(test_full_disk_refuses_puts_and_keeps_gets_and_acks)
{
	static unsigned long long ids[4096];
	struct tconn *t;
	char body[1000], want[1000];
	const char *line;
	int n = 0;

	setup();
	/* The first segment and its spare can be made, no more. */
	start("always", "POWERCUT_ENOSPC_FALLOCATE_AFTER=2");
	t = tc_open(&d);
	for (;;) {
		ck_assert_int_lt(n, 4096);
		body_of(n, body);
		tc_send_put_bytes(t, "q", body, sizeof body, NULL);
		line = tc_line(t);
		if (strncmp(line, "503 ", 4) == 0)
			break;
		ck_assert_int_eq(sscanf(line, "200 QUEUED %llu", &ids[n]), 1);
		n++;
	}
	ck_assert_str_eq(line, "503 DISK_FULL q");
	ck_assert_int_gt(n, 10);
	/* Still full: refused again, nothing stored. */
	body_of(n, body);
	tc_send_put_bytes(t, "q", body, sizeof body, NULL);
	tc_expect(t, "503 DISK_FULL q");
	/* Removals still go in. */
	tc_send(t, "GET q\r\n");
	body_of(0, want);
	ck_assert_uint_eq(tc_expect_msg_bytes(t, want, sizeof want), ids[0]);
	tc_send(t, "RESERVE q\r\n");
	body_of(1, want);
	ck_assert_uint_eq(tc_expect_msg_bytes(t, want, sizeof want), ids[1]);
	tc_send(t, "ACK %llu\r\n", ids[1]);
	tc_expect(t, "200 ACKED");
	json_t *j = tc_stats(t, NULL);
	ck_assert_str_eq(stats_str(j, "log_error"), "No space left on device");
	json_decref(j);
	tc_close(t);
	ck_assert_int_eq(harness_stop(&d), 0);

	/* Nothing acknowledged is lost, nothing taken comes back. */
	start("always", NULL);
	t = tc_open(&d);
	ck_assert_int_eq(tc_stat(t, "q", "depth"), n - 2);
	for (int i = 2; i < n; i++) {
		tc_send(t, "GET q\r\n");
		body_of(i, want);
		ck_assert_uint_eq(tc_expect_msg_bytes(t, want, sizeof want),
		    ids[i]);
	}
	tc_close(t);
}
END_TEST

/* True when the daemon closed t (it stopped) before answering. */
static bool
closed_by_peer(struct tconn *t)
{
	struct pollfd p = { t->fd, POLLIN, 0 };
	char c;

	if (t->len > 0)
		return false;
	ck_assert_int_eq(poll(&p, 1, 10000), 1);
	return recv(t->fd, &c, 1, MSG_PEEK) <= 0;
}

START_TEST(test_failed_sync_stops_the_daemon_and_loses_nothing_acknowledged)
{
	static unsigned long long ids[4096];
	char body[1000], want[1000];
	struct tconn *t;
	int n = 0;

	setup();
	start("always", "POWERCUT_EIO_SYNC_AFTER=30");
	t = tc_open(&d);
	/* Each PUT waits for its sync: the 31st sync fails. */
	for (;;) {
		ck_assert_int_lt(n, 4096);
		body_of(n, body);
		tc_send_put_bytes(t, "q", body, sizeof body, NULL);
		if (closed_by_peer(t))
			break;
		char line[64];
		snprintf(line, sizeof line, "%s", tc_line(t));
		ck_assert_int_eq(sscanf(line, "200 QUEUED %llu", &ids[n]), 1);
		n++;
		if (n > 200)
			break;
	}
	ck_assert_int_eq(harness_wait(&d), EX_IOERR);
	tc_close(t);
	ck_assert_int_gt(n, 0);

	start("always", NULL);
	t = tc_open(&d);
	ck_assert_int_ge(tc_stat(t, "q", "depth"), n);
	for (int i = 0; i < n; i++) {
		tc_send(t, "GET q\r\n");
		body_of(i, want);
		ck_assert_uint_eq(tc_expect_msg_bytes(t, want, sizeof want),
		    ids[i]);
	}
	tc_close(t);
}
END_TEST

/* Bytes of the files in dir. */
static long long
dir_bytes(void)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	struct stat st;
	char p[512];
	long long n = 0;

	ck_assert_ptr_nonnull(dp);
	while ((e = readdir(dp)) != NULL) {
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		if (e->d_name[0] != '.' && stat(p, &st) == 0)
			n += st.st_size;
	}
	closedir(dp);
	return n;
}

START_TEST(test_disk_use_stays_bounded_with_one_old_reservation)
{
	struct tconn *holder, *t;
	char body[1000];
	long long used = 0;
	json_t *j;

	setup();
	start("everysec", NULL);
	holder = tc_open(&d);
	t = tc_open(&d);
	body_of(0, body);
	tc_send_put_bytes(holder, "q", body, sizeof body, NULL);
	tc_expect_queued(holder);
	tc_send(holder, "RESERVE q\r\n");
	tc_expect_msg_bytes(holder, body, sizeof body);
	/* 4 MiB through the log, 64 times its segments, in bursts. */
	for (int round = 0; round < 64; round++) {
		for (int i = 0; i < 64; i++) {
			body_of(i, body);
			tc_send_put_bytes(t, "q", body, sizeof body, NULL);
			tc_send(t, "GET q\r\n");
		}
		for (int i = 0; i < 64; i++) {
			body_of(i, body);
			tc_expect_queued(t);
			tc_expect_msg_bytes(t, body, sizeof body);
		}
		/* Never more than about twice the live data plus two segments.
		 */
		used = dir_bytes();
		ck_assert_msg(used <= 8 * 65536,
		    "round %d: the log takes %lld bytes", round, used);
	}
	j = tc_stats(t, NULL);
	ck_assert_int_gt(stats_int(j, "log_compacted_bytes"), 0);
	json_decref(j);
	/* The old reservation is still there after a crash. */
	kill(d.pid, SIGKILL);
	ck_assert_int_eq(harness_wait(&d), -1);
	tc_close(holder);
	tc_close(t);
	start("everysec", NULL);
	t = tc_open(&d);
	body_of(0, body);
	tc_send(t, "GET q\r\n");
	tc_expect_msg_bytes(t, body, sizeof body);
	tc_request(t, "GET q", "204 EMPTY");
	tc_close(t);
}
END_TEST

START_TEST(test_producers_wait_for_a_slow_disk_and_resume)
{
	struct tconn *t;
	FILE *f;

	setup();
	/* Every byte waits for a sync: each PUT parks until the last one's. */
	f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "{\"segment_size\": 65536, \"max_unsynced_bytes\": 1}\n");
	fclose(f);
	start("always", NULL);
	t = tc_open(&d);
	for (int i = 0; i < 200; i++)
		tc_send_put(t, "q", "x");
	for (int i = 0; i < 200; i++)
		tc_expect_queued(t);
	/* Memory queues never wait for the disk. */
	tc_request(t, "CREATE m storage=memory", "201 CREATED");
	tc_put(t, "m", "y");
	ck_assert_int_eq(tc_stat(t, "q", "depth"), 200);
	tc_close(t);
}
END_TEST

START_TEST(test_stats_show_the_log)
{
	struct tconn *t;
	json_t *j;

	setup();
	start("always", NULL);
	t = tc_open(&d);
	tc_put(t, "q", "hello");
	j = tc_stats(t, NULL);
	ck_assert_str_eq(stats_str(j, "fsync"), "always");
	ck_assert_int_gt(stats_int(j, "log_bytes"), 0);
	ck_assert_int_gt(stats_int(j, "log_live_bytes"), 0);
	ck_assert_int_ge(stats_int(j, "log_segments"), 1);
	/* At least the id range's sync and the PUT's. */
	ck_assert_int_ge(stats_int(j, "log_syncs"), 2);
	ck_assert_int_gt(stats_int(j, "log_sync_p99_us"), 0);
	ck_assert(json_is_null(json_object_get(j, "log_error")));
	json_decref(j);
	tc_close(t);
}
END_TEST

START_TEST(test_dead_letter_moves_and_delays_survive_a_crash)
{
	unsigned long long moved, later;
	struct tconn *t;

	setup();
	start("everysec", NULL);
	t = tc_open(&d);
	tc_request(t, "CREATE q max_deliveries=1 dead_letter=dlq",
	    "201 CREATED");
	moved = tc_put(t, "q", "poison");
	tc_send(t, "RESERVE q\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "poison"), moved);
	tc_send(t, "NACK %llu\r\n", moved);
	tc_expect(t, "200 REQUEUED dead_lettered=moved");
	later = tc_put(t, "r", "later");
	tc_send(t, "RESERVE r\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "later"), later);
	tc_send(t, "NACK %llu 600000\r\n", later);
	tc_expect(t, "200 REQUEUED");
	/* Its answer waits for its record, which comes after the NACKs'. */
	tc_put(t, "sync", "x");
	kill(d.pid, SIGKILL);
	ck_assert_int_eq(harness_wait(&d), -1);
	tc_close(t);

	start("everysec", NULL);
	t = tc_open(&d);
	ck_assert_int_eq(tc_stat(t, "q", "depth"), 0);
	ck_assert_int_eq(tc_stat(t, "r", "depth"), 0);
	ck_assert_int_eq(tc_stat(t, "r", "delayed"), 1);
	tc_send(t, "GET dlq\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "poison"), moved);
	tc_request(t, "GET r", "204 EMPTY");
	tc_close(t);
}
END_TEST

/* Run sluiced with args; its exit status, its stderr in out. */
static int
run_sluiced(const char *args, char *out, size_t size)
{
	char cmd[1024];
	FILE *p;
	size_t n;
	int st;

	snprintf(cmd, sizeof cmd, "%s %s 2>&1", getenv("SLUICED"), args);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	n = fread(out, 1, size - 1, p);
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_a_directory_in_use_is_refused)
{
	char args[256], out[1024];

	setup();
	start("everysec", NULL);
	/* sluiced -t checks the directory too. */
	snprintf(args, sizeof args, "-t -d %s", dir);
	ck_assert_int_eq(run_sluiced(args, out, sizeof out), EX_CONFIG);
	ck_assert_msg(strstr(out, "in use by another sluiced") != NULL, "%s",
	    out);
	/* A second daemon on it does not start. */
	snprintf(args, sizeof args, "-p 0 -d %s", dir);
	ck_assert_int_ne(run_sluiced(args, out, sizeof out), 0);
	ck_assert_msg(strstr(out, "in use by another sluiced") != NULL, "%s",
	    out);
	ck_assert_int_eq(harness_stop(&d), 0);
	snprintf(args, sizeof args, "-t -d %s", dir);
	ck_assert_int_eq(run_sluiced(args, out, sizeof out), 0);
	/* A file where the directory should be is refused. */
	snprintf(args, sizeof args, "-t -d %s", conf);
	ck_assert_int_eq(run_sluiced(args, out, sizeof out), EX_CONFIG);
	ck_assert_msg(strstr(out, "not a directory") != NULL, "%s", out);
}
END_TEST

START_TEST(test_damage_in_an_older_segment_refuses_to_start)
{
	char args[512], out[4096], seg[256], body[1000];
	struct tconn *t;
	FILE *f;
	int c;

	setup();
	start("everysec", NULL);
	t = tc_open(&d);
	/* About 100 KiB: the first 64 KiB segment fills, a second begins. */
	for (int i = 0; i < 100; i++) {
		body_of(i, body);
		tc_send_put_bytes(t, "q", body, sizeof body, NULL);
		tc_expect_queued(t);
	}
	tc_close(t);
	ck_assert_int_eq(harness_stop(&d), 0);
	/* Flip a byte of a record in the oldest segment. */
	snprintf(seg, sizeof seg, "%s/wal-0000000000000001.seg", dir);
	f = fopen(seg, "r+b");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 2000, SEEK_SET), 0);
	c = fgetc(f);
	ck_assert_int_eq(fseek(f, 2000, SEEK_SET), 0);
	fputc(c ^ 0x55, f);
	fclose(f);
	snprintf(args, sizeof args, "-p 0 -c %s -d %s", conf, dir);
	ck_assert_int_ne(run_sluiced(args, out, sizeof out), 0);
	ck_assert_msg(strstr(out, "wal-0000000000000001.seg") != NULL &&
	        strstr(out, "force") != NULL,
	    "%s", out);
	/* --force-recover starts, without what followed the damage there. */
	{
		const char *extra[] = { "-c", conf, "-d", dir,
			"--force-recover", NULL };
		harness_start(&d, extra);
	}
	t = tc_open(&d);
	ck_assert_int_lt(tc_stat(t, "q", "depth"), 100);
	tc_put(t, "q", "after");
	tc_close(t);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("disk");
	TCase *tc = tcase_create("disk");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_full_disk_refuses_puts_and_keeps_gets_and_acks);
	tcase_add_test(tc,
	    test_failed_sync_stops_the_daemon_and_loses_nothing_acknowledged);
	tcase_add_test(tc,
	    test_disk_use_stays_bounded_with_one_old_reservation);
	tcase_add_test(tc, test_producers_wait_for_a_slow_disk_and_resume);
	tcase_add_test(tc, test_stats_show_the_log);
	tcase_add_test(tc, test_a_directory_in_use_is_refused);
	tcase_add_test(tc, test_dead_letter_moves_and_delays_survive_a_crash);
	tcase_add_test(tc, test_damage_in_an_older_segment_refuses_to_start);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
