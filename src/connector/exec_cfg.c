/*
 * The executor's settings from the configuration table.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cfg/cfg.h"
#include "connector/exec.h"

/* see exec.h */
unsigned
exec_pool_size(const struct cfg *cfg)
{
	int64_t n = cfg_int(cfg, CFG_MAX_TUNNELS_ALLOWED) *
	    cfg_int(cfg, CFG_MAX_CONCURRENT_REQUESTS);

	return n > EXEC_DEFAULT_POOL_TOTAL ? (unsigned)n
					   : EXEC_DEFAULT_POOL_TOTAL;
}

/* see exec.h */
int
exec_config_from_cfg(struct exec_config *c, const struct cfg *cfg, uint8_t **ca,
    size_t *calen, char *err, size_t errlen)
{
	int rc;

	*c = (struct exec_config){
	    .request_timeout_ms = cfg_int(cfg, CFG_REQUEST_TIMEOUT),
	    .connect_timeout_ms = cfg_int(cfg, CFG_CONNECT_TIMEOUT),
	    .max_request_body =
		(size_t)cfg_int(cfg, CFG_MAX_REQUEST_BODY_SIZE_MB),
	    .max_response_body =
		(size_t)cfg_int(cfg, CFG_MAX_RESPONSE_BODY_SIZE_MB),
	    .upstream_tls_verify = cfg_bool(cfg, CFG_UPSTREAM_TLS_VERIFY),
	    .http_proxy = cfg_str(cfg, CFG_HTTP_PROXY),
	    .https_proxy = cfg_str(cfg, CFG_HTTPS_PROXY),
	    .no_proxy = cfg_str(cfg, CFG_NO_PROXY),
	    .pool_per_origin = exec_pool_size(cfg),
	    .pool_total = exec_pool_size(cfg),
	    /* In flight (as many as the pool) busy and closing, plus idle. */
	    .max_conns = 3 * exec_pool_size(cfg),
	    .egress = cfg_policy(cfg, CFG_EGRESS_ALLOW),
	    .max_streamed_body =
		(uint64_t)cfg_int(cfg, CFG_MAX_STREAMED_RESPONSE_SIZE_MB),
	    .stream_idle_ms = cfg_int(cfg, CFG_STREAM_IDLE_TIMEOUT),
	};
	*ca = NULL;
	*calen = 0;
	rc = cfg_secret(cfg, CFG_UPSTREAM_TLS_CA_BASE64, ca, calen);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0) {
		snprintf(err, errlen, "UPSTREAM_TLS_CA: %s", strerror(-rc));
		return rc;
	}
	c->upstream_ca_pem = *ca;
	c->upstream_ca_len = *calen;
	return 0;
}
