/*
 * msg.c - messages held one by one.  See msg.h.
 */
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "xmalloc.h"

struct msg *
msg_new(uint64_t id, size_t len)
{
	struct msg *m = xmalloc(sizeof *m + len);

	memset(m, 0, sizeof *m);
	m->id = id;
	m->len = len;
	m->body = m->data;
	return m;
}

struct msg *
msg_new_copy(uint64_t id, const char *body, size_t len)
{
	struct msg *m = msg_new(id, len);

	if (len > 0)
		memcpy(m->data, body, len);
	return m;
}

struct msg *
msg_new_adopt(uint64_t id, char *body, size_t len)
{
	struct msg *m = xcalloc(1, sizeof *m);

	m->id = id;
	m->len = len;
	m->body = body;
	return m;
}

void
msg_free(struct msg *m)
{
	if (m == NULL)
		return;
	if (m->body != m->data)
		free(m->body);
	free(m);
}
