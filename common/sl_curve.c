/*  sl_curve - CURVE security for the scheduler/worker sockets. */
#include "sl_curve.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include "sl_log.h"

//  A Z85 key of all zeros: czmq's placeholder for "no key".
static bool
s_key_missing (const char *z85)
{
    return !z85 || !*z85 || strspn (z85, "0") == strlen (z85);
}

//  Load a keypair: cert_path may name the public certificate (its
//  _secret sibling is read) or the secret one itself. Returns NULL with
//  err if the file or its secret key is missing.
static zcert_t *
s_load_keypair (const char *flag, const char *cert_path, char *err,
                size_t errlen)
{
    if (!cert_path || !*cert_path) {
        snprintf (err, errlen,
                  "%s: give the path of a certificate made by "
                  "`sluice keygen`",
                  flag);
        return NULL;
    }
    zcert_t *cert = zcert_load (cert_path);
    if (!cert) {
        snprintf (err, errlen,
                  "%s %s: cannot read a czmq certificate there (%s); make one "
                  "with `sluice keygen --out PATH`",
                  flag, cert_path, strerror (errno));
        return NULL;
    }
    if (s_key_missing (zcert_secret_txt (cert))) {
        snprintf (err, errlen,
                  "%s %s: no secret key in it or in %s_secret; this side "
                  "needs its own keypair, not a public certificate",
                  flag, cert_path, cert_path);
        zcert_destroy (&cert);
        return NULL;
    }
    return cert;
}

//  See sl_curve.h.
int
sl_curve_server (zsock_t *sock, const char *cert_path, const char *clients_dir,
                 bool allow_any, zactor_t **auth_p, char *err, size_t errlen)
{
    *auth_p = NULL;
    if (!allow_any) {
        struct stat st;
        if (!clients_dir || !*clients_dir || stat (clients_dir, &st) != 0 ||
            !S_ISDIR (st.st_mode)) {
            snprintf (err, errlen,
                      "--curve-clients-dir %s: not a directory; put the "
                      "workers' public certificates there, or pass "
                      "--curve-allow-any",
                      clients_dir && *clients_dir ? clients_dir : "(unset)");
            return -1;
        }
    }
    zcert_t *cert = s_load_keypair ("--curve-cert", cert_path, err, errlen);
    if (!cert)
        return -1;
    zactor_t *auth = zactor_new (zauth, NULL);
    if (!auth) {
        zcert_destroy (&cert);
        snprintf (err, errlen, "cannot start the CURVE authenticator");
        return -1;
    }
    zstr_sendx (auth, "CURVE", allow_any ? CURVE_ALLOW_ANY : clients_dir, NULL);
    zsock_wait (auth);
    zcert_apply (cert, sock);
    zsock_set_curve_server (sock, 1);
    zsock_set_zap_domain (sock, "sluice");
    sl_info ("CURVE on public_key=%s clients=%s", zcert_public_txt (cert),
             allow_any ? "any" : clients_dir);
    zcert_destroy (&cert);
    *auth_p = auth;
    return 0;
}

//  See sl_curve.h.
int
sl_curve_client (zsock_t *sock, const char *cert_path,
                 const char *server_cert_path, char *err, size_t errlen)
{
    zcert_t *cert = s_load_keypair ("--curve-cert", cert_path, err, errlen);
    if (!cert)
        return -1;
    zcert_t *server = server_cert_path && *server_cert_path
                          ? zcert_load (server_cert_path)
                          : NULL;
    if (!server || s_key_missing (zcert_public_txt (server))) {
        snprintf (err, errlen,
                  "--curve-server-cert %s: cannot read the scheduler's public "
                  "certificate there; copy it from the scheduler's `sluice "
                  "keygen` output",
                  server_cert_path && *server_cert_path ? server_cert_path
                                                        : "(unset)");
        zcert_destroy (&cert);
        zcert_destroy (&server);
        return -1;
    }
    zcert_apply (cert, sock);
    zsock_set_curve_serverkey (sock, zcert_public_txt (server));
    zcert_destroy (&cert);
    zcert_destroy (&server);
    return 0;
}

//  See sl_curve.h.
zactor_t *
sl_curve_monitor_new (zsock_t *sock)
{
    zactor_t *monitor = zactor_new (zmonitor, sock);
    if (!monitor)
        return NULL;
    zstr_sendx (monitor, "LISTEN", "HANDSHAKE_FAILED_NO_DETAIL",
                "HANDSHAKE_FAILED_PROTOCOL", "HANDSHAKE_FAILED_AUTH",
                "HANDSHAKE_SUCCEEDED", NULL);
    zstr_sendx (monitor, "START", NULL);
    zsock_wait (monitor);
    return monitor;
}

//  See sl_curve.h.
void
sl_curve_event_log (const char *side, const char *event, const char *value,
                    const char *address)
{
    if (streq (event, "HANDSHAKE_SUCCEEDED"))
        sl_debug ("handshake ok side=%s peer=%s", side,
                  address ? address : "-");
    else if (strncmp (event, "HANDSHAKE_FAILED", 16) == 0)
        sl_warn ("handshake refused side=%s peer=%s reason=%s detail=%s", side,
                 address ? address : "-",
                 streq (event, "HANDSHAKE_FAILED_AUTH")
                     ? "authentication (unknown or wrong key)"
                 : streq (event, "HANDSHAKE_FAILED_PROTOCOL")
                     ? "protocol (a plaintext peer, or CURVE settings that "
                       "do not match)"
                     : "handshake failed",
                 value ? value : "-");
}

//  See sl_curve.h.
void
sl_curve_monitor_log (zactor_t *monitor, const char *side)
{
    zmsg_t *msg = zmsg_recv (monitor);
    if (!msg)
        return;
    char *event = zmsg_popstr (msg);
    char *value = zmsg_popstr (msg);
    char *address = zmsg_popstr (msg);
    if (event)
        sl_curve_event_log (side, event, value, address);
    zstr_free (&event);
    zstr_free (&value);
    zstr_free (&address);
    zmsg_destroy (&msg);
}
