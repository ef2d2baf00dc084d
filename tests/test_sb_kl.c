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
 * which tends to W2²/T = ((m1 − m0)² + (√B − √A)²)/T as σ → 0 (C → √(AB)).
 * Gaussians are discretised by their density at cell centres, normalised (as tests/test_sb.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fpk_test.h"
#include "fpkit/exact.h"
#include "fpkit/ot.h"
#include "fpkit/sb.h"

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

static void density_weights(const fpk_grid *g, const fpk_gaussian *G, double *p) {
  fpk_error err = {0};
  assert_int_equal(fpk_gaussian_density_grid(G, g, p, &err), FPK_SUCCESS);
  double s = 0;
  for (size_t i = 0; i < g->size; i++) s += p[i];
  for (size_t i = 0; i < g->size; i++) p[i] /= s;
}

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
  free(lph);
  free(lphi);
  free_case(&c);
}

static void test_gaussian_1d(void **state) {
  (void)state;
  const double sigmas[] = {0.3, 1};
  for (size_t k = 0; k < 2; k++) {
    kl_case c = make_case(1, 400, 8, sigmas[k], 1);
    const double klc = kl_closed(&c);
    const double kec = kinetic_closed_1d(c.g0.cov[0], c.g1.cov[0], c.C[0],
                                         c.g1.mean[0] - c.g0.mean[0], c.sigma, c.T);
    double kl;
    assert_int_equal(fpk_sb_kl_static(c.sb, &kl), FPK_SUCCESS);
    print_message("1D sigma %.2g: static %.12g closed %.12g (rel %.2e)\n", c.sigma, kl, klc,
                  fabs(kl - klc) / klc);
    const size_t ns[] = {1, 2, 4, 8, 16};
    for (size_t j = 0; j < 5; j++) {
      fpk_sb_path_diag r;
      assert_int_equal(fpk_sb_path_diagnostics(c.sb, ns[j], &r), FPK_SUCCESS);
      print_message("  n %2zu (%3zu nodes): Girsanov %.12g rel %.2e; kinetic %.12g closed %.12g "
                    "rel %.2e; strips %.3g %.3g tau_r %.3g\n", ns[j], r.n_nodes, r.kl_girsanov,
                    fabs(r.kl_girsanov - kl) / kl, r.kinetic, kec, fabs(r.kinetic - kec) / kec,
                    r.kl_strips, r.kinetic_strips, r.tau_r);
    }
    free_case(&c);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_static_brute_force),
      cmocka_unit_test(test_gaussian_1d),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
