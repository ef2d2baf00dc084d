/* Refinement ladders on shared Brownian paths (fpkit/sde.h, fpk_sde_ladder).
 *
 * One pass per block of FPK_MC_BLOCK paths: the fine increments come from the path streams at the
 * positions fpk_mc_run uses for the fine step (FPK_RNG_STEP0 + s q m + r m + c, m = noise_dim
 * Brownian components, m = d for diagonal noise), and every level advances as soon as the fine
 * steps it spans are complete. A coarse step of size H = m h over fine steps k = 0..m−1 receives
 *     ΔW  = Σ_k ΔW_k,
 *     I₁₀ = ∫ (W_s − W_{t_0}) ds = Σ_k [h (W_{t_k} − W_{t_0}) + I₁₀,k],
 * exactly the Brownian path the fine level sees (Kloeden & Platen 1992, §10.4 for I₁₀; the
 * coupling is the one of multilevel Monte Carlo, Giles, Oper. Res. 56(3), 2008, §3), converted to
 * ξ₁ = ΔW/√H, ξ₂ = √3 (2 I₁₀/H^{3/2} − ξ₁). A level whose step is the fine step takes the fine
 * normals as they are, bit for bit.
 * Statistics: for each quantity, the block mean and centred sum of squares (two passes in path
 * order), merged over blocks in block order with Chan, Golub & LeVeque's update, as in
 * ensemble.c, so the result does not depend on the number of threads.
 * Several processes (p->comm; docs/parallel.md "Distributed ensembles"): rank r runs the blocks
 * of its contiguous range (fpk_comm_range), the ranks agree on the status (the lowest failing
 * rank's message, hence the lowest failing block's), the per-block sums are gathered in block
 * order (fpk_comm_allgatherv) and every rank merges all of them as one process would: the result
 * does not depend on the number of processes either. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "fpkit/parallel.h"
#include "sde/sde_internal.h"

#define NLEV (FPK_LADDER_MAX + 1)
/* quantities per path: squared errors [L], functionals [L+1][nfun], differences [L][nfun], then
 * |X^ref_T|² (the scale against which an error is at the round-off level) */
/* The engine's agreements: every rank meets them at the same point of its loop, so a failure is
 * coordinated (fpk_comm_agree_at): every rank returns it with the failing rank's message in the
 * words of a one-process run, and may go on (the command writes its file marked failed under
 * --keep-failed; docs/parallel.md). */
static int agree_plain(const fpk_comm *comm, int status, fpk_error *err) {
  return fpk_comm_agree_at(comm, status, "fpk_sde_ladder", err);
}

#define NQ_MAX (FPK_LADDER_MAX + (2 * FPK_LADDER_MAX + 1) * FPK_LADDER_MAX_FUN + 1)

typedef struct {
  const fpk_model *model;
  const fpk_ladder_params *p;
  size_t d, nm, L, nlev, fine, q, nfun, nq, zrows; /* nm: Brownian components (noise_dim) */
  size_t m[NLEV];                       /* fine steps per step of each level */
  double H[NLEV];                       /* step of each level */
  const fpk_sde_stepper_type *st[NLEV]; /* level L is the reference level when there is one */
  double hf;                            /* fine step */
  double mean0[FPK_MAX_DIM], chol[FPK_MAX_DIM * FPK_MAX_DIM];
} lctx;

typedef struct {
  double *x[NLEV], *work[NLEV], *dw[NLEV], *i10[NLEV];
  double *zl, *zf, *dwf, *i10f, *x0, *wT, *xref, *fref, *fl, *val;
  void *scratch;
} lws;

static void *alloc64(size_t n) {
  size_t r = (n * sizeof(double) + 63) / 64 * 64;
  void *p = aligned_alloc(64, r ? r : 64);
  if (p) memset(p, 0, r ? r : 64);
  return p;
}

static void lws_free(lws *w, size_t nlev) {
  for (size_t l = 0; l < nlev; l++) {
    free(w->x[l]);
    free(w->work[l]);
    free(w->dw[l]);
    free(w->i10[l]);
  }
  free(w->zl), free(w->zf), free(w->dwf), free(w->i10f), free(w->x0), free(w->wT);
  free(w->xref), free(w->fref), free(w->fl), free(w->val), free(w->scratch);
  memset(w, 0, sizeof *w);
}

static int lws_alloc(lws *w, const lctx *C) {
  const size_t B = FPK_MC_BLOCK, dB = C->d * B, nf = C->nfun ? C->nfun : 1;
  const size_t mB = C->nm * B; /* increments: one row per Brownian component */
  memset(w, 0, sizeof *w);
  int bad = 0;
  for (size_t l = 0; l < C->nlev; l++) {
    const fpk_sde_stepper_type *st = C->st[l];
    w->x[l] = alloc64(dB);
    w->work[l] = alloc64(fpk_sde_work_size(st, C->model, B));
    w->dw[l] = alloc64(mB);
    w->i10[l] = alloc64(mB);
    bad |= !w->x[l] || !w->work[l] || !w->dw[l] || !w->i10[l];
  }
  w->zl = alloc64(2 * mB);
  w->zf = alloc64(C->zrows * B);
  w->dwf = alloc64(mB);
  w->i10f = alloc64(mB);
  w->x0 = alloc64(dB);
  w->wT = alloc64(mB);
  w->xref = alloc64(dB);
  w->fref = alloc64(nf * B);
  w->fl = alloc64(nf * B);
  w->val = alloc64(B);
  w->scratch = aligned_alloc(64, FPK_RNG_SCRATCH(B));
  bad |= !w->zl || !w->zf || !w->dwf || !w->i10f || !w->x0 || !w->wT || !w->xref || !w->fref ||
         !w->fl || !w->val || !w->scratch;
  if (bad) {
    lws_free(w, C->nlev);
    return -1;
  }
  return 0;
}

/* Block mean and centred sum of squares of v[0..nb-1], two passes in path order. */
static void block_moments(const double *v, size_t nb, double *out) {
  double s = 0.0;
  for (size_t i = 0; i < nb; i++) s += v[i];
  const double mu = s / (double)nb;
  double m2 = 0.0;
  for (size_t i = 0; i < nb; i++) m2 += (v[i] - mu) * (v[i] - mu);
  out[0] = mu;
  out[1] = m2;
}

static int level_step(const lctx *C, lws *W, size_t l, size_t k, size_t nb, const double *z,
                      size_t p0, fpk_error *err) {
  const double t = (double)k * C->H[l];
  int rc = C->st[l]->step(C->model, t, C->H[l], nb, W->x[l], z, W->work[l], err);
  if (rc)
    return fpk_error_prefix(err, "ladder level %zu (%zu steps, %s), step %zu at t = %g (paths "
                            "%zu..%zu): ", l, C->fine / C->m[l], C->st[l]->name, k + 1, t,
                            p0, p0 + nb - 1);
  size_t bad = fpk_first_nonfinite(W->x[l], C->d, nb);
  if (bad < nb)
    return fpk_error_set(err, FPK_ENUMERIC,
                         "ladder level %zu (%zu steps, %s): path %zu became non-finite at t = %g "
                         "(step %zu of %zu); reduce the coarsest step or use tamed-euler",
                         l, C->fine / C->m[l], C->st[l]->name, p0 + bad, t + C->H[l], k + 1,
                         C->fine / C->m[l]);
  return FPK_SUCCESS;
}

/* Simulates block blk on every level; part receives nq (mean, M2) pairs. */
static int run_block(const lctx *C, lws *W, size_t blk, double *part, fpk_error *err) {
  const size_t B = FPK_MC_BLOCK, d = C->d, q = C->q;
  const size_t p0 = blk * B, nb = C->p->npaths - p0 < B ? C->p->npaths - p0 : B, dn = d * nb;
  /* the Brownian increments have m = noise_dim components (m = d for diagonal noise, the same
   * arrays as before noise matrices) */
  const size_t mn = C->nm * nb;
  const double hf = C->hf, sqhf = sqrt(hf), k3 = 1.0 / sqrt(3.0), r3 = sqrt(3.0);
  const int exact = C->p->reference == FPK_LADDER_REF_EXACT;

  fpk_mc_initial_state(C->p->seed, p0, nb, d, C->mean0, C->chol, W->x0, W->zf, W->scratch);
  for (size_t l = 0; l < C->nlev; l++) {
    memcpy(W->x[l], W->x0, dn * sizeof(double));
    memset(W->dw[l], 0, mn * sizeof(double));
    memset(W->i10[l], 0, mn * sizeof(double));
  }
  memset(W->wT, 0, mn * sizeof(double));

  const size_t per_step = q * C->nm;
  int rc;
  for (size_t s = 0; s < C->fine; s++) {
    const size_t sl = s % FPK_MC_FILL_STEPS;
    if (sl == 0) {
      size_t nfill = C->fine - s;
      if (nfill > FPK_MC_FILL_STEPS) nfill = FPK_MC_FILL_STEPS;
      const uint64_t call0 = (FPK_RNG_STEP0 + (uint64_t)s * per_step) / FPK_RNG_PER_CALL;
      const size_t ncalls = (nfill * per_step + FPK_RNG_PER_CALL - 1) / FPK_RNG_PER_CALL;
      fpk_rng_block(C->p->seed, p0, nb, call0, ncalls, W->zf, nb, W->scratch);
    }
    const double *zf = W->zf + sl * per_step * nb;
    /* the fine increments ΔW_k and I₁₀,k */
    for (size_t k = 0; k < mn; k++) W->dwf[k] = sqhf * zf[k];
    if (q == 2) {
      const double a = 0.5 * hf * sqhf;
      for (size_t k = 0; k < mn; k++) W->i10f[k] = a * (zf[k] + k3 * zf[mn + k]);
    }
    if (exact)
      for (size_t k = 0; k < mn; k++) W->wT[k] += W->dwf[k];
    for (size_t l = 0; l < C->nlev; l++) {
      const size_t m = C->m[l];
      if (m == 1) {
        if ((rc = level_step(C, W, l, s, nb, zf, p0, err))) return rc;
        continue;
      }
      double *restrict dw = W->dw[l], *restrict i10 = W->i10[l];
      if (q == 2)
        for (size_t k = 0; k < mn; k++) i10[k] += hf * dw[k] + W->i10f[k];
      for (size_t k = 0; k < mn; k++) dw[k] += W->dwf[k];
      if ((s + 1) % m) continue;
      const double H = C->H[l], rs = 1.0 / sqrt(H), c2 = 2.0 / (H * sqrt(H));
      double *restrict z1 = W->zl, *restrict z2 = W->zl + mn;
      for (size_t k = 0; k < mn; k++) z1[k] = dw[k] * rs;
      if (C->st[l]->normals_per_dim == 2)
        for (size_t k = 0; k < mn; k++) z2[k] = r3 * (c2 * i10[k] - z1[k]);
      if ((rc = level_step(C, W, l, (s + 1) / m - 1, nb, W->zl, p0, err))) return rc;
      memset(dw, 0, mn * sizeof(double));
      memset(i10, 0, mn * sizeof(double));
    }
  }

  /* the reference state at T */
  const double *xr;
  if (exact) {
    if ((rc = C->model->solution(0.0, C->p->T, nb, W->x0, W->wT, W->xref, C->model->params)))
      return fpk_error_set(err, rc < 0 ? FPK_ECALLBACK : FPK_ENUMERIC,
                           "ladder: model %s: solution callback returned %d (paths %zu..%zu)",
                           C->model->name, rc, p0, p0 + nb - 1);
    if (fpk_first_nonfinite(W->xref, d, nb) < nb)
      return fpk_error_set(err, FPK_ENUMERIC, "ladder: the exact solution of model %s is not "
                           "finite for a path in %zu..%zu", C->model->name, p0, p0 + nb - 1);
    xr = W->xref;
  } else {
    xr = W->x[C->p->reference == FPK_LADDER_REF_LEVEL ? C->L : C->L - 1];
  }
  const size_t nf = C->nfun, L = C->L;
  if (nf && (rc = C->p->functional(nb, xr, W->fref, C->p->functional_params)))
    return fpk_error_set(err, rc < 0 ? FPK_ECALLBACK : FPK_ENUMERIC,
                         "ladder: functional callback returned %d (paths %zu..%zu)", rc, p0,
                         p0 + nb - 1);
  for (size_t j = 0; j < nf; j++) block_moments(W->fref + j * nb, nb, part + 2 * (L + L * nf + j));
  for (size_t i = 0; i < nb; i++) W->val[i] = 0.0;
  for (size_t c = 0; c < d; c++)
    for (size_t i = 0; i < nb; i++) W->val[i] += xr[c * nb + i] * xr[c * nb + i];
  block_moments(W->val, nb, part + 2 * (C->nq - 1));
  for (size_t l = 0; l < L; l++) {
    const double *xl = W->x[l];
    for (size_t i = 0; i < nb; i++) W->val[i] = 0.0;
    for (size_t c = 0; c < d; c++)
      for (size_t i = 0; i < nb; i++) {
        const double e = xl[c * nb + i] - xr[c * nb + i];
        W->val[i] += e * e;
      }
    block_moments(W->val, nb, part + 2 * l);
    if (!nf) continue;
    if ((rc = C->p->functional(nb, xl, W->fl, C->p->functional_params)))
      return fpk_error_set(err, rc < 0 ? FPK_ECALLBACK : FPK_ENUMERIC,
                           "ladder: functional callback returned %d (paths %zu..%zu)", rc, p0,
                           p0 + nb - 1);
    for (size_t j = 0; j < nf; j++) {
      const double *fj = W->fl + j * nb, *rj = W->fref + j * nb;
      block_moments(fj, nb, part + 2 * (L + l * nf + j));
      for (size_t i = 0; i < nb; i++) W->val[i] = fj[i] - rj[i];
      block_moments(W->val, nb, part + 2 * (L + (L + 1) * nf + l * nf + j));
    }
  }
  return FPK_SUCCESS;
}

static int check_params(const fpk_model *model, const fpk_gaussian *init,
                        const fpk_ladder_params *p, lctx *C, fpk_error *err) {
  if (!model || !init || !p)
    return fpk_error_set(err, FPK_EINVAL, "ladder: %s is NULL",
                         !model ? "model" : !init ? "init" : "params");
  const size_t d = model->dim;
  if (d < 1 || d > FPK_MAX_DIM || init->dim != d)
    return fpk_error_set(err, FPK_EINVAL, "ladder: model dimension %zu, initial law %zu", d,
                         init->dim);
  if (!(p->T > 0.0) || !isfinite(p->T))
    return fpk_error_set(err, FPK_EINVAL, "ladder: T = %g, must be positive and finite", p->T);
  if (p->npaths < 2)
    return fpk_error_set(err, FPK_EINVAL, "ladder: npaths = %zu, need at least 2", p->npaths);
  if (p->nlevels < 1 || p->nlevels > FPK_LADDER_MAX || !p->steps)
    return fpk_error_set(err, FPK_EINVAL, "ladder: %zu levels, need 1..%d", p->nlevels,
                         FPK_LADDER_MAX);
  if (p->nfun > FPK_LADDER_MAX_FUN || (p->nfun && !p->functional))
    return fpk_error_set(err, FPK_EINVAL, "ladder: %zu functionals (at most %d, with a callback)",
                         p->nfun, FPK_LADDER_MAX_FUN);
  for (size_t l = 0; l < p->nlevels; l++) {
    if (p->steps[l] < 1 || (l && p->steps[l] <= p->steps[l - 1]))
      return fpk_error_set(err, FPK_EINVAL,
                           "ladder: step counts must increase strictly from 1 (level %zu has %zu)",
                           l, p->steps[l]);
    if ((double)p->steps[l] > FPK_LADDER_MAX_STEPS)
      return fpk_error_set(err, FPK_EINVAL, "ladder: level %zu has %zu steps per path, more than "
                           "the limit of %.0e", l, p->steps[l], FPK_LADDER_MAX_STEPS);
  }
  if (p->reference == FPK_LADDER_REF_LEVEL && (double)p->ref_steps > FPK_LADDER_MAX_STEPS)
    return fpk_error_set(err, FPK_EINVAL, "ladder: the reference level has %zu steps per path, "
                         "more than the limit of %.0e", p->ref_steps, FPK_LADDER_MAX_STEPS);
  const fpk_sde_stepper_type *st = p->stepper ? p->stepper : fpk_sde_euler_maruyama;
  const fpk_sde_stepper_type *rs = p->ref_stepper ? p->ref_stepper : st;
  C->model = model;
  C->p = p;
  C->d = d;
  C->nm = fpk_model_noise_dim(model);
  C->L = p->nlevels;
  C->nfun = p->nfun;
  switch (p->reference) {
    case FPK_LADDER_REF_FINEST: C->fine = p->steps[C->L - 1]; C->nlev = C->L; break;
    case FPK_LADDER_REF_LEVEL:
      if (p->ref_steps <= p->steps[C->L - 1])
        return fpk_error_set(err, FPK_EINVAL, "ladder: the reference level (%zu steps) must be "
                             "finer than the finest level (%zu steps)", p->ref_steps,
                             p->steps[C->L - 1]);
      C->fine = p->ref_steps;
      C->nlev = C->L + 1;
      break;
    case FPK_LADDER_REF_EXACT:
      if (!model->solution || !fpk_model_noise_is_diagonal(model))
        return fpk_error_set(err, FPK_EINVAL, "ladder: model %s has no pathwise exact solution; "
                             "use a reference level", model->name ? model->name : "?");
      C->fine = p->steps[C->L - 1];
      C->nlev = C->L;
      break;
    default: return fpk_error_set(err, FPK_EINVAL, "ladder: unknown reference kind %d",
                                  (int)p->reference);
  }
  int rc;
  for (size_t l = 0; l < C->nlev; l++) {
    C->st[l] = l < C->L ? st : rs;
    if ((rc = fpk_sde_stepper_check(C->st[l], model, err))) return fpk_error_prefix(err, "ladder: ");
    if (C->st[l]->strong_order <= 0.0)
      return fpk_error_set(err, FPK_EINVAL, "ladder: stepper %s is exact in law, not a pathwise "
                           "scheme driven by ΔW: it has no strong error on a shared path",
                           C->st[l]->name);
    const size_t n = l < C->L ? p->steps[l] : p->ref_steps;
    if (C->fine % n)
      return fpk_error_set(err, FPK_EINVAL, "ladder: level %zu has %zu steps, which does not divide "
                           "the %zu steps of the finest grid (shared paths need nested grids)",
                           l, n, C->fine);
    C->m[l] = C->fine / n;
    C->H[l] = p->T / (double)n;
    /* every step must move t (t = k H is formed by multiplication, but t + H must differ) */
    if (!(C->H[l] > 0.0) || !(p->T - C->H[l] < p->T))
      return fpk_error_set(err, FPK_EINVAL, "ladder: level %zu's step T/%zu = %g is below the "
                           "resolution of T = %g: t would not advance", l, n, C->H[l], p->T);
    if ((rc = fpk_sde_step_check(C->st[l], model, C->H[l], err)))
      return fpk_error_prefix(err, "ladder: level %zu: ", l);
    if (C->st[l]->normals_per_step &&
        C->st[l]->normals_per_step(model) != C->st[l]->normals_per_dim * C->nm)
      return fpk_error_set(err, FPK_EINVAL, "ladder: stepper %s does not take Brownian "
                           "increments per noise component", C->st[l]->name);
    if (C->st[l]->normals_per_dim > C->q) C->q = C->st[l]->normals_per_dim;
  }
  C->hf = p->T / (double)C->fine;
  C->nq = C->L + (2 * C->L + 1) * C->nfun + 1;
  size_t rows = FPK_MC_FILL_STEPS * C->q * C->nm;
  rows = (rows + FPK_RNG_PER_CALL - 1) / FPK_RNG_PER_CALL * FPK_RNG_PER_CALL;
  C->zrows = rows > FPK_RNG_PER_CALL ? rows : FPK_RNG_PER_CALL;
  for (size_t c = 0; c < d; c++)
    if (!isfinite(init->mean[c]))
      return fpk_error_set(err, FPK_EINVAL, "ladder: initial mean[%zu] is not finite", c);
  memcpy(C->mean0, init->mean, d * sizeof(double));
  if ((rc = fpk_cholesky_psd(init->cov, d, C->chol, err))) return fpk_error_prefix(err, "ladder: ");
  return FPK_SUCCESS;
}

int fpk_sde_ladder(const fpk_model *model, const fpk_gaussian *init, const fpk_ladder_params *p,
                   fpk_ladder_result *res, fpk_error *err) {
  if (!res) return fpk_error_set(err, FPK_EINVAL, "ladder: result pointer is NULL");
  memset(res, 0, sizeof *res);
  lctx C;
  memset(&C, 0, sizeof C);
  int rc = check_params(model, init, p, &C, err);
  if (rc) return rc;
  const fpk_comm *comm = p->comm;
  const int nranks = fpk_comm_size(comm), rank = fpk_comm_rank(comm);
  if (nranks > 1 && (rc = fpk_mc_check_ranks(p->npaths, comm, err)))
    return fpk_error_prefix(err, "ladder: ");

  const size_t B = FPK_MC_BLOCK, nblocks = (p->npaths + B - 1) / B;
  double *part = malloc(nblocks * C.nq * 2 * sizeof(double));
  if (!part) return fpk_error_set(err, FPK_ENOMEM, "ladder: out of memory (%zu blocks)", nblocks);
  int failed = 0;
  size_t err_block = (size_t)-1;
  /* progress: reported by the thread that finished a block, one at a time and non-decreasing
   * (fpk_progress_fn, ensemble.c); changes no number */
  size_t blocks_done = 0, blocks_reported = 0;
  /* this rank's blocks (all of them with one process); its progress is scaled to the whole */
  size_t lo = 0, hi = nblocks;
  if (nranks > 1) fpk_comm_range(comm, nblocks, &lo, &hi);
  const int report = p->progress && rank == 0;
  const int nth = p->nthreads > 0 ? p->nthreads : omp_get_max_threads();
#pragma omp parallel num_threads(nth)
  {
    lws W;
    fpk_error lerr = {0, ""};
    if (lws_alloc(&W, &C)) {
#pragma omp critical(fpk_ladder_err)
      if (!failed) {
        rc = fpk_error_set(err, FPK_ENOMEM, "ladder: out of memory (workspace)");
        failed = 1;
        err_block = 0;
      }
    }
#pragma omp barrier
#pragma omp for schedule(dynamic, 1)
    for (size_t b = lo; b < hi; b++) {
      int f;
#pragma omp atomic read
      f = failed;
      if (f) continue;
      if (run_block(&C, &W, b, part + b * C.nq * 2, &lerr)) {
#pragma omp critical(fpk_ladder_err)
        if (b < err_block) {
          err_block = b;
          rc = lerr.status;
          fpk_error_copy(err, &lerr);
        }
#pragma omp atomic write
        failed = 1;
      }
      if (report) {
        size_t bd;
#pragma omp atomic capture
        bd = ++blocks_done;
#pragma omp critical(fpk_ladder_progress) /* any thread, one at a time, non-decreasing */
        if (bd > blocks_reported) {
          blocks_reported = bd;
          /* rank 0's share done, as a share of all paths (the ranks' shares differ by a block) */
          const size_t all = nranks > 1 ? bd * nblocks / (hi - lo) : bd;
          p->progress(p->progress_user, all * B < p->npaths ? all * B : p->npaths, p->npaths);
        }
      }
    }
    lws_free(&W, C.nlev);
  }
  if (nranks > 1) {
    /* agreement first (a failing rank goes straight to it), then the gather in block order */
    rc = agree_plain(comm, failed ? (rc ? rc : FPK_ENUMERIC) : FPK_SUCCESS, err);
    size_t *counts = NULL;
    double *all = NULL;
    if (!rc) {
      counts = malloc((size_t)nranks * sizeof *counts);
      all = malloc(nblocks * C.nq * 2 * sizeof(double));
      rc = agree_plain(comm, counts && all ? FPK_SUCCESS
                                              : fpk_error_set(err, FPK_ENOMEM,
                                                              "ladder: out of memory (gather)"),
                          err);
    }
    if (!rc) {
      const size_t q = nblocks / (size_t)nranks, rem = nblocks % (size_t)nranks;
      for (size_t r = 0; r < (size_t)nranks; r++)
        counts[r] = (q + (r < rem ? 1 : 0)) * C.nq * 2 * sizeof(double);
      rc = fpk_comm_allgatherv(comm, part + lo * C.nq * 2, all, counts, err);
    }
    free(counts);
    if (rc) {
      free(all);
      free(part);
      return rc;
    }
    free(part);
    part = all;
  }
  if (report && !failed) p->progress(p->progress_user, p->npaths, p->npaths);
  if (failed) {
    free(part);
    return rc ? rc : FPK_ENUMERIC;
  }

  /* merge blocks in block order (Chan, Golub & LeVeque 1979) */
  double tot[NQ_MAX][2];
  size_t n = 0;
  for (size_t b = 0; b < nblocks; b++) {
    const size_t nB = p->npaths - b * B < B ? p->npaths - b * B : B, nA = n;
    const double *pb = part + b * C.nq * 2;
    for (size_t k = 0; k < C.nq; k++) {
      if (!nA) {
        tot[k][0] = pb[2 * k];
        tot[k][1] = pb[2 * k + 1];
        continue;
      }
      const double delta = pb[2 * k] - tot[k][0], nn = (double)(nA + nB);
      tot[k][0] += delta * ((double)nB / nn);
      tot[k][1] += pb[2 * k + 1] + delta * delta * ((double)nA * (double)nB / nn);
    }
    n = nA + nB;
  }
  /* group means: block b belongs to group b G / nblocks */
  const size_t G = nblocks < FPK_LADDER_GROUPS ? nblocks : FPK_LADDER_GROUPS;
  res->ngroups = G;
  for (size_t g = 0; g < G; g++) {
    const size_t b0 = g * nblocks / G, b1 = (g + 1) * nblocks / G;
    double sum[NQ_MAX] = {0}, cnt = 0.0;
    for (size_t b = b0; b < b1; b++) {
      const double nB = (double)(p->npaths - b * B < B ? p->npaths - b * B : B);
      const double *pb = part + b * C.nq * 2;
      for (size_t k = 0; k < C.nq; k++) sum[k] += nB * pb[2 * k];
      cnt += nB;
    }
    res->group_paths[g] = cnt;
    const size_t L = C.L, nf = C.nfun;
    for (size_t l = 0; l < L; l++) res->group_sq_err[g][l] = sum[l] / cnt;
    for (size_t l = 0; l <= L; l++)
      for (size_t j = 0; j < nf; j++) res->group_fun[g][l][j] = sum[L + l * nf + j] / cnt;
    for (size_t l = 0; l < L; l++)
      for (size_t j = 0; j < nf; j++)
        res->group_diff[g][l][j] = sum[L + (L + 1) * nf + l * nf + j] / cnt;
  }
  free(part);
  const double dof = (double)(n - 1);
  const size_t L = C.L, nf = C.nfun;
  res->nlevels = L;
  res->nfun = nf;
  res->npaths = n;
  res->fine_steps = C.fine;
  for (size_t l = 0; l < L; l++) {
    res->sq_err_mean[l] = tot[l][0];
    res->sq_err_var[l] = tot[l][1] / dof;
  }
  res->ref_sq_mean = tot[C.nq - 1][0];
  for (size_t l = 0; l <= L; l++)
    for (size_t j = 0; j < nf; j++) {
      res->fun_mean[l][j] = tot[L + l * nf + j][0];
      res->fun_var[l][j] = tot[L + l * nf + j][1] / dof;
    }
  for (size_t l = 0; l < L; l++)
    for (size_t j = 0; j < nf; j++) {
      res->diff_mean[l][j] = tot[L + (L + 1) * nf + l * nf + j][0];
      res->diff_var[l][j] = tot[L + (L + 1) * nf + l * nf + j][1] / dof;
    }
  return FPK_SUCCESS;
}
