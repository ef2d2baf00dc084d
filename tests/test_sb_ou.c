/* Schrödinger bridges with the OU reference dX = −θX dt + σ dW (fpkit/sb.h, docs/sb.md "The OU
 * reference"), against closed forms that do not use the module's change of variables:
 *  - the plan itself: π_ij = V² φ̂_0(x_i) K_T(x_i, y_j) φ_T(y_j) rebuilt here from the potentials
 *    and the OU kernel K_T(x, y) = (2πv_T)^{−1/2} exp(−(y − κ_T x)²/(2v_T)) written out, whose
 *    row and column sums must be the end marginals;
 *  - Gaussian ends: the bridge is the mixture of OU bridges of the static plan (Gaussian
 *    conditioning of the transitions N(κ_1 x, v_1) over [0, t] and N(κ_2 x_t, v_2) over [t, T]):
 *      X_t = α X_0 + β X_T + √w Z,  α = κ_1 v_2/D, β = κ_2 v_1/D, w = v_1 v_2/D, D = v_2 + κ_2² v_1,
 *    with the plan's cross-covariance C = Cov(X_0, X_T) from fpkit's entropic Gaussian closed form
 *    at ε' = 2σ² sinh(θT)/θ (the OU plan is the plan of the cost −2κ_T x·y at ε_T = 2v_T, which is
 *    that of |x − y|² at ε_T/κ_T: the scalings are absorbed by the potentials), so
 *      μ_t = α m0 + β m1,  Σ_t = α²A + β²B + αβ(C + Cᵀ) + w I;
 *    the forward drift from the h-transform, b(x, t) = −θx + σ²κ_2(E[X_T | X_t = x] − κ_2 x)/v_2
 *    with E[X_T | X_t = x] = m1 + (αCᵀ + βB)Σ_t⁻¹(x − μ_t) (jointly Gaussian (X_t, X_T));
 *  - θ → 0: the Brownian bridge.
 * Grids and marginals as tests/test_sb.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fpk_test.h"
#include "fpk_test_sb.h"
#include "fpkit/exact.h"
#include "fpkit/sb.h"

static const double m1a[1] = {-0.5}, S1a[1] = {1}, m1b[1] = {1}, S1b[1] = {0.5};
static const double m2a[2] = {-0.5, 0.3}, S2a[4] = {1, 0.3, 0.3, 0.5};
static const double m2b[2] = {0.8, -0.2}, S2b[4] = {0.4, -0.2, -0.2, 1.2};

static void ou_law(double sigma, double theta, double tau, double *kappa, double *var) {
  *kappa = exp(-theta * tau);
  *var = sigma * sigma * (1 - exp(-2 * theta * tau)) / (2 * theta);
}

static void mat_inv(size_t d, const double *M, double *Mi) {
  if (d == 1) {
    Mi[0] = 1 / M[0];
    return;
  }
  double det = M[0] * M[3] - M[1] * M[2];
  Mi[0] = M[3] / det, Mi[1] = -M[1] / det, Mi[2] = -M[2] / det, Mi[3] = M[0] / det;
}

typedef struct ou_case {
  size_t d;
  fpk_grid g;
  double m0[2], m1[2], A[4], B[4], C[4], sigma, theta, T;
  double *a, *b, *p, *x, *drift, *bw;
  fpk_sb *sb;
  fpk_ot_result r;
} ou_case;

static ou_case make_case(size_t d, size_t n, double L, double sigma, double theta, double T) {
  ou_case c;
  memset(&c, 0, sizeof c);
  c.d = d, c.sigma = sigma, c.theta = theta, c.T = T;
  size_t nn[2] = {n, n};
  double lo[2] = {-L, -L}, hi[2] = {L, L};
  c.g = fpk_test_grid(d, nn, lo, hi);
  memcpy(c.m0, d == 1 ? m1a : m2a, d * sizeof(double));
  memcpy(c.m1, d == 1 ? m1b : m2b, d * sizeof(double));
  memcpy(c.A, d == 1 ? S1a : S2a, d * d * sizeof(double));
  memcpy(c.B, d == 1 ? S1b : S2b, d * d * sizeof(double));
  fpk_gaussian g0 = fpk_test_gaussian(d, c.m0, c.A), g1 = fpk_test_gaussian(d, c.m1, c.B);
  const double epsp = 2 * sigma * sigma * sinh(theta * T) / theta;
  fpk_error err = {0};
  double value;
  assert_int_equal(fpk_gaussian_entropic_ot(&g0, &g1, epsp, &value, c.C, &err), FPK_SUCCESS);
  const size_t N = c.g.size;
  c.a = malloc(N * sizeof(double));
  c.b = malloc(N * sizeof(double));
  c.p = malloc(N * sizeof(double));
  c.x = malloc(d * N * sizeof(double));
  c.drift = malloc(d * N * sizeof(double));
  c.bw = malloc(d * N * sizeof(double));
  for (size_t i = 0; i < N; i++) {
    double x[FPK_MAX_DIM];
    fpk_grid_point(&c.g, i, x);
    for (size_t a = 0; a < d; a++) c.x[a * N + i] = x[a];
  }
  density_weights(&c.g, &g0, c.a);
  density_weights(&c.g, &g1, c.b);
  fpk_sb_params p;
  fpk_sb_params_init(&p);
  p.reference = fpk_sb_reference_ou;
  p.sigma = sigma;
  p.theta = theta;
  p.T = T;
  c.sb = fpk_sb_alloc(&c.g, &p, &err);
  if (!c.sb) fail_msg("alloc: %s", err.msg);
  if (fpk_sb_solve(c.sb, c.a, c.b, &c.r)) fail_msg("solve: %s", fpk_sb_errmsg(c.sb));
  assert_true(c.r.converged);
  assert_close_rel(fpk_sb_eps(c.sb), epsp, 1e-14);
  return c;
}

static void free_case(ou_case *c) {
  fpk_sb_free(c->sb);
  free(c->a), free(c->b), free(c->p), free(c->x), free(c->drift), free(c->bw);
}

/* α, β, w of the OU-bridge mixture at t (top comment). */
static void coefs(const ou_case *c, double t, double *al, double *be, double *w) {
  double k1, v1, k2, v2;
  ou_law(c->sigma, c->theta, t, &k1, &v1);
  ou_law(c->sigma, c->theta, c->T - t, &k2, &v2);
  const double D = v2 + k2 * k2 * v1;
  *al = k1 * v2 / D, *be = k2 * v1 / D, *w = v1 * v2 / D;
}

static void marginal_cf(const ou_case *c, double t, double *mt, double *St) {
  const size_t d = c->d;
  double al, be, w;
  coefs(c, t, &al, &be, &w);
  for (size_t i = 0; i < d; i++) mt[i] = al * c->m0[i] + be * c->m1[i];
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++)
      St[i * d + j] = al * al * c->A[i * d + j] + be * be * c->B[i * d + j] +
                      al * be * (c->C[i * d + j] + c->C[j * d + i]) + (i == j ? w : 0);
}

/* b(x_i, t) of the top comment at every cell (t < T), into out (d × N). */
static void drift_cf(const ou_case *c, double t, double *out) {
  const size_t d = c->d, N = c->g.size;
  double al, be, w, k2, v2, mt[2], St[4], Si[4], G[4], Cov[4];
  coefs(c, t, &al, &be, &w);
  ou_law(c->sigma, c->theta, c->T - t, &k2, &v2);
  marginal_cf(c, t, mt, St);
  mat_inv(d, St, Si);
  for (size_t i = 0; i < d; i++) /* Cov(X_T, X_t) = αCᵀ + βB */
    for (size_t j = 0; j < d; j++) Cov[i * d + j] = al * c->C[j * d + i] + be * c->B[i * d + j];
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++) {
      G[i * d + j] = 0;
      for (size_t k = 0; k < d; k++) G[i * d + j] += Cov[i * d + k] * Si[k * d + j];
    }
  const double s2 = c->sigma * c->sigma;
  for (size_t q = 0; q < N; q++)
    for (size_t a = 0; a < d; a++) {
      double e = c->m1[a];
      for (size_t b = 0; b < d; b++) e += G[a * d + b] * (c->x[b * N + q] - mt[b]);
      out[a * N + q] = -c->theta * c->x[a * N + q] + s2 * k2 * (e - k2 * c->x[a * N + q]) / v2;
    }
}

static int cmp_desc(const void *x, const void *y) {
  double a = **(const double *const *)x, b = **(const double *const *)y;
  return (a < b) - (a > b);
}

/* Relative L2 difference of two d × N fields weighted by p over the cells holding 99.9% of the
 * mass (as tests/test_sb.c). */
static double rel_l2(const ou_case *c, const double *p, const double *f, const double *ref) {
  const size_t N = c->g.size, d = c->d;
  const double **order = malloc(N * sizeof *order);
  for (size_t i = 0; i < N; i++) order[i] = p + i;
  qsort(order, N, sizeof *order, cmp_desc);
  double cum = 0, num = 0, den = 0;
  for (size_t k = 0; k < N && cum < 0.999; k++) {
    const size_t i = (size_t)(order[k] - p);
    cum += p[i];
    for (size_t a = 0; a < d; a++) {
      const double df = f[a * N + i] - ref[a * N + i];
      num += p[i] * df * df;
      den += p[i] * ref[a * N + i] * ref[a * N + i];
    }
  }
  free(order);
  return sqrt(num / den);
}

static void moments(const ou_case *c, const double *p, double *m, double *S) {
  const size_t N = c->g.size, d = c->d;
  double mass = 0;
  for (size_t i = 0; i < N; i++) mass += p[i];
  for (size_t a = 0; a < d; a++) {
    m[a] = 0;
    for (size_t i = 0; i < N; i++) m[a] += p[i] * c->x[a * N + i] / mass;
  }
  for (size_t a = 0; a < d; a++)
    for (size_t b = 0; b < d; b++) {
      S[a * d + b] = 0;
      for (size_t i = 0; i < N; i++)
        S[a * d + b] += p[i] * (c->x[a * N + i] - m[a]) * (c->x[b * N + i] - m[b]) / mass;
    }
}

static double rel_vec(size_t n, const double *x, const double *y) {
  double e = 0, s = 0;
  for (size_t i = 0; i < n; i++) e += (x[i] - y[i]) * (x[i] - y[i]), s += y[i] * y[i];
  return sqrt(e / s);
}

/* The plan rebuilt from the potentials with the OU kernel written out has the end marginals:
 * catches a wrong sign or factor in the scalings or the gauge (docs/sb.md). */
static void test_plan_is_the_ou_plan(void **state) {
  (void)state;
  ou_case c = make_case(1, 240, 7, 0.7, 1.5, 1.3);
  const size_t N = c.g.size;
  double *lph = malloc(N * sizeof(double)), *lphi = malloc(N * sizeof(double));
  assert_int_equal(fpk_sb_log_phi_hat(c.sb, 0, lph), FPK_SUCCESS);
  assert_int_equal(fpk_sb_log_phi(c.sb, c.T, lphi), FPK_SUCCESS);
  double k, v;
  ou_law(c.sigma, c.theta, c.T, &k, &v);
  const double V = c.g.cell_volume;
  double *col = calloc(N, sizeof(double)), l1a = 0, l1b = 0;
  for (size_t i = 0; i < N; i++) {
    double row = 0;
    for (size_t j = 0; j < N; j++) {
      const double dy = c.x[j] - k * c.x[i];
      const double pij = V * V * exp(lph[i] + lphi[j] - dy * dy / (2 * v)) / sqrt(2 * M_PI * v);
      row += pij;
      col[j] += pij;
    }
    l1a += fabs(row - c.a[i]);
  }
  for (size_t j = 0; j < N; j++) l1b += fabs(col[j] - c.b[j]);
  print_message("OU plan rebuilt with the OU kernel: |rows - a|_1 = %.2e, |cols - b|_1 = %.2e "
                "(Sinkhorn err %.2e)\n", l1a, l1b, c.r.err_a + c.r.err_b);
  assert_true(l1a <= 2e-9);
  assert_true(l1b <= 2e-9);
  /* and the module's own ends agree: p_0 = a, p_T = b */
  double mass;
  assert_int_equal(fpk_sb_marginal(c.sb, 0, c.p, NULL, &mass), FPK_SUCCESS);
  double e0 = 0;
  for (size_t i = 0; i < N; i++) e0 += fabs(c.p[i] - c.a[i]);
  assert_true(e0 <= 2e-9);
  free(lph), free(lphi), free(col);
  free_case(&c);
}

static void check_gaussian(ou_case *c, const char *label) {
  const size_t d = c->d, N = c->g.size;
  double *ref = malloc(d * N * sizeof(double));
  const double ts[3] = {0.25 * c->T, 0.5 * c->T, 0.75 * c->T};
  for (int k = 0; k < 3; k++) {
    double mass, m[2], S[4], mt[2], St[4];
    if (fpk_sb_marginal(c->sb, ts[k], c->p, NULL, &mass))
      fail_msg("%s marginal: %s", label, fpk_sb_errmsg(c->sb));
    moments(c, c->p, m, S);
    marginal_cf(c, ts[k], mt, St);
    const double rm = rel_vec(d, m, mt), rS = rel_vec(d * d, S, St);
    if (fpk_sb_drift(c->sb, ts[k], c->drift, NULL))
      fail_msg("%s drift: %s", label, fpk_sb_errmsg(c->sb));
    drift_cf(c, ts[k], ref);
    const double rb = rel_l2(c, c->p, c->drift, ref);
    /* backward drift: −b̂ + σ²∇log p_t = b, with the closed-form score −Σ_t⁻¹(x − μ_t) */
    if (fpk_sb_backward_drift(c->sb, ts[k], c->bw, NULL))
      fail_msg("%s backward drift: %s", label, fpk_sb_errmsg(c->sb));
    double Si[4];
    mat_inv(d, St, Si);
    for (size_t i = 0; i < N; i++)
      for (size_t a = 0; a < d; a++) {
        double score = 0;
        for (size_t b = 0; b < d; b++) score -= Si[a * d + b] * (c->x[b * N + i] - mt[b]);
        c->bw[a * N + i] = -c->bw[a * N + i] + c->sigma * c->sigma * score;
      }
    const double rbw = rel_l2(c, c->p, c->bw, ref);
    print_message("%s t = %.3g: mass - 1 = %.2e, mean %.2e, cov %.2e, drift L2 %.2e, backward "
                  "%.2e\n", label, ts[k], mass - 1, rm, rS, rb, rbw);
    assert_true(fabs(mass - 1) <= 2e-9);
    assert_true(rm <= 1e-6);
    assert_true(rS <= 1e-6);
    assert_true(rb <= 1e-4);
    assert_true(rbw <= 1e-4);
  }
  free(ref);
}

static void test_gaussian_1d(void **state) {
  (void)state;
  const double thetas[] = {0.5, 2, 6};
  for (int k = 0; k < 3; k++) {
    ou_case c = make_case(1, 400, 8, 0.6, thetas[k], 1);
    char label[64];
    snprintf(label, sizeof label, "OU 1D theta %g", thetas[k]);
    check_gaussian(&c, label);
    free_case(&c);
  }
}

static void test_gaussian_2d(void **state) {
  (void)state;
  ou_case c = make_case(2, 128, 7.5, 0.5, 1, 1);
  check_gaussian(&c, "OU 2D theta 1");
  free_case(&c);
}

/* θ → 0 is the Brownian bridge (continuity of the module across the two references). */
static void test_small_theta_is_brownian(void **state) {
  (void)state;
  ou_case c = make_case(1, 200, 6, 0.5, 1e-6, 1);
  fpk_sb_params p;
  fpk_sb_params_init(&p);
  p.sigma = 0.5;
  fpk_error err = {0};
  fpk_sb *bm = fpk_sb_alloc(&c.g, &p, &err);
  assert_non_null(bm);
  assert_int_equal(fpk_sb_solve(bm, c.a, c.b, NULL), FPK_SUCCESS);
  const size_t N = c.g.size;
  double *q = malloc(N * sizeof(double)), l1 = 0, db = 0, nb = 0;
  assert_int_equal(fpk_sb_marginal(c.sb, 0.4, c.p, NULL, NULL), FPK_SUCCESS);
  assert_int_equal(fpk_sb_marginal(bm, 0.4, q, NULL, NULL), FPK_SUCCESS);
  for (size_t i = 0; i < N; i++) l1 += fabs(c.p[i] - q[i]);
  double *bb = malloc(N * sizeof(double));
  assert_int_equal(fpk_sb_drift(c.sb, 0.4, c.drift, NULL), FPK_SUCCESS);
  assert_int_equal(fpk_sb_drift(bm, 0.4, bb, NULL), FPK_SUCCESS);
  for (size_t i = 0; i < N; i++)
    db += q[i] * (c.drift[i] - bb[i]) * (c.drift[i] - bb[i]), nb += q[i] * bb[i] * bb[i];
  print_message("theta = 1e-6 vs brownian: marginal L1 %.2e, drift L2 %.2e\n", l1, sqrt(db / nb));
  /* the OU bridge differs from the Brownian one at O(θ) = 1e-6 */
  assert_true(l1 <= 1e-5);
  assert_true(sqrt(db / nb) <= 1e-5);
  assert_true(l1 > 0); /* and it is a different code path */
  free(q), free(bb);
  fpk_sb_free(bm);
  free_case(&c);
}

/* KL(P* ‖ R) static vs Girsanov (½∫∫p|b − f|²/σ²: a missing f would show at O(θ²)). */
static void test_kl(void **state) {
  (void)state;
  ou_case c = make_case(1, 400, 8, 0.6, 2, 1);
  fpk_sb_path_diag dg;
  if (fpk_sb_path_diagnostics(c.sb, 16, &dg)) fail_msg("diag: %s", fpk_sb_errmsg(c.sb));
  const double rel = fabs(dg.kl_girsanov - dg.kl_static) / dg.kl_static;
  print_message("OU KL static %.12g, Girsanov %.12g: rel %.2e (strips %.2e)\n", dg.kl_static,
                dg.kl_girsanov, rel, dg.kl_strips);
  assert_true(rel <= 1e-6);
  assert_true(dg.kl_static > 0.1);
  free_case(&c);
}

/* The exact sampler's OU bridges and Euler–Maruyama on the bridge SDE, against the closed form:
 * moments at the output times within 4.5 standard errors (the exact sampler; the cell jitter
 * h²/12 of X_0 and X_T enters Σ_t as (α² + β²)h²/12), EM within its O(dt) bias plus noise. */
static void test_samplers(void **state) {
  (void)state;
  ou_case c = make_case(1, 300, 8, 0.6, 2, 1);
  const double ts[4] = {0, 0.3, 0.7, 1};
  fpk_sb_sample_params sp;
  fpk_sb_sample_params_init(&sp);
  const char *q = getenv("FPK_TEST_QUICK");
  sp.npaths = q && *q && strcmp(q, "0") ? 40000 : 200000;
  sp.seed = 11;
  sp.nt = 4;
  sp.t = ts;
  sp.dt = 0.002;
  const double h2 = c.g.h[0] * c.g.h[0];
  for (int em = 0; em < 2; em++) {
    fpk_sb_sample_result r;
    int rc = em ? fpk_sb_sample_em(c.sb, &sp, &r) : fpk_sb_sample_exact(c.sb, &sp, &r);
    if (rc) fail_msg("sample: %s", fpk_sb_errmsg(c.sb));
    for (int k = 1; k < 3; k++) {
      double mt, St, al, be, w;
      marginal_cf(&c, ts[k], &mt, &St);
      coefs(&c, ts[k], &al, &be, &w);
      if (!em) St += (al * al + be * be) * h2 / 12;
      const double n = (double)sp.npaths;
      const double zm = (r.mean[k] - mt) / sqrt(St / n);
      const double zv = (r.cov[k] - St) / (St * sqrt(2 / n));
      print_message("OU %s t = %g: mean z %.2f, var z %.2f\n", em ? "EM" : "exact", ts[k], zm, zv);
      /* EM: bias O(dt) = O(2e-3) relative on top of the noise (z up to ~1.5 at 2e5 paths) */
      assert_true(fabs(zm) <= (em ? 6 : 4.5));
      assert_true(fabs(zv) <= (em ? 6 : 4.5));
    }
    if (em) {
      /* KL(P* ‖ R) along the EM paths with u = (b − f)/σ, f = −θx: within 4 standard errors plus
       * the O(dt) bias scale KL·dt/T of the static value (a missing f would be off by O(1)) */
      double kl;
      assert_int_equal(fpk_sb_kl_static(c.sb, &kl), FPK_SUCCESS);
      const double tolL = 4 * r.kl_mc_se + kl * sp.dt / c.T;
      const double tolE = 4 * r.kl_mc_energy_se + kl * sp.dt / c.T;
      print_message("OU KL static %.6g, MC %.6g +- %.2g, energy %.6g +- %.2g\n", kl, r.kl_mc,
                    r.kl_mc_se, r.kl_mc_energy, r.kl_mc_energy_se);
      assert_true(fabs(r.kl_mc - kl) <= tolL);
      assert_true(fabs(r.kl_mc_energy - kl) <= tolE);
    }
    fpk_sb_sample_result_free(&r);
  }
  free_case(&c);
}

static void test_bad_input(void **state) {
  (void)state;
  size_t n[1] = {50};
  double lo[1] = {-3}, hi[1] = {3};
  fpk_grid g = fpk_test_grid(1, n, lo, hi);
  fpk_sb_params p;
  fpk_sb_params_init(&p);
  p.reference = fpk_sb_reference_ou;
  fpk_error err = {0};
  const double bad[] = {0, -1, NAN, INFINITY};
  for (int k = 0; k < 4; k++) {
    p.theta = bad[k];
    assert_null(fpk_sb_alloc(&g, &p, &err));
    assert_int_equal(err.status, FPK_EINVAL);
    assert_non_null(strstr(err.msg, "theta"));
  }
  p.theta = 200;
  assert_null(fpk_sb_alloc(&g, &p, &err));
  assert_non_null(strstr(err.msg, "theta T"));
  /* σ²/(2θ) below the resolved variance 1.2h²: no kernel is ever resolved */
  p.theta = 50;
  p.sigma = 0.3;
  p.T = 1;
  fpk_sb *s = fpk_sb_alloc(&g, &p, &err);
  assert_non_null(s);
  assert_true(isinf(fpk_sb_resolved_tau(s)));
  fpk_sb_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_plan_is_the_ou_plan),
      cmocka_unit_test(test_small_theta_is_brownian),
      cmocka_unit_test(test_gaussian_1d),
      cmocka_unit_test(test_kl),
      cmocka_unit_test(test_samplers),
      cmocka_unit_test(test_gaussian_2d),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
