/*
 * The health port's own metrics: build info, process gauges read from
 * /proc at scrape time, and the health server's counters.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "connector/health_int.h"
#include "lib/utf8.h"
#include "lib/util.h"

/* see health_int.h */
long long
health_rss_bytes(void)
{
	char b[128];
	long long size, rss;
	ssize_t n;
	int fd;

	fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, b, sizeof(b) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	b[n] = '\0';
	if (sscanf(b, "%lld %lld", &size, &rss) != 2)
		return -1;
	return rss * sysconf(_SC_PAGESIZE);
}

/* see health_int.h */
long
health_open_fds(void)
{
	struct dirent *e;
	long n = 0;
	DIR *d;

	d = opendir("/proc/self/fd");
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static void
collect_process(struct metric_family *f, void *arg)
{
	struct health *h = arg;

	metric_set(
	    &h->m_uptime, (double)(util_mono_ms() - h->started_ms) / 1000.0);
	metric_set(&h->m_rss, (double)health_rss_bytes());
	metric_set(&h->m_fds, (double)health_open_fds());
	metric_set(&h->m_replaced, (double)utf8_replaced_total());
}

static void
collect_server(struct metric_family *f, void *arg)
{
	struct health *h = arg;
	const struct http_server_stats *st = http_server_stats(h->srv);
	size_t i;

	for (i = 0; i < HTTP_STATS_CODES; i++)
		metric_set(&h->m_req[i], (double)st->responses[i]);
	metric_set(&h->m_conn[HEALTH_CONN_ACCEPTED], (double)st->accepted);
	metric_set(&h->m_conn[HEALTH_CONN_EVICTED], (double)st->evicted);
	metric_set(&h->m_conn[HEALTH_CONN_REFUSED], (double)st->refused);
	metric_set(&h->m_conn[HEALTH_CONN_TIMEOUT], (double)st->timeouts);
	metric_set(&h->m_open, (double)st->open);
	metric_set(&h->m_ready, h->ready ? 1 : 0);
	metric_set(&h->m_tunnels, h->tunnels_up);
}

/* One family with one unlabelled series. */
static void
simple(struct health *h, struct metric_family *f, struct metric *m,
    const char *name, const char *help, enum metric_type t,
    metric_collect_fn *fn)
{
	metric_family_init(f, name, help, t, fn, h);
	metric_init(m, NULL, NULL, NULL, 0);
	metric_family_add(f, m);
	metrics_add(&h->reg, f);
}

static void
init_server_families(struct health *h)
{
	static const char *events[HEALTH_CONN_EVENTS] = {"event=\"accepted\"",
	    "event=\"evicted\"", "event=\"refused\"", "event=\"timeout\""};
	size_t i;

	metric_family_init(&h->f_req, "outpost_health_http_responses_total",
	    "Responses sent by the health port, by status code.",
	    METRIC_COUNTER, collect_server, h);
	for (i = 0; i < HTTP_STATS_CODES; i++) {
		if (http_stats_codes[i] == 0)
			snprintf(h->code_labels[i], sizeof(h->code_labels[i]),
			    "code=\"other\"");
		else
			snprintf(h->code_labels[i], sizeof(h->code_labels[i]),
			    "code=\"%d\"", http_stats_codes[i]);
		metric_init(&h->m_req[i], h->code_labels[i], NULL, NULL, 0);
		metric_family_add(&h->f_req, &h->m_req[i]);
	}
	metrics_add(&h->reg, &h->f_req);
	metric_family_init(&h->f_conn, "outpost_health_http_connections_total",
	    "Health port connection events.", METRIC_COUNTER, NULL, h);
	for (i = 0; i < HEALTH_CONN_EVENTS; i++) {
		metric_init(&h->m_conn[i], events[i], NULL, NULL, 0);
		metric_family_add(&h->f_conn, &h->m_conn[i]);
	}
	metrics_add(&h->reg, &h->f_conn);
	simple(h, &h->f_open, &h->m_open,
	    "outpost_health_http_open_connections",
	    "Open health port connections.", METRIC_GAUGE, NULL);
}

/* see health_int.h */
void
health_metrics_init(struct health *h)
{
	metrics_init(&h->reg);
	metric_family_init(&h->f_build, "outpost_build_info",
	    "Build of the running binary.", METRIC_INFO, NULL, h);
	metric_init(&h->m_build,
	    "version=\"" OUTPOST_VERSION "\",revision=\"" OUTPOST_REVISION "\"",
	    NULL, NULL, 0);
	metric_set(&h->m_build, 1);
	metric_family_add(&h->f_build, &h->m_build);
	metrics_add(&h->reg, &h->f_build);
	simple(h, &h->f_uptime, &h->m_uptime, "outpost_uptime_seconds",
	    "Seconds since the worker started.", METRIC_GAUGE, collect_process);
	simple(h, &h->f_rss, &h->m_rss, "process_resident_memory_bytes",
	    "Resident memory size in bytes.", METRIC_GAUGE, NULL);
	simple(h, &h->f_fds, &h->m_fds, "process_open_fds",
	    "Number of open file descriptors.", METRIC_GAUGE, NULL);
	init_server_families(h);
	simple(h, &h->f_ready, &h->m_ready, "outpost_ready",
	    "1 when the connector is ready (see /readyz).", METRIC_GAUGE, NULL);
	simple(h, &h->f_tunnels, &h->m_tunnels, "outpost_tunnels_up",
	    "Tunnels currently established.", METRIC_GAUGE, NULL);
	simple(h, &h->f_replaced, &h->m_replaced,
	    "outpost_header_bytes_replaced_total",
	    "Upstream header bytes that were not UTF-8, sent as '?'.",
	    METRIC_COUNTER, NULL);
}
