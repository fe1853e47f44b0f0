/* init's control channel messages.  See initctl.h. */
#include <string.h>

#include "lib/initctl.h"

static void
put32(uint8_t **p, uint32_t v)
{
	(*p)[0] = (uint8_t)v;
	(*p)[1] = (uint8_t)(v >> 8);
	(*p)[2] = (uint8_t)(v >> 16);
	(*p)[3] = (uint8_t)(v >> 24);
	*p += 4;
}

static uint32_t
get32(const uint8_t **p)
{
	uint32_t v = (uint32_t)(*p)[0] | (uint32_t)(*p)[1] << 8 |
	    (uint32_t)(*p)[2] << 16 | (uint32_t)(*p)[3] << 24;

	*p += 4;
	return v;
}

/* A text field of n bytes, NUL-padded; cut to n - 1 bytes when longer. */
static void
put_text(uint8_t **p, const char *s, size_t n)
{
	size_t len = strnlen(s, n - 1);

	memset(*p, 0, n);
	memcpy(*p, s, len);
	*p += n;
}

/* NUL-terminated inside the field, printable before the NUL. */
static int
get_text(const uint8_t **p, char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && (*p)[i] != 0; i++)
		if ((*p)[i] < 0x20 || (*p)[i] > 0x7e)
			return -1;
	if (i == n)
		return -1;
	memcpy(s, *p, i + 1);
	*p += n;
	return 0;
}

static bool
op_ok(uint32_t op)
{
	return op == INITCTL_APPLY || op == INITCTL_REBOOT ||
	    op == INITCTL_STATUS;
}

/* see initctl.h */
void
initctl_req_encode(const struct initctl_req *r, uint8_t out[INITCTL_REQ_SIZE])
{
	uint8_t *p = out;

	put32(&p, INITCTL_MAGIC);
	put32(&p, (uint32_t)r->op);
	put_text(&p, r->path, sizeof(r->path));
}

/* see initctl.h */
int
initctl_req_decode(const uint8_t *p, size_t n, struct initctl_req *r)
{
	uint32_t op;

	if (n != INITCTL_REQ_SIZE || get32(&p) != INITCTL_MAGIC)
		return -1;
	op = get32(&p);
	if (!op_ok(op) || get_text(&p, r->path, sizeof(r->path)) < 0)
		return -1;
	r->op = (enum initctl_op)op;
	if (r->op != INITCTL_APPLY && r->path[0] != '\0')
		return -1;
	return 0;
}

/* see initctl.h */
void
initctl_reply_encode(
    const struct initctl_reply *r, uint8_t out[INITCTL_REPLY_SIZE])
{
	uint8_t *p = out;

	put32(&p, INITCTL_MAGIC);
	put32(&p, (uint32_t)r->op);
	put32(&p, (uint32_t)r->result);
	put32(&p, (uint32_t)r->state);
	put32(&p, r->percent);
	put_text(&p, r->slot, sizeof(r->slot));
	put_text(&p, r->version, sizeof(r->version));
	put_text(&p, r->other_version, sizeof(r->other_version));
	put_text(&p, r->reason, sizeof(r->reason));
}

/* see initctl.h */
int
initctl_reply_decode(const uint8_t *p, size_t n, struct initctl_reply *r)
{
	uint32_t op, state;

	if (n != INITCTL_REPLY_SIZE || get32(&p) != INITCTL_MAGIC)
		return -1;
	op = get32(&p);
	r->result = (int32_t)get32(&p);
	state = get32(&p);
	r->percent = get32(&p);
	if (!op_ok(op) || state >= INITCTL_OFFERED || r->percent > 100)
		return -1;
	r->op = (enum initctl_op)op;
	r->state = (enum initctl_state)state;
	if (get_text(&p, r->slot, sizeof(r->slot)) < 0 ||
	    get_text(&p, r->version, sizeof(r->version)) < 0 ||
	    get_text(&p, r->other_version, sizeof(r->other_version)) < 0 ||
	    get_text(&p, r->reason, sizeof(r->reason)) < 0)
		return -1;
	return 0;
}

/* see initctl.h */
bool
initctl_path_ok(const char *path)
{
	size_t k = sizeof(INITCTL_STAGE_DIR) - 1;
	const char *s;

	if (strncmp(path, INITCTL_STAGE_DIR, k) != 0)
		return false;
	s = path + k;
	if (*s == '\0' || *s == '.')
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			(*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
			*s == '+' || *s == '-'))
			return false;
	return true;
}

/* see initctl.h */
static const char *const state_names[INITCTL__STATES] = {
    [INITCTL_IDLE] = "idle",
    [INITCTL_VERIFYING] = "verifying",
    [INITCTL_WRITING] = "writing",
    [INITCTL_WRITTEN] = "written",
    [INITCTL_TRIAL] = "trial",
    [INITCTL_GOOD] = "good",
    [INITCTL_ROLLED_BACK] = "rolled_back",
    [INITCTL_FAILED] = "failed",
    [INITCTL_OFFERED] = "offered",
    [INITCTL_DOWNLOADING] = "downloading",
};

/* see initctl.h */
const char *
initctl_state_name(enum initctl_state s)
{
	return (unsigned)s < INITCTL__STATES ? state_names[s] : "unknown";
}

/* see initctl.h */
int
initctl_state_find(const char *s)
{
	int i;

	for (i = 0; i < INITCTL__STATES; i++)
		if (strcmp(state_names[i], s) == 0)
			return i;
	return -1;
}
