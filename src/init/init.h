/*
 * init.h — outpost as PID 1 (or `outpost init`).
 *
 * Phases, after s6-linux-init and tini: setup (may die) → spawn the worker
 * by re-exec of /proc/self/exe `run` under an unprivileged uid → loop
 * (never dies: reaps every child, restarts the worker with a backoff chosen
 * by its exit code) → shutdown on SIGTERM, SIGPWR, SIGINT (Ctrl-Alt-Del)
 * or the ACPI power button: TERM, grace, KILL, sync, unmount, power off.
 *
 * `outpost init --test` runs the same loop without touching disks, the
 * network or reboot(2): for a PID namespace in tests.  There the worker
 * command may be replaced by OUTPOST_INIT_WORKER (an executable path,
 * called with the argument "run"), and shutdown ends with exit(0).
 */
#ifndef INIT_INIT_H
#define INIT_INIT_H

/* Returns only in test mode or when setup fails (exit status). */
int init_main(int argc, char **argv);

#endif
