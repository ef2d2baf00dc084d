/* `fpkit bridge`: the Brownian bridge, Kolmogorov's law of its supremum and Donsker's theorem,
 * each checked by Monte Carlo against its closed form (docs/bridge-donsker.md). Three parts, each
 * run when its section is given:
 *
 *  [bridge]      paths of the bridge from a to b on [0, T] with noise σ, built exactly on the grid
 *                t_k = kT/m from Brownian increments: X(t_k) = a(1 − t_k/T) + b t_k/T + σ B⁰(t_k),
 *                B⁰(t_k) = W(t_k) − (t_k/T) W(T); sample mean and covariance at every grid time
 *                against a + (b − a)t/T and σ² min(s, t)(T − max(s, t))/T (closed-forms.md), as
 *                z-scores.
 *  [kolmogorov]  sup_t |B⁰_t| of the standard bridge (T = 1) monitored at m grid points, raw and
 *                with the continuity correction + β√h (Broadie, Glasserman & Kou 1997), against
 *                Kolmogorov's law K (fpk_kolmogorov_cdf): KS distances, means and quantiles, for
 *                a ladder of m on the same paths (nested grids).
 *  [ks_band]     Donsker's theorem: √n sup|F_n − Φ| for standard normal samples of size n, its
 *                law against K, and the coverage of the KS band F_n ± k_α/√n (and of Stephens'
 *                finite-n version) over R repetitions.
 *
 * Random numbers: the fpkit normal streams (fpkit/sde.h), one stream per path, with the part in
 * the high bits of the path index (STREAM below), so the parts are independent and each number
 * is a pure function of (seed, part, path, position). A bridge path, a Kolmogorov path or a
 * sample is computed by one thread from its own stream; moment reductions go through per-block
 * partials merged in block order (Chan, Golub & LeVeque 1979, as in src/sde/ensemble.c), order
 * statistics are computed after the parallel loop. Every output is therefore bitwise the same
 * for any number of threads (tests/cli/bridge_run.sh). */
#include "app/app.h"
#include "app/keys.h"
#include "app/progress.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gsl/gsl_cdf.h>
#include <omp.h>

#include "fpkit/config.h"
#include "fpkit/compare.h"
#include "fpkit/exact.h"
#include "fpkit/grid.h"
#include "fpkit/io.h"
#include "fpkit/model.h"
#include "fpkit/parallel.h"
#include "fpkit/sde.h"
#include "sde/sde_internal.h"

/* The progress of the part running (NULL: none; src/app/progress.h): its loops count finished
 * units and the thread that finished them draws them, one thread at a time, so nothing of a
 * result depends on it. */
static fpk_app_progress *part_bar;
static size_t part_done;

static void part_tick(size_t units) {
  if (!part_bar) return;
  size_t done;
#pragma omp atomic capture
  done = part_done += units;
#pragma omp critical(fpk_bridge_progress) /* any thread, one at a time (sde/ensemble.c) */
  fpk_app_progress_update(part_bar, done);
}

/* Stream of path i of a part: the part in bits 48..55 of the Philox path counter (paths are
 * limited to 2^40 per part). */
enum { PART_BRIDGE = 1, PART_KOLMOGOROV = 2, PART_KS_BAND = 3 };
#define STREAM(part, i) ((uint64_t)(part) << 48 | (uint64_t)(i))
#define MAX_PATHS ((size_t)1 << 40)

#define MAXL 16                 /* ladder entries ([kolmogorov] steps, [ks_band] sizes) */
#define MAXQ 16                 /* quantile probabilities */
#define BRIDGE_MAX_STEPS 1000   /* the covariance is (m+1)² doubles in the file */
#define KOLMO_MAX_STEPS 131072  /* per-thread buffer: (m + 2) × KOLMO_BLOCK doubles = 16 MiB */
#define BAND_MAX_N 1000000
#define BRIDGE_BLOCK 64         /* paths per block: unit of work and of the moment reduction */
#define KOLMO_BLOCK 16          /* paths per block: 16 × 4000 steps = 0.5 MiB of normals in L2 */
/* Stephens (1970): D_n (√n + 0.12 + 0.11/√n) has nearly the asymptotic law for every n >= 5. */
#define STEPHENS_A 0.12
#define STEPHENS_B 0.11

typedef struct bridge_part {
  int on;
  double a, b, T, sigma;
  size_t m, N, keep;
  /* results: [m+1] and [m+1][m+1] */
  double *t, *mean, *cov, *exact_mean, *exact_cov, *z_mean, *z_cov, *paths;
  double max_z_mean, max_z_cov, end_error, wall;
  /* em = true: Euler–Maruyama on the bridge SDE, [m+1] each */
  int em;
  double *em_mean, *em_var, *em_var_exact;
  double em_max_z, em_bias_mid, em_wall;
} bridge_part;

typedef struct kolmo_part {
  int on;
  size_t N, m, L, head; /* levels[head] == m */
  size_t levels[MAXL];  /* increasing; each divides levels[L-1] */
  size_t nq;
  double qp[MAXQ];
  double *maxima; /* [L][N] raw discrete maxima, sorted after the run */
  double ks_raw[MAXL], ks_cor[MAXL], mean_raw[MAXL], mean_cor[MAXL];
  double q_exact[MAXQ], q_raw[MAXQ], q_cor[MAXQ], q_se[MAXQ];
  double floor, wall;
} kolmo_part;

typedef struct band_part {
  int on;
  size_t n, R, keep, J, head; /* sizes[head] == n */
  size_t sizes[MAXL];         /* increasing */
  double alpha, k_alpha;
  double *d;                  /* [J][R] sup|F_n − Φ| */
  double *sample_x, *sample_u; /* [keep][n] sorted samples and Φ of them, first repetitions */
  double *sqrt_n_d;           /* [R] √n D_n at n, in repetition order */
  double cov_a[MAXL], cov_s[MAXL], se_a[MAXL], se_s[MAXL], mean_a[MAXL], ks_a[MAXL], ks_s[MAXL];
  double floor, wall;
} band_part;

typedef struct bridge_run {
  fpk_config *cfg;
  uint64_t seed;
  const char *output;
  bridge_part B;
  kolmo_part K;
  band_part S;
} bridge_run;

static void *alloc64(size_t bytes) {
  size_t r = (bytes + 63) / 64 * 64;
  return aligned_alloc(64, r ? r : 64);
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* ------------------------------------------------------------------------- configuration */

/* A part runs when any of its keys is given (an INI section without keys is invisible: write
 * `enabled = true`) and `enabled` is not false. A part whose section is absent reads nothing, so
 * the resolved configuration does not carry it; a disabled part's keys are still checked. */
static int part_given(const fpk_config *c, const char *section, const char *const *keys) {
  for (size_t i = 0; keys[i]; i++)
    if (fpk_config_has(c, section, keys[i])) return 1;
  return 0;
}

/* A list of integers in [lo, hi] (a [section] key), appended to v after the n entries there,
 * then v sorted and made unique. */
static int read_int_list(fpk_config *c, const char *section, const char *key, size_t lo,
                         size_t hi, size_t *v, size_t *n, fpk_error *err) {
  double vals[MAXL];
  size_t k = 0;
  int rc;
  if (!fpk_config_has(c, section, key)) return FPK_SUCCESS;
  if ((rc = fpk_config_double_list(c, section, key, 1, MAXL - 1, vals, &k, err))) return rc;
  for (size_t i = 0; i < k; i++) {
    if (vals[i] != floor(vals[i]) || vals[i] < (double)lo || vals[i] > (double)hi)
      return fpk_config_invalid(c, section, key, err, "expected integers in [%zu, %zu]", lo, hi);
    v[(*n)++] = (size_t)vals[i];
  }
  for (size_t i = 1; i < *n; i++) /* insertion sort, then drop repeats */
    for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
      size_t t = v[j];
      v[j] = v[j - 1], v[j - 1] = t;
    }
  size_t u = 0;
  for (size_t i = 0; i < *n; i++)
    if (u == 0 || v[i] != v[u - 1]) v[u++] = v[i];
  *n = u;
  return FPK_SUCCESS;
}

static size_t index_of(const size_t *v, size_t n, size_t x) {
  for (size_t i = 0; i < n; i++)
    if (v[i] == x) return i;
  return 0;
}

static int read_bridge(fpk_config *c, bridge_part *B, fpk_error *err) {
  static const char *const keys[] = {"enabled", "a", "b", "T", "sigma", "steps", "paths",
                                     "keep_paths", "em", NULL};
  if (!part_given(c, "bridge", keys)) return FPK_SUCCESS;
  int rc;
  B->on = 1;
  B->a = 0.0, B->b = 0.0, B->T = 1.0, B->sigma = 1.0;
  B->m = 100, B->N = 100000, B->keep = 0;
  if ((rc = fpk_config_bool(c, "bridge", "enabled", 0, &B->on, err)) ||
      (rc = fpk_config_double(c, "bridge", "a", 0, -INFINITY, 0, INFINITY, &B->a, err)) ||
      (rc = fpk_config_double(c, "bridge", "b", 0, -INFINITY, 0, INFINITY, &B->b, err)) ||
      (rc = fpk_config_double(c, "bridge", "T", 0, 0.0, 1, INFINITY, &B->T, err)) ||
      (rc = fpk_config_double(c, "bridge", "sigma", 0, 0.0, 1, INFINITY, &B->sigma, err)) ||
      (rc = fpk_config_size(c, "bridge", "steps", 0, 2, BRIDGE_MAX_STEPS, &B->m, err)) ||
      (rc = fpk_config_size(c, "bridge", "paths", 0, 2, MAX_PATHS, &B->N, err)))
    return rc;
  const size_t kmax = B->N < 100 ? B->N : 100;
  if ((rc = fpk_config_size(c, "bridge", "keep_paths", 0, 0, kmax, &B->keep, err))) return rc;
  B->em = 0;
  return fpk_config_bool(c, "bridge", "em", 0, &B->em, err);
}

static int read_kolmogorov(fpk_config *c, kolmo_part *K, fpk_error *err) {
  static const char *const keys[] = {"enabled", "paths", "steps", "ladder", "quantiles", NULL};
  if (!part_given(c, "kolmogorov", keys)) return FPK_SUCCESS;
  int rc;
  K->on = 1;
  K->N = 100000, K->m = 2000;
  if ((rc = fpk_config_bool(c, "kolmogorov", "enabled", 0, &K->on, err)) ||
      (rc = fpk_config_size(c, "kolmogorov", "paths", 0, 2, MAX_PATHS, &K->N, err)) ||
      (rc = fpk_config_size(c, "kolmogorov", "steps", 0, 2, KOLMO_MAX_STEPS, &K->m, err)))
    return rc;
  K->levels[0] = K->m;
  K->L = 1;
  if ((rc = read_int_list(c, "kolmogorov", "ladder", 2, KOLMO_MAX_STEPS, K->levels, &K->L, err)))
    return rc;
  K->head = index_of(K->levels, K->L, K->m);
  /* Nested grids: every level is a subgrid of the finest, so one path serves all of them. */
  const size_t M = K->levels[K->L - 1];
  for (size_t j = 0; j < K->L; j++)
    if (M % K->levels[j])
      return fpk_config_invalid(c, "kolmogorov",
                                fpk_config_has(c, "kolmogorov", "ladder") ? "ladder" : "steps", err,
                                "%zu steps is not a divisor of the finest grid's %zu: every grid "
                                "must be a subgrid of the finest (the paths are shared)",
                                K->levels[j], M);
  const double qdef[] = {0.90, 0.95, 0.99};
  K->nq = 3;
  memcpy(K->qp, qdef, sizeof qdef);
  if ((rc = fpk_config_double_list(c, "kolmogorov", "quantiles", 0, MAXQ, K->qp, &K->nq, err)))
    return rc;
  for (size_t i = 0; i < K->nq; i++)
    if (!(K->qp[i] > 0.0 && K->qp[i] < 1.0))
      return fpk_config_invalid(c, "kolmogorov", "quantiles", err,
                                "probabilities must lie in (0, 1)");
  return FPK_SUCCESS;
}

static int read_band(fpk_config *c, band_part *S, fpk_error *err) {
  static const char *const keys[] = {"enabled", "n", "repetitions", "alpha", "ladder",
                                     "keep_paths", NULL};
  if (!part_given(c, "ks_band", keys)) return FPK_SUCCESS;
  int rc;
  S->on = 1;
  S->n = 1000, S->R = 4000, S->alpha = 0.05, S->keep = 5;
  if ((rc = fpk_config_bool(c, "ks_band", "enabled", 0, &S->on, err)) ||
      (rc = fpk_config_size(c, "ks_band", "n", 0, 1, BAND_MAX_N, &S->n, err)) ||
      (rc = fpk_config_size(c, "ks_band", "repetitions", 0, 2, MAX_PATHS, &S->R, err)) ||
      (rc = fpk_config_double(c, "ks_band", "alpha", 0, 0.0, 1, 1.0, &S->alpha, err)))
    return rc;
  if (!(S->alpha < 1.0))
    return fpk_config_invalid(c, "ks_band", "alpha", err, "expected a level in (0, 1)");
  S->sizes[0] = S->n;
  S->J = 1;
  if ((rc = read_int_list(c, "ks_band", "ladder", 1, BAND_MAX_N, S->sizes, &S->J, err)))
    return rc;
  S->head = index_of(S->sizes, S->J, S->n);
  const size_t kmax = S->R < 20 ? S->R : 20;
  if (S->keep > kmax) S->keep = kmax;
  return fpk_config_size(c, "ks_band", "keep_paths", 0, 0, kmax, &S->keep, err);
}

static int read_config(fpk_config *c, const fpk_run_options *opt, bridge_run *r, char *default_out,
                       size_t len, fpk_error *err) {
  int rc;
  r->seed = 1;
  if ((rc = fpk_config_u64(c, "random", "seed", 0, &r->seed, err)) ||
      (rc = read_bridge(c, &r->B, err)) || (rc = read_kolmogorov(c, &r->K, err)) ||
      (rc = read_band(c, &r->S, err)))
    return rc;
  const char *base = strrchr(opt->config_path, '/');
  base = base ? base + 1 : opt->config_path;
  snprintf(default_out, len, "results/%.*s.h5", (int)strcspn(base, "."), base);
  r->output = default_out;
  if ((rc = fpk_config_string(c, "output", "file", 0, &r->output, err))) return rc;
  if (opt->output) r->output = opt->output;
  if ((rc = fpk_config_check_unused(c, err))) return rc;
  if (!r->B.on && !r->K.on && !r->S.on)
    return fpk_error_set(err, FPK_EINVAL,
                         "%s: nothing to run: give at least one of the sections [bridge], "
                         "[kolmogorov], [ks_band] (with enabled = true if it has no other key)",
                         fpk_config_name(c));
  return FPK_SUCCESS;
}

/* ------------------------------------------------------------------------- [bridge] */

/* Paths p0 .. p0+nb-1 on the grid, x[i][k] (path-major, m+1 points): increment k of path p is
 * normal k of its stream, W(t_k) = √h S_k with S_k = Σ_{j<k} Z_j, and
 *   X(t_k) = a(1 − s_k) + b s_k + σ √h (S_k − s_k S_m),   s_k = k/m,
 * exactly a at k = 0 and b at k = m. z: 3⌈m/3⌉ rows of BRIDGE_BLOCK normals. */
static void bridge_paths(const bridge_part *B, uint64_t seed, size_t p0, size_t nb, double *z,
                         void *scratch, double *x) {
  const size_t m = B->m, n1 = m + 1, ld = BRIDGE_BLOCK;
  fpk_rng_block(seed, STREAM(PART_BRIDGE, p0), nb, 0, (m + 2) / 3, z, ld, scratch);
  for (size_t k = 1; k < m; k++) /* row k−1 becomes S_k */
    for (size_t i = 0; i < nb; i++) z[k * ld + i] += z[(k - 1) * ld + i];
  const double sq = B->sigma * sqrt(B->T / (double)m);
  for (size_t i = 0; i < nb; i++) {
    const double SM = z[(m - 1) * ld + i];
    double *xi = x + i * n1;
    xi[0] = B->a;
    for (size_t k = 1; k < m; k++) {
      const double s = (double)k / (double)m;
      xi[k] = B->a * (1.0 - s) + B->b * s + sq * (z[(k - 1) * ld + i] - s * SM);
    }
    xi[m] = B->b;
  }
}

/* Block mean and centred co-moment (upper triangle of C[k][l], l >= k) of nb paths x[i][k],
 * summed in path order; x is centred in place. part: n1 means, then n1 × n1. */
static void block_moments(size_t nb, size_t n1, double *x, double *part) {
  double *mean = part, *C = part + n1;
  memset(part, 0, (n1 + n1 * n1) * sizeof(double));
  for (size_t i = 0; i < nb; i++)
    for (size_t k = 0; k < n1; k++) mean[k] += x[i * n1 + k];
  for (size_t k = 0; k < n1; k++) mean[k] /= (double)nb;
  for (size_t i = 0; i < nb; i++)
    for (size_t k = 0; k < n1; k++) x[i * n1 + k] -= mean[k];
  for (size_t i = 0; i < nb; i++) {
    const double *d = x + i * n1;
    for (size_t k = 0; k < n1; k++) {
      const double dk = d[k];
      double *Ck = C + k * n1;
      for (size_t l = k; l < n1; l++) Ck[l] += dk * d[l];
    }
  }
}

static int run_bridge(bridge_part *B, uint64_t seed, int nthreads, fpk_error *err) {
  const size_t m = B->m, n1 = m + 1, N = B->N, nstat = n1 + n1 * n1;
  const size_t nblocks = (N + BRIDGE_BLOCK - 1) / BRIDGE_BLOCK;
  /* Blocks per reduction round: their partials are stored, then merged in block order (at most
   * 2^22 doubles, 32 MiB). The round size does not change any result. */
  size_t R = ((size_t)1 << 22) / nstat;
  R = R < 1 ? 1 : (R > nblocks ? nblocks : R);
  double *part = malloc(R * nstat * sizeof(double));
  double *tot = calloc(nstat, sizeof(double));
  B->t = malloc(n1 * sizeof(double));
  B->mean = malloc(n1 * sizeof(double));
  B->cov = malloc(n1 * n1 * sizeof(double));
  B->exact_mean = malloc(n1 * sizeof(double));
  B->exact_cov = malloc(n1 * n1 * sizeof(double));
  B->z_mean = malloc(n1 * sizeof(double));
  B->z_cov = malloc(n1 * n1 * sizeof(double));
  B->paths = B->keep ? malloc(B->keep * n1 * sizeof(double)) : NULL;
  if (!part || !tot || !B->t || !B->mean || !B->cov || !B->exact_mean || !B->exact_cov ||
      !B->z_mean || !B->z_cov || (B->keep && !B->paths)) {
    free(part), free(tot);
    return fpk_error_set(err, FPK_ENOMEM, "[bridge]: out of memory (%zu steps)", m);
  }
  const size_t zrows = (m + 2) / 3 * 3;
  int failed = 0;
  size_t n_done = 0;
#pragma omp parallel num_threads(nthreads)
  {
    double *z = alloc64(zrows * BRIDGE_BLOCK * sizeof(double));
    double *x = alloc64(BRIDGE_BLOCK * n1 * sizeof(double));
    void *scratch = alloc64(FPK_RNG_SCRATCH(BRIDGE_BLOCK));
    if (!z || !x || !scratch) {
#pragma omp atomic write
      failed = 1;
    }
#pragma omp barrier
    for (size_t b0 = 0; b0 < nblocks; b0 += R) {
      const size_t b1 = b0 + R < nblocks ? b0 + R : nblocks;
#pragma omp for schedule(dynamic, 1)
      for (size_t b = b0; b < b1; b++) {
        int f;
#pragma omp atomic read
        f = failed;
        if (f) continue;
        const size_t p0 = b * BRIDGE_BLOCK, nb = N - p0 < BRIDGE_BLOCK ? N - p0 : BRIDGE_BLOCK;
        bridge_paths(B, seed, p0, nb, z, scratch, x);
        for (size_t i = 0; i < nb && p0 + i < B->keep; i++)
          memcpy(B->paths + (p0 + i) * n1, x + i * n1, n1 * sizeof(double));
        block_moments(nb, n1, x, part + (b - b0) * nstat);
        part_tick(nb);
      }
#pragma omp single
      if (!failed) {
        /* Chan, Golub & LeVeque's pairwise update, block by block in block order:
         *   n = nA + nB, δ = mB − mA, m = mA + δ nB/n, C = CA + CB + δδᵀ nA nB/n. */
        for (size_t b = b0; b < b1; b++) {
          const double *pb = part + (b - b0) * nstat;
          const size_t nB = N - b * BRIDGE_BLOCK < BRIDGE_BLOCK ? N - b * BRIDGE_BLOCK
                                                                 : BRIDGE_BLOCK;
          const size_t nA = n_done, n = nA + nB;
          if (nA == 0) {
            memcpy(tot, pb, nstat * sizeof(double));
          } else {
            double *delta = x; /* this thread's path buffer is free here */
            for (size_t k = 0; k < n1; k++) {
              delta[k] = pb[k] - tot[k];
              tot[k] += delta[k] * ((double)nB / (double)n);
            }
            const double w = (double)nA * (double)nB / (double)n;
            for (size_t k = 0; k < n1; k++)
              for (size_t l = k; l < n1; l++)
                tot[n1 + k * n1 + l] += pb[n1 + k * n1 + l] + delta[k] * delta[l] * w;
          }
          n_done = n;
        }
      }
    }
    free(z), free(x), free(scratch);
  }
  free(part);
  if (failed) {
    free(tot);
    return fpk_error_set(err, FPK_ENOMEM, "[bridge]: out of memory (thread workspaces)");
  }
  /* Exact law (closed-forms.md) and z-scores. The standard error of a sample mean is
   * √(Σ_kk/N); that of the unbiased sample covariance of Gaussian data is
   * √((Σ_kk Σ_ll + Σ_kl²)/(N − 1)) (the Wishart variance, e.g. Anderson, "An Introduction to
   * Multivariate Statistical Analysis", 3rd ed., 2003, §7.3), both from the exact Σ. Only the
   * interior times have a random value: X(0) = a and X(T) = b exactly. */
  const double s2 = B->sigma * B->sigma;
  for (size_t k = 0; k < n1; k++) {
    const double s = (double)k / (double)m;
    B->t[k] = B->T * s;
    B->exact_mean[k] = B->a * (1.0 - s) + B->b * s;
    B->mean[k] = tot[k];
  }
  B->max_z_mean = B->max_z_cov = 0.0;
  B->end_error = 0.0;
  for (size_t k = 0; k < n1; k++)
    for (size_t l = 0; l < n1; l++) {
      const size_t lo = k < l ? k : l, hi = k < l ? l : k;
      const double ti = B->t[lo], tj = B->t[hi];
      B->exact_cov[k * n1 + l] = s2 * ti * (B->T - tj) / B->T;
      B->cov[k * n1 + l] = tot[n1 + lo * n1 + hi] / (double)(N - 1);
    }
  for (size_t k = 0; k < n1; k++) {
    const int interior = k > 0 && k < m;
    const double vk = B->exact_cov[k * n1 + k];
    B->z_mean[k] = interior ? (B->mean[k] - B->exact_mean[k]) / sqrt(vk / (double)N) : NAN;
    if (interior)
      B->max_z_mean = fmax(B->max_z_mean, fabs(B->z_mean[k]));
    else
      B->end_error = fmax(B->end_error, fmax(fabs(B->mean[k] - B->exact_mean[k]),
                                             fabs(B->cov[k * n1 + k])));
    for (size_t l = 0; l < n1; l++) {
      double *zc = &B->z_cov[k * n1 + l];
      if (!interior || l == 0 || l == m) {
        *zc = NAN;
        continue;
      }
      const double vl = B->exact_cov[l * n1 + l], c = B->exact_cov[k * n1 + l];
      *zc = (B->cov[k * n1 + l] - c) / sqrt((vk * vl + c * c) / (double)(N - 1));
      B->max_z_cov = fmax(B->max_z_cov, fabs(*zc));
    }
  }
  free(tot);
  return FPK_SUCCESS;
}

/* [bridge] em = true: Euler–Maruyama on the bridge SDE dX = (b − X)/(T − t) dt + σ dW
 * (fpk_model_bridge_alloc) from X_0 = a with the grid's step h = T/m, by fpk_mc_run (its own
 * streams: path p of the ensemble engine). Its chain X_{k+1} = X_k (m−k−1)/(m−k) + b/(m−k) +
 * σ√h Z_k keeps the exact mean a(1 − k/m) + b k/m, but its variance obeys
 * V_{k+1} = V_k ((m−k−1)/(m−k))² + σ²h; with u_k = V_k/(m−k)², u_{k+1} = u_k + σ²h/(m−k−1)², so
 *   V_k = σ²h (m−k)² Σ_{j=m−k}^{m−1} 1/j²   (k < m),   V_m = σ²h,
 * against the bridge's σ²h k(m−k)/m = σ²h (m−k)² Σ_{j=m−k}^{m−1} 1/(j(j+1)) (telescoping). The
 * bias σ²h (m−k)² Σ 1/(j²(j+1)) ≈ (σ²h/2)(t/T)(2 − t/T) (Σ_{j>=J} j⁻³ ≈ 1/(2J²)) is the O(h)
 * covariance error of the scheme, 3/8 σ²h at T/2; in the last steps, where the drift is stiff, it
 * is O(1) relative to the variance (σ²h(π²/6 − 1) at T − h, σ²h at T). The sample moments are
 * compared with the chain's (z-scores with the Gaussian standard errors √(V_k/N) for the mean,
 * V_k √(2/(N − 1)) for the variance). */
static int run_bridge_em(bridge_part *B, uint64_t seed, int nthreads, const fpk_comm *comm,
                         fpk_error *err) {
  const size_t m = B->m, n1 = m + 1;
  const double h = B->T / (double)m, s2h = B->sigma * B->sigma * h;
  fpk_model *model = fpk_model_bridge_alloc(1, &B->a, &B->b, B->T, &B->sigma, err);
  if (!model) return fpk_error_prefix(err, "[bridge] em: ");
  /* The histogram is not used; a box of ±8 standard deviations keeps `outside` near 0. */
  const double sd = B->sigma * sqrt(B->T) / 2.0, lo = fmin(B->a, B->b) - 8.0 * sd,
               hi = fmax(B->a, B->b) + 8.0 * sd;
  const size_t cells = 64;
  fpk_grid grid;
  fpk_gaussian init;
  memset(&init, 0, sizeof init);
  init.dim = 1;
  init.mean[0] = B->a; /* a point start: zero covariance */
  fpk_mc_params mp = {.stepper = fpk_sde_euler_maruyama, .npaths = B->N, .dt = h, .seed = seed,
                      .keep_paths = 0, .nthreads = nthreads,
                      .progress = part_bar ? fpk_app_progress_cb : NULL,
                      .progress_user = part_bar,
                      .comm = comm}; /* the one part split over MPI processes */
  fpk_mc_result res;
  memset(&res, 0, sizeof res);
  int rc = fpk_grid_init(&grid, 1, &cells, &lo, &hi, NULL, err);
  if (!rc) rc = fpk_mc_run(model, &init, &grid, B->t, n1, &mp, &res, err);
  if (rc) fpk_error_prefix(err, "[bridge] em: ");
  fpk_model_free(model);
  if (rc) {
    fpk_mc_result_free(&res);
    return rc;
  }
  B->em_mean = malloc(n1 * sizeof(double));
  B->em_var = malloc(n1 * sizeof(double));
  B->em_var_exact = malloc(n1 * sizeof(double));
  if (!B->em_mean || !B->em_var || !B->em_var_exact) {
    fpk_mc_result_free(&res);
    return fpk_error_set(err, FPK_ENOMEM, "[bridge] em: out of memory");
  }
  B->em_max_z = 0.0;
  for (size_t k = 0; k < n1; k++) {
    double v = 0.0;
    if (k == m) {
      v = s2h;
    } else {
      for (size_t j = m - 1; j >= m - k && j > 0; j--) v += 1.0 / ((double)j * (double)j);
      v *= s2h * (double)((m - k) * (m - k));
    }
    B->em_var_exact[k] = v;
    B->em_mean[k] = res.mean[k];
    B->em_var[k] = res.cov[k];
    if (k > 0) {
      const double zm = (B->em_mean[k] - B->exact_mean[k]) / sqrt(v / (double)B->N);
      const double zv = (B->em_var[k] - v) / (v * sqrt(2.0 / (double)(B->N - 1)));
      B->em_max_z = fmax(B->em_max_z, fmax(fabs(zm), fabs(zv)));
    }
  }
  /* the O(h) bias in units of σ²h at the middle of the interval (→ 3/8 as m grows) */
  B->em_bias_mid = (B->em_var_exact[m / 2] - B->exact_cov[(m / 2) * n1 + m / 2]) / s2h;
  fpk_mc_result_free(&res);
  return FPK_SUCCESS;
}

/* ------------------------------------------------------------------------- [kolmogorov] */

/* Discrete maxima of nb standard bridges (paths p0 ..) on every level: the finest grid has M
 * steps, W(k/M) = S_k/√M from the stream's normals, B⁰(k/M) = (S_k − (k/M) S_M)/√M; level j
 * (m_j | M) looks at k = r M/m_j, r = 1 .. m_j − 1 (B⁰ = 0 at both ends). out[j*N + p]. */
static void kolmo_paths(const kolmo_part *K, uint64_t seed, size_t p0, size_t nb, double *z,
                        void *scratch, double *mx) {
  const size_t M = K->levels[K->L - 1], ld = KOLMO_BLOCK, N = K->N;
  fpk_rng_block(seed, STREAM(PART_KOLMOGOROV, p0), nb, 0, (M + 2) / 3, z, ld, scratch);
  for (size_t k = 1; k < M; k++)
    for (size_t i = 0; i < nb; i++) z[k * ld + i] += z[(k - 1) * ld + i];
  const double *SM = z + (M - 1) * ld, rh = sqrt(1.0 / (double)M);
  for (size_t j = 0; j < K->L; j++) {
    const size_t mj = K->levels[j], s = M / mj;
    for (size_t i = 0; i < nb; i++) mx[i] = 0.0;
    for (size_t r = 1; r < mj; r++) {
      const double u = (double)r / (double)mj;
      const double *row = z + (r * s - 1) * ld;
      for (size_t i = 0; i < nb; i++) {
        const double v = fabs(row[i] - u * SM[i]);
        mx[i] = v > mx[i] ? v : mx[i];
      }
    }
    for (size_t i = 0; i < nb; i++) K->maxima[j * N + p0 + i] = rh * mx[i];
  }
}

static int run_kolmogorov(kolmo_part *K, uint64_t seed, int nthreads, fpk_error *err) {
  const size_t N = K->N, L = K->L, M = K->levels[L - 1];
  const size_t nblocks = (N + KOLMO_BLOCK - 1) / KOLMO_BLOCK, zrows = (M + 2) / 3 * 3;
  if (!(K->maxima = malloc(L * N * sizeof(double))))
    return fpk_error_set(err, FPK_ENOMEM, "[kolmogorov]: out of memory (%zu paths)", N);
  int failed = 0;
#pragma omp parallel num_threads(nthreads)
  {
    double *z = alloc64(zrows * KOLMO_BLOCK * sizeof(double));
    double *mx = alloc64(KOLMO_BLOCK * sizeof(double));
    void *scratch = alloc64(FPK_RNG_SCRATCH(KOLMO_BLOCK));
    if (!z || !mx || !scratch) {
#pragma omp atomic write
      failed = 1;
    }
#pragma omp barrier
#pragma omp for schedule(dynamic, 8)
    for (size_t b = 0; b < nblocks; b++) {
      int f;
#pragma omp atomic read
      f = failed;
      if (f) continue;
      const size_t p0 = b * KOLMO_BLOCK, nb = N - p0 < KOLMO_BLOCK ? N - p0 : KOLMO_BLOCK;
      kolmo_paths(K, seed, p0, nb, z, scratch, mx);
      part_tick(nb);
    }
    free(z), free(mx), free(scratch);
  }
  if (failed) return fpk_error_set(err, FPK_ENOMEM, "[kolmogorov]: out of memory (workspaces)");

  /* The discrete maximum misses the excursions between grid points: E max_k |B⁰(t_k)| ≈
   * E sup|B⁰| − β√h, and max + β√h has the continuous law up to o(√h) (Broadie, Glasserman &
   * Kou 1997; Asmussen, Glynn & Pitman 1995). An exact sample of N lies at an expected KS
   * distance ≈ E sup|B⁰|/√N from its own law (Donsker 1952: √N D_N → sup|B⁰| in law, with
   * uniformly bounded moments): the floor against which the distances are read. */
  K->floor = FPK_KOLMOGOROV_MEAN / sqrt((double)N);
  for (size_t j = 0; j < L; j++) {
    double *x = K->maxima + j * N, sum = 0.0;
    const double c = FPK_BGK_BETA * sqrt(1.0 / (double)K->levels[j]);
    for (size_t p = 0; p < N; p++) sum += x[p];
    qsort(x, N, sizeof *x, cmp_double);
    K->mean_raw[j] = sum / (double)N;
    K->mean_cor[j] = K->mean_raw[j] + c;
    K->ks_raw[j] = fpk_kolmogorov_ks_distance(x, N, 1.0, 0.0);
    K->ks_cor[j] = fpk_kolmogorov_ks_distance(x, N, 1.0, c);
  }
  /* Quantiles on the headline grid, with the asymptotic standard error of a sample quantile,
   * √(p(1 − p)/N)/f(q) (e.g. Serfling, "Approximation Theorems of Mathematical Statistics",
   * 1980, §2.3.3). */
  const double *x = K->maxima + K->head * N;
  const double c = FPK_BGK_BETA * sqrt(1.0 / (double)K->m);
  for (size_t i = 0; i < K->nq; i++) {
    const double p = K->qp[i];
    K->q_exact[i] = fpk_kolmogorov_quantile(p);
    K->q_raw[i] = fpk_sorted_quantile(x, N, p);
    K->q_cor[i] = K->q_raw[i] + c;
    K->q_se[i] = sqrt(p * (1.0 - p) / (double)N) / fpk_kolmogorov_pdf(K->q_exact[i]);
  }
  return FPK_SUCCESS;
}

/* ------------------------------------------------------------------------- [ks_band] */

static int run_band(band_part *S, uint64_t seed, int nthreads, fpk_error *err) {
  const size_t R = S->R, J = S->J, nmax = S->sizes[J - 1], n = S->n;
  S->d = malloc(J * R * sizeof(double));
  S->sqrt_n_d = malloc(R * sizeof(double));
  S->sample_x = S->keep ? malloc(S->keep * n * sizeof(double)) : NULL;
  S->sample_u = S->keep ? malloc(S->keep * n * sizeof(double)) : NULL;
  if (!S->d || !S->sqrt_n_d || (S->keep && (!S->sample_x || !S->sample_u)))
    return fpk_error_set(err, FPK_ENOMEM, "[ks_band]: out of memory (%zu repetitions)", R);
  int failed = 0;
#pragma omp parallel num_threads(nthreads)
  {
    double *z = malloc(nmax * sizeof(double)), *u = malloc(nmax * sizeof(double));
    double *v = malloc(nmax * sizeof(double));
    if (!z || !u || !v) {
#pragma omp atomic write
      failed = 1;
    }
#pragma omp barrier
#pragma omp for schedule(dynamic, 16)
    for (size_t r = 0; r < R; r++) {
      int f;
#pragma omp atomic read
      f = failed;
      if (f) continue;
      /* Repetition r: the first n_j normals of its stream are its sample of size n_j (nested
       * samples across the ladder). D_n = max_i max(i/n − u_(i), u_(i) − (i−1)/n) with
       * u = Φ(x) (sorting u sorts x: Φ is increasing). */
      fpk_rng_normals(seed, STREAM(PART_KS_BAND, r), 0, nmax, z);
      for (size_t i = 0; i < nmax; i++) u[i] = gsl_cdf_ugaussian_P(z[i]);
      for (size_t j = 0; j < J; j++) {
        const size_t nj = S->sizes[j];
        memcpy(v, u, nj * sizeof(double));
        qsort(v, nj, sizeof *v, cmp_double);
        double d = 0.0;
        for (size_t i = 0; i < nj; i++)
          d = fmax(d, fmax((double)(i + 1) / (double)nj - v[i], v[i] - (double)i / (double)nj));
        S->d[j * R + r] = d;
        if (j == S->head && r < S->keep) {
          memcpy(S->sample_u + r * n, v, n * sizeof(double));
          double *xs = S->sample_x + r * n;
          memcpy(xs, z, n * sizeof(double));
          qsort(xs, n, sizeof *xs, cmp_double);
        }
      }
      part_tick(1);
    }
    free(z), free(u), free(v);
  }
  if (failed) return fpk_error_set(err, FPK_ENOMEM, "[ks_band]: out of memory (workspaces)");

  /* The band F_n ± k/√n covers F everywhere iff √n D_n <= k; k_α = K⁻¹(1 − α) makes that
   * asymptotically 1 − α (Donsker). For finite n, √n D_n is stochastically smaller than its
   * limit and the band over-covers (by 0.0014 at n = 1000, 0.016 at n = 10: exact law of D_n,
   * docs/bridge-donsker.md); Stephens' band F_n ± k_α/(√n + 0.12 + 0.11/√n) (M. A. Stephens,
   * "Use of the Kolmogorov–Smirnov, Cramér–von Mises and related statistics without extensive
   * tables", JRSS B 32(1), 1970) covers with 1 − α to within 1e-3 for n >= 5. */
  S->k_alpha = fpk_kolmogorov_isf(S->alpha);
  S->floor = FPK_KOLMOGOROV_MEAN / sqrt((double)R);
  double *sorted = malloc(R * sizeof(double));
  if (!sorted) return fpk_error_set(err, FPK_ENOMEM, "[ks_band]: out of memory");
  for (size_t j = 0; j < J; j++) {
    const double *d = S->d + j * R, rn = sqrt((double)S->sizes[j]);
    const double st = rn + STEPHENS_A + STEPHENS_B / rn;
    size_t in_a = 0, in_s = 0;
    double sum = 0.0;
    for (size_t r = 0; r < R; r++) {
      in_a += rn * d[r] <= S->k_alpha;
      in_s += st * d[r] <= S->k_alpha;
      sum += rn * d[r];
      if (j == S->head) S->sqrt_n_d[r] = rn * d[r];
    }
    S->cov_a[j] = (double)in_a / (double)R;
    S->cov_s[j] = (double)in_s / (double)R;
    S->se_a[j] = sqrt(S->cov_a[j] * (1.0 - S->cov_a[j]) / (double)R);
    S->se_s[j] = sqrt(S->cov_s[j] * (1.0 - S->cov_s[j]) / (double)R);
    S->mean_a[j] = sum / (double)R;
    memcpy(sorted, d, R * sizeof(double));
    qsort(sorted, R, sizeof *sorted, cmp_double);
    S->ks_a[j] = fpk_kolmogorov_ks_distance(sorted, R, rn, 0.0);
    S->ks_s[j] = fpk_kolmogorov_ks_distance(sorted, R, st, 0.0);
  }
  free(sorted);
  return FPK_SUCCESS;
}

/* ------------------------------------------------------------------------- output */

static int write_bridge(fpk_h5 *f, const bridge_part *B) {
  const size_t n1 = B->m + 1, d2[2] = {n1, n1}, pd[2] = {B->keep, n1};
  int rc = fpk_h5_group(f, "/bridge",
                        "Brownian bridge from a to b on [0, T], exact on the grid: sample "
                        "moments against the closed form");
  if (!rc) rc = fpk_h5_write(f, "/bridge/t", 1, &n1, B->t, "time", "grid times k T / steps");
  if (!rc) rc = fpk_h5_write(f, "/bridge/mean", 1, &n1, B->mean, "length", "sample mean");
  if (!rc) rc = fpk_h5_write(f, "/bridge/cov", 2, d2, B->cov, "length^2",
                             "sample covariance (divides by paths - 1), [s][t]");
  if (!rc) rc = fpk_h5_write(f, "/bridge/exact_mean", 1, &n1, B->exact_mean, "length",
                             "a + (b - a) t / T");
  if (!rc) rc = fpk_h5_write(f, "/bridge/exact_cov", 2, d2, B->exact_cov, "length^2",
                             "sigma^2 min(s,t) (T - max(s,t)) / T");
  if (!rc)
    rc = fpk_h5_write_undefined(f, "/bridge/z_mean", 1, &n1, B->z_mean, NULL,
                                "(mean - exact) / sqrt(exact var / paths); NaN at t = 0, T",
                                "t = 0 or T, where the exact variance is 0");
  if (!rc)
    rc = fpk_h5_write_undefined(f, "/bridge/z_cov", 2, d2, B->z_cov, NULL,
                                "(cov - exact) / sqrt((S_ss S_tt + S_st^2) / (paths - 1)); NaN "
                                "on the rows and columns of t = 0, T",
                                "t = 0 or T, where the exact variance is 0");
  if (!rc && B->keep)
    rc = fpk_h5_write(f, "/bridge/paths", 2, pd, B->paths, "length", "first paths, [path][k]");
  const char *g = "/bridge";
  if (!rc) rc = fpk_h5_attr_double(f, g, "a", B->a);
  if (!rc) rc = fpk_h5_attr_double(f, g, "b", B->b);
  if (!rc) rc = fpk_h5_attr_double(f, g, "T", B->T);
  if (!rc) rc = fpk_h5_attr_double(f, g, "sigma", B->sigma);
  if (!rc) rc = fpk_h5_attr_u64(f, g, "steps", B->m);
  if (!rc) rc = fpk_h5_attr_u64(f, g, "paths", B->N);
  if (!rc) rc = fpk_h5_attr_double(f, g, "max_abs_z_mean", B->max_z_mean);
  if (!rc) rc = fpk_h5_attr_double(f, g, "max_abs_z_cov", B->max_z_cov);
  if (!rc) rc = fpk_h5_attr_double(f, g, "endpoint_error", B->end_error);
  if (!rc) rc = fpk_h5_attr_double(f, g, "wall_seconds", B->wall);
  if (!rc && B->em) {
    rc = fpk_h5_write(f, "/bridge/em_mean", 1, &n1, B->em_mean, "length",
                      "Euler-Maruyama on dX = (b - X)/(T - t) dt + sigma dW: sample mean");
    if (!rc) rc = fpk_h5_write(f, "/bridge/em_var", 1, &n1, B->em_var, "length^2",
                               "Euler-Maruyama: sample variance");
    if (!rc) rc = fpk_h5_write(f, "/bridge/em_var_exact", 1, &n1, B->em_var_exact, "length^2",
                               "exact variance of the Euler-Maruyama chain, sigma^2 h (m-k)^2 "
                               "sum_{j=m-k}^{m-1} 1/j^2 (sigma^2 h at T)");
    if (!rc) rc = fpk_h5_attr_double(f, g, "em_max_abs_z", B->em_max_z);
    if (!rc) rc = fpk_h5_attr_double(f, g, "em_bias_mid_over_sigma2h", B->em_bias_mid);
    if (!rc) rc = fpk_h5_attr_double(f, g, "em_wall_seconds", B->em_wall);
  }
  /* Dimension scales (netCDF-4, xarray): the grid times t, a copy s for the first axis of the
   * covariances (an array cannot have two axes of one name there), the kept paths. */
  static const char *const dims[][2] = {
      {"mean", "t"},         {"cov", "s t"},   {"exact_mean", "t"}, {"exact_cov", "s t"},
      {"z_mean", "t"},       {"z_cov", "s t"}, {"paths", "path t"}, {"em_mean", "t"},
      {"em_var", "t"},       {"em_var_exact", "t"}};
  if (!rc) rc = fpk_h5_make_scale(f, "/bridge/t");
  if (!rc) rc = fpk_h5_write_scale(f, "/bridge/s", n1, B->t, "time",
                                   "grid times: the first axis of cov, exact_cov, z_cov");
  if (!rc && B->keep) rc = fpk_h5_index_dim(f, "/bridge/path", B->keep);
  for (size_t i = 0; !rc && i < sizeof dims / sizeof *dims; i++) {
    if ((!B->keep && !strcmp(dims[i][0], "paths")) || (!B->em && !strncmp(dims[i][0], "em_", 3)))
      continue;
    char name[64];
    snprintf(name, sizeof name, "/bridge/%s", dims[i][0]);
    rc = fpk_h5_attach_scales(f, name, dims[i][1]);
  }
  return rc;
}

static int write_kolmogorov(fpk_h5 *f, const kolmo_part *K) {
  const size_t L = K->L, Q = K->nq, N = K->N;
  double steps[MAXL], h[MAXL];
  for (size_t j = 0; j < L; j++) steps[j] = (double)K->levels[j], h[j] = 1.0 / steps[j];
  enum { G = 401 };
  double gx[G], gc[G], gp[G];
  for (size_t i = 0; i < G; i++) {
    gx[i] = 0.2 + 2.3 * (double)i / (double)(G - 1);
    gc[i] = fpk_kolmogorov_cdf(gx[i]);
    gp[i] = fpk_kolmogorov_pdf(gx[i]);
  }
  const size_t g = G;
  const char *grp = "/kolmogorov";
  int rc = fpk_h5_group(f, grp,
                        "sup |B0| of the standard Brownian bridge monitored on m grid points, raw "
                        "and continuity-corrected (+ beta sqrt(h)), against Kolmogorov's law");
  if (!rc) rc = fpk_h5_write(f, "/kolmogorov/steps", 1, &L, steps, NULL, "grid steps m per level");
  if (!rc) rc = fpk_h5_write(f, "/kolmogorov/h", 1, &L, h, "time", "1 / m");
  if (!rc) rc = fpk_h5_write(f, "/kolmogorov/ks_raw", 1, &L, K->ks_raw, NULL,
                             "KS distance sup|F_N - K| of the discrete maxima");
  if (!rc) rc = fpk_h5_write(f, "/kolmogorov/ks_corrected", 1, &L, K->ks_cor, NULL,
                             "KS distance of the maxima + beta sqrt(h)");
  if (!rc) rc = fpk_h5_write(f, "/kolmogorov/mean_raw", 1, &L, K->mean_raw, NULL,
                             "sample mean of the discrete maxima");
  if (!rc) rc = fpk_h5_write(f, "/kolmogorov/mean_corrected", 1, &L, K->mean_cor, NULL,
                             "mean_raw + beta sqrt(h)");
  if (!rc) rc = fpk_h5_write(f, "/kolmogorov/quantile_p", 1, &Q, K->qp, NULL, "probabilities");
  if (!rc) rc = fpk_h5_write(f, "/kolmogorov/quantile_exact", 1, &Q, K->q_exact, NULL,
                             "Kolmogorov quantiles K^-1(p)");
  if (!rc) rc = fpk_h5_write(f, "/kolmogorov/quantile_raw", 1, &Q, K->q_raw, NULL,
                             "order statistic x_(ceil(N p)) of the discrete maxima (headline m)");
  if (!rc) rc = fpk_h5_write(f, "/kolmogorov/quantile_corrected", 1, &Q, K->q_cor, NULL,
                             "quantile_raw + beta sqrt(h)");
  if (!rc) rc = fpk_h5_write(f, "/kolmogorov/quantile_se", 1, &Q, K->q_se, NULL,
                             "asymptotic standard error sqrt(p (1-p) / N) / K'(q)");
  if (!rc) rc = fpk_h5_write(f, "/kolmogorov/max_raw", 1, &N, K->maxima + K->head * N, NULL,
                             "discrete maxima on the headline grid, sorted");
  if (!rc) rc = fpk_h5_write(f, "/kolmogorov/x", 1, &g, gx, NULL, "abscissae of cdf and pdf");
  if (!rc) rc = fpk_h5_write(f, "/kolmogorov/cdf", 1, &g, gc, NULL, "Kolmogorov K(x)");
  if (!rc) rc = fpk_h5_write(f, "/kolmogorov/pdf", 1, &g, gp, NULL, "Kolmogorov density K'(x)");
  if (!rc) rc = fpk_h5_attr_u64(f, grp, "paths", N);
  if (!rc) rc = fpk_h5_attr_u64(f, grp, "steps", K->m);
  if (!rc) rc = fpk_h5_attr_double(f, grp, "beta", FPK_BGK_BETA);
  if (!rc) rc = fpk_h5_attr_double(f, grp, "floor", K->floor);
  if (!rc) rc = fpk_h5_attr_double(f, grp, "mean_exact", FPK_KOLMOGOROV_MEAN);
  if (!rc) rc = fpk_h5_attr_double(f, grp, "ks_raw", K->ks_raw[K->head]);
  if (!rc) rc = fpk_h5_attr_double(f, grp, "ks_corrected", K->ks_cor[K->head]);
  if (!rc) rc = fpk_h5_attr_double(f, grp, "wall_seconds", K->wall);
  /* Dimension scales (netCDF-4, xarray): the levels, the probabilities of the quantiles, the
   * paths, the abscissae of cdf and pdf. */
  static const char *const dims[][2] = {
      {"steps", "level"},          {"h", "level"},           {"ks_raw", "level"},
      {"ks_corrected", "level"},   {"mean_raw", "level"},    {"mean_corrected", "level"},
      {"quantile_exact", "quantile_p"}, {"quantile_raw", "quantile_p"},
      {"quantile_corrected", "quantile_p"}, {"quantile_se", "quantile_p"},
      {"max_raw", "path"},         {"cdf", "x"},             {"pdf", "x"}};
  if (!rc) rc = fpk_h5_index_dim(f, "/kolmogorov/level", L);
  if (!rc) rc = fpk_h5_index_dim(f, "/kolmogorov/path", N);
  if (!rc) rc = fpk_h5_make_scale(f, "/kolmogorov/quantile_p");
  if (!rc) rc = fpk_h5_make_scale(f, "/kolmogorov/x");
  for (size_t i = 0; !rc && i < sizeof dims / sizeof *dims; i++) {
    char name[64];
    snprintf(name, sizeof name, "/kolmogorov/%s", dims[i][0]);
    rc = fpk_h5_attach_scales(f, name, dims[i][1]);
  }
  return rc;
}

static int write_band(fpk_h5 *f, const band_part *S) {
  const size_t J = S->J, R = S->R, pd[2] = {S->keep, S->n};
  double sizes[MAXL];
  for (size_t j = 0; j < J; j++) sizes[j] = (double)S->sizes[j];
  const char *g = "/ks_band";
  int rc = fpk_h5_group(f, g,
                        "Donsker: sqrt(n) sup|F_n - Phi| for standard normal samples against "
                        "Kolmogorov's law, and the coverage of the KS band");
  if (!rc) rc = fpk_h5_write(f, "/ks_band/n", 1, &J, sizes, NULL, "sample sizes");
  if (!rc) rc = fpk_h5_write(f, "/ks_band/coverage_asymptotic", 1, &J, S->cov_a, NULL,
                             "fraction of repetitions with sqrt(n) D_n <= k_alpha");
  if (!rc) rc = fpk_h5_write(f, "/ks_band/coverage_stephens", 1, &J, S->cov_s, NULL,
                             "fraction with D_n (sqrt(n) + 0.12 + 0.11/sqrt(n)) <= k_alpha");
  if (!rc) rc = fpk_h5_write(f, "/ks_band/se_asymptotic", 1, &J, S->se_a, NULL,
                             "sqrt(c (1 - c) / R)");
  if (!rc) rc = fpk_h5_write(f, "/ks_band/se_stephens", 1, &J, S->se_s, NULL,
                             "sqrt(c (1 - c) / R)");
  if (!rc) rc = fpk_h5_write(f, "/ks_band/mean_sqrt_n_d", 1, &J, S->mean_a, NULL,
                             "sample mean of sqrt(n) D_n (limit sqrt(pi/2) ln 2)");
  if (!rc) rc = fpk_h5_write(f, "/ks_band/ks_asymptotic", 1, &J, S->ks_a, NULL,
                             "KS distance between the law of sqrt(n) D_n over the "
                             "repetitions and K");
  if (!rc) rc = fpk_h5_write(f, "/ks_band/ks_stephens", 1, &J, S->ks_s, NULL,
                             "the same for D_n (sqrt(n) + 0.12 + 0.11/sqrt(n))");
  if (!rc) rc = fpk_h5_write(f, "/ks_band/sqrt_n_d", 1, &R, S->sqrt_n_d, NULL,
                             "sqrt(n) D_n of every repetition at the headline n");
  if (!rc && S->keep)
    rc = fpk_h5_write(f, "/ks_band/sample_x", 2, pd, S->sample_x, NULL,
                      "sorted samples of the first repetitions, [repetition][i]");
  if (!rc && S->keep)
    rc = fpk_h5_write(f, "/ks_band/sample_u", 2, pd, S->sample_u, NULL,
                      "Phi(sample_x): the empirical process is sqrt(n)(i/n - u_(i)) at the jumps");
  if (!rc) rc = fpk_h5_attr_u64(f, g, "n", S->n);
  if (!rc) rc = fpk_h5_attr_u64(f, g, "repetitions", R);
  if (!rc) rc = fpk_h5_attr_double(f, g, "alpha", S->alpha);
  if (!rc) rc = fpk_h5_attr_double(f, g, "k_alpha", S->k_alpha);
  if (!rc) rc = fpk_h5_attr_double(f, g, "floor", S->floor);
  if (!rc) rc = fpk_h5_attr_double(f, g, "coverage_asymptotic", S->cov_a[S->head]);
  if (!rc) rc = fpk_h5_attr_double(f, g, "coverage_stephens", S->cov_s[S->head]);
  if (!rc) rc = fpk_h5_attr_double(f, g, "wall_seconds", S->wall);
  /* Dimension scales (netCDF-4, xarray): the sample sizes n, the repetitions, the kept samples. */
  static const char *const dims[][2] = {
      {"coverage_asymptotic", "n"}, {"coverage_stephens", "n"}, {"se_asymptotic", "n"},
      {"se_stephens", "n"},         {"mean_sqrt_n_d", "n"},     {"ks_asymptotic", "n"},
      {"ks_stephens", "n"},         {"sqrt_n_d", "repetition"},
      {"sample_x", "kept_repetition sample"}, {"sample_u", "kept_repetition sample"}};
  if (!rc) rc = fpk_h5_make_scale(f, "/ks_band/n");
  if (!rc) rc = fpk_h5_index_dim(f, "/ks_band/repetition", R);
  if (!rc && S->keep) rc = fpk_h5_index_dim(f, "/ks_band/kept_repetition", S->keep);
  if (!rc && S->keep) rc = fpk_h5_index_dim(f, "/ks_band/sample", S->n);
  for (size_t i = 0; !rc && i < sizeof dims / sizeof *dims; i++) {
    if (!S->keep && !strncmp(dims[i][0], "sample_", 7)) continue;
    char name[64];
    snprintf(name, sizeof name, "/ks_band/%s", dims[i][0]);
    rc = fpk_h5_attach_scales(f, name, dims[i][1]);
  }
  return rc;
}

static void print_summary(const bridge_run *r) {
  if (r->B.on) {
    const bridge_part *B = &r->B;
    const size_t nin = B->m - 1;
    printf("bridge      a = %g -> b = %g on [0, %g], sigma = %g, %zu steps, %zu paths (%.2f s)\n",
           B->a, B->b, B->T, B->sigma, B->m, B->N, B->wall);
    printf("            max |z|: mean %.2f (%zu times), covariance %.2f (%zu entries); "
           "endpoints off by %.1e\n",
           B->max_z_mean, nin, B->max_z_cov, nin * (nin + 1) / 2, B->end_error);
    if (B->em) {
      const size_t mid = B->m / 2, n1 = B->m + 1;
      printf("            Euler-Maruyama on the SDE: Var at t = %g: %.5f (chain exact %.5f, "
             "bridge %.5f; bias %.3f sigma^2 h); max |z| of mean, var vs chain %.2f\n",
             B->t[mid], B->em_var[mid], B->em_var_exact[mid], B->exact_cov[mid * n1 + mid],
             B->em_bias_mid, B->em_max_z);
    }
  }
  if (r->K.on) {
    const kolmo_part *K = &r->K;
    printf("kolmogorov  %zu bridges; KS floor E sup|B0|/sqrt(N) = %.3e; beta = %.4f (%.2f s)\n",
           K->N, K->floor, FPK_BGK_BETA, K->wall);
    printf("%10s %12s %8s %12s %8s %10s %10s   (exact mean %.5f)\n", "steps", "KS raw",
           "/floor", "KS corr", "/floor", "mean raw", "mean corr", FPK_KOLMOGOROV_MEAN);
    for (size_t j = 0; j < K->L; j++)
      printf("%10zu %12.3e %8.2f %12.3e %8.2f %10.5f %10.5f%s\n", K->levels[j], K->ks_raw[j],
             K->ks_raw[j] / K->floor, K->ks_cor[j], K->ks_cor[j] / K->floor, K->mean_raw[j],
             K->mean_cor[j], j == K->head ? "   <- headline" : "");
    printf("%10s %10s %10s %10s %10s %8s %8s   (m = %zu)\n", "p", "exact", "raw", "corrected",
           "SE", "z raw", "z corr", K->m);
    for (size_t i = 0; i < K->nq; i++)
      printf("%10.4g %10.5f %10.5f %10.5f %10.5f %8.2f %8.2f\n", K->qp[i], K->q_exact[i],
             K->q_raw[i], K->q_cor[i], K->q_se[i], (K->q_raw[i] - K->q_exact[i]) / K->q_se[i],
             (K->q_cor[i] - K->q_exact[i]) / K->q_se[i]);
  }
  if (r->S.on) {
    const band_part *S = &r->S;
    printf("ks_band     %zu repetitions, alpha = %g, k_alpha = %.5f; KS floor %.3e (%.2f s)\n",
           S->R, S->alpha, S->k_alpha, S->floor, S->wall);
    printf("%10s %20s %20s %12s %10s %10s\n", "n", "coverage asymptotic", "coverage Stephens",
           "mean rn*D", "KS asym", "KS Steph");
    for (size_t j = 0; j < S->J; j++)
      printf("%10zu %11.4f +- %.4f %11.4f +- %.4f %12.5f %10.3e %10.3e%s\n", S->sizes[j],
             S->cov_a[j], S->se_a[j], S->cov_s[j], S->se_s[j], S->mean_a[j], S->ks_a[j],
             S->ks_s[j], j == S->head ? "   <- headline" : "");
  }
}

/* ------------------------------------------------------------------------- driver */

static void release(bridge_run *r) {
  bridge_part *B = &r->B;
  free(B->t), free(B->mean), free(B->cov), free(B->exact_mean), free(B->exact_cov);
  free(B->z_mean), free(B->z_cov), free(B->paths);
  free(B->em_mean), free(B->em_var), free(B->em_var_exact);
  free(r->K.maxima);
  free(r->S.d), free(r->S.sqrt_n_d), free(r->S.sample_x), free(r->S.sample_u);
  fpk_config_free(r->cfg);
}

static int execute(bridge_run *r, const fpk_run_options *opt, fpk_error *err) {
  char created[64];
  time_t now = time(NULL);
  strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
  /* Create the output first: an unwritable path fails before any computation. */
  fpk_h5 *f = fpk_app_create_output(opt, r->output, NULL, 0, err);
  if (!f) return err->status;
  const int nth = opt->threads > 0 ? opt->threads : omp_get_max_threads();
  int rc = FPK_SUCCESS;
  fpk_app_progress bar;
#define PART_START(name, unit, total)                                      \
  (fpk_app_progress_start(&bar, opt->progress, name, unit, total, 0),    \
   part_bar = fpk_app_progress_on(&bar) ? &bar : NULL, part_done = 0, omp_get_wtime())
/* the end line counts what was done: every unit when the part succeeded (thread 0 draws only
 * the counts it saw, which may stop short of the total), else the units finished */
#define PART_END()                                                                    \
  (fpk_app_progress_update(&bar, rc ? part_done : bar.total), fpk_app_progress_end(&bar), \
   part_bar = NULL)
  double t0;
  if (r->B.on) {
    t0 = PART_START("bridge", "paths", r->B.N);
    if (!(rc = run_bridge(&r->B, r->seed, nth, err))) r->B.wall = omp_get_wtime() - t0;
    PART_END();
  }
  if (!rc && r->B.on && r->B.em) {
    t0 = PART_START("bridge em", "paths", r->B.N);
    if (!(rc = run_bridge_em(&r->B, r->seed, nth, opt->comm, err)))
      r->B.em_wall = omp_get_wtime() - t0;
    PART_END();
  }
  if (!rc && r->K.on) {
    t0 = PART_START("kolmogorov", "paths", r->K.N);
    if (!(rc = run_kolmogorov(&r->K, r->seed, nth, err))) r->K.wall = omp_get_wtime() - t0;
    PART_END();
  }
  if (!rc && r->S.on) {
    t0 = PART_START("ks_band", "repetitions", r->S.R);
    if (!(rc = run_band(&r->S, r->seed, nth, err))) r->S.wall = omp_get_wtime() - t0;
    PART_END();
  }
#undef PART_START
#undef PART_END
  if (!rc) {
    if (fpk_app_write_root(f, opt, fpk_config_resolved(r->cfg), "bridge", created) ||
        fpk_h5_attr_u64(f, "/", "seed", r->seed) ||
        (r->B.on && write_bridge(f, &r->B)) || (r->K.on && write_kolmogorov(f, &r->K)) ||
        (r->S.on && write_band(f, &r->S)) || fpk_app_commit_output(f, opt))
      rc = fpk_error_set(err, FPK_EIO, "%s", fpk_h5_errmsg(f));
  }
  fpk_h5_close(f); /* removes the temporary file unless committed */
  if (!rc && !opt->quiet) {
    print_summary(r);
    printf("wrote %s\n", r->output);
  }
  return rc;
}

int fpk_app_bridge(const fpk_run_options *opt, fpk_error *err) {
  bridge_run r;
  memset(&r, 0, sizeof r);
  char default_out[1024];
  if (opt->threads > 0) omp_set_num_threads(opt->threads);
  r.cfg = fpk_app_load_config(opt, "bridge", err);
  int rc = r.cfg ? FPK_SUCCESS : err->status;
  if (!rc) rc = read_config(r.cfg, opt, &r, default_out, sizeof default_out, err);
  /* several processes split the em part's path blocks: they must go round (before any work) */
  if (!rc && r.B.on && r.B.em && fpk_mc_check_ranks(r.B.N, opt->comm, err))
    rc = fpk_error_prefix(err, "[bridge] paths: ");
  if (!rc) fpk_app_log_text(FPK_LOG_DEBUG, "config", fpk_config_resolved(r.cfg));
  if (!rc) rc = execute(&r, opt, err);
  release(&r);
  return rc;
}
