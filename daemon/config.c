/*
 * config.c - built-in defaults.  See config.h.
 */
#include <string.h>
#include <syslog.h>

#include "config.h"

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
}
