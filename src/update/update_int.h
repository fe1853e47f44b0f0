/*
 * update_int.h — the update module's private parts, for its unit tests and
 * fuzz target.
 */
#ifndef UPDATE_UPDATE_INT_H
#define UPDATE_UPDATE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "update/update.h"

/* "OUTPUPD1", then a big-endian u32 manifest length (docs/updates.md). */
#define UPDATE_MAGIC "OUTPUPD1"
#define UPDATE_MAGIC_LEN 8

#endif
