/*
 * config.c - the built-in defaults, the JSON file and the flags.
 * See config.h; every key is documented in conf/README.md.
 *
 * The file is checked by tables (jcheck.h): each object the file may
 * hold (the top level, queue_defaults, an entry of queues) has a table
 * of the keys it allows, with each key's kind, where its value goes and
 * its bounds.  A key not in the table is an error, so a typo never
 * passes silently, and the message lists what was expected.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "jcheck.h"
#include "tls.h"
#include "xmalloc.h"

/* Bounds of the numeric keys; each says why. */
/* More connections than this cannot be served by one event loop. */
#define MAX_CONNECTIONS_LIMIT 1000000
/* A message is held whole in memory, twice at worst (input, output). */
#define MAX_MESSAGE_LIMIT (1024 * 1024 * 1024)
/* The read-ahead must hold a whole request line or nothing parses. */
#define READAHEAD_MIN PROTO_LINE_MAX
#define READAHEAD_MAX (64 * 1024 * 1024)
#define OUTPUT_HIGH_MAX (1024 * 1024 * 1024)
/* A day: longer is a hang, not a timeout. */
#define TIMEOUT_MS_MAX (24ULL * 3600 * 1000)
/* A day: longer is a hang, not a drain. */
#define SHUTDOWN_GRACE_MAX (24ULL * 3600 * 1000)
/*
 * A segment is preallocated whole, and recovery maps it whole: 4 GiB
 * keeps both sane; below 64 KiB a large message would not fit.
 */
#define SEGMENT_SIZE_MAX (4ULL * 1024 * 1024 * 1024)
/* Bytes waiting for a sync are memory and loss on a power cut. */
#define MAX_UNSYNCED_MAX (1024ULL * 1024 * 1024)
/* What fits after "AUTH " on a request line. */
#define TOKEN_MAX (PROTO_LINE_MAX - 7)

/* log_level: the names, and the syslog levels at the same index. */
static const char *const level_names[] = { "error", "warning", "notice",
	"info", "debug" };
static const int level_values[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE,
	LOG_INFO, LOG_DEBUG };
#define NLEVELS (sizeof level_names / sizeof *level_names)

static const char *const policy_names[] = {
	[PROTO_POLICY_BLOCK] = "block",
	[PROTO_POLICY_REJECT] = "reject",
	[PROTO_POLICY_DROP_OLDEST] = "drop-oldest",
	[PROTO_POLICY_DROP_NEWEST] = "drop-newest",
};
#define NPOLICIES (sizeof policy_names / sizeof *policy_names)

/* tls_verify_client and tls_min_version, at their enums' values. */
static const char *const verify_names[] = {
	[CONFIG_VERIFY_NONE] = "none",
	[CONFIG_VERIFY_OPTIONAL] = "optional",
	[CONFIG_VERIFY_REQUIRE] = "require",
};
static const char *const tls_version_names[] = {
	[CONFIG_TLS_1_2] = "TLS1.2",
	[CONFIG_TLS_1_3] = "TLS1.3",
};

/* The top level while it is read: the config plus the default port. */
struct load {
	struct config cfg; /* first, so key offsets are config's */
	int port;	   /* "port": for listen entries without one */
};

static int parse_port(struct jcheck *, const char *, json_t *, void *);
static int parse_listen(struct jcheck *, const char *, json_t *, void *);
static int parse_defaults(struct jcheck *, const char *, json_t *, void *);
static int parse_queues(struct jcheck *, const char *, json_t *, void *);
static int parse_token(struct jcheck *, const char *, json_t *, void *);
static int parse_tokens(struct jcheck *, const char *, json_t *, void *);
static int parse_token_file(struct jcheck *, const char *, json_t *, void *);
static int parse_allow(struct jcheck *, const char *, json_t *, void *);
static int parse_grant_queues(struct jcheck *, const char *, json_t *, void *);
static int parse_grant_can(struct jcheck *, const char *, json_t *, void *);
static int parse_level(struct jcheck *, const char *, json_t *, void *);
static int parse_max_memory(struct jcheck *, const char *, json_t *, void *);
static int parse_metrics(struct jcheck *, const char *, json_t *, void *);
static int parse_metrics_token(struct jcheck *, const char *, json_t *, void *);
static int parse_metrics_allow(struct jcheck *, const char *, json_t *, void *);
static void resolve_path(char *dst, size_t size, const char *file,
    const char *name);
static int parse_tls_listen(struct jcheck *, const char *, json_t *, void *);
static int parse_tls_cert(struct jcheck *, const char *, json_t *, void *);
static int parse_tls_key(struct jcheck *, const char *, json_t *, void *);
static int parse_tls_ca(struct jcheck *, const char *, json_t *, void *);
static int parse_tls_verify(struct jcheck *, const char *, json_t *, void *);
static int parse_tls_version(struct jcheck *, const char *, json_t *, void *);
static int parse_name(struct jcheck *, const char *, json_t *, void *);
static int parse_dead_letter(struct jcheck *, const char *, json_t *, void *);
static int parse_default_policy(struct jcheck *, const char *, json_t *,
    void *);
static int parse_queue_policy(struct jcheck *, const char *, json_t *,
    void *);
static int parse_default_storage(struct jcheck *, const char *, json_t *,
    void *);
static int parse_queue_storage(struct jcheck *, const char *, json_t *, void *);
static int parse_data_dir(struct jcheck *, const char *, json_t *, void *);
static int parse_fsync(struct jcheck *, const char *, json_t *, void *);
static int parse_cluster(struct jcheck *, const char *, json_t *, void *);
static int parse_members(struct jcheck *, const char *, json_t *, void *);
static int parse_member_raft(struct jcheck *, const char *, json_t *, void *);
static int parse_member_client(struct jcheck *, const char *, json_t *, void *);
static int parse_own_raft(struct jcheck *, const char *, json_t *, void *);
static int parse_own_client(struct jcheck *, const char *, json_t *, void *);

#define CFG(f) offsetof(struct config, f)
#define NUM PROTO_NUM_MAX
#define FUNC(f) JCHECK_FUNC, 0, 0, 0, f

/* The top level.  Order matters: port before listen, defaults first. */
static const struct jcheck_key top_keys[] = {
	{ "port", FUNC(parse_port) },
	{ "listen", FUNC(parse_listen) },
	{ "max_connections", JCHECK_SIZE, CFG(max_connections), 1,
	    MAX_CONNECTIONS_LIMIT, NULL },
	{ "max_connections_per_address", JCHECK_SIZE,
	    CFG(max_connections_per_address), 1, MAX_CONNECTIONS_LIMIT, NULL },
	{ "tcp_keepalive_s", JCHECK_U64, CFG(tcp_keepalive_s), 0,
	    CONFIG_KEEPALIVE_MAX, NULL },
	{ "request_timeout_ms", JCHECK_U64, CFG(request_timeout_ms), 0,
	    TIMEOUT_MS_MAX, NULL },
	{ "idle_timeout_s", JCHECK_U64, CFG(idle_timeout_s), 0,
	    TIMEOUT_MS_MAX / 1000, NULL },
	{ "auth_timeout_ms", JCHECK_U64, CFG(auth_timeout_ms), 0,
	    TIMEOUT_MS_MAX, NULL },
	{ "max_message", JCHECK_U64, CFG(max_message), 0, MAX_MESSAGE_LIMIT,
	    NULL },
	{ "input_readahead", JCHECK_SIZE, CFG(input_readahead), READAHEAD_MIN,
	    READAHEAD_MAX, NULL },
	{ "output_high", JCHECK_SIZE, CFG(output_high), 1, OUTPUT_HIGH_MAX,
	    NULL },
	{ "max_reserved", JCHECK_SIZE, CFG(max_reserved), 1, NUM, NULL },
	{ "max_reserved_bytes", JCHECK_U64, CFG(max_reserved_bytes), 1, NUM,
	    NULL },
	{ "max_queues", JCHECK_SIZE, CFG(max_queues), 1, NUM, NULL },
	{ "max_queue_capacity", JCHECK_U64, CFG(max_queue_capacity), 0, NUM,
	    NULL },
	{ "max_queue_bytes", JCHECK_U64, CFG(max_queue_bytes), 0, NUM, NULL },
	{ "max_memory", FUNC(parse_max_memory) },
	{ "auto_create", JCHECK_BOOL, CFG(auto_create), 0, 0, NULL },
	{ "queue_defaults", FUNC(parse_defaults) },
	{ "queues", FUNC(parse_queues) },
	{ "auth_token_file", FUNC(parse_token) },
	{ "tokens", FUNC(parse_tokens) },
	{ "log_level", FUNC(parse_level) },
	{ "shutdown_grace_ms", JCHECK_U64, CFG(shutdown_grace_ms), 0,
	    SHUTDOWN_GRACE_MAX, NULL },
	{ "metrics", FUNC(parse_metrics) },
	{ "metrics_token_file", FUNC(parse_metrics_token) },
	{ "metrics_allow", FUNC(parse_metrics_allow) },
	{ "tls_listen", FUNC(parse_tls_listen) },
	{ "tls_cert_file", FUNC(parse_tls_cert) },
	{ "tls_key_file", FUNC(parse_tls_key) },
	{ "tls_ca_file", FUNC(parse_tls_ca) },
	{ "tls_verify_client", FUNC(parse_tls_verify) },
	{ "tls_min_version", FUNC(parse_tls_version) },
	{ "data_dir", FUNC(parse_data_dir) },
	{ "fsync", FUNC(parse_fsync) },
	{ "segment_size", JCHECK_U64, CFG(segment_size), WAL_MIN_SEGMENT_SIZE,
	    SEGMENT_SIZE_MAX, NULL },
	{ "max_unsynced_bytes", JCHECK_U64, CFG(max_unsynced), 1,
	    MAX_UNSYNCED_MAX, NULL },
	{ "cluster", FUNC(parse_cluster) },
};

#define SET(f) offsetof(struct queue_settings, f)
#define QSET(f) (offsetof(struct config_queue, set) + SET(f))

static const struct jcheck_key defaults_keys[] = {
	{ "capacity", JCHECK_U64, SET(capacity), 0, NUM, NULL },
	{ "max_bytes", JCHECK_U64, SET(max_bytes), 0, NUM, NULL },
	{ "policy", FUNC(parse_default_policy) },
	{ "lease_ms", JCHECK_U64, SET(lease_ms), 0, NUM, NULL },
	{ "max_deliveries", JCHECK_U64, SET(max_deliveries), 0, NUM, NULL },
	{ "storage", FUNC(parse_default_storage) },
};

static const struct jcheck_key queue_keys[] = {
	{ "name", FUNC(parse_name) },
	{ "capacity", JCHECK_U64, QSET(capacity), 0, NUM, NULL },
	{ "max_bytes", JCHECK_U64, QSET(max_bytes), 0, NUM, NULL },
	{ "policy", FUNC(parse_queue_policy) },
	{ "lease_ms", JCHECK_U64, QSET(lease_ms), 0, NUM, NULL },
	{ "max_deliveries", JCHECK_U64, QSET(max_deliveries), 0, NUM, NULL },
	{ "dead_letter", FUNC(parse_dead_letter) },
	{ "storage", FUNC(parse_queue_storage) },
};

/* An entry of "tokens", and an entry of its "allow". */
static const struct jcheck_key token_keys[] = {
	{ "token_file", FUNC(parse_token_file) },
	{ "allow", FUNC(parse_allow) },
};

static const struct jcheck_key grant_keys[] = {
	{ "queues", FUNC(parse_grant_queues) },
	{ "can", FUNC(parse_grant_can) },
};

/*
 * "cluster" and an entry of its "members".  Ids go up to 2^63-1, what
 * a JSON integer holds.  How the keys fit together (id among the
 * members, addresses unique, join's own addresses) is checked as each
 * member is read (parse_member) and once the whole object is
 * (parse_cluster); the data_dir once the flags are in (check_cluster).
 */
#define CL(f) offsetof(struct config_cluster, f)
#define MEMBER(f) offsetof(struct config_member, f)
static const struct jcheck_key cluster_keys[] = {
	{ "id", JCHECK_U64, CL(id), 1, INT64_MAX, NULL },
	{ "members", FUNC(parse_members) },
	{ "join", JCHECK_BOOL, CL(join), 0, 0, NULL },
	{ "raft", FUNC(parse_own_raft) },
	{ "client", FUNC(parse_own_client) },
	{ "election_timeout_ms", JCHECK_UINT, CL(election_timeout_ms),
	    CONFIG_ELECTION_TIMEOUT_MIN, CONFIG_ELECTION_TIMEOUT_MAX, NULL },
	{ "heartbeat_timeout_ms", JCHECK_UINT, CL(heartbeat_timeout_ms),
	    CONFIG_HEARTBEAT_TIMEOUT_MIN, CONFIG_HEARTBEAT_TIMEOUT_MAX, NULL },
	{ "snapshot_threshold", JCHECK_UINT, CL(snapshot_threshold),
	    CONFIG_SNAPSHOT_THRESHOLD_MIN, CONFIG_SNAPSHOT_THRESHOLD_MAX,
	    NULL },
	{ "snapshot_trailing", JCHECK_UINT, CL(snapshot_trailing), 0,
	    CONFIG_SNAPSHOT_TRAILING_MAX, NULL },
	{ "max_batch", JCHECK_U64, CL(max_batch), CONFIG_MAX_BATCH_MIN,
	    CONFIG_MAX_BATCH_MAX, NULL },
};

static const struct jcheck_key member_keys[] = {
	{ "id", JCHECK_U64, MEMBER(id), 1, INT64_MAX, NULL },
	{ "raft", FUNC(parse_member_raft) },
	{ "client", FUNC(parse_member_client) },
};

/* The names of the rights, at the bit they set. */
static const char *const can_names[] = { "produce", "consume", "admin" };
#define NCAN (sizeof can_names / sizeof *can_names)

#define NKEYS(t) (sizeof(t) / sizeof *(t))

bool
config_settings_equal(const struct queue_settings *a,
    const struct queue_settings *b)
{
	return a->capacity == b->capacity && a->max_bytes == b->max_bytes &&
	    a->policy == b->policy && a->lease_ms == b->lease_ms &&
	    a->max_deliveries == b->max_deliveries &&
	    strcmp(a->dead_letter, b->dead_letter) == 0 &&
	    a->storage == b->storage;
}

static const char *const storage_names[] = { "memory", "disk" };

const char *
config_storage_name(enum queue_storage st)
{
	return st == QUEUE_STORAGE_DISK ? "disk" : "memory";
}

uint64_t
config_default_memory(void)
{
	static uint64_t cached;
	char line[256];
	unsigned long long kb;
	FILE *f;

	if (cached != 0)
		return cached;
	cached = CONFIG_DEFAULT_MEMORY;
	if ((f = fopen("/proc/meminfo", "re")) == NULL)
		return cached;
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) {
			cached = kb * 1024 / CONFIG_DEFAULT_MEMORY_FRACTION;
			break;
		}
	}
	fclose(f);
	if (cached < CONFIG_MIN_MEMORY)
		cached = CONFIG_MIN_MEMORY;
	return cached;
}

void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	strcpy(cfg->listen[0].addr, CONFIG_DEFAULT_ADDR);
	cfg->listen[0].port = CONFIG_DEFAULT_PORT;
	cfg->nlisten = 1;
	cfg->max_connections = CONFIG_DEFAULT_MAX_CONNECTIONS;
	cfg->max_connections_per_address =
	    CONFIG_DEFAULT_MAX_CONNECTIONS_PER_ADDRESS;
	cfg->tcp_keepalive_s = CONFIG_DEFAULT_TCP_KEEPALIVE_S;
	cfg->request_timeout_ms = CONFIG_DEFAULT_REQUEST_TIMEOUT_MS;
	cfg->idle_timeout_s = CONFIG_DEFAULT_IDLE_TIMEOUT_S;
	cfg->auth_timeout_ms = CONFIG_DEFAULT_AUTH_TIMEOUT_MS;
	cfg->max_message = CONFIG_DEFAULT_MAX_MESSAGE;
	cfg->input_readahead = CONFIG_DEFAULT_INPUT_READAHEAD;
	cfg->output_high = CONFIG_DEFAULT_OUTPUT_HIGH;
	cfg->max_reserved = CONFIG_DEFAULT_MAX_RESERVED;
	cfg->max_reserved_bytes = CONFIG_DEFAULT_MAX_RESERVED_BYTES;
	cfg->max_queues = CONFIG_DEFAULT_MAX_QUEUES;
	cfg->max_queue_capacity = CONFIG_DEFAULT_MAX_QUEUE_CAPACITY;
	cfg->max_queue_bytes = CONFIG_DEFAULT_MAX_QUEUE_BYTES;
	cfg->max_memory = config_default_memory();
	cfg->auto_create = true;
	cfg->queue_defaults.capacity = CONFIG_DEFAULT_CAPACITY;
	cfg->queue_defaults.max_bytes = CONFIG_DEFAULT_MAX_BYTES;
	cfg->queue_defaults.policy = PROTO_POLICY_BLOCK;
	cfg->queue_defaults.lease_ms = 0;
	cfg->log_level = LOG_INFO;
	cfg->shutdown_grace_ms = CONFIG_DEFAULT_SHUTDOWN_GRACE_MS;
	cfg->fsync = CONFIG_DEFAULT_FSYNC;
	cfg->segment_size = CONFIG_DEFAULT_SEGMENT_SIZE;
	cfg->max_unsynced = CONFIG_DEFAULT_MAX_UNSYNCED;
	cfg->cluster.on = false;
	cfg->cluster.election_timeout_ms = CONFIG_DEFAULT_ELECTION_TIMEOUT_MS;
	cfg->cluster.heartbeat_timeout_ms = CONFIG_DEFAULT_HEARTBEAT_TIMEOUT_MS;
	cfg->cluster.snapshot_threshold = CONFIG_DEFAULT_SNAPSHOT_THRESHOLD;
	cfg->cluster.snapshot_trailing = CONFIG_DEFAULT_SNAPSHOT_TRAILING;
	cfg->cluster.max_batch = CONFIG_DEFAULT_MAX_BATCH;
}

const struct config_member *
config_cluster_self(const struct config *cfg)
{
	const struct config_cluster *c = &cfg->cluster;

	if (!c->on)
		return NULL;
	for (size_t i = 0; !c->join && i < c->nmembers; i++)
		if (c->members[i].id == c->id)
			return &c->members[i];
	return &c->self;
}

static bool
member_equal(const struct config_member *a, const struct config_member *b)
{
	return a->id == b->id && strcmp(a->raft, b->raft) == 0 &&
	    strcmp(a->client, b->client) == 0;
}

bool
config_cluster_equal(const struct config_cluster *a,
    const struct config_cluster *b)
{
	if (a->on != b->on)
		return false;
	if (!a->on)
		return true;
	if (a->id != b->id || a->join != b->join ||
	    strcmp(a->raft, b->raft) != 0 ||
	    strcmp(a->client, b->client) != 0 ||
	    a->election_timeout_ms != b->election_timeout_ms ||
	    a->heartbeat_timeout_ms != b->heartbeat_timeout_ms ||
	    a->snapshot_threshold != b->snapshot_threshold ||
	    a->snapshot_trailing != b->snapshot_trailing ||
	    a->max_batch != b->max_batch || a->nmembers != b->nmembers)
		return false;
	/* Ids are unique, so equal counts and a match each make a set. */
	for (size_t i = 0; i < a->nmembers; i++) {
		size_t j;

		for (j = 0; j < b->nmembers; j++)
			if (member_equal(&a->members[i], &b->members[j]))
				break;
		if (j == b->nmembers)
			return false;
	}
	return true;
}

void
config_free(struct config *cfg)
{
	for (size_t i = 0; i < cfg->ntokens; i++) {
		free(cfg->tokens[i].token);
		free(cfg->tokens[i].grants);
	}
	free(cfg->tokens);
	cfg->tokens = NULL;
	cfg->ntokens = 0;
	free(cfg->queues);
	free(cfg->auth_token);
	free(cfg->metrics_token);
	free(cfg->data_dir);
	cfg->data_dir = NULL;
	cfg->metrics_token = NULL;
	cfg->metrics_token_len = 0;
	free(cfg->tls.cert_file);
	free(cfg->tls.key_file);
	free(cfg->tls.ca_file);
	tls_ctx_free(cfg->tls.ctx);
	memset(&cfg->tls, 0, sizeof cfg->tls);
	cfg->queues = NULL;
	cfg->nqueues = 0;
	cfg->auth_token = NULL;
	cfg->auth_token_len = 0;
}

static int
parse_policy(struct jcheck *k, const char *path, json_t *v,
    struct queue_settings *set)
{
	int i;

	if (jcheck_oneof(k, path, v, policy_names, NPOLICIES, &i) < 0)
		return -1;
	set->policy = (enum proto_policy)i;
	return 0;
}

static int
parse_default_policy(struct jcheck *k, const char *path, json_t *v,
    void *obj)
{
	return parse_policy(k, path, v, obj);
}

static int
parse_queue_policy(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	return parse_policy(k, path, v, &((struct config_queue *)obj)->set);
}

/* max_memory: a number of bytes, or null for the machine's default. */
static int
parse_max_memory(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	struct config *cfg = &((struct load *)obj)->cfg;

	if (json_is_null(v)) {
		cfg->max_memory = config_default_memory();
		return 0;
	}
	return jcheck_uint(k, path, v, CONFIG_MIN_MEMORY, NUM,
	    &cfg->max_memory);
}

static int
parse_storage(struct jcheck *k, const char *path, json_t *v,
    struct queue_settings *set)
{
	int i;

	if (jcheck_oneof(k, path, v, storage_names, 2, &i) < 0)
		return -1;
	set->storage = i == 1 ? QUEUE_STORAGE_DISK : QUEUE_STORAGE_MEMORY;
	return 0;
}

static int
parse_default_storage(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	return parse_storage(k, path, v, obj);
}

static int
parse_queue_storage(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	return parse_storage(k, path, v, &((struct config_queue *)obj)->set);
}

static int
parse_data_dir(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	struct config *cfg = &((struct load *)obj)->cfg;
	const char *s;

	if (jcheck_type(k, path, v, JSON_STRING, "a directory") < 0)
		return -1;
	s = json_string_value(v);
	if (*s == '\0' || strlen(s) != json_string_length(v) ||
	    strlen(s) >= PATH_MAX)
		return jcheck_fail(k, path, "not a directory name");
	free(cfg->data_dir);
	cfg->data_dir = xstrdup(s);
	return 0;
}

static const char *const fsync_names[] = {
	[WAL_FSYNC_NO] = "no",
	[WAL_FSYNC_EVERYSEC] = "everysec",
	[WAL_FSYNC_ALWAYS] = "always",
};

static int
parse_fsync(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	struct config *cfg = &((struct load *)obj)->cfg;
	int i;

	if (jcheck_oneof(k, path, v, fsync_names, 3, &i) < 0)
		return -1;
	cfg->fsync = (enum wal_fsync)i;
	cfg->fsync_set = true;
	return 0;
}

/*
 * A cluster address, "a.b.c.d:PORT": numeric IPv4 (what libraft's TCP
 * transport takes) and a port 1-65535, both to connect to, so neither
 * 0.0.0.0 nor port 0.  Stored as inet_ntop() and the port spell them,
 * so two spellings of one address (a port's leading zero) compare
 * equal.
 */
int
config_peer_address(const char *s, char *dst)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = strrchr(s, ':');
	struct in_addr in;
	uint64_t port;
	size_t len;

	if (colon == NULL || (len = (size_t)(colon - s)) >= sizeof host)
		return -1;
	memcpy(host, s, len);
	host[len] = '\0';
	if (inet_pton(AF_INET, host, &in) != 1 ||
	    !proto_parse_number(colon + 1, strlen(colon + 1), &port) ||
	    port < 1 || port > 65535)
		return -1;
	if (in.s_addr == htonl(INADDR_ANY))
		return -2;
	inet_ntop(AF_INET, &in, host, sizeof host);
	snprintf(dst, CONFIG_ADDR_MAX, "%s:%u", host, (unsigned)port);
	return 0;
}

static int
parse_peer_address(struct jcheck *k, const char *path, json_t *v, char *dst)
{
	char q[JCHECK_QUOTE_SIZE];
	const char *s;
	int rc;

	if (jcheck_type(k, path, v, JSON_STRING, "a string") < 0)
		return -1;
	s = json_string_value(v);
	rc = strlen(s) != json_string_length(v) ? -1
	                                        : config_peer_address(s, dst);
	if (rc == -2)
		return jcheck_fail(k, path,
		    "%s: 0.0.0.0 is no address to connect to",
		    jcheck_quote(q, sizeof q, s));
	if (rc < 0)
		return jcheck_fail(k, path,
		    "%s is not a numeric IPv4 address with a port "
		    "(a.b.c.d:1-65535)",
		    jcheck_quote(q, sizeof q, s));
	return 0;
}

static int
parse_member_raft(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	return parse_peer_address(k, path, v,
	    ((struct config_member *)obj)->raft);
}

static int
parse_member_client(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	return parse_peer_address(k, path, v,
	    ((struct config_member *)obj)->client);
}

static int
parse_own_raft(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	return parse_peer_address(k, path, v,
	    ((struct config_cluster *)obj)->raft);
}

static int
parse_own_client(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	return parse_peer_address(k, path, v,
	    ((struct config_cluster *)obj)->client);
}

/*
 * Where the first n members already use addr (a Raft or a client
 * address: no two may share one, they would be one socket): its JSON
 * path into where, and true.
 */
static bool
address_used(const struct config_cluster *c, size_t n, const char *members,
    const char *addr, char *where, size_t size)
{
	for (size_t i = 0; i < n; i++) {
		const char *key = NULL;

		if (strcmp(c->members[i].raft, addr) == 0)
			key = "raft";
		else if (strcmp(c->members[i].client, addr) == 0)
			key = "client";
		if (key != NULL) {
			snprintf(where, size, "%s[%zu].%s", members, i, key);
			return true;
		}
	}
	return false;
}

/* Entry i of "members", read into c->members[c->nmembers]. */
static int
parse_member(struct jcheck *k, const char *members, size_t i, json_t *v,
    struct config_cluster *c)
{
	struct config_member *m = &c->members[c->nmembers];
	char path[JCHECK_PATH_MAX], sub[JCHECK_PATH_MAX],
	    where[JCHECK_PATH_MAX];

	jcheck_index(path, sizeof path, members, i);
	memset(m, 0, sizeof *m);
	if (jcheck_object(k, path, v, member_keys, NKEYS(member_keys), m) < 0)
		return -1;
	if (m->id == 0)
		return jcheck_fail(k, path, "missing key \"id\"");
	if (m->raft[0] == '\0')
		return jcheck_fail(k, path, "missing key \"raft\"");
	if (m->client[0] == '\0')
		return jcheck_fail(k, path, "missing key \"client\"");
	for (size_t j = 0; j < c->nmembers; j++) {
		if (c->members[j].id != m->id)
			continue;
		jcheck_path(sub, sizeof sub, path, "id");
		return jcheck_fail(k, sub,
		    "%" PRIu64 " is already the id of %s[%zu]", m->id, members,
		    j);
	}
	if (address_used(c, c->nmembers, members, m->raft, where,
	        sizeof where)) {
		jcheck_path(sub, sizeof sub, path, "raft");
		return jcheck_fail(k, sub, "\"%s\" is already %s", m->raft,
		    where);
	}
	jcheck_path(sub, sizeof sub, path, "client");
	if (address_used(c, c->nmembers, members, m->client, where,
	        sizeof where))
		return jcheck_fail(k, sub, "\"%s\" is already %s", m->client,
		    where);
	if (strcmp(m->client, m->raft) == 0)
		return jcheck_fail(k, sub, "\"%s\" is already %s.raft",
		    m->client, path);
	c->nmembers++;
	return 0;
}

static int
parse_members(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	struct config_cluster *c = obj;
	size_t i;
	json_t *e;

	c->nmembers = 0;
	if (jcheck_type(k, path, v, JSON_ARRAY, "an array of members") < 0)
		return -1;
	if (json_array_size(v) == 0)
		return jcheck_fail(k, path, "expected at least one member");
	if (json_array_size(v) > CONFIG_MEMBERS_MAX)
		return jcheck_fail(k, path, "more than %d members",
		    CONFIG_MEMBERS_MAX);
	json_array_foreach(v, i, e)
	{
		if (parse_member(k, path, i, e, c) < 0)
			return -1;
	}
	return 0;
}

/*
 * Without join the server bootstraps members (or finds its group in
 * the log): it must be one of them, and its own addresses are its
 * entry's, so "raft" and "client" would be a second, conflicting say.
 */
static int
check_bootstrap(struct jcheck *k, const char *path, struct config_cluster *c)
{
	char sub[JCHECK_PATH_MAX];

	if (c->raft[0] != '\0' || c->client[0] != '\0') {
		jcheck_path(sub, sizeof sub, path,
		    c->raft[0] != '\0' ? "raft" : "client");
		return jcheck_fail(k, sub,
		    "only with \"join\": true (a member's own addresses are "
		    "its entry in members)");
	}
	if (c->nmembers == 0)
		return jcheck_fail(k, path, "missing key \"members\"");
	for (size_t i = 0; i < c->nmembers; i++) {
		if (c->members[i].id == c->id) {
			c->self = c->members[i];
			return 0;
		}
	}
	jcheck_path(sub, sizeof sub, path, "id");
	return jcheck_fail(k, sub,
	    "%" PRIu64 " is not the id of one of members (without \"join\", "
	    "this server must be one)",
	    c->id);
}

/*
 * With join the server starts empty and waits to be added: its own
 * addresses are needed, and neither they nor its id may be a listed
 * member's (that one is somebody else).
 */
static int
check_join(struct jcheck *k, const char *path, struct config_cluster *c)
{
	char sub[JCHECK_PATH_MAX], where[JCHECK_PATH_MAX], members[64];

	if (c->raft[0] == '\0')
		return jcheck_fail(k, path,
		    "missing key \"raft\" (\"join\": true needs this "
		    "server's own addresses)");
	if (c->client[0] == '\0')
		return jcheck_fail(k, path,
		    "missing key \"client\" (\"join\": true needs this "
		    "server's own addresses)");
	jcheck_path(members, sizeof members, path, "members");
	for (size_t i = 0; i < c->nmembers; i++) {
		if (c->members[i].id != c->id)
			continue;
		jcheck_path(sub, sizeof sub, path, "id");
		return jcheck_fail(k, sub,
		    "%" PRIu64 " is already the id of %s[%zu] (a joining "
		    "server needs an id of its own)",
		    c->id, members, i);
	}
	jcheck_path(sub, sizeof sub, path, "raft");
	if (address_used(c, c->nmembers, members, c->raft, where, sizeof where))
		return jcheck_fail(k, sub, "\"%s\" is already %s", c->raft,
		    where);
	jcheck_path(sub, sizeof sub, path, "client");
	if (address_used(c, c->nmembers, members, c->client, where,
	        sizeof where))
		return jcheck_fail(k, sub, "\"%s\" is already %s", c->client,
		    where);
	if (strcmp(c->client, c->raft) == 0)
		return jcheck_fail(k, sub, "\"%s\" is already %s.raft",
		    c->client, path);
	c->self.id = c->id;
	memcpy(c->self.raft, c->raft, sizeof c->self.raft);
	memcpy(c->self.client, c->client, sizeof c->self.client);
	return 0;
}

/* "cluster": an object, or null for none (as if absent). */
static int
parse_cluster(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	struct config_cluster *c = &((struct load *)obj)->cfg.cluster;
	char sub[JCHECK_PATH_MAX];

	c->on = false;
	if (json_is_null(v))
		return 0;
	if (jcheck_type(k, path, v, JSON_OBJECT, "an object or null") < 0 ||
	    jcheck_object(k, path, v, cluster_keys, NKEYS(cluster_keys), c) < 0)
		return -1;
	if (c->id == 0)
		return jcheck_fail(k, path, "missing key \"id\"");
	if (c->election_timeout_ms <= c->heartbeat_timeout_ms) {
		jcheck_path(sub, sizeof sub, path, "election_timeout_ms");
		return jcheck_fail(k, sub,
		    "%u is not more than heartbeat_timeout_ms (%u)",
		    c->election_timeout_ms, c->heartbeat_timeout_ms);
	}
	if ((c->join ? check_join : check_bootstrap)(k, path, c) < 0)
		return -1;
	c->on = true;
	return 0;
}

static int
parse_level(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	struct config *cfg = &((struct load *)obj)->cfg;
	int i;

	if (jcheck_oneof(k, path, v, level_names, NLEVELS, &i) < 0)
		return -1;
	cfg->log_level = level_values[i];
	return 0;
}

/* Drop policies discard to make room, so they need room to exist. */
static int
check_settings(struct jcheck *k, const char *path,
    const struct queue_settings *set)
{
	if (set->capacity == 0 && (set->policy == PROTO_POLICY_DROP_OLDEST ||
				      set->policy == PROTO_POLICY_DROP_NEWEST))
		return jcheck_fail(k, path,
		    "policy %s needs a capacity of at least 1",
		    proto_policy_name(set->policy));
	return 0;
}

static int
parse_port(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	struct load *ld = obj;
	uint64_t n;

	if (jcheck_uint(k, path, v, 0, 65535, &n) < 0)
		return -1;
	ld->port = (int)n;
	/* Without "listen" (parsed next), the default address uses it. */
	ld->cfg.listen[0].port = ld->port;
	return 0;
}

/*
 * Split "ADDR", "ADDR:PORT", "[V6]:PORT" or a bare IPv6 address into
 * l; the port is default_port when absent (-1: it is required).
 */
static bool
split_address(const char *s, int default_port, struct config_listen *l)
{
	const char *end, *port = NULL;
	unsigned char buf[sizeof(struct in6_addr)];
	size_t len;
	uint64_t n;

	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL)
			return false;
		s++;
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0')
			return false;
	} else if ((end = strchr(s, ':')) != NULL && !strchr(end + 1, ':')) {
		port = end + 1;
	} else {
		end = s + strlen(s);
	}
	len = (size_t)(end - s);
	if (len == 0 || len >= sizeof l->addr)
		return false;
	memcpy(l->addr, s, len);
	l->addr[len] = '\0';
	if (inet_pton(AF_INET, l->addr, buf) != 1 &&
	    inet_pton(AF_INET6, l->addr, buf) != 1)
		return false;
	if (port == NULL) {
		l->port = default_port;
		return default_port >= 0;
	}
	if (!proto_parse_number(port, strlen(port), &n) || n > 65535)
		return false;
	l->port = (int)n;
	return true;
}

/* One address into l[*n]; port as for split_address(). */
static int
parse_listen_one(struct jcheck *k, const char *path, json_t *v, int port,
    struct config_listen *l, int *n)
{
	char q[JCHECK_QUOTE_SIZE];

	if (jcheck_type(k, path, v, JSON_STRING, "a string") < 0)
		return -1;
	if (*n == CONFIG_LISTEN_MAX)
		return jcheck_fail(k, path, "more than %d listen addresses",
		    CONFIG_LISTEN_MAX);
	if (!split_address(json_string_value(v), port, &l[*n]))
		return jcheck_fail(k, path,
		    port >= 0 ? "%s is not an IPv4 or IPv6 address with an "
		                "optional :PORT"
		              : "%s is not an IPv4 or IPv6 address with a "
		                ":PORT",
		    jcheck_quote(q, sizeof q, json_string_value(v)));
	(*n)++;
	return 0;
}

/* An address or an array of them (at least one) into l and *n. */
static int
parse_listen_list(struct jcheck *k, const char *path, json_t *v, int port,
    struct config_listen *l, int *n)
{
	char sub[JCHECK_PATH_MAX];
	size_t i;
	json_t *e;

	*n = 0;
	if (json_is_string(v))
		return parse_listen_one(k, path, v, port, l, n);
	if (jcheck_type(k, path, v, JSON_ARRAY, "an array of addresses") < 0)
		return -1;
	if (json_array_size(v) == 0)
		return jcheck_fail(k, path, "expected at least one address");
	json_array_foreach(v, i, e) {
		jcheck_index(sub, sizeof sub, path, i);
		if (parse_listen_one(k, sub, e, port, l, n) < 0)
			return -1;
	}
	return 0;
}

static int
parse_listen(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	struct load *ld = obj;

	return parse_listen_list(k, path, v, ld->port, ld->cfg.listen,
	    &ld->cfg.nlisten);
}

/* TLS listeners name their port: "port" is the plain listeners'. */
static int
parse_tls_listen(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	struct config_tls *t = &((struct load *)obj)->cfg.tls;

	t->nlisten = 0;
	if (json_is_null(v))
		return 0;
	return parse_listen_list(k, path, v, -1, t->listen, &t->nlisten);
}

/* A file name (or null) into *out, resolved against the config file. */
static int
parse_file_name(struct jcheck *k, const char *path, json_t *v, char **out)
{
	char file[4096];

	free(*out);
	*out = NULL;
	if (json_is_null(v))
		return 0;
	if (jcheck_type(k, path, v, JSON_STRING, "a file name or null") < 0)
		return -1;
	if (json_string_length(v) == 0 ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return jcheck_fail(k, path, "expected a file name");
	resolve_path(file, sizeof file, k->file, json_string_value(v));
	*out = xmalloc(strlen(file) + 1);
	strcpy(*out, file);
	return 0;
}

static int
parse_tls_cert(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	return parse_file_name(k, path, v,
	    &((struct load *)obj)->cfg.tls.cert_file);
}

static int
parse_tls_key(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	return parse_file_name(k, path, v,
	    &((struct load *)obj)->cfg.tls.key_file);
}

static int
parse_tls_ca(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	return parse_file_name(k, path, v,
	    &((struct load *)obj)->cfg.tls.ca_file);
}

static int
parse_tls_verify(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	int i;

	if (jcheck_oneof(k, path, v, verify_names,
	        sizeof verify_names / sizeof *verify_names, &i) < 0)
		return -1;
	((struct load *)obj)->cfg.tls.verify = (enum config_verify)i;
	return 0;
}

static int
parse_tls_version(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	int i;

	if (jcheck_oneof(k, path, v, tls_version_names,
	        sizeof tls_version_names / sizeof *tls_version_names, &i) < 0)
		return -1;
	((struct load *)obj)->cfg.tls.min_version = (enum config_tls_version)i;
	return 0;
}

static int
parse_metrics(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	struct config *cfg = &((struct load *)obj)->cfg;
	char q[JCHECK_QUOTE_SIZE];

	cfg->metrics_on = false;
	if (json_is_null(v))
		return 0;
	if (jcheck_type(k, path, v, JSON_STRING, "a string or null") < 0)
		return -1;
	if (!split_address(json_string_value(v), -1, &cfg->metrics))
		return jcheck_fail(k, path,
		    "%s is not an IPv4 or IPv6 address with a :PORT",
		    jcheck_quote(q, sizeof q, json_string_value(v)));
	cfg->metrics_on = true;
	return 0;
}

static int
parse_defaults(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	struct config *cfg = &((struct load *)obj)->cfg;

	if (jcheck_object(k, path, v, defaults_keys, NKEYS(defaults_keys),
		&cfg->queue_defaults) < 0)
		return -1;
	return check_settings(k, path, &cfg->queue_defaults);
}

/* Copy a queue name (string v) into dst, PROTO_NAME_MAX + 1 bytes. */
static int
parse_queue_name(struct jcheck *k, const char *path, json_t *v, char *dst)
{
	char q[JCHECK_QUOTE_SIZE];
	const char *s;
	size_t len;

	if (jcheck_type(k, path, v, JSON_STRING, "a string") < 0)
		return -1;
	s = json_string_value(v);
	len = json_string_length(v);
	if (!proto_valid_queue_name(s, len) || strlen(s) != len)
		return jcheck_fail(k, path,
		    "%s is not a queue name (1 to %d of A-Z a-z 0-9 _ . : -)",
		    jcheck_quote(q, sizeof q, s), PROTO_NAME_MAX);
	memcpy(dst, s, len + 1);
	return 0;
}

static int
parse_name(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	return parse_queue_name(k, path, v, ((struct config_queue *)obj)->name);
}

/* null, like an absent key, means none: over the limit is discarded. */
static int
parse_dead_letter(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	struct config_queue *cq = obj;

	cq->set.dead_letter[0] = '\0';
	if (json_is_null(v))
		return 0;
	if (jcheck_type(k, path, v, JSON_STRING, "a queue name or null") < 0)
		return -1;
	return parse_queue_name(k, path, v, cq->set.dead_letter);
}

static int
parse_queue(struct jcheck *k, const char *path, json_t *v,
    struct config *cfg)
{
	struct config_queue *cq = &cfg->queues[cfg->nqueues];
	char sub[JCHECK_PATH_MAX];

	memset(cq, 0, sizeof *cq);
	cq->set = cfg->queue_defaults;
	if (jcheck_object(k, path, v, queue_keys, NKEYS(queue_keys), cq) < 0)
		return -1;
	if (cq->name[0] == '\0')
		return jcheck_fail(k, path, "missing key \"name\"");
	for (size_t i = 0; i < cfg->nqueues; i++) {
		if (strcmp(cfg->queues[i].name, cq->name) == 0) {
			jcheck_path(sub, sizeof sub, path, "name");
			return jcheck_fail(k, sub,
			    "queue \"%s\" is already defined by queues[%zu]",
			    cq->name, i);
		}
	}
	if (strcmp(cq->set.dead_letter, cq->name) == 0) {
		jcheck_path(sub, sizeof sub, path, "dead_letter");
		return jcheck_fail(k, sub,
		    "queue \"%s\" cannot be its own dead-letter queue",
		    cq->name);
	}
	if (check_settings(k, path, &cq->set) < 0)
		return -1;
	cfg->nqueues++;
	return 0;
}

static int
parse_queues(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	struct config *cfg = &((struct load *)obj)->cfg;
	char sub[JCHECK_PATH_MAX];
	size_t i;
	json_t *e;

	if (jcheck_type(k, path, v, JSON_ARRAY, "an array of queues") < 0)
		return -1;
	cfg->queues = xcalloc(json_array_size(v) + 1, sizeof *cfg->queues);
	json_array_foreach(v, i, e) {
		jcheck_index(sub, sizeof sub, path, i);
		if (parse_queue(k, sub, e, cfg) < 0)
			return -1;
	}
	return 0;
}

/* name as given, or beside the config file when it is relative. */
static void
resolve_path(char *dst, size_t size, const char *file, const char *name)
{
	const char *slash = strrchr(file, '/');

	if (name[0] == '/' || slash == NULL)
		snprintf(dst, size, "%s", name);
	else
		snprintf(dst, size, "%.*s/%s", (int)(slash - file), file, name);
}

/*
 * Read the whole (small) file into buf; its length, -1 (errno), or -2
 * when it is not a regular file: a FIFO or a terminal named by mistake
 * would block the daemon's start or reload (found by fuzz_config).
 */
static ssize_t
read_small(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	struct stat st;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -2;
	}
	while (len < size && (n = read(fd, buf + len, size - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		len += (size_t)n;
	}
	close(fd);
	return (ssize_t)len;
}

/*
 * A token file (auth_token_file, metrics_token_file): its token into
 * *out (malloc'd) and *outlen; null leaves them alone.
 */
static int
read_token(struct jcheck *k, const char *path, json_t *v, char **out,
    size_t *outlen)
{
	char file[4096], buf[TOKEN_MAX + 3];
	ssize_t n;
	size_t len;

	if (json_is_null(v))
		return 0;
	if (jcheck_type(k, path, v, JSON_STRING, "a file name or null") < 0)
		return -1;
	resolve_path(file, sizeof file, k->file, json_string_value(v));
	if ((n = read_small(file, buf, sizeof buf)) == -2)
		return jcheck_fail(k, path, "%s is not a regular file", file);
	if (n < 0)
		return jcheck_fail(k, path, "cannot read %s: %s", file,
		    strerror(errno));
	len = (size_t)n;
	/* Editors end files with a newline; it is not part of the token. */
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len == 0)
		return jcheck_fail(k, path, "%s holds no token", file);
	if (len > TOKEN_MAX)
		return jcheck_fail(k, path,
		    "the token in %s is longer than %d bytes", file, TOKEN_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)buf[i] <= ' ' || buf[i] == 0x7f)
			return jcheck_fail(k, path,
			    "the token in %s contains a space or a control "
			    "character",
			    file);
	*out = xmalloc(len + 1);
	memcpy(*out, buf, len);
	(*out)[len] = '\0';
	*outlen = len;
	return 0;
}

static int
parse_token(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	struct config *cfg = &((struct load *)obj)->cfg;

	return read_token(k, path, v, &cfg->auth_token, &cfg->auth_token_len);
}

/*
 * An allow entry while it is read: its rights first ("can"), then its
 * globs ("queues"), each becoming a grant of the token; see parse_allow.
 */
struct allow {
	struct config_token *tok;
	unsigned can;
	json_t *queues; /* borrowed: read once "can" is known */
	char path[JCHECK_PATH_MAX];
};

static int
parse_grant_can(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	struct allow *a = obj;
	char sub[JCHECK_PATH_MAX];
	size_t i;
	json_t *e;
	int bit;

	if (jcheck_type(k, path, v, JSON_ARRAY,
	        "an array of \"produce\", \"consume\", \"admin\"") < 0)
		return -1;
	if (json_array_size(v) == 0)
		return jcheck_fail(k, path, "expected at least one right");
	json_array_foreach(v, i, e)
	{
		jcheck_index(sub, sizeof sub, path, i);
		if (jcheck_oneof(k, sub, e, can_names, NCAN, &bit) < 0)
			return -1;
		a->can |= 1u << bit;
	}
	return 0;
}

static int
parse_grant_queues(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	struct allow *a = obj;

	if (!json_is_string(v) &&
	    jcheck_type(k, path, v, JSON_ARRAY,
	        "a glob of queue names or an array of them") < 0)
		return -1;
	if (json_is_array(v) && json_array_size(v) == 0)
		return jcheck_fail(k, path, "expected at least one glob");
	a->queues = v;
	snprintf(a->path, sizeof a->path, "%s", path);
	return 0;
}

/* A glob: queue-name characters and fnmatch's * ? [ ] ! only. */
static bool
valid_glob(const char *s, size_t len)
{
	if (len == 0 || len > CONFIG_GLOB_MAX || strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!strchr("*?[]!", s[i]) && !proto_valid_queue_name(s + i, 1))
			return false;
	return true;
}

static int
add_grant(struct jcheck *k, const char *path, json_t *v, struct allow *a)
{
	struct config_token *t = a->tok;
	char q[JCHECK_QUOTE_SIZE];
	struct config_grant *g;

	if (jcheck_type(k, path, v, JSON_STRING, "a string") < 0)
		return -1;
	if (!valid_glob(json_string_value(v), json_string_length(v)))
		return jcheck_fail(k, path,
		    "%s is not a glob of queue names (1 to %d of A-Z a-z 0-9 "
		    "_ . : - and * ? [ ] !)",
		    jcheck_quote(q, sizeof q, json_string_value(v)),
		    CONFIG_GLOB_MAX);
	if (t->ngrants == CONFIG_GRANTS_MAX)
		return jcheck_fail(k, path, "more than %d globs in one token",
		    CONFIG_GRANTS_MAX);
	g = &t->grants[t->ngrants++];
	snprintf(g->glob, sizeof g->glob, "%s", json_string_value(v));
	g->can = a->can;
	return 0;
}

static int
parse_allow(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	struct config_token *t = obj;
	char sub[JCHECK_PATH_MAX], gsub[JCHECK_PATH_MAX];
	size_t i, j;
	json_t *e, *g;

	if (jcheck_type(k, path, v, JSON_ARRAY, "an array of grants") < 0)
		return -1;
	t->grants = xcalloc(CONFIG_GRANTS_MAX, sizeof *t->grants);
	json_array_foreach(v, i, e)
	{
		struct allow a = { t, 0, NULL, "" };

		jcheck_index(sub, sizeof sub, path, i);
		if (jcheck_object(k, sub, e, grant_keys, NKEYS(grant_keys),
		        &a) < 0)
			return -1;
		if (a.queues == NULL)
			return jcheck_fail(k, sub, "missing key \"queues\"");
		if (a.can == 0)
			return jcheck_fail(k, sub, "missing key \"can\"");
		if (json_is_string(a.queues)) {
			if (add_grant(k, a.path, a.queues, &a) < 0)
				return -1;
			continue;
		}
		json_array_foreach(a.queues, j, g)
		{
			jcheck_index(gsub, sizeof gsub, a.path, j);
			if (add_grant(k, gsub, g, &a) < 0)
				return -1;
		}
	}
	return 0;
}

/* The token of path (an entry of "tokens") is not given twice. */
static int
check_token_unique(struct jcheck *k, const char *path, const struct config *cfg,
    const struct config_token *t)
{
	char sub[JCHECK_PATH_MAX];

	jcheck_path(sub, sizeof sub, path, "token_file");
	if (cfg->auth_token != NULL && cfg->auth_token_len == t->len &&
	    memcmp(cfg->auth_token, t->token, t->len) == 0)
		return jcheck_fail(k, sub, "the same token as auth_token_file");
	for (size_t i = 0; i < cfg->ntokens; i++)
		if (cfg->tokens[i].len == t->len &&
		    memcmp(cfg->tokens[i].token, t->token, t->len) == 0)
			return jcheck_fail(k, sub,
			    "the same token as tokens[%zu]", i);
	return 0;
}

static int
parse_token_file(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	struct config_token *t = obj;

	if (json_is_null(v))
		return jcheck_fail(k, path, "expected a file name, not null");
	return read_token(k, path, v, &t->token, &t->len);
}

static int
parse_tokens(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	struct config *cfg = &((struct load *)obj)->cfg;
	char sub[JCHECK_PATH_MAX];
	size_t i;
	json_t *e;

	if (jcheck_type(k, path, v, JSON_ARRAY, "an array of tokens") < 0)
		return -1;
	if (json_array_size(v) > CONFIG_TOKENS_MAX)
		return jcheck_fail(k, path, "more than %d tokens",
		    CONFIG_TOKENS_MAX);
	cfg->tokens = xcalloc(json_array_size(v) + 1, sizeof *cfg->tokens);
	json_array_foreach(v, i, e)
	{
		struct config_token *t = &cfg->tokens[cfg->ntokens];

		jcheck_index(sub, sizeof sub, path, i);
		/* Counted first, so that config_free() frees it on error. */
		cfg->ntokens++;
		if (jcheck_object(k, sub, e, token_keys, NKEYS(token_keys), t) <
		    0)
			return -1;
		if (t->token == NULL)
			return jcheck_fail(k, sub,
			    "missing key \"token_file\"");
		if (t->grants == NULL)
			return jcheck_fail(k, sub, "missing key \"allow\"");
		cfg->ntokens--;
		if (check_token_unique(k, sub, cfg, t) < 0) {
			cfg->ntokens++;
			return -1;
		}
		cfg->ntokens++;
	}
	return 0;
}

static int
parse_metrics_token(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	struct config *cfg = &((struct load *)obj)->cfg;

	return read_token(k, path, v, &cfg->metrics_token,
	    &cfg->metrics_token_len);
}

/* "ADDR" or "ADDR/BITS" (numeric IPv4 or IPv6) into c. */
static bool
split_cidr(const char *s, struct config_cidr *c)
{
	const char *slash = strchr(s, '/');
	char addr[CONFIG_ADDR_MAX];
	size_t len = slash ? (size_t)(slash - s) : strlen(s);
	uint64_t bits;

	if (len == 0 || len >= sizeof addr)
		return false;
	memcpy(addr, s, len);
	addr[len] = '\0';
	memset(c, 0, sizeof *c);
	if (inet_pton(AF_INET, addr, c->addr) == 1) {
		c->family = AF_INET;
		c->bits = 32;
	} else if (inet_pton(AF_INET6, addr, c->addr) == 1) {
		c->family = AF_INET6;
		c->bits = 128;
	} else {
		return false;
	}
	if (slash == NULL)
		return true;
	if (!proto_parse_number(slash + 1, strlen(slash + 1), &bits) ||
	    bits > (uint64_t)c->bits)
		return false;
	c->bits = (int)bits;
	return true;
}

static int
parse_metrics_allow(struct jcheck *k, const char *path, json_t *v, void *obj)
{
	struct config *cfg = &((struct load *)obj)->cfg;
	char sub[JCHECK_PATH_MAX], q[JCHECK_QUOTE_SIZE];
	size_t i;
	json_t *e;

	cfg->nmetrics_allow = 0;
	if (json_is_null(v))
		return 0;
	if (jcheck_type(k, path, v, JSON_ARRAY,
	        "an array of addresses or null") < 0)
		return -1;
	if (json_array_size(v) > CONFIG_ALLOW_MAX)
		return jcheck_fail(k, path, "more than %d address ranges",
		    CONFIG_ALLOW_MAX);
	json_array_foreach(v, i, e)
	{
		jcheck_index(sub, sizeof sub, path, i);
		if (jcheck_type(k, sub, e, JSON_STRING, "a string") < 0)
			return -1;
		if (!split_cidr(json_string_value(e),
		        &cfg->metrics_allow[cfg->nmetrics_allow]))
			return jcheck_fail(k, sub,
			    "%s is not an IPv4 or IPv6 address with an "
			    "optional /BITS",
			    jcheck_quote(q, sizeof q, json_string_value(e)));
		cfg->nmetrics_allow++;
	}
	return 0;
}

/* One queue's bounds against the ceilings (path: the queue's object). */
static int
check_ceilings(struct jcheck *k, const char *path, const struct config *cfg,
    const struct queue_settings *set)
{
	char sub[JCHECK_PATH_MAX];

	if (set->capacity > cfg->max_queue_capacity) {
		jcheck_path(sub, sizeof sub, path, "capacity");
		return jcheck_fail(k, sub,
		    "%" PRIu64 " is more than max_queue_capacity (%" PRIu64 ")",
		    set->capacity, cfg->max_queue_capacity);
	}
	if (set->max_bytes > cfg->max_queue_bytes) {
		jcheck_path(sub, sizeof sub, path, "max_bytes");
		return jcheck_fail(k, sub,
		    "%" PRIu64 " is more than max_queue_bytes (%" PRIu64 ")",
		    set->max_bytes, cfg->max_queue_bytes);
	}
	return 0;
}

/*
 * The defaults and every predefined queue within max_queue_capacity and
 * max_queue_bytes.  Checked once the whole file is read, so the keys may
 * come in any order and a lowered ceiling also catches the built-in
 * defaults.  Queues inherit what they leave out from the defaults, so
 * those are checked first and a queue's error is its own.
 */
static int
check_all_ceilings(struct jcheck *k, const struct config *cfg)
{
	char sub[JCHECK_PATH_MAX];

	if (check_ceilings(k, "queue_defaults", cfg, &cfg->queue_defaults) < 0)
		return -1;
	for (size_t i = 0; i < cfg->nqueues; i++) {
		jcheck_index(sub, sizeof sub, "queues", i);
		if (check_ceilings(k, sub, cfg, &cfg->queues[i].set) < 0)
			return -1;
	}
	return 0;
}

/*
 * The TLS keys together: a listener needs a certificate and its key,
 * checking clients needs a CA, and nothing TLS is set without a
 * listener (a forgotten tls_listen would otherwise pass silently).
 * Then the files are loaded, so that -t proves they load.
 */
static int
check_tls(struct jcheck *k, struct config_tls *t)
{
	char err[CONFIG_ERR_MAX];

	if (t->nlisten == 0) {
		if (t->cert_file || t->key_file || t->ca_file ||
		    t->verify != CONFIG_VERIFY_NONE)
			return jcheck_fail(k, "tls_listen",
			    "missing: the other tls_ keys need it");
		return 0;
	}
	if (t->cert_file == NULL)
		return jcheck_fail(k, "tls_cert_file",
		    "missing: tls_listen needs a certificate");
	if (t->key_file == NULL)
		return jcheck_fail(k, "tls_key_file",
		    "missing: tls_listen needs the certificate's key");
	if (t->verify != CONFIG_VERIFY_NONE && t->ca_file == NULL)
		return jcheck_fail(k, "tls_ca_file",
		    "missing: tls_verify_client %s checks clients against it",
		    verify_names[t->verify]);
	if (t->verify == CONFIG_VERIFY_NONE && t->ca_file != NULL)
		return jcheck_fail(k, "tls_ca_file",
		    "set, but tls_verify_client is none: no client is "
		    "checked against it");
	if ((t->ctx = tls_ctx_new(t, err, sizeof err)) == NULL)
		return jcheck_fail(k, "", "%s", err);
	return 0;
}

/* Read and check the file into ld. */
static int
load_file(struct jcheck *k, struct load *ld)
{
	json_error_t jerr;
	struct stat st;
	json_t *root;
	FILE *f;
	int rc;

	/* Opened here, not by json_load_file, to word that error our way. */
	if ((f = fopen(k->file, "re")) == NULL)
		return jcheck_fail(k, "", "cannot open: %s", strerror(errno));
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		return jcheck_fail(k, "", "cannot open: %s", strerror(EISDIR));
	}
	root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	fclose(f);
	if (root == NULL) {
		snprintf(k->err, k->errsize, "%s:%d:%d: %s", k->file,
		    jerr.line, jerr.column, jerr.text);
		return -1;
	}
	rc = jcheck_object(k, "", root, top_keys, NKEYS(top_keys), ld);
	json_decref(root);
	if (rc == 0)
		rc = check_all_ceilings(k, &ld->cfg);
	if (rc == 0)
		rc = check_tls(k, &ld->cfg.tls);
	return rc;
}

/* The command line wins over the file. */
static void
apply_flags(struct load *ld, const struct config_flags *fl)
{
	struct config *cfg = &ld->cfg;

	if (fl->addr != NULL) {
		cfg->nlisten = 1;
		snprintf(cfg->listen[0].addr, sizeof cfg->listen[0].addr, "%s",
		    fl->addr);
		cfg->listen[0].port = ld->port;
	}
	if (fl->port >= 0)
		for (int i = 0; i < cfg->nlisten; i++)
			cfg->listen[i].port = fl->port;
	if (fl->verbose)
		cfg->log_level = LOG_DEBUG;
	if (fl->data_dir != NULL) {
		free(cfg->data_dir);
		cfg->data_dir = xstrdup(fl->data_dir);
	}
	cfg->force_recover = fl->force_recover;
}

/* Resolve a queue's default storage; -1 for disk without a data_dir. */
static int
resolve_storage(const struct config *cfg, struct queue_settings *set)
{
	if (set->storage == QUEUE_STORAGE_DEFAULT)
		set->storage = cfg->data_dir != NULL ? QUEUE_STORAGE_DISK
		                                     : QUEUE_STORAGE_MEMORY;
	return set->storage == QUEUE_STORAGE_DISK && cfg->data_dir == NULL ? -1
	                                                                   : 0;
}

/*
 * Every queue's storage settled (the file may set data_dir after the
 * queues, and -d may add one): disk without a place to persist is an
 * error naming the queue.
 */
static int
check_storage(struct jcheck *k, struct config *cfg)
{
	char sub[JCHECK_PATH_MAX];

	if (resolve_storage(cfg, &cfg->queue_defaults) < 0)
		return jcheck_fail(k, "queue_defaults.storage",
		    "\"disk\" needs a data_dir (-d)");
	for (size_t i = 0; i < cfg->nqueues; i++) {
		if (resolve_storage(cfg, &cfg->queues[i].set) == 0)
			continue;
		jcheck_index(sub, sizeof sub, "queues", i);
		return jcheck_fail(k, sub,
		    "storage \"disk\" needs a data_dir "
		    "(-d)");
	}
	return 0;
}

/*
 * A cluster once the flags are in (-d may give the data_dir): its Raft
 * log lives in the data_dir, and every entry is synced, whatever
 * "fsync" says (main.c tells the operator so).
 */
static int
check_cluster(struct jcheck *k, struct config *cfg)
{
	if (!cfg->cluster.on)
		return 0;
	if (cfg->data_dir == NULL)
		return jcheck_fail(k, "cluster",
		    "needs a data_dir (-d): the Raft log is kept there");
	cfg->fsync = WAL_FSYNC_ALWAYS;
	return 0;
}

int
config_load(struct config *cfg, const struct config_flags *fl, char *err,
    size_t errsize)
{
	struct jcheck k = { fl->file, err, errsize };
	struct load ld;

	config_defaults(&ld.cfg);
	ld.port = CONFIG_DEFAULT_PORT;
	if (fl->file != NULL && load_file(&k, &ld) < 0) {
		config_free(&ld.cfg);
		config_defaults(cfg);
		return -1;
	}
	apply_flags(&ld, fl);
	if (fl->fsync != NULL &&
	    wal_fsync_parse(fl->fsync, &ld.cfg.fsync) < 0) {
		snprintf(err, errsize, "-f %s: not one of always, everysec, no",
		    fl->fsync);
		goto fail;
	}
	if (fl->fsync != NULL)
		ld.cfg.fsync_set = true;
	if (check_storage(&k, &ld.cfg) < 0 || check_cluster(&k, &ld.cfg) < 0)
		goto fail;
	*cfg = ld.cfg;
	return 0;
fail:
	config_free(&ld.cfg);
	config_defaults(cfg);
	return -1;
}
