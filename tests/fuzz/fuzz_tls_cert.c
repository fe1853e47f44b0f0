/*
 * Fuzz target: certificate input handled by the tls module — the PEM walk
 * and trust-anchor loading (TLS_CA), and the hand-written DER walks that
 * look for iPAddress SANs and the serial number (tls_san.c).  The first byte selects the path.
 * Anything may be rejected; nothing may crash or leak.
 */
#include <stddef.h>
#include <stdint.h>

#include "tls/tls_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t v4[4] = {127, 0, 0, 1};
	static const uint8_t v6[16] = {[15] = 1};
	struct tls_anchors a;
	const uint8_t *sn;
	char err[256];
	size_t n;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		(void)tls_san_has_ip(data + 1, size - 1, v4, sizeof(v4));
		(void)tls_san_has_ip(data + 1, size - 1, v6, sizeof(v6));
		sn = tls_cert_serial(data + 1, size - 1, &n);
		if (sn != NULL && (sn < data + 1 || sn + n > data + size))
			__builtin_trap();
		return 0;
	}
	if (tls_anchors_load(&a, data + 1, size - 1, "fuzz", data[0] & 2, err,
		sizeof(err)) == 0)
		tls_anchors_free(&a);
	return 0;
}
