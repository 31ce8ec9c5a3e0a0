/*
 * check_tls.c - sluiced's TLS listener against a real daemon: the
 * handshake and requests over it, client certificates (mTLS) accepted
 * and refused, backpressure through TLS (the proof check_daemon gives
 * for plain TCP), plaintext left in OpenSSL's buffer, a certificate
 * renewed by SIGHUP, a plain-text client on the TLS port, bad
 * configurations, and the CLI with --tls.
 *
 * main() makes a throwaway CA, server and client certificates (and a
 * second CA nobody trusts) with the openssl command in a temporary
 * directory, removed at the end; nothing secret is committed.  The
 * test client is OpenSSL on a blocking socket with a receive timeout,
 * so a missing reply fails the test instead of hanging it.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "harness.h"
#include "sluice.h"
#include "testcase.h"

/*
 * Under AddressSanitizer (./test.sh --sanitize) the daemon's freed
 * memory sits in ASan's quarantine, so its RSS tells nothing about a
 * test that moves many large bodies through it: only the behaviour is
 * checked then.  GCC says __SANITIZE_ADDRESS__, clang __has_feature.
 */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_MEANINGFUL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_MEANINGFUL 0
#endif
#endif
#ifndef RSS_MEANINGFUL
#define RSS_MEANINGFUL 1
#endif

/* How long the test client waits for a reply before failing. */
#define TT_TIMEOUT_SEC 10
/*
 * Backpressure: what the daemon may read beyond the plain bound (the
 * read-ahead plus the parked message): one TLS record OpenSSL holds
 * (16 KiB of plaintext, up to 16.5 KiB on the wire), every record's
 * overhead (22 bytes per 16 KiB) and the client's handshake messages.
 */
#define TLS_SLACK (24 * 1024)
#define FLOOD_MAX_BYTES (64ULL * 1024 * 1024)
#define RSS_GROWTH_MAX_KB (32L * 1024)
#define BP_BODY 65536

/* The certificates main() made; see make_certs(). */
static char dir[64];
static struct daemon d;

static void
path_of(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

static int run_in_dir(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Run a shell command in the certificate directory; 0 when it worked. */
static int
run_in_dir(const char *fmt, ...)
{
	char cmd[4096];
	int n;
	va_list ap;

	n = snprintf(cmd, sizeof cmd, "cd '%s' && ", dir);
	va_start(ap, fmt);
	vsnprintf(cmd + n, sizeof cmd - (size_t)n, fmt, ap);
	va_end(ap);
	return system(cmd);
}

/*
 * A CA, a server certificate for localhost / 127.0.0.1 and a renewed
 * one, a client certificate, and a client certificate from a CA the
 * daemon does not trust.  P-256 keys: quick to make.
 */
static int
make_certs(void)
{
	return run_in_dir(
	    "set -e; "
	    "key() { openssl genpkey -algorithm EC "
	    "-pkeyopt ec_paramgen_curve:P-256 -out $1.key 2>/dev/null; "
	    "chmod 600 $1.key; }; "
	    "ca() { key $1; openssl req -x509 -new -key $1.key -out $1.pem "
	    "-days 2 -subj \"/CN=$2\" 2>/dev/null; }; "
	    "crt() { key $1; openssl req -new -key $1.key -subj \"/CN=$3\" "
	    "-out $1.csr 2>/dev/null; "
	    "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > $1.ext; "
	    "openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key "
	    "-CAcreateserial -days 2 -extfile $1.ext -out $1.pem "
	    "2>/dev/null; rm $1.csr $1.ext; }; "
	    "ca ca 'sluice test CA'; ca rogue 'rogue CA'; "
	    "crt srv ca first; crt srv2 ca renewed; crt cli ca client; "
	    "crt bad rogue client");
}

/* A test client connection over TLS. */
struct tt {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	bool handshake_ok;
	size_t len;
	char buf[65536];
	char line[8192];
};

static int
tcp_connect(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct timeval tv = { TT_TIMEOUT_SEC, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	ck_assert_int_ge(fd, 0);
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_msg(connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0,
	    "connect: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

/*
 * Connect to port and handshake, checking the server against our CA
 * and the name localhost, presenting cert (a name in dir, or NULL);
 * max_version 0 for any.  t->handshake_ok says how it went.
 */
static struct tt *
tt_open_with(int port, const char *cert, int max_version)
{
	struct tt *t = calloc(1, sizeof *t);
	char ca[128], crt[128], key[128];

	ck_assert_ptr_nonnull(t);
	t->ctx = SSL_CTX_new(TLS_client_method());
	ck_assert_ptr_nonnull(t->ctx);
	path_of(ca, sizeof ca, "ca.pem");
	ck_assert_int_eq(SSL_CTX_load_verify_locations(t->ctx, ca, NULL), 1);
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
	if (max_version != 0)
		SSL_CTX_set_max_proto_version(t->ctx, max_version);
	if (cert != NULL) {
		snprintf(crt, sizeof crt, "%s/%s.pem", dir, cert);
		snprintf(key, sizeof key, "%s/%s.key", dir, cert);
		ck_assert_int_eq(SSL_CTX_use_certificate_file(t->ctx, crt,
		                     SSL_FILETYPE_PEM),
		    1);
		ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(t->ctx, key,
		                     SSL_FILETYPE_PEM),
		    1);
	}
	t->fd = tcp_connect(port);
	t->ssl = SSL_new(t->ctx);
	ck_assert_ptr_nonnull(t->ssl);
	SSL_set1_host(t->ssl, "localhost");
	SSL_set_fd(t->ssl, t->fd);
	t->handshake_ok = SSL_connect(t->ssl) == 1;
	ERR_clear_error();
	return t;
}

/* tt_open_with() that must succeed, without a client certificate. */
static struct tt *
tt_open(void)
{
	struct tt *t = tt_open_with(d.tls_port, NULL, 0);

	ck_assert_msg(t->handshake_ok, "TLS handshake failed");
	return t;
}

static void
tt_close(struct tt *t)
{
	if (t == NULL)
		return;
	SSL_free(t->ssl);
	SSL_CTX_free(t->ctx);
	close(t->fd);
	free(t);
}

static void
tt_send_raw(struct tt *t, const void *buf, size_t len)
{
	size_t n;

	ck_assert_msg(SSL_write_ex(t->ssl, buf, len, &n) == 1 && n == len,
	    "SSL_write failed");
}

static void
tt_send(struct tt *t, const char *s)
{
	tt_send_raw(t, s, strlen(s));
}

/* Read more; false at EOF or on a TLS error (an alert, a reset). */
static bool
tt_fill(struct tt *t)
{
	size_t n;

	ck_assert(t->len < sizeof t->buf);
	if (SSL_read_ex(t->ssl, t->buf + t->len, sizeof t->buf - t->len, &n) !=
	    1) {
		int e = SSL_get_error(t->ssl, 0);
		ck_assert_msg(e != SSL_ERROR_SYSCALL || errno != EAGAIN,
		    "no reply within %d s", TT_TIMEOUT_SEC);
		ERR_clear_error();
		return false;
	}
	t->len += n;
	return true;
}

static const char *
tt_line(struct tt *t)
{
	char *nl;

	while ((nl = memchr(t->buf, '\n', t->len)) == NULL)
		ck_assert_msg(tt_fill(t), "connection ended, no line");
	size_t n = (size_t)(nl - t->buf) + 1;
	size_t l = n >= 2 && nl[-1] == '\r' ? n - 2 : n - 1;
	ck_assert(l < sizeof t->line);
	memcpy(t->line, t->buf, l);
	t->line[l] = '\0';
	memmove(t->buf, t->buf + n, t->len - n);
	t->len -= n;
	return t->line;
}

static void
tt_expect(struct tt *t, const char *want)
{
	ck_assert_str_eq(tt_line(t), want);
}

static void
tt_request(struct tt *t, const char *req, const char *want)
{
	char buf[1100];

	snprintf(buf, sizeof buf, "%s\r\n", req);
	tt_send(t, buf);
	tt_expect(t, want);
}

/*
 * The daemon refused the session: the handshake failed, or (TLS 1.3,
 * where the client finishes first) the first request gets no answer
 * but the end of the connection.
 */
static bool
tt_refused(struct tt *t)
{
	size_t n;

	if (!t->handshake_ok)
		return true;
	(void)SSL_write_ex(t->ssl, "PING\r\n", 6, &n);
	ERR_clear_error();
	return !tt_fill(t);
}

/* The common name of the certificate the server presented. */
static void
tt_peer_name(struct tt *t, char *buf, int size)
{
	X509 *x = SSL_get0_peer_certificate(t->ssl);

	ck_assert_ptr_nonnull(x);
	ck_assert_int_gt(X509_NAME_get_text_by_NID(X509_get_subject_name(x),
	                     NID_commonName, buf, size),
	    0);
}

/* Write a config file into dir (name) and start the daemon with it. */
static void
start_with(const char *name, const char *json)
{
	char path[128];
	const char *extra[] = { "-c", path, NULL };
	FILE *f;

	path_of(path, sizeof path, name);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(json, f);
	fclose(f);
	harness_start_tls(&d, extra);
	ck_assert_int_gt(d.tls_port, 0);
}

/* The TLS keys every test's config starts with (paths beside it). */
#define TLS_KEYS                                                            \
	"\"tls_listen\": \"127.0.0.1:0\", \"tls_cert_file\": \"srv.pem\", " \
	"\"tls_key_file\": \"srv.key\""

static void
setup(void)
{
}

static void
teardown(void)
{
	harness_stop(&d);
}

START_TEST(test_put_and_get_over_tls)
{
	struct tt *t;
	struct tconn *p;

	start_with("basic.json", "{" TLS_KEYS "}");
	t = tt_open();
	tt_request(t, "PING", "200 PONG");
	tt_send(t, "PUT jobs 5\r\nhello\r\n");
	tt_expect(t, "200 QUEUED 1");
	/* The same queues as the plain listener. */
	p = tc_open(&d);
	tc_send(p, "GET jobs\r\n");
	tc_expect_msg(p, "hello");
	tc_put(p, "jobs", "back");
	tt_request(t, "GET jobs", "200 MSG 2 4");
	tt_expect(t, "back");
	tc_close(p);
	tt_close(t);
}
END_TEST

START_TEST(test_tls_min_version_1_3_refuses_a_tls_1_2_client)
{
	struct tt *t;

	start_with("v13.json",
	    "{" TLS_KEYS ", \"tls_min_version\": \"TLS1.3\"}");
	t = tt_open_with(d.tls_port, NULL, TLS1_2_VERSION);
	ck_assert(!t->handshake_ok);
	tt_close(t);
	t = tt_open();
	ck_assert_str_eq(SSL_get_version(t->ssl), "TLSv1.3");
	tt_request(t, "PING", "200 PONG");
	tt_close(t);
}
END_TEST

/* A daemon requiring client certificates from our CA. */
static void
start_mtls(const char *verify)
{
	char json[512];

	snprintf(json, sizeof json,
	    "{" TLS_KEYS ", \"tls_ca_file\": \"ca.pem\", "
	    "\"tls_verify_client\": \"%s\"}",
	    verify);
	start_with("mtls.json", json);
}

START_TEST(test_mtls_accepts_a_client_certificate_from_the_ca)
{
	struct tt *t;

	start_mtls("require");
	t = tt_open_with(d.tls_port, "cli", 0);
	ck_assert(t->handshake_ok);
	tt_request(t, "PING", "200 PONG");
	tt_request(t, "PUT q 1\r\nx", "200 QUEUED 1");
	tt_close(t);
}
END_TEST

START_TEST(test_mtls_require_refuses_a_client_without_a_certificate)
{
	struct tt *t;
	struct tconn *p;

	start_mtls("require");
	t = tt_open_with(d.tls_port, NULL, 0);
	ck_assert(tt_refused(t));
	tt_close(t);
	/* Refused, not broken: others are served. */
	p = tc_open(&d);
	tc_request(p, "PING", "200 PONG");
	tc_close(p);
}
END_TEST

START_TEST(test_mtls_refuses_a_certificate_from_another_ca)
{
	struct tt *t;

	start_mtls("require");
	t = tt_open_with(d.tls_port, "bad", 0);
	ck_assert(tt_refused(t));
	tt_close(t);
	t = tt_open_with(d.tls_port, "cli", 0);
	tt_request(t, "PING", "200 PONG");
	tt_close(t);
}
END_TEST

START_TEST(test_mtls_optional_takes_no_certificate_but_refuses_a_bad_one)
{
	struct tt *t;

	start_mtls("optional");
	t = tt_open_with(d.tls_port, NULL, 0);
	ck_assert(t->handshake_ok);
	tt_request(t, "PING", "200 PONG");
	tt_close(t);
	t = tt_open_with(d.tls_port, "bad", 0);
	ck_assert(tt_refused(t));
	tt_close(t);
}
END_TEST

START_TEST(test_plain_text_client_on_the_tls_port_is_closed)
{
	struct daemon plain = d;
	struct tconn *c, *p;
	char buf[512];
	ssize_t n;
	size_t got = 0;

	start_with("plain.json", "{" TLS_KEYS "}");
	plain = d;
	plain.port = d.tls_port;
	c = tc_open(&plain);
	tc_send(c, "PING\r\nPUT q 2\r\nhi\r\n");
	/* Whatever comes (an alert at most) is no answer, then the end. */
	while ((n = recv(c->fd, buf + got, sizeof buf - 1 - got, 0)) > 0)
		got += (size_t)n;
	ck_assert_msg(n == 0 || errno == ECONNRESET, "recv: %s",
	    strerror(errno));
	buf[got] = '\0';
	ck_assert_ptr_null(strstr(buf, "200"));
	tc_close(c);
	p = tc_open(&d);
	tc_request(p, "PING", "200 PONG");
	tc_request(p, "GET q", "204 EMPTY");
	tc_close(p);
}
END_TEST

/*
 * Requests beyond the read-ahead in one TLS record: the daemon reads
 * 1 KiB of it, the rest waits decoded inside OpenSSL, where no socket
 * event announces it.  Every request must still be answered, and a
 * parked producer's rest must wait until it is woken.
 */
#define PIPELINED 300

START_TEST(test_requests_left_in_the_tls_buffer_are_all_served)
{
	char req[PIPELINED * 6 + 1];
	struct tt *t;

	start_with("small.json", "{" TLS_KEYS ", \"input_readahead\": 1024}");
	t = tt_open();
	for (int i = 0; i < PIPELINED; i++)
		memcpy(req + 6 * i, "PING\r\n", 6);
	tt_send_raw(t, req, sizeof req - 1);
	for (int i = 0; i < PIPELINED; i++)
		tt_expect(t, "200 PONG");
	tt_close(t);
}
END_TEST

START_TEST(test_parked_tls_producer_resumes_with_what_openssl_holds)
{
	char req[4096];
	size_t len = 0;
	struct tt *t;
	struct tconn *c;

	start_with("park.json", "{" TLS_KEYS ", \"input_readahead\": 1024}");
	c = tc_open(&d);
	tc_request(c, "CREATE one capacity=1", "201 CREATED");
	t = tt_open();
	len += (size_t)sprintf(req, "PUT one 1\r\na\r\nPUT one 1\r\nb\r\n");
	while (len < sizeof req - 8)
		len += (size_t)sprintf(req + len, "PING\r\n");
	tt_send_raw(t, req, len);
	tt_expect(t, "200 QUEUED 1");
	tc_await_stat(c, "one", "blocked_producers", 1);
	/* Parked: the PINGs behind it wait. */
	ck_assert(SSL_pending(t->ssl) == 0 && t->len == 0);
	tc_send(c, "GET one\r\n");
	tc_expect_msg(c, "a");
	tt_expect(t, "200 QUEUED 2");
	for (size_t i = 29; i < len; i += 6)
		tt_expect(t, "200 PONG");
	tc_send(c, "GET one\r\n");
	tc_expect_msg(c, "b");
	/* Still read from its socket, not only from OpenSSL's buffer. */
	tt_request(t, "PING", "200 PONG");
	tc_close(c);
	tt_close(t);
}
END_TEST

/*
 * A parked TLS producer killed (no close_notify, only the FIN) leaves
 * blocked_producers at once, as a plain one does: the daemon watches
 * its socket without reading it.  Its PUT was never accepted.
 */
START_TEST(test_parked_tls_producer_that_dies_stops_counting_as_blocked)
{
	static const char req[] = "PUT one 1\r\na\r\nPUT one 1\r\nb\r\n";
	struct tt *t;
	struct tconn *c;

	start_with("gone.json", "{" TLS_KEYS "}");
	c = tc_open(&d);
	tc_request(c, "CREATE one capacity=1", "201 CREATED");
	t = tt_open();
	tt_send_raw(t, req, sizeof req - 1);
	tt_expect(t, "200 QUEUED 1");
	tc_await_stat(c, "one", "blocked_producers", 1);
	tt_close(t); /* SSL_free without SSL_shutdown: as a killed client */
	tc_await_stat(c, "one", "blocked_producers", 0);
	ck_assert_int_eq(tc_stat(c, "one", "depth"), 1);
	ck_assert_int_eq(tc_stat(c, "one", "puts"), 1);
	tc_close(c);
}
END_TEST

/* Bytes the daemon read from the TLS connection whose local end is fd. */
static unsigned long long
daemon_has_read(int fd)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} q;
	struct {
		struct nlmsghdr nlh;
		char buf[8192];
	} r;
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	struct sockaddr_in sin;
	socklen_t slen = sizeof sin;
	struct inet_diag_msg *msg;
	struct rtattr *rta;
	int ns, len, alen;

	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	memset(&q, 0, sizeof q);
	q.nlh.nlmsg_len = sizeof q;
	q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q.nlh.nlmsg_flags = NLM_F_REQUEST;
	q.req.sdiag_family = AF_INET;
	q.req.sdiag_protocol = IPPROTO_TCP;
	q.req.idiag_states = ~0U;
	q.req.idiag_ext = 1 << (INET_DIAG_INFO - 1);
	q.req.id.idiag_sport = htons((uint16_t)d.tls_port);
	q.req.id.idiag_dport = sin.sin_port;
	q.req.id.idiag_src[0] = htonl(INADDR_LOOPBACK);
	q.req.id.idiag_dst[0] = htonl(INADDR_LOOPBACK);
	q.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	q.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	ns = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	ck_assert_int_ge(ns, 0);
	ck_assert_int_eq(sendto(ns, &q, sizeof q, 0, (struct sockaddr *)&nl,
	                     sizeof nl),
	    (int)sizeof q);
	len = (int)recv(ns, &r, sizeof r, 0);
	close(ns);
	ck_assert(len > 0 && NLMSG_OK(&r.nlh, (unsigned)len) &&
	    r.nlh.nlmsg_type == SOCK_DIAG_BY_FAMILY);
	msg = NLMSG_DATA(&r.nlh);
	alen = (int)(r.nlh.nlmsg_len - NLMSG_LENGTH(sizeof *msg));
	for (rta = (struct rtattr *)(msg + 1); RTA_OK(rta, alen);
	     rta = RTA_NEXT(rta, alen)) {
		struct tcp_info ti;
		if (rta->rta_type != INET_DIAG_INFO)
			continue;
		memset(&ti, 0, sizeof ti);
		memcpy(&ti, RTA_DATA(rta),
		    RTA_PAYLOAD(rta) < sizeof ti ? RTA_PAYLOAD(rta)
		                                 : sizeof ti);
		return ti.tcpi_bytes_received - msg->idiag_rqueue;
	}
	ck_abort_msg("sock_diag gave no tcp_info");
	return 0;
}

/* A producer writing PUT frames over TLS on a non-blocking socket. */
struct pump {
	struct tt *t;
	char *frame;
	size_t frame_len, off;
	unsigned seq, upto;
	unsigned long long sent; /* plaintext bytes SSL_write took */
	int err;
};

static void
pump_frame(struct pump *p)
{
	int n = sprintf(p->frame, "PUT flood %d\r\n", BP_BODY);

	memset(p->frame + n, 'a' + (int)(p->seq % 26), BP_BODY);
	memcpy(p->frame + n, &p->seq, sizeof p->seq);
	memcpy(p->frame + n + BP_BODY, "\r\n", 2);
	p->frame_len = (size_t)n + BP_BODY + 2;
	p->off = 0;
}

/* Write frames 0..upto-1: 1 all out, 0 the socket is full, -1 error. */
static int
pump_send(struct pump *p)
{
	size_t n;

	while (p->seq < p->upto) {
		if (SSL_write_ex(p->t->ssl, p->frame + p->off,
		        p->frame_len - p->off, &n) != 1) {
			int e = SSL_get_error(p->t->ssl, 0);
			ERR_clear_error();
			return e == SSL_ERROR_WANT_WRITE ? 0 : -1;
		}
		p->off += n;
		p->sent += n;
		if (p->off == p->frame_len) {
			p->seq++;
			pump_frame(p);
		}
	}
	return 1;
}

static void
pump_until_blocked(struct pump *p)
{
	p->upto = (unsigned)(FLOOD_MAX_BYTES / p->frame_len) + 1;
	ck_assert_msg(pump_send(p) == 0,
	    "%llu bytes written and the socket never blocked", p->sent);
}

static void *
pump_thread(void *arg)
{
	struct pump *p = arg;
	int r;

	while ((r = pump_send(p)) == 0) {
		struct pollfd pfd = { p->t->fd, POLLOUT, 0 };
		if (poll(&pfd, 1, TT_TIMEOUT_SEC * 1000) != 1) {
			p->err = ETIMEDOUT;
			return NULL;
		}
	}
	if (r < 0)
		p->err = EIO;
	return NULL;
}

START_TEST(test_parked_tls_producer_is_held_back_by_tcp_not_by_memory)
{
	struct tconn *s, *c;
	struct pump pm = { 0 };
	uint64_t until;
	unsigned long long held;
	unsigned total;
	pthread_t th;
	long rss0, rss1;
	char *got = malloc(BP_BODY + 2);

	start_with("bp.json", "{" TLS_KEYS "}");
	s = tc_open(&d);
	c = tc_open(&d);
	until = harness_now_ms() + TC_AWAIT_MS;
	tc_request(s, "CREATE flood capacity=2", "201 CREATED");
	rss0 = harness_rss_kb(&d);
	pm.t = tt_open();
	pm.frame = malloc(BP_BODY + 64);
	pump_frame(&pm);
	fcntl(pm.t->fd, F_SETFL, fcntl(pm.t->fd, F_GETFL) | O_NONBLOCK);
	/* Two messages fill the queue, the third parks, the rest wait. */
	for (;;) {
		pump_until_blocked(&pm);
		if (tc_stat(s, "flood", "blocked_producers") == 1)
			break;
		ck_assert_msg(harness_now_ms() < until,
		    "producer never parked");
		struct pollfd pfd = { pm.t->fd, POLLOUT, 0 };
		poll(&pfd, 1, 10);
	}
	pump_until_blocked(&pm);
	ck_assert_uint_gt(pm.seq, 3);
	ck_assert_int_eq(tc_stat(s, "flood", "depth"), 2);
	held = daemon_has_read(pm.t->fd) - 2 * pm.frame_len;
	ck_assert_msg(held <= 65536 + pm.frame_len + TLS_SLACK,
	    "the parked TLS producer's connection holds %llu bytes of %llu "
	    "sent",
	    held, pm.sent);
	rss1 = harness_rss_kb(&d);
	ck_assert_msg(rss1 - rss0 < RSS_GROWTH_MAX_KB,
	    "daemon grew by %ld KiB while %llu bytes were held back",
	    rss1 - rss0, pm.sent);

	/* Drain; the producer finishes its message and writes 3 more. */
	total = pm.seq + (pm.off > 0) + 3;
	pm.upto = total;
	ck_assert_int_eq(pthread_create(&th, NULL, pump_thread, &pm), 0);
	for (unsigned i = 0; i < total; i++) {
		unsigned seq;
		tc_send(c, "GET flood 5000\r\n");
		tc_expect_prefix(c, "200 MSG ");
		tc_read(c, got, BP_BODY + 2);
		memcpy(&seq, got, sizeof seq);
		ck_assert_uint_eq(seq, i);
	}
	tc_request(c, "GET flood", "204 EMPTY");
	pthread_join(th, NULL);
	ck_assert_msg(pm.err == 0, "producer: %s", strerror(pm.err));
	fcntl(pm.t->fd, F_SETFL, fcntl(pm.t->fd, F_GETFL) & ~O_NONBLOCK);
	for (unsigned i = 0; i < total; i++)
		ck_assert_msg(strncmp(tt_line(pm.t), "200 QUEUED ", 11) == 0,
		    "%s", pm.t->line);
	free(got);
	free(pm.frame);
	tt_close(pm.t);
	tc_close(c);
	tc_close(s);
}
END_TEST

/*
 * A TLS client that pipelines GETs of large messages and never reads
 * the answers: the daemon stops serving it at output_high, so neither
 * its plaintext output nor OpenSSL's ciphertext grows with the GETs
 * (unbounded, 256 GETs of 256 KiB would take 64 MiB).
 */
#define OB_GETS 256
#define OB_BODY (256 * 1024)

START_TEST(test_tls_client_that_never_reads_does_not_grow_the_daemon)
{
	struct tconn *p, *s;
	struct tt *c;
	const char *one = "GET ob 10000\r\n";
	size_t len = strlen(one);
	char *gets = malloc(len * OB_GETS), *body = malloc(OB_BODY);
	int small = 64 * 1024, full = 0;
	long rss0, rss1;

	start_with("ob.json", "{" TLS_KEYS "}");
	p = tc_open(&d);
	s = tc_open(&d);
	tc_request(s, "CREATE ob capacity=4 policy=reject", "201 CREATED");
	c = tt_open();
	setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	for (int i = 0; i < OB_GETS; i++)
		memcpy(gets + i * len, one, len);
	tt_send_raw(c, gets, len * OB_GETS);
	tc_await_stat(s, "ob", "waiting_consumers", 1);
	rss0 = harness_rss_kb(&d);
	memset(body, 'o', OB_BODY);
	/* Enough for every GET; those not served are refused as FULL. */
	for (int i = 0; i < OB_GETS + 8; i++) {
		tc_send_put_bytes(p, "ob", body, OB_BODY, NULL);
		if (strncmp(tc_line(p), "503 FULL", 8) == 0)
			full++;
	}
	/* Unbounded, every GET would have taken a message: none FULL. */
	ck_assert_int_gt(full, OB_GETS / 2);
	ck_assert_int_eq(tc_stat(s, "ob", "depth"), 4);
	rss1 = harness_rss_kb(&d);
	ck_assert_msg(!RSS_MEANINGFUL || rss1 - rss0 < RSS_GROWTH_MAX_KB,
	    "daemon grew by %ld KiB for a TLS client that does not read",
	    rss1 - rss0);
	/* The non-reader leaves; the daemon notices. */
	tt_close(c);
	tc_await_stat(s, NULL, "connections", 2);
	free(gets);
	free(body);
	tc_close(p);
	tc_close(s);
}
END_TEST

/*
 * SIGHUP with a renewed certificate in the same files: connections
 * made after it see the new one, a connection made before keeps
 * working with the old one.
 */
START_TEST(test_sighup_serves_a_renewed_certificate_to_new_connections)
{
	struct tt *old, *t;
	uint64_t until;
	char cn[64];

	ck_assert_int_eq(run_in_dir("mkdir -p renew && cp srv.pem srv.key "
	                            "renew/"),
	    0);
	start_with("renew/c.json", "{" TLS_KEYS "}");
	old = tt_open();
	tt_peer_name(old, cn, sizeof cn);
	ck_assert_str_eq(cn, "first");
	ck_assert_int_eq(run_in_dir("cp srv2.pem renew/srv.pem && "
	                            "cp srv2.key renew/srv.key"),
	    0);
	kill(d.pid, SIGHUP);
	/* The reload has no answer to wait for: poll new connections. */
	until = harness_now_ms() + TC_AWAIT_MS;
	for (;;) {
		t = tt_open();
		tt_peer_name(t, cn, sizeof cn);
		if (strcmp(cn, "renewed") == 0)
			break;
		ck_assert_str_eq(cn, "first");
		ck_assert_msg(harness_now_ms() < until,
		    "the renewed certificate was never served");
		tt_close(t);
		usleep(10000);
	}
	tt_request(t, "PING", "200 PONG");
	tt_request(old, "PING", "200 PONG");
	tt_close(t);
	tt_close(old);
}
END_TEST

/* A reload with a broken key keeps the running certificate. */
START_TEST(test_sighup_with_a_bad_key_keeps_the_running_certificate)
{
	struct tt *t;
	struct tconn *p;
	char cn[64];

	ck_assert_int_eq(run_in_dir("mkdir -p broken && cp srv.pem srv.key "
	                            "broken/"),
	    0);
	start_with("broken/c.json", "{" TLS_KEYS "}");
	/* The renewed certificate with the old key: they do not match. */
	ck_assert_int_eq(run_in_dir("cp srv2.pem broken/srv.pem"), 0);
	kill(d.pid, SIGHUP);
	/* SIGHUP is handled between requests: a PING after it is later. */
	p = tc_open(&d);
	tc_await_stat(p, NULL, "connections", 1);
	t = tt_open();
	tt_peer_name(t, cn, sizeof cn);
	ck_assert_str_eq(cn, "first");
	tt_request(t, "PING", "200 PONG");
	tt_close(t);
	tc_close(p);
}
END_TEST

/* Run sluiced -t on a config file in dir; its exit status and message. */
static int
check_config(const char *json, char *out, size_t size)
{
	char path[128], cmd[512];
	FILE *f;
	size_t n;
	int st;

	path_of(path, sizeof path, "t.json");
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(json, f);
	fclose(f);
	snprintf(cmd, sizeof cmd, "'%s' -t -c '%s' 2>&1", getenv("SLUICED"),
	    path);
	ck_assert_ptr_nonnull(f = popen(cmd, "r"));
	n = fread(out, 1, size - 1, f);
	out[n] = '\0';
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Each bad TLS setting, and the words its error must contain. */
static const struct {
	const char *json;
	const char *says;
} bad_configs[] = {
	{ "{\"tls_listen\": \"127.0.0.1:0\", \"tls_key_file\": \"srv.key\"}",
	    "tls_cert_file: missing" },
	{ "{\"tls_listen\": \"127.0.0.1:0\", \"tls_cert_file\": \"srv.pem\"}",
	    "tls_key_file: missing" },
	{ "{\"tls_cert_file\": \"srv.pem\", \"tls_key_file\": \"srv.key\"}",
	    "tls_listen: missing" },
	{ "{\"tls_listen\": \"127.0.0.1\", \"tls_cert_file\": \"srv.pem\", "
	  "\"tls_key_file\": \"srv.key\"}",
	    "with a :PORT" },
	{ "{" TLS_KEYS ", \"tls_verify_client\": \"require\"}",
	    "tls_ca_file: missing" },
	{ "{" TLS_KEYS ", \"tls_ca_file\": \"ca.pem\"}",
	    "tls_verify_client is none" },
	{ "{" TLS_KEYS ", \"tls_verify_client\": \"yes\"}",
	    "not one of none, optional, require" },
	{ "{" TLS_KEYS ", \"tls_min_version\": \"TLS1.1\"}",
	    "not one of TLS1.2, TLS1.3" },
	{ "{\"tls_listen\": \"127.0.0.1:0\", \"tls_cert_file\": \"nope.pem\", "
	  "\"tls_key_file\": \"srv.key\"}",
	    "tls_cert_file: cannot load the certificate in" },
	{ "{\"tls_listen\": \"127.0.0.1:0\", \"tls_cert_file\": \"srv.pem\", "
	  "\"tls_key_file\": \"cli.key\"}",
	    "tls_key_file: does not match tls_cert_file" },
	{ "{\"tls_listen\": \"127.0.0.1:0\", \"tls_cert_file\": \"srv.pem\", "
	  "\"tls_key_file\": \"open.key\"}",
	    "may be read by any user" },
	{ "{" TLS_KEYS ", \"tls_ca_file\": \"srv.key\", "
	  "\"tls_verify_client\": \"optional\"}",
	    "tls_ca_file: cannot load the CA certificates in" },
};

START_TEST(test_bad_tls_settings_are_refused_with_a_reason)
{
	char out[1024];

	ck_assert_int_eq(run_in_dir("cp srv.key open.key && chmod 644 "
	                            "open.key"),
	    0);
	ck_assert_int_eq(check_config(bad_configs[_i].json, out, sizeof out),
	    78);
	ck_assert_msg(strstr(out, bad_configs[_i].says) != NULL,
	    "wanted \"%s\" in: %s", bad_configs[_i].says, out);
	ck_assert_int_eq(check_config("{" TLS_KEYS ", \"tls_ca_file\": "
	                              "\"ca.pem\", \"tls_verify_client\": "
	                              "\"optional\"}",
	                     out, sizeof out),
	    0);
}
END_TEST

/*
 * Run the CLI ($SLUICE_CLI) against the TLS port with `args` (shell
 * words, run in dir, so certificate names are relative to it) and
 * stdin from /dev/null; its exit status, and stdout and stderr in out.
 */
static int
cli(char *out, size_t size, const char *args)
{
	char cmd[1024];
	FILE *f;
	size_t n;
	int st;

	snprintf(cmd, sizeof cmd,
	    "cd '%s' && '%s' -H 127.0.0.1 -p %d %s </dev/null 2>&1", dir,
	    getenv("SLUICE_CLI"), d.tls_port, args);
	ck_assert_ptr_nonnull(f = popen(cmd, "r"));
	n = fread(out, 1, size - 1, f);
	out[n] = '\0';
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_cli_puts_and_gets_over_tls)
{
	char out[4096];

	start_with("cli.json", "{" TLS_KEYS "}");
	ck_assert_int_eq(cli(out, sizeof out,
			     "--tls --cacert ca.pem put jobs hello"), 0);
	ck_assert_int_eq(cli(out, sizeof out,
			     "--tls --cacert ca.pem get jobs"), 0);
	ck_assert_str_eq(out, "hello\n");
	/* SLUICE_TLS and SLUICE_CACERT do the same. */
	ck_assert_int_eq(cli(out, sizeof out,
			     "--tls --cacert ca.pem put jobs again"), 0);
	setenv("SLUICE_TLS", "1", 1);
	setenv("SLUICE_CACERT", "ca.pem", 1);
	ck_assert_int_eq(cli(out, sizeof out, "get jobs"), 0);
	ck_assert_str_eq(out, "again\n");
}
END_TEST

START_TEST(test_cli_refuses_a_server_its_cas_do_not_vouch_for)
{
	char out[4096];

	start_with("cli.json", "{" TLS_KEYS "}");
	ck_assert_int_eq(cli(out, sizeof out,
			     "--tls --cacert rogue.pem ping"), 1);
	ck_assert_msg(strstr(out, "TLS handshake with 127.0.0.1: the "
				  "server's certificate") != NULL,
	    "%s", out);
	/* TLS options without --tls are a mistake, said as one. */
	ck_assert_int_eq(cli(out, sizeof out, "--cacert ca.pem ping"), 64);
	ck_assert_msg(strstr(out, "--cacert needs --tls") != NULL, "%s", out);
}
END_TEST

START_TEST(test_cli_presents_a_client_certificate_for_mtls)
{
	char out[4096];

	start_mtls("require");
	ck_assert_int_eq(cli(out, sizeof out,
			     "--tls --cacert ca.pem --cert cli.pem --key "
			     "cli.key put jobs hi"),
	    0);
	ck_assert_int_ne(cli(out, sizeof out,
			     "--tls --cacert ca.pem put jobs hi"),
	    0);
	ck_assert_int_ne(cli(out, sizeof out,
			     "--tls --cacert ca.pem --cert bad.pem --key "
			     "bad.key put jobs hi"),
	    0);
}
END_TEST

START_TEST(test_cli_bench_over_tls_is_exactly_once)
{
	char out[8192];

	start_with("bench.json", "{" TLS_KEYS "}");
	ck_assert_int_eq(cli(out, sizeof out,
			     "--tls --cacert ca.pem bench -n 3000 -s 16384"),
	    0);
	ck_assert_msg(strstr(out, "exactly once  yes") != NULL, "%s", out);
}
END_TEST

/* libsluice: a context over TLS, with a client certificate. */
static struct sluice_ctx *
sc_tls(const char *host, const char *cert, const char *key)
{
	struct sluice_ctx *c = sluice_connect(host, d.tls_port, 5000);
	char ca[128], crt[128], k[128];

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(sluice_error(c), SLUICE_OK);
	sluice_set_io_timeout(c, TT_TIMEOUT_SEC * 1000);
	path_of(ca, sizeof ca, "ca.pem");
	if (cert != NULL) {
		path_of(crt, sizeof crt, cert);
		path_of(k, sizeof k, key);
	}
	(void)sluice_start_tls(c, ca, cert ? crt : NULL, key ? k : NULL,
	    5000);
	return c;
}

START_TEST(test_libsluice_speaks_tls_with_a_client_certificate)
{
	struct sluice_ctx *c;
	struct sluice_msg *m;
	uint64_t id;
	char big[20000];

	start_mtls("require");
	c = sc_tls("127.0.0.1", "cli.pem", "cli.key");
	ck_assert_msg(sluice_error(c) == SLUICE_OK, "%s", sluice_errstr(c));
	memset(big, 'z', sizeof big);
	ck_assert_int_eq(sluice_put(c, "lib", big, sizeof big, SLUICE_FOREVER,
			     &id),
	    SLUICE_OK);
	/* Pipelined through records: every reply comes back. */
	for (int i = 0; i < 200; i++)
		ck_assert_int_eq(sluice_append_put(c, "lib", "x", 1,
				     SLUICE_FOREVER),
		    SLUICE_OK);
	for (int i = 0; i < 200; i++) {
		struct sluice_reply *r;
		ck_assert_int_eq(sluice_read_reply(c, &r), SLUICE_OK);
		sluice_reply_free(r);
	}
	ck_assert_int_eq(sluice_get(c, "lib", 0, &m), SLUICE_OK);
	ck_assert_uint_eq(m->len, sizeof big);
	ck_assert(memcmp(m->body, big, sizeof big) == 0);
	sluice_msg_free(m);
	sluice_free(c);
}
END_TEST

START_TEST(test_libsluice_checks_the_server_name)
{
	struct sluice_ctx *c;

	start_with("name.json", "{" TLS_KEYS "}");
	/* The certificate names localhost and 127.0.0.1, not ::1's name. */
	c = sc_tls("localhost", NULL, NULL);
	ck_assert_msg(sluice_error(c) == SLUICE_OK, "%s", sluice_errstr(c));
	ck_assert_int_eq(sluice_ping(c), SLUICE_OK);
	sluice_free(c);
	c = sc_tls("127.0.0.1", NULL, NULL);
	ck_assert_int_eq(sluice_ping(c), SLUICE_OK);
	sluice_free(c);
	c = sluice_connect("127.0.0.2", d.tls_port, 5000);
	ck_assert_ptr_nonnull(c);
	if (sluice_error(c) == SLUICE_OK) {
		char ca[128];
		path_of(ca, sizeof ca, "ca.pem");
		ck_assert_int_eq(sluice_start_tls(c, ca, NULL, NULL, 5000),
		    SLUICE_ERR_TLS);
		ck_assert_int_eq(sluice_error(c), SLUICE_ERR_TLS);
		ck_assert_msg(strstr(sluice_errstr(c), "certificate") != NULL,
		    "%s", sluice_errstr(c));
	}
	sluice_free(c);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("tls");
	int rc;

	snprintf(dir, sizeof dir, "/tmp/sluice_tls.XXXXXX");
	if (mkdtemp(dir) == NULL || make_certs() != 0) {
		fprintf(stderr,
		    "check_tls: cannot make test certificates "
		    "with the openssl command\n");
		return EXIT_FAILURE;
	}
	TEST(s, test_put_and_get_over_tls);
	TEST(s, test_tls_min_version_1_3_refuses_a_tls_1_2_client);
	TEST(s, test_mtls_accepts_a_client_certificate_from_the_ca);
	TEST(s, test_mtls_require_refuses_a_client_without_a_certificate);
	TEST(s, test_mtls_refuses_a_certificate_from_another_ca);
	TEST(s, test_mtls_optional_takes_no_certificate_but_refuses_a_bad_one);
	TEST(s, test_plain_text_client_on_the_tls_port_is_closed);
	TEST(s, test_requests_left_in_the_tls_buffer_are_all_served);
	TEST(s, test_parked_tls_producer_resumes_with_what_openssl_holds);
	TEST(s, test_parked_tls_producer_that_dies_stops_counting_as_blocked);
	TEST_TIMEOUT(s,
	    test_parked_tls_producer_is_held_back_by_tcp_not_by_memory, 60);
	TEST_TIMEOUT(s, test_tls_client_that_never_reads_does_not_grow_the_daemon,
	    60);
	TEST(s, test_sighup_serves_a_renewed_certificate_to_new_connections);
	TEST(s, test_sighup_with_a_bad_key_keeps_the_running_certificate);
	TEST(s, test_cli_puts_and_gets_over_tls);
	TEST(s, test_cli_refuses_a_server_its_cas_do_not_vouch_for);
	TEST(s, test_cli_presents_a_client_certificate_for_mtls);
	TEST_TIMEOUT(s, test_cli_bench_over_tls_is_exactly_once, 30);
	TEST(s, test_libsluice_speaks_tls_with_a_client_certificate);
	TEST(s, test_libsluice_checks_the_server_name);
	TEST_LOOP(s, test_bad_tls_settings_are_refused_with_a_reason,
	    (int)(sizeof bad_configs / sizeof *bad_configs));
	rc = test_run(s);
	run_in_dir("cd / && rm -rf '%s'", dir);
	return rc;
}
