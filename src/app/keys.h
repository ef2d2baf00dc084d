/* The configuration keys of every command (src/app/keys.c): one table per command, set on the
 * configuration as its schema (fpk_config_add_schema) so that the parser and the listings
 * (`fpkit keys`, `fpkit config TEMPLATE`) cannot drift apart. Internal to the command line. */
#ifndef FPK_APP_KEYS_H
#define FPK_APP_KEYS_H

#include "fpkit/config.h"

/* Sets the key table of `command` ("run", "converge", "bridge", "ot") on c. */
int fpk_app_set_keys(fpk_config *c, const char *command, fpk_error *err);
/* The entry of section.key in the key table of `command` (any key of a data section such as
 * [parameters] matches its "*" entry; a key listed for several models: the first), NULL when
 * there is none (fpkit sweep checks its --over keys with it). */
const fpk_config_key *fpk_app_key_find(const char *command, const char *section,
                                       const char *key);
/* `fpkit keys [COMMAND[/MODEL]]`: the aligned table on stdout; exit status. */
int fpk_app_keys(int argc, char **argv);
/* `fpkit config TEMPLATE | --list`: a commented starting configuration on stdout; exit status. */
int fpk_app_config_template(int argc, char **argv);

#endif
