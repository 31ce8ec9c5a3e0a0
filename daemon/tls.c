/*
 * tls.c - TLS on client connections, with OpenSSL.  See tls.h.
 *
 * Every call leaves OpenSSL's error queue empty, so one connection's
 * failure is never reported against another.  A session that failed
 * (t->failed) is never touched again but to free it: OpenSSL forbids
 * SSL_shutdown() after a fatal error.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "config.h"
#include "tls.h"
#include "xmalloc.h"

/* The most plaintext a TLS record carries. */
#define TLS_RECORD_MAX 16384
/*
 * Plaintext handed to one SSL_write(): one record.  Smaller writes
 * would cost a record (and its 22-byte overhead) each; larger ones
 * would only be cut into records by OpenSSL, after a larger copy to
 * make them contiguous.
 */
#define TLS_WRITE_MAX TLS_RECORD_MAX
/* Certificate chains longer than this are not verified. */
#define TLS_VERIFY_DEPTH 8

struct tls_conn {
	SSL *ssl;
	bool ready;            /* the handshake is done */
	bool failed;           /* a fatal error: no close_notify */
	bool eof;              /* the peer ended the stream */
	bool hs_wants_write;   /* the handshake waits for writable */
	bool read_wants_write; /* the last read waits for writable */
	bool write_wants_read; /* the last write waits for readable */
	size_t wpending;       /* a write to retry with at least these bytes */
	char why[160];         /* the last failure */
};

/* The reason for OpenSSL's last error, or `dflt`; clears the queue. */
static const char *
ssl_reason(char *buf, size_t size, const char *dflt)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, size, "%s", dflt);
	else
		ERR_error_string_n(e, buf, size);
	ERR_clear_error();
	return buf;
}

/* Say what failed with which file, and free ctx; returns NULL. */
static SSL_CTX *
ctx_fail(SSL_CTX *ctx, char *err, size_t errsize, const char *key,
    const char *file, const char *what)
{
	char why[160];

	snprintf(err, errsize, "%s: %s %s: %s", key, what, file,
	    ssl_reason(why, sizeof why, "unknown error"));
	SSL_CTX_free(ctx);
	return NULL;
}

/*
 * A private key others may read is no longer private: refuse it, as
 * ssh does.  Group-readable stays allowed (Debian's ssl-cert group).
 */
static int
check_key_mode(const char *file, char *err, size_t errsize)
{
	struct stat st;

	if (stat(file, &st) != 0) {
		snprintf(err, errsize, "tls_key_file: cannot read %s: %s", file,
		    strerror(errno));
		return -1;
	}
	if ((st.st_mode & S_IRWXO) != 0) {
		snprintf(err, errsize,
		    "tls_key_file: %s may be read by any user (mode %04o); "
		    "chmod o-rwx it",
		    file, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/*
 * Who the client must be: the CA it is checked against, and whether.
 * Returns ctx, or NULL (ctx freed) on failure.
 */
static SSL_CTX *
ctx_verify(SSL_CTX *ctx, const struct config_tls *ct, char *err, size_t errsize)
{
	STACK_OF(X509_NAME) * names;

	if (ct->verify == CONFIG_VERIFY_NONE)
		return ctx;
	if (SSL_CTX_load_verify_locations(ctx, ct->ca_file, NULL) != 1)
		return ctx_fail(ctx, err, errsize, "tls_ca_file", ct->ca_file,
		    "cannot load the CA certificates in");
	/* The CA names are sent so clients can pick a certificate. */
	if ((names = SSL_load_client_CA_file(ct->ca_file)) == NULL)
		return ctx_fail(ctx, err, errsize, "tls_ca_file", ct->ca_file,
		    "no CA certificate in");
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx,
	    SSL_VERIFY_PEER |
	        (ct->verify == CONFIG_VERIFY_REQUIRE
	                ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT
	                : 0),
	    NULL);
	SSL_CTX_set_verify_depth(ctx, TLS_VERIFY_DEPTH);
	return ctx;
}

struct ssl_ctx_st *
tls_ctx_new(const struct config_tls *ct, char *err, size_t errsize)
{
	SSL_CTX *ctx;

	if (check_key_mode(ct->key_file, err, errsize) < 0)
		return NULL;
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		return ctx_fail(NULL, err, errsize, "tls", "a context",
		    "cannot create");
	SSL_CTX_set_min_proto_version(ctx,
	    ct->min_version == CONFIG_TLS_1_3 ? TLS1_3_VERSION
	                                      : TLS1_2_VERSION);
	/*
	 * No renegotiation: a read never has to write, nor a write read,
	 * after the handshake.  An EOF without close_notify ends the
	 * stream as a plain EOF does (a request cut short is never run:
	 * the framing sees it).
	 */
	SSL_CTX_set_options(ctx,
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
	        SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	/*
	 * Records are written from the output buffer, which may move
	 * between a blocked write and its retry; buffers go back to the
	 * heap while empty, so idle connections hold none.
	 */
	SSL_CTX_set_mode(ctx,
	    SSL_MODE_ENABLE_PARTIAL_WRITE |
	        SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	if (SSL_CTX_use_certificate_chain_file(ctx, ct->cert_file) != 1)
		return ctx_fail(ctx, err, errsize, "tls_cert_file",
		    ct->cert_file, "cannot load the certificate in");
	if (SSL_CTX_use_PrivateKey_file(ctx, ct->key_file, SSL_FILETYPE_PEM) !=
	    1)
		return ctx_fail(ctx, err, errsize, "tls_key_file", ct->key_file,
		    ERR_GET_REASON(ERR_peek_last_error()) ==
		            X509_R_KEY_VALUES_MISMATCH
		        ? "does not match tls_cert_file:"
		        : "cannot load the private key in");
	if (SSL_CTX_check_private_key(ctx) != 1)
		return ctx_fail(ctx, err, errsize, "tls_key_file", ct->key_file,
		    "does not match tls_cert_file:");
	return ctx_verify(ctx, ct, err, errsize);
}

void
tls_ctx_free(struct ssl_ctx_st *ctx)
{
	SSL_CTX_free(ctx);
}

struct tls_conn *
tls_conn_new(struct ssl_ctx_st *ctx, int fd)
{
	struct tls_conn *t = xcalloc(1, sizeof *t);

	if ((t->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(t->ssl, fd) != 1) {
		ERR_clear_error();
		SSL_free(t->ssl);
		free(t);
		return NULL;
	}
	SSL_set_accept_state(t->ssl);
	return t;
}

void
tls_conn_free(struct tls_conn *t)
{
	if (t == NULL)
		return;
	/* One try, never waited for: the socket closes next. */
	if (t->ready && !t->failed)
		(void)SSL_shutdown(t->ssl);
	ERR_clear_error();
	SSL_free(t->ssl);
	free(t);
}

bool
tls_ready(const struct tls_conn *t)
{
	return t->ready;
}

/*
 * What SSL_get_error() said of a call that returned r: 0 for "retry
 * when the socket is ready" (*wants_write says for what), -1 for the
 * end of the stream or a failure (t->eof, t->failed, errno).
 */
static int
classify(struct tls_conn *t, int r, bool *wants_write)
{
	int e = SSL_get_error(t->ssl, r), saved = errno;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		*wants_write = false;
		ERR_clear_error();
		errno = EAGAIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		*wants_write = true;
		ERR_clear_error();
		errno = EAGAIN;
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		t->eof = true;
		ERR_clear_error();
		return -1;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_last_error() == 0) {
			snprintf(t->why, sizeof t->why, "%s",
			    saved != 0 ? strerror(saved) : "EOF");
			ERR_clear_error();
			t->failed = true;
			errno = saved != 0 ? saved : EPROTO;
			return -1;
		}
		/* FALLTHROUGH */
	default:
		ssl_reason(t->why, sizeof t->why, "TLS error");
		t->failed = true;
		errno = EPROTO;
		return -1;
	}
}

int
tls_handshake(struct tls_conn *t)
{
	int r;

	if (t->failed)
		return -1;
	if ((r = SSL_do_handshake(t->ssl)) == 1) {
		t->ready = true;
		t->hs_wants_write = false;
		return 1;
	}
	if (classify(t, r, &t->hs_wants_write) == 0)
		return 0;
	if (t->eof) {
		snprintf(t->why, sizeof t->why, "closed during the handshake");
		t->failed = true;
	}
	return -1;
}

ssize_t
tls_read(struct tls_conn *t, void *buf, size_t len)
{
	size_t got = 0, n;

	t->read_wants_write = false;
	while (got < len && !t->eof && !t->failed) {
		if (SSL_read_ex(t->ssl, (char *)buf + got, len - got, &n) ==
		    1) {
			got += n;
			/*
			 * A record shorter than the largest ends what the
			 * peer wrote for now: stop, rather than try again
			 * and meet EAGAIN, which costs a syscall and leaves
			 * OpenSSL's read buffer allocated on an idle
			 * connection.  More, if any, brings a new event.
			 */
			if (n < TLS_RECORD_MAX && SSL_pending(t->ssl) == 0)
				break;
			continue;
		}
		if (classify(t, 0, &t->read_wants_write) == 0)
			break;
	}
	if (got > 0)
		return (ssize_t)got;
	if (t->eof)
		return 0;
	if (t->failed)
		errno = EPROTO;
	else
		errno = EAGAIN;
	return -1;
}

ssize_t
tls_write(struct tls_conn *t, struct evbuffer *out)
{
	size_t len, want, n;
	ssize_t total = 0;
	unsigned char *p;
	bool wants_write;

	t->write_wants_read = false;
	if (!t->ready || t->failed) {
		errno = t->failed ? EPROTO : EAGAIN;
		return -1;
	}
	while ((len = evbuffer_get_length(out)) > 0) {
		want = len < TLS_WRITE_MAX ? len : TLS_WRITE_MAX;
		/* A retry must offer at least what the blocked call did. */
		if (want < t->wpending)
			want = t->wpending < len ? t->wpending : len;
		if ((p = evbuffer_pullup(out, (ev_ssize_t)want)) == NULL) {
			snprintf(t->why, sizeof t->why, "out of memory");
			errno = ENOMEM;
			return -1;
		}
		if (SSL_write_ex(t->ssl, p, want, &n) == 1) {
			evbuffer_drain(out, n);
			total += (ssize_t)n;
			t->wpending = 0;
			continue;
		}
		if (classify(t, 0, &wants_write) == 0) {
			t->write_wants_read = !wants_write;
			t->wpending = want;
			break;
		}
		if (t->eof) {
			snprintf(t->why, sizeof t->why, "peer closed");
			t->failed = true;
			errno = EPIPE;
		}
		return -1;
	}
	if (total > 0 || len == 0)
		return total;
	errno = EAGAIN;
	return -1;
}

size_t
tls_pending(const struct tls_conn *t)
{
	return t->ready && !t->failed ? (size_t)SSL_pending(t->ssl) : 0;
}

void
tls_events(const struct tls_conn *t, bool *rd, bool *wr)
{
	bool r = *rd, w = *wr;

	if (t->failed) {
		/* Let the caller see the error on its next attempt. */
		return;
	}
	if (!t->ready) {
		*rd = r && !t->hs_wants_write;
		*wr = r && t->hs_wants_write;
		return;
	}
	*rd = (r && !t->read_wants_write) || (w && t->write_wants_read);
	*wr = (w && !t->write_wants_read) || (r && t->read_wants_write);
}

bool
tls_read_wants_write(const struct tls_conn *t)
{
	return t->read_wants_write;
}

bool
tls_write_wants_read(const struct tls_conn *t)
{
	return t->write_wants_read;
}

const char *
tls_why(const struct tls_conn *t)
{
	return t->why[0] != '\0' ? t->why : "TLS error";
}

void
tls_describe(const struct tls_conn *t, char *buf, size_t size)
{
	X509 *peer = SSL_get0_peer_certificate(t->ssl);
	char subject[128] = "";

	if (peer != NULL)
		X509_NAME_oneline(X509_get_subject_name(peer), subject,
		    sizeof subject);
	snprintf(buf, size, "%s %s%s%s", SSL_get_version(t->ssl),
	    SSL_get_cipher_name(t->ssl), peer != NULL ? ", client " : "",
	    subject);
}
