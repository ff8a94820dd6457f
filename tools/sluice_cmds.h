/*  sluice_cmds - the subcommands of the `sluice` command.

    Each subcommand is a function with main()'s signature: argv[0] is the
    subcommand's own name ("kafka"), so flag parsing starts at argv[1]. It
    returns the process exit code: 0 on success, 1 on a runtime failure,
    2 on bad flags (after printing one line on stderr that says what is
    wrong and how to fix it). sluice.c dispatches through a table; a new
    subcommand is one function here and one row there.
*/
#ifndef SLUICE_CMDS_H_INCLUDED
#define SLUICE_CMDS_H_INCLUDED

/*  sluice kafka: run librdkafka's mock cluster until SIGTERM or SIGINT.  */
int sluice_cmd_kafka (int argc, char **argv);

/*  sluice demo: drain records through a scheduler and workers on the
    embedded broker, then verify nothing was lost.                        */
int sluice_cmd_demo (int argc, char **argv);

/*  sluice status: ask a scheduler for its state and print it as a table
    (or JSON with --json).                                                */
int sluice_cmd_status (int argc, char **argv);

/*  sluice plugin run|check: a plugin author's loop, without Kafka.      */
int sluice_cmd_plugin (int argc, char **argv);

/*  sluice keygen: write a CURVE keypair as czmq certificate files.       */
int sluice_cmd_keygen (int argc, char **argv);

#endif
