/* Schrödinger bridges for any fpkit reference model by Fortet/IPF on the FV Fokker–Planck
 * discretisation (src/sb/sb_ipf.h; docs/sb.md, "FP-based IPF (any reference)").
 *
 * Scheme. The reference is the chain of implicit Euler steps of the Scharfetter–Gummel operator,
 * M_n = (I − h_n L(t_{n+1}))⁻¹ (src/fp/fv_operator.c, src/fp/linsolve.c): I − hL is a column
 * diagonally dominant M-matrix, so M_n is entrywise non-negative and column-stochastic for every
 * h (no step-size limit, no negative values: the potentials' logs always exist). Crank–Nicolson
 * would be second order in time but (I + ½hL) has negative diagonal entries once h|L_ii| > 2, so
 * it produces negative densities unless h = O(h_x²/D); BDF2/TR-BDF2 are not positive either.
 * Implicit Euler is first order in time: with h_t ∝ h_x² the bridge is O(h_x²) overall.
 * The backward Kolmogorov step is EXACTLY the transpose, u_n = M_nᵀ u_{n+1}, solved with the same
 * LU factors (UMFPACK_At, or the transposed Thomas recurrences): then Σ u_n p_n = u_{n+1}ᵀ M_n p_n
 * = Σ u_{n+1} p_{n+1} at every level, the discrete duality on which p_t = φ_t φ̂_t having mass 1
 * at every t rests, and the discrete bridge is the exact Schrödinger bridge of the discrete chain.
 *
 * Storage: each propagated vector is kept as values with max 1 and log of the scale, rescaled
 * after every step; divisions a/φ_0, b/φ̂_T are done in logs. Only the dynamic range inside one
 * vector is limited (by DBL_MIN ~ 1e-308): where φ̂_T < DBL_MIN·max φ̂_T inside supp(b) (or φ_0
 * inside supp(a)) the ratio would lose its digits, and the solve is refused. */
#include "sb/sb_ipf.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp/fv_internal.h"

struct sb_ipf {
  fpk_grid g;
  size_t n, d;
  sb_ipf_params p;
  const fpk_model *model;
  int autonomous, additive;
  fpk_fv_op op;
  int op_init;
  fpk_linsolve *ls;
  size_t N;          /* steps */
  double *tl;        /* N + 1 level times */
  double *hl;        /* N step sizes */
  int *level_out;    /* N + 1: output index of a level or −1 */
  size_t nout;
  double *tout;      /* nout output times */
  double *a, *b;     /* normalised end marginals */
  double *phat_v, *phat_ls; /* nout × n values (max 1) and nout log scales: φ̂ in cell masses */
  double *phi_v, *phi_ls;   /* the same for φ */
  double *w1, *w2, *w3;     /* n scratch */
  double *num;              /* n: the end marginal without the cells where the potential underflows */
  double *xc, *fb, *sg, *xs, *grad; /* d × n: centres, drift, noise, shifted points, gradient */
  unsigned char *valid;             /* n */
  double sigma_min, logV;
  double *hist;
  size_t nhist, hcap;
  int solved;
  fpk_error err;
};

void sb_ipf_params_init(sb_ipf_params *p) {
  memset(p, 0, sizeof *p);
  p->T = 1.0;
  p->dt = 0.01;
  p->tol = 1e-9;
  p->max_iter = 10000;
}

void sb_ipf_free(sb_ipf *s) {
  if (!s) return;
  if (s->op_init) fpk_fv_op_free(&s->op);
  fpk_linsolve_free(s->ls);
  free(s->tl);
  free(s->hl);
  free(s->level_out);
  free(s->tout);
  free(s->a);
  free(s->b);
  free(s->phat_v);
  free(s->phat_ls);
  free(s->phi_v);
  free(s->phi_ls);
  free(s->w1);
  free(s->w2);
  free(s->w3);
  free(s->num);
  free(s->xc);
  free(s->fb);
  free(s->sg);
  free(s->xs);
  free(s->grad);
  free(s->valid);
  free(s->hist);
  free(s);
}

static int cmp_double(const void *x, const void *y) {
  const double u = *(const double *)x, v = *(const double *)y;
  return (u > v) - (u < v);
}

/* The output times (0, T and p->t, sorted, merged within 1e-12 T) and the time levels: each
 * interval between consecutive output times split by fpk_time_steps into equal steps <= dt. */
static int build_levels(sb_ipf *s, fpk_error *err) {
  const double T = s->p.T;
  double *tt = malloc((s->p.nt + 2) * sizeof *tt);
  if (!tt) return fpk_error_set(err, FPK_ENOMEM, "sb ipf: out of memory for the output times");
  size_t m = 0;
  tt[m++] = 0.0;
  for (size_t k = 0; k < s->p.nt; k++) tt[m++] = s->p.t[k];
  tt[m++] = T;
  qsort(tt, m, sizeof *tt, cmp_double);
  size_t u = 0;
  for (size_t k = 0; k < m; k++)
    if (u == 0 || tt[k] - tt[u - 1] > 1e-12 * T) tt[u++] = tt[k];
  tt[u - 1] = T; /* a time within 1e-12 T of T is T */
  s->nout = u;
  s->tout = tt;
  size_t N = 0;
  for (size_t k = 0; k + 1 < u; k++) {
    size_t nk;
    double hk;
    int rc = fpk_time_steps(tt[k], tt[k + 1], s->p.dt, &nk, &hk, err);
    if (rc) return rc;
    N += nk;
  }
  s->N = N;
  s->tl = malloc((N + 1) * sizeof *s->tl);
  s->hl = malloc((N ? N : 1) * sizeof *s->hl);
  s->level_out = malloc((N + 1) * sizeof *s->level_out);
  if (!s->tl || !s->hl || !s->level_out)
    return fpk_error_set(err, FPK_ENOMEM, "sb ipf: out of memory for %zu time levels", N + 1);
  size_t l = 0;
  s->tl[0] = 0.0;
  s->level_out[0] = 0;
  for (size_t k = 0; k + 1 < u; k++) {
    size_t nk;
    double hk;
    fpk_time_steps(tt[k], tt[k + 1], s->p.dt, &nk, &hk, err);
    for (size_t i = 0; i < nk; i++) {
      s->hl[l] = hk;
      l++;
      s->tl[l] = i + 1 == nk ? tt[k + 1] : tt[k] + (double)(i + 1) * hk;
      s->level_out[l] = i + 1 == nk ? (int)(k + 1) : -1;
    }
  }
  return FPK_SUCCESS;
}

sb_ipf *sb_ipf_alloc(const fpk_grid *g, const sb_ipf_params *p, fpk_error *err) {
  if (!g || !p)
    return fpk_error_set(err, FPK_EINVAL, "sb ipf: NULL grid or parameters"), (sb_ipf *)NULL;
  const fpk_model *m = p->model;
  if (!m) {
    fpk_error_set(err, FPK_EINVAL, "sb ipf: no reference model");
    return NULL;
  }
  if (m->dim != g->dim) {
    fpk_error_set(err, FPK_EINVAL, "sb ipf: the reference model %s has dimension %zu, the grid %zu",
                  m->name, m->dim, g->dim);
    return NULL;
  }
  if (!(p->T > 0.0) || !isfinite(p->T)) {
    fpk_error_set(err, FPK_EINVAL, "sb ipf: T = %g must be finite and > 0", p->T);
    return NULL;
  }
  if (!(p->dt > 0.0) || !isfinite(p->dt)) {
    fpk_error_set(err, FPK_EINVAL, "sb ipf: dt = %g must be finite and > 0", p->dt);
    return NULL;
  }
  if (!(p->tol > 0.0) || !isfinite(p->tol) || p->max_iter == 0) {
    fpk_error_set(err, FPK_EINVAL, "sb ipf: tol = %g must be > 0 and max_iter = %zu >= 1", p->tol,
                  p->max_iter);
    return NULL;
  }
  if (p->nt && !p->t) {
    fpk_error_set(err, FPK_EINVAL, "sb ipf: %zu output times but no array", p->nt);
    return NULL;
  }
  for (size_t k = 0; k < p->nt; k++) {
    if (!(p->t[k] >= 0.0 && p->t[k] <= p->T)) {
      fpk_error_set(err, FPK_EINVAL, "sb ipf: output time t[%zu] = %g is outside [0, T = %g]", k,
                    p->t[k], p->T);
      return NULL;
    }
    if (k && p->t[k] < p->t[k - 1]) {
      fpk_error_set(err, FPK_EINVAL, "sb ipf: output time t[%zu] = %g is before t[%zu] = %g", k,
                    p->t[k], k - 1, p->t[k - 1]);
      return NULL;
    }
  }
  for (size_t a = 0; a < g->dim; a++)
    if (g->bc[a] == FPK_BC_ABSORBING) {
      fpk_error_set(err, FPK_EINVAL,
                    "sb ipf: axis %zu has an absorbing wall: the reference must keep its mass "
                    "(reflecting or periodic walls)",
                    a);
      return NULL;
    }
  sb_ipf *s = calloc(1, sizeof *s);
  if (!s) {
    fpk_error_set(err, FPK_ENOMEM, "sb ipf: out of memory");
    return NULL;
  }
  s->g = *g;
  s->n = g->size;
  s->d = g->dim;
  s->p = *p; /* p.t is read by build_levels only, then forgotten (the caller owns it) */
  s->model = m;
  s->autonomous = (m->flags & FPK_MODEL_AUTONOMOUS) != 0;
  s->additive = (m->flags & FPK_MODEL_ADDITIVE) != 0;
  s->logV = log(g->cell_volume);
  const size_t n = s->n, d = s->d;
  int rc = build_levels(s, err);
  s->p.t = NULL;
  if (rc) goto fail;
  s->a = malloc(n * sizeof *s->a);
  s->b = malloc(n * sizeof *s->b);
  s->phat_v = malloc(s->nout * n * sizeof *s->phat_v);
  s->phi_v = malloc(s->nout * n * sizeof *s->phi_v);
  s->phat_ls = malloc(s->nout * sizeof *s->phat_ls);
  s->phi_ls = malloc(s->nout * sizeof *s->phi_ls);
  s->w1 = malloc(n * sizeof(double));
  s->w2 = malloc(n * sizeof(double));
  s->w3 = malloc(n * sizeof(double));
  s->num = malloc(n * sizeof(double));
  s->xc = malloc(d * n * sizeof(double));
  s->fb = malloc(d * n * sizeof(double));
  s->sg = malloc(d * n * sizeof(double));
  s->xs = malloc(d * n * sizeof(double));
  s->grad = malloc(d * n * sizeof(double));
  s->valid = malloc(n);
  if (!s->a || !s->b || !s->phat_v || !s->phi_v || !s->phat_ls || !s->phi_ls || !s->w1 || !s->w2 ||
      !s->w3 || !s->num || !s->xc || !s->fb || !s->sg || !s->xs || !s->grad || !s->valid) {
    rc = fpk_error_set(err, FPK_ENOMEM, "sb ipf: out of memory for a grid of %zu cells and %zu "
                       "output times", n, s->nout);
    goto fail;
  }
  for (size_t j = 0; j < n; j++) {
    double x[FPK_MAX_DIM];
    fpk_grid_point(g, j, x);
    for (size_t a = 0; a < d; a++) s->xc[a * n + j] = x[a];
  }
  /* The noise at the cell centres at t = 0: finite and nonzero (the law depends on σ² only; the
   * potentials are positive only if the chain spreads everywhere), and min |σ| for the messages. */
  if ((rc = fpk_model_noise(m, 0.0, n, s->xc, s->sg, err))) goto fail;
  s->sigma_min = INFINITY;
  for (size_t k = 0; k < d * n; k++) {
    if (!(s->sg[k] != 0.0) || !isfinite(s->sg[k])) {
      double x[FPK_MAX_DIM];
      fpk_grid_point(g, k % n, x);
      rc = fpk_error_set(err, FPK_EINVAL,
                         "sb ipf: the reference %s has noise sigma_%zu = %g at cell %zu (x = %g%s, "
                         "t = 0): the FP-based bridge needs a finite, nonzero noise everywhere",
                         m->name, k / n, s->sg[k], k % n, x[0], d > 1 ? ", ..." : "");
      goto fail;
    }
    if (fabs(s->sg[k]) < s->sigma_min) s->sigma_min = fabs(s->sg[k]);
  }
  /* A noise that changes sign between two neighbouring centres vanishes between them: the
   * diffusion cannot cross there (σ = x: the reference never crosses 0), but the chain, which
   * sees σ only at centres and faces, would leak through and return a bridge that does not
   * exist. Refuse it (a zero that σ only touches, σ = x², is not detected). */
  for (size_t a = 0, stride = 1; a < d; stride *= g->n[a], a++)
    for (size_t j = 0; j < n; j++) {
      const size_t i = (j / stride) % g->n[a];
      if (i + 1 >= g->n[a]) continue;
      const double s0 = s->sg[a * n + j], s1 = s->sg[a * n + j + stride];
      if ((s0 > 0) != (s1 > 0)) {
        double x0[FPK_MAX_DIM], x1[FPK_MAX_DIM];
        fpk_grid_point(g, j, x0);
        fpk_grid_point(g, j + stride, x1);
        rc = fpk_error_set(err, FPK_EINVAL,
                           "sb ipf: the noise sigma_%zu of the reference %s changes sign between "
                           "x = %g (%g) and x = %g (%g) along axis %zu at t = 0: it vanishes "
                           "between them, where the diffusion cannot cross, and no bridge across "
                           "that point exists; move the box or the marginals to one side (a noise "
                           "that jumps without vanishing, sign(x): give |sigma|, the law depends "
                           "on sigma^2 only)",
                           a, m->name, x0[a], s0, x1[a], s1, a);
        goto fail;
      }
    }
  if ((rc = fpk_fv_op_init(&s->op, g, err))) goto fail;
  s->op_init = 1;
  if ((rc = fpk_fv_op_assemble(&s->op, m, 0.0, err))) goto fail;
  if (!(s->ls = fpk_linsolve_alloc(&s->op, err))) {
    rc = err ? err->status : FPK_ENOMEM;
    goto fail;
  }
  return s;
fail:
  (void)rc;
  sb_ipf_free(s);
  return NULL;
}

/* Makes the factorisation of I − h_k L(t_{k+1}) current: L is assembled once for an autonomous
 * model (the factorisations are then cached per step size), at every step otherwise. */
static int prepare_step(sb_ipf *s, size_t k) {
  if (!s->autonomous) {
    int rc = fpk_fv_op_assemble(&s->op, s->model, s->tl[k + 1], &s->err);
    if (rc) return rc;
    return fpk_linsolve_prepare(s->ls, &s->op, s->hl[k], 1, &s->err);
  }
  return fpk_linsolve_prepare(s->ls, &s->op, s->hl[k], 0, &s->err);
}

/* v ← v / max v, *ls += log max v. Negative round-off of the LU solve (UMFPACK pivots; the exact
 * result is >= 0) is set to 0. */
static int rescale(sb_ipf *s, double *v, double *ls) {
  double mx = 0.0;
  for (size_t i = 0; i < s->n; i++) {
    if (!(v[i] > 0.0)) v[i] = v[i] == 0.0 || v[i] < 0.0 ? 0.0 : v[i];
    if (!isfinite(v[i]))
      return fpk_error_set(&s->err, FPK_ENUMERIC, "sb ipf: a propagated potential is %g at cell %zu",
                           v[i], i);
    if (v[i] > mx) mx = v[i];
  }
  if (!(mx > 0.0))
    return fpk_error_set(&s->err, FPK_ENUMERIC, "sb ipf: a propagated potential vanished");
  for (size_t i = 0; i < s->n; i++) v[i] /= mx;
  *ls += log(mx);
  return FPK_SUCCESS;
}

static void store(double *vs, double *lss, size_t k, const double *v, double ls, size_t n) {
  memcpy(vs + k * n, v, n * sizeof *v);
  lss[k] = ls;
}

/* φ̂ from level 0 (in v, log scale *ls) to N, stored at the output levels; v ends as φ̂_N. */
static int forward(sb_ipf *s, double *v, double *ls) {
  const size_t n = s->n;
  store(s->phat_v, s->phat_ls, 0, v, *ls, n);
  for (size_t k = 0; k < s->N; k++) {
    int rc = prepare_step(s, k);
    if (!rc) rc = fpk_linsolve_solve(s->ls, v, s->w3, &s->err);
    if (rc) return rc;
    memcpy(v, s->w3, n * sizeof *v);
    if ((rc = rescale(s, v, ls))) return rc;
    if (s->level_out[k + 1] >= 0) store(s->phat_v, s->phat_ls, (size_t)s->level_out[k + 1], v, *ls, n);
  }
  return FPK_SUCCESS;
}

/* φ from level N (in v) to 0 by the transposed steps, stored at the output levels. */
static int backward(sb_ipf *s, double *v, double *ls) {
  const size_t n = s->n;
  store(s->phi_v, s->phi_ls, s->nout - 1, v, *ls, n);
  for (size_t k = s->N; k-- > 0;) {
    int rc = prepare_step(s, k);
    if (!rc) rc = fpk_linsolve_solve_transpose(s->ls, v, s->w3, &s->err);
    if (rc) return rc;
    memcpy(v, s->w3, n * sizeof *v);
    if ((rc = rescale(s, v, ls))) return rc;
    if (s->level_out[k] >= 0) store(s->phi_v, s->phi_ls, (size_t)s->level_out[k], v, *ls, n);
  }
  return FPK_SUCCESS;
}

/* out = num / (v e^ls) in logs, rescaled to max 1 (*out_ls its log scale); 0 where num is 0.
 * v > 0 wherever num > 0 (checked by the caller). */
static void divide_log(size_t n, const double *num, const double *v, double ls, double *out,
                       double *out_ls) {
  double mx = -INFINITY;
  for (size_t i = 0; i < n; i++)
    if (num[i] > 0.0) {
      out[i] = log(num[i]) - log(v[i]);
      if (out[i] > mx) mx = out[i];
    }
  for (size_t i = 0; i < n; i++) out[i] = num[i] > 0.0 ? exp(out[i] - mx) : 0.0;
  *out_ls = mx - ls;
}

/* ‖u e^{lu} ⊙ v e^{lv} − target‖₁, each product formed in logs. */
static double l1_error(size_t n, const double *u, double lu, const double *v, double lv,
                       const double *target) {
  double e = 0.0;
  for (size_t i = 0; i < n; i++) {
    const double q = u[i] > 0.0 && v[i] > 0.0 ? exp(lu + lv + log(u[i]) + log(v[i])) : 0.0;
    e += fabs(q - target[i]);
  }
  return e;
}

/* num = m, except 0 where the potential v (max 1) is below DBL_MIN: there the ratio m/v has lost
 * its digits, and the cell is dropped from the marginal for this half-step. Returns the mass so
 * dropped; *first is the first such cell (n if none). */
static double drop_underflow(size_t n, const double *m, const double *v, double *num,
                             size_t *first) {
  double lost = 0.0;
  *first = n;
  for (size_t i = 0; i < n; i++) {
    num[i] = m[i];
    if (m[i] > 0.0 && !(v[i] >= DBL_MIN)) {
      lost += m[i];
      num[i] = 0.0;
      if (*first == n) *first = i;
    }
  }
  return lost;
}

/* The refusal when a propagated potential underflows on cells holding mass of an end marginal. */
static int underflow_refusal(sb_ipf *s, const char *what, const char *where, size_t cell,
                             double lost) {
  /* The largest distance between the supports of a and b (their bounding boxes), the scale of
   * the reference kernel's dynamic range d²/(2σ²T); cells below tol/n, which hold less than tol
   * together, do not count (densities positive on the whole box would give its diagonal). */
  const double thr = s->p.tol / (double)s->n;
  double d2 = 0.0;
  for (size_t ax = 0; ax < s->d; ax++) {
    double alo = INFINITY, ahi = -INFINITY, blo = INFINITY, bhi = -INFINITY;
    for (size_t j = 0; j < s->n; j++) {
      const double x = s->xc[ax * s->n + j];
      if (s->a[j] >= thr) alo = fmin(alo, x), ahi = fmax(ahi, x);
      if (s->b[j] >= thr) blo = fmin(blo, x), bhi = fmax(bhi, x);
    }
    const double dd = fmax(bhi - alo, ahi - blo);
    d2 += dd * dd;
  }
  const double sig = s->sigma_min, T = s->p.T;
  double x[FPK_MAX_DIM];
  fpk_grid_point(&s->g, cell, x);
  char tail[96] = "";
  if (lost < 1e-3) snprintf(tail, sizeof tail, ", or (only far tails are lost) raise tol above %.3g", 2 * lost);
  return fpk_error_set(
      &s->err, FPK_ENUMERIC,
      "sb ipf: %s underflows (below 1e-308 of its largest value) on cells holding %.3g of the "
      "mass of %s (tol = %g; the first at cell %zu, x = %g%s): the reference does not reach it "
      "from the other end in time T = %g. Either sigma = %g is too small for this box and horizon "
      "(largest distance between the supports %g, d^2/(2 sigma^2 T) = %.0f; the FP-based bridge "
      "is reliable below ~690): raise sigma or T, or bring the marginals closer%s; or the "
      "reference's drift or noise confines it away from those cells (a barrier, a drift that "
      "pushes out, a noise that vanishes): then no bridge exists",
      what, lost, where, s->p.tol, cell, x[0], s->d > 1 ? ", ..." : "", T, sig, sqrt(d2),
      d2 / (2 * sig * sig * T), tail);
}

static int check_marginal(sb_ipf *s, const double *in, double *out, const char *name) {
  double sum = 0.0;
  for (size_t i = 0; i < s->n; i++) {
    if (!(in[i] >= 0.0) || !isfinite(in[i]))
      return fpk_error_set(&s->err, FPK_EINVAL,
                           "sb ipf: %s[%zu] = %g: end marginals must be finite and >= 0", name, i,
                           in[i]);
    sum += in[i];
  }
  if (!(sum > 0.0) || !isfinite(sum))
    return fpk_error_set(&s->err, FPK_EINVAL, "sb ipf: %s has mass %g", name, sum);
  if (!s->p.normalize && fabs(sum - 1.0) > 1e-9)
    return fpk_error_set(&s->err, FPK_EINVAL,
                         "sb ipf: %s has mass %.12g, not 1 within 1e-9 (set normalize)", name, sum);
  for (size_t i = 0; i < s->n; i++) out[i] = in[i] / sum;
  return FPK_SUCCESS;
}

int sb_ipf_solve(sb_ipf *s, const double *a, const double *b) {
  fpk_error_clear(&s->err);
  s->solved = 0;
  s->nhist = 0;
  int rc = check_marginal(s, a, s->a, "a");
  if (!rc) rc = check_marginal(s, b, s->b, "b");
  if (rc) return rc;
  const size_t n = s->n;
  double *phi = s->w1, *phat = s->w2;
  double lphi = 0.0, lphat = 0.0;
  /* φ_N = 1 gives φ_0 = 1 exactly: Mᵀ1 = 1 (M is column-stochastic). */
  for (size_t i = 0; i < n; i++) phi[i] = 1.0;
  double e0 = INFINITY;
  /* Cells where a potential underflows are dropped from the marginal divided by it (their mass
   * then counts in the marginal error): far tails of densities that are positive on the whole
   * box must not stop a bridge whose mass is well inside the reliable range. When the dropped
   * mass reaches tol/2 the bridge cannot converge: refused. */
  const double max_lost = 0.5 * s->p.tol;
  memcpy(s->num, s->a, n * sizeof *s->num);
  for (size_t it = 0; it < s->p.max_iter; it++) {
    size_t cell;
    divide_log(n, s->num, phi, lphi, phat, &lphat); /* φ̂_0 = a/φ_0 */
    if ((rc = forward(s, phat, &lphat))) return rc;
    const double lostT = drop_underflow(n, s->b, phat, s->num, &cell);
    if (lostT >= max_lost)
      return underflow_refusal(s, "phi_hat_T (the reference's law at T from a)", "b", cell, lostT);
    divide_log(n, s->num, phat, lphat, phi, &lphi); /* φ_N = b/φ̂_N */
    if ((rc = backward(s, phi, &lphi))) return rc;
    const double lost0 = drop_underflow(n, s->a, phi, s->num, &cell);
    if (lost0 >= max_lost)
      return underflow_refusal(s, "phi_0 (the backward potential at 0 from b)", "a", cell, lost0);
    /* ‖p_0 − a‖₁ + ‖p_T − b‖₁; the second is the mass of b dropped at T (p_T = b elsewhere). */
    e0 = l1_error(n, phi, lphi, s->phat_v, s->phat_ls[0], s->a) + lostT;
    if (s->nhist == s->hcap) {
      const size_t cap = s->hcap ? 2 * s->hcap : 64;
      double *h = realloc(s->hist, cap * sizeof *h);
      if (!h) return fpk_error_set(&s->err, FPK_ENOMEM, "sb ipf: out of memory for the history");
      s->hist = h;
      s->hcap = cap;
    }
    s->hist[s->nhist++] = e0;
    if (!isfinite(e0))
      return fpk_error_set(&s->err, FPK_ENUMERIC, "sb ipf: marginal error %g at iteration %zu",
                           e0, it + 1);
    if (e0 < s->p.tol) {
      s->solved = 1;
      return FPK_SUCCESS;
    }
  }
  return fpk_error_set(&s->err, FPK_ENUMERIC,
                       "sb ipf: IPF did not reach tol = %g in max_iter = %zu iterations (L1 "
                       "marginal error %g): raise max_iter or tol",
                       s->p.tol, s->p.max_iter, e0);
}

const double *sb_ipf_history(const sb_ipf *s, size_t *n) {
  *n = s->nhist;
  return s->hist;
}

const double *sb_ipf_times(const sb_ipf *s, size_t *n) {
  *n = s->nout;
  return s->tout;
}

size_t sb_ipf_nsteps(const sb_ipf *s) { return s->N; }

const char *sb_ipf_errmsg(const sb_ipf *s) { return s ? s->err.msg : ""; }

static int find_time(sb_ipf *s, double t, size_t *k) {
  fpk_error_clear(&s->err);
  if (!s->solved)
    return fpk_error_set(&s->err, FPK_EINVAL, "sb ipf: no successful solve to query");
  for (size_t i = 0; i < s->nout; i++)
    if (fabs(t - s->tout[i]) <= 1e-12 * s->p.T) {
      *k = i;
      return FPK_SUCCESS;
    }
  return fpk_error_set(&s->err, FPK_EINVAL,
                       "sb ipf: t = %g is not one of the %zu output times in [0, %g] (they are "
                       "time levels of the FP solve: name it at alloc)",
                       t, s->nout, s->p.T);
}

static void log_field(size_t n, const double *v, double ls, double shift, double *out) {
  for (size_t i = 0; i < n; i++) out[i] = v[i] > 0.0 ? ls + log(v[i]) + shift : -INFINITY;
}

int sb_ipf_log_phi_hat(sb_ipf *s, double t, double *log_phi_hat) {
  size_t k = 0;
  int rc = find_time(s, t, &k);
  if (rc) return rc;
  log_field(s->n, s->phat_v + k * s->n, s->phat_ls[k], -s->logV, log_phi_hat);
  return FPK_SUCCESS;
}

int sb_ipf_log_phi(sb_ipf *s, double t, double *log_phi) {
  size_t k = 0;
  int rc = find_time(s, t, &k);
  if (rc) return rc;
  log_field(s->n, s->phi_v + k * s->n, s->phi_ls[k], 0.0, log_phi);
  return FPK_SUCCESS;
}

/* log p_k (cell probabilities) into out. */
static void log_marginal(const sb_ipf *s, size_t k, double *out) {
  const size_t n = s->n;
  const double *u = s->phi_v + k * n, *v = s->phat_v + k * n;
  const double L = s->phi_ls[k] + s->phat_ls[k];
  for (size_t i = 0; i < n; i++)
    out[i] = u[i] > 0.0 && v[i] > 0.0 ? L + log(u[i]) + log(v[i]) : -INFINITY;
}

int sb_ipf_marginal(sb_ipf *s, double t, double *p, double *log_p, double *mass) {
  size_t k = 0;
  int rc = find_time(s, t, &k);
  if (rc) return rc;
  double *lp = log_p ? log_p : s->w3;
  log_marginal(s, k, lp);
  double sum = 0.0;
  for (size_t i = 0; i < s->n; i++) {
    const double q = exp(lp[i]);
    if (p) p[i] = q;
    sum += q;
  }
  if (mass) *mass = sum;
  if (!(fabs(sum - 1.0) <= 1e-8))
    return fpk_error_set(&s->err, FPK_ENUMERIC,
                         "sb ipf: the marginal at t = %g has mass %.15g, not 1 within 1e-8 (the "
                         "potentials lost precision: sigma too small for the box?)",
                         t, sum);
  return FPK_SUCCESS;
}

/* ∂_a of the log-field lf at every cell (out, n values): centred differences; at a reflecting
 * wall the second-order one-sided formula (−3u_0 + 4u_1 − u_2)/(2h); where a value needed is −∞,
 * the one-sided first-order difference of the finite neighbour; where none, the value of the
 * nearest cell along the axis that has one (0 for a line without any). */
static void grad_axis(sb_ipf *s, size_t a, const double *lf, double *out) {
  const fpk_grid *g = &s->g;
  const size_t n = s->n, na = g->n[a];
  size_t stride = 1;
  for (size_t b = 0; b < a; b++) stride *= g->n[b];
  const int periodic = g->bc[a] == FPK_BC_PERIODIC;
  const double h = g->h[a];
  unsigned char *ok = s->valid;
  for (size_t j = 0; j < n; j++) {
    const size_t i = (j / stride) % na, base = j - i * stride;
#define AT(ii) (lf[base + (ii) * stride])
    const int hasl = i > 0 || periodic, hasr = i + 1 < na || periodic;
    const size_t il = i > 0 ? i - 1 : na - 1, ir = i + 1 < na ? i + 1 : 0;
    const int fc = isfinite(lf[j]), fl = hasl && isfinite(AT(il)), fr = hasr && isfinite(AT(ir));
    ok[j] = 1;
    if (fl && fr) {
      out[j] = (AT(ir) - AT(il)) / (2 * h);
    } else if (!hasl && fc && fr) {
      out[j] = na >= 3 && isfinite(AT(2)) ? (-3 * lf[j] + 4 * AT(1) - AT(2)) / (2 * h)
                                          : (AT(1) - lf[j]) / h;
    } else if (!hasr && fc && fl) {
      out[j] = na >= 3 && isfinite(AT(na - 3)) ? (3 * lf[j] - 4 * AT(na - 2) + AT(na - 3)) / (2 * h)
                                               : (lf[j] - AT(na - 2)) / h;
    } else if (fc && fr) {
      out[j] = (AT(ir) - lf[j]) / h;
    } else if (fc && fl) {
      out[j] = (lf[j] - AT(il)) / h;
    } else {
      ok[j] = 0;
      out[j] = 0.0;
    }
#undef AT
  }
  /* Fill the cells without a difference from the nearest one along the line (ties: lower). */
  for (size_t j = 0; j < n; j++) {
    if (ok[j]) continue;
    const size_t i = (j / stride) % na, base = j - i * stride;
    size_t best = na, bestd = na + 1;
    for (size_t q = 0; q < na; q++) {
      if (!ok[base + q * stride]) continue;
      const size_t dq = q > i ? q - i : i - q;
      if (dq < bestd) bestd = dq, best = q;
    }
    out[j] = best < na ? out[base + best * stride] : 0.0;
  }
}

/* Forward (dir = +1: f + σ²∂ log φ) or backward (dir = −1: −f + σ²∂ log φ̂ + ∂σ²) drift. */
static int drift_at(sb_ipf *s, double t, int dir, double *drift, unsigned char *mask) {
  size_t k = 0;
  int rc = find_time(s, t, &k);
  if (rc) return rc;
  const size_t n = s->n, d = s->d;
  const double tk = s->tout[k];
  double *lf = s->w3;
  if (dir > 0) log_field(n, s->phi_v + k * n, s->phi_ls[k], 0.0, lf);
  else log_field(n, s->phat_v + k * n, s->phat_ls[k], 0.0, lf);
  if ((rc = fpk_model_drift(s->model, tk, n, s->xc, s->fb, &s->err))) return rc;
  if ((rc = fpk_model_noise(s->model, tk, n, s->xc, s->sg, &s->err))) return rc;
  for (size_t a = 0; a < d; a++) {
    grad_axis(s, a, lf, s->grad + a * n);
    for (size_t i = 0; i < n; i++) {
      const double sig = s->sg[a * n + i];
      drift[a * n + i] = dir * s->fb[a * n + i] + sig * sig * s->grad[a * n + i];
    }
    if (dir < 0 && !s->additive) {
      /* ∂_a σ_a² over the cell: σ_a² at x ± ½h_a e_a. */
      double *sp = s->grad + a * n; /* free again: reuse for σ at +, fb row a for σ at − */
      for (int side = 0; side < 2; side++) {
        memcpy(s->xs, s->xc, d * n * sizeof *s->xs);
        for (size_t i = 0; i < n; i++) s->xs[a * n + i] += (side ? 0.5 : -0.5) * s->g.h[a];
        double *dst = side ? sp : s->fb + a * n;
        if ((rc = fpk_model_noise(s->model, tk, n, s->xs, s->sg, &s->err))) return rc;
        memcpy(dst, s->sg + a * n, n * sizeof *dst);
      }
      for (size_t i = 0; i < n; i++)
        drift[a * n + i] += (sp[i] * sp[i] - s->fb[a * n + i] * s->fb[a * n + i]) / s->g.h[a];
      /* s->sg no longer holds the centre noise: re-evaluate for the next axis. */
      if (a + 1 < d && (rc = fpk_model_noise(s->model, tk, n, s->xc, s->sg, &s->err))) return rc;
    }
  }
  for (size_t i = 0; i < d * n; i++)
    if (!isfinite(drift[i]))
      return fpk_error_set(&s->err, FPK_ENUMERIC,
                           "sb ipf: the %s drift is %g at cell %zu, axis %zu, t = %g (the model's "
                           "drift or noise is not finite there)",
                           dir > 0 ? "forward" : "backward", drift[i], i % n, i / n, tk);
  if (mask) {
    log_marginal(s, k, lf);
    const double lmin = log(DBL_MIN);
    for (size_t i = 0; i < n; i++) mask[i] = !(lf[i] >= lmin);
  }
  return FPK_SUCCESS;
}

int sb_ipf_drift(sb_ipf *s, double t, double *drift, unsigned char *mask) {
  return drift_at(s, t, +1, drift, mask);
}

int sb_ipf_backward_drift(sb_ipf *s, double t, double *drift, unsigned char *mask) {
  return drift_at(s, t, -1, drift, mask);
}

int sb_ipf_kl_static(sb_ipf *s, double *kl) {
  fpk_error_clear(&s->err);
  if (!s->solved)
    return fpk_error_set(&s->err, FPK_EINVAL, "sb ipf: no successful solve to query");
  const size_t n = s->n, K = s->nout - 1;
  const double *f0 = s->phat_v, *u0 = s->phi_v, *fT = s->phat_v + K * n, *uT = s->phi_v + K * n;
  const double l0 = s->phat_ls[0] + s->phi_ls[0], lT = s->phat_ls[K] + s->phi_ls[K];
  double acc = 0.0;
  for (size_t i = 0; i < n; i++) {
    if (f0[i] > 0.0 && u0[i] > 0.0 && s->a[i] > 0.0) {
      const double lphat = s->phat_ls[0] + log(f0[i]);
      acc += exp(l0 + log(f0[i]) + log(u0[i])) * (lphat - log(s->a[i]));
    }
    if (fT[i] > 0.0 && uT[i] > 0.0)
      acc += exp(lT + log(fT[i]) + log(uT[i])) * (s->phi_ls[K] + log(uT[i]));
  }
  *kl = acc;
  return FPK_SUCCESS;
}

int sb_ipf_duality_sums(sb_ipf *s, const double *p0, const double *uT, double *sums) {
  fpk_error_clear(&s->err);
  const size_t n = s->n, N = s->N;
  double *P = malloc((N + 1) * n * sizeof *P);
  if (!P) return fpk_error_set(&s->err, FPK_ENOMEM, "sb ipf: out of memory for %zu levels", N + 1);
  int rc = FPK_SUCCESS;
  memcpy(P, p0, n * sizeof *P);
  for (size_t k = 0; k < N && !rc; k++) {
    rc = prepare_step(s, k);
    if (!rc) rc = fpk_linsolve_solve(s->ls, P + k * n, P + (k + 1) * n, &s->err);
  }
  double *u = s->w1, *w = s->w2;
  if (!rc) memcpy(u, uT, n * sizeof *u);
  for (size_t k = N + 1; k-- > 0 && !rc;) {
    if (k < N) {
      rc = prepare_step(s, k);
      if (!rc) rc = fpk_linsolve_solve_transpose(s->ls, u, w, &s->err);
      if (rc) break;
      memcpy(u, w, n * sizeof *u);
    }
    double acc = 0.0;
    for (size_t i = 0; i < n; i++) acc += u[i] * P[k * n + i];
    sums[k] = acc;
  }
  free(P);
  return rc; /* the stored levels (phat_v, phi_v) are untouched: queries still answer */
}
