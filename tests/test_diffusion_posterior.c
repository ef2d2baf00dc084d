/* Posterior sampling for a linear inverse problem with a mixture prior (fpkit/diffusion.h
 * "Posterior sampling", docs/diffusion.md). The smallest case of issue 14 part 7: inpainting one
 * coordinate of a 2D three-component mixture with full covariances, y = x_1 + N(0, σ_y²):
 *  - the exact posterior mixture (weights, means, covariances) against a brute-force grid
 *    posterior, prior × likelihood normalised on a fine grid: weights, mean and covariance, and
 *    the density pointwise;
 *  - the DPS score against a finite-difference gradient of log N(y; H x̂0(x), σ_y²) (so its
 *    Jacobian of the Tweedie denoiser is right), equal to the exact posterior score at t = 0;
 *  - the DPS error in the noised posterior score at several t, measured and reported (an
 *    approximation: asserted non-zero, not small);
 *  - bad input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fpk_test.h"
#include "fpkit/compare.h"
#include "fpkit/diffusion.h"
#include "fpkit/fv.h"

/* The 2D prior of tests/test_diffusion.c: three components, full covariances. */
static const double W[3] = {0.2, 0.5, 0.3};
static const double MU[6] = {-1.5, 0.5, 1, -1, 0.5, 2};
static const double S[12] = {0.5, 0.2, 0.2, 0.3, 0.4, -0.15, -0.15, 0.6, 0.2, 0, 0, 0.8};
static const double H[2] = {1, 0}; /* observe x_1 */
static const double Y[1] = {0.3};
static const double SY = 0.1;

static fpk_gmm *gmm(size_t K, const double *w, const double *mu, const double *S_) {
  fpk_error err = {0};
  fpk_gmm *m = fpk_gmm_alloc(2, K, w, mu, S_, &err);
  if (!m) fail_msg("gmm: %s", err.msg);
  return m;
}

static void test_exact_posterior_against_grid(void **state) {
  (void)state;
  double wp[3], mp[6], Cp[12];
  fpk_error err = {0};
  assert_int_equal(fpk_posterior_params(2, 3, W, MU, S, 1, H, Y, SY, wp, mp, Cp, &err), 0);
  /* The grid: x_1 on y ± 1.2 (12 σ_y: the likelihood is e^{-72} at the ends), x_2 on [−11, 13]
   * (the widest conditional, sd < 0.9 about 2, is e^{-80} at the ends; [−8, 8] truncates at
   * 2e-10); the midpoint rule on Gaussians converges faster than any power of h. */
  const size_t n1 = 240, n2 = 1200, n = n1 * n2;
  const double lo1 = Y[0] - 1.2, h1 = 2.4 / n1, lo2 = -11, h2 = 24.0 / n2;
  double *x = malloc(2 * n * sizeof(double)), *l = malloc(n * sizeof(double));
  double *q = malloc(n * sizeof(double)), *lk = malloc(n * sizeof(double));
  for (size_t j = 0; j < n2; j++)
    for (size_t i = 0; i < n1; i++) {
      const size_t p = j * n1 + i;
      x[p] = lo1 + (i + 0.5) * h1, x[n + p] = lo2 + (j + 0.5) * h2;
      const double r = (Y[0] - x[p]) / SY;
      lk[p] = exp(-0.5 * r * r) / (sqrt(2 * M_PI) * SY);
    }
  /* per component: w_k N(x; μ_k, Σ_k) × likelihood */
  double Zk[3], Z = 0;
  memset(q, 0, n * sizeof(double));
  for (int k = 0; k < 3; k++) {
    const double one = 1;
    fpk_gmm *c = gmm(1, &one, MU + 2 * k, S + 4 * k);
    assert_int_equal(fpk_gmm_eval(c, NULL, 0, n, x, l, NULL, NULL, NULL, NULL), 0);
    double z = 0;
    for (size_t p = 0; p < n; p++) {
      const double v = W[k] * exp(l[p]) * lk[p];
      q[p] += v, z += v;
    }
    Zk[k] = z * h1 * h2, Z += Zk[k];
    fpk_gmm_free(c);
  }
  double m[2] = {0, 0}, C[4] = {0, 0, 0, 0};
  for (size_t p = 0; p < n; p++) {
    const double v = q[p] / Z * h1 * h2;
    m[0] += v * x[p], m[1] += v * x[n + p];
  }
  for (size_t p = 0; p < n; p++) {
    const double v = q[p] / Z * h1 * h2, d0 = x[p] - m[0], d1 = x[n + p] - m[1];
    C[0] += v * d0 * d0, C[1] += v * d0 * d1, C[3] += v * d1 * d1;
  }
  C[2] = C[1];
  /* the exact mixture's moments */
  double me[2] = {0, 0}, Ce[4] = {0, 0, 0, 0};
  for (int k = 0; k < 3; k++)
    for (int a = 0; a < 2; a++) me[a] += wp[k] * mp[2 * k + a];
  for (int k = 0; k < 3; k++)
    for (int a = 0; a < 2; a++)
      for (int b = 0; b < 2; b++)
        Ce[2 * a + b] += wp[k] * (Cp[4 * k + 2 * a + b] + (mp[2 * k + a] - me[a]) * (mp[2 * k + b] - me[b]));
  double ew = 0, em = 0, ec = 0;
  for (int k = 0; k < 3; k++) ew = fmax(ew, fabs(Zk[k] / Z - wp[k]));
  for (int a = 0; a < 2; a++) em = fmax(em, fabs(m[a] - me[a]));
  for (int a = 0; a < 4; a++) ec = fmax(ec, fabs(C[a] - Ce[a]));
  print_message("posterior weights %.6f %.6f %.6f (prior 0.2 0.5 0.3), mean (%.6f, %.6f)\n",
                wp[0], wp[1], wp[2], me[0], me[1]);
  print_message("exact vs grid (%zu x %zu): weights %.1e, mean %.1e, covariance %.1e\n", n1, n2,
                ew, em, ec);
  assert_true(ew < 1e-12 && em < 1e-12 && ec < 1e-12);
  /* the weights moved: the observation is informative */
  assert_true(fabs(wp[1] - W[1]) > 0.05);
  /* the density pointwise, through the fpk_gmm constructor */
  fpk_gmm *post = fpk_posterior_gmm(2, 3, W, MU, S, 1, H, Y, SY, &err);
  if (!post) fail_msg("posterior: %s", err.msg);
  assert_int_equal(fpk_gmm_eval(post, NULL, 0, n, x, l, NULL, NULL, NULL, NULL), 0);
  double ed = 0, pmax = 0;
  for (size_t p = 0; p < n; p++) {
    ed = fmax(ed, fabs(exp(l[p]) - q[p] / Z));
    pmax = fmax(pmax, q[p] / Z);
  }
  print_message("posterior density vs prior x likelihood / Z: max abs %.1e (max density %.2f)\n",
                ed, pmax);
  assert_true(ed < 1e-12 * pmax);
  fpk_gmm_free(post);
  free(x), free(l), free(q), free(lk);
}

static fpk_schedule *vp(void) {
  fpk_schedule_params p;
  fpk_schedule_params_init(&p);
  fpk_error err = {0};
  fpk_schedule *s = fpk_schedule_alloc(fpk_schedule_vp_linear, &p, &err);
  if (!s) fail_msg("schedule: %s", err.msg);
  return s;
}

/* log N(y; H x̂0(x), σ_y²) at one point. */
static double loglik_hat(const fpk_gmm *prior, const fpk_schedule *s, double t, const double *x) {
  double xx[2] = {x[0], x[1]}, den[2];
  assert_int_equal(fpk_gmm_eval(prior, s, t, 1, xx, NULL, NULL, den, NULL, NULL), 0);
  const double r = (Y[0] - den[0]) / SY;
  return -0.5 * r * r;
}

static void test_dps_score(void **state) {
  (void)state;
  fpk_schedule *s = vp();
  fpk_gmm *prior = gmm(3, W, MU, S);
  fpk_error err = {0};
  fpk_gmm *post = fpk_posterior_gmm(2, 3, W, MU, S, 1, H, Y, SY, &err);
  if (!post) fail_msg("posterior: %s", err.msg);
  /* 1. the DPS score minus the prior score is ∇ log N(y; H x̂0(x), σ_y²): against 4th-order
   * central differences (h = 1e-4), at t = 0.05 and 0.3 */
  const double pts[6] = {0.3, -0.5, 1.1, 0.2, 0.9, -1.4}; /* component-major, 3 points */
  double worst = 0;
  for (int it = 0; it < 2; it++) {
    const double t = it ? 0.3 : 0.05;
    double dps[6], ps[6];
    assert_int_equal(fpk_dps_score(prior, s, t, 1, H, Y, SY, 3, pts, dps, &err), 0);
    assert_int_equal(fpk_gmm_eval(prior, s, t, 3, pts, NULL, ps, NULL, NULL, NULL), 0);
    for (int i = 0; i < 3; i++)
      for (int c = 0; c < 2; c++) {
        const double h = 1e-4;
        double xp[2] = {pts[i], pts[3 + i]};
        double f[4];
        const int off[4] = {-2, -1, 1, 2};
        for (int j = 0; j < 4; j++) {
          double z[2] = {xp[0], xp[1]};
          z[c] += off[j] * h;
          f[j] = loglik_hat(prior, s, t, z);
        }
        const double fd = (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h);
        const double an = dps[c * 3 + i] - ps[c * 3 + i];
        worst = fmax(worst, fabs(an - fd) / fmax(fabs(fd), 1));
      }
  }
  print_message("DPS likelihood gradient (exact Jacobian a Cov/b^2) vs differences: %.1e\n",
                worst);
  assert_true(worst < 1e-7);

  /* 2. on a grid of [−8, 8]², weighted by the exact noised posterior p_t(x | y): the relative
   * L2 error of the DPS score, sqrt(E|s_dps − s_post|² / E|s_post|²) */
  const size_t g = 400, n = g * g;
  const double hh = 16.0 / g;
  double *x = malloc(2 * n * sizeof(double)), *lp = malloc(n * sizeof(double));
  double *se = malloc(2 * n * sizeof(double)), *sd = malloc(2 * n * sizeof(double));
  for (size_t j = 0; j < g; j++)
    for (size_t i = 0; i < g; i++) x[j * g + i] = -8 + (i + 0.5) * hh, x[n + j * g + i] = -8 + (j + 0.5) * hh;
  const double ts[5] = {0, 0.01, 0.05, 0.2, 0.5};
  for (int k = 0; k < 5; k++) {
    assert_int_equal(fpk_gmm_eval(post, s, ts[k], n, x, lp, se, NULL, NULL, &err), 0);
    assert_int_equal(fpk_dps_score(prior, s, ts[k], 1, H, Y, SY, n, x, sd, &err), 0);
    double num = 0, den = 0, mass = 0, pw = 0;
    for (size_t p = 0; p < n; p++) {
      const double w = exp(lp[p]);
      mass += w;
      for (int c = 0; c < 2; c++) {
        const double dv = sd[c * n + p] - se[c * n + p];
        num += w * dv * dv, den += w * se[c * n + p] * se[c * n + p];
        pw = fmax(pw, fabs(dv) / fmax(1, fabs(se[c * n + p])) * (w > 1e-6));
      }
    }
    const double rel = sqrt(num / den);
    print_message("t = %.2f (b^2 = %.3g): DPS score relative L2 error %.2e under p_t(x|y) "
                  "(grid mass %.6f)\n", ts[k], fpk_schedule_var(s, ts[k]), rel, mass * hh * hh);
    if (ts[k] == 0) {
      assert_true(pw < 1e-9); /* t = 0: DPS is ∇log of the posterior itself */
    } else {
      assert_true(rel > 1e-4); /* an approximation: a measurable error */
    }
  }
  free(x), free(lp), free(se), free(sd);
  fpk_gmm_free(post);
  fpk_gmm_free(prior);
  fpk_schedule_free(s);
}

/* 1D denoising (H = 1): the law each sampler produces, from its reverse-time Fokker–Planck
 * equation solved by FV (TR-BDF2) from π = N(0, 1) under vp-linear down to t = 0, against the
 * exact posterior on the grid; the Girsanov bound for DPS; and overdamped Langevin on π_post
 * (drift ∇log π_post, noise √2), whose FV stationary density is the posterior to O(h²). */
static const double W1[2] = {0.3, 0.7}, MU1[2] = {-1.5, 1.2}, VAR1[2] = {0.25, 0.36};
static const double H1[1] = {1}, Y1[1] = {-0.4};
static const double SY1 = 0.4;

static int post_score_t0(double t, size_t n, const double *x, double *out, void *user) {
  (void)t;
  return fpk_gmm_eval(user, NULL, 0, n, x, NULL, out, NULL, NULL, NULL);
}
static int sqrt2_noise(double t, size_t n, const double *x, double *out, void *user) {
  (void)t, (void)x, (void)user;
  for (size_t i = 0; i < n; i++) out[i] = M_SQRT2;
  return 0;
}

static void reverse_law(const fpk_schedule *s, double eta, fpk_score_fn fn, void *user,
                        const fpk_grid *g, double *out) {
  fpk_error err = {0};
  fpk_reverse_model *r = fpk_reverse_model_alloc(s, 1, eta, fn, user, &err);
  if (!r) fail_msg("reverse: %s", err.msg);
  for (size_t i = 0; i < g->size; i++) {
    const double x = fpk_grid_center(g, 0, i);
    out[i] = exp(-0.5 * x * x) / sqrt(2 * M_PI);
  }
  fpk_fv *fv = fpk_fv_alloc(g, fpk_reverse_model_get(r), fpk_fv_tr_bdf2, 2e-4, &err);
  if (!fv) fail_msg("fv: %s", err.msg);
  assert_int_equal(fpk_fv_set_density(fv, 0, out), 0);
  if (fpk_fv_evolve(fv, fpk_schedule_T(s))) fail_msg("evolve: %s", fpk_fv_errmsg(fv));
  memcpy(out, fpk_fv_density(fv), g->size * sizeof(double));
  fpk_fv_free(fv);
  fpk_reverse_model_free(r);
}

static void test_sampler_laws_1d(void **state) {
  (void)state;
  fpk_schedule *s = vp();
  fpk_error err = {0};
  fpk_gmm *prior = fpk_gmm_alloc(1, 2, W1, MU1, VAR1, &err);
  fpk_gmm *post = fpk_posterior_gmm(1, 2, W1, MU1, VAR1, 1, H1, Y1, SY1, &err);
  if (!prior || !post) fail_msg("gmm: %s", err.msg);
  const size_t n = 400;
  size_t nn[1] = {n};
  double lo[1] = {-8}, hi[1] = {8};
  fpk_grid g = fpk_test_grid(1, nn, lo, hi);
  double *x = malloc(n * sizeof(double)), *pe = malloc(n * sizeof(double));
  double *q = malloc(n * sizeof(double));
  for (size_t i = 0; i < n; i++) x[i] = fpk_grid_center(&g, 0, i);
  assert_int_equal(fpk_gmm_eval(post, NULL, 0, n, x, pe, NULL, NULL, NULL, NULL), 0);
  for (size_t i = 0; i < n; i++) pe[i] = exp(pe[i]);
  fpk_gmm_score_ctx exact = {post, s};
  fpk_dps_problem dps = {prior, s, 1, H1, Y1, SY1};
  const char *names[4] = {"reverse SDE, exact posterior score", "PF-ODE, exact posterior score",
                          "reverse SDE, DPS score", "PF-ODE, DPS score"};
  double tv[4], kl[4];
  for (int k = 0; k < 4; k++) {
    reverse_law(s, k % 2 ? 0 : 1, k < 2 ? fpk_gmm_score_fn : fpk_dps_score_field,
                k < 2 ? (void *)&exact : (void *)&dps, &g, q);
    tv[k] = 0.5 * fpk_dist_l1(&g, pe, q);
    kl[k] = fpk_dist_kl(&g, pe, q);
    print_message("%-36s: TV %.2e, KL(post || law) %.2e\n", names[k], tv[k], kl[k]);
  }
  /* the exact score reproduces the posterior to the FV's accuracy (the PF-ODE's upwinding is
   * first order); DPS is measurably off */
  assert_true(tv[0] < 5e-4 && tv[1] < 2e-2);
  assert_true(tv[2] > 10 * tv[0] && tv[2] > 1e-3);
  /* Girsanov for DPS: KL(post || DPS law) <= KL(p_T(.|y) || π) + ½∫g²E|s_dps − s_post|² */
  fpk_girsanov_bound b;
  assert_int_equal(fpk_girsanov_bound_eval(post, s, 0, fpk_dps_score_field, &dps, &g, 64, 1, &b,
                                           &err), 0);
  print_message("Girsanov for DPS: bound %.3e (KL(p_T||pi) %.2e + score term %.3e) >= true KL "
                "%.3e\n", b.bound, b.kl_prior, b.score_term, kl[2]);
  assert_true(b.bound >= kl[2]);
  /* Langevin on π_post: the FV stationary density of dX = ∇log π_post dt + √2 dW */
  fpk_model lm = {.name = "langevin-post", .dim = 1, .drift = post_score_t0,
                  .noise = sqrt2_noise, .params = post,
                  .flags = FPK_MODEL_ADDITIVE | FPK_MODEL_AUTONOMOUS};
  double e[2];
  for (int j = 0; j < 2; j++) {
    size_t nj[1] = {j ? 2 * n : n};
    fpk_grid gj = fpk_test_grid(1, nj, lo, hi);
    double *xs = malloc(nj[0] * sizeof(double)), *ps = malloc(nj[0] * sizeof(double));
    double *pl = malloc(nj[0] * sizeof(double));
    for (size_t i = 0; i < nj[0]; i++) xs[i] = fpk_grid_center(&gj, 0, i);
    assert_int_equal(fpk_gmm_eval(post, NULL, 0, nj[0], xs, ps, NULL, NULL, NULL, NULL), 0);
    for (size_t i = 0; i < nj[0]; i++) ps[i] = exp(ps[i]);
    assert_int_equal(fpk_fv_stationary(&gj, &lm, pl, &err), 0);
    e[j] = fpk_dist_l1(&gj, ps, pl);
    free(xs), free(ps), free(pl);
  }
  print_message("Langevin on pi_post, FV stationary density: L1 %.2e (%zu cells), %.2e (%zu), "
                "order %.2f\n", e[0], n, e[1], 2 * n, log2(e[0] / e[1]));
  assert_true(e[1] < 1e-4);
  assert_true(log2(e[0] / e[1]) > 1.8);
  free(x), free(pe), free(q);
  fpk_gmm_free(prior);
  fpk_gmm_free(post);
  fpk_schedule_free(s);
}

static void test_bad_input(void **state) {
  (void)state;
  double wp[3], mp[6], Cp[12];
  fpk_error err = {0};
  assert_int_equal(fpk_posterior_params(2, 3, W, MU, S, 1, H, Y, 0, wp, mp, Cp, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "sigma_y = 0"));
  assert_int_equal(fpk_posterior_params(2, 3, W, MU, S, 3, H, Y, SY, wp, mp, Cp, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "m = 3"));
  const double yn[1] = {NAN};
  assert_int_equal(fpk_posterior_params(2, 3, W, MU, S, 1, H, yn, SY, wp, mp, Cp, &err), FPK_EINVAL);
  assert_null(fpk_posterior_gmm(4, 3, W, MU, S, 1, H, Y, SY, &err));
  fpk_schedule *s = vp();
  fpk_gmm *prior = gmm(3, W, MU, S);
  double xx[2] = {0, 0}, sc[2];
  assert_int_equal(fpk_dps_score(prior, s, 0.5, 1, H, Y, -1, 1, xx, sc, &err), FPK_EINVAL);
  assert_int_equal(fpk_dps_score(prior, s, 1.5, 1, H, Y, SY, 1, xx, sc, &err), FPK_EINVAL);
  fpk_gmm_free(prior);
  fpk_schedule_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_exact_posterior_against_grid),
      cmocka_unit_test(test_dps_score),
      cmocka_unit_test(test_sampler_laws_1d),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
