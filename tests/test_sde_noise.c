/* Monte Carlo with noise matrices and the kinetic-Langevin splitting steppers (issue 16):
 *  (a) 2D OU with a full, correlated 2 × 3 noise matrix and a non-symmetric A: MC mean and
 *      covariance at t = 1 within 4 standard errors of the exact law of the chain (EM:
 *      fpk_exact_em_law; SRA1, exact-OU: fpk_exact_linear_law);
 *  (b) the harmonic Kramers model (degenerate noise [0; √(2γ/β)]): EM, exact-OU, BAOAB, OBABO
 *      likewise;
 *  (c) invariant-measure bias vs step size: the exact stationary covariance of each stepper's
 *      chain on the harmonic Kramers model (the step's linear map extracted from the stepper's own
 *      code, then the discrete Lyapunov equation), fitted orders against the Gibbs values; then
 *      the double-well Kramers model by long-time Monte Carlo averages (BAOAB, EM);
 *  (d) refusals: Milstein on multiplicative matrix noise, BAOAB/OBABO on a non-Kramers model,
 *      exact-OU on a non-linear model;
 *  (e) same seed → the same bits with 1 and 3 threads for matrix models (additive and
 *      multiplicative, with absorbing walls), and the strong order of a ladder with m = 3.
 * FPK_TEST_QUICK=1 (sanitizer builds) runs fewer paths; the tolerances scale with the standard
 * errors, so the checks are the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fpk_test.h"
#include "fpkit/exact.h"
#include "fpkit/sde.h"

static int quick(void) {
  const char *q = getenv("FPK_TEST_QUICK");
  return q && *q && *q != '0';
}

/* ---- shared: MC moments at T against a Gaussian law ------------------------------------ */

/* Runs the ensemble (point start x0) to T with step dt and checks mean and covariance against
 * `law` within 4 standard errors: SE(mean_a) = √(Σ_aa/N), SE(cov_ab) = √((Σ_aa Σ_bb + Σ_ab²)/N)
 * (Gaussian fourth moments). Prints every number. */
static void check_mc_law(const char *label, const fpk_model *m, const fpk_sde_stepper_type *st,
                         const double *x0, double T, double dt, size_t N, const fpk_gaussian *law) {
  const size_t d = m->dim;
  const size_t n[3] = {8, 8, 8};
  const double lo[3] = {-20, -20, -20}, hi[3] = {20, 20, 20};
  fpk_grid g = fpk_test_grid(d, n, lo, hi);
  double zero[9] = {0};
  fpk_gaussian init = fpk_test_gaussian(d, x0, zero);
  fpk_mc_params p = {.stepper = st, .npaths = N, .dt = dt, .seed = 2016};
  fpk_mc_result r = {0};
  fpk_error err = {0};
  const int rc = fpk_mc_run(m, &init, &g, &T, 1, &p, &r, &err);
  if (rc) fail_msg("%s: %s", label, err.msg);
  double worst = 0.0;
  printf("%-28s N = %zu, dt = %g:", label, N, dt);
  for (size_t a = 0; a < d; a++) {
    const double se = sqrt(law->cov[a * d + a] / (double)N);
    const double z = (r.mean[a] - law->mean[a]) / se;
    printf(" mean[%zu] %.5f (exact %.5f, %+.2f SE)", a, r.mean[a], law->mean[a], z);
    worst = fmax(worst, fabs(z));
  }
  for (size_t a = 0; a < d; a++)
    for (size_t b = a; b < d; b++) {
      const double Sab = law->cov[a * d + b];
      const double se = sqrt((law->cov[a * d + a] * law->cov[b * d + b] + Sab * Sab) / (double)N);
      const double z = (r.cov[a * d + b] - Sab) / se;
      printf(" cov[%zu%zu] %.5f (exact %.5f, %+.2f SE)", a, b, r.cov[a * d + b], Sab, z);
      worst = fmax(worst, fabs(z));
    }
  printf("; worst %.2f SE\n", worst);
  assert_true(worst < 4.0);
  fpk_mc_result_free(&r);
}

static void law_exact(const fpk_model *m, const double *x0, double T, fpk_gaussian *law) {
  fpk_error err = {0};
  double zero[9] = {0};
  fpk_gaussian init = fpk_test_gaussian(m->dim, x0, zero);
  assert_int_equal(fpk_exact_linear_law(m->linear, &init, T, law, &err), FPK_SUCCESS);
}

static void law_em(const fpk_model *m, const double *x0, double T, double dt, fpk_gaussian *law) {
  fpk_error err = {0};
  double zero[9] = {0};
  fpk_gaussian init = fpk_test_gaussian(m->dim, x0, zero);
  size_t ns;
  double h;
  assert_int_equal(fpk_time_steps(0.0, T, dt, &ns, &h, &err), FPK_SUCCESS);
  assert_int_equal(fpk_exact_em_law(m->linear, &init, 1, &ns, &h, law, &err), FPK_SUCCESS);
}

/* ---- (a) full, correlated B ------------------------------------------------------------- */

static const double OU_A[4] = {1.0, 0.6, -0.4, 0.8}, OU_MU[2] = {0.5, -0.2};
static const double OU_B[6] = {0.8, 0.3, 0.2, -0.4, 0.6, 0.5}; /* 2 × 3: m = 3 > d */

static fpk_model *ou_matrix(void) {
  fpk_error err = {0};
  fpk_model *m = fpk_model_ou_matrix_alloc(2, OU_A, OU_MU, 3, OU_B, &err);
  if (!m) fail_msg("%s", err.msg);
  return m;
}

static void test_ou_full_noise(void **state) {
  (void)state;
  fpk_model *m = ou_matrix();
  const size_t N = quick() ? 16384 : 262144;
  const double x0[2] = {1.0, -0.5}, T = 1.0;
  fpk_gaussian law;
  law_em(m, x0, T, 0.1, &law);
  check_mc_law("OU full B, euler-maruyama", m, fpk_sde_euler_maruyama, x0, T, 0.1, N, &law);
  law_exact(m, x0, T, &law);
  check_mc_law("OU full B, sra1", m, fpk_sde_sra1, x0, T, 0.02, N, &law);
  check_mc_law("OU full B, exact-ou", m, fpk_sde_exact_ou, x0, T, 0.25, N, &law);
  check_mc_law("OU full B, tamed-euler", m, fpk_sde_tamed_euler, x0, T, 0.002, N / 4, &law);
  check_mc_law("OU full B, milstein (= EM)", m, fpk_sde_milstein, x0, T, 0.002, N / 4, &law);
  /* the EM chain's law is not the SDE's at dt = 0.1: the sharp reference matters */
  fpk_gaussian em;
  law_em(m, x0, T, 0.1, &em);
  printf("OU full B: EM chain var[00] %.5f vs SDE %.5f at dt = 0.1\n", em.cov[0], law.cov[0]);
  fpk_model_free(m);
}

/* ---- (b) harmonic Kramers: degenerate noise ---------------------------------------------- */

static fpk_model *kramers(const char *pot, double beta, double gamma, double kappa) {
  fpk_error err = {0};
  const fpk_kramers_params kp = {.beta = beta, .gamma = gamma, .amplitude = kappa, .period = 1.0};
  fpk_model *m = fpk_model_kramers_alloc(pot, &kp, &err);
  if (!m) fail_msg("%s", err.msg);
  return m;
}

static void test_kramers_harmonic_mc(void **state) {
  (void)state;
  fpk_model *m = kramers("harmonic", 2.0, 0.5, 1.5);
  assert_non_null(m->linear);
  const size_t N = quick() ? 16384 : 262144;
  const double x0[2] = {1.0, 0.3}, T = 1.0;
  fpk_gaussian law;
  law_em(m, x0, T, 0.05, &law);
  check_mc_law("Kramers harmonic, EM", m, fpk_sde_euler_maruyama, x0, T, 0.05, N, &law);
  law_exact(m, x0, T, &law);
  check_mc_law("Kramers harmonic, exact-ou", m, fpk_sde_exact_ou, x0, T, 0.5, N, &law);
  check_mc_law("Kramers harmonic, baoab", m, fpk_sde_baoab, x0, T, 0.01, N, &law);
  check_mc_law("Kramers harmonic, obabo", m, fpk_sde_obabo, x0, T, 0.01, N, &law);
  fpk_model_free(m);
}

/* ---- (c) invariant-measure bias ---------------------------------------------------------- */

/* The linear map x' = M x + G ξ of one step of st (size h) on the linear 2D model m, from the
 * stepper's own code: columns of M from basis states with zero normals, columns of G from the
 * zero state with unit normals (the model's drift has no constant term: checked). */
static size_t step_map(const fpk_model *m, const fpk_sde_stepper_type *st, double h, double *M,
                       double *G) {
  const size_t d = 2, nz = fpk_sde_normals_per_step(st, m);
  assert_true(nz >= 1 && nz <= 4);
  double *work = calloc(fpk_sde_work_size(st, m, 1), sizeof(double));
  assert_non_null(work);
  fpk_error err = {0};
  double x[2], z[4];
  for (size_t j = 0; j <= d; j++) { /* j = d: the zero state, which must stay at 0 */
    memset(z, 0, sizeof z);
    x[0] = j == 0, x[1] = j == 1;
    assert_int_equal(st->step(m, 0.0, h, 1, x, z, work, &err), FPK_SUCCESS);
    if (j == d) {
      assert_true(x[0] == 0.0 && x[1] == 0.0);
      break;
    }
    M[0 * d + j] = x[0], M[1 * d + j] = x[1];
  }
  for (size_t r = 0; r < nz; r++) {
    memset(z, 0, sizeof z);
    z[r] = 1.0;
    x[0] = x[1] = 0.0;
    assert_int_equal(st->step(m, 0.0, h, 1, x, z, work, &err), FPK_SUCCESS);
    G[0 * 4 + r] = x[0], G[1 * 4 + r] = x[1];
  }
  free(work);
  return nz;
}

/* Σ = M Σ Mᵀ + G Gᵀ by doubling (Smith's method): S_{k+1} = S_k + A_k S_k A_kᵀ, A_{k+1} = A_k²,
 * S_0 = GGᵀ, A_0 = M, so S_k = Σ_{j < 2^k} M^j GGᵀ M^jᵀ; converged to round-off once |A_k| ≈ 0. */
static void chain_stationary_cov(const double *M, const double *G, size_t nz, double *S) {
  double A[4];
  memcpy(A, M, sizeof A);
  for (size_t a = 0; a < 2; a++)
    for (size_t b = 0; b < 2; b++) {
      double s = 0.0;
      for (size_t r = 0; r < nz; r++) s += G[a * 4 + r] * G[b * 4 + r];
      S[a * 2 + b] = s;
    }
  for (int it = 0; it < 64; it++) {
    double AS[4], T[4], A2[4];
    for (size_t a = 0; a < 2; a++)
      for (size_t b = 0; b < 2; b++) AS[a * 2 + b] = A[a * 2] * S[b] + A[a * 2 + 1] * S[2 + b];
    for (size_t a = 0; a < 2; a++)
      for (size_t b = 0; b < 2; b++) T[a * 2 + b] = AS[a * 2] * A[b * 2] + AS[a * 2 + 1] * A[b * 2 + 1];
    for (size_t k = 0; k < 4; k++) S[k] += T[k];
    for (size_t a = 0; a < 2; a++)
      for (size_t b = 0; b < 2; b++) A2[a * 2 + b] = A[a * 2] * A[b] + A[a * 2 + 1] * A[2 + b];
    memcpy(A, A2, sizeof A);
    if (fabs(A[0]) + fabs(A[1]) + fabs(A[2]) + fabs(A[3]) < 1e-300) break;
  }
}

static double local_order(double e1, double e2) { return log(e1 / e2) / log(2.0); }

static void test_invariant_harmonic(void **state) {
  (void)state;
  const double beta = 1.0, kappa = 1.0;
  fpk_model *m = kramers("harmonic", beta, 1.0, kappa);
  const double gx = 1.0 / (beta * kappa), gv = 1.0 / beta; /* Gibbs ⟨x²⟩, ⟨v²⟩ */
  const double hs[4] = {0.4, 0.2, 0.1, 0.05};
  const fpk_sde_stepper_type *sts[3] = {fpk_sde_euler_maruyama, fpk_sde_baoab, fpk_sde_obabo};
  double ex[3][4], ev[3][4];
  for (size_t s = 0; s < 3; s++) {
    for (size_t k = 0; k < 4; k++) {
      double M[4], G[8], S[4];
      const size_t nz = step_map(m, sts[s], hs[k], M, G);
      chain_stationary_cov(M, G, nz, S);
      ex[s][k] = fabs(S[0] - gx);
      ev[s][k] = fabs(S[3] - gv);
      printf("harmonic Kramers, %-14s h = %.2f: stationary <x^2> = %.15f (error %.3e), <v^2> = "
             "%.15f (error %.3e), <xv> = %.2e\n",
             sts[s]->name, hs[k], S[0], ex[s][k], S[3], ev[s][k], S[1]);
    }
  }
  const double pex_em = fpk_test_fit_order(4, hs, ex[0]), pev_em = fpk_test_fit_order(4, hs, ev[0]);
  const double pev_baoab = fpk_test_fit_order(4, hs, ev[1]);
  const double pex_obabo = fpk_test_fit_order(4, hs, ex[2]);
  printf("fitted orders: EM <x^2> %.3f, <v^2> %.3f; BAOAB <v^2> %.3f (<x^2> error <= %.1e); "
         "OBABO <x^2> %.3f\n",
         pex_em, pev_em, pev_baoab, fmax(fmax(ex[1][0], ex[1][1]), fmax(ex[1][2], ex[1][3])),
         pex_obabo);
  printf("local orders (0.4/0.2, 0.2/0.1, 0.1/0.05): EM <x^2> %.3f %.3f %.3f; BAOAB <v^2> %.3f "
         "%.3f %.3f; OBABO <x^2> %.3f %.3f %.3f\n",
         local_order(ex[0][0], ex[0][1]), local_order(ex[0][1], ex[0][2]),
         local_order(ex[0][2], ex[0][3]), local_order(ev[1][0], ev[1][1]),
         local_order(ev[1][1], ev[1][2]), local_order(ev[1][2], ev[1][3]),
         local_order(ex[2][0], ex[2][1]), local_order(ex[2][1], ex[2][2]),
         local_order(ex[2][2], ex[2][3]));
  /* exact arithmetic of the chain: the orders are deterministic. EM's error has a large h²
   * term (its local orders fall 1.50, 1.21, 1.10 towards 1): two finer steps show the limit */
  double emx[2];
  for (size_t k = 0; k < 2; k++) {
    double M[4], G[8], S[4];
    const double h = 0.025 / (double)(1 + k);
    chain_stationary_cov(M, G, step_map(m, fpk_sde_euler_maruyama, h, M, G), S);
    emx[k] = fabs(S[0] - gx);
    printf("harmonic Kramers, euler-maruyama h = %.4f: stationary <x^2> error %.3e\n", h, emx[k]);
  }
  const double em_fine = local_order(emx[0], emx[1]);
  printf("EM <x^2> local orders continue %.3f (0.05/0.025), %.3f (0.025/0.0125)\n",
         local_order(ex[0][3], emx[0]), em_fine);
  assert_in_range_d(pex_em, 1.0, 1.3);
  assert_in_range_d(em_fine, 0.97, 1.03);
  for (size_t k = 0; k < 4; k++) assert_true(ex[1][k] < 1e-13); /* BAOAB: exact ⟨x²⟩ */
  assert_in_range_d(pev_baoab, 1.85, 2.15);
  assert_in_range_d(local_order(ev[1][2], ev[1][3]), 1.95, 2.05);
  assert_in_range_d(pex_obabo, 1.85, 2.15);
  assert_in_range_d(local_order(ex[2][2], ex[2][3]), 1.95, 2.05);
  fpk_model_free(m);
}

/* Gibbs moments ⟨x²⟩, ⟨x⁴⟩ of e^{−βU}, U = x⁴/4 − x²/2, by the trapezoidal rule on [−8, 8]
 * (spectrally accurate for a smooth integrand that decays like e^{−x⁴/4}). */
static void double_well_gibbs(double beta, double *x2, double *x4) {
  const size_t n = 32000;
  const double a = -8.0, h = 16.0 / (double)n;
  double z = 0.0, s2 = 0.0, s4 = 0.0;
  for (size_t i = 0; i <= n; i++) {
    const double x = a + h * (double)i, w = (i == 0 || i == n) ? 0.5 : 1.0;
    const double p = w * exp(-beta * (0.25 * x * x * x * x - 0.5 * x * x));
    z += p, s2 += p * x * x, s4 += p * x * x * x * x;
  }
  *x2 = s2 / z;
  *x4 = s4 / z;
}

/* ⟨x²⟩ of the chain of st on the double-well Kramers model: G independent groups of N/G paths
 * (seeds 77 + g) from N((1, 0), diag(0.04, 1/β)), each averaged over the K outputs t = T0, T0 + 2, ...
 * (after relaxation). Returns the mean over groups and, in *se, its standard error from the
 * spread of the groups (which accounts for the correlation between the outputs of a path). */
enum { DW_GROUPS = 8 };
static double double_well_mc_x2(const fpk_model *m, const fpk_sde_stepper_type *st, double h,
                                size_t N, double beta, double *se) {
  enum { K = 16 };
  const double T0 = 6.0;
  double t[K];
  for (size_t k = 0; k < K; k++) t[k] = T0 + 2.0 * (double)k;
  const size_t n[2] = {4, 4};
  const double lo[2] = {-10, -10}, hi[2] = {10, 10};
  fpk_grid g = fpk_test_grid(2, n, lo, hi);
  /* a start in the right well, narrow in x: ⟨x²⟩ is the same in both wells (U is even), and a
   * wide start would put rare paths where the explicit force steps are unstable (ω h > 2,
   * ω² = U''(x) = 3x² − 1) before the dynamics confines them */
  const double mean[2] = {1, 0}, cov[4] = {0.04, 0, 0, 1.0 / beta};
  fpk_gaussian init = fpk_test_gaussian(2, mean, cov);
  double v[DW_GROUPS], s = 0.0;
  for (size_t gr = 0; gr < DW_GROUPS; gr++) {
    fpk_mc_params p = {.stepper = st, .npaths = N / DW_GROUPS, .dt = h, .seed = 77 + gr};
    fpk_mc_result r = {0};
    fpk_error err = {0};
    if (fpk_mc_run(m, &init, &g, t, K, &p, &r, &err)) fail_msg("%s", err.msg);
    v[gr] = 0.0;
    for (size_t k = 0; k < K; k++) v[gr] += r.cov[k * 4] + r.mean[k * 2] * r.mean[k * 2];
    v[gr] /= K;
    s += v[gr];
    fpk_mc_result_free(&r);
  }
  const double mu = s / DW_GROUPS;
  double ss = 0.0;
  for (size_t gr = 0; gr < DW_GROUPS; gr++) ss += (v[gr] - mu) * (v[gr] - mu);
  *se = sqrt(ss / (DW_GROUPS - 1) / DW_GROUPS);
  return mu;
}

static void test_invariant_double_well(void **state) {
  (void)state;
  const double beta = 4.0;
  fpk_model *m = kramers("double-well", beta, 1.0, 1.0);
  double gx2, gx4;
  double_well_gibbs(beta, &gx2, &gx4);
  const size_t N = quick() ? 524288 : 2097152;
  printf("double-well Kramers (beta = 4, gamma = 1): Gibbs <x^2> = %.6f (Var x^2 = %.4f), "
         "N = %zu paths in %d groups\n", gx2, gx4 - gx2 * gx2, N, DW_GROUPS);
  /* EM's bias is ~50 times BAOAB's: a quarter of the paths resolve it (and EM needs h <= 0.1
   * here: at 0.2 rare paths blow up in the quartic potential) */
  struct {
    const fpk_sde_stepper_type *st;
    double h[3], expect;
    size_t npaths;
  } cases[2] = {{fpk_sde_baoab, {0.5, 0.4, 1.0 / 3.0}, 2.0, N},
                {fpk_sde_euler_maruyama, {0.1, 0.05, 0.025}, 1.0, N / 4}};
  for (size_t c = 0; c < 2; c++) {
    double e[3], se[3];
    for (size_t k = 0; k < 3; k++) {
      const double x2 = double_well_mc_x2(m, cases[c].st, cases[c].h[k], cases[c].npaths, beta, &se[k]);
      e[k] = x2 - gx2;
      printf("double-well, %-14s h = %.5f: <x^2> = %.6f +- %.1e (SE), bias %+.3e (%.1f SE)\n",
             cases[c].st->name, cases[c].h[k], x2, se[k], e[k], e[k] / se[k]);
    }
    double ae[3] = {fabs(e[0]), fabs(e[1]), fabs(e[2])};
    const double p = fpk_test_fit_order(3, cases[c].h, ae);
    /* The fitted slope moves by at most Σ_k |δe_k|/e_k / ln(h₀/h₂) when each error moves by δe_k;
     * with |δe_k| <= 2 SE_k (each point's 95% interval) that is the statistical tolerance; 0.3
     * more allows the next term of the bias expansion at these step sizes. */
    const double tol = 0.3 + 2.0 * (se[0] / ae[0] + se[1] / ae[1] + se[2] / ae[2]) /
                                 log(cases[c].h[0] / cases[c].h[2]);
    printf("double-well, %-14s fitted order of the <x^2> bias %.3f (expected %.0f, tolerance "
           "%.2f)\n", cases[c].st->name, p, cases[c].expect, tol);
    /* the bias must dominate the noise, or the fit means nothing */
    for (size_t k = 0; k < 3; k++) assert_true(ae[k] > 4.0 * se[k]);
    assert_true(e[0] * e[2] > 0.0); /* one sign: a bias, not noise */
    /* EM: order 1 on both sides. BAOAB: weak order 2, so the bias is O(h²) at least; for this
     * potential at γ = 1 the h² coefficient is small against the next terms and the slope over
     * h = 0.5 .. 1/3 comes out near 3 (printed), so the upper side allows one order more; what
     * the check excludes is first-order behaviour such as EM's. */
    assert_in_range_d(p, cases[c].expect - tol, cases[c].expect + (c == 0 ? 1.0 : 0.0) + tol);
  }
  fpk_model_free(m);
}

/* ---- (d) refusals ----------------------------------------------------------------------- */

/* A 2D model with multiplicative matrix noise σ = [[1 + x₀²/10, x₁/5], [0.2, 1]]·0.5 and drift
 * −x: Milstein cannot integrate it. */
static int mm_drift(double t, size_t n, const double *x, double *out, void *params) {
  (void)t, (void)params;
  for (size_t i = 0; i < 2 * n; i++) out[i] = -x[i];
  return 0;
}
static int mm_noise(double t, size_t n, const double *x, double *out, void *params) {
  (void)t, (void)params;
  for (size_t i = 0; i < n; i++) {
    out[0 * n + i] = 0.5 * (1.0 + 0.1 * x[i] * x[i]);
    out[1 * n + i] = 0.1 * x[n + i];
    out[2 * n + i] = 0.1;
    out[3 * n + i] = 0.5;
  }
  return 0;
}
static const fpk_model MULT_MATRIX = {.name = "mult-matrix", .dim = 2, .drift = mm_drift,
                                      .flags = FPK_MODEL_AUTONOMOUS,
                                      .noise_matrix = mm_noise, .noise_dim = 2};

static void expect_refusal(const fpk_sde_stepper_type *st, const fpk_model *m, const char *what) {
  fpk_error err = {0};
  assert_int_equal(fpk_sde_stepper_check(st, m, &err), FPK_EINVAL);
  printf("refused: %s\n", err.msg);
  if (!strstr(err.msg, what)) fail_msg("message lacks \"%s\": %s", what, err.msg);
  /* and fpk_mc_run refuses it with the same reason */
  const size_t n[2] = {4, 4};
  const double lo[2] = {-5, -5}, hi[2] = {5, 5}, zero[4] = {0};
  fpk_grid g = fpk_test_grid(2, n, lo, hi);
  fpk_gaussian init = fpk_test_gaussian(2, zero, zero);
  const double T = 1.0;
  fpk_mc_params p = {.stepper = st, .npaths = 16, .dt = 0.1, .seed = 1};
  fpk_mc_result r = {0};
  assert_int_equal(fpk_mc_run(m, &init, &g, &T, 1, &p, &r, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, what));
}

static void test_refusals(void **state) {
  (void)state;
  fpk_model *ou = ou_matrix(), *dw = kramers("double-well", 1.0, 1.0, 1.0);
  expect_refusal(fpk_sde_milstein, &MULT_MATRIX,
                 "Milstein needs diagonal noise (commutative noise)");
  expect_refusal(fpk_sde_milstein, &MULT_MATRIX, "use euler-maruyama, tamed-euler, or sra1");
  expect_refusal(fpk_sde_sra1, &MULT_MATRIX, "SRA1 needs additive noise");
  expect_refusal(fpk_sde_baoab, ou, "needs a Kramers model");
  expect_refusal(fpk_sde_baoab, ou, "use euler-maruyama");
  expect_refusal(fpk_sde_obabo, &MULT_MATRIX, "OBABO is a splitting scheme");
  expect_refusal(fpk_sde_exact_ou, dw, "needs a linear model");
  expect_refusal(fpk_sde_exact_ou, dw, "baoab");
  /* what is accepted: Milstein on additive matrix noise (it is EM there), BAOAB on Kramers */
  fpk_error err = {0};
  assert_int_equal(fpk_sde_stepper_check(fpk_sde_milstein, ou, &err), FPK_SUCCESS);
  assert_int_equal(fpk_sde_stepper_check(fpk_sde_baoab, dw, &err), FPK_SUCCESS);
  assert_int_equal(fpk_sde_stepper_check(fpk_sde_exact_ou, ou, &err), FPK_SUCCESS);
  assert_true(fpk_sde_stepper_lookup("baoab") == fpk_sde_baoab);
  assert_true(fpk_sde_stepper_lookup("obabo") == fpk_sde_obabo);
  /* normals per step: q × m, exact-OU dim */
  assert_int_equal(fpk_sde_normals_per_step(fpk_sde_euler_maruyama, ou), 3);
  assert_int_equal(fpk_sde_normals_per_step(fpk_sde_sra1, ou), 6);
  assert_int_equal(fpk_sde_normals_per_step(fpk_sde_exact_ou, ou), 2);
  assert_int_equal(fpk_sde_normals_per_step(fpk_sde_baoab, dw), 1);
  assert_int_equal(fpk_sde_normals_per_step(fpk_sde_obabo, dw), 2);
  fpk_model_free(ou);
  fpk_model_free(dw);
}

/* ---- (e) thread independence, killing, ladder ------------------------------------------- */

static void threads_bitwise(const char *label, const fpk_model *m, const fpk_sde_stepper_type *st,
                            const fpk_grid *g, double dt) {
  const double t[2] = {0.5, 1.0}, mean[2] = {0.2, -0.1}, cov[4] = {0.3, 0.05, 0.05, 0.2};
  fpk_gaussian init = fpk_test_gaussian(2, mean, cov);
  fpk_mc_result r[2];
  fpk_error err = {0};
  const int nth[2] = {1, 3};
  for (int k = 0; k < 2; k++) {
    fpk_mc_params p = {.stepper = st, .npaths = 3 * 256 + 77, .dt = dt, .seed = 4242,
                       .keep_paths = 3, .nthreads = nth[k]};
    r[k] = (fpk_mc_result){0};
    if (fpk_mc_run(m, &init, g, t, 2, &p, &r[k], &err)) fail_msg("%s: %s", label, err.msg);
  }
  assert_memory_equal(r[0].density, r[1].density, 2 * g->size * sizeof(double));
  assert_memory_equal(r[0].mean, r[1].mean, 2 * 2 * sizeof(double));
  assert_memory_equal(r[0].cov, r[1].cov, 2 * 4 * sizeof(double));
  assert_memory_equal(r[0].survival, r[1].survival, 2 * sizeof(double));
  assert_memory_equal(r[0].paths, r[1].paths, 3 * (r[0].nsteps + 1) * 2 * sizeof(double));
  printf("%-40s 1 and 3 threads bitwise equal (survival at t = 1: %.4f)\n", label,
         r[0].survival[1]);
  fpk_mc_result_free(&r[0]);
  fpk_mc_result_free(&r[1]);
}

static void test_threads_and_killing(void **state) {
  (void)state;
  fpk_model *ou = ou_matrix(), *kr = kramers("double-well", 1.0, 1.0, 1.0);
  const size_t n[2] = {16, 16};
  const double lo[2] = {-3, -3}, hi[2] = {3, 3};
  fpk_grid g = fpk_test_grid(2, n, lo, hi);
  threads_bitwise("OU full B (m = 3), euler-maruyama", ou, fpk_sde_euler_maruyama, &g, 0.05);
  threads_bitwise("OU full B (m = 3), sra1", ou, fpk_sde_sra1, &g, 0.05);
  threads_bitwise("OU full B (m = 3), exact-ou", ou, fpk_sde_exact_ou, &g, 0.25);
  threads_bitwise("multiplicative matrix, euler-maruyama", &MULT_MATRIX, fpk_sde_euler_maruyama,
                  &g, 0.05);
  threads_bitwise("multiplicative matrix, tamed-euler", &MULT_MATRIX, fpk_sde_tamed_euler, &g,
                  0.05);
  threads_bitwise("Kramers double well, baoab", kr, fpk_sde_baoab, &g, 0.05);
  threads_bitwise("Kramers double well, obabo", kr, fpk_sde_obabo, &g, 0.05);
  /* absorbing walls on both axes: x of the Kramers model has a zero row of σ (no bridge test on
   * it), v has σ_v = √(2γ/β); the OU's axes have σ_a = |row a of B| */
  fpk_grid ga = g;
  ga.bc[0] = ga.bc[1] = FPK_BC_ABSORBING;
  threads_bitwise("Kramers double well, baoab, absorbing", kr, fpk_sde_baoab, &ga, 0.05);
  threads_bitwise("OU full B, EM, absorbing", ou, fpk_sde_euler_maruyama, &ga, 0.05);
  threads_bitwise("multiplicative matrix, EM, absorbing", &MULT_MATRIX, fpk_sde_euler_maruyama,
                  &ga, 0.05);
  fpk_model_free(ou);
  fpk_model_free(kr);
}

/* Killing with a noise matrix, against a closed form. dX = B dW with the 2 × 3 B of the OU
 * tests, axis 0 absorbing on [−1, 1], axis 1 free (a wide reflecting box, which does not act on
 * paths). X₀ alone is a Brownian motion with σ₀ = |row 0 of B|, so its survival is the image
 * series  S(t) = Σ_n 4/((2n+1)π) sin((2n+1)π(x₀ − a)/L) e^{−((2n+1)π/L)² σ₀² t/2},  and the
 * engine's exit-plus-bridge test is exact per step for it (EM is exact for Brownian motion): the
 * Monte Carlo survival must match at a coarse step, within 4 binomial standard errors. A wrong
 * σ_a (row 0's first entry, the sum of entries, a column) shifts it by tens of SE. The same run
 * without the bridge test overestimates survival (the O(√h) exit error), as with diagonal noise. */
static double bm_interval_survival(double x0, double a, double b, double s2t) {
  const double L = b - a;
  double S = 0.0;
  for (int n = 0; n < 200; n++) {
    const double k = (2.0 * n + 1.0) * M_PI / L;
    S += 4.0 / ((2.0 * n + 1.0) * M_PI) * sin(k * (x0 - a)) * exp(-k * k * s2t / 2.0);
  }
  return S;
}

static void test_killing_matrix(void **state) {
  (void)state;
  const double A0[4] = {0, 0, 0, 0}, mu[2] = {0, 0};
  fpk_error err = {0};
  fpk_model *bm = fpk_model_ou_matrix_alloc(2, A0, mu, 3, OU_B, &err);
  if (!bm) fail_msg("%s", err.msg);
  const size_t n[2] = {20, 4};
  const double lo[2] = {-1, -50}, hi[2] = {1, 50};
  fpk_grid g = fpk_test_grid(2, n, lo, hi);
  g.bc[0] = FPK_BC_ABSORBING;
  const double x0[2] = {0.3, 0.0}, zero[4] = {0}, T[2] = {0.25, 0.5};
  fpk_gaussian init = fpk_test_gaussian(2, x0, zero);
  const double s0 = sqrt(OU_B[0] * OU_B[0] + OU_B[1] * OU_B[1] + OU_B[2] * OU_B[2]);
  const size_t N = quick() ? 16384 : 131072;
  for (int bridge = 1; bridge >= 0; bridge--) {
    fpk_mc_params p = {.npaths = N, .dt = 0.05, .seed = 31,
                       .bridge_correction = bridge ? FPK_MC_BRIDGE_ON : FPK_MC_BRIDGE_OFF};
    fpk_mc_result r = {0};
    if (fpk_mc_run(bm, &init, &g, T, 2, &p, &r, &err)) fail_msg("%s", err.msg);
    for (size_t k = 0; k < 2; k++) {
      const double ex = bm_interval_survival(x0[0], -1.0, 1.0, s0 * s0 * T[k]);
      const double se = sqrt(ex * (1.0 - ex) / (double)N), z = (r.survival[k] - ex) / se;
      printf("killed BM with a 2 x 3 B (sigma_0 = %.4f), dt = 0.05, bridge %s: survival at t = "
             "%.2f %.5f, exact %.5f (%+.1f SE)\n", s0, bridge ? "on " : "off", T[k],
             r.survival[k], ex, z);
      if (bridge)
        assert_true(fabs(z) < 4.0);
      else
        assert_true(z > 8.0); /* exits between steps are missed without the bridge test */
    }
    fpk_mc_result_free(&r);
  }
  fpk_model_free(bm);
}

/* Exact OU with a truly singular Σ_h: B = [0.5; 0] and a diagonal A, so x₁ gets no noise at all
 * (x₁(t) = x₁(0) e^{−A₁₁ t}). Plain Cholesky has a zero pivot here; the eigen factor gives x₁ its
 * deterministic value (variance 0) and x₀ its exact law. */
static void test_exact_ou_singular(void **state) {
  (void)state;
  const double A[4] = {1.0, 0.0, 0.0, 0.5}, mu[2] = {0, 0}, B[2] = {0.5, 0.0};
  fpk_error err = {0};
  fpk_model *m = fpk_model_ou_matrix_alloc(2, A, mu, 1, B, &err);
  if (!m) fail_msg("%s", err.msg);
  const size_t n[2] = {8, 8};
  const double lo[2] = {-5, -5}, hi[2] = {5, 5}, x0[2] = {1.0, 2.0}, zero[4] = {0}, T = 1.0;
  fpk_grid g = fpk_test_grid(2, n, lo, hi);
  fpk_gaussian init = fpk_test_gaussian(2, x0, zero), law;
  assert_int_equal(fpk_exact_linear_law(m->linear, &init, T, &law, &err), FPK_SUCCESS);
  const size_t N = quick() ? 16384 : 131072;
  fpk_mc_params p = {.stepper = fpk_sde_exact_ou, .npaths = N, .dt = 0.25, .seed = 8};
  fpk_mc_result r = {0};
  if (fpk_mc_run(m, &init, &g, &T, 1, &p, &r, &err)) fail_msg("%s", err.msg);
  const double zm = (r.mean[0] - law.mean[0]) / sqrt(law.cov[0] / (double)N);
  const double zv = (r.cov[0] - law.cov[0]) / (law.cov[0] * sqrt(2.0 / (double)N));
  printf("exact-ou, singular Sigma_h: x1 mean %.17g (exact %.17g), var %.3g; x0 mean %+.1f SE, "
         "var %+.1f SE\n", r.mean[1], law.mean[1], r.cov[3], zm, zv);
  assert_close_rel(r.mean[1], law.mean[1], 1e-12);
  assert_true(r.cov[3] < 1e-24);
  assert_true(fabs(zm) < 4.0 && fabs(zv) < 4.0);
  fpk_mc_result_free(&r);
  fpk_model_free(m);
}

/* Strong error of EM on the OU with a 2 × 3 B on a refinement ladder (shared Brownian paths with
 * m = 3 components, reference level 512 steps): additive noise, strong order 1. */
static void test_ladder_matrix(void **state) {
  (void)state;
  fpk_model *ou = ou_matrix();
  const size_t steps[4] = {8, 16, 32, 64};
  const double mean[2] = {1.0, -0.5}, zero[4] = {0};
  fpk_gaussian init = fpk_test_gaussian(2, mean, zero);
  fpk_ladder_params p = {.nlevels = 4, .steps = steps, .reference = FPK_LADDER_REF_LEVEL,
                         .ref_steps = 512, .T = 1.0, .npaths = quick() ? 2048 : 16384,
                         .seed = 9};
  fpk_ladder_result r;
  fpk_error err = {0};
  if (fpk_sde_ladder(ou, &init, &p, &r, &err)) fail_msg("%s", err.msg);
  double h[4], e[4];
  for (size_t l = 0; l < 4; l++) {
    h[l] = 1.0 / (double)steps[l];
    e[l] = sqrt(r.sq_err_mean[l]);
    printf("ladder, OU full B, EM: h = 1/%zu, strong error %.4e\n", steps[l], e[l]);
  }
  const double order = fpk_test_fit_order(4, h, e);
  printf("ladder, OU full B, EM: fitted strong order %.3f (additive noise: 1)\n", order);
  assert_in_range_d(order, 0.85, 1.15);
  /* SRA1 on the same ladder (ξ₂ from I₁₀ per component) */
  p.stepper = fpk_sde_sra1;
  if (fpk_sde_ladder(ou, &init, &p, &r, &err)) fail_msg("%s", err.msg);
  for (size_t l = 0; l < 4; l++) e[l] = sqrt(r.sq_err_mean[l]);
  const double o2 = fpk_test_fit_order(4, h, e);
  printf("ladder, OU full B, SRA1: strong errors %.3e %.3e %.3e %.3e, fitted order %.3f (at "
         "least 1.5; a linear drift gives 2)\n", e[0], e[1], e[2], e[3], o2);
  /* SRA1's strong order is 1.5 in general; for a linear drift and constant σ the I₁₀ terms are
   * exact and the error is O(h²) (measured 2.02 with m = 3): at least 1.5, and 2 here */
  assert_in_range_d(o2, 1.8, 2.2);
  fpk_model_free(ou);
}

/* Linear stability of a step (src/sde/stability.c): the spectral radius read off the stepper's
 * code equals the closed forms — EM on 1D OU |1 − θh|, exact OU e^{−θh}, BAOAB on the harmonic
 * Kramers model below 1 exactly for h < 2/ω (the Verlet limit, Leimkuhler & Matthews 2013) — and
 * fpk_mc_run refuses an unstable step of a stable linear SDE, naming the largest stable dt;
 * a non-linear model is not judged (NaN). tests/defects/noise/13. */
static void test_step_stability(void **state) {
  (void)state;
  fpk_error err = {0};
  const double th = 1.3, A[1] = {th}, mu[1] = {0}, sg[1] = {1};
  fpk_model *ou = fpk_model_ou_alloc(1, A, mu, sg, &err);
  double rho;
  for (double h = 0.25; h < 3; h += 0.5) {
    assert_int_equal(fpk_sde_step_radius(fpk_sde_euler_maruyama, ou, h, &rho, &err), FPK_SUCCESS);
    assert_close_abs(rho, fabs(1 - th * h), 1e-12);
    assert_int_equal(fpk_sde_step_radius(fpk_sde_exact_ou, ou, h, &rho, &err), FPK_SUCCESS);
    assert_close_rel(rho, exp(-th * h), 1e-10);
    assert_int_equal(fpk_sde_step_check(fpk_sde_exact_ou, ou, h, &err), FPK_SUCCESS);
  }
  assert_int_equal(fpk_sde_step_check(fpk_sde_euler_maruyama, ou, 1.5, &err), FPK_SUCCESS);
  assert_int_equal(fpk_sde_step_check(fpk_sde_euler_maruyama, ou, 1.6, &err), FPK_EINVAL);
  printf("EM on OU, theta = 1.3, dt = 1.6: %s\n", err.msg);
  assert_non_null(strstr(err.msg, "use dt < 1.54")); /* 2/θ = 1.538 */
  /* fpk_mc_run refuses it before any path is drawn */
  const size_t n = 8;
  fpk_grid g = fpk_test_grid(1, &n, (double[]){-3}, (double[]){3});
  fpk_gaussian init = {.dim = 1, .cov = {0.1}};
  fpk_mc_params p = {.stepper = fpk_sde_euler_maruyama, .npaths = 64, .dt = 1.6, .seed = 1};
  fpk_mc_result res;
  const double t_out[2] = {0, 16};
  assert_int_equal(fpk_mc_run(ou, &init, &g, t_out, 2, &p, &res, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "Monte Carlo: stepper euler-maruyama with dt = 1.6 is unstable"));
  fpk_model_free(ou);

  const fpk_kramers_params kp = {.beta = 4, .gamma = 0.7, .amplitude = 1.5, .period = 1};
  fpk_model *kr = fpk_model_kramers_alloc("harmonic", &kp, &err);
  const double hv = 2 / sqrt(kp.amplitude); /* 1.633 */
  assert_int_equal(fpk_sde_step_radius(fpk_sde_baoab, kr, 0.99 * hv, &rho, &err), FPK_SUCCESS);
  printf("BAOAB, harmonic Kramers: rho(0.99 * 2/omega) = %.6f", rho);
  assert_true(rho < 1.0);
  assert_int_equal(fpk_sde_step_radius(fpk_sde_baoab, kr, 1.01 * hv, &rho, &err), FPK_SUCCESS);
  printf(", rho(1.01 * 2/omega) = %.6f\n", rho);
  assert_true(rho > 1.0);
  assert_int_equal(fpk_sde_step_check(fpk_sde_baoab, kr, 2.5, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "use dt < 1.63"));
  fpk_model_free(kr);

  fpk_model *dw = fpk_model_kramers_alloc("double-well", &kp, &err);
  assert_int_equal(fpk_sde_step_radius(fpk_sde_baoab, dw, 2.5, &rho, &err), FPK_SUCCESS);
  assert_true(isnan(rho));
  assert_int_equal(fpk_sde_step_check(fpk_sde_baoab, dw, 2.5, &err), FPK_SUCCESS);
  fpk_model_free(dw);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ou_full_noise),         cmocka_unit_test(test_kramers_harmonic_mc),
      cmocka_unit_test(test_invariant_harmonic),    cmocka_unit_test(test_invariant_double_well),
      cmocka_unit_test(test_refusals),              cmocka_unit_test(test_threads_and_killing),
      cmocka_unit_test(test_ladder_matrix),         cmocka_unit_test(test_killing_matrix),
      cmocka_unit_test(test_exact_ou_singular),     cmocka_unit_test(test_step_stability),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
