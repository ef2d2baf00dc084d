/* Dense log-domain Sinkhorn for any cost matrix (fpkit/ot.h).
 *
 * Log-domain products. Each half-step is a row-wise log-sum-exp over an n × m matrix:
 * t_j = in_j − C_ij/ε, its maximum subtracted, exponentiated by the vector exp of libmvec
 * (core/vmath.h) and summed. Rows are independent, so the threads split them with a static
 * schedule and every row is summed in the same order whatever the thread count. The column
 * half-step reads rows of the transpose, stored once per cost, so both half-steps stream memory
 * contiguously. Cost: n·m exponentials per half-step.
 *
 * Absorbed products (FPK_OT_DENSE_AUTO, the default when every weight is positive). The same
 * log-sum-exps, evaluated without n·m exponentials: the potentials of one iteration are absorbed
 * into a stored kernel (Schmitzer, "Stabilized sparse scaling algorithms for entropy regularized
 * transport problems", SIAM J. Sci. Comput. 41(3), 2019, §3.2; Chizat, Peyré, Schmitzer &
 * Vialard, Math. Comp. 87, 2018, §4.1). At an anchor (one row half-step, computed in the log
 * domain) with input β = in and output o,
 *   K_ij = exp(β_j − C_ij/ε − o_i)   (each row sums to 1),   α_i = −o_i,
 * and then, exactly,
 *   rows:    log Σ_j exp(in_j − C_ij/ε) = o_i + log Σ_j K_ij exp(in_j − β_j),
 *   columns: log Σ_i exp(in_i − C_ij/ε) = −β_j + log Σ_i K_ij exp(in_i − α_i),
 * i.e. a matrix-vector product with n + m exponentials, streaming one stored matrix: memory-bound
 * where the log domain is bound by its exponentials. While the potentials stay near the anchor,
 * exp(in_j − β_j) (rows) and exp(in_i − α_i)/a_i (columns) stay near 1. All terms are positive,
 * so the sums lose nothing to cancellation: each output carries the relative error of its
 * m-term sum, γ_m (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed., §4.2),
 * plus 10 ulp from the exponentials and the row scaling, as the log-domain sum does (γ_m + 4 ulp).
 * What is lost is lost to underflow: kernel entries below 10⁻²⁹⁴ are stored as 0 (absolute
 * error below 10⁻²⁹⁴ each, the exp floor below included; so that no product K_ij·v_j with
 * v_j >= e^−30 is subnormal: subnormal operands cost a microcode assist each, which made the
 * products 20× slower where much of K lies near the exp floor, e.g. ε = 5·10⁻⁴ on [0, 1]). A
 * product is accepted only when the bound m·max(v)·10⁻²⁹⁴ on that loss is below 10⁻¹⁵ of every
 * output and the inputs lie within
 * ABS_DRIFT of the anchor (so v = exp(in − β) cannot overflow); otherwise the row half-step
 * re-anchors (one log-domain half-step, plus the n·m divisions) and the column half-step is
 * computed in the log domain. A new ε always re-anchors.
 *
 * Large ε: the centred representation (ot_internal.h). With the row and column means
 * c_i = Σ_j b_j C_ij, d_j = Σ_i a_i C_ij and κ = ⟨a, c⟩ = ⟨a⊗b, C⟩, the split α_i = c_i − κ,
 * β_j = d_j leaves C̃_ij = C_ij − α_i − β_j with vanishing weighted row and column means. When ε
 * is at least the oscillation of C (max − min over all entries, so every |C̃_ij|/ε <= 2), the
 * solve runs on f̃ = f − α, g̃ = g − β and each half-step is
 *   f̂̃_i = −ε log1p(⟨b, g̃⟩/ε + Σ_j b_j ψ((g̃_j − C̃_ij)/ε)),
 * a sum of nonnegative terms ψ (n·m evaluations, no anchor); ⟨π, C̃⟩ = Σ a_i b_j expm1(u_ij) C̃_ij.
 * The potentials are returned as f̃ + α, g̃ + β.
 */
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/vmath.h"
#include "ot/ot_internal.h"

struct fpk_ot_dense {
  size_t n, m, nthreads;
  double *C, *Ct;         /* n × m and m × n */
  int has_cost;
  double cmax;
  double *a, *b, *loga, *logb;
  double *tmp;            /* per thread: max(n, m) */
  double *rowacc;         /* max(n, m): per-row partial sums, added in order */
  fpk_ot_dense_method method;
  /* Absorbed products: K (n × m, allocated on first use), the anchor α (n), β (m), the scaled
   * inputs v (max(n, m)), the ε of K (0: no anchor) and counters. */
  double *K, *alpha, *beta, *v;
  double *part, *rowin;   /* fused iterations: FUSED_CHUNKS column sums (m each); inputs (m) */
  /* The anchor's kind: 0 rows (anchor_rows), 1 columns (anchor_cols); for a column anchor, the
   * row inputs' offset in − β at the anchor (m), the centre of their drift window. colmin (m):
   * the column minima of C (dense_cost_stats), for the column anchor's shifts. */
  int anchor_cols;
  double *rcentre, *colmin;
  /* K is stored in the memory of Cᵀ (K == Ct): Cᵀ is read only by the log-domain column
   * half-steps and the centred form, neither of which a solve with absorbed products needs
   * once it has anchored (its log-domain columns stream C: lse_cols_stream). ct_valid: Ct holds
   * Cᵀ (set by store_transpose, cleared by an anchor; a solve that needs Cᵀ rebuilds it). */
  int ct_valid;
  /* Threads used now (team_choose): w->nthreads or 1, chosen by measurement during a solve; the
   * smoothed seconds per fused iteration with it, and the iteration count of the next probe. */
  int team;
  double team_sum, probe_sum;
  size_t team_n, probe_n, fused_calls, next_probe, probe_gap;
  double K_eps;
  int use_absorbed;
  size_t anchors, absorbed, logdomain;
  /* Centring (large ε): α (n), β (m), whether the last solve used it, and the cost's ranges. */
  double *calpha, *cbeta;
  int centred;
  double kappa, osc, cabs;
  /* The range of C over all entries (store_transpose) and whether κ is left to the cost pass
   * (dense_cost_stats). */
  double all_lo, all_hi;
  int kappa_late;
  ot_engine_work W;
  fpk_error err;
};

void fpk_ot_dense_free(fpk_ot_dense *w) {
  if (!w) return;
  free(w->C);
  free(w->Ct);
  free(w->a);
  free(w->b);
  free(w->loga);
  free(w->logb);
  free(w->tmp);
  free(w->rowacc);
  free(w->alpha);
  free(w->beta);
  free(w->v);
  free(w->part);
  free(w->rowin);
  free(w->rcentre);
  free(w->colmin);
  free(w->calpha);
  free(w->cbeta);
  ot_engine_work_free(&w->W);
  free(w);
}

fpk_ot_dense *fpk_ot_dense_alloc(size_t n, size_t m, fpk_error *err) {
  if (n < 1 || m < 1) {
    fpk_error_set(err, FPK_EINVAL, "ot: empty marginal (n = %zu, m = %zu)", n, m);
    return NULL;
  }
  if (n > ((size_t)1 << 40) / m) {
    fpk_error_set(err, FPK_EINVAL, "ot: a %zu x %zu cost matrix is too large for the dense solver",
                  n, m);
    return NULL;
  }
  fpk_ot_dense *w = calloc(1, sizeof *w);
  if (!w) goto nomem;
  w->n = n;
  w->m = m;
  w->nthreads = (size_t)omp_get_max_threads();
  w->team = (int)w->nthreads;
  size_t nm = n > m ? n : m;
  w->C = malloc(n * m * sizeof(double));
  w->Ct = malloc(n * m * sizeof(double));
  w->a = malloc(n * sizeof(double));
  w->loga = malloc(n * sizeof(double));
  w->b = malloc(m * sizeof(double));
  w->logb = malloc(m * sizeof(double));
  w->tmp = malloc(w->nthreads * nm * sizeof(double));
  w->rowacc = malloc(nm * sizeof(double));
  w->alpha = malloc(n * sizeof(double));
  w->beta = malloc(m * sizeof(double));
  w->v = malloc(nm * sizeof(double));
  w->calpha = malloc(n * sizeof(double));
  w->cbeta = malloc(m * sizeof(double));
  w->rcentre = malloc(m * sizeof(double));
  w->colmin = malloc(m * sizeof(double));
  if (!w->C || !w->Ct || !w->a || !w->loga || !w->b || !w->logb || !w->tmp || !w->rowacc ||
      !w->alpha || !w->beta || !w->v || !w->calpha || !w->cbeta || !w->rcentre || !w->colmin ||
      ot_engine_work_alloc(&w->W, n, m))
    goto nomem;
  return w;
nomem:
  fpk_ot_dense_free(w);
  fpk_error_set(err, FPK_ENOMEM, "ot: out of memory for a %zu x %zu dense problem", n, m);
  return NULL;
}

static void transpose_cost(fpk_ot_dense *w) {
  const size_t n = w->n, m = w->m, B = 64;
  for (size_t i0 = 0; i0 < n; i0 += B)
    for (size_t j0 = 0; j0 < m; j0 += B)
      for (size_t i = i0; i < i0 + B && i < n; i++)
        for (size_t j = j0; j < j0 + B && j < m; j++) w->Ct[j * n + i] = w->C[i * m + j];
  w->ct_valid = 1;
}

static void store_transpose(fpk_ot_dense *w) {
  const size_t n = w->n, m = w->m;
  transpose_cost(w);
  /* The range of C and its column minima: what the statistics of a solve with positive weights
   * need besides κ (dense_cost_stats), taken here, where C is read anyway. */
  double cmax = 0, lo = INFINITY, hi = -INFINITY;
  double *restrict cm = w->colmin;
  for (size_t j = 0; j < m; j++) cm[j] = INFINITY;
  for (size_t i = 0; i < n; i++) {
    const double *restrict C = w->C + i * m;
#pragma omp simd reduction(min : lo) reduction(max : hi)
    for (size_t j = 0; j < m; j++) {
      lo = C[j] < lo ? C[j] : lo;
      hi = C[j] > hi ? C[j] : hi;
      cm[j] = C[j] < cm[j] ? C[j] : cm[j];
    }
  }
  if (hi > cmax) cmax = hi;
  w->cmax = cmax;
  w->all_lo = lo;
  w->all_hi = hi;
  w->has_cost = 1;
  w->K_eps = 0; /* a new cost: no anchor */
}

int fpk_ot_dense_set_cost(fpk_ot_dense *w, const double *C) {
  fpk_error_clear(&w->err);
  for (size_t k = 0; k < w->n * w->m; k++)
    if (!isfinite(C[k]))
      return fpk_error_set(&w->err, FPK_EINVAL, "ot: cost[%zu][%zu] = %g is not finite",
                           k / w->m, k % w->m, C[k]);
  memcpy(w->C, C, w->n * w->m * sizeof *C);
  store_transpose(w);
  return FPK_SUCCESS;
}

int fpk_ot_dense_set_points(fpk_ot_dense *w, size_t d, const double *x, const double *y,
                            fpk_ot_cost cost) {
  fpk_error_clear(&w->err);
  if (d < 1) return fpk_error_set(&w->err, FPK_EINVAL, "ot: points of dimension 0");
  if (cost != FPK_OT_COST_SQEUCLID && cost != FPK_OT_COST_HALF_SQEUCLID)
    return fpk_error_set(&w->err, FPK_EINVAL,
                         "ot: set_points takes the cost |x-y|^2 or |x-y|^2/2 (use set_cost for "
                         "a matrix)");
  for (size_t k = 0; k < w->n * d; k++)
    if (!isfinite(x[k]))
      return fpk_error_set(&w->err, FPK_EINVAL, "ot: x[%zu][%zu] = %g is not finite", k / d,
                           k % d, x[k]);
  for (size_t k = 0; k < w->m * d; k++)
    if (!isfinite(y[k]))
      return fpk_error_set(&w->err, FPK_EINVAL, "ot: y[%zu][%zu] = %g is not finite", k / d,
                           k % d, y[k]);
  const double scale = cost == FPK_OT_COST_HALF_SQEUCLID ? 0.5 : 1;
  for (size_t i = 0; i < w->n; i++)
    for (size_t j = 0; j < w->m; j++) {
      double s = 0;
      for (size_t c = 0; c < d; c++) {
        double dx = x[i * d + c] - y[j * d + c];
        s += dx * dx;
      }
      w->C[i * w->m + j] = scale * s;
    }
  store_transpose(w);
  return FPK_SUCCESS;
}

/* Arguments of exp are clamped from below at −708: exp(−708) ≈ 3·10⁻³⁰⁸, so each clamped term
 * adds at most that to a sum ≥ 1 (the largest term is exp(0)), far below rounding, while
 * libmvec's exp leaves its vector path for arguments below about −708 (12.7 ns per call of 4
 * lanes against 2.1 ns, measured). −∞ (an atom without mass) becomes exp(−708) ≈ 0 too. The
 * comparison is written so that a NaN passes through and is seen by the engine's checks. */
#define LSE_EXP_FLOOR (-708.0)

/* c_i = Σ_j b_j C_ij, one row's mean under b (κ = Σ_i a_i c_i = ⟨a⊗b, C⟩): one function for the
 * statistics pass and the cost passes that take κ over (dense_cost_stats), so that κ has the
 * same bits whichever pass forms it. */
static inline double row_mean(size_t m, const double *restrict b, const double *restrict C) {
  double c = 0;
#pragma omp simd reduction(+ : c)
  for (size_t j = 0; j < m; j++) c += b[j] * C[j];
  return c;
}

/* s = Σ_j exp(t_j − max), t_j = in_j − row_j/ε, and *mx = max (−∞ with s = 0 when every t_j is
 * −∞); t is scratch for nc values and keeps the terms. The max and the sum are SIMD reductions
 * (fixed lane order, so the result is the same on any thread): a scalar sum would wait on each
 * add's latency, which cost more than the exp. */
static double row_exp_sum(size_t nc, const double *restrict in, const double *restrict row,
                          double inv, double *restrict t, double *mx_out) {
  double mx = -INFINITY;
#pragma omp simd reduction(max : mx)
  for (size_t j = 0; j < nc; j++) {
    t[j] = in[j] - row[j] * inv;
    mx = t[j] > mx ? t[j] : mx;
  }
  *mx_out = mx;
  if (mx == -INFINITY) return 0;
#pragma omp simd
  for (size_t j = 0; j < nc; j++) {
    const double u = t[j] - mx;
    t[j] = u < LSE_EXP_FLOOR ? LSE_EXP_FLOOR : u;
  }
  fpk_vexp(nc, t, t);
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (size_t j = 0; j < nc; j++) s += t[j];
  return s;
}

/* log Σ_j exp(in_j − row_j/ε), the maximum subtracted. */
static double row_lse(size_t nc, const double *restrict in, const double *restrict row, double inv,
                      double *restrict t) {
  double mx;
  const double s = row_exp_sum(nc, in, row, inv, t, &mx);
  return mx == -INFINITY ? -INFINITY : mx + log(s);
}

/* log Σ_j exp(in_j − row_j/ε) for every row of an nr × nc matrix. */
static void lse_rows(fpk_ot_dense *w, const double *M, size_t nr, size_t nc, double eps,
                     const double *in, double *out) {
  const double inv = 1 / eps;
  const size_t nm = w->n > w->m ? w->n : w->m;
#pragma omp parallel num_threads(w->team) if (w->n * w->m >= OT_PARALLEL_MIN)
  {
    double *t = w->tmp + (size_t)omp_get_thread_num() * nm;
#pragma omp for schedule(static)
    for (size_t i = 0; i < nr; i++) out[i] = row_lse(nc, in, M + i * nc, inv, t);
  }
}

/* ---- absorbed products ------------------------------------------------------------------- */

/* Inputs may move this far (in log, i.e. the potentials by 30ε) from the anchor: v = exp(in −
 * anchor) stays within e^±30 ≈ 10^±13, far from overflow, and the underflow bound below stays
 * tiny. (POT's sinkhorn_stabilized absorbs at 10³, i.e. 6.9; a re-anchoring costs about two
 * absorbed iterations here, so we allow more.) */
#define ABS_DRIFT 30.0
/* Absolute error of one stored kernel entry: entries below it are stored as 0. It is
 * DBL_MIN·e^30 rounded up (v >= e^−ABS_DRIFT keeps every product above DBL_MIN). */
#define ABS_ENTRY_FLOOR 1e-294
/* Accept a product when its underflow loss is below this fraction of the output. */
#define ABS_ACCEPT 1e-15

/* The anchor: the row half-step in the log domain (out), storing the normalised kernel rows. */
static void anchor_rows(fpk_ot_dense *w, double eps, const double *in, double *out) {
  const size_t n = w->n, m = w->m;
  w->ct_valid = 0; /* K is stored over Cᵀ */
  const double inv = 1 / eps;
#pragma omp parallel for num_threads(w->team) schedule(static) \
    if (n * m >= OT_PARALLEL_MIN)
  for (size_t i = 0; i < n; i++) {
    double *restrict k = w->K + i * m, mx;
    const double s = row_exp_sum(m, in, w->C + i * m, inv, k, &mx); /* k: exp(t_j − max) */
    out[i] = mx + log(s); /* every weight is positive here: mx is finite */
    const double r = 1 / s;
#pragma omp simd
    for (size_t j = 0; j < m; j++) {
      const double kr = k[j] * r;
      k[j] = kr < ABS_ENTRY_FLOOR ? 0 : kr;
    }
    w->alpha[i] = -out[i];
  }
  memcpy(w->beta, in, m * sizeof *in);
  w->K_eps = eps;
  w->anchor_cols = 0;
  w->anchors++;
}

/* The fused passes' and the column anchor's fixed chunks of rows (dense_fused). */
#define FUSED_CHUNKS 16
static int absorbed_cols_sum(fpk_ot_dense *w, double floor_c, double scale, double *gh);

/* The anchor at a column half-step: input α = in (n), output o (m) = log Σ_i exp(in_i − C_ij/ε),
 * and the kernel K_ij = exp(α_i + β_j − C_ij/ε) with β_j = −σ_j, where σ_j = max_i in_i −
 * min_i C_ij/ε bounds column j's largest exponent from above (so no entry exceeds 1 + rounding,
 * without a pass for the exact maxima, unless the inputs span more than ANCHOR_BOUND_RANGE);
 * then o_j = σ_j + log Σ_i K_ij. The absorbed products
 * hold for any α, β (the identities above), so the row and column products go on unchanged; the
 * kernel's columns sum to s_j = e^{o_j − σ_j} instead of 1, and the row inputs start at
 * exp(in_j − β_j) = b_j/s_j (their drift window is centred there: rcentre). One pass over C,
 * n·m exponentials, writing K: the row anchor needs the column half-step before it in the log
 * domain (a pass over Cᵀ and n·m more exponentials), which this replaces. Each sum Σ_i K_ij is
 * a sum of n nonnegative terms (γ_n, as the log-domain sum), accumulated in FUSED_CHUNKS fixed
 * chunks of rows added in order (the same bits on any thread count). Entries below
 * ABS_ENTRY_FLOOR are stored as 0 and the outputs certified as in absorbed_cols (u = 1); 0 when
 * a sum is not certified (a range of inputs so wide that the bound σ_j lies far above the true
 * maximum): the caller then takes the log domain and the row anchor. */
/* Inputs spanning at most this (in log) take the bound σ_j: the term of the row with the
 * column's least cost is then >= e^−600 ≈ 10⁻²⁶¹, so every sum passes the certification floor
 * n·10⁻²⁹⁴/10⁻¹⁵ (up to n = 10¹⁵). */
#define ANCHOR_BOUND_RANGE 600.0
/* The column pass of anchor_cols: σ (into w->rowin; exact maxima when exact or when the inputs
 * span more than ANCHOR_BOUND_RANGE) and the chunks' sums Σ_i exp(in_i − C_ij/ε − σ_j) (into
 * w->part); the terms are stored in K when store, else in per-thread scratch. */
static void cols_exp_sums(fpk_ot_dense *w, double eps, const double *in, int exact, int store) {
  const size_t n = w->n, m = w->m, nm = n > m ? n : m;
  const double inv = 1 / eps;
  double inmax = -INFINITY, inmin = INFINITY;
  for (size_t i = 0; i < n; i++) {
    inmax = in[i] > inmax ? in[i] : inmax;
    inmin = in[i] < inmin ? in[i] : inmin;
  }
  double *sigma = w->rowin; /* m: the shifts σ_j */
  if (!exact && inmax - inmin <= ANCHOR_BOUND_RANGE) {
    for (size_t j = 0; j < m; j++) sigma[j] = inmax - w->colmin[j] * inv;
  } else {
    /* A wide range of inputs (a warm start, the later stages of ε-scaling): the bound could
     * lie so far above a column's largest exponent that its sum underflows, so take the
     * exact maxima, in a pass over C without exponentials (each column then has a term 1). */
#pragma omp parallel for num_threads(w->team) schedule(dynamic, 1) \
    if (n * m >= OT_PARALLEL_MIN)
    for (size_t c = 0; c < FUSED_CHUNKS; c++) {
      double *restrict mx = w->part + c * m;
      for (size_t j = 0; j < m; j++) mx[j] = -INFINITY;
      for (size_t i = n * c / FUSED_CHUNKS; i < n * (c + 1) / FUSED_CHUNKS; i++) {
        const double *restrict C = w->C + i * m;
        const double ai = in[i];
#pragma omp simd
        for (size_t j = 0; j < m; j++) {
          const double t = ai - C[j] * inv;
          mx[j] = t > mx[j] ? t : mx[j];
        }
      }
    }
    for (size_t j = 0; j < m; j++) {
      double mx = w->part[j];
      for (size_t c = 1; c < FUSED_CHUNKS; c++) mx = w->part[c * m + j] > mx ? w->part[c * m + j] : mx;
      sigma[j] = mx;
    }
  }
#pragma omp parallel for num_threads(w->team) schedule(dynamic, 1) \
    if (n * m >= OT_PARALLEL_MIN)
  for (size_t c = 0; c < FUSED_CHUNKS; c++) {
    double *restrict acc = w->part + c * m;
    const double *restrict sg = sigma;
    for (size_t j = 0; j < m; j++) acc[j] = 0;
    for (size_t i = n * c / FUSED_CHUNKS; i < n * (c + 1) / FUSED_CHUNKS; i++) {
      double *restrict k = store ? w->K + i * m : w->tmp + (size_t)omp_get_thread_num() * nm;
      const double *restrict C = w->C + i * m;
      const double ai = in[i];
#pragma omp simd
      for (size_t j = 0; j < m; j++) {
        const double t = (ai - C[j] * inv) - sg[j];
        k[j] = t < LSE_EXP_FLOOR ? LSE_EXP_FLOOR : t;
      }
      fpk_vexp(m, k, k);
#pragma omp simd
      for (size_t j = 0; j < m; j++) {
        const double kj = k[j] < ABS_ENTRY_FLOOR ? 0 : k[j];
        k[j] = kj;
        acc[j] += kj;
      }
    }
  }
}

static int anchor_cols(fpk_ot_dense *w, double eps, const double *in, double *out) {
  const size_t n = w->n, m = w->m;
  w->ct_valid = 0; /* K is stored over Cᵀ */
  cols_exp_sums(w, eps, in, 0, 1);
  const double *sigma = w->rowin;
  memcpy(w->alpha, in, n * sizeof *in);
  for (size_t j = 0; j < m; j++) w->beta[j] = -sigma[j];
  w->K_eps = eps;
  w->anchor_cols = 1;
  /* u_i = exp(in_i − α_i) = 1: the certification floor of absorbed_cols with umax = 1 */
  if (absorbed_cols_sum(w, (double)n * ABS_ENTRY_FLOOR / ABS_ACCEPT, 0, out)) {
    for (size_t j = 0; j < m; j++) w->rcentre[j] = w->logb[j] - (out[j] + w->beta[j]);
    w->anchors++;
    return 1;
  }
  w->K_eps = 0;
  return 0;
}

/* v_k = exp(in_k − anchor_k − shift_k) for k < len, shift = NULL or log-weights; 0 when the
 * drift leaves ±ABS_DRIFT (or is NaN). *vmax receives max v. */
static int scaled_inputs(size_t len, const double *in, const double *anchor, const double *shift,
                         double *v, double *vmax) {
  int ok = 1;
  for (size_t k = 0; k < len; k++) {
    v[k] = in[k] - anchor[k];
    const double d = v[k] - (shift ? shift[k] : 0);
    ok &= d <= ABS_DRIFT && d >= -ABS_DRIFT; /* false for NaN */
  }
  if (!ok) return 0;
  fpk_vexp(len, v, v);
  double mx = 0;
#pragma omp simd reduction(max : mx)
  for (size_t k = 0; k < len; k++) mx = v[k] > mx ? v[k] : mx;
  *vmax = mx;
  return 1;
}

/* Σ_j k_j v_j with DOT_LANES independent partial sums (a single SIMD accumulator would wait on
 * each add's latency: 1.6 ms per 2000 × 2000 product against 1.2 ms to stream it), added in a
 * fixed order at the end. */
#define DOT_LANES 16
static double dot(size_t m, const double *restrict k, const double *restrict v) {
  double part[DOT_LANES] = {0};
  size_t j = 0;
  for (; j + DOT_LANES <= m; j += DOT_LANES)
#pragma omp simd
    for (size_t l = 0; l < DOT_LANES; l++) part[l] += k[j + l] * v[j + l];
  double s = 0;
  for (; j < m; j++) s += k[j] * v[j];
  for (size_t l = 0; l < DOT_LANES; l++) s += part[l];
  return s;
}

/* Rows: out_i = −α_i + log Σ_j K_ij v_j. 0 when some output is not certified. */
static int absorbed_rows(fpk_ot_dense *w, const double *in, double *out) {
  const size_t n = w->n, m = w->m;
  double vmax;
  if (!scaled_inputs(m, in, w->beta, w->anchor_cols ? w->rcentre : NULL, w->v, &vmax)) return 0;
  const double floor = (double)m * vmax * ABS_ENTRY_FLOOR / ABS_ACCEPT;
  int ok = 1;
#pragma omp parallel for num_threads(w->team) schedule(static) reduction(& : ok) \
    if (n * m >= OT_PARALLEL_MIN)
  for (size_t i = 0; i < n; i++) {
    const double s = dot(m, w->K + i * m, w->v);
    ok &= s >= floor && s <= DBL_MAX;
    out[i] = log(s) - w->alpha[i];
  }
  return ok;
}

/* Columns: out_j = −β_j + log Σ_i K_ij u_i, u_i = exp(in_i − α_i) (≈ a_i near the anchor). Each
 * thread accumulates a contiguous range of columns over all rows, in row order, so a column's
 * sum does not depend on which thread makes it (nor on how many there are), and every row is
 * read in long contiguous pieces. */
static int absorbed_cols(fpk_ot_dense *w, const double *in, double *out) {
  const size_t n = w->n, m = w->m, nm = n > m ? n : m;
  double umax;
  if (!scaled_inputs(n, in, w->alpha, w->anchor_cols ? NULL : w->loga, w->v, &umax)) return 0;
  const double floor = (double)n * umax * ABS_ENTRY_FLOOR / ABS_ACCEPT;
  int ok = 1;
#pragma omp parallel num_threads(w->team) reduction(& : ok) if (n * m >= OT_PARALLEL_MIN)
  {
    const size_t nt = (size_t)omp_get_num_threads(), id = (size_t)omp_get_thread_num();
    const size_t j0 = m * id / nt, j1 = m * (id + 1) / nt, len = j1 - j0;
    double *restrict acc = w->tmp + id * nm;
    for (size_t j = 0; j < len; j++) acc[j] = 0;
    for (size_t i = 0; i < n; i++) {
      const double *restrict k = w->K + i * m + j0, u = w->v[i];
#pragma omp simd
      for (size_t j = 0; j < len; j++) acc[j] += k[j] * u;
    }
    for (size_t j = 0; j < len; j++) {
      ok &= acc[j] >= floor && acc[j] <= DBL_MAX;
      out[j0 + j] = log(acc[j]) - w->beta[j0 + j];
    }
  }
  return ok;
}

/* One iteration in one pass over K (ot_problem.fused): row i's product Σ_j K_ij v_j gives f̂_i,
 * then the relaxed f_i and u_i = exp(loga_i + f_i/ε − α_i), and the same row, still in cache,
 * is added into the column sums Σ_i K_ij u_i; a Sinkhorn iteration then streams the n × m kernel
 * once instead of twice (the products are memory-bound: 32 MB per pass at n = m = 2000).
 * Determinism: the rows are cut into FUSED_CHUNKS fixed chunks (not one per thread), each
 * chunk's column sums accumulated in row order into its own m-vector and the chunks' vectors
 * added in chunk order, so the result does not depend on the thread count; the chunks are
 * handed out dynamically, so a thread slowed by another process on its core leaves its share
 * to the other (a static split waits for the slowest thread, issue 15 item 4). The outputs are
 * certified as those of absorbed_rows / absorbed_cols (the same floors and drift bounds). */

/* The thread count, chosen by measurement (issue 15, item 4). Results do not depend on it (every
 * product sums in an order fixed by the data: rows, fixed chunks), so it may change at any
 * iteration. With libgomp's default wait policy a thread that waits at a barrier or between
 * parallel regions spins (GOMP_SPINCOUNT, 300000 polls) before it sleeps; where another process
 * keeps the cores busy the spinning threads and the descheduled ones delay every region's
 * barrier, and a solve on 2 threads took 1.34 s against 0.49 s on one (measured, n = 2000,
 * ε = 0.005, 103 iterations, load average 7 on 2 cores; 0.32 s with OMP_WAIT_POLICY=passive,
 * which a library cannot set: libgomp reads it once, at start-up). So the solver times its
 * fused iterations: the current team's mean time per iteration against TEAM_PROBE_LEN
 * iterations with the other choice (w->nthreads or 1), first after TEAM_PROBE_FIRST iterations,
 * then every probe_gap; a probe at least 10% faster switches. The gap doubles after each probe
 * that does not switch (8, 16, …, 256), so on an idle machine the probes on one thread cost a
 * few iterations' worth of the second thread's gain and 2 threads stay faster than 1. Small
 * problems (n·m < OT_PARALLEL_MIN) run on one thread. */
#define TEAM_PROBE_FIRST 2
#define TEAM_PROBE_LEN 4
#define TEAM_PROBE_GAP 8
#define TEAM_PROBE_MAX 256
static int team_choose(fpk_ot_dense *w, int *probing) {
  *probing = 0;
  if (w->nthreads < 2 || w->n * w->m < OT_PARALLEL_MIN) return 1;
  if (w->fused_calls >= w->next_probe && w->team_n > 0) {
    *probing = 1;
    return w->team == 1 ? (int)w->nthreads : 1;
  }
  return w->team;
}

/* Iteration times: the current team's mean since its last probe or switch (team_sum/team_n),
 * against the mean over a probe of TEAM_PROBE_LEN iterations with the other team (under load the
 * times are bimodal, e.g. 1.3 ms or 12–20 ms on 2 threads, so single iterations mislead). */
static void team_record(fpk_ot_dense *w, int used, int probing, double dt) {
  w->fused_calls++;
  if (w->nthreads < 2 || w->n * w->m < OT_PARALLEL_MIN) return;
  if (!probing) {
    w->team_sum += dt;
    w->team_n++;
    return;
  }
  w->probe_sum += dt;
  if (++w->probe_n < TEAM_PROBE_LEN) return;
  const double probe = w->probe_sum / (double)w->probe_n, cur = w->team_sum / (double)w->team_n;
  if (probe < 0.9 * cur) { /* switch; the probe's times are the new team's */
    w->team = used;
    w->team_sum = w->probe_sum;
    w->team_n = w->probe_n;
    w->probe_gap = TEAM_PROBE_GAP;
  } else if (w->probe_gap < TEAM_PROBE_MAX) {
    w->probe_gap *= 2;
  }
  w->probe_sum = 0;
  w->probe_n = 0;
  w->next_probe = w->fused_calls + w->probe_gap;
}

static int dense_fused(void *ctx, double eps, const double *g, const double *f, double omega,
                       double *fh, double *fn, double *gh) {
  fpk_ot_dense *w = ctx;
  if (!w->use_absorbed || w->K_eps != eps || !w->part) return 2;
  const size_t n = w->n, m = w->m;
  int probing;
  const int team = team_choose(w, &probing);
  const double t0 = omp_get_wtime();
  const double inv = 1 / eps;
  double *in = w->rowin;
  for (size_t j = 0; j < m; j++) in[j] = w->logb[j] + g[j] * inv; /* as half_step */
  double vmax;
  if (!scaled_inputs(m, in, w->beta, w->anchor_cols ? w->rcentre : NULL, w->v, &vmax)) return 2;
  const int centre_a = !w->anchor_cols; /* the column inputs' drift window: log a or 0 */
  const double floor_r = (double)m * vmax * ABS_ENTRY_FLOOR / ABS_ACCEPT;
  int ok_r = 1, ok_c = 1;
  double umax = 0;
#pragma omp parallel for num_threads(team) schedule(dynamic, 1) \
    reduction(& : ok_r, ok_c) reduction(max : umax) if (n * m >= OT_PARALLEL_MIN)
  for (size_t c = 0; c < FUSED_CHUNKS; c++) {
    double *restrict acc = w->part + c * m;
    const double *restrict v = w->v;
    for (size_t j = 0; j < m; j++) acc[j] = 0;
    for (size_t i = n * c / FUSED_CHUNKS; i < n * (c + 1) / FUSED_CHUNKS; i++) {
      const double *restrict k = w->K + i * m;
      const double s = dot(m, k, v);
      ok_r &= s >= floor_r && s <= DBL_MAX;
      const double fi = (log(s) - w->alpha[i]) * -eps;
      fh[i] = fi;
      const double fr = omega == 1 ? fi : f[i] + omega * (fi - f[i]);
      fn[i] = fr;
      const double d = (w->loga[i] + fr * inv) - w->alpha[i];
      const double drift = centre_a ? d - w->loga[i] : d;
      ok_c &= drift <= ABS_DRIFT && drift >= -ABS_DRIFT; /* false for NaN */
      const double u = exp(d);
      umax = u > umax ? u : umax;
#pragma omp simd
      for (size_t j = 0; j < m; j++) acc[j] += k[j] * u;
    }
  }
  team_record(w, team, probing, omp_get_wtime() - t0);
  if (!ok_r) return 2;
  w->absorbed++;
  if (!ok_c) return 1;
  if (!absorbed_cols_sum(w, (double)n * umax * ABS_ENTRY_FLOOR / ABS_ACCEPT, -eps, gh)) return 1;
  w->absorbed++;
  return 0;
}

/* The column outputs of a fused pass or a column anchor from the chunks' sums (w->part, added in
 * chunk order): (log s_j − β_j)·scale (scale −ε: potentials; 0: the log-sum-exps themselves);
 * 0 when some s_j is below floor_c or not finite. */
static int absorbed_cols_sum(fpk_ot_dense *w, double floor_c, double scale, double *gh) {
  const size_t m = w->m;
  for (size_t j = 0; j < m; j++) {
    double s = w->part[j];
    for (size_t c = 1; c < FUSED_CHUNKS; c++) s += w->part[c * m + j];
    if (!(s >= floor_c && s <= DBL_MAX)) return 0;
    gh[j] = scale != 0 ? (log(s) - w->beta[j]) * scale : log(s) - w->beta[j];
  }
  return 1;
}

/* The column log-sum-exps in the log domain once K is stored over Cᵀ: streaming the rows of C
 * (cols_exp_sums with the exact maxima; one pass more than a pass over Cᵀ, n·m exponentials
 * all the same). Every column has a term exp(0) = 1, so log s_j is finite. */
static void lse_cols_stream(fpk_ot_dense *w, double eps, const double *in, double *out) {
  const size_t m = w->m;
  cols_exp_sums(w, eps, in, 1, 0);
  for (size_t j = 0; j < m; j++) {
    double s = w->part[j];
    for (size_t c = 1; c < FUSED_CHUNKS; c++) s += w->part[c * m + j];
    out[j] = w->rowin[j] + log(s);
  }
}

static int dense_lse(void *ctx, int dir, double eps, const double *in, double *out,
                     fpk_error *err) {
  (void)err;
  fpk_ot_dense *w = ctx;
  if (w->use_absorbed) {
    if (dir == 0) {
      if (w->K_eps == eps && absorbed_rows(w, in, out)) {
        w->absorbed++;
        return 0;
      }
      anchor_rows(w, eps, in, out);
      return 0;
    }
    if (w->K_eps == eps && absorbed_cols(w, in, out)) {
      w->absorbed++;
      return 0;
    }
    if (w->K_eps != eps && w->part && anchor_cols(w, eps, in, out)) return 0;
  }
  w->logdomain++;
  if (dir == 0)
    lse_rows(w, w->C, w->n, w->m, eps, in, out);
  else if (w->ct_valid)
    lse_rows(w, w->Ct, w->m, w->n, eps, in, out);
  else
    lse_cols_stream(w, eps, in, out);
  return 0;
}

/* κ = Σ_i a_i c_i from the row means in calpha, where the cost pass took κ over
 * (dense_cost_stats); the same sum as there. */
static void kappa_from_rows(fpk_ot_dense *w) {
  if (!w->kappa_late) return;
  double kappa = 0;
  for (size_t i = 0; i < w->n; i++) kappa += w->a[i] * w->calpha[i];
  w->kappa = kappa;
}

/* ⟨π, C⟩ through the absorbed kernel: π_ij = u_i K_ij v_j with u_i = exp(log a_i + f_i/ε − α_i),
 * v_j = exp(log b_j + g_j/ε − β_j), so ⟨π, C⟩ = Σ_i u_i Σ_j K_ij v_j C_ij: one pass over K and C
 * and n + m exponentials instead of n·m. Accepted under the bounds of the absorbed products
 * (inputs within ABS_DRIFT of the anchor; the entries lost to underflow, at most
 * ABS_ENTRY_FLOOR each, change the sum by less than ABS_ACCEPT of it); 0 otherwise. */
static int absorbed_cost(fpk_ot_dense *w, double eps, const double *f, const double *g,
                         double *cost) {
  const size_t n = w->n, m = w->m;
  const double inv = 1 / eps;
  double *u = w->W.in_b, *v = w->v; /* n, m: free while the engine evaluates */
  for (size_t i = 0; i < n; i++) u[i] = w->loga[i] + f[i] * inv;
  for (size_t j = 0; j < m; j++) w->rowin[j] = w->logb[j] + g[j] * inv;
  double umax, vmax;
  if (!scaled_inputs(n, u, w->alpha, w->anchor_cols ? NULL : w->loga, u, &umax) ||
      !scaled_inputs(m, w->rowin, w->beta, w->anchor_cols ? w->rcentre : w->logb, v, &vmax))
    return 0;
#pragma omp parallel for num_threads(w->team) schedule(static) \
    if (n * m >= OT_PARALLEL_MIN)
  for (size_t i = 0; i < n; i++) {
    const double *restrict k = w->K + i * m, *restrict C = w->C + i * m, *restrict vv = v;
    double part[DOT_LANES] = {0}, s = 0;
    size_t j = 0;
    for (; j + DOT_LANES <= m; j += DOT_LANES)
#pragma omp simd
      for (size_t l = 0; l < DOT_LANES; l++) part[l] += k[j + l] * vv[j + l] * C[j + l];
    for (; j < m; j++) s += k[j] * vv[j] * C[j];
    for (size_t l = 0; l < DOT_LANES; l++) s += part[l];
    w->rowacc[i] = u[i] * s;
    if (w->kappa_late) w->calpha[i] = row_mean(m, w->b, C); /* the row is in cache */
  }
  kappa_from_rows(w);
  double s = 0;
  for (size_t i = 0; i < n; i++) s += w->rowacc[i];
  const double loss = (double)n * (double)m * umax * vmax * w->cabs * ABS_ENTRY_FLOOR;
  if (!(loss <= ABS_ACCEPT * fabs(s)) || !isfinite(s)) return 0;
  *cost = s;
  return 1;
}

/* ⟨π, C⟩ = Σ_i Σ_j exp(log a_i + f_i/ε + log b_j + g_j/ε − C_ij/ε) C_ij, row by row. */
static int dense_cost(void *ctx, double eps, const double *f, const double *g, const double *row,
                      const double *col, double *cost, fpk_error *err) {
  (void)row;
  (void)col;
  (void)err;
  fpk_ot_dense *w = ctx;
  if (w->use_absorbed && w->K_eps == eps && w->rowin && absorbed_cost(w, eps, f, g, cost))
    return FPK_SUCCESS;
  const size_t n = w->n, m = w->m, nm = n > m ? n : m;
  const double inv = 1 / eps;
  double *in = w->W.in_a; /* m */
  for (size_t j = 0; j < m; j++) in[j] = w->logb[j] + g[j] * inv;
#pragma omp parallel num_threads(w->team) if (w->n * w->m >= OT_PARALLEL_MIN)
  {
    double *t = w->tmp + (size_t)omp_get_thread_num() * nm;
#pragma omp for schedule(static)
    for (size_t i = 0; i < n; i++) {
      double s = 0;
      if (w->a[i] > 0) {
        const double *C = w->C + i * m, al = w->loga[i] + f[i] * inv;
        for (size_t j = 0; j < m; j++) t[j] = al + in[j] - C[j] * inv;
        fpk_vexp(m, t, t);
        for (size_t j = 0; j < m; j++) s += t[j] * C[j];
      }
      w->rowacc[i] = s;
      if (w->kappa_late) w->calpha[i] = row_mean(m, w->b, w->C + i * m); /* in cache */
    }
  }
  kappa_from_rows(w);
  double s = 0;
  for (size_t i = 0; i < n; i++) s += w->rowacc[i];
  *cost = s;
  return FPK_SUCCESS;
}

/* ---- centred representation (large ε) ---------------------------------------------------- */

/* out_r = log1p(⟨w, ℓ⟩ + Σ_k w_k ψ(ℓ_k − C̃_rk/ε)), ℓ = pot/ε, over the rows r of C (dir 0, weights
 * b) or of Cᵀ (dir 1, weights a); C̃_rk = (M_rk − α_r) − β_k with the roles of α, β swapped for
 * dir 1. Every ψ >= 0: the sum has the relative accuracy of its terms. */
static int dense_pert(void *ctx, int dir, double eps, const double *pot, double *out,
                      fpk_error *err) {
  (void)err;
  fpk_ot_dense *w = ctx;
  const size_t nr = dir ? w->m : w->n, nc = dir ? w->n : w->m;
  const double *M = dir ? w->Ct : w->C, *wt = dir ? w->a : w->b;
  const double *sr = dir ? w->cbeta : w->calpha, *sc = dir ? w->calpha : w->cbeta;
  const double inv = 1 / eps;
  const size_t nm = w->n > w->m ? w->n : w->m;
  double *ell = w->v, first = 0;
  for (size_t k = 0; k < nc; k++) {
    ell[k] = pot[k] * inv;
    if (wt[k] > 0) first += wt[k] * ell[k];
  }
#pragma omp parallel num_threads(w->team) if (w->n * w->m >= OT_PARALLEL_MIN)
  {
    double *restrict z = w->tmp + (size_t)omp_get_thread_num() * nm;
#pragma omp for schedule(static)
    for (size_t r = 0; r < nr; r++) {
      const double *restrict row = M + r * nc;
      const double s_r = sr[r];
      double zmax = 0, s = 0;
#pragma omp simd reduction(max : zmax)
      for (size_t k = 0; k < nc; k++) {
        z[k] = ell[k] - ((row[k] - s_r) - sc[k]) * inv; /* finite: zero weights included */
        const double az = z[k] < 0 ? -z[k] : z[k];
        zmax = az > zmax ? az : zmax;
      }
      if (zmax < 0.5) { /* the usual case at large ε: the polynomial, vectorised */
#pragma omp simd reduction(+ : s)
        for (size_t k = 0; k < nc; k++) s += wt[k] * ot_psi_small(z[k]);
      } else {
        for (size_t k = 0; k < nc; k++)
          if (wt[k] > 0) s += wt[k] * ot_psi(z[k]);
      }
      out[r] = log1p(first + s);
    }
  }
  return FPK_SUCCESS;
}

/* ⟨π, C̃⟩ = Σ_ij a_i b_j expm1(u_ij) C̃_ij, u_ij = (f̃_i + g̃_j − C̃_ij)/ε (Σ a_i b_j C̃_ij = 0). */
static int dense_cost_centred(void *ctx, double eps, const double *f, const double *g,
                              const double *row, const double *col, double *cost,
                              fpk_error *err) {
  (void)row;
  (void)col;
  (void)err;
  fpk_ot_dense *w = ctx;
  const size_t n = w->n, m = w->m;
  const double inv = 1 / eps;
#pragma omp parallel for num_threads(w->team) schedule(static) \
    if (w->n * w->m >= OT_PARALLEL_MIN)
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    if (w->a[i] > 0) {
      const double *restrict C = w->C + i * m, *restrict b = w->b, *restrict be = w->cbeta;
      const double al = w->calpha[i], fi = f[i];
      double umax = 0;
#pragma omp simd reduction(max : umax)
      for (size_t j = 0; j < m; j++) {
        const double u = (fi + g[j] - ((C[j] - al) - be[j])) * inv;
        const double au = u < 0 ? -u : u;
        umax = au > umax ? au : umax;
      }
      if (umax < 0.5) { /* expm1(u) = u + ψ(u), vectorised */
#pragma omp simd reduction(+ : s)
        for (size_t j = 0; j < m; j++) {
          const double ct = (C[j] - al) - be[j], u = (fi + g[j] - ct) * inv;
          s += b[j] * (u + ot_psi_small(u)) * ct;
        }
      } else {
        for (size_t j = 0; j < m; j++)
          if (b[j] > 0) {
            const double ct = (C[j] - al) - be[j];
            s += b[j] * expm1((fi + g[j] - ct) * inv) * ct;
          }
      }
      s *= w->a[i];
    }
    w->rowacc[i] = s;
  }
  double s = 0;
  for (size_t i = 0; i < n; i++) s += w->rowacc[i];
  *cost = s;
  return FPK_SUCCESS;
}

static void dense_method(void *ctx, char *buf, size_t cap) {
  const fpk_ot_dense *w = ctx;
  snprintf(buf, cap, "dense%s", w->centred           ? ", centred large-eps products"
                                : w->use_absorbed ? ", absorbed products"
                                                  : ", log domain");
}

/* The largest cost on the support (ε_0), the range of C on the support and over all entries,
 * the row and column means and κ = ⟨a⊗b, C⟩, and the split. With every weight positive the
 * ranges are those of C, taken when the cost was set (store_transpose); then a standard solve
 * needs only κ, which the final cost pass forms from the rows of C it reads anyway (dense_cost,
 * absorbed_cost: kappa_late), so the solve makes no pass over C for its statistics. Otherwise
 * one pass over C, and one over Cᵀ where the solve is centred. */
static void dense_cost_stats(fpk_ot_dense *w, double eps, int positive, double *cmax_out,
                             double *cmin_out) {
  const size_t n = w->n, m = w->m;
  double cmax = 0, cmin = INFINITY, cabs = 0;
  w->osc = w->all_hi - w->all_lo;
  w->kappa_late = 0;
  if (positive) { /* the support is everything */
    cmax = w->cmax;
    cmin = w->all_lo;
    cabs = fmax(fabs(w->all_lo), fabs(w->all_hi));
    w->cabs = cabs;
    *cmax_out = cmax;
    *cmin_out = cmin;
    if (ot_test_force_standard || eps < w->osc) {
      w->kappa_late = 1;
      w->kappa = NAN; /* until the cost pass */
      return;
    }
  }
  for (size_t i = 0; i < n; i++) {
    const double *restrict C = w->C + i * m, *restrict b = w->b;
    w->calpha[i] = row_mean(m, b, C);
    if (!positive && w->a[i] > 0) {
      for (size_t j = 0; j < m; j++)
        if (b[j] > 0) {
          cmax = C[j] > cmax ? C[j] : cmax;
          cmin = C[j] < cmin ? C[j] : cmin;
          cabs = fabs(C[j]) > cabs ? fabs(C[j]) : cabs;
        }
    }
  }
  double kappa = 0;
  for (size_t i = 0; i < n; i++) kappa += w->a[i] * w->calpha[i];
  w->kappa = kappa;
  if (!positive) {
    w->cabs = cabs;
    *cmax_out = cmax;
    *cmin_out = cmin;
  }
  /* The split's column part d_j (a pass over Cᵀ) and the centred α only where the solve is
   * centred (ε >= osc); κ, the row means and the ranges are all the standard solve needs. */
  if (ot_test_force_standard || eps < w->osc) return;
  if (!w->ct_valid) transpose_cost(w); /* K of an earlier solve was stored over it */
  for (size_t j = 0; j < m; j++) {
    const double *restrict Ct = w->Ct + j * n, *restrict a = w->a;
    double d = 0;
#pragma omp simd reduction(+ : d)
    for (size_t i = 0; i < n; i++) d += a[i] * Ct[i];
    w->cbeta[j] = d;
  }
  for (size_t i = 0; i < n; i++) w->calpha[i] -= kappa;
}

int fpk_ot_dense_solve(fpk_ot_dense *w, const double *a, const double *b, const fpk_ot_params *p,
                       double *f, double *g, fpk_ot_result *r) {
  fpk_error_clear(&w->err);
  memset(r, 0, sizeof *r);
  int rc = ot_check_params(p, &w->err);
  if (rc) return rc;
  if (!w->has_cost)
    return fpk_error_set(&w->err, FPK_EINVAL, "ot: no cost set (fpk_ot_dense_set_cost/points)");
  rc = ot_prepare_marginals(w->n, a, w->m, b, p, w->a, w->b, w->loga, w->logb, r, &w->err);
  if (rc) return rc;
  size_t hcap = p->max_iter / p->check_every + p->max_iter / 8 + 64;
  if (hcap > w->W.hcap) {
    double *h = realloc(w->W.history, hcap * sizeof *h);
    if (!h) return fpk_error_set(&w->err, FPK_ENOMEM, "ot: out of memory for the error history");
    w->W.history = h;
    w->W.hcap = hcap;
  }
  /* The largest cost between atoms that carry mass (the default ε_0 of the schedule), the
   * centring split, and the representation: centred once ε reaches the cost's oscillation. */
  /* Absorbed products need every weight positive (an empty atom's potential is only defined
   * through the log domain) and room for the kernel; every solve starts without an anchor, so
   * that its numbers do not depend on earlier solves. */
  int positive = 1;
  for (size_t i = 0; i < w->n; i++) positive &= w->a[i] > 0;
  for (size_t j = 0; j < w->m; j++) positive &= w->b[j] > 0;
  double cmax, cmin;
  dense_cost_stats(w, p->eps, positive, &cmax, &cmin);
  w->centred = !ot_test_force_standard && p->eps >= w->osc;
  if (!w->centred && w->method == FPK_OT_DENSE_AUTO && positive && !w->part) {
    w->part = malloc(FUSED_CHUNKS * w->m * sizeof(double)); /* NULL: the log domain throughout */
    w->rowin = malloc(w->m * sizeof(double));
  }
  w->use_absorbed =
      !w->centred && w->method == FPK_OT_DENSE_AUTO && positive && w->part && w->rowin;
  w->K = w->use_absorbed ? w->Ct : NULL;
  if (!w->use_absorbed && !w->ct_valid) transpose_cost(w); /* after an absorbed solve */
  w->K_eps = 0;
  w->anchors = w->absorbed = w->logdomain = 0;
  /* Every solve starts on the team the last one chose (all threads at the first, which probes
   * after TEAM_PROBE_FIRST iterations) and goes on with the last solve's probe gap (team_choose):
   * under a steady load the probes of the slower choice become rare. */
  w->team_sum = w->probe_sum = 0;
  w->team_n = w->probe_n = w->fused_calls = 0;
  w->next_probe = w->probe_gap ? w->probe_gap : TEAM_PROBE_FIRST;
  if (!w->probe_gap) w->probe_gap = TEAM_PROBE_GAP;
  ot_problem P = {.n = w->n, .m = w->m, .a = w->a, .b = w->b, .loga = w->loga, .logb = w->logb,
                  .cmax = cmax, .ctx = w, .set_eps = NULL, .lse = dense_lse, .cost = dense_cost,
                  .base = w->kappa, .base_late = w->kappa_late ? &w->kappa : NULL,
                  .cscale = w->cabs, .cost_nonneg = cmin >= 0,
                  .method = dense_method, .fused = w->rowin ? dense_fused : NULL};
  if (w->centred) {
    P.centred = 1;
    P.pert = dense_pert;
    P.cost = dense_cost_centred;
    P.alpha = w->calpha;
    P.beta = w->cbeta;
    /* The problem solved is the one with the exactly centred cost, whose constant is κ itself;
     * ⟨a, α⟩ + ⟨b, β⟩ equals it only up to the rounding of α and β (u·κ, which would be all of
     * the excess at large ε). */
    P.shift = w->kappa;
    P.cscale = 2 * w->osc; /* |C̃_ij| <= |C_ij − c_i| + |d_j − κ| <= 2 osc */
    if (p->warm_start) {
      for (size_t i = 0; i < w->n; i++) f[i] -= w->calpha[i];
      for (size_t j = 0; j < w->m; j++) g[j] -= w->cbeta[j];
    }
  }
  rc = ot_engine_solve(&P, p, f, g, &w->W, r, NULL, 0, &w->err);
  if (w->centred) {
    for (size_t i = 0; i < w->n; i++) f[i] += w->calpha[i];
    for (size_t j = 0; j < w->m; j++) g[j] += w->cbeta[j];
  }
  return rc;
}

int fpk_ot_dense_plan(fpk_ot_dense *w, const double *a, const double *b, const double *f,
                      const double *g, double eps, double *plan) {
  fpk_error_clear(&w->err);
  if (!(eps > 0)) return fpk_error_set(&w->err, FPK_EINVAL, "ot: eps = %g must be > 0", eps);
  double sa = 0, sb = 0;
  for (size_t i = 0; i < w->n; i++) sa += a[i];
  for (size_t j = 0; j < w->m; j++) sb += b[j];
  for (size_t i = 0; i < w->n; i++)
    for (size_t j = 0; j < w->m; j++) {
      double ab = (a[i] / sa) * (b[j] / sb);
      plan[i * w->m + j] = ab > 0 ? ab * exp((f[i] + g[j] - w->C[i * w->m + j]) / eps) : 0;
    }
  return FPK_SUCCESS;
}

const double *fpk_ot_dense_history(const fpk_ot_dense *w, size_t *n) {
  *n = w->W.hlen;
  return w->W.history;
}

const char *fpk_ot_dense_errmsg(const fpk_ot_dense *w) { return w->err.msg; }

int fpk_ot_dense_divergence(size_t d, size_t n, const double *x, const double *a, size_t m,
                            const double *y, const double *b, fpk_ot_cost cost,
                            const fpk_ot_params *p, double *s, fpk_ot_result r[3],
                            fpk_error *err) {
  const size_t sizes[3][2] = {{n, m}, {n, n}, {m, m}};
  const double *pts[3][2] = {{x, y}, {x, x}, {y, y}};
  const double *wts[3][2] = {{a, b}, {a, a}, {b, b}};
  fpk_ot_result res[3];
  int rc = FPK_SUCCESS;
  for (int k = 0; k < 3 && !rc; k++) {
    fpk_ot_dense *w = fpk_ot_dense_alloc(sizes[k][0], sizes[k][1], err);
    double *f = malloc(sizes[k][0] * sizeof *f), *g = malloc(sizes[k][1] * sizeof *g);
    if (!w || !f || !g) {
      rc = w ? fpk_error_set(err, FPK_ENOMEM, "ot: out of memory") : FPK_ENOMEM;
    } else {
      fpk_ot_params q = *p;
      q.warm_start = 0;
      rc = fpk_ot_dense_set_points(w, d, pts[k][0], pts[k][1], cost);
      if (!rc) rc = fpk_ot_dense_solve(w, wts[k][0], wts[k][1], &q, f, g, &res[k]);
      if (rc) fpk_error_copy(err, &w->err);
    }
    free(f);
    free(g);
    fpk_ot_dense_free(w);
  }
  if (rc) return rc;
  /* S_ε = ⟨a⊗b, C⟩ − ½⟨a⊗a, C⟩ − ½⟨b⊗b, C⟩ + (the excesses' combination); for |x − y|² the first
   * part is exactly |m_a − m_b|² (half of it for ½|x − y|²), formed here from the means instead of
   * from three nearly equal numbers (which would leave S_ε to rounding as ε → ∞). */
  double sa = 0, sb = 0, energy = 0;
  for (size_t i = 0; i < n; i++) sa += a[i];
  for (size_t j = 0; j < m; j++) sb += b[j];
  for (size_t c = 0; c < d; c++) {
    double ma = 0, mb = 0;
    for (size_t i = 0; i < n; i++) ma += a[i] * x[i * d + c];
    for (size_t j = 0; j < m; j++) mb += b[j] * y[j * d + c];
    const double dm = ma / sa - mb / sb;
    energy += dm * dm;
  }
  if (cost == FPK_OT_COST_HALF_SQEUCLID) energy *= 0.5;
  *s = energy + (res[0].excess - 0.5 * (res[1].excess + res[2].excess));
  if (r) memcpy(r, res, sizeof res);
  return FPK_SUCCESS;
}

int fpk_ot_dense_set_method(fpk_ot_dense *w, fpk_ot_dense_method method) {
  fpk_error_clear(&w->err);
  if (method != FPK_OT_DENSE_AUTO && method != FPK_OT_DENSE_LOG)
    return fpk_error_set(&w->err, FPK_EINVAL, "ot: unknown dense method %d", (int)method);
  w->method = method;
  return FPK_SUCCESS;
}

void fpk_ot_dense_counts(const fpk_ot_dense *w, size_t *anchors, size_t *absorbed,
                         size_t *logdomain) {
  if (anchors) *anchors = w->anchors;
  if (absorbed) *absorbed = w->absorbed;
  if (logdomain) *logdomain = w->logdomain;
}
