/* Reverse-time SDE samplers and the DDPM chain with exact mixture transitions (fpkit/diffusion.h,
 * docs/diffusion.md "Reverse-time SDE samplers and the DDPM chain").
 *  - "reverse-em": Euler–Maruyama on the reverse SDE dX = [f X − g² ∇log p_t] dt + g dW̄
 *    (Anderson, Stoch. Proc. Appl. 12, 1982; Song et al., ICLR 2021, eq. 6);
 *  - "pc": reverse-em predictor + Langevin corrector with the signal-to-noise step rule
 *    (Song et al. 2021, Algorithms 1–2);
 *  - "ancestral": DDPM's reverse chain (Ho et al., NeurIPS 2020, Algorithm 2 / eq. 11), or, for a
 *    Gaussian mixture, its exact reverse transitions (a mixture of Gaussians: Bayes' rule within
 *    each component, responsibilities from the noised mixture at the later step);
 *  - the discrete chain's negative ELBO in the SNR form of Kingma et al. (NeurIPS 2021, eq. 13)
 *    and its continuous limit through the I-MMSE relation (Guo, Shamai & Verdú, IEEE Trans. IT
 *    51, 2005).
 * Randomness: Philox streams per path (fpk_rng_normals); paths run in fixed blocks, so every
 * result is bitwise the same for any number of threads. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/linalg.h"
#include "diffusion/score_call.h"
#include "fpkit/diffusion.h"
#include "fpkit/sde.h"

#define MAXD 3

enum { R_EM, R_PC, R_ANC };
typedef struct revsde_impl {
  fpk_revsde_type pub;
  int kind;
} revsde_impl;

static const revsde_impl impls[] = {
    {{"reverse-em", "Euler-Maruyama on the reverse-time SDE (Anderson 1982; Song et al. 2021 eq. 6)",
      1, 1},
     R_EM},
    {{"pc", "predictor-corrector: reverse-em predictor + Langevin corrector, step 2 alpha (r |z|/|s|)^2 "
            "(Song et al. 2021, Algorithms 1-2)",
      1, 2},
     R_PC},
    {{"ancestral", "DDPM ancestral sampling: Ho et al.'s Gaussian p_theta from the score, or the exact "
                   "reverse transitions of a Gaussian mixture",
      1, 1},
     R_ANC},
};
const fpk_revsde_type *fpk_revsde_em = &impls[0].pub;
const fpk_revsde_type *fpk_revsde_pc = &impls[1].pub;
const fpk_revsde_type *fpk_revsde_ancestral = &impls[2].pub;
const fpk_revsde_type *const fpk_revsde_types[] = {&impls[0].pub, &impls[1].pub, &impls[2].pub,
                                                   NULL};

const fpk_revsde_type *fpk_revsde_find(const char *name) {
  for (size_t i = 0; name && fpk_revsde_types[i]; i++)
    if (!strcmp(name, fpk_revsde_types[i]->name)) return fpk_revsde_types[i];
  return NULL;
}

void fpk_revsde_params_init(fpk_revsde_params *p) {
  memset(p, 0, sizeof *p);
  p->nsteps = 100;
  p->t_min = 1e-3;
  p->snr = 0.16;
  p->corrector_steps = 1;
  p->grid = "time-uniform";
  p->rho = 7;
}

/* ---- mixtures at a time ------------------------------------------------------------------- */

static int mixture_check(const char *fn, const fpk_ddpm_mixture *m, fpk_error *err) {
  if (!m || m->dim < 1 || m->dim > MAXD || m->K < 1 || !m->weights || !m->means || !m->covs)
    return fpk_error_set(err, FPK_EINVAL, "%s: mixture dim = %zu, K = %zu: need 1 <= dim <= 3, "
                         "K >= 1 and the three arrays", fn, m ? m->dim : 0, m ? m->K : 0);
  /* the constructor of fpk_gmm checks weights, symmetry and definiteness with its messages */
  fpk_gmm *g = fpk_gmm_alloc(m->dim, m->K, m->weights, m->means, m->covs, err);
  if (!g) {
    fpk_error_prefix(err, "%s: ", fn);
    return err ? err->status : FPK_EINVAL;
  }
  fpk_gmm_free(g);
  return FPK_SUCCESS;
}

/* Φ(z) = ½ erfc(−z/√2): uniform on (0, 1) when z is standard normal. */
static double unif_of(double z) { return 0.5 * erfc(-z * M_SQRT1_2); }

/* Cholesky factors of C_k = a²Σ_k + b²I. */
static int noised_chol(const fpk_ddpm_mixture *m, double a, double b2, double *L, fpk_error *err) {
  const size_t d = m->dim;
  for (size_t k = 0; k < m->K; k++) {
    double C[MAXD * MAXD];
    for (size_t i = 0; i < d * d; i++) C[i] = a * a * m->covs[k * d * d + i];
    for (size_t i = 0; i < d; i++) C[i * d + i] += b2;
    if (fpk_cholesky_pd(d, C, L + k * d * d) >= 0)
      return fpk_error_set(err, FPK_ENUMERIC, "fpk_ddpm_mixture_sample: noised covariance %zu not "
                           "positive definite (a = %g, b^2 = %g)", k + 1, a, b2);
  }
  return FPK_SUCCESS;
}

static size_t pick(const double *cum, size_t K, double u) {
  size_t k = 0;
  while (k + 1 < K && u >= cum[k]) k++;
  return k;
}

int fpk_ddpm_mixture_sample(const fpk_ddpm_mixture *m, const fpk_schedule *s, double t, size_t n,
                            uint64_t seed, uint64_t path0, double *x, fpk_error *err) {
  int rc = mixture_check("fpk_ddpm_mixture_sample", m, err);
  if (rc) return rc;
  double a = 1, b2 = 0;
  if (s && t != 0) {
    if (!(t >= 0 && t <= fpk_schedule_T(s)))
      return fpk_error_set(err, FPK_EINVAL, "fpk_ddpm_mixture_sample: t = %g is outside [0, T] = [0, %g]", t,
                           fpk_schedule_T(s));
    a = fpk_schedule_mean_coef(s, t), b2 = fpk_schedule_var(s, t);
  }
  const size_t d = m->dim, K = m->K;
  double *L = malloc(K * d * d * sizeof *L), *cum = malloc(K * sizeof *cum);
  if (!L || !cum) {
    free(L), free(cum);
    return fpk_error_set(err, FPK_ENOMEM, "fpk_ddpm_mixture_sample: out of memory");
  }
  double c = 0;
  for (size_t k = 0; k < K; k++) cum[k] = (c += m->weights[k]);
  rc = noised_chol(m, a, b2, L, err);
  if (!rc) {
#pragma omp parallel for schedule(static) if (n >= 4096)
    for (size_t i = 0; i < n; i++) {
      double z[MAXD + 1];
      fpk_rng_normals(seed, path0 + i, 0, d + 1, z);
      const size_t k = pick(cum, K, unif_of(z[0]) * c);
      const double *Lk = L + k * d * d;
      for (size_t u = 0; u < d; u++) {
        double v = a * m->means[k * d + u];
        for (size_t w = 0; w <= u; w++) v += Lk[u * d + w] * z[1 + w];
        x[u * n + i] = v;
      }
    }
  }
  free(L), free(cum);
  return rc;
}

/* ---- exact reverse transitions of the discretised chain ----------------------------------- */

/* Step i → i−1 of component k: log-density pieces of N(x_i; a_i μ_k, C^i_k), the gain G, the
 * Cholesky factor of the posterior covariance P = C^{i−1} − α G C^{i−1}. */
typedef struct rev_comp {
  double Ci_inv[MAXD * MAXD], G[MAXD * MAXD], LP[MAXD * MAXD], logdet, logw;
  double amu_i[MAXD], amu_im1[MAXD];
} rev_comp;

static int rev_comp_init(const fpk_ddpm_mixture *m, double t_im1, double t_i, double a_im1,
                         double b2_im1, double a_i, double b2_i, rev_comp *rc, fpk_error *err) {
  const size_t d = m->dim;
  if (!(a_im1 > 0))
    return fpk_error_set(err, FPK_EINVAL, "fpk_revsde_sample (ancestral, exact): the signal a_t "
                         "= %g at t = %g has underflowed (the chain's step from t = %g divides by "
                         "it): use a smaller t_max", a_im1, t_im1, t_i);
  const double al = a_i / a_im1, v = b2_i - al * al * b2_im1;
  if (!(v > 0))
    return fpk_error_set(err, FPK_ENUMERIC, "fpk_revsde_sample (ancestral, exact): the transition "
                         "variance from t = %g to %g is %g <= 0 (the two times are too close for "
                         "the schedule's b^2 in double precision): use fewer steps", t_im1, t_i, v);
  for (size_t k = 0; k < m->K; k++) {
    rev_comp *c = rc + k;
    const double *S = m->covs + k * d * d;
    double C0[MAXD * MAXD], C1[MAXD * MAXD], L[MAXD * MAXD], P[MAXD * MAXD];
    for (size_t i = 0; i < d * d; i++) C0[i] = a_im1 * a_im1 * S[i];
    for (size_t i = 0; i < d; i++) C0[i * d + i] += b2_im1;
    for (size_t i = 0; i < d * d; i++) C1[i] = al * al * C0[i];
    for (size_t i = 0; i < d; i++) C1[i * d + i] += v;
    if (fpk_cholesky_pd(d, C1, L) >= 0)
      return fpk_error_set(err, FPK_ENUMERIC, "fpk_revsde_sample (ancestral, exact): noised covariance %zu not positive "
                           "definite", k + 1);
    c->logdet = 0;
    for (size_t i = 0; i < d; i++) c->logdet += 2 * log(L[i * d + i]);
    fpk_cholesky_inverse(d, L, c->Ci_inv);
    for (size_t i = 0; i < d; i++)
      for (size_t j = 0; j < d; j++) {
        double g = 0;
        for (size_t l = 0; l < d; l++) g += C0[i * d + l] * c->Ci_inv[l * d + j];
        c->G[i * d + j] = al * g;
      }
    for (size_t i = 0; i < d; i++)
      for (size_t j = 0; j < d; j++) {
        double g = 0;
        for (size_t l = 0; l < d; l++) g += c->G[i * d + l] * C0[l * d + j];
        P[i * d + j] = C0[i * d + j] - al * g;
      }
    for (size_t i = 0; i < d; i++) /* symmetrise against rounding */
      for (size_t j = 0; j < i; j++) P[i * d + j] = P[j * d + i] = 0.5 * (P[i * d + j] + P[j * d + i]);
    if (fpk_cholesky_pd(d, P, c->LP) >= 0)
      return fpk_error_set(err, FPK_ENUMERIC, "fpk_revsde_sample (ancestral, exact): posterior covariance of component %zu "
                           "not positive definite", k + 1);
    c->logw = log(m->weights[k]);
    for (size_t i = 0; i < d; i++)
      c->amu_i[i] = a_i * m->means[k * d + i], c->amu_im1[i] = a_im1 * m->means[k * d + i];
  }
  return FPK_SUCCESS;
}

/* x ← a sample of q(x_{i−1} | x_i = x) given normals z[0..d] (z[0] picks the component). */
static void rev_exact_step(size_t d, size_t K, const rev_comp *rc, double *xi, const double *z) {
  double lw[64], mx = -INFINITY;
  double *lwp = K <= 64 ? lw : malloc(K * sizeof *lwp);
  for (size_t k = 0; k < K; k++) {
    const rev_comp *c = rc + k;
    double df[MAXD], q = 0;
    for (size_t u = 0; u < d; u++) df[u] = xi[u] - c->amu_i[u];
    for (size_t u = 0; u < d; u++) {
      double v = 0;
      for (size_t w = 0; w < d; w++) v += c->Ci_inv[u * d + w] * df[w];
      q += df[u] * v;
    }
    lwp[k] = c->logw - 0.5 * (c->logdet + q);
    if (lwp[k] > mx) mx = lwp[k];
  }
  double sum = 0;
  for (size_t k = 0; k < K; k++) sum += (lwp[k] = exp(lwp[k] - mx));
  const double u = unif_of(z[0]) * sum;
  double acc = 0;
  size_t k = 0;
  for (; k + 1 < K; k++)
    if (u < (acc += lwp[k])) break;
  if (lwp != lw) free(lwp);
  const rev_comp *c = rc + k;
  double out[MAXD];
  for (size_t a = 0; a < d; a++) {
    double v = c->amu_im1[a];
    for (size_t w = 0; w < d; w++) v += c->G[a * d + w] * (xi[w] - c->amu_i[w]);
    for (size_t w = 0; w <= a; w++) v += c->LP[a * d + w] * z[1 + w];
    out[a] = v;
  }
  memcpy(xi, out, d * sizeof *out);
}

/* ---- the samplers ------------------------------------------------------------------------- */

/* The grid increasing in its index: tg[0] = t_min < … < tg[N] = t_max. Time-uniform keeps its
 * original formula (bitwise the results of the earlier versions); the others come from
 * fpk_time_grid (pf_ode.c: the same grids as the probability-flow samplers), reversed. */
static int revsde_grid(const fpk_revsde_params *p, const fpk_schedule *s, double tmax,
                       double *tg, fpk_error *err) {
  const size_t N = p->nsteps;
  const char *name = p->grid ? p->grid : "time-uniform";
  const fpk_time_grid_type *gt = fpk_time_grid_find(name);
  if (!gt)
    return fpk_error_set(err, FPK_EINVAL, "fpk_revsde_sample: grid = '%s' is not a time grid: "
                         "use time-uniform, logsnr-uniform or edm", name);
  if (!strcmp(gt->name, "time-uniform")) {
    for (size_t i = 0; i < N; i++)
      tg[i] = p->t_min + (tmax - p->t_min) * (double)i / (double)N;
    tg[N] = tmax;
    return FPK_SUCCESS;
  }
  double *t = malloc((N + 1) * sizeof *t);
  if (!t) return fpk_error_set(err, FPK_ENOMEM, "fpk_revsde_sample: out of memory");
  int rc = fpk_time_grid(gt, s, tmax, p->t_min, N, p->rho, t, err);
  if (rc) fpk_error_prefix(err, "fpk_revsde_sample (grid %s): ", gt->name);
  for (size_t i = 0; !rc && i <= N; i++) tg[i] = t[N - i];
  free(t);
  return rc;
}

int fpk_revsde_sample(const fpk_revsde_type *type, const fpk_schedule *s, fpk_score_fn score,
                      void *user, const fpk_revsde_params *p, size_t dim, size_t n, double *x,
                      size_t *nfe, fpk_error *err) {
  const revsde_impl *im = NULL;
  for (size_t i = 0; i < sizeof impls / sizeof *impls; i++)
    if (type == &impls[i].pub) im = &impls[i];
  if (!im) return fpk_error_set(err, FPK_EINVAL, "fpk_revsde_sample: unknown sampler type");
  if (!s || !p) return fpk_error_set(err, FPK_EINVAL, "fpk_revsde_sample: no schedule or parameters");
  const double T = fpk_schedule_T(s), tmax = p->t_max == 0 ? T : p->t_max;
  if (dim < 1 || dim > MAXD)
    return fpk_error_set(err, FPK_EINVAL, "fpk_revsde_sample: dim = %zu: 1 to %d", dim, MAXD);
  if (p->nsteps < 1) return fpk_error_set(err, FPK_EINVAL, "fpk_revsde_sample: nsteps = 0: need N >= 1");
  if (!(tmax > 0 && tmax <= T))
    return fpk_error_set(err, FPK_EINVAL, "fpk_revsde_sample: t_max = %g is outside (0, T] = (0, %g]", tmax, T);
  if (!(p->t_min > 0 && p->t_min < tmax))
    return fpk_error_set(err, FPK_EINVAL, "fpk_revsde_sample: t_min = %g: need 0 < t_min < t_max = %g",
                         p->t_min, tmax);
  const int exact = im->kind == R_ANC && p->exact;
  if (!exact) {
    /* the score-driven steps divide by a_t (ancestral, pc) or take g² h steps (reverse-em): where
     * a_t vanishes (a huge β, vp-cosine at T) or g² blows up they return overflowing garbage —
     * finite numbers, accepted — so refuse, as fpk_pfode_sample does (a_t >= 1e-8) */
    const double at = fpk_schedule_mean_coef(s, tmax), g2 = fpk_schedule_g2(s, tmax);
    if (!(at >= 1e-8) || !(g2 < 1e12))
      return fpk_error_set(err, FPK_EINVAL, "fpk_revsde_sample (%s): t_max = %g: the signal a_t "
                           "= %g vanishes or g^2 = %g blows up there (%s; need a_t >= 1e-8 and "
                           "g^2 < 1e12): use a smaller t_max, or ancestral with the exact "
                           "transitions", im->pub.name, tmax, at, g2,
                           fpk_schedule_type_of(s)->name);
  }
  if (!exact && !score)
    return fpk_error_set(err, FPK_EINVAL, "fpk_revsde_sample (%s): no score callback", im->pub.name);
  if (im->kind == R_PC && !(p->snr > 0 && isfinite(p->snr)))
    return fpk_error_set(err, FPK_EINVAL, "fpk_revsde_sample (pc): snr = %g must be positive", p->snr);
  if (im->kind == R_PC && p->corrector_steps < 1)
    return fpk_error_set(err, FPK_EINVAL, "fpk_revsde_sample (pc): corrector_steps = 0: need M >= 1");
  if (exact) {
    int rc = mixture_check("fpk_revsde_sample (ancestral, exact)", p->exact, err);
    if (rc) return rc;
    if (p->exact->dim != dim)
      return fpk_error_set(err, FPK_EINVAL, "fpk_revsde_sample (ancestral): the exact mixture has dim %zu, the "
                           "points %zu", p->exact->dim, dim);
  }
  const size_t N = p->nsteps, M = im->kind == R_PC ? p->corrector_steps : 0;
  double *tg = malloc((N + 1) * sizeof *tg);
  if (!tg) return fpk_error_set(err, FPK_ENOMEM, "fpk_revsde_sample: out of memory");
  {
    const int grc = revsde_grid(p, s, tmax, tg, err);
    if (grc) {
      free(tg);
      return grc;
    }
  }
  const size_t S = im->kind == R_EM ? dim : im->kind == R_PC ? (1 + M) * dim : dim + 1;
  size_t nfe_path = exact ? 0 : N * (1 + M);
  if (p->denoise && (score || !exact)) nfe_path++;
  if (nfe) *nfe = nfe_path;
  /* exact transitions: every step's components, computed once */
  rev_comp *rcs = NULL;
  const size_t K = exact ? p->exact->K : 0;
  if (exact) {
    rcs = malloc(N * K * sizeof *rcs);
    if (!rcs) {
      free(tg);
      return fpk_error_set(err, FPK_ENOMEM, "fpk_revsde_sample: out of memory");
    }
    for (size_t i = N; i >= 1; i--) {
      const double t1 = tg[i], t0 = tg[i - 1];
      int rc = rev_comp_init(p->exact, t0, t1, fpk_schedule_mean_coef(s, t0), fpk_schedule_var(s, t0),
                             fpk_schedule_mean_coef(s, t1), fpk_schedule_var(s, t1),
                             rcs + (i - 1) * K, err);
      if (rc) {
        free(rcs), free(tg);
        return rc;
      }
    }
  }
  /* the denoising step of the exact chain without a callback: the mixture's own score */
  fpk_gmm *gden = NULL;
  if (p->denoise && !score) {
    gden = fpk_gmm_alloc(dim, K, p->exact->weights, p->exact->means, p->exact->covs, err);
    if (!gden) {
      free(rcs), free(tg);
      return err ? err->status : FPK_ENOMEM;
    }
  }
  const size_t B = FPK_REVSDE_BLOCK, nblocks = (n + B - 1) / B;
  int status = FPK_SUCCESS;
  const int nth = p->nthreads > 0 ? p->nthreads : omp_get_max_threads();
#pragma omp parallel num_threads(nth)
  {
    double *xb = malloc(dim * B * sizeof *xb), *sb = malloc(dim * B * sizeof *sb);
    double *zb = malloc(S * B * sizeof *zb);
    fpk_error lerr = {0};
    int lrc = (!xb || !sb || !zb) ? fpk_error_set(&lerr, FPK_ENOMEM, "fpk_revsde_sample: out of memory") : 0;
#pragma omp for schedule(dynamic, 1)
    for (size_t blk = 0; blk < nblocks; blk++) {
      int st;
#pragma omp atomic read
      st = status;
      if (st || lrc) continue;
      const size_t i0 = blk * B, nb = i0 + B <= n ? B : n - i0;
      for (size_t c = 0; c < dim; c++) memcpy(xb + c * nb, x + c * n + i0, nb * sizeof *xb);
      for (size_t j = 0; j < N && !lrc; j++) {
        const size_t i = N - j;
        const double t1 = tg[i], t0 = tg[i - 1], h = t1 - t0;
        for (size_t q = 0; q < nb; q++) fpk_rng_normals(p->seed, i0 + q, j * S, S, zb + q * S);
        if (exact) {
          const rev_comp *rc = rcs + (i - 1) * K;
          for (size_t q = 0; q < nb; q++) {
            double xi[MAXD];
            for (size_t c = 0; c < dim; c++) xi[c] = xb[c * nb + q];
            rev_exact_step(dim, K, rc, xi, zb + q * S);
            for (size_t c = 0; c < dim; c++) xb[c * nb + q] = xi[c];
          }
        } else {
          if ((lrc = fpk_score_call_checked(score, user, t1, nb, dim, xb, sb))) {
            if (lrc == FPK_SCORE_NONFINITE)
              lrc = fpk_error_set(&lerr, FPK_ECALLBACK, "fpk_revsde_sample (%s): the score at t = "
                                  "%g left entries unwritten or non-finite (a score of another "
                                  "dimension than dim = %zu?)", im->pub.name, t1, dim);
            else
              fpk_error_set(&lerr, lrc, "fpk_revsde_sample (%s): the score failed at t = %g",
                            im->pub.name, t1);
            break;
          }
          if (im->kind == R_ANC) { /* Ho et al. eq. 11: (x + v s)/α + √β̃ z */
            const double a1 = fpk_schedule_mean_coef(s, t1), a0 = fpk_schedule_mean_coef(s, t0);
            const double b21 = fpk_schedule_var(s, t1), b20 = fpk_schedule_var(s, t0);
            const double al = a1 / a0, v = b21 - al * al * b20, sd = sqrt(v * b20 / b21);
            for (size_t q = 0; q < nb; q++)
              for (size_t c = 0; c < dim; c++) {
                double *xv = xb + c * nb + q;
                *xv = (*xv + v * sb[c * nb + q]) / al + sd * zb[q * S + 1 + c];
              }
          } else { /* reverse Euler–Maruyama from t1 to t0 */
            const double f = fpk_schedule_f(s, t1), g2 = fpk_schedule_g2(s, t1);
            const double sd = sqrt(g2 * h);
            for (size_t q = 0; q < nb; q++)
              for (size_t c = 0; c < dim; c++) {
                double *xv = xb + c * nb + q;
                *xv += -h * (f * *xv - g2 * sb[c * nb + q]) + sd * zb[q * S + c];
              }
          }
          if (im->kind == R_PC) { /* Langevin corrector at t0 (Song et al. 2021, Alg. 1–2) */
            const double ar = fpk_schedule_mean_coef(s, t0) / fpk_schedule_mean_coef(s, t1);
            const double alpha = ar * ar;
            for (size_t mm = 1; mm <= M && !lrc; mm++) {
              if ((lrc = fpk_score_call_checked(score, user, t0, nb, dim, xb, sb))) {
                if (lrc == FPK_SCORE_NONFINITE) lrc = FPK_ECALLBACK;
                fpk_error_set(&lerr, lrc, "fpk_revsde_sample (pc): the score failed (or left "
                              "entries unwritten or non-finite) at t = %g", t0);
                break;
              }
              double zn = 0, sn = 0; /* block means of the per-path norms, in path order */
              for (size_t q = 0; q < nb; q++) {
                double z2 = 0, s2 = 0;
                for (size_t c = 0; c < dim; c++) {
                  const double zz = zb[q * S + mm * dim + c], ss = sb[c * nb + q];
                  z2 += zz * zz, s2 += ss * ss;
                }
                zn += sqrt(z2), sn += sqrt(s2);
              }
              const double r = p->snr * zn / sn, eps = 2 * alpha * r * r, sd = sqrt(2 * eps);
              for (size_t q = 0; q < nb; q++)
                for (size_t c = 0; c < dim; c++) {
                  double *xv = xb + c * nb + q;
                  *xv += eps * sb[c * nb + q] + sd * zb[q * S + mm * dim + c];
                }
            }
          }
        }
        for (size_t q = 0; q < nb && !lrc; q++)
          for (size_t c = 0; c < dim; c++)
            if (!isfinite(xb[c * nb + q])) {
              lrc = fpk_error_set(&lerr, FPK_ENUMERIC, "fpk_revsde_sample (%s): path %zu is not "
                                  "finite at t = %g (step %zu of %zu, h g^2 = %g: an explicit step "
                                  "is unstable when h g^2 / b^2 is well above 1): raise nsteps",
                                  im->pub.name, i0 + q, t0, j + 1, N,
                                  h * fpk_schedule_g2(s, t1));
              break;
            }
      }
      if (!lrc && p->denoise) { /* Tweedie: x̂0 = (x + b² ∇log p)/a at t_min */
        const double a = fpk_schedule_mean_coef(s, p->t_min), b2 = fpk_schedule_var(s, p->t_min);
        if (score) {
          if ((lrc = fpk_score_call_checked(score, user, p->t_min, nb, dim, xb, sb)) &&
              (lrc = lrc == FPK_SCORE_NONFINITE ? FPK_ECALLBACK : lrc))
            fpk_error_set(&lerr, lrc, "fpk_revsde_sample: the score failed at t_min = %g", p->t_min);
        } else { /* exact mixture without a callback: its own score */
          lrc = fpk_gmm_eval(gden, s, p->t_min, nb, xb, NULL, sb, NULL, NULL, &lerr);
        }
        if (!lrc)
          for (size_t q = 0; q < nb * dim; q++) xb[q] = (xb[q] + b2 * sb[q]) / a;
      }
      if (!lrc)
        for (size_t c = 0; c < dim; c++) memcpy(x + c * n + i0, xb + c * nb, nb * sizeof *xb);
    }
    if (lrc) {
#pragma omp critical(fpk_revsde_err)
      if (!status) { /* the only writer; other threads read it atomically */
        if (err) *err = lerr;
#pragma omp atomic write
        status = lrc;
      }
    }
    free(xb), free(sb), free(zb);
  }
  free(rcs), free(tg);
  fpk_gmm_free(gden);
  return status;
}

/* ---- the DDPM chain's negative ELBO ------------------------------------------------------- */

/* Mean and standard error of tr Cov[x0 | x_t] (want_mmse) or −log p_t(x_t), over nsamples exact
 * x_t ~ p_t from streams [path0, path0 + nsamples). */
static int mc_term(const fpk_ddpm_mixture *mix, const fpk_gmm *g, const fpk_schedule *s, double t,
                   int want_mmse, size_t ns, uint64_t seed, uint64_t path0, double *mean,
                   double *se, fpk_error *err) {
  const size_t d = mix->dim, CH = 16384;
  double *x = malloc(d * CH * sizeof *x), *v = malloc(d * d * CH * sizeof *v);
  if (!x || !v) {
    free(x), free(v);
    return fpk_error_set(err, FPK_ENOMEM, "fpk_ddpm_elbo: out of memory");
  }
  double m = 0, m2 = 0; /* Welford over chunks' sums: deterministic order */
  size_t cnt = 0;
  int rc = FPK_SUCCESS;
  for (size_t i0 = 0; i0 < ns && !rc; i0 += CH) {
    const size_t nb = i0 + CH <= ns ? CH : ns - i0;
    rc = fpk_ddpm_mixture_sample(mix, s, t, nb, seed, path0 + i0, x, err);
    if (!rc)
      rc = want_mmse ? fpk_gmm_eval(g, s, t, nb, x, NULL, NULL, NULL, v, err)
                     : fpk_gmm_eval(g, t == 0 ? NULL : s, t, nb, x, v, NULL, NULL, NULL, err);
    for (size_t i = 0; i < nb && !rc; i++) {
      double y = 0;
      if (want_mmse)
        for (size_t c = 0; c < d; c++) y += v[(c * d + c) * nb + i];
      else
        y = -v[i];
      cnt++;
      const double dl = y - m;
      m += dl / (double)cnt;
      m2 += dl * (y - m);
    }
  }
  free(x), free(v);
  *mean = m;
  *se = cnt > 1 ? sqrt(m2 / (double)(cnt - 1) / (double)cnt) : NAN;
  return rc;
}

int fpk_ddpm_elbo(const fpk_ddpm_mixture *mix, const fpk_schedule *s, size_t N, double t_min,
                  double t_max, size_t nsamples, uint64_t seed, fpk_ddpm_elbo_result *res,
                  fpk_error *err) {
  int rc = mixture_check("fpk_ddpm_elbo", mix, err);
  if (rc) return rc;
  const double T = fpk_schedule_T(s);
  if (t_max == 0) t_max = T;
  if (N < 2)
    return fpk_error_set(err, FPK_EINVAL, "fpk_ddpm_elbo: N = %zu: the chain's latents t_1 = "
                         "t_min < ... < t_N = t_max need N >= 2 (with one latent t_min and t_max "
                         "would have to coincide): use N >= 2", N);
  if (!(t_max > 0 && t_max <= T))
    return fpk_error_set(err, FPK_EINVAL, "fpk_ddpm_elbo: t_max = %g is outside (0, T] = (0, %g]",
                         t_max, T);
  if (!(t_min > 0 && t_min < t_max))
    return fpk_error_set(err, FPK_EINVAL, "fpk_ddpm_elbo: t_min = %g: need 0 < t_min < t_max = %g",
                         t_min, t_max);
  if (nsamples < 2) return fpk_error_set(err, FPK_EINVAL, "fpk_ddpm_elbo: nsamples = %zu < 2", nsamples);
  fpk_gmm *g = fpk_gmm_alloc(mix->dim, mix->K, mix->weights, mix->means, mix->covs, err);
  if (!g) return err ? err->status : FPK_EINVAL;
  memset(res, 0, sizeof *res);
  res->N = N;
  const size_t d = mix->dim;
  const double dd = (double)d;
  /* t_i, i = 1..N (N >= 2): t_1 = t_min, t_N = t_max */
#define TI(i) (t_min + (t_max - t_min) * (double)((i) - 1) / (double)(N - 1))
  double ex2 = 0;
  for (size_t k = 0; k < mix->K; k++)
    for (size_t c = 0; c < d; c++) {
      const double mu = mix->means[k * d + c];
      ex2 += mix->weights[k] * (mix->covs[k * d * d + c * d + c] + mu * mu);
    }
  const double tN = TI(N), aN = fpk_schedule_mean_coef(s, tN), bN2 = fpk_schedule_var(s, tN);
  res->L_T = 0.5 * (aN * aN * ex2 + dd * (bN2 - 1 - log(bN2)));
  double var_mid = 0, mm = 0, se = 0;
  for (size_t i = 1; i <= N && !rc; i++) {
    const double t = TI(i);
    rc = mc_term(mix, g, s, t, 1, nsamples, seed, (uint64_t)(i - 1) * nsamples, &mm, &se, err);
    if (rc) break;
    if (i == 1) {
      res->L_0 = 0.5 * dd * (1 + log(2 * M_PI * mm / dd));
      res->L_0_se = 0.5 * dd * se / mm;
    } else {
      const double tp = TI(i - 1);
      const double snr0 = pow(fpk_schedule_mean_coef(s, tp), 2) / fpk_schedule_var(s, tp);
      const double snr1 = pow(fpk_schedule_mean_coef(s, t), 2) / fpk_schedule_var(s, t);
      res->L_mid += 0.5 * (snr0 - snr1) * mm;
      var_mid += pow(0.5 * (snr0 - snr1) * se, 2);
    }
  }
  res->L_mid_se = sqrt(var_mid);
  res->nelbo = res->L_T + res->L_mid + res->L_0;
  res->nelbo_se = sqrt(var_mid + res->L_0_se * res->L_0_se);
  /* continuous limit: I(t_min) − I(t_max), I = h(p_t) − d log b_t − (d/2) log 2πe */
  double h0 = 0, h0s = 0, h1 = 0, h1s = 0;
  const uint64_t off = (uint64_t)(N + 1) * nsamples;
  if (!rc) rc = mc_term(mix, g, s, t_min, 0, nsamples, seed, off, &h0, &h0s, err);
  if (!rc) rc = mc_term(mix, g, s, tN, 0, nsamples, seed, off + nsamples, &h1, &h1s, err);
  if (!rc)
    rc = mc_term(mix, g, s, 0, 0, nsamples, seed, off + 2 * nsamples, &res->entropy0,
                 &res->entropy0_se, err);
  if (!rc) {
    res->cont_mid = h0 - h1 - 0.5 * dd * log(fpk_schedule_var(s, t_min)) + 0.5 * dd * log(bN2);
    res->cont_mid_se = sqrt(h0s * h0s + h1s * h1s);
    res->cont_nelbo = res->L_T + res->cont_mid + res->L_0;
    res->cont_nelbo_se = sqrt(res->cont_mid_se * res->cont_mid_se + res->L_0_se * res->L_0_se);
    /* no NaN or overflow leaves with success: SNR = a²/b² overflows for a t_min so small that
     * b² is subnormal, an a_t that underflowed makes log b² or the I terms meaningless */
    if (!isfinite(res->nelbo) || !isfinite(res->cont_nelbo) || !isfinite(res->entropy0))
      rc = fpk_error_set(err, FPK_ENUMERIC, "fpk_ddpm_elbo: the bound is not finite (L_T = %g, "
                         "L_mid = %g, L_0 = %g, continuous middle = %g; SNR(t_min = %g) = %g): "
                         "use a larger t_min or a schedule whose a_t, b_t^2 stay normal doubles",
                         res->L_T, res->L_mid, res->L_0, res->cont_mid, t_min,
                         pow(fpk_schedule_mean_coef(s, t_min), 2) / fpk_schedule_var(s, t_min));
  }
#undef TI
  fpk_gmm_free(g);
  return rc;
}
