/*  sluice keygen - make a CURVE keypair for a scheduler or a worker.

        sluice keygen --out certs/scheduler [--name scheduler-1] [--force]

    writes two files in czmq's certificate format (zcert): certs/scheduler,
    the public certificate to hand to the other side (a worker pins its
    scheduler's; a scheduler accepts the workers' found in
    --curve-clients-dir), and certs/scheduler_secret, the keypair, created
    with mode 0600, to keep. Existing files are not overwritten without
    --force. The public key (Z85) is printed on stdout.
*/
#include <czmq.h>
#include <errno.h>
#include <sys/stat.h>
#include "sl_flags.h"
#include "sluice_cmds.h"

#define PROG "sluice keygen"

//  True if path exists.
static bool
s_exists (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0;
}

int
sluice_cmd_keygen (int argc, char **argv)
{
    char *out = NULL, *name = NULL;
    bool force = false;
    sl_flag_t flags[] = {
        {"out", 0, SL_FLAG_STR, &out, NULL, 0, 0, true, "PATH",
         "write PATH (public) and PATH_secret (keypair, mode 0600)",
         "SLUICE_KEYGEN_OUT"},
        {"name", 0, SL_FLAG_STR, &name, NULL, 0, 0, false, "TEXT",
         "a name stored in the certificates' metadata", "SLUICE_KEYGEN_NAME"},
        {"force", 0, SL_FLAG_BOOL, &force, NULL, 0, 0, false, NULL,
         "overwrite existing files", "SLUICE_KEYGEN_FORCE"},
    };
    size_t nflags = sizeof flags / sizeof flags[0];
    char err[512];
    int rc = sl_flags_parse (PROG, flags, nflags, argc, argv, err, sizeof err);
    if (rc == 1) {
        sl_flags_usage (PROG,
                        "Make a CURVE keypair (czmq certificate format) for "
                        "a scheduler or a worker.",
                        flags, nflags, stdout);
        sl_flags_free (flags, nflags);
        return 0;
    }
    if (rc != 0) {
        fprintf (stderr, "%s\n", err);
        sl_flags_free (flags, nflags);
        return 2;
    }
    char secret[PATH_MAX];
    if (!*out || strlen (out) + 8 > sizeof secret) {
        fprintf (stderr, "%s: --out must be a file path, e.g. certs/worker\n",
                 PROG);
        sl_flags_free (flags, nflags);
        return 2;
    }
    snprintf (secret, sizeof secret, "%s_secret", out);
    if (!force && (s_exists (out) || s_exists (secret))) {
        fprintf (stderr,
                 "%s: %s or %s already exists; pass --force to replace the "
                 "keypair\n",
                 PROG, out, secret);
        sl_flags_free (flags, nflags);
        return 2;
    }
    zsys_init ();
    zsys_set_logstream (NULL);
    rc = 1;
    zcert_t *cert = zcert_new ();
    if (!cert) {
        fprintf (stderr,
                 "%s: cannot make a keypair (is libzmq built with "
                 "CURVE?)\n",
                 PROG);
        goto done;
    }
    if (name && *name)
        zcert_set_meta (cert, "name", "%s", name);
    //  The secret file first, created 0600 by the umask, so it is never
    //  readable by others, not even for a moment.
    mode_t old = umask (077);
    int saved = zcert_save_secret (cert, secret);
    umask (old);
    if (saved != 0 || chmod (secret, 0600) != 0 ||
        zcert_save_public (cert, out) != 0) {
        fprintf (stderr, "%s: cannot write %s and %s: %s\n", PROG, out, secret,
                 strerror (errno));
        goto done;
    }
    printf ("%s\n", zcert_public_txt (cert));
    fprintf (stderr, "%s: wrote %s (public) and %s (secret, mode 0600)\n", PROG,
             out, secret);
    rc = 0;
done:
    zcert_destroy (&cert);
    sl_flags_free (flags, nflags);
    return rc;
}
