/* Killed diffusions in the Monte Carlo engine (fpkit/sde.h, "Killing"): survival of Brownian
 * motion in an interval against its image series, without the bridge correction (error O(√h),
 * Gobet 2000) and with it (exact in law for Brownian motion: error at the Monte Carlo noise);
 * OU killed on an interval against the finite-volume survival mass; a box in 3D against the
 * product of 1D survivals; bitwise reproducibility across thread counts; killed paths replayed
 * alone from the streams (same Brownian increments as an unkilled run); runs without an
 * absorbing axis unchanged.
 *
 * Statistical checks use 4 standard errors; the seeds are fixed, so a pass is reproducible.
 * FPK_TEST_QUICK=1 (used for sanitizer builds) divides the sample sizes by 10; the tolerances
 * scale with them, and the order fits use the coarse end of the ladders, where the errors still
 * dwarf the noise. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fpk_test.h"
#include "fpk_test_mc.h"
#include "fpkit/exact.h"
#include "fpkit/fv.h"
#include "fpkit/sde.h"

static int quick(void) {
  const char *q = getenv("FPK_TEST_QUICK");
  return q && *q && strcmp(q, "0") != 0;
}
static size_t scale(size_t n) { return quick() ? n / 10 : n; }

static double Phi(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

static fpk_grid grid1(double lo, double hi, size_t n, fpk_bc bc) {
  fpk_grid g;
  fpk_error err;
  assert_int_equal(fpk_grid_init(&g, 1, &n, &lo, &hi, &bc, &err), FPK_SUCCESS);
  return g;
}

/* P(τ > t) for Brownian motion σW from x0 killed at 0 and L, by images (Feller vol. II, X.5):
 * the killed density is Σ_k [φ_t(x − x0 + 2kL) − φ_t(x + x0 + 2kL)], integrated over (0, L). With
 * L → ∞ only k = 0 stays: erf(x0 / (σ √(2t))). */
static double survival_interval(double x0, double L, double sigma, double t) {
  const double s = sigma * sqrt(t);
  double S = 0.0;
  for (int k = -30; k <= 30; k++) {
    const double c = 2.0 * k * L;
    S += Phi((L - x0 + c) / s) - Phi((c - x0) / s) - Phi((L + x0 + c) / s) + Phi((x0 + c) / s);
  }
  return S;
}

/* Monte Carlo survival of BM (σ = 1, no drift) from the point x0 in [0, L], both walls absorbing,
 * at the times t_out. */
static void bm_survival(double x0, double L, double dt, size_t N, int bridge, const double *t_out,
                        size_t nt, double *S) {
  const double v = 0.0, sigma = 1.0;
  fpk_error err = {0};
  fpk_model *m = fpk_model_bm_alloc(1, &v, &sigma, &err);
  assert_non_null(m);
  fpk_gaussian init = {.dim = 1, .mean = {x0}, .cov = {0.0}};
  fpk_grid g = grid1(0.0, L, 50, FPK_BC_ABSORBING);
  fpk_mc_params p = {.npaths = N, .dt = dt, .seed = 20000,
                     .bridge_correction = bridge ? FPK_MC_BRIDGE_ON : FPK_MC_BRIDGE_OFF};
  fpk_mc_result r = {0};
  assert_int_equal(fpk_mc_run(m, &init, &g, t_out, nt, &p, &r, &err), FPK_SUCCESS);
  for (size_t k = 0; k < nt; k++) {
    S[k] = r.survival[k];
    /* the survivors' histogram integrates to the survival (none is outside an absorbing box) */
    assert_true(r.outside[k] == 0.0);
    assert_close_abs(fpk_grid_integral(&g, r.density + k * g.size), S[k], 1e-12);
  }
  fpk_mc_result_free(&r);
  fpk_model_free(m);
}

/* ---- 1. Brownian motion: O(√h) without the correction, exact with it ---------------------- */

static void test_bm_survival_orders(void **state) {
  (void)state;
  const double x0 = 1.0, L = 10.0, T = 1.0;
  const double t_out[] = {0.25, 0.5, T};
  enum { NT = 3, NH = 6 };
  const size_t N = scale(400000);
  /* quick: the 3 coarsest steps, where the √h error is still > 10 SE at 4e4 paths */
  const size_t nh = quick() ? 3 : NH;
  double h[NH], e_off[NH], e_on[NH], S[NT];
  const double Sx = survival_interval(x0, L, 1.0, T);
  const double se = sqrt(Sx * (1 - Sx) / (double)N);
  double worst_on = 0.0;
  for (size_t i = 0; i < nh; i++) {
    h[i] = 0.125 / (double)(1u << i);
    bm_survival(x0, L, h[i], N, 0, t_out, NT, S);
    e_off[i] = S[NT - 1] - Sx;
    bm_survival(x0, L, h[i], N, 1, t_out, NT, S);
    e_on[i] = S[NT - 1] - Sx;
    for (size_t k = 0; k < NT; k++) {
      const double Sk = survival_interval(x0, L, 1.0, t_out[k]);
      const double sek = sqrt(Sk * (1 - Sk) / (double)N);
      worst_on = fmax(worst_on, fabs(S[k] - Sk) / sek);
      assert_close_abs(S[k], Sk, 4 * sek);
    }
    printf("BM killed at 0 (x0 = %g): h = 1/%-4.0f S(1) exact %.6f  no correction %+.3e (%6.1f SE)"
           "  bridge %+.3e (%5.2f SE)\n",
           x0, 1 / h[i], Sx, e_off[i], e_off[i] / se, e_on[i], e_on[i] / se);
    /* the plain exit test overestimates the survival, by far more than the noise */
    assert_true(e_off[i] > 10 * se);
  }
  const double order = fpk_test_fit_order(nh, h, e_off);
  /* The leading term of the error: discrete monitoring acts as a wall moved out by β σ √h,
   * β = −ζ(½)/√(2π) = 0.5826 (Broadie, Glasserman & Kou, "A continuity correction for discrete
   * barrier options", Math. Finance 7, 1997), so e ≈ β √h ∂S/∂x0 = β √h √(2/(π t)) e^{−x0²/(2t)}.
   * The O(h) terms after it (½ β² h ∂²S/∂x0² among them) are negative here and bend the fitted
   * slope over h = 1/8 .. 1/256 to 0.43; the leading constant is checked on its own. */
  const double beta = 0.5825971579390106;
  const double lead = beta * sqrt(h[nh - 1]) * sqrt(2 / (M_PI * T)) * exp(-x0 * x0 / (2 * T));
  printf("no correction: fitted order %.3f (expected 0.5); finest error / β√h ∂S/∂x0 = %.3f; "
         "bridge: worst |error| over h and t = %.2f SE (SE %.1e)\n",
         order, e_off[nh - 1] / lead, worst_on, se);
  assert_in_range_d(order, 0.35, 0.65);
  assert_in_range_d(e_off[nh - 1] / lead, 0.7, 1.3);
}

/* The one-wall closed form erf(x0 / (σ √(2t))): the image series with L far away reduces to it,
 * and the bridge-corrected run matches it at a coarse step. */
static void test_bm_one_wall_erf(void **state) {
  (void)state;
  const double x0 = 0.5, T = 0.8, t_out[] = {0.1, 0.4, T};
  const size_t N = scale(400000);
  double S[3];
  bm_survival(x0, 40.0, 0.1, N, 1, t_out, 3, S);
  for (size_t k = 0; k < 3; k++) {
    const double ex = erf(x0 / sqrt(2 * t_out[k]));
    assert_close_abs(survival_interval(x0, 40.0, 1.0, t_out[k]), ex, 1e-14);
    const double se = sqrt(ex * (1 - ex) / (double)N);
    printf("one wall, h = 0.1: t = %.1f  S = %.5f  erf = %.5f  (%+.2f SE)\n", t_out[k], S[k], ex,
           (S[k] - ex) / se);
    assert_close_abs(S[k], ex, 4 * se);
  }
}

/* ---- 2. With drift: OU killed on an interval against finite volumes ------------------------ */

static void fv_survival(const fpk_model *m, const fpk_gaussian *init, double a, double b,
                        size_t n, double dt, const double *t_out, size_t nt, double *S) {
  fpk_error err = {0};
  fpk_grid g = grid1(a, b, n, FPK_BC_ABSORBING);
  double *p = malloc(g.size * sizeof *p);
  assert_int_equal(fpk_gaussian_cell_probs(init, &g, p, &err), FPK_SUCCESS);
  for (size_t i = 0; i < g.size; i++) p[i] /= g.cell_volume;
  fpk_fv *s = fpk_fv_alloc(&g, m, fpk_fv_tr_bdf2, dt, &err);
  assert_non_null(s);
  assert_int_equal(fpk_fv_set_density(s, 0.0, p), FPK_SUCCESS);
  for (size_t k = 0; k < nt; k++) {
    assert_int_equal(fpk_fv_evolve(s, t_out[k]), FPK_SUCCESS);
    S[k] = fpk_fv_mass(s);
  }
  fpk_fv_free(s);
  free(p);
}

/* MC survival of model m from init, killed on [a, b], at t_out; N paths, step dt. */
static void mc_survival(const fpk_model *m, const fpk_gaussian *init, double a, double b,
                        double dt, size_t N, int bridge, const double *t_out, size_t nt,
                        double *S) {
  fpk_error err = {0};
  fpk_grid g = grid1(a, b, 40, FPK_BC_ABSORBING);
  fpk_mc_params p = {.npaths = N, .dt = dt, .seed = 777,
                     .bridge_correction = bridge ? FPK_MC_BRIDGE_ON : FPK_MC_BRIDGE_OFF};
  fpk_mc_result r = {0};
  assert_int_equal(fpk_mc_run(m, init, &g, t_out, nt, &p, &r, &err), FPK_SUCCESS);
  memcpy(S, r.survival, nt * sizeof *S);
  fpk_mc_result_free(&r);
}

/* Brownian motion with drift v on [a, b]: Euler–Maruyama is exact at the step ends and the bridge
 * between them is the driftless Brownian bridge, so with the correction the only error left is
 * that of testing the two walls independently (both crossed in one step: negligible here). The
 * MC survival must match finite volumes to within the noise at every output time, at a coarse
 * step; without the correction it is far off. */
static void test_drift_vs_fv(void **state) {
  (void)state;
  const double v = 1.5, sigma = 1.0, a = -0.5, b = 1.5, h = 0.05;
  enum { NT = 4 };
  const double t_out[NT] = {0.1, 0.25, 0.5, 1.0};
  fpk_error err = {0};
  fpk_model *m = fpk_model_bm_alloc(1, &v, &sigma, &err);
  fpk_gaussian init = {.dim = 1, .mean = {0.3}, .cov = {0.01}};
  /* FV: TR-BDF2, second order in space and time; n = 400 -> 800 bounds its error */
  double Sf[2][NT], efv[NT], S[2][NT];
  fv_survival(m, &init, a, b, 400, 1e-3, t_out, NT, Sf[0]);
  fv_survival(m, &init, a, b, 800, 5e-4, t_out, NT, Sf[1]);
  for (size_t k = 0; k < NT; k++) efv[k] = fabs(Sf[1][k] - Sf[0][k]);
  const size_t N = scale(1000000);
  mc_survival(m, &init, a, b, h, N, 1, t_out, NT, S[1]);
  mc_survival(m, &init, a, b, h, N, 0, t_out, NT, S[0]);
  double worst_off = 0;
  for (size_t k = 0; k < NT; k++) {
    const double ref = Sf[1][k], se = sqrt(ref * (1 - ref) / (double)N);
    printf("BM drift %g killed on [%g, %g], h = %g, t = %.2f: FV %.5f (n 400 -> 800 %.1e)  "
           "bridge %+.2e (%+.2f SE)  no correction %+.2e (%+.1f SE)\n",
           v, a, b, h, t_out[k], ref, efv[k], S[1][k] - ref, (S[1][k] - ref) / se,
           S[0][k] - ref, (S[0][k] - ref) / se);
    assert_close_abs(S[1][k], ref, 4 * se + efv[k]);
    worst_off = fmax(worst_off, (S[0][k] - ref) / se);
  }
  assert_true(worst_off > 20);
  fpk_model_free(m);
}

/* OU killed on an interval, both walls active: Euler–Maruyama's own weak error (its variance is
 * off by O(θh)) now adds an O(h) error to the corrected survival. Against finite volumes at
 * t = 1 over h = 0.05 .. 0.00625: the corrected error has order 1 and its Richardson
 * extrapolation 2 S(h/2) − S(h) matches finite volumes within the noise. The uncorrected error is
 * far larger (its O(√h) and the O(h) terms have opposite signs, so no clean order is claimed). */
static void test_ou_vs_fv(void **state) {
  (void)state;
  const double theta = 2.0, mu = 0.8, sigma = 1.0, a = -0.5, b = 1.5;
  enum { NT = 2, NH = 4 };
  const double t_out[NT] = {0.5, 1.0};
  fpk_error err = {0};
  fpk_model *m = fpk_model_ou_alloc(1, &theta, &mu, &sigma, &err);
  fpk_gaussian init = {.dim = 1, .mean = {0.3}, .cov = {0.01}};
  double Sf[2][NT];
  fv_survival(m, &init, a, b, 400, 1e-3, t_out, NT, Sf[0]);
  fv_survival(m, &init, a, b, 800, 5e-4, t_out, NT, Sf[1]);
  const double ref = Sf[1][NT - 1], efv = fabs(Sf[1][NT - 1] - Sf[0][NT - 1]);
  const size_t N = scale(1000000), nh = quick() ? 3 : NH;
  const double se = sqrt(ref * (1 - ref) / (double)N);
  double h[NH], e_on[NH], S[NT], Sprev = 0;
  mc_survival(m, &init, a, b, 0.05, N, 0, t_out, NT, S);
  printf("OU killed on [%g, %g], t = 1, h = 0.05: no correction %+.3e (%+.1f SE)\n", a, b,
         S[NT - 1] - ref, (S[NT - 1] - ref) / se);
  assert_true(S[NT - 1] - ref > 20 * se);
  for (size_t i = 0; i < nh; i++) {
    h[i] = 0.05 / (double)(1u << i);
    mc_survival(m, &init, a, b, h[i], N, 1, t_out, NT, S);
    e_on[i] = S[NT - 1] - ref;
    printf("OU killed on [%g, %g], t = 1, h = %-7g: FV %.5f (n 400 -> 800 %.1e)  bridge %+.3e "
           "(%+6.1f SE)", a, b, h[i], ref, efv, e_on[i], e_on[i] / se);
    assert_true(e_on[i] < -4 * se); /* EM's O(h) error is visible... */
    if (i > 0) {                    /* ...and Richardson's extrapolation removes it */
      const double rich = 2 * S[NT - 1] - Sprev, se_r = sqrt(5.0) * se;
      printf("  Richardson %+.2e (%+.2f SE)", rich - ref, (rich - ref) / se_r);
      assert_close_abs(rich, ref, 4 * se_r + efv);
    }
    printf("\n");
    Sprev = S[NT - 1];
  }
  for (size_t i = 0; i < nh; i++) e_on[i] = -e_on[i]; /* the survival is underestimated */
  const double order = fpk_test_fit_order(nh, h, e_on);
  printf("OU with the bridge correction: fitted order %.3f (expected 1)\n", order);
  assert_in_range_d(order, 0.8, 1.2);
  fpk_model_free(m);
}

/* ---- 3. Three absorbing axes: the survival in a box is the product of 1D survivals ---------- */

static void test_box_3d(void **state) {
  (void)state;
  const double v[3] = {0, 0, 0}, sig[3] = {1.0, 0.7, 1.3};
  const double x0[3] = {0.4, 0.5, 1.0}, L[3] = {1.5, 1.0, 2.0}, T = 0.3;
  fpk_error err = {0};
  fpk_model *m = fpk_model_bm_alloc(3, v, sig, &err);
  const size_t n[3] = {6, 5, 4};
  const double lo[3] = {0, 0, 0};
  const fpk_bc bc[3] = {FPK_BC_ABSORBING, FPK_BC_ABSORBING, FPK_BC_ABSORBING};
  fpk_grid g;
  assert_int_equal(fpk_grid_init(&g, 3, n, lo, L, bc, &err), FPK_SUCCESS);
  fpk_gaussian init = {.dim = 3, .mean = {x0[0], x0[1], x0[2]}};
  const size_t N = scale(400000);
  fpk_mc_params p = {.npaths = N, .dt = 0.05, .seed = 3};
  fpk_mc_result r = {0};
  assert_int_equal(fpk_mc_run(m, &init, &g, &T, 1, &p, &r, &err), FPK_SUCCESS);
  double ex = 1.0;
  for (int a = 0; a < 3; a++) ex *= survival_interval(x0[a], L[a], sig[a], T);
  const double se = sqrt(ex * (1 - ex) / (double)N);
  printf("3D box, h = 0.05: S = %.5f, product of 1D series %.5f (%+.2f SE)\n", r.survival[0], ex,
         (r.survival[0] - ex) / se);
  assert_close_abs(r.survival[0], ex, 4 * se);
  assert_close_abs(fpk_grid_integral(&g, r.density), r.survival[0], 1e-12);
  fpk_mc_result_free(&r);
  fpk_model_free(m);
}

/* ---- 4. Reproducibility and the shared Brownian paths ---------------------------------------- */

static void test_threads_bitwise(void **state) {
  (void)state;
  const double A[4] = {1.0, 0.8, -0.5, 1.5}, mu[2] = {0.5, -0.3}, sig[2] = {1.0, 0.6};
  fpk_error err = {0};
  fpk_model *m = fpk_model_ou_alloc(2, A, mu, sig, &err);
  fpk_gaussian init = {.dim = 2, .mean = {0.5, 0.0}, .cov = {0.2, 0.05, 0.05, 0.1}};
  const size_t n[2] = {30, 20};
  const double lo[2] = {-1, -3}, hi[2] = {2, 3};
  const fpk_bc bc[2] = {FPK_BC_ABSORBING, FPK_BC_PERIODIC};
  fpk_grid g;
  assert_int_equal(fpk_grid_init(&g, 2, n, lo, hi, bc, &err), FPK_SUCCESS);
  const double t_out[] = {0.0, 0.25, 1.0, 1.7};
  /* 391 blocks: two reduction rounds, a partial last block */
  const size_t N = 100037, nt = 4;
  fpk_mc_result r[2];
  fpk_test_mc_threads_bitwise(m, &init, &g, t_out, nt, N, r);
  printf("threads 1 vs 2 (absorbing x, periodic y): density, mean, cov, outside, survival, paths "
         "bitwise identical (S = %.6f %.6f %.6f %.6f)\n",
         r[0].survival[0], r[0].survival[1], r[0].survival[2], r[0].survival[3]);
  assert_true(r[0].survival[3] < 0.9 && r[0].survival[3] > 0.1);
  for (size_t k = 0; k < nt; k++)
    assert_close_abs(fpk_grid_integral(&g, r[0].density + k * g.size) + r[0].outside[k],
                     r[0].survival[k], 1e-12);
  for (int k = 0; k < 2; k++) fpk_mc_result_free(&r[k]);
  fpk_model_free(m);
}

/* The first K paths of an absorbing run, with and without the correction, against the same paths
 * of a run with reflecting walls (which does not touch them): identical up to the kill, frozen at
 * the last inside state after it; and the kill step is the one replayed from the path alone with
 * fpk_rng_kill_uniform and fpk_bridge_hit_prob (every absorbing axis, both walls). nk[0], nk[1]:
 * paths killed without and with the correction; *ncross: kills by a crossing test. */
enum { K_REPLAY = 300 };
static int inside(const fpk_grid *g, const double *x) {
  for (size_t a = 0; a < g->dim; a++)
    if (g->bc[a] == FPK_BC_ABSORBING && !(x[a] >= g->lo[a] && x[a] <= g->hi[a])) return 0;
  return 1;
}

static void replay(const fpk_model *m, const double *sig, const fpk_gaussian *init,
                   const fpk_grid *ga, double dt, size_t nk[2], size_t *ncross) {
  const size_t d = m->dim;
  fpk_grid gr = *ga;
  for (size_t a = 0; a < d; a++) gr.bc[a] = FPK_BC_REFLECTING;
  const double t_out[] = {0.5, 1.0};
  double h;
  size_t nsteps;
  /* the same step in both intervals */
  assert_int_equal(fpk_time_steps(0.0, 0.5, dt, &nsteps, &h, NULL), FPK_SUCCESS);
  const uint64_t seed = 0xabcdef12345ull;
  fpk_error err = {0};
  fpk_mc_result ref = {0}, r = {0};
  fpk_mc_params p = {.npaths = 1000, .dt = dt, .seed = seed, .keep_paths = K_REPLAY};
  assert_int_equal(fpk_mc_run(m, init, &gr, t_out, 2, &p, &ref, &err), FPK_SUCCESS);
  const size_t S1 = ref.nsteps + 1;
  nk[0] = nk[1] = *ncross = 0;
  for (int bridge = 0; bridge < 2; bridge++) {
    p.bridge_correction = bridge ? FPK_MC_BRIDGE_ON : FPK_MC_BRIDGE_OFF;
    assert_int_equal(fpk_mc_run(m, init, ga, t_out, 2, &p, &r, &err), FPK_SUCCESS);
    for (size_t i = 0; i < K_REPLAY; i++) {
      const double *x = ref.paths + i * S1 * d, *y = r.paths + i * S1 * d;
      /* the last state before the kill: 0 if X_0 is outside, s if step s (X_s -> X_{s+1}) kills */
      size_t kill = S1;
      for (size_t s = 0; s < S1 && kill == S1; s++) {
        if (!inside(ga, x + s * d)) {
          kill = s ? s - 1 : 0;
          break;
        }
        if (s + 1 == S1 || !bridge || !inside(ga, x + (s + 1) * d)) continue;
        for (size_t a = 0; a < d && kill == S1; a++)
          for (int w = 0; w < 2 && kill == S1 && ga->bc[a] == FPK_BC_ABSORBING; w++) {
            const double pr = fpk_bridge_hit_prob(x[s * d + a], x[(s + 1) * d + a],
                                                  w ? ga->hi[a] : ga->lo[a], sig[a] * sig[a] * h);
            if (fpk_rng_kill_uniform(seed, i, s, a, w) < pr) kill = s, (*ncross)++;
          }
      }
      for (size_t s = 0; s < S1; s++)
        assert_memory_equal(&y[s * d], &x[(s <= kill ? s : kill) * d], d * sizeof(double));
      nk[bridge] += kill < S1;
    }
    fpk_mc_result_free(&r);
  }
  fpk_mc_result_free(&ref);
}

static void test_paths_replayed(void **state) {
  (void)state;
  fpk_error err = {0};
  size_t nk[2], ncross;
  /* 1D OU on a narrow interval */
  const double theta = 1.0, mu = 0.0, sigma = 1.2;
  fpk_model *m = fpk_model_ou_alloc(1, &theta, &mu, &sigma, &err);
  fpk_gaussian init = {.dim = 1, .mean = {0.1}, .cov = {0.04}};
  fpk_grid g = grid1(-0.6, 0.9, 10, FPK_BC_ABSORBING);
  replay(m, &sigma, &init, &g, 0.05, nk, &ncross);
  printf("1D: replayed %d paths: killed %zu by exits only, %zu with the bridge (%zu by a "
         "crossing)\n", K_REPLAY, nk[0], nk[1], ncross);
  assert_true(nk[0] > 50 && nk[1] > nk[0] && ncross > 10);
  fpk_model_free(m);
  /* 3D Brownian motion, absorbing on axes 0 and 2 (axis 2's tests use the second Philox call of
   * the step), periodic on axis 1 */
  const double v[3] = {0.3, 0, -0.2}, sig[3] = {1.0, 0.5, 0.8};
  m = fpk_model_bm_alloc(3, v, sig, &err);
  fpk_gaussian init3 = {.dim = 3, .mean = {0.2, 0, 0.5},
                        .cov = {0.01, 0, 0, 0, 0.01, 0, 0, 0, 0.01}};
  const size_t n[3] = {4, 4, 4};
  const double lo[3] = {-0.5, -1, 0}, hi[3] = {1, 1, 1.2};
  const fpk_bc bc[3] = {FPK_BC_ABSORBING, FPK_BC_PERIODIC, FPK_BC_ABSORBING};
  fpk_grid g3;
  assert_int_equal(fpk_grid_init(&g3, 3, n, lo, hi, bc, &err), FPK_SUCCESS);
  replay(m, sig, &init3, &g3, 0.1, nk, &ncross);
  printf("3D: replayed %d paths: killed %zu by exits only, %zu with the bridge (%zu by a "
         "crossing)\n", K_REPLAY, nk[0], nk[1], ncross);
  assert_true(nk[0] > 50 && nk[1] > nk[0] && ncross > 10);
  fpk_model_free(m);
}

/* Without an absorbing axis nothing changes: the correction flag is inert, and absorbing walls so
 * far away that no path comes near (no exit, no crossing probability above 2^-33) give the same
 * bits as reflecting ones. Killed paths, on the other hand, leave the moments. */
static void test_no_absorbing_unchanged(void **state) {
  (void)state;
  const double theta = 1.0, mu = 0.5, sigma = 1.0;
  fpk_error err = {0};
  fpk_model *m = fpk_model_ou_alloc(1, &theta, &mu, &sigma, &err);
  fpk_gaussian init = {.dim = 1, .mean = {1.0}, .cov = {0.25}};
  const double t_out[] = {0.0, 0.5, 2.0};
  const size_t N = 20000, nt = 3;
  fpk_mc_result r[4];
  const fpk_grid grids[4] = {grid1(-3, 4, 35, FPK_BC_REFLECTING),
                             grid1(-3, 4, 35, FPK_BC_REFLECTING),
                             grid1(-3, 4, 35, FPK_BC_PERIODIC), grid1(-3, 4, 35, FPK_BC_PERIODIC)};
  for (int k = 0; k < 4; k++) {
    fpk_mc_params p = {.npaths = N, .dt = 0.1, .seed = 9, .keep_paths = 2,
                       .bridge_correction = k % 2 ? FPK_MC_BRIDGE_OFF : FPK_MC_BRIDGE_ON};
    assert_int_equal(fpk_mc_run(m, &init, &grids[k], t_out, nt, &p, &r[k], &err), FPK_SUCCESS);
    for (size_t j = 0; j < nt; j++) assert_true(r[k].survival[j] == 1.0);
  }
  for (int k = 0; k < 4; k += 2) {
    assert_memory_equal(r[k].density, r[k + 1].density, nt * 35 * sizeof(double));
    assert_memory_equal(r[k].mean, r[k + 1].mean, nt * sizeof(double));
    assert_memory_equal(r[k].cov, r[k + 1].cov, nt * sizeof(double));
    assert_memory_equal(r[k].outside, r[k + 1].outside, nt * sizeof(double));
    assert_memory_equal(r[k].paths, r[k + 1].paths, 2 * (r[k].nsteps + 1) * sizeof(double));
  }
  /* far absorbing walls (the law stays within ±8 of its mean) */
  fpk_grid far = grid1(-60, 60, 35, FPK_BC_ABSORBING), farr = grid1(-60, 60, 35, FPK_BC_REFLECTING);
  fpk_mc_result fa = {0}, fr = {0};
  fpk_mc_params p = {.npaths = N, .dt = 0.1, .seed = 9, .keep_paths = 2};
  assert_int_equal(fpk_mc_run(m, &init, &far, t_out, nt, &p, &fa, &err), FPK_SUCCESS);
  assert_int_equal(fpk_mc_run(m, &init, &farr, t_out, nt, &p, &fr, &err), FPK_SUCCESS);
  assert_memory_equal(fa.density, fr.density, nt * 35 * sizeof(double));
  assert_memory_equal(fa.mean, fr.mean, nt * sizeof(double));
  assert_memory_equal(fa.cov, fr.cov, nt * sizeof(double));
  assert_memory_equal(fa.paths, fr.paths, 2 * (fa.nsteps + 1) * sizeof(double));
  assert_memory_equal(fa.mean, r[0].mean, nt * sizeof(double)); /* the same paths as above */
  for (size_t j = 0; j < nt; j++) assert_true(fa.survival[j] == 1.0);
  printf("no absorbing axis: bridge on/off bitwise equal (reflecting, periodic); far absorbing "
         "walls = reflecting bitwise; mean(t = 2) = %.17g\n", fa.mean[2]);
  fpk_mc_result_free(&fa);
  fpk_mc_result_free(&fr);
  for (int k = 0; k < 4; k++) fpk_mc_result_free(&r[k]);

  /* Moments are those of the survivors: killed on [0, ∞) (wall at 60 irrelevant), BM from a law
   * straddling 0 keeps only paths on the positive side, so the mean rises above the free mean. */
  const double v = 0.0, s1 = 1.0;
  fpk_model *bm = fpk_model_bm_alloc(1, &v, &s1, &err);
  fpk_gaussian init0 = {.dim = 1, .mean = {0.5}, .cov = {0.25}};
  fpk_grid half = grid1(0, 60, 30, FPK_BC_ABSORBING);
  const double t0[] = {0.0};
  fpk_mc_params p0 = {.npaths = scale(200000), .dt = 0.1, .seed = 4};
  assert_int_equal(fpk_mc_run(bm, &init0, &half, t0, 1, &p0, &fa, &err), FPK_SUCCESS);
  /* at t = 0: the paths that start below 0 are dead; survivors are N(0.5, 0.25) given > 0 */
  const double Sx = Phi(1.0), se = sqrt(Sx * (1 - Sx) / (double)p0.npaths);
  const double mtr = 0.5 + 0.5 * exp(-0.5) / sqrt(2 * M_PI) / Sx; /* truncated-normal mean */
  printf("start across the wall: S(0) = %.5f (exact %.5f, %+.2f SE), survivors' mean %.5f "
         "(truncated normal %.5f)\n",
         fa.survival[0], Sx, (fa.survival[0] - Sx) / se, fa.mean[0], mtr);
  assert_close_abs(fa.survival[0], Sx, 4 * se);
  assert_close_abs(fa.mean[0], mtr, 4 * 0.5 / sqrt(Sx * (double)p0.npaths));
  fpk_mc_result_free(&fa);
  /* everything dead: NaN moments, zero density */
  fpk_gaussian init_out = {.dim = 1, .mean = {-5.0}, .cov = {0.01}};
  assert_int_equal(fpk_mc_run(bm, &init_out, &half, t0, 1, &p0, &fa, &err), FPK_SUCCESS);
  assert_true(fa.survival[0] == 0.0 && isnan(fa.mean[0]) && isnan(fa.cov[0]));
  assert_true(fpk_grid_integral(&half, fa.density) == 0.0);
  fpk_mc_result_free(&fa);
  fpk_model_free(bm);
  fpk_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bm_survival_orders),     cmocka_unit_test(test_bm_one_wall_erf),
      cmocka_unit_test(test_drift_vs_fv),            cmocka_unit_test(test_ou_vs_fv),
      cmocka_unit_test(test_box_3d),
      cmocka_unit_test(test_threads_bitwise),        cmocka_unit_test(test_paths_replayed),
      cmocka_unit_test(test_no_absorbing_unchanged),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
