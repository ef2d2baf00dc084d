/* Monte Carlo ensembles (fpkit/sde.h): paths in fixed blocks, OpenMP over blocks, deterministic
 * reductions.
 *
 * Work unit: a block of FPK_MC_BLOCK consecutive paths, simulated over the whole time span with
 * its state (component-major, x[c*nb + i]) in L1. Normals for FPK_MC_FILL_STEPS steps at a time
 * are generated per block (fpk_rng_block), then each step is one stepper call on the whole
 * block (one batched drift/noise callback). Per-thread workspaces are allocated once.
 *
 * Reductions: histogram counts and outside counts are integers, summed per thread and then over
 * threads (exact, order-free). Means and covariances come from per-block partials (block mean
 * and centred co-moment, two passes over the block in path order) stored per block for a round
 * of FPK_MC_ROUND blocks, then merged serially in block order with Chan, Golub & LeVeque's
 * pairwise update ("Updating formulae and a pairwise algorithm for computing sample variances",
 * 1979):  n = nA + nB,  δ = mB - mA,  m = mA + δ nB/n,  M = MA + MB + δ δᵀ nA nB / n.
 * Every floating-point operation is therefore the same whatever the number of threads or the
 * schedule, and the results are bitwise identical. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "sde/sde_internal.h"

typedef struct {
  const fpk_model *model;
  const fpk_grid *grid;
  const fpk_sde_stepper_type *st;
  uint64_t seed;
  size_t d, npaths, nt, cells, nstat, nsteps_total, keep;
  double mean0[FPK_MAX_DIM], chol[FPK_MAX_DIM * FPK_MAX_DIM];
  const size_t *nsteps; /* [nt] steps in interval k (ending at t_out[k]) */
  const double *h, *t0; /* [nt] step size and start time of interval k */
  double *paths;        /* result->paths or NULL */
  size_t zrows;         /* rows of the per-thread normals buffer */
} mc_ctx;

typedef struct {
  double *x, *z, *work;
  void *scratch;
  uint64_t *hist, *nout;
} mc_ws;

static void *alloc64(size_t bytes) {
  size_t r = (bytes + 63) / 64 * 64;
  return aligned_alloc(64, r ? r : 64);
}

static void ws_free(mc_ws *w) {
  free(w->x);
  free(w->z);
  free(w->work);
  free(w->scratch);
  free(w->hist);
  free(w->nout);
  memset(w, 0, sizeof *w);
}

static int ws_alloc(mc_ws *w, const mc_ctx *C) {
  const size_t B = FPK_MC_BLOCK, d = C->d;
  memset(w, 0, sizeof *w);
  w->x = alloc64(d * B * sizeof(double));
  w->z = alloc64(C->zrows * B * sizeof(double));
  w->work = alloc64((C->st->work_per_point ? C->st->work_per_point : 1) * d * B * sizeof(double));
  w->scratch = alloc64(FPK_RNG_SCRATCH(B));
  w->hist = calloc(C->nt * C->cells, sizeof(uint64_t));
  w->nout = calloc(C->nt, sizeof(uint64_t));
  if (!w->x || !w->z || !w->work || !w->scratch || !w->hist || !w->nout) {
    ws_free(w);
    return -1;
  }
  return 0;
}

/* Index of the first path in the block with a non-finite component, or nb if none. The fast
 * check ORs a flag over all components (vectorises); the slow scan runs only on failure. */
static size_t first_nonfinite(const double *x, size_t d, size_t nb) {
  unsigned bad = 0;
  for (size_t k = 0; k < d * nb; k++) {
    uint64_t u;
    memcpy(&u, &x[k], sizeof u);
    bad |= (unsigned)((u & 0x7ff0000000000000ull) == 0x7ff0000000000000ull);
  }
  if (!bad) return nb;
  for (size_t i = 0; i < nb; i++)
    for (size_t c = 0; c < d; c++)
      if (!isfinite(x[c * nb + i])) return i;
  return nb;
}

static void record_path(const mc_ctx *C, size_t p0, size_t nb, const double *x, size_t s) {
  if (!C->paths || p0 >= C->keep) return;
  const size_t last = C->keep - p0 < nb ? C->keep - p0 : nb, d = C->d;
  for (size_t i = 0; i < last; i++)
    for (size_t c = 0; c < d; c++)
      C->paths[((p0 + i) * (C->nsteps_total + 1) + s) * d + c] = x[c * nb + i];
}

/* Histogram counts, outside count and block moments of the block state at output k.
 * Periodic axes wrap positions into the box for the histogram only; the state itself, and hence
 * mean and cov, stay unwrapped (the SDE lives on R^d). Non-periodic axes neither reflect nor
 * absorb paths: a path outside the box is counted in `outside` and may come back. */
static void observe(const mc_ctx *C, mc_ws *W, size_t nb, size_t k, double *part) {
  const fpk_grid *g = C->grid;
  const size_t d = C->d;
  const double *x = W->x;
  uint64_t *hist = W->hist + k * C->cells;
  uint64_t out = 0;
  for (size_t i = 0; i < nb; i++) {
    size_t flat = 0, stride = 1;
    int inside = 1;
    for (size_t a = 0; a < d; a++) {
      double v = x[a * nb + i];
      const double lo = g->lo[a], hi = g->hi[a];
      size_t idx;
      if (g->bc[a] == FPK_BC_PERIODIC) {
        const double L = hi - lo;
        v -= L * floor((v - lo) / L);
        double f = floor((v - lo) / g->h[a]);
        idx = f < 0.0 ? 0 : (f >= (double)g->n[a] ? g->n[a] - 1 : (size_t)f);
      } else {
        if (!(v >= lo && v < hi)) {
          inside = 0;
          break;
        }
        idx = (size_t)((v - lo) / g->h[a]);
        if (idx >= g->n[a]) idx = g->n[a] - 1;
      }
      flat += idx * stride;
      stride *= g->n[a];
    }
    if (inside)
      hist[flat]++;
    else
      out++;
  }
  W->nout[k] += out;

  /* Block mean and centred co-moment (packed upper triangle), two passes in path order. */
  double *m = part, *M = part + d;
  for (size_t a = 0; a < d; a++) {
    double s = 0.0;
    const double *xa = x + a * nb;
    for (size_t i = 0; i < nb; i++) s += xa[i];
    m[a] = s / (double)nb;
  }
  size_t q = 0;
  for (size_t a = 0; a < d; a++)
    for (size_t b = a; b < d; b++, q++) {
      double s = 0.0;
      const double *xa = x + a * nb, *xb = x + b * nb;
      const double ma = m[a], mb = m[b];
      for (size_t i = 0; i < nb; i++) s += (xa[i] - ma) * (xb[i] - mb);
      M[q] = s;
    }
}

static int nonfinite_error(fpk_error *err, size_t path, double t, size_t s, size_t total) {
  return fpk_error_set(err, FPK_ENUMERIC,
                       "Monte Carlo: path %zu became non-finite at t = %.17g (step %zu of %zu)",
                       path, t, s, total);
}

/* Simulates block blk over the whole time span; part receives nt * nstat block moments. */
static int run_block(const mc_ctx *C, mc_ws *W, size_t blk, double *part, fpk_error *err) {
  const size_t B = FPK_MC_BLOCK, d = C->d;
  const size_t p0 = blk * B, nb = C->npaths - p0 < B ? C->npaths - p0 : B;
  const size_t per_step = C->st->normals_per_dim * d;
  double *restrict x = W->x;

  /* X_0 = mean + L Z with Z at stream positions 0..d-1 (call 0). */
  fpk_rng_block(C->seed, p0, nb, 0, 1, W->z, nb, W->scratch);
  for (size_t c = 0; c < d; c++) {
    double *xc = x + c * nb;
    for (size_t i = 0; i < nb; i++) xc[i] = C->mean0[c];
    for (size_t j = 0; j <= c; j++) {
      const double l = C->chol[c * d + j];
      if (l == 0.0) continue;
      const double *zj = W->z + j * nb;
      for (size_t i = 0; i < nb; i++) xc[i] += l * zj[i];
    }
  }
  size_t bad = first_nonfinite(x, d, nb);
  if (bad < nb) return nonfinite_error(err, p0 + bad, 0.0, 0, C->nsteps_total);
  record_path(C, p0, nb, x, 0);

  size_t s = 0; /* global step index */
  for (size_t k = 0; k < C->nt; k++) {
    const double h = C->h[k], t0 = C->t0[k];
    for (size_t j = 0; j < C->nsteps[k]; j++, s++) {
      const size_t sl = s % FPK_MC_FILL_STEPS;
      if (sl == 0) {
        size_t nfill = C->nsteps_total - s;
        if (nfill > FPK_MC_FILL_STEPS) nfill = FPK_MC_FILL_STEPS;
        const uint64_t call0 = (FPK_RNG_STEP0 + (uint64_t)s * per_step) / FPK_RNG_PER_CALL;
        const size_t ncalls = (nfill * per_step + FPK_RNG_PER_CALL - 1) / FPK_RNG_PER_CALL;
        fpk_rng_block(C->seed, p0, nb, call0, ncalls, W->z, nb, W->scratch);
      }
      const double t = t0 + (double)j * h;
      int rc = C->st->step(C->model, t, h, nb, x, W->z + sl * per_step * nb, W->work, err);
      if (rc)
        return fpk_error_prefix(err, "Monte Carlo, %s step %zu at t = %g (paths %zu..%zu): ",
                                C->st->name, s + 1, t, p0, p0 + nb - 1);
      bad = first_nonfinite(x, d, nb);
      if (bad < nb) return nonfinite_error(err, p0 + bad, t + h, s + 1, C->nsteps_total);
      record_path(C, p0, nb, x, s + 1);
    }
    observe(C, W, nb, k, part + k * C->nstat);
  }
  return FPK_SUCCESS;
}

/* Lower Cholesky factor of a symmetric positive semidefinite matrix (zero columns allowed). */
static int cholesky_psd(const double *S, size_t d, double *L, fpk_error *err) {
  double scale = 0.0;
  for (size_t i = 0; i < d; i++) scale = fmax(scale, fabs(S[i * d + i]));
  const double tol = 1e-13 * (scale > 0.0 ? scale : 1.0);
  memset(L, 0, sizeof(double) * FPK_MAX_DIM * FPK_MAX_DIM);
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++) {
      if (!isfinite(S[i * d + j]))
        return fpk_error_set(err, FPK_EINVAL, "initial covariance [%zu][%zu] is not finite", i, j);
      if (fabs(S[i * d + j] - S[j * d + i]) > 1e-12 * (scale > 0.0 ? scale : 1.0))
        return fpk_error_set(err, FPK_EINVAL,
                             "initial covariance is not symmetric: [%zu][%zu] = %g, [%zu][%zu] = %g",
                             i, j, S[i * d + j], j, i, S[j * d + i]);
    }
  for (size_t j = 0; j < d; j++) {
    double p = S[j * d + j];
    for (size_t k = 0; k < j; k++) p -= L[j * d + k] * L[j * d + k];
    if (p < -tol)
      return fpk_error_set(err, FPK_EINVAL,
                           "initial covariance is not positive semidefinite (pivot %zu = %g)", j, p);
    if (p <= tol) { /* degenerate direction: the rest of the column must vanish */
      for (size_t i = j + 1; i < d; i++) {
        double v = S[i * d + j];
        for (size_t k = 0; k < j; k++) v -= L[i * d + k] * L[j * d + k];
        if (fabs(v) > sqrt(tol) * sqrt(scale > 0.0 ? scale : 1.0))
          return fpk_error_set(err, FPK_EINVAL,
                               "initial covariance is not positive semidefinite (column %zu)", j);
      }
      continue;
    }
    const double ljj = sqrt(p);
    L[j * d + j] = ljj;
    for (size_t i = j + 1; i < d; i++) {
      double v = S[i * d + j];
      for (size_t k = 0; k < j; k++) v -= L[i * d + k] * L[j * d + k];
      L[i * d + j] = v / ljj;
    }
  }
  return FPK_SUCCESS;
}

void fpk_mc_result_free(fpk_mc_result *res) {
  if (!res) return;
  free(res->t);
  free(res->density);
  free(res->mean);
  free(res->cov);
  free(res->outside);
  free(res->path_t);
  free(res->paths);
  memset(res, 0, sizeof *res);
}

int fpk_mc_run(const fpk_model *model, const fpk_gaussian *init, const fpk_grid *grid,
               const double *t_out, size_t nt, const fpk_mc_params *params, fpk_mc_result *res,
               fpk_error *err) {
  if (!res) return fpk_error_set(err, FPK_EINVAL, "fpk_mc_run: result pointer is NULL");
  memset(res, 0, sizeof *res);
  if (!model || !init || !grid || !params || (!t_out && nt))
    return fpk_error_set(err, FPK_EINVAL, "fpk_mc_run: %s is NULL",
                         !model ? "model" : !init ? "init" : !grid ? "grid" : !params ? "params"
                                                                                     : "t_out");
  const size_t d = model->dim;
  if (d < 1 || d > FPK_MAX_DIM)
    return fpk_error_set(err, FPK_EINVAL, "Monte Carlo: model %s has dimension %zu (1..%d)",
                         model->name ? model->name : "?", d, FPK_MAX_DIM);
  if (!model->drift || !model->noise)
    return fpk_error_set(err, FPK_EINVAL, "Monte Carlo: model %s lacks a drift or noise callback",
                         model->name ? model->name : "?");
  if (init->dim != d)
    return fpk_error_set(err, FPK_EINVAL,
                         "Monte Carlo: initial law has dimension %zu but the model has %zu",
                         init->dim, d);
  if (grid->dim != d)
    return fpk_error_set(err, FPK_EINVAL,
                         "Monte Carlo: grid has dimension %zu but the model has %zu", grid->dim, d);
  if (grid->size == 0)
    return fpk_error_set(err, FPK_EINVAL, "Monte Carlo: grid has no cells");
  if (params->npaths < 2)
    return fpk_error_set(err, FPK_EINVAL, "Monte Carlo: npaths = %zu, need at least 2",
                         params->npaths);
  if (!(params->dt > 0.0) || !isfinite(params->dt))
    return fpk_error_set(err, FPK_EINVAL, "Monte Carlo: dt = %g, must be positive and finite",
                         params->dt);
  if (params->keep_paths > params->npaths)
    return fpk_error_set(err, FPK_EINVAL, "Monte Carlo: keep_paths = %zu exceeds npaths = %zu",
                         params->keep_paths, params->npaths);
  const fpk_sde_stepper_type *st = params->stepper ? params->stepper : fpk_sde_euler_maruyama;
  if (!st->step || st->normals_per_dim < 1)
    return fpk_error_set(err, FPK_EINVAL, "Monte Carlo: stepper %s is incomplete",
                         st->name ? st->name : "?");
  if (nt < 1) return fpk_error_set(err, FPK_EINVAL, "Monte Carlo: no output times (nt = 0)");
  for (size_t k = 0; k < nt; k++) {
    if (!isfinite(t_out[k]))
      return fpk_error_set(err, FPK_EINVAL, "Monte Carlo: output time t[%zu] is not finite", k);
    if (k == 0 && t_out[0] < 0.0)
      return fpk_error_set(err, FPK_EINVAL, "Monte Carlo: output time t[0] = %g is negative",
                           t_out[0]);
    if (k > 0 && !(t_out[k] > t_out[k - 1]))
      return fpk_error_set(err, FPK_EINVAL,
                           "Monte Carlo: output times must increase: t[%zu] = %g after t[%zu] = %g",
                           k, t_out[k], k - 1, t_out[k - 1]);
  }
  for (size_t c = 0; c < d; c++)
    if (!isfinite(init->mean[c]))
      return fpk_error_set(err, FPK_EINVAL, "Monte Carlo: initial mean[%zu] is not finite", c);

  mc_ctx C = {.model = model, .grid = grid, .st = st, .seed = params->seed, .d = d,
              .npaths = params->npaths, .nt = nt, .cells = grid->size,
              .nstat = d + d * (d + 1) / 2, .keep = params->keep_paths};
  int rc = cholesky_psd(init->cov, d, C.chol, err);
  if (rc) {
    fpk_error_prefix(err, "Monte Carlo: ");
    return rc;
  }
  memcpy(C.mean0, init->mean, d * sizeof(double));

  size_t *nsteps = calloc(nt, sizeof *nsteps);
  double *hk = calloc(nt, sizeof *hk), *t0k = calloc(nt, sizeof *t0k);
  if (!nsteps || !hk || !t0k) {
    free(nsteps), free(hk), free(t0k);
    return fpk_error_set(err, FPK_ENOMEM, "Monte Carlo: out of memory");
  }
  size_t total = 0;
  for (size_t k = 0; k < nt; k++) {
    t0k[k] = k ? t_out[k - 1] : 0.0;
    nsteps[k] = fpk_time_steps(t0k[k], t_out[k], params->dt, &hk[k]);
    total += nsteps[k];
  }
  C.nsteps = nsteps;
  C.h = hk;
  C.t0 = t0k;
  C.nsteps_total = total;
  {
    /* whole Philox calls: X_0 takes one, a fill ceil(FILL_STEPS * q * d / PER_CALL) */
    size_t rows = FPK_MC_FILL_STEPS * st->normals_per_dim * d;
    rows = (rows + FPK_RNG_PER_CALL - 1) / FPK_RNG_PER_CALL * FPK_RNG_PER_CALL;
    C.zrows = rows > FPK_RNG_PER_CALL ? rows : FPK_RNG_PER_CALL;
  }

  const size_t B = FPK_MC_BLOCK, N = params->npaths;
  const size_t nblocks = (N + B - 1) / B;
  const size_t R = nblocks < FPK_MC_ROUND ? nblocks : FPK_MC_ROUND;
  res->nt = nt;
  res->dim = d;
  res->cells = grid->size;
  res->nsteps = total;
  res->keep_paths = params->keep_paths;
  res->t = malloc(nt * sizeof(double));
  res->density = malloc(nt * grid->size * sizeof(double));
  res->mean = calloc(nt * d, sizeof(double));
  res->cov = calloc(nt * d * d, sizeof(double));
  res->outside = malloc(nt * sizeof(double));
  if (params->keep_paths) {
    res->path_t = malloc((total + 1) * sizeof(double));
    res->paths = malloc(params->keep_paths * (total + 1) * d * sizeof(double));
  }
  uint64_t *counts = calloc(nt * grid->size, sizeof(uint64_t));
  uint64_t *nout = calloc(nt, sizeof(uint64_t));
  double *part = malloc(R * nt * C.nstat * sizeof(double));
  double *M2 = calloc(nt * C.nstat, sizeof(double)); /* running mean (d) + co-moment (packed) */
  if (!res->t || !res->density || !res->mean || !res->cov || !res->outside || !counts || !nout ||
      !part || !M2 || (params->keep_paths && (!res->path_t || !res->paths))) {
    rc = fpk_error_set(err, FPK_ENOMEM, "Monte Carlo: out of memory for %zu outputs x %zu cells",
                       nt, grid->size);
    goto done;
  }
  memcpy(res->t, t_out, nt * sizeof(double));
  if (res->path_t) {
    size_t s = 0;
    res->path_t[s++] = 0.0;
    for (size_t k = 0; k < nt; k++)
      for (size_t j = 1; j <= nsteps[k]; j++, s++)
        res->path_t[s] = j == nsteps[k] ? t_out[k] : t0k[k] + (double)j * hk[k];
  }
  C.paths = res->paths;

  int failed = 0, fail_status = FPK_SUCCESS;
  size_t err_block = (size_t)-1; /* lowest failing block: its error is the one reported */
  size_t n_done = 0; /* paths merged so far */
  const int nth = params->nthreads > 0 ? params->nthreads : omp_get_max_threads();
#pragma omp parallel num_threads(nth)
  {
    mc_ws W;
    fpk_error lerr = {0, ""};
    if (ws_alloc(&W, &C)) {
#pragma omp critical(fpk_mc_err)
      {
        if (!failed) {
          fail_status = fpk_error_set(err, FPK_ENOMEM, "Monte Carlo: out of memory (workspace)");
          err_block = 0;
        }
        failed = 1;
      }
    }
#pragma omp barrier
    for (size_t b0 = 0; b0 < nblocks; b0 += R) {
      const size_t b1 = b0 + R < nblocks ? b0 + R : nblocks;
#pragma omp for schedule(dynamic, 1)
      for (size_t b = b0; b < b1; b++) {
        int f;
#pragma omp atomic read
        f = failed;
        if (f) continue;
        if (run_block(&C, &W, b, part + (b - b0) * nt * C.nstat, &lerr)) {
#pragma omp critical(fpk_mc_err)
          {
            if (b < err_block) {
              err_block = b;
              fail_status = lerr.status;
              fpk_error_copy(err, &lerr);
            }
          }
#pragma omp atomic write
          failed = 1;
        }
      }
#pragma omp single
      {
        if (!failed)
          for (size_t b = b0; b < b1; b++) {
            const size_t nB = N - b * B < B ? N - b * B : B, nA = n_done, n = nA + nB;
            for (size_t k = 0; k < nt; k++) {
              const double *pb = part + ((b - b0) * nt + k) * C.nstat;
              double *tot = M2 + k * C.nstat;
              if (nA == 0) {
                memcpy(tot, pb, C.nstat * sizeof(double));
                continue;
              }
              double delta[FPK_MAX_DIM];
              for (size_t a = 0; a < d; a++) {
                delta[a] = pb[a] - tot[a];
                tot[a] += delta[a] * ((double)nB / (double)n);
              }
              const double w = (double)nA * (double)nB / (double)n;
              size_t q = d;
              for (size_t a = 0; a < d; a++)
                for (size_t c = a; c < d; c++, q++) tot[q] += pb[q] + delta[a] * delta[c] * w;
            }
            n_done = n;
          }
      }
    }
    if (W.hist) {
#pragma omp critical(fpk_mc_hist)
      {
        for (size_t i = 0; i < nt * C.cells; i++) counts[i] += W.hist[i];
        for (size_t k = 0; k < nt; k++) nout[k] += W.nout[k];
      }
    }
    ws_free(&W);
  }
  if (failed) {
    rc = fail_status;
    goto done;
  }

  {
    const double norm = 1.0 / ((double)N * grid->cell_volume);
    for (size_t i = 0; i < nt * grid->size; i++) res->density[i] = (double)counts[i] * norm;
    for (size_t k = 0; k < nt; k++) {
      res->outside[k] = (double)nout[k] / (double)N;
      const double *tot = M2 + k * C.nstat;
      for (size_t a = 0; a < d; a++) res->mean[k * d + a] = tot[a];
      size_t q = d;
      for (size_t a = 0; a < d; a++)
        for (size_t c = a; c < d; c++, q++) {
          const double v = tot[q] / (double)(N - 1);
          res->cov[(k * d + a) * d + c] = v;
          res->cov[(k * d + c) * d + a] = v;
        }
    }
  }
  rc = FPK_SUCCESS;

done:
  free(nsteps);
  free(hk);
  free(t0k);
  free(counts);
  free(nout);
  free(part);
  free(M2);
  if (rc) fpk_mc_result_free(res);
  return rc;
}
