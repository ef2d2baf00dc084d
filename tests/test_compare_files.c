/* Bitwise comparison of two HDF5 files (fpk_h5_compare_files, fpkit/io.h), what `fpkit rerun`
 * reports: identical files, one value off by one ulp, a different shape, a dataset missing from
 * either side, NaN payloads and signed zeros told apart, wall-clock timings set aside, a nested
 * group, and files that cannot be read; attributes (results stored as attributes, bitwise; strings
 * as text; present in one file only), with timings, records, the root's creation time and
 * /provenance set aside. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fpk_test.h"
#include "fpkit/io.h"
#include "fpkit/provenance.h"

static char dir[64];

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/fpk_cmpf_XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd);
}

static const char *in_dir(const char *name) {
  static char buf[4][256];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
  return buf[k];
}

/* What to change in a file written by write_file. */
typedef struct variant {
  size_t bump_index; /* element of /a/field to move by one ulp; SIZE_MAX: none */
  size_t field_n;    /* elements of /a/field (12 normally) */
  int drop_times;    /* omit /times */
  int extra;         /* add /extra */
  uint64_t nan_payload;
  int negative_zero; /* /times[0] = -0.0 instead of 0.0 */
  double seconds;    /* /a/seconds: a wall-clock timing */
  /* attributes */
  double order;         /* /a/b@order: a result stored as an attribute */
  const char *scheme;   /* /a@scheme, a string; NULL: absent */
  double wall_seconds;  /* /a@wall_seconds: a timing */
  const char *created;  /* root created: a time stamp, not compared */
  const char *version;  /* root fpkit_version: a record (note) */
  const char *host;     /* /provenance@host: not compared */
} variant;

static const variant base = {.bump_index = SIZE_MAX, .field_n = 12, .nan_payload = 1,
                             .seconds = 0.25, .order = 1.0, .scheme = "tr-bdf2",
                             .wall_seconds = 0.5, .created = "2026-12-06T20:00:00Z",
                             .version = "test", .host = "here"};

static double nan_with(uint64_t payload) {
  uint64_t bits = 0x7ff8000000000000ull | payload;
  double v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

static void write_file(const char *path, const variant *v) {
  fpk_error err = {0};
  fpk_h5_create_options o = {.force = 1};
  fpk_h5 *f = fpk_h5_create(path, &o, &err);
  if (!f) fail_msg("create %s: %s", path, err.msg);
  double field[16], times[3] = {v->negative_zero ? -0.0 : 0.0, 0.5, 1.0};
  for (size_t i = 0; i < 16; i++) field[i] = 1.0 / (1.0 + (double)i);
  if (v->bump_index < 16) field[v->bump_index] = nextafter(field[v->bump_index], 2.0);
  const double undefined[3] = {1.0, nan_with(v->nan_payload), 3.0};
  const size_t dims[2] = {v->field_n / 4, 4}, n3 = 3, n1 = 1;
  assert_int_equal(fpk_h5_attr_string(f, "/", "fpkit_version", v->version), FPK_SUCCESS);
  assert_int_equal(fpk_h5_attr_string(f, "/", "created", v->created), FPK_SUCCESS);
  assert_int_equal(fpk_h5_group(f, "/provenance", NULL), FPK_SUCCESS);
  assert_int_equal(fpk_h5_attr_string(f, "/provenance", "host", v->host), FPK_SUCCESS);
  assert_int_equal(fpk_h5_group(f, "/a", NULL), FPK_SUCCESS);
  assert_int_equal(fpk_h5_group(f, "/a/b", NULL), FPK_SUCCESS);
  assert_int_equal(fpk_h5_attr_double(f, "/a/b", "order", v->order), FPK_SUCCESS);
  if (v->scheme) assert_int_equal(fpk_h5_attr_string(f, "/a", "scheme", v->scheme), FPK_SUCCESS);
  assert_int_equal(fpk_h5_attr_double(f, "/a", "wall_seconds", v->wall_seconds), FPK_SUCCESS);
  assert_int_equal(fpk_h5_write(f, "/a/field", 2, dims, field, NULL, NULL), FPK_SUCCESS);
  assert_int_equal(fpk_h5_write_undefined(f, "/a/b/mean", 1, &n3, undefined, NULL, NULL, "none"),
                   FPK_SUCCESS);
  assert_int_equal(fpk_h5_write(f, "/a/seconds", 1, &n1, &v->seconds, "s", "wall time"),
                   FPK_SUCCESS);
  if (!v->drop_times)
    assert_int_equal(fpk_h5_write(f, "/times", 1, &n3, times, NULL, NULL), FPK_SUCCESS);
  if (v->extra) assert_int_equal(fpk_h5_write(f, "/extra", 1, &n1, times, NULL, NULL), FPK_SUCCESS);
  if (fpk_h5_commit(f)) fail_msg("commit %s: %s", path, fpk_h5_errmsg(f));
  fpk_h5_close(f);
}

/* Compares the base file with a variant of it. */
static fpk_h5_comparison compare_with(const variant *v) {
  write_file(in_dir("a.h5"), &base);
  write_file(in_dir("b.h5"), v);
  fpk_h5_comparison c;
  fpk_error err = {0};
  if (fpk_h5_compare_files(in_dir("a.h5"), in_dir("b.h5"), &c, &err))
    fail_msg("compare: %s", err.msg);
  return c;
}

static void test_identical(void **state) {
  (void)state;
  fpk_h5_comparison c = compare_with(&base);
  assert_int_equal(c.ndatasets, 4);
  assert_int_equal(c.nidentical, 4);
  assert_int_equal(c.ndiffs, 0);
  assert_int_equal(c.nresults, 0);
  assert_int_equal(c.nelements, 12 + 3 + 1 + 3);
  /* fpkit_version; /a/b@order, /a@scheme, /a@wall_seconds; the writer's attributes of the
   * datasets (units, description, nan) are compared too, while root created and /provenance
   * are not */
  assert_true(c.nattributes >= 4);
  assert_int_equal(c.nattr_identical, c.nattributes);
  fpk_h5_comparison_free(&c);
}

/* A result stored as an attribute, one ulp off: a difference of the results, with both values. */
static void test_attribute_value(void **state) {
  (void)state;
  variant v = base;
  v.order = nextafter(1.0, 2.0);
  fpk_h5_comparison c = compare_with(&v);
  assert_int_equal(c.ndiffs, 1);
  assert_int_equal(c.nresults, 1);
  assert_int_equal(c.nidentical, 4);
  const fpk_h5_diff *d = &c.diffs[0];
  assert_string_equal(d->path, "/a/b@order");
  assert_int_equal(d->kind, FPK_H5_DIFF_ATTR_VALUE);
  assert_false(d->wall_clock || d->record);
  assert_string_equal(d->value_a, "1");
  assert_string_equal(d->value_b, "1.0000000000000002");
  fpk_h5_comparison_free(&c);

  /* bitwise: -0 is not +0 */
  v = base;
  v.order = 0.0;
  write_file(in_dir("a.h5"), &v);
  v.order = -0.0;
  write_file(in_dir("b.h5"), &v);
  fpk_error err = {0};
  assert_int_equal(fpk_h5_compare_files(in_dir("a.h5"), in_dir("b.h5"), &c, &err), 0);
  assert_int_equal(c.nresults, 1);
  assert_string_equal(c.diffs[0].value_a, "0");
  assert_string_equal(c.diffs[0].value_b, "-0");
  fpk_h5_comparison_free(&c);
}

/* A string attribute edited, removed or added. */
static void test_attribute_string_and_presence(void **state) {
  (void)state;
  variant v = base;
  v.scheme = "euler";
  fpk_h5_comparison c = compare_with(&v);
  assert_int_equal(c.nresults, 1);
  assert_string_equal(c.diffs[0].path, "/a@scheme");
  assert_string_equal(c.diffs[0].value_a, "'tr-bdf2'");
  assert_string_equal(c.diffs[0].value_b, "'euler'");
  fpk_h5_comparison_free(&c);

  v.scheme = NULL;
  c = compare_with(&v);
  assert_int_equal(c.nresults, 1);
  assert_int_equal(c.diffs[0].kind, FPK_H5_DIFF_ATTR_ONLY_IN_A);
  assert_string_equal(c.diffs[0].path, "/a@scheme");
  assert_string_equal(c.diffs[0].value_a, "'tr-bdf2'");
  assert_null(c.diffs[0].value_b);
  fpk_h5_comparison_free(&c);

  /* the other way round */
  write_file(in_dir("a.h5"), &v);
  write_file(in_dir("b.h5"), &base);
  fpk_error err = {0};
  assert_int_equal(fpk_h5_compare_files(in_dir("a.h5"), in_dir("b.h5"), &c, &err), 0);
  assert_int_equal(c.nresults, 1);
  assert_int_equal(c.diffs[0].kind, FPK_H5_DIFF_ATTR_ONLY_IN_B);
  fpk_h5_comparison_free(&c);
}

/* Timings, records and what is not compared: never a difference of the results. */
static void test_attribute_not_results(void **state) {
  (void)state;
  variant v = base;
  v.wall_seconds = 0.75;
  v.created = "2026-12-07T08:00:00Z";
  v.host = "elsewhere";
  v.version = "other";
  fpk_h5_comparison c = compare_with(&v);
  assert_int_equal(c.nresults, 0);
  assert_int_equal(c.ndiffs, 2); /* created and /provenance are not compared at all */
  assert_string_equal(c.diffs[0].path, "/@fpkit_version");
  assert_true(c.diffs[0].record);
  assert_string_equal(c.diffs[1].path, "/a@wall_seconds");
  assert_true(c.diffs[1].wall_clock);
  fpk_h5_comparison_free(&c);
}

static void test_one_ulp(void **state) {
  (void)state;
  variant v = base;
  v.bump_index = 5;
  fpk_h5_comparison c = compare_with(&v);
  assert_int_equal(c.ndiffs, 1);
  assert_int_equal(c.nresults, 1);
  assert_int_equal(c.nidentical, 3);
  const fpk_h5_diff *d = &c.diffs[0];
  assert_string_equal(d->path, "/a/field");
  assert_int_equal(d->kind, FPK_H5_DIFF_VALUES);
  assert_int_equal(d->ndiffer, 1);
  assert_int_equal(d->nelements, 12);
  assert_int_equal(d->nan_mismatch, 0);
  const double x = 1.0 / 6.0, ulp = nextafter(x, 2.0) - x;
  assert_true(d->max_abs == ulp);
  assert_close_rel(d->max_rel, ulp / nextafter(x, 2.0), 1e-12);
  assert_true(d->max_abs_a == 1.0); /* field[0] = 1 */
  fpk_h5_comparison_free(&c);
}

static void test_shape(void **state) {
  (void)state;
  variant v = base;
  v.field_n = 16;
  fpk_h5_comparison c = compare_with(&v);
  assert_int_equal(c.ndiffs, 1);
  assert_int_equal(c.diffs[0].kind, FPK_H5_DIFF_SHAPE);
  assert_int_equal(c.diffs[0].rank_a, 2);
  assert_int_equal(c.diffs[0].dims_a[0], 3);
  assert_int_equal(c.diffs[0].dims_b[0], 4);
  fpk_h5_comparison_free(&c);
}

static void test_missing(void **state) {
  (void)state;
  variant v = base;
  v.drop_times = 1;
  v.extra = 1;
  fpk_h5_comparison c = compare_with(&v);
  assert_int_equal(c.ndatasets, 5); /* the union */
  assert_int_equal(c.ndiffs, 2);
  assert_string_equal(c.diffs[0].path, "/extra");
  assert_int_equal(c.diffs[0].kind, FPK_H5_DIFF_ONLY_IN_B);
  assert_string_equal(c.diffs[1].path, "/times");
  assert_int_equal(c.diffs[1].kind, FPK_H5_DIFF_ONLY_IN_A);
  fpk_h5_comparison_free(&c);
}

static void test_nan_payload_and_zero_sign(void **state) {
  (void)state;
  variant v = base;
  v.nan_payload = 2;
  fpk_h5_comparison c = compare_with(&v);
  assert_int_equal(c.ndiffs, 1);
  assert_string_equal(c.diffs[0].path, "/a/b/mean");
  assert_int_equal(c.diffs[0].ndiffer, 1);
  assert_int_equal(c.diffs[0].nan_mismatch, 0);
  assert_true(c.diffs[0].max_abs == 0.0);
  fpk_h5_comparison_free(&c);

  v = base;
  v.negative_zero = 1;
  c = compare_with(&v);
  assert_int_equal(c.ndiffs, 1);
  assert_string_equal(c.diffs[0].path, "/times");
  assert_int_equal(c.diffs[0].ndiffer, 1);
  assert_true(c.diffs[0].max_abs == 0.0);
  fpk_h5_comparison_free(&c);
}

static void test_wall_clock(void **state) {
  (void)state;
  variant v = base;
  v.seconds = 0.5;
  fpk_h5_comparison c = compare_with(&v);
  assert_int_equal(c.ndiffs, 1);
  assert_int_equal(c.nresults, 0); /* a timing is not a result */
  assert_true(c.diffs[0].wall_clock);
  assert_string_equal(c.diffs[0].path, "/a/seconds");
  fpk_h5_comparison_free(&c);
}

static void test_unreadable(void **state) {
  (void)state;
  write_file(in_dir("a.h5"), &base);
  FILE *t = fopen(in_dir("text.h5"), "w");
  assert_non_null(t);
  fputs("not hdf5\n", t);
  fclose(t);
  fpk_h5_comparison c;
  fpk_error err = {0};
  assert_int_not_equal(fpk_h5_compare_files(in_dir("a.h5"), in_dir("none.h5"), &c, &err), 0);
  assert_non_null(strstr(err.msg, "none.h5"));
  assert_int_equal(c.ndiffs, 0);
  assert_null(c.diffs);
  assert_int_not_equal(fpk_h5_compare_files(in_dir("text.h5"), in_dir("a.h5"), &c, &err), 0);
  assert_non_null(strstr(err.msg, "text.h5"));
}

/* A damaged dataset (tests/defects/corrupt_mc_t.h5: HDF5 cannot open /mc/t) is an error naming
 * it, compared with itself or with a copy: skipped, it compared as "identical" (fuzz finding). */
static void test_damaged_object(void **state) {
  (void)state;
  const char *src = getenv("FPK_SOURCE_DIR");
  if (!src) skip();
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/defects/corrupt_mc_t.h5", src);
  fpk_h5_comparison c;
  fpk_error err = {0};
  assert_int_not_equal(fpk_h5_compare_files(path, path, &c, &err), 0);
  assert_non_null(strstr(err.msg, "/mc/t"));
  assert_int_equal(c.ndiffs, 0);
  assert_null(c.diffs);
}

/* The provenance helpers the comparison's caller records. */
static void test_provenance(void **state) {
  (void)state;
  fpk_provenance p;
  fpk_provenance_collect(&p);
  fpk_provenance_field fields[FPK_PROVENANCE_NFIELDS];
  assert_int_equal(fpk_provenance_fields(&p, fields, FPK_PROVENANCE_NFIELDS),
                   FPK_PROVENANCE_NFIELDS);
  for (size_t i = 0; i < FPK_PROVENANCE_NFIELDS; i++) {
    assert_non_null(fields[i].name);
    if (!fields[i].value[0]) fail_msg("provenance %s is empty", fields[i].name);
  }
  assert_true(strlen(p.git_commit) == 40 || !strcmp(p.git_commit, "unknown"));
  assert_non_null(strstr(p.c_flags, "-Wall"));
  assert_true(p.threads >= 1);
  const char *argv[] = {"fpkit", "run", "a b.ini", "--set", "x.y=it's", ""};
  char *line = fpk_shell_join(6, argv);
  assert_string_equal(line, "fpkit run 'a b.ini' --set 'x.y=it'\\''s' ''");
  free(line);
  char now[32];
  fpk_utc_now(now);
  assert_int_equal(strlen(now), 20);
  assert_int_equal(now[19], 'Z');
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_identical),  cmocka_unit_test(test_one_ulp),
      cmocka_unit_test(test_shape),      cmocka_unit_test(test_missing),
      cmocka_unit_test(test_nan_payload_and_zero_sign),
      cmocka_unit_test(test_wall_clock), cmocka_unit_test(test_unreadable),
      cmocka_unit_test(test_attribute_value),
      cmocka_unit_test(test_attribute_string_and_presence),
      cmocka_unit_test(test_attribute_not_results),
      cmocka_unit_test(test_provenance),
      cmocka_unit_test(test_damaged_object),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
