/* Sample metrics for the samplers of fpkit/diffusion.h: histogram TV and KL on a grid, mixture
 * mode weights with binomial standard errors, energy distance (Székely & Rizzo, "Energy
 * statistics", J. Stat. Plann. Inference 143 (2013) 1249), sliced W2 (Rabin et al. 2011;
 * Bonneel et al. 2015) and the 1D KS distance to a Gaussian-mixture CDF. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/linalg.h"
#include "fpkit/diffusion.h"
#include "fpkit/sde.h"

/* The weights of a mixture passed as arrays: positive, summing to 1 within 1e-9 (as fpk_gmm_alloc
 * asks to 1e-12; an improper mixture gave a KS against a CDF above 1 with success); and the
 * points finite (a NaN point gave a KS of 0.558 with success). */
static int check_mixture_and_points(const char *fn, size_t K, const double *w, size_t np,
                                    const double *x, fpk_error *err) {
  double sw = 0;
  for (size_t k = 0; k < K; k++) {
    if (!(w[k] > 0) || !isfinite(w[k]))
      return fpk_error_set(err, FPK_EINVAL, "%s: weight %zu = %g must be positive", fn, k + 1,
                           w[k]);
    sw += w[k];
  }
  if (K && !(fabs(sw - 1) <= 1e-9))
    return fpk_error_set(err, FPK_EINVAL, "%s: the weights sum to %.17g, off 1 by %.3g (> 1e-9)",
                         fn, sw, sw - 1);
  for (size_t i = 0; i < np; i++)
    if (!isfinite(x[i]))
      return fpk_error_set(err, FPK_EINVAL, "%s: point entry %zu = %g is not finite", fn, i, x[i]);
  return FPK_SUCCESS;
}

int fpk_grid_cell_probs(const fpk_grid *g, fpk_lmc_fn log_p, void *user, double *probs,
                        fpk_error *err) {
  if (!g || !log_p || !probs)
    return fpk_error_set(err, FPK_EINVAL, "fpk_grid_cell_probs: grid, log_p or probs is NULL");
  const size_t N = g->size, d = g->dim;
  double *xc = calloc(d * N, sizeof *xc);
  if (!xc) return fpk_error_set(err, FPK_ENOMEM, "fpk_grid_cell_probs: out of memory (%zu cells)", N);
  double pt[FPK_MAX_DIM];
  for (size_t j = 0; j < N; j++) {
    fpk_grid_point(g, j, pt);
    for (size_t c = 0; c < d; c++) xc[c * N + j] = pt[c];
  }
  int rc = log_p(N, xc, probs, user);
  free(xc);
  if (rc < 0) return fpk_error_set(err, FPK_ECALLBACK, "fpk_grid_cell_probs: log_p failed");
  double mx = -INFINITY;
  for (size_t j = 0; j < N; j++) {
    if (isnan(probs[j]) || probs[j] == INFINITY)
      return fpk_error_set(err, FPK_ENUMERIC, "fpk_grid_cell_probs: log p = %g at cell %zu",
                           probs[j], j);
    if (probs[j] > mx) mx = probs[j];
  }
  if (mx == -INFINITY)
    return fpk_error_set(err, FPK_ENUMERIC, "fpk_grid_cell_probs: the density vanishes on the grid");
  /* volume is the same for every cell: it cancels in the normalisation */
  double sum = 0;
  for (size_t j = 0; j < N; j++) sum += probs[j] = exp(probs[j] - mx);
  for (size_t j = 0; j < N; j++) probs[j] /= sum;
  return FPK_SUCCESS;
}

int fpk_sample_hist_tv_kl(const fpk_grid *g, const double *probs, size_t n, const double *x,
                          double *tv, double *kl, double *out, fpk_error *err) {
  if (!g || !probs || !x || n == 0)
    return fpk_error_set(err, FPK_EINVAL, "fpk_sample_hist_tv_kl: grid, probs or points missing "
                         "(n = %zu)", n);
  const size_t N = g->size, d = g->dim;
  size_t *cnt = calloc(N, sizeof *cnt);
  if (!cnt) return fpk_error_set(err, FPK_ENOMEM, "fpk_sample_hist_tv_kl: out of memory (%zu cells)", N);
  size_t outside = 0;
  for (size_t i = 0; i < n; i++) {
    size_t flat = 0, stride = 1;
    int in = 1;
    for (size_t c = 0; c < d && in; c++) {
      const double u = (x[c * n + i] - g->lo[c]) / g->h[c];
      if (!(u >= 0) || u >= (double)g->n[c]) {
        in = 0;
        break;
      }
      size_t k = (size_t)u;
      if (k >= g->n[c]) k = g->n[c] - 1;
      flat += k * stride;
      stride *= g->n[c];
    }
    if (in) cnt[flat]++;
    else outside++;
  }
  const double inv = 1.0 / (double)n, nin = (double)(n - outside);
  double t = 0, k = 0;
  for (size_t j = 0; j < N; j++) {
    t += fabs((double)cnt[j] * inv - probs[j]);
    if (cnt[j]) {
      const double h = (double)cnt[j] / nin;
      k += probs[j] > 0 ? h * log(h / probs[j]) : INFINITY;
    }
  }
  free(cnt);
  if (tv) *tv = 0.5 * (t + (double)outside * inv);
  if (kl) *kl = outside == n ? NAN : k;
  if (out) *out = (double)outside * inv;
  return FPK_SUCCESS;
}

int fpk_sample_mode_weights(size_t dim, size_t K, const double *weights, const double *means,
                            const double *covs, size_t n, const double *x, double *mode_w,
                            double *se, fpk_error *err) {
  if (dim < 1 || dim > 3 || K < 1 || !weights || !means || !covs || !x || !mode_w || n == 0)
    return fpk_error_set(err, FPK_EINVAL, "fpk_sample_mode_weights: dim = %zu, K = %zu, n = %zu or a NULL "
                         "argument", dim, K, n);
  int crc = check_mixture_and_points("fpk_sample_mode_weights", K, weights, dim * n, x, err);
  if (crc) return crc;
  double *Lc = malloc(K * dim * dim * sizeof *Lc), *ld = malloc(K * sizeof *ld);
  size_t *cnt = calloc(K, sizeof *cnt);
  int rc = FPK_SUCCESS;
  if (!Lc || !ld || !cnt) {
    rc = fpk_error_set(err, FPK_ENOMEM, "fpk_sample_mode_weights: out of memory");
    goto done;
  }
  for (size_t k = 0; k < K; k++) {
    if (!(weights[k] > 0)) {
      rc = fpk_error_set(err, FPK_EINVAL, "fpk_sample_mode_weights: weight %zu = %g must be positive", k,
                         weights[k]);
      goto done;
    }
    double *L = Lc + k * dim * dim;
    const int piv = fpk_cholesky_pd(dim, covs + k * dim * dim, L);
    if (piv >= 0) {
      rc = fpk_error_set(err, FPK_EINVAL, "fpk_sample_mode_weights: covariance %zu is not positive definite "
                         "(pivot %d)", k, piv);
      goto done;
    }
    ld[k] = log(weights[k]);
    for (size_t c = 0; c < dim; c++) ld[k] -= log(L[c * dim + c]); /* log w − ½ log det Σ */
  }
  for (size_t i = 0; i < n; i++) {
    size_t best = 0;
    double bv = -INFINITY;
    for (size_t k = 0; k < K; k++) {
      const double *L = Lc + k * dim * dim, *mu = means + k * dim;
      double v[3], q = 0;
      for (size_t c = 0; c < dim; c++) { /* forward solve L v = x − μ */
        double r = x[c * n + i] - mu[c];
        for (size_t e = 0; e < c; e++) r -= L[c * dim + e] * v[e];
        v[c] = r / L[c * dim + c];
        q += v[c] * v[c];
      }
      const double lr = ld[k] - 0.5 * q;
      if (lr > bv) bv = lr, best = k;
    }
    cnt[best]++;
  }
  for (size_t k = 0; k < K; k++) {
    mode_w[k] = (double)cnt[k] / (double)n;
    if (se) se[k] = sqrt(mode_w[k] * (1 - mode_w[k]) / (double)n);
  }
done:
  free(Lc), free(ld), free(cnt);
  return rc;
}

static double dist(size_t d, const double *a, size_t na, size_t i, const double *b, size_t nb,
                   size_t j) {
  double s = 0;
  for (size_t c = 0; c < d; c++) {
    const double t = a[c * na + i] - b[c * nb + j];
    s += t * t;
  }
  return sqrt(s);
}

int fpk_sample_energy_distance(size_t dim, size_t n, const double *x, size_t m, const double *y,
                               size_t max_pairs, double *d2, fpk_error *err) {
  if (dim < 1 || !x || !y || n < 2 || m < 2 || !d2)
    return fpk_error_set(err, FPK_EINVAL, "fpk_sample_energy_distance: need two samples of at least 2 points "
                         "(n = %zu, m = %zu)", n, m);
  int crc = check_mixture_and_points("fpk_sample_energy_distance", 0, NULL, dim * n, x, err);
  if (!crc) crc = check_mixture_and_points("fpk_sample_energy_distance", 0, NULL, dim * m, y, err);
  if (crc) return crc;
  size_t nn = n, mm = m; /* the strides stay n and m: a cut keeps the first points */
  if (max_pairs) {
    const size_t cap = (size_t)floor(sqrt((double)max_pairs));
    if (cap < 2)
      return fpk_error_set(err, FPK_EINVAL, "fpk_sample_energy_distance: max_pairs = %zu keeps fewer than 2 "
                           "points", max_pairs);
    if (nn > cap) nn = cap;
    if (mm > cap) mm = cap;
  }
  /* row sums first, added in a fixed order: the value does not depend on the thread count */
  const size_t rows = nn > mm ? nn : mm;
  double *row = malloc(3 * rows * sizeof *row);
  if (!row) return fpk_error_set(err, FPK_ENOMEM, "fpk_sample_energy_distance: out of memory");
#pragma omp parallel for schedule(dynamic, 16)
  for (size_t i = 0; i < rows; i++) {
    double a = 0, b = 0, c = 0;
    if (i < nn) {
      for (size_t j = 0; j < mm; j++) a += dist(dim, x, n, i, y, m, j);
      for (size_t j = i + 1; j < nn; j++) b += dist(dim, x, n, i, x, n, j);
    }
    if (i < mm)
      for (size_t j = i + 1; j < mm; j++) c += dist(dim, y, m, i, y, m, j);
    row[3 * i] = a, row[3 * i + 1] = b, row[3 * i + 2] = c;
  }
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < rows; i++) sxy += row[3 * i], sxx += row[3 * i + 1], syy += row[3 * i + 2];
  free(row);
  const double a = sxy / ((double)nn * (double)mm);
  const double b = 2 * sxx / ((double)nn * (double)(nn - 1));
  const double c = 2 * syy / ((double)mm * (double)(mm - 1));
  *d2 = 2 * a - b - c;
  return FPK_SUCCESS;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int fpk_sample_sliced_w2(size_t dim, size_t n, const double *x, const double *y, size_t n_dir,
                         uint64_t seed, double *w2, fpk_error *err) {
  if (dim < 1 || dim > 3 || n < 1 || !x || !y || !w2 || (dim > 1 && n_dir < 1))
    return fpk_error_set(err, FPK_EINVAL, "fpk_sample_sliced_w2: dim = %zu, n = %zu, n_dir = %zu", dim, n,
                         n_dir);
  int crc = check_mixture_and_points("fpk_sample_sliced_w2", 0, NULL, dim * n, x, err);
  if (!crc) crc = check_mixture_and_points("fpk_sample_sliced_w2", 0, NULL, dim * n, y, err);
  if (crc) return crc;
  if (dim == 1) n_dir = 1;
  double *px = malloc(n * sizeof *px), *py = malloc(n * sizeof *py);
  if (!px || !py) {
    free(px), free(py);
    return fpk_error_set(err, FPK_ENOMEM, "fpk_sample_sliced_w2: out of memory (%zu points)", n);
  }
  double acc = 0;
  for (size_t r = 0; r < n_dir; r++) {
    double th[3] = {1, 0, 0};
    if (dim > 1) { /* a uniform direction: a normalised standard normal vector */
      double nrm = 0;
      do {
        fpk_rng_normals(seed, 0, 3 * (uint64_t)r, dim, th);
        nrm = 0;
        for (size_t c = 0; c < dim; c++) nrm += th[c] * th[c];
      } while (nrm == 0);
      for (size_t c = 0; c < dim; c++) th[c] /= sqrt(nrm);
    }
    for (size_t i = 0; i < n; i++) {
      px[i] = py[i] = 0;
      for (size_t c = 0; c < dim; c++) px[i] += th[c] * x[c * n + i], py[i] += th[c] * y[c * n + i];
    }
    qsort(px, n, sizeof *px, cmp_double);
    qsort(py, n, sizeof *py, cmp_double);
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (px[i] - py[i]) * (px[i] - py[i]);
    acc += s / (double)n;
  }
  free(px), free(py);
  *w2 = sqrt(acc / (double)n_dir);
  return FPK_SUCCESS;
}

int fpk_sample_ks_gmm1d(size_t K, const double *weights, const double *means, const double *sds,
                        size_t n, const double *x, double *ks, fpk_error *err) {
  if (K < 1 || !weights || !means || !sds || n < 1 || !x || !ks)
    return fpk_error_set(err, FPK_EINVAL, "fpk_sample_ks_gmm1d: K = %zu, n = %zu or a NULL argument", K, n);
  for (size_t k = 0; k < K; k++)
    if (!(sds[k] > 0) || !(weights[k] > 0))
      return fpk_error_set(err, FPK_EINVAL, "fpk_sample_ks_gmm1d: component %zu has weight %g, sd %g (both must "
                           "be positive)", k, weights[k], sds[k]);
  int crc = check_mixture_and_points("fpk_sample_ks_gmm1d", K, weights, n, x, err);
  if (crc) return crc;
  double *s = malloc(n * sizeof *s);
  if (!s) return fpk_error_set(err, FPK_ENOMEM, "fpk_sample_ks_gmm1d: out of memory (%zu points)", n);
  memcpy(s, x, n * sizeof *s);
  qsort(s, n, sizeof *s, cmp_double);
  double wsum = 0, D = 0;
  for (size_t k = 0; k < K; k++) wsum += weights[k];
  for (size_t i = 0; i < n; i++) {
    double F = 0;
    for (size_t k = 0; k < K; k++) /* Φ(u) = erfc(−u/√2)/2: accurate in both tails */
      F += weights[k] * 0.5 * erfc(-(s[i] - means[k]) / sds[k] * M_SQRT1_2);
    F /= wsum;
    const double lo = F - (double)i / (double)n, hi = (double)(i + 1) / (double)n - F;
    if (lo > D) D = lo;
    if (hi > D) D = hi;
  }
  free(s);
  *ks = D;
  return FPK_SUCCESS;
}
