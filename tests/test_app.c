/* The commands' handling of a numerical failure (src/app): a solver's output guard that fires
 * leaves no output file, or with --keep-failed a file marked failed with the reason. For `fpkit
 * ot` no input reaches a guard any more (the large-eps defect D7 is fixed), so the failure is
 * provoked with the OT module's white-box hook that restores the old, cancelling arithmetic
 * (src/ot/ot_internal.h); `fpkit run`'s failures have real inputs (tests/cli/defects.sh). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fpk_test.h"
#include "app/app.h"
#include "fpkit/io.h"
#include "ot/ot_internal.h"

static const char ot_config[] =
    "[ot]\n"
    "eps = 1 1e16\n"
    "divergence = true\n"
    "\n"
    "[grid]\n"
    "dim = 1\n"
    "n = 200\n"
    "lo = -10\n"
    "hi = 10\n"
    "\n"
    "[source]\n"
    "type = gaussian\n"
    "mean = 0.3\n"
    "std = 0.8\n"
    "\n"
    "[target]\n"
    "type = gaussian\n"
    "mean = -0.5\n"
    "std = 1.3\n";

static void test_ot_keep_failed(void **state) {
  (void)state;
  char dir[] = "/tmp/fpk_app_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char ini[256], out[256];
  snprintf(ini, sizeof ini, "%s/large_eps.ini", dir);
  snprintf(out, sizeof out, "%s/out.h5", dir);
  FILE *fp = fopen(ini, "w");
  assert_non_null(fp);
  fputs(ot_config, fp);
  fclose(fp);

  fpk_run_options opt = {.config_path = ini, .output = out, .quiet = 1, .threads = 1};
  fpk_error err = {0};
  struct stat st;
  /* as fixed: both solves succeed */
  assert_int_equal(fpk_app_ot(&opt, &err), FPK_SUCCESS);
  assert_int_equal(stat(out, &st), 0);
  unlink(out);

  ot_test_force_standard = 1; /* the arithmetic of the defect */
  fpk_error_clear(&err);
  assert_int_equal(fpk_app_ot(&opt, &err), FPK_ENUMERIC);
  printf("  %s\n", err.msg);
  assert_non_null(strstr(err.msg, "eps = 1e+16"));
  assert_non_null(strstr(err.msg, "cannot be negative"));
  assert_int_not_equal(stat(out, &st), 0); /* no file */

  opt.keep_failed = 1;
  fpk_error_clear(&err);
  assert_int_equal(fpk_app_ot(&opt, &err), FPK_ENUMERIC);
  assert_non_null(strstr(err.msg, "written with failed = 1"));
  ot_test_force_standard = 0;
  fpk_h5_reader *r = fpk_h5_reader_open(out, &err);
  assert_non_null(r);
  double failed, v[2];
  char *why;
  assert_int_equal(fpk_h5_read_attr_double(r, "/", "failed", &failed), FPK_SUCCESS);
  assert_close_abs(failed, 1.0, 0.0);
  assert_int_equal(fpk_h5_read_attr_string(r, "/", "failed_reason", &why), FPK_SUCCESS);
  assert_non_null(strstr(why, "cannot be negative"));
  free(why);
  /* the eps = 1 solve is there, the failed one is NaN */
  assert_int_equal(fpk_h5_read_doubles(r, "/ot/dual", 2, v), FPK_SUCCESS);
  assert_close_rel(v[0], 1.8159956, 1e-6);
  assert_true(isnan(v[1]));
  assert_int_equal(fpk_h5_is_dataset(r, "/ot/history/0"), 1);
  assert_int_equal(fpk_h5_is_dataset(r, "/ot/history/1"), 0);
  fpk_h5_reader_close(r);
  unlink(out);
  unlink(ini);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ot_keep_failed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
