/* Schrödinger bridges with the Brownian reference (fpkit/sb.h, docs/sb.md), against the Gaussian
 * closed form: the bridge is the mixture of Brownian bridges of the static plan,
 *   X_t = (1 − s)X_0 + sX_T + σ√(t(1 − s)) Z,  s = t/T,
 * with the plan's cross-covariance C from fpkit's entropic Gaussian closed form at ε = 2σ²T, so
 *   μ_t = (1 − s)m0 + s m1,  Σ_t = (1 − s)²A + s²B + s(1 − s)(C + Cᵀ) + σ²t(1 − s)I,
 * and the drift is affine: b(x, t) = (E[X_T | X_t = x] − x)/(T − t) from the joint Gaussian of
 * (X_t, X_T), Cov(X_T, X_t) = (1 − s)Cᵀ + sB. With T = 1 these are Bunne et al. (2023)'s
 * formulas (../shared/reference/closed-forms.md), checked here too: a test of the conventions.
 *
 * Gaussians are discretised by their density at cell centres, normalised (as tests/test_ot.c):
 * the grid sums are trapezoidal rules, exponentially accurate once h is below the narrowest
 * kernel width involved (σ√(t(1 − s)) for the marginal, σ√(T − t) for the drift). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "fpk_test.h"
#include "fpk_test_sb.h"
#include "fpkit/exact.h"
#include "fpkit/sb.h"

static const double m1a[1] = {-0.5}, S1a[1] = {1}, m1b[1] = {1}, S1b[1] = {0.5};
static const double m2a[2] = {-0.5, 0.3}, S2a[4] = {1, 0.3, 0.3, 0.5};
static const double m2b[2] = {0.8, -0.2}, S2b[4] = {0.4, -0.2, -0.2, 1.2};


/* ---- closed forms (d <= 2) ---------------------------------------------------------------- */

static void mat_inv(size_t d, const double *M, double *Mi) {
  if (d == 1) {
    Mi[0] = 1 / M[0];
    return;
  }
  double det = M[0] * M[3] - M[1] * M[2];
  Mi[0] = M[3] / det, Mi[1] = -M[1] / det, Mi[2] = -M[2] / det, Mi[3] = M[0] / det;
}

static void mat_mul(size_t d, const double *A, const double *B, double *C) {
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++) {
      double s = 0;
      for (size_t k = 0; k < d; k++) s += A[i * d + k] * B[k * d + j];
      C[i * d + j] = s;
    }
}

typedef struct gauss_bridge {
  size_t d;
  double m0[3], m1[3], A[9], B[9], C[9], sigma, T;
} gauss_bridge;

/* μ_t, Σ_t and the drift b(x, t) = c + K(x − μ_t) (this file's derivation, any T). */
static void gb_marginal(const gauss_bridge *G, double t, double *mt, double *St) {
  const size_t d = G->d;
  const double s = t / G->T;
  for (size_t a = 0; a < d; a++) mt[a] = (1 - s) * G->m0[a] + s * G->m1[a];
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++)
      St[i * d + j] = (1 - s) * (1 - s) * G->A[i * d + j] + s * s * G->B[i * d + j] +
                      s * (1 - s) * (G->C[i * d + j] + G->C[j * d + i]) +
                      (i == j ? G->sigma * G->sigma * t * (1 - s) : 0);
}

/* K = (Cov(X_T, X_t) Σ_t⁻¹ − I)/(T − t) for t < T; at t = T the limit
 * (B − C − σ²T I)B⁻¹/T (the factor (1 − s) divides out, see S below). */
static void gb_drift_matrix(const gauss_bridge *G, double t, double *K, double *c) {
  const size_t d = G->d;
  const double s = t / G->T;
  double mt[2], St[4], Si[4], S[4];
  gb_marginal(G, t, mt, St);
  /* (Cov(X_T, X_t) − Σ_t)/(1 − s) = sB − (1 − s)A + (1 − s)Cᵀ − sC − σ²t I */
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++)
      S[i * d + j] = s * G->B[i * d + j] - (1 - s) * G->A[i * d + j] +
                     (1 - s) * G->C[j * d + i] - s * G->C[i * d + j] -
                     (i == j ? G->sigma * G->sigma * t : 0);
  mat_inv(d, St, Si);
  mat_mul(d, S, Si, K);
  for (size_t k = 0; k < d * d; k++) K[k] /= G->T;
  for (size_t a = 0; a < d; a++) c[a] = (G->m1[a] - G->m0[a]) / G->T;
}

/* Bunne et al. (2023) as written in closed-forms.md, T = 1. */
static void bunne(const gauss_bridge *G, double t, double *St, double *K) {
  const size_t d = G->d;
  const double s2 = G->sigma * G->sigma;
  double S[4], Si[4];
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++) {
      const double I = i == j ? 1 : 0;
      St[i * d + j] = (1 - t) * (1 - t) * G->A[i * d + j] + t * t * G->B[i * d + j] +
                      t * (1 - t) * (G->C[i * d + j] + G->C[j * d + i] + s2 * I);
      S[i * d + j] = t * G->B[i * d + j] - (1 - t) * G->A[i * d + j] +
                     (1 - t) * G->C[j * d + i] - t * G->C[i * d + j] - t * s2 * I;
    }
  mat_inv(d, St, Si);
  mat_mul(d, S, Si, K);
}

static gauss_bridge make_bridge(size_t d, double sigma, double T) {
  gauss_bridge G;
  memset(&G, 0, sizeof G);
  G.d = d;
  G.sigma = sigma;
  G.T = T;
  memcpy(G.m0, d == 1 ? m1a : m2a, d * sizeof(double));
  memcpy(G.m1, d == 1 ? m1b : m2b, d * sizeof(double));
  memcpy(G.A, d == 1 ? S1a : S2a, d * d * sizeof(double));
  memcpy(G.B, d == 1 ? S1b : S2b, d * d * sizeof(double));
  fpk_gaussian g0 = fpk_test_gaussian(d, G.m0, G.A), g1 = fpk_test_gaussian(d, G.m1, G.B);
  fpk_error err = {0};
  double value;
  assert_int_equal(fpk_gaussian_entropic_ot(&g0, &g1, 2 * sigma * sigma * T, &value, G.C, &err),
                   FPK_SUCCESS);
  return G;
}

/* ---- the grid bridge against the closed form ---------------------------------------------- */

typedef struct sb_case {
  fpk_grid g;
  gauss_bridge G;
  double *a, *b, *p, *lp, *drift, *x;
  unsigned char *mask;
  fpk_sb *sb;
  fpk_ot_result r;
} sb_case;

static sb_case make_case(size_t d, size_t n, double L, double sigma, double T) {
  sb_case c;
  memset(&c, 0, sizeof c);
  size_t nn[2] = {n, n};
  double lo[2] = {-L, -L}, hi[2] = {L, L};
  c.g = fpk_test_grid(d, nn, lo, hi);
  c.G = make_bridge(d, sigma, T);
  const size_t N = c.g.size;
  c.a = malloc(N * sizeof(double));
  c.b = malloc(N * sizeof(double));
  c.p = malloc(N * sizeof(double));
  c.lp = malloc(N * sizeof(double));
  c.drift = malloc(d * N * sizeof(double));
  c.x = malloc(d * N * sizeof(double));
  c.mask = malloc(N);
  for (size_t i = 0; i < N; i++) {
    double x[FPK_MAX_DIM];
    fpk_grid_point(&c.g, i, x);
    for (size_t a = 0; a < d; a++) c.x[a * N + i] = x[a];
  }
  fpk_gaussian g0 = fpk_test_gaussian(d, c.G.m0, c.G.A), g1 = fpk_test_gaussian(d, c.G.m1, c.G.B);
  density_weights(&c.g, &g0, c.a);
  density_weights(&c.g, &g1, c.b);
  fpk_sb_params p;
  fpk_sb_params_init(&p);
  p.sigma = sigma;
  p.T = T;
  fpk_error err = {0};
  c.sb = fpk_sb_alloc(&c.g, &p, &err);
  if (!c.sb) fail_msg("alloc: %s", err.msg);
  int rc = fpk_sb_solve(c.sb, c.a, c.b, &c.r);
  if (rc) fail_msg("solve: %s", fpk_sb_errmsg(c.sb));
  assert_true(c.r.converged);
  assert_close_rel(c.r.eps, 2 * sigma * sigma * T, 1e-15);
  return c;
}

static void free_case(sb_case *c) {
  fpk_sb_free(c->sb);
  free(c->a);
  free(c->b);
  free(c->p);
  free(c->lp);
  free(c->drift);
  free(c->x);
  free(c->mask);
}

static int cmp_desc(const void *x, const void *y) {
  double a = **(const double *const *)x, b = **(const double *const *)y;
  return (a < b) - (a > b);
}

/* Relative L2 error of a drift field against the affine exact one, weighted by p, over the cells
 * holding 99.9% of the mass. */
static double drift_rel_l2(const sb_case *c, const double *p, const double *drift, double t) {
  const size_t N = c->g.size, d = c->g.dim;
  double K[4], cst[2], mt[2], St[4];
  gb_drift_matrix(&c->G, t, K, cst);
  gb_marginal(&c->G, t, mt, St);
  const double **order = malloc(N * sizeof *order);
  for (size_t i = 0; i < N; i++) order[i] = p + i;
  qsort(order, N, sizeof *order, cmp_desc);
  double cum = 0, num = 0, den = 0;
  for (size_t k = 0; k < N && cum < 0.999; k++) {
    const size_t i = (size_t)(order[k] - p);
    cum += p[i];
    for (size_t a = 0; a < d; a++) {
      double e = cst[a];
      for (size_t b2 = 0; b2 < d; b2++) e += K[a * d + b2] * (c->x[b2 * N + i] - mt[b2]);
      const double diff = drift[a * N + i] - e;
      num += p[i] * diff * diff;
      den += p[i] * e * e;
    }
  }
  free(order);
  return sqrt(num / den);
}

/* Mean and covariance of p_t at t ∈ {¼, ½, ¾}T within 1e-6 relative, drift within 1e-4
 * relative L2, mass 1 within twice the Sinkhorn tolerance, the ends equal to a and b. */
static void check_case(sb_case *c, const char *label) {
  const size_t N = c->g.size, d = c->g.dim;
  const double T = c->G.T, tol = 1e-9;
  const double ts[3] = {0.25 * T, 0.5 * T, 0.75 * T};
  for (size_t k = 0; k < 3; k++) {
    double mass;
    int rc = fpk_sb_marginal(c->sb, ts[k], c->p, c->lp, &mass);
    if (rc) fail_msg("%s marginal: %s", label, fpk_sb_errmsg(c->sb));
    assert_close_abs(mass, 1, 2 * tol);
    double m[2] = {0, 0}, S[4] = {0}, mt[2], St[4];
    for (size_t i = 0; i < N; i++)
      for (size_t a = 0; a < d; a++) m[a] += c->p[i] * c->x[a * N + i] / mass;
    for (size_t i = 0; i < N; i++)
      for (size_t a = 0; a < d; a++)
        for (size_t b2 = 0; b2 < d; b2++)
          S[a * d + b2] += c->p[i] * (c->x[a * N + i] - m[a]) * (c->x[b2 * N + i] - m[b2]) / mass;
    gb_marginal(&c->G, ts[k], mt, St);
    double em = 0, nm = 0, eS = 0, nS = 0;
    for (size_t a = 0; a < d; a++) em += (m[a] - mt[a]) * (m[a] - mt[a]), nm += mt[a] * mt[a];
    for (size_t q = 0; q < d * d; q++) eS += (S[q] - St[q]) * (S[q] - St[q]), nS += St[q] * St[q];
    const double rm = sqrt(em / nm), rS = sqrt(eS / nS);
    rc = fpk_sb_drift(c->sb, ts[k], c->drift, c->mask);
    if (rc) fail_msg("%s drift: %s", label, fpk_sb_errmsg(c->sb));
    const double rb = drift_rel_l2(c, c->p, c->drift, ts[k]);
    print_message("%s t = %.3g: mass - 1 = %.2e, mean %.2e, cov %.2e, drift L2 %.2e\n", label,
                  ts[k], mass - 1, rm, rS, rb);
    assert_true(rm <= 1e-6);
    assert_true(rS <= 1e-6);
    assert_true(rb <= 1e-4);
    for (size_t i = 0; i < N; i++) assert_int_equal(c->mask[i], 0); /* nothing underflows */
  }
  /* the ends: the plan's row and column sums */
  double l1a = 0, l1b = 0, mass;
  assert_int_equal(fpk_sb_marginal(c->sb, 0, c->p, NULL, &mass), FPK_SUCCESS);
  for (size_t i = 0; i < N; i++) l1a += fabs(c->p[i] - c->a[i]);
  assert_int_equal(fpk_sb_marginal(c->sb, T, c->p, NULL, &mass), FPK_SUCCESS);
  for (size_t i = 0; i < N; i++) l1b += fabs(c->p[i] - c->b[i]);
  print_message("%s ends: |p_0 - a|_1 = %.2e, |p_T - b|_1 = %.2e (Sinkhorn err %.2e)\n", label,
                l1a, l1b, c->r.err_a + c->r.err_b);
  assert_true(l1a <= tol);
  assert_true(l1b <= tol);
  /* the end limits of the drifts: the score of the input marginal (a centred difference, O(h²))
   * plus a kernel mean; the backward drift at ½T against σ²∇log φ̂_t of the closed form, which
   * is b̂ = −b + σ²∇log p_t. */
  assert_int_equal(fpk_sb_drift(c->sb, T, c->drift, NULL), FPK_SUCCESS);
  assert_int_equal(fpk_sb_marginal(c->sb, T, c->p, NULL, &mass), FPK_SUCCESS);
  const double rT = drift_rel_l2(c, c->p, c->drift, T);
  print_message("%s drift at t = T (limit): L2 %.2e\n", label, rT);
  assert_true(rT <= 1e-3);
  /* within τ_r of the end: the linear interpolation to the limit, O(τ_r²) */
  const double tr = fpk_sb_resolved_tau(c->sb);
  assert_true(tr < T);
  const double tn = T - 0.25 * tr; /* not the midpoint: a reversed weight would show */
  assert_int_equal(fpk_sb_drift(c->sb, tn, c->drift, NULL), FPK_SUCCESS);
  /* weights: p_T (c->p), the marginal at tn being unresolved on the grid */
  const double rn = drift_rel_l2(c, c->p, c->drift, tn);
  print_message("%s drift at t = T - tau_r/4 = %.6g (interpolated, tau_r = %.3g): L2 %.2e\n",
                label, tn, tr, rn);
  assert_true(rn <= 0.1 * tr);
}

/* Backward drift at t: σ²∇log φ̂_t = −b + σ²∇log p_t = −b − σ²Σ_t⁻¹(x − μ_t). */
static void check_backward(sb_case *c, double t, double rtol) {
  const size_t N = c->g.size, d = c->g.dim;
  double *bw = malloc(d * N * sizeof(double)), *neg = malloc(d * N * sizeof(double));
  double mass, mt[2], St[4], Si[4];
  assert_int_equal(fpk_sb_marginal(c->sb, t, c->p, NULL, &mass), FPK_SUCCESS);
  int rc = fpk_sb_backward_drift(c->sb, t, bw, NULL);
  if (rc) fail_msg("backward drift: %s", fpk_sb_errmsg(c->sb));
  assert_int_equal(fpk_sb_drift(c->sb, t, c->drift, NULL), FPK_SUCCESS);
  gb_marginal(&c->G, t, mt, St);
  mat_inv(d, St, Si);
  const double s2 = c->G.sigma * c->G.sigma;
  /* −(b̂ − σ²∇log p_t) must be b: compare through drift_rel_l2 */
  for (size_t i = 0; i < N; i++)
    for (size_t a = 0; a < d; a++) {
      double score = 0;
      for (size_t b2 = 0; b2 < d; b2++) score -= Si[a * d + b2] * (c->x[b2 * N + i] - mt[b2]);
      neg[a * N + i] = -(bw[a * N + i] - s2 * score);
    }
  const double r = drift_rel_l2(c, c->p, neg, t);
  print_message("backward drift at t = %.3g: L2 %.2e\n", t, r);
  assert_true(r <= rtol);
  free(bw);
  free(neg);
}

static void test_gaussian_1d(void **state) {
  (void)state;
  const double sigmas[] = {0.3, 1, 2};
  for (size_t k = 0; k < 3; k++) {
    sb_case c = make_case(1, 400, 8, sigmas[k], 1);
    char label[64];
    snprintf(label, sizeof label, "1D sigma %.2g T 1", sigmas[k]);
    check_case(&c, label);
    check_backward(&c, 0.5, 1e-4);
    check_backward(&c, 0, 1e-3);
    free_case(&c);
  }
  /* T != 1: ε = 2σ²T = 1 with σ = 0.5, T = 2 (a wrong factor T would show) */
  sb_case c = make_case(1, 400, 8, 0.5, 2);
  check_case(&c, "1D sigma 0.5 T 2");
  free_case(&c);
  /* σ = 10 on [−8, 8]: ε = 200 is solved in the centred representation (docs/ot.md); the ends
   * are still a and b, but the bridge's spread (σ²T/4 = 25 at T/2) leaves the box: the marginal
   * in between is refused (mass), not returned wrong. */
  c = make_case(1, 400, 8, 10, 1);
  double mass, l1a = 0, l1b = 0;
  assert_int_equal(fpk_sb_marginal(c.sb, 0, c.p, NULL, &mass), FPK_SUCCESS);
  for (size_t i = 0; i < c.g.size; i++) l1a += fabs(c.p[i] - c.a[i]);
  assert_int_equal(fpk_sb_marginal(c.sb, 1, c.p, NULL, &mass), FPK_SUCCESS);
  for (size_t i = 0; i < c.g.size; i++) l1b += fabs(c.p[i] - c.b[i]);
  print_message("1D sigma 10 (centred solve): ends L1 %.2e %.2e\n", l1a, l1b);
  assert_true(l1a <= 1e-9 && l1b <= 1e-9);
  assert_int_equal(fpk_sb_marginal(c.sb, 0.5, c.p, NULL, &mass), FPK_ENUMERIC);
  print_message("1D sigma 10: mass at T/2 = %.6g, refused: %s\n", mass, fpk_sb_errmsg(c.sb));
  assert_non_null(strstr(fpk_sb_errmsg(c.sb), "walls of the box"));
  free_case(&c);
}

static void test_gaussian_2d(void **state) {
  (void)state;
  sb_case c = make_case(2, 128, 7.5, 0.3, 1);
  check_case(&c, "2D sigma 0.3 T 1");
  check_backward(&c, 0.5, 1e-4);
  free_case(&c);
  c = make_case(2, 96, 7.5, 0.7, 1.5);
  check_case(&c, "2D sigma 0.7 T 1.5");
  free_case(&c);
}

/* The closed form used above against Bunne et al.'s as written in closed-forms.md (T = 1):
 * Σ_t and K_t agree; K_t is symmetric; dΣ_t/dt = KΣ + ΣKᵀ + σ²I (by a centred difference). */
static void test_closed_form_conventions(void **state) {
  (void)state;
  const double sigmas[] = {0.3, 1, 2};
  for (size_t d = 1; d <= 2; d++)
    for (size_t k = 0; k < 3; k++) {
      gauss_bridge G = make_bridge(d, sigmas[k], 1);
      for (double t = 0.1; t < 0.95; t += 0.2) {
        double mt[2], St[4], K[4], cst[2], Sb[4], Kb[4];
        gb_marginal(&G, t, mt, St);
        gb_drift_matrix(&G, t, K, cst);
        bunne(&G, t, Sb, Kb);
        for (size_t q = 0; q < d * d; q++) {
          assert_close_abs(St[q], Sb[q], 1e-13);
          assert_close_abs(K[q], Kb[q], 1e-12);
        }
        if (d == 2) assert_close_abs(K[1], K[2], 1e-12);
        const double dt = 1e-5;
        double Sp[4], Sm[4], m2[2], KS[4], SK[4];
        gb_marginal(&G, t + dt, m2, Sp);
        gb_marginal(&G, t - dt, m2, Sm);
        mat_mul(d, K, St, KS);
        for (size_t i = 0; i < d; i++)
          for (size_t j = 0; j < d; j++) SK[i * d + j] = KS[j * d + i];
        for (size_t q = 0; q < d * d; q++) {
          const double lhs = (Sp[q] - Sm[q]) / (2 * dt);
          const double rhs = KS[q] + SK[q] + (q % (d + 1) == 0 ? sigmas[k] * sigmas[k] : 0);
          assert_close_abs(lhs, rhs, 1e-6);
        }
      }
    }
}

/* The drift formula against a centred difference of log φ_t (σ²∇log φ_t, O(h²)); likewise the
 * backward drift and log φ̂_t. Catches a sign or a factor σ². */
static void test_drift_consistency(void **state) {
  (void)state;
  sb_case c = make_case(1, 400, 8, 0.5, 1);
  const size_t N = c.g.size;
  const double h = c.g.h[0], s2 = 0.25;
  double *lphi = malloc(N * sizeof(double));
  for (int dir = 0; dir < 2; dir++) {
    const double t = 0.4;
    if (dir == 0) {
      assert_int_equal(fpk_sb_log_phi(c.sb, t, lphi), FPK_SUCCESS);
      assert_int_equal(fpk_sb_drift(c.sb, t, c.drift, NULL), FPK_SUCCESS);
    } else {
      assert_int_equal(fpk_sb_log_phi_hat(c.sb, t, lphi), FPK_SUCCESS);
      assert_int_equal(fpk_sb_backward_drift(c.sb, t, c.drift, NULL), FPK_SUCCESS);
    }
    double mass;
    assert_int_equal(fpk_sb_marginal(c.sb, t, c.p, NULL, &mass), FPK_SUCCESS);
    double num = 0, den = 0;
    for (size_t i = 1; i + 1 < N; i++) {
      const double fd = s2 * (lphi[i + 1] - lphi[i - 1]) / (2 * h);
      num += c.p[i] * (fd - c.drift[i]) * (fd - c.drift[i]);
      den += c.p[i] * c.drift[i] * c.drift[i];
    }
    const double r = sqrt(num / den);
    print_message("%s drift vs centred difference of its log potential: L2 %.2e\n",
                  dir ? "backward" : "forward", r);
    assert_true(r <= 1e-3);
  }
  free(lphi);
  free_case(&c);
}

/* Narrow far-apart ends at small σ: p_t underflows in the tails; the mask says where, and the
 * drift and log p_t are finite (or −∞ for log p) everywhere. */
static void test_underflow_mask(void **state) {
  (void)state;
  size_t n[1] = {400};
  double lo[1] = {-8}, hi[1] = {8};
  fpk_grid g = fpk_test_grid(1, n, lo, hi);
  const double ma[1] = {-3}, Sa[1] = {0.02}, mb[1] = {3}, Sb[1] = {0.02};
  fpk_gaussian ga = fpk_test_gaussian(1, ma, Sa), gb = fpk_test_gaussian(1, mb, Sb);
  double *a = malloc(g.size * sizeof(double)), *b = malloc(g.size * sizeof(double));
  double *dr = malloc(g.size * sizeof(double)), *lp = malloc(g.size * sizeof(double));
  unsigned char *mask = malloc(g.size);
  density_weights(&g, &ga, a);
  density_weights(&g, &gb, b);
  fpk_sb_params p;
  fpk_sb_params_init(&p);
  p.sigma = 0.3;
  fpk_error err = {0};
  fpk_sb *s = fpk_sb_alloc(&g, &p, &err);
  assert_non_null(s);
  if (fpk_sb_solve(s, a, b, NULL)) fail_msg("%s", fpk_sb_errmsg(s));
  const double ts[] = {0, 0.5, 1};
  for (size_t k = 0; k < 3; k++) {
    assert_int_equal(fpk_sb_marginal(s, ts[k], NULL, lp, NULL), FPK_SUCCESS);
    if (fpk_sb_drift(s, ts[k], dr, mask)) fail_msg("%s", fpk_sb_errmsg(s));
    size_t masked = 0;
    for (size_t i = 0; i < g.size; i++) {
      assert_true(isfinite(dr[i]));
      assert_false(isnan(lp[i]));
      masked += mask[i];
      assert_int_equal(mask[i], lp[i] < -708.3964185322641);
    }
    assert_true(masked > 0);
    if (fpk_sb_backward_drift(s, ts[k], dr, mask)) fail_msg("%s", fpk_sb_errmsg(s));
    for (size_t i = 0; i < g.size; i++) assert_true(isfinite(dr[i]));
  }
  fpk_sb_free(s);
  free(a);
  free(b);
  free(dr);
  free(lp);
  free(mask);
}

/* 3D smoke test (32³ on [−8, 8]³, σ = 1.5, T = 1; anisotropic diagonal covariances): mass, mean
 * and covariance of p_{T/2} against the closed form, and a finite drift. */
static void test_gaussian_3d(void **state) {
  (void)state;
  size_t n[3] = {32, 32, 32};
  double lo[3] = {-8, -8, -8}, hi[3] = {8, 8, 8};
  fpk_grid g = fpk_test_grid(3, n, lo, hi);
  gauss_bridge G;
  memset(&G, 0, sizeof G);
  G.d = 3;
  G.sigma = 1.5;
  G.T = 1;
  const double m0[3] = {-0.5, 0.3, 0.1}, m1[3] = {0.6, -0.2, 0.4};
  const double va[3] = {0.8, 0.5, 1.0}, vb[3] = {0.6, 1.1, 0.7};
  for (size_t a = 0; a < 3; a++) {
    G.m0[a] = m0[a], G.m1[a] = m1[a];
    G.A[a * 4] = va[a], G.B[a * 4] = vb[a];
  }
  fpk_gaussian g0 = fpk_test_gaussian(3, G.m0, G.A), g1 = fpk_test_gaussian(3, G.m1, G.B);
  fpk_error err = {0};
  double value;
  assert_int_equal(fpk_gaussian_entropic_ot(&g0, &g1, 2 * G.sigma * G.sigma, &value, G.C, &err),
                   FPK_SUCCESS);
  const size_t N = g.size;
  double *a = malloc(N * sizeof(double)), *b = malloc(N * sizeof(double));
  double *p = malloc(N * sizeof(double)), *dr = malloc(3 * N * sizeof(double));
  density_weights(&g, &g0, a);
  density_weights(&g, &g1, b);
  fpk_sb_params prm;
  fpk_sb_params_init(&prm);
  prm.sigma = G.sigma;
  fpk_sb *s = fpk_sb_alloc(&g, &prm, &err);
  assert_non_null(s);
  if (fpk_sb_solve(s, a, b, NULL)) fail_msg("%s", fpk_sb_errmsg(s));
  double mass;
  if (fpk_sb_marginal(s, 0.5, p, NULL, &mass)) fail_msg("%s", fpk_sb_errmsg(s));
  double m[3] = {0}, S[9] = {0}, mt[3], St[9];
  for (size_t i = 0; i < N; i++) {
    double x[3];
    fpk_grid_point(&g, i, x);
    for (size_t q = 0; q < 3; q++) m[q] += p[i] * x[q] / mass;
  }
  for (size_t i = 0; i < N; i++) {
    double x[3];
    fpk_grid_point(&g, i, x);
    for (size_t q = 0; q < 3; q++)
      for (size_t r = 0; r < 3; r++) S[q * 3 + r] += p[i] * (x[q] - m[q]) * (x[r] - m[r]) / mass;
  }
  gb_marginal(&G, 0.5, mt, St);
  double em = 0, nm = 0, eS = 0, nS = 0;
  for (size_t q = 0; q < 3; q++) em += (m[q] - mt[q]) * (m[q] - mt[q]), nm += mt[q] * mt[q];
  for (size_t q = 0; q < 9; q++) eS += (S[q] - St[q]) * (S[q] - St[q]), nS += St[q] * St[q];
  print_message("3D t = 0.5: mass - 1 = %.2e, mean %.2e, cov %.2e\n", mass - 1, sqrt(em / nm),
                sqrt(eS / nS));
  assert_close_abs(mass, 1, 2e-9);
  assert_true(sqrt(em / nm) <= 1e-6);
  assert_true(sqrt(eS / nS) <= 1e-6);
  if (fpk_sb_drift(s, 0.5, dr, NULL)) fail_msg("%s", fpk_sb_errmsg(s));
  for (size_t k = 0; k < 3 * N; k++) assert_true(isfinite(dr[k]));
  fpk_sb_free(s);
  free(a);
  free(b);
  free(p);
  free(dr);
}

/* The marginal and both drifts are bitwise the same on 1 and 2 threads (2D 128²: the products run
 * in parallel above 16384 cells), and every Sinkhorn back-end gives the same bridge to the solver
 * tolerance (the propagations always use lse). */
static void test_threads_and_kernels(void **state) {
  (void)state;
  const int nt = omp_get_max_threads();
  double *out[2][3];
  for (int k = 0; k < 2; k++) {
    omp_set_num_threads(k + 1);
    sb_case c = make_case(2, 128, 7.5, 0.3, 1);
    const size_t N = c.g.size;
    for (int q = 0; q < 3; q++) out[k][q] = malloc(2 * N * sizeof(double));
    assert_int_equal(fpk_sb_marginal(c.sb, 0.5, out[k][0], NULL, NULL), FPK_SUCCESS);
    assert_int_equal(fpk_sb_drift(c.sb, 0.5, out[k][1], NULL), FPK_SUCCESS);
    assert_int_equal(fpk_sb_backward_drift(c.sb, 0.3, out[k][2], NULL), FPK_SUCCESS);
    if (k == 1) {
      assert_memory_equal(out[0][0], out[1][0], N * sizeof(double));
      assert_memory_equal(out[0][1], out[1][1], 2 * N * sizeof(double));
      assert_memory_equal(out[0][2], out[1][2], 2 * N * sizeof(double));
    }
    free_case(&c);
  }
  omp_set_num_threads(nt);
  for (int k = 0; k < 2; k++)
    for (int q = 0; q < 3; q++) free(out[k][q]);

  size_t n[1] = {400};
  double lo[1] = {-8}, hi[1] = {8};
  fpk_grid g = fpk_test_grid(1, n, lo, hi);
  gauss_bridge G = make_bridge(1, 0.5, 1);
  fpk_gaussian g0 = fpk_test_gaussian(1, G.m0, G.A), g1 = fpk_test_gaussian(1, G.m1, G.B);
  double *a = malloc(g.size * sizeof(double)), *b = malloc(g.size * sizeof(double));
  double *pref = malloc(g.size * sizeof(double)), *p = malloc(g.size * sizeof(double));
  density_weights(&g, &g0, a);
  density_weights(&g, &g1, b);
  for (int k = -1; fpk_ot_kernel_types[k < 0 ? 0 : k]; k++) {
    fpk_sb_params prm;
    fpk_sb_params_init(&prm);
    prm.sigma = 0.5;
    prm.kernel = k < 0 ? NULL : fpk_ot_kernel_types[k];
    fpk_error err = {0};
    fpk_sb *s = fpk_sb_alloc(&g, &prm, &err);
    assert_non_null(s);
    if (fpk_sb_solve(s, a, b, NULL)) fail_msg("%s", fpk_sb_errmsg(s));
    assert_int_equal(fpk_sb_marginal(s, 0.5, k < 0 ? pref : p, NULL, NULL), FPK_SUCCESS);
    if (k >= 0) {
      double l1 = 0;
      for (size_t i = 0; i < g.size; i++) l1 += fabs(p[i] - pref[i]);
      print_message("kernel %s: |p_t - p_t(auto)|_1 = %.2e\n", fpk_ot_kernel_types[k]->name, l1);
      assert_true(l1 <= 2e-9);
    }
    fpk_sb_free(s);
  }
  free(a);
  free(b);
  free(pref);
  free(p);
}

static void expect_einval(int rc, const char *msg, const char *needle) {
  assert_int_equal(rc, FPK_EINVAL);
  if (!strstr(msg, needle)) fail_msg("message \"%s\" lacks \"%s\"", msg, needle);
}

static void test_bad_input(void **state) {
  (void)state;
  size_t n[1] = {64};
  double lo[1] = {-6}, hi[1] = {6};
  fpk_grid g = fpk_test_grid(1, n, lo, hi);
  fpk_sb_params p;
  fpk_error err = {0};
  const double bad_sigma[] = {0, -1, NAN, INFINITY};
  for (size_t k = 0; k < 4; k++) {
    fpk_sb_params_init(&p);
    p.sigma = bad_sigma[k];
    err = (fpk_error){0};
    assert_null(fpk_sb_alloc(&g, &p, &err));
    expect_einval(err.status, err.msg, "sigma = ");
  }
  fpk_sb_params_init(&p);
  p.T = 0;
  assert_null(fpk_sb_alloc(&g, &p, &err));
  expect_einval(err.status, err.msg, "T = 0");
  fpk_sb_params_init(&p);
  p.mass_tol = -1;
  assert_null(fpk_sb_alloc(&g, &p, &err));
  expect_einval(err.status, err.msg, "mass_tol = -1");
  fpk_sb_params_init(&p);
  p.sigma = 0.8;
  fpk_sb *s = fpk_sb_alloc(&g, &p, &err);
  assert_non_null(s);
  double *a = malloc(g.size * sizeof(double)), *b = malloc(g.size * sizeof(double));
  double *out = malloc(g.size * sizeof(double));
  const double m0[1] = {-1}, S0[1] = {0.5}, m1[1] = {1}, S1[1] = {0.8};
  fpk_gaussian g0 = fpk_test_gaussian(1, m0, S0), g1 = fpk_test_gaussian(1, m1, S1);
  density_weights(&g, &g0, a);
  density_weights(&g, &g1, b);
  /* a query before any solve */
  expect_einval(fpk_sb_marginal(s, 0.5, out, NULL, NULL), fpk_sb_errmsg(s), "before");
  /* negative, NaN, unnormalised marginals */
  double keep = a[10];
  a[10] = -1e-3;
  expect_einval(fpk_sb_solve(s, a, b, NULL), fpk_sb_errmsg(s), "a[10] = -0.001");
  a[10] = keep;
  keep = b[20];
  b[20] = NAN;
  expect_einval(fpk_sb_solve(s, a, b, NULL), fpk_sb_errmsg(s), "b[20] = nan");
  b[20] = keep;
  for (size_t i = 0; i < g.size; i++) a[i] *= 2;
  expect_einval(fpk_sb_solve(s, a, b, NULL), fpk_sb_errmsg(s), "masses 2");
  expect_einval(fpk_sb_marginal(s, 0.5, out, NULL, NULL), fpk_sb_errmsg(s), "before");
  {
    /* with ot.normalize the same masses are rescaled: p_0 is a/2 */
    fpk_sb_params pn = p;
    pn.ot.normalize = 1;
    fpk_sb *sn = fpk_sb_alloc(&g, &pn, &err);
    assert_non_null(sn);
    fpk_ot_result rn;
    if (fpk_sb_solve(sn, a, b, &rn)) fail_msg("%s", fpk_sb_errmsg(sn));
    assert_close_rel(rn.mass_a, 2, 1e-12);
    double mass, l1 = 0;
    assert_int_equal(fpk_sb_marginal(sn, 0, out, NULL, &mass), FPK_SUCCESS);
    for (size_t i = 0; i < g.size; i++) l1 += fabs(out[i] - a[i] / 2);
    assert_true(l1 <= 1e-9);
    fpk_sb_free(sn);
  }
  for (size_t i = 0; i < g.size; i++) a[i] /= 2;
  if (fpk_sb_solve(s, a, b, NULL)) fail_msg("%s", fpk_sb_errmsg(s));
  /* t outside [0, T] */
  expect_einval(fpk_sb_marginal(s, -0.1, out, NULL, NULL), fpk_sb_errmsg(s), "t = -0.1");
  expect_einval(fpk_sb_log_phi(s, 1.5, out), fpk_sb_errmsg(s), "t = 1.5");
  expect_einval(fpk_sb_log_phi_hat(s, NAN, out), fpk_sb_errmsg(s), "t = nan");
  expect_einval(fpk_sb_drift(s, 2, out, NULL), fpk_sb_errmsg(s), "t = 2");
  expect_einval(fpk_sb_backward_drift(s, -1, out, NULL), fpk_sb_errmsg(s), "t = -1");
  /* the marginal unresolved near an end: a refusal with the reason, never a wrong number */
  assert_int_equal(fpk_sb_marginal(s, 1e-7, out, NULL, NULL), FPK_ENUMERIC);
  assert_non_null(strstr(fpk_sb_errmsg(s), "does not resolve"));
  assert_non_null(strstr(fpk_sb_errmsg(s), "mass"));
  /* the drifts near the ends are interpolated; the ends themselves are limits */
  assert_int_equal(fpk_sb_drift(s, 1 - 1e-6, out, NULL), FPK_SUCCESS);
  assert_int_equal(fpk_sb_backward_drift(s, 1e-6, out, NULL), FPK_SUCCESS);
  assert_int_equal(fpk_sb_drift(s, 1, out, NULL), FPK_SUCCESS);
  assert_int_equal(fpk_sb_backward_drift(s, 0, out, NULL), FPK_SUCCESS);
  fpk_sb_free(s);
  /* a grid too coarse for any interior kernel (σ²T < 1.2 h²): interior drifts refused */
  fpk_sb_params_init(&p);
  p.sigma = 0.1;
  s = fpk_sb_alloc(&g, &p, &err);
  assert_non_null(s);
  if (fpk_sb_solve(s, a, b, NULL)) fail_msg("%s", fpk_sb_errmsg(s));
  assert_true(fpk_sb_resolved_tau(s) > 1);
  assert_int_equal(fpk_sb_drift(s, 0.5, out, NULL), FPK_ENUMERIC);
  assert_non_null(strstr(fpk_sb_errmsg(s), "refine the grid"));
  assert_int_equal(fpk_sb_backward_drift(s, 0.5, out, NULL), FPK_ENUMERIC);
  assert_int_equal(fpk_sb_drift(s, 1, out, NULL), FPK_SUCCESS);
  fpk_sb_free(s);
  fpk_sb_free(NULL);
  free(a);
  free(b);
  free(out);
}

static void test_reference_registry(void **state) {
  (void)state;
  assert_ptr_equal(fpk_sb_reference_find("brownian"), fpk_sb_reference_brownian);
  assert_ptr_equal(fpk_sb_reference_find("ou"), fpk_sb_reference_ou);
  assert_ptr_equal(fpk_sb_reference_find("model"), fpk_sb_reference_model);
  assert_null(fpk_sb_reference_find("nope"));
  assert_null(fpk_sb_reference_find(NULL));
  size_t k = 0;
  while (fpk_sb_reference_types[k]) {
    assert_non_null(fpk_sb_reference_types[k]->description);
    k++;
  }
  assert_int_equal(k, 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reference_registry),
      cmocka_unit_test(test_closed_form_conventions),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_gaussian_1d),
      cmocka_unit_test(test_drift_consistency),
      cmocka_unit_test(test_underflow_mask),
      cmocka_unit_test(test_gaussian_2d),
      cmocka_unit_test(test_threads_and_kernels),
      cmocka_unit_test(test_gaussian_3d),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
