/*
 * syslinux's auxiliary data vector (ADV), the boot-once command of the
 * BIOS path (issue #21): two 512-byte copies at the end of ldlinux.sys,
 * each magic1, checksum, tag/length/data records, magic3.  The same
 * reading and writing as syslinux's own libinstaller/setadv.c and
 * com32/lib/syslinux/getadv.c, sans-I/O.  See init_int.h.
 */
#include <string.h>

#include "init/init_int.h"

#define ADV_MAGIC1 0x5a2d2fa5u
#define ADV_MAGIC2 0xa3041767u /* what words 4..507 add up to */
#define ADV_MAGIC3 0xdd28bf64u
#define ADV_DATA 8 /* records start after magic1 and the checksum */
#define ADV_LEN (INIT_ADV_SIZE - 3 * 4)

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static bool
copy_valid(const uint8_t *p)
{
	uint32_t sum = 0;
	size_t i;

	if (get32(p) != ADV_MAGIC1 ||
	    get32(p + INIT_ADV_SIZE - 4) != ADV_MAGIC3)
		return false;
	for (i = 4; i < INIT_ADV_SIZE - 4; i += 4)
		sum += get32(p + i);
	return sum == ADV_MAGIC2;
}

/* The copy ldlinux would use: the first valid one, or NULL. */
static const uint8_t *
valid_copy(const uint8_t *adv)
{
	if (copy_valid(adv))
		return adv;
	if (copy_valid(adv + INIT_ADV_SIZE))
		return adv + INIT_ADV_SIZE;
	return NULL;
}

/* see init_int.h */
int
init_adv_get(const uint8_t *adv, unsigned tag, char *out, size_t n)
{
	const uint8_t *c = valid_copy(adv), *p;
	size_t left = ADV_LEN, len;

	if (n > 0)
		out[0] = '\0';
	if (c == NULL)
		return -1;
	for (p = c + ADV_DATA; left >= 2; p += len, left -= len) {
		len = p[1];
		left -= 2;
		if (p[0] == 0 || left < len)
			return 0; /* the end, or a record that overruns */
		p += 2;
		if (p[-2] == tag) {
			if (n > 0) {
				memcpy(out, p, MIN(len, n - 1));
				out[MIN(len, n - 1)] = '\0';
			}
			return (int)len;
		}
	}
	return 0;
}

/* see init_int.h */
int
init_adv_set(uint8_t *adv, unsigned tag, const void *data, size_t len)
{
	uint8_t rec[ADV_LEN] = {0};
	const uint8_t *c = valid_copy(adv), *p;
	size_t left = ADV_LEN, plen, w = 0;
	uint32_t sum = ADV_MAGIC2;
	size_t i;

	if (tag < 1 || tag > 255 || len > 255)
		return -1;
	/* The other records, in order: syslinux keeps what it cannot read
	 * no further than the first bad one. */
	for (p = c != NULL ? c + ADV_DATA : NULL; p != NULL && left >= 2;
	     p += plen, left -= plen) {
		plen = (size_t)p[1] + 2;
		if (p[0] == 0 || plen > left)
			break;
		if (p[0] != tag) {
			memcpy(rec + w, p, plen);
			w += plen;
		}
	}
	if (len > 0) {
		if (ADV_LEN - w < len + 2)
			return -1;
		rec[w++] = (uint8_t)tag;
		rec[w++] = (uint8_t)len;
		memcpy(rec + w, data, len);
	}
	memset(adv, 0, INIT_ADV_SIZE);
	put32(adv, ADV_MAGIC1);
	memcpy(adv + ADV_DATA, rec, ADV_LEN);
	for (i = ADV_DATA; i < INIT_ADV_SIZE - 4; i += 4)
		sum -= get32(adv + i);
	put32(adv + 4, sum);
	put32(adv + INIT_ADV_SIZE - 4, ADV_MAGIC3);
	memcpy(adv + INIT_ADV_SIZE, adv, INIT_ADV_SIZE);
	return 0;
}
