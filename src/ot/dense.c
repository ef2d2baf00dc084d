/* Dense log-domain Sinkhorn for any cost matrix (fpkit/ot.h).
 *
 * Each half-step is a row-wise log-sum-exp over an n × m matrix: t_j = in_j − C_ij/ε, its
 * maximum subtracted, exponentiated by the vector exp of libmvec (core/vmath.h) and summed. Rows
 * are independent, so the threads split them with a static schedule and every row is summed in the
 * same order whatever the thread count. The column half-step reads rows of the transpose, stored
 * once per cost, so both half-steps stream memory contiguously.
 */
#include <math.h>
#include <omp.h>
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
  free(w->W.fh);
  free(w->W.gh);
  free(w->W.in_a);
  free(w->W.in_b);
  free(w->W.history);
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
  size_t nm = n > m ? n : m;
  w->C = malloc(n * m * sizeof(double));
  w->Ct = malloc(n * m * sizeof(double));
  w->a = malloc(n * sizeof(double));
  w->loga = malloc(n * sizeof(double));
  w->b = malloc(m * sizeof(double));
  w->logb = malloc(m * sizeof(double));
  w->tmp = malloc(w->nthreads * nm * sizeof(double));
  w->rowacc = malloc(nm * sizeof(double));
  w->W.fh = malloc(n * sizeof(double));
  w->W.in_b = malloc(n * sizeof(double));
  w->W.gh = malloc(m * sizeof(double));
  w->W.in_a = malloc(m * sizeof(double));
  if (!w->C || !w->Ct || !w->a || !w->loga || !w->b || !w->logb || !w->tmp || !w->rowacc ||
      !w->W.fh || !w->W.in_b || !w->W.gh || !w->W.in_a)
    goto nomem;
  return w;
nomem:
  fpk_ot_dense_free(w);
  fpk_error_set(err, FPK_ENOMEM, "ot: out of memory for a %zu x %zu dense problem", n, m);
  return NULL;
}

static void store_transpose(fpk_ot_dense *w) {
  const size_t n = w->n, m = w->m, B = 64;
  for (size_t i0 = 0; i0 < n; i0 += B)
    for (size_t j0 = 0; j0 < m; j0 += B)
      for (size_t i = i0; i < i0 + B && i < n; i++)
        for (size_t j = j0; j < j0 + B && j < m; j++) w->Ct[j * n + i] = w->C[i * m + j];
  double cmax = 0;
  for (size_t k = 0; k < n * m; k++)
    if (w->C[k] > cmax) cmax = w->C[k];
  w->cmax = cmax;
  w->has_cost = 1;
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

/* log Σ_j exp(in_j − row_j/ε) for every row of an nr × nc matrix. */
static void lse_rows(fpk_ot_dense *w, const double *M, size_t nr, size_t nc, double eps,
                     const double *in, double *out) {
  const double inv = 1 / eps;
  const size_t nm = w->n > w->m ? w->n : w->m;
#pragma omp parallel num_threads((int)w->nthreads) if (w->n * w->m >= OT_PARALLEL_MIN)
  {
    double *t = w->tmp + (size_t)omp_get_thread_num() * nm;
#pragma omp for schedule(static)
    for (size_t i = 0; i < nr; i++) {
      const double *row = M + i * nc;
      double mx = -INFINITY;
      for (size_t j = 0; j < nc; j++) {
        t[j] = in[j] - row[j] * inv;
        mx = t[j] > mx ? t[j] : mx;
      }
      if (mx == -INFINITY) {
        out[i] = -INFINITY;
        continue;
      }
      for (size_t j = 0; j < nc; j++) t[j] -= mx;
      fpk_vexp(nc, t, t);
      double s = 0;
      for (size_t j = 0; j < nc; j++) s += t[j];
      out[i] = mx + log(s);
    }
  }
}

static int dense_lse(void *ctx, int dir, double eps, const double *in, double *out,
                     fpk_error *err) {
  (void)err;
  fpk_ot_dense *w = ctx;
  if (dir == 0)
    lse_rows(w, w->C, w->n, w->m, eps, in, out);
  else
    lse_rows(w, w->Ct, w->m, w->n, eps, in, out);
  return 0;
}

/* ⟨π, C⟩ = Σ_i Σ_j exp(log a_i + f_i/ε + log b_j + g_j/ε − C_ij/ε) C_ij, row by row. */
static int dense_cost(void *ctx, double eps, const double *f, const double *g, const double *row,
                      const double *col, double *cost, fpk_error *err) {
  (void)row;
  (void)col;
  (void)err;
  fpk_ot_dense *w = ctx;
  const size_t n = w->n, m = w->m, nm = n > m ? n : m;
  const double inv = 1 / eps;
  double *in = w->W.in_a; /* m */
  for (size_t j = 0; j < m; j++) in[j] = w->logb[j] + g[j] * inv;
#pragma omp parallel num_threads((int)w->nthreads) if (w->n * w->m >= OT_PARALLEL_MIN)
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
    }
  }
  double s = 0;
  for (size_t i = 0; i < n; i++) s += w->rowacc[i];
  *cost = s;
  return FPK_SUCCESS;
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
  /* The largest cost between atoms that carry mass: the default ε_0 of the schedule. */
  double cmax = 0;
  for (size_t i = 0; i < w->n; i++)
    if (w->a[i] > 0)
      for (size_t j = 0; j < w->m; j++)
        if (w->b[j] > 0 && w->C[i * w->m + j] > cmax) cmax = w->C[i * w->m + j];
  ot_problem P = {.n = w->n, .m = w->m, .a = w->a, .b = w->b, .loga = w->loga, .logb = w->logb,
                  .cmax = cmax, .ctx = w, .set_eps = NULL, .lse = dense_lse, .cost = dense_cost};
  return ot_engine_solve(&P, p, f, g, &w->W, r, NULL, 0, &w->err);
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
  *s = res[0].dual - 0.5 * res[1].dual - 0.5 * res[2].dual;
  if (r) memcpy(r, res, sizeof res);
  return FPK_SUCCESS;
}
