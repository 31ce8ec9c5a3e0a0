/*
 * config.c - the built-in defaults, the JSON file and the flags.
 * See config.h; every key is documented in conf/README.md.
 *
 * The file is checked by tables: each object the file may contain
 * (the top level, queue_defaults, an entry of queues) has a table of
 * the keys it allows, with each key's kind, where its value goes and
 * its bounds.  A key not in the table is an error, so a typo never
 * passes silently, and the message lists what was expected.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
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
/* A day: longer is a hang, not a drain. */
#define SHUTDOWN_GRACE_MAX (24ULL * 3600 * 1000)
/* What fits after "AUTH " on a request line. */
#define TOKEN_MAX (PROTO_LINE_MAX - 7)
/* How much of a bad value a message quotes. */
#define QUOTE_MAX 64

static const struct {
	const char *name;
	int level;
} levels[] = {
	{ "error", LOG_ERR },
	{ "warning", LOG_WARNING },
	{ "notice", LOG_NOTICE },
	{ "info", LOG_INFO },
	{ "debug", LOG_DEBUG },
};
#define NLEVELS (sizeof levels / sizeof *levels)

/* The file being checked, and where its error message goes. */
struct check {
	const char *file;
	char *err;
	size_t errsize;
};

/* The top level while it is read: the config plus the default port. */
struct load {
	struct config cfg; /* first, so field offsets are config's */
	int port;	   /* "port": for listen entries without one */
};

enum kind {
	KIND_SIZE,   /* size_t: an integer within [min, max] */
	KIND_U64,    /* uint64_t: likewise */
	KIND_BOOL,   /* bool */
	KIND_POLICY, /* enum proto_policy, by name */
	KIND_LEVEL,  /* int syslog level, by name */
	KIND_OTHER,  /* the field's own parse function */
};

struct field {
	const char *key;
	enum kind kind;
	size_t offset; /* of the value in the object being filled */
	uint64_t min, max;
	int (*parse)(struct check *k, const char *path, json_t *v, void *obj);
};

static int parse_port(struct check *, const char *, json_t *, void *);
static int parse_listen(struct check *, const char *, json_t *, void *);
static int parse_defaults(struct check *, const char *, json_t *, void *);
static int parse_queues(struct check *, const char *, json_t *, void *);
static int parse_token(struct check *, const char *, json_t *, void *);
static int parse_metrics(struct check *, const char *, json_t *, void *);
static int parse_name(struct check *, const char *, json_t *, void *);

#define CFG(f) offsetof(struct config, f)
#define NUM PROTO_NUM_MAX

/* The top level.  Order matters: port before listen, defaults first. */
static const struct field top_fields[] = {
	{ "port", KIND_OTHER, 0, 0, 0, parse_port },
	{ "listen", KIND_OTHER, 0, 0, 0, parse_listen },
	{ "max_connections", KIND_SIZE, CFG(max_connections), 1,
	    MAX_CONNECTIONS_LIMIT, NULL },
	{ "max_message", KIND_U64, CFG(max_message), 0, MAX_MESSAGE_LIMIT,
	    NULL },
	{ "input_readahead", KIND_SIZE, CFG(input_readahead), READAHEAD_MIN,
	    READAHEAD_MAX, NULL },
	{ "output_high", KIND_SIZE, CFG(output_high), 1, OUTPUT_HIGH_MAX,
	    NULL },
	{ "max_reserved", KIND_SIZE, CFG(max_reserved), 1, NUM, NULL },
	{ "auto_create", KIND_BOOL, CFG(auto_create), 0, 0, NULL },
	{ "queue_defaults", KIND_OTHER, 0, 0, 0, parse_defaults },
	{ "queues", KIND_OTHER, 0, 0, 0, parse_queues },
	{ "auth_token_file", KIND_OTHER, 0, 0, 0, parse_token },
	{ "log_level", KIND_LEVEL, CFG(log_level), 0, 0, NULL },
	{ "shutdown_grace_ms", KIND_U64, CFG(shutdown_grace_ms), 0,
	    SHUTDOWN_GRACE_MAX, NULL },
	{ "metrics", KIND_OTHER, 0, 0, 0, parse_metrics },
};

#define SET(f) offsetof(struct queue_settings, f)
#define QSET(f) (offsetof(struct config_queue, set) + SET(f))

static const struct field defaults_fields[] = {
	{ "capacity", KIND_U64, SET(capacity), 0, NUM, NULL },
	{ "max_bytes", KIND_U64, SET(max_bytes), 0, NUM, NULL },
	{ "policy", KIND_POLICY, SET(policy), 0, 0, NULL },
	{ "lease_ms", KIND_U64, SET(lease_ms), 0, NUM, NULL },
};

static const struct field queue_fields[] = {
	{ "name", KIND_OTHER, 0, 0, 0, parse_name },
	{ "capacity", KIND_U64, QSET(capacity), 0, NUM, NULL },
	{ "max_bytes", KIND_U64, QSET(max_bytes), 0, NUM, NULL },
	{ "policy", KIND_POLICY, QSET(policy), 0, 0, NULL },
	{ "lease_ms", KIND_U64, QSET(lease_ms), 0, NUM, NULL },
};

#define NFIELDS(t) (sizeof(t) / sizeof *(t))

void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	strcpy(cfg->listen[0].addr, CONFIG_DEFAULT_ADDR);
	cfg->listen[0].port = CONFIG_DEFAULT_PORT;
	cfg->nlisten = 1;
	cfg->max_connections = CONFIG_DEFAULT_MAX_CONNECTIONS;
	cfg->max_message = CONFIG_DEFAULT_MAX_MESSAGE;
	cfg->input_readahead = CONFIG_DEFAULT_INPUT_READAHEAD;
	cfg->output_high = CONFIG_DEFAULT_OUTPUT_HIGH;
	cfg->max_reserved = CONFIG_DEFAULT_MAX_RESERVED;
	cfg->auto_create = true;
	cfg->queue_defaults.capacity = CONFIG_DEFAULT_CAPACITY;
	cfg->queue_defaults.max_bytes = CONFIG_DEFAULT_MAX_BYTES;
	cfg->queue_defaults.policy = PROTO_POLICY_BLOCK;
	cfg->queue_defaults.lease_ms = 0;
	cfg->log_level = LOG_INFO;
	cfg->shutdown_grace_ms = CONFIG_DEFAULT_SHUTDOWN_GRACE_MS;
}

void
config_free(struct config *cfg)
{
	free(cfg->queues);
	free(cfg->auth_token);
	cfg->queues = NULL;
	cfg->nqueues = 0;
	cfg->auth_token = NULL;
	cfg->auth_token_len = 0;
}

const char *
config_level_name(int level)
{
	for (size_t i = 0; i < NLEVELS; i++)
		if (levels[i].level == level)
			return levels[i].name;
	return "info";
}

/* Report "FILE: PATH: what" (or "FILE: what" at the top); returns -1. */
static int __attribute__((format(printf, 3, 4)))
fail(struct check *k, const char *path, const char *fmt, ...)
{
	char msg[CONFIG_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (*path != '\0')
		snprintf(k->err, k->errsize, "%s: %s: %s", k->file, path, msg);
	else
		snprintf(k->err, k->errsize, "%s: %s", k->file, msg);
	return -1;
}

/* s in double quotes, unprintable bytes escaped, cut at QUOTE_MAX. */
static const char *
quote(char *dst, size_t size, const char *s)
{
	size_t n = 0;

	dst[n++] = '"';
	for (; *s != '\0' && n + 8 < size; s++) {
		unsigned char ch = (unsigned char)*s;
		if (n > QUOTE_MAX) {
			n += (size_t)snprintf(dst + n, size - n, "...");
			break;
		}
		if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\')
			n += (size_t)snprintf(dst + n, size - n, "\\x%02x", ch);
		else
			dst[n++] = (char)ch;
	}
	dst[n++] = '"';
	dst[n] = '\0';
	return dst;
}

static const char *
type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "something else";
}

static int
want_type(struct check *k, const char *path, json_t *v, json_type t,
    const char *what)
{
	if (json_typeof(v) == t ||
	    (t == JSON_TRUE && json_typeof(v) == JSON_FALSE))
		return 0;
	return fail(k, path, "expected %s, not %s", what, type_name(v));
}

static int
get_uint(struct check *k, const char *path, json_t *v, uint64_t min,
    uint64_t max, uint64_t *out)
{
	json_int_t n;

	if (want_type(k, path, v, JSON_INTEGER, "an integer") < 0)
		return -1;
	n = json_integer_value(v);
	if (n < 0 || (uint64_t)n < min || (uint64_t)n > max)
		return fail(k, path,
		    "%" JSON_INTEGER_FORMAT " is not between %" PRIu64
		    " and %" PRIu64,
		    n, min, max);
	*out = (uint64_t)n;
	return 0;
}

static int
get_policy(struct check *k, const char *path, json_t *v, int *out)
{
	char q[QUOTE_MAX + 16];
	const char *s;

	if (want_type(k, path, v, JSON_STRING, "a string") < 0)
		return -1;
	s = json_string_value(v);
	*out = proto_policy_parse(s, json_string_length(v));
	if (*out < 0)
		return fail(k, path,
		    "%s is not one of block, reject, drop-oldest, drop-newest",
		    quote(q, sizeof q, s));
	return 0;
}

static int
get_level(struct check *k, const char *path, json_t *v, int *out)
{
	char q[QUOTE_MAX + 16];
	const char *s;

	if (want_type(k, path, v, JSON_STRING, "a string") < 0)
		return -1;
	s = json_string_value(v);
	for (size_t i = 0; i < NLEVELS; i++) {
		if (strcmp(s, levels[i].name) == 0) {
			*out = levels[i].level;
			return 0;
		}
	}
	return fail(k, path,
	    "%s is not one of error, warning, notice, info, debug",
	    quote(q, sizeof q, s));
}

/* Store v, checked against f, into obj. */
static int
parse_field(struct check *k, const char *path, const struct field *f,
    json_t *v, void *obj)
{
	char *at = (char *)obj + f->offset;
	uint64_t n;
	int i = 0;

	switch (f->kind) {
	case KIND_SIZE:
		if (get_uint(k, path, v, f->min,
			f->max < SIZE_MAX ? f->max : SIZE_MAX, &n) < 0)
			return -1;
		*(size_t *)(void *)at = (size_t)n;
		return 0;
	case KIND_U64:
		if (get_uint(k, path, v, f->min, f->max, &n) < 0)
			return -1;
		*(uint64_t *)(void *)at = n;
		return 0;
	case KIND_BOOL:
		if (want_type(k, path, v, JSON_TRUE, "true or false") < 0)
			return -1;
		*(bool *)(void *)at = json_is_true(v);
		return 0;
	case KIND_POLICY:
		if (get_policy(k, path, v, &i) < 0)
			return -1;
		*(enum proto_policy *)(void *)at = (enum proto_policy)i;
		return 0;
	case KIND_LEVEL:
		if (get_level(k, path, v, &i) < 0)
			return -1;
		*(int *)(void *)at = i;
		return 0;
	case KIND_OTHER:
		return f->parse(k, path, v, obj);
	}
	return -1;
}

/* path + "." + key, or key alone at the top (cut if absurdly deep). */
static void
subpath(char *dst, size_t size, const char *path, const char *key)
{
	if (snprintf(dst, size, "%s%s%s", path, *path ? "." : "", key) >=
	    (int)size)
		snprintf(dst + size - 4, 4, "...");
}

/*
 * Check that v is an object whose keys are all in fields, then parse
 * the keys present, in the table's order, into obj.
 */
static int
parse_object(struct check *k, const char *path, json_t *v,
    const struct field *fields, size_t n, void *obj)
{
	char sub[256], q[QUOTE_MAX + 16], keys[256];
	const char *key;
	json_t *val;
	size_t i;

	if (want_type(k, path, v, JSON_OBJECT, "an object") < 0)
		return -1;
	json_object_foreach(v, key, val) {
		for (i = 0; i < n && strcmp(fields[i].key, key) != 0; i++)
			;
		if (i < n)
			continue;
		keys[0] = '\0';
		for (i = 0; i < n; i++)
			snprintf(keys + strlen(keys), sizeof keys - strlen(keys),
			    "%s%s", i ? ", " : "", fields[i].key);
		return fail(k, path, "unknown key %s (expected one of %s)",
		    quote(q, sizeof q, key), keys);
	}
	for (i = 0; i < n; i++) {
		if ((val = json_object_get(v, fields[i].key)) == NULL)
			continue;
		subpath(sub, sizeof sub, path, fields[i].key);
		if (parse_field(k, sub, &fields[i], val, obj) < 0)
			return -1;
	}
	return 0;
}

/* Drop policies discard to make room, so they need room to exist. */
static int
check_settings(struct check *k, const char *path,
    const struct queue_settings *set)
{
	if (set->capacity == 0 && (set->policy == PROTO_POLICY_DROP_OLDEST ||
				      set->policy == PROTO_POLICY_DROP_NEWEST))
		return fail(k, path, "policy %s needs a capacity of at least 1",
		    proto_policy_name(set->policy));
	return 0;
}

static int
parse_port(struct check *k, const char *path, json_t *v, void *obj)
{
	struct load *ld = obj;
	uint64_t n;

	if (get_uint(k, path, v, 0, 65535, &n) < 0)
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

static int
parse_listen_one(struct check *k, const char *path, json_t *v,
    struct load *ld)
{
	char q[QUOTE_MAX + 16];
	struct config *cfg = &ld->cfg;

	if (want_type(k, path, v, JSON_STRING, "a string") < 0)
		return -1;
	if (cfg->nlisten == CONFIG_LISTEN_MAX)
		return fail(k, path, "more than %d listen addresses",
		    CONFIG_LISTEN_MAX);
	if (!split_address(json_string_value(v), ld->port,
		&cfg->listen[cfg->nlisten]))
		return fail(k, path,
		    "%s is not an IPv4 or IPv6 address with an optional "
		    ":PORT",
		    quote(q, sizeof q, json_string_value(v)));
	cfg->nlisten++;
	return 0;
}

static int
parse_listen(struct check *k, const char *path, json_t *v, void *obj)
{
	struct load *ld = obj;
	char sub[256];
	size_t i;
	json_t *e;

	ld->cfg.nlisten = 0;
	if (json_is_string(v))
		return parse_listen_one(k, path, v, ld);
	if (want_type(k, path, v, JSON_ARRAY, "an array of addresses") < 0)
		return -1;
	if (json_array_size(v) == 0)
		return fail(k, path, "expected at least one address");
	json_array_foreach(v, i, e) {
		snprintf(sub, sizeof sub, "%s[%zu]", path, i);
		if (parse_listen_one(k, sub, e, ld) < 0)
			return -1;
	}
	return 0;
}

static int
parse_metrics(struct check *k, const char *path, json_t *v, void *obj)
{
	struct config *cfg = &((struct load *)obj)->cfg;
	char q[QUOTE_MAX + 16];

	cfg->metrics_on = false;
	if (json_is_null(v))
		return 0;
	if (want_type(k, path, v, JSON_STRING, "a string or null") < 0)
		return -1;
	if (!split_address(json_string_value(v), -1, &cfg->metrics))
		return fail(k, path,
		    "%s is not an IPv4 or IPv6 address with a :PORT",
		    quote(q, sizeof q, json_string_value(v)));
	cfg->metrics_on = true;
	return 0;
}

static int
parse_defaults(struct check *k, const char *path, json_t *v, void *obj)
{
	struct config *cfg = &((struct load *)obj)->cfg;

	if (parse_object(k, path, v, defaults_fields, NFIELDS(defaults_fields),
		&cfg->queue_defaults) < 0)
		return -1;
	return check_settings(k, path, &cfg->queue_defaults);
}

static int
parse_name(struct check *k, const char *path, json_t *v, void *obj)
{
	struct config_queue *cq = obj;
	char q[QUOTE_MAX + 16];
	const char *s;
	size_t len;

	if (want_type(k, path, v, JSON_STRING, "a string") < 0)
		return -1;
	s = json_string_value(v);
	len = json_string_length(v);
	if (!proto_valid_queue_name(s, len) || strlen(s) != len)
		return fail(k, path,
		    "%s is not a queue name (1 to %d of A-Z a-z 0-9 _ . : -)",
		    quote(q, sizeof q, s), PROTO_NAME_MAX);
	memcpy(cq->name, s, len + 1);
	return 0;
}

static int
parse_queue(struct check *k, const char *path, json_t *v, struct config *cfg)
{
	struct config_queue *cq = &cfg->queues[cfg->nqueues];
	char sub[256];

	memset(cq, 0, sizeof *cq);
	cq->set = cfg->queue_defaults;
	if (parse_object(k, path, v, queue_fields, NFIELDS(queue_fields),
		cq) < 0)
		return -1;
	if (cq->name[0] == '\0')
		return fail(k, path, "missing key \"name\"");
	for (size_t i = 0; i < cfg->nqueues; i++) {
		if (strcmp(cfg->queues[i].name, cq->name) == 0) {
			subpath(sub, sizeof sub, path, "name");
			return fail(k, sub, "queue \"%s\" is already defined "
					    "by queues[%zu]",
			    cq->name, i);
		}
	}
	if (check_settings(k, path, &cq->set) < 0)
		return -1;
	cfg->nqueues++;
	return 0;
}

static int
parse_queues(struct check *k, const char *path, json_t *v, void *obj)
{
	struct config *cfg = &((struct load *)obj)->cfg;
	char sub[256];
	size_t i;
	json_t *e;

	if (want_type(k, path, v, JSON_ARRAY, "an array of queues") < 0)
		return -1;
	cfg->queues = xcalloc(json_array_size(v) + 1, sizeof *cfg->queues);
	json_array_foreach(v, i, e) {
		snprintf(sub, sizeof sub, "%s[%zu]", path, i);
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

/* Read the whole (small) file into buf; its length, or -1 (errno). */
static ssize_t
read_small(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
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

static int
parse_token(struct check *k, const char *path, json_t *v, void *obj)
{
	struct config *cfg = &((struct load *)obj)->cfg;
	char file[4096], buf[TOKEN_MAX + 3];
	ssize_t n;
	size_t len;

	if (json_is_null(v))
		return 0;
	if (want_type(k, path, v, JSON_STRING, "a file name or null") < 0)
		return -1;
	resolve_path(file, sizeof file, k->file, json_string_value(v));
	if ((n = read_small(file, buf, sizeof buf)) < 0)
		return fail(k, path, "cannot read %s: %s", file,
		    strerror(errno));
	len = (size_t)n;
	/* Editors end files with a newline; it is not part of the token. */
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len == 0)
		return fail(k, path, "%s holds no token", file);
	if (len > TOKEN_MAX)
		return fail(k, path, "the token in %s is longer than %d bytes",
		    file, TOKEN_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)buf[i] <= ' ' || buf[i] == 0x7f)
			return fail(k, path,
			    "the token in %s contains a space or a control "
			    "character",
			    file);
	cfg->auth_token = xmalloc(len + 1);
	memcpy(cfg->auth_token, buf, len);
	cfg->auth_token[len] = '\0';
	cfg->auth_token_len = len;
	return 0;
}

/* Read and check the file into ld. */
static int
load_file(struct check *k, struct load *ld)
{
	json_error_t jerr;
	struct stat st;
	json_t *root;
	FILE *f;
	int rc;

	/* Opened here, not by json_load_file, to word that error our way. */
	if ((f = fopen(k->file, "re")) == NULL)
		return fail(k, "", "cannot open: %s", strerror(errno));
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		return fail(k, "", "cannot open: %s", strerror(EISDIR));
	}
	root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	fclose(f);
	if (root == NULL) {
		snprintf(k->err, k->errsize, "%s:%d:%d: %s", k->file,
		    jerr.line, jerr.column, jerr.text);
		return -1;
	}
	rc = parse_object(k, "", root, top_fields, NFIELDS(top_fields), ld);
	json_decref(root);
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
}

int
config_load(struct config *cfg, const struct config_flags *fl, char *err,
    size_t errsize)
{
	struct check k = { fl->file, err, errsize };
	struct load ld;

	config_defaults(&ld.cfg);
	ld.port = CONFIG_DEFAULT_PORT;
	if (fl->file != NULL && load_file(&k, &ld) < 0) {
		config_free(&ld.cfg);
		config_defaults(cfg);
		return -1;
	}
	apply_flags(&ld, fl);
	*cfg = ld.cfg;
	return 0;
}
