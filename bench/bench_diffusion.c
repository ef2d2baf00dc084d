/* Benchmark: exact Gaussian-mixture scores and a probability-flow sampler (issue 14), the peer of
 * bench/diffusion_numpy.py (run both with bench/run_diffusion.sh).
 *
 *   bench_diffusion [npoints [K [nsteps [reps]]]]   defaults 100000 8 50 3
 *
 * The mixture: 2D, K components on a circle of radius 4 (means (4 cos 2πk/K, 4 sin 2πk/K)), weights
 * ∝ 1 + k, covariances [[0.3 + 0.02k, 0.1], [0.1, 0.25]]: the same closed forms as the NumPy
 * peer. The schedule: vp-linear (β 0.1 … 20, T = 1).
 *   score:   fpk_gmm_eval of the score alone at t = 0.5 for npoints points (a fixed quasi-random
 *            set): ns per point and per point-component;
 *   sampler: the probability-flow ODE dx/dt = f(t)x − ½g(t)²∇log p_t(x), Euler from t = 1 to
 *            t = 1e-3 in nsteps uniform steps (one score evaluation per step: NFE = nsteps), for
 *            npoints points started at the same quasi-random prior points as the peer;
 *            samples × NFE per second.
 * One thread (OMP_NUM_THREADS=1 set by the run script). Best of reps, wall and CPU.
 * Output: "fpkit <kind> key=value ..." lines. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_timer.h"
#include "fpkit/diffusion.h"

static void mixture(size_t K, double *w, double *mu, double *S) {
  double sw = 0;
  for (size_t k = 0; k < K; k++) sw += 1 + (double)k;
  for (size_t k = 0; k < K; k++) {
    w[k] = (1 + (double)k) / sw;
    mu[2 * k] = 4 * cos(2 * M_PI * (double)k / (double)K);
    mu[2 * k + 1] = 4 * sin(2 * M_PI * (double)k / (double)K);
    S[4 * k] = 0.3 + 0.02 * (double)k, S[4 * k + 1] = 0.1, S[4 * k + 2] = 0.1, S[4 * k + 3] = 0.25;
  }
}

/* Points: the 2D Halton-like golden-ratio sequence mapped to N(0, I) by Box–Muller on (u, v)
 * (the peer uses the same formulas). */
static void points(size_t n, double *x) {
  for (size_t i = 0; i < n; i++) {
    const double u = fmod(0.5 + (double)i * 0.6180339887498949, 1.0);
    const double v = fmod(0.5 + (double)i * 0.7548776662466927, 1.0);
    const double r = sqrt(-2 * log(1 - u)), a = 2 * M_PI * v;
    x[i] = r * cos(a);
    x[n + i] = r * sin(a);
  }
}

int main(int argc, char **argv) {
  const size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
  const size_t K = argc > 2 ? strtoul(argv[2], NULL, 10) : 8;
  const size_t nsteps = argc > 3 ? strtoul(argv[3], NULL, 10) : 50;
  const int reps = argc > 4 ? atoi(argv[4]) : 3;
  double *w = malloc(K * sizeof(double)), *mu = malloc(2 * K * sizeof(double));
  double *S = malloc(4 * K * sizeof(double));
  double *x = malloc(2 * n * sizeof(double)), *sc = malloc(2 * n * sizeof(double));
  mixture(K, w, mu, S);
  fpk_error err = {0};
  fpk_gmm *m = fpk_gmm_alloc(2, K, w, mu, S, &err);
  fpk_schedule_params sp;
  fpk_schedule_params_init(&sp);
  fpk_schedule *s = fpk_schedule_alloc(fpk_schedule_vp_linear, &sp, &err);
  if (!m || !s) {
    fprintf(stderr, "bench_diffusion: %s\n", err.msg);
    return 1;
  }
  double best = INFINITY, bestc = INFINITY;
  for (int r = 0; r < reps; r++) {
    points(n, x);
    const double t0 = now(), c0 = cpu();
    fpk_gmm_eval(m, s, 0.5, n, x, NULL, sc, NULL, NULL, &err);
    const double dt = now() - t0, dc = cpu() - c0;
    if (dt < best) best = dt;
    if (dc < bestc) bestc = dc;
  }
  printf("fpkit score n=%zu K=%zu wall=%.4f cpu=%.4f ns_per_point=%.2f ns_per_point_component=%.3f "
         "check=%.12g\n", n, K, best, bestc, 1e9 * bestc / (double)n,
         1e9 * bestc / (double)(n * K), sc[0] + sc[n]);
  best = bestc = INFINITY;
  double check = 0;
  for (int r = 0; r < reps; r++) {
    points(n, x);
    const double t0 = now(), c0 = cpu();
    const double tmax = 1, tmin = 1e-3, h = (tmax - tmin) / (double)nsteps;
    for (size_t k = 0; k < nsteps; k++) {
      const double t = tmax - (double)k * h;
      fpk_gmm_eval(m, s, t, n, x, NULL, sc, NULL, NULL, &err);
      const double f = fpk_schedule_f(s, t), g2 = fpk_schedule_g2(s, t);
      /* x(t − h) = x − h (f x − ½ g² s) */
      for (size_t i = 0; i < 2 * n; i++) x[i] -= h * (f * x[i] - 0.5 * g2 * sc[i]);
    }
    const double dt = now() - t0, dc = cpu() - c0;
    if (dt < best) best = dt;
    if (dc < bestc) bestc = dc;
    check = 0;
    for (size_t i = 0; i < 2 * n; i++) check += x[i];
  }
  printf("fpkit sampler n=%zu K=%zu nfe=%zu wall=%.4f cpu=%.4f samples_nfe_per_s=%.4e "
         "per_cpu_s=%.4e check=%.12g\n", n, K, nsteps, best, bestc,
         (double)(n * nsteps) / best, (double)(n * nsteps) / bestc, check / (double)(2 * n));
  fpk_gmm_free(m);
  fpk_schedule_free(s);
  free(w), free(mu), free(S), free(x), free(sc);
  return 0;
}
