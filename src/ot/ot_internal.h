/* Internals of the entropic OT solvers (fpkit/ot.h): the Sinkhorn engine shared by the dense and
 * grid solvers, and the interface of the grid kernel back-ends. Not installed. */
#ifndef FPK_OT_INTERNAL_H
#define FPK_OT_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include "fpkit/ot.h"

/* ---- Kernel back-ends (src/ot/kernel_*.c) ----------------------------------------------------
 * Each file exports one const fpk_ot_kernel_type * whose object is an ot_kernel_impl (pub first).
 * Every function returns 0 on success, > 0 when the back-end cannot represent the request (a
 * recoverable condition: the grid solver falls back to the next back-end and logs err->msg), < 0
 * or an FPK_E* status through fpk_error_set on a fatal error. The grid is the same for source
 * and target; boundary conditions are ignored. */
typedef struct ot_kernel_impl {
  fpk_ot_kernel_type pub;
  /* State for grid g (plans, stencils, buffers for up to omp_get_max_threads() threads). */
  void *(*alloc)(const fpk_grid *g, fpk_error *err);
  /* Prepares products at ε. accuracy: the largest relative error of an output the caller
   * accepts (about 1e-2·tol). > 0: ε cannot be represented (say why in err). */
  int (*set_eps)(void *state, double eps, double accuracy, fpk_error *err);
  /* out_i = log Σ_j exp(in_j − |x_i − x_j|²/ε) over the g->size cell centres; in_j may be −∞
   * (every in_j = −∞ gives out_i = −∞). in and out do not alias. > 0: rounding could exceed the
   * accuracy for this input (the caller falls back). Deterministic whatever the thread count. */
  int (*apply)(void *state, const double *in, double *out, fpk_error *err);
  void (*free)(void *state);
} ot_kernel_impl;

#define OT_KERNEL_IMPL(type) ((const ot_kernel_impl *)(const void *)(type))

/* The public back-ends (kernel_fft.c, kernel_blas.c, kernel_band.c, kernel_lse.c); each file
 * also defines the public pointer, e.g. const fpk_ot_kernel_type *fpk_ot_kernel_fft =
 * &ot_kernel_fft.pub. */
extern const ot_kernel_impl ot_kernel_fft, ot_kernel_blas, ot_kernel_band, ot_kernel_lse;
/* The band back-end's half-width at ε along n cells of width h: the largest t < n with
 * exp(−(t h)²/ε) >= DBL_MIN (kernel_band.c); ot_band_width: the one set up (state of band). */
size_t ot_band_radius(size_t n, double h, double eps);
/* The band's kernel row, shared with the lse back-end: row has 2n − 1 + 2·OT_BAND_PAD entries,
 * k_t = exp(−(t h)²/ε) at row[OT_BAND_PAD + n − 1 ± t] for t <= r (the returned half-width, every
 * kept entry >= DBL_MIN), exact zeros elsewhere; *sum (may be NULL) = Σ_t k_|t|. */
#define OT_BAND_PAD 64
size_t ot_band_fill_row(double *row, size_t n, double h, double eps, double *sum);
/* One contiguous line, serial: y_i = Σ_{|i−j| <= r} k_{i−j} x_j, kc = row + OT_BAND_PAD + n − 1,
 * each output summed over j in increasing order with FMAs, in SIMD blocks (kernel_band.c). */
void ot_band_line(const double *kc, size_t n, size_t r, const double *x, double *y);
/* Counts since alloc of the lse back-end's outputs per pass taken from its scaled fast path and
 * summed exactly (kernel_lse.c; tests, benchmarks). */
void ot_lse_stats(const void *state, size_t *fast, size_t *exact);
size_t ot_band_width(const void *state, size_t axis);
/* The back-end the grid solver's automatic rule picks first at ε on grid g (grid.c), from its
 * deterministic cost model; for tests and benchmarks. */
const fpk_ot_kernel_type *ot_grid_auto_choice(const fpk_grid *g, double eps);
/* Internal to the grid solver's automatic choice, not in the public registry (kernel_lines.c):
 * the blas back-end's per-axis dgemm with one shift per line of each pass (ot_grid_propagate's
 * step 2), uncertified outputs summed exactly, refused beyond N/32 of them. */
extern const ot_kernel_impl ot_kernel_lines;

/* Tolerance of 1-ulp-level terms: e^{-37} < 1e-16, so terms this far below the running maximum
 * of a log-sum-exp change it by less than rounding. */
#define OT_LSE_NEGLIGIBLE 37.0

/* Products smaller than this many cells (or matrix entries) run on one thread: below it a
 * parallel region's start and barrier cost more than the work, and on a loaded machine GOMP's
 * spinning barriers dominate (measured: 84% of a 64² solve spent in libgomp under load). */
#define OT_PARALLEL_MIN 16384

/* ---- The Sinkhorn engine (src/ot/sinkhorn.c) ------------------------------------------------ */

/* The centred ("large-ε") representation. For any split C_ij = C̃_ij + α_i + β_j and any plan π
 * with marginals a and b, ⟨π, C⟩ = ⟨π, C̃⟩ + ⟨a, α⟩ + ⟨b, β⟩, and the potentials of C are those of
 * C̃ shifted by α and β; so OT_ε(C) = ⟨a, α⟩ + ⟨b, β⟩ + OT_ε(C̃). The solvers choose the split that
 * centres the cost, Σ_j b_j C̃_ij = 0 = Σ_i a_i C̃_ij (dense: C̃ = C − c_i − d_j + κ with the
 * row and column means c, d and κ = ⟨a⊗b, C⟩; grid: C̃ = −2(x − m_a)·(y − m_b) for the means m_a,
 * m_b of a and b). Then as ε grows the centred potentials f̃ = f − α, g̃ = g − β shrink like
 * |C̃|²/ε instead of staying O(|C|), and the half-steps are evaluated as
 *   f̂̃_i = −ε log1p(T_i),  T_i = Σ_j b_j expm1(z_ij),  z_ij = (g̃_j − C̃_ij)/ε,
 *   T_i = ⟨b, g̃⟩/ε + Σ_j b_j ψ(z_ij),  ψ(z) = e^z − 1 − z >= 0,
 * the first-order term Σ_j b_j C̃_ij/ε being zero by construction (taken as exactly 0: the
 * problem solved is the one with the exactly centred cost, which differs from the computed C̃ by
 * rounding of its entries). Every term is then a small number computed to relative accuracy:
 * the potentials, ε·KL and OT_ε − ⟨a, α⟩ − ⟨b, β⟩ (all O(|C̃|²/ε)) keep their digits for any ε,
 * where the log-domain form −ε log Σ_j b_j exp(z_ij) loses ε·u to the rounding of a sum near 1. */

/* ψ(z) = e^z − 1 − z (>= 0) to a few ulps: a Taylor polynomial for |z| < 1/2 (terms to z^16/16!,
 * whose tail is below 10⁻¹⁷ of z²/2), expm1(z) − z beyond (cancellation below 4.4 ulp there). */
/* The polynomial alone (valid for |z| < 1/2), branch-free so that loops over it vectorise. */
static inline double ot_psi_small(double z) {
  double p = 1.0 / 20922789888000;
  p = p * z + 1.0 / 1307674368000;
  p = p * z + 1.0 / 87178291200;
  p = p * z + 1.0 / 6227020800;
  p = p * z + 1.0 / 479001600;
  p = p * z + 1.0 / 39916800;
  p = p * z + 1.0 / 3628800;
  p = p * z + 1.0 / 362880;
  p = p * z + 1.0 / 40320;
  p = p * z + 1.0 / 5040;
  p = p * z + 1.0 / 720;
  p = p * z + 1.0 / 120;
  p = p * z + 1.0 / 24;
  p = p * z + 1.0 / 6;
  p = p * z + 1.0 / 2;
  return z * z * p;
}

static inline double ot_psi(double z) {
  return z > -0.5 && z < 0.5 ? ot_psi_small(z) : expm1(z) - z;
}

typedef struct ot_problem {
  size_t n, m;
  const double *a, *b;       /* normalised weights */
  const double *loga, *logb; /* their logs (−∞ where zero) */
  double cmax;               /* largest cost between supported atoms (default ε_0) */
  void *ctx;
  /* Called once per ε stage before any lse at that ε; > 0: recoverable (not used by dense). */
  int (*set_eps)(void *ctx, double eps, fpk_error *err);
  /* dir 0: out_i = log Σ_j exp(in_j − C_ij/ε), i < n, in of length m.
   * dir 1: out_j = log Σ_i exp(in_i − C_ij/ε), j < m, in of length n. */
  int (*lse)(void *ctx, int dir, double eps, const double *in, double *out, fpk_error *err);
  /* ⟨π, C⟩ for the plan of (f, g) at ε (centred: ⟨π, C̃⟩ for the centred potentials); row/col:
   * its marginals (computed by the engine). */
  int (*cost)(void *ctx, double eps, const double *f, const double *g, const double *row,
              const double *col, double *cost, fpk_error *err);
  /* Centred representation (above): the engine iterates on f̃, g̃ and calls pert instead of lse:
   * dir 0: out_i = log1p(T_i) = log Σ_j b_j exp((pot_j − C̃_ij)/ε) (pot = g̃, length m);
   * dir 1: out_j = log Σ_i a_i exp((pot_i − C̃_ij)/ε) (pot = f̃, length n); note the weights
   * are inside. alpha (n), beta (m): the split; shift: the constant of the exactly centred
   * cost, ⟨a⊗b, C⟩ (= ⟨a, α⟩ + ⟨b, β⟩ for the exact split). */
  int centred;
  int (*pert)(void *ctx, int dir, double eps, const double *pot, double *out, fpk_error *err);
  const double *alpha, *beta;
  double shift;
  /* For the output checks: ⟨a⊗b, C⟩ (OT_ε <= it), the rounding scale of the cost the engine sees
   * (max |C| on the support, or max |C̃| when centred), whether C >= 0 on the support, and a
   * description of the method for messages ("dense", "grid, kernel blas"). */
  double base, cscale;
  /* Non-NULL: ⟨a⊗b, C⟩ is read from here instead of base, after the cost callback (which may
   * compute it in its own pass over C: dense, issue 15). */
  const double *base_late;
  /* The relative accuracy the products are certified to beyond rounding (grid: the accuracy
   * asked of every grid kernel product — fft, blas and blas-lines certify to it, lse to
   * rounding — 1e-2·tol; 0 where only rounding is lost). */
  double prod_rel;
  int cost_nonneg;
  void (*method)(void *ctx, char *buf, size_t cap);
  /* Optional (NULL: unused): one Sinkhorn iteration in one pass over the kernel's memory, the
   * two half-steps fused row by row (sinkhorn.c, run_stage). With in_i = logb_j + g_j/ε as in
   * the lse half-step, it computes, with the same arithmetic as the half-steps and the
   * engine's relaxation,
   *   fh = T_a(g),  fn_i = ω == 1 ? fh_i : f_i + ω (fh_i − f_i),  gh = T_b(fn).
   * Returns 0 (fh, fn, gh all valid), 1 (fh and fn valid, gh not: the engine computes it by the
   * lse half-step) or 2 (nothing done: both half-steps by lse). Not with the centred form. */
  int (*fused)(void *ctx, double eps, const double *g, const double *f, double omega,
               double *fh, double *fn, double *gh);
} ot_problem;

/* Work space of the engine: 4(n + m) doubles, and history of capacity hcap. */
typedef struct ot_engine_work {
  double *fh, *gh, *in_a, *in_b; /* f̂ (n), ĝ (m), lse inputs (m, n) */
  double *fs, *gs;               /* (f, g) saved when the relaxation changes (n, m) */
  double *fn, *gn;               /* the fused iteration's relaxed f and next g (n, m) */
  double *history;
  size_t hcap, hlen;
  /* Set by a stage that stopped converged with ω = 1 at exact_eps: then g = T_b(f) and
   * fh = T_a(g), as the final evaluation would recompute them (ot_engine_solve). */
  int exact_pair;
  double exact_eps;
} ot_engine_work;

/* The buffers of W for n × m problems (history excluded: sized per solve); 0 or FPK_ENOMEM.
 * _free releases everything, history included, and leaves W zeroed. */
int ot_engine_work_alloc(ot_engine_work *W, size_t n, size_t m);
void ot_engine_work_free(ot_engine_work *W);

/* Checks and (with p->normalize) rescales a and b into an and bn, filling loga/logb and the
 * masses in r. FPK_EINVAL with a message naming the first bad entry. */
int ot_prepare_marginals(size_t n, const double *a, size_t m, const double *b,
                         const fpk_ot_params *p, double *an, double *bn, double *loga,
                         double *logb, fpk_ot_result *r, fpk_error *err);
/* Validates p (ε > 0 and finite, factors in range). */
int ot_check_params(const fpk_ot_params *p, fpk_error *err);
/* Runs ε-scaling Sinkhorn from (f, g) (zeros unless p->warm_start) and fills r. A stage log
 * line is appended to log (may be NULL, capacity logcap) per stage. */
int ot_engine_solve(const ot_problem *P, const fpk_ot_params *p, double *f, double *g,
                    ot_engine_work *w, fpk_ot_result *r, char *log, size_t logcap,
                    fpk_error *err);

/* White-box test hooks (tests/test_ot.c; never set by the library). ot_test_force_standard != 0
 * keeps the standard (uncentred) representation at every ε, as before the centred one existed,
 * so that the output checks can be seen to catch its loss of accuracy; ot_test_result_hook, when
 * set, may alter the result just before the output checks. */
extern int ot_test_force_standard;
extern void (*ot_test_result_hook)(fpk_ot_result *r);

/* ---- Centred products on a grid (src/ot/grid_centred.c) --------------------------------------
 * For the squared Euclidean cost between the cell centres of one grid, the centred cost is
 * bilinear, C̃_ij = −2 x̃_i·ỹ_j (x̃ = x − m_a, ỹ = y − m_b), so exp(−C̃/ε) is separable and the
 * half-step sums Σ_j w_j ψ(ℓ_j + 2x̃_i·ỹ_j/ε) are computed by per-axis matrix products. */
typedef struct ot_centred ot_centred;
ot_centred *ot_centred_alloc(const fpk_grid *g, fpk_error *err);
void ot_centred_free(ot_centred *c);
/* Means of a and b (normalised weights, g->size each), the split α_i = |x_i − m_b|²,
 * β_j = |y_j − m_a|² − |m_a − m_b|² (C = C̃ + α + β), shift = ⟨a, α⟩ + ⟨b, β⟩ = ⟨a⊗b, C⟩ and
 * the centred cost scale ρ_ε·ε = 2 Σ_a max|x̃_a| max|ỹ_a| (over the grid). */
void ot_centred_setup(ot_centred *c, const double *a, const double *b);
double ot_centred_shift(const ot_centred *c);
double ot_centred_scale(const ot_centred *c);
const double *ot_centred_alpha(const ot_centred *c);
const double *ot_centred_beta(const ot_centred *c);
/* The per-axis matrices at ε; FPK_ENOMEM (in err) when they do not fit. */
int ot_centred_set_eps(ot_centred *c, double eps, fpk_error *err);
/* The pert half-step of ot_problem (dir 0: pot = g̃, out_i over the source cells). */
int ot_centred_half(ot_centred *c, int dir, const double *pot, double *out);
/* E_π[x̃_a ỹ_b] (d × d) for the plan of the centred potentials f̃, g̃: the first-order part
 * from the covariances, the rest from separable products (no cancellation at large ε). */
int ot_centred_cross(ot_centred *c, const double *ft, const double *gt, double *exy);
/* Whether ε is large enough for the centred products: ρ_ε = scale/ε <= 1 (every per-axis
 * exponent |2x̃ỹ/ε| <= 1, so no term of the separable expansion exceeds e) and the matrices fit. */
int ot_centred_applies(const ot_centred *c, double eps);

/* The blas back-end's own test of ε at set-up (kernel_blas.c), for the automatic choice: every
 * per-axis kernel entry exp(−L_a²/ε) >= e^{−690}, L_a = (n_a − 1) h_a; ot_blas_min_eps is the
 * smallest such ε, max_a L_a²/690. */
int ot_blas_accepts_eps(const fpk_grid *g, double eps);
double ot_blas_min_eps(const fpk_grid *g);
/* Row-major C = A B (m × k by k × n) by the privately loaded OpenBLAS (serialised); FPK_EUNSUP
 * when it could not be loaded (ot_blas_available() == 0). */
int ot_blas_gemm(size_t m, size_t n, size_t k, const double *A, const double *B, double *C);
int ot_blas_available(void);
/* The scaling-domain back-ends' (blas, band) output certificate: part_r[b] is the worst error-bound
 * ratio of elementwise block b and part_i[b] the output where it occurs; returns 1 with the
 * back-end's refusal in err (naming the output, its weight w and the ratio) when the worst ratio
 * exceeds acc, 0 otherwise. The blocks are scanned in order, so the output named is the same for
 * any thread count. */
int ot_scaled_outputs_check(const char *name, size_t nblk, const double *part_r,
                            const size_t *part_i, const double *w, double eps, double acc,
                            fpk_error *err);

/* ---- Grid propagation (src/ot/propagate.c) ---------------------------------------------------
 * The kernel applications outside Sinkhorn (the Schrödinger-bridge queries), in the log domain:
 *   dir 0: out_i = log Σ_j exp(in_j − Σ_a (y_ja − κ_a x_ia)²/ε)   (out at the x cells),
 *   dir 1: out_j = log Σ_i exp(in_i − Σ_a (y_ja − κ_a x_ia)²/ε)   (out at the y cells),
 * x, y the cell centres of g, κ = NULL for all κ_a = 1 (the heat kernel; dir is then irrelevant),
 * else a per-axis scale > 0 (the OU kernel exp(−|y − κx|²/ε)). in_j may be −∞ (not NaN or +∞:
 * FPK_ENUMERIC). Every output is within `accuracy` (absolute, in the log; relative in the sum) of
 * the exact sum, or exact to rounding: the fft back-end when κ = 1 and its bounds accept, else
 * one dgemm per axis with a shift per line, outputs it cannot certify recomputed by an exact
 * log-sum-exp, or (κ = 1, more than N/32 such outputs) the lse back-end for the whole
 * application (the choice and the bounds: propagate.c). Not thread-safe on one propagator;
 * results independent of the thread count. */
typedef struct ot_propagator ot_propagator;
typedef struct ot_propagate_stats {
  /* counts since alloc (tests, benchmarks): calls, applications by fft, dgemm passes, outputs
   * summed exactly one by one, applications redone by the lse back-end */
  size_t calls, fft, gemm_passes, exact_outputs, lse;
} ot_propagate_stats;
/* with_fft: plan the fft back-end for step 1 (FFTW's planner: from one thread at a time, as
 * the grid solver's alloc); 0: never use it (e.g. for single-axis passes only). */
ot_propagator *ot_propagator_alloc(const fpk_grid *g, int with_fft, fpk_error *err);
void ot_propagator_free(ot_propagator *P); /* NULL is safe */
int ot_grid_propagate(ot_propagator *P, int dir, double eps, const double *kappa,
                      double accuracy, const double *in, double *out, fpk_error *err);
/* One pass only: the 1D sums along axis `axis` (the same kernel factor and bounds), e.g.
 * out[.., i0, ..] = log Σ_j0 exp(in[.., j0, ..] − (y_j0 − κ_0 x_i0)²/ε) for axis 0. */
int ot_grid_propagate_axis(ot_propagator *P, size_t axis, int dir, double eps,
                           const double *kappa, double accuracy, const double *in, double *out,
                           fpk_error *err);
void ot_propagate_get_stats(const ot_propagator *P, ot_propagate_stats *s);
/* For the grid solver's internal "blas-lines" back-end (kernel_lines.c): a propagator with
 * neither the fft nor the lse back-end, and steps 2–3 alone for κ = 1: every output certified to
 * `accuracy` or summed exactly, at most max_exact of the latter over all passes (*nexact: how
 * many were); 1 (out incomplete) when more would be needed. The caller checks the input and that
 * OpenBLAS is loaded. ot_propagate_pass_rel(n): the rounding bound of a pass along n cells, which
 * accuracy/dim must exceed. */
ot_propagator *ot_propagator_alloc_lines(const fpk_grid *g, fpk_error *err);
int ot_grid_propagate_lines(ot_propagator *P, double eps, double accuracy, size_t max_exact,
                            const double *in, double *out, size_t *nexact);
double ot_propagate_pass_rel(size_t n);

#endif
