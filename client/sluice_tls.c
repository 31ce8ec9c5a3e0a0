/*
 * sluice_tls.c - libsluice over TLS (OpenSSL): the handshake on a
 * connected context (sluice_start_tls), and the reads and writes
 * sluice_io.c routes through it once it is on.
 *
 * The socket stays non-blocking; a read or write that OpenSSL cannot
 * finish says which socket event it waits for (priv->tls_wants), and
 * io_wait() in sluice_io.c polls for that.  OpenSSL talks to the
 * socket through a BIO of ours that sends with MSG_NOSIGNAL, so the
 * library still raises no SIGPIPE.  Everything lives in the context:
 * the SSL_CTX, the SSL object and the BIO method are freed with it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "sluice_priv.h"

/* OpenSSL's last error as text; empties its queue. */
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

static int
bio_write(BIO *b, const char *buf, int len)
{
	ssize_t n;

	BIO_clear_retry_flags(b);
	n = send((int)BIO_get_fd(b, NULL), buf, (size_t)len, MSG_NOSIGNAL);
	if (n < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_write(b);
	return (int)n;
}

static int
bio_read(BIO *b, char *buf, int len)
{
	ssize_t n;

	BIO_clear_retry_flags(b);
	n = recv((int)BIO_get_fd(b, NULL), buf, (size_t)len, 0);
	if (n < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_read(b);
	return (int)n;
}

/* A socket BIO whose writes raise no SIGPIPE. */
static BIO_METHOD *
bio_method(void)
{
	const BIO_METHOD *sock = BIO_s_socket();
	BIO_METHOD *m = BIO_meth_new(BIO_TYPE_SOCKET, "sluice socket");

	if (m == NULL)
		return NULL;
	BIO_meth_set_write(m, bio_write);
	BIO_meth_set_read(m, bio_read);
	BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(sock));
	BIO_meth_set_create(m, BIO_meth_get_create(sock));
	BIO_meth_set_destroy(m, BIO_meth_get_destroy(sock));
	return m;
}

/* The SSL context: who the server must be, and who we are. */
static SSL_CTX *
make_ctx(struct sluice_ctx *ctx, const char *ca_file, const char *cert_file,
    const char *key_file)
{
	SSL_CTX *sc = SSL_CTX_new(TLS_client_method());
	char why[120];

	if (sc == NULL) {
		sluice_set_error(ctx, SLUICE_ERR_NOMEM, "out of memory");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(sc, TLS1_2_VERSION);
	SSL_CTX_set_mode(sc,
	    SSL_MODE_ENABLE_PARTIAL_WRITE |
	        SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_verify(sc, SSL_VERIFY_PEER, NULL);
	/* A server that closes without close_notify has closed. */
	SSL_CTX_set_options(sc, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if ((ca_file != NULL ? SSL_CTX_load_verify_locations(sc, ca_file, NULL)
	                     : SSL_CTX_set_default_verify_paths(sc)) != 1) {
		sluice_set_error(ctx, SLUICE_ERR_TLS,
		    "cannot load the CA certificates %s: %s",
		    ca_file ? ca_file : "of the system",
		    ssl_reason(why, sizeof why, "unknown error"));
		goto fail;
	}
	if (cert_file != NULL &&
	    SSL_CTX_use_certificate_chain_file(sc, cert_file) != 1) {
		sluice_set_error(ctx, SLUICE_ERR_TLS,
		    "cannot load the certificate %s: %s", cert_file,
		    ssl_reason(why, sizeof why, "unknown error"));
		goto fail;
	}
	if (cert_file != NULL &&
	    SSL_CTX_use_PrivateKey_file(sc,
	        key_file != NULL ? key_file : cert_file,
	        SSL_FILETYPE_PEM) != 1) {
		sluice_set_error(ctx, SLUICE_ERR_TLS,
		    "cannot load the key %s: %s",
		    key_file != NULL ? key_file : cert_file,
		    ssl_reason(why, sizeof why, "unknown error"));
		goto fail;
	}
	return sc;
fail:
	SSL_CTX_free(sc);
	return NULL;
}

/* Check the server's certificate names the host we connected to. */
static void
expect_name(SSL *ssl, const char *host)
{
	unsigned char addr[16];

	if (inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
		return;
	}
	SSL_set_tlsext_host_name(ssl, host);
	SSL_set1_host(ssl, host);
}

/* Run the handshake to its end, waiting up to timeout_ms at each step. */
static enum sluice_result
handshake(struct sluice_ctx *ctx, int64_t timeout_ms)
{
	char why[160];
	int r, e, n;

	while ((r = SSL_connect(ctx->ssl)) != 1) {
		struct pollfd pfd = { ctx->fd, 0, 0 };
		e = SSL_get_error(ctx->ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			long v = SSL_get_verify_result(ctx->ssl);
			if (v != X509_V_OK)
				snprintf(why, sizeof why,
				    "the server's certificate: %s",
				    X509_verify_cert_error_string(v));
			else
				ssl_reason(why, sizeof why,
				    e == SSL_ERROR_SYSCALL
				        ? "the server closed the connection"
				        : "TLS error");
			ERR_clear_error();
			return sluice_set_error(ctx, SLUICE_ERR_TLS,
			    "TLS handshake with %s: %s", ctx->host, why);
		}
		pfd.events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		do
			n = poll(&pfd, 1, sluice_poll_ms(timeout_ms));
		while (n < 0 && errno == EINTR);
		if (n == 0)
			return sluice_set_error(ctx, SLUICE_ERR_TIMEOUT,
			    "TLS handshake with %s: no answer within %lld ms",
			    ctx->host, (long long)timeout_ms);
		if (n < 0)
			return sluice_set_error(ctx, SLUICE_ERR_IO, "poll: %s",
			    strerror(errno));
	}
	return SLUICE_OK;
}

/* Keep a copy of a file name (NULL: none) in *slot, unless it is the
 * copy already.  false when out of memory. */
static bool
keep_name(char **slot, const char *name)
{
	char *copy = NULL;

	if (name == *slot)
		return true;
	if (name != NULL && (copy = strdup(name)) == NULL)
		return false;
	free(*slot);
	*slot = copy;
	return true;
}

/* Keep what sluice_start_tls() was given, for the connections that
 * failover makes (sluice_group.c). */
static enum sluice_result
remember_files(struct sluice_ctx *ctx, const char *ca_file,
    const char *cert_file, const char *key_file)
{
	if (!keep_name(&ctx->tls_ca, ca_file) ||
	    !keep_name(&ctx->tls_cert, cert_file) ||
	    !keep_name(&ctx->tls_key, key_file))
		return sluice_set_error(ctx, SLUICE_ERR_NOMEM, "out of memory");
	ctx->tls = true;
	return SLUICE_OK;
}

enum sluice_result
sluice_start_tls(struct sluice_ctx *ctx, const char *ca_file,
    const char *cert_file, const char *key_file, int64_t timeout_ms)
{
	BIO *bio;

	/* Kept first: a group that cannot be reached now is connected
	 * later, by failover, with TLS. */
	if (remember_files(ctx, ca_file, cert_file, key_file) != SLUICE_OK)
		return ctx->err;
	ctx->tls_timeout_ms = timeout_ms;
	if (sluice_begin(ctx) != SLUICE_OK)
		return ctx->err;
	if (ctx->ssl != NULL || ctx->pending > 0 || ctx->out.len > ctx->out.off)
		return sluice_set_error(ctx, SLUICE_ERR_ARG,
		    "TLS must start before the first request");
	if ((ctx->ssl_ctx = make_ctx(ctx, ca_file, cert_file, key_file)) ==
	    NULL)
		return ctx->err;
	if ((ctx->bio_method = bio_method()) == NULL ||
	    (ctx->ssl = SSL_new(ctx->ssl_ctx)) == NULL ||
	    (bio = BIO_new(ctx->bio_method)) == NULL) {
		ERR_clear_error();
		return sluice_set_error(ctx, SLUICE_ERR_NOMEM, "out of memory");
	}
	BIO_set_fd(bio, ctx->fd, BIO_NOCLOSE);
	SSL_set_bio(ctx->ssl, bio, bio);
	expect_name(ctx->ssl, ctx->host);
	return handshake(ctx, timeout_ms);
}

/*
 * What a failed SSL call that returned r means, as recv() or send()
 * would say it: -1 with errno EAGAIN (and ctx->tls_wants the event to
 * wait for), 0 for the end of the stream, or -1 with another errno
 * (EPROTO: ctx->tls_why says why).
 */
static ssize_t
tls_status(struct sluice_ctx *ctx, int r)
{
	int e = SSL_get_error(ctx->ssl, r), saved = errno;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		ctx->tls_wants = POLLIN;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		ctx->tls_wants = POLLOUT;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		ERR_clear_error();
		return 0;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_last_error() == 0) {
			errno = saved;
			return saved != 0 ? -1 : 0;
		}
		/* FALLTHROUGH */
	default:
		ssl_reason(ctx->tls_why, sizeof ctx->tls_why, "TLS error");
		errno = EPROTO;
		return -1;
	}
}

ssize_t
sluice_tls_recv(struct sluice_ctx *ctx, void *buf, size_t len)
{
	size_t n;
	int r;

	ctx->tls_wants = 0;
	if ((r = SSL_read_ex(ctx->ssl, buf, len, &n)) == 1)
		return (ssize_t)n;
	return tls_status(ctx, r);
}

ssize_t
sluice_tls_send(struct sluice_ctx *ctx, const void *buf, size_t len)
{
	size_t n;
	int r;

	ctx->tls_wants = 0;
	if ((r = SSL_write_ex(ctx->ssl, buf, len, &n)) == 1)
		return (ssize_t)n;
	return tls_status(ctx, r);
}

size_t
sluice_tls_pending(struct sluice_ctx *ctx)
{
	return (size_t)SSL_pending(ctx->ssl);
}

void
sluice_tls_free(struct sluice_ctx *ctx)
{
	if (ctx->ssl != NULL) {
		/*
		 * close_notify, if the socket takes it now; never waited
		 * for, and never after a failure (OpenSSL forbids it).
		 */
		if (!ctx->broken && ctx->err == SLUICE_OK &&
		    SSL_is_init_finished(ctx->ssl))
			(void)SSL_shutdown(ctx->ssl);
		SSL_free(ctx->ssl);
	}
	SSL_CTX_free(ctx->ssl_ctx);
	BIO_meth_free(ctx->bio_method);
	ERR_clear_error();
	ctx->ssl = NULL;
	ctx->ssl_ctx = NULL;
	ctx->bio_method = NULL;
}
