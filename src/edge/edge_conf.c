/*
 * edge_conf.c — the edge's settings (the outpost-edge block of
 * settings.def) turned into struct edge_conf, files read in the setup
 * phase.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edge/edge_id.h"
#include "edge/edge_int.h"
#include "lib/util.h"

#define FILE_MAX (1024 * 1024)

/* see edge_id.h; 0 or -errno (util_read_file()). */
int
edge_file_read(const char *path, uint8_t **out, size_t *len)
{
	char *p;
	int rc = util_read_file(path, FILE_MAX, &p, len);

	*out = (uint8_t *)p;
	return rc;
}

static int
need_file(const struct cfg *c, enum cfg_key k, uint8_t **out, size_t *len,
    char *err, size_t errlen)
{
	const char *path = cfg_str(c, k);
	int rc;

	if (path == NULL) {
		snprintf(err, errlen, "%s: required", cfg_key_name(k));
		return -1;
	}
	if ((rc = edge_file_read(path, out, len)) < 0) {
		snprintf(err, errlen, "%s: %s: %s", cfg_key_name(k), path,
		    strerror(-rc));
		return -1;
	}
	return 0;
}

/* "a.b.c.d:port" */
static bool
parse_hostport(const char *s, uint32_t *addr, uint16_t *port)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = strrchr(s, ':');
	struct in_addr a;
	char *end;
	long p;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return false;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || end == colon + 1 || p < 0 || p > 65535 ||
	    inet_pton(AF_INET, host, &a) != 1)
		return false;
	*addr = a.s_addr;
	*port = (uint16_t)p;
	return true;
}

static int
load_token(struct edge_conf *ec, const struct cfg *c, char *err, size_t errlen)
{
	uint8_t *p;
	size_t n, all, i = 0;

	if (need_file(c, CFG_EDGE_API_TOKEN_FILE, &p, &all, err, errlen) < 0)
		return -1;
	n = all;
	while (n > 0 &&
	    (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' ' ||
		p[n - 1] == '\t'))
		n--;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (n - i < 16) {
		snprintf(err, errlen,
		    "EDGE_API_TOKEN_FILE: token shorter than 16 bytes");
		util_wipe(p, all);
		free(p);
		return -1;
	}
	memmove(p, p + i, n - i);
	util_wipe(p + (n - i), i);
	ec->token = p;
	ec->token_len = n - i;
	return 0;
}

/*
 * Client certificates chain to EDGE_CLIENT_CA_FILE and/or the edge's own
 * CA: the anchors are both PEM inputs, one after the other.
 */
static int
client_anchors(const struct edge_conf *ec, const struct cfg_pems *p,
    uint8_t **out, size_t *len, char *err, size_t errlen)
{
	size_t own = ec->id != NULL ? ec->id->ca_pem_len : 0;
	uint8_t *all;

	if (p->ca == NULL && ec->id == NULL) {
		snprintf(err, errlen,
		    "EDGE_CLIENT_CA_FILE: required (or "
		    "EDGE_DATA_DIR for the edge's own CA)");
		return -1;
	}
	if ((all = malloc(p->ca_len + 1 + own)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (p->ca_len > 0)
		memcpy(all, p->ca, p->ca_len);
	all[p->ca_len] = '\n';
	if (own > 0)
		memcpy(all + p->ca_len + 1, ec->id->ca_pem, own);
	*out = all;
	*len = p->ca_len + 1 + own;
	return 0;
}

static int
load_tls(struct edge_conf *ec, const struct cfg *c, char *err, size_t errlen)
{
	struct tls_server_opts o = {.client_cert_optional = true};
	struct cfg_pems p;
	uint8_t *ca = NULL;
	int rc;

	rc = cfg_pems_load(c, CFG_EDGE_TLS_CERT_FILE, CFG_EDGE_TLS_KEY_FILE,
	    CFG_EDGE_CLIENT_CA_FILE, &p, err, errlen);
	if (rc == -ENOENT)
		snprintf(err, errlen, "%s: required",
		    cfg_str(c, CFG_EDGE_TLS_CERT_FILE) == NULL
			? "EDGE_TLS_CERT_FILE"
			: "EDGE_TLS_KEY_FILE");
	if (rc < 0)
		return -1;
	cfg_pems_tls_opts(&p, NULL, &o);
	rc = client_anchors(ec, &p, &ca, &o.client_ca_len, err, errlen);
	o.client_ca = ca;
	if (rc == 0)
		rc = tls_server_config_new(&ec->tls, &o, err, errlen);
	if (rc == 0)
		tls_server_config_set_check(ec->tls, edge_peer_check, ec);
	cfg_pems_free(&p);
	free(ca);
	return rc < 0 ? -1 : 0;
}

static bool
is_loopback(uint32_t addr)
{
	return (ntohl(addr) >> 24) == 127;
}

/* see edge.h */
int
edge_conf_load_api(
    struct edge_conf *ec, const struct cfg *c, char *err, size_t errlen)
{
	struct in_addr a;

	memset(ec, 0, sizeof(*ec));
	if (inet_pton(AF_INET, cfg_str(c, CFG_EDGE_API_LISTEN), &a) != 1) {
		snprintf(err, errlen, "EDGE_API_LISTEN: not an IPv4 address");
		return -1;
	}
	ec->api_addr = a.s_addr;
	ec->api_port = (uint16_t)cfg_int(c, CFG_EDGE_API_PORT);
	return load_token(ec, c, err, errlen);
}

/* see edge.h */
int
edge_conf_load(struct edge_conf *ec, const struct cfg *c, bool check, char *err,
    size_t errlen)
{
	if (edge_conf_load_api(ec, c, err, errlen) < 0)
		return -1;
	if (!parse_hostport(cfg_str(c, CFG_EDGE_LISTEN), &ec->listen_addr,
		&ec->listen_port)) {
		snprintf(err, errlen, "EDGE_LISTEN: not an IPv4 address:port");
		edge_conf_free(ec);
		return -1;
	}
	ec->h2c = cfg_bool(c, CFG_EDGE_H2C);
	if (ec->h2c && !is_loopback(ec->listen_addr)) {
		snprintf(err, errlen,
		    "EDGE_H2C: only with a loopback EDGE_LISTEN (127.0.0.0/8)");
		edge_conf_free(ec);
		return -1;
	}
	snprintf(ec->trust_domain, sizeof(ec->trust_domain), "%s",
	    cfg_str(c, CFG_EDGE_TRUST_DOMAIN));
	ec->allow_cn = cfg_bool(c, CFG_EDGE_ALLOW_CN_IDENTITY);
	ec->api_max_conns = (size_t)cfg_int(c, CFG_EDGE_API_MAX_CONNECTIONS);
	ec->max_tunnels = (size_t)cfg_int(c, CFG_EDGE_MAX_TUNNELS);
	ec->heartbeat_ms = cfg_int(c, CFG_HEARTBEAT_INTERVAL);
	ec->request_timeout_ms = cfg_int(c, CFG_EDGE_REQUEST_TIMEOUT);
	ec->drain_timeout_ms = cfg_int(c, CFG_EDGE_DRAIN_TIMEOUT);
	ec->max_request_body = (size_t)cfg_int(c, CFG_MAX_REQUEST_BODY_SIZE_MB);
	ec->update_max_bytes = (uint64_t)cfg_int(c, CFG_EDGE_UPDATE_MAX_BYTES);
	ec->max_response_body =
	    (size_t)cfg_int(c, CFG_MAX_RESPONSE_BODY_SIZE_MB);
	if (edge_id_load(&ec->id, c, check, err, errlen) < 0 ||
	    (!ec->h2c && load_tls(ec, c, err, errlen) < 0)) {
		edge_conf_free(ec);
		return -1;
	}
	return 0;
}

/* see edge.h */
void
edge_conf_free(struct edge_conf *ec)
{
	if (ec->token != NULL) {
		util_wipe(ec->token, ec->token_len);
		free(ec->token);
	}
	ec->token = NULL;
	ec->token_len = 0;
	if (ec->tls != NULL)
		tls_server_config_free(ec->tls);
	ec->tls = NULL;
	edge_id_free(ec->id);
	ec->id = NULL;
}
