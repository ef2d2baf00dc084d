/* Linear solves (I - c L) x = b for the implicit FV steppers (fp/fv_internal.h).
 *
 * M = I - cL (c > 0) is a non-singular M-matrix: non-positive off-diagonal, positive diagonal and
 * column sums 1 (>= 1 with absorbing walls), i.e. strictly column diagonally dominant. Hence
 *  - in 1D the Thomas algorithm needs no pivoting and is stable; the periodic corner entries are
 *    handled with the Sherman–Morrison formula (cyclic tridiagonal, Press et al., Numerical
 *    Recipes §2.7), with the auxiliary solve T z = u done once per factorisation;
 *  - in 2D/3D UMFPACK (T. A. Davis, ACM TOMS 30, 2004) factors M. The symbolic analysis depends
 *    only on the pattern and is done once; umfpack_di_numeric runs once per distinct c for
 *    autonomous models (and once per stage for non-autonomous ones); solves use
 *    umfpack_di_wsolve with preallocated workspace so that no step allocates.
 *  - the split solver (KIND_SPLIT, 2D/3D) factors each axis factor A_a = I - c L_a of
 *    L = sum_a L_a separately: L_a couples only the cells of one grid line along axis a, so A_a
 *    is a set of independent (cyclic) tridiagonal M-matrices, one per line, factored by the same
 *    Thomas / Sherman–Morrison code as the 1D solve, run in lockstep over neighbouring lines
 *    (unit stride across lines, so the loops vectorise) and threaded over blocks of lines.
 *    Solve applies A_d^{-1} ... A_1^{-1}: the approximate factorisation of I - cL used by the
 *    Douglas (delta-form) steppers of fv.c, see docs/fv-scheme.md. O(N) memory and work.
 * FPK_LINSOLVE_SLOTS factorisations are cached, keyed on c (least recently used is replaced).
 */
#include "fp/fv_internal.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <umfpack.h>

enum { KIND_TRIDIAG = 0, KIND_UMFPACK = 1, KIND_SPLIT = 2 };

/* One axis factor A_a = I - c L_a of the split solver: the (cyclic) Thomas factorisation of
 * every line along axis a, stored in the grid's layout (element k of line (o, i) at
 * o n_a s + k s + i, s = stride of axis a), and for periodic axes the Sherman–Morrison data of
 * each line (per-line scalars at o s + i). */
typedef struct axis_factor {
  double *mult, *dinv, *sup, *z;
  double *gamma, *beta_top, *den;
} axis_factor;

typedef struct slot {
  int valid;
  double key;
  unsigned long stamp;
  /* tridiagonal */
  double *mult, *dinv, *sup, *z;
  double beta_top, gamma, den; /* cyclic: M[0][n-1], Sherman–Morrison γ and 1 + vᵀz */
  /* cyclic, for the transposed solve Mᵀx = b (Mᵀ = Tᵀ + v uᵀ): zt = T⁻ᵀv, alpha_bot = M[n-1][0]
   * (u = (γ, 0, …, 0, α)) and dent = 1 + uᵀzt */
  double *zt;
  double alpha_bot, dent;
  /* UMFPACK */
  double *Mx;
  void *numeric;
  /* split: one factor per axis, allocated at the slot's first use */
  axis_factor ax[FPK_MAX_DIM];
} slot;

struct fpk_linsolve {
  int kind;
  int periodic;
  size_t n, nnz;
  const int *Ap, *Ai; /* the pattern of the operator (owned by it) */
  void *symbolic;
  double control[UMFPACK_CONTROL], info[UMFPACK_INFO];
  int *Wi;
  double *W;
  double *sub, *diag; /* tridiagonal scratch for factoring */
  fpk_fv_lines lines[FPK_MAX_DIM]; /* split: the line layout of each axis */
  slot s[FPK_LINSOLVE_SLOTS];
  int cur;
  unsigned long clock;
  size_t nfact;
};

static const char *umf_status(int st) {
  switch (st) {
    case UMFPACK_WARNING_singular_matrix: return "singular matrix";
    case UMFPACK_ERROR_out_of_memory: return "out of memory";
    case UMFPACK_ERROR_invalid_matrix: return "invalid matrix";
    case UMFPACK_ERROR_argument_missing: return "argument missing";
    case UMFPACK_ERROR_different_pattern: return "pattern changed";
    default: return "failure";
  }
}

void fpk_linsolve_free(fpk_linsolve *ls) {
  if (!ls) return;
  for (int k = 0; k < FPK_LINSOLVE_SLOTS; k++) {
    slot *s = &ls->s[k];
    free(s->mult);
    free(s->dinv);
    free(s->sup);
    free(s->z);
    free(s->zt);
    free(s->Mx);
    if (s->numeric) umfpack_di_free_numeric(&s->numeric);
    for (size_t a = 0; a < FPK_MAX_DIM; a++) {
      axis_factor *f = &s->ax[a];
      free(f->mult);
      free(f->dinv);
      free(f->sup);
      free(f->z);
      free(f->gamma);
      free(f->beta_top);
      free(f->den);
    }
  }
  if (ls->symbolic) umfpack_di_free_symbolic(&ls->symbolic);
  free(ls->Wi);
  free(ls->W);
  free(ls->sub);
  free(ls->diag);
  free(ls);
}

fpk_linsolve *fpk_linsolve_alloc(const fpk_fv_op *op, fpk_error *err) {
  fpk_linsolve *ls = calloc(1, sizeof *ls);
  if (!ls) {
    fpk_error_set(err, FPK_ENOMEM, "fv: out of memory for the linear solver");
    return NULL;
  }
  const size_t n = op->n;
  ls->n = n;
  ls->nnz = op->nnz;
  ls->Ap = op->Ap;
  ls->Ai = op->Ai;
  ls->cur = -1;
  int ok = 1;
  if (op->grid.dim == 1) {
    ls->kind = KIND_TRIDIAG;
    ls->periodic = op->grid.bc[0] == FPK_BC_PERIODIC;
    ls->sub = malloc(n * sizeof *ls->sub);
    ls->diag = malloc(n * sizeof *ls->diag);
    ok = ls->sub && ls->diag;
    for (int k = 0; k < FPK_LINSOLVE_SLOTS && ok; k++) {
      slot *s = &ls->s[k];
      s->mult = malloc(n * sizeof *s->mult);
      s->dinv = malloc(n * sizeof *s->dinv);
      s->sup = malloc(n * sizeof *s->sup);
      s->z = malloc(n * sizeof *s->z);
      s->zt = malloc(n * sizeof *s->zt);
      ok = s->mult && s->dinv && s->sup && s->z && s->zt;
    }
  } else {
    ls->kind = KIND_UMFPACK;
    umfpack_di_defaults(ls->control);
    /* No iterative refinement: M is a column diagonally dominant M-matrix, so the LU solve is
     * backward stable on its own (the tests check mass to 1e-12); refinement would triple the
     * cost of every solve (measured 16.5 ms vs 5.0 ms per solve on a 160² grid). */
    ls->control[UMFPACK_IRSTEP] = 0;
    ls->Wi = malloc(n * sizeof *ls->Wi);
    ls->W = malloc(5 * n * sizeof *ls->W); /* 5n would allow refinement; n is used without */
    ok = ls->Wi && ls->W;
    for (int k = 0; k < FPK_LINSOLVE_SLOTS && ok; k++) {
      ls->s[k].Mx = malloc(op->nnz * sizeof(double));
      ok = ls->s[k].Mx != NULL;
    }
    if (ok) {
      /* The analysis needs only the pattern; the values of I - L serve as a representative. */
      double *Mx = ls->s[0].Mx;
      const size_t per = 2 * op->grid.dim + 1;
      for (size_t k = 0; k < op->nnz; k++) Mx[k] = -op->Ax[k];
      for (size_t j = 0; j < n; j++) Mx[op->slot[j * per]] += 1.0;
      int st = umfpack_di_symbolic((int)n, (int)n, op->Ap, op->Ai, Mx, &ls->symbolic, ls->control,
                                   ls->info);
      if (st != UMFPACK_OK) {
        fpk_error_set(err, st == UMFPACK_ERROR_out_of_memory ? FPK_ENOMEM : FPK_ENUMERIC,
                      "fv: UMFPACK symbolic analysis failed (%s, status %d)", umf_status(st), st);
        fpk_linsolve_free(ls);
        return NULL;
      }
    }
  }
  if (!ok) {
    fpk_linsolve_free(ls);
    fpk_error_set(err, FPK_ENOMEM, "fv: out of memory for the linear solver (%zu unknowns)", n);
    return NULL;
  }
  return ls;
}

/* The Thomas algorithm on m lines in lockstep: element k of line i at k*st + i (1D: st = m = 1,
 * one line; split solver: m neighbouring lines of an axis, contiguous in i, so the inner loops
 * run at unit stride and vectorise). No pivoting: every line is a column diagonally dominant
 * M-matrix (see the top of the file).
 *
 * Factor: on entry mult holds the sub-diagonal, dinv the diagonal (they may be the same arrays
 * as sub and diag: each entry is read before it is written), sup the super-diagonal; on exit
 * mult holds the multipliers of L (unit lower bidiagonal) and dinv the inverse pivots of U.
 * Returns 0, or -1 on a zero or non-finite pivot (cannot happen for an M-matrix, checked
 * anyway). */
static int thomas_factor(size_t n, size_t st, size_t m, const double *sub, const double *diag,
                         const double *sup, double *mult, double *dinv) {
  int bad = 0;
  for (size_t i = 0; i < m; i++) {
    const double d = diag[i];
    bad |= !(d != 0.0) || !isfinite(d);
    dinv[i] = 1.0 / d;
    mult[i] = 0.0;
  }
  for (size_t k = 1; k < n; k++) {
    const size_t q0 = k * st;
    for (size_t i = 0; i < m; i++) {
      const size_t q = q0 + i;
      const double mu = sub[q] * dinv[q - st];
      const double d = diag[q] - mu * sup[q - st];
      bad |= !(d != 0.0) || !isfinite(d);
      mult[q] = mu;
      dinv[q] = 1.0 / d;
    }
  }
  return bad ? -1 : 0;
}

static void thomas_solve(size_t n, size_t st, size_t m, const double *mult, const double *dinv,
                         const double *sup, double *x) {
  for (size_t k = 1; k < n; k++)
    for (size_t i = 0; i < m; i++) x[k * st + i] -= mult[k * st + i] * x[(k - 1) * st + i];
  for (size_t i = 0; i < m; i++) x[(n - 1) * st + i] *= dinv[(n - 1) * st + i];
  for (size_t k = n - 1; k-- > 0;)
    for (size_t i = 0; i < m; i++) {
      const size_t q = k * st + i;
      x[q] = (x[q] - sup[q] * x[q + st]) * dinv[q];
    }
}

/* Tᵀx = b with the factorisation T = LU of thomas_factor (L unit lower bidiagonal with the
 * multipliers, U upper bidiagonal with pivots 1/dinv and super-diagonal sup): Uᵀy = b forward,
 * then Lᵀx = y backward. One line (the 1D solver's transposed solve). */
static void thomas_solve_transpose(size_t n, const slot *s, double *x) {
  x[0] *= s->dinv[0];
  for (size_t i = 1; i < n; i++) x[i] = (x[i] - s->sup[i - 1] * x[i - 1]) * s->dinv[i];
  for (size_t i = n - 1; i-- > 0;) x[i] -= s->mult[i + 1] * x[i + 1];
}

/* Cyclic tridiagonal lines (periodic axes), Numerical Recipes cyclic(): M = T + u vᵀ with
 * u = (γ, 0, …, 0, α), v = (1, 0, …, 0, β/γ), γ = -M[0][0], α = M[n-1][0], β = M[0][n-1].
 * On entry as thomas_factor, with alpha[i], beta[i] the corner entries of line i; modifies the
 * diagonal of T, factors it, and stores z = T⁻¹u and den = 1 + vᵀz per line. */
static int cyclic_factor(size_t n, size_t st, size_t m, double *sub, double *diag,
                         const double *sup, const double *alpha, const double *beta,
                         double *mult, double *dinv, double *z, double *gamma, double *den) {
  for (size_t i = 0; i < m; i++) {
    gamma[i] = -diag[i];
    diag[i] -= gamma[i];
    diag[(n - 1) * st + i] -= alpha[i] * beta[i] / gamma[i];
  }
  if (thomas_factor(n, st, m, sub, diag, sup, mult, dinv)) return -1;
  for (size_t k = 0; k < n; k++)
    for (size_t i = 0; i < m; i++) z[k * st + i] = 0.0;
  for (size_t i = 0; i < m; i++) {
    z[i] = gamma[i];
    z[(n - 1) * st + i] = alpha[i];
  }
  thomas_solve(n, st, m, mult, dinv, sup, z);
  int bad = 0;
  for (size_t i = 0; i < m; i++) {
    den[i] = 1.0 + z[i] + beta[i] * z[(n - 1) * st + i] / gamma[i];
    bad |= !(den[i] != 0.0) || !isfinite(den[i]);
  }
  return bad ? -1 : 0;
}

/* x = M⁻¹x for cyclic lines: T⁻¹x, then the Sherman–Morrison correction. */
static void cyclic_solve(size_t n, size_t st, size_t m, const double *mult, const double *dinv,
                         const double *sup, const double *z, const double *gamma,
                         const double *beta, const double *den, double *x) {
  thomas_solve(n, st, m, mult, dinv, sup, x);
  for (size_t i = 0; i < m; i++) {
    const double f = (x[i] + beta[i] * x[(n - 1) * st + i] / gamma[i]) / den[i];
    for (size_t k = 0; k < n; k++) x[k * st + i] -= f * z[k * st + i];
  }
}

static int factor_tridiag(fpk_linsolve *ls, const fpk_fv_op *op, double c, slot *s,
                          fpk_error *err) {
  const size_t n = ls->n;
  double *sub = ls->sub, *diag = ls->diag, *sup = s->sup;
  double alpha_bot = 0.0, beta_top = 0.0; /* M[n-1][0], M[0][n-1] */
  sub[0] = 0.0;
  sup[n - 1] = 0.0;
  for (size_t j = 0; j < n; j++) {
    const int *sl = op->slot + 3 * j;
    diag[j] = 1.0 - c * op->Ax[sl[0]];
    if (sl[1] >= 0) { /* L[left(j)][j] */
      const double v = -c * op->Ax[sl[1]];
      if (j > 0) sup[j - 1] = v;
      else alpha_bot = v;
    }
    if (sl[2] >= 0) { /* L[right(j)][j] */
      const double v = -c * op->Ax[sl[2]];
      if (j + 1 < n) sub[j + 1] = v;
      else beta_top = v;
    }
  }
  if (ls->periodic) {
    if (cyclic_factor(n, 1, 1, sub, diag, sup, &alpha_bot, &beta_top, s->mult, s->dinv, s->z,
                      &s->gamma, &s->den))
      goto singular;
    s->beta_top = beta_top;
    const double gamma = s->gamma;
    /* Mᵀ = Tᵀ + v uᵀ: Sherman–Morrison with the roles of u and v exchanged. */
    memset(s->zt, 0, n * sizeof *s->zt);
    s->zt[0] = 1.0;
    s->zt[n - 1] = beta_top / gamma;
    thomas_solve_transpose(n, s, s->zt);
    s->alpha_bot = alpha_bot;
    s->dent = 1.0 + gamma * s->zt[0] + alpha_bot * s->zt[n - 1];
    if (!(s->dent != 0.0) || !isfinite(s->dent)) goto singular;
  } else if (thomas_factor(n, 1, 1, sub, diag, sup, s->mult, s->dinv)) {
    goto singular;
  }
  return FPK_SUCCESS;
singular:
  return fpk_error_set(err, FPK_ENUMERIC,
                       "fv: tridiagonal factorisation of I - %g L hit a zero pivot", c);
}

static int factor_umfpack(fpk_linsolve *ls, const fpk_fv_op *op, double c, slot *s,
                          fpk_error *err) {
  const size_t per = 2 * op->grid.dim + 1;
  for (size_t k = 0; k < ls->nnz; k++) s->Mx[k] = -c * op->Ax[k];
  for (size_t j = 0; j < ls->n; j++) s->Mx[op->slot[j * per]] += 1.0;
  if (s->numeric) umfpack_di_free_numeric(&s->numeric);
  int st = umfpack_di_numeric(ls->Ap, ls->Ai, s->Mx, ls->symbolic, &s->numeric, ls->control,
                              ls->info);
  if (st != UMFPACK_OK) {
    if (s->numeric) umfpack_di_free_numeric(&s->numeric);
    return fpk_error_set(err, st == UMFPACK_ERROR_out_of_memory ? FPK_ENOMEM : FPK_ENUMERIC,
                         "fv: UMFPACK factorisation of I - %g L failed (%s, status %d)", c,
                         umf_status(st), st);
  }
  return FPK_SUCCESS;
}

/* ---- The split solver ---------------------------------------------------------------------- */

fpk_linsolve *fv_linsolve_alloc_split(const fpk_fv_op *op, fpk_error *err) {
  if (op->grid.dim == 1) return fpk_linsolve_alloc(op, err); /* 1D: exact, nothing to split */
  fpk_linsolve *ls = calloc(1, sizeof *ls);
  if (!ls) {
    fpk_error_set(err, FPK_ENOMEM, "fv: out of memory for the split solver");
    return NULL;
  }
  ls->kind = KIND_SPLIT;
  ls->n = op->n;
  ls->nnz = op->nnz;
  ls->Ap = op->Ap;
  ls->Ai = op->Ai;
  ls->cur = -1;
  for (size_t a = 0; a < op->grid.dim; a++) ls->lines[a] = fv_lines_of(&op->grid, a);
  return ls; /* the factors are allocated at a slot's first use: one step size, one slot */
}

int fv_linsolve_is_split(const fpk_linsolve *ls) { return ls && ls->kind == KIND_SPLIT; }

static int alloc_split_slot(const fpk_linsolve *ls, size_t dim, slot *s) {
  const size_t n = ls->n;
  for (size_t a = 0; a < dim; a++) {
    axis_factor *f = &s->ax[a];
    if (f->mult) continue;
    f->mult = malloc(n * sizeof *f->mult);
    f->dinv = malloc(n * sizeof *f->dinv);
    f->sup = malloc(n * sizeof *f->sup);
    if (!f->mult || !f->dinv || !f->sup) return -1;
    if (ls->lines[a].periodic) {
      const size_t nl = n / ls->lines[a].n;
      f->z = malloc(n * sizeof *f->z);
      f->gamma = malloc(nl * sizeof *f->gamma);
      f->beta_top = malloc(nl * sizeof *f->beta_top);
      f->den = malloc(nl * sizeof *f->den);
      if (!f->z || !f->gamma || !f->beta_top || !f->den) return -1;
    }
  }
  return 0;
}

/* This thread's contiguous share [*lo, *hi) of the nl lines (static partition). */
static void thread_share(size_t nl, size_t *lo, size_t *hi) {
  const size_t nt = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
  *lo = nl * t / nt;
  *hi = nl * (t + 1) / nt;
}

/* Factors the lines [lo, hi) of axis factor A_a = I - c L_a: the tridiagonal entries from the
 * face coefficients (L_a feeds cell k from k-1 at out_left of face k and from k+1 at out_right of
 * face k+1; cell k loses out_right[face k] + out_left[face k+1]), then the (cyclic) Thomas
 * factorisation of each chunk of neighbouring lines in lockstep. */
static int factor_axis_lines(const fpk_fv_lines *L, const double *ol, const double *orr,
                             double c, axis_factor *f, size_t lo, size_t hi) {
  const size_t n = L->n, st = L->stride;
  double alpha[FPK_FV_LINE_BLOCK];
  int bad = 0;
  for (size_t l = lo; l < hi;) {
    const size_t o = l / st, i0 = l % st;
    size_t m = st - i0;
    if (m > hi - l) m = hi - l;
    if (m > FPK_FV_LINE_BLOCK) m = FPK_FV_LINE_BLOCK;
    const size_t cb = o * n * st + i0, fb = o * (n + 1) * st + i0, lb = o * st + i0;
    double *sub = f->mult + cb, *diag = f->dinv + cb, *sup = f->sup + cb;
    const double *olf = ol + fb, *orf = orr + fb;
    for (size_t k = 0; k < n; k++)
      for (size_t i = 0; i < m; i++) {
        const size_t q = k * st + i;
        sub[q] = k > 0 ? -c * olf[q] : 0.0;
        sup[q] = k + 1 < n ? -c * orf[q + st] : 0.0;
        diag[q] = 1.0 + c * (orf[q] + olf[q + st]);
      }
    if (L->periodic) {
      for (size_t i = 0; i < m; i++) {
        alpha[i] = -c * orf[i];                  /* M[n-1][0]: rate from cell 0 to cell n-1 */
        f->beta_top[lb + i] = -c * olf[n * st + i]; /* M[0][n-1] */
      }
      bad |= cyclic_factor(n, st, m, sub, diag, sup, alpha, f->beta_top + lb, f->mult + cb,
                           f->dinv + cb, f->z + cb, f->gamma + lb, f->den + lb);
    } else {
      bad |= thomas_factor(n, st, m, sub, diag, sup, f->mult + cb, f->dinv + cb);
    }
    l += m;
  }
  return bad;
}

/* The factors of the axes in the bit mask axes (all: ~0u). */
static int factor_split(fpk_linsolve *ls, const fpk_fv_op *op, double c, slot *s, unsigned axes,
                        fpk_error *err) {
  const size_t dim = op->grid.dim;
  if (alloc_split_slot(ls, dim, s))
    return fpk_error_set(err, FPK_ENOMEM, "fv: out of memory for the split solver (%zu cells)",
                         ls->n);
  int bad = 0;
#pragma omp parallel if (ls->n >= FPK_FV_PARALLEL_MIN) reduction(| : bad)
  for (size_t a = 0; a < dim; a++) {
    if (!(axes & (1u << a))) continue;
    const fpk_fv_lines *L = &ls->lines[a];
    size_t lo, hi;
    thread_share(ls->n / L->n, &lo, &hi);
    bad |= factor_axis_lines(L, op->out_left[a], op->out_right[a], c, &s->ax[a], lo, hi);
  }
  if (bad)
    return fpk_error_set(err, FPK_ENUMERIC,
                         "fv split solver: tridiagonal factorisation of I - %g L_a hit a zero "
                         "pivot (non-finite operator?)",
                         c);
  return FPK_SUCCESS;
}

/* x = A_d^{-1} ... A_1^{-1} x, in place: one axis after the other (a barrier between axes, since
 * the lines of axis a + 1 cross those of axis a), each thread on its share of the lines. */
/* The delta-form right-hand side fused into solve_split: x = alpha L u + beta z. */
typedef struct stage_rhs {
  const fpk_fv_op *op;
  double alpha, beta;
  const double *u, *z;
} stage_rhs;

static void solve_split(const fpk_linsolve *ls, const slot *s, double *x, double *p,
                        const stage_rhs *rhs) {
  size_t dim = 0;
  while (dim < FPK_MAX_DIM && s->ax[dim].mult) dim++;
#pragma omp parallel if (ls->n >= FPK_FV_PARALLEL_MIN)
  for (size_t a = 0; a < dim; a++) {
    const fpk_fv_lines *L = &ls->lines[a];
    const axis_factor *f = &s->ax[a];
    const size_t n = L->n, st = L->stride;
    size_t lo, hi;
    thread_share(ls->n / n, &lo, &hi);
    if (a == 0 && rhs) /* axis 0's lines are the rows: form this thread's rows first */
      fv_op_apply_rows(rhs->op, rhs->alpha, rhs->u, rhs->beta, rhs->z, x, lo, hi);
    for (size_t l = lo; l < hi;) {
      const size_t o = l / st, i0 = l % st;
      size_t m = st - i0;
      if (m > hi - l) m = hi - l;
      if (m > FPK_FV_LINE_BLOCK) m = FPK_FV_LINE_BLOCK;
      const size_t cb = o * n * st + i0, lb = o * st + i0;
      if (L->periodic)
        cyclic_solve(n, st, m, f->mult + cb, f->dinv + cb, f->sup + cb, f->z + cb,
                     f->gamma + lb, f->beta_top + lb, f->den + lb, x + cb);
      else if (st == 1) /* contiguous lines, one at a time: let the compiler see m = 1 */
        thomas_solve(n, 1, 1, f->mult + cb, f->dinv + cb, f->sup + cb, x + cb);
      else
        thomas_solve(n, st, m, f->mult + cb, f->dinv + cb, f->sup + cb, x + cb);
      if (p && a + 1 == dim) /* the last axis: these cells are final */
        for (size_t k = 0; k < n; k++)
          for (size_t i = 0; i < m; i++) p[cb + k * st + i] += x[cb + k * st + i];
      l += m;
    }
    if (a + 1 < dim) { /* after the last axis the end of the region is the barrier */
#pragma omp barrier
    }
  }
}

int fv_linsolve_split_stage(fpk_linsolve *ls, const fpk_fv_op *op, double alpha, const double *x,
                            double beta, const double *z, double *w, double *p, fpk_error *err) {
  if (ls->kind != KIND_SPLIT || ls->cur < 0)
    return fpk_error_set(err, FPK_ENUMERIC, "fv: split solve without a split factorisation");
  const stage_rhs rhs = {op, alpha, beta, x, z};
  solve_split(ls, &ls->s[ls->cur], w, p, &rhs);
  return FPK_SUCCESS;
}

int fpk_linsolve_prepare(fpk_linsolve *ls, const fpk_fv_op *op, double c, int refactor,
                         fpk_error *err) {
  ls->clock++;
  if (!refactor)
    for (int k = 0; k < FPK_LINSOLVE_SLOTS; k++) {
      slot *s = &ls->s[k];
      /* Step sizes from fpk_time_steps may differ in the last bits between calls; a relative
       * difference of 1e-12 in c changes a step by far less than its truncation error. */
      if (s->valid && fabs(s->key - c) <= 1e-12 * fabs(c)) {
        s->stamp = ls->clock;
        ls->cur = k;
        return FPK_SUCCESS;
      }
    }
  /* With refactor set (L changed) every cached factorisation is stale. */
  if (refactor)
    for (int k = 0; k < FPK_LINSOLVE_SLOTS; k++) ls->s[k].valid = 0;
  int victim = 0;
  for (int k = 1; k < FPK_LINSOLVE_SLOTS; k++) {
    const slot *a = &ls->s[k], *b = &ls->s[victim];
    if (!a->valid && b->valid) victim = k;
    else if (a->valid == b->valid && a->stamp < b->stamp) victim = k;
  }
  slot *s = &ls->s[victim];
  s->valid = 0;
  ls->cur = -1;
  int rc = ls->kind == KIND_TRIDIAG  ? factor_tridiag(ls, op, c, s, err)
           : ls->kind == KIND_SPLIT ? factor_split(ls, op, c, s, ~0u, err)
                                    : factor_umfpack(ls, op, c, s, err);
  if (rc) return rc;
  ls->nfact++;
  s->valid = 1;
  s->key = c;
  s->stamp = ls->clock;
  ls->cur = victim;
  return FPK_SUCCESS;
}

int fv_linsolve_refactor_axes(fpk_linsolve *ls, const fpk_fv_op *op, double c, unsigned axes,
                              fpk_error *err) {
  /* only the split solver's current factorisation of exactly this c (every other axis factor is
   * then bitwise the one a full factorisation would compute); otherwise everything */
  if (ls->kind != KIND_SPLIT || ls->cur < 0 || !ls->s[ls->cur].valid || ls->s[ls->cur].key != c)
    return fpk_linsolve_prepare(ls, op, c, 1, err);
  slot *s = &ls->s[ls->cur];
  for (int k = 0; k < FPK_LINSOLVE_SLOTS; k++) /* the others hold an older operator */
    if (k != ls->cur) ls->s[k].valid = 0;
  s->valid = 0;
  int rc = factor_split(ls, op, c, s, axes, err);
  if (rc) return rc;
  ls->nfact++;
  s->valid = 1;
  s->stamp = ++ls->clock;
  return FPK_SUCCESS;
}

void fpk_linsolve_cache_get(const fpk_linsolve *ls, double *keys, double *recency) {
  for (int k = 0; k < FPK_LINSOLVE_SLOTS; k++) {
    const slot *s = &ls->s[k];
    keys[k] = s->valid ? s->key : 0.0;
    recency[k] = 0.0;
    for (int j = 0; j < FPK_LINSOLVE_SLOTS; j++)
      if (s->valid && ls->s[j].valid && ls->s[j].stamp < s->stamp) recency[k] += 1.0;
  }
}

int fpk_linsolve_cache_set(fpk_linsolve *ls, const fpk_fv_op *op, const double *keys,
                           const double *recency, fpk_error *err) {
  int nvalid = 0;
  for (int k = 0; k < FPK_LINSOLVE_SLOTS; k++) {
    if (!(keys[k] >= 0.0) || !isfinite(keys[k]))
      return fpk_error_set(err, FPK_EINVAL, "fv: factorisation key %g is not a step", keys[k]);
    nvalid += keys[k] > 0.0;
  }
  for (int k = 0; k < FPK_LINSOLVE_SLOTS; k++) {
    if (!(keys[k] > 0.0)) continue;
    int same = 0;
    for (int j = 0; j < FPK_LINSOLVE_SLOTS; j++) same += keys[j] > 0.0 && recency[j] == recency[k];
    if (!(recency[k] >= 0.0 && recency[k] < nvalid && recency[k] == floor(recency[k])) || same != 1)
      return fpk_error_set(err, FPK_EINVAL, "fv: factorisation recencies are not a ranking");
  }
  for (int k = 0; k < FPK_LINSOLVE_SLOTS; k++) ls->s[k].valid = 0;
  ls->cur = -1;
  for (int r = 0; r < nvalid; r++)
    for (int k = 0; k < FPK_LINSOLVE_SLOTS; k++) {
      if (!(keys[k] > 0.0) || recency[k] != r) continue;
      slot *s = &ls->s[k];
      int rc = ls->kind == KIND_TRIDIAG  ? factor_tridiag(ls, op, keys[k], s, err)
               : ls->kind == KIND_SPLIT ? factor_split(ls, op, keys[k], s, ~0u, err)
                                        : factor_umfpack(ls, op, keys[k], s, err);
      if (rc) return rc;
      ls->nfact++;
      s->valid = 1;
      s->key = keys[k];
      s->stamp = ++ls->clock;
    }
  return FPK_SUCCESS;
}

int fpk_linsolve_solve(fpk_linsolve *ls, const double *b, double *x, fpk_error *err) {
  if (ls->cur < 0)
    return fpk_error_set(err, FPK_ENUMERIC, "fv: linear solve without a factorisation");
  slot *s = &ls->s[ls->cur];
  const size_t n = ls->n;
  if (ls->kind == KIND_TRIDIAG) {
    memcpy(x, b, n * sizeof *x);
    if (ls->periodic)
      cyclic_solve(n, 1, 1, s->mult, s->dinv, s->sup, s->z, &s->gamma, &s->beta_top, &s->den, x);
    else
      thomas_solve(n, 1, 1, s->mult, s->dinv, s->sup, x);
    return FPK_SUCCESS;
  }
  if (ls->kind == KIND_SPLIT) {
    if (x != b) memcpy(x, b, n * sizeof *x);
    solve_split(ls, s, x, NULL, NULL);
    return FPK_SUCCESS;
  }
  int st = umfpack_di_wsolve(UMFPACK_A, ls->Ap, ls->Ai, s->Mx, x, b, s->numeric, ls->control,
                             ls->info, ls->Wi, ls->W);
  if (st != UMFPACK_OK)
    return fpk_error_set(err, FPK_ENUMERIC, "fv: UMFPACK solve failed (%s, status %d)",
                         umf_status(st), st);
  return FPK_SUCCESS;
}

int fpk_linsolve_solve_transpose(fpk_linsolve *ls, const double *b, double *x, fpk_error *err) {
  if (ls->cur < 0)
    return fpk_error_set(err, FPK_ENUMERIC, "fv: linear solve without a factorisation");
  slot *s = &ls->s[ls->cur];
  const size_t n = ls->n;
  if (ls->kind == KIND_TRIDIAG) {
    memcpy(x, b, n * sizeof *x);
    thomas_solve_transpose(n, s, x);
    if (ls->periodic) {
      const double f = (s->gamma * x[0] + s->alpha_bot * x[n - 1]) / s->dent;
      for (size_t i = 0; i < n; i++) x[i] -= f * s->zt[i];
    }
    return FPK_SUCCESS;
  }
  if (ls->kind == KIND_SPLIT)
    return fpk_error_set(err, FPK_EINVAL,
                         "fv split solver: no transposed solve (use the direct solver for the "
                         "adjoint equation)");
  /* UMFPACK_At solves Aᵀx = b with the same numeric factorisation (no refactoring). */
  int st = umfpack_di_wsolve(UMFPACK_At, ls->Ap, ls->Ai, s->Mx, x, b, s->numeric, ls->control,
                             ls->info, ls->Wi, ls->W);
  if (st != UMFPACK_OK)
    return fpk_error_set(err, FPK_ENUMERIC, "fv: UMFPACK transposed solve failed (%s, status %d)",
                         umf_status(st), st);
  return FPK_SUCCESS;
}

size_t fpk_linsolve_factorizations(const fpk_linsolve *ls) { return ls ? ls->nfact : 0; }
