/*
 * exit.h — the process exit codes every outpost command and role uses
 * (DESIGN.md, after the s6 conventions): init restarts the worker by them.
 *
 *   EXIT_OK         0    done, or a clean stop
 *   EXIT_PERMANENT  100  permanent: bad configuration, bad usage or bad
 *                        input; retrying soon will not help
 *   EXIT_TEMPORARY  111  temporary: resources, a port in use, a peer that
 *                        did not answer; retry with backoff
 *
 * A few tools also answer a question with 1 ("not ready", "no identity"),
 * documented in their own headers.
 */
#ifndef LIB_EXIT_H
#define LIB_EXIT_H

#define EXIT_OK 0
#define EXIT_PERMANENT 100
#define EXIT_TEMPORARY 111

#endif
