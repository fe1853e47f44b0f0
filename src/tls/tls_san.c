/*
 * tls_san.c — find an iPAddress entry in a certificate's subjectAltName,
 * and a certificate's serial number.
 *
 * BearSSL matches DNS names but has no API for iPAddress SANs, so this
 * walks just enough DER (RFC 5280 4.1, 4.2.1.6) to find them.  It runs only
 * on a certificate the minimal engine has already validated, and every
 * length is checked against the end of its enclosing element.
 */
#include <string.h>

#include "tls/tls_int.h"

struct der {
	const uint8_t *p, *end;
};

/* Read one TLV; *in is advanced past it, *val is its contents. */
static bool
der_next(struct der *in, uint8_t *tag, struct der *val)
{
	size_t len = 0, k;

	if (in->end - in->p < 2)
		return false;
	*tag = *in->p++;
	len = *in->p++;
	if (len & 0x80) {
		k = len & 0x7f;
		if (k == 0 || k > 3 || (size_t)(in->end - in->p) < k)
			return false;
		for (len = 0; k > 0; k--)
			len = len << 8 | *in->p++;
	}
	if ((size_t)(in->end - in->p) < len)
		return false;
	val->p = in->p;
	val->end = in->p + len;
	in->p += len;
	return true;
}

/* Enter the element with tag want: *in becomes its contents. */
static bool
der_enter(struct der *in, uint8_t want)
{
	struct der val;
	uint8_t tag;

	if (!der_next(in, &tag, &val) || tag != want)
		return false;
	*in = val;
	return true;
}

/* GeneralNames: look for [7] iPAddress equal to ip. */
static bool
names_have_ip(struct der names, const uint8_t *ip, size_t iplen)
{
	struct der val;
	uint8_t tag;

	if (!der_enter(&names, 0x30))
		return false;
	while (names.p < names.end) {
		if (!der_next(&names, &tag, &val))
			return false;
		if (tag == 0x87 && (size_t)(val.end - val.p) == iplen &&
		    memcmp(val.p, ip, iplen) == 0)
			return true;
	}
	return false;
}

/* Extension ::= SEQUENCE { extnID, critical BOOLEAN OPTIONAL, OCTETS }. */
static bool
ext_has_ip(struct der ext, const uint8_t *ip, size_t iplen)
{
	static const uint8_t san_oid[] = {0x55, 0x1d, 0x11};
	struct der val;
	uint8_t tag;

	if (!der_next(&ext, &tag, &val) || tag != 0x06 ||
	    (size_t)(val.end - val.p) != sizeof(san_oid) ||
	    memcmp(val.p, san_oid, sizeof(san_oid)) != 0)
		return false;
	if (!der_next(&ext, &tag, &val))
		return false;
	if (tag == 0x01 && !der_next(&ext, &tag, &val))
		return false;
	return tag == 0x04 && names_have_ip(val, ip, iplen);
}

/* see tls_int.h */
bool
tls_san_has_ip(const uint8_t *der, size_t len, const uint8_t *ip, size_t iplen)
{
	struct der in = {der, der + len}, val, exts;
	uint8_t tag;

	if (!der_enter(&in, 0x30) || !der_enter(&in, 0x30))
		return false;
	/* Skip the TBS fields up to [3] extensions. */
	while (in.p < in.end) {
		if (!der_next(&in, &tag, &val))
			return false;
		if (tag != 0xa3)
			continue;
		exts = val;
		if (!der_enter(&exts, 0x30))
			return false;
		while (exts.p < exts.end) {
			if (!der_next(&exts, &tag, &val) || tag != 0x30)
				return false;
			if (ext_has_ip(val, ip, iplen))
				return true;
		}
	}
	return false;
}

/* see tls.h */
const uint8_t *
tls_cert_serial(const uint8_t *der, size_t len, size_t *slen)
{
	struct der in = {der, der + len}, val;
	uint8_t tag;

	if (!der_enter(&in, 0x30) || !der_enter(&in, 0x30) ||
	    !der_next(&in, &tag, &val))
		return NULL;
	if (tag == 0xa0 && !der_next(&in, &tag, &val))
		return NULL; /* [0] version, then the serial */
	if (tag != 0x02 || val.p == val.end)
		return NULL;
	*slen = (size_t)(val.end - val.p);
	return val.p;
}
