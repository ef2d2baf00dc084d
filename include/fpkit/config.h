/* fpkit/config.h — strict INI configuration.
 *
 * Files are parsed by inih (Debian's libinih). Every value remembers where it came from
 * ("ou1d.ini:12" or "--set"), so every error names file:line, the key, the value and what was
 * expected. Reading is schema-by-use: the run driver asks for each key it understands, with its
 * type, range and default; afterwards fpk_config_check_unused() rejects any key or section that
 * nothing asked for (a misspelling, or a key that the chosen model does not use), suggesting the
 * closest valid key. fpk_config_resolved() then returns the complete configuration actually used,
 * defaults included, which goes into every output file.
 */
#ifndef FPKIT_CONFIG_H
#define FPKIT_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include "fpkit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fpk_config fpk_config;

/* Reads an INI file. Fails (FPK_EIO) when the file cannot be read, (FPK_EINVAL) on a syntax
 * error, a key given twice, a line too long for inih once its comment is removed, a NUL byte or
 * invalid UTF-8, naming file:line (file:line:column for a byte). Comments: ';' or '#' at the start
 * of a line or after white space, to the end of the line. */
fpk_config *fpk_config_load(const char *path, fpk_error *err);
/* An empty configuration (for programs that build one with fpk_config_set). */
fpk_config *fpk_config_new(const char *name);
void fpk_config_free(fpk_config *c);

/* Applies "section.key=value", replacing any value from the file (and its comment). The value is
 * taken as it is (no comment is removed); invalid UTF-8 is refused. */
int fpk_config_set(fpk_config *c, const char *assignment, fpk_error *err);

/* Whether section.key was given (file or --set). Does not mark it used. */
int fpk_config_has(const fpk_config *c, const char *section, const char *key);

/* Typed getters. With required = 1 a missing key is an error; otherwise *out = the default
 * (already in *out on entry) and the default is recorded in the resolved configuration. */
int fpk_config_string(fpk_config *c, const char *section, const char *key, int required,
                      const char **out, fpk_error *err);
/* One of the NULL-terminated choices; *index receives its position. */
int fpk_config_choice(fpk_config *c, const char *section, const char *key, int required,
                      const char *const *choices, size_t *index, fpk_error *err);
int fpk_config_bool(fpk_config *c, const char *section, const char *key, int required, int *out,
                    fpk_error *err);
/* A finite double in [min, max]; open_min excludes min itself (for "must be > 0"). */
int fpk_config_double(fpk_config *c, const char *section, const char *key, int required,
                      double min, int open_min, double max, double *out, fpk_error *err);
int fpk_config_size(fpk_config *c, const char *section, const char *key, int required,
                    size_t min, size_t max, size_t *out, fpk_error *err);
int fpk_config_u64(fpk_config *c, const char *section, const char *key, int required,
                   uint64_t *out, fpk_error *err);
/* A list of finite doubles separated by white space or commas; a ';' in the value is refused (in a
 * file ';' after white space starts a comment, so "lo = -4;-2" and "lo = -4 ; -2" would differ).
 * Exactly `n` values are expected; with broadcast = 1 a single value is also accepted and copied
 * n times, unless one of the entry's lines had an inline comment ("lo = -4 ; -2"). */
int fpk_config_doubles(fpk_config *c, const char *section, const char *key, int required,
                       size_t n, int broadcast, double *out, fpk_error *err);
/* A list of 1..max_n finite doubles, separated as above; *n receives the count. */
int fpk_config_double_list(fpk_config *c, const char *section, const char *key, int required,
                           size_t max_n, double *out, size_t *n, fpk_error *err);

/* The keys given in [section] (in the file or by --set), in file order, for a section whose every
 * key is data rather than schema (the named parameters of an expression model, [parameters]).
 * Marks them used, so fpk_config_check_unused() accepts them and fpk_config_resolved() lists
 * them; stores the first `max` in keys (strings owned by c) and returns how many there are. */
size_t fpk_config_section_keys(fpk_config *c, const char *section, const char **keys,
                               size_t max);

/* Reports, with file:line, a value that passed its type check but fails a check that involves
 * other keys ("[init] mean = 9 puts 3e-2 of the mass outside the grid"). Returns FPK_EINVAL. */
int fpk_config_invalid(const fpk_config *c, const char *section, const char *key,
                       fpk_error *err, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* FPK_EINVAL naming the first key or section that no getter asked for. */
int fpk_config_check_unused(const fpk_config *c, fpk_error *err);

/* The configuration as used: every key read, with defaults, in INI syntax. Owned by c. */
const char *fpk_config_resolved(fpk_config *c);
/* "path" the configuration was loaded from (or the name given to fpk_config_new). */
const char *fpk_config_name(const fpk_config *c);

#ifdef __cplusplus
}
#endif
#endif
