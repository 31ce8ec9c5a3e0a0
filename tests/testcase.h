/*
 * testcase.h - one way to register and run tests, shared by the suites.
 *
 * Each test is a test case of its own, named after its function without
 * "test_" (so CK_RUN_CASE=name runs just it), with the suite's fixture:
 * the suite defines `setup` and `teardown` (static, either may do
 * nothing) before using TEST().  test_run() runs the suite and gives
 * main() its exit status.
 */
#ifndef SLUICE_TESTCASE_H
#define SLUICE_TESTCASE_H

#include <check.h>
#include <stdlib.h>

/* Add fn as a test case of its own, run n times (_i = 0..n-1). */
static inline void
test_add(Suite *s, const char *name, const TTest *fn, void (*up)(void),
    void (*down)(void), double timeout, int n)
{
	TCase *tc = tcase_create(name + 5); /* without "test_" */

	tcase_add_checked_fixture(tc, up, down);
	if (timeout > 0)
		tcase_set_timeout(tc, timeout);
	tcase_add_loop_test(tc, fn, 0, n);
	suite_add_tcase(s, tc);
}

#define TEST(s, fn) test_add((s), #fn, (fn), setup, teardown, 0, 1)
#define TEST_LOOP(s, fn, n) test_add((s), #fn, (fn), setup, teardown, 0, (n))
#define TEST_TIMEOUT(s, fn, sec)                                         \
	test_add((s), #fn, (fn), setup, teardown, (sec), 1)

/* Run every test of s; EXIT_SUCCESS when none failed. */
static inline int
test_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
