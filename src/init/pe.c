/*
 * The sections of a PE file, for the BIOS path of an update (issue #21):
 * the kernel (.linux) and command line (.cmdline) of a bundle's UKI, so
 * that syslinux boots what systemd-boot would.  Sans-I/O: only the
 * headers are read, from a buffer; every offset is checked against it
 * and against the file's size.  See init_int.h.
 */
#include <stdio.h>
#include <string.h>

#include "init/init_int.h"
#include "lib/util.h"

#define PE_SECTIONS_MAX 96 /* the PE/COFF limit is 96 for images */
#define SECTION_SIZE 40

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint16_t
le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* see init_int.h */
int
init_pe_section(const uint8_t *head, size_t n, uint64_t file_size,
    const char *name, struct init_pe_section *s, char *err, size_t errlen)
{
	uint32_t pe, vsize, raw, off;
	size_t table, nsect, i, namelen = strlen(name);
	const uint8_t *e;

	if (namelen == 0 || namelen > 8)
		return util_fail(err, errlen, "PE: bad section name");
	if (n < 0x40 || head[0] != 'M' || head[1] != 'Z')
		return util_fail(err, errlen, "PE: no MZ header");
	pe = le32(head + 0x3c);
	if (pe > n - 24 || memcmp(head + pe, "PE\0\0", 4) != 0)
		return util_fail(err, errlen,
		    "PE: no PE header in the first %zu "
		    "bytes",
		    n);
	nsect = le16(head + pe + 6);
	table = (size_t)pe + 24 + le16(head + pe + 20);
	if (nsect > PE_SECTIONS_MAX || table > n ||
	    nsect * SECTION_SIZE > n - table)
		return util_fail(err, errlen,
		    "PE: section table (%zu sections) beyond the headers",
		    nsect);
	for (i = 0; i < nsect; i++) {
		e = head + table + i * SECTION_SIZE;
		if (memcmp(e, name, namelen) != 0 ||
		    (namelen < 8 && e[namelen] != '\0'))
			continue;
		vsize = le32(e + 8);
		raw = le32(e + 16);
		off = le32(e + 20);
		/* The raw size is rounded up to the file alignment; the
		 * virtual size is the section's own (0: none given). */
		s->off = off;
		s->size = vsize != 0 && vsize < raw ? vsize : raw;
		if (s->off > file_size || s->size > file_size - s->off)
			return util_fail(err, errlen,
			    "PE: section %s beyond the end of the file", name);
		return 0;
	}
	return util_fail(err, errlen, "PE: no section %s", name);
}
