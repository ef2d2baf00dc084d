/* Tests of the strict INI configuration (fpkit/config.h): every failure names file:line, the key,
 * the value and what was expected; defaults appear in the resolved text; --set overrides. */
#include "fpk_test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fpkit/config.h"

static char path[64];

static fpk_config *load_text(const char *text, fpk_error *err) {
  snprintf(path, sizeof path, "/tmp/fpk_cfg_XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  fpk_config *c = fpk_config_load(path, err);
  unlink(path);
  return c;
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
  fpk_config *c = load_text("[a]\ns = 0.5\nt = 0; 0.5; 1\nm = 1 2 3\n", &err);
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_typed_values),
      cmocka_unit_test(test_errors_name_file_line_key_value),
      cmocka_unit_test(test_unknown_keys_and_sections),
      cmocka_unit_test(test_syntax_and_duplicates),
      cmocka_unit_test(test_set_overrides_and_resolved),
      cmocka_unit_test(test_broadcast_and_lists),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
