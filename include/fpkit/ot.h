/* fpkit/ot.h — entropic optimal transport (docs/ot.md).
 *
 * Convention, everywhere in fpkit (../shared/reference/closed-forms.md): for probability vectors
 * a (n atoms x_i) and b (m atoms y_j) and a cost C_ij,
 *   OT_ε(a, b) = min_{π ∈ Π(a, b)} ⟨π, C⟩ + ε KL(π ‖ a⊗b),
 *   KL(π ‖ a⊗b) = Σ_ij π_ij log(π_ij / (a_i b_j)) − Σ_ij π_ij + 1,
 * with the cost |x − y|² unless said otherwise. The minimiser is
 *   π_ij = a_i b_j exp((f_i + g_j − C_ij) / ε)
 * for the dual potentials (f, g), which maximise
 *   D(f, g) = ⟨f, a⟩ + ⟨g, b⟩ − ε (Σ_ij a_i b_j e^{(f_i + g_j − C_ij)/ε} − 1).
 * At the optimum primal = dual = OT_ε. This value does not depend on how finely a density is
 * discretised (POT's value reg·Σ π log π does: see docs/ot.md for the mapping to POT, OTT-JAX
 * and GeomLoss parameters).
 *
 * Sinkhorn's iteration in the log domain (Cuturi 2013; Schmitzer 2019; Peyré & Cuturi,
 * "Computational Optimal Transport" 2019, Remark 4.23):
 *   f_i ← −ε log Σ_j b_j exp((g_j − C_ij)/ε),    g_j ← −ε log Σ_i a_i exp((f_i − C_ij)/ε),
 * every log-sum-exp taken with its maximum subtracted, so no ε underflows. After a g-update the
 * column marginal πᵀ1 = b holds to rounding; the stopping rule is the L1 error
 * ‖π1 − a‖₁ + ‖πᵀ1 − b‖₁ <= tol at the final ε. ε-scaling runs the same iteration on a geometric
 * schedule ε_0 > ε_1 > … > ε, warm-starting each stage from the last (Kosowsky & Yuille 1994;
 * Schmitzer 2019 §3.2); intermediate stages stop at a looser tolerance, the final one at tol.
 *
 * Large ε: as ε → ∞ the plan tends to a⊗b and OT_ε = ⟨a⊗b, C⟩ − Var_{a⊗b}(C)/(2ε) + …, while the
 * potentials keep an O(|C|) part, so the log-domain steps above would lose ε·1e-16 to rounding.
 * Once ε reaches the scale of the (centred) cost both solvers switch to a centred representation:
 * the cost minus its a- and b-weighted row and column means, whose potentials are O(|C|²/ε),
 * with every half-step written as −ε log1p(small sum of nonnegative terms); the value is then
 * exact to rounding at any ε (docs/ot.md, "Large ε").
 *
 * Output checks: every solve verifies what it reports (finite; OT_ε, ⟨π, C⟩ >= 0 for a cost >= 0;
 * KL >= 0; the primal–dual gap within its bound from the marginal errors; dual <= ⟨a⊗b, C⟩;
 * a converged solve's value that of the converged pair), to rounding tolerances stated in
 * src/ot/sinkhorn.c, and fails with FPK_ENUMERIC and a message naming the method, ε, the
 * quantity, the bound and the likely cause otherwise (docs/ot.md, "Output checks").
 *
 * Two solvers share this engine:
 *  - fpk_ot_dense: any cost matrix (point clouds, user costs), O(nm) per iteration;
 *  - fpk_ot_grid: densities on one fpkit grid (1D, 2D, 3D) with the squared Euclidean cost, whose
 *    Gibbs kernel is separable, applied by a kernel back-end (fpk_ot_kernel_type) chosen per ε.
 */
#ifndef FPKIT_OT_H
#define FPKIT_OT_H

#include <stddef.h>
#include "fpkit/error.h"
#include "fpkit/grid.h"
#include "fpkit/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fpk_ot_cost {
  FPK_OT_COST_SQEUCLID = 0,      /* |x − y|² (the fpkit convention) */
  FPK_OT_COST_HALF_SQEUCLID = 1, /* ½|x − y|² (GeomLoss's cost for p = 2) */
  FPK_OT_COST_MATRIX = 2         /* a user matrix */
} fpk_ot_cost;

typedef struct fpk_ot_params {
  double eps;          /* target ε > 0 */
  double tol;          /* L1 marginal error at the final ε (default 1e-9) */
  size_t max_iter;     /* cap on iterations over all stages (default 100000) */
  size_t check_every;  /* marginal error computed every k iterations (default 1) */
  /* ε-scaling: ε_0 = eps_start (0: the largest cost on the support, as Schmitzer 2019), then
   * ε_{k+1} = max(eps, eps_factor·ε_k). eps_start <= eps: no scaling. eps_start = 0 (default)
   * first tries eps directly, with a budget of 20 iterations per stage of that schedule, and
   * runs the schedule (from the starting pair) only when the attempt's predicted iteration count
   * exceeds the budget (docs/ot.md, "The automatic schedule decides whether to scale"). */
  double eps_start;
  double eps_factor;   /* in (0, 1) (default 0.5) */
  double stage_tol;    /* tolerance of the intermediate stages (default 1e-3; >= tol) */
  /* Over-relaxation f ← f + ω(f̂ − f) (Thibault, Chizat, Dossal & Papadakis, "Overrelaxed
   * Sinkhorn–Knopp algorithm for regularized optimal transport", Algorithms 14(5), 2021):
   * 1 = plain Sinkhorn; in (1, 2): fixed ω; 0 = automatic (default): plain iterations until the
   * observed contraction factor settles, then ω = 2/(1 + √(1 − ρ)) with ρ inferred by Young's SOR
   * relation, raised again as later rates are measured; each raise is a trial that restores the
   * saved potentials and the last working ω when the error grows (docs/ot.md). */
  double omega;
  int warm_start;      /* use the f, g passed in as the starting potentials (default 0: zeros) */
  int normalize;       /* 1: rescale a and b to mass 1 (a mass difference is reported in the
                          result); 0 (default): refuse masses that differ by more than 1e-12
                          relative, or are not 1 within 1e-9 */
  /* Progress (NULL, the default: none; fpkit/error.h): progress(progress_user, iterations done,
   * max_iter) after every Sinkhorn iteration, over all stages; it changes no number. */
  fpk_progress_fn progress;
  void *progress_user;
} fpk_ot_params;

/* Defaults as documented above, eps = 1. */
void fpk_ot_params_init(fpk_ot_params *p);

typedef struct fpk_ot_result {
  double eps;          /* the final ε */
  double cost;         /* ⟨π, C⟩ */
  double kl;           /* KL(π ‖ a⊗b) */
  double primal;       /* cost + ε kl */
  double dual;         /* D(f, g) */
  double err_a, err_b; /* ‖π1 − a‖₁, ‖πᵀ1 − b‖₁ at return */
  size_t iterations;   /* over all stages */
  size_t stages;       /* ε values visited */
  int converged;       /* err_a + err_b <= tol at the final ε */
  double mass_a, mass_b; /* input masses before any normalisation */
  double omega;        /* the largest relaxation used in the final stage */
  /* ⟨a⊗b, C⟩, the value of the independent plan: the limit of OT_ε as ε → ∞, and an upper bound
   * of OT_ε at every ε. */
  double base;
  /* dual − base, computed without cancellation: in (−base, 0] up to the marginal error, and
   * ~ −Var_{a⊗b}(C)/(2ε) at large ε, where it keeps its relative accuracy (the solvers centre
   * the cost there, docs/ot.md). The Sinkhorn divergence is best formed from these: for
   * |x − y|², S_ε = |m_a − m_b|² + excess_ab − ½(excess_aa + excess_bb), where the bases'
   * combination, exactly |m_a − m_b|², would otherwise be left to cancellation. */
  double excess;
} fpk_ot_result;

/* ---- Dense log-domain Sinkhorn (src/ot/dense.c) ------------------------------------------- */

typedef struct fpk_ot_dense fpk_ot_dense;

/* Workspace for n × m problems: the cost, its transpose (column updates read rows) and O(n + m)
 * buffers; no allocation during solves beyond the error history and, at the first solve that
 * uses absorbed products (fpk_ot_dense_set_method), one more n × m kernel. */
fpk_ot_dense *fpk_ot_dense_alloc(size_t n, size_t m, fpk_error *err);
void fpk_ot_dense_free(fpk_ot_dense *w); /* NULL is safe */
/* A user cost matrix C (n × m, row-major, finite). */
int fpk_ot_dense_set_cost(fpk_ot_dense *w, const double *C);
/* The cost between points x (n × d, row-major) and y (m × d): |x − y|² or ½|x − y|². */
int fpk_ot_dense_set_points(fpk_ot_dense *w, size_t d, const double *x, const double *y,
                            fpk_ot_cost cost);
/* Solves OT_ε(a, b) (a: n, b: m, nonnegative, see params.normalize). f (n) and g (m) receive the
 * potentials (and are read first when params.warm_start). Returns FPK_SUCCESS also when the
 * iteration cap was reached: then r->converged = 0. Fails on bad input (FPK_EINVAL: negative or
 * non-finite weights, mass mismatch, ε <= 0, no cost set) and on a non-finite potential or a
 * failed output check (FPK_ENUMERIC; r is filled all the same); the message is on w. From ε >= the
 * cost's oscillation (max C − min C) on, the solve is centred (docs/ot.md) and uses no absorbed
 * products. */
int fpk_ot_dense_solve(fpk_ot_dense *w, const double *a, const double *b, const fpk_ot_params *p,
                       double *f, double *g, fpk_ot_result *r);
/* How the half-steps' log-sum-exps are evaluated (both give the same iterates, to rounding):
 *  - FPK_OT_DENSE_AUTO (default): where every weight is positive, through a stored kernel into
 *    which the potentials of an anchor iteration are absorbed (Schmitzer 2019, §3.2): one
 *    matrix-vector product and n + m exponentials per half-step instead of n·m exponentials, each
 *    output certified against underflow (relative loss <= 1e-15), re-anchored in the log domain
 *    when the potentials drift or ε changes. Costs one more n × m matrix, allocated at the first
 *    solve (if that fails, the log domain is used).
 *  - FPK_OT_DENSE_LOG: every half-step in the log domain (max-shifted log-sum-exp). */
typedef enum { FPK_OT_DENSE_AUTO = 0, FPK_OT_DENSE_LOG = 1 } fpk_ot_dense_method;
int fpk_ot_dense_set_method(fpk_ot_dense *w, fpk_ot_dense_method method);
/* Half-steps of the last solve: re-anchorings (log-domain row half-steps that rebuilt the
 * kernel), absorbed products, and other log-domain half-steps. Any pointer may be NULL. */
void fpk_ot_dense_counts(const fpk_ot_dense *w, size_t *anchors, size_t *absorbed,
                         size_t *logdomain);
/* The plan π (n × m) of potentials f, g at ε. */
int fpk_ot_dense_plan(fpk_ot_dense *w, const double *a, const double *b, const double *f,
                      const double *g, double eps, double *plan);
/* Marginal errors err_a + err_b recorded at each check of the last solve; *n receives their
 * number (owned by w, valid until the next solve). */
const double *fpk_ot_dense_history(const fpk_ot_dense *w, size_t *n);
const char *fpk_ot_dense_errmsg(const fpk_ot_dense *w);

/* ---- Grid Sinkhorn (src/ot/grid.c, kernels in src/ot/kernel_*.c) -------------------------- */

/* A kernel back-end computes, for the squared Euclidean cost between the cell centres of one
 * grid, out_i = log Σ_j exp(in_j − |x_i − x_j|²/ε) (in_j may be −∞). Each is exact to rounding
 * where it accepts ε; a back-end that cannot represent ε (or finds, after a product, that rounding
 * could exceed its accuracy) says so with a positive status and the solver falls back to the next
 * one, recording why. */
typedef struct fpk_ot_kernel_type {
  const char *name;
  const char *description;
} fpk_ot_kernel_type;

/* Separable Gaussian convolution by FFTW on a zero-padded grid, O(N log N) per product; accepted
 * while every output exceeds the FFT's rounding bound by the accuracy asked (large ε only). */
extern const fpk_ot_kernel_type *fpk_ot_kernel_fft;
/* Per-axis dense kernel matrices applied by BLAS (dgemm) in the scaling domain, O(N Σ n_a);
 * accepted while no kernel entry or scaled product under/overflows (ε >= max_a L_a²/690). */
extern const fpk_ot_kernel_type *fpk_ot_kernel_blas;
/* Per-axis Toeplitz products from the kernel's row in SIMD registers, threaded, in the scaling
 * domain of blas with its certificate; kernel entries below DBL_MIN are left out (a band) and
 * their loss is bounded, so every ε is accepted at set-up; a product is refused where an output
 * underflows. O(N Σ_a min(n_a, 2 r_a + 1)), r_a = √(708 ε)/h_a; no dense matrix, no BLAS. */
extern const fpk_ot_kernel_type *fpk_ot_kernel_band;
/* Per-axis, per line: the band product with the line's own shift where its per-output bound
 * certifies 1e-12 (or the accuracy asked, if smaller), else a log-sum-exp over blocks of B cells
 * that sums the blocks whose bound on their terms is within e^{-37}/n of the running sum (exact
 * to rounding); so every output is within 1e-12 of the exact value at any ε and any input.
 * O(N Σ_a min(n_a, 2r_a + 1)) plus O(n_a/B + kept terms) per exactly summed output,
 * B = max(√n_a, √(37ε)/h_a). */
extern const fpk_ot_kernel_type *fpk_ot_kernel_lse;
/* NULL-terminated list: fft, blas, lse (the fallback order), then band (named: falls back to lse). */
extern const fpk_ot_kernel_type *const fpk_ot_kernel_types[];
/* By name; NULL if unknown. "auto" is not a type: pass NULL to fpk_ot_grid_alloc. */
const fpk_ot_kernel_type *fpk_ot_kernel_find(const char *name);

typedef struct fpk_ot_grid fpk_ot_grid;

/* Workspace for OT between two densities on grid g (boundary conditions are ignored: the cost is
 * the Euclidean one in the box). kernel = NULL chooses per ε (fpk_ot_grid_solve documents the
 * rule); otherwise that back-end is tried first at every stage, falling back only when it cannot
 * represent ε. */
fpk_ot_grid *fpk_ot_grid_alloc(const fpk_grid *g, const fpk_ot_kernel_type *kernel,
                               fpk_error *err);
void fpk_ot_grid_free(fpk_ot_grid *w);
/* Solves OT_ε(a, b) for cell probabilities a, b (g->size values each, Σ = 1; a density p is
 * passed as p·cell_volume), cost |x − y|² between cell centres. f, g: potentials (g->size each).
 * Automatic kernel choice per stage: among the back-ends valid at ε — fft when the Gibbs kernel
 * stays above 1e-6 across the box (ε >= L²/ln 1e6 for the longest side L) and N >= 4096; blas
 * wherever blas accepts ε (every per-axis kernel entry >= e^{−690}: ε >= max_a L_a²/690,
 * L_a = (n_a − 1) h_a the extent between cell centres); on grids of N >= 4096 cells the internal
 * blas-lines product (the same dgemm with one shift per line of each axis pass, every output
 * certified or summed exactly; docs/ot.md); band at every ε — the one with the smallest cost
 * predicted by a fixed model of (grid, ε) (constants calibrated once by bench_ot_grid calibrate:
 * the choice never depends on timings or the thread count); lse when all refused. A back-end
 * that refused in this solve is not chosen again at that ε or below. From ε >= 2 Σ_a max|x_a − m_a| max|y_a − m_b| (m_a, m_b the means of a and b) the
 * solve is centred (docs/ot.md, "Large ε") and uses no kernel back-end, named or automatic.
 * Failures as fpk_ot_dense_solve. */
int fpk_ot_grid_solve(fpk_ot_grid *w, const double *a, const double *b, const fpk_ot_params *p,
                      double *f, double *g, fpk_ot_result *r);

/* Moments of the plan π of the last solve (or of potentials f, g at ε): means (dim each),
 * covariances of x and of y, and the cross-covariance E[(x − mx)(y − my)ᵀ] (dim × dim,
 * row-major). */
typedef struct fpk_ot_moments {
  size_t dim;
  double mean_x[FPK_MAX_DIM], mean_y[FPK_MAX_DIM];
  double cov_x[FPK_MAX_DIM * FPK_MAX_DIM], cov_y[FPK_MAX_DIM * FPK_MAX_DIM];
  double cross[FPK_MAX_DIM * FPK_MAX_DIM];
} fpk_ot_moments;
int fpk_ot_grid_moments(fpk_ot_grid *w, const double *a, const double *b, const double *f,
                        const double *g, double eps, fpk_ot_moments *mo);
/* The full plan (size² values, row i = source cell i): only for small grids (the caller checks
 * size² fits). */
int fpk_ot_grid_plan(fpk_ot_grid *w, const double *a, const double *b, const double *f,
                     const double *g, double eps, double *plan);
/* Marginal errors at each check of the last solve (owned by w). */
const double *fpk_ot_grid_history(const fpk_ot_grid *w, size_t *n);
/* What the last solve did, one line per stage: ε, back-end, iterations, error, and every
 * fallback with its reason (owned by w). */
const char *fpk_ot_grid_log(const fpk_ot_grid *w);
/* Number of stages of the last solve that fell back from the requested back-end. */
size_t fpk_ot_grid_fallbacks(const fpk_ot_grid *w);
const char *fpk_ot_grid_errmsg(const fpk_ot_grid *w);

/* ---- Sinkhorn divergence ------------------------------------------------------------------- */

/* S_ε(a, b) = OT_ε(a, b) − ½ OT_ε(a, a) − ½ OT_ε(b, b) (Genevay, Peyré & Cuturi 2018; Feydy et
 * al. 2019), from three solves on w with params p; r (may be NULL) receives the three results
 * [ab, aa, bb]. S_ε >= 0, S_ε → W2² as ε → 0 and S_ε → |m_a − m_b|² as ε → ∞ (½ that for the
 * cost ½|x − y|²); formed as that mean term plus the combination of the three results' excess,
 * so that it keeps its relative accuracy as ε grows (fpk_ot_result.excess). */
int fpk_ot_grid_divergence(fpk_ot_grid *w, const double *a, const double *b,
                           const fpk_ot_params *p, double *s, fpk_ot_result r[3]);
int fpk_ot_dense_divergence(size_t d, size_t n, const double *x, const double *a, size_t m,
                            const double *y, const double *b, fpk_ot_cost cost,
                            const fpk_ot_params *p, double *s, fpk_ot_result r[3],
                            fpk_error *err);

/* ---- Exact one-dimensional OT (src/ot/onedim.c) ------------------------------------------- */

/* W_p^p = ∫₀¹ |F⁻¹(u) − G⁻¹(u)|^p du for p = 1 or 2, computed exactly by merging the two
 * quantile functions (no ε).
 * Atoms: n points x (any order; sorted internally) with weights a (>= 0, Σ = 1), and m points y
 * with weights b. */
int fpk_ot_1d_points(size_t n, const double *x, const double *a, size_t m, const double *y,
                     const double *b, int p, double *wpp, fpk_error *err);
/* Cell densities on 1D grids: a piecewise-uniform density on each cell (cell probabilities
 * a, b, Σ = 1), whose quantile functions are piecewise linear; the integral over each piece is
 * exact. The two grids may differ. */
int fpk_ot_1d_cells(const fpk_grid *ga, const double *a, const fpk_grid *gb, const double *b,
                    int p, double *wpp, fpk_error *err);

/* ---- Gaussian closed forms (src/exact/gaussian_ot.c) --------------------------------------- */

/* Entropic OT between N(m0, A) and N(m1, B) in the fpkit convention (Janati, Muzellec, Peyré &
 * Cuturi 2020; Mallasto, Gerolin & Minh 2021), σ² = ε/2:
 *   D = (4 A^{1/2} B A^{1/2} + σ⁴ I)^{1/2},  C = ½ A^{1/2} D A^{−1/2} − ½σ² I,
 *   OT_ε = |m0 − m1|² + Tr A + Tr B − Tr D + dσ²(1 − ln 2σ²) + σ² ln det(D + σ² I).
 * Evaluated per eigenvalue λ of 4A^{1/2}BA^{1/2} so that the σ²-sized terms cancel analytically
 * (accurate for every ε > 0 up to 1e300, src/exact/gaussian_ot.c).
 * cross (d × d, may be NULL) receives C, the plan's cross-covariance; the plan is
 * N([m0; m1], [[A, C], [Cᵀ, B]]). For the cost ½|x − y|², OT is half this value at ε/2. */
int fpk_gaussian_entropic_ot(const fpk_gaussian *g0, const fpk_gaussian *g1, double eps,
                             double *value, double *cross, fpk_error *err);
/* W2²(N(m0, A), N(m1, B)) = |m0 − m1|² + Tr(A + B − 2(A^{1/2} B A^{1/2})^{1/2}) (Bures). */
int fpk_gaussian_w2sq(const fpk_gaussian *g0, const fpk_gaussian *g1, double *w2sq,
                      fpk_error *err);
/* S_ε between the two Gaussians from the closed form above. */
int fpk_gaussian_sinkhorn_divergence(const fpk_gaussian *g0, const fpk_gaussian *g1, double eps,
                                     double *s, fpk_error *err);

#ifdef __cplusplus
}
#endif
#endif
