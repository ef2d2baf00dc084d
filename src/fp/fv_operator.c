/* Assembly of the finite-volume Fokker–Planck operator L with Scharfetter–Gummel fluxes.
 *
 * Cell-centred unknowns p_i (fpk_grid order, x fastest). The Itô Fokker–Planck flux along axis a
 * is J = b_a p − ∂_a(D_a p), D_a = ½σ_a², i.e. J = −(∂u − v u) with u = D p and v = b/D.
 * Exponential fitting of u across the face between cells l and r = l + e_a (spacing h; drift b_f
 * and D_f at the face midpoint, D_l and D_r at the two cell centres) gives
 *   J = (1/h) [B(-z) D_l p_l - B(z) D_r p_r],  z = v_f h = b_f h / D_f,  B(z) = z / (e^z - 1)
 * (Scharfetter & Gummel, IEEE Trans. Electron Devices 16, 64 (1969); in the Fokker–Planck setting
 * Chang & Cooper, J. Comput. Phys. 6, 1 (1970); with variable diffusion Bessemoulin-Chatard,
 * Numer. Math. 121, 637 (2012)). For constant D this is (D/h)[B(-z) p_l - B(z) p_r]; additive
 * models (FPK_MODEL_ADDITIVE) skip the centre evaluation and use D_l = D_r = D_f, so their
 * operator is bitwise the constant-D one. Cell l loses (D_l/h²) B(-z) p_l per unit time to r and
 * r loses (D_r/h²) B(z) p_r to l; both coefficients are >= 0, which makes L a Metzler matrix with
 * zero column sums. Boundary faces: reflecting = no flux; periodic = an ordinary face between the
 * last and the first cell; absorbing = the half-cell flux to a wall value u = D p = 0 (whatever D
 * is at the wall) at distance δ = h/2, i.e. the outflow (D_cell/(δh)) B(∓z_δ) p_cell with
 * z_δ = b_f δ / D_f at the wall face (minus sign at the upper wall). D = ½σσᵀ comes from
 * fpk_model_diffusion (diagonal or matrix noise); its diagonal D_aa gives the SG fluxes above (D = 0:
 * upwinding), its off-diagonal D_ab the cross-diffusion fluxes (below, "Cross-diffusion"). See
 * docs/fv-scheme.md.
 */
#include "fp/fv_internal.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

double fpk_fv_bernoulli(double z) {
  const double az = fabs(z);
  if (az < 1e-2) {
    /* z/(e^z-1) = 1 - z/2 + z²/12 - z⁴/720 + z⁶/30240 - ...; truncation error < 1e-16 here. */
    const double z2 = z * z;
    return 1.0 - 0.5 * z + z2 * (1.0 / 12.0 - z2 / 720.0);
  }
  if (z > 0.0) {
    if (z > 745.0) return 0.0; /* z e^{-z} underflows */
    return z / expm1(z);
  }
  /* z < 0: B(z) = -z / (1 - e^z) = |z| / -expm1(z); tends to |z|. */
  return z / expm1(z);
}

/* Outflow coefficients of a face: out_l = rate at which the left cell loses mass through it,
 * out_r = the same for the right cell, for an interior face of width h (h² = h * h). v and D are
 * the drift and diffusion at the face, Dl and Dr the diffusion at the left and right cell
 * centres (Dl = Dr = D for constant D: then k * B below is exactly the constant-D scheme). */
static inline void sg_face(double v, double D, double Dl, double Dr, double h, double *out_l,
                           double *out_r) {
  const double z = D > 0.0 ? v * h / D : 0.0;
  if (D > 0.0 && fabs(z) <= 745.0) {
    *out_l = Dl / (h * h) * fpk_fv_bernoulli(-z);
    *out_r = Dr / (h * h) * fpk_fv_bernoulli(z);
  } else if (D > 0.0) {
    /* |z| > 745 (or z = ±inf when D underflows, e.g. σ = 1e-160): B(-z) = z (1 + e^{-z} + ...)
     * is z to rounding and B(z) underflows to 0, so (Dl/h²) B(-z) = (Dl/D) v/h, the upwind
     * limit, formed without the overflow of z itself. */
    *out_l = v > 0.0 ? Dl / D * v / h : 0.0;
    *out_r = v < 0.0 ? Dr / D * -v / h : 0.0;
  } else { /* D = 0: the SG flux reduces to first-order upwinding */
    *out_l = (v > 0.0 ? v : 0.0) / h;
    *out_r = (v < 0.0 ? -v : 0.0) / h;
  }
}

/* Outflow coefficient to an absorbing wall at distance δ = h/2 from the centre of a cell of width
 * h. sign = -1 at the lower wall (outward normal -e_a), +1 at the upper wall. v, D: drift and
 * diffusion at the wall face; Dc: diffusion at the cell centre. With u = D p = 0 on the wall, the
 * flux along +e_a at the lower wall is J = (1/δ)[B(-z)·0 - B(z) Dc p] = -(Dc/δ) B(z) p, z = vδ/D,
 * so the cell loses (Dc/(δh)) B(z) p; at the upper wall J = (Dc/δ) B(-z) p. */
static inline double sg_wall(double v, double D, double Dc, double h, int sign) {
  const double delta = 0.5 * h;
  const double z = D > 0.0 ? v * delta / D : 0.0;
  if (D > 0.0 && fabs(z) <= 745.0) return Dc / (delta * h) * fpk_fv_bernoulli(sign > 0 ? -z : z);
  if (D > 0.0) { /* the upwind limit, as in sg_face */
    const double vn = sign * v;
    return vn > 0.0 ? Dc / D * vn / h : 0.0;
  }
  const double vn = sign * v; /* outward normal velocity */
  return (vn > 0.0 ? vn : 0.0) / h;
}

/* Multi-index of flat cell j. */
static inline void unflatten(const fpk_grid *g, size_t j, size_t *idx) {
  for (size_t a = 0; a < g->dim; a++) {
    idx[a] = j % g->n[a];
    j /= g->n[a];
  }
}

/* Flat index of the face at multi-index idx on the face grid of axis a (n[a] + 1 along a). */
static inline size_t face_flat(const fpk_grid *g, size_t a, const size_t *idx) {
  size_t f = 0;
  for (size_t b = g->dim; b-- > 0;) f = f * (b == a ? g->n[b] + 1 : g->n[b]) + idx[b];
  return f;
}

static inline size_t cell_flat(const fpk_grid *g, const size_t *idx) {
  size_t f = 0;
  for (size_t b = g->dim; b-- > 0;) f = f * g->n[b] + idx[b];
  return f;
}

/* ---- Cross-diffusion (docs/fv-scheme.md, "Cross-diffusion") -------------------------------
 * The Itô flux along a carries, besides the Scharfetter–Gummel part, −Σ_{b≠a} ∂_b(D_ab p). On
 * the face of axis a between cells l and r = l + e_a it is the average of one-sided transverse
 * differences of u = D_ab p in the two cells, oriented by the sign of D_ab on the face:
 *   J^x_a = −½ [G_b(l) + G_b(r)],   D_ab > 0: G_b(r) = (u_{r+e_b} − u_r)/h_b,
 *                                             G_b(l) = (u_l − u_{l−e_b})/h_b,
 * and the other way round for D_ab < 0. For constant D this is the 7-point stencil that takes
 * the mixed difference along the diagonal aligned with the sign of D_ab (corners (+1, +1) and
 * (−1, −1) for D_ab > 0); the one-sided errors ±(h_b/2)∂²_b u cancel to O(h²) in the average,
 * so it is second order like the centred 9-point stencil, but its off-diagonal coefficients
 * are +|D_ab|/(h_a h_b) at the two corners and −|D_ab|/(h_a h_b) on the axes: L is an M-matrix
 * (every scheme that is positive for diagonal D stays positive) when
 * |D_ab| ≤ min(D_aa h_b/h_a, D_bb h_a/h_b) (P. Ikonen & J. Toivanen, "Operator splitting
 * methods for pricing American options under stochastic volatility", Numer. Math. 113 (2009)
 * 299–324, §3, the same stencil for the Heston mixed derivative). Next to a wall along b the
 * one difference available is used; periodic axes wrap. Wall faces of axis a carry no cross flux
 * (reflecting: J·n = 0; absorbing: u = 0 along the wall, so its transverse derivative
 * vanishes). Each face's flux leaves one cell and enters the other, so 1ᵀL_x = 0: mass is
 * conserved exactly as for the axis fluxes. */

/* Index of the pair a < b in Dx. */
static inline size_t pair_index(size_t d, size_t a, size_t b) {
  return a * (2 * d - a - 1) / 2 + (b - a - 1);
}

/* idx moved by s = ±1 along a: 0 (and idx unchanged) beyond a wall, 1 otherwise (wrapped on a
 * periodic axis). */
static inline int step_idx(const fpk_grid *g, size_t *idx, size_t a, int s) {
  const size_t na = g->n[a];
  if (s > 0) {
    if (idx[a] + 1 < na) idx[a]++;
    else if (g->bc[a] == FPK_BC_PERIODIC && na > 1) idx[a] = 0;
    else return 0;
  } else {
    if (idx[a] > 0) idx[a]--;
    else if (g->bc[a] == FPK_BC_PERIODIC && na > 1) idx[a] = na - 1;
    else return 0;
  }
  return 1;
}

static inline size_t cell_flat(const fpk_grid *g, const size_t *idx);

/* G_b at the cell with multi-index ci as (cell, weight) pairs, G_b = Σ w_k u_{cell_k}: the
 * one-sided difference forward (dir > 0) or backward (dir < 0) along b, the other one next to a
 * wall. */
static int grad_stencil(const fpk_grid *g, const size_t *ci, size_t b, int dir, size_t *cells,
                        double *w) {
  size_t up[FPK_MAX_DIM], dn[FPK_MAX_DIM];
  memcpy(up, ci, sizeof up);
  memcpy(dn, ci, sizeof dn);
  const int has_up = step_idx(g, up, b, +1), has_dn = step_idx(g, dn, b, -1);
  const double h = g->h[b];
  if (has_up && (dir > 0 || !has_dn)) {
    cells[0] = cell_flat(g, up), w[0] = 1.0 / h;
    cells[1] = cell_flat(g, ci), w[1] = -1.0 / h;
  } else if (has_dn) {
    cells[0] = cell_flat(g, ci), w[0] = 1.0 / h;
    cells[1] = cell_flat(g, dn), w[1] = -1.0 / h;
  } else {
    return 0; /* one cell along b: no transverse derivative */
  }
  return 2;
}

/* Row j of L_x: (L_x p)_j = Σ_k coef_k p_{cols_k} (with repeats), D_ab from op->Dx. Returns the
 * number of terms: 2 faces × (d − 1) transverse axes × 2 cells × 2 weights per axis, plus 2
 * faces × 2 cells per second-order upwind axis. */
#define FV_CROSS_ROW (8 * FPK_MAX_DIM * (FPK_MAX_DIM - 1) + 4 * FPK_MAX_DIM)
static inline size_t face_flat(const fpk_grid *g, size_t a, const size_t *idx);
static int cross_row(const fpk_fv_op *op, size_t j, size_t *cols, double *coef) {
  const fpk_grid *g = &op->grid;
  const size_t d = g->dim, n = op->n;
  size_t idx[FPK_MAX_DIM];
  for (size_t a = 0, r = j; a < d; a++) {
    idx[a] = r % g->n[a];
    r /= g->n[a];
  }
  int m = 0;
  for (size_t a = 0; a < d; a++) {
    if (!(op->upwind2 & (1u << a))) continue;
    /* face (l, r) of axis a: J_corr = (v/2)(p_up − p_upup), up = l, upup = l − e_a for v > 0,
     * up = r, upup = r + e_a for v < 0; dp_j/dt gets −side J_corr / h_a */
    for (int side = -1; side <= 1; side += 2) {
      size_t l[FPK_MAX_DIM], r[FPK_MAX_DIM], fi[FPK_MAX_DIM];
      memcpy(l, idx, sizeof l);
      memcpy(r, idx, sizeof r);
      if (!step_idx(g, side > 0 ? r : l, a, side)) continue; /* a wall */
      memcpy(fi, idx, sizeof fi);
      if (side > 0) fi[a] = idx[a] + 1; /* the right face of j (index n_a: the periodic face) */
      const double v = op->vf[a][face_flat(g, a, fi)];
      if (v == 0.0) continue;
      size_t up[FPK_MAX_DIM];
      memcpy(up, v > 0.0 ? l : r, sizeof up);
      const size_t cu = cell_flat(g, up);
      if (!step_idx(g, up, a, v > 0.0 ? -1 : +1)) continue; /* no cell upstream: first order */
      const double c = -side * 0.5 * v / g->h[a];
      cols[m] = cu, coef[m++] = c;
      cols[m] = cell_flat(g, up), coef[m++] = -c;
    }
  }
  if (!op->mixed) return m;
  for (size_t a = 0; a < d; a++) {
    if (g->n[a] < 2) continue;
    /* the faces of j along a: right (j, j + e_a), flux leaves j: −J/h_a; left (j − e_a, j): +J/h_a */
    for (int side = -1; side <= 1; side += 2) {
      size_t other[FPK_MAX_DIM];
      memcpy(other, idx, sizeof other);
      if (!step_idx(g, other, a, side)) continue; /* a wall: no cross flux */
      /* dp_j/dt gets −side J/h_a, J = −½ [G_b(j) + G_b(other)]: + side/(2 h_a) Σ w u */
      const double s = 0.5 * side / g->h[a];
      for (size_t b = 0; b < d; b++) {
        if (b == a) continue;
        const double *Dab = op->Dx + pair_index(d, a < b ? a : b, a < b ? b : a) * n;
        /* the face's sign of D_ab; the upper cell along a (r) differences forward along b for
         * D_ab > 0, the lower one (l) backward, and the other way round for D_ab < 0 */
        const double dface = Dab[j] + Dab[cell_flat(g, other)];
        size_t c[2];
        double w[2];
        for (int cell = 0; cell < 2; cell++) {
          const int upper = (cell == 0) == (side < 0); /* j is r for side −1, other for +1 */
          const int dir = (upper ? 1 : -1) * (dface >= 0.0 ? 1 : -1);
          const int q = grad_stencil(g, cell ? other : idx, b, dir, c, w);
          for (int k = 0; k < q; k++) {
            cols[m] = c[k];
            coef[m++] = s * w[k] * Dab[c[k]];
          }
        }
      }
    }
  }
  return m;
}

/* op->Xp/Xi/Xx from cross_row, row by row (duplicates merged, columns ascending). */
static int build_cross_csr(fpk_fv_op *op) {
  const size_t n = op->n;
  if (!op->Xp) {
    op->Xp = malloc((n + 1) * sizeof *op->Xp);
    op->Xi = malloc(n * FV_CROSS_ROW * sizeof *op->Xi);
    op->Xx = malloc(n * FV_CROSS_ROW * sizeof *op->Xx);
    if (!op->Xp || !op->Xi || !op->Xx) return -1;
  }
  size_t cols[FV_CROSS_ROW], nz = 0;
  double coef[FV_CROSS_ROW];
  for (size_t j = 0; j < n; j++) {
    op->Xp[j] = (int)nz;
    const int m = cross_row(op, j, cols, coef);
    for (int u = 1; u < m; u++) /* insertion sort by column */
      for (int v = u; v > 0 && cols[v - 1] > cols[v]; v--) {
        const size_t tc = cols[v];
        const double tx = coef[v];
        cols[v] = cols[v - 1], coef[v] = coef[v - 1];
        cols[v - 1] = tc, coef[v - 1] = tx;
      }
    for (int u = 0; u < m; u++) {
      if (nz > (size_t)op->Xp[j] && (size_t)op->Xi[nz - 1] == cols[u]) {
        op->Xx[nz - 1] += coef[u];
      } else {
        op->Xi[nz] = (int)cols[u];
        op->Xx[nz++] = coef[u];
      }
    }
  }
  op->Xp[n] = (int)nz;
  return 0;
}

static void cross_rows(const fpk_fv_op *op, double alpha, const double *x, double *y, size_t r0,
                       size_t r1) {
  const size_t n0 = op->grid.n[0];
  const int *Xp = op->Xp, *Xi = op->Xi;
  const double *Xx = op->Xx;
  for (size_t j = r0 * n0; j < r1 * n0; j++) {
    double acc = 0.0;
    for (int k = Xp[j]; k < Xp[j + 1]; k++) acc += Xx[k] * x[Xi[k]];
    y[j] += alpha * acc;
  }
}

void fv_op_apply_cross(const fpk_fv_op *op, double alpha, const double *x, double *y) {
  if (!op->cross) return;
  const size_t rows = op->n / op->grid.n[0];
#pragma omp parallel if (op->n >= FPK_FV_PARALLEL_MIN)
  {
    const size_t nt = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
    cross_rows(op, alpha, x, y, rows * t / nt, rows * (t + 1) / nt);
  }
}

void fpk_fv_op_free(fpk_fv_op *op) {
  if (!op) return;
  free(op->Ap);
  free(op->Ai);
  free(op->Ax);
  free(op->slot);
  for (size_t a = 0; a < FPK_MAX_DIM; a++) {
    free(op->out_left[a]);
    free(op->out_right[a]);
  }
  free(op->xf);
  free(op->bf);
  free(op->sf);
  free(op->wf);
  free(op->xc);
  free(op->Dc);
  free(op->Dx);
  for (size_t a = 0; a < FPK_MAX_DIM; a++) {
    free(op->vf[a]);
    free(op->lim_l[a]);
    free(op->lim_r[a]);
  }
  free(op->Xp);
  free(op->Xi);
  free(op->Xx);
  memset(op, 0, sizeof *op);
}

/* The face arrays only (no matrix): what the split solver needs. */
int fv_op_init_faces(fpk_fv_op *op, const fpk_grid *grid, fpk_error *err) {
  memset(op, 0, sizeof *op);
  op->grid = *grid;
  const fpk_grid *g = &op->grid;
  const size_t d = g->dim, n = g->size;
  if (n > (size_t)(0x7fffffff / (2 * FPK_MAX_DIM + 1)))
    return fpk_error_set(err, FPK_EINVAL, "fv: grid of %zu cells is too large for 32-bit indices",
                         n);
  op->n = n;
  int ok = 1;
  for (size_t a = 0; a < d && ok; a++) {
    op->nfaces[a] = n / g->n[a] * (g->n[a] + 1);
    op->out_left[a] = calloc(op->nfaces[a], sizeof(double));
    op->out_right[a] = calloc(op->nfaces[a], sizeof(double));
    ok = op->out_left[a] && op->out_right[a];
  }
  if (!ok) {
    fpk_fv_op_free(op);
    return fpk_error_set(err, FPK_ENOMEM, "fv: out of memory for a grid of %zu cells", n);
  }
  return FPK_SUCCESS;
}

/* Batch buffers of the model calls: allocated by the assembly, released by
 * fv_op_release_scratch. */
static int alloc_scratch(fpk_fv_op *op, const fpk_model *model) {
  if (op->xf) return 0;
  const size_t d = op->grid.dim;
  size_t maxf = op->n; /* the cell-centre batch uses the same buffers */
  for (size_t a = 0; a < d; a++)
    if (op->nfaces[a] > maxf) maxf = op->nfaces[a];
  op->xf = malloc(d * maxf * sizeof *op->xf);
  op->bf = malloc(d * maxf * sizeof *op->bf);
  op->sf = malloc(d * d * maxf * sizeof *op->sf);
  if (model->noise_matrix) op->wf = malloc(d * fpk_model_noise_dim(model) * maxf * sizeof *op->wf);
  if (op->xf && op->bf && op->sf && (op->wf || !model->noise_matrix)) return 0;
  fv_op_release_scratch(op);
  return -1;
}

void fv_op_release_scratch(fpk_fv_op *op) {
  free(op->xf);
  free(op->bf);
  free(op->sf);
  free(op->wf);
  free(op->xc);
  free(op->Dc);
  op->xf = op->bf = op->sf = op->wf = op->xc = op->Dc = NULL;
}

static void fill_csc(fpk_fv_op *op);

int fpk_fv_op_init(fpk_fv_op *op, const fpk_grid *grid, fpk_error *err) {
  int rc = fv_op_init_faces(op, grid, err);
  if (!rc) rc = fv_op_add_csc(op, err);
  return rc;
}

int fv_op_add_csc(fpk_fv_op *op, fpk_error *err) {
  if (op->Ap) return FPK_SUCCESS;
  const fpk_grid *g = &op->grid;
  const size_t d = g->dim, n = op->n, per = 2 * d + 1;
  /* with cross-diffusion, column j also feeds the diagonal neighbours j ± e_a ± e_b, a < b */
  const size_t cap = op->cross ? per + 2 * d * (d - 1) + 2 * d : per;
  op->Ap = malloc((n + 1) * sizeof *op->Ap);
  op->Ai = malloc(n * cap * sizeof *op->Ai);
  op->Ax = calloc(n * cap, sizeof *op->Ax);
  op->slot = malloc(n * per * sizeof *op->slot);
  if (!op->Ap || !op->Ai || !op->Ax || !op->slot) {
    free(op->Ap);
    free(op->Ai);
    free(op->Ax);
    free(op->slot);
    op->Ap = op->Ai = op->slot = NULL;
    op->Ax = NULL;
    return fpk_error_set(err, FPK_ENOMEM, "fv: out of memory for the matrix of %zu cells", n);
  }

  /* Pattern: column j has the diagonal and, per axis, the neighbours that exist. */
  size_t nnz = 0;
  for (size_t j = 0; j < n; j++) {
    size_t idx[FPK_MAX_DIM];
    unflatten(g, j, idx);
    int rows[2 * FPK_MAX_DIM * FPK_MAX_DIM + 2 * FPK_MAX_DIM + 1];
    int kind[2 * FPK_MAX_DIM * FPK_MAX_DIM + 2 * FPK_MAX_DIM + 1];
    size_t m = 0;
    rows[m] = (int)j;
    kind[m++] = 0;
    for (size_t a = 0; a < d; a++) {
      const size_t na = g->n[a], ia = idx[a];
      const int periodic = g->bc[a] == FPK_BC_PERIODIC;
      size_t nb[FPK_MAX_DIM];
      memcpy(nb, idx, sizeof nb);
      if (ia > 0 || periodic) { /* left neighbour */
        nb[a] = ia > 0 ? ia - 1 : na - 1;
        rows[m] = (int)cell_flat(g, nb);
        kind[m++] = (int)(1 + 2 * a);
      }
      if (ia + 1 < na || periodic) { /* right neighbour */
        nb[a] = ia + 1 < na ? ia + 1 : 0;
        rows[m] = (int)cell_flat(g, nb);
        kind[m++] = (int)(2 + 2 * a);
      }
    }
    for (size_t a = 0; a < d; a++) /* second-order upwind: the cells two away along a */
      for (int sa = -1; (op->upwind2 & (1u << a)) && sa <= 1; sa += 2) {
        size_t nb[FPK_MAX_DIM];
        memcpy(nb, idx, sizeof nb);
        if (!step_idx(g, nb, a, sa) || !step_idx(g, nb, a, sa)) continue;
        rows[m] = (int)cell_flat(g, nb);
        kind[m++] = -1;
      }
    if (op->mixed) /* the corners of the 9-point stencil of every pair a < b */
      for (size_t a = 0; a < d; a++)
        for (size_t b = a + 1; b < d; b++)
          for (int sa = -1; sa <= 1; sa += 2)
            for (int sb = -1; sb <= 1; sb += 2) {
              size_t nb[FPK_MAX_DIM];
              memcpy(nb, idx, sizeof nb);
              if (!step_idx(g, nb, a, sa) || !step_idx(g, nb, b, sb)) continue;
              rows[m] = (int)cell_flat(g, nb);
              kind[m++] = -1;
            }
    /* insertion sort by row (UMFPACK wants ascending row indices) */
    for (size_t u = 1; u < m; u++)
      for (size_t v = u; v > 0 && rows[v - 1] > rows[v]; v--) {
        int tr = rows[v], tk = kind[v];
        rows[v] = rows[v - 1];
        kind[v] = kind[v - 1];
        rows[v - 1] = tr;
        kind[v - 1] = tk;
      }
    op->Ap[j] = (int)nnz;
    for (size_t k = 0; k < per; k++) op->slot[j * per + k] = -1;
    for (size_t u = 0; u < m; u++) {
      /* with cross terms on a periodic axis of 2 cells a row can repeat: one entry each */
      if (op->cross && u > 0 && rows[u] == rows[u - 1]) {
        if (kind[u] >= 0) op->slot[j * per + (size_t)kind[u]] = (int)nnz - 1;
        continue;
      }
      op->Ai[nnz] = rows[u];
      if (kind[u] >= 0) op->slot[j * per + (size_t)kind[u]] = (int)nnz;
      nnz++;
    }
  }
  op->Ap[n] = (int)nnz;
  op->nnz = nnz;
  if (op->assembled) fill_csc(op);
  return FPK_SUCCESS;
}

/* Columns of L from the face coefficients: p_j loses through each of its faces and feeds the
 * neighbour behind it; then the cross-diffusion terms, row by row. */
static void fill_csc(fpk_fv_op *op) {
  const fpk_grid *g = &op->grid;
  const size_t d = g->dim, n = op->n, per = 2 * d + 1;
  if (op->cross) memset(op->Ax, 0, op->nnz * sizeof *op->Ax);
  for (size_t j = 0; j < n; j++) {
    size_t idx[FPK_MAX_DIM];
    unflatten(g, j, idx);
    const int *sl = op->slot + j * per;
    double diag = 0.0;
    for (size_t a = 0; a < d; a++) {
      size_t fi[FPK_MAX_DIM];
      memcpy(fi, idx, sizeof fi);
      const size_t fl = face_flat(g, a, fi); /* left face of cell j */
      fi[a] = idx[a] + 1;
      const size_t fr = face_flat(g, a, fi); /* right face of cell j */
      const double out_to_left = op->out_right[a][fl]; /* j is the right cell of its left face */
      const double out_to_right = op->out_left[a][fr];
      if (sl[1 + 2 * a] >= 0) op->Ax[sl[1 + 2 * a]] = out_to_left;
      if (sl[2 + 2 * a] >= 0) op->Ax[sl[2 + 2 * a]] = out_to_right;
      diag -= out_to_left + out_to_right;
    }
    op->Ax[sl[0]] = diag;
  }
  if (!op->cross) return;
  size_t cols[FV_CROSS_ROW];
  double coef[FV_CROSS_ROW];
  for (size_t i = 0; i < n; i++) {
    const int m = cross_row(op, i, cols, coef);
    for (int k = 0; k < m; k++) {
      int q = op->Ap[cols[k]];
      while (op->Ai[q] != (int)i) q++; /* in the pattern by construction (the 9-point stencil) */
      op->Ax[q] += coef[k];
    }
  }
}

int fpk_fv_op_assemble(fpk_fv_op *op, const fpk_model *model, double t, fpk_error *err) {
  const fpk_grid *g = &op->grid;
  const size_t d = g->dim, n = op->n;

  if (alloc_scratch(op, model))
    return fpk_error_set(err, FPK_ENOMEM, "fv: out of memory for a grid of %zu cells", n);
  /* 0. D at the cell centres (one batched diffusion call), needed unless σ is constant in x (the
   * diagonal) and for the cross-diffusion terms of a noise matrix (the off-diagonal). D comes from
   * fpk_model_diffusion, D = ½σσᵀ; for a diagonal model its D_aa = 0.5 σ_a σ_a is the expression
   * used before noise matrices, so those operators are bitwise unchanged. */
  const int variable_D = (model->flags & FPK_MODEL_ADDITIVE) == 0;
  const int matrix2 = model->noise_matrix != NULL && d >= 2;
  if (variable_D || matrix2) {
    if (!op->Dc) {
      op->xc = calloc(d * n, sizeof *op->xc); /* calloc: GCC cannot see every entry is set */
      op->Dc = malloc(d * n * sizeof *op->Dc);
      if (!op->xc || !op->Dc) {
        free(op->xc);
        free(op->Dc);
        op->xc = op->Dc = NULL;
        return fpk_error_set(err, FPK_ENOMEM, "fv: out of memory for a grid of %zu cells", n);
      }
      for (size_t j = 0; j < n; j++) {
        size_t idx[FPK_MAX_DIM];
        unflatten(g, j, idx);
        for (size_t b = 0; b < d; b++) op->xc[b * n + j] = fpk_grid_center(g, b, idx[b]);
      }
    }
    int rc = fpk_model_diffusion(model, t, n, op->xc, op->sf, op->wf, err);
    if (rc) return rc;
    for (size_t k = 0; k < d * d * n; k++)
      if (!isfinite(op->sf[k]))
        return fpk_error_set(err, FPK_ENUMERIC,
                             "fv: model %s gives a non-finite noise at t = %g at a cell centre",
                             model->name, t);
    for (size_t a = 0; a < d; a++) memcpy(op->Dc + a * n, op->sf + (a * d + a) * n, n * sizeof *op->Dc);
    if (matrix2) {
      /* cross-diffusion: decided at the first assembly (fixed afterwards: the matrix pattern);
       * an autonomous model with D_ab = 0 at every centre has none */
      int any = !(model->flags & FPK_MODEL_AUTONOMOUS);
      for (size_t a = 0; a < d && !any; a++)
        for (size_t b = a + 1; b < d && !any; b++)
          for (size_t j = 0; j < n && !any; j++) any = op->sf[(a * d + b) * n + j] != 0.0;
      if (!op->assembled && !op->Ap) op->mixed = any;
      if (any && !op->mixed)
        return fpk_error_set(err, FPK_EINVAL,
                             "fv: model %s has cross-diffusion (off-diagonal D) at t = %g, but the "
                             "operator was built without it at its first assembly",
                             model->name, t);
      if (op->mixed) {
        if (!op->Dx && !(op->Dx = malloc(d * (d - 1) / 2 * n * sizeof *op->Dx)))
          return fpk_error_set(err, FPK_ENOMEM, "fv: out of memory for a grid of %zu cells", n);
        for (size_t a = 0; a < d; a++)
          for (size_t b = a + 1; b < d; b++)
            memcpy(op->Dx + pair_index(d, a, b) * n, op->sf + (a * d + b) * n, n * sizeof *op->Dx);
      }
    }
  }

  /* 1. Face coefficients, one batched model call per axis. */
  for (size_t a = 0; a < d; a++) {
    const size_t nf = op->nfaces[a], na = g->n[a];
    const double h = g->h[a];
    for (size_t f = 0; f < nf; f++) {
      size_t rem = f;
      for (size_t b = 0; b < d; b++) {
        const size_t nb = b == a ? na + 1 : g->n[b];
        const size_t ib = rem % nb;
        rem /= nb;
        op->xf[b * nf + f] = b == a ? g->lo[a] + (double)ib * h : fpk_grid_center(g, b, ib);
      }
    }
    int rc = fpk_model_drift(model, t, nf, op->xf, op->bf, err);
    if (rc) return rc;
    rc = fpk_model_diffusion(model, t, nf, op->xf, op->sf, op->wf, err);
    if (rc) return rc;
    const double *v = op->bf + a * nf, *Daa = op->sf + (a * d + a) * nf;
    double *ol = op->out_left[a], *orr = op->out_right[a];
    /* Face index along a of flat face f: (f / prod_{b<a} n_b) % (na + 1). */
    size_t inner = 1;
    for (size_t b = 0; b < a; b++) inner *= g->n[b];
    const double *Dca = variable_D ? op->Dc + a * n : NULL; /* additive: D_l = D_r = D_f */
    for (size_t f = 0; f < nf; f++) {
      const size_t ia = (f / inner) % (na + 1);
      const double D = Daa[f]; /* ½ σ_a² for a diagonal model, (½σσᵀ)_aa for a matrix */
      if (!isfinite(v[f]) || !isfinite(D))
        return fpk_error_set(err, FPK_ENUMERIC,
                             "fv: model %s gives a non-finite drift or noise at t = %g on a face "
                             "of axis %zu",
                             model->name, t, a);
      /* D at the centres of the cells left (index ia - 1 along a, wrapped) and right (ia, wrapped)
       * of the face; flat face f = (outer (na + 1) + ia) inner + in, cell = (outer na + i) inner
       * + in. */
      double Dl = D, Dr = D;
      if (Dca) {
        const size_t in = f % inner, base = (f / (inner * (na + 1))) * na * inner + in;
        if (ia > 0) Dl = Dca[base + (ia - 1) * inner];
        else if (g->bc[a] == FPK_BC_PERIODIC) Dl = Dca[base + (na - 1) * inner];
        if (ia < na) Dr = Dca[base + ia * inner];
        else if (g->bc[a] == FPK_BC_PERIODIC) Dr = Dca[base];
      }
      if (ia > 0 && ia < na) {
        sg_face(v[f], D, Dl, Dr, h, &ol[f], &orr[f]);
      } else {
        switch (g->bc[a]) {
          case FPK_BC_PERIODIC:
            sg_face(v[f], D, Dl, Dr, h, &ol[f], &orr[f]);
            break;
          case FPK_BC_ABSORBING:
            if (ia == 0) {
              ol[f] = 0.0;
              orr[f] = sg_wall(v[f], D, Dr, h, -1);
            } else {
              ol[f] = sg_wall(v[f], D, Dl, h, +1);
              orr[f] = 0.0;
            }
            break;
          case FPK_BC_REFLECTING:
          default:
            ol[f] = orr[f] = 0.0;
            break;
        }
      }
    }
    if (g->bc[a] == FPK_BC_PERIODIC) {
      /* The faces at lo and hi are the same face: use the coefficients evaluated at hi for both
       * so that the cell on each side sees one flux. */
      for (size_t f = 0; f < nf; f++) {
        const size_t ia = (f / inner) % (na + 1);
        if (ia == 0) {
          const size_t fh = f + na * inner;
          ol[f] = ol[fh];
          orr[f] = orr[fh];
        }
      }
    }
    /* No diffusion along a (the Kramers equation's x): sg_face gave the first-order upwind flux;
     * the second-order upwind correction needs the face drift (decided at the first assembly,
     * before the matrix pattern exists). */
    int zero_D = d >= 2 && na >= 3 && model->noise_matrix != NULL;
    for (size_t f = 0; f < nf && zero_D; f++) zero_D = Daa[f] == 0.0;
    if (!op->assembled && !op->Ap && zero_D) {
      if (op->transport == FPK_FV_TRANSPORT_LINEAR) op->upwind2 |= 1u << a;
      else if (op->transport == FPK_FV_TRANSPORT_LIMITED) op->limited |= 1u << a;
    }
    if (op->limited & (1u << a)) {
      /* the limited flux: keep the first-order upwind coefficients (α = 1) for fv_op_limit */
      if (!zero_D)
        return fpk_error_set(err, FPK_EINVAL,
                             "fv: model %s has diffusion along axis %zu at t = %g, which had none "
                             "at the first assembly (its limited transport assumes none)",
                             model->name, a, t);
      if (!op->lim_l[a] && !(op->lim_l[a] = malloc(nf * sizeof *op->lim_l[a])))
        return fpk_error_set(err, FPK_ENOMEM, "fv: out of memory for a grid of %zu cells", n);
      if (!op->lim_r[a] && !(op->lim_r[a] = malloc(nf * sizeof *op->lim_r[a])))
        return fpk_error_set(err, FPK_ENOMEM, "fv: out of memory for a grid of %zu cells", n);
      memcpy(op->lim_l[a], ol, nf * sizeof *ol);
      memcpy(op->lim_r[a], orr, nf * sizeof *orr);
    }
    if (op->upwind2 & (1u << a)) {
      if (!zero_D)
        return fpk_error_set(err, FPK_EINVAL,
                             "fv: model %s has diffusion along axis %zu at t = %g, which had none "
                             "at the first assembly (its second-order upwind transport assumes "
                             "none)",
                             model->name, a, t);
      if (!op->vf[a] && !(op->vf[a] = malloc(nf * sizeof *op->vf[a])))
        return fpk_error_set(err, FPK_ENOMEM, "fv: out of memory for a grid of %zu cells", n);
      memcpy(op->vf[a], v, nf * sizeof *v);
      if (a == 0 || !(op->upwind2 & ((1u << a) - 1))) op->upwind2_rate = 0.0; /* first such axis */
      for (size_t f = 0; f < nf; f++) op->upwind2_rate = fmax(op->upwind2_rate, fabs(v[f]) / h);
      if (g->bc[a] == FPK_BC_PERIODIC) /* one face at lo and hi, as above */
        for (size_t f = 0; f < nf; f++)
          if ((f / inner) % (na + 1) == 0) op->vf[a][f] = op->vf[a][f + na * inner];
    }
  }
  if (!op->assembled && !op->Ap) op->cross = op->mixed || op->upwind2 != 0;
  if (op->cross && build_cross_csr(op))
    return fpk_error_set(err, FPK_ENOMEM, "fv: out of memory for a grid of %zu cells", n);

  if (op->Ap) fill_csc(op);
  op->t = t;
  op->assembled = 1;
  return FPK_SUCCESS;
}

void fpk_fv_op_apply(const fpk_fv_op *op, const double *x, double *y) {
  const size_t n = op->n;
  const int *Ap = op->Ap, *Ai = op->Ai;
  const double *Ax = op->Ax;
  memset(y, 0, n * sizeof *y);
  for (size_t j = 0; j < n; j++) {
    const double xj = x[j];
    for (int k = Ap[j]; k < Ap[j + 1]; k++) y[Ai[k]] += Ax[k] * xj;
  }
}

/* y = alpha L x + beta z (beta = 0: z unused; y is written before z is read, so y may alias
 * neither) in one pass over the cells, by rows (the lines of axis 0, contiguous): every cell
 * sums the axes in order 0, 1, ..., d-1, each term out_left[face k] x_{k-1} + out_right[face
 * k+1] x_{k+1} - (out_right[face k] + out_left[face k+1]) x_k of its line along that axis
 * (periodic lines wrap; other boundary faces carry a wall's outflow or zero). A cell q = o n_a s_a + k s_a + i of axis a has its left face at q + o s_a on
 * the face grid of axis a. Rows r0 .. r1-1 (rows = lines of axis 0, r = flat index / n0); no
 * cell depends on another's result, so a partition between threads changes no bit. */
void fv_op_apply_rows(const fpk_fv_op *op, double alpha, const double *x, double beta,
                      const double *z, double *y, size_t r0, size_t r1) {
  const fpk_grid *g = &op->grid;
  const size_t d = g->dim, n0 = g->n[0];
  const int per0 = g->bc[0] == FPK_BC_PERIODIC;
  for (size_t r = r0; r < r1; r++) {
    const size_t q0 = r * n0;
    const double *xr = x + q0;
    double *yr = y + q0;
    { /* axis 0: faces of row r at r (n0 + 1) */
      const double *ol = op->out_left[0] + r * (n0 + 1), *orr = op->out_right[0] + r * (n0 + 1);
      const double xlast = xr[n0 - 1], xfirst = xr[0];
      yr[0] = (per0 ? ol[0] * xlast : 0.0) + orr[1] * xr[1] - (orr[0] + ol[1]) * xr[0];
      for (size_t i = 1; i + 1 < n0; i++)
        yr[i] = ol[i] * xr[i - 1] + orr[i + 1] * xr[i + 1] - (orr[i] + ol[i + 1]) * xr[i];
      const size_t i = n0 - 1;
      yr[i] = ol[i] * xr[i - 1] + (per0 ? orr[i + 1] * xfirst : 0.0) - (orr[i] + ol[i + 1]) * xr[i];
    }
    size_t st = n0;
    for (size_t a = 1; a < d; a++) {
      const size_t na = g->n[a], o = q0 / (na * st), k = (q0 / st) % na;
      const int per = g->bc[a] == FPK_BC_PERIODIC;
      const double *ol = op->out_left[a] + q0 + o * st, *orr = op->out_right[a] + q0 + o * st;
      /* neighbours along a: k - 1 and k + 1, wrapped on periodic lines, absent at walls */
      const double *xm = k > 0 ? xr - st : per ? xr + (na - 1) * st : NULL;
      const double *xp = k + 1 < na ? xr + st : per ? xr - (na - 1) * st : NULL;
      if (xm && xp)
        for (size_t i = 0; i < n0; i++)
          yr[i] += ol[i] * xm[i] + orr[i + st] * xp[i] - (orr[i] + ol[i + st]) * xr[i];
      else if (xp)
        for (size_t i = 0; i < n0; i++)
          yr[i] += orr[i + st] * xp[i] - (orr[i] + ol[i + st]) * xr[i];
      else
        for (size_t i = 0; i < n0; i++)
          yr[i] += ol[i] * xm[i] - (orr[i] + ol[i + st]) * xr[i];
      st *= na;
    }
    if (op->cross) cross_rows(op, 1.0, x, y, r, r + 1); /* the mixed-derivative fluxes */
    if (beta != 0.0)
      for (size_t i = 0; i < n0; i++) yr[i] = alpha * yr[i] + beta * z[q0 + i];
    else
      for (size_t i = 0; i < n0; i++) yr[i] = alpha * yr[i];
  }
}

void fv_op_apply_lines(const fpk_fv_op *op, double alpha, const double *x, double beta,
                       const double *z, double *y) {
  const size_t rows = op->n / op->grid.n[0];
#pragma omp parallel if (op->n >= FPK_FV_PARALLEL_MIN)
  {
    const size_t nt = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
    fv_op_apply_rows(op, alpha, x, beta, z, y, rows * t / nt, rows * (t + 1) / nt);
  }
}

/* ---- The limited transport along an axis without diffusion (docs/fv-scheme.md) -------------
 * Face f between cells l and r = l + e_a with v_f > 0 (upwind cell u = l, next upstream uu =
 * l − e_a, downwind dn = r; mirrored for v_f < 0): the MUSCL face value with the van Leer limiter
 * (B. van Leer, J. Comput. Phys. 14 (1974) 361–370; Sweby, SIAM J. Numer. Anal. 21 (1984)
 * 995–1011; LeVeque 2002, §6.9–6.12) is
 *   p_f = p_u + ½ φ(θ) (p_dn − p_u),  θ = (p_u − p_uu)/(p_dn − p_u),  φ(θ) = (θ + |θ|)/(1 + |θ|),
 * i.e. p_f = p_u + c_f with c_f = Δ₋Δ₊/(Δ₋ + Δ₊) when Δ₋ = p_u − p_uu and Δ₊ = p_dn − p_u have the
 * same sign, else 0 (the harmonic-mean form: no division by zero). |c_f| <= min(|Δ₋|, |Δ₊|), so
 * for p >= 0, −p_u <= c_f <= p_u: the flux v_f p_f = α_f v_f p_u with α_f = 1 + c_f / p_u ∈
 * [0, 2]. Frozen at a density p*, the flux α_f(p*) v_f x_u is linear in x with a non-negative
 * coefficient on the upwind cell: L(p*) is a Metzler matrix with zero column sums, and
 * L(p*) p* is exactly the limited flux divergence of p*. Faces at a wall and faces whose cell uu
 * lies beyond a wall keep α = 1 (first order there); p_u <= 0 (rounding) gives α = 1; α is
 * clipped to [0, 2] against rounding. */
static inline double vanleer_alpha(double pu, double puu, double pdn) {
  const double dm = pu - puu, dp = pdn - pu;
  if (!(pu > 0.0) || !(dm * dp > 0.0)) return 1.0;
  const double alpha = 1.0 + dm * dp / ((dm + dp) * pu);
  return alpha < 0.0 ? 0.0 : alpha > 2.0 ? 2.0 : alpha;
}

void fv_op_limit(fpk_fv_op *op, const double *p) {
  if (!op->limited) return;
  const fpk_grid *g = &op->grid;
  for (size_t a = 0; a < g->dim; a++) {
    if (!(op->limited & (1u << a))) continue;
    const fpk_fv_lines L = fv_lines_of(g, a);
    const size_t na = L.n, st = L.stride;
    const double *bl = op->lim_l[a], *br = op->lim_r[a];
    double *ol = op->out_left[a], *orr = op->out_right[a];
    for (size_t o = 0; o < L.outer; o++)
      for (size_t i = 0; i < st; i++) {
        const double *q = p + o * na * st + i; /* q[k st]: cell k of this line */
        const size_t f0 = o * (na + 1) * st + i; /* face k at f0 + k st */
        for (size_t k = 0; k <= na; k++) {
          const size_t f = f0 + k * st;
          ol[f] = bl[f], orr[f] = br[f];
          if ((k == 0 || k == na) && !L.periodic) continue; /* a wall: first order */
          /* cells left (k − 1) and right (k) of the face, wrapped on a periodic line */
          const size_t kl = k == 0 ? na - 1 : k - 1, kr = k == na ? 0 : k;
          if (bl[f] > 0.0) { /* v > 0: upwind kl, next upstream kl − 1 */
            if (kl == 0 && !L.periodic) continue;
            const size_t kuu = kl == 0 ? na - 1 : kl - 1;
            ol[f] = bl[f] * vanleer_alpha(q[kl * st], q[kuu * st], q[kr * st]);
          } else if (br[f] > 0.0) { /* v < 0: upwind kr, next upstream kr + 1 */
            if (kr + 1 == na && !L.periodic) continue;
            const size_t kuu = kr + 1 == na ? 0 : kr + 1;
            orr[f] = br[f] * vanleer_alpha(q[kr * st], q[kuu * st], q[kl * st]);
          }
        }
      }
  }
  if (op->Ap) fill_csc(op);
}

/* max over the cells of |Σ_{a in axes} (L_a)_jj| from the faces, summed as fill_csc does; axes:
 * one axis (0 <= axis < dim) or all (axis = dim). worst: the limited axes with α = 2 on every
 * face (their first-order rates doubled). */
static double max_diag_faces_w(const fpk_fv_op *op, size_t axis, int worst);
static double max_diag_faces(const fpk_fv_op *op, size_t axis) {
  return max_diag_faces_w(op, axis, 0);
}

double fv_op_max_diag_bound(const fpk_fv_op *op) {
  return op->limited ? max_diag_faces_w(op, op->grid.dim, 1) : fpk_fv_op_max_diag(op);
}

static double max_diag_faces_w(const fpk_fv_op *op, size_t axis, int worst) {
  const fpk_grid *g = &op->grid;
  double m = 0.0;
  for (size_t j = 0; j < op->n; j++) {
    size_t idx[FPK_MAX_DIM];
    unflatten(g, j, idx);
    double diag = 0.0;
    for (size_t a = 0; a < g->dim; a++) {
      if (axis < g->dim && a != axis) continue;
      size_t fi[FPK_MAX_DIM];
      memcpy(fi, idx, sizeof fi);
      const size_t fl = face_flat(g, a, fi);
      fi[a] = idx[a] + 1;
      const size_t fr = face_flat(g, a, fi);
      if (worst && (op->limited & (1u << a)))
        diag -= 2.0 * (op->lim_r[a][fl] + op->lim_l[a][fr]);
      else
        diag -= op->out_right[a][fl] + op->out_left[a][fr];
    }
    if (fabs(diag) > m) m = fabs(diag);
  }
  return m;
}

double fv_op_max_axis_diag(const fpk_fv_op *op) {
  double m = 0.0;
  for (size_t a = 0; a < op->grid.dim; a++) m = fmax(m, max_diag_faces(op, a));
  return m;
}

double fpk_fv_op_max_diag(const fpk_fv_op *op) {
  const size_t per = 2 * op->grid.dim + 1;
  double m = 0.0;
  if (!op->Ap) return max_diag_faces(op, op->grid.dim); /* no matrix: from the faces */
  for (size_t j = 0; j < op->n; j++) {
    const double v = fabs(op->Ax[op->slot[j * per]]);
    if (v > m) m = v;
  }
  return m;
}
