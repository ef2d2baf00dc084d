/* Langevin samplers with exact or user scores (fpkit/diffusion.h, "Langevin samplers"):
 * unadjusted Langevin (ULA), Metropolis-adjusted Langevin (MALA; Roberts & Tweedie 1996,
 * Bernoulli 2:341-363) and annealed Langevin (Song & Ermon 2019, NeurIPS, Algorithm 1).
 *
 * One step of size α: x ← x + (α/2) s(x) + √α z, Euler–Maruyama with time step α/2 on the
 * Langevin SDE dX = ∇log p dt + √2 dW, whose stationary law is p. The callbacks see all n points
 * at once (they may run their own threads: fpk_gmm_eval does for n >= 4096); the per-point update
 * runs in an OpenMP loop whose iterations only touch their own point, with that path's Philox
 * normals, so the result does not depend on the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fpkit/diffusion.h"
#include "fpkit/sde.h"

enum { L_ULA, L_MALA, L_ANNEALED };

typedef struct impl_t {
  fpk_lmc_type pub;
  int kind;
} impl_t;

static const impl_t impls[] = {
    {{"ula", "unadjusted Langevin: x += (a/2) grad log p + sqrt(a) z", 0, 0}, L_ULA},
    {{"mala", "Metropolis-adjusted Langevin (Roberts & Tweedie 1996)", 1, 0}, L_MALA},
    {{"annealed",
      "annealed Langevin (Song & Ermon 2019, Alg. 1): geometric sigma levels, a_i = eps "
      "sigma_i^2/sigma_L^2",
      0, 1},
     L_ANNEALED},
};

const fpk_lmc_type *fpk_lmc_ula = &impls[0].pub;
const fpk_lmc_type *fpk_lmc_mala = &impls[1].pub;
const fpk_lmc_type *fpk_lmc_annealed = &impls[2].pub;
const fpk_lmc_type *const fpk_lmc_types[] = {&impls[0].pub, &impls[1].pub,
                                                       &impls[2].pub, NULL};

const fpk_lmc_type *fpk_lmc_find(const char *name) {
  for (size_t i = 0; name && fpk_lmc_types[i]; i++)
    if (!strcmp(name, fpk_lmc_types[i]->name)) return fpk_lmc_types[i];
  return NULL;
}

static int kind_of(const fpk_lmc_type *t) {
  for (size_t i = 0; i < sizeof impls / sizeof *impls; i++)
    if (t == &impls[i].pub) return impls[i].kind;
  return -1;
}

/* The step defaults to NaN, "the type's": α = 0.01 for ula and mala, ε = 2e-5 for annealed.
 * One number cannot serve both: annealed scales it by σ_i²/σ_L², and the old shared 0.01 gave
 * α_1 = 0.01 · (10/0.01)² = 1e4 on the first level, so every path left the doubles at once on any
 * target (tests/defects/diffusion/annealed_defaults_diverge.c). With ε = 2e-5 and σ_L = 0.01 the
 * ratio α_i/σ_i² = ε/σ_L² is 0.2 on every level, Song & Ermon's (2019, §4.2: ε = 2e-5,
 * σ_L = 0.01); since −∇²log(p ∗ N(0, σ²I)) ≤ I/σ² for any p, a step α_i ≤ 2σ_i² cannot make a
 * level's Langevin step unstable, whatever the target. */
#define LMC_DEFAULT_ALPHA 0.01
#define LMC_DEFAULT_EPS 2e-5

void fpk_lmc_params_init(fpk_lmc_params *p) {
  memset(p, 0, sizeof *p);
  p->step = NAN;
  p->n_iter = 1000;
  p->n_levels = 10;
  p->sigma_max = 10;
  p->sigma_min = 0.01;
  p->seed = 1;
}

void fpk_lmc_result_free(fpk_lmc_result *r) {
  if (!r) return;
  free(r->trace_iter), free(r->trace_value);
  r->trace_iter = NULL, r->trace_value = NULL, r->n_trace = 0;
}

/* ---- The exact Gaussian-mixture adapter ---------------------------------------------------- */

struct fpk_lmc_gmm {
  const fpk_gmm *m;
  fpk_schedule *ve; /* σ_min = 1, σ_max = cap-derived, T = 1: b_t² = expm1(2 t log σ_max) */
  double cap, logr;
};

fpk_lmc_gmm *fpk_lmc_gmm_alloc(const fpk_gmm *m, double sigma_cap, fpk_error *err) {
  if (!m) {
    fpk_error_set(err, FPK_EINVAL, "langevin gmm adapter: mixture is NULL");
    return NULL;
  }
  if (!(sigma_cap > 0) || !isfinite(sigma_cap)) {
    fpk_error_set(err, FPK_EINVAL, "langevin gmm adapter: sigma_cap = %g must be positive and "
                  "finite", sigma_cap);
    return NULL;
  }
  fpk_lmc_gmm *a = calloc(1, sizeof *a);
  if (!a) {
    fpk_error_set(err, FPK_ENOMEM, "langevin gmm adapter: out of memory");
    return NULL;
  }
  fpk_schedule_params sp;
  fpk_schedule_params_init(&sp);
  sp.T = 1;
  sp.sigma_min = 1;
  /* b_T² = σ_max² − 1 must reach cap²: σ_max = √(1 + cap²), with a margin for the rounding of t */
  sp.sigma_max = sqrt(1 + sigma_cap * sigma_cap) * (1 + 1e-9);
  a->ve = fpk_schedule_alloc(fpk_schedule_ve, &sp, err);
  if (!a->ve) {
    free(a);
    return NULL;
  }
  a->m = m;
  a->cap = sigma_cap;
  a->logr = log(sp.sigma_max);
  return a;
}

void fpk_lmc_gmm_free(fpk_lmc_gmm *a) {
  if (!a) return;
  fpk_schedule_free(a->ve);
  free(a);
}

static int gmm_score(size_t n, const double *x, double *out, void *user) {
  const fpk_lmc_gmm *a = user;
  return fpk_gmm_eval(a->m, NULL, 0, n, x, NULL, out, NULL, NULL, NULL) ? -1 : 0;
}

static int gmm_log_p(size_t n, const double *x, double *out, void *user) {
  const fpk_lmc_gmm *a = user;
  return fpk_gmm_eval(a->m, NULL, 0, n, x, out, NULL, NULL, NULL, NULL) ? -1 : 0;
}

/* The mixture convolved with N(0, σ² I): components N(μ_k, Σ_k + σ² I), i.e. the "ve" marginal
 * (a = 1) at the time whose b_t² is σ². */
static int gmm_noise_score(size_t n, double sigma, const double *x, double *out, void *user) {
  const fpk_lmc_gmm *a = user;
  if (!(sigma >= 0) || sigma > a->cap) return -1;
  if (sigma == 0) return gmm_score(n, x, out, user);
  double t = log1p(sigma * sigma) / (2 * a->logr);
  if (t > 1) t = 1;
  return fpk_gmm_eval(a->m, a->ve, t, n, x, NULL, out, NULL, NULL, NULL) ? -1 : 0;
}

fpk_lmc_target fpk_lmc_gmm_target(fpk_lmc_gmm *a) {
  fpk_lmc_target t = {0};
  if (!a) return t;
  t.dim = fpk_gmm_dim(a->m);
  t.score = gmm_score;
  t.log_p = gmm_log_p;
  t.noise_score = gmm_noise_score;
  t.user = a;
  return t;
}

/* ---- The samplers -------------------------------------------------------------------------- */

#define TRACE_PUSH(res, it, val) \
  do { (res)->trace_iter[(res)->n_trace] = (it); (res)->trace_value[(res)->n_trace++] = (val); } while (0)

static int check_params(int kind, const fpk_lmc_type *type, const fpk_lmc_target *tg,
                        const fpk_lmc_params *p, size_t n, const double *x, fpk_error *err) {
  const char *nm = type->name;
  if (!tg || tg->dim < 1 || tg->dim > 3)
    return fpk_error_set(err, FPK_EINVAL, "langevin %s: target dim = %zu must be 1..3", nm,
                         tg ? tg->dim : 0);
  if (!x && n) return fpk_error_set(err, FPK_EINVAL, "langevin %s: x is NULL for n = %zu points",
                                    nm, n);
  if (!(p->step > 0) || !isfinite(p->step))
    return fpk_error_set(err, FPK_EINVAL, "langevin %s: step = %g must be positive and finite",
                         nm, p->step);
  if (p->n_iter < 1) return fpk_error_set(err, FPK_EINVAL, "langevin %s: n_iter = 0", nm);
  if (kind != L_ANNEALED && !tg->score)
    return fpk_error_set(err, FPK_EINVAL, "langevin %s: target.score is NULL", nm);
  if (kind == L_MALA && !tg->log_p)
    return fpk_error_set(err, FPK_EINVAL, "langevin mala: target.log_p is NULL (MALA needs "
                         "log p for the accept test)");
  if (kind == L_ANNEALED) {
    if (!tg->noise_score)
      return fpk_error_set(err, FPK_EINVAL, "langevin annealed: target.noise_score is NULL");
    if (p->n_levels < 1) return fpk_error_set(err, FPK_EINVAL, "langevin annealed: n_levels = 0");
    if (!(p->sigma_min > 0) || !isfinite(p->sigma_max) ||
        !(p->n_levels == 1 ? p->sigma_max >= p->sigma_min : p->sigma_max > p->sigma_min))
      return fpk_error_set(err, FPK_EINVAL, "langevin annealed: sigma_max = %g, sigma_min = %g: "
                           "need sigma_max > sigma_min > 0 (decreasing noise levels)",
                           p->sigma_max, p->sigma_min);
  }
  if (p->trace_every && !p->metric)
    return fpk_error_set(err, FPK_EINVAL, "langevin %s: trace_every = %zu but no metric", nm,
                         p->trace_every);
  for (size_t i = 0; i < tg->dim * n; i++)
    if (!isfinite(x[i]))
      return fpk_error_set(err, FPK_EINVAL, "langevin %s: initial point %zu, component %zu = %g "
                           "is not finite", nm, i % n, i / n, x[i]);
  return FPK_SUCCESS;
}

int fpk_lmc_run(const fpk_lmc_type *type, const fpk_lmc_target *tg,
                     const fpk_lmc_params *p, size_t n, double *x, fpk_lmc_result *res,
                     fpk_error *err) {
  const int kind = type ? kind_of(type) : -1;
  if (kind < 0) return fpk_error_set(err, FPK_EINVAL, "langevin: unknown sampler type");
  if (!p) return fpk_error_set(err, FPK_EINVAL, "langevin %s: params is NULL", type->name);
  fpk_lmc_params pp = *p; /* step NaN: the type's default */
  if (isnan(pp.step)) pp.step = kind == L_ANNEALED ? LMC_DEFAULT_EPS : LMC_DEFAULT_ALPHA;
  p = &pp;
  int rc = check_params(kind, type, tg, p, n, x, err);
  if (rc) return rc;
  const size_t d = tg->dim, L = kind == L_ANNEALED ? p->n_levels : 1;
  const size_t total = L * p->n_iter;
  const uint64_t R = 3 * ((d + 1 + 2) / 3); /* stream positions per iteration: whole Philox calls */

  fpk_lmc_result loc = {0};
  fpk_lmc_result *r = res ? res : &loc;
  memset(r, 0, sizeof *r);
  r->n_steps = total;
  r->acceptance = 1;
  /* No points: a no-op once the parameters are checked (nothing is called, no trace), as
   * fpk_pfode_sample and fpk_revsde_sample accept n = 0. */
  if (n == 0) return FPK_SUCCESS;
  double *s = malloc(d * n * sizeof *s);
  double *y = kind == L_MALA ? malloc(d * n * sizeof *y) : NULL;
  double *sy = kind == L_MALA ? malloc(d * n * sizeof *sy) : NULL;
  double *lp = kind == L_MALA ? malloc(n * sizeof *lp) : NULL;
  double *lpy = kind == L_MALA ? malloc(n * sizeof *lpy) : NULL;
  unsigned char *acc = kind == L_MALA ? malloc(n) : NULL;
  size_t ntr = p->trace_every ? total / p->trace_every + 2 : 0;
  if (ntr) {
    r->trace_iter = malloc(ntr * sizeof *r->trace_iter);
    r->trace_value = malloc(ntr * sizeof *r->trace_value);
  }
  if (!s || (kind == L_MALA && (!y || !sy || !lp || !lpy || !acc)) ||
      (ntr && (!r->trace_iter || !r->trace_value))) {
    rc = fpk_error_set(err, FPK_ENOMEM, "langevin %s: out of memory for %zu points", type->name, n);
    goto done;
  }
  if (ntr) {
    double v;
    if (p->metric(d, n, x, &v, p->metric_user) < 0) {
      rc = fpk_error_set(err, FPK_ECALLBACK, "langevin %s: the metric failed at iteration 0",
                         type->name);
      goto done;
    }
    TRACE_PUSH(r, 0, v);
  }
  if (kind == L_MALA && (tg->score(n, x, s, tg->user) < 0 || tg->log_p(n, x, lp, tg->user) < 0)) {
    rc = fpk_error_set(err, FPK_ECALLBACK, "langevin mala: the score or log p failed at the "
                       "initial points");
    goto done;
  }
  /* Geometric levels σ_i = σ_1 (σ_L/σ_1)^{(i−1)/(L−1)} (Song & Ermon 2019, §4.2). */
  const double ratio = L > 1 ? log(p->sigma_min / p->sigma_max) / (double)(L - 1) : 0;
  size_t accepted = 0, it = 0;
  for (size_t lev = 0; lev < L; lev++) {
    double sigma = 0, alpha = p->step;
    if (kind == L_ANNEALED) {
      sigma = lev + 1 == L ? p->sigma_min : p->sigma_max * exp(ratio * (double)lev);
      alpha = p->step * (sigma / p->sigma_min) * (sigma / p->sigma_min); /* α_i = ε σ_i²/σ_L² */
    }
    const double half = 0.5 * alpha, sq = sqrt(alpha);
    for (size_t k = 0; k < p->n_iter; k++, it++) {
      int cb;
      if (kind == L_ANNEALED) cb = tg->noise_score(n, sigma, x, s, tg->user);
      else if (kind == L_ULA) cb = tg->score(n, x, s, tg->user);
      else cb = 0; /* mala: s = score(x) is carried from the last step */
      if (cb < 0) {
        rc = fpk_error_set(err, FPK_ECALLBACK, "langevin %s: the score failed at iteration %zu",
                           type->name, it);
        goto done;
      }
      double *dst = kind == L_MALA ? y : x;
#pragma omp parallel for schedule(static)
      for (size_t i = 0; i < n; i++) {
        double z[6];
        fpk_rng_normals(p->seed, i, (uint64_t)it * R, d + 1, z);
        for (size_t c = 0; c < d; c++)
          dst[c * n + i] = x[c * n + i] + half * s[c * n + i] + sq * z[c];
      }
      if (kind == L_MALA) {
        if (tg->score(n, y, sy, tg->user) < 0 || tg->log_p(n, y, lpy, tg->user) < 0) {
          rc = fpk_error_set(err, FPK_ECALLBACK, "langevin mala: the score or log p failed at "
                             "iteration %zu", it);
          goto done;
        }
        /* log α = log p(y) − log p(x) + log q(x|y) − log q(y|x),
         * log q(b|a) = −|b − a − (α/2) s(a)|²/(2α) + const. */
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) {
          double z[6], fw = 0, bw = 0;
          for (size_t c = 0; c < d; c++) {
            const double xf = y[c * n + i] - x[c * n + i] - half * s[c * n + i];
            const double xb = x[c * n + i] - y[c * n + i] - half * sy[c * n + i];
            fw += xf * xf, bw += xb * xb;
          }
          const double la = lpy[i] - lp[i] + (fw - bw) / (2 * alpha);
          fpk_rng_normals(p->seed, i, (uint64_t)it * R, d + 1, z);
          /* U = Φ(u) = erfc(−u/√2)/2, uniform in (0, 1); log U < log α accepts */
          const double logu = log(0.5 * erfc(-z[d] * M_SQRT1_2));
          acc[i] = isfinite(la) ? logu < la : la > 0;
          if (acc[i]) {
            for (size_t c = 0; c < d; c++) x[c * n + i] = y[c * n + i], s[c * n + i] = sy[c * n + i];
            lp[i] = lpy[i];
          }
        }
        for (size_t i = 0; i < n; i++) accepted += acc[i];
      }
      const size_t done_it = it + 1;
      if (ntr && (done_it % p->trace_every == 0 || done_it == total)) {
        double v;
        if (p->metric(d, n, x, &v, p->metric_user) < 0) {
          rc = fpk_error_set(err, FPK_ECALLBACK, "langevin %s: the metric failed at iteration "
                             "%zu", type->name, done_it);
          goto done;
        }
        TRACE_PUSH(r, done_it, v);
      }
    }
  }
  for (size_t i = 0; i < d * n; i++)
    if (!isfinite(x[i])) {
      rc = fpk_error_set(err, FPK_ENUMERIC, "langevin %s: path %zu left the doubles (component %zu "
                         "= %g): the step is too large for this target", type->name, i % n, i / n,
                         x[i]);
      goto done;
    }
  if (kind == L_MALA) r->acceptance = (double)accepted / ((double)n * (double)total);
done:
  free(s), free(y), free(sy), free(lp), free(lpy), free(acc);
  if (rc || !res) fpk_lmc_result_free(r);
  return rc;
}
