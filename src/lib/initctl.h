/*
 * initctl.h — the messages between init and its worker on init's control
 * channel (issue #21): a SOCK_SEQPACKET socketpair init creates for each
 * worker it starts; the worker's end is an inherited fd named by the
 * environment variable OUTPOST_INIT_CTL (absent outside the appliance).
 *
 * The worker is unprivileged; whatever it asks of init is one request of
 * exactly INITCTL_REQ_SIZE bytes, answered by one reply of exactly
 * INITCTL_REPLY_SIZE bytes.  Both are fixed-layout, little-endian records,
 * so a message that is not exactly one record is refused whole (a
 * seqpacket read returns one message: a short or long one shows in its
 * length).  Decoding checks the length, the magic, the op, and that every
 * text field is NUL-terminated inside its field and printable ASCII.
 *
 * Pure functions over caller buffers: no I/O, no allocation.
 */
#ifndef LIB_INITCTL_H
#define LIB_INITCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INITCTL_ENV "OUTPOST_INIT_CTL"
#define INITCTL_MAGIC 0x4c54434fu /* "OCTL" little-endian */
#define INITCTL_PATH_MAX 256
#define INITCTL_VERSION_MAX 32
#define INITCTL_REASON_MAX 128
#define INITCTL_SLOT_MAX 8

/* Where init takes a staged bundle from: nothing outside this directory. */
#define INITCTL_STAGE_DIR "/data/update/"

enum initctl_op {
	INITCTL_APPLY =
	    1, /* write the staged bundle at path to the other slot */
	INITCTL_REBOOT = 2, /* reboot now (UPDATE_REBOOT=manual) */
	INITCTL_STATUS = 3, /* report only */
};

/*
 * The update states of the contract (docs/updates.md), the one list of
 * them: init's (struct init_update, src/init), the worker's (its download
 * adds OFFERED and DOWNLOADING, which init never reports) and the edge's
 * view of a connector's reports.  Values are the channel's numbers.
 */
enum initctl_state {
	INITCTL_IDLE,
	INITCTL_VERIFYING,
	INITCTL_WRITING,
	INITCTL_WRITTEN,
	INITCTL_TRIAL,
	INITCTL_GOOD,
	INITCTL_ROLLED_BACK,
	INITCTL_FAILED,
	INITCTL_OFFERED, /* the worker's own, from here on */
	INITCTL_DOWNLOADING,
	INITCTL__STATES
};

struct initctl_req {
	enum initctl_op op;
	char path[INITCTL_PATH_MAX]; /* APPLY: the bundle; else "" */
};

/*
 * result: 0 the request was taken, else a positive errno-style code (the
 * reason says why); the rest is init's update state after the request.
 */
struct initctl_reply {
	enum initctl_op op; /* the request's */
	int32_t result;
	enum initctl_state state;
	uint32_t percent; /* 0..100 */
	char slot[INITCTL_SLOT_MAX]; /* running slot ("a", "b"; "" unknown) */
	char version[INITCTL_VERSION_MAX]; /* running version */
	char other_version[INITCTL_VERSION_MAX]; /* the other slot's, or "" */
	char reason[INITCTL_REASON_MAX]; /* last failure or refusal, or "" */
};

/* magic, op, path */
#define INITCTL_REQ_SIZE (4 + 4 + INITCTL_PATH_MAX)
/* magic, op, result, state, percent, then the four texts */
#define INITCTL_REPLY_SIZE \
	(4 * 5 + INITCTL_SLOT_MAX + 2 * INITCTL_VERSION_MAX + \
	    INITCTL_REASON_MAX)

/*
 * Encode into out (exactly the record's size).  The text fields must fit
 * (NUL included); longer ones are cut at the field.  Never fails.
 */
void initctl_req_encode(
    const struct initctl_req *r, uint8_t out[INITCTL_REQ_SIZE]);
void initctl_reply_encode(
    const struct initctl_reply *r, uint8_t out[INITCTL_REPLY_SIZE]);

/*
 * Decode n bytes at p.  0, or -1 (r unspecified) when n is not the record's
 * size, the magic or op is wrong, a text field is not NUL-terminated or
 * holds a byte outside 0x20..0x7e, the state is not one of init's or
 * percent > 100.
 * A request's path must be "" unless op is APPLY; for APPLY see
 * initctl_path_ok().
 */
int initctl_req_decode(const uint8_t *p, size_t n, struct initctl_req *r);
int initctl_reply_decode(const uint8_t *p, size_t n, struct initctl_reply *r);

/*
 * Whether path names a file directly inside INITCTL_STAGE_DIR: that
 * prefix, then a name of [A-Za-z0-9._+-] not starting with '.', no '/'.
 * What init accepts for APPLY; a path the worker would hand over is
 * checked the same way.
 */
bool initctl_path_ok(const char *path);

/* "idle", "verifying", ..., "downloading" (the contract's names);
 * "unknown" past the end. */
const char *initctl_state_name(enum initctl_state s);

/* The state named s, or -1 when no state has that name. */
int initctl_state_find(const char *s);

#endif
