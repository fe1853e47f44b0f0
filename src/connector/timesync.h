/*
 * timesync.h — `outpost ntp`: ask the NTP_SERVERS once (net/sntp.h) and
 * print the answer; with --step, also set the clock.  The same exchange
 * the connector needs before its first dial on a board without a
 * real-time clock; here it stands alone, for operators and tests.
 *
 *   outpost ntp [--step]
 *
 * Output on an answer: {"server":NAME,"offset_ms":N,"delay_ms":N,
 * "stratum":N,"stepped":BOOL}; exit 0 (with --step only if the clock
 * was set: it needs CAP_SYS_TIME).  No answer from any server:
 * {"error":"no_answer","detail":TEXT}; exit 111.  Bad usage or
 * configuration (NTP_SERVERS unset or malformed): stderr, exit 100.
 */
#ifndef CONNECTOR_TIMESYNC_H
#define CONNECTOR_TIMESYNC_H

int timesync_main(int argc, char **argv, char *const *envp);

#endif
