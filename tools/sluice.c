/*  sluice - the command-line front door: `sluice <command> [flags]`.

    main() only picks a subcommand from the table and runs it; each
    subcommand parses its own flags (see sluice_cmds.h).
*/
#include "sluice_cmds.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run) (int argc, char **argv);
    const char *summary;
} s_command_t;

static const s_command_t s_commands[] = {
    {"kafka", sluice_cmd_kafka,
     "run an embedded Kafka cluster (librdkafka's mock) until SIGTERM"},
    {"demo", sluice_cmd_demo,
     "drain 100,000 records with 4 workers on the embedded broker"},
    {"status", sluice_cmd_status,
     "print a scheduler's partitions and workers (--json for scripts)"},
    {"plugin", sluice_cmd_plugin,
     "run a plugin on records from stdin, or check it (no Kafka needed)"},
    {"keygen", sluice_cmd_keygen,
     "make a CURVE keypair (czmq certificate files) for a scheduler or worker"},
};

#define S_COMMAND_COUNT (sizeof s_commands / sizeof s_commands[0])

//  Print the list of commands.
static void
s_usage (FILE *out)
{
    fprintf (out, "usage: sluice <command> [flags]\n\ncommands:\n");
    for (size_t i = 0; i < S_COMMAND_COUNT; i++)
        fprintf (out, "  %-8s %s\n", s_commands[i].name, s_commands[i].summary);
    fprintf (out, "\n'sluice <command> --help' describes a command's flags.\n");
}

//  Find a command by name; NULL if there is none.
static const s_command_t *
s_command_find (const char *name)
{
    for (size_t i = 0; i < S_COMMAND_COUNT; i++)
        if (strcmp (s_commands[i].name, name) == 0)
            return &s_commands[i];
    return NULL;
}

//  Print the command names as "a, b, c" for error messages.
static void
s_command_names (char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = 0;
    for (size_t i = 0; i < S_COMMAND_COUNT && len < size; i++) {
        int n = snprintf (buf + len, size - len, "%s%s", i ? ", " : "",
                          s_commands[i].name);
        if (n < 0)
            break;
        len += (size_t)n;
    }
}

int
main (int argc, char **argv)
{
    if (argc < 2) {
        fprintf (stderr, "sluice: no command given; run 'sluice --help' "
                         "for the list\n");
        return 2;
    }
    const char *name = argv[1];
    if (strcmp (name, "--help") == 0 || strcmp (name, "-h") == 0 ||
        strcmp (name, "help") == 0) {
        s_usage (stdout);
        return 0;
    }
    const s_command_t *command = s_command_find (name);
    if (!command) {
        char names[256];
        s_command_names (names, sizeof names);
        fprintf (stderr,
                 "sluice: unknown command '%s'; use one of: %s (see sluice "
                 "--help)\n",
                 name, names);
        return 2;
    }
    return command->run (argc - 1, argv + 1);
}
