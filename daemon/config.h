/*
 * config.h - the daemon's settings: built-in defaults, then the JSON
 * file (-c), then command-line flags, each overriding the last.
 */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* The settings of one queue (CREATE options, config defaults). */
struct queue_settings {
	uint64_t capacity;
	uint64_t max_bytes;
	enum proto_policy policy;
	uint64_t lease_ms; /* 0: reservations never expire */
};

#define CONFIG_LISTEN_MAX 8

struct config_listen {
	char addr[64];
	int port;
};

struct config {
	struct config_listen listen[CONFIG_LISTEN_MAX];
	int nlisten;
	size_t max_connections;
	uint64_t max_message;	     /* message limit: 413 beyond */
	size_t input_readahead;	     /* input held per connection */
	size_t output_high;	     /* unsent output that stops reading */
	size_t max_reserved;	     /* reservations per connection */
	bool auto_create;
	struct queue_settings queue_defaults;
	int log_level;		     /* syslog level, LOG_INFO default */
};

/* Defaults, as documented in the README and conf/README.md. */
#define CONFIG_DEFAULT_ADDR "127.0.0.1"
#define CONFIG_DEFAULT_PORT 7470
#define CONFIG_DEFAULT_MAX_CONNECTIONS 10000
#define CONFIG_DEFAULT_MAX_MESSAGE (1024 * 1024)
#define CONFIG_DEFAULT_CAPACITY 1024
#define CONFIG_DEFAULT_MAX_BYTES (16 * 1024 * 1024)
#define CONFIG_DEFAULT_MAX_RESERVED 1024
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

/* Fill cfg with the built-in defaults. */
void config_defaults(struct config *cfg);

#endif
