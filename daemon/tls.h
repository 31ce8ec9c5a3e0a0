/*
 * tls.h - TLS on client connections, with OpenSSL: the context built
 * from the config (certificate, key, CA, client verification, minimum
 * version) and one SSL object per connection, driven non-blocking by
 * the connection's own read and write events (conn_io.c).
 *
 * API: tls_ctx_new() / tls_ctx_free() for the listeners' context (a
 * reload builds a new one; connections keep the one they started
 * with, OpenSSL counts the references); tls_conn_new() per accepted
 * socket, tls_handshake() until it returns 1, then tls_read() into
 * the input and tls_write() from the output, tls_events() to learn
 * which socket events a blocked call waits for, tls_conn_free().
 *
 * Bounds: OpenSSL reads from the socket only the record it is
 * decoding (read-ahead stays off), so beyond the connection's own
 * input bound it holds at most one record: 16 KiB of plaintext not yet
 * taken (tls_pending()) and its ciphertext (about 16.5 KiB).  It
 * writes one record at a time from the output, so beyond output_high
 * it holds at most one record of ciphertext the socket did not take.
 * Both buffers are released while empty (SSL_MODE_RELEASE_BUFFERS), so
 * an idle TLS connection costs its SSL object only.  Renegotiation is
 * off, and no session tickets are sent: after the handshake a read
 * needs only the socket readable and a write only writable (the
 * crossed cases are still handled, see tls_events()).
 */
#ifndef SLUICE_TLS_H
#define SLUICE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <event2/buffer.h>

struct config_tls;
struct ssl_ctx_st; /* OpenSSL's SSL_CTX */
struct tls_conn;

/*
 * A server context from ct's files and settings.  NULL on failure,
 * with a one-line reason (naming the file) in err.
 */
struct ssl_ctx_st *tls_ctx_new(const struct config_tls *ct, char *err,
    size_t errsize);

/* Drop the config's reference; connections still using it keep it. */
void tls_ctx_free(struct ssl_ctx_st *ctx);

/* TLS (server side) on the accepted socket fd; NULL when out of memory. */
struct tls_conn *tls_conn_new(struct ssl_ctx_st *ctx, int fd);

/* Send close_notify if the session is sound (best effort) and free t. */
void tls_conn_free(struct tls_conn *t);

/* True once the handshake is done. */
bool tls_ready(const struct tls_conn *t);

/* Advance the handshake: 1 done, 0 waiting for the socket, -1 failed. */
int tls_handshake(struct tls_conn *t);

/*
 * Read up to len bytes of plaintext into buf.  Returns the bytes read,
 * 0 at the end of the stream, or -1 with errno EAGAIN (nothing now;
 * tls_events() says on what) or another error (EPROTO: see tls_why).
 */
ssize_t tls_read(struct tls_conn *t, void *buf, size_t len);

/*
 * Write as much of out as the socket takes, a record at a time,
 * draining what was written.  Returns the bytes written, or -1 with
 * errno EAGAIN (nothing taken now) or another error.  Nothing is
 * written before the handshake is done.
 */
ssize_t tls_write(struct tls_conn *t, struct evbuffer *out);

/* Plaintext OpenSSL holds decoded and not yet read: no event brings it. */
size_t tls_pending(const struct tls_conn *t);

/*
 * Map what the connection wants (*rd: input, *wr: to write its output)
 * to the socket events to wait for: a read blocked on the socket being
 * writable waits for writable, and the other way round; during the
 * handshake, whatever it needs (nothing when *rd is false: the
 * connection is closing).
 */
void tls_events(const struct tls_conn *t, bool *rd, bool *wr);

/*
 * The last read waits for the socket to be writable, or the last write
 * for it to be readable: the event that fires retries the other call.
 */
bool tls_read_wants_write(const struct tls_conn *t);
bool tls_write_wants_read(const struct tls_conn *t);

/* Why the last call failed, for the log. */
const char *tls_why(const struct tls_conn *t);

/* The negotiated version and cipher, for the log ("TLSv1.3 ..."). */
void tls_describe(const struct tls_conn *t, char *buf, size_t size);

#endif
