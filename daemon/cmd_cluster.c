/*
 * cmd_cluster.c - CLUSTER STATUS | ADD | REMOVE: a replication group
 * seen and changed from the protocol (sluiced's extension; see
 * protocol/PROTOCOL.md).  The work is cluster.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acl.h"
#include "cluster.h"
#include "cmd.h"
#include "persist.h"

/*
 * Changing the group is the whole server's business: it takes a token
 * with the admin right on every queue (a grant on "*").
 */
#define CLUSTER_RIGHTS_ON "*"

static void
reply_error(struct conn *c, int code, const char *err)
{
	char word[32];
	const char *rest = strchr(err, ' ');
	size_t n = rest != NULL ? (size_t)(rest - err) : strlen(err);

	if (n >= sizeof word)
		n = sizeof word - 1;
	memcpy(word, err, n);
	word[n] = '\0';
	conn_reply(c, code, word, rest != NULL ? rest + 1 : NULL);
}

static void
status(struct conn *c, struct cluster *cl)
{
	char *json = cluster_status_json(cl);
	size_t len;

	if (json == NULL) {
		conn_reply(c, 500, "INTERNAL", "cannot encode the status");
		return;
	}
	len = strlen(json);
	evbuffer_add_printf(c->out, "200 JSON %zu\r\n", len);
	evbuffer_add(c->out, json, len);
	evbuffer_add(c->out, "\r\n", 2);
	free(json);
}

static void
change(struct conn *c, struct cluster *cl, const struct proto_request *r,
    bool add)
{
	char err[128], reply[128];
	uint64_t id;
	int code = 0, rc;

	if (!cmd_allowed(c, CONFIG_CAN_ADMIN, CLUSTER_RIGHTS_ON))
		return;
	if (!cmd_leads(c->server, reply, sizeof reply)) {
		/* "503 NOT_LEADER[ leader=...]" */
		const char *hint = strchr(reply + 4, ' ');
		conn_reply(c, 503, "NOT_LEADER", hint ? hint + 1 : NULL);
		return;
	}
	if (r->nargs != (add ? 4u : 2u) ||
	    !proto_parse_number(r->args[1], strlen(r->args[1]), &id) ||
	    id == 0) {
		conn_reply(c, 400, "BAD_REQUEST",
		    add ? "want CLUSTER ADD <id> <raft-addr> <client-addr>"
		        : "want CLUSTER REMOVE <id>");
		return;
	}
	rc = add ? cluster_add(cl, id, r->args[2], r->args[3], &code, err,
	               sizeof err)
	         : cluster_remove(cl, id, &code, err, sizeof err);
	if (rc != 0)
		reply_error(c, code, err);
	else
		conn_reply(c, 200, add ? "ADDED" : "REMOVED", NULL);
}

enum cmd_result
cmd_cluster(struct conn *c, const struct proto_request *r)
{
	struct cluster *cl = persist_cluster(c->server->persist);
	const char *sub = r->args[0];

	if (cl == NULL) {
		conn_reply(c, 400, "BAD_REQUEST",
		    "this server is not in a cluster");
	} else if (strcasecmp(sub, "STATUS") == 0 && r->nargs == 1) {
		status(c, cl);
	} else if (strcasecmp(sub, "ADD") == 0) {
		change(c, cl, r, true);
	} else if (strcasecmp(sub, "REMOVE") == 0) {
		change(c, cl, r, false);
	} else {
		conn_reply(c, 400, "BAD_REQUEST",
		    "want CLUSTER STATUS | ADD <id> <raft-addr> "
		    "<client-addr> | REMOVE <id>");
	}
	return CMD_DONE;
}
