/*
 * acl.c - tokens and their grants.  See acl.h.
 *
 * A grant's glob is matched with fnmatch(3) without flags: queue names
 * hold no '/' and no leading '.' rule applies.  The grants of a token
 * are few (CONFIG_GRANTS_MAX), so each check is a short scan.
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "secret.h"
#include "xmalloc.h"

struct acl {
	int refs;
	struct config_token *toks; /* owned, as config.c made them */
	struct acl_token *who;     /* one per toks[] */
	size_t n;
};

/* The all-powerful grant of auth_token_file. */
static const struct config_grant grant_all = { "*", CONFIG_CAN_ALL };

struct acl *
acl_new(struct config *cfg)
{
	size_t n = cfg->ntokens + (cfg->auth_token != NULL);
	struct acl *a;
	size_t i = 0;

	if (n == 0)
		return NULL;
	a = xcalloc(1, sizeof *a);
	a->refs = 1;
	a->n = n;
	a->toks = xcalloc(n, sizeof *a->toks);
	a->who = xcalloc(n, sizeof *a->who);
	if (cfg->auth_token != NULL) {
		a->toks[0].token = cfg->auth_token;
		a->toks[0].len = cfg->auth_token_len;
		a->toks[0].grants = xmalloc(sizeof grant_all);
		a->toks[0].grants[0] = grant_all;
		a->toks[0].ngrants = 1;
		cfg->auth_token = NULL;
		cfg->auth_token_len = 0;
		i = 1;
	}
	for (size_t j = 0; j < cfg->ntokens; j++)
		a->toks[i + j] = cfg->tokens[j];
	free(cfg->tokens);
	cfg->tokens = NULL;
	cfg->ntokens = 0;
	for (i = 0; i < n; i++) {
		a->who[i].tok = &a->toks[i];
		for (size_t g = 0; g < a->toks[i].ngrants; g++)
			if (strcmp(a->toks[i].grants[g].glob, "*") == 0)
				a->who[i].sees_all = true;
	}
	return a;
}

struct acl *
acl_ref(struct acl *a)
{
	if (a != NULL)
		a->refs++;
	return a;
}

void
acl_unref(struct acl *a)
{
	if (a == NULL || --a->refs > 0)
		return;
	for (size_t i = 0; i < a->n; i++) {
		free(a->toks[i].token);
		free(a->toks[i].grants);
	}
	free(a->toks);
	free(a->who);
	free(a);
}

const struct acl_token *
acl_find(const struct acl *a, const char *token, size_t len)
{
	const struct acl_token *found = NULL;

	if (a == NULL)
		return NULL;
	/* Every token is compared, so the time says not which matched. */
	for (size_t i = 0; i < a->n; i++)
		if (secret_equal(token, len, a->toks[i].token, a->toks[i].len))
			found = &a->who[i];
	return found;
}

bool
acl_allows(const struct acl_token *who, unsigned can, const char *queue)
{
	if (who == NULL)
		return true;
	for (size_t i = 0; i < who->tok->ngrants; i++) {
		const struct config_grant *g = &who->tok->grants[i];
		if ((g->can & can) != 0 && fnmatch(g->glob, queue, 0) == 0)
			return true;
	}
	return false;
}
