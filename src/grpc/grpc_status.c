/*
 * grpc_status.c — gRPC status code names.
 */
#include <string.h>

#include "grpc/grpc.h"
#include "lib/util.h"

static const char *const status_names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

/* see grpc.h */
const char *
grpc_status_name(int code)
{
	if (code < 0 || (size_t)code >= nitems(status_names))
		return "UNKNOWN";
	return status_names[code];
}
