/* fpk_config_matrix / fpk_config_matrix_text (src/core/config.c; issue 16): rows on lines or
 * separated by '|', the shape, ragged rows and too many columns refused with file:line, key and
 * value, and the resolved configuration reading back as the same matrix. */
#include "fpk_test.h"

#include <string.h>

#include "fpkit/config.h"

static fpk_config *parse(const char *text) {
  fpk_error err = {0};
  fpk_config *c = fpk_config_parse("m.ini", text, strlen(text), &err);
  if (!c) fail_msg("parse: %s", err.msg);
  return c;
}

static void test_rows_on_lines(void **state) {
  (void)state;
  fpk_config *c = parse("[model]\nsigma = 1 0.5 0\n        0 2 3 ; a comment\nd =\n  1 2\n  3 4\n"
                        "one = 7 8 9\n");
  double v[18];
  size_t r = 0, k = 0;
  fpk_error err = {0};
  assert_int_equal(fpk_config_matrix(c, "model", "sigma", 1, 3, 6, v, &r, &k, &err), 0);
  assert_int_equal(r, 2);
  assert_int_equal(k, 3);
  assert_true(v[0] == 1 && v[1] == 0.5 && v[2] == 0 && v[3] == 0 && v[4] == 2 && v[5] == 3);
  assert_int_equal(fpk_config_matrix(c, "model", "d", 1, 3, 6, v, &r, &k, &err), 0);
  assert_int_equal(r, 2);
  assert_int_equal(k, 2);
  assert_true(v[0] == 1 && v[3] == 4);
  assert_int_equal(fpk_config_matrix(c, "model", "one", 1, 3, 6, v, &r, &k, &err), 0);
  assert_int_equal(r, 1);
  assert_int_equal(k, 3);
  /* the resolved listing keeps the rows ('|'), and reads back as the same matrices */
  const char *res = fpk_config_resolved(c);
  assert_non_null(strstr(res, "sigma = 1 0.5 0 | 0 2 3"));
  fpk_config *c2 = parse(res);
  assert_int_equal(fpk_config_matrix(c2, "model", "sigma", 1, 3, 6, v, &r, &k, &err), 0);
  assert_true(r == 2 && k == 3 && v[4] == 2);
  fpk_config_free(c2);
  fpk_config_free(c);
  /* --set: rows separated by '|' */
  c = parse("[model]\nsigma = 1\n");
  assert_int_equal(fpk_config_set(c, "model.sigma=1 2 | 3 4 | 5 6", &err), 0);
  assert_int_equal(fpk_config_matrix(c, "model", "sigma", 1, 3, 6, v, &r, &k, &err), 0);
  assert_true(r == 3 && k == 2 && v[5] == 6);
  const char *text = NULL;
  assert_int_equal(fpk_config_matrix_text(c, "model", "sigma", 1, 3, &text, &r, &err), 0);
  assert_string_equal(text, "1 2 | 3 4 | 5 6");
  fpk_config_free(c);
}

static void test_bad_shapes(void **state) {
  (void)state;
  static const struct {
    const char *text, *want;
  } bad[] = {
      {"[model]\nsigma = 1 2\n   3\n", "m.ini:2: [model] sigma = '1 2 | 3': expected the same count"},
      {"[model]\nsigma = 1 2 3 4 5 6 7\n", "at most 6 numbers per row (row 1 has 7)"},
      {"[model]\nsigma = 1\n 2\n 3\n 4\n", "at most 3 rows"},
      {"[model]\nsigma = 1 x\n 2 3\n", "expected rows of numbers"},
      {"[model]\nsigma = 1 2 |\n", "row 2 is empty"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    fpk_config *c = parse(bad[i].text);
    double v[18];
    size_t r = 0, k = 0;
    fpk_error err = {0};
    assert_int_equal(fpk_config_matrix(c, "model", "sigma", 1, 3, 6, v, &r, &k, &err), FPK_EINVAL);
    print_message("%s\n", err.msg);
    if (!strstr(err.msg, bad[i].want)) fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, bad[i].want);
    fpk_config_free(c);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rows_on_lines),
      cmocka_unit_test(test_bad_shapes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
