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

/* Parses INI text from memory: `len` bytes at `text` (NUL bytes included, and refused like any
 * other; no terminating NUL is needed; text may be NULL when len is 0). `name` stands for the
 * file in every message ("name:line"; NULL gives "config") and is what fpk_config_name returns.
 * The rules and the messages are those of fpk_config_load, which reads a file whole and calls
 * this: fails (FPK_EINVAL) on a syntax error, a key before any [section], a key given twice, a
 * line too long for inih once its comment is removed (198 bytes of content), a section or key
 * name over 49 bytes, text after a section header, a NUL byte or invalid UTF-8 (a UTF-8 byte
 * order mark may start the text), naming name:line (name:line:column for a byte); FPK_ENOMEM when
 * out of memory. Comments: ';' or '#' at the start of a line or after white space, to the end of
 * the line. Lines end at '\n' ("\r\n" too: the '\r' is white space); the last needs none. The
 * text is not kept: the configuration owns copies of every name and value. */
fpk_config *fpk_config_parse(const char *name, const char *text, size_t len, fpk_error *err);
/* The largest configuration file fpk_config_load reads (16 MiB: a configuration is a few kB). */
#define FPK_CONFIG_MAX_BYTES (16 << 20)
/* Reads an INI file whole and parses it (fpk_config_parse, with the path as the name). Fails
 * (FPK_EIO) when the file cannot be opened or read, (FPK_EINVAL) when it is larger than
 * FPK_CONFIG_MAX_BYTES or does not parse. */
fpk_config *fpk_config_load(const char *path, fpk_error *err);
/* An empty configuration (for programs that build one with fpk_config_set). */
fpk_config *fpk_config_new(const char *name);
void fpk_config_free(fpk_config *c);

/* Applies "section.key=value", replacing any value from the file (and its comment). The value is
 * taken as it is (no comment is removed), but it must be one a file could hold, since the
 * resolved configuration writes it back in a file's syntax: invalid UTF-8, a line break, a ';' or
 * '#' after white space (a comment in a file), a section or key name over 49 bytes, and a value
 * that cannot be split at single spaces into lines of 198 bytes are refused (FPK_EINVAL). */
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

/* A matrix of finite doubles (a noise matrix, issue 16): one row per line — the key's line and
 * its indented continuation lines —, or rows separated by '|' (for --set: "model.sigma=1 0 | 0.5
 * 1"); the numbers of a row separated as in a list. 1..max_rows rows (at most 16), each of
 * 1..max_cols numbers, every row the same count; *rows and *cols receive the shape, out (room for
 * max_rows*max_cols) the entries row-major. A value read so is kept with '|' between its rows, so
 * the resolved configuration reads back as the same matrix. The caller checks the shape against
 * what it needs (fpk_config_invalid). The key is a "list" in the key table. */
int fpk_config_matrix(fpk_config *c, const char *section, const char *key, int required,
                      size_t max_rows, size_t max_cols, double *out, size_t *rows, size_t *cols,
                      fpk_error *err);
/* The same rows as text (a matrix of expressions): *text is the value with " | " between rows
 * (owned by c), *nrows the number of rows. The key is a "string" in the key table. */
int fpk_config_matrix_text(fpk_config *c, const char *section, const char *key, int required,
                           size_t max_rows, const char **text, size_t *nrows, fpk_error *err);

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

/* The configuration as used: every key read, with defaults, in INI syntax. Owned by c. It reads
 * back (fpk_config_parse) as the same values: a long value is written over indented continuation
 * lines split at single spaces, and "key=value" is written where "key = value" would not read
 * back (a value starting with ';' or '#', or a line one or two bytes too long). */
const char *fpk_config_resolved(fpk_config *c);
/* ---- The key table (schema) ------------------------------------------------------------
 * A program that reads a configuration declares every key it may ask for in a table: section,
 * key, type, default, range and a one-line description. The same table drives listings and
 * templates (`fpkit keys`, `fpkit config`), and, once set on a configuration, every typed getter
 * checks that the key it is asked for is in the table with the same type, requirement, default
 * and range; a mismatch fails with an "internal error" message naming both, so a table that has
 * drifted from the code fails the first test or run that reads that key. */
typedef enum fpk_key_type {
  FPK_KEY_DOUBLE,      /* fpk_config_double: min, max, open_min */
  FPK_KEY_SIZE,        /* fpk_config_size: imin, imax */
  FPK_KEY_U64,         /* fpk_config_u64 */
  FPK_KEY_BOOL,        /* fpk_config_bool: def "true" or "false" */
  FPK_KEY_CHOICE,      /* fpk_config_choice: choices */
  FPK_KEY_STRING,      /* fpk_config_string */
  FPK_KEY_LIST,        /* fpk_config_doubles: a fixed count of numbers (per axis, ...) */
  FPK_KEY_DOUBLE_LIST, /* fpk_config_double_list: 1 to imax numbers */
  FPK_KEY_DATA         /* key "*": every key of the section is data (fpk_config_section_keys),
                          each read as a finite double ([parameters]) */
} fpk_key_type;

#define FPK_KEY_REQUIRED 1u /* no default: the key must be given (getters pass required = 1) */
#define FPK_KEY_VARIES 2u   /* the default, range or requirement depends on other keys (doc
                               says how): only the type (and choices) are checked */
#define FPK_KEY_OPEN_MAX 4u /* FPK_KEY_DOUBLE: max itself is refused too, by a check the command
                               makes after the getter (which has closed upper bounds): listed as
                               "..., max)" */

typedef struct fpk_config_key {
  const char *section, *key;
  fpk_key_type type;
  unsigned flags;           /* FPK_KEY_REQUIRED, FPK_KEY_VARIES, FPK_KEY_OPEN_MAX */
  const char *def;          /* the default as text ("0.5", "true", a choice; a list default is
                               one number for every entry); NULL: none (required, or absent) */
  double min, max;          /* FPK_KEY_DOUBLE: the range; open_min excludes min */
  int open_min;
  uint64_t imin, imax;      /* FPK_KEY_SIZE: the range; FPK_KEY_DOUBLE_LIST: imax numbers */
  const char *const *choices; /* FPK_KEY_CHOICE: NULL-terminated */
  const char *example;      /* a value for a template when there is no default */
  const char *when;         /* NULL: always read; else when it is ("model.type = ou") */
  const char *doc;          /* one line */
} fpk_config_key;

/* Adds a table of n keys to the schema of c (at most 8 tables; the table is not copied and must
 * outlive c). Getters then check every key against the tables; a key may appear in several
 * entries (a key whose range differs between models), and matches when one entry does. */
int fpk_config_add_schema(fpk_config *c, const fpk_config_key *table, size_t n, fpk_error *err);
/* Type names for listings: "double", "size", "u64", "bool", "choice", "string", "list",
 * "list", "data". */
const char *fpk_config_type_name(fpk_key_type t);

/* "path" the configuration was loaded from (or the name given to fpk_config_new). */
const char *fpk_config_name(const fpk_config *c);

#ifdef __cplusplus
}
#endif
#endif
