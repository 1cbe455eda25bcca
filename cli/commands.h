/* Subcommands of the reinpatch CLI: each takes (argc, argv) with argv[0] = the command name and
 * returns the process exit status (0 ok, 1 failure, 2 usage error). */
#ifndef RP_CLI_COMMANDS_H
#define RP_CLI_COMMANDS_H

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_segment(int argc, char **argv);
int cmd_export_patcher(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_report(int argc, char **argv);

#endif
