/* Grid kernel back-end "blas": the separable Gibbs kernel as per-axis dense matrices.
 *
 * exp(−|x_i − x_j|²/ε) = Π_a K_a[i_a][j_a] with K_a[i][j] = exp(−((i − j) h_a)²/ε), so in the
 * scaling domain (M = max_j in_j, v_j = exp(in_j − M) ∈ [0, 1]) the product w = K v is applied
 * one axis at a time (Solomon et al., "Convolutional Wasserstein distances", ACM TOG 34(4), 2015,
 * §4 on separable kernels): with the field stored as [n2][n1][n0] (axis 0 fastest),
 *   axis 0:  W = V K_0ᵀ on the (n1 n2) × n0 matrix of rows (K_0 is symmetric);
 *   axis a:  W_o = K_a V_o for each block o of the outer axes, V_o an n_a × (Π_{b<a} n_b) matrix;
 * each a single dgemm (n2 of them for axis 1 in 3D). Cost O(N Σ_a n_a) per product,
 * memory Σ_a n_a² + 2N doubles.
 *
 * Threads. The dgemm passes run on one thread at a time, inside one named critical section:
 * Debian's serial OpenBLAS (libopenblas0-serial 0.3.21, the build fpkit links) is not safe to
 * call from several threads at once. Its buffer pool (blas_memory_alloc) hands the same packing
 * buffer to two concurrent callers, and we measured wrong products (differences of order 1, in
 * about 1 in 100 to 1 in 25 rounds of 64 concurrent 18×18·18×480 dgemms on 4 threads), not just
 * rounding differences. A single call is deterministic, and OpenBLAS blocks a large product
 * better than we could by hand. So the result does not depend on the thread count, and only the
 * elementwise work (exp, log, the checks) is split over fixed blocks.
 *
 * Which BLAS. OpenBLAS is not linked: it is loaded here, on first use, with dlopen(RTLD_LOCAL),
 * and only its dgemm_ is looked up. Linked, it would export cblas_* into the process and serve
 * GSL's calls too (the dynamic linker takes the first definition, and libgslcblas comes in only
 * as libgsl's dependency, after every directly linked library). GSL calls BLAS from inside the
 * Monte Carlo threads (the matrix exponential of the exact OU step, LU solves), where OpenBLAS
 * races as above: we measured wrong OU transition laws (mean errors ~1e-2, 4-7 standard errors
 * of a 20000-path ensemble), intermittently, on 2 threads (tests/test_exact.c,
 * test_linear_law_concurrent). Loaded locally, OpenBLAS stays private to this file and GSL keeps
 * its reference libgslcblas, which is reentrant. If the library cannot be loaded, set_eps
 * refuses (recoverably) and the grid solver falls back to the next back-end, saying why.
 *
 * Accuracy. Every term is nonnegative, so there is no cancellation: each axis pass multiplies the
 * relative error by at most 1 + γ_{n_a} + u (the n_a-term inner products and the rounded kernel
 * entries; Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed., §3.1, eq. (3.4)
 * and Lemma 3.1), plus fpk_vexp's 4 ulp on v and the final rounding: relative bound
 *   rel = Σ_a (γ_{n_a} + u) + 5u.
 * What is lost is lost to underflow. With gradual underflow every operation carries, besides the
 * relative error, an absolute one below 2^−1075 (Higham §2.1, eq. (2.8)); we allow DBL_MIN per
 * operation so that flush-to-zero and a vexp that flushes its subnormal results (in_j − M <
 * −708) are covered too. An entry of v, K_a or an intermediate enters an output with weights
 * <= 1, and the three passes make at most 2n_0 + 1 operations per intermediate after axis 0,
 * then 2n_a more per pass, so every output carries an absolute error below
 *   E_abs = 8 N DBL_MIN
 * (N = Π n_a; a dropped v_j = exp(in_j − M) < DBL_MIN counts once per output). apply therefore
 * accepts only when every w_i is normal and rel + E_abs / w_i <= accuracy: about
 * w_i >= 8 N DBL_MIN / accuracy ≈ N·1.8e-296 at accuracy 1e-11, i.e. outputs more than ~680
 * below in's maximum (in log) are refused rather than returned inexact.
 *
 * set_eps refuses when a kernel entry itself would lose accuracy: exp(−L_a²/ε) < 1e-300 on some
 * axis, L_a = (n_a − 1) h_a, i.e. ε < L_a²/690; such an ε leaves only far-apart cells
 * unresolved, which apply would then refuse for most inputs anyway. */
#include <dlfcn.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/vmath.h"
#include "ot/ot_internal.h"

/* OpenBLAS's Fortran-interface dgemm (column-major; every argument by reference). */
typedef void dgemm_fn(const char *transa, const char *transb, const int *m, const int *n,
                      const int *k, const double *alpha, const double *a, const int *lda,
                      const double *b, const int *ldb, const double *beta, double *c,
                      const int *ldc);

/* The library, loaded once per process (the handle is never closed: the function pointer lives
 * as long as the process). FPK_OPENBLAS_LIBRARY is the file CMake found through pkg-config. */
#ifndef FPK_OPENBLAS_LIBRARY
#define FPK_OPENBLAS_LIBRARY "libopenblas.so.0"
#endif
static dgemm_fn *openblas_dgemm;
static char openblas_failure[256];
static pthread_once_t openblas_once = PTHREAD_ONCE_INIT;

static void openblas_load(void) {
  void *lib = dlopen(FPK_OPENBLAS_LIBRARY, RTLD_NOW | RTLD_LOCAL);
  void *sym = lib ? dlsym(lib, "dgemm_") : NULL;
  if (!sym) {
    const char *why = dlerror();
    snprintf(openblas_failure, sizeof openblas_failure, "%s", why ? why : "no dgemm_");
    return;
  }
  memcpy(&openblas_dgemm, &sym, sizeof sym); /* ISO C has no void* to function pointer cast */
}

/* Row-major C = A B (A is m×k, B is k×n, all contiguous): in column-major storage this is
 * Cᵀ = Bᵀ Aᵀ, the same arrays read as their transposes. */
static void rowmajor_gemm(size_t m, size_t n, size_t k, const double *A, const double *B,
                          double *C) {
  const int M = (int)m, N = (int)n, K = (int)k;
  const double one = 1.0, zero = 0.0;
  openblas_dgemm("N", "N", &N, &M, &K, &one, B, &N, A, &K, &zero, C, &N);
}

/* For src/ot/propagate.c (ot_internal.h): row-major C = A B through the privately loaded
 * OpenBLAS, inside the same critical section as this back-end's own calls. FPK_EUNSUP (nothing
 * written) when the library could not be loaded. */
int ot_blas_gemm(size_t m, size_t n, size_t k, const double *A, const double *B, double *C) {
  pthread_once(&openblas_once, openblas_load);
  if (!openblas_dgemm) return FPK_EUNSUP;
#pragma omp critical(fpk_ot_kernel_blas_dgemm)
  rowmajor_gemm(m, n, k, A, B, C);
  return 0;
}

int ot_blas_available(void) {
  pthread_once(&openblas_once, openblas_load);
  return openblas_dgemm != NULL;
}

#define BLAS_U (DBL_EPSILON / 2)
#define BLAS_MAX_EXPO 690.0  /* exp(−690) = 2.97e-300: the smallest kernel entry allowed */
#define BLAS_VB 4096         /* elementwise blocks (exp, log) */
#define BLAS_MAX_BYTES ((size_t)1 << 30) /* one dense K_a above 1 GiB: refuse */

typedef struct blas_state {
  size_t dim, n[3], N;
  double h[3];
  int nthr;
  double *K[3];       /* n_a × n_a, made by the first accepted set_eps */
  double *buf[2];     /* N each: v and the intermediate passes */
  double *kt;         /* k_a(t), t < n_a */
  size_t nfin;        /* elementwise blocks */
  double *part_r;     /* worst ratio per elementwise block */
  size_t *part_i;
  double eps, acc, rel;
  int ready;
} blas_state;

static void blas_free(void *state) {
  blas_state *s = state;
  if (!s) return;
  for (size_t a = 0; a < 3; a++) free(s->K[a]);
  free(s->buf[0]);
  free(s->buf[1]);
  free(s->kt);
  free(s->part_r);
  free(s->part_i);
  free(s);
}

static void *blas_alloc(const fpk_grid *g, fpk_error *err) {
  if (!g || g->dim < 1 || g->dim > 3) {
    fpk_error_set(err, FPK_EINVAL, "blas: grids of dimension 1 to 3 only");
    return NULL;
  }
  blas_state *s = calloc(1, sizeof *s);
  if (!s) goto nomem;
  s->dim = g->dim;
  s->N = 1;
  size_t nmax = 1;
  for (size_t a = 0; a < 3; a++) {
    s->n[a] = a < g->dim ? g->n[a] : 1;
    s->h[a] = a < g->dim ? g->h[a] : 0;
    s->N *= s->n[a];
    if (s->n[a] > nmax) nmax = s->n[a];
  }
  s->nthr = omp_get_max_threads();
  if (s->nthr < 1) s->nthr = 1;
  s->nfin = (s->N + BLAS_VB - 1) / BLAS_VB;
  s->kt = malloc(nmax * sizeof *s->kt);
  s->part_r = malloc(s->nfin * sizeof *s->part_r);
  s->part_i = malloc(s->nfin * sizeof *s->part_i);
  if (!s->kt || !s->part_r || !s->part_i) goto nomem;
  return s;
nomem:
  blas_free(s);
  fpk_error_set(err, FPK_ENOMEM, "blas: out of memory for a grid of %zu cells", g->size);
  return NULL;
}

/* The exponent test of set_eps, shared with the automatic choice (grid.c). */
static int expo_ok(size_t n, double h, double eps) {
  const double L = (double)(n - 1) * h;
  return L * L / eps <= BLAS_MAX_EXPO;
}

int ot_blas_accepts_eps(const fpk_grid *g, double eps) {
  if (!(eps > 0) || !isfinite(eps)) return 0;
  for (size_t a = 0; a < g->dim; a++)
    if (!expo_ok(g->n[a], g->h[a], eps)) return 0;
  return 1;
}

double ot_blas_min_eps(const fpk_grid *g) {
  double m = 0;
  for (size_t a = 0; a < g->dim; a++) {
    const double L = (double)(g->n[a] - 1) * g->h[a];
    m = fmax(m, L * L / BLAS_MAX_EXPO);
  }
  return m;
}

static double gamma_n(size_t n) { return (double)n * BLAS_U / (1 - (double)n * BLAS_U); }

static int blas_set_eps(void *state, double eps, double accuracy, fpk_error *err) {
  blas_state *s = state;
  s->ready = 0;
  if (!(eps > 0) || !isfinite(eps) || !(accuracy > 0)) {
    fpk_error_set(err, FPK_EINVAL, "blas: eps = %g and accuracy = %g must be positive", eps,
                  accuracy);
    return -FPK_EINVAL;
  }
  pthread_once(&openblas_once, openblas_load);
  if (!openblas_dgemm) {
    fpk_error_set(err, FPK_EUNSUP, "blas: OpenBLAS could not be loaded (%s)", openblas_failure);
    return 1;
  }
  double rel = 5 * BLAS_U;
  for (size_t a = 0; a < s->dim; a++) {
    const double L = (double)(s->n[a] - 1) * s->h[a], expo = L * L / eps;
    if (!expo_ok(s->n[a], s->h[a], eps)) {
      fpk_error_set(err, FPK_EUNSUP,
                    "blas: eps = %.4g too small: the axis-%zu kernel's smallest entry "
                    "exp(-%.1f) is below 1e-300 (needs eps >= L^2/%.0f = %.4g)",
                    eps, a, expo, BLAS_MAX_EXPO, L * L / BLAS_MAX_EXPO);
      return 1;
    }
    rel += gamma_n(s->n[a]) + BLAS_U;
  }
  if (rel > accuracy) {
    fpk_error_set(err, FPK_EUNSUP,
                  "blas: the summation bound %.3g of the dense products exceeds accuracy %.2g",
                  rel, accuracy);
    return 1;
  }
  if (!s->buf[0]) { /* first accepted ε: the dense kernels and the two field buffers */
    for (size_t a = 0; a < s->dim; a++) {
      const size_t n = s->n[a];
      if (n > BLAS_MAX_BYTES / sizeof(double) / n) {
        fpk_error_set(err, FPK_EUNSUP,
                      "blas: the dense kernel of axis %zu (%zu cells) would take %zu MiB", a, n,
                      n * n * sizeof(double) >> 20);
        return 1;
      }
    }
    for (size_t a = 0; a < s->dim; a++)
      if (!s->K[a]) s->K[a] = malloc(s->n[a] * s->n[a] * sizeof(double));
    s->buf[0] = malloc(s->N * sizeof(double));
    s->buf[1] = malloc(s->N * sizeof(double));
    int ok = s->buf[0] && s->buf[1];
    for (size_t a = 0; a < s->dim; a++) ok = ok && s->K[a];
    if (!ok) {
      free(s->buf[0]);
      free(s->buf[1]);
      s->buf[0] = s->buf[1] = NULL;
      fpk_error_set(err, FPK_EUNSUP, "blas: out of memory for the dense kernels");
      return 1;
    }
  }
  for (size_t a = 0; a < s->dim; a++) {
    const size_t n = s->n[a];
    double *K = s->K[a], *k = s->kt;
    for (size_t t = 0; t < n; t++) {
      const double x = (double)t * s->h[a];
      k[t] = exp(-x * x / eps);
    }
    for (size_t i = 0; i < n; i++)
      for (size_t j = 0; j < n; j++) K[i * n + j] = k[i > j ? i - j : j - i];
  }
  s->eps = eps;
  s->acc = accuracy;
  s->rel = rel;
  s->ready = 1;
  return 0;
}

static int blas_apply(void *state, const double *in, double *out, fpk_error *err) {
  blas_state *s = state;
  if (!s->ready) {
    fpk_error_set(err, FPK_EINVAL, "blas: apply before an accepted set_eps");
    return -FPK_EINVAL;
  }
  const size_t N = s->N, d = s->dim;
  double M = -INFINITY;
  for (size_t i = 0; i < N; i++) {
    if (isnan(in[i]) || in[i] == INFINITY) {
      fpk_error_set(err, FPK_ENUMERIC, "blas: input %zu is %g", i, in[i]);
      return -FPK_ENUMERIC;
    }
    if (in[i] > M) M = in[i];
  }
  if (M == -INFINITY) {
    for (size_t i = 0; i < N; i++) out[i] = -INFINITY;
    return 0;
  }
  int nt = omp_get_max_threads();
  if (nt > s->nthr) nt = s->nthr;
  const double Eabs = 8 * (double)N * DBL_MIN;
  double *const b0 = s->buf[0], *const b1 = s->buf[1];
  const double *w = d % 2 ? b1 : b0; /* axis a writes buf[(a + 1) % 2] */
#pragma omp parallel num_threads(nt) if (N >= OT_PARALLEL_MIN)
  {
#pragma omp for schedule(static)
    for (size_t blk = 0; blk < s->nfin; blk++) {
      const size_t lo = blk * BLAS_VB, m = N - lo < BLAS_VB ? N - lo : BLAS_VB;
      for (size_t i = 0; i < m; i++) b0[lo + i] = in[lo + i] - M;
      fpk_vexp(m, b0 + lo, b0 + lo);
    }
  }
  /* The dgemm passes: serial, and serialised with every other call from this file (see the
   * header comment on OpenBLAS). */
#pragma omp critical(fpk_ot_kernel_blas_dgemm)
  {
    const size_t n0 = s->n[0], R = N / n0;
    rowmajor_gemm(R, n0, n0, b0, s->K[0], b1);
    for (size_t a = 1; a < d; a++) {
      const double *src = a % 2 ? b1 : b0;
      double *dst = a % 2 ? b0 : b1;
      const size_t na = s->n[a];
      size_t inner = 1;
      for (size_t b = 0; b < a; b++) inner *= s->n[b];
      const size_t outer = N / (inner * na);
      for (size_t o = 0; o < outer; o++)
        rowmajor_gemm(na, inner, na, s->K[a], src + o * na * inner, dst + o * na * inner);
    }
  }
#pragma omp parallel num_threads(nt) if (N >= OT_PARALLEL_MIN)
  {
    /* out = M + log w; every w must be normal and above the underflow floor. */
#pragma omp for schedule(static)
    for (size_t blk = 0; blk < s->nfin; blk++) {
      const size_t lo = blk * BLAS_VB, m = N - lo < BLAS_VB ? N - lo : BLAS_VB;
      double wr = 0;
      size_t wi = lo;
      for (size_t i = lo; i < lo + m; i++) {
        const double wv = w[i];
        const double ratio = wv >= DBL_MIN ? s->rel + Eabs / wv : INFINITY;
        if (ratio > wr) wr = ratio, wi = i;
        out[i] = M + log(wv);
      }
      s->part_r[blk] = wr;
      s->part_i[blk] = wi;
    }
  }
  return ot_scaled_outputs_check("blas", s->nfin, s->part_r, s->part_i, w, s->eps, s->acc, err);
}

int ot_scaled_outputs_check(const char *name, size_t nblk, const double *part_r,
                            const size_t *part_i, const double *w, double eps, double acc,
                            fpk_error *err) {
  double worst = 0;
  size_t at = 0;
  for (size_t b = 0; b < nblk; b++)
    if (part_r[b] > worst) worst = part_r[b], at = part_i[b];
  if (worst > acc) {
    fpk_error_set(err, FPK_EUNSUP,
                  "%s: at eps = %.4g output %zu is %.3g of the largest weight (log %.1f), below "
                  "the underflow floor: error bound ratio %.3g > accuracy %.2g",
                  name, eps, at, w[at], log(w[at]), worst, acc);
    return 1;
  }
  return 0;
}

const ot_kernel_impl ot_kernel_blas = {
    {"blas",
     "per-axis dense kernel matrices applied by BLAS dgemm in the scaling domain, O(N sum n_a); "
     "accepted while no kernel entry or scaled output under/overflows"},
    blas_alloc,
    blas_set_eps,
    blas_apply,
    blas_free};
const fpk_ot_kernel_type *fpk_ot_kernel_blas = &ot_kernel_blas.pub;
