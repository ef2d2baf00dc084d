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
 * FPK_LINSOLVE_SLOTS factorisations are cached, keyed on c (least recently used is replaced).
 */
#include "fp/fv_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <umfpack.h>

enum { KIND_TRIDIAG = 0, KIND_UMFPACK = 1 };

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

/* Thomas elimination of the tridiagonal (sub, diag, sup) into slot s; returns 0 or -1 on a
 * zero pivot (cannot happen for an M-matrix, checked anyway). */
static int thomas_factor(size_t n, const double *sub, const double *diag, slot *s) {
  double d = diag[0];
  if (!(d != 0.0) || !isfinite(d)) return -1;
  s->dinv[0] = 1.0 / d;
  s->mult[0] = 0.0;
  for (size_t i = 1; i < n; i++) {
    const double m = sub[i] * s->dinv[i - 1];
    d = diag[i] - m * s->sup[i - 1];
    if (!(d != 0.0) || !isfinite(d)) return -1;
    s->mult[i] = m;
    s->dinv[i] = 1.0 / d;
  }
  return 0;
}

static void thomas_solve(size_t n, const slot *s, double *x) {
  for (size_t i = 1; i < n; i++) x[i] -= s->mult[i] * x[i - 1];
  x[n - 1] *= s->dinv[n - 1];
  for (size_t i = n - 1; i-- > 0;) x[i] = (x[i] - s->sup[i] * x[i + 1]) * s->dinv[i];
}

/* Tᵀx = b with the factorisation T = LU of thomas_factor (L unit lower bidiagonal with the
 * multipliers, U upper bidiagonal with pivots 1/dinv and super-diagonal sup): Uᵀy = b forward,
 * then Lᵀx = y backward. */
static void thomas_solve_transpose(size_t n, const slot *s, double *x) {
  x[0] *= s->dinv[0];
  for (size_t i = 1; i < n; i++) x[i] = (x[i] - s->sup[i - 1] * x[i - 1]) * s->dinv[i];
  for (size_t i = n - 1; i-- > 0;) x[i] -= s->mult[i + 1] * x[i + 1];
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
    /* Numerical Recipes cyclic(): M = T + u vᵀ, u = (γ, 0, …, 0, α), v = (1, 0, …, 0, β/γ). */
    const double gamma = -diag[0];
    diag[0] -= gamma;
    diag[n - 1] -= alpha_bot * beta_top / gamma;
    s->gamma = gamma;
    s->beta_top = beta_top;
    if (thomas_factor(n, sub, diag, s)) goto singular;
    memset(s->z, 0, n * sizeof *s->z);
    s->z[0] = gamma;
    s->z[n - 1] = alpha_bot;
    thomas_solve(n, s, s->z);
    s->den = 1.0 + s->z[0] + beta_top * s->z[n - 1] / gamma;
    if (!(s->den != 0.0) || !isfinite(s->den)) goto singular;
    /* Mᵀ = Tᵀ + v uᵀ: Sherman–Morrison with the roles of u and v exchanged. */
    memset(s->zt, 0, n * sizeof *s->zt);
    s->zt[0] = 1.0;
    s->zt[n - 1] = beta_top / gamma;
    thomas_solve_transpose(n, s, s->zt);
    s->alpha_bot = alpha_bot;
    s->dent = 1.0 + gamma * s->zt[0] + alpha_bot * s->zt[n - 1];
    if (!(s->dent != 0.0) || !isfinite(s->dent)) goto singular;
  } else if (thomas_factor(n, sub, diag, s)) {
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
  int rc = ls->kind == KIND_TRIDIAG ? factor_tridiag(ls, op, c, s, err)
                                    : factor_umfpack(ls, op, c, s, err);
  if (rc) return rc;
  ls->nfact++;
  s->valid = 1;
  s->key = c;
  s->stamp = ls->clock;
  ls->cur = victim;
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
      int rc = ls->kind == KIND_TRIDIAG ? factor_tridiag(ls, op, keys[k], s, err)
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
    thomas_solve(n, s, x);
    if (ls->periodic) {
      const double f = (x[0] + s->beta_top * x[n - 1] / s->gamma) / s->den;
      for (size_t i = 0; i < n; i++) x[i] -= f * s->z[i];
    }
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
  /* UMFPACK_At solves Aᵀx = b with the same numeric factorisation (no refactoring). */
  int st = umfpack_di_wsolve(UMFPACK_At, ls->Ap, ls->Ai, s->Mx, x, b, s->numeric, ls->control,
                             ls->info, ls->Wi, ls->W);
  if (st != UMFPACK_OK)
    return fpk_error_set(err, FPK_ENUMERIC, "fv: UMFPACK transposed solve failed (%s, status %d)",
                         umf_status(st), st);
  return FPK_SUCCESS;
}

size_t fpk_linsolve_factorizations(const fpk_linsolve *ls) { return ls ? ls->nfact : 0; }
