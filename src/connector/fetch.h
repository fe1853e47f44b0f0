/*
 * fetch.h — `outpost fetch`: run one request through the executor, with
 * the connector's own settings (REQUEST_TIMEOUT, body limits, upstream
 * TLS), and print the outcome as JSON lines on stdout.  For operators
 * checking reachability from the connector's network, and for tests.
 *
 *   outpost fetch [-X METHOD] [-H 'Name: value']... [-d DATA | -f FILE] URL
 *
 * Output on success: {"status":N,"elapsed_ms":T}, then one
 * {"header":K,"value":V} per response field in order, then
 * {"body_len":N,"body_base64":"..."}; exit 0.  On failure:
 * {"error":REASON,"detail":TEXT} (REASON as in exec_reason_name()); exit 1.
 * Bad usage or configuration: a message on stderr, exit 100.
 */
#ifndef CONNECTOR_FETCH_H
#define CONNECTOR_FETCH_H

int fetch_main(int argc, char **argv, char *const *envp);

#endif
