/* Strict INI configuration on top of inih (fpkit/config.h).
 *
 * Text is parsed from memory (fpk_config_parse; fpk_config_load reads the file whole, then parses
 * it, so a file and a buffer follow one path). inih still parses sections, keys, values and
 * continuation lines, but it never sees the text: ini_parse_stream gets line_reader, which cuts
 * whole lines itself and hands inih one line per call. Two reasons. inih's handler carries no
 * line number in Debian's build (INI_HANDLER_LINENO = 0), so the reader counts lines: when the
 * handler runs, the count is the line being parsed. And Debian's inih (r55: INI_MAX_LINE 200 on
 * the stack, no realloc) takes whatever one fgets-style call returns as a line: a line of 200
 * bytes or more came back in 199-byte pieces, each parsed as a line of its own, so the tail of a
 * long comment became a key and every line number after it was off. The reader never splits or
 * truncates: it removes the comment (one rule, below), then refuses a line whose content does not
 * fit inih's buffer, a NUL byte and invalid UTF-8, with file:line[:column]. */
#include "fpkit/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

typedef struct entry {
  char *section, *key, *value;
  int line;      /* > 0: line in the file; 0: --set; -1: default supplied by a getter */
  int used;
  size_t order;  /* when it was first read, for the resolved listing */
  char *comment;    /* the inline comment of one of its lines ("; -2"), or NULL */
  int comment_line; /* the line of that comment (the key's, or a continuation line's) */
  /* Where each continuation line starts in value (the rows of a matrix, fpk_config_matrix):
   * nlines lines in all, the offsets of lines 1..ROWS_MAX-1 kept. */
  size_t nlines;
  size_t line_start[16];
} entry;
#define ROWS_MAX 16

struct fpk_config {
  char *name;
  entry *e;
  size_t n, cap;
  size_t reads;
  char *resolved;
  /* parse state */
  const char *text;   /* the whole text being parsed, len bytes (NULs included) */
  size_t len, pos;    /* pos: the start of the next line */
  char *buf;          /* a copy of the line being parsed, whatever its length */
  size_t bufcap;
  int line;
  int continuation;    /* the line being parsed starts with white space */
  const char *comment; /* its inline comment (in buf), NULL if none */
  entry *last;         /* the pair parsed last, for continuation lines */
  fpk_error *perr;
  /* the key tables (fpk_config_add_schema), checked by every getter when nschema > 0 */
  const fpk_config_key *schema[8];
  size_t schema_n[8], nschema;
};

/* inih's own limits on names (MAX_SECTION and MAX_NAME in ini.c, 50 with the NUL): it copies a
 * longer section name cut short with strncpy, and a continuation line reaches the handler under
 * the previous key's name cut the same way. */
#define INI_NAME_MAX 49
/* The content of one line that inih's buffer holds (INI_MAX_LINE with its '\n' and NUL). */
#define INI_CONTENT_MAX (INI_MAX_LINE - 2)

static char *dup(const char *s) {
  size_t k = strlen(s) + 1;
  char *d = malloc(k);
  if (d) memcpy(d, s, k);
  return d;
}

static entry *find(const fpk_config *c, const char *section, const char *key) {
  for (size_t i = 0; i < c->n; i++)
    if (strcmp(c->e[i].section, section) == 0 && strcmp(c->e[i].key, key) == 0) return &c->e[i];
  return NULL;
}

static entry *add(fpk_config *c, const char *section, const char *key, const char *value,
                  int line) {
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 32;
    entry *e = realloc(c->e, cap * sizeof *e);
    if (!e) return NULL;
    c->e = e;
    c->cap = cap;
  }
  entry *x = &c->e[c->n];
  *x = (entry){dup(section), dup(key), dup(value), line, 0, 0, NULL, 0, 1, {0}};
  if (!x->section || !x->key || !x->value) {
    free(x->section), free(x->key), free(x->value);
    return NULL;
  }
  c->n++;
  return x;
}

/* "file:12" or "--set" or "default": where a value came from. */
static void origin(const fpk_config *c, const entry *x, char *buf, size_t len) {
  if (!x || x->line < 0)
    snprintf(buf, len, "%s", c->name);
  else if (x->line == 0)
    snprintf(buf, len, "--set");
  else
    snprintf(buf, len, "%s:%d", c->name, x->line);
}

fpk_config *fpk_config_new(const char *name) {
  fpk_config *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->name = dup(name ? name : "config");
  if (!c->name) {
    free(c);
    return NULL;
  }
  return c;
}

void fpk_config_free(fpk_config *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) {
    entry *x = &c->e[i];
    free(x->section), free(x->key), free(x->value), free(x->comment);
  }
  free(c->e);
  free(c->name);
  free(c->resolved);
  free(c);
}

static int blank(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\v' || ch == '\f';
}

/* Appends k bytes to out[*len..] (cap bytes in all, room kept for a NUL; out may be NULL) and
 * counts them in *len whether they fit or not. */
static void emit(char *out, size_t cap, size_t *len, const char *p, size_t k) {
  if (out && *len + 1 < cap) memcpy(out + *len, p, *len + k < cap ? k : cap - 1 - *len);
  *len += k;
}

/* Writes `key = value` as fpkit's reader reads it back (out may be NULL to measure): one line
 * when it fits in INI_CONTENT_MAX bytes, else the value split over indented continuation lines,
 * which the reader joins with one space. A split is made only at a single space between two
 * non-blank characters, the second of which starts no comment and no section header (';', '#',
 * '['), so the pieces read back exactly; the first line is "key=piece" when "key = piece" would
 * not fit or when the value starts with ';' or '#' (which would start a comment after a space).
 * Returns the length written (without a NUL; at most cap - 1 bytes are stored), or -1 when the
 * value cannot be written so: a run of more than a line's worth of bytes without such a space, a
 * line break in it, or a comment character after white space. */
static long entry_text(const char *key, const char *value, char *out, size_t cap) {
  const size_t kl = strlen(key), vl = strlen(value);
  for (size_t i = 0; i < vl; i++)
    if (value[i] == '\n' ||
        ((value[i] == ';' || value[i] == '#') && i > 0 && blank(value[i - 1])))
      return -1;
  /* "key = ;x" would be a comment: a value that starts with one is written "key=;x" */
  const int starts_comment = vl > 0 && (value[0] == ';' || value[0] == '#');
  size_t len = 0;
#define EMIT(p, k) emit(out, cap, &len, p, k)
  for (int tight = starts_comment; tight < 2; tight++) {
    const char *eq = tight ? "=" : " = ";
    const size_t el = strlen(eq);
    if (kl + el > INI_CONTENT_MAX) return -1;
    size_t pos = 0, budget = INI_CONTENT_MAX - kl - el, ok = 1;
    len = 0;
    EMIT(key, kl);
    EMIT(eq, el);
    while (vl - pos > budget) {
      size_t cut = 0; /* the last allowed split within the budget */
      for (size_t p = pos + 1; p <= pos + budget && p + 1 < vl; p++)
        if (value[p] == ' ' && !blank(value[p - 1]) && !blank(value[p + 1]) &&
            !strchr(";#[", value[p + 1]))
          cut = p;
      if (!cut) {
        ok = 0;
        break;
      }
      EMIT(value + pos, cut - pos);
      EMIT("\n ", 2);
      pos = cut + 1;
      budget = INI_CONTENT_MAX - 1;
    }
    if (!ok) {
      if (pos == 0) continue; /* the first piece did not fit: try "key=" */
      return -1;
    }
    EMIT(value + pos, vl - pos);
    EMIT("\n", 1);
    if (out && cap) out[len < cap ? len : cap - 1] = '\0';
    return (long)len;
  }
#undef EMIT
  return -1;
}

/* Offset of the first byte of s[0..n) that is a NUL or starts an ill-formed UTF-8 sequence
 * (Unicode 15, table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF), or n. */
static size_t bad_text(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char b = s[i];
    if (b > 0 && b < 0x80) {
      i++;
      continue;
    }
    size_t k;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) k = 1;
    else if (b == 0xE0) k = 2, lo = 0xA0;
    else if (b == 0xED) k = 2, hi = 0x9F;
    else if (b >= 0xE1 && b <= 0xEF) k = 2;
    else if (b == 0xF0) k = 3, lo = 0x90;
    else if (b == 0xF4) k = 3, hi = 0x8F;
    else if (b >= 0xF1 && b <= 0xF3) k = 3;
    else return i; /* NUL, a continuation byte, 0xC0, 0xC1, 0xF5..0xFF */
    if (n - i <= k || s[i + 1] < lo || s[i + 1] > hi) return i;
    for (size_t j = 2; j <= k; j++)
      if ((s[i + j] & 0xC0) != 0x80) return i;
    i += k + 1;
  }
  return n;
}

/* Reports a NUL byte or invalid UTF-8 at byte offset `at` of s ("file:4:12: ..."). */
static int text_error(fpk_error *err, const char *where, const unsigned char *s, size_t at) {
  if (s[at] == 0)
    return fpk_error_set(err, FPK_EINVAL,
                         "%s:%zu: NUL byte (a configuration file is text; the rest of the line "
                         "would be ignored)",
                         where, at + 1);
  return fpk_error_set(err, FPK_EINVAL,
                       "%s:%zu: invalid UTF-8 (byte 0x%02X; a configuration file is UTF-8 text)",
                       where, at + 1, s[at]);
}

/* The ini_reader given to ini_parse_stream: an fgets with inih's buffer (str, num), fed from
 * whole lines. The one comment rule: ';' or '#' starts a comment at the start of a line (after
 * optional white space) or after white space anywhere in it. The comment is removed here, so inih
 * never applies its own rules (';' only, inline only after white space); a full-line comment of
 * any length is handed over as an empty line, and an inline comment is remembered (c->comment)
 * for the handler, so that a single value with a comment after it is not broadcast (a file said
 * "lo = -4 ; -2" and meant two numbers). Returns NULL at the end of the file and on an error,
 * which is left in c->perr. */
static char *line_reader(char *str, int num, void *stream) {
  fpk_config *c = stream;
  if (c->perr->status || c->pos >= c->len) return NULL; /* the first error, or the end */
  /* The next line, its '\n' included (none at the end of a text without one), copied into buf
   * with a NUL after it; NUL bytes inside it are kept, to be refused below rather than ending
   * the line there unseen. */
  const char *at = c->text + c->pos;
  const char *nl = memchr(at, '\n', c->len - c->pos);
  size_t n = nl ? (size_t)(nl - at) + 1 : c->len - c->pos;
  if (c->line == INT_MAX) {
    fpk_error_set(c->perr, FPK_EINVAL, "%s: more than %d lines", c->name, INT_MAX);
    return NULL;
  }
  if (n + 1 > c->bufcap) {
    char *b = realloc(c->buf, n + 1);
    if (!b) {
      fpk_error_set(c->perr, FPK_ENOMEM, "%s:%d: out of memory", c->name, c->line + 1);
      return NULL;
    }
    c->buf = b;
    c->bufcap = n + 1;
  }
  memcpy(c->buf, at, n);
  c->buf[n] = '\0';
  c->pos += n;
  c->line++;
  char *s = c->buf, where[512];
  snprintf(where, sizeof where, "%s:%d", c->name, c->line);
  size_t bad = bad_text((const unsigned char *)s, n);
  if (bad < n) {
    text_error(c->perr, where, (const unsigned char *)s, bad);
    return NULL;
  }
  size_t start = 0; /* a UTF-8 byte order mark is allowed at the start of the file */
  if (c->line == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) start = 3;
  size_t end = n, cut = n;
  for (size_t i = start; i < n; i++)
    if ((s[i] == ';' || s[i] == '#') && (i == start || blank(s[i - 1]))) {
      cut = i;
      break;
    }
  size_t len = cut; /* the content: up to the comment, without trailing white space */
  while (len > start && blank(s[len - 1])) len--;
  while (end > cut && blank(s[end - 1])) end--;
  s[end] = '\0';
  len -= start;
  c->comment = cut < n && len > 0 ? s + cut : NULL;
  /* inih's buffer holds num bytes: the content, '\n' and the NUL. A line that does not fit is
   * refused whole, never split. */
  size_t limit = num > 2 ? (size_t)num - 2 : 0;
  if (len > limit) {
    fpk_error_set(c->perr, FPK_EINVAL,
                  "%s: line is %zu bytes long%s; the limit is %zu: split a long value over "
                  "indented continuation lines",
                  where, len, cut < n ? " (after removing its comment)" : "", limit);
    return NULL;
  }
  memcpy(str, s + start, len);
  str[len] = '\n';
  str[len + 1] = '\0';
  c->continuation = len > 0 && blank(str[0]);
  /* A section header: inih ignores whatever follows its ']' and cuts a long name short. */
  char *h = str;
  while (blank(*h)) h++;
  if (*h == '[') {
    char *close = strchr(h, ']');
    if (close) {
      char *rest = close + 1;
      while (blank(*rest)) rest++;
      if (*rest) {
        str[len] = '\0';
        fpk_error_set(c->perr, FPK_EINVAL,
                      "%s: '%s' after the section header '%.*s': put it on a line of its own",
                      where, rest, (int)(close + 1 - h), h);
        return NULL;
      }
      if (close - h - 1 > INI_NAME_MAX) {
        fpk_error_set(c->perr, FPK_EINVAL,
                      "%s: section name is %zu bytes long; the limit is %d", where,
                      (size_t)(close - h - 1), INI_NAME_MAX);
        return NULL;
      }
    }
  }
  return str;
}

/* Keeps the current line's inline comment with x, unless one of its lines had one already. */
static int note_comment(fpk_config *c, entry *x) {
  if (!c->comment || x->comment) return FPK_SUCCESS;
  if (!(x->comment = dup(c->comment)))
    return fpk_error_set(c->perr, FPK_ENOMEM, "%s: out of memory", c->name);
  x->comment_line = c->line;
  return FPK_SUCCESS;
}

static int on_pair(void *user, const char *section, const char *name, const char *value) {
  fpk_config *c = user;
  if (c->perr->status) return 1; /* keep the first error */
  if (section[0] == '\0') {
    fpk_error_set(c->perr, FPK_EINVAL, "%s:%d: key '%s' appears before any [section]", c->name,
                  c->line, name);
    return 1;
  }
  if (strlen(name) > INI_NAME_MAX) {
    fpk_error_set(c->perr, FPK_EINVAL, "%s:%d: key is %zu bytes long; the limit is %d", c->name,
                  c->line, strlen(name), INI_NAME_MAX);
    return 1;
  }
  entry *old = find(c, section, name);
  if (old && old == c->last && c->continuation) {
    /* inih hands an indented line after "key = v" over as the same key again (multi-line
     * values): append it, so a matrix may be written one row per line. */
    size_t k = strlen(old->value), m = strlen(value);
    char *v = realloc(old->value, k + m + 2);
    if (!v) return fpk_error_set(c->perr, FPK_ENOMEM, "%s: out of memory", c->name), 1;
    if (k) v[k++] = ' '; /* "key =" then indented lines: no leading space */
    memcpy(v + k, value, m + 1);
    old->value = v;
    if (k == 0) /* "key =" alone: the first indented line is the first row */
      old->nlines = 1;
    else if (old->nlines++ < ROWS_MAX)
      old->line_start[old->nlines - 1] = k;
    note_comment(c, old);
    return 1;
  }
  if (old) {
    fpk_error_set(c->perr, FPK_EINVAL, "%s:%d: [%s] %s given twice (first at line %d)", c->name,
                  c->line, section, name, old->line);
    return 1;
  }
  c->last = add(c, section, name, value, c->line);
  if (!c->last)
    fpk_error_set(c->perr, FPK_ENOMEM, "%s: out of memory", c->name);
  else
    note_comment(c, c->last);
  return 1;
}

fpk_config *fpk_config_parse(const char *name, const char *text, size_t len, fpk_error *err) {
  fpk_error local;
  fpk_error *e = err ? err : &local;
  fpk_error_clear(e);
  if (!text && len) {
    fpk_error_set(e, FPK_EINVAL, "%s: no text (NULL with %zu bytes)", name ? name : "config",
                  len);
    return NULL;
  }
  fpk_config *c = fpk_config_new(name);
  if (!c) {
    fpk_error_set(e, FPK_ENOMEM, "out of memory reading '%s'", name ? name : "config");
    return NULL;
  }
  c->text = text;
  c->len = len;
  c->pos = 0;
  c->perr = e;
  int rc = ini_parse_stream(line_reader, c, on_pair, c);
  c->text = NULL;
  free(c->buf);
  c->buf = NULL;
  c->bufcap = 0;
  c->comment = NULL;
  c->last = NULL;
  c->perr = NULL;
  if (!e->status && rc > 0)
    fpk_error_set(e, FPK_EINVAL,
                  "%s:%d: syntax error (expected '[section]', 'key = value' or a comment)",
                  c->name, rc);
  else if (!e->status && rc < 0)
    fpk_error_set(e, FPK_ENOMEM, "out of memory parsing '%s'", c->name);
  if (e->status) {
    fpk_config_free(c);
    return NULL;
  }
  return c;
}

fpk_config *fpk_config_load(const char *path, fpk_error *err) {
  fpk_error local;
  fpk_error *e = err ? err : &local;
  fpk_error_clear(e);
  FILE *fp = fopen(path, "r");
  if (!fp) {
    fpk_error_set(e, FPK_EIO, "cannot read config file '%s': %s", path, strerror(errno));
    return NULL;
  }
  /* The whole file (a pipe or a FIFO too), at most FPK_CONFIG_MAX_BYTES. */
  char *text = NULL;
  size_t len = 0, cap = 0;
  int failed = 0;
  for (;;) {
    if (len == cap) {
      if (cap > FPK_CONFIG_MAX_BYTES) {
        fpk_error_set(e, FPK_EINVAL,
                      "config file '%s' is larger than %d MiB: not a configuration", path,
                      FPK_CONFIG_MAX_BYTES >> 20);
        failed = 1;
        break;
      }
      size_t ncap = cap ? 2 * cap : 4096;
      if (ncap > (size_t)FPK_CONFIG_MAX_BYTES + 1) ncap = (size_t)FPK_CONFIG_MAX_BYTES + 1;
      char *t = realloc(text, ncap);
      if (!t) {
        fpk_error_set(e, FPK_ENOMEM, "out of memory reading '%s'", path);
        failed = 1;
        break;
      }
      text = t;
      cap = ncap;
    }
    errno = 0;
    len += fread(text + len, 1, cap - len, fp);
    if (ferror(fp)) {
      fpk_error_set(e, FPK_EIO, "cannot read config file '%s': %s", path,
                    strerror(errno ? errno : EIO));
      failed = 1;
      break;
    }
    if (feof(fp)) break;
  }
  fclose(fp);
  fpk_config *c = failed ? NULL : fpk_config_parse(path, text, len, e);
  free(text);
  return c;
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  size_t k = strlen(s);
  while (k > 0 && isspace((unsigned char)s[k - 1])) s[--k] = '\0';
  return s;
}

static void respaced(const char *s, char *out, size_t len);

int fpk_config_set(fpk_config *c, const char *assignment, fpk_error *err) {
  char buf[1024];
  /* A --set value is taken as it is: no comment is removed (a shell word has none), but it must
   * be text like a file, and the list getters refuse ';' in it as in a file. */
  size_t bad = bad_text((const unsigned char *)assignment, strlen(assignment));
  if (assignment[bad])
    return fpk_error_set(err, FPK_EINVAL,
                         "--set: invalid UTF-8 at byte %zu of the assignment (byte 0x%02X)",
                         bad + 1, (unsigned char)assignment[bad]);
  if (strlen(assignment) >= sizeof buf)
    return fpk_error_set(err, FPK_EINVAL, "--set %.40s...: too long", assignment);
  strcpy(buf, assignment);
  char *eq = strchr(buf, '=');
  char *dot = strchr(buf, '.');
  if (!eq || !dot || dot > eq)
    return fpk_error_set(err, FPK_EINVAL,
                         "--set '%s': expected section.key=value (e.g. --set grid.n=200)",
                         assignment);
  *eq = '\0';
  *dot = '\0';
  char *section = trim(buf), *key = trim(dot + 1), *value = trim(eq + 1);
  if (!*section || !*key)
    return fpk_error_set(err, FPK_EINVAL, "--set '%s': empty section or key", assignment);
  /* The value must be one a file could hold: the resolved configuration, stored in every output
   * file, writes it in a file's syntax, and reading that back must give the same value. */
  if (strlen(section) > INI_NAME_MAX || strlen(key) > INI_NAME_MAX)
    return fpk_error_set(err, FPK_EINVAL,
                         "--set '%.60s...': %s name is %zu bytes long; the limit is %d",
                         assignment, strlen(section) > INI_NAME_MAX ? "section" : "key",
                         strlen(section) > INI_NAME_MAX ? strlen(section) : strlen(key),
                         INI_NAME_MAX);
  const char *nl = strchr(value, '\n');
  if (nl)
    return fpk_error_set(err, FPK_EINVAL,
                         "--set %s.%s: the value has a line break (at byte %zu): a value is one "
                         "line", section, key, (size_t)(nl - value) + 1);
  for (const char *p = value; *p; p++)
    if ((*p == ';' || *p == '#') && p > value && blank(p[-1])) {
      char fixed[256];
      respaced(value, fixed, sizeof fixed);
      return fpk_error_set(err, FPK_EINVAL,
                           "--set %s.%s = '%s': '%c' after white space starts a comment in a "
                           "configuration file, so the value could not be stored as it is in the "
                           "resolved configuration%s%s%s",
                           section, key, value, *p,
                           *p == ';' ? " (lists are separated by spaces or commas: '" : "",
                           *p == ';' ? fixed : "", *p == ';' ? "')" : "");
    }
  if (entry_text(key, value, NULL, 0) < 0)
    return fpk_error_set(err, FPK_EINVAL,
                         "--set %s.%s: the value (%zu bytes) cannot be split at single spaces "
                         "into lines of at most %d bytes, so it could not be stored in the "
                         "resolved configuration",
                         section, key, strlen(value), INI_CONTENT_MAX);
  entry *x = find(c, section, key);
  if (x) {
    char *v = dup(value);
    if (!v) return fpk_error_set(err, FPK_ENOMEM, "out of memory");
    free(x->value);
    x->value = v;
    x->line = 0;
    x->nlines = 1;
    free(x->comment); /* the file's comment went with the file's value */
    x->comment = NULL;
    x->comment_line = 0;
    return FPK_SUCCESS;
  }
  if (!add(c, section, key, value, 0)) return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  return FPK_SUCCESS;
}

int fpk_config_has(const fpk_config *c, const char *section, const char *key) {
  return find(c, section, key) != NULL;
}

const char *fpk_config_name(const fpk_config *c) { return c->name; }

/* Levenshtein distance, for "did you mean" suggestions. */
static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 63 || lb > 63) return (size_t)-1;
  size_t row[64];
  for (size_t j = 0; j <= lb; j++) row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

/* ---- the key table (fpk_config_add_schema) */

int fpk_config_add_schema(fpk_config *c, const fpk_config_key *table, size_t n, fpk_error *err) {
  if (c->nschema == sizeof c->schema / sizeof c->schema[0])
    return fpk_error_set(err, FPK_EINVAL, "fpk_config_add_schema: at most %zu tables",
                         sizeof c->schema / sizeof c->schema[0]);
  c->schema[c->nschema] = table;
  c->schema_n[c->nschema++] = n;
  return FPK_SUCCESS;
}

const char *fpk_config_type_name(fpk_key_type t) {
  static const char *const names[] = {"double", "size",   "u64",  "bool", "choice",
                                      "string", "list",   "list", "data"};
  return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

/* What a getter asks for: the type, whether the key is required, its default and range. */
typedef struct want {
  fpk_key_type type;
  int required;
  double dval;            /* FPK_KEY_DOUBLE default */
  uint64_t ival;          /* FPK_KEY_SIZE, FPK_KEY_U64 default */
  const char *sval;       /* FPK_KEY_BOOL, FPK_KEY_CHOICE, FPK_KEY_STRING default (may be NULL) */
  double min, max;
  int open_min;
  uint64_t imin, imax;
  const char *const *choices;
  const double *list;     /* FPK_KEY_LIST, FPK_KEY_DOUBLE_LIST defaults */
  size_t nlist;
} want;

static int same_text(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int parse_double(const char *s, double *v);
static int parse_u64(const char *s, uint64_t *v);

/* Whether table entry e describes what the getter asks for. */
static int entry_matches(const fpk_config_key *e, const want *w) {
  if (e->type != w->type) return 0;
  if (w->choices) {
    /* the same set of values: every value the code accepts is in the table (no undocumented
     * value) and every value the table offers is accepted (no template the parser refuses) */
    size_t ncode = 0, ntable = 0;
    for (; w->choices[ncode]; ncode++) {
      int found = 0;
      for (size_t j = 0; e->choices && e->choices[j]; j++)
        found |= !strcmp(w->choices[ncode], e->choices[j]);
      if (!found) return 0;
    }
    while (e->choices && e->choices[ntable]) ntable++;
    if (ntable != ncode) return 0;
  }
  if (e->flags & FPK_KEY_VARIES) return 1;
  if (w->required != !!(e->flags & FPK_KEY_REQUIRED)) return 0;
  double d;
  uint64_t u;
  switch (w->type) {
    case FPK_KEY_DOUBLE:
      if (e->min != w->min || e->max != w->max || !!e->open_min != !!w->open_min) return 0;
      return w->required || (e->def && parse_double(e->def, &d) && d == w->dval);
    case FPK_KEY_SIZE:
      if (e->imin != w->imin || e->imax != w->imax) return 0;
      return w->required || (e->def && parse_u64(e->def, &u) && u == w->ival);
    case FPK_KEY_U64: return w->required || (e->def && parse_u64(e->def, &u) && u == w->ival);
    case FPK_KEY_BOOL:
    case FPK_KEY_CHOICE:
    case FPK_KEY_STRING: return w->required || same_text(e->def, w->sval);
    case FPK_KEY_DOUBLE_LIST:
      if (e->imax != w->imax) return 0;
      /* fall through */
    case FPK_KEY_LIST:
      if (w->required) return 1;
      if (!e->def || !parse_double(e->def, &d)) return 0;
      for (size_t i = 0; i < w->nlist; i++)
        if (w->list[i] != d) return 0;
      return 1;
    case FPK_KEY_DATA: return 1;
  }
  return 0;
}

/* "size in [2, 4096], optional, default 64": a getter's request, for the internal error. */
static void describe_want(const want *w, char *buf, size_t len) {
  int k = snprintf(buf, len, "%s", fpk_config_type_name(w->type));
  if (k < 0 || (size_t)k >= len) return;
  char *p = buf + k;
  len -= (size_t)k;
  switch (w->type) {
    case FPK_KEY_DOUBLE:
      k = snprintf(p, len, " in %s%.17g, %.17g]", w->open_min ? "(" : "[", w->min, w->max);
      break;
    case FPK_KEY_SIZE:
      k = snprintf(p, len, " in [%llu, %llu]", (unsigned long long)w->imin,
                   (unsigned long long)w->imax);
      break;
    case FPK_KEY_DOUBLE_LIST: k = snprintf(p, len, " of 1..%llu", (unsigned long long)w->imax); break;
    default: k = 0;
  }
  if (k < 0 || (size_t)k >= len) return;
  p += k, len -= (size_t)k;
  if (w->required) {
    snprintf(p, len, ", required");
    return;
  }
  switch (w->type) {
    case FPK_KEY_DOUBLE: snprintf(p, len, ", default %.17g", w->dval); break;
    case FPK_KEY_SIZE:
    case FPK_KEY_U64: snprintf(p, len, ", default %llu", (unsigned long long)w->ival); break;
    case FPK_KEY_LIST:
    case FPK_KEY_DOUBLE_LIST:
      snprintf(p, len, ", default %.17g%s", w->nlist ? w->list[0] : NAN,
               w->nlist > 1 ? " ..." : "");
      break;
    default: snprintf(p, len, ", default %s", w->sval ? w->sval : "(none)");
  }
}

/* With a schema set: the key must be in a table, as the getter reads it. */
static int schema_check(const fpk_config *c, const char *section, const char *key,
                        const want *w, fpk_error *err) {
  if (!c->nschema) return FPK_SUCCESS;
  const fpk_config_key *seen = NULL;
  for (size_t t = 0; t < c->nschema; t++)
    for (size_t i = 0; i < c->schema_n[t]; i++) {
      const fpk_config_key *e = &c->schema[t][i];
      if (strcmp(e->section, section)) continue;
      if (e->type == FPK_KEY_DATA && w->type == FPK_KEY_DOUBLE) return FPK_SUCCESS;
      if (strcmp(e->key, key)) continue;
      if (entry_matches(e, w)) return FPK_SUCCESS;
      seen = e;
    }
  char got[256];
  describe_want(w, got, sizeof got);
  if (!seen)
    return fpk_error_set(err, FPK_EINVAL,
                         "internal error: [%s] %s (read as %s) is not in the key table: add it "
                         "(src/app/keys.c)",
                         section, key, got);
  char choices[256] = "";
  for (size_t j = 0; seen->choices && seen->choices[j]; j++) {
    size_t k = strlen(choices);
    snprintf(choices + k, sizeof choices - k, "%s%s", j ? "|" : " ", seen->choices[j]);
  }
  return fpk_error_set(err, FPK_EINVAL,
                       "internal error: [%s] %s is read as %s, but the key table has %s%s in "
                       "[%.17g, %.17g] / [%llu, %llu], %s, default %s: the table "
                       "(src/app/keys.c) and the code disagree",
                       section, key, got, fpk_config_type_name(seen->type), choices, seen->min,
                       seen->max, (unsigned long long)seen->imin,
                       (unsigned long long)seen->imax,
                       seen->flags & FPK_KEY_REQUIRED ? "required" : "optional",
                       seen->def ? seen->def : "(none)");
}

/* Looks a key up for reading. Returns 1 with *x set if present, 0 if absent (then records the
 * default `def` when def != NULL), or an error status < 0 never: errors go through the return of
 * the caller. */
static int lookup(fpk_config *c, const char *section, const char *key, int required,
                  entry **x, fpk_error *err) {
  *x = find(c, section, key);
  if (*x) {
    if (!(*x)->used) (*x)->order = ++c->reads;
    (*x)->used = 1;
    return FPK_SUCCESS;
  }
  if (required) {
    /* A required key that is missing is most often a misspelled one: point at it. */
    for (size_t i = 0; i < c->n; i++) {
      const entry *y = &c->e[i];
      if (!y->used && strcmp(y->section, section) == 0 && edit_distance(y->key, key) <= 2) {
        char where[512];
        origin(c, y, where, sizeof where);
        return fpk_error_set(err, FPK_EINVAL,
                             "%s: unknown key '%s' in [%s] (did you mean '%s'? [%s] %s is "
                             "required)",
                             where, y->key, section, key, section, key);
      }
    }
    return fpk_error_set(err, FPK_EINVAL, "%s: [%s] %s is required but missing", c->name,
                         section, key);
  }
  return FPK_SUCCESS;
}

static void record_default(fpk_config *c, const char *section, const char *key,
                           const char *value) {
  entry *x = add(c, section, key, value, -1);
  if (x) {
    x->used = 1;
    x->order = ++c->reads;
  }
}

/* lookup() for scalar getters: when the key is absent, records `def` (already formatted) as the
 * value used. *x is NULL then. */
static int fetch(fpk_config *c, const char *section, const char *key, int required,
                 const char *def, entry **x, fpk_error *err) {
  int rc = lookup(c, section, key, required, x, err);
  if (!rc && !*x && def) record_default(c, section, key, def);
  return rc;
}

static int bad_value(fpk_config *c, const entry *x, fpk_error *err, const char *expected) {
  char where[512];
  origin(c, x, where, sizeof where);
  if (x->comment) /* the value may have lost a part to a comment: show what was removed */
    return fpk_error_set(err, FPK_EINVAL,
                         "%s: [%s] %s = '%s': expected %s (line %d has the comment '%s': '%c' "
                         "after a space starts a comment)",
                         where, x->section, x->key, x->value, expected, x->comment_line,
                         x->comment, x->comment[0]);
  return fpk_error_set(err, FPK_EINVAL, "%s: [%s] %s = '%s': expected %s", where, x->section,
                       x->key, x->value, expected);
}

/* ---- matrices: rows on lines, or separated by '|' ----------------------------------------- */

static long parse_list(const char *s, double *out, size_t max_n);
static int check_separators(fpk_config *c, const entry *x, fpk_error *err);

/* Rewrites a value given over several lines with " | " between the rows, so that the rows
 * survive the resolved listing (which splits long values at spaces) and --set. */
static int rows_normalise(entry *x) {
  if (x->nlines <= 1 || strchr(x->value, '|')) return FPK_SUCCESS;
  const size_t nl = x->nlines < ROWS_MAX ? x->nlines : ROWS_MAX, len = strlen(x->value);
  char *v = malloc(len + 3 * nl + 1);
  if (!v) return FPK_ENOMEM;
  size_t k = 0;
  for (size_t r = 0; r < nl; r++) {
    const size_t b = x->line_start[r], e = r + 1 < nl ? x->line_start[r + 1] - 1 : len;
    if (r) memcpy(v + k, " | ", 3), k += 3;
    memcpy(v + k, x->value + b, e - b), k += e - b;
  }
  v[k] = '\0';
  free(x->value);
  x->value = v;
  x->nlines = 1;
  return FPK_SUCCESS;
}

static int matrix_entry(fpk_config *c, const char *section, const char *key, int required,
                        fpk_key_type type, entry **x, size_t max_rows, size_t *nrows,
                        fpk_error *err) {
  const want w = {.type = type, .required = required};
  int rc = schema_check(c, section, key, &w, err);
  if (rc) return rc;
  if ((rc = lookup(c, section, key, required, x, err)) || !*x) return rc;
  if ((*x)->nlines > ROWS_MAX || (*x)->nlines > max_rows) {
    char expected[96];
    snprintf(expected, sizeof expected, "at most %zu rows (one per line), not %zu", max_rows,
             (*x)->nlines);
    return bad_value(c, *x, err, expected);
  }
  if (rows_normalise(*x)) return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  size_t r = 1;
  for (const char *p = (*x)->value; *p; p++) r += *p == '|';
  if (r > max_rows) {
    char expected[96];
    snprintf(expected, sizeof expected, "at most %zu rows, not %zu", max_rows, r);
    return bad_value(c, *x, err, expected);
  }
  *nrows = r;
  return FPK_SUCCESS;
}

int fpk_config_matrix_text(fpk_config *c, const char *section, const char *key, int required,
                           size_t max_rows, const char **text, size_t *nrows, fpk_error *err) {
  entry *x = NULL;
  int rc = matrix_entry(c, section, key, required, FPK_KEY_STRING, &x, max_rows, nrows, err);
  if (rc || !x) return rc;
  if (!x->value[0]) return bad_value(c, x, err, "a non-empty value");
  *text = x->value;
  return FPK_SUCCESS;
}

int fpk_config_matrix(fpk_config *c, const char *section, const char *key, int required,
                      size_t max_rows, size_t max_cols, double *out, size_t *rows, size_t *cols,
                      fpk_error *err) {
  entry *x = NULL;
  size_t nr = 0;
  int rc = matrix_entry(c, section, key, required, FPK_KEY_LIST, &x, max_rows, &nr, err);
  if (rc || !x) return rc;
  if ((rc = check_separators(c, x, err))) return rc;
  char *buf = dup(x->value);
  if (!buf) return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  size_t ncol = 0, r = 0;
  char expected[160];
  /* split at every '|' (not strtok, which skips empty rows and so named the wrong one empty) */
  for (char *row = buf, *next = NULL; row && r < nr; row = next, r++) {
    next = strchr(row, '|');
    if (next) *next++ = '\0';
    double tmp[64];
    const long k = parse_list(row, tmp, 64);
    if (k == -2) {
      rc = fpk_error_set(err, FPK_ENOMEM, "out of memory");
      break;
    }
    if (k < 0) {
      rc = bad_value(c, x, err, "rows of numbers (one row per line, or rows separated by '|')");
      break;
    }
    if (r == 0) ncol = (size_t)k;
    if (k == 0 || (size_t)k > max_cols || (size_t)k != ncol) {
      if (k == 0)
        snprintf(expected, sizeof expected, "a number in every row (row %zu is empty)", r + 1);
      else if ((size_t)k > max_cols)
        snprintf(expected, sizeof expected, "at most %zu numbers per row (row %zu has %ld)",
                 max_cols, r + 1, k);
      else
        snprintf(expected, sizeof expected,
                 "the same count of numbers in every row (row 1 has %zu, row %zu has %ld)", ncol,
                 r + 1, k);
      rc = bad_value(c, x, err, expected);
      break;
    }
    memcpy(out + r * ncol, tmp, ncol * sizeof *out);
  }
  free(buf);
  if (rc) return rc;
  *rows = nr, *cols = ncol;
  return FPK_SUCCESS;
}

int fpk_config_invalid(const fpk_config *c, const char *section, const char *key,
                       fpk_error *err, const char *fmt, ...) {
  char where[512], why[FPK_ERRMSG_MAX / 2];
  const entry *x = find(c, section, key);
  origin(c, x, where, sizeof where);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  if (x)
    return fpk_error_set(err, FPK_EINVAL, "%s: [%s] %s = '%s': %s", where, section, key, x->value,
                         why);
  return fpk_error_set(err, FPK_EINVAL, "%s: [%s] %s (default): %s", where, section, key, why);
}

int fpk_config_string(fpk_config *c, const char *section, const char *key, int required,
                      const char **out, fpk_error *err) {
  entry *x;
  const want w = {.type = FPK_KEY_STRING, .required = required, .sval = *out};
  int rc = schema_check(c, section, key, &w, err);
  if (rc) return rc;
  rc = fetch(c, section, key, required, *out, &x, err);
  if (rc || !x) return rc;
  if (!x->value[0]) return bad_value(c, x, err, "a non-empty string");
  *out = x->value;
  return FPK_SUCCESS;
}

int fpk_config_choice(fpk_config *c, const char *section, const char *key, int required,
                      const char *const *choices, size_t *index, fpk_error *err) {
  entry *x;
  const want w = {.type = FPK_KEY_CHOICE, .required = required, .sval = choices[*index],
                  .choices = choices};
  int rc = schema_check(c, section, key, &w, err);
  if (rc) return rc;
  rc = fetch(c, section, key, required, choices[*index], &x, err);
  if (rc || !x) return rc;
  for (size_t i = 0; choices[i]; i++)
    if (strcmp(x->value, choices[i]) == 0) {
      *index = i;
      return FPK_SUCCESS;
    }
  char expected[512] = "one of";
  for (size_t i = 0; choices[i]; i++) {
    size_t k = strlen(expected);
    snprintf(expected + k, sizeof expected - k, "%s %s", i ? "," : "", choices[i]);
  }
  return bad_value(c, x, err, expected);
}

int fpk_config_bool(fpk_config *c, const char *section, const char *key, int required, int *out,
                    fpk_error *err) {
  static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
  entry *x;
  const want w = {.type = FPK_KEY_BOOL, .required = required, .sval = *out ? "true" : "false"};
  int rc = schema_check(c, section, key, &w, err);
  if (rc) return rc;
  rc = fetch(c, section, key, required, *out ? "true" : "false", &x, err);
  if (rc || !x) return rc;
  for (size_t i = 0; i < 4; i++) {
    if (strcmp(x->value, yes[i]) == 0) return *out = 1, FPK_SUCCESS;
    if (strcmp(x->value, no[i]) == 0) return *out = 0, FPK_SUCCESS;
  }
  return bad_value(c, x, err, "true or false");
}

/* Parses one finite double occupying the whole of s (after trimming). */
static int parse_double(const char *s, double *v) {
  char *end;
  errno = 0;
  double d = strtod(s, &end);
  if (end == s || errno == ERANGE || !isfinite(d)) return 0;
  while (isspace((unsigned char)*end)) end++;
  if (*end) return 0;
  *v = d;
  return 1;
}

int fpk_config_double(fpk_config *c, const char *section, const char *key, int required,
                      double min, int open_min, double max, double *out, fpk_error *err) {
  entry *x;
  char def[64];
  snprintf(def, sizeof def, "%.17g", *out);
  const want w = {.type = FPK_KEY_DOUBLE, .required = required, .dval = *out, .min = min,
                  .max = max, .open_min = open_min};
  int rc = schema_check(c, section, key, &w, err);
  if (rc) return rc;
  rc = fetch(c, section, key, required, def, &x, err);
  if (rc || !x) return rc;
  double v;
  char expected[256];
  if (open_min && max == INFINITY)
    snprintf(expected, sizeof expected, "a number > %g", min);
  else if (max == INFINITY)
    snprintf(expected, sizeof expected, "a number >= %g", min);
  else
    snprintf(expected, sizeof expected, "a number in %s%g, %g]", open_min ? "(" : "[", min, max);
  if (min == -INFINITY && max == INFINITY) snprintf(expected, sizeof expected, "a finite number");
  if (!parse_double(x->value, &v)) return bad_value(c, x, err, expected);
  if (v < min || (open_min && v == min) || v > max) return bad_value(c, x, err, expected);
  *out = v;
  return FPK_SUCCESS;
}

static int parse_u64(const char *s, uint64_t *v) {
  while (isspace((unsigned char)*s)) s++;
  if (!isdigit((unsigned char)*s)) return 0;
  char *end;
  errno = 0;
  unsigned long long u = strtoull(s, &end, 10);
  if (errno == ERANGE) return 0;
  while (isspace((unsigned char)*end)) end++;
  if (*end) return 0;
  *v = (uint64_t)u;
  return 1;
}

int fpk_config_size(fpk_config *c, const char *section, const char *key, int required,
                    size_t min, size_t max, size_t *out, fpk_error *err) {
  entry *x;
  char def[32];
  snprintf(def, sizeof def, "%zu", *out);
  const want w = {.type = FPK_KEY_SIZE, .required = required, .ival = *out, .imin = min,
                  .imax = max};
  int rc = schema_check(c, section, key, &w, err);
  if (rc) return rc;
  rc = fetch(c, section, key, required, def, &x, err);
  if (rc || !x) return rc;
  uint64_t v;
  char expected[128];
  snprintf(expected, sizeof expected, "an integer in [%zu, %zu]", min, max);
  if (!parse_u64(x->value, &v) || v < min || v > max) return bad_value(c, x, err, expected);
  *out = (size_t)v;
  return FPK_SUCCESS;
}

int fpk_config_u64(fpk_config *c, const char *section, const char *key, int required,
                   uint64_t *out, fpk_error *err) {
  entry *x;
  char def[32];
  snprintf(def, sizeof def, "%llu", (unsigned long long)*out);
  const want w = {.type = FPK_KEY_U64, .required = required, .ival = *out};
  int rc = schema_check(c, section, key, &w, err);
  if (rc) return rc;
  rc = fetch(c, section, key, required, def, &x, err);
  if (rc || !x) return rc;
  if (!parse_u64(x->value, out)) return bad_value(c, x, err, "a non-negative integer");
  return FPK_SUCCESS;
}

/* Splits a list on white space and commas; returns the count, -1 on a bad number, -2 when out of
 * memory. Stores the first max_n values. */
static long parse_list(const char *s, double *out, size_t max_n) {
  char *buf = dup(s);
  if (!buf) return -2;
  long n = 0;
  for (char *save, *tok = strtok_r(buf, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
    double v;
    if (!parse_double(tok, &v)) {
      free(buf);
      return -1;
    }
    if ((size_t)n < max_n) out[n] = v;
    n++;
  }
  free(buf);
  return n;
}

/* s with its items (between white space, commas and semicolons) joined by one space,
 * for the corrected value a message suggests. */
static void respaced(const char *s, char *out, size_t len) {
  size_t k = 0;
  out[0] = '\0';
  for (const char *p = s; *p && k + 1 < len;) {
    size_t skip = strspn(p, " \t,;"), item = strcspn(p + skip, " \t,;");
    p += skip;
    if (!item) break;
    int w = snprintf(out + k, len - k, "%s%.*s", k ? " " : "", (int)item, p);
    if (w < 0 || (size_t)w >= len - k) break;
    k += (size_t)w;
    p += item;
  }
}

/* ';' separates nothing. In a file it starts a comment after white space, and elsewhere a file
 * and --set used to split on it: "lo = -4 ; -2" (one number and a comment) and
 * "--set grid.lo=-4;-2" (two numbers) looked alike and meant different things. */
static int check_separators(fpk_config *c, const entry *x, fpk_error *err) {
  if (!strchr(x->value, ';')) return FPK_SUCCESS;
  char where[512], fixed[256];
  origin(c, x, where, sizeof where);
  respaced(x->value, fixed, sizeof fixed);
  return fpk_error_set(err, FPK_EINVAL,
                       "%s: [%s] %s = '%s': ';' is not a list separator (in a file ';' after a "
                       "space starts a comment); lists are separated by spaces or commas: "
                       "write %s = %s",
                       where, x->section, x->key, x->value, x->key, fixed);
}

/* A single value is broadcast to every axis only when nothing on its lines was cut off as a
 * comment: "lo = -4 ; -2" gave (-4, -4) silently. */
static int check_broadcast(fpk_config *c, const entry *x, size_t n, fpk_error *err) {
  if (!x->comment) return FPK_SUCCESS;
  char where[512], line[64] = "the line", all[256] = "", joined[512];
  origin(c, x, where, sizeof where);
  if (x->comment_line != x->line) snprintf(line, sizeof line, "line %d", x->comment_line);
  /* When the value and the comment's text together are the n numbers, show them as one list. */
  snprintf(joined, sizeof joined, "%s %s", x->value, x->comment + 1);
  respaced(joined, all, sizeof all);
  double *tmp = malloc(n * sizeof *tmp);
  if (!tmp) return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  char example[320] = "";
  if (!strchr(all, ';') && parse_list(all, tmp, n) == (long)n)
    snprintf(example, sizeof example, " (%s = %s)", x->key, all);
  free(tmp);
  return fpk_error_set(err, FPK_EINVAL,
                       "%s: [%s] %s = '%s': one value where %zu are expected, and %s has the "
                       "comment '%s' ('%c' after a space starts a comment): write all %zu values "
                       "separated by spaces or commas%s, or remove the comment to use that one "
                       "value for all %zu",
                       where, x->section, x->key, x->value, n, line, x->comment, x->comment[0], n,
                       example, n);
}

static void record_list_default(fpk_config *c, const char *section, const char *key,
                                const double *v, size_t n) {
  char buf[1024] = "";
  for (size_t i = 0; i < n; i++) {
    size_t k = strlen(buf);
    snprintf(buf + k, sizeof buf - k, "%s%.17g", i ? " " : "", v[i]);
  }
  record_default(c, section, key, buf);
}

int fpk_config_doubles(fpk_config *c, const char *section, const char *key, int required,
                       size_t n, int broadcast, double *out, fpk_error *err) {
  entry *x;
  const want w = {.type = FPK_KEY_LIST, .required = required, .list = out, .nlist = n};
  int rc = schema_check(c, section, key, &w, err);
  if (rc) return rc;
  rc = lookup(c, section, key, required, &x, err);
  if (rc) return rc;
  if (!x) {
    record_list_default(c, section, key, out, n);
    return FPK_SUCCESS;
  }
  if ((rc = check_separators(c, x, err))) return rc;
  double *tmp = malloc((n ? n : 1) * sizeof *tmp);
  if (!tmp) return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  long k = parse_list(x->value, tmp, n ? n : 1);
  char expected[128];
  if (broadcast && n > 1)
    snprintf(expected, sizeof expected, "1 or %zu numbers", n);
  else
    snprintf(expected, sizeof expected, "%zu number%s", n, n == 1 ? "" : "s");
  if (k == -2) {
    rc = fpk_error_set(err, FPK_ENOMEM, "out of memory");
  } else if (k == (long)n) {
    memcpy(out, tmp, n * sizeof *out);
  } else if (k == 1 && broadcast && n > 1) {
    if (!(rc = check_broadcast(c, x, n, err)))
      for (size_t i = 0; i < n; i++) out[i] = tmp[0];
  } else {
    rc = bad_value(c, x, err, expected);
  }
  free(tmp);
  return rc;
}

int fpk_config_double_list(fpk_config *c, const char *section, const char *key, int required,
                           size_t max_n, double *out, size_t *n, fpk_error *err) {
  entry *x;
  const want w = {.type = FPK_KEY_DOUBLE_LIST, .required = required, .imax = max_n, .list = out,
                  .nlist = required ? 0 : *n};
  int rc = schema_check(c, section, key, &w, err);
  if (rc) return rc;
  rc = lookup(c, section, key, required, &x, err);
  if (rc) return rc;
  if (!x) {
    record_list_default(c, section, key, out, *n);
    return FPK_SUCCESS;
  }
  if ((rc = check_separators(c, x, err))) return rc;
  long k = parse_list(x->value, out, max_n);
  if (k == -2) return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  if (k < 1 || (size_t)k > max_n) {
    char expected[128];
    snprintf(expected, sizeof expected, "a list of 1 to %zu numbers", max_n);
    return bad_value(c, x, err, expected);
  }
  *n = (size_t)k;
  return FPK_SUCCESS;
}

size_t fpk_config_section_keys(fpk_config *c, const char *section, const char **keys,
                               size_t max) {
  size_t k = 0;
  for (size_t i = 0; i < c->n; i++) {
    entry *x = &c->e[i];
    /* defaults recorded by getters (line < 0) were not given: not keys of the user's section */
    if (x->line < 0 || strcmp(x->section, section) != 0) continue;
    if (!x->used) x->order = ++c->reads;
    x->used = 1;
    if (k < max) keys[k] = x->key;
    k++;
  }
  return k;
}

int fpk_config_check_unused(const fpk_config *c, fpk_error *err) {
  for (size_t i = 0; i < c->n; i++) {
    const entry *x = &c->e[i];
    if (x->used) continue;
    char where[512];
    origin(c, x, where, sizeof where);
    int section_known = 0;
    const char *best = NULL;
    size_t best_d = 3; /* suggest only close matches */
    char valid[512] = "";
    for (size_t j = 0; j < c->n; j++) {
      const entry *y = &c->e[j];
      if (!y->used) continue;
      if (strcmp(y->section, x->section) == 0) {
        section_known = 1;
        size_t k = strlen(valid);
        snprintf(valid + k, sizeof valid - k, "%s%s", k ? ", " : "", y->key);
        size_t d = edit_distance(x->key, y->key);
        if (d < best_d) best_d = d, best = y->key;
      }
    }
    if (!section_known) {
      const char *best_s = NULL;
      best_d = 3;
      for (size_t j = 0; j < c->n; j++)
        if (c->e[j].used) {
          size_t d = edit_distance(x->section, c->e[j].section);
          if (d < best_d) best_d = d, best_s = c->e[j].section;
        }
      if (best_s)
        return fpk_error_set(err, FPK_EINVAL, "%s: unknown section [%s] (did you mean [%s]?)",
                             where, x->section, best_s);
      return fpk_error_set(err, FPK_EINVAL, "%s: unknown section [%s] (key '%s')", where,
                           x->section, x->key);
    }
    if (best)
      return fpk_error_set(err, FPK_EINVAL,
                           "%s: unknown key '%s' in [%s] (did you mean '%s'?; valid here: %s)",
                           where, x->key, x->section, best, valid);
    return fpk_error_set(err, FPK_EINVAL,
                         "%s: unknown key '%s' = '%s' in [%s] (not used by this configuration; "
                         "valid here: %s)",
                         where, x->key, x->value, x->section, valid);
  }
  return FPK_SUCCESS;
}

static int by_order(const void *a, const void *b) {
  const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
  return (x->order > y->order) - (x->order < y->order);
}

const char *fpk_config_resolved(fpk_config *c) {
  free(c->resolved);
  c->resolved = NULL;
  const entry **v = malloc((c->n ? c->n : 1) * sizeof *v);
  if (!v) return "";
  size_t m = 0;
  for (size_t i = 0; i < c->n; i++)
    if (c->e[i].used) v[m++] = &c->e[i];
  qsort(v, m, sizeof *v, by_order);
  size_t cap = 256, len = 0;
  char *out = malloc(cap);
  if (!out) {
    free(v);
    return "";
  }
  out[0] = '\0';
  /* Group by section in order of first use. */
  for (size_t i = 0; i < m; i++) {
    int first = 1;
    for (size_t k = 0; k < i; k++)
      if (strcmp(v[k]->section, v[i]->section) == 0) first = 0;
    if (!first) continue;
    for (size_t j = i; j < m; j++) {
      if (strcmp(v[j]->section, v[i]->section) != 0) continue;
      /* a long value goes over continuation lines, so that the text reads back (entry_text);
       * one that cannot (not from a file, nor from fpk_config_set) is written on one line */
      const long text = entry_text(v[j]->key, v[j]->value, NULL, 0);
      size_t need = strlen(v[j]->section) + strlen(v[j]->key) + strlen(v[j]->value) + 32;
      if (text > 0 && (size_t)text + strlen(v[j]->section) + 32 > need)
        need = (size_t)text + strlen(v[j]->section) + 32;
      if (len + need >= cap) {
        while (len + need >= cap) cap *= 2;
        char *o = realloc(out, cap);
        if (!o) break;
        out = o;
      }
      if (j == i) len += (size_t)snprintf(out + len, cap - len, "%s[%s]\n", len ? "\n" : "", v[j]->section);
      if (text >= 0)
        len += (size_t)entry_text(v[j]->key, v[j]->value, out + len, cap - len);
      else
        len += (size_t)snprintf(out + len, cap - len, "%s = %s\n", v[j]->key, v[j]->value);
    }
  }
  free(v);
  c->resolved = out;
  return out;
}
