/* Noising schedules of diffusion models (fpkit/diffusion.h, docs/diffusion.md): the linear forward
 * SDEs dX = f(t)X dt + g(t) dW with x_t = a_t x0 + b_t z. Each type gives a_t, b_t², f, g² and
 * the inverse of λ_t = log(a_t/b_t) in closed form, written so that b_t² keeps its digits near
 * t = 0 (expm1, and sin(φ − φ0)sin(φ + φ0) for the cosine schedule). References: Song et al.,
 * ICLR 2021 (VP, sub-VP, VE SDEs, eqs. 25–34); Ho et al., NeurIPS 2020 (DDPM's linear β);
 * Nichol & Dhariwal, ICML 2021 (cosine ᾱ); closed-forms.md, "Gaussian mixtures under linear
 * forward SDEs". */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fpkit/diffusion.h"

enum { S_OU, S_VP_LINEAR, S_VP_COSINE, S_SUBVP, S_VE };

typedef struct schedule_impl {
  fpk_schedule_type pub;
  int kind;
} schedule_impl;

static const schedule_impl impls[] = {
    {{"ou", "dX = -theta X dt + sigma dW: a = e^{-theta t}, b^2 = sigma^2 (1 - e^{-2 theta t})/(2 theta)"},
     S_OU},
    {{"vp-linear", "VP SDE, beta(t) = beta_min + (t/T)(beta_max - beta_min): a = exp(-int beta/2), b^2 = 1 - a^2 (DDPM)"},
     S_VP_LINEAR},
    {{"vp-cosine", "VP SDE with the cosine alpha-bar of Nichol & Dhariwal (offset s): a = sqrt(alpha-bar), b^2 = 1 - alpha-bar"},
     S_VP_COSINE},
    {{"subvp", "sub-VP SDE (Song et al. 2021), linear beta: a = exp(-int beta/2), b^2 = (1 - a^2)^2"},
     S_SUBVP},
    {{"ve", "VE SDE, sigma(t) = sigma_min (sigma_max/sigma_min)^{t/T}: a = 1, b^2 = sigma(t)^2 - sigma_min^2"},
     S_VE},
};

const fpk_schedule_type *fpk_schedule_ou = &impls[0].pub;
const fpk_schedule_type *fpk_schedule_vp_linear = &impls[1].pub;
const fpk_schedule_type *fpk_schedule_vp_cosine = &impls[2].pub;
const fpk_schedule_type *fpk_schedule_subvp = &impls[3].pub;
const fpk_schedule_type *fpk_schedule_ve = &impls[4].pub;
const fpk_schedule_type *const fpk_schedule_types[] = {&impls[0].pub, &impls[1].pub,
                                                       &impls[2].pub, &impls[3].pub,
                                                       &impls[4].pub, NULL};

const fpk_schedule_type *fpk_schedule_find(const char *name) {
  for (size_t i = 0; name && fpk_schedule_types[i]; i++)
    if (!strcmp(name, fpk_schedule_types[i]->name)) return fpk_schedule_types[i];
  return NULL;
}

struct fpk_schedule {
  const schedule_impl *impl;
  fpk_schedule_params p;
  double c0, phi0; /* cosine: cos φ(0), φ(0) */
  double logr;     /* ve: log(σ_max/σ_min) */
};

void fpk_schedule_params_init(fpk_schedule_params *p) {
  memset(p, 0, sizeof *p);
  p->T = 1;
  p->theta = 1;
  p->sigma = sqrt(2.0);
  p->beta_min = 0.1;
  p->beta_max = 20;
  p->s = 0.008;
  p->sigma_min = 0.01;
  p->sigma_max = 50;
}

static int positive(double v) { return v > 0 && isfinite(v); }

fpk_schedule *fpk_schedule_alloc(const fpk_schedule_type *type, const fpk_schedule_params *p,
                                 fpk_error *err) {
  const schedule_impl *im = NULL;
  for (size_t i = 0; i < sizeof impls / sizeof *impls; i++)
    if (type == &impls[i].pub) im = &impls[i];
  if (!im) {
    fpk_error_set(err, FPK_EINVAL, "fpk_schedule_alloc: type is not one of fpk_schedule_types "
                  "(ou, vp-linear, vp-cosine, subvp, ve)");
    return NULL;
  }
  if (!positive(p->T)) {
    fpk_error_set(err, FPK_EINVAL, "fpk_schedule_alloc (%s): T = %g must be positive and finite",
                  im->pub.name, p->T);
    return NULL;
  }
  switch (im->kind) {
    case S_OU:
      if (!positive(p->theta) || !positive(p->sigma)) {
        fpk_error_set(err, FPK_EINVAL, "fpk_schedule_alloc (ou): theta = %g and sigma = %g must be "
                      "positive and finite", p->theta, p->sigma);
        return NULL;
      }
      /* σ² and the stationary variance σ²/(2θ) must be normal doubles, or b_t² (and every
       * score, ∝ 1/b²) is inf or 0 */
      if (!(p->sigma <= 1e150) || !(p->sigma * p->sigma / (2 * p->theta) >= 1e-300) ||
          !(p->sigma * p->sigma / (2 * p->theta) <= 1e300)) {
        fpk_error_set(err, FPK_EINVAL, "fpk_schedule_alloc (ou): theta = %g, sigma = %g: sigma^2 "
                      "= %g and the stationary variance sigma^2/(2 theta) = %g must lie in "
                      "[1e-300, 1e300] (sigma <= 1e150): rescale theta or sigma", p->theta,
                      p->sigma, p->sigma * p->sigma, p->sigma * p->sigma / (2 * p->theta));
        return NULL;
      }
      break;
    case S_VP_LINEAR:
    case S_SUBVP:
      if (!positive(p->beta_min) || !positive(p->beta_max) || !(p->beta_max > p->beta_min)) {
        fpk_error_set(err, FPK_EINVAL, "fpk_schedule_alloc (%s): beta_min = %g, beta_max = %g: need 0 < "
                      "beta_min < beta_max (beta must be positive and increasing)",
                      im->pub.name, p->beta_min, p->beta_max);
        return NULL;
      }
      break;
    case S_VP_COSINE:
      if (!positive(p->s)) {
        fpk_error_set(err, FPK_EINVAL, "fpk_schedule_alloc (vp-cosine): s = %g must be positive and finite", p->s);
        return NULL;
      }
      break;
    case S_VE:
      if (!positive(p->sigma_min) || !positive(p->sigma_max) || !(p->sigma_max > p->sigma_min)) {
        fpk_error_set(err, FPK_EINVAL, "fpk_schedule_alloc (ve): sigma_min = %g, sigma_max = %g: need 0 < "
                      "sigma_min < sigma_max (sigma(t) must increase)", p->sigma_min,
                      p->sigma_max);
        return NULL;
      }
      /* σ² must be a normal double at both ends: below 1e-150 σ_min² underflows to 0 (b_t² = 0
       * at t > 0, infinite scores, and 0·∞ = NaN where e^{2t log r/T} overflows), above 1e150
       * σ_max² overflows. Within these bounds every formula below stays finite. */
      if (!(p->sigma_min >= 1e-150) || !(p->sigma_max <= 1e150)) {
        fpk_error_set(err, FPK_EINVAL, "fpk_schedule_alloc (ve): sigma_min = %g, sigma_max = %g: "
                      "sigma^2 must be representable: use 1e-150 <= sigma_min and sigma_max <= "
                      "1e150", p->sigma_min, p->sigma_max);
        return NULL;
      }
      break;
  }
  fpk_schedule *s = calloc(1, sizeof *s);
  if (!s) {
    fpk_error_set(err, FPK_ENOMEM, "fpk_schedule_alloc: out of memory");
    return NULL;
  }
  s->impl = im;
  s->p = *p;
  s->phi0 = p->s / (1 + p->s) * M_PI / 2;
  s->c0 = cos(s->phi0);
  s->logr = im->kind == S_VE ? log(p->sigma_max / p->sigma_min) : 0;
  return s;
}

void fpk_schedule_free(fpk_schedule *s) { free(s); }
const fpk_schedule_type *fpk_schedule_type_of(const fpk_schedule *s) { return &s->impl->pub; }
double fpk_schedule_T(const fpk_schedule *s) { return s->p.T; }

/* VP / sub-VP: β(t) and B(t) = ∫_0^t β. */
static double beta_lin(const fpk_schedule *s, double t) {
  return s->p.beta_min + t / s->p.T * (s->p.beta_max - s->p.beta_min);
}
static double beta_int(const fpk_schedule *s, double t) {
  return s->p.beta_min * t + 0.5 * (s->p.beta_max - s->p.beta_min) * t * t / s->p.T;
}
/* cosine: φ(t) */
static double phi(const fpk_schedule *s, double t) {
  return (t / s->p.T + s->p.s) / (1 + s->p.s) * M_PI / 2;
}

double fpk_schedule_mean_coef(const fpk_schedule *s, double t) {
  switch (s->impl->kind) {
    case S_OU: return exp(-s->p.theta * t);
    case S_VP_LINEAR:
    case S_SUBVP: return exp(-0.5 * beta_int(s, t));
    case S_VP_COSINE: return cos(phi(s, t)) / s->c0;
    default: return 1;
  }
}

double fpk_schedule_var(const fpk_schedule *s, double t) {
  switch (s->impl->kind) {
    case S_OU: {
      const double x = 2 * s->p.theta * t;
      return s->p.sigma * s->p.sigma * -expm1(-x) / (2 * s->p.theta);
    }
    case S_VP_LINEAR: return -expm1(-beta_int(s, t));
    case S_SUBVP: {
      const double e = expm1(-beta_int(s, t));
      return e * e;
    }
    case S_VP_COSINE: { /* 1 − cos²φ/cos²φ0 = sin(φ − φ0) sin(φ + φ0)/cos²φ0, with
                         * δ = φ − φ0 = (t/T)/(1 + s)·π/2 formed directly (φ(t) − φ0 lost
                         * ~1e-6 relative at t = 1e-12) */
      const double dl = t / s->p.T / (1 + s->p.s) * M_PI / 2;
      return sin(dl) * sin(dl + 2 * s->phi0) / (s->c0 * s->c0);
    }
    default: /* ve */
      return s->p.sigma_min * s->p.sigma_min * expm1(2 * t / s->p.T * s->logr);
  }
}

double fpk_schedule_f(const fpk_schedule *s, double t) {
  switch (s->impl->kind) {
    case S_OU: return -s->p.theta;
    case S_VP_LINEAR:
    case S_SUBVP: return -0.5 * beta_lin(s, t);
    case S_VP_COSINE: return -0.5 * fpk_schedule_g2(s, t);
    default: return 0;
  }
}

double fpk_schedule_g2(const fpk_schedule *s, double t) {
  switch (s->impl->kind) {
    case S_OU: return s->p.sigma * s->p.sigma;
    case S_VP_LINEAR: return beta_lin(s, t);
    case S_SUBVP: return beta_lin(s, t) * -expm1(-2 * beta_int(s, t));
    case S_VP_COSINE: /* β = −d log ᾱ/dt = 2 tan φ · φ′ */
      return 2 * tan(phi(s, t)) * M_PI / (2 * s->p.T * (1 + s->p.s));
    default: { /* dσ²/dt = 2σ² log r / T */
      const double sg = s->p.sigma_min * exp(t / s->p.T * s->logr);
      return 2 * sg * sg * s->logr / s->p.T;
    }
  }
}

double fpk_schedule_lambda(const fpk_schedule *s, double t) {
  if (t == 0) return INFINITY;
  return log(fpk_schedule_mean_coef(s, t)) - 0.5 * log(fpk_schedule_var(s, t));
}

int fpk_schedule_t_of_lambda(const fpk_schedule *s, double lambda, double *t, fpk_error *err) {
  const double T = s->p.T, lT = fpk_schedule_lambda(s, T);
  if (isnan(lambda) || lambda < lT)
    return fpk_error_set(err, FPK_EINVAL, "fpk_schedule_t_of_lambda (%s): lambda = %g is outside "
                         "[lambda_T, +inf] = [%g, +inf]: pass a log-SNR the schedule reaches",
                         s->impl->pub.name, lambda, lT);
  if (lambda == -INFINITY) /* a_t underflowed to 0 on a whole interval: t is not determined */
    return fpk_error_set(err, FPK_EINVAL, "fpk_schedule_t_of_lambda (%s): lambda = -inf: the "
                         "signal a_t underflows to 0 there, so t is not determined: pass a "
                         "finite lambda", s->impl->pub.name);
  if (lambda == INFINITY) {
    *t = 0;
    return FPK_SUCCESS;
  }
  double r = 0;
  switch (s->impl->kind) {
    case S_OU: /* e^{−2θt} = σ²e^{2λ}/(2θ + σ²e^{2λ}) */
      r = log1p(2 * s->p.theta * exp(-2 * lambda) / (s->p.sigma * s->p.sigma)) /
          (2 * s->p.theta);
      break;
    case S_VP_LINEAR:
    case S_SUBVP: {
      double B; /* ∫β from a: VP a² = sigmoid(2λ); sub-VP a/(1 − a²) = e^λ */
      if (s->impl->kind == S_VP_LINEAR) {
        B = log1p(exp(-2 * lambda));
      } else { /* y = e^{−λ} = (1 − a²)/a: a = 2/(y + √(y² + 4)), and B = −log a² =
                * −log1p(−y a) near a = 1 (t → 0), where −2 log a would cancel */
        const double y = exp(-lambda), a = 2 / (y + sqrt(y * y + 4));
        B = a > 0.5 ? -log1p(-y * a) : -2 * log(a);
      }
      /* β_min t + Δ t²/(2T) = B, the positive root without cancellation */
      const double d = (s->p.beta_max - s->p.beta_min) / T;
      r = 2 * B / (s->p.beta_min + sqrt(s->p.beta_min * s->p.beta_min + 2 * d * B));
      break;
    }
    case S_VP_COSINE: { /* cos φ = c0 √ᾱ, ᾱ = sigmoid(2λ), 1 − ᾱ = sigmoid(−2λ); t ∝ δ = φ − φ0
                         * directly, without acos near φ0 (which lost ~1e-3 relative at t = 1e-12):
                         * sin φ = √(s0² + c0²(1 − ᾱ)), so sin δ = c0 (1 − ᾱ)/(sin φ + s0 √ᾱ) and
                         * cos δ = c0² √ᾱ + s0 sin φ (s0 = sin φ0) */
      const double ab = 1 / (1 + exp(-2 * lambda)), b2 = 1 / (1 + exp(2 * lambda));
      const double c0 = s->c0, s0 = sin(s->phi0), sphi = sqrt(s0 * s0 + c0 * c0 * b2);
      const double dlt = atan2(c0 * b2 / (sphi + s0 * sqrt(ab)), c0 * c0 * sqrt(ab) + s0 * sphi);
      r = T * dlt * 2 / M_PI * (1 + s->p.s);
      break;
    }
    default: /* ve: b² = e^{−2λ} */
      r = T * log1p(exp(-2 * lambda) / (s->p.sigma_min * s->p.sigma_min)) / (2 * s->logr);
  }
  if (isnan(r))
    return fpk_error_set(err, FPK_ENUMERIC, "fpk_schedule_t_of_lambda (%s): lambda = %g gives "
                         "t = nan (the closed form over/underflows there): pass a lambda nearer "
                         "0", s->impl->pub.name, lambda);
  *t = r < 0 ? 0 : (r > T ? T : r);
  return FPK_SUCCESS;
}
