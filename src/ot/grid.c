/* Grid Sinkhorn: densities on one fpkit grid, squared Euclidean cost between cell centres
 * (fpkit/ot.h). The engine (sinkhorn.c) sees the kernel only through log-sum-exp products; this
 * file picks a kernel back-end per ε, falls back when one cannot represent ε or refuses a product,
 * and computes the plan's moments and cost from kernel products, never forming the N × N plan.
 *
 * Moments: E_π[x_a (y_b − lo_b)] = Σ_i x_ia a_i e^{f_i/ε} Σ_j K_ij b_j e^{g_j/ε} (y_jb − lo_b):
 * one product per b with the positive weight y_jb − lo_b folded into the log-domain input.
 * The transport cost follows from the moments, ⟨π, |x − y|²⟩ = Σ_a E x_a² + E y_a² − 2 E x_a y_a,
 * in coordinates centred on the box so the cancellation stays at rounding level.
 *
 * Large ε (ε >= 2 Σ_a max|x_a − m_a| max|y_a − m_b|, the centred cost's scale): the solve runs in
 * the centred representation of ot_internal.h with the bilinear cost −2(x − m_a)·(y − m_b) and the
 * separable products of grid_centred.c instead of a kernel back-end, so that the potentials, the
 * value's ε-dependent part and the cross-covariance keep their digits as ε → ∞.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot/ot_internal.h"

#define GRID_LOG_CAP 16384

/* The back-ends in fallback order: the public ones (fpk_ot_kernel_types: fft, blas, lse, band)
 * and, between blas and band, the internal blas-lines product (kernel_lines.c), which only the
 * automatic choice uses (grid_lines_allowed). blas-lines comes before band because it accepts
 * more products (one shift per line where band, like blas, has one for the field): after blas
 * refused a product band would refuse it too. */
#define GRID_NCHAIN 5
enum { K_FFT, K_BLAS, K_LINES, K_BAND, K_LSE };
static const ot_kernel_impl *const chain[GRID_NCHAIN] = {
    &ot_kernel_fft, &ot_kernel_blas, &ot_kernel_lines, &ot_kernel_band, &ot_kernel_lse};

/* The automatic choice uses blas-lines on grids of at least this many cells, fft's threshold.
 * Below it an lse product costs about a millisecond or less (64²: 1.0 ms against 0.05 ms by
 * blas-lines) and is exact to rounding, so small problems keep the exact path. */
#define GRID_LINES_MIN_CELLS 4096

struct fpk_ot_grid {
  fpk_grid g;
  size_t N;
  const ot_kernel_impl *requested; /* NULL: automatic */
  void *state[GRID_NCHAIN];        /* per back-end, allocated on first use */
  int active;                      /* index into chain[] */
  double accuracy, eps;
  size_t fallbacks;
  double *a, *b, *loga, *logb, *xc; /* xc: centred coordinates, dim × N */
  double *t1, *t2;                  /* N each */
  double refused_at[GRID_NCHAIN];   /* per back-end: the largest ε it refused in this solve */
  ot_centred *cen;                  /* centred products (allocated on first use) */
  int centred;                      /* the current solve / moments use them */
  ot_engine_work W;
  char log[GRID_LOG_CAP];
  fpk_error err;
};

static void grid_log(fpk_ot_grid *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void grid_log(fpk_ot_grid *w, const char *fmt, ...) {
  size_t len = strlen(w->log);
  if (len + 1 >= GRID_LOG_CAP) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->log + len, GRID_LOG_CAP - len, fmt, ap);
  va_end(ap);
}

static int kernel_index(const fpk_ot_kernel_type *t) {
  for (int k = 0; fpk_ot_kernel_types[k]; k++)
    if (fpk_ot_kernel_types[k] == t)
      for (int c = 0; c < GRID_NCHAIN; c++)
        if (&chain[c]->pub == t) return c;
  return -1;
}

void fpk_ot_grid_free(fpk_ot_grid *w) {
  if (!w) return;
  for (int k = 0; k < GRID_NCHAIN; k++)
    if (w->state[k]) chain[k]->free(w->state[k]);
  free(w->a);
  free(w->b);
  free(w->loga);
  free(w->logb);
  free(w->xc);
  free(w->t1);
  free(w->t2);
  ot_centred_free(w->cen);
  ot_engine_work_free(&w->W);
  free(w);
}

fpk_ot_grid *fpk_ot_grid_alloc(const fpk_grid *g, const fpk_ot_kernel_type *kernel,
                               fpk_error *err) {
  if (kernel && kernel_index(kernel) < 0) {
    fpk_error_set(err, FPK_EINVAL, "ot: unknown kernel back-end");
    return NULL;
  }
  fpk_ot_grid *w = calloc(1, sizeof *w);
  if (!w) goto nomem;
  w->g = *g;
  w->N = g->size;
  w->requested = kernel ? OT_KERNEL_IMPL(kernel) : NULL;
  w->active = -1;
  const size_t N = w->N;
  w->a = malloc(N * sizeof(double));
  w->b = malloc(N * sizeof(double));
  w->loga = malloc(N * sizeof(double));
  w->logb = malloc(N * sizeof(double));
  w->xc = malloc(g->dim * N * sizeof(double));
  w->t1 = malloc(N * sizeof(double));
  w->t2 = malloc(N * sizeof(double));
  if (!w->a || !w->b || !w->loga || !w->logb || !w->xc || !w->t1 || !w->t2 ||
      ot_engine_work_alloc(&w->W, N, N))
    goto nomem;
  double x[FPK_MAX_DIM];
  for (size_t c = 0; c < N; c++) {
    fpk_grid_point(g, c, x);
    for (size_t a = 0; a < g->dim; a++) w->xc[a * N + c] = x[a] - 0.5 * (g->lo[a] + g->hi[a]);
  }
  return w;
nomem:
  fpk_ot_grid_free(w);
  fpk_error_set(err, FPK_ENOMEM, "ot: out of memory for a grid of %zu cells", g->size);
  return NULL;
}

/* Whether the automatic choice may use blas-lines at ε: never for a back-end asked for by name
 * (those fall back along the public order fft → blas → lse), only on grids of
 * >= GRID_LINES_MIN_CELLS cells, and not at an ε at or below one where it refused in this solve
 * (the rule of auto_kernel). No lower limit on ε: every output it returns is certified, and where
 * too many are not it refuses once and lse takes over. */
static int grid_lines_allowed(const fpk_ot_grid *w, double eps) {
  return !w->requested && w->N >= GRID_LINES_MIN_CELLS && !(eps <= w->refused_at[K_LINES]);
}

/* The automatic choice's cost model: predicted single-thread nanoseconds per product, with
 * constants measured once on the reference machine by `bench_ot_grid calibrate` (a least-squares
 * fit of product times on 1D and 2D grids; bench/run_ot_grid.sh, docs/performance.md, "Grid
 * Sinkhorn kernels vs POT") and written here, so that the choice, and with it every result,
 * depends only on the problem (grid, ε), never on a timing or the thread count. Per product of
 * N cells:
 *   fft:  GRID_COST_FFT · N · log2 N                 (FFTW on the zero-padded grid)
 *   blas: GRID_COST_GEMM · N · Σ_a n_a + GRID_COST_ELEM · N   (dgemm per axis, exp/log/check;
 *         GRID_COST_GEMV instead on an axis with fewer than 8 lines, N/n_a < 8: a matrix-vector
 *         product, bound by memory bandwidth once the n_a × n_a matrix leaves the cache)
 *   band: N · (GRID_COST_BAND0 · m_0 + GRID_COST_BANDS · Σ_{a>=1} m_a) + GRID_COST_ELEM · N
 *         (m_a = min(n_a, 2 r_a + 1) terms per output; the strided passes cost more per term)
 *   blas-lines: blas + GRID_COST_LINE · N per axis (an exp and a log per pass)
 * They are valid where their own set-up tests accept (fft: the rule below; blas:
 * ot_blas_accepts_eps; band: every ε; blas-lines: grid_lines_allowed) and certify the same
 * accuracy (1e-2·tol), so choosing among them changes a result only within that accuracy. Reference machine: 2-core Intel Xeon (AVX-512),
 * 2026-12-07. */
#define GRID_COST_FFT 1.55
#define GRID_COST_GEMM 0.0347
#define GRID_COST_GEMV 0.257
#define GRID_COST_BAND0 0.05
#define GRID_COST_BANDS 0.1
#define GRID_COST_ELEM 6.25
#define GRID_COST_LINE 1.9

static double cost_band(const fpk_grid *g, double eps) {
  double s = 0;
  for (size_t a = 0; a < g->dim; a++) {
    const size_t r = ot_band_radius(g->n[a], g->h[a], eps);
    const double m = (double)(2 * r + 1 < g->n[a] ? 2 * r + 1 : g->n[a]);
    s += m * (a ? GRID_COST_BANDS : GRID_COST_BAND0);
  }
  return (double)g->size * (s + GRID_COST_ELEM);
}

static double cost_blas(const fpk_grid *g) {
  double s = 0;
  for (size_t a = 0; a < g->dim; a++)
    s += (double)g->n[a] * (g->size / g->n[a] < 8 ? GRID_COST_GEMV : GRID_COST_GEMM);
  return (double)g->size * (s + GRID_COST_ELEM);
}

static double cost_fft(const fpk_grid *g) {
  const double N = (double)g->size;
  return GRID_COST_FFT * N * log2(N);
}

/* The automatic rule (fpkit/ot.h): among the back-ends valid at ε — fft while the Gibbs kernel
 * stays above 1e-6 across the box on grids of 4096 cells or more, blas wherever its own set_eps
 * test accepts ε (ot_blas_accepts_eps: no kernel entry below e^{−690}), blas-lines where
 * grid_lines_allowed, band at every ε — the one with the smallest predicted cost (above; ties to
 * the earlier in fallback order); lse when all of them refused. A back-end that refused ε (at set-up or on a
 * product) earlier in this solve is not chosen again at that ε or any smaller one (a smaller ε
 * only makes its outputs smaller), so a solve falls back at most once per back-end instead of at
 * every stage. */
static int auto_kernel(const fpk_ot_grid *w, double eps) {
  double L2 = 0;
  for (size_t a = 0; a < w->g.dim; a++) {
    double L = w->g.hi[a] - w->g.lo[a];
    if (L * L > L2) L2 = L * L;
  }
  int best = -1;
  double best_cost = INFINITY;
  if (eps >= L2 / log(1e6) && w->N >= 4096 && !(eps <= w->refused_at[K_FFT]))
    best = K_FFT, best_cost = cost_fft(&w->g);
  if (ot_blas_accepts_eps(&w->g, eps) && !(eps <= w->refused_at[K_BLAS])) {
    const double c = cost_blas(&w->g);
    if (c < best_cost) best = K_BLAS, best_cost = c;
  }
  if (grid_lines_allowed(w, eps)) {
    const double c = cost_blas(&w->g) + GRID_COST_LINE * (double)w->g.dim * (double)w->N;
    if (c < best_cost) best = K_LINES, best_cost = c;
  }
  if (!(eps <= w->refused_at[K_BAND])) {
    const double c = cost_band(&w->g, eps);
    if (c < best_cost) best = K_BAND, best_cost = c;
  }
  return best >= 0 ? best : K_LSE;
}

/* For tests and benchmarks (ot_internal.h): the back-end the automatic rule picks first at ε on
 * grid g in a fresh solve. */
const fpk_ot_kernel_type *ot_grid_auto_choice(const fpk_grid *g, double eps) {
  fpk_ot_grid w;
  memset(&w, 0, sizeof w);
  w.g = *g;
  w.N = g->size;
  return &chain[auto_kernel(&w, eps)]->pub;
}

/* Makes back-end k ready at ε: 0, or 1 when it refuses (the reason is logged), or −status on a
 * fatal error (in err). */
static int try_kernel(fpk_ot_grid *w, int k, double eps, fpk_error *err) {
  const ot_kernel_impl *K = chain[k];
  if (!w->state[k] && !(w->state[k] = K->alloc(&w->g, err))) return -FPK_ENOMEM;
  fpk_error e = {0};
  int rc = K->set_eps(w->state[k], eps, w->accuracy, &e);
  if (rc > 0) {
    grid_log(w, "  eps %-10.4g %s refused: %s\n", eps, K->pub.name, e.msg);
    w->refused_at[k] = fmax(w->refused_at[k], eps);
    return 1;
  }
  if (rc < 0) {
    fpk_error_copy(err, &e);
    return -(e.status ? e.status : FPK_ENUMERIC);
  }
  return 0;
}

/* Activates the first back-end from `from` on (in fallback order, blas-lines only where
 * grid_lines_allowed, band only for the automatic choice or where named: a named fft or blas
 * falls back along the public order fft → blas → lse) that accepts ε; a refusal on the way
 * counts one fallback. */
static int activate(fpk_ot_grid *w, int from, double eps, fpk_error *err) {
  int refused = 0;
  for (int k = from; k < GRID_NCHAIN; k++) {
    if (k == K_LINES && !grid_lines_allowed(w, eps)) continue;
    if (k == K_BAND && w->requested && w->requested != &ot_kernel_band) continue;
    int rc = try_kernel(w, k, eps, err);
    if (rc < 0) return -rc;
    if (rc == 0) {
      if (refused) w->fallbacks++;
      w->active = k;
      w->eps = eps;
      return 0;
    }
    refused = 1;
  }
  return fpk_error_set(err, FPK_ENUMERIC, "ot: no kernel back-end accepts eps = %g", eps);
}

static int grid_set_eps(void *ctx, double eps, fpk_error *err) {
  fpk_ot_grid *w = ctx;
  int first = w->requested ? kernel_index(&w->requested->pub) : auto_kernel(w, eps);
  int rc = activate(w, first, eps, err);
  if (!rc)
    grid_log(w, "  eps %-10.4g kernel %s\n", eps, chain[w->active]->pub.name);
  return rc;
}

static int grid_lse(void *ctx, int dir, double eps, const double *in, double *out,
                    fpk_error *err) {
  (void)dir; /* one grid, symmetric cost: both directions are the same product */
  fpk_ot_grid *w = ctx;
  if (w->active < 0 || w->eps != eps) {
    int rc = grid_set_eps(w, eps, err);
    if (rc) return rc;
  }
  for (;;) {
    const ot_kernel_impl *K = chain[w->active];
    fpk_error e = {0};
    int rc = K->apply(w->state[w->active], in, out, &e);
    if (rc == 0) return 0;
    if (rc < 0) {
      fpk_error_copy(err, &e);
      return e.status ? e.status : FPK_ENUMERIC;
    }
    grid_log(w, "  eps %-10.4g %s refused a product: %s\n", eps, K->pub.name, e.msg);
    w->refused_at[w->active] = fmax(w->refused_at[w->active], eps);
    if (w->active + 1 >= GRID_NCHAIN)
      return fpk_error_set(err, FPK_ENUMERIC, "ot: the last kernel back-end refused: %s", e.msg);
    const size_t before = w->fallbacks;
    rc = activate(w, w->active + 1, eps, err);
    if (rc) return rc;
    w->fallbacks = before + 1; /* one per refused product, however many refuse after it */
    grid_log(w, "  eps %-10.4g kernel %s\n", eps, chain[w->active]->pub.name);
  }
}

/* E_π[x_a y_b] (centred coordinates) for the plan of (f, g), and E x_a, E y_b, with r, c the row
 * and column sums. */
static int cross_moments(fpk_ot_grid *w, double eps, const double *f, const double *g,
                         const double *r, const double *c, double *exy, fpk_error *err) {
  const size_t N = w->N, d = w->g.dim;
  const double inv = 1 / eps;
  for (size_t bax = 0; bax < d; bax++) {
    /* y_b − lo_b > 0 in centred coordinates: lo_b = −L_b/2 */
    const double lo = -0.5 * (w->g.hi[bax] - w->g.lo[bax]);
    const double *y = w->xc + bax * N;
    for (size_t j = 0; j < N; j++) w->t1[j] = w->logb[j] + g[j] * inv + log(y[j] - lo);
    int rc = grid_lse(w, 0, eps, w->t1, w->t2, err);
    if (rc) return rc;
    double ey = 0;
    for (size_t i = 0; i < N; i++) ey += r[i] * w->xc[bax * N + i];
    (void)c;
    for (size_t aax = 0; aax < d; aax++) {
      const double *x = w->xc + aax * N;
      double s = 0, ex = 0;
      for (size_t i = 0; i < N; i++) {
        if (w->a[i] > 0) s += x[i] * exp(w->loga[i] + f[i] * inv + w->t2[i]);
        ex += r[i] * x[i];
      }
      (void)ey;
      exy[aax * d + bax] = s + lo * ex; /* E[x_a (y_b − lo)] + lo E[x_a] */
    }
  }
  return FPK_SUCCESS;
}

static int grid_cost(void *ctx, double eps, const double *f, const double *g, const double *r,
                     const double *c, double *cost, fpk_error *err) {
  fpk_ot_grid *w = ctx;
  const size_t N = w->N, d = w->g.dim;
  double exy[FPK_MAX_DIM * FPK_MAX_DIM];
  int rc = cross_moments(w, eps, f, g, r, c, exy, err);
  if (rc) return rc;
  double s = 0;
  for (size_t a = 0; a < d; a++) {
    const double *x = w->xc + a * N;
    double ex2 = 0, ey2 = 0;
    for (size_t i = 0; i < N; i++) {
      ex2 += r[i] * x[i] * x[i];
      ey2 += c[i] * x[i] * x[i];
    }
    s += ex2 + ey2 - 2 * exy[a * d + a];
  }
  *cost = s;
  return FPK_SUCCESS;
}

/* ---- centred representation (large ε) ------------------------------------------------------ */

/* Sets up the centring for the weights in w->a, w->b and decides whether ε uses it. */
static int centre(fpk_ot_grid *w, double eps) {
  if (!w->cen && !(w->cen = ot_centred_alloc(&w->g, &w->err))) return w->err.status;
  ot_centred_setup(w->cen, w->a, w->b);
  w->centred = !ot_test_force_standard && ot_centred_applies(w->cen, eps);
  return FPK_SUCCESS;
}

static int grid_set_eps_centred(void *ctx, double eps, fpk_error *err) {
  fpk_ot_grid *w = ctx;
  int rc = ot_centred_set_eps(w->cen, eps, err);
  if (!rc)
    grid_log(w, "  eps %-10.4g centred large-eps products (rho = %.3g)\n", eps,
             ot_centred_scale(w->cen) / eps);
  return rc;
}

static int grid_pert(void *ctx, int dir, double eps, const double *pot, double *out,
                     fpk_error *err) {
  fpk_ot_grid *w = ctx;
  int rc = ot_centred_set_eps(w->cen, eps, err);
  return rc ? rc : ot_centred_half(w->cen, dir, pot, out);
}

/* ⟨π, C̃⟩ = −2 Σ_a E_π[x̃_a ỹ_a]. */
static int grid_cost_centred(void *ctx, double eps, const double *f, const double *g,
                             const double *r, const double *c, double *cost, fpk_error *err) {
  (void)r;
  (void)c;
  fpk_ot_grid *w = ctx;
  const size_t d = w->g.dim;
  double exy[FPK_MAX_DIM * FPK_MAX_DIM];
  int rc = ot_centred_set_eps(w->cen, eps, err);
  if (!rc) rc = ot_centred_cross(w->cen, f, g, exy);
  if (rc) return rc;
  double s = 0;
  for (size_t a = 0; a < d; a++) s += exy[a * d + a];
  *cost = -2 * s;
  return FPK_SUCCESS;
}

static void grid_method(void *ctx, char *buf, size_t cap) {
  const fpk_ot_grid *w = ctx;
  if (w->centred)
    snprintf(buf, cap, "grid, centred large-eps products");
  else
    snprintf(buf, cap, "grid, kernel %s",
             w->active >= 0 ? chain[w->active]->pub.name : "(none)");
}

static int prepare(fpk_ot_grid *w, const double *a, const double *b, const fpk_ot_params *p,
                   fpk_ot_result *r) {
  int rc = ot_check_params(p, &w->err);
  if (rc) return rc;
  return ot_prepare_marginals(w->N, a, w->N, b, p, w->a, w->b, w->loga, w->logb, r, &w->err);
}

static double support_cmax(const fpk_ot_grid *w) {
  /* largest |x_i − y_j|² between cells carrying mass: per axis the extreme coordinates */
  double s = 0;
  for (size_t ax = 0; ax < w->g.dim; ax++) {
    const double *x = w->xc + ax * w->N;
    double amin = INFINITY, amax = -INFINITY, bmin = INFINITY, bmax = -INFINITY;
    for (size_t i = 0; i < w->N; i++) {
      if (w->a[i] > 0) amin = fmin(amin, x[i]), amax = fmax(amax, x[i]);
      if (w->b[i] > 0) bmin = fmin(bmin, x[i]), bmax = fmax(bmax, x[i]);
    }
    double dm = fmax(amax - bmin, bmax - amin);
    s += dm * dm;
  }
  return s;
}

int fpk_ot_grid_solve(fpk_ot_grid *w, const double *a, const double *b, const fpk_ot_params *p,
                      double *f, double *g, fpk_ot_result *r) {
  fpk_error_clear(&w->err);
  memset(r, 0, sizeof *r);
  w->log[0] = 0;
  w->fallbacks = 0;
  w->active = -1;
  for (int k = 0; k < GRID_NCHAIN; k++) w->refused_at[k] = 0;
  int rc = prepare(w, a, b, p, r);
  if (!rc) rc = centre(w, p->eps);
  if (rc) return rc;
  w->accuracy = 1e-2 * p->tol;
  size_t hcap = p->max_iter / p->check_every + p->max_iter / 8 + 64;
  if (hcap > w->W.hcap) {
    double *h = realloc(w->W.history, hcap * sizeof *h);
    if (!h) return fpk_error_set(&w->err, FPK_ENOMEM, "ot: out of memory for the error history");
    w->W.history = h;
    w->W.hcap = hcap;
  }
  const double cmax = support_cmax(w);
  ot_problem P = {.n = w->N, .m = w->N, .a = w->a, .b = w->b, .loga = w->loga, .logb = w->logb,
                  .cmax = cmax, .ctx = w, .set_eps = grid_set_eps,
                  .lse = grid_lse, .cost = grid_cost, .base = ot_centred_shift(w->cen),
                  .cscale = cmax, .prod_rel = w->accuracy, .cost_nonneg = 1,
                  .method = grid_method};
  const double *al = ot_centred_alpha(w->cen), *be = ot_centred_beta(w->cen);
  if (w->centred) {
    P.centred = 1;
    P.set_eps = grid_set_eps_centred;
    P.pert = grid_pert;
    P.cost = grid_cost_centred;
    P.alpha = al;
    P.beta = be;
    P.shift = P.base;
    P.cscale = ot_centred_scale(w->cen);
    P.prod_rel = 0; /* the centred products lose only rounding */
    if (p->warm_start)
      for (size_t i = 0; i < w->N; i++) f[i] -= al[i], g[i] -= be[i];
  }
  char elog[GRID_LOG_CAP / 2];
  rc = ot_engine_solve(&P, p, f, g, &w->W, r, elog, sizeof elog, &w->err);
  if (w->centred)
    for (size_t i = 0; i < w->N; i++) f[i] += al[i], g[i] += be[i];
  grid_log(w, "%s", elog);
  return rc;
}

/* Row and column sums of the plan of (f, g) at ε (into t1 → r, W.fh/W.gh as scratch). */
static int plan_marginals(fpk_ot_grid *w, const double *f, const double *g, double eps,
                          double *r, double *c) {
  const size_t N = w->N;
  const double inv = 1 / eps;
  for (size_t j = 0; j < N; j++) w->t1[j] = w->logb[j] + g[j] * inv;
  int rc = grid_lse(w, 0, eps, w->t1, r, &w->err);
  if (rc) return rc;
  for (size_t i = 0; i < N; i++) r[i] = w->a[i] > 0 ? exp(w->loga[i] + f[i] * inv + r[i]) : 0;
  for (size_t i = 0; i < N; i++) w->t1[i] = w->loga[i] + f[i] * inv;
  rc = grid_lse(w, 1, eps, w->t1, c, &w->err);
  if (rc) return rc;
  for (size_t j = 0; j < N; j++) c[j] = w->b[j] > 0 ? exp(w->logb[j] + g[j] * inv + c[j]) : 0;
  return FPK_SUCCESS;
}

static int load_weights(fpk_ot_grid *w, const double *a, const double *b, double eps) {
  fpk_ot_params p;
  fpk_ot_params_init(&p);
  p.eps = eps;
  p.normalize = 1;
  fpk_ot_result r;
  int rc = prepare(w, a, b, &p, &r);
  if (rc) return rc;
  if (w->accuracy <= 0) w->accuracy = 1e-11;
  return grid_set_eps(w, eps, &w->err);
}

int fpk_ot_grid_moments(fpk_ot_grid *w, const double *a, const double *b, const double *f,
                        const double *g, double eps, fpk_ot_moments *mo) {
  fpk_error_clear(&w->err);
  int rc = load_weights(w, a, b, eps);
  if (rc) return rc;
  const size_t N = w->N, d = w->g.dim;
  double *r = w->W.fh, *c = w->W.gh;
  rc = plan_marginals(w, f, g, eps, r, c);
  if (!rc) rc = centre(w, eps);
  if (rc) return rc;
  double exy[FPK_MAX_DIM * FPK_MAX_DIM];
  if (w->centred) {
    /* E_π[x̃ ỹᵀ] from the centred products (its first-order part 2 Cov_a Cov_b/ε would drown in
     * the rounding of E[x yᵀ] − E x E yᵀ); the centred potentials f − α, g − β are accurate to
     * u·|C| absolutely, which is all the first-order products need. */
    const double *al = ot_centred_alpha(w->cen), *be = ot_centred_beta(w->cen);
    for (size_t i = 0; i < N; i++) w->t1[i] = f[i] - al[i], w->t2[i] = g[i] - be[i];
    rc = ot_centred_set_eps(w->cen, eps, &w->err);
    if (!rc) rc = ot_centred_cross(w->cen, w->t1, w->t2, exy);
    /* r − a and c − b, which the kernel products give only to rounding of a and b: W.in_a and
     * W.in_b receive a_i expm1((f̃_i − f̂̃_i)/ε) and b_j expm1((g̃_j − ĝ̃_j)/ε). */
    double *dr = w->W.in_a, *dc = w->W.in_b;
    if (!rc) rc = ot_centred_half(w->cen, 0, w->t2, dr);
    if (!rc) rc = ot_centred_half(w->cen, 1, w->t1, dc);
    for (size_t i = 0; !rc && i < N; i++) {
      dr[i] = w->a[i] > 0 ? w->a[i] * expm1(w->t1[i] / eps + dr[i]) : 0;
      dc[i] = w->b[i] > 0 ? w->b[i] * expm1(w->t2[i] / eps + dc[i]) : 0;
    }
  } else {
    rc = cross_moments(w, eps, f, g, r, c, exy, &w->err);
  }
  if (rc) return rc;
  memset(mo, 0, sizeof *mo);
  mo->dim = d;
  double mass_r = 0, mass_c = 0;
  for (size_t i = 0; i < N; i++) mass_r += r[i], mass_c += c[i];
  double mx[FPK_MAX_DIM], my[FPK_MAX_DIM];
  for (size_t a1 = 0; a1 < d; a1++) {
    const double *x = w->xc + a1 * N;
    double sx = 0, sy = 0;
    for (size_t i = 0; i < N; i++) sx += r[i] * x[i], sy += c[i] * x[i];
    mx[a1] = sx / mass_r;
    my[a1] = sy / mass_c;
    const double centre = 0.5 * (w->g.lo[a1] + w->g.hi[a1]);
    mo->mean_x[a1] = mx[a1] + centre;
    mo->mean_y[a1] = my[a1] + centre;
  }
  for (size_t a1 = 0; a1 < d; a1++)
    for (size_t a2 = 0; a2 < d; a2++) {
      const double *x1 = w->xc + a1 * N, *x2 = w->xc + a2 * N;
      double sx = 0, sy = 0;
      for (size_t i = 0; i < N; i++) {
        sx += r[i] * (x1[i] - mx[a1]) * (x2[i] - mx[a2]);
        sy += c[i] * (x1[i] - my[a1]) * (x2[i] - my[a2]);
      }
      mo->cov_x[a1 * d + a2] = sx / mass_r;
      mo->cov_y[a1 * d + a2] = sy / mass_c;
      /* E[x yᵀ] − E x E yᵀ, over the plan's own mass */
      if (!w->centred) mo->cross[a1 * d + a2] = exy[a1 * d + a2] / mass_r - mx[a1] * my[a2];
    }
  if (w->centred) {
    /* exy = Σ π x̃ ỹᵀ with x̃ = x − m_a, ỹ = y − m_b; E_π x̃ = Σ (r − a) x̃ (Σ a x̃ = 0). */
    double ex[FPK_MAX_DIM], ey[FPK_MAX_DIM];
    for (size_t a1 = 0; a1 < d; a1++) {
      const double *x = w->xc + a1 * N;
      double sx = 0, sy = 0, ma = 0, mb = 0;
      for (size_t i = 0; i < N; i++) ma += w->a[i] * x[i], mb += w->b[i] * x[i];
      for (size_t i = 0; i < N; i++)
        sx += w->W.in_a[i] * (x[i] - ma), sy += w->W.in_b[i] * (x[i] - mb);
      ex[a1] = sx / mass_r;
      ey[a1] = sy / mass_c;
    }
    for (size_t a1 = 0; a1 < d; a1++)
      for (size_t a2 = 0; a2 < d; a2++)
        mo->cross[a1 * d + a2] = exy[a1 * d + a2] / mass_r - ex[a1] * ey[a2];
  }
  return FPK_SUCCESS;
}

int fpk_ot_grid_plan(fpk_ot_grid *w, const double *a, const double *b, const double *f,
                     const double *g, double eps, double *plan) {
  fpk_error_clear(&w->err);
  fpk_ot_params p;
  fpk_ot_params_init(&p);
  p.eps = eps;
  p.normalize = 1;
  fpk_ot_result r;
  int rc = prepare(w, a, b, &p, &r);
  if (rc) return rc;
  const size_t N = w->N, d = w->g.dim;
  for (size_t i = 0; i < N; i++)
    for (size_t j = 0; j < N; j++) {
      double c2 = 0;
      for (size_t ax = 0; ax < d; ax++) {
        double dx = w->xc[ax * N + i] - w->xc[ax * N + j];
        c2 += dx * dx;
      }
      double ab = w->a[i] * w->b[j];
      plan[i * N + j] = ab > 0 ? ab * exp((f[i] + g[j] - c2) / eps) : 0;
    }
  return FPK_SUCCESS;
}

const double *fpk_ot_grid_history(const fpk_ot_grid *w, size_t *n) {
  *n = w->W.hlen;
  return w->W.history;
}
const char *fpk_ot_grid_log(const fpk_ot_grid *w) { return w->log; }
size_t fpk_ot_grid_fallbacks(const fpk_ot_grid *w) { return w->fallbacks; }
const char *fpk_ot_grid_errmsg(const fpk_ot_grid *w) { return w->err.msg; }

int fpk_ot_grid_divergence(fpk_ot_grid *w, const double *a, const double *b,
                           const fpk_ot_params *p, double *s, fpk_ot_result r[3]) {
  const size_t N = w->N;
  double *f = malloc(N * sizeof *f), *g = malloc(N * sizeof *g);
  if (!f || !g) {
    free(f);
    free(g);
    return fpk_error_set(&w->err, FPK_ENOMEM, "ot: out of memory");
  }
  fpk_ot_params q = *p;
  q.warm_start = 0;
  fpk_ot_result res[3];
  const double *pairs[3][2] = {{a, b}, {a, a}, {b, b}};
  int rc = FPK_SUCCESS;
  for (int k = 0; k < 3 && !rc; k++) rc = fpk_ot_grid_solve(w, pairs[k][0], pairs[k][1], &q, f, g, &res[k]);
  free(f);
  free(g);
  if (rc) return rc;
  /* S_ε = |m_a − m_b|² + excess_ab − ½(excess_aa + excess_bb): the bases' combination
   * ⟨a⊗b, C⟩ − ½⟨a⊗a, C⟩ − ½⟨b⊗b, C⟩ is exactly |m_a − m_b|², formed from Σ (a_i − b_i) x_i rather
   * than left to cancel between three nearly equal values (fpkit/ot.h, fpk_ot_result.excess). */
  double sa = 0, sb = 0, energy = 0;
  for (size_t i = 0; i < N; i++) sa += a[i], sb += b[i];
  for (size_t ax = 0; ax < w->g.dim; ax++) {
    const double *x = w->xc + ax * N;
    double dm = 0;
    for (size_t i = 0; i < N; i++) dm += (a[i] / sa - b[i] / sb) * x[i];
    energy += dm * dm;
  }
  *s = energy + (res[0].excess - 0.5 * (res[1].excess + res[2].excess));
  if (r) memcpy(r, res, sizeof res);
  return FPK_SUCCESS;
}
