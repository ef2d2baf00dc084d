/* Noise matrices and the Kramers model (issue 16 foundation, src/models/noise.c, linear.c,
 * langevin.c): σ as a matrix for any model, D = ½σσᵀ, zero rows, the PSD check and factor of a
 * user-given D, OU with a full B and its exact law, and the Kramers (underdamped Langevin) model
 * with its phase-space Gibbs density. Every check compares with an independent computation. */
#include <stdlib.h>

#include "fpk_test.h"
#include "fpkit/exact.h"
#include "fpkit/model.h"

/* A diagonal model read as a matrix: σ on the diagonal, zeros elsewhere; D = ½ diag(σ²). */
static void diagonal_model_as_matrix(void **state) {
  (void)state;
  fpk_error err = {0};
  const double A[9] = {1, 0.2, 0, -0.3, 2, 0.1, 0, 0.4, 0.5}, mu[3] = {0.1, -0.2, 0.3},
               sg[3] = {0.7, 1.3, 0.4};
  fpk_model *m = fpk_model_ou_alloc(3, A, mu, sg, &err);
  assert_non_null(m);
  assert_int_equal(fpk_model_noise_dim(m), 3);
  assert_true(fpk_model_noise_is_diagonal(m));
  enum { N = 5 };
  double x[3 * N], S[9 * N], D[9 * N];
  for (size_t i = 0; i < 3 * N; i++) x[i] = 0.1 * (double)i - 0.4;
  assert_int_equal(fpk_model_noise_matrix(m, 0.0, N, x, S, &err), FPK_SUCCESS);
  assert_int_equal(fpk_model_diffusion(m, 0.0, N, x, D, NULL, &err), FPK_SUCCESS);
  for (size_t r = 0; r < 3; r++)
    for (size_t k = 0; k < 3; k++)
      for (size_t i = 0; i < N; i++) {
        assert_true(S[(r * 3 + k) * N + i] == (r == k ? sg[r] : 0.0));
        assert_true(D[(r * 3 + k) * N + i] == (r == k ? 0.5 * sg[r] * sg[r] : 0.0));
      }
  assert_int_equal(fpk_model_zero_noise_rows(m, N, x, &err), 0u);
  fpk_model_free(m);
}

/* OU with a full B: σ is B at every point, D = ½BBᵀ, fpk_model_noise refuses (FPK_EUNSUP) so that
 * diagonal-only code cannot misread the matrix, and zero rows are found from B. */
static void ou_matrix_noise(void **state) {
  (void)state;
  fpk_error err = {0};
  const double A[4] = {1.0, 0.5, -0.3, 0.8}, mu[2] = {0.2, -0.1};
  const double B[6] = {0.9, 0.3, -0.2, 0.0, 0.0, 0.0}; /* 2 × 3, second row zero */
  fpk_model *m = fpk_model_ou_matrix_alloc(2, A, mu, 3, B, &err);
  assert_non_null(m);
  assert_int_equal(fpk_model_noise_dim(m), 3);
  assert_false(fpk_model_noise_is_diagonal(m));
  assert_null(m->noise);
  assert_non_null(m->linear);
  enum { N = 4 };
  double x[2 * N] = {0, 1, 2, 3, -1, -2, 4, 5}, S[6 * N], D[4 * N], work[6 * N], sg[2 * N];
  assert_int_equal(fpk_model_noise_matrix(m, 0.0, N, x, S, &err), FPK_SUCCESS);
  assert_int_equal(fpk_model_diffusion(m, 0.0, N, x, D, work, &err), FPK_SUCCESS);
  const double D00 = 0.5 * (0.81 + 0.09 + 0.04);
  for (size_t i = 0; i < N; i++) {
    for (size_t rk = 0; rk < 6; rk++) assert_true(S[rk * N + i] == B[rk]);
    assert_close_rel(D[0 * N + i], D00, 1e-15);
    assert_true(D[1 * N + i] == 0.0 && D[2 * N + i] == 0.0 && D[3 * N + i] == 0.0);
  }
  assert_int_equal(fpk_model_zero_noise_rows(m, N, x, &err), 2u);
  assert_int_equal(fpk_model_noise(m, 0.0, N, x, sg, &err), FPK_EUNSUP);
  assert_non_null(strstr(err.msg, "noise matrix"));
  double bbt[4];
  fpk_linear_sde_bbt(m->linear, bbt);
  assert_close_rel(bbt[0], 2.0 * D00, 1e-15);
  assert_true(bbt[1] == 0.0 && bbt[2] == 0.0 && bbt[3] == 0.0);
  fpk_model_free(m);

  /* bad shapes and values: nothing allocated, the message says what is wrong */
  assert_null(fpk_model_ou_matrix_alloc(2, A, mu, 0, B, &err));
  assert_non_null(strstr(err.msg, "columns"));
  assert_null(fpk_model_ou_matrix_alloc(2, A, mu, FPK_MAX_NOISE + 1, B, &err));
  const double Z[4] = {0}, Bn[4] = {1, NAN, 0, 1};
  assert_null(fpk_model_ou_matrix_alloc(2, A, mu, 2, Z, &err));
  assert_non_null(strstr(err.msg, "zero"));
  assert_null(fpk_model_ou_matrix_alloc(2, A, mu, 2, Bn, &err));
  assert_non_null(strstr(err.msg, "B[0][1]"));
}

/* A user model with a noise matrix callback: zero rows found by sampling. */
static int user_noise_matrix(double t, size_t n, const double *x, double *out, void *p) {
  (void)t, (void)p;
  for (size_t i = 0; i < n; i++) {
    out[0 * n + i] = 1.0 + x[i] * x[i]; /* row 0: (1 + x², 0) */
    out[1 * n + i] = 0.0;
    out[2 * n + i] = 0.0; /* row 1: zero */
    out[3 * n + i] = 0.0;
  }
  return 0;
}
static int zero_drift(double t, size_t n, const double *x, double *out, void *p) {
  (void)t, (void)x, (void)p;
  memset(out, 0, 2 * n * sizeof *out);
  return 0;
}

static void user_matrix_model(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_model m = {.name = "user", .dim = 2, .drift = zero_drift, .noise_matrix = user_noise_matrix,
                 .noise_dim = 2};
  enum { N = 3 };
  double x[2 * N] = {0.5, -1, 2, 0, 0, 0}, D[4 * N], work[4 * N];
  assert_int_equal(fpk_model_zero_noise_rows(&m, N, x, &err), 2u);
  assert_int_equal(fpk_model_diffusion(&m, 0.0, N, x, D, work, &err), FPK_SUCCESS);
  for (size_t i = 0; i < N; i++) {
    const double s = 1.0 + x[i] * x[i];
    assert_close_rel(D[i], 0.5 * s * s, 1e-15);
  }
  assert_int_equal(fpk_model_diffusion(&m, 0.0, N, x, D, NULL, &err), FPK_EINVAL); /* no work */
  m.noise_dim = FPK_MAX_NOISE + 1;
  assert_int_equal(fpk_model_noise_matrix(&m, 0.0, N, x, work, &err), FPK_EINVAL);
}

/* fpk_diffusion_factor: ½BBᵀ = D for definite and semi-definite D; refusals name the cause. */
static void diffusion_factor(void **state) {
  (void)state;
  fpk_error err = {0};
  const double Ds[3][9] = {{2.0, 0.6, -0.3, 0.6, 1.0, 0.2, -0.3, 0.2, 0.5},
                           {1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0}, /* rank 1 */
                           {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25}};
  for (size_t c = 0; c < 3; c++) {
    double B[9];
    assert_int_equal(fpk_diffusion_factor(3, Ds[c], B, &err), FPK_SUCCESS);
    for (size_t i = 0; i < 3; i++)
      for (size_t j = 0; j < 3; j++) {
        double s = 0.0;
        for (size_t k = 0; k < 3; k++) s += B[i * 3 + k] * B[j * 3 + k];
        assert_close_abs(0.5 * s, Ds[c][i * 3 + j], 1e-14);
      }
  }
  double B[4];
  const double notpsd[4] = {1.0, 0.5, 0.5, 0.1}; /* eigenvalues 1.2227, −0.1227 */
  assert_int_equal(fpk_diffusion_factor(2, notpsd, B, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "not positive semi-definite"));
  assert_non_null(strstr(err.msg, "-0.1226"));
  const double asym[4] = {1.0, 0.5, 0.4, 1.0}, zero[4] = {0}, nan[4] = {1, 0, 0, NAN};
  assert_int_equal(fpk_diffusion_factor(2, asym, B, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "not symmetric"));
  assert_int_equal(fpk_diffusion_factor(2, zero, B, &err), FPK_EINVAL);
  assert_int_equal(fpk_diffusion_factor(2, nan, B, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "not finite"));
}

/* The exact law of OU with a full B: (i) B = diag(σ) as a matrix gives the diagonal model's law
 * bit for bit; (ii) the covariance solves dΣ/dt = −AΣ − ΣAᵀ + BBᵀ (central differences);
 * (iii) at large t it is the Lyapunov solution. */
static void ou_matrix_exact_law(void **state) {
  (void)state;
  fpk_error err = {0};
  const double A[4] = {1.0, 0.7, -0.4, 0.6}, mu[2] = {0.3, -0.5}, sg[2] = {0.8, 0.5};
  const double Bd[4] = {0.8, 0.0, 0.0, 0.5}, B[4] = {0.8, 0.4, -0.6, 0.3};
  fpk_model *md = fpk_model_ou_alloc(2, A, mu, sg, &err);
  fpk_model *mm = fpk_model_ou_matrix_alloc(2, A, mu, 2, Bd, &err);
  fpk_model *mf = fpk_model_ou_matrix_alloc(2, A, mu, 2, B, &err);
  assert_true(md && mm && mf);
  fpk_gaussian init = {.dim = 2, .mean = {1.0, -1.0}, .cov = {0.04, 0.01, 0.01, 0.09}}, g1, g2;
  assert_int_equal(fpk_exact_linear_law(md->linear, &init, 0.7, &g1, &err), FPK_SUCCESS);
  assert_int_equal(fpk_exact_linear_law(mm->linear, &init, 0.7, &g2, &err), FPK_SUCCESS);
  assert_memory_equal(&g1, &g2, sizeof g1);

  const double t = 0.6, dt = 1e-4;
  fpk_gaussian gm, g0, gp;
  assert_int_equal(fpk_exact_linear_law(mf->linear, &init, t - dt, &gm, &err), FPK_SUCCESS);
  assert_int_equal(fpk_exact_linear_law(mf->linear, &init, t, &g0, &err), FPK_SUCCESS);
  assert_int_equal(fpk_exact_linear_law(mf->linear, &init, t + dt, &gp, &err), FPK_SUCCESS);
  double bbt[4];
  fpk_linear_sde_bbt(mf->linear, bbt);
  for (size_t i = 0; i < 2; i++)
    for (size_t j = 0; j < 2; j++) {
      const double dS = (gp.cov[i * 2 + j] - gm.cov[i * 2 + j]) / (2 * dt);
      double rhs = bbt[i * 2 + j];
      for (size_t k = 0; k < 2; k++)
        rhs -= A[i * 2 + k] * g0.cov[k * 2 + j] + g0.cov[i * 2 + k] * A[j * 2 + k];
      assert_close_abs(dS, rhs, 1e-7);
    }
  fpk_gaussian ginf;
  double Sinf[4];
  assert_int_equal(fpk_exact_linear_law(mf->linear, &init, 60.0, &ginf, &err), FPK_SUCCESS);
  assert_int_equal(fpk_exact_lyapunov(mf->linear, Sinf, &err), FPK_SUCCESS);
  for (size_t k = 0; k < 4; k++) assert_close_abs(ginf.cov[k], Sinf[k], 1e-12);
  assert_close_abs(ginf.mean[0], mu[0], 1e-12);
  assert_close_abs(ginf.mean[1], mu[1], 1e-12);
  fpk_model_free(md), fpk_model_free(mm), fpk_model_free(mf);
}

/* The Kramers model: drift (v, −U' + F − γv), noise [0; √(2γ/β)], the force, H = U + v²/2,
 * parameter checks. */
static void kramers_model(void **state) {
  (void)state;
  fpk_error err = {0};
  const fpk_kramers_params kp = {.beta = 2.0, .gamma = 1.5, .amplitude = 0.7, .period = 2.0,
                                 .tilt = 0.3};
  const char *pots[3] = {"double-well", "tilted-cosine", "harmonic"};
  enum { N = 3 };
  const double x[2 * N] = {-1.2, 0.4, 2.0, 0.5, -0.7, 1.1};
  for (size_t p = 0; p < 3; p++) {
    fpk_model *m = fpk_model_kramers_alloc(pots[p], &kp, &err);
    assert_non_null(m);
    assert_int_equal(m->dim, 2);
    assert_int_equal(fpk_model_noise_dim(m), 1);
    assert_true(m->flags & FPK_MODEL_ADDITIVE);
    assert_true(fpk_model_kramers_params(m) != NULL);
    assert_true(fpk_model_kramers_potential(m) == fpk_potential_lookup(pots[p]));
    assert_true((m->linear != NULL) == (p == 2));
    double b[2 * N], S[2 * N], f[N];
    assert_int_equal(fpk_model_drift(m, 0.0, N, x, b, &err), FPK_SUCCESS);
    assert_int_equal(fpk_model_noise_matrix(m, 0.0, N, x, S, &err), FPK_SUCCESS);
    assert_int_equal(fpk_model_kramers_force(m, N, x, f, &err), FPK_SUCCESS);
    for (size_t i = 0; i < N; i++) {
      const double q = x[i], v = x[N + i], k = 2 * M_PI / kp.period;
      const double dU = p == 0 ? q * q * q - q : p == 1 ? kp.amplitude * k * sin(k * q)
                                                        : kp.amplitude * q;
      const double U = p == 0 ? q * q * q * q / 4 - q * q / 2
                       : p == 1 ? -kp.amplitude * cos(k * q) : 0.5 * kp.amplitude * q * q;
      assert_close_abs(b[i], v, 0);
      assert_close_abs(b[N + i], -dU + kp.tilt - kp.gamma * v, 1e-14);
      assert_close_abs(f[i], -dU + kp.tilt, 1e-14);
      assert_true(S[i] == 0.0);
      assert_close_rel(S[N + i], sqrt(2 * kp.gamma / kp.beta), 1e-15);
      const double xv[2] = {q, v};
      assert_close_abs(fpk_model_potential(m, xv), U + 0.5 * v * v, 1e-14);
    }
    assert_int_equal(fpk_model_zero_noise_rows(m, N, x, &err), 1u);
    if (m->linear) { /* harmonic: b = −A (x, v) + c */
      double bl[2 * N];
      for (size_t i = 0; i < N; i++)
        for (size_t r = 0; r < 2; r++)
          bl[r * N + i] = m->linear->c[r] - m->linear->A[r * 2] * x[i] -
                          m->linear->A[r * 2 + 1] * x[N + i];
      for (size_t i = 0; i < 2 * N; i++) assert_close_abs(bl[i], b[i], 1e-14);
    }
    fpk_model_free(m);
  }
  fpk_kramers_params bad = kp;
  bad.gamma = 0.0;
  assert_null(fpk_model_kramers_alloc("double-well", &bad, &err));
  assert_non_null(strstr(err.msg, "gamma"));
  bad = kp, bad.beta = -1.0;
  assert_null(fpk_model_kramers_alloc("double-well", &bad, &err));
  assert_non_null(strstr(err.msg, "kramers-double-well: beta"));
  bad = kp, bad.amplitude = 0.0;
  assert_null(fpk_model_kramers_alloc("harmonic", &bad, &err));
  assert_non_null(strstr(err.msg, "stiffness"));
  assert_null(fpk_model_kramers_alloc("quartic", &kp, &err));
  assert_non_null(strstr(err.msg, "known: double-well"));
  fpk_model *o = fpk_model_ou_matrix_alloc(2, (double[]){1, 0, 0, 1}, (double[]){0, 0}, 1,
                                           (double[]){0, 1}, &err);
  double f[1];
  assert_int_equal(fpk_model_kramers_force(o, 1, (double[]){0.0}, f, &err), FPK_EINVAL);
  fpk_model_free(o);
}

/* The harmonic Kramers law tends to the Gibbs law N(0, diag(1/(βκ), 1/β)) (equipartition), and
 * its covariance at any t is positive definite although B is degenerate (hypoelliptic). */
static void kramers_harmonic_law(void **state) {
  (void)state;
  fpk_error err = {0};
  const fpk_kramers_params kp = {.beta = 2.5, .gamma = 0.8, .amplitude = 1.7, .period = 1.0};
  fpk_model *m = fpk_model_kramers_alloc("harmonic", &kp, &err);
  assert_non_null(m);
  fpk_gaussian init = {.dim = 2, .mean = {1.0, 0.0}}, g;
  assert_int_equal(fpk_exact_linear_law(m->linear, &init, 0.05, &g, &err), FPK_SUCCESS);
  /* Short times: Var v ≈ 2γt/β, Var x ≈ (2γ/β) t³/3 (integrated Brownian motion). */
  assert_close_rel(g.cov[3], 2 * kp.gamma / kp.beta * 0.05, 0.06);
  assert_close_rel(g.cov[0], 2 * kp.gamma / kp.beta * pow(0.05, 3) / 3, 0.1);
  assert_true(g.cov[0] * g.cov[3] - g.cov[1] * g.cov[2] > 0.0);
  assert_int_equal(fpk_exact_linear_law(m->linear, &init, 200.0, &g, &err), FPK_SUCCESS);
  assert_close_rel(g.cov[0], 1.0 / (kp.beta * kp.amplitude), 1e-12);
  assert_close_rel(g.cov[3], 1.0 / kp.beta, 1e-12);
  assert_close_abs(g.cov[1], 0.0, 1e-13);
  assert_close_abs(g.mean[0], 0.0, 1e-12);
  fpk_model_free(m);
}

/* Phase-space Gibbs cells of the double-well Kramers model = (1D Gibbs cells of U) × (cell
 * probabilities of N(0, 1/β)), each normalised to the box: the density factorises, so the 2D
 * quadrature must agree with the product of two independent 1D computations. */
static void kramers_gibbs_cells(void **state) {
  (void)state;
  fpk_error err = {0};
  const fpk_kramers_params kp = {.beta = 3.0, .gamma = 1.0, .amplitude = 1.0, .period = 1.0};
  fpk_model *m = fpk_model_kramers_alloc("double-well", &kp, &err);
  const fpk_langevin_params lp = {.beta = kp.beta, .amplitude = 1.0, .period = 1.0};
  fpk_model *m1 = fpk_model_langevin_alloc("double-well", 1, &lp, &err);
  assert_true(m && m1);
  const size_t n2[2] = {40, 30}, nx[1] = {40}, nv[1] = {30};
  fpk_grid g = fpk_test_grid(2, n2, (double[]){-2.5, -3.0}, (double[]){2.5, 3.0});
  fpk_grid gx = fpk_test_grid(1, nx, (double[]){-2.5}, (double[]){2.5});
  fpk_grid gv = fpk_test_grid(1, nv, (double[]){-3.0}, (double[]){3.0});
  double *p = malloc(g.size * sizeof *p), px[40], pv[30];
  const char *what = NULL;
  assert_int_equal(fpk_exact_stationary_cells(m, &g, p, &what, &err), FPK_SUCCESS);
  assert_non_null(strstr(what, "phase-space Gibbs"));
  assert_int_equal(fpk_exact_gibbs_cells(m1, kp.beta, &gx, px, NULL, &err), FPK_SUCCESS);
  fpk_gaussian maxwell = {.dim = 1, .cov = {1.0 / kp.beta}};
  assert_int_equal(fpk_gaussian_cell_probs(&maxwell, &gv, pv, &err), FPK_SUCCESS);
  double sv = 0.0;
  for (size_t j = 0; j < 30; j++) sv += pv[j];
  double maxdiff = 0.0, peak = 0.0;
  for (size_t j = 0; j < 30; j++)
    for (size_t i = 0; i < 40; i++) {
      const double q = px[i] * pv[j] / (sv * gv.h[0]);
      maxdiff = fmax(maxdiff, fabs(p[j * 40 + i] - q));
      peak = fmax(peak, q);
    }
  printf("kramers Gibbs cells vs product of 1D marginals: max diff %.3g of peak %.3g\n", maxdiff,
         peak);
  assert_true(maxdiff <= 1e-13 * peak);
  free(p);
  fpk_model_free(m), fpk_model_free(m1);
}

/* The overdamped harmonic Langevin model's Gibbs density is N(0, 1/(βκ)). */
static void langevin_harmonic_gibbs(void **state) {
  (void)state;
  fpk_error err = {0};
  const fpk_langevin_params lp = {.beta = 2.0, .amplitude = 3.0, .period = 1.0};
  fpk_model *m = fpk_model_langevin_alloc("harmonic", 1, &lp, &err);
  assert_non_null(m);
  const size_t n[1] = {50};
  fpk_grid g = fpk_test_grid(1, n, (double[]){-2.0}, (double[]){2.0});
  double p[50], q[50], mass_out;
  assert_int_equal(fpk_exact_gibbs_cells(m, lp.beta, &g, p, &mass_out, &err), FPK_SUCCESS);
  fpk_gaussian gs = {.dim = 1, .cov = {1.0 / (lp.beta * lp.amplitude)}};
  assert_int_equal(fpk_gaussian_cell_probs(&gs, &g, q, &err), FPK_SUCCESS);
  double s = 0.0;
  for (size_t i = 0; i < 50; i++) s += q[i];
  for (size_t i = 0; i < 50; i++) assert_close_rel(p[i], q[i] / (s * g.h[0]), 1e-12);
  assert_close_rel(mass_out, 1.0 - s, 1e-6);
  fpk_langevin_params bad = lp;
  bad.amplitude = -1.0;
  assert_null(fpk_model_langevin_alloc("harmonic", 1, &bad, &err));
  assert_non_null(strstr(err.msg, "langevin-harmonic: amplitude"));
  fpk_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(diagonal_model_as_matrix), cmocka_unit_test(ou_matrix_noise),
      cmocka_unit_test(user_matrix_model),        cmocka_unit_test(diffusion_factor),
      cmocka_unit_test(ou_matrix_exact_law),      cmocka_unit_test(kramers_model),
      cmocka_unit_test(kramers_harmonic_law),     cmocka_unit_test(kramers_gibbs_cells),
      cmocka_unit_test(langevin_harmonic_gibbs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
