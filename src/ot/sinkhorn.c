/* The Sinkhorn engine shared by the dense and grid solvers (fpkit/ot.h states the convention).
 *
 * Log-domain iteration (Peyré & Cuturi, "Computational Optimal Transport", Found. Trends Mach.
 * Learn. 11(5–6), 2019, Remark 4.23; Schmitzer, SIAM J. Sci. Comput. 41(3), 2019):
 *   f̂ = T_a(g):  f̂_i = −ε log Σ_j exp(log b_j + g_j/ε − C_ij/ε),
 *   ĝ = T_b(f):  ĝ_j = −ε log Σ_i exp(log a_i + f_i/ε − C_ij/ε).
 * The row sums of the plan of (f, g) are r_i = a_i exp((f_i − f̂_i)/ε), so the marginal error of
 * the current pair costs nothing beyond the next half-step: with g = T_b(f) the column marginal is
 * exact and ‖r − a‖₁ is the whole stopping criterion.
 *
 * ε-scaling (Kosowsky & Yuille 1994; Schmitzer 2019 §3.2): ε_0 = the largest cost (or the user's
 * eps_start), ε_{k+1} = max(ε, factor·ε_k); each stage starts from the last potentials and stops
 * at stage_tol, the final one at tol.
 *
 * Over-relaxation (Thibault, Chizat, Dossal & Papadakis, Algorithms 14(5):143, 2021; Young's SOR
 * theory for the alternating projections): f ← f + ω(f̂ − f), g ← g + ω(ĝ − g). Near the
 * solution Sinkhorn contracts the error by a factor ρ per iteration; the optimal
 * ω = 2/(1 + √(1 − ρ)) turns 1 − ρ into about 2√(1 − ρ), which at small ε (ρ → 1) divides the
 * iteration count by ~1/√(1 − ρ). The automatic mode (see run_stage) measures the rate, raises
 * ω towards the optimum in safeguarded trials and restores the saved pair when a trial fails.
 * With ω ≠ 1 the columns are no longer exact after a g-step, so the error is the
 * row error of (f, g) plus the column error seen at the last g-step; when that falls below the
 * tolerance the stage finishes with plain steps, so the pair returned has exact columns and a
 * measured row error.
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpkit/guard.h"
#include "ot/ot_internal.h"

void fpk_ot_params_init(fpk_ot_params *p) {
  memset(p, 0, sizeof *p);
  p->eps = 1;
  p->tol = 1e-9;
  p->max_iter = 100000;
  p->check_every = 1;
  p->eps_start = 0;
  p->eps_factor = 0.5;
  p->stage_tol = 1e-3;
  p->omega = 0;
}

int ot_check_params(const fpk_ot_params *p, fpk_error *err) {
  if (!p) return fpk_error_set(err, FPK_EINVAL, "ot: no parameters given");
  if (!(p->eps > 0) || !isfinite(p->eps))
    return fpk_error_set(err, FPK_EINVAL, "ot: eps = %g: the regularisation must be > 0 and finite",
                         p->eps);
  if (!(p->tol > 0) || !isfinite(p->tol))
    return fpk_error_set(err, FPK_EINVAL, "ot: tol = %g: must be > 0", p->tol);
  if (p->max_iter < 1) return fpk_error_set(err, FPK_EINVAL, "ot: max_iter = 0");
  if (p->check_every < 1) return fpk_error_set(err, FPK_EINVAL, "ot: check_every = 0");
  if (!(p->eps_factor > 0 && p->eps_factor < 1))
    return fpk_error_set(err, FPK_EINVAL, "ot: eps_factor = %g: must lie in (0, 1)",
                         p->eps_factor);
  if (!(p->eps_start >= 0) || !isfinite(p->eps_start))
    return fpk_error_set(err, FPK_EINVAL, "ot: eps_start = %g: must be >= 0 (0: automatic)",
                         p->eps_start);
  if (!(p->stage_tol >= 0) || !isfinite(p->stage_tol))
    return fpk_error_set(err, FPK_EINVAL, "ot: stage_tol = %g: must be >= 0", p->stage_tol);
  if (!(p->omega == 0 || (p->omega >= 1 && p->omega < 2)))
    return fpk_error_set(err, FPK_EINVAL,
                         "ot: omega = %g: must be 0 (automatic) or lie in [1, 2)", p->omega);
  return FPK_SUCCESS;
}

static int check_weights(const char *name, size_t n, const double *w, double *mass,
                         fpk_error *err) {
  double s = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(w[i]) || w[i] < 0)
      return fpk_error_set(err, FPK_EINVAL,
                           "ot: %s[%zu] = %g: marginal weights must be finite and >= 0", name, i,
                           w[i]);
    s += w[i];
  }
  if (!(s > 0)) return fpk_error_set(err, FPK_EINVAL, "ot: marginal %s has zero mass", name);
  *mass = s;
  return FPK_SUCCESS;
}

int ot_prepare_marginals(size_t n, const double *a, size_t m, const double *b,
                         const fpk_ot_params *p, double *an, double *bn, double *loga,
                         double *logb, fpk_ot_result *r, fpk_error *err) {
  double sa = 0, sb = 0;
  int rc = check_weights("a", n, a, &sa, err);
  if (!rc) rc = check_weights("b", m, b, &sb, err);
  if (rc) return rc;
  r->mass_a = sa;
  r->mass_b = sb;
  /* Masses within 1e-9 of 1 are rescaled silently: the difference is below any tolerance a
   * solve can meet. Anything larger is a modelling decision the caller must make. */
  if (!p->normalize && (fabs(sa - 1) > 1e-9 || fabs(sb - 1) > 1e-9))
    return fpk_error_set(err, FPK_EINVAL,
                         "ot: the marginals have masses %.12g (a) and %.12g (b), %s by %.3g; "
                         "both must be 1 (ask for normalize to rescale them)",
                         sa, sb, fabs(sa - sb) > 1e-9 ? "differing" : "off 1",
                         fabs(sa - sb) > 1e-9 ? fabs(sa - sb) : fmax(fabs(sa - 1), fabs(sb - 1)));
  for (size_t i = 0; i < n; i++) {
    an[i] = a[i] / sa;
    loga[i] = an[i] > 0 ? log(an[i]) : -INFINITY;
  }
  for (size_t j = 0; j < m; j++) {
    bn[j] = b[j] / sb;
    logb[j] = bn[j] > 0 ? log(bn[j]) : -INFINITY;
  }
  return FPK_SUCCESS;
}

int ot_test_force_standard = 0;
void (*ot_test_result_hook)(fpk_ot_result *r) = NULL;

/* out = −ε log Σ exp(logw + pot/ε − C/ε) along direction dir (T_a for dir 0, T_b for dir 1); in
 * the centred representation the same with C̃, evaluated as −ε log1p(T) by P->pert. */
static int half_step(const ot_problem *P, int dir, double eps, const double *pot, double *in,
                     double *out, fpk_error *err) {
  int rc;
  if (P->centred) {
    rc = P->pert(P->ctx, dir, eps, pot, out, err);
  } else {
    const size_t len = dir == 0 ? P->m : P->n;
    const double *logw = dir == 0 ? P->logb : P->loga;
    const double inv = 1 / eps;
    for (size_t k = 0; k < len; k++) in[k] = logw[k] + pot[k] * inv;
    rc = P->lse(P->ctx, dir, eps, in, out, err);
  }
  if (rc) return rc;
  const size_t olen = dir == 0 ? P->n : P->m;
  for (size_t k = 0; k < olen; k++) out[k] *= -eps;
  return FPK_SUCCESS;
}

/* ‖w ∘ exp((p − p̂)/ε) − w‖₁ */
static double marginal_error(size_t n, const double *w, const double *p, const double *ph,
                             double eps) {
  double e = 0;
  for (size_t i = 0; i < n; i++)
    if (w[i] > 0) e += w[i] * fabs(expm1((p[i] - ph[i]) / eps));
  return e;
}

static void record(ot_engine_work *W, double e) {
  if (W->hlen < W->hcap) W->history[W->hlen++] = e;
}

static void __attribute__((format(printf, 3, 4)))
logf_append(char *log, size_t cap, const char *fmt, ...) {
  if (!log || !cap) return;
  size_t len = strlen(log);
  if (len + 1 >= cap) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(log + len, cap - len, fmt, ap);
  va_end(ap);
}

int ot_engine_work_alloc(ot_engine_work *W, size_t n, size_t m) {
  W->fh = malloc(n * sizeof(double));
  W->gh = malloc(m * sizeof(double));
  W->in_a = malloc(m * sizeof(double));
  W->in_b = malloc(n * sizeof(double));
  W->fs = malloc(n * sizeof(double));
  W->gs = malloc(m * sizeof(double));
  W->fn = malloc(n * sizeof(double));
  W->gn = malloc(m * sizeof(double));
  return W->fh && W->gh && W->in_a && W->in_b && W->fs && W->gs && W->fn && W->gn ? 0
                                                                                  : FPK_ENOMEM;
}

void ot_engine_work_free(ot_engine_work *W) {
  free(W->fh);
  free(W->gh);
  free(W->in_a);
  free(W->in_b);
  free(W->fs);
  free(W->gs);
  free(W->fn);
  free(W->gn);
  free(W->history);
  memset(W, 0, sizeof *W);
}

/* Automatic over-relaxation (omega = 0).
 *
 * Near the solution Sinkhorn is a two-block Gauss–Seidel iteration on the linearised scaling
 * equations, a consistently ordered (2-cyclic) system, so Young's SOR theory applies (Thibault,
 * Chizat, Dossal & Papadakis, Algorithms 14(5), 2021, §3; Lehmann, von Renesse, Sambale &
 * Uschmajew, Optim. Lett. 16, 2022): if plain Sinkhorn contracts the error by ρ = μ² per
 * iteration, the relaxation ω (<= the optimum) contracts it by the largest root λ of
 *   (λ + ω − 1)² = λ ω² ρ     (Young, Trans. AMS 76, 1954, eq. (5.8)),
 * and ω* = 2/(1 + √(1 − ρ)) gives λ = ω* − 1 ≈ 1 − 2√(1 − ρ). The engine measures λ over two
 * successive windows of RHO_WINDOW checks; when they agree to 10% of 1 − λ it infers
 *   ρ̂ = (λ + ω − 1)² / (λ ω²)   (= λ at ω = 1)
 * and moves to ω* (at most OMEGA_MAX). Early rates understate the asymptotic ρ, so this repeats:
 * each measurement at the current ω can raise it again (a rate measured above ω* gives ρ̂ with
 * ω* = ω, so ω does not overshoot through this formula).
 * Safeguard. Over-relaxed Sinkhorn is not globally convergent (Thibault et al. §4 need a
 * Lyapunov bound on ω): far enough from the linear regime it can diverge, even after a stretch
 * of fast progress (measured: two mixtures on 64², ε = 0.01, ω = 1.90 went from 4e-4 to 1e-1
 * within 40 iterations). So while ω > 1 the pair with the smallest error so far is kept, and the
 * relaxation fails when the error exceeds 100 times that smallest one (or is not finite), or when
 * no new smallest error has come for 100/(2 − ω) iterations (longer than the transient of the
 * non-normal SOR iteration, whose errors first rise, by ~5× measured, then fall; counted from
 * the raise for a new ω). Errors under ω ≠ 1 include the column error, so after a raise or a
 * restore the reference restarts from the second check. A failure restores the best pair and
 * steps ω down, halfway to 1 (or to the last relaxation that had made progress, if higher), and
 * the stage raises no more. A raise becomes the new fallback once the error falls below its level
 * at the raise. Before returning, a stage finishes with plain steps so that the returned pair has
 * exact columns. */
#define RHO_WINDOW 10
#define OMEGA_MAX 1.95
#define OMEGA_RAISES 8 /* at most this many raises per stage */
/* The automatic schedule's direct attempt at the target ε (ot_engine_solve): iterations allowed
 * per stage that the ε-scaling schedule would run. */
#define DIRECT_BUDGET_PER_STAGE 20

/* One ε stage; *iter counts iterations over all stages. Returns the last measured error and the
 * largest relaxation used. */
/* budget > 0: the direct attempt at the target ε (ot_engine_solve): the stage gives up, setting
 * *abandoned, once it has run budget iterations or once the iterations predicted from the
 * measured contraction (local + log(e/tol)/log(1/λ), λ over the last RHO_WINDOW checks, none of
 * them after a change of ω) exceed budget. */
static int run_stage(const ot_problem *P, const fpk_ot_params *p, double eps, double tol,
                     size_t budget, double *f, double *g, ot_engine_work *W, size_t *iter,
                     double *err_out, double *omega_out, size_t *restores, int *abandoned,
                     size_t *predicted, fpk_error *err) {
  const size_t n = P->n, m = P->m;
  double *fh = W->fh, *gh = W->gh;
  W->exact_pair = 0;
  int rc = half_step(P, 1, eps, f, W->in_b, g, err); /* g = T_b(f): exact columns */
  if (rc) return rc;
  const int automatic = p->omega == 0;
  double omega = automatic ? 1 : p->omega, omega_good = omega, omega_used = omega;
  int polishing = 0, frozen = !automatic, raises = 0;
  double eb_last = 0, e = INFINITY, e_switch = NAN, e_best = INFINITY;
  double ring[2 * RHO_WINDOW + 1];
  size_t nring = 0, local = 0, best_at = 0, patience = 0, settled = 0;
  double pring[RHO_WINDOW + 1]; /* the direct attempt's last errors, for its prediction */
  size_t npring = 0;
  *abandoned = 0;
  *predicted = 0;
  while (*iter < p->max_iter) {
    /* The fused pass (P->fused) computes this iteration's column half-step speculatively, with
     * the ω in force now; it is used below only if the checks leave ω unchanged and go on. */
    const double omega_spec = omega;
    int spec = P->fused && !P->centred ? P->fused(P->ctx, eps, g, f, omega, fh, W->fn, W->gn) : 2;
    if (spec == 2) {
      rc = half_step(P, 0, eps, g, W->in_a, fh, err);
      if (rc) return rc;
    }
    (*iter)++;
    if (p->progress) p->progress(p->progress_user, *iter, p->max_iter); /* observes only */
    local++;
    if (local % p->check_every == 0 || polishing) {
      e = marginal_error(n, P->a, f, fh, eps) + (omega != 1 ? eb_last : 0);
      record(W, e);
      if (automatic && !polishing && omega > 1) {
        if (!(e <= 100 * e_best) || local > best_at + patience) { /* the safeguard */
          memcpy(f, W->fs, n * sizeof *f);
          memcpy(g, W->gs, m * sizeof *g);
          (*restores)++;
          npring = 0;
          const double half = 1 + (omega - 1) / 2;
          omega = omega != omega_good ? fmax(omega_good, half) : half; /* a trial's, or not */
          if (omega < 1.02) omega = 1;
          omega_good = omega;
          frozen = 1;
          nring = 0;
          best_at = local;
          patience = (size_t)(100 / (2 - omega));
          eb_last = 0; /* the columns of (f, T_b(f)) are exact */
          e_best = INFINITY; /* the restored pair's own error is the new reference, */
          settled = local + 2; /* once the error again includes a column part */
          rc = half_step(P, 1, eps, f, W->in_b, g, err);
          if (rc) return rc;
          continue;
        }
        if (omega != omega_good && e <= e_switch) { /* past the transient: ω makes progress */
          omega_good = omega;
          nring = 0;
        }
      }
      if (automatic && local >= settled && e < e_best) { /* the pair to return to */
        e_best = e;
        best_at = local;
        memcpy(W->fs, f, n * sizeof *f);
        memcpy(W->gs, g, m * sizeof *g);
      }
      if (!isfinite(e))
        return fpk_error_set(err, FPK_ENUMERIC,
                             "ot: the marginal error became %g at iteration %zu (eps = %g)", e,
                             *iter, eps);
      if (e <= tol) {
        if (omega == 1) { /* (f, g) with g = T_b(f) is the answer, fh = T_a(g) */
          W->exact_pair = 1;
          W->exact_eps = eps;
          break;
        }
        /* Finish with plain steps: exact columns, then a measured row error. */
        omega = 1;
        polishing = 1;
        rc = half_step(P, 1, eps, f, W->in_b, g, err);
        if (rc) return rc;
        continue;
      }
      if (budget && !polishing) {
        /* The prediction uses only errors measured at one ω (the ring restarts at a change). */
        if (npring == RHO_WINDOW + 1) {
          memmove(pring, pring + 1, RHO_WINDOW * sizeof *pring);
          npring--;
        }
        pring[npring++] = e;
        size_t pred = local > budget ? local : 0;
        if (!pred && npring == RHO_WINDOW + 1 && e < pring[0] && e > 0) {
          /* (a window whose error grew, the transient after a raise, predicts nothing: the
           * budget alone bounds it) */
          double lam = pow(e / pring[0], 1 / (double)(RHO_WINDOW * p->check_every));
          if (automatic && !frozen && raises < OMEGA_RAISES && lam < 1) {
            /* the relaxation still to come: Young's relation gives ρ̂ from the rate at this ω,
             * and ω* = 2/(1 + √(1 − ρ̂)) would contract by ω* − 1 */
            const double rho = (lam + omega - 1) * (lam + omega - 1) / (lam * omega * omega);
            if (rho < 1) lam = fmin(lam, fmin(OMEGA_MAX, 2 / (1 + sqrt(1 - rho))) - 1);
          }
          const double left = lam < 1 ? log(e / tol) / -log(lam) : INFINITY;
          if ((double)local + left > (double)budget)
            pred = left < 1e12 ? local + (size_t)left : SIZE_MAX;
        }
        if (pred) {
          *abandoned = 1;
          *predicted = pred;
          break;
        }
      }
      if (!frozen && !polishing && omega == omega_good && raises < OMEGA_RAISES) {
        if (nring == 2 * RHO_WINDOW + 1) {
          memmove(ring, ring + 1, 2 * RHO_WINDOW * sizeof *ring);
          nring--;
        }
        ring[nring++] = e;
        if (nring == 2 * RHO_WINDOW + 1) {
          const double span = (double)(RHO_WINDOW * p->check_every);
          const double ra = pow(ring[2 * RHO_WINDOW] / ring[RHO_WINDOW], 1 / span);
          const double rb = pow(ring[RHO_WINDOW] / ring[0], 1 / span);
          if (ra > 0.5 && ra < 1 && fabs(ra - rb) <= 0.1 * (1 - ra)) {
            const double rho = (ra + omega - 1) * (ra + omega - 1) / (ra * omega * omega);
            const double target = rho < 1 ? fmin(OMEGA_MAX, 2 / (1 + sqrt(1 - rho))) : OMEGA_MAX;
            if (target > omega + 0.02) {
              omega = target;
              omega_used = fmax(omega_used, omega);
              e_switch = e;
              best_at = local;
              e_best = INFINITY; /* errors under ω ≠ 1 add the column error: a new reference */
              settled = local + 2;
              patience = (size_t)(100 / (2 - omega));
              raises++;
              nring = 0;
              npring = 0;
            }
          }
        }
      }
    }
    /* The speculative pass used ω = omega_spec; fn is that relaxation of f (the same
     * arithmetic as below), gn = T_b(fn) when spec == 0. */
    const int have_g = spec == 0 && omega == omega_spec;
    if (omega == 1) {
      memcpy(f, fh, n * sizeof *f);
      if (have_g) {
        memcpy(g, W->gn, m * sizeof *g);
      } else {
        rc = half_step(P, 1, eps, f, W->in_b, g, err);
        if (rc) return rc;
      }
    } else {
      for (size_t i = 0; i < n; i++) f[i] += omega * (fh[i] - f[i]);
      if (have_g) {
        memcpy(gh, W->gn, m * sizeof *gh);
      } else {
        rc = half_step(P, 1, eps, f, W->in_b, gh, err);
        if (rc) return rc;
      }
      eb_last = marginal_error(m, P->b, g, gh, eps);
      for (size_t j = 0; j < m; j++) g[j] += omega * (gh[j] - g[j]);
    }
  }
  *err_out = e;
  *omega_out = omega_used;
  return FPK_SUCCESS;
}

/* The sums behind the reported values (ot_engine_solve), kept for the output checks. */
typedef struct ot_value_terms {
  double ea, eb;       /* ‖r − a‖₁, ‖c − b‖₁ */
  double dma, dmb;     /* Σ_i (r_i − a_i), Σ_j (c_j − b_j) */
  double fa, gb;       /* ⟨a, f⟩, ⟨b, g⟩ (working representation) */
  double gap, corr;    /* Σ (r − a) f + Σ (c − b) g; centred: Σ (r − a) α + Σ (c − b) β */
  double cost;         /* the cost callback's value */
  double fabs, gabs;   /* largest |f|, |g| on the supports (working representation) */
  double fmin, fmax, gmin, gmax; /* of the full potentials f (+ α), g (+ β) on the supports */
} ot_value_terms;

static const char *likely_cause(const ot_problem *P, const char *method, double eps,
                                int finite, char *buf, size_t cap) {
  if (!finite)
    return "a non-finite potential or kernel product (exp overflowing at this eps, or a kernel "
           "back-end returning NaN)";
  if (!P->centred && eps > P->cscale) {
    snprintf(buf, cap,
             "eps far beyond the cost scale (eps / largest cost = %.3g): the potentials are "
             "O(cost) while what they carry is O(cost^2/eps), and -eps*log(sum near 1) rounds "
             "away eps*1e-16 of it; the centred large-eps products were not used",
             P->cscale > 0 ? eps / P->cscale : INFINITY);
    return buf;
  }
  if (strstr(method, "kernel fft") || strstr(method, "kernel blas") || strstr(method, "kernel band")) {
    snprintf(buf, cap,
             "kernel underflow or rounding in the scaling-domain products of %s: use kernel = lse "
             "(exact to rounding at every eps)", method);
    return buf;
  }
  return "rounding in the products beyond what their certificates allow (a bug: please report "
         "the problem)";
}

/* The output checks (issue 11). Tolerances. The potentials returned by a half-step carry an
 * absolute error of about u(|f| + |C|) (standard representation, ε up to the cost scale: beyond
 * it the solvers centre) or u(|f̃| + |C̃|²/ε) (centred), and every value is a sum of at most n + m
 * such terms; so with
 *   W = max|f| + max|g| + |cost term| + (max |C| or max |C̃|·min(1, max |C̃|/ε))
 * (supports, working representation), ε·KL must be >= −τ_KL = −64 u √(n + m) W − 4 min(ε, max|C|) δ
 * (δ: the relative accuracy the products are certified to, P->prod_rel: a product off by δ moves
 * a potential by ε δ, and ε is at most about max |C| in the standard representation), and the
 * values, which add the constant of the split and are compared with ⟨a⊗b, C⟩, are checked to
 * τ = τ_KL + 64 u √(n + m) (|shift| + ⟨a⊗b, C⟩). These are loose rounding bounds (the measured
 * errors are far below), but the loss the checks are there to catch, ε·u times the cost scale
 * when ε is far beyond it, exceeds them by orders of magnitude (min(ε, max|C|) keeps it from
 * being excused).
 * Checked: every value finite; OT_ε (primal) >= −τ and ⟨π, C⟩ >= −τ for a cost >= 0; KL >= −τ_KL/ε;
 * the primal–dual gap within its bound from the marginal errors,
 *   |P − D| = |Σ (r − a) f + Σ (c − b) g| <= ½‖r − a‖₁ osc(f) + ½‖c − b‖₁ osc(g)
 *             + |Σ(r − a) mid(f) + Σ(c − b) mid(g)|    (+ τ),
 * (f − mid f is at most osc/2 in size; osc and mid over the supports), which puts OT_ε between D
 * and P up to that bound; D <= ⟨a⊗b, C⟩ + τ (D <= OT_ε <= the value of the plan a⊗b); and a
 * final stage that stopped at error <= tol returns a pair whose recomputed error is <= tol. */
static int ot_check_output(const ot_problem *P, const fpk_ot_params *p, const fpk_ot_result *r,
                           const ot_value_terms *t, double e_final, fpk_error *err) {
  const double u = DBL_EPSILON / 2, eps = r->eps, sq = sqrt((double)(P->n + P->m));
  const double cterm = P->centred ? P->cscale * fmin(1, P->cscale / eps) : P->cscale;
  const double W = t->fabs + t->gabs + fabs(t->cost) + cterm;
  const double tau_kl = 64 * u * sq * W + 4 * fmin(eps, P->cscale) * P->prod_rel;
  const double tau = tau_kl + 64 * u * sq * (fabs(P->shift) + fabs(r->base));
  const double B = 0.5 * t->ea * (t->fmax - t->fmin) + 0.5 * t->eb * (t->gmax - t->gmin) +
                   fabs(t->dma * 0.5 * (t->fmax + t->fmin) + t->dmb * 0.5 * (t->gmax + t->gmin));
  char quantity[160] = "", bound[200] = "";
  int finite = 1;
  const double vals[] = {r->cost, r->kl, r->primal, r->dual, r->err_a, r->err_b, r->base,
                         r->excess};
  static const char *names[] = {"<pi, C> (cost)", "KL", "OT_eps (primal)", "OT_eps (dual)",
                                "marginal error |pi 1 - a|_1", "marginal error |pi^T 1 - b|_1",
                                "<a x b, C>", "OT_eps - <a x b, C>"};
  for (size_t k = 0; k < sizeof vals / sizeof vals[0] && finite; k++)
    if (!isfinite(vals[k])) {
      finite = 0;
      snprintf(quantity, sizeof quantity, "%s = %g", names[k], vals[k]);
      snprintf(bound, sizeof bound, "is not finite (every reported number must be)");
    }
  if (finite && P->cost_nonneg && !(r->primal >= -tau)) {
    snprintf(quantity, sizeof quantity, "OT_eps (primal) = %.6g", r->primal);
    snprintf(bound, sizeof bound,
             "< -%.3g: an entropic OT value with cost >= 0 and KL >= 0 cannot be negative", tau);
  } else if (finite && P->cost_nonneg && !(r->cost >= -tau)) {
    snprintf(quantity, sizeof quantity, "<pi, C> (cost) = %.6g", r->cost);
    snprintf(bound, sizeof bound, "< -%.3g: the cost is nonnegative on the support", tau);
  } else if (finite && !(r->kl * eps >= -tau_kl)) {
    snprintf(quantity, sizeof quantity, "KL = %.6g", r->kl);
    snprintf(bound, sizeof bound, "< -%.3g: KL(pi | a x b) >= 0 (to rounding, eps KL >= -%.3g)",
             tau_kl / eps, tau_kl);
  } else if (finite && !(fabs(r->primal - r->dual) <= B + tau)) {
    snprintf(quantity, sizeof quantity, "primal - dual = %.6g", r->primal - r->dual);
    snprintf(bound, sizeof bound,
             "exceeds its bound %.3g from the marginal errors (%.3g, %.3g) and the potentials' "
             "oscillations (%.3g, %.3g)",
             B + tau, r->err_a, r->err_b, t->fmax - t->fmin, t->gmax - t->gmin);
  } else if (finite && !(r->dual <= r->base + tau)) {
    snprintf(quantity, sizeof quantity, "OT_eps (dual) = %.10g", r->dual);
    snprintf(bound, sizeof bound,
             "> <a x b, C> = %.10g (+ %.3g): the dual is below OT_eps, itself below the value "
             "of the plan a x b", r->base, tau);
  } else if (finite && e_final <= p->tol &&
             !(r->err_a + r->err_b <= p->tol * (1 + 1e-9) + 64 * u * sq)) {
    snprintf(quantity, sizeof quantity, "marginal error %.3g", r->err_a + r->err_b);
    snprintf(bound, sizeof bound,
             "> tol = %.3g, although the final stage stopped at error %.3g: the reported value "
             "is not that of the converged pair", p->tol, e_final);
  } else if (finite) {
    return FPK_SUCCESS;
  }
  char method[96] = "?", who[160], cause[400];
  if (P->method) P->method(P->ctx, method, sizeof method);
  snprintf(who, sizeof who, "ot (%s) at eps = %g", method, eps);
  fpk_guard_fail(err, who, NAN, "%s %s", quantity, bound);
  return fpk_guard_cause(err, "%s", likely_cause(P, method, eps, finite, cause, sizeof cause));
}

/* Stages of the schedule ε_0, max(ε, factor ε_0), …, ε. */
static double schedule_stages(double eps0, double eps, double factor) {
  return ceil(log(eps0 / eps) / log(1 / factor)) + 1;
}

int ot_engine_solve(const ot_problem *P, const fpk_ot_params *p, double *f, double *g,
                    ot_engine_work *W, fpk_ot_result *r, char *log, size_t logcap,
                    fpk_error *err) {
  const size_t n = P->n, m = P->m;
  if (!p->warm_start) {
    memset(f, 0, n * sizeof *f);
    memset(g, 0, m * sizeof *g);
  } else {
    for (size_t i = 0; i < n; i++)
      if (!isfinite(f[i]))
        return fpk_error_set(err, FPK_EINVAL, "ot: warm start f[%zu] = %g is not finite", i, f[i]);
    for (size_t j = 0; j < m; j++)
      if (!isfinite(g[j]))
        return fpk_error_set(err, FPK_EINVAL, "ot: warm start g[%zu] = %g is not finite", j, g[j]);
  }
  W->hlen = 0;
  if (log && logcap) log[0] = 0;
  double eps = p->eps_start > 0 ? p->eps_start : P->cmax;
  if (!(eps > p->eps)) eps = p->eps;
  size_t iter = 0, stages = 0;
  double e = INFINITY, omega = 1, e_final = INFINITY;
  int rc = FPK_SUCCESS;
  /* The automatic schedule (eps_start = 0) first tries the target ε directly, with a budget of
   * DIRECT_BUDGET_PER_STAGE iterations per stage the schedule would have; if the attempt
   * converges (or its measured contraction predicts convergence) within it, there is no
   * ε-scaling: plain (relaxed) Sinkhorn from the start was cheaper than the schedule, whose
   * stages cost ~10–20 iterations each plus a set-up per ε (dense: two log-domain half-steps,
   * measured ≈ 4 absorbed iterations). Measured on the 1D grid problem of issue 15 (bench_ot
   * line), the direct relaxed attempt needs ≈ 2.8 √(cmax/ε) iterations (13 at cmax/ε = 20, 127 at
   * 2000) against 18 and 200 iterations over 6 and 12 stages for the schedule. Otherwise the
   * attempt is abandoned as soon as its prediction exceeds the budget, the starting pair is
   * restored and the schedule runs as before (so at small ε the result is the schedule's, at
   * the cost of at most the budget in extra iterations). */
  if (p->eps_start == 0 && eps > p->eps * (1 + 1e-12)) {
    const double nst = schedule_stages(eps, p->eps, p->eps_factor);
    const size_t budget = (size_t)(DIRECT_BUDGET_PER_STAGE * nst);
    double *f0 = NULL, *g0 = NULL;
    if (p->warm_start) { /* the warm start, to restore (without memory: no attempt) */
      f0 = malloc(n * sizeof *f0);
      g0 = malloc(m * sizeof *g0);
      if (f0 && g0) {
        memcpy(f0, f, n * sizeof *f);
        memcpy(g0, g, m * sizeof *g);
      }
    }
    if (!p->warm_start || (f0 && g0)) {
      stages++;
      rc = P->set_eps ? P->set_eps(P->ctx, p->eps, err) : 0;
      size_t restores = 0, predicted = 0;
      int abandoned = 0;
      if (!rc)
        rc = run_stage(P, p, p->eps, p->tol, budget, f, g, W, &iter, &e, &omega, &restores,
                       &abandoned, &predicted, err);
      if (!rc && !abandoned) {
        logf_append(log, logcap,
                    "  eps %-10.4g %8zu iterations  error %.3e  omega %.3f  (no eps-scaling: %s "
                    "within the budget of %zu iterations)\n",
                    p->eps, iter, e, omega,
                    e <= p->tol ? "converged" : "iteration cap reached", budget);
        eps = p->eps;
        e_final = e;
      } else if (!rc) {
        logf_append(log, logcap,
                    "  eps %-10.4g %8zu iterations  error %.3e  direct attempt stopped: "
                    "%zu iterations predicted, budget %zu; eps-scaling from %.4g\n",
                    p->eps, iter, e, predicted, budget, eps);
        if (p->warm_start) {
          memcpy(f, f0, n * sizeof *f);
          memcpy(g, g0, m * sizeof *g);
        } else {
          memset(f, 0, n * sizeof *f);
          memset(g, 0, m * sizeof *g);
        }
        omega = 1;
      }
    }
    free(f0);
    free(g0);
    if (rc) return rc;
  }
  for (; e_final == INFINITY;) {
    const int final = eps <= p->eps * (1 + 1e-12);
    if (final) eps = p->eps;
    stages++;
    if (P->set_eps && (rc = P->set_eps(P->ctx, eps, err))) return rc;
    const double tol_s = final ? p->tol : fmax(p->tol, p->stage_tol);
    size_t before = iter;
    size_t restores = 0;
    size_t predicted;
    int abandoned;
    rc = run_stage(P, p, eps, tol_s, 0, f, g, W, &iter, &e, &omega, &restores, &abandoned,
                   &predicted, err);
    if (rc) return rc;
    if (final) e_final = e;
    logf_append(log, logcap, "  eps %-10.4g %8zu iterations  error %.3e  omega %.3f", eps,
                iter - before, e, omega);
    if (restores)
      logf_append(log, logcap, "  (safeguard: best pair restored %zu time%s)", restores,
                  restores > 1 ? "s" : "");
    logf_append(log, logcap, "\n");
    if (final) break;
    if (iter >= p->max_iter) {
      /* Out of iterations before the last stage: report at the requested ε all the same. */
      eps = p->eps;
      stages++;
      if (P->set_eps && (rc = P->set_eps(P->ctx, eps, err))) return rc;
      W->exact_pair = 0;
      rc = half_step(P, 1, eps, f, W->in_b, g, err);
      if (rc) return rc;
      logf_append(log, logcap, "  eps %-10.4g: iteration cap reached before this stage\n", eps);
      break;
    }
    eps = fmax(p->eps, eps * p->eps_factor);
  }

  /* Values of the pair (f, g) at the requested ε, from its exact marginals. With the mass
   * defect e_i = expm1((f_i − f̂_i)/ε) (r_i = a_i (1 + e_i)), Σ_i a_i = 1 taken as exact, and Σπ − 1
   * = Σ_i a_i e_i:
   *   dual   D = ⟨a, f⟩ + ⟨b, g⟩ − ε Σ_i a_i e_i,
   *   primal P = ⟨π, C⟩ + ε KL = D + gap,  gap = Σ_i (r_i − a_i) f_i + Σ_j (c_j − b_j) g_j,
   *   ε KL   = D + gap − ⟨π, C⟩,
   * every difference of nearly equal numbers written as a sum of small terms (ε e_i ≈ f_i − f̂_i
   * at large ε instead of ε (Σ r − 1)). Centred: f, g are f̃, g̃, the cost callback gives ⟨π, C̃⟩,
   * and ⟨π, C⟩ = shift + ⟨π, C̃⟩ + ⟨r − a, α⟩ + ⟨c − b, β⟩ (the identity of ot_internal.h with the
   * plan's own marginals). */
  eps = p->eps;
  double *fh = W->fh, *gh = W->gh;
  if (W->exact_pair && W->exact_eps == eps) {
    /* The last stage stopped on its check: fh = T_a(g) is the row half-step that check used and
     * g = T_b(f) the last column half-step, so the two half-steps below would recompute them
     * (two more passes over the kernel; up to the summation order of the columns, which the
     * fused pass and the plain product choose differently, i.e. to rounding). */
    memcpy(gh, g, m * sizeof *gh);
  } else {
    rc = half_step(P, 0, eps, g, W->in_a, fh, err);
    if (!rc) rc = half_step(P, 1, eps, f, W->in_b, gh, err);
    if (rc) return rc;
  }
  ot_value_terms t = {0};
  t.fmin = t.gmin = INFINITY;
  t.fmax = t.gmax = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    double ri = 0;
    if (P->a[i] > 0) {
      const double e = expm1((f[i] - fh[i]) / eps), ae = P->a[i] * e;
      ri = P->a[i] + ae;
      t.ea += fabs(ae);
      t.dma += ae;
      t.fa += P->a[i] * f[i];
      t.gap += ae * f[i];
      t.fabs = fmax(t.fabs, fabs(f[i]));
      const double full = P->alpha ? f[i] + P->alpha[i] : f[i];
      if (P->alpha) t.corr += ae * P->alpha[i];
      t.fmin = fmin(t.fmin, full);
      t.fmax = fmax(t.fmax, full);
    }
    fh[i] = ri; /* row sums, reused by the cost callback */
  }
  for (size_t j = 0; j < m; j++) {
    double cj = 0;
    if (P->b[j] > 0) {
      const double e = expm1((g[j] - gh[j]) / eps), be = P->b[j] * e;
      cj = P->b[j] + be;
      t.eb += fabs(be);
      t.dmb += be;
      t.gb += P->b[j] * g[j];
      t.gap += be * g[j];
      t.gabs = fmax(t.gabs, fabs(g[j]));
      const double full = P->beta ? g[j] + P->beta[j] : g[j];
      if (P->beta) t.corr += be * P->beta[j];
      t.gmin = fmin(t.gmin, full);
      t.gmax = fmax(t.gmax, full);
    }
    gh[j] = cj;
  }
  double cost = 0;
  rc = P->cost(P->ctx, eps, f, g, fh, gh, &cost, err);
  if (rc) return rc;
  t.cost = cost;
  const double dual_ex = t.fa + t.gb - eps * t.dma;
  r->eps = eps;
  r->cost = P->shift + (cost + t.corr);
  r->dual = P->shift + dual_ex;
  r->primal = P->shift + (dual_ex + (t.gap + t.corr));
  r->kl = (dual_ex + t.gap - cost) / eps;
  r->base = P->base_late ? *P->base_late : P->base;
  r->excess = P->centred ? dual_ex + (P->shift - r->base) : r->dual - r->base;
  r->err_a = t.ea;
  r->err_b = t.eb;
  r->iterations = iter;
  r->stages = stages;
  r->converged = t.ea + t.eb <= p->tol;
  r->omega = omega;
  if (ot_test_result_hook) ot_test_result_hook(r);
  return ot_check_output(P, p, r, &t, e_final, err);
}
