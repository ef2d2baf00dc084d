/* Log-domain propagation by a separable Gaussian kernel on a grid (ot_internal.h,
 * ot_grid_propagate): the one place that picks how a kernel application outside Sinkhorn (the
 * Schrödinger-bridge queries of src/sb/) is computed.
 *
 *   dir 0: out_i = log Σ_j exp(in_j − Σ_a (y_ja − κ_a x_ia)²/ε)   (x_i the output cell),
 *   dir 1: out_j = log Σ_i exp(in_i − Σ_a (y_ja − κ_a x_ia)²/ε)   (y_j the output cell),
 * over the g->size cell centres, κ_a = 1 (the heat kernel, a convolution; both directions agree)
 * unless given (the OU kernel, separable but not a convolution).
 *
 * Step 2 below is also the grid Sinkhorn's internal "blas-lines" kernel back-end
 * (kernel_lines.c, through ot_grid_propagate_lines: κ = 1, no fft, refused instead of lse).
 *
 * Order of choice, every output certified to relative accuracy `accuracy` (so the log to that
 * absolute accuracy) or computed exactly:
 *  1. κ = 1: the fft back-end (kernel_fft.c), when its set_eps and apply accept (their rounding
 *     bounds; large ε only: every output must exceed the FFT's absolute error);
 *  2. the line-shifted exp-domain product below, with dgemm (OpenBLAS via kernel_blas.c);
 *  3. per output, an exact log-sum-exp, for the outputs step 2 cannot certify (and for all of them
 *     when OpenBLAS is missing), as long as they are few: for κ = 1, once more than N/32 outputs
 *     of an application need it (inputs whose range along a line far exceeds the exp range at a
 *     small ε), the whole application is redone by the lse back-end (kernel_lse.c: exact to
 *     rounding, block-truncated sums), which is then faster (measured on 256², ε = 1e-3 and an
 *     input of range 6000: 270 ms per output one by one, 31 ms by lse). For κ ≠ 1 there is no
 *     such back-end and every uncertified output is summed exactly, O(n) each.
 *
 * Step 2. The kernel is a product of per-axis factors k_a(i, j), so the sum is taken one axis at a
 * time (Solomon et al., "Convolutional Wasserstein distances", ACM TOG 34(4), 2015, §4), each
 * pass a set of 1D sums along the lines of that axis. A pass works in the scaling domain with one
 * shift per LINE (not one for the whole field, as the blas back-end does): with M_l = max_j in_j
 * over line l and v_j = exp(in_j − M_l) ∈ [0, 1],
 *   w_i = Σ_j k_a(i, j) v_j,   out_i = M_l + log w_i,
 * all lines at once by one dgemm per pass (a row shift commutes with a right product, a column
 * shift with a left one). The per-line shift keeps every line's largest term at 1, so an output is
 * lost only if its own line's kernel-weighted sum is below the underflow range, not the field's.
 * Every term is nonnegative (no cancellation), so the computed w_i has relative error at most
 *   rel = γ_n + 6u   (the n-term inner products, Higham, "Accuracy and Stability of Numerical
 *                    Algorithms", 2nd ed., §3.1; u for each kernel entry, 4u for fpk_vexp, u for
 *                    the product),
 * plus an absolute error below E = (2n + 2) DBL_MIN from underflow (each of the 2n + 1 operations
 * of the inner product and the entries, gradual underflow or flush to zero alike; kernel_blas.c's
 * argument). An output is accepted when w_i is normal and rel + E/w_i <= accuracy/d; otherwise it
 * is recomputed exactly as M + log Σ_j exp(in_j + log k_a(i, j) − M) (M the largest term: step 3).
 * d passes compose to relative accuracy <= accuracy (the log of each pass has absolute error
 * <= accuracy/d, which the next pass's exp turns into the same relative error).
 *
 * Cost per pass: N exps and logs (vectorised), one n × n by n × N/n product, and O(n) per
 * recomputed output. Single-threaded: the dgemm is serial (kernel_blas.c explains why) and the
 * result does not depend on the thread count.
 *
 * A per-axis κ changes only the kernel entries (built here for every (ε, κ, dir)) and the exact
 * fallback; the fft back-end is tried only for κ = 1. */
#include <float.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/vmath.h"
#include "ot/ot_internal.h"

#if defined(__SSE2__)
#include <immintrin.h>
/* Flush-to-zero and denormals-are-zero for the dgemm calls only (MXCSR is per thread, restored
 * after): subnormal kernel entries, weights and products cost ~100 cycles each on x86 (measured:
 * a 256² propagation at small ε took 7 ms instead of 1.3 ms), and the absolute error bound E
 * above already allows DBL_MIN per operation, so flushing them changes no certified output. */
#define PROP_FTZ_ON() const unsigned prop_csr = _mm_getcsr(); _mm_setcsr(prop_csr | 0x8040u)
#define PROP_FTZ_OFF() _mm_setcsr(prop_csr)
#else
#define PROP_FTZ_ON() (void)0
#define PROP_FTZ_OFF() (void)0
#endif

#define PROP_U (DBL_EPSILON / 2)

struct ot_propagator {
  fpk_grid g;
  size_t dim, n[3], N;
  double *K[3];          /* per-axis kernels: axis 0 as Bᵀ (B[j][i] = k(i, j)), others A[i][j] */
  double *v, *w, *buf;   /* N each */
  double *shift;         /* N: per-line shifts (at most N lines) */
  double *terms;         /* max n: one line's log terms (step 3) */
  double eps, kappa[3];  /* the kernels' parameters (eps = 0: none built) */
  int dir;
  void *fft;             /* kernel_fft state (NULL: step 1 skipped) */
  void *lse;             /* kernel_lse state (κ = 1, too many uncertified outputs) */
  double lse_eps;
  double fft_eps, fft_acc;
  int fft_status;        /* of set_eps at (fft_eps, fft_acc): 0 accepted, else refused */
  ot_propagate_stats stats;
};

void ot_propagator_free(ot_propagator *P) {
  if (!P) return;
  for (size_t a = 0; a < 3; a++) free(P->K[a]);
  free(P->v), free(P->w), free(P->buf), free(P->shift), free(P->terms);
  if (P->fft) ot_kernel_fft.free(P->fft);
  if (P->lse) ot_kernel_lse.free(P->lse);
  free(P);
}

static ot_propagator *propagator_alloc(const fpk_grid *g, int with_fft, int with_lse,
                                       fpk_error *err) {
  if (!g || g->dim < 1 || g->dim > 3) {
    fpk_error_set(err, FPK_EINVAL, "propagate: grids of dimension 1 to 3 only");
    return NULL;
  }
  ot_propagator *P = calloc(1, sizeof *P);
  if (!P) goto nomem;
  P->g = *g;
  P->dim = g->dim;
  P->N = g->size;
  size_t nmax = 1;
  for (size_t a = 0; a < 3; a++) {
    P->n[a] = a < g->dim ? g->n[a] : 1;
    if (P->n[a] > nmax) nmax = P->n[a];
  }
  for (size_t a = 0; a < P->dim; a++)
    if (!(P->K[a] = malloc(P->n[a] * P->n[a] * sizeof(double)))) goto nomem;
  P->v = malloc(P->N * sizeof(double));
  P->w = malloc(P->N * sizeof(double));
  P->buf = malloc(P->N * sizeof(double));
  P->shift = malloc(P->N * sizeof(double));
  P->terms = malloc(nmax * sizeof(double));
  if (!P->v || !P->w || !P->buf || !P->shift || !P->terms) goto nomem;
  if (with_lse && !(P->lse = ot_kernel_lse.alloc(g, err))) {
    ot_propagator_free(P);
    return NULL;
  }
  /* planned here, not at the first call: FFTW's planner is not thread-safe (kernel_fft.c) */
  if (with_fft && !(P->fft = ot_kernel_fft.alloc(g, err))) {
    ot_propagator_free(P);
    return NULL;
  }
  return P;
nomem:
  ot_propagator_free(P);
  fpk_error_set(err, FPK_ENOMEM, "propagate: out of memory for a grid of %zu cells", g->size);
  return NULL;
}

ot_propagator *ot_propagator_alloc(const fpk_grid *g, int with_fft, fpk_error *err) {
  return propagator_alloc(g, with_fft, 1, err);
}

ot_propagator *ot_propagator_alloc_lines(const fpk_grid *g, fpk_error *err) {
  return propagator_alloc(g, 0, 0, err);
}

void ot_propagate_get_stats(const ot_propagator *P, ot_propagate_stats *s) { *s = P->stats; }

/* log k_a(i, j): i the output index, j the summed one, along axis a. */
static inline double log_k(const ot_propagator *P, size_t a, size_t i, size_t j) {
  const double h = P->g.h[a], kap = P->kappa[a];
  double d;
  if (kap == 1) {
    d = ((double)i - (double)j) * h; /* exact differences, as the other back-ends */
  } else {
    const double lo = P->g.lo[a];
    const double xo = lo + ((double)i + 0.5) * h, xs = lo + ((double)j + 0.5) * h;
    d = P->dir == 0 ? xs - kap * xo : xo - kap * xs; /* y − κx: dir 0 sums over y */
  }
  return -d * d / P->eps;
}

static void build_kernels(ot_propagator *P) {
  for (size_t a = 0; a < P->dim; a++) {
    const size_t n = P->n[a];
    double *K = P->K[a];
    if (P->kappa[a] == 1) { /* Toeplitz and symmetric: k(|i − j|), n exps (terms: P->terms) */
      for (size_t t = 0; t < n; t++) P->terms[t] = exp(log_k(P, a, t, 0));
      for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) K[i * n + j] = P->terms[i > j ? i - j : j - i];
      continue;
    }
    for (size_t i = 0; i < n; i++)
      for (size_t j = 0; j < n; j++) {
        const double k = exp(log_k(P, a, i, j));
        if (a == 0) K[j * n + i] = k;
        else K[i * n + j] = k;
      }
  }
}

/* Exact log Σ_j exp(in[base + j·stride] + log k_a(i, j)) (step 3). */
static double exact_output(ot_propagator *P, size_t a, const double *in, size_t base,
                           size_t stride, size_t i) {
  const size_t n = P->n[a];
  double *t = P->terms, m = -INFINITY;
  for (size_t j = 0; j < n; j++) {
    const double x = in[base + j * stride];
    t[j] = x == -INFINITY ? -INFINITY : x + log_k(P, a, i, j);
    if (t[j] > m) m = t[j];
  }
  if (m == -INFINITY) return -INFINITY;
  for (size_t j = 0; j < n; j++) t[j] -= m;
  fpk_vexp(n, t, t);
  double s = 0;
  for (size_t j = 0; j < n; j++) s += t[j];
  return m + log(s);
}

/* The rounding bound of one pass along an axis of n cells (the acceptance test of step 2): the
 * accuracy asked per pass must exceed it for any output to be certified. */
double ot_propagate_pass_rel(size_t n) {
  return (double)n * PROP_U / (1 - (double)n * PROP_U) + 6 * PROP_U;
}

/* One pass along axis a: in → out (N values each; they do not alias). At most *budget outputs
 * are recomputed exactly (decremented); 1 (out incomplete) when more would be needed. */
static int pass(ot_propagator *P, size_t a, const double *in, double *out, double acc_pass,
                int use_gemm, size_t *budget) {
  const size_t n = P->n[a], N = P->N;
  size_t S = 1;
  for (size_t b = 0; b < a; b++) S *= P->n[b];
  const size_t O = N / (n * S); /* outer blocks */
  const size_t nlines = N / n;
  double *v = P->v, *w = P->w, *M = P->shift;
  const double rel = ot_propagate_pass_rel(n);
  const double E = (2.0 * (double)n + 2) * DBL_MIN;
  /* accept w >= thr (and normal); thr = +∞ when the accuracy asked is below rounding */
  const double thr = acc_pass > rel ? fmax(E / (acc_pass - rel), DBL_MIN) : INFINITY;
  if (use_gemm && thr < INFINITY) {
    /* line maxima: line (o, s) holds in[o·n·S + j·S + s], j < n (axis 0: S = 1, line = o) */
    if (a == 0) {
      for (size_t l = 0; l < nlines; l++) {
        double m = -INFINITY;
        const double *x = in + l * n;
        for (size_t j = 0; j < n; j++) m = x[j] > m ? x[j] : m;
        M[l] = m;
        const double sh = m == -INFINITY ? 0 : m;
        for (size_t j = 0; j < n; j++) v[l * n + j] = x[j] - sh;
      }
    } else {
      for (size_t o = 0; o < O; o++) {
        double *m = M + o * S;
        for (size_t s = 0; s < S; s++) m[s] = -INFINITY;
        for (size_t j = 0; j < n; j++) {
          const double *x = in + (o * n + j) * S;
          for (size_t s = 0; s < S; s++) m[s] = x[s] > m[s] ? x[s] : m[s];
        }
        for (size_t j = 0; j < n; j++) {
          const double *x = in + (o * n + j) * S;
          double *y = v + (o * n + j) * S;
          for (size_t s = 0; s < S; s++) y[s] = x[s] - (m[s] == -INFINITY ? 0 : m[s]);
        }
      }
    }
    fpk_vexp(N, v, v);
    {
      PROP_FTZ_ON();
      if (a == 0) {
        ot_blas_gemm(nlines, n, n, v, P->K[0], w);
      } else {
        for (size_t o = 0; o < O; o++)
          ot_blas_gemm(n, S, n, P->K[a], v + o * n * S, w + o * n * S);
      }
      PROP_FTZ_OFF();
    }
    fpk_vlog(N, w, out);
    /* shift back, certify, recompute what is not certified */
    for (size_t o = 0; o < O; o++)
      for (size_t i = 0; i < n; i++)
        for (size_t s = 0; s < S; s++) {
          const size_t q = (o * n + i) * S + s, l = a == 0 ? o : o * S + s;
          if (M[l] == -INFINITY) {
            out[q] = -INFINITY; /* an empty line: every term is exactly 0 */
          } else if (w[q] >= thr) {
            out[q] += M[l];
          } else {
            if (*budget == 0) return 1;
            --*budget;
            out[q] = exact_output(P, a, in, o * n * S + s, S, i);
            P->stats.exact_outputs++;
          }
        }
    P->stats.gemm_passes++;
    return 0;
  }
  if (*budget < N) return 1;
  *budget -= N;
  for (size_t o = 0; o < O; o++)
    for (size_t i = 0; i < n; i++)
      for (size_t s = 0; s < S; s++)
        out[(o * n + i) * S + s] = exact_output(P, a, in, o * n * S + s, S, i);
  P->stats.exact_outputs += N;
  return 0;
}

int ot_grid_propagate(ot_propagator *P, int dir, double eps, const double *kappa,
                      double accuracy, const double *in, double *out, fpk_error *err) {
  const size_t N = P->N, d = P->dim;
  if (!(eps > 0) || !isfinite(eps) || !(accuracy > 0) || (dir != 0 && dir != 1)) {
    fpk_error_set(err, FPK_EINVAL, "propagate: eps = %g, accuracy = %g, dir = %d: need eps > 0, "
                  "accuracy > 0, dir 0 or 1", eps, accuracy, dir);
    return FPK_EINVAL;
  }
  int unit = 1;
  for (size_t a = 0; a < d; a++)
    if (kappa && kappa[a] != 1) {
      unit = 0;
      if (!(kappa[a] > 0) || !isfinite(kappa[a])) {
        fpk_error_set(err, FPK_EINVAL, "propagate: kappa[%zu] = %g must be positive and finite",
                      a, kappa[a]);
        return FPK_EINVAL;
      }
    }
  for (size_t i = 0; i < N; i++)
    if (isnan(in[i]) || in[i] == INFINITY) {
      fpk_error_set(err, FPK_ENUMERIC, "propagate: input %zu is %g", i, in[i]);
      return FPK_ENUMERIC;
    }
  P->stats.calls++;
  /* 1. the fft back-end (κ = 1) */
  if (unit && P->fft) {
    fpk_error e = {0};
    if (P->fft_eps != eps || P->fft_acc != accuracy) {
      P->fft_status = ot_kernel_fft.set_eps(P->fft, eps, accuracy, &e);
      P->fft_eps = eps;
      P->fft_acc = accuracy;
    }
    if (P->fft_status == 0) {
      const int rc = ot_kernel_fft.apply(P->fft, in, out, &e);
      if (rc == 0) {
        P->stats.fft++;
        return FPK_SUCCESS;
      }
      if (rc < 0) {
        fpk_error_set(err, e.status ? e.status : FPK_ENUMERIC, "propagate: %s", e.msg);
        return e.status ? e.status : FPK_ENUMERIC;
      }
    }
  }
  /* 2–3. line-shifted products, exact where not certified */
  const double kap[3] = {kappa && d > 0 ? kappa[0] : 1, kappa && d > 1 ? kappa[1] : 1,
                         kappa && d > 2 ? kappa[2] : 1};
  const int key_dir = unit ? 0 : dir; /* κ = 1: both directions are the same kernel */
  if (P->eps != eps || memcmp(P->kappa, kap, sizeof kap) || P->dir != key_dir) {
    P->eps = eps;
    memcpy(P->kappa, kap, sizeof kap);
    P->dir = key_dir;
    build_kernels(P);
  }
  const int use_gemm = ot_blas_available();
  const double acc_pass = accuracy / (double)d;
  size_t budget = unit ? N / 32 : SIZE_MAX;
  int over;
  if (d == 1) {
    over = pass(P, 0, in, out, acc_pass, use_gemm, &budget);
  } else if (d == 2) {
    over = pass(P, 0, in, P->buf, acc_pass, use_gemm, &budget) ||
           pass(P, 1, P->buf, out, acc_pass, use_gemm, &budget);
  } else {
    over = pass(P, 0, in, out, acc_pass, use_gemm, &budget) ||
           pass(P, 1, out, P->buf, acc_pass, use_gemm, &budget) ||
           pass(P, 2, P->buf, out, acc_pass, use_gemm, &budget);
  }
  if (over) { /* κ = 1 only: the lse back-end, exact to rounding */
    fpk_error e = {0};
    int rc = 0;
    if (P->lse_eps != eps && !(rc = ot_kernel_lse.set_eps(P->lse, eps, accuracy, &e)))
      P->lse_eps = eps;
    if (!rc) rc = ot_kernel_lse.apply(P->lse, in, out, &e);
    if (rc) {
      fpk_error_set(err, e.status ? e.status : FPK_ENUMERIC, "propagate: lse: %s", e.msg);
      return e.status ? e.status : FPK_ENUMERIC;
    }
    P->stats.lse++;
  }
  return FPK_SUCCESS;
}

int ot_grid_propagate_axis(ot_propagator *P, size_t axis, int dir, double eps,
                           const double *kappa, double accuracy, const double *in, double *out,
                           fpk_error *err) {
  if (axis >= P->dim || !(eps > 0) || !isfinite(eps) || !(accuracy > 0) ||
      (dir != 0 && dir != 1)) {
    fpk_error_set(err, FPK_EINVAL, "propagate: axis %zu, eps = %g, accuracy = %g, dir = %d",
                  axis, eps, accuracy, dir);
    return FPK_EINVAL;
  }
  for (size_t i = 0; i < P->N; i++)
    if (isnan(in[i]) || in[i] == INFINITY) {
      fpk_error_set(err, FPK_ENUMERIC, "propagate: input %zu is %g", i, in[i]);
      return FPK_ENUMERIC;
    }
  int unit = 1;
  double kap[3] = {1, 1, 1};
  for (size_t a = 0; a < P->dim; a++)
    if (kappa) {
      kap[a] = kappa[a];
      unit = unit && kappa[a] == 1;
    }
  const int key_dir = unit ? 0 : dir;
  if (P->eps != eps || memcmp(P->kappa, kap, sizeof kap) || P->dir != key_dir) {
    P->eps = eps;
    memcpy(P->kappa, kap, sizeof kap);
    P->dir = key_dir;
    build_kernels(P);
  }
  const int use_gemm = ot_blas_available();
  P->stats.calls++;
  size_t budget = SIZE_MAX;
  pass(P, axis, in, out, accuracy, use_gemm, &budget);
  return FPK_SUCCESS;
}

/* Steps 2–3 alone, κ = 1, for the grid solver's "blas-lines" product (kernel_lines.c): at most
 * max_exact outputs summed exactly over all passes; 1 (out incomplete) beyond. The caller checks
 * the input (no NaN, no +∞) and that OpenBLAS is loaded (ot_blas_available). */
int ot_grid_propagate_lines(ot_propagator *P, double eps, double accuracy, size_t max_exact,
                            const double *in, double *out, size_t *nexact) {
  const size_t d = P->dim;
  const double kap[3] = {1, 1, 1};
  if (P->eps != eps || memcmp(P->kappa, kap, sizeof kap) || P->dir != 0) {
    P->eps = eps;
    memcpy(P->kappa, kap, sizeof kap);
    P->dir = 0;
    build_kernels(P);
  }
  const double acc_pass = accuracy / (double)d;
  size_t budget = max_exact;
  int over;
  P->stats.calls++;
  if (d == 1) {
    over = pass(P, 0, in, out, acc_pass, 1, &budget);
  } else if (d == 2) {
    over = pass(P, 0, in, P->buf, acc_pass, 1, &budget) ||
           pass(P, 1, P->buf, out, acc_pass, 1, &budget);
  } else {
    over = pass(P, 0, in, out, acc_pass, 1, &budget) ||
           pass(P, 1, out, P->buf, acc_pass, 1, &budget) ||
           pass(P, 2, P->buf, out, acc_pass, 1, &budget);
  }
  if (nexact) *nexact = max_exact - budget;
  return over;
}
