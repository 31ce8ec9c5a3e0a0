/*
 * check_config.c - sluiced as a service: the JSON config (every
 * validation error, -t, flags over the file), SIGTERM's drain, SIGHUP's
 * reload, /metrics, and the systemd glue (units, socket activation,
 * sd_notify).
 *
 * These tests run the real daemon with arguments and an environment of
 * their own, so they spawn it themselves (struct proc) and read its log
 * line by line: "wait until the daemon says it began draining" is how a
 * test knows a signal was handled, never a sleep.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "harness.h"
#include "harness_dir.h"

/* How long the daemon may stay silent before a test gives up. */
#define LOG_TIMEOUT_MS 10000
/* sysexits.h's EX_CONFIG, spelled out: it is what users see. */
#define EXIT_CONFIG 78

/* ---- a daemon of our own ------------------------------------------- */

struct proc {
	pid_t pid;
	int out_fd;	   /* the daemon's stdout and stderr */
	char buf[16384];   /* output read, not yet a whole line */
	size_t len;
	char line[4096];   /* the last line read */
	struct daemon d;   /* where it listens, for tc_open() */
	int metrics_port;  /* where /metrics is, when it is on */
};

/* The per-test directory for config files, tokens and sockets. */
static char dir[64];
/* dir/sluiced.json, what the tests pass with -c. */
static char cfg_path[128];

static void
dir_setup(void)
{
	strcpy(dir, "/tmp/sluice-config-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cfg_path, sizeof cfg_path, "%s/sluiced.json", dir);
}

static void
dir_teardown(void)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	char path[512];

	if (dp == NULL)
		return;
	while ((e = readdir(dp)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(dp);
	rmdir(dir);
}

/* Write a file in the test's directory; its path goes to out. */
static void
write_file(const char *name, const char *text, char *out, size_t size)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	if (out != NULL)
		snprintf(out, size, "%s", path);
}

/* Replace cfg_path with the formatted text (rename: never half read). */
static void __attribute__((format(printf, 1, 2)))
write_config(const char *fmt, ...)
{
	char text[8192], tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	ck_assert(n >= 0 && (size_t)n < sizeof text);
	write_file("next.json", text, tmp, sizeof tmp);
	ck_assert_int_eq(rename(tmp, cfg_path), 0);
}

/*
 * Run $SLUICED with args (NULL-terminated), the extra environment env
 * ("K=V" strings, NULL-terminated, may be NULL), and, when pass_fd is
 * not -1, that socket passed as systemd does (fd 3, LISTEN_FDS=1).
 */
static void
proc_spawn(struct proc *p, const char *const *args, const char *const *env,
    int pass_fd)
{
	const char *bin = getenv("SLUICED");
	const char *argv[32];
	int argc = 0, pipefd[2];

	memset(p, 0, sizeof *p);
	ck_assert_msg(bin != NULL, "SLUICED must name the daemon binary");
	argv[argc++] = bin;
	for (int i = 0; args != NULL && args[i] != NULL && argc < 31; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;
	ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
	p->pid = fork();
	ck_assert_int_ge(p->pid, 0);
	if (p->pid == 0) {
		char pid[24];

		/* A failed test must not leave a daemon behind. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		for (int i = 0; env != NULL && env[i] != NULL; i++)
			putenv((char *)env[i]);
		if (pass_fd >= 0) {
			if (pass_fd != 3)
				dup2(pass_fd, 3);
			snprintf(pid, sizeof pid, "%d", (int)getpid());
			setenv("LISTEN_PID", pid, 1);
			setenv("LISTEN_FDS", "1", 1);
		}
		execv(bin, (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	p->out_fd = pipefd[0];
	strcpy(p->d.host, "127.0.0.1");
}

/* Read the daemon's next output line into p->line; false at its end. */
static bool
proc_line(struct proc *p)
{
	for (;;) {
		char *nl = memchr(p->buf, '\n', p->len);
		struct pollfd pf = { p->out_fd, POLLIN, 0 };
		ssize_t n;

		if (nl != NULL) {
			size_t k = (size_t)(nl - p->buf);
			ck_assert(k < sizeof p->line);
			memcpy(p->line, p->buf, k);
			p->line[k] = '\0';
			memmove(p->buf, nl + 1, p->len - k - 1);
			p->len -= k + 1;
			fprintf(stderr, "%s\n", p->line);
			return true;
		}
		ck_assert_msg(p->len < sizeof p->buf, "output line too long");
		ck_assert_msg(poll(&pf, 1, LOG_TIMEOUT_MS) == 1,
		    "sluiced said nothing for %d ms", LOG_TIMEOUT_MS);
		n = read(p->out_fd, p->buf + p->len, sizeof p->buf - p->len);
		if (n <= 0) {
			if (p->len == 0)
				return false;
			p->buf[p->len++] = '\n'; /* a last, unended line */
			continue;
		}
		p->len += (size_t)n;
	}
}

/* Read output until a line contains needle; returns that line. */
static const char *
proc_wait_log(struct proc *p, const char *needle)
{
	while (proc_line(p))
		if (strstr(p->line, needle) != NULL)
			return p->line;
	ck_abort_msg("sluiced ended without logging \"%s\"", needle);
	return NULL;
}

/* The port of a "listening on HOST:PORT" line. */
static int
port_of(const char *line)
{
	const char *colon = strrchr(line, ':');

	ck_assert_ptr_nonnull(colon);
	return atoi(colon + 1);
}

/* Spawn and wait until the daemon listens (its first listener). */
static void
proc_start(struct proc *p, const char *const *args, const char *const *env,
    int pass_fd)
{
	proc_spawn(p, args, env, pass_fd);
	p->d.port = port_of(proc_wait_log(p, "listening on "));
	ck_assert_int_gt(p->d.port, 0);
}

/* Start with "-c cfg_path" and the metrics listener's port noted. */
static void
proc_start_metrics(struct proc *p)
{
	const char *args[] = { "-c", cfg_path, NULL };
	const char *l, *at;

	proc_start(p, args, NULL, -1);
	l = proc_wait_log(p, "metrics on http://");
	at = strstr(l, "http://127.0.0.1:");
	ck_assert_ptr_nonnull(at);
	p->metrics_port = atoi(at + strlen("http://127.0.0.1:"));
	ck_assert_int_gt(p->metrics_port, 0);
}

/* Read the rest of the output, reap the daemon; its exit status. */
static int
proc_exit(struct proc *p)
{
	int status;

	while (proc_line(p))
		;
	close(p->out_fd);
	ck_assert_int_eq(waitpid(p->pid, &status, 0), p->pid);
	p->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* SIGTERM, then SIGINT: stop now, whatever is left (see harness.h). */
static int
proc_stop(struct proc *p)
{
	kill(p->pid, SIGTERM);
	kill(p->pid, SIGINT);
	return proc_exit(p);
}

/* Run to the end; its exit status, and all it printed in out. */
static int
run_capture(const char *const *args, char *out, size_t size)
{
	struct proc p;
	size_t len = 0;

	proc_spawn(&p, args, NULL, -1);
	out[0] = '\0';
	while (proc_line(&p))
		len += (size_t)snprintf(out + len, size - len, "%s\n", p.line);
	return proc_exit(&p);
}

/* ---- raw sockets and HTTP ------------------------------------------ */

/* Connect to 127.0.0.1:port; the fd, or -1 with errno. */
static int
try_connect(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/*
 * GET path over HTTP/1.0; the status code, and the body in body (a
 * malloc'd string the caller frees).
 */
static int
http_get(int port, const char *path, char **body)
{
	struct timeval tv = { 10, 0 };
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap), *sep;
	int fd = try_connect(port), code = 0;
	ssize_t n;

	ck_assert_msg(fd >= 0, "connect: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	dprintf(fd, "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (len + 1 == cap)
			ck_assert_ptr_nonnull(buf = realloc(buf, cap *= 2));
	}
	ck_assert_msg(n == 0, "read: %s", strerror(errno));
	close(fd);
	buf[len] = '\0';
	ck_assert_int_eq(sscanf(buf, "HTTP/1.%*d %d", &code), 1);
	ck_assert_ptr_nonnull(sep = strstr(buf, "\r\n\r\n"));
	*body = strdup(sep + 4);
	free(buf);
	return code;
}

/* ---- validation ---------------------------------------------------- */

/* A config file, and the message sluiced must print after "FILE: ". */
static const struct {
	const char *json;
	const char *error;
} bad_configs[] = {
	{ "{\"queues\": [{\"name\": \"a\"}, {\"name\": \"b\"},"
	  " {\"name\": \"c\", \"policy\": \"blok\"}]}",
	    "queues[2].policy: \"blok\" is not one of block, reject, "
	    "drop-oldest, drop-newest" },
	{ "{\"queue_defaults\": {\"capcity\": 1}}",
	    "queue_defaults: unknown key \"capcity\" (expected one of "
	    "capacity, max_bytes, policy, lease_ms, max_deliveries, storage)" },
	{ "{\"nosuch\": 1}",
	    "unknown key \"nosuch\" (expected one of port, listen, "
	    "max_connections, max_connections_per_address, tcp_keepalive_s, "
	    "request_timeout_ms, idle_timeout_s, auth_timeout_ms, "
	    "max_message, input_readahead, output_high, "
	    "max_reserved, max_reserved_bytes, max_queues, "
	    "max_queue_capacity, max_queue_bytes, max_memory, auto_create, "
	    "queue_defaults, queues, auth_token_file, tokens, log_level, "
	    "shutdown_grace_ms, metrics, metrics_token_file, metrics_allow, "
	    "tls_listen, tls_cert_file, tls_key_file, tls_ca_file, "
	    "tls_verify_client, tls_min_version, "
	    "data_dir, fsync, segment_size, max_unsynced_bytes, cluster)" },
	{ "{\"queues\": [{\"name\": \"a\", \"lease\": 5}]}",
	    "queues[0]: unknown key \"lease\" (expected one of name, "
	    "capacity, max_bytes, policy, lease_ms, max_deliveries, "
	    "dead_letter, storage)" },
	{ "{\"queues\": [{\"name\": \"a\", \"storage\": \"disk\"}]}",
	    "queues[0]: storage \"disk\" needs a data_dir (-d)" },
	{ "{\"fsync\": \"sometimes\"}",
	    "fsync: \"sometimes\" is not one of no, everysec, always" },
	{ "[]", "expected an object, not an array" },
	{ "{\"max_connections\": \"10\"}",
	    "max_connections: expected an integer, not a string" },
	{ "{\"max_connections\": 0}",
	    "max_connections: 0 is not between 1 and 1000000" },
	{ "{\"max_message\": 1.5}",
	    "max_message: expected an integer, not a real number" },
	{ "{\"input_readahead\": 100}",
	    "input_readahead: 100 is not between 1024 and 67108864" },
	{ "{\"output_high\": 0}",
	    "output_high: 0 is not between 1 and 1073741824" },
	{ "{\"max_reserved\": null}",
	    "max_reserved: expected an integer, not null" },
	{ "{\"max_queues\": 0}",
	    "max_queues: 0 is not between 1 and 9223372036854775807" },
	{ "{\"port\": 70000}", "port: 70000 is not between 0 and 65535" },
	{ "{\"listen\": [\"localhost:7470\"]}",
	    "listen[0]: \"localhost:7470\" is not an IPv4 or IPv6 address "
	    "with an optional :PORT" },
	{ "{\"listen\": [\"127.0.0.1:7470\", \"[::1]:99999\"]}",
	    "listen[1]: \"[::1]:99999\" is not an IPv4 or IPv6 address with "
	    "an optional :PORT" },
	{ "{\"listen\": []}", "listen: expected at least one address" },
	{ "{\"listen\": 7470}",
	    "listen: expected an array of addresses, not an integer" },
	{ "{\"listen\": [\"127.0.0.1:1\", \"127.0.0.1:2\", \"127.0.0.1:3\","
	  " \"127.0.0.1:4\", \"127.0.0.1:5\", \"127.0.0.1:6\","
	  " \"127.0.0.1:7\", \"127.0.0.1:8\", \"127.0.0.1:9\"]}",
	    "listen[8]: more than 8 listen addresses" },
	{ "{\"auto_create\": \"yes\"}",
	    "auto_create: expected true or false, not a string" },
	{ "{\"queue_defaults\": {\"capacity\": -1}}",
	    "queue_defaults.capacity: -1 is not between 0 and "
	    "9223372036854775807" },
	{ "{\"queue_defaults\": {\"policy\": \"drop-newest\","
	  " \"capacity\": 0}}",
	    "queue_defaults: policy drop-newest needs a capacity of at "
	    "least 1" },
	{ "{\"queue_defaults\": []}",
	    "queue_defaults: expected an object, not an array" },
	{ "{\"queues\": {\"name\": \"a\"}}",
	    "queues: expected an array of queues, not an object" },
	{ "{\"queues\": [\"a\"]}",
	    "queues[0]: expected an object, not a string" },
	{ "{\"queues\": [{\"capacity\": 3}]}",
	    "queues[0]: missing key \"name\"" },
	{ "{\"queues\": [{\"name\": \"a b\"}]}",
	    "queues[0].name: \"a b\" is not a queue name (1 to 128 of A-Z "
	    "a-z 0-9 _ . : -)" },
	{ "{\"queues\": [{\"name\": \"a\"}, {\"name\": \"a\"}]}",
	    "queues[1].name: queue \"a\" is already defined by queues[0]" },
	{ "{\"queues\": [{\"name\": \"a\", \"capacity\": 0,"
	  " \"policy\": \"drop-oldest\"}]}",
	    "queues[0]: policy drop-oldest needs a capacity of at least 1" },
	{ "{\"queues\": [{\"name\": \"a\", \"dead_letter\": \"a\"}]}",
	    "queues[0].dead_letter: queue \"a\" cannot be its own dead-letter "
	    "queue" },
	{ "{\"queues\": [{\"name\": \"a\", \"dead_letter\": \"x/y\"}]}",
	    "queues[0].dead_letter: \"x/y\" is not a queue name (1 to 128 of "
	    "A-Z a-z 0-9 _ . : -)" },
	{ "{\"queues\": [{\"name\": \"a\", \"dead_letter\": 3}]}",
	    "queues[0].dead_letter: expected a queue name or null, not an "
	    "integer" },
	{ "{\"queues\": [{\"name\": \"a\", \"max_deliveries\": -2}]}",
	    "queues[0].max_deliveries: -2 is not between 0 and "
	    "9223372036854775807" },
	{ "{\"queue_defaults\": {\"dead_letter\": \"dlq\"}}",
	    "queue_defaults: unknown key \"dead_letter\" (expected one of "
	    "capacity, max_bytes, policy, lease_ms, max_deliveries, storage)" },
	{ "{\"queues\": [{\"name\": \"a\", \"max_bytes\": true}]}",
	    "queues[0].max_bytes: expected an integer, not a boolean" },
	{ "{\"max_queue_capacity\": 100}",
	    "queue_defaults.capacity: 1024 is more than max_queue_capacity "
	    "(100)" },
	{ "{\"queue_defaults\": {\"max_bytes\": 1073741825}}",
	    "queue_defaults.max_bytes: 1073741825 is more than "
	    "max_queue_bytes (1073741824)" },
	{ "{\"queues\": [{\"name\": \"a\", \"capacity\": 1000001}]}",
	    "queues[0].capacity: 1000001 is more than max_queue_capacity "
	    "(1000000)" },
	{ "{\"queues\": [{\"name\": \"a\"}, {\"name\": \"b\","
	  " \"max_bytes\": 5000}], \"max_queue_bytes\": 4096,"
	  " \"queue_defaults\": {\"max_bytes\": 10}}",
	    "queues[1].max_bytes: 5000 is more than max_queue_bytes (4096)" },
	{ "{\"max_queue_bytes\": -1}",
	    "max_queue_bytes: -1 is not between 0 and 9223372036854775807" },
	{ "{\"tcp_keepalive_s\": 40000}",
	    "tcp_keepalive_s: 40000 is not between 0 and 32767" },
	{ "{\"max_connections_per_address\": 0}",
	    "max_connections_per_address: 0 is not between 1 and 1000000" },
	{ "{\"metrics_allow\": [\"127.0.0.1/33\"]}",
	    "metrics_allow[0]: \"127.0.0.1/33\" is not an IPv4 or IPv6 "
	    "address with an optional /BITS" },
	{ "{\"metrics_allow\": \"127.0.0.1\"}",
	    "metrics_allow: expected an array of addresses or null, not a "
	    "string" },
	{ "{\"max_memory\": 5}",
	    "max_memory: 5 is not between 1048576 and 9223372036854775807" },
	{ "{\"request_timeout_ms\": -1}",
	    "request_timeout_ms: -1 is not between 0 and 86400000" },
	{ "{\"auth_token_file\": 5}",
	    "auth_token_file: expected a file name or null, not an integer" },
	{ "{\"log_level\": \"loud\"}",
	    "log_level: \"loud\" is not one of error, warning, notice, info, "
	    "debug" },
	{ "{\"shutdown_grace_ms\": -1}",
	    "shutdown_grace_ms: -1 is not between 0 and 86400000" },
	{ "{\"metrics\": \"127.0.0.1\"}",
	    "metrics: \"127.0.0.1\" is not an IPv4 or IPv6 address with a "
	    ":PORT" },
};

#define NBAD (int)(sizeof bad_configs / sizeof *bad_configs)

/* Check cfg_path as written; assert exit 78 and exactly this line. */
static void
expect_config_error(bool check_only, const char *line)
{
	const char *check[] = { "-t", "-c", cfg_path, NULL };
	const char *serve[] = { "-l", "127.0.0.1", "-p", "0", "-c", cfg_path,
		NULL };
	char out[4096], want[1024];

	snprintf(want, sizeof want, "sluiced: %s\n", line);
	ck_assert_int_eq(run_capture(check_only ? check : serve, out,
			     sizeof out),
	    EXIT_CONFIG);
	ck_assert_str_eq(out, want);
}

START_TEST(test_bad_value_is_reported_with_its_json_path_and_exit_78)
{
	char line[1024];

	write_config("%s", bad_configs[_i].json);
	snprintf(line, sizeof line, "%s: %s", cfg_path, bad_configs[_i].error);
	expect_config_error(true, line);
}
END_TEST

START_TEST(test_daemon_refuses_to_start_on_a_bad_value)
{
	char line[1024];

	write_config("%s", bad_configs[_i].json);
	snprintf(line, sizeof line, "%s: %s", cfg_path, bad_configs[_i].error);
	expect_config_error(false, line);
}
END_TEST

START_TEST(test_syntax_error_is_reported_as_file_line_column)
{
	char out[4096], want[256];
	const char *args[] = { "-t", "-c", cfg_path, NULL };

	write_config("{\n  \"port\": 7470,\n  \"listen\": [1,\n}\n");
	ck_assert_int_eq(run_capture(args, out, sizeof out), EXIT_CONFIG);
	snprintf(want, sizeof want, "sluiced: %s:4:1: ", cfg_path);
	ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "got \"%s\"", out);
}
END_TEST

START_TEST(test_duplicate_key_is_a_syntax_error)
{
	char out[4096], want[256];
	const char *args[] = { "-t", "-c", cfg_path, NULL };

	write_config("{\"port\": 1,\n \"port\": 2}\n");
	ck_assert_int_eq(run_capture(args, out, sizeof out), EXIT_CONFIG);
	snprintf(want, sizeof want, "sluiced: %s:2:", cfg_path);
	ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "got \"%s\"", out);
	ck_assert_ptr_nonnull(strstr(out, "duplicate"));
}
END_TEST

START_TEST(test_missing_config_file_is_a_config_error)
{
	char line[256];

	snprintf(line, sizeof line,
	    "%s: cannot open: No such file or directory", cfg_path);
	expect_config_error(true, line);
}
END_TEST

START_TEST(test_unreadable_token_file_is_a_config_error)
{
	char line[512];

	write_config("{\"auth_token_file\": \"nosuch\"}");
	snprintf(line, sizeof line,
	    "%s: auth_token_file: cannot read %s/nosuch: No such file or "
	    "directory",
	    cfg_path, dir);
	expect_config_error(true, line);
	write_config("{\"metrics_token_file\": \"nosuch\"}");
	snprintf(line, sizeof line,
	    "%s: metrics_token_file: cannot read %s/nosuch: No such file or "
	    "directory",
	    cfg_path, dir);
	expect_config_error(true, line);
}
END_TEST

START_TEST(test_token_file_that_is_a_fifo_is_a_config_error)
{
	char fifo[512], line[512];

	snprintf(fifo, sizeof fifo, "%s/token", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	write_config("{\"auth_token_file\": \"token\"}");
	/* Refused at once, not a start that waits for a writer. */
	snprintf(line, sizeof line,
	    "%s: auth_token_file: %s/token is not a regular file", cfg_path,
	    dir);
	expect_config_error(true, line);
}
END_TEST

START_TEST(test_empty_token_file_is_a_config_error)
{
	char line[512];

	write_file("token", "\n", NULL, 0);
	write_config("{\"auth_token_file\": \"token\"}");
	snprintf(line, sizeof line,
	    "%s: auth_token_file: %s/token holds no token", cfg_path, dir);
	expect_config_error(true, line);
}
END_TEST

START_TEST(test_help_and_version_exit_0_and_a_bad_flag_points_to_help)
{
	const char *help[] = { "--help", NULL }, *ver[] = { "--version", NULL };
	const char *bad[] = { "--bogus", NULL };
	const char *want = "sluiced " PACKAGE_VERSION "\n";
	char out[4096];

	ck_assert_int_eq(run_capture(help, out, sizeof out), 0);
	ck_assert_msg(strncmp(out, "usage: sluiced ", 15) == 0, "got %s", out);
	ck_assert_ptr_nonnull(strstr(out, "--version"));
	ck_assert_int_eq(run_capture(ver, out, sizeof out), 0);
	ck_assert_str_eq(out, want);
	ck_assert_int_eq(run_capture(bad, out, sizeof out), 64);
	ck_assert_ptr_nonnull(strstr(out, "sluiced --help"));
	ck_assert_ptr_null(strstr(out, "usage:"));
}
END_TEST

START_TEST(test_check_flag_accepts_a_good_file_without_serving)
{
	const char *args[] = { "-t", "-c", cfg_path, NULL };
	char out[4096], want[256];

	write_config("{\"listen\": [\"127.0.0.1:0\", \"[::1]\"], \"port\": 0,"
		     " \"queues\": [{\"name\": \"jobs\", \"capacity\": 3}],"
		     " \"log_level\": \"debug\","
		     " \"metrics\": \"127.0.0.1:0\"}");
	ck_assert_int_eq(run_capture(args, out, sizeof out), 0);
	snprintf(want, sizeof want, "sluiced: %s: configuration ok\n",
	    cfg_path);
	ck_assert_str_eq(out, want);
}
END_TEST

START_TEST(test_shipped_config_is_valid)
{
	const char *src = getenv("SLUICE_SRCDIR");
	char path[512], out[4096];
	const char *args[] = { "-t", "-c", path, NULL };

	ck_assert_msg(src != NULL, "SLUICE_SRCDIR must name the source tree");
	snprintf(path, sizeof path, "%s/conf/sluiced.json", src);
	ck_assert_int_eq(run_capture(args, out, sizeof out), 0);
}
END_TEST

/* ---- the "cluster" object ----------------------------------------- */

/*
 * The strings below are built from macros, which clang-format cannot
 * lay out readably.
 */
/* clang-format off */
/* Three members on loopback, as in conf/cluster-example/. */
#define MEMBER(n)                                                        \
	"{\"id\": " #n ", \"raft\": \"127.0.0.1:748" #n "\","            \
	" \"client\": \"127.0.0.1:747" #n "\"}"
#define MEMBERS3 "[" MEMBER(1) ", " MEMBER(2) ", " MEMBER(3) "]"

/* config_load() on cfg_path as written; 0 or -1 with err set. */
static int
load_config(struct config *cfg, char *err, size_t size)
{
	struct config_flags fl = { .file = cfg_path, .port = -1 };

	err[0] = '\0';
	return config_load(cfg, &fl, err, size);
}

START_TEST(test_cluster_config_loads_with_its_fields)
{
	char err[CONFIG_ERR_MAX];
	const struct config_member *self;
	struct config cfg, other;

	/* A port's leading zero is spelled away: one address, one way. */
	write_config("{\"data_dir\": \"%s/data\", \"fsync\": \"no\","
		     " \"cluster\": {\"id\": 2, \"members\": [" MEMBER(1) ","
		     " {\"id\": 2, \"raft\": \"127.0.0.1:07482\","
		     " \"client\": \"127.0.0.1:7472\"}, " MEMBER(3) "],"
		     " \"election_timeout_ms\": 3000,"
		     " \"heartbeat_timeout_ms\": 250,"
		     " \"snapshot_threshold\": 5000, \"snapshot_trailing\": 0,"
		     " \"max_batch\": 1048576}}",
	    dir);
	ck_assert_msg(load_config(&cfg, err, sizeof err) == 0, "%s", err);
	ck_assert(cfg.cluster.on);
	ck_assert_uint_eq(cfg.cluster.id, 2);
	ck_assert(!cfg.cluster.join);
	ck_assert_uint_eq(cfg.cluster.nmembers, 3);
	for (unsigned i = 0; i < 3; i++) {
		char raft[32], client[32];

		snprintf(raft, sizeof raft, "127.0.0.1:%u", 7481 + i);
		snprintf(client, sizeof client, "127.0.0.1:%u", 7471 + i);
		ck_assert_uint_eq(cfg.cluster.members[i].id, i + 1);
		ck_assert_str_eq(cfg.cluster.members[i].raft, raft);
		ck_assert_str_eq(cfg.cluster.members[i].client, client);
	}
	ck_assert_uint_eq(cfg.cluster.election_timeout_ms, 3000);
	ck_assert_uint_eq(cfg.cluster.heartbeat_timeout_ms, 250);
	ck_assert_uint_eq(cfg.cluster.snapshot_threshold, 5000);
	ck_assert_uint_eq(cfg.cluster.snapshot_trailing, 0);
	ck_assert_uint_eq(cfg.cluster.max_batch, 1048576);
	self = config_cluster_self(&cfg);
	ck_assert_ptr_eq(self, &cfg.cluster.members[1]);
	/* Every entry of the Raft log is synced, whatever "fsync" says. */
	ck_assert_int_eq(cfg.fsync, WAL_FSYNC_ALWAYS);
	ck_assert(cfg.fsync_set);
	ck_assert_int_eq(cfg.queue_defaults.storage, QUEUE_STORAGE_DISK);

	/* The same group in another order is the same; a new port is not. */
	write_config("{\"data_dir\": \"%s/data\", \"cluster\": {\"id\": 2,"
		     " \"members\": [" MEMBER(3) ", " MEMBER(1) ", " MEMBER(2)
		     "], \"election_timeout_ms\": 3000,"
		     " \"heartbeat_timeout_ms\": 250,"
		     " \"snapshot_threshold\": 5000, \"snapshot_trailing\": 0,"
		     " \"max_batch\": 1048576}}",
	    dir);
	ck_assert_msg(load_config(&other, err, sizeof err) == 0, "%s", err);
	ck_assert(config_cluster_equal(&cfg.cluster, &other.cluster));
	strcpy(other.cluster.members[0].client, "127.0.0.1:7479");
	ck_assert(!config_cluster_equal(&cfg.cluster, &other.cluster));
	config_free(&other);
	config_free(&cfg);
}
END_TEST

START_TEST(test_cluster_defaults_and_join)
{
	char err[CONFIG_ERR_MAX];
	const struct config_member *self;
	struct config cfg, none;

	/* Not a cluster: off, and no self. */
	write_config("{\"cluster\": null}");
	ck_assert_msg(load_config(&none, err, sizeof err) == 0, "%s", err);
	ck_assert(!none.cluster.on);
	ck_assert_ptr_null(config_cluster_self(&none));
	ck_assert_int_eq(none.fsync, CONFIG_DEFAULT_FSYNC);

	/* Joining, with the group's members listed: self is made up. */
	write_config("{\"data_dir\": \"%s/data\", \"cluster\": {\"id\": 4,"
		     " \"join\": true, \"raft\": \"127.0.0.1:7484\","
		     " \"client\": \"127.0.0.1:7474\","
		     " \"members\": " MEMBERS3 "}}",
	    dir);
	ck_assert_msg(load_config(&cfg, err, sizeof err) == 0, "%s", err);
	ck_assert(cfg.cluster.on && cfg.cluster.join);
	ck_assert(!cfg.fsync_set);
	ck_assert_uint_eq(cfg.cluster.election_timeout_ms,
	    CONFIG_DEFAULT_ELECTION_TIMEOUT_MS);
	ck_assert_uint_eq(cfg.cluster.heartbeat_timeout_ms,
	    CONFIG_DEFAULT_HEARTBEAT_TIMEOUT_MS);
	ck_assert_uint_eq(cfg.cluster.snapshot_threshold,
	    CONFIG_DEFAULT_SNAPSHOT_THRESHOLD);
	ck_assert_uint_eq(cfg.cluster.snapshot_trailing,
	    CONFIG_DEFAULT_SNAPSHOT_TRAILING);
	ck_assert_uint_eq(cfg.cluster.max_batch, CONFIG_DEFAULT_MAX_BATCH);
	self = config_cluster_self(&cfg);
	ck_assert_ptr_nonnull(self);
	ck_assert_uint_eq(self->id, 4);
	ck_assert_str_eq(self->raft, "127.0.0.1:7484");
	ck_assert_str_eq(self->client, "127.0.0.1:7474");
	ck_assert(!config_cluster_equal(&cfg.cluster, &none.cluster));
	config_free(&cfg);
	config_free(&none);

	/* Joining alone (no members listed) is fine too. */
	write_config("{\"data_dir\": \"%s/data\", \"cluster\": {\"id\": 9,"
		     " \"join\": true, \"raft\": \"10.0.0.9:7481\","
		     " \"client\": \"10.0.0.9:7471\"}}",
	    dir);
	ck_assert_msg(load_config(&cfg, err, sizeof err) == 0, "%s", err);
	ck_assert_uint_eq(cfg.cluster.nmembers, 0);
	ck_assert_str_eq(config_cluster_self(&cfg)->raft, "10.0.0.9:7481");
	config_free(&cfg);
}
END_TEST

/* A cluster file, and the message sluiced must print after "FILE: ". */
#define DD "\"data_dir\": \"/var/lib/sluice\", "
#define ONE(raft, client)                                              \
	"[{\"id\": 1, \"raft\": \"" raft "\", \"client\": \"" client "\"}]"
static const struct {
	const char *json;
	const char *error;
} bad_clusters[] = {
	{ "{\"cluster\": {\"id\": 1, \"members\": " MEMBERS3 "}}",
	    "cluster: needs a data_dir (-d): the Raft log is kept there" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"members\": [" MEMBER(1) ", "
	  "{\"id\": 1, \"raft\": \"127.0.0.1:7482\","
	  " \"client\": \"127.0.0.1:7472\"}]}}",
	    "cluster.members[1].id: 1 is already the id of "
	    "cluster.members[0]" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"members\": [" MEMBER(1) ", "
	  "{\"id\": 2, \"raft\": \"127.0.0.1:7481\","
	  " \"client\": \"127.0.0.1:7472\"}]}}",
	    "cluster.members[1].raft: \"127.0.0.1:7481\" is already "
	    "cluster.members[0].raft" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"members\": [" MEMBER(1) ", "
	  "{\"id\": 2, \"raft\": \"127.0.0.1:7482\","
	  " \"client\": \"127.0.0.1:7471\"}]}}",
	    "cluster.members[1].client: \"127.0.0.1:7471\" is already "
	    "cluster.members[0].client" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"members\": [" MEMBER(1) ", "
	  "{\"id\": 2, \"raft\": \"127.0.0.1:7471\","
	  " \"client\": \"127.0.0.1:7472\"}]}}",
	    "cluster.members[1].raft: \"127.0.0.1:7471\" is already "
	    "cluster.members[0].client" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"members\": "
	  ONE("localhost:1", "127.0.0.1:7471") "}}",
	    "cluster.members[0].raft: \"localhost:1\" is not a numeric IPv4 "
	    "address with a port (a.b.c.d:1-65535)" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"members\": "
	  ONE("1.2.3.4", "127.0.0.1:7471") "}}",
	    "cluster.members[0].raft: \"1.2.3.4\" is not a numeric IPv4 "
	    "address with a port (a.b.c.d:1-65535)" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"members\": "
	  ONE("127.0.0.1:7481", "1.2.3.4:0") "}}",
	    "cluster.members[0].client: \"1.2.3.4:0\" is not a numeric IPv4 "
	    "address with a port (a.b.c.d:1-65535)" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"members\": "
	  ONE("1.2.3.4:70000", "127.0.0.1:7471") "}}",
	    "cluster.members[0].raft: \"1.2.3.4:70000\" is not a numeric "
	    "IPv4 address with a port (a.b.c.d:1-65535)" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"members\": "
	  ONE("[::1]:7481", "127.0.0.1:7471") "}}",
	    "cluster.members[0].raft: \"[::1]:7481\" is not a numeric IPv4 "
	    "address with a port (a.b.c.d:1-65535)" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"members\": "
	  ONE("0.0.0.0:7481", "127.0.0.1:7471") "}}",
	    "cluster.members[0].raft: \"0.0.0.0:7481\": 0.0.0.0 is no address "
	    "to connect to" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"members\": "
	  ONE("127.0.0.1:7471", "127.0.0.1:7471") "}}",
	    "cluster.members[0].client: \"127.0.0.1:7471\" is already "
	    "cluster.members[0].raft" },
	{ "{" DD "\"cluster\": {\"id\": 4, \"members\": " MEMBERS3 "}}",
	    "cluster.id: 4 is not the id of one of members (without \"join\", "
	    "this server must be one)" },
	{ "{" DD "\"cluster\": {\"id\": 4, \"join\": true,"
	  " \"client\": \"127.0.0.1:7474\", \"members\": " MEMBERS3 "}}",
	    "cluster: missing key \"raft\" (\"join\": true needs this "
	    "server's own addresses)" },
	{ "{" DD "\"cluster\": {\"id\": 4, \"join\": true,"
	  " \"raft\": \"127.0.0.1:7484\"}}",
	    "cluster: missing key \"client\" (\"join\": true needs this "
	    "server's own addresses)" },
	{ "{" DD "\"cluster\": {\"id\": 3, \"join\": true,"
	  " \"raft\": \"127.0.0.1:7484\", \"client\": \"127.0.0.1:7474\","
	  " \"members\": " MEMBERS3 "}}",
	    "cluster.id: 3 is already the id of cluster.members[2] (a joining "
	    "server needs an id of its own)" },
	{ "{" DD "\"cluster\": {\"id\": 4, \"join\": true,"
	  " \"raft\": \"127.0.0.1:7482\", \"client\": \"127.0.0.1:7474\","
	  " \"members\": " MEMBERS3 "}}",
	    "cluster.raft: \"127.0.0.1:7482\" is already "
	    "cluster.members[1].raft" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"raft\": \"127.0.0.1:7481\","
	  " \"members\": " MEMBERS3 "}}",
	    "cluster.raft: only with \"join\": true (a member's own addresses "
	    "are its entry in members)" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"client\": \"127.0.0.1:7471\","
	  " \"members\": " MEMBERS3 "}}",
	    "cluster.client: only with \"join\": true (a member's own "
	    "addresses are its entry in members)" },
	{ "{" DD "\"cluster\": {\"id\": 1}}",
	    "cluster: missing key \"members\"" },
	{ "{" DD "\"cluster\": {\"members\": " MEMBERS3 "}}",
	    "cluster: missing key \"id\"" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"members\": []}}",
	    "cluster.members: expected at least one member" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"members\": [{\"id\": 1,"
	  " \"raft\": \"127.0.0.1:7481\"}]}}",
	    "cluster.members[0]: missing key \"client\"" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"peers\": " MEMBERS3 "}}",
	    "cluster: unknown key \"peers\" (expected one of id, members, "
	    "join, raft, client, election_timeout_ms, heartbeat_timeout_ms, "
	    "snapshot_threshold, snapshot_trailing, max_batch)" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"members\": [{\"id\": 1,"
	  " \"raft\": \"127.0.0.1:7481\", \"client\": \"127.0.0.1:7471\","
	  " \"voter\": true}]}}",
	    "cluster.members[0]: unknown key \"voter\" (expected one of id, "
	    "raft, client)" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"members\": [" MEMBER(1) ", "
	  MEMBER(2) ", " MEMBER(3) ", " MEMBER(4) ", " MEMBER(5) ", "
	  MEMBER(6) ", " MEMBER(7) ", " MEMBER(8) ", " MEMBER(9) ","
	  " {\"id\": 10, \"raft\": \"127.0.0.1:7490\","
	  " \"client\": \"127.0.0.1:7480\"}]}}",
	    "cluster.members: more than 9 members" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"members\": " MEMBERS3 ","
	  " \"election_timeout_ms\": 500, \"heartbeat_timeout_ms\": 500}}",
	    "cluster.election_timeout_ms: 500 is not more than "
	    "heartbeat_timeout_ms (500)" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"members\": " MEMBERS3 ","
	  " \"heartbeat_timeout_ms\": 5000}}",
	    "cluster.election_timeout_ms: 1000 is not more than "
	    "heartbeat_timeout_ms (5000)" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"members\": " MEMBERS3 ","
	  " \"election_timeout_ms\": 99}}",
	    "cluster.election_timeout_ms: 99 is not between 100 and 60000" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"members\": " MEMBERS3 ","
	  " \"heartbeat_timeout_ms\": 9}}",
	    "cluster.heartbeat_timeout_ms: 9 is not between 10 and 10000" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"members\": " MEMBERS3 ","
	  " \"snapshot_threshold\": 15}}",
	    "cluster.snapshot_threshold: 15 is not between 16 and 1000000" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"members\": " MEMBERS3 ","
	  " \"snapshot_trailing\": -1}}",
	    "cluster.snapshot_trailing: -1 is not between 0 and 1000000" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"members\": " MEMBERS3 ","
	  " \"max_batch\": 67108865}}",
	    "cluster.max_batch: 67108865 is not between 4096 and 67108864" },
	{ "{" DD "\"cluster\": {\"id\": 0, \"members\": " MEMBERS3 "}}",
	    "cluster.id: 0 is not between 1 and 9223372036854775807" },
	{ "{" DD "\"cluster\": {\"id\": 1, \"join\": \"no\","
	  " \"members\": " MEMBERS3 "}}",
	    "cluster.join: expected true or false, not a string" },
	{ "{" DD "\"cluster\": [1, 2, 3]}",
	    "cluster: expected an object or null, not an array" },
};

/* clang-format on */

#define NBADCLUSTER (int)(sizeof bad_clusters / sizeof *bad_clusters)

START_TEST(test_bad_cluster_is_reported_with_its_json_path)
{
	char line[1024];

	write_config("%s", bad_clusters[_i].json);
	snprintf(line, sizeof line, "%s: %s", cfg_path, bad_clusters[_i].error);
	expect_config_error(true, line);
}
END_TEST

/* -d supplies the data_dir a cluster needs, as the README's example. */
START_TEST(test_cluster_data_dir_may_come_from_the_flag)
{
	const char *args[] = { "-t", "-c", cfg_path, "-d", dir, NULL };
	char out[4096], want[256];

	write_config("{\"cluster\": {\"id\": 3, \"members\": " MEMBERS3 "}}");
	ck_assert_int_eq(run_capture(args, out, sizeof out), 0);
	snprintf(want, sizeof want, "sluiced: %s: configuration ok\n",
	    cfg_path);
	ck_assert_str_eq(out, want);
}
END_TEST

/* A cluster syncs every entry: a given fsync (or -f) is said to be moot. */
START_TEST(test_cluster_says_fsync_is_ignored)
{
	const char *args[] = { "-t", "-c", cfg_path, "-f", "no", NULL };
	char out[4096];

	write_config("{\"data_dir\": \"%s/data\", \"cluster\": {\"id\": 3,"
	             " \"members\": " MEMBERS3 "}}",
	    dir);
	ck_assert_int_eq(run_capture(args, out, sizeof out), 0);
	ck_assert_msg(strstr(out, "\"fsync\" (-f) is ignored in a cluster") !=
	        NULL,
	    "got %s", out);
	ck_assert_ptr_nonnull(strstr(out, "configuration ok"));
}
END_TEST

/* The example nodes of conf/cluster-example/ pass -t (-d as the README). */
START_TEST(test_cluster_example_nodes_are_valid)
{
	const char *src = getenv("SLUICE_SRCDIR");
	char path[512], out[4096];
	const char *args[] = { "-t", "-c", path, "-d", dir, NULL };

	ck_assert_msg(src != NULL, "SLUICE_SRCDIR must name the source tree");
	snprintf(path, sizeof path, "%s/conf/cluster-example/node%d.json", src,
	    _i + 1);
	ck_assert_msg(run_capture(args, out, sizeof out) == 0, "%s: %s", path,
	    out);
}
END_TEST

/* ---- the file as served -------------------------------------------- */

START_TEST(test_predefined_queues_are_served_as_configured)
{
	const char *args[] = { "-l", "127.0.0.1", "-p", "0", "-c", cfg_path,
		NULL };
	struct proc p;
	struct tconn *t;
	json_t *j;

	write_config("{\"queue_defaults\": {\"capacity\": 9, \"max_bytes\": 99,"
		     " \"policy\": \"reject\", \"lease_ms\": 999},"
		     " \"queues\": [{\"name\": \"jobs\", \"capacity\": 2,"
		     " \"policy\": \"drop-oldest\", \"lease_ms\": 30000},"
		     " {\"name\": \"rv\", \"capacity\": 0}]}");
	proc_start(&p, args, NULL, -1);
	t = tc_open(&p.d);
	ck_assert_ptr_nonnull(j = tc_stats(t, "jobs"));
	ck_assert_int_eq(stats_int(j, "capacity"), 2);
	ck_assert_int_eq(stats_int(j, "max_bytes"), 99); /* from defaults */
	ck_assert_str_eq(stats_str(j, "policy"), "drop-oldest");
	ck_assert_int_eq(stats_int(j, "lease_ms"), 30000);
	json_decref(j);
	ck_assert_int_eq(tc_stat(t, "rv", "capacity"), 0);
	/* CREATE with the same settings finds it as configured. */
	tc_request(t,
	    "CREATE jobs capacity=2 policy=drop-oldest lease_ms=30000",
	    "200 EXISTS");
	/* An auto-created queue takes queue_defaults. */
	tc_put(t, "fresh", "x");
	ck_assert_int_eq(tc_stat(t, "fresh", "capacity"), 9);
	ck_assert_int_eq(tc_stat(t, "fresh", "lease_ms"), 999);
	tc_close(t);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

START_TEST(test_limits_from_the_file_are_applied)
{
	const char *args[] = { "-l", "127.0.0.1", "-p", "0", "-c", cfg_path,
		NULL };
	struct proc p;
	struct tconn *t, *t2;

	write_config("{\"max_message\": 4, \"max_connections\": 1,"
		     " \"auto_create\": false,"
		     " \"queues\": [{\"name\": \"q\"}]}");
	proc_start(&p, args, NULL, -1);
	t = tc_open(&p.d);
	tc_sync(t);
	tc_send(t, "PUT q 5\r\nhello\r\n");
	tc_expect(t, "413 TOO_LARGE 4");
	tc_request(t, "GET nosuch", "404 NO_QUEUE nosuch");
	t2 = tc_open(&p.d);
	tc_expect(t2, "503 BUSY");
	tc_close(t2);
	tc_close(t);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

START_TEST(test_auth_token_from_file_is_required)
{
	const char *args[] = { "-l", "127.0.0.1", "-p", "0", "-c", cfg_path,
		NULL };
	struct proc p;
	struct tconn *t;

	write_file("token", "s3cret\n", NULL, 0);
	write_config("{\"auth_token_file\": \"token\"}");
	proc_start(&p, args, NULL, -1);
	t = tc_open(&p.d);
	tc_request(t, "STATS", "401 UNAUTHORIZED");
	tc_request(t, "AUTH wrong", "401 UNAUTHORIZED");
	tc_request(t, "AUTH s3cret", "200 OK");
	tc_put(t, "q", "x");
	tc_close(t);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

/* Each mistake in "tokens" is named by its path. */
static const struct {
	const char *json;
	const char *error;
} bad_tokens[] = {
	{ "{\"tokens\": {}}",
	    "tokens: expected an array of tokens, not an "
	    "object" },
	{ "{\"tokens\": [{\"allow\": []}]}",
	    "tokens[0]: missing key \"token_file\"" },
	{ "{\"tokens\": [{\"token_file\": \"t1\"}]}",
	    "tokens[0]: missing key \"allow\"" },
	{ "{\"tokens\": [{\"token_file\": \"t1\", \"allow\": [], "
	  "\"alow\": 1}]}",
	    "tokens[0]: unknown key \"alow\" (expected one of token_file, "
	    "allow)" },
	{ "{\"tokens\": [{\"token_file\": \"t1\", \"allow\": [{\"queues\": "
	  "\"a b\", \"can\": [\"produce\"]}]}]}",
	    "tokens[0].allow[0].queues: \"a b\" is not a glob of queue names "
	    "(1 to 256 of A-Z a-z 0-9 _ . : - and * ? [ ] !)" },
	{ "{\"tokens\": [{\"token_file\": \"t1\", \"allow\": [{\"queues\": "
	  "[\"a\", 5], \"can\": [\"produce\"]}]}]}",
	    "tokens[0].allow[0].queues[1]: expected a string, not an integer" },
	{ "{\"tokens\": [{\"token_file\": \"t1\", \"allow\": [{\"queues\": "
	  "\"a\", \"can\": [\"fly\"]}]}]}",
	    "tokens[0].allow[0].can[0]: \"fly\" is not one of produce, "
	    "consume, admin" },
	{ "{\"tokens\": [{\"token_file\": \"t1\", \"allow\": [{\"queues\": "
	  "\"a\"}]}]}",
	    "tokens[0].allow[0]: missing key \"can\"" },
	{ "{\"tokens\": [{\"token_file\": \"t1\", \"allow\": []}, "
	  "{\"token_file\": \"t2\", \"allow\": []}]}",
	    "tokens[1].token_file: the same token as tokens[0]" },
	{ "{\"auth_token_file\": \"t1\", \"tokens\": [{\"token_file\": "
	  "\"t2\", \"allow\": []}]}",
	    "tokens[0].token_file: the same token as auth_token_file" },
};

START_TEST(test_bad_tokens_are_reported_with_their_path)
{
	char line[1024];

	write_file("t1", "same\n", NULL, 0);
	write_file("t2", "same", NULL, 0);
	write_config("%s", bad_tokens[_i].json);
	snprintf(line, sizeof line, "%s: %s", cfg_path, bad_tokens[_i].error);
	expect_config_error(true, line);
}
END_TEST

/* New tokens apply to AUTHs after a reload; older connections keep theirs. */
START_TEST(test_sighup_applies_new_tokens_to_new_auths)
{
	const char *args[] = { "-l", "127.0.0.1", "-p", "0", "-c", cfg_path,
		NULL };
	struct proc p;
	struct tconn *old, *t;

	write_file("t1", "one\n", NULL, 0);
	write_config("{\"tokens\": [{\"token_file\": \"t1\", \"allow\": "
	             "[{\"queues\": \"a\", \"can\": [\"produce\"]}]}]}");
	proc_start(&p, args, NULL, -1);
	old = tc_open(&p.d);
	tc_request(old, "AUTH one", "200 OK");
	write_file("t2", "two\n", NULL, 0);
	write_config("{\"tokens\": [{\"token_file\": \"t2\", \"allow\": "
	             "[{\"queues\": \"*\", \"can\": [\"consume\"]}]}]}");
	kill(p.pid, SIGHUP);
	proc_wait_log(&p, "reloaded");
	t = tc_open(&p.d);
	tc_request(t, "AUTH one", "401 UNAUTHORIZED");
	tc_request(t, "AUTH two", "200 OK");
	tc_request(t, "GET a", "204 EMPTY");
	tc_send_put(t, "a", "x");
	tc_expect(t, "403 FORBIDDEN a");
	/* The old connection keeps the rights it was given. */
	tc_put(old, "a", "x");
	tc_request(old, "GET a", "403 FORBIDDEN a");
	tc_close(old);
	tc_close(t);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

START_TEST(test_flags_override_the_file)
{
	/* What harness_start() passes, then the file. */
	const char *args[] = { "-l", "127.0.0.1", "-p", "0", "-c", cfg_path,
		"-v", NULL };
	struct proc p;
	struct tconn *t;

	/*
	 * 192.0.2.1 (TEST-NET-1) is on no interface: binding it would
	 * fail.  "error" would hide the "listening on" line; -v wins.
	 */
	write_config("{\"listen\": [\"192.0.2.1:7470\"],"
		     " \"log_level\": \"error\"}");
	proc_start(&p, args, NULL, -1);
	t = tc_open(&p.d);
	tc_sync(t);
	/* Debug level: every request is logged. */
	proc_wait_log(&p, "PING");
	tc_close(t);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

/*
 * The log is for operators: levels in words, every connection line
 * with the client's address, what happened in words (no function
 * names), one connection's flood of debug lines held back and counted,
 * and refusals said once a second with the address.
 */
START_TEST(test_log_lines_name_the_client_and_hold_back_floods)
{
	const char *args[] = { "-l", "127.0.0.1", "-p", "0", "-c", cfg_path,
		"-v", NULL };
	struct proc p;
	struct tconn *t, *busy;
	char want[64];
	const char *l;
	int pings = 0;

	write_config("{\"max_connections\": 1}");
	proc_start(&p, args, NULL, -1);
	l = proc_wait_log(&p, "sluiced 0.");
	ck_assert_msg(strstr(l, " sluiced: info: ") != NULL, "%s", l);
	t = tc_open(&p.d);
	l = proc_wait_log(&p, "connected");
	ck_assert_msg(strstr(l, " sluiced: debug: client 127.0.0.1:") != NULL,
	    "%s", l);
	/* A burst of 100 requests: at most the allowance is logged. */
	for (int i = 0; i < 100; i++)
		tc_send(t, "PING\r\n");
	for (int i = 0; i < 100; i++)
		tc_expect(t, "200 PONG");
	busy = tc_open(&p.d);
	tc_expect(busy, "503 BUSY");
	tc_close(busy);
	tc_close(t);
	snprintf(want, sizeof want, "lines about it were held back");
	while (proc_line(&p)) {
		ck_assert_msg(strstr(p.line, "conn_") == NULL &&
		        strstr(p.line, "fd ") == NULL,
		    "an internal name: %s", p.line);
		if (strstr(p.line, ": PING") != NULL)
			pings++;
		if (strstr(p.line, "warn: refused client 127.0.0.1:") != NULL)
			ck_assert_ptr_nonnull(
			    strstr(p.line, "max_connections reached"));
		if (strstr(p.line, "disconnected after 100 requests") != NULL)
			break;
	}
	ck_assert_int_ge(pings, 1);
	/* 10 a second: a burst across a second's end may get 20. */
	ck_assert_int_le(pings, 20);
	ck_assert_msg(strstr(p.line, want) != NULL, "%s", p.line);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

START_TEST(test_port_flag_applies_to_every_listener)
{
	const char *args[] = { "-c", cfg_path, "-p", "0", NULL };
	struct proc p;
	struct daemon second;
	struct tconn *a, *b;

	write_config("{\"listen\": [\"127.0.0.1:7470\", \"127.0.0.1\"],"
		     " \"port\": 7470}");
	proc_start(&p, args, NULL, -1);
	second = p.d;
	second.port = port_of(proc_wait_log(&p, "listening on "));
	ck_assert_int_ne(second.port, p.d.port);
	a = tc_open(&p.d);
	b = tc_open(&second);
	tc_sync(a);
	tc_sync(b);
	tc_close(a);
	tc_close(b);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

START_TEST(test_every_listen_address_is_served)
{
	const char *args[] = { "-c", cfg_path, NULL };
	struct proc p;
	struct daemon second;
	struct tconn *a, *b;

	write_config("{\"listen\": [\"127.0.0.1:0\", \"127.0.0.1:0\"]}");
	proc_start(&p, args, NULL, -1);
	second = p.d;
	second.port = port_of(proc_wait_log(&p, "listening on "));
	a = tc_open(&p.d);
	b = tc_open(&second);
	tc_put(a, "both", "one");
	tc_send(b, "GET both\r\n");
	tc_expect_msg(b, "one");
	tc_close(a);
	tc_close(b);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

/* ---- SIGTERM: the drain -------------------------------------------- */

/* Start with cfg_path (as the harness does) and one queue `q` full. */
static void
start_with_full_queue(struct proc *p, struct tconn **t)
{
	const char *args[] = { "-l", "127.0.0.1", "-p", "0", "-c", cfg_path,
		NULL };

	proc_start(p, args, NULL, -1);
	*t = tc_open(&p->d);
	tc_put(*t, "q", "one");
	tc_put(*t, "q", "two");
}

/* A new connection whose PUT of "three" waits on the full q (t sees it). */
static struct tconn *
park_producer(struct proc *p, struct tconn *t)
{
	struct tconn *prod = tc_open(&p->d);

	tc_send_put(prod, "q", "three");
	tc_await_stat(t, "q", "blocked_producers", 1);
	return prod;
}

START_TEST(test_sigterm_answers_a_parked_producer_503_shutting_down)
{
	struct proc p;
	struct tconn *t, *prod;

	write_config("{\"queues\": [{\"name\": \"q\", \"capacity\": 2}]}");
	start_with_full_queue(&p, &t);
	prod = park_producer(&p, t);
	kill(p.pid, SIGTERM);
	tc_expect(prod, "503 SHUTTING_DOWN");
	/* And the connection goes on: a new PUT is refused the same way. */
	tc_send(prod, "PUT q 4\r\nfour\r\n");
	tc_expect(prod, "503 SHUTTING_DOWN");
	ck_assert_int_eq(tc_stat(t, "q", "depth"), 2);
	tc_close(prod);
	tc_close(t);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

START_TEST(test_sigterm_lets_a_consumer_drain_then_exits_0)
{
	struct proc p;
	struct tconn *t;

	write_config("{\"shutdown_grace_ms\": 60000}");
	start_with_full_queue(&p, &t);
	kill(p.pid, SIGTERM);
	proc_wait_log(&p, "draining 2 messages");
	/* Still serving: the consumer takes what is left. */
	tc_send(t, "PUT q 5\r\nthree\r\n");
	tc_expect(t, "503 SHUTTING_DOWN");
	tc_send(t, "GET q\r\n");
	tc_expect_msg(t, "one");
	tc_send(t, "RESERVE q\r\n");
	tc_expect_msg(t, "two");
	/* A reservation is not done until acknowledged. */
	tc_request(t, "ACK 2", "200 ACKED");
	proc_wait_log(&p, "drain done: every queue is empty");
	proc_wait_log(&p, "stopped, 0 messages left");
	/* It stopped by itself, the consumer still connected. */
	ck_assert_int_eq(proc_exit(&p), 0);
	tc_close(t);
}
END_TEST

START_TEST(test_drain_waits_for_reserved_messages_until_the_grace_ends)
{
	struct proc p;
	struct tconn *t;

	write_config("{\"shutdown_grace_ms\": 200}");
	start_with_full_queue(&p, &t);
	tc_send(t, "GET q\r\n");
	tc_expect_msg(t, "one");
	tc_send(t, "RESERVE q\r\n");
	tc_expect_msg(t, "two");
	/* No ready message left, one reserved and never acknowledged. */
	kill(p.pid, SIGTERM);
	proc_wait_log(&p, "drain done: the grace period is over");
	proc_wait_log(&p, "stopped, 1 messages left");
	ck_assert_int_eq(proc_exit(&p), 0);
	tc_close(t);
}
END_TEST

START_TEST(test_drain_ends_when_no_client_is_left)
{
	struct proc p;
	struct tconn *t;

	write_config("{\"shutdown_grace_ms\": 60000}");
	start_with_full_queue(&p, &t);
	kill(p.pid, SIGTERM);
	proc_wait_log(&p, "draining 2 messages for 1 clients");
	tc_close(t);
	proc_wait_log(&p, "drain done: no client left");
	proc_wait_log(&p, "stopped, 2 messages left");
	ck_assert_int_eq(proc_exit(&p), 0);
}
END_TEST

START_TEST(test_second_sigterm_stops_at_once)
{
	struct proc p;
	struct tconn *t;

	write_config("{\"shutdown_grace_ms\": 60000}");
	start_with_full_queue(&p, &t);
	kill(p.pid, SIGTERM);
	proc_wait_log(&p, "draining 2 messages");
	kill(p.pid, SIGTERM);
	proc_wait_log(&p, "again: stopping now");
	proc_wait_log(&p, "stopped, 2 messages left");
	ck_assert_int_eq(proc_exit(&p), 0);
	tc_close(t);
}
END_TEST

START_TEST(test_sigterm_refuses_new_connections)
{
	struct proc p;
	struct tconn *t;
	int fd;

	write_config("{\"shutdown_grace_ms\": 60000}");
	start_with_full_queue(&p, &t);
	kill(p.pid, SIGTERM);
	proc_wait_log(&p, "draining 2 messages");
	fd = try_connect(p.d.port);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(errno, ECONNREFUSED);
	tc_sync(t);
	tc_close(t);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

START_TEST(test_harness_stop_is_prompt_with_messages_left)
{
	struct daemon d;
	struct tconn *t;

	/* The other suites leave messages and connections behind. */
	harness_start(&d, NULL);
	t = tc_open(&d);
	tc_put(t, "left", "behind");
	ck_assert_int_eq(harness_stop(&d), 0);
	tc_close(t);
}
END_TEST

/* ---- SIGHUP: reload ------------------------------------------------ */

static void
start_with_config(struct proc *p)
{
	const char *args[] = { "-l", "127.0.0.1", "-p", "0", "-c", cfg_path,
		NULL };

	proc_start(p, args, NULL, -1);
}

START_TEST(test_sighup_creates_a_new_predefined_queue)
{
	struct proc p;
	struct tconn *t;

	write_config("{\"queues\": [{\"name\": \"a\", \"capacity\": 3}]}");
	start_with_config(&p);
	t = tc_open(&p.d);
	ck_assert_ptr_null(tc_stats(t, "b"));
	write_config("{\"queues\": [{\"name\": \"a\", \"capacity\": 3},"
		     " {\"name\": \"b\", \"capacity\": 7,"
		     " \"policy\": \"reject\"}]}");
	kill(p.pid, SIGHUP);
	proc_wait_log(&p, "reloaded");
	ck_assert_int_eq(tc_stat(t, "b", "capacity"), 7);
	ck_assert_int_eq(tc_stat(t, "a", "capacity"), 3);
	tc_close(t);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

/* A loopback port nobody listens on at the moment. */
static int
free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

/* The group is set up at start: a reload keeps it, and says so. */
START_TEST(test_sighup_keeps_the_running_cluster)
{
	char data[128];
	struct proc p;
	int raft = free_port(), client = free_port();

	snprintf(data, sizeof data, "%s/data", dir);
	write_config("{\"data_dir\": \"%s\", \"cluster\": {\"id\": 1,"
	             " \"members\": [{\"id\": 1, \"raft\": \"127.0.0.1:%d\","
	             " \"client\": \"127.0.0.1:%d\"}]}}",
	    data, raft, client);
	start_with_config(&p);
	/* The same cluster, with the log level changed: no notice. */
	write_config("{\"data_dir\": \"%s\", \"log_level\": \"notice\","
	             " \"cluster\": {\"id\": 1,"
	             " \"members\": [{\"id\": 1, \"raft\": \"127.0.0.1:%d\","
	             " \"client\": \"127.0.0.1:%d\"}]}}",
	    data, raft, client);
	kill(p.pid, SIGHUP);
	while (proc_line(&p) && strstr(p.line, "reloaded ") == NULL)
		ck_assert_ptr_null(strstr(p.line, "\"cluster\" changed"));
	write_config("{\"data_dir\": \"%s\", \"cluster\": {\"id\": 1,"
	             " \"heartbeat_timeout_ms\": 200,"
	             " \"members\": [{\"id\": 1, \"raft\": \"127.0.0.1:%d\","
	             " \"client\": \"127.0.0.1:%d\"}]}}",
	    data, raft, client);
	kill(p.pid, SIGHUP);
	proc_wait_log(&p,
	    "reload: \"cluster\" changed; it applies at the "
	    "next restart");
	proc_wait_log(&p, "reloaded ");
	ck_assert_int_eq(proc_stop(&p), 0);
	harness_rm_rf(data);
}
END_TEST

START_TEST(test_sighup_with_a_broken_file_keeps_the_running_config)
{
	struct proc p;
	struct tconn *t;
	const char *l;
	char want[256];

	write_config("{\"queues\": [{\"name\": \"a\", \"capacity\": 3}]}");
	start_with_config(&p);
	t = tc_open(&p.d);
	write_config("{\"queues\": [{\"name\": \"a\", \"capacity\": 5}],\n");
	kill(p.pid, SIGHUP);
	l = proc_wait_log(&p, "reload failed");
	snprintf(want, sizeof want, "%s:2:0: ", cfg_path);
	ck_assert_msg(strstr(l, want) != NULL, "no %s in \"%s\"", want, l);
	write_config("{\"queues\": [{\"name\": \"a\", \"capacity\": \"5\"}]}");
	kill(p.pid, SIGHUP);
	proc_wait_log(&p, "queues[0].capacity: expected an integer");
	ck_assert_int_eq(tc_stat(t, "a", "capacity"), 3);
	/* And a good file later applies. */
	write_config("{\"queues\": [{\"name\": \"a\", \"capacity\": 5}]}");
	kill(p.pid, SIGHUP);
	proc_wait_log(&p, "reloaded");
	ck_assert_int_eq(tc_stat(t, "a", "capacity"), 5);
	tc_close(t);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

/*
 * A reload gives a configured queue new max_deliveries and dead_letter,
 * for the messages that come back from then on; a closed queue stays
 * closed.
 */
START_TEST(test_sighup_changes_dead_letter_settings_and_keeps_closed)
{
	struct proc p;
	struct tconn *t;
	unsigned long long id;

	write_config("{\"queues\": [{\"name\": \"q\"}, {\"name\": \"c\"}]}");
	start_with_config(&p);
	t = tc_open(&p.d);
	tc_request(t, "CLOSE c", "200 CLOSED");
	id = tc_put(t, "q", "m");
	tc_send(t, "RESERVE q\r\n");
	tc_expect_msg(t, "m");
	write_config("{\"queues\": [{\"name\": \"q\", \"max_deliveries\": 1,"
		     " \"dead_letter\": \"dlq\"}, {\"name\": \"c\"}]}");
	kill(p.pid, SIGHUP);
	proc_wait_log(&p, "reloaded");
	ck_assert_int_eq(tc_stat(t, "q", "max_deliveries"), 1);
	tc_send(t, "NACK %llu\r\n", id);
	tc_expect(t, "200 REQUEUED dead_lettered=moved");
	tc_send(t, "GET dlq\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "m"), id);
	tc_request(t, "GET c", "410 CLOSED c");
	/* CREATE compares the new settings. */
	tc_request(t, "CREATE q max_deliveries=1 dead_letter=dlq",
	    "200 EXISTS");
	tc_close(t);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

/*
 * A reload judges the producers parked on a full `block` queue (capacity
 * 2, holding "one" and "two"; "three" parked) under the new settings.
 */
static const struct {
	const char *what;
	const char *config;  /* the file the reload reads */
	const char *answer;  /* the parked producer's answer, a prefix */
	long long depth;     /* the queue's depth after it */
} reload_parked[] = {
	{ "growing the capacity admits it",
	    "{\"queues\": [{\"name\": \"q\", \"capacity\": 3}]}",
	    "200 QUEUED ", 3 },
	/* "three" can never fit in 4 bytes: it must not wait forever. */
	{ "shrinking max_bytes below its body refuses it 413",
	    "{\"queues\": [{\"name\": \"q\", \"capacity\": 2,"
	    " \"max_bytes\": 4}]}",
	    "413 TOO_LARGE 4", 2 },
	/* Not left behind new PUTs on a queue that no longer blocks. */
	{ "a policy that no longer blocks answers it by that policy",
	    "{\"queues\": [{\"name\": \"q\", \"capacity\": 2,"
	    " \"policy\": \"reject\"}]}",
	    "503 FULL q retry_after_ms=", 2 },
};

START_TEST(test_sighup_judges_parked_producers_under_new_settings)
{
	struct proc p;
	struct tconn *t, *prod;
	const char *got;

	write_config("{\"queues\": [{\"name\": \"q\", \"capacity\": 2}]}");
	start_with_full_queue(&p, &t);
	prod = park_producer(&p, t);
	write_config("%s", reload_parked[_i].config);
	kill(p.pid, SIGHUP);
	got = tc_line(prod);
	ck_assert_msg(strncmp(got, reload_parked[_i].answer,
			  strlen(reload_parked[_i].answer)) == 0,
	    "%s: got \"%s\"", reload_parked[_i].what, got);
	ck_assert_int_eq(tc_stat(t, "q", "blocked_producers"), 0);
	ck_assert_int_eq(tc_stat(t, "q", "depth"), reload_parked[_i].depth);
	tc_close(prod);
	tc_close(t);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

START_TEST(test_sighup_applies_new_defaults_to_new_queues_only)
{
	struct proc p;
	struct tconn *t;
	const char *args[] = { "-c", cfg_path, NULL };

	write_config("{\"queue_defaults\": {\"capacity\": 5},"
		     " \"listen\": [\"127.0.0.1:0\"]}");
	proc_start(&p, args, NULL, -1);
	t = tc_open(&p.d);
	tc_put(t, "old", "x");
	write_config("{\"queue_defaults\": {\"capacity\": 6},"
		     " \"listen\": [\"127.0.0.1:1\"]}");
	kill(p.pid, SIGHUP);
	proc_wait_log(&p, "\"listen\" changed; it applies at the next restart");
	proc_wait_log(&p, "reloaded");
	tc_put(t, "new", "x");
	ck_assert_int_eq(tc_stat(t, "old", "capacity"), 5);
	ck_assert_int_eq(tc_stat(t, "new", "capacity"), 6);
	tc_close(t);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

/* ---- /metrics ------------------------------------------------------ */

#define SAMPLES_MAX 512

struct sample {
	char name[128];
	char queue[160]; /* the queue label; "" when none */
	double value;
};

static bool
metric_name_char(char ch, bool first)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    ch == '_' || ch == ':' || (!first && ch >= '0' && ch <= '9');
}

/* Length of the metric name at s; fails the test if there is none. */
static size_t
metric_name(const char *s)
{
	size_t n = 0;

	while (metric_name_char(s[n], n == 0))
		n++;
	ck_assert_msg(n > 0, "no metric name at \"%s\"", s);
	return n;
}

/*
 * Parse the labels {k="v",...} at s into x (only "queue" is kept);
 * returns what follows the closing brace.
 */
static char *
parse_labels(char *s, struct sample *x)
{
	s++;
	while (*s != '}') {
		size_t k = metric_name(s);
		bool is_queue = k == 5 && strncmp(s, "queue", 5) == 0;
		char *end;

		ck_assert_msg(s[k] == '=' && s[k + 1] == '"', "bad label");
		s += k + 2;
		ck_assert_ptr_nonnull(end = strchr(s, '"'));
		if (is_queue)
			snprintf(x->queue, sizeof x->queue, "%.*s",
			    (int)(end - s), s);
		s = end + 1;
		if (*s == ',')
			s++;
		else
			ck_assert_msg(*s == '}', "bad label list");
	}
	return s + 1;
}

/*
 * Parse Prometheus text (format 0.0.4) strictly: HELP and TYPE lines,
 * and samples whose family was TYPEd before.  Returns the samples.
 */
static size_t
parse_prometheus(char *text, struct sample *out, size_t max)
{
	char typed[64][128], *save, *l;
	size_t ntyped = 0, n = 0;

	for (l = strtok_r(text, "\n", &save); l != NULL;
	     l = strtok_r(NULL, "\n", &save)) {
		char *end;
		size_t k;

		if (strncmp(l, "# HELP ", 7) == 0) {
			k = metric_name(l + 7);
			ck_assert_msg(l[7 + k] == ' ', "bad HELP \"%s\"", l);
			continue;
		}
		if (strncmp(l, "# TYPE ", 7) == 0) {
			k = metric_name(l + 7);
			ck_assert_msg(strcmp(l + 7 + k, " counter") == 0 ||
				strcmp(l + 7 + k, " gauge") == 0,
			    "bad TYPE \"%s\"", l);
			ck_assert(ntyped < 64);
			snprintf(typed[ntyped++], 128, "%.*s", (int)k, l + 7);
			continue;
		}
		ck_assert_msg(l[0] != '#', "unknown comment \"%s\"", l);
		ck_assert(n < max);
		memset(&out[n], 0, sizeof out[n]);
		k = metric_name(l);
		snprintf(out[n].name, sizeof out[n].name, "%.*s", (int)k, l);
		l += k;
		if (*l == '{')
			l = parse_labels(l, &out[n]);
		ck_assert_msg(*l == ' ', "no value after %s", out[n].name);
		out[n].value = strtod(l + 1, &end);
		ck_assert_msg(end != l + 1 && *end == '\0',
		    "bad value for %s", out[n].name);
		size_t i;
		for (i = 0; i < ntyped && strcmp(typed[i], out[n].name); i++)
			;
		ck_assert_msg(i < ntyped, "%s has no TYPE", out[n].name);
		n++;
	}
	return n;
}

static double
sample_of(const struct sample *s, size_t n, const char *name,
    const char *queue)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s[i].name, name) == 0 &&
		    strcmp(s[i].queue, queue) == 0)
			return s[i].value;
	ck_abort_msg("no sample %s{queue=\"%s\"}", name, queue);
	return -1;
}

/* A STATS field and the metric family reporting it. */
static const struct {
	const char *field;
	const char *metric;
} stat_metrics[] = {
	{ "depth", "sluice_queue_depth" },
	{ "reserved", "sluice_queue_reserved" },
	{ "bytes", "sluice_queue_bytes" },
	{ "capacity", "sluice_queue_capacity" },
	{ "max_bytes", "sluice_queue_max_bytes" },
	{ "blocked_producers", "sluice_queue_blocked_producers" },
	{ "waiting_consumers", "sluice_queue_waiting_consumers" },
	{ "puts", "sluice_queue_puts_total" },
	{ "gets", "sluice_queue_gets_total" },
	{ "acks", "sluice_queue_acks_total" },
	{ "nacks", "sluice_queue_nacks_total" },
	{ "redelivered", "sluice_queue_redelivered_total" },
	{ "rejected", "sluice_queue_rejected_total" },
	{ "dropped", "sluice_queue_dropped_total" },
	{ "delayed", "sluice_queue_delayed" },
	{ "dead_lettered", "sluice_queue_dead_lettered_total" },
};
#define NSTAT_METRICS (sizeof stat_metrics / sizeof *stat_metrics)

START_TEST(test_metrics_parse_as_prometheus_text_and_match_stats)
{
	struct proc p;
	struct tconn *t, *prod, *cons;
	struct sample *s = calloc(SAMPLES_MAX, sizeof *s);
	char *body;
	json_t *all, *queues, *q;
	const char *name;
	unsigned long long poison;
	size_t n;

	write_config("{\"port\": 0, \"metrics\": \"127.0.0.1:0\", \"queues\": ["
		     " {\"name\": \"jobs\", \"capacity\": 2,"
		     " \"policy\": \"reject\"},"
		     " {\"name\": \"blk\", \"capacity\": 1},"
		     " {\"name\": \"drops\", \"capacity\": 1,"
		     " \"policy\": \"drop-newest\"},"
		     " {\"name\": \"poison\", \"max_deliveries\": 1,"
		     " \"dead_letter\": \"dead\"}]}");
	proc_start_metrics(&p);
	t = tc_open(&p.d);
	prod = tc_open(&p.d);
	cons = tc_open(&p.d);
	tc_put(t, "jobs", "a");
	tc_put(t, "jobs", "bb");
	tc_send_put(t, "jobs", "c");
	tc_expect_prefix(t, "503 FULL jobs");
	tc_send(t, "RESERVE jobs\r\n");
	tc_expect_msg(t, "a");
	tc_request(t, "NACK 1", "200 REQUEUED");
	tc_send(t, "RESERVE jobs\r\n");
	tc_expect_msg(t, "a");
	tc_request(t, "ACK 1", "200 ACKED");
	tc_send(t, "RESERVE jobs\r\n");
	tc_expect_msg(t, "bb");
	tc_request(t, "NACK 2 60000", "200 REQUEUED");
	tc_put(t, "drops", "x");
	tc_send_put(t, "drops", "y");
	tc_expect(t, "202 DROPPED drops");
	tc_put(t, "blk", "x");
	tc_send_put(prod, "blk", "y");
	tc_send(cons, "GET idle 60000\r\n");
	tc_await_stat(t, "blk", "blocked_producers", 1);
	tc_await_stat(t, "idle", "waiting_consumers", 1);
	poison = tc_put(t, "poison", "p");
	tc_send(t, "RESERVE poison\r\nNACK %llu\r\n", poison);
	tc_expect_msg(t, "p");
	tc_expect(t, "200 REQUEUED dead_lettered=moved");
	tc_request(t, "CLOSE drops", "200 CLOSED");

	all = tc_stats(t, NULL);
	ck_assert_int_eq(http_get(p.metrics_port, "/metrics", &body), 200);
	n = parse_prometheus(body, s, SAMPLES_MAX);
	queues = json_object_get(all, "queues");
	ck_assert_int_eq(json_object_size(queues), 6);
	json_object_foreach(queues, name, q) {
		for (size_t i = 0; i < NSTAT_METRICS; i++) {
			const char *m = stat_metrics[i].metric;
			const char *f = stat_metrics[i].field;

			ck_assert_msg(sample_of(s, n, m, name) ==
				(double)stats_int(q, f),
			    "%s{queue=\"%s\"} != STATS %s", m, name, f);
		}
		ck_assert_msg(sample_of(s, n, "sluice_queue_closed", name) ==
			(json_is_true(json_object_get(q, "closed")) ? 1 : 0),
		    "sluice_queue_closed{queue=\"%s\"} != STATS closed",
		    name);
	}
	ck_assert(sample_of(s, n, "sluice_connections", "") ==
	    (double)stats_int(all, "connections"));
	ck_assert(sample_of(s, n, "sluice_messages", "") ==
	    (double)stats_int(all, "messages"));
	ck_assert(sample_of(s, n, "sluice_queues", "") == 6);
	ck_assert(sample_of(s, n, "sluice_memory_budget_bytes", "") ==
	    (double)stats_int(all, "max_memory"));
	ck_assert(sample_of(s, n, "sluice_memory_bytes", "") > 0);
	ck_assert(sample_of(s, n, "sluice_uptime_seconds", "") >= 0);
	ck_assert(sample_of(s, n, "sluice_queue_blocked_seconds_total",
		      "blk") >= 0);
	/* The numbers the scenario above must have produced. */
	ck_assert_int_eq(stats_int(json_object_get(queues, "jobs"), "acks"), 1);
	ck_assert_int_eq(stats_int(json_object_get(queues, "jobs"),
			     "rejected"), 1);
	ck_assert_int_eq(stats_int(json_object_get(queues, "drops"),
			     "dropped"), 1);
	ck_assert_int_eq(stats_int(json_object_get(queues, "jobs"),
			     "delayed"), 1);
	ck_assert_int_eq(stats_int(json_object_get(queues, "poison"),
			     "dead_lettered"), 1);
	ck_assert_int_eq(stats_int(json_object_get(queues, "dead"),
			     "depth"), 1);
	ck_assert(json_is_true(json_object_get(json_object_get(queues,
	    "drops"), "closed")));
	json_decref(all);
	free(body);
	free(s);
	tc_close(cons);
	tc_close(prod);
	tc_close(t);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

/* One sample of a fresh scrape of /metrics (queue "" for none). */
static double
scrape_one(int port, const char *name, const char *queue)
{
	struct sample *s = calloc(SAMPLES_MAX, sizeof *s);
	char *body;
	double v;
	size_t n;

	ck_assert_int_eq(http_get(port, "/metrics", &body), 200);
	n = parse_prometheus(body, s, SAMPLES_MAX);
	v = sample_of(s, n, name, queue);
	free(body);
	free(s);
	return v;
}

/*
 * The operator's numbers beyond STATS: connections accepted and
 * refused, 400s, bytes both ways, the age of the oldest message (the
 * "is this queue stuck" signal), and the process's own.
 */
START_TEST(test_metrics_count_connections_errors_bytes_and_message_age)
{
	static const char put[] = "PUT aged 1\r\nx\r\n";
	struct proc p;
	struct tconn *t, *c2, *c3;
	double age = 0, start, now = (double)time(NULL);

	write_config("{\"port\": 0, \"metrics\": \"127.0.0.1:0\","
	             " \"max_connections\": 2}");
	proc_start_metrics(&p);
	t = tc_open(&p.d);
	c2 = tc_open(&p.d);
	c3 = tc_open(&p.d);
	tc_expect(c3, "503 BUSY");
	tc_expect_closed(c3);
	tc_close(c3);
	tc_close(c2);
	tc_await_stat(t, NULL, "connections", 1);
	tc_request(t, "BOGUS", "400 BAD_REQUEST unknown command");
	tc_request(t, "GET aged 1 2 3",
	    "400 BAD_REQUEST wrong number of "
	    "arguments");
	tc_send(t, "%s", put);
	tc_expect_queued(t);

	ck_assert(scrape_one(p.metrics_port,
	              "sluice_connections_accepted_total", "") == 2);
	ck_assert(scrape_one(p.metrics_port, "sluice_connections_refused_total",
	              "") == 1);
	ck_assert(scrape_one(p.metrics_port, "sluice_protocol_errors_total",
	              "") == 2);
	ck_assert(
	    scrape_one(p.metrics_port, "sluice_received_bytes_total", "") >=
	    strlen("BOGUS\r\nGET aged 1 2 3\r\n") + strlen(put));
	ck_assert(scrape_one(p.metrics_port, "sluice_sent_bytes_total", "") >=
	    strlen("400 BAD_REQUEST unknown command\r\n200 QUEUED 1\r\n"));
	/* Untouched, the message ages; the age grows to a second. */
	for (int i = 0; i < 300 && age < 1; i++) {
		age = scrape_one(p.metrics_port,
		    "sluice_queue_oldest_age_seconds", "aged");
		ck_assert(age >= 0);
		if (age < 1)
			usleep(10000);
	}
	ck_assert_msg(age >= 1, "the age stayed %f", age);
	tc_send(t, "GET aged\r\n");
	tc_expect_msg(t, "x");
	ck_assert(scrape_one(p.metrics_port, "sluice_queue_oldest_age_seconds",
	              "aged") == 0);

	ck_assert(scrape_one(p.metrics_port, "process_resident_memory_bytes",
	              "") > 1 << 20);
	ck_assert(scrape_one(p.metrics_port, "process_open_fds", "") >= 3);
	ck_assert(scrape_one(p.metrics_port, "process_max_fds", "") >= 3);
	ck_assert(
	    scrape_one(p.metrics_port, "process_cpu_seconds_total", "") >= 0);
	start = scrape_one(p.metrics_port, "process_start_time_seconds", "");
	ck_assert_msg(start >= now - 60 && start <= (double)time(NULL) + 1,
	    "start %f, now %f", start, now);
	tc_close(t);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

START_TEST(test_healthz_answers_ok_then_503_while_draining)
{
	struct proc p;
	struct tconn *t;
	char *body;

	write_config("{\"port\": 0, \"metrics\": \"127.0.0.1:0\","
		     " \"shutdown_grace_ms\": 60000}");
	proc_start_metrics(&p);
	t = tc_open(&p.d);
	tc_put(t, "q", "x");
	ck_assert_int_eq(http_get(p.metrics_port, "/healthz", &body), 200);
	ck_assert_str_eq(body, "ok\n");
	free(body);
	ck_assert_int_eq(http_get(p.metrics_port, "/nosuch", &body), 404);
	free(body);
	kill(p.pid, SIGTERM);
	proc_wait_log(&p, "draining 1 messages");
	ck_assert_int_eq(http_get(p.metrics_port, "/healthz", &body), 503);
	ck_assert_str_eq(body, "draining\n");
	free(body);
	tc_close(t);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

/*
 * Send `request` as is to the metrics port (NULL: send nothing, for a
 * connection refused at once) and read the answer to its end; the
 * status code, and the body in *body (malloc'd) when body is not NULL.
 */
static int
http_raw(int port, const char *request, char **body)
{
	struct timeval tv = { 10, 0 };
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap), *sep;
	int fd = try_connect(port), code = 0;
	ssize_t n;

	ck_assert_msg(fd >= 0, "connect: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (request != NULL)
		ck_assert_int_eq(write(fd, request, strlen(request)),
		    (ssize_t)strlen(request));
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (len + 1 == cap)
			ck_assert_ptr_nonnull(buf = realloc(buf, cap *= 2));
	}
	ck_assert_msg(n == 0, "read: %s", strerror(errno));
	close(fd);
	buf[len] = '\0';
	ck_assert_int_eq(sscanf(buf, "HTTP/1.%*d %d", &code), 1);
	ck_assert_ptr_nonnull(sep = strstr(buf, "\r\n\r\n"));
	if (body != NULL)
		*body = strdup(sep + 4);
	free(buf);
	return code;
}

START_TEST(test_metrics_token_is_required_for_metrics_not_healthz)
{
	char tok[256], req[512];
	struct proc p;
	char *body;

	write_file("mtoken", "s3cret\n", tok, sizeof tok);
	write_config("{\"port\": 0, \"metrics\": \"127.0.0.1:0\","
	             " \"metrics_token_file\": \"mtoken\"}");
	proc_start_metrics(&p);
	ck_assert_int_eq(http_raw(p.metrics_port,
	                     "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", NULL),
	    401);
	ck_assert_int_eq(http_raw(p.metrics_port,
	                     "GET /metrics HTTP/1.1\r\nAuthorization: Bearer "
	                     "s3cre\r\n\r\n",
	                     NULL),
	    401);
	ck_assert_int_eq(http_raw(p.metrics_port,
	                     "GET /metrics HTTP/1.1\r\nAuthorization: Basic "
	                     "s3cret\r\n\r\n",
	                     NULL),
	    401);
	snprintf(req, sizeof req,
	    "GET /metrics HTTP/1.1\r\nHost: x\r\n"
	    "authorization:  bearer s3cret \r\n\r\n");
	ck_assert_int_eq(http_raw(p.metrics_port, req, &body), 200);
	ck_assert_ptr_nonnull(strstr(body, "sluice_connections "));
	free(body);
	/* A load balancer's health check carries no token. */
	ck_assert_int_eq(http_raw(p.metrics_port,
	                     "GET /healthz HTTP/1.0\r\n\r\n", &body),
	    200);
	ck_assert_str_eq(body, "ok\n");
	free(body);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

/* A renewed token applies at SIGHUP; the old one stops working. */
START_TEST(test_metrics_token_is_replaced_by_a_reload)
{
	const char *old_req = "GET /metrics HTTP/1.0\r\n"
	                      "Authorization: Bearer old\r\n\r\n";
	const char *new_req = "GET /metrics HTTP/1.0\r\n"
	                      "Authorization: Bearer new\r\n\r\n";
	char tok[256];
	struct proc p;

	write_file("mtoken", "old\n", tok, sizeof tok);
	write_config("{\"port\": 0, \"metrics\": \"127.0.0.1:0\","
	             " \"metrics_token_file\": \"mtoken\"}");
	proc_start_metrics(&p);
	ck_assert_int_eq(http_raw(p.metrics_port, old_req, NULL), 200);
	write_file("mtoken", "new\n", tok, sizeof tok);
	kill(p.pid, SIGHUP);
	proc_wait_log(&p, "reloaded");
	ck_assert_int_eq(http_raw(p.metrics_port, old_req, NULL), 401);
	ck_assert_int_eq(http_raw(p.metrics_port, new_req, NULL), 200);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

START_TEST(test_metrics_allow_refuses_other_addresses)
{
	struct proc p;

	write_config("{\"port\": 0, \"metrics\": \"127.0.0.1:0\","
	             " \"metrics_allow\": [\"10.0.0.0/8\", \"::1\"]}");
	proc_start_metrics(&p);
	ck_assert_int_eq(http_raw(p.metrics_port, NULL, NULL), 403);
	ck_assert_int_eq(proc_stop(&p), 0);
	write_config("{\"port\": 0, \"metrics\": \"127.0.0.1:0\","
	             " \"metrics_allow\": [\"10.0.0.0/8\", \"127.0.0.0/30\"]}");
	proc_start_metrics(&p);
	ck_assert_int_eq(http_raw(p.metrics_port,
	                     "GET /healthz HTTP/1.0\r\n\r\n", NULL),
	    200);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

START_TEST(test_metrics_connections_count_against_max_connections)
{
	struct proc p;
	struct tconn *t, *t2;
	int a, b;

	write_config("{\"port\": 0, \"metrics\": \"127.0.0.1:0\","
	             " \"max_connections\": 3}");
	proc_start_metrics(&p);
	t = tc_open(&p.d);
	tc_sync(t);
	/* Two idle scrapers: accepted in order, before the next one. */
	ck_assert_int_ge(a = try_connect(p.metrics_port), 0);
	ck_assert_int_ge(b = try_connect(p.metrics_port), 0);
	ck_assert_int_eq(http_raw(p.metrics_port, NULL, NULL), 503);
	t2 = tc_open(&p.d);
	tc_expect(t2, "503 BUSY");
	tc_close(t2);
	close(a);
	close(b);
	tc_close(t);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

START_TEST(test_metrics_connections_are_capped_at_16)
{
	struct proc p;
	int fds[16];

	write_config("{\"port\": 0, \"metrics\": \"127.0.0.1:0\"}");
	proc_start_metrics(&p);
	for (int i = 0; i < 16; i++)
		ck_assert_int_ge(fds[i] = try_connect(p.metrics_port), 0);
	ck_assert_int_eq(http_raw(p.metrics_port, NULL, NULL), 503);
	for (int i = 0; i < 16; i++)
		close(fds[i]);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

START_TEST(test_metrics_request_must_arrive_within_the_timeout)
{
	struct timeval tv = { 30, 0 };
	struct proc p;
	uint64_t t0;
	char c;
	int fd;

	write_config("{\"port\": 0, \"metrics\": \"127.0.0.1:0\"}");
	proc_start_metrics(&p);
	ck_assert_int_ge(fd = try_connect(p.metrics_port), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	/* Slowloris: half a request, then nothing. */
	ck_assert_int_eq(write(fd, "GET /metrics HTTP/1.1\r\nHost", 27), 27);
	t0 = harness_now_ms();
	ck_assert_int_eq(read(fd, &c, 1), 0);
	/* Closed by the 10 s deadline, not by the 30 s read timeout. */
	ck_assert_uint_lt(harness_now_ms() - t0, 20000);
	close(fd);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

/*
 * Headers bigger than 8 KiB get 431; the daemon reads no more of them.
 */
START_TEST(test_metrics_oversized_request_gets_431)
{
	static char req[20000];
	struct proc p;

	memset(req, 'a', sizeof req - 1);
	memcpy(req, "GET /metrics HTTP/1.1\r\nX: ", 26);
	write_config("{\"port\": 0, \"metrics\": \"127.0.0.1:0\"}");
	proc_start_metrics(&p);
	ck_assert_int_eq(http_raw(p.metrics_port, req, NULL), 431);
	ck_assert_int_eq(http_raw(p.metrics_port,
	                     "POST /metrics HTTP/1.1\r\n\r\n", NULL),
	    405);
	ck_assert_int_eq(http_raw(p.metrics_port, "hello\r\n\r\n", NULL), 400);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

/*
 * Scrapers that never read share the answer: 16 of them over 3000
 * queues cost the daemon a few copies of the scrape, not 16.
 */
START_TEST(test_unread_scrapes_share_one_copy_of_the_answer)
{
	static char name[120];
	int rcv = 4096, fds[16];
	struct proc p;
	struct tconn *t;
	long before, after;
	char *body;
	size_t scrape;

	write_config("{\"port\": 0, \"metrics\": \"127.0.0.1:0\"}");
	proc_start_metrics(&p);
	t = tc_open(&p.d);
	memset(name, 'n', 100);
	for (int i = 0; i < 3000; i++) {
		snprintf(name + 100, sizeof name - 100, "%04d", i);
		tc_send(t, "CREATE %s\r\n", name);
	}
	for (int i = 0; i < 3000; i++)
		tc_expect(t, "201 CREATED");
	ck_assert_int_eq(http_get(p.metrics_port, "/metrics", &body), 200);
	scrape = strlen(body);
	free(body);
	ck_assert_uint_gt(scrape, 4 << 20);
	p.d.pid = p.pid; /* for harness_rss_kb() */
	before = harness_rss_kb(&p.d);
	for (int i = 0; i < 16; i++) {
		struct sockaddr_in sin = { .sin_family = AF_INET };

		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
		sin.sin_port = htons((uint16_t)p.metrics_port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ck_assert_int_eq(connect(fds[i], (struct sockaddr *)&sin,
		                     sizeof sin),
		    0);
		dprintf(fds[i], "GET /metrics HTTP/1.0\r\n\r\n");
	}
	/* Wait until every scraper has the start of its answer. */
	for (int i = 0; i < 16; i++) {
		struct pollfd pf = { fds[i], POLLIN, 0 };
		ck_assert_int_eq(poll(&pf, 1, 10000), 1);
	}
	ck_assert_int_eq(http_raw(p.metrics_port, NULL, NULL), 503);
	after = harness_rss_kb(&p.d);
	/*
	 * At most two copies exist, plus what the allocator keeps of the
	 * ones built and freed (ASan's quarantine keeps them all): well
	 * under the 16 copies one per scraper would be.
	 */
	ck_assert_msg((size_t)(after - before) * 1024 < 8 * scrape,
	    "16 unread scrapes of %zu bytes grew the daemon by %ld KiB", scrape,
	    after - before);
	for (int i = 0; i < 16; i++)
		close(fds[i]);
	tc_close(t);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

/*
 * Lines the daemon logs within ms milliseconds (counting, not timing:
 * the bound is on how much it says); *seen is set when one holds needle.
 */
static long
proc_count_lines(struct proc *p, int ms, const char *needle, bool *seen)
{
	uint64_t end = harness_now_ms() + (uint64_t)ms;
	long lines = 0;
	uint64_t now;

	while ((now = harness_now_ms()) < end) {
		struct pollfd pf = { p->out_fd, POLLIN, 0 };
		char *nl;
		ssize_t n;

		while ((nl = memchr(p->buf, '\n', p->len)) != NULL) {
			size_t k = (size_t)(nl - p->buf) + 1;
			if (memmem(p->buf, k, needle, strlen(needle)) != NULL)
				*seen = true;
			memmove(p->buf, p->buf + k, p->len - k);
			p->len -= k;
			lines++;
		}
		if (poll(&pf, 1, (int)(end - now)) != 1)
			break;
		n = read(p->out_fd, p->buf + p->len, sizeof p->buf - p->len);
		ck_assert_int_gt(n, 0);
		p->len += (size_t)n;
	}
	return lines;
}

/*
 * Out of descriptors, the metrics listener pauses instead of retrying
 * accept() in a loop (which logged 1.1 M lines in 3 s), and serves
 * again once descriptors are free.
 */
START_TEST(test_metrics_accept_out_of_descriptors_does_not_spin)
{
	struct rlimit rl = { 48, 48 };
	int fds[80], m[4];
	struct proc p;
	bool seen = false;
	long lines;

	write_config("{\"port\": 0, \"metrics\": \"127.0.0.1:0\","
	             " \"max_connections\": 1000}");
	proc_start_metrics(&p);
	ck_assert_int_eq(prlimit(p.pid, RLIMIT_NOFILE, &rl, NULL), 0);
	/* Clients take every descriptor the daemon may have ... */
	for (int i = 0; i < 80; i++)
		ck_assert_int_ge(fds[i] = try_connect(p.d.port), 0);
	proc_wait_log(&p, "Too many open files");
	/* ... then scrapers knock on the metrics port. */
	for (int i = 0; i < 4; i++)
		ck_assert_int_ge(m[i] = try_connect(p.metrics_port), 0);
	lines = proc_count_lines(&p, 1000, "metrics: accept", &seen);
	/* A pause of 100 ms per listener: about 20 lines a second. */
	ck_assert_msg(lines < 100, "%ld log lines in one second", lines);
	ck_assert_msg(seen, "the metrics listener never hit EMFILE");
	for (int i = 0; i < 80; i++)
		close(fds[i]);
	for (int i = 0; i < 4; i++)
		close(m[i]);
	ck_assert_int_eq(http_raw(p.metrics_port,
	                     "GET /healthz HTTP/1.0\r\n\r\n", NULL),
	    200);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST

/* ---- systemd ------------------------------------------------------- */

START_TEST(test_units_pass_systemd_analyze_verify)
{
	const char *src = getenv("SLUICE_SRCDIR"), *bin = getenv("SLUICED");
	char in[512], cmd[2048], out[4096], sbindir[512];
	size_t len = 0;
	FILE *f;
	int rc;

	ck_assert_ptr_nonnull(src);
	ck_assert_ptr_nonnull(bin);
	if (system("command -v systemd-analyze >/dev/null 2>&1") != 0) {
		fprintf(stderr, "skipped: systemd-analyze is not installed\n");
		return;
	}
	/*
	 * The template with its ExecStart pointing at the built daemon;
	 * its Documentation= pages are not installed (check-man.sh checks
	 * them).
	 */
	snprintf(sbindir, sizeof sbindir, "%s", bin);
	snprintf(in, sizeof in, "%s/systemd/sluiced.service.in", src);
	snprintf(cmd, sizeof cmd,
	    "sed -e 's|@sbindir@|%s|g' -e 's|@sysconfdir@|%s|g' %s "
	    "> %s/sluiced.service && cp %s/systemd/sluiced.socket %s/ && "
	    "systemd-analyze verify --man=no %s/sluiced.service "
	    "%s/sluiced.socket 2>&1",
	    dirname(sbindir), dir, in, dir, src, dir, dir, dir);
	ck_assert_ptr_nonnull(f = popen(cmd, "r"));
	while (len < sizeof out - 1 &&
	    fgets(out + len, (int)(sizeof out - len), f) != NULL)
		len += strlen(out + len);
	out[len] = '\0';
	rc = pclose(f);
	ck_assert_msg(rc == 0 && len == 0, "systemd-analyze verify: %s", out);
}
END_TEST

#ifdef HAVE_SYSTEMD
/* A datagram socket in the test's directory, for NOTIFY_SOCKET. */
static int
notify_socket(char *env, size_t size)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(addr.sun_path, sizeof addr.sun_path, "%s/notify", dir);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
	snprintf(env, size, "NOTIFY_SOCKET=%s", addr.sun_path);
	return fd;
}

/* Receive notifications until one has the line `want`. */
static void
expect_notify(int fd, const char *want)
{
	char msg[4096], line[256];

	snprintf(line, sizeof line, "\n%s\n", want);
	for (;;) {
		struct pollfd pf = { fd, POLLIN, 0 };
		ssize_t n;

		ck_assert_msg(poll(&pf, 1, LOG_TIMEOUT_MS) == 1,
		    "no %s from sluiced", want);
		n = recv(fd, msg + 1, sizeof msg - 3, 0);
		ck_assert_int_gt(n, 0);
		msg[0] = '\n';
		msg[n + 1] = '\n';
		msg[n + 2] = '\0';
		fprintf(stderr, "notify: %.*s\n", (int)n, msg + 1);
		if (strstr(msg, line) != NULL)
			return;
	}
}

START_TEST(test_notify_ready_reloading_and_stopping)
{
	const char *args[] = { "-l", "127.0.0.1", "-p", "0", "-c", cfg_path,
		NULL };
	char env[160];
	const char *envv[] = { env, NULL };
	struct proc p;
	int fd = notify_socket(env, sizeof env);

	write_config("{\"shutdown_grace_ms\": 100}");
	proc_start(&p, args, envv, -1);
	expect_notify(fd, "READY=1");
	kill(p.pid, SIGHUP);
	expect_notify(fd, "RELOADING=1");
	expect_notify(fd, "READY=1");
	kill(p.pid, SIGTERM);
	expect_notify(fd, "STOPPING=1");
	ck_assert_int_eq(proc_exit(&p), 0);
	close(fd);
}
END_TEST

START_TEST(test_notify_watchdog_pings)
{
	const char *args[] = { "-l", "127.0.0.1", "-p", "0", NULL };
	char env[160];
	const char *envv[] = { env, "WATCHDOG_USEC=100000", NULL };
	struct proc p;
	int fd = notify_socket(env, sizeof env);

	proc_start(&p, args, envv, -1);
	expect_notify(fd, "READY=1");
	expect_notify(fd, "WATCHDOG=1");
	expect_notify(fd, "WATCHDOG=1");
	ck_assert_int_eq(proc_stop(&p), 0);
	close(fd);
}
END_TEST

START_TEST(test_socket_activation_serves_the_passed_socket)
{
	const char *args[] = { "-c", cfg_path, NULL };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	struct proc p;
	struct tconn *t;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	/* Bound before the daemon starts: nothing to race for. */
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	/* The configured address could not be bound: it must go unused. */
	write_config("{\"listen\": [\"192.0.2.1:7470\"]}");
	proc_start(&p, args, NULL, fd);
	close(fd);
	ck_assert_int_eq(p.d.port, port);
	t = tc_open(&p.d);
	tc_put(t, "q", "activated");
	tc_send(t, "GET q\r\n");
	tc_expect_msg(t, "activated");
	tc_close(t);
	ck_assert_int_eq(proc_stop(&p), 0);
}
END_TEST
#else
START_TEST(test_systemd_glue_needs_libsystemd)
{
	fprintf(stderr, "skipped: sluiced is built without libsystemd "
			"(sd_notify, socket activation)\n");
}
END_TEST
#endif

int
main(void)
{
	Suite *s = suite_create("config");
	TCase *tc;
	SRunner *sr;
	int failed;

	tc = tcase_create("validation");
	tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_loop_test(tc,
	    test_bad_value_is_reported_with_its_json_path_and_exit_78, 0,
	    NBAD);
	tcase_add_loop_test(tc, test_daemon_refuses_to_start_on_a_bad_value, 0,
	    3);
	tcase_add_test(tc, test_syntax_error_is_reported_as_file_line_column);
	tcase_add_test(tc, test_duplicate_key_is_a_syntax_error);
	tcase_add_test(tc, test_missing_config_file_is_a_config_error);
	tcase_add_test(tc, test_unreadable_token_file_is_a_config_error);
	tcase_add_test(tc, test_empty_token_file_is_a_config_error);
	tcase_add_test(tc, test_token_file_that_is_a_fifo_is_a_config_error);
	tcase_add_test(tc,
	    test_help_and_version_exit_0_and_a_bad_flag_points_to_help);
	tcase_add_test(tc, test_check_flag_accepts_a_good_file_without_serving);
	tcase_add_test(tc, test_shipped_config_is_valid);
	suite_add_tcase(s, tc);

	tc = tcase_create("cluster");
	tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_test(tc, test_cluster_config_loads_with_its_fields);
	tcase_add_test(tc, test_cluster_defaults_and_join);
	tcase_add_loop_test(tc, test_bad_cluster_is_reported_with_its_json_path,
	    0, NBADCLUSTER);
	tcase_add_test(tc, test_cluster_data_dir_may_come_from_the_flag);
	tcase_add_test(tc, test_cluster_says_fsync_is_ignored);
	tcase_add_loop_test(tc, test_cluster_example_nodes_are_valid, 0, 3);
	tcase_add_test(tc, test_sighup_keeps_the_running_cluster);
	suite_add_tcase(s, tc);

	tc = tcase_create("served");
	tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_test(tc, test_predefined_queues_are_served_as_configured);
	tcase_add_test(tc, test_limits_from_the_file_are_applied);
	tcase_add_test(tc, test_auth_token_from_file_is_required);
	tcase_add_loop_test(tc, test_bad_tokens_are_reported_with_their_path, 0,
	    (int)(sizeof bad_tokens / sizeof *bad_tokens));
	tcase_add_test(tc, test_sighup_applies_new_tokens_to_new_auths);
	tcase_add_test(tc, test_flags_override_the_file);
	tcase_add_test(tc, test_port_flag_applies_to_every_listener);
	tcase_add_test(tc, test_every_listen_address_is_served);
	suite_add_tcase(s, tc);

	tc = tcase_create("drain");
	tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_test(tc,
	    test_sigterm_answers_a_parked_producer_503_shutting_down);
	tcase_add_test(tc, test_sigterm_lets_a_consumer_drain_then_exits_0);
	tcase_add_test(tc,
	    test_drain_waits_for_reserved_messages_until_the_grace_ends);
	tcase_add_test(tc, test_drain_ends_when_no_client_is_left);
	tcase_add_test(tc, test_second_sigterm_stops_at_once);
	tcase_add_test(tc, test_sigterm_refuses_new_connections);
	tcase_add_test(tc, test_harness_stop_is_prompt_with_messages_left);
	suite_add_tcase(s, tc);

	tc = tcase_create("reload");
	tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_test(tc, test_sighup_creates_a_new_predefined_queue);
	tcase_add_test(tc,
	    test_sighup_with_a_broken_file_keeps_the_running_config);
	tcase_add_loop_test(tc,
	    test_sighup_judges_parked_producers_under_new_settings, 0,
	    (int)(sizeof reload_parked / sizeof *reload_parked));
	tcase_add_test(tc, test_sighup_applies_new_defaults_to_new_queues_only);
	tcase_add_test(tc,
	    test_sighup_changes_dead_letter_settings_and_keeps_closed);
	suite_add_tcase(s, tc);

	tc = tcase_create("log");
	tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_test(tc, test_log_lines_name_the_client_and_hold_back_floods);
	suite_add_tcase(s, tc);

	tc = tcase_create("metrics");
	tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_test(tc,
	    test_metrics_parse_as_prometheus_text_and_match_stats);
	tcase_add_test(tc,
	    test_metrics_count_connections_errors_bytes_and_message_age);
	tcase_add_test(tc, test_healthz_answers_ok_then_503_while_draining);
	tcase_add_test(tc,
	    test_metrics_token_is_required_for_metrics_not_healthz);
	tcase_add_test(tc, test_metrics_token_is_replaced_by_a_reload);
	tcase_add_test(tc, test_metrics_allow_refuses_other_addresses);
	tcase_add_test(tc,
	    test_metrics_connections_count_against_max_connections);
	tcase_add_test(tc, test_metrics_connections_are_capped_at_16);
	tcase_add_test(tc, test_metrics_request_must_arrive_within_the_timeout);
	tcase_add_test(tc, test_metrics_oversized_request_gets_431);
	tcase_add_test(tc, test_unread_scrapes_share_one_copy_of_the_answer);
	tcase_add_test(tc,
	    test_metrics_accept_out_of_descriptors_does_not_spin);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tc = tcase_create("systemd");
	tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_test(tc, test_units_pass_systemd_analyze_verify);
#ifdef HAVE_SYSTEMD
	tcase_add_test(tc, test_notify_ready_reloading_and_stopping);
	tcase_add_test(tc, test_notify_watchdog_pings);
	tcase_add_test(tc, test_socket_activation_serves_the_passed_socket);
#else
	tcase_add_test(tc, test_systemd_glue_needs_libsystemd);
#endif
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
