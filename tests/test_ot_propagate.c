/* ot_grid_propagate (src/ot/propagate.c): the log-domain kernel propagation of the
 * Schrödinger-bridge queries, against a brute-force log-sum-exp in long double, in 1D, 2D and 3D,
 * for the heat kernel (κ = 1) and the OU-type kernel exp(−|y − κx|²/ε) in both directions, at
 * large ε (the fft back-end), moderate ε (line-shifted dgemm) and small ε with inputs of a range
 * far beyond the exp range (outputs recomputed exactly one by one, or for κ = 1 the whole
 * application by the lse back-end). Each branch is seen to be taken (the
 * propagator's counters), so a wrong bound that accepted a lost output would fail here. */
#include "fpk_test.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ot/ot_internal.h"

/* Exact out (long double), the definition of ot_internal.h. */
static void brute(const fpk_grid *g, int dir, double eps, const double *kappa, const double *in,
                  long double *out) {
  const size_t N = g->size, d = g->dim;
  for (size_t o = 0; o < N; o++) {
    long double m = -INFINITY, s = 0;
    long double *t = malloc(N * sizeof *t);
    for (size_t j = 0; j < N; j++) {
      long double e = 0;
      size_t co = o, cj = j;
      for (size_t a = 0; a < d; a++) {
        const size_t io = co % g->n[a], ij = cj % g->n[a];
        co /= g->n[a], cj /= g->n[a];
        long double dd;
        if (!kappa || kappa[a] == 1) {
          dd = ((long double)io - (long double)ij) * g->h[a];
        } else {
          const long double xo = g->lo[a] + ((long double)io + 0.5L) * g->h[a];
          const long double xs = g->lo[a] + ((long double)ij + 0.5L) * g->h[a];
          dd = dir == 0 ? xs - kappa[a] * xo : xo - kappa[a] * xs;
        }
        e += dd * dd / eps;
      }
      t[j] = in[j] == -INFINITY ? -INFINITY : in[j] - e;
      if (t[j] > m) m = t[j];
    }
    if (m == -INFINITY) {
      out[o] = -INFINITY;
    } else {
      for (size_t j = 0; j < N; j++) s += expl(t[j] - m);
      out[o] = m + logl(s);
    }
    free(t);
  }
}

/* Input: a quadratic of curvature c (log range about c·L²) plus a ripple; cells with
 * (i·7) % holes == 0 are −∞ (holes = 0: none). */
static void make_input(const fpk_grid *g, double c, size_t holes, double *in) {
  for (size_t i = 0; i < g->size; i++) {
    double x[FPK_MAX_DIM], r2 = 0;
    fpk_grid_point(g, i, x);
    for (size_t a = 0; a < g->dim; a++) {
      const double dx = x[a] - 0.2 * (double)(a + 1);
      r2 += dx * dx;
    }
    in[i] = -c * r2 + 0.3 * sin(3.0 * (double)i) + 50;
    if (holes && (i * 7) % holes == 0) in[i] = -INFINITY;
  }
}

/* Propagates and compares; returns the stats delta. */
static ot_propagate_stats check(ot_propagator *P, const fpk_grid *g, int dir, double eps,
                                const double *kappa, const double *in, const char *label) {
  const size_t N = g->size;
  double *out = malloc(N * sizeof *out);
  long double *ex = malloc(N * sizeof *ex);
  ot_propagate_stats s0, s1;
  ot_propagate_get_stats(P, &s0);
  fpk_error err = {0};
  const double acc = 1e-12;
  assert_int_equal(ot_grid_propagate(P, dir, eps, kappa, acc, in, out, &err), FPK_SUCCESS);
  ot_propagate_get_stats(P, &s1);
  brute(g, dir, eps, kappa, in, ex);
  double worst = 0;
  for (size_t i = 0; i < N; i++) {
    if (ex[i] == -INFINITY) {
      assert_true(out[i] == -INFINITY);
      continue;
    }
    assert_true(isfinite(out[i]));
    /* accuracy (relative in the sum) plus the rounding of M + log w */
    const double e = fabs(out[i] - (double)ex[i]);
    const double tol = acc + 16 * DBL_EPSILON * fabs((double)ex[i]);
    if (e / tol > worst) worst = e / tol;
    if (e > tol) fail_msg("%s: output %zu = %.17g, exact %.17Lg (error %.3g > %.3g)", label, i,
                          out[i], ex[i], e, tol);
  }
  s1.calls -= s0.calls, s1.fft -= s0.fft, s1.gemm_passes -= s0.gemm_passes;
  s1.exact_outputs -= s0.exact_outputs, s1.lse -= s0.lse;
  print_message("%s: worst error / tolerance %.3f; fft %zu, dgemm passes %zu, exact outputs %zu, "
                "lse %zu\n", label, worst, s1.fft, s1.gemm_passes, s1.exact_outputs, s1.lse);
  free(out);
  free(ex);
  return s1;
}

static void run_grid(size_t d, const size_t *n, double L) {
  double lo[3] = {-L, -L * 0.8, -L * 1.1}, hi[3] = {L, L * 0.8, L * 1.1};
  fpk_grid g = fpk_test_grid(d, n, lo, hi);
  fpk_error err = {0};
  ot_propagator *P = ot_propagator_alloc(&g, 1, &err);
  assert_non_null(P);
  double *in = malloc(g.size * sizeof *in);
  const double kap[3] = {0.7, 1.3, 0.5};
  char label[96];
  /* moderate ε, smooth input: every output certified by the line-shifted dgemm */
  make_input(&g, 1.0, 0, in);
  snprintf(label, sizeof label, "%zuD moderate eps", d);
  ot_propagate_stats s = check(P, &g, 0, 0.05, NULL, in, label);
  if (ot_blas_available()) {
    assert_int_equal(s.gemm_passes, d);
    assert_int_equal(s.exact_outputs, 0);
  }
  /* large ε: the fft back-end accepts a smooth input (κ = 1 only) */
  make_input(&g, 0.05, 0, in);
  snprintf(label, sizeof label, "%zuD large eps", d);
  s = check(P, &g, 0, 50.0, NULL, in, label);
  assert_int_equal(s.fft, 1);
  /* small ε, input of range ~4000 with holes: more than N/32 outputs uncertified, so the whole
   * application is redone by the lse back-end (κ = 1) */
  make_input(&g, 400.0, 5, in);
  snprintf(label, sizeof label, "%zuD small eps, range 4000", d);
  s = check(P, &g, 0, 2e-3, NULL, in, label);
  if (ot_blas_available()) assert_int_equal(s.lse, 1);
  /* the same with κ ≠ 1: no lse back-end for it, every uncertified output summed exactly */
  for (int dir = 0; dir < 2; dir++) {
    snprintf(label, sizeof label, "%zuD small eps, range 4000, kappa dir %d", d, dir);
    s = check(P, &g, dir, 2e-3, kap, in, label);
    if (ot_blas_available()) assert_true(s.exact_outputs > 0 && s.lse == 0);
  }
  /* OU-type kernels, both directions, and one cached re-use */
  make_input(&g, 2.0, 11, in);
  for (int dir = 0; dir < 2; dir++) {
    snprintf(label, sizeof label, "%zuD kappa dir %d", d, dir);
    s = check(P, &g, dir, 0.3, kap, in, label);
    assert_int_equal(s.fft, 0);
  }
  s = check(P, &g, 1, 0.3, kap, in, "kappa dir 1 again (cached kernels)");
  free(in);
  ot_propagator_free(P);
}

static void test_1d(void **state) {
  (void)state;
  const size_t n[1] = {61};
  run_grid(1, n, 3);
}

static void test_2d(void **state) {
  (void)state;
  const size_t n[2] = {23, 17};
  run_grid(2, n, 3);
}

static void test_3d(void **state) {
  (void)state;
  const size_t n[3] = {7, 6, 9};
  run_grid(3, n, 2);
}

/* One pass along axis 0 of a 2D field: the 1D sums of each row. */
static void test_axis(void **state) {
  (void)state;
  const size_t n[2] = {19, 5};
  double lo[2] = {-2, -1}, hi[2] = {2, 1};
  fpk_grid g = fpk_test_grid(2, n, lo, hi), g1 = fpk_test_grid(1, n, lo, hi);
  fpk_error err = {0};
  ot_propagator *P = ot_propagator_alloc(&g, 1, &err);
  assert_non_null(P);
  double in[95], out[95];
  long double ex[19];
  /* input range ~1200 along a row at ε = 1e-3: some outputs of the κ = 1 pass are beyond the
   * dgemm's certified range and summed exactly (no lse switch for a single pass) */
  make_input(&g, 300, 4, in);
  assert_int_equal(ot_grid_propagate_axis(P, 0, 0, 1e-3, NULL, 1e-12, in, out, &err), 0);
  ot_propagate_stats st;
  ot_propagate_get_stats(P, &st);
  print_message("axis pass: exact outputs %zu of 95\n", st.exact_outputs);
  if (ot_blas_available()) assert_true(st.exact_outputs > 0 && st.exact_outputs < 95);
  for (size_t r = 0; r < 5; r++) {
    brute(&g1, 0, 1e-3, NULL, in + 19 * r, ex);
    for (size_t i = 0; i < 19; i++) {
      if (ex[i] == -INFINITY) {
        assert_true(out[19 * r + i] == -INFINITY);
        continue;
      }
      assert_close_abs(out[19 * r + i], (double)ex[i], 1e-12 + 16 * DBL_EPSILON * fabsl(ex[i]));
    }
  }
  ot_propagator_free(P);
}

static void test_bad_input(void **state) {
  (void)state;
  const size_t n[2] = {8, 8};
  double lo[2] = {0, 0}, hi[2] = {1, 1};
  fpk_grid g = fpk_test_grid(2, n, lo, hi);
  fpk_error err = {0};
  ot_propagator *P = ot_propagator_alloc(&g, 1, &err);
  double in[64], out[64];
  for (size_t i = 0; i < 64; i++) in[i] = -INFINITY;
  assert_int_equal(ot_grid_propagate(P, 0, 0.1, NULL, 1e-12, in, out, &err), 0);
  for (size_t i = 0; i < 64; i++) assert_true(out[i] == -INFINITY);
  in[5] = NAN;
  assert_int_equal(ot_grid_propagate(P, 0, 0.1, NULL, 1e-12, in, out, &err), FPK_ENUMERIC);
  assert_non_null(strstr(err.msg, "input 5"));
  in[5] = 0;
  assert_int_equal(ot_grid_propagate(P, 0, 0, NULL, 1e-12, in, out, &err), FPK_EINVAL);
  assert_int_equal(ot_grid_propagate(P, 2, 0.1, NULL, 1e-12, in, out, &err), FPK_EINVAL);
  const double bad[2] = {1, -0.5};
  assert_int_equal(ot_grid_propagate(P, 0, 0.1, bad, 1e-12, in, out, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "kappa[1]"));
  ot_propagator_free(P);
  ot_propagator_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_1d),  cmocka_unit_test(test_2d),       cmocka_unit_test(test_3d),
      cmocka_unit_test(test_axis), cmocka_unit_test(test_bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
