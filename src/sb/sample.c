/* Monte Carlo sampling of the Schrödinger bridge (fpkit/sb.h, "Sampling"; docs/sb.md).
 *
 * Exact sampler. The static plan of the cell-centred discretisation is π_ij ∝ a_i K_T(x_i, y_j)
 * φ_T(y_j) e^{f_i/ε} with row sums a, in the OT form π_ij ∝ exp(lrow_i + lcol_j − |x_i − y_j|²/ε)
 * (sb_view; for the OU reference ε is the Brownian-form ε' of sb.c's top comment): X_0's cell is
 * drawn from a, X_T's from the row ∝ exp(lcol_j − |x_i − y_j|²/ε), inverted in two stages (outer
 * axis, then inner: draw_xT below), O(n) weights per distinct start cell and per distinct (inner
 * start index, outer end cell), each set exponentiated after subtracting its maximum (no
 * underflow).
 * Points are uniform in their cells, and the reference's bridge between (0, X_0) and (T, X_T) is
 * sampled forward in time: given X_{t'} = x' (t' < t < T) and X_T = y, with the transition laws
 * N(κ_1 x', v_1) over t − t' and N(κ_2 x, v_2) over T − t (sb_reference_law), Gaussian
 * conditioning gives
 *   X_t = (κ_1 v_2 x' + κ_2 v_1 y)/(v_2 + κ_2² v_1) + √(v_1 v_2/(v_2 + κ_2² v_1)) Z,
 * the Brownian bridge X_{t'} + (t − t')/(T − t') (y − X_{t'}) + σ√((t − t')(T − t)/(T − t')) Z
 * for θ = 0, where it is evaluated in that form.
 *
 * Euler–Maruyama. x ← x + b(x, t_k) h + σ√h Z with the forward drift tabulated by fpk_sb_drift at
 * every step's left time once for all paths (its cost, a few kernel applications per level, does
 * not grow with the paths), interpolated multilinearly between cell centres. t_k < T always, so
 * the drift at T itself (the end limit) is never used; the last step maps x to about
 * E[X_T | X_{T−h} = x] plus σ√h Z (b h = E_w[y] − x there), never beyond: no instability.
 *
 * Reproducibility: every per-path number is a function of (seed, path) only; paths run in fixed
 * blocks of FPK_MC_BLOCK; histograms are integer counts; means and co-moments are formed per block
 * (two passes over the block's points) and merged in block order (Chan, Golub & LeVeque 1979). */
#include <math.h>
#include <stdio.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "fpkit/sb.h"
#include "sb/sb_internal.h"
#include "ot/ot_internal.h"
#include "sde/sde_internal.h"

/* The solved state, through sb.c's read-only view. */
static sb_view view(fpk_sb *s) {
  sb_view v;
  sb_get_view(s, &v);
  return v;
}

void fpk_sb_sample_params_init(fpk_sb_sample_params *p) {
  memset(p, 0, sizeof *p);
  p->dt = 0.01;
}

void fpk_sb_sample_result_free(fpk_sb_sample_result *r) {
  if (!r) return;
  free(r->t);
  free(r->mass);
  free(r->outside);
  free(r->mean);
  free(r->cov);
  free(r->paths);
  memset(r, 0, sizeof *r);
}

static int check_params(fpk_sb *s, const fpk_sb_sample_params *p, int em, const char *what) {
  fpk_error *err = view(s).err;
  fpk_error_clear(err);
  if (!view(s).solved)
    return fpk_error_set(err, FPK_EINVAL, "sb: %s sampler called before a successful fpk_sb_solve",
                         what);
  const fpk_grid *g = view(s).g;
  if (g->dim > 2)
    return fpk_error_set(err, FPK_EUNSUP, "sb: %s sampler on a %zuD grid: implemented in 1D and "
                         "2D (the cell draws place a point with the two uniforms left in a "
                         "Philox call)", what, g->dim);
  if (p->npaths == 0)
    return fpk_error_set(err, FPK_EINVAL, "sb: %s sampler: npaths = 0: need at least one path",
                         what);
  if (p->nt == 0 || !p->t)
    return fpk_error_set(err, FPK_EINVAL, "sb: %s sampler: nt = %zu output times%s: need at "
                         "least one", what, p->nt, p->t ? "" : " (t = NULL)");
  const double T = view(s).T;
  for (size_t k = 0; k < p->nt; k++) {
    if (!(p->t[k] >= 0 && p->t[k] <= T))
      return fpk_error_set(err, FPK_EINVAL, "sb: %s sampler: output time t[%zu] = %g is outside "
                           "[0, T] = [0, %g]", what, k, p->t[k], T);
    if (k > 0 && p->t[k] < p->t[k - 1])
      return fpk_error_set(err, FPK_EINVAL, "sb: %s sampler: output time t[%zu] = %g < t[%zu] = "
                           "%g: the times must be nondecreasing", what, k, p->t[k], k - 1,
                           p->t[k - 1]);
  }
  if (em && (!(p->dt > 0) || !isfinite(p->dt)))
    return fpk_error_set(err, FPK_EINVAL, "sb: em sampler: dt = %g must be positive and finite",
                         p->dt);
  return FPK_SUCCESS;
}

static int alloc_result(const fpk_sb_sample_params *p, const fpk_grid *g,
                        fpk_sb_sample_result *r) {
  memset(r, 0, sizeof *r);
  const size_t nt = p->nt, d = g->dim;
  r->nt = nt, r->dim = d, r->cells = g->size, r->npaths = p->npaths;
  r->kept = p->keep_paths < p->npaths ? p->keep_paths : p->npaths;
  r->t = malloc(nt * sizeof(double));
  r->mass = calloc(nt * g->size, sizeof(double));
  r->outside = calloc(nt, sizeof(double));
  r->mean = calloc(nt * d, sizeof(double));
  r->cov = calloc(nt * d * d, sizeof(double));
  r->paths = r->kept ? malloc(r->kept * nt * d * sizeof(double)) : NULL;
  if (!r->t || !r->mass || !r->outside || !r->mean || !r->cov || (r->kept && !r->paths)) {
    fpk_sb_sample_result_free(r);
    return FPK_ENOMEM;
  }
  memcpy(r->t, p->t, nt * sizeof(double));
  r->kl_mc = r->kl_mc_se = r->kl_mc_energy = r->kl_mc_energy_se = NAN; /* set by EM only */
  return FPK_SUCCESS;
}

/* The cell whose cumulative weight first exceeds u·total (u from the top 53 bits of (w0, w1)),
 * never past `last`, the last cell of positive weight: fpk_mc_initial_cells' inversion. */
static size_t invert_cdf(const double *cdf, size_t n, size_t last, uint32_t w0, uint32_t w1) {
  const uint64_t bits = ((uint64_t)w0 << 21) | (w1 >> 11);
  const double target = ((double)bits + 0.5) * 0x1p-53 * cdf[n - 1];
  size_t lo = 0, hi = n - 1;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (cdf[mid] > target) hi = mid;
    else lo = mid + 1;
  }
  return lo > last ? last : lo;
}

/* A point uniform in cell c from the words u[0..dim-1] (fpk_mc_initial_cells' formula). */
static void point_in_cell(const fpk_grid *g, size_t c, const uint32_t *u, double *x) {
  for (size_t a = 0; a < g->dim; a++) {
    const size_t ia = c % g->n[a];
    c /= g->n[a];
    x[a] = g->lo[a] + ((double)ia + ((double)u[a] + 0.5) * 0x1p-32) * g->h[a];
  }
}

/* Cell of point x, or SIZE_MAX outside the box (the upper walls belong to the last cells). */
static size_t cell_of(const fpk_grid *g, const double *x) {
  size_t c = 0, stride = 1;
  for (size_t a = 0; a < g->dim; a++) {
    if (!(x[a] >= g->lo[a] && x[a] <= g->hi[a])) return SIZE_MAX;
    size_t ia = (size_t)((x[a] - g->lo[a]) / g->h[a]);
    if (ia >= g->n[a]) ia = g->n[a] - 1;
    c += ia * stride;
    stride *= g->n[a];
  }
  return c;
}

/* Per-block statistics of output k: count, mean (dim), co-moment (dim × dim), from nb points
 * x[i*dim + a]. */
static void block_moments(const double *x, size_t nb, size_t d, double *st) {
  double m[2] = {0, 0};
  for (size_t i = 0; i < nb; i++)
    for (size_t a = 0; a < d; a++) m[a] += x[i * d + a];
  for (size_t a = 0; a < d; a++) m[a] /= (double)nb;
  double *M = st + 1 + d;
  memset(M, 0, d * d * sizeof(double));
  for (size_t i = 0; i < nb; i++)
    for (size_t a = 0; a < d; a++)
      for (size_t b = 0; b < d; b++) M[a * d + b] += (x[i * d + a] - m[a]) * (x[i * d + b] - m[b]);
  st[0] = (double)nb;
  for (size_t a = 0; a < d; a++) st[1 + a] = m[a];
}

/* Merge block statistics in block order into r (Chan et al.'s pairwise update). */
static void reduce_moments(const double *st, size_t nblocks, size_t nt, size_t d,
                           fpk_sb_sample_result *r) {
  const size_t ns = 1 + d + d * d;
  for (size_t k = 0; k < nt; k++) {
    double n = 0, m[2] = {0, 0}, M[4] = {0, 0, 0, 0};
    for (size_t b = 0; b < nblocks; b++) {
      const double *s = st + (b * nt + k) * ns;
      const double nb = s[0], nn = n + nb;
      double dl[2];
      for (size_t a = 0; a < d; a++) dl[a] = s[1 + a] - m[a];
      for (size_t a = 0; a < d; a++)
        for (size_t c = 0; c < d; c++) M[a * d + c] += s[1 + d + a * d + c] + dl[a] * dl[c] * n * nb / nn;
      for (size_t a = 0; a < d; a++) m[a] += dl[a] * nb / nn;
      n = nn;
    }
    for (size_t a = 0; a < d; a++) r->mean[k * d + a] = m[a];
    for (size_t q = 0; q < d * d; q++) r->cov[k * d * d + q] = n > 1 ? M[q] / (n - 1) : 0;
  }
}

/* Per-block output: the points of the block at output k are xs[(k*nb + i)*d + a]; histogram
 * counts into cnt (per thread), statistics into st, the kept paths into r. */
static void block_outputs(const fpk_grid *g, size_t nt, size_t p0, size_t nb, const double *xs,
                          uint64_t *cnt, uint64_t *out, double *st, fpk_sb_sample_result *r) {
  const size_t d = g->dim, ns = 1 + d + d * d;
  for (size_t k = 0; k < nt; k++) {
    const double *x = xs + k * nb * d;
    for (size_t i = 0; i < nb; i++) {
      const size_t c = cell_of(g, x + i * d);
      if (c == SIZE_MAX) out[k]++;
      else cnt[k * g->size + c]++;
      if (p0 + i < r->kept)
        memcpy(r->paths + ((p0 + i) * nt + k) * d, x + i * d, d * sizeof(double));
    }
    block_moments(x, nb, d, st + k * ns);
  }
}

static void finish(const fpk_grid *g, size_t nt, size_t npaths, const uint64_t *cnt,
                   const uint64_t *out, const double *st, size_t nblocks,
                   fpk_sb_sample_result *r) {
  for (size_t q = 0; q < nt * g->size; q++) r->mass[q] = (double)cnt[q] / (double)npaths;
  for (size_t k = 0; k < nt; k++) r->outside[k] = (double)out[k] / (double)npaths;
  reduce_moments(st, nblocks, nt, g->dim, r);
}

static int nomem(fpk_sb *s, const char *what) {
  return fpk_error_set(view(s).err, FPK_ENOMEM, "sb: %s sampler: out of memory", what);
}

/* X_0 of paths p0 .. p0 + nb − 1 (x0[i*d + a]) and their cells, from Philox call 0. */
static void draw_x0(uint64_t seed, size_t p0, size_t nb, const fpk_grid *g, const double *cdf,
                    size_t last, double *x0, size_t *cell, uint32_t *w) {
  fpk_philox_soa(seed, p0, nb, 0, w, nb);
  for (size_t i = 0; i < nb; i++) {
    const size_t c = invert_cdf(cdf, g->size, last, w[i], w[nb + i]);
    const uint32_t u[2] = {w[2 * nb + i], w[3 * nb + i]};
    point_in_cell(g, c, u, x0 + i * g->dim);
    if (cell) cell[i] = c;
  }
}

/* ---- X_T given X_0's cell --------------------------------------------------------------------
 * The row of the plan for the start cell i = (i0, i1) (1D: n1 = 1, i1 = y1 = 0) is
 *   π(i, y) ∝ K_0(x_i0, y0) K_1(x_i1, y1) φ_T(y0, y1),   K_a(x, y) = exp(−(x − y)²/ε),
 * and the cell of X_T is its inverse CDF at the path's 53-bit uniform u, cells in index order
 * y = y0 + n0·y1 (y1 the outer axis). Inverting that CDF is the same as inverting it in two
 * stages with the same u (exact arithmetic): first y1 from the marginal of the outer axis,
 *   m(y1) ∝ K_1(x_i1, y1) exp(U[y1][i0]),   U[y1][i0] = log Σ_y0 K_0(x_i0, y0) φ_T(y0, y1),
 * at target u·Σm, then y0 from the conditional ∝ K_0(x_i0, y0) φ_T(y0, y1) at the same target's
 * position inside y1's interval, ρ = (u·Σm − M(y1 − 1))/m(y1) ∈ [0, 1) (M the cumulative sum).
 * U is one axis-0 pass of the propagation (ot_grid_propagate_axis, relative accuracy 1e-13 on
 * the weights m), made once; the marginal depends on the start cell (n1 weights), the
 * conditional on (i0, y1) only (n0 weights), so the paths are grouped twice (by start cell, then
 * by (i0, y1)) and every weight vector is formed once: O(n0 n1 (n0 + n1)) = O(N^{3/2}) work plus
 * O(log n) per path, instead of O(N) per distinct start cell (O(N²) at worst). Per path, the
 * result depends only on its uniform and these tables: the same for any thread count.
 * tests/test_sb_sample.c checks every path's cell against the inverse of the full row CDF. */
#define SB_XT_ACCURACY 1e-13

/* First index whose cumulative weight exceeds target, never past `last` (the last positive). */
static size_t invert_target(const double *cdf, size_t n, size_t last, double target) {
  size_t lo = 0, hi = n - 1;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (cdf[mid] > target) hi = mid;
    else lo = mid + 1;
  }
  return lo > last ? last : lo;
}

/* cdf = cumulative sums of exp(logw − max) (n values, logw overwritten); *last = the last index
 * of positive weight. logw has at least one finite entry. */
static void weights_cdf(double *logw, size_t n, double *cdf, size_t *last) {
  double mx = -INFINITY;
  for (size_t j = 0; j < n; j++) mx = logw[j] > mx ? logw[j] : mx;
  double acc = 0;
  *last = 0;
  for (size_t j = 0; j < n; j++) {
    const double wj = exp(logw[j] - mx); /* −∞ gives 0 */
    if (wj > 0) *last = j;
    acc += wj;
    cdf[j] = acc;
  }
}

static int draw_xT(fpk_sb *s, const fpk_sb_sample_params *p, const size_t *cell0,
                   const size_t *count, const size_t *order, int nth, double *xT) {
  const fpk_grid *g = view(s).g;
  const size_t N = g->size, d = g->dim, np = p->npaths;
  const size_t n0 = g->n[0], n1 = d > 1 ? g->n[1] : 1;
  const double eps = view(s).eps, h1 = d > 1 ? g->h[1] : 0;
  const double *lphiT = view(s).lcol; /* the plan's column weights in OT form (sb_view) */
  fpk_error e = {0};
  ot_propagator *P = ot_propagator_alloc(g, 0, &e);
  double *U = malloc(N * sizeof(double)), *rho = malloc(np * sizeof(double));
  uint32_t *y1s = malloc(np * sizeof(uint32_t));
  size_t *count2 = calloc(N + 1, sizeof(size_t)), *order2 = malloc(np * sizeof(size_t));
  size_t *pos = malloc(N * sizeof(size_t));
  int rc = FPK_SUCCESS, fail = 0;
  if (!P || !U || !rho || !y1s || !count2 || !order2 || !pos) {
    rc = P ? nomem(s, "exact")
           : fpk_error_set(view(s).err, e.status, "sb: exact sampler: %s", e.msg);
    goto done;
  }
  if ((rc = ot_grid_propagate_axis(P, 0, 0, eps, NULL, SB_XT_ACCURACY, lphiT, U, &e))) {
    rc = fpk_error_set(view(s).err, rc, "sb: exact sampler: %s", e.msg);
    goto done;
  }
  const size_t nmax = n0 > n1 ? n0 : n1;
  /* stage 1: y1 and ρ per path, one marginal per start cell in use */
#pragma omp parallel num_threads(nth)
  {
    double *lw = malloc(nmax * sizeof(double)), *c1 = malloc(nmax * sizeof(double));
    if (!lw || !c1) {
#pragma omp atomic write
      fail = 1;
    }
#pragma omp for schedule(dynamic, 16)
    for (size_t c = 0; c < N; c++) {
      if (!lw || !c1 || count[c] == count[c + 1]) continue;
      const size_t i0 = c % n0, i1 = c / n0;
      for (size_t y1 = 0; y1 < n1; y1++) {
        const double dx = ((double)i1 - (double)y1) * h1;
        lw[y1] = U[y1 * n0 + i0] - dx * dx / eps;
      }
      size_t last;
      weights_cdf(lw, n1, c1, &last);
      for (size_t k = count[c]; k < count[c + 1]; k++) {
        const size_t q = order[k];
        uint32_t wq[4];
        fpk_philox_soa(p->seed, q, 1, 1, wq, 1);
        const uint64_t bits = ((uint64_t)wq[0] << 21) | (wq[1] >> 11);
        const double target = ((double)bits + 0.5) * 0x1p-53 * c1[n1 - 1];
        const size_t y1 = invert_target(c1, n1, last, target);
        const double below = y1 ? c1[y1 - 1] : 0;
        const double r = (target - below) / (c1[y1] - below);
        y1s[q] = (uint32_t)y1;
        rho[q] = r < 0 ? 0 : r < 1 ? r : 1 - 0x1p-53; /* rounding at the capped end */
      }
    }
    free(lw), free(c1);
  }
  if (fail) {
    rc = nomem(s, "exact");
    goto done;
  }
  /* stage 2: group by (i0, y1), one conditional per group in use */
  for (size_t q = 0; q < np; q++) count2[cell0[q] % n0 + n0 * y1s[q] + 1]++;
  for (size_t c = 0; c < N; c++) count2[c + 1] += count2[c];
  memcpy(pos, count2, N * sizeof(size_t));
  for (size_t q = 0; q < np; q++) order2[pos[cell0[q] % n0 + n0 * y1s[q]]++] = q;
#pragma omp parallel num_threads(nth)
  {
    double *lw = malloc(nmax * sizeof(double)), *c2 = malloc(nmax * sizeof(double));
    if (!lw || !c2) {
#pragma omp atomic write
      fail = 1;
    }
#pragma omp for schedule(dynamic, 16)
    for (size_t key = 0; key < N; key++) {
      if (!lw || !c2 || count2[key] == count2[key + 1]) continue;
      const size_t i0 = key % n0, y1 = key / n0;
      for (size_t y0 = 0; y0 < n0; y0++) {
        const double dx = ((double)i0 - (double)y0) * g->h[0];
        lw[y0] = lphiT[y1 * n0 + y0] - dx * dx / eps;
      }
      size_t last;
      weights_cdf(lw, n0, c2, &last);
      for (size_t k = count2[key]; k < count2[key + 1]; k++) {
        const size_t q = order2[k];
        uint32_t wq[4];
        fpk_philox_soa(p->seed, q, 1, 1, wq, 1);
        const size_t y0 = invert_target(c2, n0, last, rho[q] * c2[n0 - 1]);
        point_in_cell(g, y0 + n0 * y1, wq + 2, xT + q * d);
      }
    }
    free(lw), free(c2);
  }
  if (fail) rc = nomem(s, "exact");
done:
  ot_propagator_free(P);
  free(U), free(rho), free(y1s), free(count2), free(order2), free(pos);
  return rc;
}

int fpk_sb_sample_exact(fpk_sb *s, const fpk_sb_sample_params *p, fpk_sb_sample_result *r) {
  int rc = check_params(s, p, 0, "exact");
  if (rc) return rc;
  if (view(s).ipf)
    return fpk_error_set(view(s).err, FPK_EUNSUP,
                         "sb: exact sampler: the model reference has no closed-form bridges to "
                         "fill the static plan's pairs with; use the Euler-Maruyama sampler");
  const fpk_grid *g = view(s).g;
  const size_t N = g->size, d = g->dim, nt = p->nt, np = p->npaths;
  const double T = view(s).T, sigma = view(s).sigma, theta = view(s).theta;
  const double *a = view(s).a;
  const size_t nblocks = (np + FPK_MC_BLOCK - 1) / FPK_MC_BLOCK, ns = 1 + d + d * d;
  const int nth = p->nthreads > 0 ? p->nthreads : omp_get_max_threads();
  fpk_error tmp = {0};

  double *cdf = malloc(N * sizeof(double));
  double *x0 = malloc(np * d * sizeof(double)), *xT = malloc(np * d * sizeof(double));
  size_t *cell0 = malloc(np * sizeof(size_t)), *count = calloc(N + 1, sizeof(size_t));
  size_t *order = malloc(np * sizeof(size_t));
  uint64_t *cnt = calloc((size_t)nth * nt * N, sizeof(uint64_t));
  uint64_t *out = calloc((size_t)nth * nt, sizeof(uint64_t));
  double *st = malloc(nblocks * nt * ns * sizeof(double));
  uint32_t *w = malloc(4 * FPK_MC_BLOCK * sizeof(uint32_t));
  if (!cdf || !x0 || !xT || !cell0 || !count || !order || !cnt || !out || !st || !w ||
      alloc_result(p, g, r)) {
    free(cdf), free(x0), free(xT), free(cell0), free(count), free(order), free(cnt), free(out);
    free(st), free(w);
    return nomem(s, "exact");
  }
  size_t last;
  rc = fpk_mc_cell_cdf(g, a, cdf, &last, &tmp);
  if (rc) { /* a was validated by the solve; kept for safety */
    fpk_sb_sample_result_free(r);
    free(cdf), free(x0), free(xT), free(cell0), free(count), free(order), free(cnt), free(out);
    free(st), free(w);
    return fpk_error_set(view(s).err, rc, "sb: exact sampler: %s", tmp.msg);
  }
  /* X_0 of every path, and the paths grouped by start cell (counting sort, path order kept) */
  for (size_t p0 = 0; p0 < np; p0 += FPK_MC_BLOCK) {
    const size_t nb = np - p0 < FPK_MC_BLOCK ? np - p0 : FPK_MC_BLOCK;
    draw_x0(p->seed, p0, nb, g, cdf, last, x0 + p0 * d, cell0 + p0, w);
  }
  for (size_t q = 0; q < np; q++) count[cell0[q] + 1]++;
  for (size_t c = 0; c < N; c++) count[c + 1] += count[c];
  {
    size_t *pos = malloc(N * sizeof(size_t));
    if (!pos) {
      fpk_sb_sample_result_free(r);
      free(cdf), free(x0), free(xT), free(cell0), free(count), free(order), free(cnt), free(out);
      free(st), free(w);
      return nomem(s, "exact");
    }
    memcpy(pos, count, N * sizeof(size_t));
    for (size_t q = 0; q < np; q++) order[pos[cell0[q]]++] = q;
    free(pos);
  }
  /* X_T given X_0's cell, in two stages (draw_xT) */
  rc = draw_xT(s, p, cell0, count, order, nth, xT);
  if (rc) {
    fpk_sb_sample_result_free(r);
    free(cdf), free(x0), free(xT), free(cell0), free(count), free(order), free(cnt), free(out);
    free(st), free(w);
    return rc;
  }
  int fail = 0;
  /* the bridges, block by block */
  const size_t ncalls = (nt * d + FPK_RNG_PER_CALL - 1) / FPK_RNG_PER_CALL;
#pragma omp parallel num_threads(nth)
  {
    const int me = omp_get_thread_num();
    double *z = malloc(ncalls * FPK_RNG_PER_CALL * FPK_MC_BLOCK * sizeof(double));
    double *xs = malloc(nt * FPK_MC_BLOCK * d * sizeof(double));
    void *scratch = aligned_alloc(64, FPK_RNG_SCRATCH(FPK_MC_BLOCK));
    if (!z || !xs || !scratch) {
#pragma omp atomic write
      fail = 1;
    }
#pragma omp for schedule(dynamic)
    for (size_t b = 0; b < nblocks; b++) {
      if (!z || !xs || !scratch) continue;
      const size_t p0 = b * FPK_MC_BLOCK, nb = np - p0 < FPK_MC_BLOCK ? np - p0 : FPK_MC_BLOCK;
      /* normals at positions 6 + k·d + c: Philox calls 2 .. 2 + ncalls − 1 */
      fpk_rng_block(p->seed, p0, nb, 2, ncalls, z, nb, scratch);
      for (size_t i = 0; i < nb; i++) {
        double x[2], tp = 0;
        const double *xe = xT + (p0 + i) * d;
        memcpy(x, x0 + (p0 + i) * d, d * sizeof(double));
        for (size_t k = 0; k < nt; k++) {
          const double t = p->t[k];
          if (t == T) {
            memcpy(x, xe, d * sizeof(double));
          } else if (t > tp && theta == 0) {
            const double fr = (t - tp) / (T - tp), sd = sigma * sqrt((t - tp) * (T - t) / (T - tp));
            for (size_t ax = 0; ax < d; ax++)
              x[ax] += fr * (xe[ax] - x[ax]) + sd * z[(k * d + ax) * nb + i];
          } else if (t > tp) {
            double k1, v1, k2, v2;
            sb_reference_law(sigma, theta, t - tp, &k1, &v1);
            sb_reference_law(sigma, theta, T - t, &k2, &v2);
            const double den = v2 + k2 * k2 * v1, sd = sqrt(v1 * v2 / den);
            for (size_t ax = 0; ax < d; ax++)
              x[ax] = (k1 * v2 * x[ax] + k2 * v1 * xe[ax]) / den + sd * z[(k * d + ax) * nb + i];
          }
          tp = t;
          memcpy(xs + (k * nb + i) * d, x, d * sizeof(double));
        }
      }
      block_outputs(g, nt, p0, nb, xs, cnt + (size_t)me * nt * N, out + (size_t)me * nt,
                    st + b * nt * ns, r);
    }
    free(z), free(xs), free(scratch);
  }
  if (!fail) {
    for (int th = 1; th < nth; th++) {
      for (size_t q = 0; q < nt * N; q++) cnt[q] += cnt[(size_t)th * nt * N + q];
      for (size_t k = 0; k < nt; k++) out[k] += out[(size_t)th * nt + k];
    }
    finish(g, nt, np, cnt, out, st, nblocks, r);
  }
  free(cdf), free(x0), free(xT), free(cell0), free(count), free(order), free(cnt), free(out);
  free(st), free(w);
  if (fail) {
    fpk_sb_sample_result_free(r);
    return nomem(s, "exact");
  }
  return FPK_SUCCESS;
}

/* Multilinear interpolation of the tabulated drift D (dim × N, component-major) at x; constant
 * beyond the outer cell centres. */
static void interp_drift(const fpk_grid *g, const double *D, const double *x, double *b) {
  const size_t d = g->dim, N = g->size;
  size_t i0[2];
  double fr[2];
  for (size_t a = 0; a < d; a++) {
    const double u = (x[a] - g->lo[a]) / g->h[a] - 0.5;
    const size_t n = g->n[a];
    if (n == 1 || !(u > 0)) i0[a] = 0, fr[a] = 0;
    else if (u >= (double)(n - 1)) i0[a] = n - 2, fr[a] = 1;
    else i0[a] = (size_t)u, fr[a] = u - (double)i0[a];
  }
  for (size_t a = 0; a < d; a++) b[a] = 0;
  for (unsigned corner = 0; corner < (1u << d); corner++) {
    double wgt = 1;
    size_t c = 0, stride = 1;
    for (size_t a = 0; a < d; a++) {
      const unsigned up = (corner >> a) & 1u;
      wgt *= up ? fr[a] : 1 - fr[a];
      c += (i0[a] + (g->n[a] > 1 ? up : 0)) * stride;
      stride *= g->n[a];
    }
    if (wgt == 0) continue;
    for (size_t a = 0; a < d; a++) b[a] += wgt * D[a * N + c];
  }
}

/* The reference's drift f(x, t) at x: −θx (0 for the Brownian reference dX = σ dW). The forward
 * drift tabulated by fpk_sb_drift is f + σ²∇log φ_t and the Girsanov integrand of the KL estimate
 * below u = (b − f)/σ. */
static void reference_drift(fpk_sb *s, const double *x, double t, double *f) {
  const fpk_model *m = view(s).model;
  /* one point: component-major with n = 1 is the plain vector; a failure (the point left the
   * model's domain) leaves NaN, caught by the finiteness check of the estimate */
  if (m) {
    if (m->drift(t, 1, x, f, m->params))
      for (size_t a = 0; a < m->dim; a++) f[a] = NAN;
    return;
  }
  const double theta = view(s).theta; /* f = −θx (0: Brownian) */
  for (size_t a = 0; a < view(s).g->dim; a++) f[a] = -theta * x[a];
}

/* Per-block statistics of the two per-path KL estimators L and E (fpkit/sb.h): count, means and
 * co-moments Σ(L − L̄)², Σ(E − Ē)², two passes over the block's values. */
enum { KLS_N, KLS_ML, KLS_ME, KLS_LL, KLS_EE, KLS_SIZE };
static void block_kl(const double *L, const double *E, size_t nb, double *st) {
  double ml = 0, me = 0, ll = 0, ee = 0;
  for (size_t i = 0; i < nb; i++) ml += L[i], me += E[i];
  ml /= (double)nb, me /= (double)nb;
  for (size_t i = 0; i < nb; i++) ll += (L[i] - ml) * (L[i] - ml), ee += (E[i] - me) * (E[i] - me);
  st[KLS_N] = (double)nb, st[KLS_ML] = ml, st[KLS_ME] = me, st[KLS_LL] = ll, st[KLS_EE] = ee;
}

/* Block statistics merged in block order (Chan, Golub & LeVeque 1979), as reduce_moments. */
static void reduce_kl(const double *st, size_t nblocks, fpk_sb_sample_result *r) {
  double n = 0, ml = 0, me = 0, ll = 0, ee = 0;
  for (size_t b = 0; b < nblocks; b++) {
    const double *q = st + b * KLS_SIZE, nb = q[KLS_N], nn = n + nb;
    const double dl = q[KLS_ML] - ml, de = q[KLS_ME] - me, w = n * nb / nn;
    ll += q[KLS_LL] + dl * dl * w, ee += q[KLS_EE] + de * de * w;
    ml += dl * nb / nn, me += de * nb / nn;
    n = nn;
  }
  r->kl_mc = ml, r->kl_mc_energy = me;
  r->kl_mc_se = n > 1 ? sqrt(ll / (n - 1) / n) : NAN;
  r->kl_mc_energy_se = n > 1 ? sqrt(ee / (n - 1) / n) : NAN;
}

int fpk_sb_sample_em(fpk_sb *s, const fpk_sb_sample_params *p, fpk_sb_sample_result *r) {
  int rc = check_params(s, p, 1, "em");
  if (rc) return rc;
  if (view(s).no_sampling)
    return fpk_error_set(view(s).err, FPK_EUNSUP, "sb: Euler-Maruyama sampler: %s",
                         view(s).no_sampling);
  const fpk_grid *g = view(s).g;
  const size_t N = g->size, d = g->dim, nt = p->nt, np = p->npaths;
  const double sigma = view(s).sigma;
  const size_t nblocks = (np + FPK_MC_BLOCK - 1) / FPK_MC_BLOCK, ns = 1 + d + d * d;
  const int nth = p->nthreads > 0 ? p->nthreads : omp_get_max_threads();
  fpk_error tmp = {0};

  /* the time levels: each output interval split by fpk_time_steps, then [t_last, T] the same way
   * when the last output time is before T: the paths run on to T, so that kl_mc is KL(P* ‖ R) on
   * [0, T] (the quantity fpk_sb_kl_static gives) and not the KL of the path up to t_last (before,
   * output times 0, T/2 gave 1.08 against a static KL of 2.41, exit 0). The extra steps' normals
   * come after the others' (positions 3 + s·dim + c): the outputs are unchanged. */
  size_t nsteps = 0;
  const double Tend = view(s).T;
  const size_t nint = nt + (p->t[nt - 1] < Tend ? 1 : 0); /* intervals, the tail included */
  size_t *nk = malloc(nint * sizeof(size_t));
  double *hk = malloc(nint * sizeof(double));
  if (!nk || !hk) {
    free(nk), free(hk);
    return nomem(s, "em");
  }
  for (size_t k = 0; k < nint; k++) {
    const double t0 = k ? p->t[k - 1] : 0, t1 = k < nt ? p->t[k] : Tend;
    nk[k] = 0, hk[k] = 0;
    if (t1 > t0 && (rc = fpk_time_steps(t0, t1, p->dt, &nk[k], &hk[k], &tmp))) {
      free(nk), free(hk);
      return fpk_error_set(view(s).err, rc, "sb: em sampler: %s", tmp.msg);
    }
    nsteps += nk[k];
  }
  double *tl = malloc((nsteps ? nsteps : 1) * sizeof(double));
  double *hl = malloc((nsteps ? nsteps : 1) * sizeof(double));
  size_t *after = malloc(nt * sizeof(size_t)); /* output k is the state after `after[k]` steps */
  double *D = malloc((nsteps ? nsteps : 1) * d * N * sizeof(double));
  double *cdf = malloc(N * sizeof(double));
  uint64_t *cnt = calloc((size_t)nth * nt * N, sizeof(uint64_t));
  uint64_t *out = calloc((size_t)nth * nt, sizeof(uint64_t));
  double *st = malloc(nblocks * nt * ns * sizeof(double));
  double *klst = malloc(nblocks * KLS_SIZE * sizeof(double)); /* block_kl per block */
  int fail = !tl || !hl || !after || !D || !cdf || !cnt || !out || !st || !klst;
  if (!fail && alloc_result(p, g, r)) fail = 1;
#define EM_FREE() \
  (free(nk), free(hk), free(tl), free(hl), free(after), free(D), free(cdf), free(cnt), free(out), \
   free(st), free(klst))
  if (fail) {
    EM_FREE();
    return nomem(s, "em");
  }
  r->nsteps = nsteps;
  for (size_t k = 0, l = 0; k < nint; k++) {
    const double t0 = k ? p->t[k - 1] : 0;
    for (size_t i = 0; i < nk[k]; i++, l++) tl[l] = t0 + (double)i * hk[k], hl[l] = hk[k];
    if (k < nt) after[k] = l;
  }
  /* The drift formula does not see the walls: where the bridge reaches them its kernels are cut
   * and the drift is wrong with no error (sigma = 5 on [-5, 5], output times 0 and T only: the
   * histogram at T off by 9 sampling floors, exit 0). So the marginal's mass rule is checked at
   * every level where the grid resolves the kernels (τ_r <= t <= T − τ_r; closer to the ends the
   * drift is the documented interpolation and the marginal is not defined on the grid). */
  const double tau_r = fpk_sb_resolved_tau(s);
  for (size_t l = 0; l < nsteps; l++) {
    double mass;
    if (!view(s).ipf && tl[l] >= tau_r && tl[l] <= Tend - tau_r &&
        (rc = fpk_sb_marginal(s, tl[l], NULL, NULL, &mass))) {
      fpk_error_prefix(view(s).err, "sb: em sampler: the drift at t = %g: ", tl[l]);
      fpk_sb_sample_result_free(r);
      EM_FREE();
      return rc;
    }
    if ((rc = fpk_sb_drift(s, tl[l], D + l * d * N, NULL))) {
      fpk_sb_sample_result_free(r);
      EM_FREE();
      if (view(s).ipf && rc == FPK_EINVAL) { /* a step off the chain's levels */
        char msg[FPK_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", view(s).err->msg);
        return fpk_error_set(view(s).err, rc, "sb: em sampler: %s (the model reference answers "
                             "at the levels of its chain only: sample with the output times and "
                             "dt the bridge was planned with)", msg);
      }
      return rc; /* the message is on s */
    }
  }
  size_t last;
  if ((rc = fpk_mc_cell_cdf(g, view(s).a, cdf, &last, &tmp))) {
    fpk_sb_sample_result_free(r);
    EM_FREE();
    return fpk_error_set(view(s).err, rc, "sb: em sampler: %s", tmp.msg);
  }
  const size_t fill = FPK_MC_FILL_STEPS; /* steps whose normals are drawn together */
#pragma omp parallel num_threads(nth)
  {
    const int me = omp_get_thread_num();
    double *z = malloc(fill * d * FPK_MC_BLOCK * sizeof(double));
    double *xs = malloc(nt * FPK_MC_BLOCK * d * sizeof(double));
    double *x = malloc(FPK_MC_BLOCK * d * sizeof(double));
    uint32_t *w = malloc(4 * FPK_MC_BLOCK * sizeof(uint32_t));
    void *scratch = aligned_alloc(64, FPK_RNG_SCRATCH(FPK_MC_BLOCK));
    /* per path: L = Σ u·ΔW + ½|u|²h and E = Σ ½|u|²h (fpkit/sb.h, kl_mc) */
    double *L = malloc(2 * FPK_MC_BLOCK * sizeof(double)), *E = L ? L + FPK_MC_BLOCK : NULL;
    if (!z || !xs || !x || !w || !scratch || !L) {
#pragma omp atomic write
      fail = 1;
    }
#pragma omp for schedule(dynamic)
    for (size_t b = 0; b < nblocks; b++) {
      if (!z || !xs || !x || !w || !scratch || !L) continue;
      const size_t p0 = b * FPK_MC_BLOCK, nb = np - p0 < FPK_MC_BLOCK ? np - p0 : FPK_MC_BLOCK;
      draw_x0(p->seed, p0, nb, g, cdf, last, x, NULL, w);
      for (size_t i = 0; i < nb; i++) L[i] = 0, E[i] = 0;
      size_t k = 0;
      for (size_t l = 0; l <= nsteps; l++) {
        while (k < nt && after[k] == l) { /* outputs reached after l steps */
          memcpy(xs + k * nb * d, x, nb * d * sizeof(double));
          k++;
        }
        if (l == nsteps) break;
        if (l % fill == 0) { /* positions 3 + l·d + c: Philox calls 1 + l·d/3 onwards */
          const size_t nst = nsteps - l < fill ? nsteps - l : fill;
          fpk_rng_block(p->seed, p0, nb, (FPK_RNG_STEP0 + l * d) / FPK_RNG_PER_CALL,
                        (nst * d + FPK_RNG_PER_CALL - 1) / FPK_RNG_PER_CALL, z, nb, scratch);
        }
        const double h = hl[l], sh = sqrt(h), sq = sigma * sh;
        const double *Dl = D + l * d * N, *zl = z + (l % fill) * d * nb;
        for (size_t i = 0; i < nb; i++) {
          double bx[2], fx[2], uw = 0, uu = 0;
          interp_drift(g, Dl, x + i * d, bx);
          reference_drift(s, x + i * d, tl[l], fx);
          /* Girsanov along the path: the EM transition N(x + bh, σ²h) against the reference's
           * N(x + fh, σ²h) at the point reached, x' − x − fh = (b − f)h + σ√h Z, has the log
           * ratio u·√h Z + ½|u|²h, u = (b − f)/σ */
          for (size_t a = 0; a < d; a++) {
            const double u = (bx[a] - fx[a]) / sigma;
            uw += u * sh * zl[a * nb + i], uu += u * u;
          }
          L[i] += uw + 0.5 * uu * h, E[i] += 0.5 * uu * h;
          for (size_t a = 0; a < d; a++) x[i * d + a] += bx[a] * h + sq * zl[a * nb + i];
        }
      }
      block_outputs(g, nt, p0, nb, xs, cnt + (size_t)me * nt * N, out + (size_t)me * nt,
                    st + b * nt * ns, r);
      block_kl(L, E, nb, klst + b * KLS_SIZE);
    }
    free(z), free(xs), free(x), free(w), free(scratch), free(L);
  }
  if (!fail) {
    for (int th = 1; th < nth; th++) {
      for (size_t q = 0; q < nt * N; q++) cnt[q] += cnt[(size_t)th * nt * N + q];
      for (size_t k = 0; k < nt; k++) out[k] += out[(size_t)th * nt + k];
    }
    finish(g, nt, np, cnt, out, st, nblocks, r);
    reduce_kl(klst, nblocks, r);
  }
  EM_FREE();
#undef EM_FREE
  if (fail) {
    fpk_sb_sample_result_free(r);
    return nomem(s, "em");
  }
  return FPK_SUCCESS;
}
