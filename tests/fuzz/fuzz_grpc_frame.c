/*
 * Fuzz target: the gRPC message reader.  The first input byte picks the
 * chunk size, so one input is also fed split at every kind of boundary.
 * Invariants: consumption never exceeds the input, messages never exceed
 * the maximum, and an error is sticky.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "grpc/grpc.h"

#define MAXMSG 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t mem[MAXMSG];
	struct grpc_reader r;
	const uint8_t *msg;
	size_t step, off = 0, used, len, k;
	int rc;

	if (size < 1)
		return 0;
	step = (size_t)data[0] % 17 + 1;
	data++;
	size--;
	grpc_reader_init(&r, mem, sizeof(mem));
	while (off < size) {
		k = step < size - off ? step : size - off;
		rc = grpc_reader_feed(&r, data + off, k, &used, &msg, &len);
		if (rc == GRPC_ERROR) {
			if (grpc_reader_feed(&r, data, 1, &used, &msg, &len) !=
			    GRPC_ERROR)
				abort();
			break;
		}
		if (used > k || (rc == GRPC_PARTIAL && used != k))
			abort();
		if (rc == GRPC_MSG && len > MAXMSG)
			abort();
		off += used;
	}
	return 0;
}
