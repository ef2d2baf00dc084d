/* Benchmark: the Schrödinger bridge of issue 13 (fpkit/sb.h), run by bench/run_sb.sh.
 *
 *   bench_sb [reps [n [npaths [nt]]]]   defaults 3 256 1000000 20
 *
 * The case: a 2D bridge with the Brownian reference, σ = 0.3, T = 1, on the n × n grid of the box
 * [−7.5, 7.5]², between the two Gaussians of tests/test_sb.c's 2D case (non-commuting
 * covariances): μ0 = N((−0.5, 0.3), [[1, 0.3], [0.3, 0.5]]), μT = N((0.8, −0.2), [[0.4, −0.2],
 * [−0.2, 1.2]]), as cell probabilities (densities at the cell centres, normalised). At n = 256
 * h = 0.0586, h²/ε = 0.019 (ε = 2σ²T = 0.18), and τ_r = 1.2h²/σ² = 0.046 < T/19, so every
 * interior output time is resolved. Output times t_k = kT/(nt − 1), k = 0 .. nt − 1.
 *
 * Stages, each timed (wall clock and CPU) in every repetition, all on one thread
 * (omp_set_num_threads(1), the sampler's nthreads = 1):
 *   alloc    fpk_sb_alloc (plans, buffers);
 *   solve    fpk_sb_solve (the static Sinkhorn at ε = 2σ²T, default parameters, tol 1e-9);
 *   marginal fpk_sb_marginal at the nt times (2 propagations each, 1 at t = 0 and t = T);
 *   drift    fpk_sb_drift at the nt times, no mask (1 + d = 3 propagations each);
 *   sample   fpk_sb_sample_exact with npaths paths at the nt times (no stored paths);
 *   fft      the FFT floor: one 2D r2c and one c2r transform of the padded P × P array the fft
 *            back-end would use (P the smallest 2,3,5,7-smooth length >= 2n − 1, FFTW_ESTIMATE,
 *            as src/ot/kernel_fft.c plans), timed as the best of 20 pairs; one pair is the least
 *            a propagation by FFT costs (exp, product, log excluded).
 * Ratios: marginal / (propagations of the marginal stage × fft pair), the same for the drift,
 * within each repetition. The stages alternate within a repetition, so a load change on the
 * (shared) machine touches all of them.
 *
 * Output: "fpkit sb-bench key=value ..." per repetition (parsed by run_sb.sh). */
#include <fftw3.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpkit/exact.h"
#include "fpkit/sb.h"

#include "bench_timer.h"

static void die(const char *what, const char *msg) {
  fprintf(stderr, "bench_sb: %s: %s\n", what, msg);
  exit(1);
}

static void gaussian_cells(const fpk_grid *g, const double *m, const double *S, double *p) {
  fpk_gaussian G;
  memset(&G, 0, sizeof G);
  G.dim = 2;
  memcpy(G.mean, m, 2 * sizeof *m);
  memcpy(G.cov, S, 4 * sizeof *S);
  fpk_error err = {0};
  if (fpk_gaussian_density_grid(&G, g, p, &err)) die("density", err.msg);
  double s = 0;
  for (size_t i = 0; i < g->size; i++) s += p[i];
  for (size_t i = 0; i < g->size; i++) p[i] /= s;
}

/* Smallest length >= m with no prime factor above 7 (kernel_fft.c's padded length). */
static size_t smooth_length(size_t m) {
  for (size_t P = m;; P++) {
    size_t r = P;
    for (size_t f = 2; f <= 7; f++)
      while (r % f == 0) r /= f;
    if (r == 1) return P;
  }
}

/* Best of `pairs` r2c + c2r pairs of a P × P real array, seconds (wall, and CPU into *cpu_s). */
static double fft_pair(size_t P, int pairs, double *cpu_s) {
  const size_t Q = P / 2 + 1;
  double *r = fftw_alloc_real(P * P);
  fftw_complex *c = fftw_alloc_complex(P * Q);
  if (!r || !c) die("fft", "out of memory");
  fftw_plan f = fftw_plan_dft_r2c_2d((int)P, (int)P, r, c, FFTW_ESTIMATE);
  fftw_plan b = fftw_plan_dft_c2r_2d((int)P, (int)P, c, r, FFTW_ESTIMATE);
  if (!f || !b) die("fft", "FFTW could not plan");
  for (size_t i = 0; i < P * P; i++) r[i] = exp(-(double)(i % 97) / 17.0);
  double best = 1e300, best_c = 1e300;
  for (int k = 0; k < pairs; k++) {
    const double t0 = now(), c0 = cpu();
    fftw_execute(f);
    fftw_execute(b);
    const double el = now() - t0, cl = cpu() - c0;
    if (el < best) best = el;
    if (cl < best_c) best_c = cl;
    for (size_t i = 0; i < P * P; i++) r[i] *= 1.0 / (double)(P * P);
  }
  fftw_destroy_plan(f);
  fftw_destroy_plan(b);
  fftw_free(r);
  fftw_free(c);
  *cpu_s = best_c;
  return best;
}

int main(int argc, char **argv) {
  const int reps = argc > 1 ? atoi(argv[1]) : 3;
  const size_t n = argc > 2 ? (size_t)atol(argv[2]) : 256;
  const size_t npaths = argc > 3 ? (size_t)atol(argv[3]) : 1000000;
  const size_t nt = argc > 4 ? (size_t)atol(argv[4]) : 20;
  if (reps < 1 || n < 8 || nt < 2) die("arguments", "reps >= 1, n >= 8, nt >= 2");
  omp_set_num_threads(1);
  const double L = 7.5, sigma = 0.3, T = 1;
  static const double m0[2] = {-0.5, 0.3}, S0[4] = {1, 0.3, 0.3, 0.5};
  static const double m1[2] = {0.8, -0.2}, S1[4] = {0.4, -0.2, -0.2, 1.2};
  fpk_grid g;
  fpk_error err = {0};
  const size_t nn[2] = {n, n};
  const double lo[2] = {-L, -L}, hi[2] = {L, L};
  if (fpk_grid_init(&g, 2, nn, lo, hi, NULL, &err)) die("grid", err.msg);
  const size_t N = g.size;
  double *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b), *p = malloc(N * sizeof *p);
  double *drift = malloc(2 * N * sizeof *drift), *t = malloc(nt * sizeof *t);
  if (!a || !b || !p || !drift || !t) die("alloc", "out of memory");
  gaussian_cells(&g, m0, S0, a);
  gaussian_cells(&g, m1, S1, b);
  for (size_t k = 0; k < nt; k++) t[k] = T * (double)k / (double)(nt - 1);
  size_t nprop_m = 0;
  for (size_t k = 0; k < nt; k++) nprop_m += (t[k] > 0) + (t[k] < T);
  const size_t nprop_d = 3 * nt;
  const size_t P = smooth_length(2 * n - 1);
  printf("fpkit sb-case n=%zu box=%g sigma=%g T=%g eps=%g nt=%zu npaths=%zu fft_P=%zu "
         "prop_marginal=%zu prop_drift=%zu\n",
         n, L, sigma, T, 2 * sigma * sigma * T, nt, npaths, P, nprop_m, nprop_d);
  fflush(stdout);
  for (int rep = 0; rep < reps; rep++) {
    double fc;
    const double fw = fft_pair(P, 20, &fc);
    fpk_sb_params sp;
    fpk_sb_params_init(&sp);
    sp.sigma = sigma;
    sp.T = T;
    double t0 = now(), c0 = cpu();
    fpk_sb *s = fpk_sb_alloc(&g, &sp, &err);
    if (!s) die("sb alloc", err.msg);
    const double w_alloc = now() - t0, c_alloc = cpu() - c0;
    fpk_ot_result r;
    t0 = now(), c0 = cpu();
    if (fpk_sb_solve(s, a, b, &r)) die("solve", fpk_sb_errmsg(s));
    const double w_solve = now() - t0, c_solve = cpu() - c0;
    t0 = now(), c0 = cpu();
    double mass_err = 0;
    for (size_t k = 0; k < nt; k++) {
      double m;
      if (fpk_sb_marginal(s, t[k], p, NULL, &m)) die("marginal", fpk_sb_errmsg(s));
      mass_err = fmax(mass_err, fabs(m - 1));
    }
    const double w_marg = now() - t0, c_marg = cpu() - c0;
    t0 = now(), c0 = cpu();
    double dsum = 0;
    for (size_t k = 0; k < nt; k++) {
      if (fpk_sb_drift(s, t[k], drift, NULL)) die("drift", fpk_sb_errmsg(s));
      dsum += drift[N / 2];
    }
    const double w_drift = now() - t0, c_drift = cpu() - c0;
    fpk_sb_sample_params q;
    fpk_sb_sample_params_init(&q);
    q.npaths = npaths;
    q.seed = 20261206;
    q.nt = nt;
    q.t = t;
    q.nthreads = 1;
    fpk_sb_sample_result sr;
    t0 = now(), c0 = cpu();
    if (npaths && fpk_sb_sample_exact(s, &q, &sr)) die("sample", fpk_sb_errmsg(s));
    const double w_sample = npaths ? now() - t0 : 0, c_sample = npaths ? cpu() - c0 : 0;
    const double mean_T0 = npaths ? sr.mean[(nt - 1) * 2] : 0;
    if (npaths) fpk_sb_sample_result_free(&sr);
    fpk_sb_free(s);
    const double total = w_alloc + w_solve + w_marg + w_drift + w_sample;
    const double total_c = c_alloc + c_solve + c_marg + c_drift + c_sample;
    printf("fpkit sb-bench rep=%d alloc=%.4f solve=%.4f marginal=%.4f drift=%.4f sample=%.4f "
           "total=%.4f cpu_alloc=%.4f cpu_solve=%.4f cpu_marginal=%.4f cpu_drift=%.4f "
           "cpu_sample=%.4f cpu_total=%.4f fft_pair_ms=%.4f cpu_fft_pair_ms=%.4f "
           "ratio_marginal=%.3f ratio_drift=%.3f cpu_ratio_marginal=%.3f cpu_ratio_drift=%.3f "
           "iters=%zu sinkhorn_err=%.2e mass_err=%.2e drift_check=%.10g sample_meanT0=%.6f\n",
           rep + 1, w_alloc, w_solve, w_marg, w_drift, w_sample, total, c_alloc, c_solve, c_marg,
           c_drift, c_sample, total_c, 1e3 * fw, 1e3 * fc, w_marg / ((double)nprop_m * fw),
           w_drift / ((double)nprop_d * fw), c_marg / ((double)nprop_m * fc),
           c_drift / ((double)nprop_d * fc), r.iterations, r.err_a + r.err_b, mass_err, dsum,
           mean_T0);
    fflush(stdout);
  }
  free(a), free(b), free(p), free(drift), free(t);
  return 0;
}
