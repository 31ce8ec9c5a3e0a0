/*
 * acl.h - who may do what on which queues: the tokens of the config
 * (auth_token_file, an all-powerful token, and "tokens", each with its
 * grants), as AUTH finds them and commands check them.
 *
 * An acl is built from a config at start and at every reload, and is
 * then never changed; a connection that authenticated keeps a
 * reference to the acl it found its token in, so a reload applies new
 * tokens to new AUTHs while older connections keep what they were
 * given.  A connection with no token (none is configured) may do
 * everything: its token is NULL.
 */
#ifndef SLUICE_ACL_H
#define SLUICE_ACL_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct acl;

/* A token and its grants. */
struct acl_token {
	const struct config_token *tok;
	bool sees_all; /* a grant of "*": every queue in global STATS */
};

/*
 * Build an acl from cfg, taking over its auth_token and tokens (cfg no
 * longer owns them).  NULL when cfg configures no token at all.
 */
struct acl *acl_new(struct config *cfg);

struct acl *acl_ref(struct acl *a);
void acl_unref(struct acl *a);

/*
 * The token equal to token[0..len), or NULL; in time independent of
 * where and whether it differs from each.
 */
const struct acl_token *acl_find(const struct acl *a, const char *token,
    size_t len);

/*
 * True when `who` (NULL: no token configured) has any of the rights
 * `can` (CONFIG_CAN_*) on the queue named `queue`.
 */
bool acl_allows(const struct acl_token *who, unsigned can, const char *queue);

#endif
