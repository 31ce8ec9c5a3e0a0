/*
 * config.h - the daemon's settings: built-in defaults, then the JSON
 * file (-c), then command-line flags, each overriding the last.
 *
 * config_load() does all three and checks everything: an unknown key,
 * a wrong type or a bad value is an error naming the file and the JSON
 * path (queues[2].policy), a syntax error names file:line:column.  The
 * same function serves start-up, `sluiced -t` and SIGHUP, so a file
 * that passes -t is exactly a file the daemon will run with.  Every key
 * is documented in conf/README.md.
 */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "wal.h"

/* Where a queue keeps its messages (the storage option). */
enum queue_storage {
	QUEUE_STORAGE_DEFAULT, /* not said: disk with a data_dir, else memory */
	QUEUE_STORAGE_MEMORY,
	QUEUE_STORAGE_DISK,
};

/* The settings of one queue (CREATE options, config defaults). */
struct queue_settings {
	uint64_t capacity;
	uint64_t max_bytes;
	enum proto_policy policy;
	uint64_t lease_ms; /* 0: reservations never expire */
	enum queue_storage storage; /* never DEFAULT once config_load() ran */
	uint64_t max_deliveries; /* 0: no limit; else dead-letter after */
	char dead_letter[PROTO_NAME_MAX + 1]; /* "": none (discard) */
};

/* Listeners (protocol ones; the metrics one is apart). */
#define CONFIG_LISTEN_MAX 8
/* The longest IPv6 address text (45) fits, with room for a scope id. */
#define CONFIG_ADDR_MAX 64

struct config_listen {
	char addr[CONFIG_ADDR_MAX]; /* numeric IPv4 or IPv6, no brackets */
	int port;      /* 0: any free port, logged once bound */
};

/* An address range of metrics_allow: ADDR or ADDR/BITS. */
#define CONFIG_ALLOW_MAX 16
struct config_cidr {
	int family;             /* AF_INET or AF_INET6 */
	unsigned char addr[16]; /* network order; 4 bytes for IPv4 */
	int bits;               /* prefix length */
};

/* What a token may do on the queues a grant names ("can"). */
#define CONFIG_CAN_PRODUCE 0x1u /* PUT */
#define CONFIG_CAN_CONSUME 0x2u /* GET, RESERVE, ACK, NACK */
#define CONFIG_CAN_ADMIN 0x4u	/* CREATE, DELETE, PURGE, CLOSE */
#define CONFIG_CAN_ALL 0x7u
/* Tokens, grants per token, and the length of a glob. */
#define CONFIG_TOKENS_MAX 256
#define CONFIG_GRANTS_MAX 64
#define CONFIG_GLOB_MAX (2 * PROTO_NAME_MAX)

/* One "allow" entry, one glob of it: what may be done where. */
struct config_grant {
	char glob[CONFIG_GLOB_MAX + 1]; /* fnmatch(3) pattern of queue names */
	unsigned can;			/* CONFIG_CAN_* */
};

/* A token of "tokens" (or auth_token_file: every right everywhere). */
struct config_token {
	char *token; /* owned */
	size_t len;
	struct config_grant *grants; /* owned */
	size_t ngrants;
};

/* TLS: who clients must be (tls_verify_client). */
enum config_verify {
	CONFIG_VERIFY_NONE,     /* no client certificate asked for */
	CONFIG_VERIFY_OPTIONAL, /* asked for; checked when one is sent */
	CONFIG_VERIFY_REQUIRE,  /* asked for and required (mTLS) */
};

/* TLS: the oldest version spoken (tls_min_version). */
enum config_tls_version {
	CONFIG_TLS_1_2,
	CONFIG_TLS_1_3,
};

/*
 * The TLS listeners and what they present (tls.h).  Off while nlisten
 * is 0.  The files are resolved against the config file's directory;
 * config_load() builds ctx from them, so a file that passes -t loads.
 */
struct config_tls {
	struct config_listen listen[CONFIG_LISTEN_MAX];
	int nlisten;
	char *cert_file; /* owned, like the strings below */
	char *key_file;
	char *ca_file; /* NULL when no client certificate is checked */
	enum config_verify verify;
	enum config_tls_version min_version;
	struct ssl_ctx_st *ctx; /* OpenSSL's SSL_CTX, owned */
};

/*
 * Replication ("cluster", cluster.h): this server is one member of a
 * Raft group.  Members are known by a non-zero id, the address the
 * group's Raft traffic uses and the address clients use (the
 * NOT_LEADER hint).
 */
#define CONFIG_MEMBERS_MAX 9
struct config_member {
	uint64_t id;
	char raft[CONFIG_ADDR_MAX];   /* "host:port" */
	char client[CONFIG_ADDR_MAX]; /* "host:port" */
};

struct config_cluster {
	bool on;     /* a "cluster" object was given */
	uint64_t id; /* this server's id: one of members[], unless join */
	/*
	 * The group it starts with (bootstrapped into a new data_dir;
	 * ignored once the log holds a configuration, which then wins).
	 */
	struct config_member members[CONFIG_MEMBERS_MAX];
	size_t nmembers;
	/*
	 * Start empty and wait to be added (`sluice cluster add`) instead
	 * of bootstrapping; this server's own addresses are then "raft"
	 * and "client".
	 */
	bool join;
	char raft[CONFIG_ADDR_MAX];   /* own Raft address when join */
	char client[CONFIG_ADDR_MAX]; /* own client address when join */
	unsigned election_timeout_ms;
	unsigned heartbeat_timeout_ms;
	unsigned snapshot_threshold; /* log entries between snapshots */
	unsigned snapshot_trailing;  /* entries kept behind a snapshot */
	uint64_t max_batch;          /* bytes per log entry (one apply) */
	/*
	 * This server's own entry, filled by config_load(): a copy of its
	 * members[] entry, or with join made of id, raft and client.  Read
	 * it through config_cluster_self().
	 */
	struct config_member self;
};

#define CONFIG_DEFAULT_ELECTION_TIMEOUT_MS 1000
#define CONFIG_DEFAULT_HEARTBEAT_TIMEOUT_MS 100
#define CONFIG_DEFAULT_SNAPSHOT_THRESHOLD 1024
#define CONFIG_DEFAULT_SNAPSHOT_TRAILING 256
#define CONFIG_DEFAULT_MAX_BATCH (256 * 1024)
/*
 * Their bounds.  An election timeout under 100 ms fires on ordinary
 * scheduling and network jitter; over a minute, a dead leader goes
 * unnoticed for that long.  It must exceed the heartbeat, or followers
 * start elections between two heartbeats of a live leader.  Fewer than
 * 16 entries between snapshots would snapshot all the time; more than
 * a million keeps an unbounded-looking log.  A batch must hold a
 * useful number of small messages (4 KiB) and stay a bounded amount of
 * memory to send and apply at once (64 MiB).
 */
#define CONFIG_ELECTION_TIMEOUT_MIN 100
#define CONFIG_ELECTION_TIMEOUT_MAX 60000
#define CONFIG_HEARTBEAT_TIMEOUT_MIN 10
#define CONFIG_HEARTBEAT_TIMEOUT_MAX 10000
#define CONFIG_SNAPSHOT_THRESHOLD_MIN 16
#define CONFIG_SNAPSHOT_THRESHOLD_MAX 1000000
#define CONFIG_SNAPSHOT_TRAILING_MAX 1000000
#define CONFIG_MAX_BATCH_MIN 4096
#define CONFIG_MAX_BATCH_MAX (64 * 1024 * 1024)

/* A queue the file defines ("queues"): made at start, kept on reload. */
struct config_queue {
	char name[PROTO_NAME_MAX + 1];
	struct queue_settings set;
};

struct config {
	struct config_listen listen[CONFIG_LISTEN_MAX];
	int nlisten;
	size_t max_connections;
	size_t max_connections_per_address; /* from one client address */
	uint64_t tcp_keepalive_s;    /* idle time before probes; 0: off */
	uint64_t request_timeout_ms; /* a request arrives whole in it; 0: off */
	uint64_t idle_timeout_s;     /* idle connections close; 0: never */
	uint64_t auth_timeout_ms;    /* AUTH within it, with a token; 0: off */
	uint64_t max_message;	     /* message limit: 413 beyond */
	size_t input_readahead;	     /* input held per connection */
	size_t output_high;	     /* unsent output that stops reading */
	size_t max_reserved;	     /* reservations per connection */
	uint64_t max_reserved_bytes; /* their bodies, per connection */
	size_t max_queues;	     /* queues auto-create and CREATE may reach */
	uint64_t max_queue_capacity; /* most capacity a queue may have */
	uint64_t max_queue_bytes;    /* most max_bytes a queue may have */
	uint64_t max_memory;	     /* the memory budget (budget.h) */
	bool auto_create;
	struct queue_settings queue_defaults;
	struct config_queue *queues; /* predefined; owned, see config_free */
	size_t nqueues;
	char *auth_token;	     /* from auth_token_file; NULL: none */
	size_t auth_token_len;
	struct config_token *tokens; /* "tokens"; owned, see config_free */
	size_t ntokens;
	int log_level;		     /* syslog level, LOG_INFO default */
	uint64_t shutdown_grace_ms;  /* how long a stop may drain */
	bool metrics_on;
	struct config_listen metrics; /* the /metrics listener, if on */
	char *metrics_token;          /* from metrics_token_file; NULL: none */
	size_t metrics_token_len;
	struct config_cidr metrics_allow[CONFIG_ALLOW_MAX];
	size_t nmetrics_allow; /* 0: any address may scrape */
	struct config_tls tls;
	char *data_dir;        /* the durable log's directory; NULL: none */
	enum wal_fsync fsync;  /* when the log is synced */
	uint64_t segment_size; /* bytes per log segment */
	uint64_t max_unsynced; /* unsynced bytes that stop producers */
	bool force_recover; /* --force-recover: cut damaged segments */
	bool fsync_set;     /* "fsync" or -f given: a cluster ignores it */
	struct config_cluster cluster; /* cluster.on: a replicated member */
};

/*
 * What the command line asked for.  It wins over the file, at start
 * and again at every reload, so it is kept for the server's life.
 */
struct config_flags {
	const char *file; /* -c; NULL: built-in defaults only */
	const char *addr; /* -l; NULL: not given */
	int port;	  /* -p; -1: not given */
	bool verbose;	  /* -v */
	const char *data_dir; /* -d; NULL: not given */
	const char *fsync;    /* -f; NULL: not given */
	bool force_recover;   /* --force-recover */
};

/* Defaults, as documented in the README and conf/README.md. */
#define CONFIG_DEFAULT_ADDR "127.0.0.1"
#define CONFIG_DEFAULT_PORT 7470
#define CONFIG_DEFAULT_MAX_CONNECTIONS 10000
/*
 * Connections one client address may hold: a tenth of the default
 * total, so one address (one host, or one NAT) cannot lock every other
 * client out, while a busy host's worker pool still fits.
 */
#define CONFIG_DEFAULT_MAX_CONNECTIONS_PER_ADDRESS 1000
/*
 * TCP keepalive: probes after a minute of silence, so a peer that
 * vanished without a FIN (power loss, a dropped route) is given up
 * within about two minutes and its reservations come back.
 */
#define CONFIG_DEFAULT_TCP_KEEPALIVE_S 60
/*
 * Deadlines of a connection (guard.h).  A request, once its first byte
 * is in, must be whole within 30 s: a 1 MiB message at 35 KB/s, while a
 * client dribbling a byte at a time (slowloris) holds its slot and its
 * buffers for no longer.  A connection that does nothing for 5 minutes
 * (no request, no wait, no reservation) is closed: a client that forgot
 * it, or opened it only to hold a slot.  An unauthenticated connection,
 * when a token is needed, has 10 s to send AUTH.
 */
#define CONFIG_DEFAULT_REQUEST_TIMEOUT_MS 30000
#define CONFIG_DEFAULT_IDLE_TIMEOUT_S 300
#define CONFIG_DEFAULT_AUTH_TIMEOUT_MS 10000
/* The kernel's ceiling for TCP_KEEPIDLE. */
#define CONFIG_KEEPALIVE_MAX 32767
#define CONFIG_DEFAULT_MAX_MESSAGE (1024 * 1024)
#define CONFIG_DEFAULT_CAPACITY 1024
#define CONFIG_DEFAULT_MAX_BYTES (16 * 1024 * 1024)
#define CONFIG_DEFAULT_MAX_RESERVED 1024
/*
 * Body bytes one connection may hold reserved before RESERVE answers
 * 503 TOO_MANY_RESERVED.  Reservations count toward their queue's
 * max_bytes, except on capacity-0 queues, where nothing else would
 * stop one consumer from pinning max_reserved x max_message (1 GiB).
 */
#define CONFIG_DEFAULT_MAX_RESERVED_BYTES (64 * 1024 * 1024)
/*
 * Queues clients may bring into being.  An idle queue costs well under
 * 1 KiB, and the answer to STATS (one per connection at a time, since a
 * connection is not read past output_high) about 330 bytes per queue:
 * 10000 keeps both to a few MiB however many names clients invent.
 */
#define CONFIG_DEFAULT_MAX_QUEUES 10000
/*
 * The most a queue may be given (CREATE, queue_defaults, queues): the
 * queue bounds are what stops a client from storing without end, so a
 * client must not be able to ask them away.  A million messages is far
 * beyond any sane backlog of one queue (a queue that deep has lost its
 * consumers: backpressure should have stopped the producers long
 * before) and costs at most a few tens of MiB of per-message overhead;
 * 1 GiB of bodies is the largest single message the daemon accepts
 * (max_message's ceiling), so no message the daemon takes is too big
 * for every queue.  Both are per queue; operators who want more, or
 * far less, set them.
 */
#define CONFIG_DEFAULT_MAX_QUEUE_CAPACITY 1000000
#define CONFIG_DEFAULT_MAX_QUEUE_BYTES (1024ULL * 1024 * 1024)
/*
 * The memory budget, when not configured: a quarter of physical memory
 * (MemTotal), leaving the rest to the kernel's page cache, other
 * processes and what the budget does not count (per-connection
 * structures, allocator slack); a fixed 1 GiB when /proc/meminfo
 * cannot be read.  Never less than CONFIG_MIN_MEMORY.
 */
#define CONFIG_DEFAULT_MEMORY_FRACTION 4
#define CONFIG_DEFAULT_MEMORY (1024ULL * 1024 * 1024)
#define CONFIG_MIN_MEMORY (1024 * 1024)

/*
 * Input read ahead of the request being served: enough to parse a deep
 * pipeline of small requests in one pass, small enough that a flood of
 * PUTs into a full queue costs the daemon almost nothing (the spec
 * allows 64 KiB plus one message).
 */
#define CONFIG_DEFAULT_INPUT_READAHEAD (64 * 1024)
/*
 * Unsent output at which the daemon stops reading a connection: a
 * client that pipelines GETs and never reads the answers holds at most
 * this plus one response.
 */
#define CONFIG_DEFAULT_OUTPUT_HIGH (256 * 1024)
/*
 * How long SIGTERM lets consumers drain the queues: long enough for a
 * consumer to finish a batch, well inside systemd's 90 s stop timeout
 * (which the daemon extends by this much anyway).
 */
#define CONFIG_DEFAULT_SHUTDOWN_GRACE_MS 10000

/* The durable log's defaults (wal.h has the reasons). */
#define CONFIG_DEFAULT_FSYNC WAL_FSYNC_EVERYSEC
#define CONFIG_DEFAULT_SEGMENT_SIZE WAL_DEFAULT_SEGMENT_SIZE
#define CONFIG_DEFAULT_MAX_UNSYNCED WAL_DEFAULT_MAX_UNSYNCED

/* Room for one config_load() error message. */
#define CONFIG_ERR_MAX 1280

/* True when two queues' settings are the same (CREATE's EXISTS, reload). */
bool config_settings_equal(const struct queue_settings *a,
    const struct queue_settings *b);

/* The default max_memory of this machine (see above). */
uint64_t config_default_memory(void);

/* Fill cfg with the built-in defaults. */
void config_defaults(struct config *cfg);

/*
 * Build cfg from the defaults, the file fl->file (if any) and the
 * flags.  Returns 0, or -1 with a one-line message in err (without the
 * "sluiced: " prefix) and cfg left empty.  Free with config_free().
 */
int config_load(struct config *cfg, const struct config_flags *fl,
    char *err, size_t errsize);

/*
 * This server's member entry in its cluster (id, Raft and client
 * address): the one of members[] with its id, or with join one made of
 * its own "raft" and "client".  NULL when not in a cluster.
 */
const struct config_member *config_cluster_self(const struct config *cfg);

/*
 * True when two "cluster" settings are the same (a reload keeps the
 * running ones otherwise).  Members compare as a set: their order in
 * the file does not matter.
 */
bool config_cluster_equal(const struct config_cluster *a,
    const struct config_cluster *b);

/*
 * A member's address, "a.b.c.d:PORT" (numeric IPv4, what libraft's TCP
 * transport takes; port 1-65535), written as inet_ntop() and the port
 * spell it into dst (CONFIG_ADDR_MAX), so two spellings compare equal.
 * 0, -1 when s is not one, -2 for 0.0.0.0 (no address to connect to).
 */
int config_peer_address(const char *s, char *dst);

/* "disk" or "memory". */
const char *config_storage_name(enum queue_storage st);

/* Free what cfg owns (queues, tokens, TLS, data_dir); cfg becomes empty. */
void config_free(struct config *cfg);

#endif
