/*
 * tls_x509.c — a thin X.509 class around BearSSL's minimal engine.  The
 * minimal engine validates the chain, the validity dates and DNS names;
 * it cannot match an IP literal against iPAddress SANs, so the wrapper
 * keeps the end-entity certificate and checks that after validation.  It
 * also counts the certificates seen, runs the server's peer check on a
 * verified chain, and makes an optional client certificate mandatory
 * once one is presented (see xw_start_chain).
 */
#include <string.h>
#include <time.h>

#include "lib/util.h"
#include "tls/tls_int.h"

static struct tls_x509 *
xw(const br_x509_class **ctx)
{
	return container_of(ctx, struct tls_x509, vtable);
}

static const br_x509_class **
inner(struct tls_x509 *w)
{
	return &w->inner->vtable;
}

static void
xw_start_chain(const br_x509_class **ctx, const char *server_name)
{
	struct tls_x509 *w = xw(ctx);

	w->depth = 0;
	w->eelen = 0;
	w->ee_overflow = false;
	w->verified = false;
	/* BearSSL tolerates an absent client certificate and, with the same
	 * flag, one that fails validation.  It calls the X.509 engine only
	 * for a non-empty chain, so clearing the flag here keeps "no
	 * certificate" tolerated and makes a bad one fail the handshake. */
	if (w->optional != NULL)
		br_ssl_engine_remove_flags(
		    w->optional, BR_OPT_TOLERATE_NO_CLIENT_AUTH);
	(*inner(w))->start_chain(inner(w), server_name);
}

static void
xw_start_cert(const br_x509_class **ctx, uint32_t length)
{
	struct tls_x509 *w = xw(ctx);

	(*inner(w))->start_cert(inner(w), length);
}

static void
xw_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
	struct tls_x509 *w = xw(ctx);

	(*inner(w))->append(inner(w), buf, len);
	if (w->depth != 0)
		return;
	if (len > sizeof(w->ee) - w->eelen) {
		w->ee_overflow = true;
		return;
	}
	memcpy(w->ee + w->eelen, buf, len);
	w->eelen += len;
}

static void
xw_end_cert(const br_x509_class **ctx)
{
	struct tls_x509 *w = xw(ctx);

	(*inner(w))->end_cert(inner(w));
	w->depth++;
}

static unsigned
xw_end_chain(const br_x509_class **ctx)
{
	struct tls_x509 *w = xw(ctx);
	unsigned r = (*inner(w))->end_chain(inner(w));

	if (r != 0)
		return r;
	if (w->iplen != 0 &&
	    (w->ee_overflow ||
		!tls_san_has_ip(w->ee, w->eelen, w->ip, w->iplen)))
		return BR_ERR_X509_BAD_SERVER_NAME;
	w->verified = true;
	if (w->check != NULL &&
	    !w->check(container_of(w, struct tls_conn, xw), w->check_arg)) {
		w->verified = false;
		return TLS_BR_ERR_REVOKED;
	}
	return 0;
}

static const br_x509_pkey *
xw_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
	const struct tls_x509 *w =
	    container_of(ctx, const struct tls_x509, vtable);

	return w->inner->vtable->get_pkey(&w->inner->vtable, usages);
}

static const br_x509_class xw_vtable = {
    sizeof(struct tls_x509),
    xw_start_chain,
    xw_start_cert,
    xw_append,
    xw_end_cert,
    xw_end_chain,
    xw_get_pkey,
};

/* see tls_int.h */
void
tls_x509_wrap(struct tls_x509 *w, br_x509_minimal_context *in,
    const uint8_t *ip, size_t iplen)
{
	w->vtable = &xw_vtable;
	w->inner = in;
	w->optional = NULL;
	w->check = NULL;
	w->check_arg = NULL;
	w->verified = false;
	w->depth = 0;
	w->eelen = 0;
	w->ee_overflow = false;
	w->iplen = iplen <= sizeof(w->ip) ? iplen : 0;
	if (w->iplen > 0)
		memcpy(w->ip, ip, w->iplen);
}

/* see tls_int.h */
void
tls_x509_set_time(br_x509_minimal_context *xc, int64_t unix_s)
{
	int64_t t = unix_s != 0 ? unix_s : util_wall_ms() / 1000;

	/* BearSSL counts days from 1 January of year 0 (Gregorian). */
	br_x509_minimal_set_time(
	    xc, (uint32_t)(t / 86400 + 719528), (uint32_t)(t % 86400));
}
