/* Path-measure diagnostics of the Schrödinger bridge (fpkit/sb.h, docs/sb.md "Path-measure
 * diagnostics"): the static KL(π* ‖ μ0 ⊗ K_T) against a brute-force double sum and the Gaussian
 * closed form, the Girsanov integral against the static value, and the kinetic energy of the
 * probability-flow velocity against its Gaussian closed form and its σ → 0 limit W2²/T.
 *
 * Gaussian closed forms, X_0 ~ N(m0, A), X_T ~ N(m1, B), the plan's cross-covariance C from
 * fpk_gaussian_entropic_ot at ε = 2σ²T (joint covariance J = [[A, C], [Cᵀ, B]]):
 *   KL(π* ‖ μ0 ⊗ K_T) = E log π − E log μ0 − E log K_T
 *     = −d/2 + ½ log(det A (σ²T)^d / det J) + E|X_0 − X_T|²/(2σ²T),
 *   E|X_0 − X_T|² = |m0 − m1|² + Tr(A + B − C − Cᵀ),  det J = det A det(B − Cᵀ A⁻¹ C).
 * The bridge's marginal (1D) is N(m_t, Σ_t), Σ_t = (1 − s)²A + s²B + 2s(1 − s)C + σ²Ts(1 − s),
 * s = t/T; its probability-flow velocity is affine, v = ṁ + Σ̇/(2Σ)(x − m_t), so
 *   ∫∫|v|² p = ∫_0^T (ṁ² + Σ̇²/(4Σ)) dt   (a 1D integral, by 400-point Gauss–Legendre here),
 * which tends to W2²/T = ((m1 − m0)² + (√B − √A)²)/T as σ → 0 (C → √(AB)); in 2D
 * v = ṁ + M(x − m_t) with MΣ + ΣM = Σ̇ (kinetic_closed).
 * Gaussians are discretised by their density at cell centres, normalised (as tests/test_sb.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fpk_test.h"
#include "fpk_test_sb.h"
#include "fpkit/exact.h"
#include "fpkit/ot.h"
#include "fpkit/sb.h"

/* 2D grid: 100² cells on [−8, 8]² (h = 0.16; the box holds the tails to below 1e-12) */
#define N2D 100
#define L2D 8
#define SLOPE_LO 7.5 /* fitted over σ = 1 … 0.125, pre-asymptotic at σ = 1 */
#define SLOPE_HI 8.5

static const double m1a[1] = {-0.5}, S1a[1] = {1}, m1b[1] = {1}, S1b[1] = {0.5};
static const double m2a[2] = {-0.5, 0.3}, S2a[4] = {1, 0.3, 0.3, 0.5};
static const double m2b[2] = {0.8, -0.2}, S2b[4] = {0.4, -0.2, -0.2, 1.2};

typedef struct kl_case {
  size_t d;
  fpk_grid g;
  fpk_gaussian g0, g1;
  double sigma, T, C[4];
  double *a, *b;
  fpk_sb *sb;
} kl_case;


static kl_case make_case(size_t d, size_t n, double L, double sigma, double T) {
  kl_case c;
  memset(&c, 0, sizeof c);
  c.d = d;
  c.sigma = sigma;
  c.T = T;
  size_t nn[2] = {n, n};
  double lo[2] = {-L, -L}, hi[2] = {L, L};
  c.g = fpk_test_grid(d, nn, lo, hi);
  c.g0 = fpk_test_gaussian(d, d == 1 ? m1a : m2a, d == 1 ? S1a : S2a);
  c.g1 = fpk_test_gaussian(d, d == 1 ? m1b : m2b, d == 1 ? S1b : S2b);
  fpk_error err = {0};
  double value;
  assert_int_equal(fpk_gaussian_entropic_ot(&c.g0, &c.g1, 2 * sigma * sigma * T, &value, c.C, &err),
                   FPK_SUCCESS);
  c.a = malloc(c.g.size * sizeof(double));
  c.b = malloc(c.g.size * sizeof(double));
  density_weights(&c.g, &c.g0, c.a);
  density_weights(&c.g, &c.g1, c.b);
  fpk_sb_params p;
  fpk_sb_params_init(&p);
  p.sigma = sigma;
  p.T = T;
  p.ot.tol = 1e-11;
  c.sb = fpk_sb_alloc(&c.g, &p, &err);
  if (!c.sb) fail_msg("alloc: %s", err.msg);
  if (fpk_sb_solve(c.sb, c.a, c.b, NULL)) fail_msg("solve: %s", fpk_sb_errmsg(c.sb));
  return c;
}

static void free_case(kl_case *c) {
  fpk_sb_free(c->sb);
  free(c->a);
  free(c->b);
}

/* The closed-form KL(π* ‖ μ0 ⊗ K_T) of the header comment (d <= 2). */
static double kl_closed(const kl_case *c) {
  const size_t d = c->d;
  const double *A = c->g0.cov, *B = c->g1.cov, *C = c->C, *m0 = c->g0.mean, *m1 = c->g1.mean;
  const double s2T = c->sigma * c->sigma * c->T;
  double e = 0, detA, detJ;
  for (size_t k = 0; k < d; k++) e += (m0[k] - m1[k]) * (m0[k] - m1[k]);
  for (size_t k = 0; k < d; k++) e += A[k * d + k] + B[k * d + k] - 2 * C[k * d + k];
  if (d == 1) {
    detA = A[0];
    detJ = A[0] * B[0] - C[0] * C[0];
  } else {
    detA = A[0] * A[3] - A[1] * A[2];
    const double Ai[4] = {A[3] / detA, -A[1] / detA, -A[2] / detA, A[0] / detA};
    double S[4]; /* B − Cᵀ A⁻¹ C */
    for (size_t i = 0; i < 2; i++)
      for (size_t j = 0; j < 2; j++) {
        double v = 0;
        for (size_t k = 0; k < 2; k++)
          for (size_t l = 0; l < 2; l++) v += C[k * 2 + i] * Ai[k * 2 + l] * C[l * 2 + j];
        S[i * 2 + j] = B[i * 2 + j] - v;
      }
    detJ = detA * (S[0] * S[3] - S[1] * S[2]);
  }
  return -0.5 * (double)d + 0.5 * log(detA * pow(s2T, (double)d) / detJ) + e / (2 * s2T);
}

/* ∫_0^T (ṁ² + Σ̇²/(4Σ)) dt for the 1D bridge (header comment), 80 × 5-point Gauss–Legendre. */
static double kinetic_closed_1d(double A, double B, double C, double dm, double sigma,
                                double T) {
  static const double gx[5] = {-0.9061798459386640, -0.5384693101056831, 0, 0.5384693101056831,
                               0.9061798459386640};
  static const double gw[5] = {0.2369268850561891, 0.4786286704993665, 0.5688888888888889,
                               0.4786286704993665, 0.2369268850561891};
  const size_t n = 80;
  double k = 0;
  for (size_t j = 0; j < n; j++)
    for (int q = 0; q < 5; q++) {
      const double s = ((double)j + 0.5 + 0.5 * gx[q]) / (double)n;
      const double S = (1 - s) * (1 - s) * A + s * s * B + 2 * s * (1 - s) * C +
                       sigma * sigma * T * s * (1 - s);
      const double dS = (-2 * (1 - s) * A + 2 * s * B + 2 * (1 - 2 * s) * C +
                         sigma * sigma * T * (1 - 2 * s)) / T;
      k += 0.5 / (double)n * gw[q] * T * (dm * dm / (T * T) + dS * dS / (4 * S));
    }
  return k;
}

/* The same for d <= 2 with any covariances: v = ṁ + M(x − m_t), M symmetric (v is a gradient:
 * b = σ²∇log φ_t and ∇log p_t are) solving the Lyapunov equation MΣ + ΣM = Σ̇, so
 * E|v|² = |ṁ|² + Tr(MΣM); in 1D M = Σ̇/(2Σ) as above. */
static double kinetic_closed(const kl_case *c) {
  const size_t d = c->d;
  if (d == 1)
    return kinetic_closed_1d(c->g0.cov[0], c->g1.cov[0], c->C[0], c->g1.mean[0] - c->g0.mean[0],
                             c->sigma, c->T);
  static const double gx[5] = {-0.9061798459386640, -0.5384693101056831, 0, 0.5384693101056831,
                               0.9061798459386640};
  static const double gw[5] = {0.2369268850561891, 0.4786286704993665, 0.5688888888888889,
                               0.4786286704993665, 0.2369268850561891};
  const double *A = c->g0.cov, *B = c->g1.cov, *C = c->C, T = c->T, s2T = c->sigma * c->sigma * T;
  double dm2 = 0;
  for (size_t k = 0; k < 2; k++)
    dm2 += (c->g1.mean[k] - c->g0.mean[k]) * (c->g1.mean[k] - c->g0.mean[k]) / (T * T);
  const size_t n = 80;
  double ke = 0;
  for (size_t j = 0; j < n; j++)
    for (int q = 0; q < 5; q++) {
      const double s = ((double)j + 0.5 + 0.5 * gx[q]) / (double)n;
      double S[4], D[4];
      for (size_t a = 0; a < 2; a++)
        for (size_t b = 0; b < 2; b++) {
          const size_t ab = a * 2 + b, ba = b * 2 + a;
          S[ab] = (1 - s) * (1 - s) * A[ab] + s * s * B[ab] + s * (1 - s) * (C[ab] + C[ba]) +
                  (a == b ? s2T * s * (1 - s) : 0);
          D[ab] = (-2 * (1 - s) * A[ab] + 2 * s * B[ab] + (1 - 2 * s) * (C[ab] + C[ba]) +
                   (a == b ? s2T * (1 - 2 * s) : 0)) / T;
        }
      /* unknowns (m11, m12, m22): rows the (1,1), (1,2), (2,2) entries of MΣ + ΣM */
      const double L[3][3] = {{2 * S[0], 2 * S[1], 0},
                              {S[1], S[0] + S[3], S[1]},
                              {0, 2 * S[1], 2 * S[3]}};
      const double r[3] = {D[0], D[1], D[3]};
      const double det = L[0][0] * (L[1][1] * L[2][2] - L[1][2] * L[2][1]) -
                         L[0][1] * (L[1][0] * L[2][2] - L[1][2] * L[2][0]) +
                         L[0][2] * (L[1][0] * L[2][1] - L[1][1] * L[2][0]);
      double m[3];
      for (int col = 0; col < 3; col++) { /* Cramer */
        double Lc[3][3];
        memcpy(Lc, L, sizeof Lc);
        for (int row = 0; row < 3; row++) Lc[row][col] = r[row];
        m[col] = (Lc[0][0] * (Lc[1][1] * Lc[2][2] - Lc[1][2] * Lc[2][1]) -
                  Lc[0][1] * (Lc[1][0] * Lc[2][2] - Lc[1][2] * Lc[2][0]) +
                  Lc[0][2] * (Lc[1][0] * Lc[2][1] - Lc[1][1] * Lc[2][0])) / det;
      }
      const double M[4] = {m[0], m[1], m[1], m[2]};
      double MS[4], tr = 0; /* Tr(MΣM) */
      for (size_t a = 0; a < 2; a++)
        for (size_t b = 0; b < 2; b++) MS[a * 2 + b] = M[a * 2] * S[b] + M[a * 2 + 1] * S[2 + b];
      for (size_t a = 0; a < 2; a++)
        for (size_t b = 0; b < 2; b++) tr += MS[a * 2 + b] * M[b * 2 + a];
      ke += 0.5 / (double)n * gw[q] * T * (dm2 + tr);
    }
  return ke;
}

/* The closed-form static KL equals the brute-force double sum over the grid plan. */
static void test_static_brute_force(void **state) {
  (void)state;
  kl_case c = make_case(1, 160, 7, 0.5, 1);
  const size_t N = c.g.size;
  double *lph = malloc(N * sizeof(double)), *lphi = malloc(N * sizeof(double));
  assert_int_equal(fpk_sb_log_phi_hat(c.sb, 0, lph), FPK_SUCCESS);
  assert_int_equal(fpk_sb_log_phi(c.sb, c.T, lphi), FPK_SUCCESS);
  const double eps = fpk_sb_eps(c.sb), V = c.g.cell_volume;
  double x[1], y[1], brute = 0, mass = 0;
  for (size_t i = 0; i < N; i++)
    for (size_t j = 0; j < N; j++) {
      fpk_grid_point(&c.g, i, x);
      fpk_grid_point(&c.g, j, y);
      const double lK = -0.5 * log(M_PI * eps) - (x[0] - y[0]) * (x[0] - y[0]) / eps;
      const double lpi = 2 * log(V) + lph[i] + lK + lphi[j];
      const double lR = log(c.a[i]) + log(V) + lK;
      brute += exp(lpi) * (lpi - lR);
      mass += exp(lpi);
    }
  double kl;
  assert_int_equal(fpk_sb_kl_static(c.sb, &kl), FPK_SUCCESS);
  print_message("static KL: potentials %.15g, double sum %.15g (plan mass %.15g), closed form "
                "%.15g\n", kl, brute, mass, kl_closed(&c));
  assert_close_rel(kl, brute, 1e-12);
  assert_close_rel(kl, kl_closed(&c), 1e-8); /* h = 0.0875 = 0.18σ: the quadrature is exact */
  free(lph);
  free(lphi);
  free_case(&c);
}

/* Static vs closed form vs Girsanov, and the kinetic energy vs its closed form; 1D. The
 * Girsanov value must improve with the number of Gauss–Legendre intervals. */
static void check_1d(double sigma, double T) {
  kl_case c = make_case(1, 400, 8, sigma, T);
  const double klc = kl_closed(&c);
  const double kec = kinetic_closed(&c);
  double kl;
  assert_int_equal(fpk_sb_kl_static(c.sb, &kl), FPK_SUCCESS);
  print_message("1D sigma %.2g T %g: static %.12g closed %.12g (rel %.2e)\n", c.sigma, c.T, kl,
                klc, fabs(kl - klc) / klc);
  assert_close_rel(kl, klc, 1e-9);
  const size_t ns[] = {1, 4, 8};
  double rel[3];
  for (size_t j = 0; j < 3; j++) {
    fpk_sb_path_diag r;
    assert_int_equal(fpk_sb_path_diagnostics(c.sb, ns[j], &r), FPK_SUCCESS);
    assert_close_rel(r.kl_static, kl, 1e-15);
    rel[j] = fabs(r.kl_girsanov - kl) / kl;
    print_message("  %zu intervals (%zu nodes): Girsanov %.12g rel %.2e; kinetic %.12g closed "
                  "%.12g rel %.2e; strips %.3g %.3g, tau_r %.3g\n", ns[j], r.n_nodes,
                  r.kl_girsanov, rel[j], r.kinetic, kec, fabs(r.kinetic - kec) / kec,
                  r.kl_strips, r.kinetic_strips, r.tau_r);
    if (ns[j] >= 4) {
      assert_true(rel[j] <= 1e-9);
      assert_close_rel(r.kinetic, kec, 1e-9);
    }
  }
  /* improves with the nodes until the floor (~1e-11, the Sinkhorn tolerance and rounding) */
  assert_true(rel[1] <= rel[0] || rel[0] <= 1e-10);
  free_case(&c);
}

static void test_gaussian_1d(void **state) {
  (void)state;
  check_1d(0.3, 1);
  check_1d(1, 1);
  check_1d(0.5, 2); /* ε = 1 at T = 2: a wrong factor T shows */
}

/* σ → 0: the kinetic energy tends to W2²/T (Benamou–Brenier). Each grid value matches the closed
 * form at its σ, and the excess over W2² falls like σ⁸: the bridge's marginals minimise
 * ∫∫|v|² p + (σ⁴/4)∫∫|∇log p|² p over curves from μ0 to μT, a σ⁴ perturbation of the
 * Benamou–Brenier problem, which moves the minimiser by O(σ⁴) and so raises its kinetic part,
 * stationary at the unperturbed optimum, by O(σ⁸) (the 1D closed form: local exponents 7.66,
 * 7.97, 8.00 for σ = 1 → 0.5 → 0.25 → 0.125). */
static void test_kinetic_sigma_to_zero(void **state) {
  (void)state;
  fpk_error err = {0};
  const double sigmas[] = {1, 0.5, 0.25, 0.125};
  double excess[4], w2sq = 0;
  for (size_t k = 0; k < 4; k++) {
    kl_case c = make_case(1, 400, 8, sigmas[k], 1);
    if (k == 0) assert_int_equal(fpk_gaussian_w2sq(&c.g0, &c.g1, &w2sq, &err), FPK_SUCCESS);
    fpk_sb_path_diag r;
    assert_int_equal(fpk_sb_path_diagnostics(c.sb, 2, &r), FPK_SUCCESS);
    const double kec = kinetic_closed_1d(c.g0.cov[0], c.g1.cov[0], c.C[0],
                                         c.g1.mean[0] - c.g0.mean[0], c.sigma, c.T);
    excess[k] = r.kinetic - w2sq;
    print_message("sigma %.3g: kinetic %.12g closed %.12g (rel %.2e), W2^2 %.12g, excess %.3e, "
                  "tau_r %.3g\n", sigmas[k], r.kinetic, kec, fabs(r.kinetic - kec) / kec, w2sq,
                  excess[k], r.tau_r);
    assert_close_rel(r.kinetic, kec, 1e-7);
    assert_true(excess[k] > 0);
    free_case(&c);
  }
  /* least-squares slope of log excess against log σ */
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t k = 0; k < 4; k++) {
    const double x = log(sigmas[k]), y = log(excess[k]);
    sx += x, sy += y, sxx += x * x, sxy += x * y;
  }
  const double slope = (4 * sxy - sx * sy) / (4 * sxx - sx * sx);
  print_message("excess kinetic energy over W2^2 ~ sigma^%.3f\n", slope);
  assert_true(slope > SLOPE_LO && slope < SLOPE_HI);
  /* the last halving (0.25 → 0.125) is in the asymptotic regime: σ⁸ (closed form: 7.998) */
  const double last = log2(excess[2] / excess[3]);
  print_message("last halving: excess ratio 2^%.3f\n", last);
  assert_true(last > 7.8 && last < 8.2);
}

/* 2D, non-commuting covariances: static vs closed form vs Girsanov. */
static void test_gaussian_2d(void **state) {
  (void)state;
  const double sigmas[] = {0.5, 1};
  for (size_t k = 0; k < 2; k++) {
    kl_case c = make_case(2, N2D, L2D, sigmas[k], 1);
    const double klc = kl_closed(&c);
    fpk_sb_path_diag r;
    assert_int_equal(fpk_sb_path_diagnostics(c.sb, 2, &r), FPK_SUCCESS);
    const double kec = kinetic_closed(&c);
    print_message("2D sigma %.2g: static %.12g closed %.12g (rel %.2e); Girsanov %.12g (rel "
                  "%.2e, %zu nodes); kinetic %.12g closed %.12g (rel %.2e)\n", c.sigma,
                  r.kl_static, klc, fabs(r.kl_static - klc) / klc, r.kl_girsanov,
                  fabs(r.kl_girsanov - r.kl_static) / r.kl_static, r.n_nodes, r.kinetic, kec,
                  fabs(r.kinetic - kec) / kec);
    assert_close_rel(r.kl_static, klc, 1e-8);
    assert_close_rel(r.kl_girsanov, r.kl_static, 1e-6);
    assert_close_rel(r.kinetic, kec, 1e-6);
    free_case(&c);
  }
  /* the 2D closed form itself tends to W2² (non-commuting Bures term) as σ → 0 */
  kl_case z;
  memset(&z, 0, sizeof z);
  z.d = 2, z.sigma = 0.02, z.T = 1;
  z.g0 = fpk_test_gaussian(2, m2a, S2a);
  z.g1 = fpk_test_gaussian(2, m2b, S2b);
  fpk_error err = {0};
  double value, w2sq;
  assert_int_equal(fpk_gaussian_entropic_ot(&z.g0, &z.g1, 2 * z.sigma * z.sigma, &value, z.C, &err),
                   FPK_SUCCESS);
  assert_int_equal(fpk_gaussian_w2sq(&z.g0, &z.g1, &w2sq, &err), FPK_SUCCESS);
  const double kz = kinetic_closed(&z);
  print_message("2D closed-form kinetic energy at sigma 0.02: %.15g, W2^2 %.15g (rel %.2e)\n", kz,
                w2sq, fabs(kz - w2sq) / w2sq);
  assert_close_rel(kz, w2sq, 1e-9);
}

static void test_bad_input(void **state) {
  (void)state;
  size_t n = 50;
  double lo = -5, hi = 5;
  fpk_grid g = fpk_test_grid(1, &n, &lo, &hi);
  fpk_sb_params p;
  fpk_sb_params_init(&p);
  fpk_error err = {0};
  fpk_sb *s = fpk_sb_alloc(&g, &p, &err);
  assert_non_null(s);
  double kl = -1;
  fpk_sb_path_diag r;
  assert_int_equal(fpk_sb_kl_static(s, &kl), FPK_EINVAL);
  assert_non_null(strstr(fpk_sb_errmsg(s), "before a successful fpk_sb_solve"));
  assert_true(kl == -1);
  assert_int_equal(fpk_sb_path_diagnostics(s, 4, &r), FPK_EINVAL);
  assert_non_null(strstr(fpk_sb_errmsg(s), "before a successful fpk_sb_solve"));
  fpk_sb_free(s);

  kl_case c = make_case(1, 200, 8, 1, 1);
  assert_int_equal(fpk_sb_path_diagnostics(c.sb, 0, &r), FPK_EINVAL);
  print_message("n_intervals = 0: %s\n", fpk_sb_errmsg(c.sb));
  assert_non_null(strstr(fpk_sb_errmsg(c.sb), "n_intervals = 0"));
  free_case(&c);

  /* h = 0.2, σ = 0.1: τ_r = 4.8 > T/2, no interior time resolved */
  c = make_case(1, 80, 8, 0.1, 1);
  assert_int_equal(fpk_sb_path_diagnostics(c.sb, 2, &r), FPK_ENUMERIC);
  print_message("unresolved: %s\n", fpk_sb_errmsg(c.sb));
  assert_non_null(strstr(fpk_sb_errmsg(c.sb), "refine the grid"));
  free_case(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_static_brute_force),
      cmocka_unit_test(test_gaussian_1d),
      cmocka_unit_test(test_kinetic_sigma_to_zero),
      cmocka_unit_test(test_gaussian_2d),
      cmocka_unit_test(test_bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
