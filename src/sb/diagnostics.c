/* Path-measure diagnostics of a Schrödinger bridge (fpkit/sb.h, docs/sb.md "Path-measure
 * diagnostics"): KL(P* ‖ R) statically and by Girsanov, and the kinetic energy of the
 * probability-flow velocity.
 *
 * Convention: R_0 = μ0, so KL(P* ‖ R) = KL(π* ‖ μ0 ⊗ K_T) (disintegrating both path measures at
 * (X_0, X_T): given the ends both are the same bridge of the reference).
 *
 * Static, on the grid: π_ij = V² φ̂_0(x_i) K_T(x_i, y_j) φ_T(y_j) and R_ij = a_i V K_T(x_i, y_j),
 * so log(π_ij/R_ij) = log(V φ̂_0(x_i)/a_i) + log φ_T(y_j) and the double sum splits into the row
 * and column sums of π: KL = Σ_i p0_i log(V φ̂_0/a)_i + Σ_j pT_j log φ_T(y_j). K_T's quadrature
 * never enters, so this is exact to rounding for the grid plan.
 *
 * Girsanov: P* is R_0 = μ0 driven by b = f + σ²∇log φ_t, R by f = −θx, so KL = ½ E∫|(b − f)/σ|² dt
 * = ½∫ Σ p_t |b − f|²/σ² dt. Agreement with the static value is a test of the whole chain: the
 * propagations, the drift from the kernels and the time quadrature. The integrand is smooth in t
 * (p_t and b are analytic in t on (0, T) and continuous at the ends for smooth end densities), so
 * Gauss–Legendre converges fast on [τ_r, T − τ_r], where every kernel is resolved; on the end
 * strips the drift is only the module's linear interpolation and p_t is not resolved, so the
 * integrand there is the quintic through the end value and five resolved times (error O(τ_r⁷)),
 * plus (475/1440)τ_r times the O(h²) error of the end limit's difference of log a, log b (measured
 * in docs/sb.md).
 */
#include <math.h>
#include <stdlib.h>

#include "sb/sb_internal.h"

int fpk_sb_kl_static(fpk_sb *s, double *kl) {
  sb_view v;
  sb_get_view(s, &v);
  fpk_error_clear(v.err);
  if (!v.solved)
    return fpk_error_set(v.err, FPK_EINVAL, "sb: static KL asked before a successful fpk_sb_solve");
  if (v.ipf) { /* the discrete chain's plan (src/sb/ipf.c) */
    int rc = sb_ipf_kl_static(v.ipf, kl);
    return rc ? fpk_error_set(v.err, rc, "%s", sb_ipf_errmsg(v.ipf)) : FPK_SUCCESS;
  }
  const size_t N = v.g->size;
  double *lphi0 = malloc(N * sizeof *lphi0), *lphatT = malloc(N * sizeof *lphatT);
  int rc = FPK_SUCCESS;
  if (!lphi0 || !lphatT) {
    rc = fpk_error_set(v.err, FPK_ENOMEM, "sb: out of memory for the static KL (%zu cells)", N);
    goto done;
  }
  if ((rc = fpk_sb_log_phi(s, 0, lphi0)) || (rc = fpk_sb_log_phi_hat(s, v.T, lphatT))) goto done;
  double k = 0;
  for (size_t i = 0; i < N; i++) {
    if (v.a[i] > 0) { /* a_i = 0: row i of π is 0 (log φ̂_0 = −∞) */
      const double lr = v.logV + v.lphat0[i] + lphi0[i]; /* log row sum */
      k += exp(lr) * (v.logV + v.lphat0[i] - log(v.a[i]));
    }
    if (v.b[i] > 0) {
      const double lc = v.logV + v.lphiT[i] + lphatT[i]; /* log column sum */
      k += exp(lc) * v.lphiT[i];
    }
  }
  if (!isfinite(k)) {
    rc = fpk_error_set(v.err, FPK_ENUMERIC, "sb: static KL is not finite (%g)", k);
    goto done;
  }
  *kl = k;
done:
  free(lphi0);
  free(lphatT);
  return rc;
}

/* The two integrands at time t: G = ½ Σ p |b − f|²/σ², E = Σ p |½(b − b̂)|². */
typedef struct diag_work {
  double *lph, *lphi, *fwd, *bwd;
} diag_work;

static int integrands(fpk_sb *s, const sb_view *v, diag_work *w, double t, double *G,
                      double *E) {
  const size_t N = v->g->size, d = v->g->dim;
  int rc;
  if ((rc = fpk_sb_log_phi_hat(s, t, w->lph)) || (rc = fpk_sb_log_phi(s, t, w->lphi)) ||
      (rc = fpk_sb_drift(s, t, w->fwd, NULL)) || (rc = fpk_sb_backward_drift(s, t, w->bwd, NULL)))
    return rc;
  double g = 0, e = 0, m = 0, x[FPK_MAX_DIM];
  for (size_t i = 0; i < N; i++) {
    if (w->lph[i] == -INFINITY || w->lphi[i] == -INFINITY) continue; /* p = 0 */
    const double p = exp(v->logV + w->lph[i] + w->lphi[i]);
    m += p;
    double b2 = 0, v2 = 0;
    if (v->theta != 0) fpk_grid_point(v->g, i, x);
    for (size_t a = 0; a < d; a++) {
      const double fb = w->fwd[a * N + i], bb = w->bwd[a * N + i];
      /* b − f, f = −θx the reference's drift (0 for the Brownian reference) */
      const double u = v->theta != 0 ? fb + v->theta * x[a] : fb;
      b2 += u * u;
      v2 += 0.25 * (fb - bb) * (fb - bb);
    }
    g += p * b2;
    e += p * v2;
  }
  /* A node whose p_t has lost mass (the bridge reaches the walls, or the grid does not resolve
   * the kernels) gives a wrong integrand, and the Girsanov KL and kinetic energy would be wrong
   * numbers with no error: the marginal query's own mass rule (mass_tol, with its diagnosis)
   * decides, asked only where Σ p_t is visibly off 1 so that the common case costs nothing. */
  if (!(fabs(m - 1) <= 1e-12)) {
    double mq;
    const int rc_m = fpk_sb_marginal(s, t, NULL, NULL, &mq);
    if (rc_m) { /* the marginal's message is in v->err already: prefix it (no aliasing) */
      fpk_error_prefix(v->err, "sb: path diagnostics at t = %g: ", t);
      return rc_m;
    }
  }
  *G = 0.5 * g / (v->sigma * v->sigma);
  *E = e;
  if (!isfinite(*G) || !isfinite(*E))
    return fpk_error_set(v->err, FPK_ENUMERIC,
                         "sb: path diagnostics: non-finite integrand at t = %g (KL %g, kinetic %g)",
                         t, *G, *E);
  return FPK_SUCCESS;
}

/* The model reference: the integrands at every level of the chain (the only times it answers),
 * with u = (b − f)/σ per axis from the model's own f and σ at the cell centres, integrated by the
 * trapezoidal rule over the levels: first order in the step like the chain itself, so the
 * Girsanov value agrees with the static one to O(dt + h²) (docs/sb.md). */
static int model_diagnostics(fpk_sb *s, const sb_view *v, fpk_sb_path_diag *out) {
  const fpk_model *m = v->model;
  const size_t N = v->g->size, d = v->g->dim;
  size_t nl = 0;
  const double *tl = sb_ipf_times(v->ipf, &nl);
  fpk_sb_path_diag r = {0};
  int rc = fpk_sb_kl_static(s, &r.kl_static);
  if (rc) return rc;
  double *buf = malloc((2 + 5 * d) * N * sizeof(double));
  if (!buf) return fpk_error_set(v->err, FPK_ENOMEM, "sb: out of memory for the path diagnostics");
  double *lph = buf, *lphi = buf + N, *fwd = buf + 2 * N, *bwd = fwd + d * N, *xc = bwd + d * N;
  double *f = xc + d * N, *sg = f + d * N;
  double x[FPK_MAX_DIM];
  for (size_t i = 0; i < N; i++) {
    fpk_grid_point(v->g, i, x);
    for (size_t a = 0; a < d; a++) xc[a * N + i] = x[a];
  }
  double Gp = 0, Ep = 0;
  for (size_t k = 0; k < nl; k++) {
    const double t = tl[k];
    if ((rc = fpk_sb_log_phi_hat(s, t, lph)) || (rc = fpk_sb_log_phi(s, t, lphi)) ||
        (rc = fpk_sb_drift(s, t, fwd, NULL)) || (rc = fpk_sb_backward_drift(s, t, bwd, NULL)))
      goto done;
    if (!m->noise || m->drift(t, N, xc, f, m->params) || m->noise(t, N, xc, sg, m->params)) {
      rc = fpk_error_set(v->err, FPK_ENUMERIC, "sb: path diagnostics: the reference model's drift "
                         "or noise failed at t = %g", t);
      goto done;
    }
    double g = 0, e = 0;
    for (size_t i = 0; i < N; i++) {
      if (lph[i] == -INFINITY || lphi[i] == -INFINITY) continue;
      const double p = exp(v->logV + lph[i] + lphi[i]);
      double u2 = 0, v2 = 0;
      for (size_t a = 0; a < d; a++) {
        const size_t q = a * N + i;
        const double u = (fwd[q] - f[q]) / sg[q];
        u2 += u * u;
        v2 += 0.25 * (fwd[q] - bwd[q]) * (fwd[q] - bwd[q]);
      }
      g += p * u2;
      e += p * v2;
    }
    const double G = 0.5 * g, E = e;
    if (!isfinite(G) || !isfinite(E)) {
      rc = fpk_error_set(v->err, FPK_ENUMERIC, "sb: path diagnostics: non-finite integrand at t = "
                         "%g (KL %g, kinetic %g)", t, G, E);
      goto done;
    }
    if (k) {
      const double h = t - tl[k - 1];
      r.kl_girsanov += 0.5 * h * (G + Gp);
      r.kinetic += 0.5 * h * (E + Ep);
    }
    Gp = G, Ep = E;
    r.n_nodes++;
  }
  *out = r;
done:
  free(buf);
  return rc;
}

int fpk_sb_path_diagnostics(fpk_sb *s, size_t n_intervals, fpk_sb_path_diag *out) {
  sb_view v;
  sb_get_view(s, &v);
  fpk_error_clear(v.err);
  if (!v.solved)
    return fpk_error_set(v.err, FPK_EINVAL,
                         "sb: path diagnostics asked before a successful fpk_sb_solve");
  if (n_intervals == 0)
    return fpk_error_set(v.err, FPK_EINVAL,
                         "sb: path diagnostics: n_intervals = 0: the time rule needs at least one "
                         "Gauss-Legendre interval");
  if (v.ipf) return model_diagnostics(s, &v, out);
  const double T = v.T, tr = fpk_sb_resolved_tau(s);
  if (!(2 * tr < T))
    return fpk_error_set(v.err, FPK_ENUMERIC,
                         "sb: path diagnostics: the resolved strip width tau_r = %.3g leaves no "
                         "interior time in [0, T] = [0, %g] (2 tau_r >= T); refine the grid",
                         tr, T);
  fpk_sb_path_diag r = {0};
  int rc = fpk_sb_kl_static(s, &r.kl_static);
  if (rc) return rc;
  const size_t N = v.g->size, d = v.g->dim;
  diag_work w = {malloc(N * sizeof(double)), malloc(N * sizeof(double)),
                 malloc(d * N * sizeof(double)), malloc(d * N * sizeof(double))};
  if (!w.lph || !w.lphi || !w.fwd || !w.bwd) {
    rc = fpk_error_set(v.err, FPK_ENOMEM, "sb: out of memory for the path diagnostics");
    goto done;
  }
  /* 5-point Gauss–Legendre on [−1, 1] (Abramowitz & Stegun 25.4.30). */
  static const double gx[5] = {-0.9061798459386639927976269, -0.5384693101056830910363144, 0,
                               0.5384693101056830910363144, 0.9061798459386639927976269};
  static const double gw[5] = {0.2369268850561890875142640, 0.4786286704993664680412915,
                               0.5688888888888888888888889, 0.4786286704993664680412915,
                               0.2369268850561890875142640};
  const double lo = tr, hi = T - tr, H = (hi - lo) / (double)n_intervals;
  double G, E, kl = 0, ke = 0;
  for (size_t k = 0; k < n_intervals; k++) {
    const double c = lo + ((double)k + 0.5) * H;
    for (int q = 0; q < 5; q++) {
      if ((rc = integrands(s, &v, &w, c + 0.5 * H * gx[q], &G, &E))) goto done;
      kl += 0.5 * H * gw[q] * G;
      ke += 0.5 * H * gw[q] * E;
      r.n_nodes++;
    }
  }
  /* The end strips [0, τ_r] and [T − τ_r, T]: the quintic through the end and five resolved
   * times at steps of τ_r (Adams–Moulton weights τ_r/1440 (475, 1427, −798, 482, −173, 27)),
   * error O(τ_r⁷); the cubic (τ_r/24 (9, 19, −5, 1), O(τ_r⁵)) when 6τ_r > T >= 4τ_r, the
   * trapezoid of the strip's two ends when 4τ_r > T. */
  if (tr > 0) {
    static const double w6[6] = {475.0 / 1440, 1427.0 / 1440, -798.0 / 1440,
                                 482.0 / 1440, -173.0 / 1440, 27.0 / 1440};
    static const double w4[4] = {9.0 / 24, 19.0 / 24, -5.0 / 24, 1.0 / 24}, w2[2] = {0.5, 0.5};
    const int nq = 6 * tr <= T ? 6 : 4 * tr <= T ? 4 : 2;
    const double *wq = nq == 6 ? w6 : nq == 4 ? w4 : w2;
    for (int end = 0; end < 2; end++)
      for (int q = 0; q < nq; q++) {
        const double t = end == 0 ? q * tr : T - q * tr;
        if ((rc = integrands(s, &v, &w, t, &G, &E))) goto done;
        r.kl_strips += tr * wq[q] * G;
        r.kinetic_strips += tr * wq[q] * E;
        r.n_nodes++;
      }
    r.strip_points = (size_t)nq;
  }
  r.kl_girsanov = kl + r.kl_strips;
  r.kinetic = ke + r.kinetic_strips;
  r.tau_r = tr;
  *out = r;
done:
  free(w.lph);
  free(w.lphi);
  free(w.fwd);
  free(w.bwd);
  return rc;
}
