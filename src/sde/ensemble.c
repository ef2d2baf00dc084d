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
 * schedule, and the results are bitwise identical.
 *
 * Killing (absorbing axes, fpkit/sde.h "Killing"): each block keeps an alive flag per path. A
 * step saves the state and σ at its start, the stepper moves the whole block (the batch stays
 * rectangular), then dead paths are put back where they froze, the exit and bridge-crossing tests
 * run on the living ones, and newly killed paths are put back at their last inside state. The
 * crossing uniforms come from their own Philox sub-stream (sde_internal.h), drawn only where the
 * crossing probability can exceed the smallest uniform 2^-33, so the decision is a pure function
 * of (seed, path, step) and costs nothing away from the walls. Partials carry the number of
 * survivors of the block, and the pairwise update weighs by it. Without an absorbing axis none
 * of this runs and every operation is the one of an unkilled run.
 *
 * Checkpoints (fpkit/sde.h): the rounds are the safe points. After a round the moments of every
 * block before it are merged (in block order) and no later block changes them; the integer
 * counts are order-free. With a poll set, one call after each round decides; only when it asks
 * do the threads fold their histograms into the shared counts (and zero their own), so that the
 * state can be handed to the checkpoint callback. A resumed run starts from those counts and
 * moments at the next block: the remaining merges are the same operations on the same values.
 *
 * Several processes (params->comm, fpkit/parallel.h; docs/parallel.md "Distributed ensembles"):
 * each round's blocks are split into contiguous ranges in rank order (fpk_comm_range), and a
 * rank's threads take its range dynamically as above. After the round the main thread of every
 * rank (MPI is initialised FUNNELED) agrees on the status (fpk_comm_agree: every rank fails with
 * the lowest failing rank's message, which holds the lowest failing block, the ranges being
 * contiguous; returned without the agreement's "rank R: ", as one process would word it),
 * gathers the round's block partials in block order on rank 0 (fpk_comm_gatherv: only rank 0
 * receives, so the bytes a round moves do not grow with P on the other ranks; docs/parallel.md
 * "Scaling model") and the kept-path rows of its blocks on every rank; rank 0 runs the serial
 * merge, as one process does, and broadcasts the merged moments once at the end, so every rank
 * returns the same result. Integer counts are summed over the ranks at the end
 * (fpk_comm_sum_u64: exact). So nothing a
 * rank computes depends on P or on which rank ran a block, and with one process (comm NULL or of
 * size 1) none of this runs. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpkit/guard.h"
#include "fpkit/parallel.h"
#include "sde/sde_internal.h"

_Static_assert(FPK_MC_BLOCK_PATHS == FPK_MC_BLOCK, "FPK_MC_BLOCK_PATHS");

/* The engine's agreements: every rank meets them at the same point of its loop, so a failure is
 * coordinated (fpk_comm_agree_at): every rank returns it with the failing rank's message in the
 * words of a one-process run, and may go on (the command writes its file marked failed under
 * --keep-failed; docs/parallel.md). */
static int agree_plain(const fpk_comm *comm, int status, fpk_error *err) {
  return fpk_comm_agree_at(comm, status, "fpk_mc_run round", err);
}

typedef struct {
  const fpk_model *model;
  const fpk_grid *grid;
  const fpk_sde_stepper_type *st;
  uint64_t seed;
  size_t d, npaths, nt, cells, nstat, nsteps_total, keep;
  size_t per_step;  /* normals per step (fpk_sde_normals_per_step: q*m, m Brownian components) */
  double mean0[FPK_MAX_DIM], chol[FPK_MAX_DIM * FPK_MAX_DIM];
  double *cdf;      /* an initial law on the grid (params->init_cells): cumulative masses */
  size_t cdf_last;  /* its last cell with mass */
  const size_t *nsteps; /* [nt] steps in interval k (ending at t_out[k]) */
  const double *h, *t0; /* [nt] step size and start time of interval k */
  double *paths;        /* result->paths or NULL */
  size_t zrows;         /* rows of the per-thread normals buffer */
  int absorbing, bridge; /* some axis absorbs; the crossing test is on */
  model_em_fused_fn fused; /* the model's fused EM kernel (run_block), or NULL */
} mc_ctx;

typedef struct {
  double *x, *z, *work;
  void *scratch;
  uint64_t *hist, *nout, *nalive;
  double *xprev, *sig; /* absorbing: state and σ at the start of the step; fused: xprev, the
                        * state at the start of a run of steps */
  double *sigm;        /* absorbing with a noise matrix: σ (d × m) at the start of the step */
  unsigned char *alive, *flag;
} mc_ws;

/* Whether fpk_mc_run may use the built-in models' fused EM kernels (sde_internal.h). */
static int mc_fused_enabled = 1;

void sde_mc_set_fused(int enable) {
#pragma omp atomic write
  mc_fused_enabled = enable != 0;
}

model_em_fused_fn sde_mc_fused_kernel(const fpk_model *m, const fpk_sde_stepper_type *st) {
  int on;
#pragma omp atomic read
  on = mc_fused_enabled;
  if (!on || st != &fpk_sde_em_type) return NULL;
  model_em_fused_fn fn = model_linear_em_fused(m);
  return fn ? fn : model_gbm_em_fused(m);
}

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
  free(w->nalive);
  free(w->xprev);
  free(w->sig);
  free(w->sigm);
  free(w->alive);
  free(w->flag);
  memset(w, 0, sizeof *w);
}

static int ws_alloc(mc_ws *w, const mc_ctx *C) {
  const size_t B = FPK_MC_BLOCK, d = C->d;
  memset(w, 0, sizeof *w);
  w->x = alloc64(d * B * sizeof(double));
  w->z = alloc64(C->zrows * B * sizeof(double));
  const size_t nwork = fpk_sde_work_size(C->st, C->model, B);
  w->work = alloc64(nwork * sizeof(double));
  w->scratch = alloc64(FPK_RNG_SCRATCH(B));
  w->hist = calloc(C->nt * C->cells, sizeof(uint64_t));
  w->nout = calloc(C->nt, sizeof(uint64_t));
  w->nalive = calloc(C->nt, sizeof(uint64_t));
  if (C->absorbing || C->fused) w->xprev = alloc64(d * B * sizeof(double));
  if (C->absorbing) {
    w->sig = alloc64(d * B * sizeof(double));
    if (!fpk_model_noise_is_diagonal(C->model))
      w->sigm = alloc64(d * C->model->noise_dim * B * sizeof(double));
    w->alive = malloc(B);
    w->flag = malloc(B);
  }
  if (!w->x || !w->z || !w->work || !w->scratch || !w->hist || !w->nout || !w->nalive ||
      ((C->absorbing || C->fused) && !w->xprev) ||
      (C->absorbing && (!w->sig || !w->alive || !w->flag)) ||
      (C->absorbing && !fpk_model_noise_is_diagonal(C->model) && !w->sigm)) {
    ws_free(w);
    return -1;
  }
  /* steppers may cache per-step coefficients at the start of work (fpkit/sde.h): zero = empty */
  memset(w->work, 0, nwork * sizeof(double));
  return 0;
}


static void record_path(const mc_ctx *C, size_t p0, size_t nb, const double *x, size_t s) {
  if (!C->paths || p0 >= C->keep) return;
  const size_t last = C->keep - p0 < nb ? C->keep - p0 : nb, d = C->d;
  for (size_t i = 0; i < last; i++)
    for (size_t c = 0; c < d; c++)
      C->paths[((p0 + i) * (C->nsteps_total + 1) + s) * d + c] = x[c * nb + i];
}

/* Histogram counts, outside and survivor counts and block moments of the living paths of the
 * block (nlive of nb) at output k. Periodic axes wrap positions into the box for the histogram
 * only; the state itself, and hence mean and cov, stay unwrapped (the SDE lives on R^d).
 * Reflecting axes do not reflect paths: a path outside the box is counted in `outside` and may
 * come back. Absorbing axes have killed every path outside them (kill_test). */
static void observe(const mc_ctx *C, mc_ws *W, size_t nb, size_t nlive, size_t k, double *part) {
  const fpk_grid *g = C->grid;
  const size_t d = C->d;
  const double *x = W->x;
  /* alive flags, or NULL when every path of the block lives (no killing: the unmasked loops) */
  const unsigned char *al = nlive < nb ? W->alive : NULL;
  uint64_t *hist = W->hist + k * C->cells;
  uint64_t out = 0;
  for (size_t i = 0; i < nb; i++) {
    if (al && !al[i]) continue;
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
  W->nalive[k] += nlive;

  /* Survivor count, block mean and centred co-moment (packed upper triangle) of the survivors,
   * two passes in path order. */
  double *m = part + 1, *M = part + 1 + d;
  part[0] = (double)nlive;
  if (nlive == 0) return; /* an empty block: skipped by the merge */
  for (size_t a = 0; a < d; a++) {
    double s = 0.0;
    const double *xa = x + a * nb;
    if (al) {
      for (size_t i = 0; i < nb; i++)
        if (al[i]) s += xa[i];
    } else {
      for (size_t i = 0; i < nb; i++) s += xa[i];
    }
    m[a] = s / (double)nlive;
  }
  size_t q = 0;
  for (size_t a = 0; a < d; a++)
    for (size_t b = a; b < d; b++, q++) {
      double s = 0.0;
      const double *xa = x + a * nb, *xb = x + b * nb;
      const double ma = m[a], mb = m[b];
      if (al) {
        for (size_t i = 0; i < nb; i++)
          if (al[i]) s += (xa[i] - ma) * (xb[i] - mb);
      } else {
        for (size_t i = 0; i < nb; i++) s += (xa[i] - ma) * (xb[i] - mb);
      }
      M[q] = s;
    }
}

/* X_0 of paths p0 .. p0+nb-1: the Gaussian start, or the law on the grid. z: FPK_RNG_PER_CALL*nb
 * doubles (malloc'd: reused as 4*nb words for the grid law), scratch as for fpk_rng_block. */
static void start_paths(const mc_ctx *C, uint64_t p0, size_t nb, double *x, double *z,
                        void *scratch) {
  if (C->cdf)
    fpk_mc_initial_cells(C->seed, p0, nb, C->grid, C->cdf, C->cdf_last, x, (uint32_t *)(void *)z);
  else
    fpk_mc_initial_state(C->seed, p0, nb, C->d, C->mean0, C->chol, x, z, scratch);
}

/* Start time and size of global step s (0-based: from X_s to X_{s+1}). */
static double step_time(const mc_ctx *C, size_t s, double *h) {
  size_t k = 0;
  while (k + 1 < C->nt && s >= C->nsteps[k]) s -= C->nsteps[k++];
  *h = C->h[k];
  return C->t0[k] + (double)s * C->h[k];
}

/* X_n of path `path` regenerated alone: X_0 and the n steps from the path's own streams, the
 * stepper run on a batch of one with a fresh workspace. Only a failure report needs it, so the
 * hot loop keeps no history. The batch of one may round differently from the block's batch in
 * the last bits (vectorised loops), which does not matter for a report. */
static int regenerate(const mc_ctx *C, uint64_t path, size_t n, double *x) {
  const size_t q = C->per_step;
  double *z = malloc(FPK_RNG_PER_CALL * FPK_MAX_DIM * sizeof(double));
  double *zs = malloc(q * sizeof(double));
  double *work = calloc(fpk_sde_work_size(C->st, C->model, 1), sizeof(double));
  void *scratch = alloc64(FPK_RNG_SCRATCH(1));
  int rc = z && zs && work && scratch ? FPK_SUCCESS : FPK_ENOMEM;
  if (!rc) start_paths(C, path, 1, x, z, scratch);
  fpk_error lerr = {0, ""};
  for (size_t s = 0; !rc && s < n; s++) {
    double h;
    const double t = step_time(C, s, &h);
    fpk_rng_normals(C->seed, path, FPK_RNG_STEP0 + (uint64_t)s * q, q, zs);
    rc = C->st->step(C->model, t, h, 1, x, zs, work, &lerr);
  }
  free(z);
  free(zs);
  free(work);
  free(scratch);
  return rc;
}

/* Path `path` is non-finite after step s (1-based; 0: X_0). The message gives the last finite
 * state X_{s-1}, regenerated alone (regenerate), and its time. */
static int nonfinite_error(const mc_ctx *C, fpk_error *err, size_t path, size_t s) {
  if (s == 0)
    return fpk_error_set(err, FPK_ENUMERIC,
                         "Monte Carlo: path %zu became non-finite at t = 0 (step 0 of %zu)", path,
                         C->nsteps_total);
  double h, x[FPK_MAX_DIM];
  const double t = step_time(C, s - 1, &h);
  char xs[4 * 32] = "?";
  if (regenerate(C, path, s - 1, x) == FPK_SUCCESS) {
    size_t len = 0;
    for (size_t c = 0; c < C->d; c++)
      len += (size_t)snprintf(xs + len, sizeof xs - len, "%s%.17g", c ? ", " : "", x[c]);
  }
  return fpk_error_set(err, FPK_ENUMERIC,
                       "Monte Carlo: path %zu became non-finite at t = %.17g (step %zu of %zu), "
                       "from x = (%s) at t = %.17g",
                       path, t + h, s, C->nsteps_total, xs, t);
}

/* ---- killing (absorbing axes) ---- */

/* Crossing tests with 2 (x_k - a)(x_{k+1} - a) / (σ²h) >= KILL_Q_MAX are skipped: their
 * probability exp(-q) < e^-23 < 2^-33 is below the smallest uniform (w + 1/2) 2^-32, so they
 * could not kill; skipping them changes no decision and saves the exp and the Philox call. */
#define KILL_Q_MAX 23.0
/* in integers (a floating-point comparison is no integer constant expression; clang refuses it):
 * 23 > 33 ln 2 = 22.87 */
_Static_assert((int)KILL_Q_MAX * 1000000 > 33 * 693148, "KILL_Q_MAX must exceed ln 2^33");

/* Whether point i (component-major, block of nb) lies in [lo, hi] on every absorbing axis. */
static int inside_absorbing(const fpk_grid *g, size_t d, const double *x, size_t nb, size_t i) {
  for (size_t a = 0; a < d; a++) {
    if (g->bc[a] != FPK_BC_ABSORBING) continue;
    const double v = x[a * nb + i];
    if (!(v >= g->lo[a] && v <= g->hi[a])) return 0;
  }
  return 1;
}

/* Before step s: the state and (crossing test) the noise at the step's start.
 * A model with a d × m noise matrix (issue 16): axis a moves by the Brownian motion Σ_k σ_ak W_k,
 * which is, on its own, a Brownian motion of variance σ_a² t with σ_a = √(Σ_k σ_ak²), so the
 * bridge test of axis a uses that σ_a (the crossing probability of one axis' bridge does not
 * depend on the other axes' noise). An axis whose row of σ is zero has σ_a = 0: it moves by pure
 * transport (the x of the Kramers model), there is no bridge to correct for, and kill_test skips
 * the crossing test on it: a crossing is detected from the step's endpoint only. */
static int kill_prepare(const mc_ctx *C, mc_ws *W, size_t nb, double t, fpk_error *err) {
  const size_t d = C->d;
  memcpy(W->xprev, W->x, d * nb * sizeof(double));
  if (!C->bridge) return FPK_SUCCESS;
  if (!fpk_model_noise_is_diagonal(C->model)) {
    const size_t nm = C->model->noise_dim;
    const int add = (C->model->flags & FPK_MODEL_ADDITIVE) != 0; /* σ at one point, as em.c */
    const size_t np = add ? 1 : nb;
    double x0[FPK_MAX_DIM];
    for (size_t c = 0; c < d; c++) x0[c] = W->xprev[c * nb];
    int rc = fpk_model_noise_matrix(C->model, t, np, add ? x0 : W->xprev, W->sigm, err);
    if (rc) return rc;
    for (size_t a = 0; a < d; a++)
      for (size_t i = 0; i < nb; i++) {
        const size_t j = add ? 0 : i;
        double s2 = 0.0;
        for (size_t k = 0; k < nm; k++) {
          const double v = W->sigm[(a * nm + k) * np + j];
          s2 += v * v;
        }
        W->sig[a * nb + i] = sqrt(s2);
      }
    return FPK_SUCCESS;
  }
  if (C->model->flags & FPK_MODEL_ADDITIVE) { /* one point, as em.c */
    double x0[FPK_MAX_DIM], sig[FPK_MAX_DIM];
    for (size_t c = 0; c < d; c++) x0[c] = W->xprev[c * nb];
    int rc = fpk_model_noise(C->model, t, 1, x0, sig, err);
    if (rc) return rc;
    for (size_t c = 0; c < d; c++)
      for (size_t i = 0; i < nb; i++) W->sig[c * nb + i] = sig[c];
    return FPK_SUCCESS;
  }
  return fpk_model_noise(C->model, t, nb, W->xprev, W->sig, err);
}

/* After step s (0-based) of size h, before the finiteness check: puts the dead paths back where
 * they froze (the stepper moved the whole block). */
static void kill_restore(const mc_ctx *C, mc_ws *W, size_t nb, size_t nlive) {
  if (nlive == nb) return;
  const unsigned char *restrict al = W->alive;
  for (size_t c = 0; c < C->d; c++) {
    double *restrict xc = W->x + c * nb;
    const double *restrict pc = W->xprev + c * nb;
    for (size_t i = 0; i < nb; i++) xc[i] = al[i] ? xc[i] : pc[i]; /* a blend: no branches */
  }
}

/* After step s: the exit test and the crossing test on the living paths of the block starting at
 * path p0; the killed ones are frozen at their state before the step. Returns the survivors. */
static size_t kill_test(const mc_ctx *C, mc_ws *W, size_t p0, size_t nb, size_t nlive, size_t s,
                        double h) {
  const fpk_grid *g = C->grid;
  const size_t d = C->d;
  const double *x = W->x, *xp = W->xprev;
  /* Pass 1, branch-free over the block: flag the paths that are outside an absorbing axis or
   * close enough to a wall for a crossing test to run, (x_k - a)(x_{k+1} - a) < 12 σ²h, a 4%
   * margin over the exact cut q < 23 (so no path that pass 2 would kill is missed). */
  unsigned char *restrict f = W->flag;
  memset(f, 0, nb);
  for (size_t a = 0; a < d; a++) {
    if (g->bc[a] != FPK_BC_ABSORBING) continue;
    const double lo = g->lo[a], hi = g->hi[a];
    const double *restrict xa = x + a * nb, *restrict pa = xp + a * nb;
    const double *restrict sa = W->sig + a * nb;
    if (C->bridge)
      for (size_t i = 0; i < nb; i++) {
        const double v = xa[i], u = pa[i], near = 12.0 * (sa[i] * sa[i] * h);
        const double dl = (u - lo) * (v - lo), du = (hi - u) * (hi - v);
        f[i] |= (unsigned char)(!((v >= lo) & (v <= hi)) | (dl < near) | (du < near));
      }
    else
      for (size_t i = 0; i < nb; i++) f[i] |= (unsigned char)!((xa[i] >= lo) & (xa[i] <= hi));
  }
  /* Pass 2, on the flagged living paths: the exact decisions. */
  for (size_t i = 0; i < nb; i++) {
    if (!f[i] || !W->alive[i]) continue;
    int kill = !inside_absorbing(g, d, x, nb, i);
    uint32_t w[8];
    unsigned drawn = 0; /* Philox calls of the killing sub-stream drawn for this path and step */
    for (size_t a = 0; a < d && !kill && C->bridge; a++) {
      if (g->bc[a] != FPK_BC_ABSORBING) continue;
      const double sg = W->sig[a * nb + i], s2h = sg * sg * h;
      if (sg == 0.0) continue; /* no noise on this axis: pure transport, no bridge (kill_prepare) */
      const double x0 = xp[a * nb + i], x1 = x[a * nb + i];
      for (unsigned wall = 0; wall < 2 && !kill; wall++) {
        const double wa = wall ? g->hi[a] : g->lo[a];
        /* the expression of fpk_bridge_hit_prob, so that tests can replay the decision */
        const double q = 2.0 * (x0 - wa) * (x1 - wa) / s2h;
        if (!(q < KILL_Q_MAX)) continue; /* also NaN: σ = 0 with a point on the wall */
        const unsigned e = 2u * (unsigned)a + wall, call = e / 4;
        if (!(drawn >> call & 1u)) {
          fpk_philox_kill(C->seed, p0 + i, 2 * (uint64_t)s + call, w + 4 * call);
          drawn |= 1u << call;
        }
        kill = ((double)w[e] + 0.5) * 0x1p-32 < exp(-q);
      }
    }
    if (kill) {
      W->alive[i] = 0;
      nlive--;
      for (size_t c = 0; c < d; c++) W->x[c * nb + i] = xp[c * nb + i];
    }
  }
  return nlive;
}

/* Normals of the fill that starts at global step s (FPK_MC_FILL_STEPS steps, fewer at the end). */
static void fill_normals(const mc_ctx *C, mc_ws *W, size_t p0, size_t nb, size_t s) {
  const size_t per_step = C->per_step;
  size_t nfill = C->nsteps_total - s;
  if (nfill > FPK_MC_FILL_STEPS) nfill = FPK_MC_FILL_STEPS;
  const uint64_t call0 = (FPK_RNG_STEP0 + (uint64_t)s * per_step) / FPK_RNG_PER_CALL;
  const size_t ncalls = (nfill * per_step + FPK_RNG_PER_CALL - 1) / FPK_RNG_PER_CALL;
  fpk_rng_block(C->seed, p0, nb, call0, ncalls, W->z, nb, W->scratch);
}

/* Global step s (0-based) at time t of size h, through the stepper, with killing, the
 * finiteness check and the recording of kept paths; its normals are in the current fill. */
static int generic_step(const mc_ctx *C, mc_ws *W, size_t p0, size_t nb, size_t *nlive, size_t s,
                        double t, double h, fpk_error *err) {
  const size_t d = C->d, per_step = C->per_step;
  const size_t sl = s % FPK_MC_FILL_STEPS;
  double *x = W->x;
  int rc = C->absorbing ? kill_prepare(C, W, nb, t, err) : FPK_SUCCESS;
  if (!rc) rc = C->st->step(C->model, t, h, nb, x, W->z + sl * per_step * nb, W->work, err);
  if (rc)
    return fpk_error_prefix(err, "Monte Carlo, %s step %zu at t = %g (paths %zu..%zu): ",
                            C->st->name, s + 1, t, p0, p0 + nb - 1);
  if (C->absorbing) kill_restore(C, W, nb, *nlive);
  const size_t bad = fpk_first_nonfinite(x, d, nb);
  if (bad < nb) return nonfinite_error(C, err, p0 + bad, s + 1);
  if (C->absorbing && *nlive) *nlive = kill_test(C, W, p0, nb, *nlive, s, h);
  record_path(C, p0, nb, x, s + 1);
  return FPK_SUCCESS;
}

/* Simulates block blk over the whole time span; part receives nt * nstat block moments. */
static int run_block(const mc_ctx *C, mc_ws *W, size_t blk, double *part, fpk_error *err) {
  const size_t B = FPK_MC_BLOCK, d = C->d;
  const size_t p0 = blk * B, nb = C->npaths - p0 < B ? C->npaths - p0 : B;
  const size_t per_step = C->per_step;
  double *restrict x = W->x;

  start_paths(C, p0, nb, x, W->z, W->scratch);
  size_t bad = fpk_first_nonfinite(x, d, nb);
  if (bad < nb) return nonfinite_error(C, err, p0 + bad, 0);
  size_t nlive = nb;
  if (C->absorbing) /* a path that starts beyond an absorbing wall is dead at t = 0 */
    for (size_t i = 0; i < nb; i++) {
      W->alive[i] = (unsigned char)inside_absorbing(C->grid, d, x, nb, i);
      nlive -= !W->alive[i];
    }
  record_path(C, p0, nb, x, 0);

  /* The fused kernel (mc_ctx.fused) takes whole runs of steps: up to the end of the fill or of
   * the output interval, whichever comes first. It is used only without killing and for blocks
   * with no kept path (both need every step's state). Every step of a run is checked at once
   * afterwards: a non-finite component stays non-finite under the kernels' arithmetic
   * (model_internal.h), so a run that ends finite had every step finite; one that does not is
   * replayed from its start by generic_step, which finds and reports the exact step and path
   * with the same bits (the kernels' states are em_step's). */
  const int fused = C->fused && (!C->paths || p0 >= C->keep);
  size_t s = 0; /* global step index */
  for (size_t k = 0; k < C->nt; k++) {
    const double h = C->h[k], t0 = C->t0[k];
    for (size_t j = 0; j < C->nsteps[k];) {
      if (C->absorbing && nlive == 0) { /* the whole block is dead and frozen */
        record_path(C, p0, nb, x, s + 1);
        j++, s++;
        continue;
      }
      const size_t sl = s % FPK_MC_FILL_STEPS;
      if (sl == 0) fill_normals(C, W, p0, nb, s);
      if (fused) {
        size_t len = FPK_MC_FILL_STEPS - sl;
        if (len > C->nsteps[k] - j) len = C->nsteps[k] - j;
        memcpy(W->xprev, x, d * nb * sizeof(double));
        C->fused(C->model, h, len, nb, x, W->z + sl * per_step * nb, nb, W->work);
        if (fpk_first_nonfinite(x, d, nb) < nb) {
          memcpy(x, W->xprev, d * nb * sizeof(double));
          for (size_t r = 0; r < len; r++) {
            const int rc = generic_step(C, W, p0, nb, &nlive, s + r, t0 + (double)(j + r) * h,
                                        h, err);
            if (rc) return rc;
          }
        }
        j += len, s += len;
        continue;
      }
      const int rc = generic_step(C, W, p0, nb, &nlive, s, t0 + (double)j * h, h, err);
      if (rc) return rc;
      j++, s++;
    }
    observe(C, W, nb, nlive, k, part + k * C->nstat);
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
  free(res->survival);
  free(res->path_t);
  free(res->paths);
  memset(res, 0, sizeof *res);
}

/* A resume state must belong to this run and be consistent: shapes, counts (each output's
 * histogram plus outside equals its survivors, at most the paths done), finite moments. */
static int check_resume(const fpk_mc_state *r, const mc_ctx *C, size_t nblocks, fpk_error *err) {
  const size_t d = C->d, B = FPK_MC_BLOCK;
  if (r->npaths != C->npaths || r->nt != C->nt || r->cells != C->cells || r->dim != d ||
      r->nsteps != C->nsteps_total || r->keep_paths != C->keep || r->seed != C->seed)
    return fpk_error_set(err, FPK_EINVAL,
                         "Monte Carlo: the resume state is of another run (%zu paths, %zu outputs, "
                         "%zu cells, dim %zu, %zu steps, %zu kept, seed %llu; this run: %zu, %zu, "
                         "%zu, %zu, %zu, %zu, %llu)",
                         r->npaths, r->nt, r->cells, r->dim, r->nsteps, r->keep_paths,
                         (unsigned long long)r->seed, C->npaths, C->nt, C->cells, d,
                         C->nsteps_total, C->keep, (unsigned long long)C->seed);
  const size_t done = r->next_block * B < C->npaths ? r->next_block * B : C->npaths;
  const size_t kept = C->keep < done ? C->keep : done;
  if (r->next_block > nblocks || r->paths_done != done || r->kept_rows != kept)
    return fpk_error_set(err, FPK_EINVAL,
                         "Monte Carlo: resume state at block %zu of %zu with %zu paths done and "
                         "%zu kept rows is inconsistent",
                         r->next_block, nblocks, r->paths_done, r->kept_rows);
  if (!r->counts || !r->outside || !r->alive || !r->moments || (kept && !r->paths))
    return fpk_error_set(err, FPK_EINVAL, "Monte Carlo: resume state without its arrays");
  for (size_t k = 0; k < C->nt; k++) {
    uint64_t inside = 0;
    for (size_t i = 0; i < C->cells; i++) inside += r->counts[k * C->cells + i];
    if (inside + r->outside[k] != r->alive[k] || r->alive[k] > done)
      return fpk_error_set(err, FPK_EINVAL,
                           "Monte Carlo: resume state at output %zu: histogram %llu + outside "
                           "%llu != survivors %llu (of %zu paths done)",
                           k, (unsigned long long)inside, (unsigned long long)r->outside[k],
                           (unsigned long long)r->alive[k], done);
    if ((double)r->alive[k] != r->moments[k * C->nstat])
      return fpk_error_set(err, FPK_EINVAL,
                           "Monte Carlo: resume state at output %zu: %llu survivors but moments "
                           "of %g",
                           k, (unsigned long long)r->alive[k], r->moments[k * C->nstat]);
  }
  for (size_t i = 0; i < C->nt * C->nstat; i++)
    if (!isfinite(r->moments[i]))
      return fpk_error_set(err, FPK_EINVAL, "Monte Carlo: resume state: moment %zu not finite", i);
  const size_t np = kept * (C->nsteps_total + 1) * d;
  for (size_t i = 0; i < np; i++)
    if (!isfinite(r->paths[i]))
      return fpk_error_set(err, FPK_EINVAL, "Monte Carlo: resume state: kept path value %zu not "
                           "finite", i);
  return FPK_SUCCESS;
}

int fpk_mc_check_ranks(size_t npaths, const fpk_comm *comm, fpk_error *err) {
  const size_t P = (size_t)fpk_comm_size(comm), B = FPK_MC_BLOCK;
  const size_t nblocks = (npaths + B - 1) / B;
  if (P > nblocks)
    return fpk_error_set(err, FPK_EINVAL,
                         "%zu paths make %zu block%s of %zu paths: at most %zu rank%s (%zu given)",
                         npaths, nblocks, nblocks == 1 ? "" : "s", B, nblocks,
                         nblocks == 1 ? "" : "s", P);
  return FPK_SUCCESS;
}

/* Sizes in bytes of each rank's share of n consecutive units of `unit` bytes (fpk_comm_range's
 * split, for fpk_comm_allgatherv). */
static void range_bytes(size_t P, size_t n, size_t unit, size_t *counts) {
  const size_t q = n / P, rem = n % P;
  for (size_t r = 0; r < P; r++) counts[r] = (q + (r < rem ? 1 : 0)) * unit;
}

/* The exchange after a round [b0, b1) with several processes, on each rank's main thread: the
 * agreement on the status, then the block partials of the round in block order into `all`, and
 * the kept-path rows of its blocks into C->paths. Returns the agreed status (err: the lowest
 * failing rank's message). */
static int mc_round_exchange(const mc_ctx *C, const fpk_comm *comm, size_t b0, size_t b1,
                             int status, const double *part, double *all, size_t *counts,
                             fpk_error *err) {
  int rc = agree_plain(comm, status, err);
  if (rc) return rc;
  const size_t P = (size_t)fpk_comm_size(comm), n = b1 - b0, B = FPK_MC_BLOCK;
  const size_t stride = C->nt * C->nstat;
  size_t lo, hi;
  fpk_comm_range(comm, n, &lo, &hi);
  range_bytes(P, n, stride * sizeof(double), counts);
  rc = fpk_comm_gatherv(comm, part + lo * stride, all, counts, 0, err);
  /* a failed gather (an MPI error) is agreed on before anything else is exchanged */
  if ((rc = agree_plain(comm, rc, err))) return rc;
  /* kept paths: rows [b0 B, min(b1 B, keep)), the rows of rank r's blocks from rank r */
  if (C->paths && b0 * B < C->keep) {
    const size_t row = (C->nsteps_total + 1) * C->d;
    const size_t rows_end = b1 * B < C->keep ? b1 * B : C->keep;
    const size_t q = n / P, rem = n % P;
    for (size_t r = 0; r < P; r++) {
      const size_t rlo = b0 + r * q + (r < rem ? r : rem), rhi = rlo + q + (r < rem ? 1 : 0);
      const size_t a = rlo * B < rows_end ? rlo * B : rows_end;
      const size_t e = rhi * B < rows_end ? rhi * B : rows_end;
      counts[r] = (e - a) * row * sizeof(double);
    }
    const size_t first = b0 * B, total = (rows_end - first) * row;
    double *tmp = malloc(total ? total * sizeof(double) : 1);
    size_t mine_at = (b0 + lo) * B;
    if (mine_at > rows_end) mine_at = rows_end;
    /* every rank reaches this point: a failed allocation is agreed on before the gather */
    const int st = tmp ? FPK_SUCCESS
                       : fpk_error_set(err, FPK_ENOMEM,
                                       "Monte Carlo: out of memory gathering kept paths");
    rc = agree_plain(comm, st, err);
    if (!rc) rc = fpk_comm_allgatherv(comm, C->paths + mine_at * row, tmp, counts, err);
    if (!rc) memcpy(C->paths + first * row, tmp, total * sizeof(double));
    free(tmp);
  }
  return rc;
}

int fpk_mc_run(const fpk_model *model, const fpk_gaussian *init, const fpk_grid *grid,
               const double *t_out, size_t nt, const fpk_mc_params *params, fpk_mc_result *res,
               fpk_error *err) {
  if (!res) return fpk_error_set(err, FPK_EINVAL, "fpk_mc_run: result pointer is NULL");
  memset(res, 0, sizeof *res);
  if (!model || !(init || (params && params->init_cells)) || !grid || !params || (!t_out && nt))
    return fpk_error_set(err, FPK_EINVAL, "fpk_mc_run: %s is NULL",
                         !model ? "model" : !params ? "params" : !init ? "init" : !grid ? "grid"
                                                                                     : "t_out");
  const size_t d = model->dim;
  if (d < 1 || d > FPK_MAX_DIM)
    return fpk_error_set(err, FPK_EINVAL, "Monte Carlo: model %s has dimension %zu (1..%d)",
                         model->name ? model->name : "?", d, FPK_MAX_DIM);
  /* noise: diagonal (noise) or a d × m matrix (noise_matrix, issue 16): the steppers take m
   * normals per Brownian component row (sde_internal.h, stream layout) */
  if (!model->drift || (!model->noise && !model->noise_matrix))
    return fpk_error_set(err, FPK_EINVAL, "Monte Carlo: model %s lacks a drift or noise callback",
                         model->name ? model->name : "?");
  if (model->noise_matrix && (model->noise_dim < 1 || model->noise_dim > FPK_MAX_NOISE))
    return fpk_error_set(err, FPK_EINVAL,
                         "Monte Carlo: model %s has a noise matrix with %zu columns (1..%d)",
                         model->name ? model->name : "?", model->noise_dim, FPK_MAX_NOISE);
  if (!params->init_cells && init->dim != d)
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
  const fpk_comm *comm = params->comm;
  const int nranks = fpk_comm_size(comm), rank = fpk_comm_rank(comm);
  if (nranks > 1) {
    if (fpk_mc_check_ranks(params->npaths, comm, err))
      return fpk_error_prefix(err, "Monte Carlo: ");
    if (params->poll || params->checkpoint || params->resume)
      return fpk_error_set(err, FPK_EUNSUP,
                           "Monte Carlo: checkpoints and resume with %d processes are not "
                           "supported: run the checkpointed ensemble in one process (its threads "
                           "give the same numbers)",
                           nranks);
  }
  const fpk_sde_stepper_type *st = params->stepper ? params->stepper : fpk_sde_euler_maruyama;
  int rc = fpk_sde_stepper_check(st, model, err);
  if (!rc) rc = fpk_sde_step_check(st, model, params->dt, err);
  if (rc) return fpk_error_prefix(err, "Monte Carlo: ");
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
  for (size_t c = 0; c < d && !params->init_cells; c++)
    if (!isfinite(init->mean[c]))
      return fpk_error_set(err, FPK_EINVAL, "Monte Carlo: initial mean[%zu] is not finite", c);

  mc_ctx C = {.model = model, .grid = grid, .st = st, .seed = params->seed, .d = d,
              .npaths = params->npaths, .nt = nt, .cells = grid->size,
              .nstat = 1 + d + d * (d + 1) / 2, .keep = params->keep_paths};
  for (size_t a = 0; a < d; a++) C.absorbing |= grid->bc[a] == FPK_BC_ABSORBING;
  C.bridge = C.absorbing && params->bridge_correction >= 0;
  C.per_step = fpk_sde_normals_per_step(st, model);
  if (!C.absorbing) C.fused = sde_mc_fused_kernel(model, st);
  if (params->init_cells) {
    if (!(C.cdf = malloc(grid->size * sizeof(double))))
      return fpk_error_set(err, FPK_ENOMEM, "Monte Carlo: out of memory");
    rc = fpk_mc_cell_cdf(grid, params->init_cells, C.cdf, &C.cdf_last, err);
  } else {
    rc = fpk_cholesky_psd(init->cov, d, C.chol, err);
    if (!rc) memcpy(C.mean0, init->mean, d * sizeof(double));
  }
  if (rc) {
    free(C.cdf);
    fpk_error_prefix(err, "Monte Carlo: ");
    return rc;
  }

  size_t *nsteps = calloc(nt, sizeof *nsteps);
  double *hk = calloc(nt, sizeof *hk), *t0k = calloc(nt, sizeof *t0k);
  if (!nsteps || !hk || !t0k) {
    free(nsteps), free(hk), free(t0k), free(C.cdf);
    return fpk_error_set(err, FPK_ENOMEM, "Monte Carlo: out of memory");
  }
  size_t total = 0;
  for (size_t k = 0; k < nt; k++) {
    t0k[k] = k ? t_out[k - 1] : 0.0;
    if ((rc = fpk_time_steps(t0k[k], t_out[k], params->dt, &nsteps[k], &hk[k], err))) {
      free(nsteps), free(hk), free(t0k), free(C.cdf);
      return fpk_error_prefix(err, "Monte Carlo: ");
    }
    total += nsteps[k];
  }
  if ((double)total > FPK_MAX_STEPS) {
    free(nsteps), free(hk), free(t0k), free(C.cdf);
    return fpk_error_set(err, FPK_EINVAL,
                         "Monte Carlo: dt = %g gives %zu steps per path, more than the limit of "
                         "%.0e",
                         params->dt, total, FPK_MAX_STEPS);
  }
  /* Kept paths are the one allocation that grows with the step count: size it in floating point
   * and name it, rather than fail below as "out of memory" for the histograms. */
  const double kept_bytes =
      (double)params->keep_paths * ((double)total + 1.0) * (double)d * sizeof(double);
  if (params->keep_paths && kept_bytes > (double)(SIZE_MAX / 2)) {
    free(nsteps), free(hk), free(t0k), free(C.cdf);
    return fpk_error_set(err, FPK_ENOMEM,
                         "Monte Carlo: keeping %zu paths x %zu steps x %zu components needs %.3g "
                         "GB: keep fewer paths",
                         params->keep_paths, total + 1, d, kept_bytes / 1e9);
  }
  C.nsteps = nsteps;
  C.h = hk;
  C.t0 = t0k;
  C.nsteps_total = total;
  {
    /* whole Philox calls: X_0 takes one, a fill ceil(FILL_STEPS * q * m / PER_CALL) */
    size_t rows = FPK_MC_FILL_STEPS * C.per_step;
    rows = (rows + FPK_RNG_PER_CALL - 1) / FPK_RNG_PER_CALL * FPK_RNG_PER_CALL;
    C.zrows = rows > FPK_RNG_PER_CALL ? rows : FPK_RNG_PER_CALL;
  }

  const size_t B = FPK_MC_BLOCK, N = params->npaths;
  const size_t nblocks = (N + B - 1) / B;
  /* Blocks per round. Several processes: at least 8 per rank (a round of FPK_MC_ROUND blocks
   * would leave ranks beyond the 256th idle); the merge runs block after block whatever the round
   * size, so the numbers do not depend on it (checkpoints, whose states are per round, are
   * refused with several processes). */
  size_t R = FPK_MC_ROUND;
  if (nranks > 1 && (size_t)nranks * 8 > R) R = (size_t)nranks * 8;
  if (nblocks < R) R = nblocks;
  const fpk_mc_state *resume = params->resume;
  if (resume && (rc = check_resume(resume, &C, nblocks, err))) {
    free(nsteps), free(hk), free(t0k), free(C.cdf);
    return rc;
  }
  const size_t first_block = resume ? resume->next_block : 0;
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
  res->survival = malloc(nt * sizeof(double));
  if (params->keep_paths) {
    res->path_t = malloc((total + 1) * sizeof(double));
    res->paths = malloc(params->keep_paths * (total + 1) * d * sizeof(double));
  }
  uint64_t *counts = calloc(nt * grid->size, sizeof(uint64_t));
  uint64_t *nout = calloc(nt, sizeof(uint64_t)), *nalive = calloc(nt, sizeof(uint64_t));
  double *part = malloc(R * nt * C.nstat * sizeof(double));
  /* several processes: the round's partials of every rank (gathered), and the gather's sizes */
  double *part_all = nranks > 1 ? malloc(R * nt * C.nstat * sizeof(double)) : NULL;
  size_t *gather_counts = nranks > 1 ? malloc((size_t)nranks * sizeof(size_t)) : NULL;
  const double *merge_from = nranks > 1 ? part_all : part;
  /* running count (1), mean (d) and co-moment (packed) of the survivors */
  double *M2 = calloc(nt * C.nstat, sizeof(double));
  if (!res->t || !res->density || !res->mean || !res->cov || !res->outside || !res->survival ||
      !counts || !nout || !nalive || !part || !M2 ||
      (nranks > 1 && (!part_all || !gather_counts))) {
    rc = fpk_error_set(err, FPK_ENOMEM, "Monte Carlo: out of memory for %zu outputs x %zu cells",
                       nt, grid->size);
    goto done;
  }
  if (params->keep_paths && (!res->path_t || !res->paths)) {
    rc = fpk_error_set(err, FPK_ENOMEM,
                       "Monte Carlo: out of memory keeping %zu paths x %zu steps x %zu "
                       "components (%.3g GB): keep fewer paths",
                       params->keep_paths, total + 1, d, kept_bytes / 1e9);
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
  if (resume) {
    memcpy(counts, resume->counts, nt * grid->size * sizeof(uint64_t));
    memcpy(nout, resume->outside, nt * sizeof(uint64_t));
    memcpy(nalive, resume->alive, nt * sizeof(uint64_t));
    memcpy(M2, resume->moments, nt * C.nstat * sizeof(double));
    if (resume->kept_rows)
      memcpy(res->paths, resume->paths, resume->kept_rows * (total + 1) * d * sizeof(double));
  }

  int failed = 0, fail_status = FPK_SUCCESS;
  /* checkpoints: the poll asked for one after this round (want); the callback's status (stop) */
  int want = 0, stop = FPK_SUCCESS;
  size_t stopped_at = 0;
  size_t err_block = (size_t)-1; /* lowest failing block: its error is the one reported */
  /* progress: blocks finished by any thread, reported by that thread inside a critical section
   * (fpk_progress_fn), so the callback never runs concurrently and nothing of the reduction
   * depends on it; a count smaller than one already reported is dropped (non-decreasing) */
  size_t blocks_done = first_block, blocks_reported = first_block;
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
    for (size_t b0 = first_block; b0 < nblocks; b0 += R) {
      const size_t b1 = b0 + R < nblocks ? b0 + R : nblocks;
      /* this rank's blocks of the round (all of them with one process) */
      size_t lo = 0, hi = b1 - b0;
      if (nranks > 1) fpk_comm_range(comm, b1 - b0, &lo, &hi);
#pragma omp for schedule(dynamic, 1)
      for (size_t b = b0 + lo; b < b0 + hi; b++) {
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
        if (params->progress && nranks == 1) {
          size_t bd;
#pragma omp atomic capture
          bd = ++blocks_done;
          /* any thread, one at a time: with "thread 0 only", a thread 0 descheduled on a
           * loaded machine reported nothing before the end (tests/cli/progress.sh) */
#pragma omp critical(fpk_mc_progress)
          if (bd > blocks_reported) {
            blocks_reported = bd;
            params->progress(params->progress_user, bd * B < N ? bd * B : N, N);
          }
        }
      }
      if (nranks > 1) {
        /* MPI from the main thread only (FUNNELED); the omp for's barrier has passed */
#pragma omp master
        {
          const int arc = mc_round_exchange(&C, comm, b0, b1, failed ? fail_status : FPK_SUCCESS,
                                            part, part_all, gather_counts, err);
          if (arc) {
            fail_status = arc;
            failed = 1;
          } else if (params->progress && rank == 0) {
            params->progress(params->progress_user, b1 * B < N ? b1 * B : N, N);
          }
        }
#pragma omp barrier
      }
#pragma omp single
      {
        /* the merge: rank 0's (it alone holds the gathered partials of a distributed round) */
        if (!failed && rank == 0)
          for (size_t b = b0; b < b1; b++)
            for (size_t k = 0; k < nt; k++) {
              /* counts are whole numbers below 2^53: exact as doubles */
              const double *pb = merge_from + ((b - b0) * nt + k) * C.nstat;
              double *tot = M2 + k * C.nstat;
              const double nB = pb[0], nA = tot[0], n = nA + nB;
              if (nB == 0.0) continue;
              if (nA == 0.0) {
                memcpy(tot, pb, C.nstat * sizeof(double));
                continue;
              }
              double delta[FPK_MAX_DIM];
              for (size_t a = 0; a < d; a++) {
                delta[a] = pb[1 + a] - tot[1 + a];
                tot[1 + a] += delta[a] * (nB / n);
              }
              const double w = nA * nB / n;
              size_t q = 1 + d;
              for (size_t a = 0; a < d; a++)
                for (size_t c = a; c < d; c++, q++) tot[q] += pb[q] + delta[a] * delta[c] * w;
              tot[0] = n;
            }
        /* a safe point between rounds (none after the last: the run is complete) */
        if (!failed && params->poll && b1 < nblocks) want = params->poll(params->user) != 0;
      }
      if (want) {
        /* every thread folds its counts into the shared ones, so the state is complete */
        if (W.hist) {
#pragma omp critical(fpk_mc_hist)
          {
            for (size_t i = 0; i < nt * C.cells; i++) counts[i] += W.hist[i];
            for (size_t k = 0; k < nt; k++) nout[k] += W.nout[k], nalive[k] += W.nalive[k];
          }
          memset(W.hist, 0, nt * C.cells * sizeof(uint64_t));
          memset(W.nout, 0, nt * sizeof(uint64_t));
          memset(W.nalive, 0, nt * sizeof(uint64_t));
        }
#pragma omp barrier
#pragma omp single
        {
          const size_t done = b1 * B < N ? b1 * B : N;
          const size_t kept = params->keep_paths < done ? params->keep_paths : done;
          const fpk_mc_state st = {.npaths = N, .nt = nt, .cells = C.cells, .dim = d,
                                   .nsteps = total, .keep_paths = params->keep_paths,
                                   .seed = C.seed,
                                   .next_block = b1, .paths_done = done, .counts = counts,
                                   .outside = nout, .alive = nalive, .moments = M2,
                                   .kept_rows = kept, .paths = res->paths};
          stop = params->checkpoint ? params->checkpoint(&st, params->user) : FPK_SUCCESS;
          stopped_at = done;
          want = 0;
        }
      }
      if (stop) break;
    }
    if (W.hist) {
#pragma omp critical(fpk_mc_hist)
      {
        for (size_t i = 0; i < nt * C.cells; i++) counts[i] += W.hist[i];
        for (size_t k = 0; k < nt; k++) nout[k] += W.nout[k], nalive[k] += W.nalive[k];
      }
    }
    ws_free(&W);
  }
  /* several processes: the counts of every rank (the last round's agreement succeeded when
   * nothing failed, so every rank is here with failed == 0, or every rank with failed == 1) */
  if (nranks > 1 && !failed) {
    rc = fpk_comm_sum_u64(comm, counts, nt * grid->size, err);
    if (!rc) rc = fpk_comm_sum_u64(comm, nout, nt, err);
    if (!rc) rc = fpk_comm_sum_u64(comm, nalive, nt, err);
    /* rank 0's merged moments to every rank: all return the same result */
    if (!rc) rc = fpk_comm_bcast(comm, M2, nt * C.nstat * sizeof(double), 0, err);
    if (rc) goto done;
  }
  if (params->progress && !failed && !stop && rank == 0)
    params->progress(params->progress_user, N, N);
  if (failed) {
    rc = fail_status;
    goto done;
  }
  if (stop) {
    rc = stop == FPK_EINTR
             ? fpk_error_set(err, FPK_EINTR,
                             "Monte Carlo: stopped by its checkpoint after %zu of %zu paths",
                             stopped_at, N)
             : fpk_error_set(err, stop,
                             "Monte Carlo: the checkpoint callback failed after %zu of %zu paths "
                             "(status %d)",
                             stopped_at, N, stop);
    goto done;
  }

  /* Output guard (fpkit/guard.h): every surviving path is either in a histogram cell or
   * outside the grid, exactly (integer counts). */
  for (size_t k = 0; k < nt; k++) {
    uint64_t inside = 0;
    for (size_t i = 0; i < grid->size; i++) inside += counts[k * grid->size + i];
    if (inside + nout[k] != nalive[k] || nalive[k] > N) {
      rc = fpk_guard_fail(err, "Monte Carlo", t_out[k],
                          "histogram %llu + outside %llu != surviving paths %llu of %zu; likely "
                          "cause: a defect in the ensemble engine (please report it)",
                          (unsigned long long)inside, (unsigned long long)nout[k],
                          (unsigned long long)nalive[k], N);
      goto done;
    }
  }
  {
    const double norm = 1.0 / ((double)N * grid->cell_volume);
    for (size_t i = 0; i < nt * grid->size; i++) res->density[i] = (double)counts[i] * norm;
    for (size_t k = 0; k < nt; k++) {
      res->outside[k] = (double)nout[k] / (double)N;
      res->survival[k] = (double)nalive[k] / (double)N;
      const double *tot = M2 + k * C.nstat, n = tot[0];
      for (size_t a = 0; a < d; a++) res->mean[k * d + a] = n > 0.0 ? tot[1 + a] : NAN;
      size_t q = 1 + d;
      for (size_t a = 0; a < d; a++)
        for (size_t c = a; c < d; c++, q++) {
          const double v = n > 1.0 ? tot[q] / (n - 1.0) : NAN;
          res->cov[(k * d + a) * d + c] = v;
          res->cov[(k * d + c) * d + a] = v;
        }
    }
  }
  rc = FPK_SUCCESS;

done:
  free(nsteps);
  free(C.cdf);
  free(hk);
  free(t0k);
  free(counts);
  free(nout);
  free(nalive);
  free(part);
  free(part_all);
  free(gather_counts);
  free(M2);
  if (rc) fpk_mc_result_free(res);
  return rc;
}
