/* Grid kernel back-end "lse": the separable log-sum-exp, truncated with a certificate.
 *
 * The squared Euclidean cost between cell centres is a sum over axes, so
 *   log Σ_j exp(in_j − |x_i − x_j|²/ε)
 * is a sequence of one-dimensional log-sum-exps along each axis in turn (the log-domain form of
 * the separable convolution of Solomon et al., "Convolutional Wasserstein distances", ACM TOG
 * 34(4), 2015; Schmitzer, "Stabilized sparse scaling algorithms for entropy regularized transport
 * problems", SIAM J. Sci. Comput. 41(3), 2019, §4 for truncation). Along one axis of n cells,
 * out_i = log Σ_j exp(x_j − s_{|i−j|}), s_k = (k h)²/ε.
 *
 * Truncation without a window guess. A window centred on i is wrong as soon as the plan moves
 * mass by more than the window (two Gaussians with different means): the terms peak at the
 * transported cell, not at i. Instead the line is cut into blocks of B cells with their maxima
 * bounds; every term of block k is at most a bound ub_k(i) (lse_line says which). The block with the largest ub is summed exactly (LSE r₀), then every block with
 * ub_k >= r₀ − 37 − ln n; the blocks left out hold fewer than n terms, each below
 * e^{r₀ − 37 − ln n}, so together they change the sum by less than e^{−37} < 1e-16 relative.
 * The result is therefore exact to rounding at any ε and any input; the cost is O(n/B) bounds
 * plus the terms of the blocks kept, about 2–3 blocks when ε is small. With B = max(√n, the
 * kernel width √(37ε)/h) a line costs O(n(√n + w)); for large ε every block is kept (O(n²)),
 * which is where the fft and blas back-ends take over.
 *
 * Scaled fast path (issue 15). Most outputs of a line do not need the log domain: with the
 * line's own shift M = max_j x_j and v_j = exp(x_j − M) ∈ [0, 1], the banded Toeplitz product
 * w_i = Σ_j k_{i−j} v_j of the band back-end (kernel_band.c: SIMD, kernel entries below DBL_MIN
 * left out) gives y_i = M + log w_i with a relative error (in the sum; absolute in the log) of at
 * most
 *   ρ_i = γ_n + 6u + 4u |log w_i| + (4n + 2) DBL_MIN / w_i
 * (Higham's γ_n for the nonnegative sum, the rounded kernel entries, libmvec's 4-ulp exp on v and
 * 4-ulp log on w, and the absolute losses to underflow and to the band, each below DBL_MIN per
 * term or operation; cf. kernel_blas.c). An output is taken from the fast path when
 * ρ_i <= min(LSE_FAST_REL = 1e-12, the accuracy asked)/d per pass — a tenth of what the grid
 * solver asks at tol = 1e-9 — and summed by the exact block method above otherwise (outputs far
 * below their line's maximum: the log's 4u|log w_i| passes 1e-12/d at |log w_i| ≈ 560/d, and w_i
 * nears the underflow floor further down).
 * Each output's path depends only on its line's values, never on the thread count. The cost of a
 * line is then the SIMD product, an exp and a log per cell, plus the exact sums of the outputs
 * that fail the test (all of them for a line whose inputs span more than ~700).
 */
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/vmath.h"
#include "ot/ot_internal.h"

/* The fast path's largest accepted relative error per output (see the top comment). */
#define LSE_FAST_REL 1e-12

typedef struct lse_axis {
  size_t n, stride, B, nb; /* cells, flat stride, block size, number of blocks */
  double h;
  double *s;               /* s[k] = (k h)²/ε, k < n */
  double *krow;            /* the band's kernel row (ot_band_fill_row), half-width r */
  size_t r;
  double rel, eabs;        /* the fast path's bound: ρ_i = rel + 4u|log w_i| + eabs/w_i */
} lse_axis;

#define LSE_U (DBL_EPSILON / 2)

typedef struct lse_state {
  fpk_grid g;
  lse_axis ax[FPK_MAX_DIM];
  size_t nmax, nthreads;
  double *buf[2];          /* intermediate fields between axis passes */
  double *scratch;         /* per thread: line in, line out, terms, block maxima */
  size_t scratch_stride;
  double eps, fast_rel;
  size_t fast_outputs, exact_outputs; /* counts (tests, benchmarks): outputs by each path */
} lse_state;

static void lse_free(void *state) {
  lse_state *S = state;
  if (!S) return;
  for (size_t a = 0; a < FPK_MAX_DIM; a++) free(S->ax[a].s), free(S->ax[a].krow);
  free(S->buf[0]);
  free(S->buf[1]);
  free(S->scratch);
  free(S);
}

static void *lse_alloc(const fpk_grid *g, fpk_error *err) {
  lse_state *S = calloc(1, sizeof *S);
  if (!S) goto nomem;
  S->g = *g;
  size_t stride = 1;
  for (size_t a = 0; a < g->dim; a++) {
    lse_axis *A = &S->ax[a];
    A->n = g->n[a];
    A->h = g->h[a];
    A->stride = stride;
    stride *= A->n;
    if (A->n > S->nmax) S->nmax = A->n;
    if (!(A->s = malloc(A->n * sizeof *A->s))) goto nomem;
    if (!(A->krow = malloc((2 * A->n - 1 + 2 * OT_BAND_PAD) * sizeof *A->krow))) goto nomem;
  }
  S->nthreads = (size_t)omp_get_max_threads();
  /* line in, line out, terms (n), block bounds (4 nb <= n + 8, with room), the fast path's
   * v, w (n each) */
  S->scratch_stride = 8 * S->nmax + 16;
  if (!(S->scratch = malloc(S->nthreads * S->scratch_stride * sizeof *S->scratch))) goto nomem;
  if (g->dim > 1) {
    if (!(S->buf[0] = malloc(g->size * sizeof(double)))) goto nomem;
    if (g->dim > 2 && !(S->buf[1] = malloc(g->size * sizeof(double)))) goto nomem;
  }
  return S;
nomem:
  lse_free(S);
  fpk_error_set(err, FPK_ENOMEM, "lse kernel: out of memory for a grid of %zu cells", g->size);
  return NULL;
}

static int lse_set_eps(void *state, double eps, double accuracy, fpk_error *err) {
  (void)err;
  lse_state *S = state;
  S->eps = eps;
  /* the fast path's acceptance, split over the d passes (each pass's relative error adds) */
  S->fast_rel = fmin(LSE_FAST_REL, accuracy > 0 ? accuracy : LSE_FAST_REL) / (double)S->g.dim;
  for (size_t a = 0; a < S->g.dim; a++) {
    lse_axis *A = &S->ax[a];
    A->r = ot_band_fill_row(A->krow, A->n, A->h, eps, NULL);
    const double n = (double)A->n;
    A->rel = n * LSE_U / (1 - n * LSE_U) + 6 * LSE_U;
    A->eabs = (4 * n + 2) * DBL_MIN;
    for (size_t k = 0; k < A->n; k++) A->s[k] = ((double)k * A->h) * ((double)k * A->h) / eps;
    double width = ceil(sqrt(OT_LSE_NEGLIGIBLE * eps) / A->h);
    size_t B = (size_t)ceil(sqrt((double)A->n));
    if (width > (double)B) B = width >= (double)A->n ? A->n : (size_t)width;
    A->B = B;
    A->nb = (A->n + B - 1) / B;
  }
  return 0;
}

/* Adds the terms x_j − s_{|i−j|}, j in [j0, j1), to the running log-sum-exp (m, sum). */
static void add_terms(const double *x, const double *s, size_t i, size_t j0, size_t j1, double *t,
                      double *m, double *sum) {
  size_t len = j1 - j0;
  double mb = -INFINITY;
  for (size_t j = j0; j < j1; j++) {
    double v = x[j] - s[j > i ? j - i : i - j];
    t[j - j0] = v;
    if (v > mb) mb = v;
  }
  if (mb == -INFINITY) return;
  for (size_t k = 0; k < len; k++) t[k] -= mb;
  fpk_vexp(len, t, t);
  double acc = 0;
  for (size_t k = 0; k < len; k++) acc += t[k];
  if (mb > *m) {
    *sum = *sum * exp(*m - mb) + acc; /* exp(−∞) = 0 for the first block */
    *m = mb;
  } else {
    *sum += acc * exp(mb - *m);
  }
}

/* The block bounds of a line (see lse_output): per block its maximum, and the maxima of
 * x_{j0+u} − s_u (bounds towards the right) and of x_{j1−1−u} − s_u (towards the left). */
static void lse_bounds(const lse_axis *A, const double *x, double *bk) {
  const size_t n = A->n, B = A->B, nb = A->nb;
  const double *s = A->s;
  double *bmax = bk, *yr = bk + nb, *yl = bk + 2 * nb;
  for (size_t k = 0; k < nb; k++) {
    const size_t j0 = k * B, j1 = (k + 1) * B < n ? (k + 1) * B : n;
    double mx = -INFINITY, r = -INFINITY, l = -INFINITY;
    for (size_t j = j0; j < j1; j++) {
      mx = x[j] > mx ? x[j] : mx;
      double vr = x[j] - s[j - j0], vl = x[j] - s[j1 - 1 - j];
      r = vr > r ? vr : r;
      l = vl > l ? vl : l;
    }
    bmax[k] = mx;
    yr[k] = r;
    yl[k] = l;
  }
}

/* One output exactly: y_i = log Σ_j exp(x_j − s_{|i−j|}), certified truncation (see the top
 * comment). Block bounds: for i left of block [j0, j1), every j = j0 + u has cost s_{j−i} >=
 * s_{j0−i} + s_u (the cross term of the square is positive), so x_j − s_{j−i} <= Yr_k − s_{j0−i}
 * with Yr_k = max_u (x_{j0+u} − s_u); mirrored for i right of the block; inside it, the block
 * maximum. Subtracting s_u inside the block keeps the bound tight when x is steep (the log-domain
 * input of a Sinkhorn step at small ε has slopes of many units per cell). */
static double lse_output(const lse_axis *A, const double *x, size_t i, double *t, double *bk) {
  const size_t n = A->n, B = A->B, nb = A->nb;
  const double *s = A->s;
  const double cut = OT_LSE_NEGLIGIBLE + log((double)n);
  const double *bmax = bk, *yr = bk + nb, *yl = bk + 2 * nb;
  double *ub = bk + 3 * nb;
  size_t kbest = 0;
  double ubest = -INFINITY;
  for (size_t k = 0; k < nb; k++) {
    const size_t j0 = k * B, j1 = (k + 1) * B < n ? (k + 1) * B : n; /* [j0, j1) */
    ub[k] = i < j0 ? yr[k] - s[j0 - i] : (i >= j1 ? yl[k] - s[i - (j1 - 1)] : bmax[k]);
    if (ub[k] > ubest) {
      ubest = ub[k];
      kbest = k;
    }
  }
  if (ubest == -INFINITY) return -INFINITY;
  double m = -INFINITY, sum = 0;
  size_t j1 = (kbest + 1) * B < n ? (kbest + 1) * B : n;
  add_terms(x, s, i, kbest * B, j1, t, &m, &sum);
  const double r0 = m + log(sum);
  for (size_t k = 0; k < nb; k++) {
    if (k == kbest || ub[k] < r0 - cut) continue;
    size_t e = (k + 1) * B < n ? (k + 1) * B : n;
    add_terms(x, s, i, k * B, e, t, &m, &sum);
  }
  return m + log(sum);
}

/* One line: the scaled fast path where its bound accepts, the exact sum elsewhere (top comment).
 * v, w: scratch of n each; t, bk: lse_output's. Returns the number of outputs summed exactly. */
static size_t lse_line(const lse_axis *A, double fast_rel, const double *x, double *y, double *t,
                       double *bk, double *v, double *w) {
  const size_t n = A->n;
  double M = -INFINITY;
  for (size_t j = 0; j < n; j++) M = x[j] > M ? x[j] : M;
  if (M == -INFINITY) {
    for (size_t i = 0; i < n; i++) y[i] = -INFINITY;
    return 0;
  }
  for (size_t j = 0; j < n; j++) v[j] = x[j] - M;
  fpk_vexp(n, v, v);
  ot_band_line(A->krow + OT_BAND_PAD + n - 1, n, A->r, v, w);
  fpk_vlog(n, w, v); /* v = log w */
  size_t nexact = 0;
  for (size_t i = 0; i < n; i++) {
    const double wi = w[i], lw = v[i];
    const double rho = A->rel + 4 * LSE_U * fabs(lw) + A->eabs / wi;
    if (wi >= DBL_MIN && rho <= fast_rel) {
      y[i] = M + lw;
    } else {
      y[i] = NAN; /* marked: summed exactly below */
      nexact++;
    }
  }
  if (nexact) {
    lse_bounds(A, x, bk);
    for (size_t i = 0; i < n; i++)
      if (isnan(y[i])) y[i] = lse_output(A, x, i, t, bk);
  }
  return nexact;
}

/* One pass along axis a: every line of `in` to `out`. */
static void lse_pass(lse_state *S, size_t a, const double *in, double *out) {
  const lse_axis *A = &S->ax[a];
  const size_t n = A->n, stride = A->stride, nlines = S->g.size / n, nm = S->nmax;
  size_t nexact = 0;
#pragma omp parallel num_threads((int)S->nthreads) if (S->g.size >= OT_PARALLEL_MIN) \
    reduction(+ : nexact)
  {
    double *w = S->scratch + (size_t)omp_get_thread_num() * S->scratch_stride;
    double *xl = w, *yl = w + nm, *t = w + 2 * nm, *bm = w + 3 * nm;
    double *v = w + 6 * nm + 16, *wk = w + 7 * nm + 16;
#pragma omp for schedule(static)
    for (size_t l = 0; l < nlines; l++) {
      /* line l: the cells with every index but axis a fixed */
      size_t base = (l / stride) * stride * n + l % stride;
      if (stride == 1) {
        nexact += lse_line(A, S->fast_rel, in + base, out + base, t, bm, v, wk);
      } else {
        for (size_t i = 0; i < n; i++) xl[i] = in[base + i * stride];
        nexact += lse_line(A, S->fast_rel, xl, yl, t, bm, v, wk);
        for (size_t i = 0; i < n; i++) out[base + i * stride] = yl[i];
      }
    }
  }
  S->exact_outputs += nexact;
  S->fast_outputs += S->g.size - nexact;
}

static int lse_apply(void *state, const double *in, double *out, fpk_error *err) {
  (void)err;
  lse_state *S = state;
  const size_t d = S->g.dim;
  const double *src = in;
  for (size_t a = 0; a < d; a++) {
    double *dst = a + 1 == d ? out : S->buf[a % 2];
    lse_pass(S, a, src, dst);
    src = dst;
  }
  return 0;
}

void ot_lse_stats(const void *state, size_t *fast, size_t *exact) {
  const lse_state *S = state;
  *fast = S->fast_outputs;
  *exact = S->exact_outputs;
}

const ot_kernel_impl ot_kernel_lse = {
    {"lse", "separable log-sum-exp per axis: per line a scaled SIMD product where its bound "
            "certifies 1e-13, else exact sums truncated by block bounds; exact at any eps"},
    lse_alloc, lse_set_eps, lse_apply, lse_free};
const fpk_ot_kernel_type *fpk_ot_kernel_lse = &ot_kernel_lse.pub;
