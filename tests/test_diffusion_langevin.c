/* Langevin samplers and sample metrics (fpkit/diffusion.h, "Langevin samplers"; issue 14 part 2;
 * docs/diffusion.md, "Langevin and annealed Langevin").
 *
 * The classic demonstration (Song & Ermon 2019, §3.2.2 and Fig. 3): on a two-mode mixture with
 * unequal weights, Langevin started from a broad (uniform) initialisation keeps the split of its
 * start between the two basins — the modes are separated by a barrier it cannot cross — so it
 * gets the weights wrong; annealed Langevin, with the same number of score evaluations, mixes at
 * the large noise levels where the modes overlap and recovers them.
 * FPK_TEST_QUICK=1 (sanitizer builds) divides the path counts by 5; the tolerances follow n. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>

#include "fpk_test.h"
#include "fpkit/diffusion.h"
#include "fpkit/sde.h"

static size_t scaled(size_t n) {
  const char *q = getenv("FPK_TEST_QUICK");
  return q && atoi(q) ? n / 5 : n;
}

static double mean_of(size_t n, const double *x) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += x[i];
  return s / (double)n;
}

static double var_of(size_t n, const double *x) {
  const double m = mean_of(n, x);
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (x[i] - m) * (x[i] - m);
  return s / (double)(n - 1);
}

/* n exact draws from a 1D mixture: the component by a uniform Φ(z0), then μ + s z1. */
static void draw_mix1d(size_t K, const double *w, const double *mu, const double *sd, size_t n,
                       uint64_t seed, double *x) {
  for (size_t i = 0; i < n; i++) {
    double z[3];
    fpk_rng_normals(seed, i, 0, 2, z);
    const double u = 0.5 * erfc(-z[0] * M_SQRT1_2);
    double c = 0;
    size_t k = 0;
    for (; k + 1 < K; k++)
      if (u < (c += w[k])) break;
    x[i] = mu[k] + sd[k] * z[1];
  }
}

/* ---- The two-mode mixture of the demonstration: 0.2 N(−4, 0.5²) + 0.8 N(4, 0.5²) ---------- */

static const double W2M[2] = {0.2, 0.8}, MU2M[2] = {-4, 4}, SD2M[2] = {0.5, 0.5},
                    COV2M[2] = {0.25, 0.25};

typedef struct tv_ctx {
  fpk_grid g;
  double *probs;
} tv_ctx;

static int tv_metric(size_t dim, size_t n, const double *x, double *v, void *user) {
  (void)dim;
  tv_ctx *c = user;
  return fpk_sample_hist_tv_kl(&c->g, c->probs, n, x, v, NULL, NULL, NULL) ? -1 : 0;
}

static void uniform_init(size_t n, double lo, double hi, uint64_t seed, double *x) {
  for (size_t i = 0; i < n; i++) {
    double z;
    fpk_rng_normals(seed, i, 0, 1, &z);
    x[i] = lo + (hi - lo) * 0.5 * erfc(-z * M_SQRT1_2);
  }
}

static void test_registry_and_bad_input(void **state) {
  (void)state;
  assert_ptr_equal(fpk_lmc_find("ula"), fpk_lmc_ula);
  assert_ptr_equal(fpk_lmc_find("mala"), fpk_lmc_mala);
  assert_ptr_equal(fpk_lmc_find("annealed"), fpk_lmc_annealed);
  assert_null(fpk_lmc_find("hmc"));
  size_t cnt = 0;
  while (fpk_lmc_types[cnt]) cnt++;
  assert_int_equal(cnt, 3);
  assert_true(fpk_lmc_mala->needs_log_p && fpk_lmc_annealed->annealed);

  fpk_error err = {0};
  fpk_gmm *m = fpk_gmm_alloc(1, 2, W2M, MU2M, COV2M, &err);
  assert_non_null(m);
  fpk_lmc_gmm *a = fpk_lmc_gmm_alloc(m, 20, &err);
  assert_non_null(a);
  fpk_lmc_target tg = fpk_lmc_gmm_target(a);
  fpk_lmc_params p;
  fpk_lmc_params_init(&p);
  double x[4] = {0, 1, 2, 3};
  p.step = 0;
  assert_int_equal(fpk_lmc_run(fpk_lmc_ula, &tg, &p, 4, x, NULL, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "step = 0"));
  fpk_lmc_params_init(&p);
  p.sigma_max = 0.001; /* below sigma_min: levels must decrease */
  assert_int_equal(fpk_lmc_run(fpk_lmc_annealed, &tg, &p, 4, x, NULL, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "sigma_max = 0.001"));
  fpk_lmc_params_init(&p);
  fpk_lmc_target nolp = tg;
  nolp.log_p = NULL;
  assert_int_equal(fpk_lmc_run(fpk_lmc_mala, &nolp, &p, 4, x, NULL, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "log_p"));
  p.sigma_max = 30; /* above the adapter's cap of 20: its callback fails */
  p.n_iter = 2;
  assert_int_equal(fpk_lmc_run(fpk_lmc_annealed, &tg, &p, 4, x, NULL, &err), FPK_ECALLBACK);
  fpk_lmc_params_init(&p);
  p.trace_every = 5; /* no metric */
  assert_int_equal(fpk_lmc_run(fpk_lmc_ula, &tg, &p, 4, x, NULL, &err), FPK_EINVAL);
  fpk_lmc_params_init(&p);
  p.step = 1e3; /* ULA with α far beyond 4s²: the paths blow up */
  p.n_iter = 2000;
  assert_int_equal(fpk_lmc_run(fpk_lmc_ula, &tg, &p, 4, x, NULL, &err), FPK_ENUMERIC);
  fpk_lmc_gmm_free(a);
  fpk_gmm_free(m);
}

/* The defaults of fpk_lmc_params_init run every type (tests/defects/diffusion/
 * annealed_defaults_diverge.c: the old shared step 0.01 made annealed Langevin's first level
 * α_1 = ε σ_1²/σ_L² = 1e4, and every path left the doubles). The defect's target and start:
 * 0.3 N(−2, 0.4²) + 0.7 N(1.5, 0.6²), points spread on [0, 1). Annealed with its defaults (ε 2e-5,
 * σ 10 → 0.01, L = 10, 1000 steps per level) recovers the weights; ULA and MALA (α = 0.01, 1000
 * steps) finish with finite points. n = 0 is a no-op, as for fpk_pfode_sample and
 * fpk_revsde_sample (the parameters are still checked). */
static void test_defaults_and_empty(void **state) {
  (void)state;
  fpk_error err = {0};
  const double w[2] = {0.3, 0.7}, mu[2] = {-2, 1.5}, C[2] = {0.16, 0.36};
  fpk_gmm *m = fpk_gmm_alloc(1, 2, w, mu, C, &err);
  fpk_lmc_gmm *a = fpk_lmc_gmm_alloc(m, 20, &err);
  fpk_lmc_target tg = fpk_lmc_gmm_target(a);
  const size_t n = scaled(4000);
  double *x = malloc(n * sizeof *x), mw[2], se[2];
  fpk_lmc_params p;
  fpk_lmc_params_init(&p);
  assert_true(isnan(p.step));
  assert_int_equal(p.n_levels, 10);
  fpk_lmc_result r;
  for (size_t i = 0; i < n; i++) x[i] = (double)i / (double)n;
  assert_int_equal(fpk_lmc_run(fpk_lmc_annealed, &tg, &p, n, x, &r, &err), FPK_SUCCESS);
  assert_int_equal(r.n_steps, 10000);
  assert_int_equal(fpk_sample_mode_weights(1, 2, w, mu, C, n, x, mw, se, &err), FPK_SUCCESS);
  const double sd[2] = {0.4, 0.6};
  double ks;
  assert_int_equal(fpk_sample_ks_gmm1d(2, w, mu, sd, n, x, &ks, &err), FPK_SUCCESS);
  print_message("annealed with the defaults: weight of the 0.3 mode %.4f (SE %.4f, %.2f SE "
                "off), KS %.4f (sqrt(n) KS %.2f), n = %zu\n", mw[0], se[0],
                fabs(mw[0] - 0.3) / se[0], ks, sqrt((double)n) * ks, n);
  assert_true(fabs(mw[0] - 0.3) < 3 * se[0]);
  assert_true(sqrt((double)n) * ks < 1.63); /* the 1% point of the KS law */
  fpk_lmc_result_free(&r);
  const fpk_lmc_type *plain[2] = {fpk_lmc_ula, fpk_lmc_mala};
  for (int k = 0; k < 2; k++) {
    for (size_t i = 0; i < n; i++) x[i] = (double)i / (double)n;
    assert_int_equal(fpk_lmc_run(plain[k], &tg, &p, n, x, &r, &err), FPK_SUCCESS);
    assert_int_equal(r.n_steps, 1000);
    for (size_t i = 0; i < n; i++) assert_true(isfinite(x[i]) && fabs(x[i]) < 10);
    if (k == 1) assert_true(r.acceptance > 0.9 && r.acceptance <= 1);
    fpk_lmc_result_free(&r);
  }
  /* annealed with ε = 0.01 (the old shared default): α_1 = 1e4, the paths blow up */
  p.step = 0.01;
  for (size_t i = 0; i < n; i++) x[i] = (double)i / (double)n;
  assert_int_equal(fpk_lmc_run(fpk_lmc_annealed, &tg, &p, n, x, NULL, &err), FPK_ENUMERIC);
  /* n = 0 */
  fpk_lmc_params_init(&p);
  p.trace_every = 10;
  p.metric = tv_metric;
  for (int k = 0; k < 3; k++) {
    memset(&r, 0xff, sizeof r);
    assert_int_equal(fpk_lmc_run(fpk_lmc_types[k], &tg, &p, 0, NULL, &r, &err), FPK_SUCCESS);
    assert_int_equal(r.n_trace, 0);
    assert_null(r.trace_iter);
    assert_int_equal(r.n_steps, k == 2 ? 10000 : 1000);
    fpk_lmc_result_free(&r);
  }
  p.step = -1; /* still checked */
  assert_int_equal(fpk_lmc_run(fpk_lmc_ula, &tg, &p, 0, NULL, NULL, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "step = -1"));
  free(x);
  fpk_lmc_gmm_free(a);
  fpk_gmm_free(m);
}

/* The adapter's noise-conditional score is the score of Σ w_k N(μ_k, s_k² + σ²), by hand. */
static void test_gmm_adapter_noise_score(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_gmm *m = fpk_gmm_alloc(1, 2, W2M, MU2M, COV2M, &err);
  fpk_lmc_gmm *a = fpk_lmc_gmm_alloc(m, 20, &err);
  fpk_lmc_target tg = fpk_lmc_gmm_target(a);
  assert_int_equal(tg.dim, 1);
  const double xs[5] = {-7, -4, 0.3, 2, 9}, sig[4] = {0, 0.05, 1.7, 20};
  for (size_t j = 0; j < 4; j++) {
    double s[5];
    assert_int_equal(tg.noise_score(5, sig[j], xs, s, tg.user), 0);
    for (size_t i = 0; i < 5; i++) {
      double num = 0, den = 0;
      for (size_t k = 0; k < 2; k++) {
        const double v = COV2M[k] + sig[j] * sig[j];
        const double pk = W2M[k] * exp(-0.5 * (xs[i] - MU2M[k]) * (xs[i] - MU2M[k]) / v) / sqrt(v);
        num += pk * (MU2M[k] - xs[i]) / v, den += pk;
      }
      assert_close_rel(s[i], num / den, 1e-12);
    }
  }
  fpk_lmc_gmm_free(a);
  fpk_gmm_free(m);
}

/* ULA on N(0, s²): x' = (1 − α/(2s²)) x + √α z, so the stationary variance V solves
 * V = (1 − α/(2s²))² V + α, i.e. V (α/s² − α²/(4s⁴)) = α: V = s²/(1 − α/(4s²)) (finite for
 * α < 4s²). With s = 1, α = 1: V = 4/3, a bias of 1/3. MALA with the same α has none. */
static void test_ula_bias_mala_exact(void **state) {
  (void)state;
  const size_t n = scaled(20000);
  fpk_error err = {0};
  const double w = 1, mu = 0, S = 1;
  fpk_gmm *m = fpk_gmm_alloc(1, 1, &w, &mu, &S, &err);
  fpk_lmc_gmm *a = fpk_lmc_gmm_alloc(m, 1, &err);
  fpk_lmc_target tg = fpk_lmc_gmm_target(a);
  fpk_lmc_params p;
  fpk_lmc_params_init(&p);
  p.step = 1;
  p.n_iter = 200; /* contraction (1 − α/2)² = 1/4 per step: the start is forgotten */
  p.seed = 7;
  double *x = calloc(n, sizeof *x);
  assert_int_equal(fpk_lmc_run(fpk_lmc_ula, &tg, &p, n, x, NULL, &err), FPK_SUCCESS);
  const double V = 1.0 / (1 - 1.0 / 4), vu = var_of(n, x);
  const double se_u = V * sqrt(2.0 / (double)n); /* SE of a Gaussian sample variance */
  print_message("ULA alpha=1 on N(0,1): var %.5f, theory %.5f, SE %.5f (n = %zu)\n", vu, V, se_u, n);
  assert_close_abs(vu, V, 4 * se_u);
  assert_true(fabs(vu - 1) > 10 * se_u);
  assert_close_abs(mean_of(n, x), 0, 4 * sqrt(V / (double)n));

  /* MALA from a point mass at 3 (x = 3 everywhere): same step, exact stationary law */
  for (size_t i = 0; i < n; i++) x[i] = 3;
  fpk_lmc_result r;
  assert_int_equal(fpk_lmc_run(fpk_lmc_mala, &tg, &p, n, x, &r, &err), FPK_SUCCESS);
  const double vm = var_of(n, x), se_m = sqrt(2.0 / (double)n);
  print_message("MALA alpha=1 on N(0,1): var %.5f, SE %.5f, acceptance %.3f\n", vm, se_m,
                r.acceptance);
  assert_close_abs(vm, 1, 4 * se_m);
  assert_close_abs(mean_of(n, x), 0, 4 / sqrt((double)n));
  assert_in_range_d(r.acceptance, 0.5, 0.99);
  const double one = 1, zero = 0, sd1 = 1;
  double ks;
  assert_int_equal(fpk_sample_ks_gmm1d(1, &one, &zero, &sd1, n, x, &ks, &err), FPK_SUCCESS);
  print_message("MALA KS to N(0,1): %.4f (sqrt(n) KS = %.3f)\n", ks, ks * sqrt((double)n));
  assert_true(ks * sqrt((double)n) < 1.63); /* Kolmogorov's 1% point */
  fpk_lmc_result_free(&r);
  free(x);
  fpk_lmc_gmm_free(a);
  fpk_gmm_free(m);
}

/* MALA on an overlapping (connected) two-component mixture: KS to the exact CDF at the 1% point,
 * while ULA with the same step is visibly off. */
static void test_mala_ks_mixture(void **state) {
  (void)state;
  const size_t n = scaled(20000);
  const double w[2] = {0.3, 0.7}, mu[2] = {-1, 1}, sd[2] = {0.6, 0.8},
               cov[2] = {0.36, 0.64};
  fpk_error err = {0};
  fpk_gmm *m = fpk_gmm_alloc(1, 2, w, mu, cov, &err);
  fpk_lmc_gmm *a = fpk_lmc_gmm_alloc(m, 1, &err);
  fpk_lmc_target tg = fpk_lmc_gmm_target(a);
  fpk_lmc_params p;
  fpk_lmc_params_init(&p);
  p.step = 0.5;
  p.n_iter = 400;
  p.seed = 11;
  double *x = malloc(n * sizeof *x);
  uniform_init(n, -3, 3, 99, x);
  fpk_lmc_result r;
  assert_int_equal(fpk_lmc_run(fpk_lmc_mala, &tg, &p, n, x, &r, &err), FPK_SUCCESS);
  double ks_m, ks_u;
  assert_int_equal(fpk_sample_ks_gmm1d(2, w, mu, sd, n, x, &ks_m, &err), FPK_SUCCESS);
  uniform_init(n, -3, 3, 99, x);
  assert_int_equal(fpk_lmc_run(fpk_lmc_ula, &tg, &p, n, x, NULL, &err), FPK_SUCCESS);
  assert_int_equal(fpk_sample_ks_gmm1d(2, w, mu, sd, n, x, &ks_u, &err), FPK_SUCCESS);
  print_message("mixture, alpha=0.5: KS MALA %.4f (acc %.3f), ULA %.4f; 1%% point %.4f\n", ks_m,
                r.acceptance, ks_u, 1.63 / sqrt((double)n));
  assert_true(ks_m * sqrt((double)n) < 1.63);
  if (n >= 10000) assert_true(ks_u > 2 * ks_m); /* ULA's bias (0.025) above MALA's noise */
  fpk_lmc_result_free(&r);
  free(x);
  fpk_lmc_gmm_free(a);
  fpk_gmm_free(m);
}

/* The demonstration. Budget: 5000 score evaluations per path for both. ULA: α = 0.01 (mode
 * variance 0.25, relaxation time 2·0.25/α = 50 steps, stationary variance bias α/(4s²) = 1%);
 * annealed: L = 100 geometric levels 10 → 0.05, T = 50 steps each, ε = 1e-3 (α_i/σ_i² ≤ 0.4).
 * Both start uniform on [−8, 8] (Song & Ermon 2019, Fig. 3). Song & Ermon's L = 10, T = 100
 * (1000 steps) leaves a weight bias here: 0.2202 (4.9 SE at n = 10⁴) — the weights freeze where
 * the barrier rises, while the noised components still overlap; 50 × 20 steps give 0.2087 and
 * 100 × 50 give 0.2014 (docs/diffusion.md). */
static void test_annealed_recovers_weights(void **state) {
  (void)state;
  const size_t n = scaled(6000);
  fpk_error err = {0};
  fpk_gmm *m = fpk_gmm_alloc(1, 2, W2M, MU2M, COV2M, &err);
  fpk_lmc_gmm *a = fpk_lmc_gmm_alloc(m, 10, &err);
  fpk_lmc_target tg = fpk_lmc_gmm_target(a);
  tv_ctx c;
  const size_t nc = 160;
  const double lo = -8, hi = 8;
  c.g = fpk_test_grid(1, &nc, &lo, &hi);
  c.probs = malloc(nc * sizeof *c.probs);
  assert_int_equal(fpk_grid_cell_probs(&c.g, tg.log_p, tg.user, c.probs, &err), FPK_SUCCESS);

  double *x = malloc(n * sizeof *x), mw[2], se[2];
  fpk_lmc_params p;
  fpk_lmc_params_init(&p);
  p.seed = 2019;
  p.trace_every = 250;
  p.metric = tv_metric;
  p.metric_user = &c;

  /* plain ULA */
  p.step = 0.01;
  p.n_iter = 5000;
  fpk_lmc_result ru, ra;
  uniform_init(n, lo, hi, 5, x);
  assert_int_equal(fpk_lmc_run(fpk_lmc_ula, &tg, &p, n, x, &ru, &err), FPK_SUCCESS);
  assert_int_equal(fpk_sample_mode_weights(1, 2, W2M, MU2M, COV2M, n, x, mw, se, &err), 0);
  const double wu = mw[0], seu = se[0];

  /* annealed Langevin, the same 5000 steps */
  p.step = 1e-3;
  p.n_iter = 50;
  p.n_levels = 100;
  p.sigma_max = 10;
  p.sigma_min = 0.05;
  uniform_init(n, lo, hi, 5, x);
  assert_int_equal(fpk_lmc_run(fpk_lmc_annealed, &tg, &p, n, x, &ra, &err), FPK_SUCCESS);
  assert_int_equal(fpk_sample_mode_weights(1, 2, W2M, MU2M, COV2M, n, x, mw, se, &err), 0);
  const double wa = mw[0], sea = se[0];
  print_message("weight of the 0.2 mode: ULA %.4f (SE %.4f, %.1f SE off), annealed %.4f "
                "(SE %.4f, %.2f SE off), n = %zu\n", wu, seu, fabs(wu - 0.2) / seu, wa, sea,
                fabs(wa - 0.2) / sea, n);
  assert_int_equal(ru.n_steps, 5000);
  assert_int_equal(ra.n_steps, 5000);
  assert_true(fabs(wu - 0.2) > 10 * seu);
  assert_true(fabs(wa - 0.2) < 3 * sea);

  /* the traces: iterations 0, 250, ..., 5000 */
  assert_int_equal(ru.n_trace, 21);
  assert_int_equal(ra.n_trace, 21);
  assert_int_equal(ra.trace_iter[20], 5000);
  print_message("TV to the target (160 cells on [-8, 8]) at iteration: ULA / annealed\n");
  for (size_t j = 0; j < ru.n_trace; j += 4)
    print_message("  %4zu  %.4f  %.4f\n", ru.trace_iter[j], ru.trace_value[j], ra.trace_value[j]);
  assert_close_rel(ru.trace_value[0], ra.trace_value[0], 1e-15); /* the same start */
  assert_true(ra.trace_value[20] < 0.5 * ru.trace_value[20]);
  /* ULA's final TV is at least its weight error */
  assert_true(ru.trace_value[20] > fabs(wu - 0.2) - 3 * seu);
  fpk_lmc_result_free(&ru);
  fpk_lmc_result_free(&ra);
  free(x);
  free(c.probs);
  fpk_lmc_gmm_free(a);
  fpk_gmm_free(m);
}

/* Bitwise the same final points for 1 and 2 threads (n >= 4096: fpk_gmm_eval threads too). */
static void test_thread_independent(void **state) {
  (void)state;
  const size_t n = 5000;
  fpk_error err = {0};
  const double w[3] = {0.5, 0.3, 0.2}, mu[6] = {0, 0, 3, 1, -2, 2},
               cov[12] = {1, 0.3, 0.3, 0.5, 0.4, 0, 0, 0.4, 0.7, -0.2, -0.2, 0.3};
  fpk_gmm *m = fpk_gmm_alloc(2, 3, w, mu, cov, &err);
  assert_non_null(m);
  fpk_lmc_gmm *a = fpk_lmc_gmm_alloc(m, 5, &err);
  fpk_lmc_target tg = fpk_lmc_gmm_target(a);
  const fpk_lmc_type *types[3] = {fpk_lmc_ula, fpk_lmc_mala, fpk_lmc_annealed};
  double *x1 = malloc(2 * n * sizeof *x1), *x2 = malloc(2 * n * sizeof *x2);
  const int nth = omp_get_max_threads();
  for (size_t t = 0; t < 3; t++) {
    fpk_lmc_params p;
    fpk_lmc_params_init(&p);
    p.step = 0.05;
    p.n_iter = 20;
    p.n_levels = 3;
    p.sigma_max = 5;
    p.sigma_min = 0.1;
    for (size_t i = 0; i < 2 * n; i++) x1[i] = x2[i] = sin((double)i);
    omp_set_num_threads(1);
    assert_int_equal(fpk_lmc_run(types[t], &tg, &p, n, x1, NULL, &err), FPK_SUCCESS);
    omp_set_num_threads(2);
    assert_int_equal(fpk_lmc_run(types[t], &tg, &p, n, x2, NULL, &err), FPK_SUCCESS);
    assert_memory_equal(x1, x2, 2 * n * sizeof *x1);
  }
  omp_set_num_threads(nth);
  free(x1), free(x2);
  fpk_lmc_gmm_free(a);
  fpk_gmm_free(m);
}

/* ---- Metrics on known cases ---------------------------------------------------------------- */

static int logp_std_normal(size_t n, const double *x, double *out, void *user) {
  (void)user;
  for (size_t i = 0; i < n; i++) out[i] = -0.5 * x[i] * x[i];
  return 0;
}

static void test_hist_tv_kl(void **state) {
  (void)state;
  fpk_error err = {0};
  const size_t nc = 400;
  const double lo = -5, hi = 5;
  fpk_grid g = fpk_test_grid(1, &nc, &lo, &hi);
  double *q = malloc(nc * sizeof *q);
  assert_int_equal(fpk_grid_cell_probs(&g, logp_std_normal, NULL, q, &err), FPK_SUCCESS);
  /* the midpoint rule on cells of 0.025: P(|X| < 1) to O(h²) */
  double s1 = 0;
  for (size_t j = 0; j < nc; j++)
    if (fabs(fpk_grid_center(&g, 0, j)) < 1) s1 += q[j];
  assert_close_abs(s1, erf(M_SQRT1_2), 2e-4);

  /* a histogram equal to the target's cell probabilities: a sample with count_j points at
   * centre j, and probabilities count_j/n */
  const size_t n = 1000;
  double *x = malloc(n * sizeof *x), *qq = calloc(nc, sizeof *qq);
  for (size_t i = 0; i < n; i++) {
    const size_t j = 150 + (i * 7) % 100;
    x[i] = fpk_grid_center(&g, 0, j);
    qq[j] += 1.0 / (double)n;
  }
  double tv, kl, out;
  assert_int_equal(fpk_sample_hist_tv_kl(&g, qq, n, x, &tv, &kl, &out, &err), FPK_SUCCESS);
  assert_close_abs(tv, 0, 1e-15);
  assert_close_abs(kl, 0, 1e-12);
  assert_close_abs(out, 0, 0);
  /* all points in one cell against uniform probabilities: TV = 1 − 1/N, KL = log N */
  for (size_t j = 0; j < nc; j++) qq[j] = 1.0 / (double)nc;
  for (size_t i = 0; i < n; i++) x[i] = 0.01;
  assert_int_equal(fpk_sample_hist_tv_kl(&g, qq, n, x, &tv, &kl, &out, &err), FPK_SUCCESS);
  assert_close_rel(tv, 1 - 1.0 / (double)nc, 1e-12);
  assert_close_rel(kl, log((double)nc), 1e-12);
  /* a quarter of the points outside the box: their mass counts fully in TV, not in KL */
  for (size_t i = 0; i < n / 4; i++) x[i] = 7;
  assert_int_equal(fpk_sample_hist_tv_kl(&g, qq, n, x, &tv, &kl, &out, &err), FPK_SUCCESS);
  assert_close_rel(out, 0.25, 1e-15);
  assert_close_rel(tv, 0.5 * (0.75 - 1.0 / nc + (1 - 1.0 / nc) + 0.25), 1e-12);
  assert_close_rel(kl, log((double)nc), 1e-12);
  /* exact draws from N(0, 1): TV is sampling noise only, E TV ≈ ½Σ√(2q_j/(πn)) */
  const size_t ns = scaled(50000);
  double *xs = malloc(ns * sizeof *xs);
  const double one = 1, zero = 0;
  draw_mix1d(1, &one, &zero, &one, ns, 3, xs);
  assert_int_equal(fpk_sample_hist_tv_kl(&g, q, ns, xs, &tv, &kl, &out, &err), FPK_SUCCESS);
  double etv = 0;
  for (size_t j = 0; j < nc; j++) etv += 0.5 * sqrt(2 * q[j] * (1 - q[j]) / (M_PI * (double)ns));
  print_message("TV of %zu exact N(0,1) draws: %.4f (noise level %.4f), KL %.4f\n", ns, tv, etv,
                kl);
  assert_in_range_d(tv, 0.8 * etv, 1.2 * etv);
  free(xs);
  free(x), free(q), free(qq);
}

static void test_mode_weights(void **state) {
  (void)state;
  fpk_error err = {0};
  const size_t n = scaled(20000);
  double *x = malloc(n * sizeof *x), mw[2], se[2];
  draw_mix1d(2, W2M, MU2M, SD2M, n, 17, x);
  assert_int_equal(fpk_sample_mode_weights(1, 2, W2M, MU2M, COV2M, n, x, mw, se, &err), 0);
  print_message("mode weights of %zu exact draws: %.4f ± %.4f, %.4f ± %.4f\n", n, mw[0], se[0],
                mw[1], se[1]);
  assert_close_abs(mw[0], 0.2, 3 * se[0]);
  assert_close_abs(mw[0] + mw[1], 1, 1e-15);
  assert_close_rel(se[0], sqrt(mw[0] * mw[1] / (double)n), 1e-14);
  /* 2D, full covariances: the rule is the largest w_k N(x; μ_k, Σ_k), not the nearest mean.
   * Component 1 is broad: a point at distance 1.5 from μ_0 (narrow) but 3 from μ_1 goes to 1. */
  const double w[2] = {0.5, 0.5}, mu[4] = {0, 0, 4.5, 0}, cov[8] = {0.04, 0, 0, 0.04, 9, 0, 0, 9};
  const double pts[6] = {1.5, 0, 4.5, /* y: */ 0, 0, 0};
  double w2[2];
  assert_int_equal(fpk_sample_mode_weights(2, 2, w, mu, cov, 3, pts, w2, NULL, &err), 0);
  assert_close_abs(w2[1], 2.0 / 3, 1e-15); /* (1.5, 0) and (4.5, 0) go to the broad one */
  const double bad[8] = {1, 2, 2, 1, 1, 0, 0, 1};
  assert_int_equal(fpk_sample_mode_weights(2, 2, w, mu, bad, 3, pts, w2, NULL, &err), FPK_EINVAL);
  free(x);
}

/* E|N(m, v)| = √(2v/π) e^{−m²/(2v)} + m (1 − 2Φ(−m/√v)). */
static double abs_mean(double m, double v) {
  return sqrt(2 * v / M_PI) * exp(-m * m / (2 * v)) + m * (1 - erfc(m / sqrt(2 * v)));
}

static void test_energy_distance(void **state) {
  (void)state;
  fpk_error err = {0};
  const size_t n = scaled(1500), R = 12;
  double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), d[12];
  const double one = 1, zero = 0, delta = 0.5;
  double mean0 = 0, var0 = 0;
  for (size_t r = 0; r < R; r++) { /* same law: the U-statistic has mean 0 */
    draw_mix1d(1, &one, &zero, &one, n, 100 + 2 * r, x);
    draw_mix1d(1, &one, &zero, &one, n, 101 + 2 * r, y);
    assert_int_equal(fpk_sample_energy_distance(1, n, x, n, y, 0, d + r, &err), FPK_SUCCESS);
    mean0 += d[r] / (double)R;
  }
  for (size_t r = 0; r < R; r++) var0 += (d[r] - mean0) * (d[r] - mean0) / (double)(R - 1);
  /* N(0,1) vs N(δ,1): 2E|X − Y| − 2E|X − X'| with X − Y ~ N(−δ, 2), X − X' ~ N(0, 2) */
  const double exact = 2 * abs_mean(delta, 2) - 2 * abs_mean(0, 2);
  draw_mix1d(1, &one, &delta, &one, n, 500, y);
  double ds, dsub;
  assert_int_equal(fpk_sample_energy_distance(1, n, x, n, y, 0, &ds, &err), FPK_SUCCESS);
  assert_int_equal(fpk_sample_energy_distance(1, n, x, n, y, 400 * 400, &dsub, &err), 0);
  print_message("energy distance: same law %.2e ± %.2e (R = %zu), shift %.1f: %.4f (exact %.4f), "
                "first 400 points %.4f\n", mean0, sqrt(var0), R, delta, ds, exact, dsub);
  assert_close_abs(mean0, 0, 3 * sqrt(var0 / (double)R));
  assert_close_abs(ds, exact, 5 * sqrt(var0) + 0.15 * exact);
  assert_close_abs(dsub, exact, 0.5 * exact);
  free(x), free(y);
}

static void test_sliced_w2(void **state) {
  (void)state;
  fpk_error err = {0};
  const size_t n = 3000;
  double *x = malloc(2 * n * sizeof *x), *y = malloc(2 * n * sizeof *y), w2;
  const double one = 1, zero = 0;
  draw_mix1d(1, &one, &zero, &one, n, 1, x);
  draw_mix1d(1, &one, &zero, &one, n, 2, x + n);
  /* 1D: the same sample shifted by 0.7 — W2 is the shift, exactly */
  for (size_t i = 0; i < n; i++) y[i] = x[i] + 0.7;
  assert_int_equal(fpk_sample_sliced_w2(1, n, x, y, 0, 1, &w2, &err), FPK_SUCCESS);
  assert_close_rel(w2, 0.7, 1e-12);
  /* 2D: shift v = (0.6, 0.8): on direction θ the projections differ by θ·v, W2²(θ) = (θ·v)², and
   * the mean over uniform θ is |v|²/2: sliced W2 = |v|/√2 (Monte Carlo over 4000 directions:
   * the relative SD of the mean of cos² is √(1/8/4000)/(1/2) = 1.1%). */
  for (size_t i = 0; i < n; i++) y[i] = x[i] + 0.6, y[n + i] = x[n + i] + 0.8;
  assert_int_equal(fpk_sample_sliced_w2(2, n, x, y, 4000, 9, &w2, &err), FPK_SUCCESS);
  print_message("sliced W2 of a shift by |v| = 1 in 2D: %.4f (expected 1/sqrt(2) = %.4f)\n", w2,
                M_SQRT1_2);
  assert_close_rel(w2, M_SQRT1_2, 0.02);
  /* 1D, independent samples of N(0,1) and N(1.5,1): W2 = 1.5 up to sampling noise */
  draw_mix1d(1, &one, &zero, &one, n, 77, y);
  for (size_t i = 0; i < n; i++) y[i] += 1.5;
  assert_int_equal(fpk_sample_sliced_w2(1, n, x, y, 0, 1, &w2, &err), FPK_SUCCESS);
  assert_close_abs(w2, 1.5, 0.05);
  free(x), free(y);
}

static void test_ks(void **state) {
  (void)state;
  fpk_error err = {0};
  const size_t n = 2000;
  double *x = malloc(n * sizeof *x), ks;
  const double one = 1, zero = 0;
  for (size_t i = 0; i < n; i++) x[i] = 0; /* a point mass at the median: D = 1/2 */
  assert_int_equal(fpk_sample_ks_gmm1d(1, &one, &zero, &one, n, x, &ks, &err), FPK_SUCCESS);
  assert_close_rel(ks, 0.5, 1e-14);
  /* one point at x: D = max(Φ(x), 1 − Φ(x)) */
  x[0] = 1;
  assert_int_equal(fpk_sample_ks_gmm1d(1, &one, &zero, &one, 1, x, &ks, &err), FPK_SUCCESS);
  assert_close_rel(ks, 0.5 * erfc(-M_SQRT1_2), 1e-14);
  /* exact mixture draws pass; the same draws against the wrong weights do not */
  draw_mix1d(2, W2M, MU2M, SD2M, n, 4, x);
  assert_int_equal(fpk_sample_ks_gmm1d(2, W2M, MU2M, SD2M, n, x, &ks, &err), FPK_SUCCESS);
  assert_true(ks * sqrt((double)n) < 1.63);
  const double wrong[2] = {0.5, 0.5};
  assert_int_equal(fpk_sample_ks_gmm1d(2, wrong, MU2M, SD2M, n, x, &ks, &err), FPK_SUCCESS);
  assert_true(fabs(ks - 0.3) < 0.05);
  free(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_registry_and_bad_input),
      cmocka_unit_test(test_defaults_and_empty),
      cmocka_unit_test(test_gmm_adapter_noise_score),
      cmocka_unit_test(test_ula_bias_mala_exact),
      cmocka_unit_test(test_mala_ks_mixture),
      cmocka_unit_test(test_annealed_recovers_weights),
      cmocka_unit_test(test_thread_independent),
      cmocka_unit_test(test_hist_tv_kl),
      cmocka_unit_test(test_mode_weights),
      cmocka_unit_test(test_energy_distance),
      cmocka_unit_test(test_sliced_w2),
      cmocka_unit_test(test_ks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
