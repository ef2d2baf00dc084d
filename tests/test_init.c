/* Initial laws given on the grid (issue 12, part 7): grid comparison and description
 * (fpk_grid_equal, fpk_grid_describe, fpk_grid_wall_mass), the field reader of fpkit files
 * (src/io/field.c), cell averages of a density expression (fpk_expr_cell_averages: O(h^6)), and
 * the Monte Carlo start from a law on the grid (fpk_mc_params.init_cells: exact in law, bitwise
 * the same for any thread count). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fpk_test.h"
#include "fpkit/exact.h"
#include "fpkit/io.h"
#include "fpkit/sde.h"

#define assert_msg_has(msg, text)                                                  \
  do {                                                                             \
    if (!strstr((msg), (text))) fail_msg("message lacks \"%s\": %s", (text), (msg)); \
  } while (0)

static int quick(void) {
  const char *q = getenv("FPK_TEST_QUICK");
  return q && q[0] == '1';
}

static fpk_grid grid1(size_t n, double lo, double hi, fpk_bc bc) {
  fpk_grid g;
  fpk_error err = {0};
  const fpk_bc b[1] = {bc};
  assert_int_equal(fpk_grid_init(&g, 1, &n, &lo, &hi, b, &err), FPK_SUCCESS);
  return g;
}

static void test_grid_equal_describe(void **state) {
  (void)state;
  fpk_grid a = grid1(60, -6, 6, FPK_BC_REFLECTING), b = a;
  assert_true(fpk_grid_equal(&a, &b));
  b.hi[0] = 6 + 1e-13; /* within 1e-12 of the length 12: bounds read back from a file */
  assert_true(fpk_grid_equal(&a, &b));
  b.hi[0] = 6 + 1e-9;
  assert_false(fpk_grid_equal(&a, &b));
  b = grid1(60, -6, 6, FPK_BC_PERIODIC);
  assert_false(fpk_grid_equal(&a, &b));
  b = grid1(61, -6, 6, FPK_BC_REFLECTING);
  assert_false(fpk_grid_equal(&a, &b));
  char buf[128];
  fpk_grid_describe(&a, 0, buf, sizeof buf);
  assert_string_equal(buf, "60 cells on [-6, 6]");
  fpk_grid_describe(&a, 1, buf, sizeof buf);
  assert_string_equal(buf, "60 cells on [-6, 6], reflecting");
  fpk_grid g2;
  fpk_error err = {0};
  const size_t n[2] = {40, 30};
  const double lo[2] = {-3, -2}, hi[2] = {3, 2};
  const fpk_bc bc[2] = {FPK_BC_PERIODIC, FPK_BC_REFLECTING};
  assert_int_equal(fpk_grid_init(&g2, 2, n, lo, hi, bc, &err), FPK_SUCCESS);
  fpk_grid_describe(&g2, 1, buf, sizeof buf);
  assert_string_equal(buf, "40 x 30 cells on [-3, 3] x [-2, 2], periodic x reflecting");
  assert_false(fpk_grid_equal(&a, &g2));
  /* truncation keeps a terminated string */
  fpk_grid_describe(&g2, 1, buf, 8);
  assert_int_equal(strlen(buf), 7);

  /* the mass of the outermost layers: the lower y layer of g2 holds 1/30 of a uniform field */
  double *p = malloc(g2.size * sizeof *p);
  for (size_t i = 0; i < g2.size; i++) p[i] = 1.0;
  size_t axis;
  int side;
  assert_close_rel(fpk_grid_wall_mass(&g2, p, &axis, &side), 1.0 / 30.0, 1e-14);
  assert_int_equal(axis, 1); /* x is periodic: never counted */
  assert_int_equal(side, 0);
  for (size_t i = 0; i < 40; i++) p[i] = 0.0; /* empty the lower y layer: the upper one is left */
  assert_close_rel(fpk_grid_wall_mass(&g2, p, &axis, &side), 40.0 / (g2.size - 40.0), 1e-14);
  assert_int_equal(side, 1);
  free(p);
}

/* A minimal `fpkit run`-like file: /grid/x with lo, hi, bc and /fv/density [nt][n], /fv/t. */
static void write_run_file(const char *path, const fpk_grid *g, size_t nt, const double *t,
                           const double *dens, const char *bc) {
  fpk_error err = {0};
  fpk_h5_create_options o = {.force = 1};
  fpk_h5 *f = fpk_h5_create(path, &o, &err);
  if (!f) fail_msg("create %s: %s", path, err.msg);
  double *c = malloc(g->n[0] * sizeof *c);
  for (size_t i = 0; i < g->n[0]; i++) c[i] = fpk_grid_center(g, 0, i);
  const size_t dims[2] = {nt, g->n[0]};
  assert_int_equal(fpk_h5_attr_string(f, "/", "fpkit_version", "test"), 0);
  assert_int_equal(fpk_h5_group(f, "/grid", NULL), 0);
  assert_int_equal(fpk_h5_write(f, "/grid/x", 1, &g->n[0], c, NULL, NULL), 0);
  assert_int_equal(fpk_h5_attr_double(f, "/grid/x", "lo", g->lo[0]), 0);
  assert_int_equal(fpk_h5_attr_double(f, "/grid/x", "hi", g->hi[0]), 0);
  if (bc) assert_int_equal(fpk_h5_attr_string(f, "/grid/x", "bc", bc), 0);
  assert_int_equal(fpk_h5_group(f, "/fv", NULL), 0);
  assert_int_equal(fpk_h5_write(f, "/fv/t", 1, &nt, t, NULL, NULL), 0);
  assert_int_equal(fpk_h5_write(f, "/fv/density", 2, dims, dens, NULL, NULL), 0);
  assert_int_equal(fpk_h5_commit(f), 0);
  fpk_h5_close(f);
  free(c);
}

static void test_read_field(void **state) {
  (void)state;
  char path[64];
  snprintf(path, sizeof path, "/tmp/fpk_init_XXXXXX");
  const int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  const fpk_grid g = grid1(20, -2, 3, FPK_BC_PERIODIC);
  const size_t nt = 3;
  const double t[3] = {0.0, 0.25, 1.0};
  double dens[60];
  for (size_t i = 0; i < 60; i++) dens[i] = 0.001 * (double)i + 1.0 / 3.0;
  write_run_file(path, &g, nt, t, dens, "periodic");

  fpk_error err = {0};
  fpk_h5_reader *r = fpk_h5_reader_open(path, &err);
  assert_non_null(r);
  fpk_grid fg;
  assert_int_equal(fpk_h5_read_grid(r, 1e7, &fg, &err), FPK_SUCCESS);
  assert_true(fpk_grid_equal(&fg, &g)); /* bc read back too */
  assert_int_equal(fpk_h5_read_grid(r, 19, &fg, &err), FPK_EINVAL); /* over the cell limit */
  assert_msg_has(err.msg, "more than the limit of 19");

  size_t n;
  int axis;
  assert_int_equal(fpk_h5_field_shape(r, &g, "/fv/density", 100, &n, &axis, &err), 0);
  assert_int_equal(n, 3);
  assert_int_equal(axis, 1);
  assert_int_equal(fpk_h5_field_shape(r, &g, "/fv/t", 100, &n, &axis, &err), FPK_EINVAL);
  assert_msg_has(err.msg, "not that of a field on the file's grid (20 cells on [-2, 3])");
  assert_int_equal(fpk_h5_field_shape(r, &g, "/mc/density", 100, &n, &axis, &err), FPK_EINVAL);
  assert_msg_has(err.msg, "datasets there: ");
  assert_msg_has(err.msg, "/fv/density");
  assert_msg_has(err.msg, "/grid/x");

  double all[60], tt[3];
  assert_int_equal(fpk_h5_read_field(r, &g, "/fv/density", 3, all, &err), 0);
  assert_memory_equal(all, dens, sizeof dens);
  assert_int_equal(fpk_h5_field_times(r, "/fv/density", 3, tt, &err), 0);
  assert_memory_equal(tt, t, sizeof t);

  /* one time, bit for bit; the last; a time not stored lists the nearest */
  double out[20], tf;
  size_t k;
  assert_int_equal(fpk_h5_read_density(r, &g, "fv", 0.25, out, &tf, &k, &err), 0);
  assert_int_equal(k, 1);
  assert_true(tf == 0.25);
  assert_memory_equal(out, dens + 20, sizeof out);
  assert_int_equal(fpk_h5_read_density(r, &g, "fv", NAN, out, &tf, &k, &err), 0);
  assert_int_equal(k, 2);
  assert_memory_equal(out, dens + 40, sizeof out);
  assert_int_equal(fpk_h5_read_density(r, &g, "fv", 0.3, out, &tf, &k, &err), FPK_EINVAL);
  assert_true(k == SIZE_MAX);
  assert_msg_has(err.msg, "no output at t = 0.3 in /fv/t (3 times; the nearest: 0.25 (index 1), "
                          "0 (index 0), 1 (index 2))");
  double two[40];
  assert_int_equal(fpk_h5_read_doubles_rows(r, "/fv/density", 1, 2, 20, two), 0);
  assert_memory_equal(two, dens + 20, sizeof two);
  assert_int_equal(fpk_h5_read_doubles_rows(r, "/fv/density", 2, 2, 20, two), FPK_EINVAL);
  assert_msg_has(fpk_h5_reader_errmsg(r), "no entries [2, 4) of 20 values");
  assert_int_equal(fpk_h5_read_doubles_rows(r, "/fv/density", 0, 1, 21, two), FPK_EINVAL);
  assert_int_equal(fpk_h5_read_density(r, &g, "mc", NAN, out, &tf, &k, &err), FPK_EINVAL);
  assert_msg_has(err.msg, "has no /mc group");
  fpk_h5_reader_close(r);

  /* without a bc attribute (another writer): reflecting */
  write_run_file(path, &g, nt, t, dens, NULL);
  r = fpk_h5_reader_open(path, &err);
  assert_non_null(r);
  assert_int_equal(fpk_h5_read_grid(r, 1e7, &fg, &err), FPK_SUCCESS);
  assert_int_equal(fg.bc[0], FPK_BC_REFLECTING);
  assert_false(fpk_grid_equal(&fg, &g));
  fpk_h5_reader_close(r);
  unlink(path);
}

/* exp(-x²/(2s²)) on [-L, L]: the cell averages converge at O(h^6) to the exact ones, and their
 * integral to sqrt(2π) s. */
static void test_expr_cell_averages(void **state) {
  (void)state;
  const double s = 0.5;
  const char *names[1] = {"s"};
  const double values[1] = {s};
  double err_h[3], hs[3];
  for (int r = 0; r < 3; r++) {
    const size_t n = (size_t)20 << r;
    const fpk_grid g = grid1(n, -4, 4, FPK_BC_REFLECTING);
    double *avg = malloc(n * sizeof *avg), *ex = malloc(n * sizeof *ex);
    fpk_error err = {0};
    assert_int_equal(fpk_expr_cell_averages("exp(-x^2/(2*s^2))", &g, 1, names, values, avg, &err),
                     FPK_SUCCESS);
    const fpk_gaussian law = {.dim = 1, .mean = {0}, .cov = {s * s}};
    assert_int_equal(fpk_gaussian_cell_probs(&law, &g, ex, &err), 0);
    double e = 0.0;
    const double Z = sqrt(2.0 * M_PI) * s;
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs(avg[i] - ex[i] * Z / g.h[0]));
    err_h[r] = e;
    hs[r] = g.h[0];
    if (r == 2) assert_close_rel(fpk_grid_integral(&g, avg), Z, 1e-10);
    free(avg), free(ex);
  }
  const double order = fpk_test_fit_order(3, hs, err_h);
  if (!(order > 5.5)) fail_msg("cell averages converge at order %.2f, expected 6", order);

  /* errors: where, and which symbol */
  const fpk_grid g = grid1(10, -1, 1, FPK_BC_REFLECTING);
  double avg[10];
  fpk_error err = {0};
  assert_int_equal(fpk_expr_cell_averages("x", &g, 0, NULL, NULL, avg, &err), FPK_EINVAL);
  assert_msg_has(err.msg, "\"x\" is -0.977459667 at x = -0.977459667");
  assert_int_equal(fpk_expr_cell_averages("exp(1000*x^2)", &g, 0, NULL, NULL, avg, &err),
                   FPK_EINVAL); /* overflows to inf near the ends */
  assert_msg_has(err.msg, "is inf at x = -0.977459667");
  assert_int_equal(fpk_expr_cell_averages("exp(-t*x^2)", &g, 1, names, values, avg, &err),
                   FPK_EINVAL);
  assert_msg_has(err.msg, "unknown symbol 't' in \"exp(-t*x^2)\" (an initial density has no "
                          "time) (known: x, s)");
  assert_int_equal(fpk_expr_cell_averages("exp(-x^2", &g, 0, NULL, NULL, avg, &err), FPK_EINVAL);
  assert_msg_has(err.msg, "cannot parse");
  /* values near the subnormal range: precision already lost, refused with the remedy; a small
   * but normal scale is fine */
  assert_int_equal(fpk_expr_cell_averages("exp(-x^2)*1e-320", &g, 0, NULL, NULL, avg, &err),
                   FPK_EINVAL);
  assert_msg_has(err.msg, "multiply it by a constant");
  assert_int_equal(fpk_expr_cell_averages("exp(-x^2)*1e-280", &g, 0, NULL, NULL, avg, &err), 0);
}

/* X_0 from a law on the grid: the histogram at t = 0 has the cell probabilities (chi-square),
 * and 1 and 3 threads give the same bits. */
static void test_mc_cells(void **state) {
  (void)state;
  fpk_error err = {0};
  const size_t n2[2] = {12, 10};
  const double lo[2] = {-3, -2}, hi[2] = {3, 2};
  fpk_grid g;
  assert_int_equal(fpk_grid_init(&g, 2, n2, lo, hi, NULL, &err), 0);
  const double A[4] = {1, 0, 0, 1}, mu[2] = {0, 0}, sg[2] = {0.5, 0.5};
  fpk_model *m = fpk_model_ou_alloc(2, A, mu, sg, &err);
  assert_non_null(m);
  double mass[120], total = 0.0;
  for (size_t i = 0; i < g.size; i++) {
    double x[2];
    fpk_grid_point(&g, i, x);
    mass[i] = (i % 7 == 3) ? 0.0 : exp(-x[0] * x[0] / 2 - x[1] * x[1]) * (1.5 + sin(x[0]));
    total += mass[i];
  }
  const size_t N = quick() ? 20000 : 200000;
  const double t[2] = {0.0, 0.1};
  fpk_mc_params p = {.stepper = fpk_sde_euler_maruyama, .npaths = N, .dt = 0.05, .seed = 7,
                     .nthreads = 1, .init_cells = mass};
  fpk_mc_result r1, r3;
  assert_int_equal(fpk_mc_run(m, NULL, &g, t, 2, &p, &r1, &err), FPK_SUCCESS);
  p.nthreads = 3;
  assert_int_equal(fpk_mc_run(m, NULL, &g, t, 2, &p, &r3, &err), FPK_SUCCESS);
  assert_memory_equal(r1.density, r3.density, 2 * g.size * sizeof(double));
  assert_memory_equal(r1.mean, r3.mean, 2 * 2 * sizeof(double));
  assert_true(r1.outside[0] == 0.0);
  double chi2 = 0.0;
  size_t dof = 0;
  for (size_t i = 0; i < g.size; i++) {
    const double count = r1.density[i] * (double)N * g.cell_volume, e = (double)N * mass[i] / total;
    if (mass[i] == 0.0) {
      assert_true(count == 0.0); /* a cell without mass never gets a path */
      continue;
    }
    chi2 += (count - e) * (count - e) / e;
    dof++;
  }
  dof--;
  /* chi-square of dof degrees: mean dof, sd sqrt(2 dof); 5 sd is a 1e-6 false alarm */
  if (fabs(chi2 - (double)dof) > 5.0 * sqrt(2.0 * (double)dof))
    fail_msg("chi-square %.1f for %zu degrees of freedom", chi2, dof);
  /* the mean is that of the piecewise-constant law (uniform inside each cell) */
  double mx = 0.0;
  for (size_t i = 0; i < g.size; i++) {
    double x[2];
    fpk_grid_point(&g, i, x);
    mx += mass[i] / total * x[0];
  }
  double vx = 0.0;
  for (size_t i = 0; i < g.size; i++) {
    double x[2];
    fpk_grid_point(&g, i, x);
    vx += mass[i] / total * ((x[0] - mx) * (x[0] - mx) + g.h[0] * g.h[0] / 12.0);
  }
  assert_close_abs(r1.mean[0], mx, 5.0 * sqrt(vx / (double)N));
  fpk_mc_result_free(&r1);
  fpk_mc_result_free(&r3);

  /* bad laws */
  double bad[120];
  memcpy(bad, mass, sizeof bad);
  bad[5] = -1.0;
  p.init_cells = bad;
  assert_int_equal(fpk_mc_run(m, NULL, &g, t, 2, &p, &r1, &err), FPK_EINVAL);
  assert_msg_has(err.msg, "initial cell mass [5] = -1");
  memset(bad, 0, sizeof bad);
  assert_int_equal(fpk_mc_run(m, NULL, &g, t, 2, &p, &r1, &err), FPK_EINVAL);
  assert_msg_has(err.msg, "need a positive mass");
  fpk_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_grid_equal_describe),
      cmocka_unit_test(test_read_field),
      cmocka_unit_test(test_expr_cell_averages),
      cmocka_unit_test(test_mc_cells),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
