/* Grid kernel back-end "fft": the Gibbs kernel as a linear convolution by FFTW.
 *
 * For the squared Euclidean cost between the cell centres of a uniform grid the Gibbs kernel is
 * separable and translation invariant, exp(−|x_i − x_j|²/ε) = Π_a k_a(i_a − j_a) with
 * k_a(t) = exp(−(t h_a)²/ε), so K v is a discrete convolution (Solomon, de Goes, Peyré, Cuturi,
 * Butscher, Nguyen, Du & Guibas, "Convolutional Wasserstein distances", ACM TOG 34(4), 2015).
 * In the scaling domain, with M = max_j in_j and v_j = exp(in_j − M) ∈ [0, 1],
 *   out_i = M + log w_i,  w = K v,
 * and w is computed as a linear (not periodic) convolution on a zero-padded grid of
 * P_a >= 2 n_a − 1 cells per axis, where the circular convolution by the kernel laid out as
 * k(0..n−1) and k(P−n+1..P−1) = k(n−1..1) agrees with the linear one on the box.
 *
 * The transform runs as 1D FFTW transforms over lines (r2c along axis 0, complex along axes 1
 * and 2), which lets it skip the zero padding (pruned input lines and outputs) and makes the
 * result independent of the thread count: every line is transformed by the same plan whatever
 * thread runs it, and every reduction is over fixed blocks in a fixed order. The kernel's
 * transform is the product of per-axis transforms K̂_a, each real (k_a is even), summed once per
 * ε in long double.
 *
 * Rounding (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed., §24.1): a
 * Cooley–Tukey FFT is a product of log2 N sparse stages A_k whose computed form has
 * |ΔA_k| <= η |A_k| componentwise, η = μ + γ₄(√2 + μ) ≈ 6.7u for twiddles accurate to μ ≈ u;
 * since |A_t|···|A_1| is the all-ones matrix |F|, the computed transform satisfies
 * |fl(Fx) − Fx| <= η_F |F| |x| = η_F ‖x‖₁ in every component, η_F ≈ η log2 N. We use
 * η = 8u (slack for FFTW's mixed-radix codelets; the padded sizes have only the factors 2, 3, 5
 * and 7, so neither Rader's nor Bluestein's algorithm is used). Following the errors through
 * z = F(v) ⊙ K̂/N and w = F⁻¹z:
 *   forward:  Σ_k |δ(Fv)_k| |K̂_k|/N <= η_F ‖v‖₁ κ,  κ = ‖K̂‖₁/N = Π_a ‖K̂_a‖₁/P_a (>= 1);
 *   product and K̂ (relative (d + 2)u per z_k), inverse transform: ((d + 2)u + η_F) ‖z‖₁;
 * so every output has |ŵ_i − w_i| <= E = η_F (‖v‖₁ κ + ‖z‖₁) + (d + 2)u ‖z‖₁, with ‖v‖₁ and
 * ‖z‖₁ (over the full spectrum) computed during the product. apply accepts only when
 * E / w_i + 5u <= accuracy for every i (5u: fpk_vexp's 4 ulp on v and the final rounding).
 *
 * set_eps refuses the ε at which no concentrated input could pass: for a point mass at any cell
 * x_j, the farthest corner of the box is at least half the diagonal away, so the output there is
 * w_c <= exp(−Σ_a L_a²/(4ε)) ‖v‖₁ = k_min^{1/4} ‖v‖₁ (k_min = exp(−Σ_a L_a²/ε) is the kernel's
 * smallest value across the box, L_a = (n_a − 1) h_a), while E >= η_F κ ‖v‖₁; so when
 * η_F κ / k_min^{1/4} > accuracy every point-mass input (a concentrated marginal) is refused,
 * and only spread inputs could pass. Above that ε apply decides for the input at hand: a point
 * mass in a corner passes only once 2 η_F κ / k_min <= accuracy (Σ_a L_a²/ε four times smaller
 * than at the set_eps limit), a point mass in the middle or a spread density down to about that
 * limit. */
#include <fftw3.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/vmath.h"
#include "ot/ot_internal.h"

#define FFT_U (DBL_EPSILON / 2)  /* unit roundoff */
#define FFT_ETA (8 * FFT_U)      /* per-stage error of one FFT level, see above */
#define FFT_COLS 8               /* spectral columns gathered per batch of 1D transforms */
#define FFT_MAX_BYTES ((size_t)1 << 33) /* half spectrum above 8 GiB: refuse, do not allocate */

typedef struct fft_state {
  size_t dim;
  size_t n[3], P[3];     /* cells and padded length per axis (1 on missing axes) */
  size_t Q0;             /* P0/2 + 1: complex length of the r2c axis */
  size_t N, Npad, Nspec; /* Π n, Π P, Q0 P1 P2 */
  double h[3];
  double etaF;           /* η log2 Npad */
  int nthr;              /* threads the scratch was made for */
  size_t ldc;            /* complex stride between the FFT_COLS lines of a batch (64 B multiple) */
  double **sr;           /* per thread: one real line of P0 */
  fftw_complex **sc;     /* per thread: FFT_COLS complex lines of ldc */
  fftw_plan r2c, c2r, fwd[3], bwd[3];
  long double *cosr[3];  /* cos(2π r / P_a), r < P_a */
  double *kt;            /* k_a(t), t < n_a (set_eps scratch) */
  double *khat[3];       /* K̂_a[m] / P_a, m < P_a */
  double kappa;          /* Π_a Σ_m |khat_a[m]| */
  fftw_complex *spec;    /* Q0 × P1 × P2 half spectrum (first accepted set_eps allocates it) */
  size_t nlines;         /* n1 n2: lines along axis 0 inside the box */
  size_t nb;             /* ceil(Q0 / FFT_COLS) */
  size_t ngroups;        /* batches of the last axis' fused forward-multiply-inverse pass */
  double *part_v, *part_z, *part_r; /* per line / group: Σ v, Σ |z|, worst E/w ratio */
  size_t *part_i;        /* where that worst ratio is */
  double eps, acc;
  int ready;
} fft_state;

/* Smallest length >= m with no prime factor above 7 (FFTW's fast codelets). */
static size_t good_size(size_t m) {
  for (size_t p = m < 1 ? 1 : m;; p++) {
    size_t q = p;
    static const size_t f[] = {2, 3, 5, 7};
    for (size_t i = 0; i < 4; i++)
      while (q % f[i] == 0) q /= f[i];
    if (q == 1) return p;
  }
}

static void fft_free(void *state) {
  fft_state *s = state;
  if (!s) return;
  if (s->r2c) fftw_destroy_plan(s->r2c);
  if (s->c2r) fftw_destroy_plan(s->c2r);
  for (size_t a = 0; a < 3; a++) {
    if (s->fwd[a]) fftw_destroy_plan(s->fwd[a]);
    if (s->bwd[a]) fftw_destroy_plan(s->bwd[a]);
    free(s->cosr[a]);
    free(s->khat[a]);
  }
  for (int t = 0; t < s->nthr; t++) {
    if (s->sr) fftw_free(s->sr[t]);
    if (s->sc) fftw_free(s->sc[t]);
  }
  free(s->sr);
  free(s->sc);
  fftw_free(s->spec);
  free(s->kt);
  free(s->part_v);
  free(s->part_z);
  free(s->part_r);
  free(s->part_i);
  free(s);
}

static void *fft_alloc(const fpk_grid *g, fpk_error *err) {
  if (!g || g->dim < 1 || g->dim > 3) {
    fpk_error_set(err, FPK_EINVAL, "fft: grids of dimension 1 to 3 only");
    return NULL;
  }
  fft_state *s = calloc(1, sizeof *s);
  if (!s) goto nomem;
  s->dim = g->dim;
  s->N = s->Npad = 1;
  size_t nmax = 1, lmax = 1;
  for (size_t a = 0; a < 3; a++) {
    s->n[a] = a < g->dim ? g->n[a] : 1;
    s->h[a] = a < g->dim ? g->h[a] : 0;
    s->P[a] = a < g->dim ? good_size(2 * s->n[a] - 1) : 1;
    s->N *= s->n[a];
    s->Npad *= s->P[a];
    if (s->n[a] > nmax) nmax = s->n[a];
  }
  s->Q0 = s->P[0] / 2 + 1;
  s->Nspec = s->Q0 * s->P[1] * s->P[2];
  lmax = s->Q0;
  for (size_t a = 1; a < 3; a++)
    if (s->P[a] > lmax) lmax = s->P[a];
  s->ldc = (lmax + 3) / 4 * 4;
  s->etaF = FFT_ETA * log2((double)s->Npad);
  s->nlines = s->n[1] * s->n[2];
  s->nb = (s->Q0 + FFT_COLS - 1) / FFT_COLS;
  s->ngroups = s->dim == 1 ? 1 : s->dim == 2 ? s->nb : s->nb * s->P[1];

  s->nthr = omp_get_max_threads();
  if (s->nthr < 1) s->nthr = 1;
  s->sr = calloc((size_t)s->nthr, sizeof *s->sr);
  s->sc = calloc((size_t)s->nthr, sizeof *s->sc);
  s->kt = malloc(nmax * sizeof *s->kt);
  s->part_v = malloc(s->nlines * sizeof *s->part_v);
  s->part_r = malloc(s->nlines * sizeof *s->part_r);
  s->part_i = malloc(s->nlines * sizeof *s->part_i);
  s->part_z = malloc(s->ngroups * sizeof *s->part_z);
  if (!s->sr || !s->sc || !s->kt || !s->part_v || !s->part_r || !s->part_i || !s->part_z)
    goto nomem;
  for (int t = 0; t < s->nthr; t++) {
    s->sr[t] = fftw_alloc_real(s->P[0]);
    s->sc[t] = fftw_alloc_complex(FFT_COLS * s->ldc);
    if (!s->sr[t] || !s->sc[t]) goto nomem;
  }
  for (size_t a = 0; a < s->dim; a++) {
    const size_t P = s->P[a];
    s->cosr[a] = malloc(P * sizeof *s->cosr[a]);
    s->khat[a] = malloc(P * sizeof *s->khat[a]);
    if (!s->cosr[a] || !s->khat[a]) goto nomem;
    const long double w = 6.283185307179586476925286766559L / (long double)P;
    for (size_t r = 0; r < P; r++) s->cosr[a][r] = cosl(w * (long double)r);
  }
  for (size_t a = s->dim; a < 3; a++) {
    s->khat[a] = malloc(sizeof *s->khat[a]);
    if (!s->khat[a]) goto nomem;
    s->khat[a][0] = 1;
  }

  /* Plans, made once on thread 0's scratch; apply executes them on other threads' lines of the
   * same alignment (fftw_alloc_*, offsets in multiples of 64 bytes). FFTW's planner is global
   * and not thread-safe: states are made from one thread (as the solvers are). The plans are
   * single-threaded whatever an earlier fftw_plan_with_nthreads said: the parallelism is ours,
   * over lines, so that results do not depend on the thread count. */
#ifdef FPK_HAVE_FFTW_THREADS
  int old_nthreads = 0;
  if (fftw_init_threads()) {
    old_nthreads = fftw_planner_nthreads();
    fftw_plan_with_nthreads(1);
  }
#endif
  const unsigned flags = FFTW_ESTIMATE;
  s->r2c = fftw_plan_dft_r2c_1d((int)s->P[0], s->sr[0], s->sc[0], flags);
  s->c2r = fftw_plan_dft_c2r_1d((int)s->P[0], s->sc[0], s->sr[0], flags);
  int planned = s->r2c && s->c2r;
  for (size_t a = 1; a < s->dim; a++) {
    s->fwd[a] = fftw_plan_dft_1d((int)s->P[a], s->sc[0], s->sc[0], FFTW_FORWARD, flags);
    s->bwd[a] = fftw_plan_dft_1d((int)s->P[a], s->sc[0], s->sc[0], FFTW_BACKWARD, flags);
    planned = planned && s->fwd[a] && s->bwd[a];
  }
#ifdef FPK_HAVE_FFTW_THREADS
  if (old_nthreads > 0) fftw_plan_with_nthreads(old_nthreads);
#endif
  if (!planned) {
    fpk_error_set(err, FPK_EUNSUP, "fft: FFTW could not plan transforms of length %zu x %zu x %zu",
                  s->P[0], s->P[1], s->P[2]);
    fft_free(s);
    return NULL;
  }
  return s;
nomem:
  fft_free(s);
  fpk_error_set(err, FPK_ENOMEM, "fft: out of memory for a grid of %zu cells", g->size);
  return NULL;
}

/* K̂_a[m] = Σ_{|t| < n} k(t) e^{−2πi m t/P} = k(0) + 2 Σ_{t>=1} k(t) cos(2π m t/P) (real: k is
 * even), summed in long double from the cosine table, stored divided by P (FFTW's transforms
 * are unnormalised). Returns Σ_m |K̂_a[m]| / P. */
static double kernel_transform(fft_state *s, size_t a, double eps) {
  const size_t n = s->n[a], P = s->P[a];
  const double h = s->h[a];
  const long double *c = s->cosr[a];
  double *k = s->kt, *kh = s->khat[a];
  size_t tmax = 0;
  for (size_t t = 0; t < n; t++) {
    const double x = (double)t * h;
    k[t] = exp(-x * x / eps);
    if (k[t] > 0) tmax = t;
  }
  for (size_t m = 0; m <= P / 2; m++) {
    long double acc = 0;
    size_t r = 0;
    for (size_t t = 1; t <= tmax; t++) {
      r += m;
      if (r >= P) r -= P;
      acc += (long double)k[t] * c[r];
    }
    const double v = (double)(((long double)k[0] + 2 * acc) / (long double)P);
    kh[m] = v;
    if (m) kh[P - m] = v;
  }
  long double sum = 0;
  for (size_t m = 0; m < P; m++) sum += fabsl((long double)kh[m]);
  return (double)sum;
}

static int fft_set_eps(void *state, double eps, double accuracy, fpk_error *err) {
  fft_state *s = state;
  s->ready = 0;
  if (!(eps > 0) || !isfinite(eps) || !(accuracy > 0)) {
    fpk_error_set(err, FPK_EINVAL, "fft: eps = %g and accuracy = %g must be positive", eps,
                  accuracy);
    return -FPK_EINVAL;
  }
  double expo = 0; /* −log k_min = Σ_a L_a²/ε */
  for (size_t a = 0; a < s->dim; a++) {
    const double L = (double)(s->n[a] - 1) * s->h[a];
    expo += L * L / eps;
  }
  /* Every point mass fails when η_F κ / k_min^{1/4} > accuracy (header comment); κ >= 1 (κ_a >=
   * |Σ_m K̂_a[m]|/P_a = k(0) = 1), so check with κ = 1 before summing the transforms. */
  const double lim = 4 * log(accuracy / s->etaF); /* need expo <= lim − 4 log κ */
  if (!(expo <= lim)) {
    fpk_error_set(err, FPK_EUNSUP,
                  "fft: eps = %.4g too small: the Gibbs kernel falls to exp(-%.1f) across the "
                  "box, so every concentrated input would lose its far outputs to the FFT's "
                  "rounding (%.2g relative to the total, accuracy %.2g needs exp(-%.1f) or more)",
                  eps, expo, s->etaF, accuracy, lim > 0 ? lim : 0);
    return 1;
  }
  double kappa = 1;
  for (size_t a = 0; a < s->dim; a++) kappa *= kernel_transform(s, a, eps);
  if (!(expo <= lim - 4 * log(kappa))) {
    fpk_error_set(err, FPK_EUNSUP,
                  "fft: eps = %.4g too small: the Gibbs kernel falls to exp(-%.1f) across the "
                  "box, so every concentrated input would lose its far outputs to the FFT's "
                  "rounding (%.2g x %.3g relative to the total, accuracy %.2g)",
                  eps, expo, s->etaF, kappa, accuracy);
    return 1;
  }
  if (!s->spec) {
    if (s->Nspec > FFT_MAX_BYTES / sizeof(fftw_complex) ||
        !(s->spec = fftw_alloc_complex(s->Nspec))) {
      fpk_error_set(err, FPK_EUNSUP, "fft: cannot allocate the %zu MiB padded spectrum",
                    s->Nspec * sizeof(fftw_complex) >> 20);
      return 1;
    }
  }
  s->kappa = kappa;
  s->eps = eps;
  s->acc = accuracy;
  s->ready = 1;
  return 0;
}

/* |z| weighted for the half spectrum along axis 0: the columns 0 < k0 < P0/2 stand for
 * themselves and their conjugate mirrors. */
static inline double half_weight(const fft_state *s, size_t k0) {
  return k0 == 0 || 2 * k0 == s->P[0] ? 1.0 : 2.0;
}

/* One line of w along axis 0 (n0 values in r): out = M + log w, and the worst E/w ratio. */
static void finish_line(const fft_state *s, const double *r, double E, double M, double *out,
                        size_t first, double *worst, size_t *where) {
  double wr = 0;
  size_t wi = first;
  for (size_t i = 0; i < s->n[0]; i++) {
    const double w = r[i];
    const double ratio = w > 0 ? E / w + 5 * FFT_U : INFINITY; /* NaN w: INFINITY */
    if (ratio > wr) wr = ratio, wi = first + i;
    out[i] = M + log(w);
  }
  *worst = wr;
  *where = wi;
}

/* Gathers FFT_COLS (or fewer) spectral columns k0s.. along a strided axis into the batch
 * lines sc[b*ldc + t], t < cnt_in, zero-filled to len. */
static inline void gather(const fft_state *s, fftw_complex *sc, const fftw_complex *base,
                          size_t stride, size_t cols, size_t cnt_in, size_t len) {
  for (size_t t = 0; t < cnt_in; t++) {
    const fftw_complex *src = base + t * stride;
    for (size_t b = 0; b < cols; b++) {
      sc[b * s->ldc + t][0] = src[b][0];
      sc[b * s->ldc + t][1] = src[b][1];
    }
  }
  for (size_t b = 0; b < cols; b++)
    memset(sc + b * s->ldc + cnt_in, 0, (len - cnt_in) * sizeof(fftw_complex));
}

static inline void scatter(const fft_state *s, const fftw_complex *sc, fftw_complex *base,
                           size_t stride, size_t cols, size_t cnt_out) {
  for (size_t t = 0; t < cnt_out; t++) {
    fftw_complex *dst = base + t * stride;
    for (size_t b = 0; b < cols; b++) {
      dst[b][0] = sc[b * s->ldc + t][0];
      dst[b][1] = sc[b * s->ldc + t][1];
    }
  }
}

static int fft_apply(void *state, const double *in, double *out, fpk_error *err) {
  fft_state *s = state;
  if (!s->ready) {
    fpk_error_set(err, FPK_EINVAL, "fft: apply before an accepted set_eps");
    return -FPK_EINVAL;
  }
  const size_t N = s->N, n0 = s->n[0], n1 = s->n[1], n2 = s->n[2];
  const size_t P0 = s->P[0], P1 = s->P[1], Q0 = s->Q0, d = s->dim;
  double M = -INFINITY;
  for (size_t i = 0; i < N; i++) {
    if (isnan(in[i]) || in[i] == INFINITY) {
      fpk_error_set(err, FPK_ENUMERIC, "fft: input %zu is %g", i, in[i]);
      return -FPK_ENUMERIC;
    }
    if (in[i] > M) M = in[i];
  }
  if (M == -INFINITY) { /* no mass: every sum is empty */
    for (size_t i = 0; i < N; i++) out[i] = -INFINITY;
    return 0;
  }
  int nt = omp_get_max_threads();
  if (nt > s->nthr) nt = s->nthr;
  double E = 0;

  if (d == 1) { /* one line: forward, product, inverse */
    double *r = s->sr[0];
    fftw_complex *c = s->sc[0];
    for (size_t i = 0; i < n0; i++) r[i] = in[i] - M;
    fpk_vexp(n0, r, r);
    double sv = 0;
    for (size_t i = 0; i < n0; i++) sv += r[i];
    memset(r + n0, 0, (P0 - n0) * sizeof *r);
    fftw_execute_dft_r2c(s->r2c, r, c);
    double sz = 0;
    for (size_t k = 0; k < Q0; k++) {
      c[k][0] *= s->khat[0][k];
      c[k][1] *= s->khat[0][k];
      sz += half_weight(s, k) * sqrt(c[k][0] * c[k][0] + c[k][1] * c[k][1]);
    }
    fftw_execute_dft_c2r(s->c2r, c, r);
    E = s->etaF * (sv * s->kappa + sz) + (double)(d + 2) * FFT_U * sz;
    finish_line(s, r, E, M, out, 0, &s->part_r[0], &s->part_i[0]);
  } else {
    fftw_complex *spec = s->spec;
    const size_t nb = s->nb, L = d - 1, PL = s->P[L], nL = s->n[L];
    /* Strides in the spectrum: axis 1 moves by Q0, axis 2 by Q0 P1. */
    const size_t strideL = L == 1 ? Q0 : Q0 * P1;
    const double *khL = s->khat[L];
#pragma omp parallel num_threads(nt) if (N >= OT_PARALLEL_MIN)
    {
      const int tid = omp_get_thread_num();
      double *r = s->sr[tid];
      fftw_complex *sc = s->sc[tid];
      /* 1. r2c along axis 0 of the n1 n2 lines inside the box. */
#pragma omp for schedule(static)
      for (size_t line = 0; line < s->nlines; line++) {
        const double *src = in + n0 * line;
        for (size_t i = 0; i < n0; i++) r[i] = src[i] - M;
        fpk_vexp(n0, r, r);
        double sv = 0;
        for (size_t i = 0; i < n0; i++) sv += r[i];
        s->part_v[line] = sv;
        memset(r + n0, 0, (P0 - n0) * sizeof *r);
        fftw_execute_dft_r2c(s->r2c, r, sc);
        const size_t j = line % n1, k = line / n1;
        memcpy(spec + Q0 * (j + P1 * k), sc, Q0 * sizeof(fftw_complex));
      }
      /* 2. (3D) forward along axis 1 for the n2 planes holding data. */
      if (d == 3) {
#pragma omp for schedule(static)
        for (size_t item = 0; item < nb * n2; item++) {
          const size_t kb = item % nb, k = item / nb, k0 = kb * FFT_COLS;
          const size_t cols = Q0 - k0 < FFT_COLS ? Q0 - k0 : FFT_COLS;
          fftw_complex *base = spec + k0 + Q0 * P1 * k;
          gather(s, sc, base, Q0, cols, n1, P1);
          for (size_t b = 0; b < cols; b++)
            fftw_execute_dft(s->fwd[1], sc + b * s->ldc, sc + b * s->ldc);
          scatter(s, sc, base, Q0, cols, P1);
        }
      }
      /* 3. Last axis: forward, product by K̂/N_pad, inverse, keeping the nL outputs in the box.
       * Σ|z| over the full spectrum is accumulated per group for the rounding bound. */
#pragma omp for schedule(static)
      for (size_t item = 0; item < s->ngroups; item++) {
        const size_t kb = item % nb, j1 = item / nb, k0 = kb * FFT_COLS; /* j1 = 0 in 2D */
        const size_t cols = Q0 - k0 < FFT_COLS ? Q0 - k0 : FFT_COLS;
        fftw_complex *base = spec + k0 + Q0 * j1;
        gather(s, sc, base, strideL, cols, nL, PL);
        double sz = 0;
        for (size_t b = 0; b < cols; b++) {
          fftw_complex *z = sc + b * s->ldc;
          fftw_execute_dft(s->fwd[L], z, z);
          const double pre = d == 3 ? s->khat[0][k0 + b] * s->khat[1][j1] : s->khat[0][k0 + b];
          double sb = 0;
          for (size_t t = 0; t < PL; t++) {
            const double f = pre * khL[t];
            z[t][0] *= f;
            z[t][1] *= f;
            sb += sqrt(z[t][0] * z[t][0] + z[t][1] * z[t][1]);
          }
          sz += half_weight(s, k0 + b) * sb;
          fftw_execute_dft(s->bwd[L], z, z);
        }
        s->part_z[item] = sz;
        scatter(s, sc, base, strideL, cols, nL);
      }
      /* 4. (3D) inverse along axis 1, keeping the rows in the box. */
      if (d == 3) {
#pragma omp for schedule(static)
        for (size_t item = 0; item < nb * n2; item++) {
          const size_t kb = item % nb, k = item / nb, k0 = kb * FFT_COLS;
          const size_t cols = Q0 - k0 < FFT_COLS ? Q0 - k0 : FFT_COLS;
          fftw_complex *base = spec + k0 + Q0 * P1 * k;
          gather(s, sc, base, Q0, cols, P1, P1);
          for (size_t b = 0; b < cols; b++)
            fftw_execute_dft(s->bwd[1], sc + b * s->ldc, sc + b * s->ldc);
          scatter(s, sc, base, Q0, cols, n1);
        }
      }
      /* The bound needs both sums: reduced in a fixed order by one thread. */
#pragma omp single
      {
        double sv = 0, sz = 0;
        for (size_t l = 0; l < s->nlines; l++) sv += s->part_v[l];
        for (size_t g = 0; g < s->ngroups; g++) sz += s->part_z[g];
        E = s->etaF * (sv * s->kappa + sz) + (double)(d + 2) * FFT_U * sz;
      }
      /* 5. c2r along axis 0; out = M + log w with the per-line worst ratio. */
#pragma omp for schedule(static)
      for (size_t line = 0; line < s->nlines; line++) {
        const size_t j = line % n1, k = line / n1;
        memcpy(sc, spec + Q0 * (j + P1 * k), Q0 * sizeof(fftw_complex));
        fftw_execute_dft_c2r(s->c2r, sc, r);
        finish_line(s, r, E, M, out + n0 * line, n0 * line, &s->part_r[line], &s->part_i[line]);
      }
    }
  }
  double worst = 0;
  size_t at = 0;
  for (size_t l = 0; l < s->nlines; l++)
    if (s->part_r[l] > worst) worst = s->part_r[l], at = s->part_i[l];
  if (worst > s->acc) {
    const double w = exp(out[at] - M);
    fpk_error_set(err, FPK_EUNSUP,
                  "fft: at eps = %.4g the rounding bound %.3g of the FFT product exceeds "
                  "accuracy %.2g times output %zu (w = %.3g of the largest weight; ratio %.3g)",
                  s->eps, E, s->acc, at, w, worst);
    return 1;
  }
  return 0;
}

const ot_kernel_impl ot_kernel_fft = {
    {"fft",
     "separable Gaussian convolution by FFTW on a zero-padded grid, O(N log N); accepted while "
     "every output exceeds the FFT rounding bound by the accuracy asked (large eps)"},
    fft_alloc,
    fft_set_eps,
    fft_apply,
    fft_free};
const fpk_ot_kernel_type *fpk_ot_kernel_fft = &ot_kernel_fft.pub;
