/* Tests for the grid solver's internal blas-lines product (src/ot/kernel_lines.c, the
 * line-shifted dgemm of ot_grid_propagate) and its place in the automatic choice (grid.c):
 *  - the product against a brute-force log-sum-exp at an ε where blas refuses, on inputs whose
 *    outputs all certify, some of which must be summed exactly, and too many of which would be
 *    (refused, with a reason);
 *  - a small-ε solve on a wide box takes it where blas refused before, agrees with lse to the
 *    certified accuracy (products on the solution's own inputs; iterations and values);
 *  - it falls back to lse where it must (a refused product, logged once, not retried at smaller
 *    ε), and is never used by a named back-end or on a grid under 4096 cells. */
#include "fpk_test.h"

#include <float.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ot/ot_internal.h"

#define ACC 1e-11 /* what fpk_ot_grid_solve asks at tol = 1e-9 (1e-2 tol) */

/* Brute force in long double: out_i = log Σ_j exp(in_j − |x_i − x_j|²/ε), 2D grids. */
static void reference(const fpk_grid *g, const double *in, double eps, double *out) {
  const size_t N = g->size;
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < N; i++) {
    const size_t i0 = i % g->n[0], i1 = i / g->n[0];
    long double m = -INFINITY;
    for (size_t j = 0; j < N; j++) {
      if (in[j] == -INFINITY) continue;
      const long double d0 = ((long double)i0 - (long double)(j % g->n[0])) * g->h[0];
      const long double d1 = ((long double)i1 - (long double)(j / g->n[0])) * g->h[1];
      const long double t = in[j] - (d0 * d0 + d1 * d1) / eps;
      if (t > m) m = t;
    }
    if (m == -INFINITY) {
      out[i] = -INFINITY;
      continue;
    }
    long double s = 0;
    for (size_t j = 0; j < N; j++) {
      if (in[j] == -INFINITY) continue;
      const long double d0 = ((long double)i0 - (long double)(j % g->n[0])) * g->h[0];
      const long double d1 = ((long double)i1 - (long double)(j / g->n[0])) * g->h[1];
      s += expl(in[j] - (d0 * d0 + d1 * d1) / eps - m);
    }
    out[i] = (double)(m + logl(s));
  }
}

/* Largest |out − ref| over finite ref (a −∞ must match exactly: else +∞), and the largest |ref|. */
static double max_err(size_t N, const double *out, const double *ref, double *scale) {
  double e = 0;
  *scale = 0;
  for (size_t i = 0; i < N; i++) {
    if (ref[i] == -INFINITY || out[i] == -INFINITY) {
      if (out[i] != ref[i]) return INFINITY;
      continue;
    }
    const double di = fabs(out[i] - ref[i]);
    if (!(di <= e)) e = isnan(di) ? INFINITY : di;
    if (fabs(ref[i]) > *scale) *scale = fabs(ref[i]);
  }
  return e;
}

static size_t count(const char *hay, const char *needle) {
  size_t k = 0;
  for (const char *q = strstr(hay, needle); q; q = strstr(q + 1, needle)) k++;
  return k;
}

/* ---- the product ------------------------------------------------------------------------- */

/* 70 × 64 cells on [−7.5, 7.5] × [−6, 6], ε = 0.1: blas refuses it (needs ε >= L²/690 = 0.32);
 * line-shifted products accept and are exact to the accuracy asked. The inputs: random in
 * [−3, 3] (every output certified); the same with its first 4 rows replaced by the steep ramp
 * −60 x_0 (a range of 900 along those lines: their outputs beyond x_0 − lo ≈ 12.8 fall below
 * the underflow floor of the line's shifted sum and are summed exactly, a few dozen); the ramp on
 * every row (about 15% of all outputs would be, over the N/32 = 140 allowed). */
static void test_lines_product(void **state) {
  (void)state;
  if (!ot_blas_available()) skip();
  size_t n[] = {70, 64};
  double lo[] = {-7.5, -6}, hi[] = {7.5, 6};
  fpk_grid g = fpk_test_grid(2, n, lo, hi);
  const size_t N = g.size;
  const double eps = 0.1;
  assert_false(ot_blas_accepts_eps(&g, eps));
  double *in = malloc(N * sizeof *in), *out = malloc(N * sizeof *out);
  double *ref = malloc(N * sizeof *ref);
  assert_true(in && out && ref);
  fpk_error e = {0};
  ot_propagator *P = ot_propagator_alloc_lines(&g, &e);
  assert_non_null(P);
  uint64_t s = 12345;
  size_t exact[3];
  for (int k = 0; k < 3; k++) {
    for (size_t i = 0; i < N; i++) {
      double x[2];
      fpk_grid_point(&g, i, x);
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      const int ramp = k == 2 || (k == 1 && i / n[0] < 4);
      in[i] = ramp ? -60 * x[0] : 6 * (double)(s >> 11) * 0x1.0p-53 - 3;
    }
    for (size_t i = 0; i < N; i++) out[i] = NAN;
    const int rc = ot_grid_propagate_lines(P, eps, ACC, N / 32, in, out, &exact[k]);
    print_message("input %d: rc %d, %zu outputs summed exactly (budget %zu)\n", k, rc, exact[k],
                  N / 32);
    if (k < 2) {
      assert_int_equal(rc, 0);
      reference(&g, in, eps, ref);
      double scale, er = max_err(N, out, ref, &scale);
      print_message("  max |out - ref| = %.3g (log values up to %.3g)\n", er, scale);
      /* certified: relative ACC in the sum, i.e. ACC in the log, plus rounding of the log */
      assert_true(er <= ACC + 8 * DBL_EPSILON * scale);
    } else {
      assert_int_equal(rc, 1);
    }
  }
  assert_int_equal(exact[0], 0);
  assert_true(exact[1] > 0 && exact[1] <= N / 32);
  assert_int_equal(exact[2], N / 32); /* the whole budget spent, then refused */
  ot_propagator_free(P);

  /* The back-end wraps it: the third input is refused with a reason, the first accepted, and
   * neither result depends on the thread count. */
  void *st = ot_kernel_lines.alloc(&g, &e);
  assert_non_null(st);
  assert_int_equal(ot_kernel_lines.set_eps(st, eps, ACC, &e), 0);
  assert_true(ot_kernel_lines.apply(st, in, out, &e) > 0);
  assert_non_null(strstr(e.msg, "blas-lines: at eps = 0.1 more than 140"));
  print_message("refused: %s\n", e.msg);
  /* an accuracy below the passes' rounding bound is refused at set-up */
  assert_true(ot_kernel_lines.set_eps(st, eps, 1e-15, &e) > 0);
  assert_int_equal(ot_kernel_lines.set_eps(st, eps, ACC, &e), 0);
  for (size_t i = 0; i < N; i++) in[i] = -((double)(i % 70) - 20) * ((double)(i % 70) - 20) / 50;
  double *o2 = malloc(N * sizeof *o2);
  assert_non_null(o2);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  assert_int_equal(ot_kernel_lines.apply(st, in, out, &e), 0);
  omp_set_num_threads(2);
  assert_int_equal(ot_kernel_lines.apply(st, in, o2, &e), 0);
  omp_set_num_threads(saved);
  assert_memory_equal(out, o2, N * sizeof *out);
  ot_kernel_lines.free(st);
  free(in), free(out), free(ref), free(o2);
}

/* Brute force for grids of 1 to 3 dimensions (axis 0 fastest), long double. */
static void reference_nd(const fpk_grid *g, const double *in, double eps, double *out) {
  const size_t N = g->size, d = g->dim;
  for (size_t i = 0; i < N; i++) {
    long double m = -INFINITY, s = 0;
    for (int pass = 0; pass < 2; pass++)
      for (size_t j = 0; j < N; j++) {
        if (in[j] == -INFINITY) continue;
        long double c = 0;
        size_t ii = i, jj = j;
        for (size_t a = 0; a < d; a++) {
          const long double dx = ((long double)(ii % g->n[a]) - (long double)(jj % g->n[a])) * g->h[a];
          c += dx * dx;
          ii /= g->n[a], jj /= g->n[a];
        }
        const long double t = in[j] - c / eps;
        if (pass == 0 && t > m) m = t;
        if (pass == 1) s += expl(t - m);
      }
    out[i] = m == -INFINITY ? -INFINITY : (double)(m + logl(s));
  }
}

/* 1D (400 cells on [−10, 10]) and 3D (14 × 12 × 10 on [−6, 6]³) at ε below blas's limit
 * (L²/1500): random input in [−3, 3] and a steep ramp −c·x_0 along axis 0 (range ~1800 along
 * each line: outputs far down the ramp are summed exactly), both exact to the accuracy asked. */
static void test_lines_product_dims(void **state) {
  (void)state;
  if (!ot_blas_available()) skip();
  size_t n1[] = {400}, n3[] = {14, 12, 10};
  double lo[] = {-10, -6, -6, -6}, hi[] = {10, 6, 6, 6};
  const fpk_grid grids[2] = {fpk_test_grid(1, n1, lo, hi), fpk_test_grid(3, n3, lo + 1, hi + 1)};
  const double slope[2] = {90, 150};
  for (int k = 0; k < 2; k++) {
    const fpk_grid *g = &grids[k];
    const size_t N = g->size;
    const double L = (double)(g->n[0] - 1) * g->h[0], eps = L * L / 1500;
    assert_false(ot_blas_accepts_eps(g, eps));
    double *in = malloc(N * sizeof *in), *out = malloc(N * sizeof *out);
    double *ref = malloc(N * sizeof *ref);
    assert_true(in && out && ref);
    fpk_error e = {0};
    ot_propagator *P = ot_propagator_alloc_lines(g, &e);
    assert_non_null(P);
    uint64_t s = 777;
    for (int kind = 0; kind < 2; kind++) {
      for (size_t i = 0; i < N; i++) {
        double x[3];
        fpk_grid_point(g, i, x);
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        in[i] = kind ? -slope[k] * x[0] : 6 * (double)(s >> 11) * 0x1.0p-53 - 3;
      }
      size_t nexact = 0;
      assert_int_equal(ot_grid_propagate_lines(P, eps, ACC, N, in, out, &nexact), 0);
      reference_nd(g, in, eps, ref);
      double scale, er = max_err(N, out, ref, &scale);
      print_message("%zuD, %s input: %zu outputs summed exactly, max |out - ref| = %.3g (log "
                    "values up to %.3g)\n", g->dim, kind ? "ramp" : "random", nexact, er, scale);
      assert_true(er <= ACC + 8 * DBL_EPSILON * scale);
      if (kind == 0) assert_int_equal(nexact, 0);
      else assert_true(nexact > 0);
    }
    ot_propagator_free(P);
    free(in), free(out), free(ref);
  }
}

/* ---- in the solver ------------------------------------------------------------------------ */

static void gaussian(const fpk_grid *g, double m0, double m1, double s00, double s01, double s11,
                     double *p) {
  const double det = s00 * s11 - s01 * s01;
  double sum = 0;
  for (size_t i = 0; i < g->size; i++) {
    double x[2];
    fpk_grid_point(g, i, x);
    const double u = x[0] - m0, v = x[1] - m1;
    p[i] = exp(-0.5 * (s11 * u * u - 2 * s01 * u * v + s00 * v * v) / det);
    sum += p[i];
  }
  for (size_t i = 0; i < g->size; i++) p[i] /= sum;
}

static fpk_ot_grid *solve(const fpk_grid *g, const fpk_ot_kernel_type *kt, const double *a,
                          const double *b, double eps, double eps_start, double *f, double *h,
                          fpk_ot_result *r) {
  fpk_error err = {0};
  fpk_ot_grid *w = fpk_ot_grid_alloc(g, kt, &err);
  assert_non_null(w);
  fpk_ot_params p;
  fpk_ot_params_init(&p);
  p.eps = eps;
  p.eps_start = eps_start;
  if (fpk_ot_grid_solve(w, a, b, &p, f, h, r)) fail_msg("%s", fpk_ot_grid_errmsg(w));
  assert_true(r->converged);
  return w;
}

/* The bridge benchmark's problem (bench/bench_sb.c: σ = 0.3, ε = 2σ²T = 0.18, the box
 * [−7.5, 7.5]², non-commuting Gaussians) on 72² cells: blas accepts down to L²/690 = 0.31, so
 * the last two stages (0.218, 0.18) fell to lse before; now blas-lines, no refusal. Against a
 * solve with lse named: the same iterations (± 1), values within 1e-10 relative, and on the
 * converged pair's own inputs the two products within the certified accuracy. */
static void test_lines_in_solve(void **state) {
  (void)state;
  if (!ot_blas_available()) skip();
  size_t n[] = {72, 72};
  double lo[] = {-7.5, -7.5}, hi[] = {7.5, 7.5};
  fpk_grid g = fpk_test_grid(2, n, lo, hi);
  const size_t N = g.size;
  double *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
  double *f1 = malloc(N * sizeof *f1), *g1 = malloc(N * sizeof *g1);
  double *f2 = malloc(N * sizeof *f2), *g2 = malloc(N * sizeof *g2);
  assert_true(a && b && f1 && g1 && f2 && g2);
  gaussian(&g, -0.5, 0.3, 1, 0.3, 0.5, a);
  gaussian(&g, 0.8, -0.2, 0.4, -0.2, 1.2, b);
  const double eps = 0.18;
  assert_false(ot_blas_accepts_eps(&g, 0.2137)); /* the last two stages (below) */
  assert_true(ot_blas_accepts_eps(&g, 0.4273));
  fpk_ot_result r1, r2;
  fpk_ot_grid *w1 = solve(&g, NULL, a, b, eps, 0, f1, g1, &r1);
  const char *lg = fpk_ot_grid_log(w1);
  print_message("auto: %zu iterations, dual %.15g\n%s", r1.iterations, r1.dual, lg);
  /* the stages below blas's limit: the last two of the ε-scaling schedule, or the one stage at
   * ε when the automatic schedule's direct attempt converges within its budget (issue 15) */
  assert_true(count(lg, "kernel blas-lines") >= 1 && count(lg, "kernel blas-lines") <= 2);
  assert_non_null(strstr(lg, "eps 0.18       kernel blas-lines"));
  assert_null(strstr(lg, "kernel lse"));
  assert_null(strstr(lg, "refused"));
  assert_int_equal(fpk_ot_grid_fallbacks(w1), 0);
  fpk_ot_grid *w2 = solve(&g, fpk_ot_kernel_lse, a, b, eps, 0, f2, g2, &r2);
  print_message("lse:  %zu iterations, dual %.15g, primal %.15g vs %.15g\n", r2.iterations,
                r2.dual, r2.primal, r1.primal);
  assert_true(r1.iterations <= r2.iterations + 1 && r2.iterations <= r1.iterations + 1);
  assert_close_rel(r1.dual, r2.dual, 1e-10);
  assert_close_rel(r1.primal, r2.primal, 1e-10);
  assert_close_rel(r1.cost, r2.cost, 1e-10);

  /* the products on the solution's own input, log b + g/ε */
  double *in = malloc(N * sizeof *in), *o1 = malloc(N * sizeof *o1), *o2 = malloc(N * sizeof *o2);
  assert_true(in && o1 && o2);
  for (size_t j = 0; j < N; j++) in[j] = log(b[j]) + g1[j] / eps;
  fpk_error e = {0};
  void *sl = ot_kernel_lines.alloc(&g, &e), *ss = ot_kernel_lse.alloc(&g, &e);
  assert_true(sl && ss);
  assert_int_equal(ot_kernel_lines.set_eps(sl, eps, ACC, &e), 0);
  assert_int_equal(ot_kernel_lse.set_eps(ss, eps, ACC, &e), 0);
  assert_int_equal(ot_kernel_lines.apply(sl, in, o1, &e), 0);
  assert_int_equal(ot_kernel_lse.apply(ss, in, o2, &e), 0);
  double scale, er = max_err(N, o1, o2, &scale);
  print_message("products on log b + g/eps: max |lines - lse| = %.3g (log values up to %.3g)\n",
                er, scale);
  assert_true(er <= ACC + 16 * DBL_EPSILON * scale);
  ot_kernel_lines.free(sl);
  ot_kernel_lse.free(ss);

  /* A named back-end never falls back to blas-lines or band: blas named refuses these ε, lse
   * follows. */
  fpk_ot_grid *w3 = solve(&g, fpk_ot_kernel_blas, a, b, eps, 0, f2, g2, &r2);
  lg = fpk_ot_grid_log(w3);
  assert_null(strstr(lg, "blas-lines"));
  assert_null(strstr(lg, "kernel band"));
  assert_non_null(strstr(lg, "eps 0.18       kernel lse"));
  assert_non_null(strstr(lg, "blas refused"));
  fpk_ot_grid_free(w1), fpk_ot_grid_free(w2), fpk_ot_grid_free(w3);

  /* Under 4096 cells the automatic choice does not use blas-lines below blas's limit: band,
   * valid at every ε, takes those stages (lse did before band existed). */
  size_t n2[] = {60, 60};
  fpk_grid gs = fpk_test_grid(2, n2, lo, hi);
  double *as = malloc(gs.size * sizeof *as), *bs = malloc(gs.size * sizeof *bs);
  assert_true(as && bs);
  gaussian(&gs, -0.5, 0.3, 1, 0.3, 0.5, as);
  gaussian(&gs, 0.8, -0.2, 0.4, -0.2, 1.2, bs);
  w1 = solve(&gs, NULL, as, bs, eps, 0, f1, g1, &r1);
  lg = fpk_ot_grid_log(w1);
  assert_null(strstr(lg, "blas-lines"));
  assert_non_null(strstr(lg, "eps 0.18       kernel band"));
  assert_null(strstr(lg, "refused"));
  fpk_ot_grid_free(w1);
  free(a), free(b), free(f1), free(g1), free(f2), free(g2), free(in), free(o1), free(o2);
  free(as), free(bs);
}

/* Where it must fall back: 64² on [0, 1]², a point mass in a corner against the uniform density,
 * ε from 0.01 down to 2e-4 (blas accepts down to 1.4e-3). At 0.0025 blas refuses a product (its
 * far outputs fall to e^{−716}, below its one shift's underflow floor) and blas-lines takes the
 * stage; at 0.00125 the log-domain inputs span more than the exp range along many lines, so
 * blas-lines refuses a product (more than N/32 outputs below their line's floor), then band, and
 * lse takes over: each refusal logged once with its reason, blas-lines not tried again at the smaller ε,
 * one fallback per refusing stage; the solve converges and passes its output checks. */
static void test_lines_fallback(void **state) {
  (void)state;
  if (!ot_blas_available()) skip();
  size_t n[] = {64, 64};
  double lo[] = {0, 0}, hi[] = {1, 1};
  fpk_grid g = fpk_test_grid(2, n, lo, hi);
  const size_t N = g.size;
  double *a = calloc(N, sizeof *a), *b = malloc(N * sizeof *b);
  double *f = malloc(N * sizeof *f), *h = malloc(N * sizeof *h);
  assert_true(a && b && f && h);
  a[0] = 1;
  for (size_t i = 0; i < N; i++) b[i] = 1.0 / (double)N;
  fpk_ot_result r;
  fpk_ot_grid *w = solve(&g, NULL, a, b, 2e-4, 0.01, f, h, &r);
  const char *lg = fpk_ot_grid_log(w);
  print_message("point mass, stages 0.01 .. 2e-4:\n%s", lg);
  assert_int_equal(count(lg, "blas refused a product"), 1);
  assert_int_equal(count(lg, "blas-lines refused a product"), 1);
  /* band, next in the chain, refuses the same product (its one shift per field cannot hold the
   * point mass's far outputs either), once: not tried again at the smaller ε */
  assert_int_equal(count(lg, "band refused a product"), 1);
  assert_int_equal(count(lg, "refused"), 3);
  assert_non_null(strstr(lg, "below the underflow floor of their line"));
  assert_non_null(strstr(lg, "eps 0.0025     kernel blas-lines"));
  assert_non_null(strstr(lg, "eps 0.00125    kernel blas-lines"));
  assert_int_equal(count(lg, "kernel blas-lines"), 2);
  assert_non_null(strstr(lg, "eps 0.00125    kernel lse"));
  assert_non_null(strstr(lg, "eps 0.0002     kernel lse"));
  assert_int_equal(fpk_ot_grid_fallbacks(w), 3);
  fpk_ot_grid_free(w);
  free(a), free(b), free(f), free(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lines_product),
      cmocka_unit_test(test_lines_product_dims),
      cmocka_unit_test(test_lines_in_solve),
      cmocka_unit_test(test_lines_fallback),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
