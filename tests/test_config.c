/* Tests of the strict INI configuration (fpkit/config.h): every failure names file:line, the key,
 * the value and what was expected; defaults appear in the resolved text; --set overrides. */
#include "fpk_test.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fpkit/config.h"

static char path[64];

/* Writes `len` bytes (a NUL among them if the test wants one) to a temporary file and loads it. */
static fpk_config *load_bytes(const char *text, size_t len, fpk_error *err) {
  snprintf(path, sizeof path, "/tmp/fpk_cfg_XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, len), (ssize_t)len);
  close(fd);
  fpk_config *c = fpk_config_load(path, err);
  unlink(path);
  return c;
}

static fpk_config *load_text(const char *text, fpk_error *err) {
  return load_bytes(text, strlen(text), err);
}

/* printf into a fresh heap string (the long-line texts). */
static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  assert_true(n >= 0);
  char *s = malloc((size_t)n + 1);
  assert_non_null(s);
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

static char *repeat(char ch, size_t n) {
  char *s = malloc(n + 1);
  assert_non_null(s);
  memset(s, ch, n);
  s[n] = '\0';
  return s;
}

/* n copies of ch in a static buffer (for building a string with format()). */
static const char *repeat_static(char ch, size_t n) {
  static char buf[1024];
  if (n >= sizeof buf) n = sizeof buf - 1;
  memset(buf, ch, n);
  buf[n] = '\0';
  return buf;
}

#define assert_contains(hay, needle)                                              \
  do {                                                                            \
    if (!strstr((hay), (needle))) fail_msg("'%s' does not contain '%s'", (hay), (needle)); \
  } while (0)

static void test_typed_values(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_config *c = load_text("[grid]\nn = 200\nlo = -3, -2\n; comment\n[fp]\ndt = 1e-3\n"
                            "enabled = yes\nscheme = tr-bdf2\n",
                            &err);
  assert_non_null(c);
  size_t n = 0;
  double lo[2], dt = 0;
  int on = 0;
  static const char *const schemes[] = {"implicit-euler", "tr-bdf2", NULL};
  size_t k = 0;
  assert_int_equal(fpk_config_size(c, "grid", "n", 1, 3, 1000, &n, &err), 0);
  assert_int_equal(n, 200);
  assert_int_equal(fpk_config_doubles(c, "grid", "lo", 1, 2, 1, lo, &err), 0);
  assert_true(lo[0] == -3.0 && lo[1] == -2.0);
  assert_int_equal(fpk_config_double(c, "fp", "dt", 1, 0.0, 1, INFINITY, &dt, &err), 0);
  assert_true(dt == 1e-3);
  assert_int_equal(fpk_config_bool(c, "fp", "enabled", 1, &on, &err), 0);
  assert_true(on);
  assert_int_equal(fpk_config_choice(c, "fp", "scheme", 1, schemes, &k, &err), 0);
  assert_int_equal(k, 1);
  assert_int_equal(fpk_config_check_unused(c, &err), 0);
  fpk_config_free(c);
}

static void test_errors_name_file_line_key_value(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_config *c = load_text("[grid]\n\nn = 2\n", &err);
  size_t n = 0;
  assert_int_equal(fpk_config_size(c, "grid", "n", 1, 3, 1000, &n, &err), FPK_EINVAL);
  assert_contains(err.msg, ":3:");
  assert_contains(err.msg, "[grid] n = '2'");
  assert_contains(err.msg, "[3, 1000]");
  fpk_config_free(c);

  c = load_text("[fp]\ndt = -1\n", &err);
  double dt = 0;
  assert_int_equal(fpk_config_double(c, "fp", "dt", 1, 0.0, 1, INFINITY, &dt, &err), FPK_EINVAL);
  assert_contains(err.msg, ":2: [fp] dt = '-1': expected a number > 0");
  assert_int_equal(fpk_config_double(c, "fp", "missing", 1, 0.0, 1, INFINITY, &dt, &err),
                   FPK_EINVAL);
  assert_contains(err.msg, "[fp] missing is required but missing");
  fpk_config_free(c);

  c = load_text("[fp]\ndt = nan\nx = 1e999\nl = 1 2 three\n", &err);
  assert_int_equal(fpk_config_double(c, "fp", "dt", 1, -INFINITY, 0, INFINITY, &dt, &err), FPK_EINVAL);
  assert_int_equal(fpk_config_double(c, "fp", "x", 1, -INFINITY, 0, INFINITY, &dt, &err), FPK_EINVAL);
  double l[3];
  assert_int_equal(fpk_config_doubles(c, "fp", "l", 1, 3, 0, l, &err), FPK_EINVAL);
  assert_contains(err.msg, ":4:");
  fpk_config_free(c);
}

static void test_unknown_keys_and_sections(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_config *c = load_text("[model]\ntheta = 1\nthetaa = 2\n", &err);
  double th = 0;
  assert_int_equal(fpk_config_double(c, "model", "theta", 1, 0, 1, INFINITY, &th, &err), 0);
  assert_int_equal(fpk_config_check_unused(c, &err), FPK_EINVAL);
  assert_contains(err.msg, ":3: unknown key 'thetaa' in [model]");
  assert_contains(err.msg, "did you mean 'theta'");
  fpk_config_free(c);

  c = load_text("[model]\ntheta = 1\n[modle]\nsigma = 1\n", &err);
  assert_int_equal(fpk_config_double(c, "model", "theta", 1, 0, 1, INFINITY, &th, &err), 0);
  assert_int_equal(fpk_config_check_unused(c, &err), FPK_EINVAL);
  assert_contains(err.msg, ":4: unknown section [modle] (did you mean [model]?)");
  fpk_config_free(c);
}

static void test_syntax_and_duplicates(void **state) {
  (void)state;
  fpk_error err = {0};
  assert_null(load_text("[a]\nx = 1\nthis line has no equals sign\n", &err));
  assert_int_equal(err.status, FPK_EINVAL);
  assert_contains(err.msg, ":3: syntax error");
  assert_null(load_text("[a]\nx = 1\ny = 2\nx = 3\n", &err));
  assert_contains(err.msg, ":4: [a] x given twice (first at line 2)");
  assert_null(load_text("x = 1\n", &err));
  assert_contains(err.msg, ":1: key 'x' appears before any [section]");
  assert_null(fpk_config_load("/nonexistent/dir/cfg.ini", &err));
  assert_int_equal(err.status, FPK_EIO);
  assert_contains(err.msg, "/nonexistent/dir/cfg.ini");
}

static void test_set_overrides_and_resolved(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_config *c = load_text("[grid]\nn = 100\n", &err);
  assert_int_equal(fpk_config_set(c, "grid.n=400", &err), 0);
  assert_int_equal(fpk_config_set(c, "mc.seed = 7", &err), 0);
  assert_int_equal(fpk_config_set(c, "nodot=1", &err), FPK_EINVAL);
  assert_contains(err.msg, "expected section.key=value");
  size_t n = 0;
  uint64_t seed = 0;
  double dt = 0.25;
  assert_int_equal(fpk_config_size(c, "grid", "n", 1, 3, 1000, &n, &err), 0);
  assert_int_equal(n, 400);
  assert_int_equal(fpk_config_u64(c, "mc", "seed", 1, &seed, &err), 0);
  assert_int_equal(seed, 7);
  assert_int_equal(fpk_config_double(c, "fp", "dt", 0, 0, 1, INFINITY, &dt, &err), 0);
  assert_true(dt == 0.25); /* default kept */
  const char *r = fpk_config_resolved(c);
  assert_contains(r, "[grid]\nn = 400\n");
  assert_contains(r, "[mc]\nseed = 7\n");
  assert_contains(r, "[fp]\ndt = 0.25\n");
  /* An override outside the range is reported as coming from --set. */
  assert_int_equal(fpk_config_set(c, "grid.n=2", &err), 0);
  assert_int_equal(fpk_config_size(c, "grid", "n", 1, 3, 1000, &n, &err), FPK_EINVAL);
  assert_contains(err.msg, "--set: [grid] n = '2'");
  fpk_config_free(c);
}

static void test_broadcast_and_lists(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_config *c = load_text("[a]\ns = 0.5\nt = 0, 0.5 1\nm = 1 2 3\n", &err);
  double s[2], t[8], m[4];
  size_t nt = 0;
  assert_int_equal(fpk_config_doubles(c, "a", "s", 1, 2, 1, s, &err), 0);
  assert_true(s[0] == 0.5 && s[1] == 0.5);
  assert_int_equal(fpk_config_double_list(c, "a", "t", 1, 8, t, &nt, &err), 0);
  assert_int_equal(nt, 3);
  assert_true(t[2] == 1.0);
  assert_int_equal(fpk_config_doubles(c, "a", "m", 1, 4, 1, m, &err), FPK_EINVAL);
  assert_contains(err.msg, "expected 1 or 4 numbers");
  fpk_config_free(c);
  fpk_config_free(NULL);
  /* A matrix written one row per line (indented continuation). */
  c = load_text("[model]\nA = 1 0.8\n   -0.6 0.5\nB = 1\n", &err);
  assert_non_null(c);
  assert_int_equal(fpk_config_doubles(c, "model", "A", 1, 4, 0, m, &err), 0);
  assert_true(m[0] == 1.0 && m[1] == 0.8 && m[2] == -0.6 && m[3] == 0.5);
  fpk_config_free(c);
}

/* Debian's inih (r55, INI_MAX_LINE 200) split longer lines into 199-byte pieces parsed as lines:
 * the tail of a long comment became a key (D3), and the line numbers after it were off. */
static void test_long_comment_injects_nothing(void **state) {
  (void)state;
  fpk_error err = {0};
  char *cc = repeat('c', 5000);
  char *text = format("[model]\n; %s mu = 3.0\n   # %s\ntheta = 1\n", cc, cc);
  fpk_config *c = load_text(text, &err);
  assert_non_null(c);
  assert_false(fpk_config_has(c, "model", "mu"));
  double th = 0;
  assert_int_equal(fpk_config_double(c, "model", "theta", 1, 0, 1, INFINITY, &th, &err), 0);
  assert_int_equal(fpk_config_check_unused(c, &err), 0);
  fpk_config_free(c);
  free(text);
  /* A long inline comment is fine when the content before it fits. */
  text = format("[model]\ntheta = 1     ; %s\nsigma = 2\n", cc);
  c = load_text(text, &err);
  assert_non_null(c);
  assert_int_equal(fpk_config_double(c, "model", "theta", 1, 0, 1, INFINITY, &th, &err), 0);
  assert_true(th == 1.0);
  assert_int_equal(fpk_config_double(c, "model", "sigma", 1, 0, 1, INFINITY, &th, &err), 0);
  assert_true(th == 2.0);
  assert_int_equal(fpk_config_check_unused(c, &err), 0);
  fpk_config_free(c);
  free(text);
  free(cc);
}

static void test_line_numbers_after_long_comment(void **state) {
  (void)state;
  fpk_error err = {0};
  char *cc = repeat('c', 5000);
  char *text = format("[model]\n; %s\ntheta = 1\nthis line has no equals sign\n", cc);
  assert_null(load_text(text, &err));
  assert_contains(err.msg, ":4: syntax error");
  free(text);
  text = format("[model]\n; %s\ntheta = 1\ntheta = 2\n", cc);
  assert_null(load_text(text, &err));
  assert_contains(err.msg, ":4: [model] theta given twice (first at line 3)");
  free(text);
  text = format("[model]\n# %s\ntheta = 1\n[grid]\nn = 2\n", cc);
  fpk_config *c = load_text(text, &err);
  assert_non_null(c);
  size_t n = 0;
  assert_int_equal(fpk_config_size(c, "grid", "n", 1, 3, 1000, &n, &err), FPK_EINVAL);
  assert_contains(err.msg, ":5: [grid] n = '2'");
  fpk_config_free(c);
  free(text);
  free(cc);
}

static void test_long_line_refused(void **state) {
  (void)state;
  fpk_error err = {0};
  /* 4 + 300 bytes of content: refused whole (never split), naming its line and the limit that
   * inih's buffer gives (200 bytes, with the newline and the NUL). */
  char *ones = repeat('1', 300);
  char *text = format("[a]\nx = 1\nv = %s\ny = 2\n", ones);
  assert_null(load_text(text, &err));
  assert_int_equal(err.status, FPK_EINVAL);
  assert_contains(err.msg, ":3: line is 304 bytes long; the limit is 198: split a long value "
                           "over indented continuation lines");
  free(text);
  text = format("[a]\nv = %s ; a comment\n", ones);
  assert_null(load_text(text, &err));
  assert_contains(err.msg,
                  ":2: line is 304 bytes long (after removing its comment); the limit is 198");
  free(text);
  /* The longest line that fits: 198 bytes; a long value over continuation lines is fine. */
  text = format("[a]\nv = %.194s\nw = %.190s\n    %.190s\n", ones, ones, ones);
  fpk_config *c = load_text(text, &err);
  assert_non_null(c);
  const char *w = NULL;
  assert_int_equal(fpk_config_string(c, "a", "w", 1, &w, &err), 0);
  assert_int_equal(strlen(w), 381);
  fpk_config_free(c);
  free(text);
  free(ones);
}

static void test_huge_section_name(void **state) {
  (void)state;
  fpk_error err = {0};
  /* A 1 MB section name on line 5 (the reproducer's error named line 5272 of a 40-line file). */
  char *m = repeat('m', 1 << 20);
  char *text = format("; c\n[a]\nx = 1\n\n[%s]\ny = 2\n", m);
  assert_null(load_text(text, &err));
  assert_contains(err.msg, ":5: line is 1048578 bytes long; the limit is 198");
  free(text);
  free(m);
}

/* inih cuts section and key names at 49 bytes (MAX_SECTION, MAX_NAME) and ignores text after a
 * section's ']'. */
static void test_inih_names_not_cut(void **state) {
  (void)state;
  fpk_error err = {0};
  char *name = repeat('s', 50);
  char *text = format("[a]\nx = 1\n[%s]\ny = 2\n", name);
  assert_null(load_text(text, &err));
  assert_contains(err.msg, ":3: section name is 50 bytes long; the limit is 49");
  free(text);
  text = format("[a]\nx = 1\n%s = 1\n  2\n", name);
  assert_null(load_text(text, &err));
  assert_contains(err.msg, ":3: key is 50 bytes long; the limit is 49");
  free(text);
  free(name);
  assert_null(load_text("[a]\nx = 1\n[grid] n = 64\n", &err));
  assert_contains(err.msg, ":3: 'n = 64' after the section header '[grid]'");
  fpk_config *c = load_text("[grid]   ; the box\nn = 64\n", &err);
  assert_non_null(c);
  assert_true(fpk_config_has(c, "grid", "n"));
  fpk_config_free(c);
}

/* D11: a NUL byte ended the line silently ("theta = 1.0\0garbage" read as 1.0). */
static void test_nul_byte(void **state) {
  (void)state;
  fpk_error err = {0};
  static const char nul[] = "[model]\ntype = ou\n; x\ntheta = 1.0\0 + garbage\nsigma = 1\n";
  assert_null(load_bytes(nul, sizeof nul - 1, &err));
  assert_int_equal(err.status, FPK_EINVAL);
  assert_contains(err.msg, ":4:12: NUL byte");
  static const char nul_comment[] = "[a]\nx = 1 ; \0\n";
  assert_null(load_bytes(nul_comment, sizeof nul_comment - 1, &err));
  assert_contains(err.msg, ":2:9: NUL byte");
}

static void test_invalid_utf8(void **state) {
  (void)state;
  fpk_error err = {0};
  /* Latin-1, an overlong '/', a surrogate, a sequence cut by the end of the line, a code point
   * above U+10FFFF: line:column of the first bad byte. */
  assert_null(load_text("[a]\nname = caf\xe9\n", &err));
  assert_contains(err.msg, ":2:11: invalid UTF-8 (byte 0xE9");
  assert_null(load_text("[a]\nx = \xc0\xaf\n", &err));
  assert_contains(err.msg, ":2:5: invalid UTF-8 (byte 0xC0");
  assert_null(load_text("[a]\n; \xed\xa0\x80\n", &err));
  assert_contains(err.msg, ":2:3: invalid UTF-8 (byte 0xED");
  assert_null(load_text("[a]\nx = 1\ny = \xe2\x82\n", &err));
  assert_contains(err.msg, ":3:5: invalid UTF-8 (byte 0xE2");
  assert_null(load_text("[a]\nx = \xf4\x90\x80\x80\n", &err));
  assert_contains(err.msg, ":2:5: invalid UTF-8 (byte 0xF4");
  /* --set values must be UTF-8 too. */
  fpk_config *c = load_text("[a]\nx = 1\n", &err);
  assert_non_null(c);
  assert_int_equal(fpk_config_set(c, "a.label=caf\xe9", &err), FPK_EINVAL);
  assert_contains(err.msg, "--set: invalid UTF-8 at byte 12 of the assignment (byte 0xE9)");
  assert_int_equal(fpk_config_set(c, "a.label=caf\xc3\xa9", &err), 0);
  fpk_config_free(c);
}

static void test_valid_utf8(void **state) {
  (void)state;
  fpk_error err = {0};
  /* Valid UTF-8 in comments (a long one too: inih used to split it inside a character) and in
   * a string value, after a byte order mark. */
  char *sigmas = malloc(2 * 150 + 1);
  assert_non_null(sigmas);
  for (size_t i = 0; i < 150; i++) memcpy(sigmas + 2 * i, "\xcf\x83", 2);
  sigmas[300] = '\0';
  char *text = format("\xef\xbb\xbf; Schr\xc3\xb6" "dinger %s\n[a]\nlabel = \xe2\x88\x91 "
                      "Schr\xc3\xb6" "dinger \xf0\x9d\x9c\x8e  ; \xcf\x83\xc2\xb2\n",
                      sigmas);
  fpk_config *c = load_text(text, &err);
  assert_non_null(c);
  const char *label = NULL;
  assert_int_equal(fpk_config_string(c, "a", "label", 1, &label, &err), 0);
  assert_string_equal(label, "\xe2\x88\x91 Schr\xc3\xb6" "dinger \xf0\x9d\x9c\x8e");
  assert_int_equal(fpk_config_check_unused(c, &err), 0);
  fpk_config_free(c);
  free(text);
  free(sigmas);
}

/* D14: "lo = -4 ; -2" became (-4, -4): ' ;' starts a comment, and the one value left was
 * broadcast to both axes. */
static void test_broadcast_refused_after_comment(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_config *c = load_text("[grid]\nlo = -4 ; -2\nhi = 4 4\n", &err);
  assert_non_null(c);
  double lo[2] = {0, 0};
  assert_int_equal(fpk_config_doubles(c, "grid", "lo", 1, 2, 1, lo, &err), FPK_EINVAL);
  assert_contains(err.msg, ":2: [grid] lo = '-4': one value where 2 are expected, and the line "
                           "has the comment '; -2' (';' after a space starts a comment): write "
                           "all 2 values separated by spaces or commas (lo = -4 -2), or remove "
                           "the comment");
  assert_true(lo[0] == 0 && lo[1] == 0); /* nothing written */
  /* A --set value replaces the value and its comment: one value is broadcast again. */
  assert_int_equal(fpk_config_set(c, "grid.lo=-3", &err), 0);
  assert_int_equal(fpk_config_doubles(c, "grid", "lo", 1, 2, 1, lo, &err), 0);
  assert_true(lo[0] == -3 && lo[1] == -3);
  fpk_config_free(c);

  /* The comment of a continuation line counts for its entry; '#' is a comment too. */
  c = load_text("[grid]\nlo =\n   -4   ; -2\nhi = 4 # 5\nA = 1 0.8  ; row 1\n   -0.6 0.5 # row 2\n",
                &err);
  assert_non_null(c);
  assert_int_equal(fpk_config_doubles(c, "grid", "lo", 1, 2, 1, lo, &err), FPK_EINVAL);
  assert_contains(err.msg, ":2: [grid] lo = ");
  assert_contains(err.msg, "and line 3 has the comment '; -2'");
  double hi[3];
  assert_int_equal(fpk_config_doubles(c, "grid", "hi", 1, 3, 1, hi, &err), FPK_EINVAL);
  assert_contains(err.msg, ":4: [grid] hi = '4': one value where 3 are expected, and the line "
                           "has the comment '# 5' ('#' after a space starts a comment)");
  double A[4];
  assert_int_equal(fpk_config_doubles(c, "grid", "A", 1, 4, 0, A, &err), 0);
  assert_true(A[0] == 1 && A[1] == 0.8 && A[2] == -0.6 && A[3] == 0.5);
  fpk_config_free(c);
}

static void test_lists_without_semicolons(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_config *c = load_text("[grid]\nlo = -4 -2\nhi = -4, -2 # two values\nn = 4,5\n", &err);
  assert_non_null(c);
  double lo[2], hi[2], n[2];
  assert_int_equal(fpk_config_doubles(c, "grid", "lo", 1, 2, 1, lo, &err), 0);
  assert_true(lo[0] == -4 && lo[1] == -2);
  assert_int_equal(fpk_config_doubles(c, "grid", "hi", 1, 2, 1, hi, &err), 0);
  assert_true(hi[0] == -4 && hi[1] == -2);
  assert_int_equal(fpk_config_doubles(c, "grid", "n", 1, 2, 0, n, &err), 0);
  assert_true(n[0] == 4 && n[1] == 5);
  fpk_config_free(c);

  /* ';' not after white space is part of the value, and no list separator. */
  c = load_text("[grid]\nlo = -4;-2\nhi = 1;2 ; x\nfile = a;b#c.h5 # the file\n[time]\n"
                "times = 0;0.5\n",
                &err);
  assert_non_null(c);
  assert_int_equal(fpk_config_doubles(c, "grid", "lo", 1, 2, 1, lo, &err), FPK_EINVAL);
  assert_contains(err.msg, ":2: [grid] lo = '-4;-2': ';' is not a list separator (in a file ';' "
                           "after a space starts a comment); lists are separated by spaces or "
                           "commas: write lo = -4 -2");
  assert_int_equal(fpk_config_doubles(c, "grid", "hi", 1, 2, 0, hi, &err), FPK_EINVAL);
  assert_contains(err.msg, ":3: [grid] hi = '1;2': ';' is not a list separator");
  double t[8];
  size_t nt = 0;
  assert_int_equal(fpk_config_double_list(c, "time", "times", 1, 8, t, &nt, &err), FPK_EINVAL);
  assert_contains(err.msg, ":6: [time] times = '0;0.5': ';' is not a list separator");
  const char *file = NULL;
  assert_int_equal(fpk_config_string(c, "grid", "file", 1, &file, &err), 0);
  assert_string_equal(file, "a;b#c.h5");
  fpk_config_free(c);
}

/* --set takes the value as it is (no comment): ';' there is refused by the list getters too,
 * where "--set grid.lo=-4;-2" used to give (-4, -2) and the same text in a file (-4, -4). */
static void test_set_semicolon_refused(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_config *c = load_text("[grid]\nlo = -4 -2\n", &err);
  assert_non_null(c);
  double lo[2];
  assert_int_equal(fpk_config_set(c, "grid.lo=-4;-2", &err), 0);
  assert_int_equal(fpk_config_doubles(c, "grid", "lo", 1, 2, 1, lo, &err), FPK_EINVAL);
  assert_contains(err.msg, "--set: [grid] lo = '-4;-2': ';' is not a list separator");
  /* ';' after a space would be a comment in the resolved configuration stored in the output:
   * refused by --set itself (found by fuzz/fuzz_config.c) */
  assert_int_equal(fpk_config_set(c, "grid.lo=-4 ; -2", &err), FPK_EINVAL);
  assert_contains(err.msg, "--set grid.lo = '-4 ; -2': ';' after white space starts a comment "
                           "in a configuration file");
  assert_contains(err.msg, "(lists are separated by spaces or commas: '-4 -2')");
  assert_int_equal(fpk_config_set(c, "grid.lo=-4,-2", &err), 0);
  assert_int_equal(fpk_config_doubles(c, "grid", "lo", 1, 2, 1, lo, &err), 0);
  assert_true(lo[0] == -4 && lo[1] == -2);
  fpk_config_free(c);
}

/* A commented single value where no broadcast applies is fine (the shipped configs have
 * "n_out = 5 ; t = 0, 0.5, ..."); a value emptied by a comment says what was removed. */
static void test_comment_without_broadcast(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_config *c = load_text("[time]\nt_end = 0.5\nn_out = 3            ; t = 0, 0.25, 0.5\n"
                            "[fp]\ndt = ; 0.01\nm = 7 ; one value\nt = 0.5 # seven\n",
                            &err);
  assert_non_null(c);
  size_t n_out = 0;
  assert_int_equal(fpk_config_size(c, "time", "n_out", 1, 2, 1000, &n_out, &err), 0);
  assert_int_equal(n_out, 3);
  double m = 0, t[8];
  size_t nt = 0;
  assert_int_equal(fpk_config_doubles(c, "fp", "m", 1, 1, 1, &m, &err), 0);
  assert_true(m == 7);
  assert_int_equal(fpk_config_double_list(c, "fp", "t", 1, 8, t, &nt, &err), 0);
  assert_true(nt == 1 && t[0] == 0.5);
  double dt = 0;
  assert_int_equal(fpk_config_double(c, "fp", "dt", 1, 0, 1, INFINITY, &dt, &err), FPK_EINVAL);
  assert_contains(err.msg, ":5: [fp] dt = '': expected a number > 0 (line 5 has the comment "
                           "'; 0.01'");
  assert_contains(fpk_config_resolved(c), "n_out = 3\n");
  fpk_config_free(c);
}

/* fpk_config_parse: the same rules and messages from memory as from a file (fpk_config_load reads
 * the file and calls it), with the given name in place of the path; the text needs no NUL at its
 * end, and its last line no '\n'. */
static void test_parse_from_memory(void **state) {
  (void)state;
  fpk_error err = {0};
  /* a buffer whose bytes continue past len: only len bytes are read */
  static const char text[] = "[grid]\nn = 64 ; cells\nlo = -4, -2\n[fp]\ndt = 1e-3XYZ";
  fpk_config *c = fpk_config_parse("mem.ini", text, sizeof text - 4, &err);
  assert_non_null(c);
  assert_int_equal(err.status, 0);
  assert_string_equal(fpk_config_name(c), "mem.ini");
  size_t n = 0;
  double lo[2], dt = 0;
  assert_int_equal(fpk_config_size(c, "grid", "n", 1, 3, 1000, &n, &err), 0);
  assert_int_equal(n, 64);
  assert_int_equal(fpk_config_doubles(c, "grid", "lo", 1, 2, 1, lo, &err), 0);
  assert_int_equal(fpk_config_double(c, "fp", "dt", 1, 0.0, 1, INFINITY, &dt, &err), 0);
  assert_true(dt == 1e-3);
  assert_int_equal(fpk_config_set(c, "fp.dt=2e-3", &err), 0);
  assert_int_equal(fpk_config_check_unused(c, &err), 0);
  assert_contains(fpk_config_resolved(c), "[grid]\nn = 64\nlo = -4, -2\n");
  fpk_config_free(c);

  /* the messages of the file reader, with the name for the path */
  static const char nul[] = "[model]\ntype = ou\n; x\ntheta = 1.0\0 + garbage\nsigma = 1\n";
  assert_null(fpk_config_parse("mem.ini", nul, sizeof nul - 1, &err));
  assert_int_equal(err.status, FPK_EINVAL);
  assert_contains(err.msg, "mem.ini:4:12: NUL byte");
  assert_null(load_bytes(nul, sizeof nul - 1, &err));
  assert_contains(err.msg, ":4:12: NUL byte");
  static const char dup[] = "[a]\nx = 1\r\ny = 2\r\nx = 3";
  assert_null(fpk_config_parse("d.ini", dup, sizeof dup - 1, &err));
  assert_contains(err.msg, "d.ini:4: [a] x given twice (first at line 2)");
  assert_null(fpk_config_parse(NULL, "[a]\nno equals\n", 14, &err));
  assert_contains(err.msg, "config:2: syntax error");
  assert_null(fpk_config_parse("u.ini", "[a]\nx = \xc0\xaf", 10, &err));
  assert_contains(err.msg, "u.ini:2:5: invalid UTF-8 (byte 0xC0");
  assert_null(fpk_config_parse("n.ini", NULL, 3, &err));
  assert_int_equal(err.status, FPK_EINVAL);

  /* empty text: an empty configuration (NULL allowed with no bytes), which a getter then reads */
  c = fpk_config_parse("empty", NULL, 0, &err);
  assert_non_null(c);
  assert_int_equal(fpk_config_size(c, "grid", "n", 1, 3, 1000, &n, &err), FPK_EINVAL);
  assert_contains(err.msg, "empty: [grid] n is required but missing");
  fpk_config_free(c);
  c = fpk_config_parse("bom", "\xEF\xBB\xBF[a]\nx = 1", 12, &err);
  assert_non_null(c);
  assert_true(fpk_config_has(c, "a", "x"));
  fpk_config_free(c);
}

/* fpk_config_load reads at most FPK_CONFIG_MAX_BYTES (a device such as /dev/zero has no end). */
static void test_load_size_limit(void **state) {
  (void)state;
  fpk_error err = {0};
  snprintf(path, sizeof path, "/tmp/fpk_cfg_XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, (off_t)FPK_CONFIG_MAX_BYTES + 1), 0);
  close(fd);
  assert_null(fpk_config_load(path, &err));
  assert_int_equal(err.status, FPK_EINVAL);
  assert_contains(err.msg, "is larger than 16 MiB");
  /* exactly the limit is read (and refused for its NUL bytes, at line 1 column 1) */
  assert_int_equal(truncate(path, (off_t)FPK_CONFIG_MAX_BYTES), 0);
  assert_null(fpk_config_load(path, &err));
  assert_contains(err.msg, ":1:1: NUL byte");
  unlink(path);
  assert_null(fpk_config_load("/", &err));
  assert_int_equal(err.status, FPK_EIO);
  assert_contains(err.msg, "cannot read config file '/'");
}

/* The resolved configuration (stored in every output file) reads back as the same values: long
 * values go over continuation lines, "key =" followed by indented lines gives no leading space,
 * and --set refuses what a file could not hold (found by fuzz/fuzz_config.c; inputs in
 * fuzz/regressions/config/). */
static void test_resolved_reads_back(void **state) {
  (void)state;
  fpk_error err = {0};
  char *times = malloc(4096);
  assert_non_null(times);
  strcpy(times, "[time]\ntimes = 0.001");
  for (int i = 2; i <= 80; i++)
    sprintf(times + strlen(times), "%s%.3f", i % 10 == 1 ? "\n  " : " ", 0.001 * i);
  strcat(times, "\n[grid]\nbc =\n   reflecting\n  periodic\n[output]\nfile=/");
  for (int i = 0; i < 192; i++) strcat(times, "d"); /* a 198-byte line */
  strcat(times, "\n");
  fpk_config *c = load_text(times, &err);
  assert_non_null(c);
  double t[128];
  size_t nt = 0;
  const char *bc = NULL, *file = NULL;
  assert_int_equal(fpk_config_double_list(c, "time", "times", 1, 128, t, &nt, &err), 0);
  assert_int_equal(nt, 80);
  assert_int_equal(fpk_config_string(c, "grid", "bc", 1, &bc, &err), 0);
  assert_string_equal(bc, "reflecting periodic");
  assert_int_equal(fpk_config_string(c, "output", "file", 1, &file, &err), 0);
  char *resolved = strdup(fpk_config_resolved(c));
  assert_non_null(resolved);
  /* every line fits inih's buffer; the long file name goes on a "file=" line */
  for (char *p = resolved, *nl; *p; p = nl + 1) {
    nl = strchr(p, '\n');
    assert_non_null(nl);
    assert_true(nl - p <= 198);
  }
  assert_contains(resolved, "\nfile=/ddd");
  fpk_config *r = fpk_config_parse("resolved", resolved, strlen(resolved), &err);
  assert_non_null(r);
  double t2[128];
  size_t nt2 = 0;
  const char *bc2 = NULL, *file2 = NULL;
  assert_int_equal(fpk_config_double_list(r, "time", "times", 1, 128, t2, &nt2, &err), 0);
  assert_int_equal(nt2, 80);
  assert_memory_equal(t, t2, 80 * sizeof *t);
  assert_int_equal(fpk_config_string(r, "grid", "bc", 1, &bc2, &err), 0);
  assert_string_equal(bc2, "reflecting periodic");
  assert_int_equal(fpk_config_string(r, "output", "file", 1, &file2, &err), 0);
  assert_string_equal(file2, file);
  assert_string_equal(fpk_config_resolved(r), resolved);
  fpk_config_free(r);
  free(resolved);
  fpk_config_free(c);
  free(times);
}

static void test_set_refuses_unstorable(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_config *c = load_text("[output]\nfile = a.h5\n", &err);
  assert_non_null(c);
  assert_int_equal(fpk_config_set(c, "output.file=a.h5\n[model]\nmu = 1", &err), FPK_EINVAL);
  assert_contains(err.msg, "--set output.file: the value has a line break (at byte 5)");
  assert_int_equal(fpk_config_set(c, "output.file=a #b.h5", &err), FPK_EINVAL);
  assert_contains(err.msg, "'#' after white space starts a comment in a configuration file");
  char *set = format("output.file=/%s", repeat_static('x', 300));
  assert_int_equal(fpk_config_set(c, set, &err), FPK_EINVAL);
  assert_contains(err.msg, "--set output.file: the value (301 bytes) cannot be split at single "
                           "spaces into lines of at most 198 bytes");
  free(set);
  set = format("parameters.%s=2", repeat_static('k', 50));
  assert_int_equal(fpk_config_set(c, set, &err), FPK_EINVAL);
  assert_contains(err.msg, "key name is 50 bytes long; the limit is 49");
  free(set);
  /* what a file could hold is taken: ';' or '#' inside a word or first ("file =;b" in a file;
   * the resolved text writes "file=;b"), a long list split over lines */
  assert_int_equal(fpk_config_set(c, "output.wisdom=;b", &err), 0);
  assert_int_equal(fpk_config_set(c, "output.file=a;b#c.h5", &err), 0);
  set = format("time.times=%s", "0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 1.0 0.1 0.2 0.3 0.4 0.5 0.6 "
                                "0.7 0.8 0.9 1.0 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 1.0 0.1 0.2 "
                                "0.3 0.4 0.5 0.6 0.7 0.8 0.9 1.0 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 "
                                "0.9 1.0 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 1.0");
  assert_int_equal(fpk_config_set(c, set, &err), 0);
  free(set);
  const char *file = NULL;
  assert_int_equal(fpk_config_string(c, "output", "file", 1, &file, &err), 0);
  assert_string_equal(file, "a;b#c.h5");
  double t[64];
  size_t nt = 0;
  assert_int_equal(fpk_config_double_list(c, "time", "times", 1, 64, t, &nt, &err), 0);
  assert_int_equal(nt, 60);
  const char *wisdom = NULL;
  assert_int_equal(fpk_config_string(c, "output", "wisdom", 1, &wisdom, &err), 0);
  assert_string_equal(wisdom, ";b");
  const char *resolved = fpk_config_resolved(c);
  assert_contains(resolved, "\n 0.");
  assert_contains(resolved, "\nwisdom=;b\n");
  fpk_config *r = fpk_config_parse("resolved", resolved, strlen(resolved), &err);
  assert_non_null(r);
  fpk_config_section_keys(r, "output", NULL, 0);
  fpk_config_section_keys(r, "time", NULL, 0);
  assert_string_equal(fpk_config_resolved(r), resolved);
  fpk_config_free(r);
  fpk_config_free(c);
}

/* The key table (fpk_config_add_schema): a getter reading a key as the table says succeeds; a key
 * missing from the table, or read with another type, requirement, default, range or an
 * undocumented choice, fails with an internal error naming both; [parameters]-like sections are
 * data; FPK_KEY_VARIES checks the type only. */
static void test_schema_checks_every_read(void **state) {
  (void)state;
  static const char *const schemes[] = {"implicit-euler", "tr-bdf2", NULL};
  static const char *const schemes3[] = {"implicit-euler", "tr-bdf2", "explicit-euler", NULL};
  static const fpk_config_key table[] = {
      {"grid", "n", FPK_KEY_SIZE, 0, "64", 0, 0, 0, 2, 4096, NULL, NULL, NULL, "cells"},
      {"fp", "dt", FPK_KEY_DOUBLE, FPK_KEY_REQUIRED, NULL, 0, INFINITY, 1, 0, 0, NULL, "0.01",
       NULL, "step"},
      {"fp", "scheme", FPK_KEY_CHOICE, 0, "tr-bdf2", 0, 0, 0, 0, 0, schemes, NULL, NULL, "stepper"},
      {"fp", "on", FPK_KEY_BOOL, 0, "true", 0, 0, 0, 0, 0, NULL, NULL, NULL, "run it"},
      {"grid", "lo", FPK_KEY_LIST, 0, "-4", 0, 0, 0, 0, 0, NULL, NULL, NULL, "lower edges"},
      {"mc", "keep", FPK_KEY_SIZE, FPK_KEY_VARIES, "0", 0, 0, 0, 0, 0, NULL, NULL, NULL, "<= paths"},
      {"parameters", "*", FPK_KEY_DATA, 0, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, "names"},
  };
  fpk_error err = {0};
  fpk_config *c = load_text("[fp]\ndt = 0.5\n[parameters]\nk = 3\n", &err);
  assert_non_null(c);
  assert_int_equal(fpk_config_add_schema(c, table, sizeof table / sizeof table[0], &err), 0);
  size_t n = 64, k = 1, keep = 7;
  double dt = 0, lo[2] = {-4, -4}, kv = 0;
  int on = 1;
  /* as the table says */
  assert_int_equal(fpk_config_size(c, "grid", "n", 0, 2, 4096, &n, &err), 0);
  assert_int_equal(fpk_config_double(c, "fp", "dt", 1, 0.0, 1, INFINITY, &dt, &err), 0);
  assert_true(dt == 0.5);
  assert_int_equal(fpk_config_choice(c, "fp", "scheme", 0, schemes, &k, &err), 0);
  assert_int_equal(fpk_config_bool(c, "fp", "on", 0, &on, &err), 0);
  assert_int_equal(fpk_config_doubles(c, "grid", "lo", 0, 2, 1, lo, &err), 0);
  assert_int_equal(fpk_config_size(c, "mc", "keep", 0, 0, 1000, &keep, &err), 0); /* varies */
  assert_int_equal(fpk_config_double(c, "parameters", "k", 1, -INFINITY, 0, INFINITY, &kv, &err), 0);
  assert_true(kv == 3.0);
  /* drift: each mismatch is an internal error, and nothing is read */
  struct {
    int rc;
    const char *what;
  } bad[8];
  size_t nb = 0;
  n = 32;
#define BAD(call, text) bad[nb].rc = (call), bad[nb].what = text, nb++
  BAD(fpk_config_size(c, "grid", "n", 0, 2, 4096, &n, &err), "default");
  n = 64;
  BAD(fpk_config_size(c, "grid", "n", 0, 1, 4096, &n, &err), "range");
  BAD(fpk_config_size(c, "grid", "n", 1, 2, 4096, &n, &err), "requirement");
  BAD(fpk_config_u64(c, "grid", "n", 0, (uint64_t *)&keep, &err), "type");
  BAD(fpk_config_choice(c, "fp", "scheme", 0, schemes3, &k, &err), "undocumented choice");
  BAD(fpk_config_double(c, "fp", "dt", 1, 0.0, 0, INFINITY, &dt, &err), "open or closed");
  BAD(fpk_config_bool(c, "fp", "verbose", 0, &on, &err), "missing");
  lo[1] = 0.0;
  BAD(fpk_config_doubles(c, "grid", "lo", 0, 2, 1, lo, &err), "list default");
#undef BAD
  for (size_t i = 0; i < nb; i++) {
    if (bad[i].rc != FPK_EINVAL) fail_msg("schema mismatch (%s) was accepted", bad[i].what);
  }
  fpk_error e2 = {0};
  assert_int_equal(fpk_config_bool(c, "fp", "verbose", 0, &on, &e2), FPK_EINVAL);
  assert_contains(e2.msg, "internal error: [fp] verbose");
  assert_contains(e2.msg, "not in the key table");
  n = 32;
  assert_int_equal(fpk_config_size(c, "grid", "n", 0, 2, 4096, &n, &e2), FPK_EINVAL);
  assert_contains(e2.msg, "internal error: [grid] n is read as size in [2, 4096], default 32");
  assert_contains(e2.msg, "default 64");
  fpk_config_free(c);
  /* without a schema, nothing is checked */
  c = load_text("[fp]\ndt = 0.5\n", &err);
  assert_non_null(c);
  assert_int_equal(fpk_config_bool(c, "fp", "verbose", 0, &on, &err), 0);
  fpk_config_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_typed_values),
      cmocka_unit_test(test_errors_name_file_line_key_value),
      cmocka_unit_test(test_unknown_keys_and_sections),
      cmocka_unit_test(test_syntax_and_duplicates),
      cmocka_unit_test(test_set_overrides_and_resolved),
      cmocka_unit_test(test_broadcast_and_lists),
      cmocka_unit_test(test_long_comment_injects_nothing),
      cmocka_unit_test(test_line_numbers_after_long_comment),
      cmocka_unit_test(test_long_line_refused),
      cmocka_unit_test(test_huge_section_name),
      cmocka_unit_test(test_inih_names_not_cut),
      cmocka_unit_test(test_nul_byte),
      cmocka_unit_test(test_invalid_utf8),
      cmocka_unit_test(test_valid_utf8),
      cmocka_unit_test(test_broadcast_refused_after_comment),
      cmocka_unit_test(test_lists_without_semicolons),
      cmocka_unit_test(test_set_semicolon_refused),
      cmocka_unit_test(test_comment_without_broadcast),
      cmocka_unit_test(test_parse_from_memory),
      cmocka_unit_test(test_load_size_limit),
      cmocka_unit_test(test_resolved_reads_back),
      cmocka_unit_test(test_set_refuses_unstorable),
      cmocka_unit_test(test_schema_checks_every_read),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
