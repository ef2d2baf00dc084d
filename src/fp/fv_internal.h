/* Internal interfaces of the finite-volume Fokker–Planck solver (src/fp/). Not installed.
 *
 *   fv_operator.c  the semi-discrete operator L (dp/dt = L p) in compressed-column form, with
 *                  Scharfetter–Gummel face fluxes, assembled generically over the axes;
 *   linsolve.c     solves (I - c L) x = b: Thomas / cyclic Thomas in 1D, UMFPACK (direct) or the
 *                  split solver (Thomas per grid line and axis) in 2D/3D, with the factorisation
 *                  cached per value of c;
 *   fv.c           the solver object and the time-stepper type tables.
 * See docs/fv-scheme.md for the scheme.
 */
#ifndef FPK_FP_FV_INTERNAL_H
#define FPK_FP_FV_INTERNAL_H

#include <stddef.h>
#include "fpkit/error.h"
#include "fpkit/fv.h"
#include "fpkit/grid.h"
#include "fpkit/model.h"

/* Bernoulli function B(z) = z / (e^z - 1), B(0) = 1, accurate for every finite z. */
double fpk_fv_bernoulli(double z);

/* L stored column by column (CSC, the layout UMFPACK takes): column j holds the rates at which
 * p_j feeds cells Ai[Ap[j] .. Ap[j+1]-1] (row indices ascending, no duplicates). Every column
 * sums to zero up to round-off except for absorbing outflow, so 1ᵀL = 0: mass is conserved.
 * The pattern is fixed at init; assemble() only rewrites Ax. */
typedef struct fpk_fv_op {
  fpk_grid grid;
  size_t n;   /* unknowns = grid.size */
  size_t nnz;
  int *Ap;    /* n + 1 */
  int *Ai;    /* nnz */
  double *Ax; /* nnz: values of L */
  /* slot[j*(2*dim+1) + k]: index into Ai/Ax of the entry of column j that is the diagonal (k = 0),
   * the left neighbour along axis a (k = 1 + 2a) or the right neighbour (k = 2 + 2a); -1 if the
   * neighbour does not exist (reflecting or absorbing wall). */
  int *slot;
  /* Face coefficients along each axis, on the face grid that has n[a] + 1 points along axis a:
   * out_left[f] = rate at which the cell left of face f loses mass through it,
   * out_right[f] = the same for the cell right of it (per unit density, per unit time). */
  double *out_left[FPK_MAX_DIM], *out_right[FPK_MAX_DIM];
  size_t nfaces[FPK_MAX_DIM];
  /* batch buffers: face coordinates and drift (dim * max nfaces), the diffusion matrix
   * (dim * dim * max nfaces, fpk_model_diffusion's layout) and its work (dim * m * max nfaces, m
   * the noise dimension; NULL for a diagonal model) */
  double *xf, *bf, *sf, *wf;
  /* Cell-centre coordinates and D_a = ½σ_a² there (dim * n each), for the flux J = b p − ∂(D p);
   * allocated at the first assembly of a model without FPK_MODEL_ADDITIVE, NULL until then. */
  double *xc, *Dc;
  /* Cross-diffusion (off-diagonal D_ab of a noise matrix, docs/fv-scheme.md): cross = 1 when
   * the operator carries the terms ∂_a(∂_b(D_ab p)), a ≠ b; decided at the first assembly (an
   * autonomous model with D_ab = 0 at every cell centre has none) and fixed afterwards, since the
   * matrix pattern (the 9-point stencil in 2D, 19-point in 3D) depends on it. Dx: D_ab at the cell
   * centres for the pairs a < b, pair k = the k-th in the order (0,1), (0,2), (1,2): Dx[k n + j]
   * (kept between assemblies: the split solver forms L y from it). */
  int cross;
  double *Dx;
  /* The explicit part L_x (terms outside the axis tridiagonals) has two sources: cross-diffusion
   * (mixed = 1, Dx set) and the second-order upwind transport along axes without diffusion
   * (bit a of upwind2 set: D_aa = 0 on every face at the first assembly, n_a >= 3): there the
   * face flux is the first-order upwind flux v p_up (in the axis tridiagonal, from sg_face) plus
   * the correction (v/2)(p_up − p_upup), p_upup the next cell upstream (linear second-order
   * upwind, Beam–Warming; none where that cell is beyond a wall). vf[a]: the drift v_a on the
   * faces of such an axis (kept, like Dx). cross = mixed || upwind2. */
  int mixed;
  unsigned upwind2;
  double *vf[FPK_MAX_DIM];
  double upwind2_rate; /* max over those axes of max_f |v_f| / h_a (the split solver's limit) */
  /* The transport along axes without diffusion (fpk_fv_transport; set before the first
   * assembly, which decides the axes): LINEAR sets upwind2 above; LIMITED (the default, 0) sets
   * bit a of limited instead, and the axis keeps the first-order upwind coefficients of sg_face
   * in lim_l[a], lim_r[a] (out_left/out_right at α = 1), from which fv_op_limit forms the face
   * coefficients α_f · (upwind rate) of the MUSCL / van Leer flux frozen at a given density
   * (docs/fv-scheme.md, "Zero diffusion"); UPWIND keeps the first-order flux. */
  int transport;
  unsigned limited;
  double *lim_l[FPK_MAX_DIM], *lim_r[FPK_MAX_DIM];
  /* L_x as a row-compressed matrix (rows ascending, duplicates merged), rebuilt by every
   * assembly when cross is set: what the split solver's products apply. */
  int *Xp, *Xi;
  double *Xx;
  double t;             /* time of the values in Ax */
  int assembled;
} fpk_fv_op;

/* The grid lines along axis a (for the split solver and the axis-wise operator): line (o, i),
 * o < outer, i < stride, holds the cells o n stride + k stride + i, k < n, and its faces are
 * o (n + 1) stride + k stride + i, k <= n, on the face grid of axis a (op->out_left[a], ...).
 * Lines are numbered l = o stride + i. Work is split between threads by contiguous ranges of
 * lines, done in chunks of up to FPK_FV_LINE_BLOCK neighbouring lines in lockstep; each line's
 * arithmetic does not depend on the chunks, so results are bitwise the same for any number of
 * threads. */
#define FPK_FV_LINE_BLOCK 64
typedef struct fpk_fv_lines {
  size_t n, stride, outer;
  int periodic;
} fpk_fv_lines;

static inline fpk_fv_lines fv_lines_of(const fpk_grid *g, size_t a) {
  fpk_fv_lines L = {g->n[a], 1, 1, g->bc[a] == FPK_BC_PERIODIC};
  for (size_t b = 0; b < a; b++) L.stride *= g->n[b];
  L.outer = g->size / (L.stride * L.n);
  return L;
}

/* Grids below this size run the split solver's loops on one thread (the fork costs more). */
#define FPK_FV_PARALLEL_MIN 4096

/* The face arrays and the matrix (CSC); fv_op_init_faces the face arrays only (the split solver
 * needs no matrix: Ap, Ai, Ax and slot stay NULL), fv_op_add_csc adds the matrix later (filled
 * from the faces if assembled). */
int fpk_fv_op_init(fpk_fv_op *op, const fpk_grid *grid, fpk_error *err);
int fv_op_init_faces(fpk_fv_op *op, const fpk_grid *grid, fpk_error *err);
int fv_op_add_csc(fpk_fv_op *op, fpk_error *err);
/* Frees the model-call batch buffers (xf, bf, sf, xc, Dc) between assemblies; the next assembly
 * allocates them again. For autonomous models, assembled once. */
void fv_op_release_scratch(fpk_fv_op *op);
void fpk_fv_op_free(fpk_fv_op *op);
/* Evaluates the model on every face (one batched drift and noise call per axis) and, unless the
 * model is FPK_MODEL_ADDITIVE, the noise at every cell centre (one batched call), and fills Ax. */
int fpk_fv_op_assemble(fpk_fv_op *op, const fpk_model *model, double t, fpk_error *err);
/* y = L x (needs the matrix). */
void fpk_fv_op_apply(const fpk_fv_op *op, const double *x, double *y);
/* y = alpha L x + beta z, L x = sum_a L_a x formed cell by cell from the face coefficients
 * (threaded over rows; the same operator as fpk_fv_op_apply, different rounding; y must not be x
 * or z; beta = 0: z unused). Used by the split solver's steppers. */
void fv_op_apply_lines(const fpk_fv_op *op, double alpha, const double *x, double beta,
                       const double *z, double *y);
/* The same on rows r0 .. r1-1 only (row r: cells r n0 .. r n0 + n0 - 1), in the calling thread. */
void fv_op_apply_rows(const fpk_fv_op *op, double alpha, const double *x, double beta,
                      const double *z, double *y, size_t r0, size_t r1);
/* y += alpha L_x x, L_x the cross-diffusion part of L alone (nothing when op->cross is 0), on all
 * cells (threaded over rows, bitwise the same for any thread count). The Craig–Sneyd correction
 * of the split steppers (fv.c). */
void fv_op_apply_cross(const fpk_fv_op *op, double alpha, const double *x, double *y);
/* max_i |L_ii|. */
double fpk_fv_op_max_diag(const fpk_fv_op *op);
/* Sets the face coefficients of the limited axes (op->limited) to the van Leer-limited MUSCL flux
 * frozen at the density p (grid->size values): the outflow of the upwind cell through face f is
 * α_f |v_f|/h p_up with α_f = 1 + c_f / p_up ∈ [0, 2] (c_f the limited slope correction of p),
 * so L stays a Metzler matrix with zero column sums and L p is the MUSCL flux divergence of p.
 * Refills the matrix when there is one. Nothing when op->limited is 0. */
void fv_op_limit(fpk_fv_op *op, const double *p);
/* max_i |L_ii| over every α_f in [0, 2] of the limited axes (their rate counted twice): the
 * explicit Euler bound that holds whatever density the flux is frozen at; fpk_fv_op_max_diag
 * when op->limited is 0. */
double fv_op_max_diag_bound(const fpk_fv_op *op);
/* max_a max_j |(L_a)_jj|: the largest diagonal of one axis's part of L (the split solver's
 * positivity bounds, docs/fv-scheme.md). */
double fv_op_max_axis_diag(const fpk_fv_op *op);

/* Solver for (I - c L) x = b on the pattern of op (fpk_linsolve_alloc needs the matrix). 1D grids
 * use a stored Thomas factorisation (Sherman–Morrison for the periodic corner entries; no
 * pivoting is needed because I - cL is a column diagonally dominant M-matrix); 2D/3D use UMFPACK
 * with the symbolic analysis done once.
 * Up to FPK_LINSOLVE_SLOTS numeric factorisations are kept, keyed on c. */
#define FPK_LINSOLVE_SLOTS 2
typedef struct fpk_linsolve fpk_linsolve;

fpk_linsolve *fpk_linsolve_alloc(const fpk_fv_op *op, fpk_error *err);
/* The split solver (2D/3D; 1D grids get the exact Thomas solver): "solve" applies
 * (I - c L_d)^{-1} ... (I - c L_1)^{-1}, an O(c²) approximation of (I - c L)^{-1}, with L_a the
 * part of L along axis a (docs/fv-scheme.md). Same cache, prepare and checkpoint interface; no
 * transposed solve. */
fpk_linsolve *fv_linsolve_alloc_split(const fpk_fv_op *op, fpk_error *err);
/* 1 if ls is the split solver (not exact). */
int fv_linsolve_is_split(const fpk_linsolve *ls);
/* A whole delta-form stage of the split solver in one parallel region: w = alpha L x + beta z
 * (fv_op_apply_rows), w = M^{-1} w, p += w (fused into the last axis's solve). Each thread forms
 * the rows it then solves along axis 0 (the rows are the lines of axis 0), so the product needs
 * no barrier of its own; x may be p (every product is done before the first addition). */
int fv_linsolve_split_stage(fpk_linsolve *ls, const fpk_fv_op *op, double alpha, const double *x,
                            double beta, const double *z, double *w, double *p, fpk_error *err);
void fpk_linsolve_free(fpk_linsolve *ls);
/* After a change of L along the axes in the bit mask axes only (the limited transport of an
 * autonomous model): refactors those axes of the split solver's current factorisation when it
 * is of exactly this c, and makes it current; otherwise (another c, the direct or 1D solver)
 * fpk_linsolve_prepare with refactor. The result is bitwise that of a full refactorisation. */
int fv_linsolve_refactor_axes(fpk_linsolve *ls, const fpk_fv_op *op, double c, unsigned axes,
                              fpk_error *err);
/* Makes the factorisation of I - c L current: reuses a cached one with the same c unless
 * refactor is set (L changed), otherwise factors into the least recently used slot. */
int fpk_linsolve_prepare(fpk_linsolve *ls, const fpk_fv_op *op, double c, int refactor,
                         fpk_error *err);
/* x = (I - c L)^{-1} b with the current factorisation; x and b may not alias. */
int fpk_linsolve_solve(fpk_linsolve *ls, const double *b, double *x, fpk_error *err);
/* x = (I - c L)^{-T} b with the same factorisation (the adjoint step of the backward Kolmogorov
 * equation, src/sb/ipf.c: discrete duality needs exactly the transpose); x, b may not alias. */
int fpk_linsolve_solve_transpose(fpk_linsolve *ls, const double *b, double *x, fpk_error *err);
/* The cache, for checkpoints (fpk_fv_state): the key c of each slot (0: empty) and its recency
 * (0 = least recently used, among the valid slots). Steps that differ in the last bits reuse a
 * cached factorisation, so the cache is part of a solver's state: cache_set rebuilds it in a
 * solver of the same operator, each key factored exactly into its slot, in the same order. */
void fpk_linsolve_cache_get(const fpk_linsolve *ls, double *keys, double *recency);
int fpk_linsolve_cache_set(fpk_linsolve *ls, const fpk_fv_op *op, const double *keys,
                           const double *recency, fpk_error *err);
/* Number of numeric factorisations computed so far (for tests of the caching). */
size_t fpk_linsolve_factorizations(const fpk_linsolve *ls);

/* Number of factorisations done by the solver object (fv.c); for tests. */
struct fpk_fv;
size_t fpk_fv_factorizations(const struct fpk_fv *s);

/* The split solver keeps the second-order upwind correction explicit (Craig–Sneyd stage, fv.c),
 * which is stable only for κ max|v|/h <= FPK_FV_UPWIND2_KAPPA_NU (κ the implicit weight c·dt of
 * the stage; measured, docs/fv-scheme.md): dt max|v|/h <= 8 for Crank–Nicolson, 13.7 for
 * TR-BDF2. */
#define FPK_FV_UPWIND2_KAPPA_NU 4.0

#endif
