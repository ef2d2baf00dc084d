/* Grid kernel back-end "band": the separable Gibbs kernel applied one axis at a time as a
 * Toeplitz product computed from the kernel's one row k_t = exp(−(t h_a)²/ε), in SIMD registers,
 * over OpenMP threads; the entries below DBL_MIN left out (a band of half-width r_a).
 *
 * Scheme. The scaling-domain product of the blas back-end (kernel_blas.c: v_j = exp(in_j − M)
 * with M = max in, w = K v axis by axis, out = M + log w; Solomon et al., "Convolutional
 * Wasserstein distances", ACM TOG 34(4), 2015, §4), with the per-axis matrix K_a[i][j] =
 * k_{|i−j|} never formed: a block of 8 SIMD vectors of outputs accumulates
 *   axis 0 (contiguous lines):  y[i..i+8W) += x_j · k[i − j .. i − j + 8W)   (one j at a time),
 *   axis a (stride Π_{b<a} n_b): Y_i[c..c+8W) += k_{|i−j|} · X_j[c..c+8W)   (whole rows),
 * where W is the vector width (4 doubles with AVX2, 8 with AVX-512, chosen at run time). The 8
 * independent accumulators hide the FMA latency; the kernel row (2n_a − 1 doubles) stays in L1,
 * so a pass is compute-bound where the dense dgemv of a 1D problem (n² doubles: 32 MB at
 * n = 2000) is bound by memory bandwidth.
 *
 * Determinism. Every output is one lane of one accumulator, the sum over j in increasing order,
 * one fused multiply-add per term; blocks at the edges of the band add terms whose kernel entry
 * is an exact 0 (the padded row), which leaves a nonnegative sum unchanged. So an output's value
 * does not depend on the vector width, the block an output falls in or the thread count (outputs
 * are split over threads, never a sum).
 *
 * Accuracy (the certificate of kernel_blas.c, plus the band). Every term is nonnegative; a pass
 * along n_a cells multiplies the relative error by at most 1 + γ_{n_a} + u (Higham, "Accuracy and
 * Stability of Numerical Algorithms", 2nd ed., §3.1), plus fpk_vexp's 4 ulp and the final log:
 *   rel = Σ_a (γ_{n_a} + u) + 5u.
 * Absolute errors: underflow, at most DBL_MIN per operation, E_under = 8 N DBL_MIN as in blas;
 * and the band: the entries left out are < DBL_MIN each and there are fewer than 2n_a of them per
 * output, applied to inputs <= Π_{b<a} S_b (S_b = Σ_t k_{|t|} <= the row sum, an upper bound of
 * every intermediate since v <= 1) and carried by the later passes with weight <= Π_{b>a} S_b, so
 *   E_band = Σ_a 2 n_a DBL_MIN Π_{b≠a} S_b.
 * apply accepts when every output satisfies rel + (E_under + E_band)/w_i <= accuracy (w_i normal)
 * and refuses (status 1) otherwise, naming the output. Unlike blas, set_eps never refuses ε: a
 * kernel entry that would underflow is simply outside the band, and its loss is in E_band. */
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/vmath.h"
#include "ot/ot_internal.h"

#define BAND_U (DBL_EPSILON / 2)
#define BAND_VB 4096 /* elementwise blocks (exp, log, the acceptance test) */
#define BAND_NV 8    /* accumulators (vectors) per block of outputs */

/* ---- the block products, one per vector width ------------------------------------------------
 * out[q] (q < 8W) = Σ_{t < nt} s[t·ss] · base[t·bs + q], t ascending, one FMA per term.
 * axis 0: s = x + jlo, ss = 1, base = krow + i0 − jlo, bs = −1;
 * axis a: s = krow + i − jlo, ss = −1, base = X + jlo·inner + c0, bs = inner. */
#define BAND_BLOCK_BODY(VT, W)                                                                  \
  VT acc[BAND_NV];                                                                              \
  for (int q = 0; q < BAND_NV; q++) acc[q] = (VT){0};                                          \
  for (size_t t = 0; t < nt; t++) {                                                             \
    const double sv = s[(ptrdiff_t)t * ss];                                                     \
    const double *p = base + (ptrdiff_t)t * bs;                                                 \
    for (int q = 0; q < BAND_NV; q++) {                                                         \
      VT kv;                                                                                    \
      memcpy(&kv, p + q * (W), sizeof kv);                                                      \
      acc[q] += sv * kv;                                                                        \
    }                                                                                           \
  }                                                                                             \
  memcpy(out, acc, sizeof acc);

_Static_assert(OT_BAND_PAD >= 8 * BAND_NV, "a row's padding must hold the widest block");

typedef double band_v4 __attribute__((vector_size(32)));
static void band_block4(size_t nt, const double *s, ptrdiff_t ss, const double *base,
                        ptrdiff_t bs, double *out) {
  BAND_BLOCK_BODY(band_v4, 4)
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define BAND_HAVE_512 1
typedef double band_v8 __attribute__((vector_size(64)));
__attribute__((target("avx512f"))) static void band_block8(size_t nt, const double *s,
                                                           ptrdiff_t ss, const double *base,
                                                           ptrdiff_t bs, double *out) {
  BAND_BLOCK_BODY(band_v8, 8)
}
#endif

typedef void band_block_fn(size_t, const double *, ptrdiff_t, const double *, ptrdiff_t,
                           double *);

/* The widest block product this CPU runs, and its outputs per block (8W). */
static band_block_fn *band_block_select(size_t *bw) {
#ifdef BAND_HAVE_512
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    *bw = 8 * BAND_NV;
    return band_block8;
  }
#endif
  *bw = 4 * BAND_NV;
  return band_block4;
}

/* The same sum for one output (the edges of a line or a row): the identical expression, so that
 * contraction into an FMA is the same as in the vector lanes. */
static double band_dot(size_t nt, const double *s, ptrdiff_t ss, const double *base,
                       ptrdiff_t bs) {
  double acc = 0;
  for (size_t t = 0; t < nt; t++) acc += s[(ptrdiff_t)t * ss] * base[(ptrdiff_t)t * bs];
  return acc;
}

typedef struct band_state {
  size_t dim, n[3], N, r[3];
  double h[3];
  int nthr;
  double *krow[3];   /* 2n_a − 1 + padding entries; krow[a] + n_a − 1 + 8W is k_0 (centre) */
  size_t kpad;       /* zero padding on each side of a row */
  double *buf[2];    /* N each */
  size_t nfin;
  double *part_r;
  size_t *part_i;
  band_block_fn *block;
  size_t bw;         /* outputs per block: 8W */
  double eps, acc, rel, eabs;
  int ready;
} band_state;

static void band_free(void *state) {
  band_state *s = state;
  if (!s) return;
  for (size_t a = 0; a < 3; a++) free(s->krow[a]);
  free(s->buf[0]);
  free(s->buf[1]);
  free(s->part_r);
  free(s->part_i);
  free(s);
}

static void *band_alloc(const fpk_grid *g, fpk_error *err) {
  if (!g || g->dim < 1 || g->dim > 3) {
    fpk_error_set(err, FPK_EINVAL, "band: grids of dimension 1 to 3 only");
    return NULL;
  }
  band_state *s = calloc(1, sizeof *s);
  if (!s) goto nomem;
  s->dim = g->dim;
  s->N = 1;
  s->block = band_block_select(&s->bw);
  s->kpad = OT_BAND_PAD;
  for (size_t a = 0; a < 3; a++) {
    s->n[a] = a < g->dim ? g->n[a] : 1;
    s->h[a] = a < g->dim ? g->h[a] : 0;
    s->N *= s->n[a];
  }
  for (size_t a = 0; a < g->dim; a++)
    if (!(s->krow[a] = calloc(2 * s->n[a] - 1 + 2 * s->kpad, sizeof(double)))) goto nomem;
  s->nthr = omp_get_max_threads();
  if (s->nthr < 1) s->nthr = 1;
  s->nfin = (s->N + BAND_VB - 1) / BAND_VB;
  s->buf[0] = malloc(s->N * sizeof(double));
  s->buf[1] = malloc(s->N * sizeof(double));
  s->part_r = malloc(s->nfin * sizeof *s->part_r);
  s->part_i = malloc(s->nfin * sizeof *s->part_i);
  if (!s->buf[0] || !s->buf[1] || !s->part_r || !s->part_i) goto nomem;
  return s;
nomem:
  band_free(s);
  fpk_error_set(err, FPK_ENOMEM, "band: out of memory for a grid of %zu cells", g ? g->size : 0);
  return NULL;
}

/* k_0 of axis a: krow[a] + kpad + n_a − 1; entries at offsets |t| <= r_a, zero beyond. */
static const double *band_centre(const band_state *s, size_t a) {
  return s->krow[a] + s->kpad + s->n[a] - 1;
}

/* The band half-width at ε: the largest t < n with exp(−(t h)²/ε) >= DBL_MIN. */
size_t ot_band_radius(size_t n, double h, double eps) {
  const double tmax = sqrt(-log(DBL_MIN) * eps) / h;
  return tmax >= (double)(n - 1) ? n - 1 : (size_t)tmax;
}

size_t ot_band_fill_row(double *row, size_t n, double h, double eps, double *sum) {
  size_t r = ot_band_radius(n, h, eps);
  double *kc = row + OT_BAND_PAD + n - 1, S = 1;
  memset(row, 0, (2 * n - 1 + 2 * OT_BAND_PAD) * sizeof(double));
  kc[0] = 1;
  for (size_t t = 1; t <= r; t++) {
    const double x = (double)t * h;
    const double k = exp(-x * x / eps);
    if (!(k >= DBL_MIN)) { /* rounding of the radius: keep the band to normal entries */
      r = t - 1;
      break;
    }
    kc[t] = kc[-(ptrdiff_t)t] = k;
    S += 2 * k;
  }
  if (sum) *sum = S;
  return r;
}

void ot_band_line(const double *kc, size_t n, size_t r, const double *x, double *y) {
  size_t bw;
  band_block_fn *block = band_block_select(&bw);
  const size_t nblk = n / bw;
  for (size_t b = 0; b < nblk; b++) {
    const size_t i0 = b * bw, i1 = i0 + bw;
    const size_t jlo = i0 > r ? i0 - r : 0, jhi = i1 - 1 + r < n ? i1 + r : n;
    block(jhi - jlo, x + jlo, 1, kc + i0 - jlo, -1, y + i0);
  }
  for (size_t i = nblk * bw; i < n; i++) {
    const size_t jlo = i > r ? i - r : 0, jhi = i + r < n ? i + r + 1 : n;
    y[i] = band_dot(jhi - jlo, x + jlo, 1, kc + i - jlo, -1);
  }
}

static double gamma_n(size_t n) { return (double)n * BAND_U / (1 - (double)n * BAND_U); }

static int band_set_eps(void *state, double eps, double accuracy, fpk_error *err) {
  band_state *s = state;
  s->ready = 0;
  if (!(eps > 0) || !isfinite(eps) || !(accuracy > 0)) {
    fpk_error_set(err, FPK_EINVAL, "band: eps = %g and accuracy = %g must be positive", eps,
                  accuracy);
    return -FPK_EINVAL;
  }
  double rel = 5 * BAND_U, S[3] = {1, 1, 1};
  for (size_t a = 0; a < s->dim; a++) {
    s->r[a] = ot_band_fill_row(s->krow[a], s->n[a], s->h[a], eps, &S[a]);
    rel += gamma_n(s->n[a]) + BAND_U;
  }
  if (rel > accuracy) {
    fpk_error_set(err, FPK_EUNSUP,
                  "band: the summation bound %.3g of the products exceeds accuracy %.2g", rel,
                  accuracy);
    return 1;
  }
  double eband = 0;
  for (size_t a = 0; a < s->dim; a++) {
    if (s->r[a] + 1 >= s->n[a]) continue; /* nothing left out */
    double p = 2 * (double)s->n[a] * DBL_MIN;
    for (size_t b = 0; b < s->dim; b++)
      if (b != a) p *= S[b];
    eband += p;
  }
  s->eabs = 8 * (double)s->N * DBL_MIN + eband;
  s->eps = eps;
  s->acc = accuracy;
  s->rel = rel;
  s->ready = 1;
  return 0;
}

/* Axis 0: every line of n0 contiguous cells, y_i = Σ_{|i−j| <= r} k_{i−j} x_j. Tasks are
 * (line, block of bw outputs), the last block of a line done output by output. */
static void pass_axis0(const band_state *s, int nt, const double *x, double *y) {
  const size_t n = s->n[0], R = s->N / n, r = s->r[0], bw = s->bw;
  const size_t nblk = n / bw, ntask = R * (nblk + 1);
  const double *kc = band_centre(s, 0);
#pragma omp parallel for num_threads(nt) schedule(static) if (s->N >= OT_PARALLEL_MIN)
  for (size_t task = 0; task < ntask; task++) {
    const size_t l = task / (nblk + 1), b = task % (nblk + 1);
    const double *xl = x + l * n;
    double *yl = y + l * n;
    if (b < nblk) {
      const size_t i0 = b * bw, i1 = i0 + bw;
      const size_t jlo = i0 > r ? i0 - r : 0, jhi = i1 - 1 + r < n ? i1 + r : n;
      s->block(jhi - jlo, xl + jlo, 1, kc + i0 - jlo, -1, yl + i0);
    } else {
      for (size_t i = nblk * bw; i < n; i++) {
        const size_t jlo = i > r ? i - r : 0, jhi = i + r < n ? i + r + 1 : n;
        yl[i] = band_dot(jhi - jlo, xl + jlo, 1, kc + i - jlo, -1);
      }
    }
  }
}

/* Axis a >= 1: for each block o of the outer axes, rows of `inner` = Π_{b<a} n_b contiguous
 * cells, Y_i = Σ_{|i−j| <= r} k_{i−j} X_j. Tasks are (o, i, chunk of bw columns). */
static void pass_axis(const band_state *s, size_t a, int nt, const double *x, double *y) {
  const size_t n = s->n[a], r = s->r[a], bw = s->bw;
  size_t inner = 1;
  for (size_t b = 0; b < a; b++) inner *= s->n[b];
  const size_t outer = s->N / (inner * n), nck = inner / bw, per = nck + 1;
  const size_t ntask = outer * n * per;
  const double *kc = band_centre(s, a);
#pragma omp parallel for num_threads(nt) schedule(static) if (s->N >= OT_PARALLEL_MIN)
  for (size_t task = 0; task < ntask; task++) {
    const size_t ck = task % per, i = (task / per) % n, o = task / (per * n);
    const double *X = x + o * n * inner;
    double *Y = y + o * n * inner + i * inner;
    const size_t jlo = i > r ? i - r : 0, jhi = i + r < n ? i + r + 1 : n;
    const double *kk = kc + i - jlo; /* kk[−t] = k_{i − (jlo + t)} */
    if (ck < nck) {
      const size_t c0 = ck * bw;
      s->block(jhi - jlo, kk, -1, X + jlo * inner + c0, (ptrdiff_t)inner, Y + c0);
    } else {
      for (size_t c = nck * bw; c < inner; c++)
        Y[c] = band_dot(jhi - jlo, kk, -1, X + jlo * inner + c, (ptrdiff_t)inner);
    }
  }
}

static int band_apply(void *state, const double *in, double *out, fpk_error *err) {
  band_state *s = state;
  if (!s->ready) {
    fpk_error_set(err, FPK_EINVAL, "band: apply before an accepted set_eps");
    return -FPK_EINVAL;
  }
  const size_t N = s->N, d = s->dim;
  double M = -INFINITY;
  for (size_t i = 0; i < N; i++) {
    if (isnan(in[i]) || in[i] == INFINITY) {
      fpk_error_set(err, FPK_ENUMERIC, "band: input %zu is %g", i, in[i]);
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
  double *const b0 = s->buf[0], *const b1 = s->buf[1];
#pragma omp parallel for num_threads(nt) schedule(static) if (N >= OT_PARALLEL_MIN)
  for (size_t blk = 0; blk < s->nfin; blk++) {
    const size_t lo = blk * BAND_VB, m = N - lo < BAND_VB ? N - lo : BAND_VB;
    for (size_t i = 0; i < m; i++) b0[lo + i] = in[lo + i] - M;
    fpk_vexp(m, b0 + lo, b0 + lo);
  }
  pass_axis0(s, nt, b0, b1);
  for (size_t a = 1; a < d; a++) {
    const double *src = a % 2 ? b1 : b0;
    double *dst = a % 2 ? b0 : b1;
    pass_axis(s, a, nt, src, dst);
  }
  const double *w = d % 2 ? b1 : b0;
  const double Eabs = s->eabs;
#pragma omp parallel for num_threads(nt) schedule(static) if (N >= OT_PARALLEL_MIN)
  for (size_t blk = 0; blk < s->nfin; blk++) {
    const size_t lo = blk * BAND_VB, m = N - lo < BAND_VB ? N - lo : BAND_VB;
    double wr = 0;
    size_t wi = lo;
    fpk_vlog(m, w + lo, out + lo);
    for (size_t i = lo; i < lo + m; i++) {
      const double wv = w[i], lw = out[i];
      /* libmvec's log: 4 ulp of |log w|, an absolute error in the log = relative in the sum */
      const double ratio = wv >= DBL_MIN ? s->rel + Eabs / wv + 4 * BAND_U * fabs(lw) : INFINITY;
      if (ratio > wr) wr = ratio, wi = i;
      out[i] = M + lw;
    }
    s->part_r[blk] = wr;
    s->part_i[blk] = wi;
  }
  return ot_scaled_outputs_check("band", s->nfin, s->part_r, s->part_i, w, s->eps, s->acc, err);
}

size_t ot_band_width(const void *state, size_t axis) {
  const band_state *s = state;
  return axis < s->dim ? s->r[axis] : 0;
}

const ot_kernel_impl ot_kernel_band = {
    {"band",
     "per-axis Toeplitz products from the kernel row in SIMD registers (AVX2/AVX-512), threaded, "
     "entries below DBL_MIN left out, scaling domain; accepted while no scaled output underflows"},
    band_alloc,
    band_set_eps,
    band_apply,
    band_free};
const fpk_ot_kernel_type *fpk_ot_kernel_band = &ot_kernel_band.pub;
