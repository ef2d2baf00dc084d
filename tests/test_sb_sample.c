/* Sampling the Schrödinger bridge (fpkit/sb.h, "Sampling"; docs/sb.md), Gaussian to Gaussian,
 * against the grid marginal fpk_sb_marginal and the closed form: the bridge is the mixture of
 * Brownian bridges of fpkit's entropic Gaussian plan at ε = 2σ²T (tests/test_sb.c),
 *   μ_t = (1 − s)m0 + s m1,  Σ_t = (1 − s)²A + s²B + s(1 − s)(C + Cᵀ) + σ²t(1 − s)I,  s = t/T.
 * Histogram errors are judged against the sampling floor E‖q̂ − q‖₁ = Σ √(2q(1 − q)/(πN)) (normal
 * approximation of the binomial counts), moments by standard errors of Gaussian samples.
 * FPK_TEST_QUICK=1 (sanitizer builds) divides the path counts by 10; the tolerances follow N. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fpk_test.h"
#include "fpk_test_sb.h"
#include "fpkit/exact.h"
#include "fpkit/sb.h"
#include "sb/sb_internal.h"
#include "sde/sde_internal.h"

static int quick(void) {
  const char *q = getenv("FPK_TEST_QUICK");
  return q && *q && strcmp(q, "0") != 0;
}
static size_t scale(size_t n) { return quick() ? n / 10 : n; }

static const double m1a[1] = {-0.5}, S1a[1] = {1}, m1b[1] = {1}, S1b[1] = {0.5};
static const double m2a[2] = {-0.5, 0.3}, S2a[4] = {1, 0.3, 0.3, 0.5};
static const double m2b[2] = {0.8, -0.2}, S2b[4] = {0.4, -0.2, -0.2, 1.2};

typedef struct scase {
  size_t d;
  fpk_grid g;
  double m0[2], m1[2], A[4], B[4], C[4], sigma, T;
  double *a, *b, *p;
  fpk_sb *sb;
} scase;


static scase make_case(size_t d, size_t n, double L, double sigma, double T) {
  scase c;
  memset(&c, 0, sizeof c);
  c.d = d, c.sigma = sigma, c.T = T;
  size_t nn[2] = {n, n};
  double lo[2] = {-L, -L}, hi[2] = {L, L};
  c.g = fpk_test_grid(d, nn, lo, hi);
  memcpy(c.m0, d == 1 ? m1a : m2a, d * sizeof(double));
  memcpy(c.m1, d == 1 ? m1b : m2b, d * sizeof(double));
  memcpy(c.A, d == 1 ? S1a : S2a, d * d * sizeof(double));
  memcpy(c.B, d == 1 ? S1b : S2b, d * d * sizeof(double));
  fpk_gaussian g0 = fpk_test_gaussian(d, c.m0, c.A), g1 = fpk_test_gaussian(d, c.m1, c.B);
  fpk_error err = {0};
  double value;
  assert_int_equal(fpk_gaussian_entropic_ot(&g0, &g1, 2 * sigma * sigma * T, &value, c.C, &err),
                   FPK_SUCCESS);
  const size_t N = c.g.size;
  c.a = malloc(N * sizeof(double));
  c.b = malloc(N * sizeof(double));
  c.p = malloc(N * sizeof(double));
  density_weights(&c.g, &g0, c.a);
  density_weights(&c.g, &g1, c.b);
  fpk_sb_params p;
  fpk_sb_params_init(&p);
  p.sigma = sigma;
  p.T = T;
  c.sb = fpk_sb_alloc(&c.g, &p, &err);
  if (!c.sb) fail_msg("alloc: %s", err.msg);
  if (fpk_sb_solve(c.sb, c.a, c.b, NULL)) fail_msg("solve: %s", fpk_sb_errmsg(c.sb));
  return c;
}

static void free_case(scase *c) {
  fpk_sb_free(c->sb);
  free(c->a);
  free(c->b);
  free(c->p);
}

static void closed_form(const scase *c, double t, double *mt, double *St) {
  const size_t d = c->d;
  const double s = t / c->T;
  for (size_t a = 0; a < d; a++) mt[a] = (1 - s) * c->m0[a] + s * c->m1[a];
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++)
      St[i * d + j] = (1 - s) * (1 - s) * c->A[i * d + j] + s * s * c->B[i * d + j] +
                      s * (1 - s) * (c->C[i * d + j] + c->C[j * d + i]) +
                      (i == j ? c->sigma * c->sigma * t * (1 - s) : 0);
}

/* ‖q̂ − p_t‖₁ and the sampling floor Σ √(2q(1 − q)/(πN)), q = p_t. */
static void hist_l1(scase *c, const fpk_sb_sample_result *r, size_t k, double *l1,
                    double *floor) {
  double mass;
  if (fpk_sb_marginal(c->sb, r->t[k], c->p, NULL, &mass))
    fail_msg("marginal: %s", fpk_sb_errmsg(c->sb));
  *l1 = r->outside[k], *floor = 0;
  for (size_t i = 0; i < c->g.size; i++) {
    const double q = c->p[i];
    *l1 += fabs(r->mass[k * r->cells + i] - q);
    *floor += sqrt(2 * q * (1 - q) / (M_PI * (double)r->npaths));
  }
}

/* Histogram within 1.5 floors of p_t, mean and covariance within 4 standard errors. */
static void check_exact(scase *c, size_t npaths, const char *label) {
  const double ts[] = {0, 0.1, 0.25, 0.5, 0.75, 0.9, 1};
  const size_t nt = sizeof ts / sizeof *ts, d = c->d;
  double tt[7];
  for (size_t k = 0; k < nt; k++) tt[k] = ts[k] * c->T;
  fpk_sb_sample_params sp;
  fpk_sb_sample_params_init(&sp);
  sp.npaths = npaths, sp.seed = 12345, sp.nt = nt, sp.t = tt, sp.keep_paths = 3;
  fpk_sb_sample_result r;
  if (fpk_sb_sample_exact(c->sb, &sp, &r)) fail_msg("exact: %s", fpk_sb_errmsg(c->sb));
  assert_int_equal(r.kept, 3);
  const double n = (double)npaths;
  for (size_t k = 0; k < nt; k++) {
    double l1, fl, mt[2], St[4];
    hist_l1(c, &r, k, &l1, &fl);
    closed_form(c, tt[k], mt, St);
    /* points uniform in their cells: X_0 and X_T each carry an independent jitter of variance
     * h²/12 per axis (Sheppard's correction), weighted (1 − s) and s in X_t */
    const double s = tt[k] / c->T;
    for (size_t a = 0; a < d; a++)
      St[a * d + a] += ((1 - s) * (1 - s) + s * s) * c->g.h[a] * c->g.h[a] / 12;
    double zmax = 0;
    for (size_t a = 0; a < d; a++) {
      zmax = fmax(zmax, fabs(r.mean[k * d + a] - mt[a]) / sqrt(St[a * d + a] / n));
      for (size_t b = 0; b < d; b++) {
        const double se = sqrt((St[a * d + a] * St[b * d + b] + St[a * d + b] * St[a * d + b]) / n);
        zmax = fmax(zmax, fabs(r.cov[k * d * d + a * d + b] - St[a * d + b]) / se);
      }
    }
    print_message("%s exact N %zu t %.2f: L1 %.4f floor %.4f (ratio %.3f), moments max |z| %.2f\n",
                  label, npaths, tt[k], l1, fl, l1 / fl, zmax);
    assert_true(l1 <= 1.5 * fl);
    assert_true(zmax <= 4);
  }
  /* stored paths: the first path's points at t = 0 and T lie in the box, and its t = 0 point is
   * in a cell where a > 0 */
  for (size_t a = 0; a < d; a++) assert_in_range_d(r.paths[a], c->g.lo[a], c->g.hi[a]);
  fpk_sb_sample_result_free(&r);
}

static void test_exact_1d(void **state) {
  (void)state;
  scase c = make_case(1, 400, 8, 1, 1);
  check_exact(&c, scale(200000), "1D sigma 1 T 1");
  free_case(&c);
  c = make_case(1, 400, 8, 0.5, 2); /* T != 1 */
  check_exact(&c, scale(100000), "1D sigma 0.5 T 2");
  free_case(&c);
}

static void test_exact_2d(void **state) {
  (void)state;
  scase c = make_case(2, 64, 7.5, 1, 1);
  check_exact(&c, scale(200000), "2D 64^2 sigma 1 T 1");
  free_case(&c);
}

/* EM's weak error: |variance error| at t = T/2 and T against the closed form, for dt halving. */
/* The exact sampler's X_T cell is the inverse, at the path's 53-bit uniform (Philox call 1, words
 * 0 and 1; fpkit/sb.h), of the CDF of the plan's row π(i, ·) ∝ K_T(x_i, ·) φ_T over the cells in
 * index order. The sampler inverts it in two stages (outer axis, then inner; src/sb/sample.c):
 * here every path's cell is compared with the inverse of the full row CDF, formed directly in
 * long double from log φ_T, for a non-square grid (axis 0 and 1 of different sizes and steps)
 * and 1D. Paths whose uniform lies within 1e-10 of a CDF step may go either way (at most a few
 * are expected: 2e4 paths × ~700 steps × 2e-10). */
static void check_row_law(size_t d, const size_t *n, const double *lo, const double *hi) {
  fpk_grid g = fpk_test_grid(d, n, lo, hi);
  const size_t N = g.size;
  double *a = malloc(N * sizeof(double)), *b = malloc(N * sizeof(double));
  fpk_gaussian g0 = fpk_test_gaussian(d, d == 1 ? m1a : m2a, d == 1 ? S1a : S2a);
  fpk_gaussian g1 = fpk_test_gaussian(d, d == 1 ? m1b : m2b, d == 1 ? S1b : S2b);
  density_weights(&g, &g0, a);
  density_weights(&g, &g1, b);
  fpk_sb_params p;
  fpk_sb_params_init(&p);
  p.sigma = 0.8;
  fpk_error err = {0};
  fpk_sb *sb = fpk_sb_alloc(&g, &p, &err);
  assert_non_null(sb);
  assert_int_equal(fpk_sb_solve(sb, a, b, NULL), FPK_SUCCESS);
  sb_view v;
  sb_get_view(sb, &v);
  const double ts[2] = {0, 1};
  fpk_sb_sample_params sp;
  fpk_sb_sample_params_init(&sp);
  sp.npaths = scale(20000), sp.seed = 7, sp.nt = 2, sp.t = ts, sp.keep_paths = sp.npaths;
  fpk_sb_sample_result r;
  assert_int_equal(fpk_sb_sample_exact(sb, &sp, &r), FPK_SUCCESS);
  long double *cdf = malloc(N * sizeof(long double));
  size_t row_of = SIZE_MAX, ambiguous = 0, checked = 0;
  for (size_t q = 0; q < sp.npaths; q++) {
    size_t c[2];
    for (int e = 0; e < 2; e++) { /* the cells of X_0 and X_T (points are inside cells) */
      c[e] = 0;
      size_t stride = 1;
      for (size_t ax = 0; ax < d; ax++) {
        const double x = r.paths[(q * 2 + (size_t)e) * d + ax];
        c[e] += (size_t)((x - g.lo[ax]) / g.h[ax]) * stride;
        stride *= g.n[ax];
      }
    }
    if (c[0] != row_of) { /* the row's CDF, long double, exact coordinate differences */
      long double mx = -INFINITY;
      for (size_t j = 0; j < N; j++) {
        long double r2 = 0;
        size_t ci = c[0], cj = j;
        for (size_t ax = 0; ax < d; ax++) {
          const long double dx = ((long double)(ci % g.n[ax]) - (long double)(cj % g.n[ax])) *
                                 g.h[ax];
          r2 += dx * dx;
          ci /= g.n[ax], cj /= g.n[ax];
        }
        cdf[j] = v.lphiT[j] - r2 / v.eps;
        if (cdf[j] > mx) mx = cdf[j];
      }
      long double acc = 0;
      for (size_t j = 0; j < N; j++) cdf[j] = acc += expl(cdf[j] - mx);
      for (size_t j = 0; j < N; j++) cdf[j] /= acc;
      row_of = c[0];
    }
    uint32_t w[4];
    fpk_philox_soa(sp.seed, q, 1, 1, w, 1);
    const uint64_t bits = ((uint64_t)w[0] << 21) | (w[1] >> 11);
    const long double u = ((long double)bits + 0.5L) * 0x1p-53L;
    size_t j = 0;
    while (j + 1 < N && !(cdf[j] > u)) j++;
    const int near = fabsl(cdf[j] - u) < 1e-10L || (j > 0 && fabsl(u - cdf[j - 1]) < 1e-10L);
    if (c[1] != j) {
      if (!near) fail_msg("%zuD path %zu from cell %zu: X_T in cell %zu, the row's inverse CDF at "
                          "u = %.17Lg gives %zu", d, q, c[0], c[1], u, j);
      ambiguous++;
    }
    checked++;
  }
  print_message("%zuD: %zu paths' X_T cells = the row's inverse CDF (%zu at a step within 1e-10)\n",
                d, checked, ambiguous);
  assert_true(ambiguous <= 3);
  free(cdf);
  fpk_sb_sample_result_free(&r);
  fpk_sb_free(sb);
  free(a), free(b);
}

static void test_exact_row_law(void **state) {
  (void)state;
  const size_t n2[2] = {23, 31};
  const double lo2[2] = {-6, -5}, hi2[2] = {6, 5};
  check_row_law(2, n2, lo2, hi2);
  const size_t n1[1] = {150};
  const double lo1[1] = {-7}, hi1[1] = {7};
  check_row_law(1, n1, lo1, hi1);
}

static void test_em_order(void **state) {
  (void)state;
  double verr[2][4];
  scase c = make_case(1, 400, 8, 1, 1);
  const double ts[] = {0.5, 1};
  const double dts[] = {0.2, 0.1, 0.05, 0.025};
  fpk_sb_sample_params sp;
  fpk_sb_sample_params_init(&sp);
  /* not scaled under FPK_TEST_QUICK: at dt = 0.025 the bias (0.006) is 3 standard errors at
   * this N and would drown at N/10; the run costs 0.3 s in Release */
  sp.npaths = 400000, sp.seed = 7, sp.nt = 2, sp.t = ts;
  for (size_t q = 0; q < 4; q++) {
    sp.dt = dts[q];
    fpk_sb_sample_result r;
    if (fpk_sb_sample_em(c.sb, &sp, &r)) fail_msg("em: %s", fpk_sb_errmsg(c.sb));
    for (size_t k = 0; k < 2; k++) {
      double mt[1], St[1], l1, fl;
      closed_form(&c, ts[k], mt, St);
      hist_l1(&c, &r, k, &l1, &fl);
      print_message("EM dt %.3f t %.1f: mean err %+.5f var err %+.5f (se %.5f, %.5f) L1 %.4f floor %.4f\n",
                    dts[q], ts[k], r.mean[k] - mt[0], r.cov[k] - St[0], sqrt(St[0] / sp.npaths),
                    St[0] * sqrt(2.0 / sp.npaths), l1, fl);
      verr[k][q] = fabs(r.cov[k] - St[0]);
    }
    fpk_sb_sample_result_free(&r);
  }
  for (size_t k = 0; k < 2; k++) {
    const double order = fpk_test_fit_order(4, dts, verr[k]);
    print_message("EM weak order of the variance at t = %.1f: %.3f\n", ts[k], order);
    /* weak order 1; 0.5 or 2 would fall outside */
    assert_in_range_d(order, 0.7, 1.4);
  }
  free_case(&c);
}

/* Near T the drift is stiff (b ≈ (E[X_T | x] − x)/(T − t)) and, within τ_r of T, the linear
 * interpolation in t of fpk_sb_drift. σ = 0.3 on 400 cells: τ_r = 1.2 h²/σ² = 0.021, so steps
 * of 0.01 and below step into that zone. At this σ the end law is nearly a deterministic map of
 * X_0, so the common X_0 dominates the sampling error: EM is compared with the exact sampler of
 * the same seed (the same X_0), whose variance carries the same X_0 noise. */
static void test_em_near_end(void **state) {
  (void)state;
  scase c = make_case(1, 400, 8, 0.3, 1);
  const double ts[] = {1};
  const double dts[] = {0.04, 0.02, 0.01, 0.005, 0.0025};
  fpk_sb_sample_params sp;
  fpk_sb_sample_params_init(&sp);
  sp.npaths = scale(400000), sp.seed = 11, sp.nt = 1, sp.t = ts;
  double mt[1], St[1];
  closed_form(&c, 1, mt, St);
  St[0] += c.g.h[0] * c.g.h[0] / 12;
  const double se = St[0] * sqrt(2.0 / (double)sp.npaths);
  fpk_sb_sample_result r;
  if (fpk_sb_sample_exact(c.sb, &sp, &r)) fail_msg("exact: %s", fpk_sb_errmsg(c.sb));
  const double var_exact = r.cov[0];
  print_message("tau_r = %.4f; exact sampler, same X_0: var err %+.5f (se %.5f)\n",
                fpk_sb_resolved_tau(c.sb), var_exact - St[0], se);
  fpk_sb_sample_result_free(&r);
  for (size_t q = 0; q < 5; q++) {
    sp.dt = dts[q];
    if (fpk_sb_sample_em(c.sb, &sp, &r)) fail_msg("em: %s", fpk_sb_errmsg(c.sb));
    double l1, fl;
    hist_l1(&c, &r, 0, &l1, &fl);
    print_message("EM sigma 0.3 dt %.4f t 1: mean err %+.5f var err %+.5f, minus exact's %+.5f; "
                  "L1 %.4f floor %.4f\n", dts[q], r.mean[0] - mt[0], r.cov[0] - St[0],
                  r.cov[0] - var_exact, l1, fl);
    assert_true(r.outside[0] == 0);
    assert_true(fabs(r.cov[0] - var_exact) <= 4 * se);
    assert_true(l1 <= 1.5 * fl);
    fpk_sb_sample_result_free(&r);
  }
  free_case(&c);
}

/* 2D EM (non-commuting covariances, 48² cells): the covariance error at T against the exact
 * sampler of the same seed (same X_0) falls by more than 3 from dt = 0.1 to 0.025 (weak order 1:
 * 4; order ½: 2), and the histogram's L1 decreases. The noise of that difference is about 0.003
 * at N = 2·10⁵; under FPK_TEST_QUICK (N/10) the run only checks memory, the numbers are printed. */
static void test_em_2d(void **state) {
  (void)state;
  scase c = make_case(2, 48, 7.5, 1, 1);
  const double ts[] = {1};
  const double dts[] = {0.1, 0.05, 0.025};
  double err[3];
  fpk_sb_sample_params sp;
  fpk_sb_sample_params_init(&sp);
  sp.npaths = scale(200000), sp.seed = 5, sp.nt = 1, sp.t = ts;
  fpk_sb_sample_result rx, r;
  double l1s[3];
  if (fpk_sb_sample_exact(c.sb, &sp, &rx)) fail_msg("exact: %s", fpk_sb_errmsg(c.sb));
  for (size_t q = 0; q < 3; q++) {
    sp.dt = dts[q];
    if (fpk_sb_sample_em(c.sb, &sp, &r)) fail_msg("em: %s", fpk_sb_errmsg(c.sb));
    double l1, fl, e2 = 0;
    hist_l1(&c, &r, 0, &l1, &fl);
    for (size_t k = 0; k < 4; k++) e2 += (r.cov[k] - rx.cov[k]) * (r.cov[k] - rx.cov[k]);
    err[q] = sqrt(e2);
    l1s[q] = l1;
    print_message("EM 2D dt %.3f t 1: cov - exact's (Frobenius) %.5f, cov err %+.4f %+.4f %+.4f, L1 %.4f floor %.4f\n",
                  dts[q], err[q], r.cov[0] - rx.cov[0], r.cov[1] - rx.cov[1], r.cov[3] - rx.cov[3], l1, fl);
    fpk_sb_sample_result_free(&r);
  }
  if (!quick()) {
    assert_true(err[2] < err[0] / 3);
    assert_true(l1s[2] < l1s[1] && l1s[1] < l1s[0]);
  }
  fpk_sb_sample_result_free(&rx);
  free_case(&c);
}

static int same(const double *x, const double *y, size_t n) {
  return memcmp(x, y, n * sizeof(double)) == 0;
}

/* Bitwise the same for 1 and 2 threads (and a path count that is not a multiple of the block);
 * EM and the exact sampler start from the same X_0. */
static void test_threads(void **state) {
  (void)state;
  for (size_t d = 1; d <= 2; d++) {
    scase c = d == 1 ? make_case(1, 200, 8, 1, 1) : make_case(2, 48, 7.5, 1, 1);
    const double ts[] = {0, 0.3, 0.95, 1};
    fpk_sb_sample_params sp;
    fpk_sb_sample_params_init(&sp);
    sp.npaths = 3 * 256 + 17, sp.seed = 99, sp.nt = 4, sp.t = ts, sp.keep_paths = 40;
    sp.dt = 0.05;
    for (int em = 0; em < 2; em++) {
      fpk_sb_sample_result r1, r2;
      sp.nthreads = 1;
      assert_int_equal((em ? fpk_sb_sample_em : fpk_sb_sample_exact)(c.sb, &sp, &r1), FPK_SUCCESS);
      sp.nthreads = 2;
      assert_int_equal((em ? fpk_sb_sample_em : fpk_sb_sample_exact)(c.sb, &sp, &r2), FPK_SUCCESS);
      assert_true(same(r1.mass, r2.mass, 4 * r1.cells));
      assert_true(same(r1.mean, r2.mean, 4 * d));
      assert_true(same(r1.cov, r2.cov, 4 * d * d));
      assert_true(same(r1.paths, r2.paths, 40 * 4 * d));
      assert_true(same(r1.outside, r2.outside, 4));
      if (em) assert_int_equal(r1.nsteps, 20);
      fpk_sb_sample_result_free(&r1);
      fpk_sb_sample_result_free(&r2);
    }
    fpk_sb_sample_result re, rx;
    assert_int_equal(fpk_sb_sample_em(c.sb, &sp, &re), FPK_SUCCESS);
    assert_int_equal(fpk_sb_sample_exact(c.sb, &sp, &rx), FPK_SUCCESS);
    for (size_t q = 0; q < 40; q++) /* output 0 is t = 0 */
      assert_true(same(re.paths + q * 4 * d, rx.paths + q * 4 * d, d));
    /* a different seed gives different paths */
    sp.seed = 100;
    fpk_sb_sample_result r3;
    assert_int_equal(fpk_sb_sample_exact(c.sb, &sp, &r3), FPK_SUCCESS);
    assert_false(same(r3.paths, rx.paths, 40 * 4 * d));
    fpk_sb_sample_result_free(&re);
    fpk_sb_sample_result_free(&rx);
    fpk_sb_sample_result_free(&r3);
    free_case(&c);
  }
}

static void expect_einval(fpk_sb *sb, const fpk_sb_sample_params *sp, int em, const char *word) {
  fpk_sb_sample_result r;
  memset(&r, 0, sizeof r);
  const int rc = (em ? fpk_sb_sample_em : fpk_sb_sample_exact)(sb, sp, &r);
  print_message("%s: %s\n", em ? "em" : "exact", fpk_sb_errmsg(sb));
  assert_int_equal(rc, FPK_EINVAL);
  assert_non_null(strstr(fpk_sb_errmsg(sb), word));
  assert_null(r.mass);
}

static void test_bad_input(void **state) {
  (void)state;
  size_t n = 50;
  double lo = -5, hi = 5;
  fpk_grid g = fpk_test_grid(1, &n, &lo, &hi);
  fpk_sb_params p;
  fpk_sb_params_init(&p);
  fpk_error err = {0};
  fpk_sb *sb = fpk_sb_alloc(&g, &p, &err);
  assert_non_null(sb);
  const double ts[] = {0.5, 1};
  fpk_sb_sample_params sp;
  fpk_sb_sample_params_init(&sp);
  sp.npaths = 10, sp.nt = 2, sp.t = ts;
  for (int em = 0; em < 2; em++) expect_einval(sb, &sp, em, "before a successful fpk_sb_solve");
  double a[50];
  double sa = 0;
  for (size_t i = 0; i < n; i++)
    sa += a[i] = exp(-0.5 * (-4.9 + 0.2 * (double)i) * (-4.9 + 0.2 * (double)i));
  for (size_t i = 0; i < n; i++) a[i] /= sa;
  assert_int_equal(fpk_sb_solve(sb, a, a, NULL), FPK_SUCCESS);
  for (int em = 0; em < 2; em++) {
    sp.npaths = 0;
    expect_einval(sb, &sp, em, "npaths = 0");
    sp.npaths = 10;
    const double out_hi[] = {0.5, 1.5}, out_lo[] = {-0.1, 0.5}, unordered[] = {0.7, 0.5};
    sp.t = out_hi;
    expect_einval(sb, &sp, em, "t[1] = 1.5");
    sp.t = out_lo;
    expect_einval(sb, &sp, em, "t[0] = -0.1");
    sp.t = unordered;
    expect_einval(sb, &sp, em, "t[1] = 0.5 < t[0] = 0.7");
    sp.t = ts;
    sp.nt = 0;
    expect_einval(sb, &sp, em, "nt = 0");
    sp.nt = 2;
  }
  sp.dt = 0;
  expect_einval(sb, &sp, 1, "dt = 0");
  sp.dt = 0.01;
  fpk_sb_free(sb);
  /* 3D: unsupported, said so */
  size_t n3[3] = {6, 6, 6};
  double lo3[3] = {-3, -3, -3}, hi3[3] = {3, 3, 3};
  g = fpk_test_grid(3, n3, lo3, hi3);
  sb = fpk_sb_alloc(&g, &p, &err);
  assert_non_null(sb);
  double a3[216];
  for (size_t i = 0; i < 216; i++) a3[i] = 1.0 / 216;
  assert_int_equal(fpk_sb_solve(sb, a3, a3, NULL), FPK_SUCCESS);
  fpk_sb_sample_result r;
  assert_int_equal(fpk_sb_sample_exact(sb, &sp, &r), FPK_EUNSUP);
  assert_non_null(strstr(fpk_sb_errmsg(sb), "3D"));
  fpk_sb_free(sb);
  fpk_sb_sample_result_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exact_1d),
      cmocka_unit_test(test_exact_2d),
      cmocka_unit_test(test_exact_row_law),
      cmocka_unit_test(test_em_order),
      cmocka_unit_test(test_em_near_end),
      cmocka_unit_test(test_em_2d),
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
