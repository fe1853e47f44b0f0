/*
 * deliver.h — streamed responses, the connector's side (spec/streaming.md):
 * an HttpRequest with stream_response on a tunnel that advertised
 * "stream" runs on the executor with a sink (exec_submit_stream()); once
 * the upstream's head is there, a new call on the Tunnel call's connection
 * (POST /outpost.v1.Responses/Deliver, outpost-request-id) carries
 * ResponsePart{head}, then the body in ResponsePart{data} of 1 .. 65536
 * bytes as it arrives, then ResponsePart{end} (error_reason empty, or the
 * typed reason the body is cut: timeout, reset, too_large, ...).
 *
 * Failures before the head, and responses the executor answers buffered
 * (a host under redaction rules), are answered on the Tunnel call as for
 * any request (ErrorResponse, HttpResponse).
 *
 * Backpressure is HTTP/2 flow control only: the upstream is read only
 * while the Deliver call's send ring (DELIVER_TXRING) has room, so a
 * response holds at most that ring and its upstream connection's buffers.
 * The edge cancelling the call (RST_STREAM: its client went away) cancels
 * the job: the upstream connection is closed at once.  The request counts
 * against MAX_CONCURRENT_REQUESTS until the Deliver call has ended.
 *
 * All functions run on the reactor thread.
 */
#ifndef CONNECTOR_DELIVER_H
#define CONNECTOR_DELIVER_H

#include <stdbool.h>

#include "connector/tunnel.h"

#define DELIVER_PATH "/outpost.v1.Responses/Deliver"
#define DELIVER_TXRING (256u << 10) /* per streamed response */
#define DELIVER_DATA_MAX 65536 /* the spec's largest data part */
/* Reactor timers per request that may stream (the reactor's budget). */
#define DELIVER_TIMERS 1

/*
 * Run r's request (r->msg's HttpRequest, on r->slot) streamed.  The
 * answer, whichever it is, ends with tunnel_req_finish().  The Deliver
 * call's memory (r->dl) is taken only when the upstream's head arrives,
 * so a request waiting for its upstream holds none of it; no memory then
 * answers the request on the Tunnel call (overloaded).
 */
void deliver_submit(struct tunnel_req *r);

/*
 * The Tunnel call is gone (tunnel_msg_cancel_all()): cancel r's job and
 * its Deliver call; r is free again at once, the call's memory once the
 * call has ended.  Harmless when r has no Deliver call (yet): the caller
 * cancels a job waiting for its head (exec_cancel).
 */
void deliver_abort(struct tunnel_req *r);

#endif
