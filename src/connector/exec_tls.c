/*
 * Upstream TLS for the executor: the tls module's upstream client
 * (tls.h), loaded once from the executor's settings, reset per connection.
 */
#include <errno.h>

#include "connector/exec_int.h"
#include "lib/log.h"

/* see exec_int.h */
int
exec_tls_load(struct exec *e, char *err, size_t errlen)
{
	struct tls_upstream_opts o = {.verify = e->c.upstream_tls_verify,
	    .ca = e->c.upstream_ca_pem,
	    .ca_len = e->c.upstream_ca_len,
	    .ca_what = "UPSTREAM_TLS_CA"};
	int rc = tls_upstream_config_new(&e->tls, &o, err, errlen);

	/* The caller's bytes are not kept. */
	e->c.upstream_ca_pem = NULL;
	e->c.upstream_ca_len = 0;
	if (rc < 0)
		return -EINVAL;
	/* Not fatal: http upstreams work; https ones fail as tls. */
	if (o.verify && o.ca == NULL &&
	    tls_upstream_config_anchors(e->tls) == 0)
		log_warn("upstream TLS: no system CA bundle; https upstreams "
			 "fail verification unless UPSTREAM_TLS_CA is set");
	return 0;
}

/* see exec_int.h */
void
exec_tls_free(struct exec *e)
{
	tls_upstream_config_free(e->tls);
	e->tls = NULL;
}

/* see exec_int.h */
br_ssl_engine_context *
exec_tls_setup(struct exec *e, struct exec_conn *c)
{
	return tls_upstream_start(c->t, e->tls, c->host);
}
