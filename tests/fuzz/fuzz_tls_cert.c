/*
 * Fuzz target: certificate input handled by the tls module — the PEM walk
 * and trust-anchor loading (TLS_CA), and the hand-written DER walk that
 * looks for iPAddress SANs (tls_san.c).  The first byte selects the path.
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
	char err[256];

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		(void)tls_san_has_ip(data + 1, size - 1, v4, sizeof(v4));
		(void)tls_san_has_ip(data + 1, size - 1, v6, sizeof(v6));
		return 0;
	}
	if (tls_anchors_load(&a, data + 1, size - 1, "fuzz", data[0] & 2, err,
		sizeof(err)) == 0)
		tls_anchors_free(&a);
	return 0;
}
