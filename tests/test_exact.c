/* Tests for the closed forms (src/exact/): linear SDE laws, Lyapunov, Euler–Maruyama laws,
 * Gaussian densities/cell probabilities/KL. References: ../shared/reference/closed-forms.md and
 * Van Loan (1978). Every tolerance is far tighter than a wrong factor of 2 could meet. */
#include "fpk_test.h"

#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_integration.h>

#include "fpkit/exact.h"

#include <omp.h>

#define D FPK_MAX_DIM

/* OU dX = -A(X - μ) dt + diag(σ) dW, i.e. c = A μ. */
static fpk_linear_sde make_ou(size_t d, const double *A, const double *mu, const double *sigma) {
  fpk_linear_sde s;
  memset(&s, 0, sizeof s);
  s.dim = d;
  memcpy(s.A, A, d * d * sizeof *A);
  for (size_t i = 0; i < d; i++) {
    s.c[i] = 0.0;
    for (size_t j = 0; j < d; j++) s.c[i] += A[i * d + j] * mu[j];
    s.sigma[i] = sigma[i];
  }
  return s;
}

static double max_abs_diff(size_t n, const double *a, const double *b) {
  double m = 0.0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
  return m;
}

/* ==== linear SDE law ====================================================================== */

/* 1D OU against closed-forms.md: mean μ + e^{-θt}(m0 - μ), var s0² e^{-2θt} + σ²(1 - e^{-2θt})/(2θ).
 * θt up to 1000 exercises the doubling path (e^{θt} in the Van Loan block would overflow). */
static void test_ou_1d_closed_form(void **state) {
  (void)state;
  const double theta[] = {1.3, 50.0}, mu = 0.7, sigma = 0.9, m0 = -1.2, s02 = 0.25;
  const double ts[] = {1e-3, 0.1, 0.5, 1.0, 2.5, 7.0, 20.0};
  double worst_m = 0.0, worst_v = 0.0;
  for (size_t a = 0; a < 2; a++) {
    fpk_linear_sde sde = make_ou(1, &theta[a], &mu, &sigma);
    fpk_gaussian init = fpk_test_gaussian(1, &m0, &s02), out;
    for (size_t k = 0; k < sizeof ts / sizeof ts[0]; k++) {
      double t = ts[k], e = exp(-theta[a] * t), e2 = exp(-2 * theta[a] * t);
      double mt = mu + e * (m0 - mu);
      double vt = s02 * e2 + sigma * sigma * (1 - e2) / (2 * theta[a]);
      fpk_error err = {0};
      assert_int_equal(fpk_exact_linear_law(&sde, &init, t, &out, &err), FPK_SUCCESS);
      assert_int_equal(out.dim, 1);
      assert_close_rel(out.mean[0], mt, 1e-13);
      assert_close_rel(out.cov[0], vt, 1e-13);
      worst_m = fmax(worst_m, fabs(out.mean[0] - mt) / fabs(mt));
      worst_v = fmax(worst_v, fabs(out.cov[0] - vt) / vt);
    }
  }
  print_message("1D OU: max rel err mean %.2e, var %.2e\n", worst_m, worst_v);
}

/* t = 0 returns init bit for bit; out may alias init. */
static void test_linear_t0_and_alias(void **state) {
  (void)state;
  const double A[] = {1, 0.8, -0.6, 0.5}, mu[] = {0.3, -0.2}, sig[] = {0.7, 1.1};
  const double m0[] = {1.0 / 3.0, -2.0 / 7.0}, S0[] = {0.3, 0.1, 0.1, 0.2};
  fpk_linear_sde sde = make_ou(2, A, mu, sig);
  fpk_gaussian init = fpk_test_gaussian(2, m0, S0), out;
  fpk_error err = {0};
  assert_int_equal(fpk_exact_linear_law(&sde, &init, 0.0, &out, &err), FPK_SUCCESS);
  assert_memory_equal(out.mean, init.mean, 2 * sizeof(double));
  assert_memory_equal(out.cov, init.cov, 4 * sizeof(double));
  fpk_gaussian ref, alias = init;
  assert_int_equal(fpk_exact_linear_law(&sde, &init, 0.8, &ref, &err), FPK_SUCCESS);
  assert_int_equal(fpk_exact_linear_law(&sde, &alias, 0.8, &alias, &err), FPK_SUCCESS);
  assert_memory_equal(alias.mean, ref.mean, 2 * sizeof(double));
  assert_memory_equal(alias.cov, ref.cov, 4 * sizeof(double));
}

/* Brownian motion with drift (A = 0, singular): mean m0 + vt, cov S0 + diag(σ²) t, in 3D. */
static void test_brownian_drift(void **state) {
  (void)state;
  fpk_linear_sde sde;
  memset(&sde, 0, sizeof sde);
  sde.dim = 3;
  const double v[] = {0.5, -1.25, 2.0}, sig[] = {0.3, 1.7, 0.9};
  memcpy(sde.c, v, sizeof v);
  memcpy(sde.sigma, sig, sizeof sig);
  const double m0[] = {1, 2, -3}, S0[] = {0.5, 0.1, -0.2, 0.1, 0.4, 0.05, -0.2, 0.05, 0.6};
  fpk_gaussian init = fpk_test_gaussian(3, m0, S0), out;
  double worst = 0.0;
  for (double t = 0.25; t <= 64.0; t *= 4.0) {
    fpk_error err = {0};
    assert_int_equal(fpk_exact_linear_law(&sde, &init, t, &out, &err), FPK_SUCCESS);
    for (size_t i = 0; i < 3; i++) {
      assert_close_rel(out.mean[i], m0[i] + v[i] * t, 1e-14);
      worst = fmax(worst, fabs(out.mean[i] - (m0[i] + v[i] * t)) / fabs(m0[i] + v[i] * t));
      for (size_t j = 0; j < 3; j++) {
        double e = S0[i * 3 + j] + (i == j ? sig[i] * sig[i] * t : 0.0);
        assert_close_rel(out.cov[i * 3 + j], e, 1e-14);
        worst = fmax(worst, fabs(out.cov[i * 3 + j] - e) / fabs(e));
      }
    }
  }
  print_message("Brownian motion with drift: max rel err %.2e\n", worst);
}

/* e^{M} for a 2×2 M with complex eigenvalues s ± iω: e^s [cos ω I + (sin ω / ω)(M - sI)].
 * Independent of GSL and of the code under test. */
static void expm_2x2_complex(const double *M, double *E) {
  double s = 0.5 * (M[0] + M[3]), det = M[0] * M[3] - M[1] * M[2];
  double w = sqrt(det - s * s), es = exp(s), c = cos(w), sn = sin(w) / w;
  E[0] = es * (c + sn * (M[0] - s));
  E[1] = es * sn * M[1];
  E[2] = es * sn * M[2];
  E[3] = es * (c + sn * (M[3] - s));
}

/* 2D non-symmetric A: (i) Σ_t satisfies dΣ/dt = -AΣ - ΣAᵀ + BBᵀ and m_t dm/dt = -Am + c
 * (centred differences); (ii) Σ_t equals closed-forms.md's e^{-At}(S0 - Σ∞)e^{-Aᵀt} + Σ∞ with an
 * independent 2×2 exponential; (iii) the semigroup property; (iv) Σ_t → Σ∞ at large t. */
static void test_ou_2d_nonsymmetric(void **state) {
  (void)state;
  const double A[] = {1, 0.8, -0.6, 0.5}, mu[] = {0.3, -0.2}, sig[] = {0.7, 1.1};
  const double m0[] = {1.5, -1.0}, S0[] = {0.3, 0.1, 0.1, 0.2};
  fpk_linear_sde sde = make_ou(2, A, mu, sig);
  fpk_gaussian init = fpk_test_gaussian(2, m0, S0);
  fpk_error err = {0};
  double Sinf[4];
  assert_int_equal(fpk_exact_lyapunov(&sde, Sinf, &err), FPK_SUCCESS);
  double worst_ode = 0.0, worst_cf = 0.0, worst_sg = 0.0;
  const double ts[] = {0.05, 0.4, 1.0, 3.0, 6.0};
  for (size_t k = 0; k < sizeof ts / sizeof ts[0]; k++) {
    double t = ts[k], dt = 1e-4;
    fpk_gaussian g, gp, gm;
    assert_int_equal(fpk_exact_linear_law(&sde, &init, t, &g, &err), FPK_SUCCESS);
    assert_int_equal(fpk_exact_linear_law(&sde, &init, t + dt, &gp, &err), FPK_SUCCESS);
    assert_int_equal(fpk_exact_linear_law(&sde, &init, t - dt, &gm, &err), FPK_SUCCESS);
    for (size_t i = 0; i < 2; i++) {
      double dm = (gp.mean[i] - gm.mean[i]) / (2 * dt), rhs = sde.c[i];
      for (size_t j = 0; j < 2; j++) rhs -= A[i * 2 + j] * g.mean[j];
      assert_close_abs(dm, rhs, 1e-8);
      worst_ode = fmax(worst_ode, fabs(dm - rhs));
      for (size_t j = 0; j < 2; j++) {
        double dS = (gp.cov[i * 2 + j] - gm.cov[i * 2 + j]) / (2 * dt);
        double r = (i == j) ? sig[i] * sig[i] : 0.0;
        for (size_t l = 0; l < 2; l++)
          r -= A[i * 2 + l] * g.cov[l * 2 + j] + g.cov[i * 2 + l] * A[j * 2 + l];
        assert_close_abs(dS, r, 1e-8);
        worst_ode = fmax(worst_ode, fabs(dS - r));
      }
    }
    /* (ii) closed form with an independent exponential. */
    double M[4], E[4], Dm[4], ES[4];
    for (size_t i = 0; i < 4; i++) M[i] = -A[i] * t, Dm[i] = S0[i] - Sinf[i];
    expm_2x2_complex(M, E);
    for (size_t i = 0; i < 2; i++)
      for (size_t j = 0; j < 2; j++) ES[i * 2 + j] = E[i * 2] * Dm[j] + E[i * 2 + 1] * Dm[2 + j];
    for (size_t i = 0; i < 2; i++) {
      double me = mu[i] + E[i * 2] * (m0[0] - mu[0]) + E[i * 2 + 1] * (m0[1] - mu[1]);
      assert_close_abs(g.mean[i], me, 1e-13);
      worst_cf = fmax(worst_cf, fabs(g.mean[i] - me));
      for (size_t j = 0; j < 2; j++) {
        double se = ES[i * 2] * E[j * 2] + ES[i * 2 + 1] * E[j * 2 + 1] + Sinf[i * 2 + j];
        assert_close_abs(g.cov[i * 2 + j], se, 1e-13);
        worst_cf = fmax(worst_cf, fabs(g.cov[i * 2 + j] - se));
      }
    }
    /* (iii) law(t + 0.7) = law of 0.7 started from law(t). */
    fpk_gaussian direct, chained;
    assert_int_equal(fpk_exact_linear_law(&sde, &init, t + 0.7, &direct, &err), FPK_SUCCESS);
    assert_int_equal(fpk_exact_linear_law(&sde, &g, 0.7, &chained, &err), FPK_SUCCESS);
    for (size_t i = 0; i < 4; i++) {
      assert_close_abs(chained.cov[i], direct.cov[i], 1e-13);
      worst_sg = fmax(worst_sg, fabs(chained.cov[i] - direct.cov[i]));
    }
    for (size_t i = 0; i < 2; i++) assert_close_abs(chained.mean[i], direct.mean[i], 1e-13);
    /* Symmetric output. */
    assert_true(g.cov[1] == g.cov[2]);
  }
  /* (iv) stationary limit: the transient decays like e^{-2·0.75 t}. */
  fpk_gaussian far;
  assert_int_equal(fpk_exact_linear_law(&sde, &init, 60.0, &far, &err), FPK_SUCCESS);
  double dlim = max_abs_diff(4, far.cov, Sinf);
  assert_true(dlim < 1e-13);
  for (size_t i = 0; i < 2; i++) assert_close_abs(far.mean[i], mu[i], 1e-13);
  print_message("2D non-symmetric OU: ODE residual %.2e, closed-form diff %.2e, semigroup %.2e, "
                "|Σ(60) - Σ∞| %.2e\n", worst_ode, worst_cf, worst_sg, dlim);
}

static double lyap_residual(const fpk_linear_sde *s, const double *S) {
  size_t d = s->dim;
  double worst = 0.0;
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++) {
      double r = -((i == j) ? s->sigma[i] * s->sigma[i] : 0.0);
      for (size_t k = 0; k < d; k++)
        r += s->A[i * d + k] * S[k * d + j] + S[i * d + k] * s->A[j * d + k];
      worst = fmax(worst, fabs(r));
    }
  return worst;
}

/* Lyapunov residual in 1D/2D/3D, the 1D value σ²/(2θ), and the 3D limit of the law. */
/* The linear law from several threads at once gives, bitwise, the serial answer. The Monte Carlo
 * engine calls it from its threads (the exact OU step caches one per thread), and the matrix
 * exponential inside runs on GSL's cblas: a BLAS that is not safe under concurrent calls (Debian's
 * serial OpenBLAS, when it served GSL) returned wrong laws here (errors ~1e-2, intermittently). */
static void test_linear_law_concurrent(void **state) {
  (void)state;
  const double A[] = {1.0, 0.5, -0.3, 2.0}, mu[] = {0.5, -1.0}, sig[] = {0.8, 0.4};
  const double m0[] = {2.0, 1.0}, S0[] = {0.04, 0.01, 0.01, 0.09};
  fpk_linear_sde sde = make_ou(2, A, mu, sig);
  fpk_gaussian init = fpk_test_gaussian(2, m0, S0);
  enum { CALLS = 4000 };
  double ref[CALLS][6];
  for (size_t k = 0; k < CALLS; k++) {
    fpk_gaussian g;
    fpk_error err = {0};
    assert_int_equal(fpk_exact_linear_law(&sde, &init, 0.01 * (double)(k % 97 + 1), &g, &err),
                     FPK_SUCCESS);
    memcpy(ref[k], g.mean, 2 * sizeof(double));
    memcpy(ref[k] + 2, g.cov, 4 * sizeof(double));
  }
  size_t mismatches = 0;
#pragma omp parallel for num_threads(4) schedule(dynamic, 1) reduction(+ : mismatches)
  for (size_t k = 0; k < CALLS; k++) {
    fpk_gaussian g;
    fpk_error err = {0};
    double got[6] = {0};
    if (fpk_exact_linear_law(&sde, &init, 0.01 * (double)(k % 97 + 1), &g, &err) == 0) {
      memcpy(got, g.mean, 2 * sizeof(double));
      memcpy(got + 2, g.cov, 4 * sizeof(double));
    }
    if (memcmp(got, ref[k], sizeof got) != 0) mismatches++;
  }
  assert_int_equal(mismatches, 0);
}

static void test_lyapunov(void **state) {
  (void)state;
  fpk_error err = {0};
  const double th = 1.7, mu1 = 0, s1 = 0.8;
  fpk_linear_sde s1d = make_ou(1, &th, &mu1, &s1);
  double v;
  assert_int_equal(fpk_exact_lyapunov(&s1d, &v, &err), FPK_SUCCESS);
  assert_close_rel(v, s1 * s1 / (2 * th), 1e-15);

  const double A2[] = {1, 0.8, -0.6, 0.5}, mu2[] = {0, 0}, sg2[] = {0.7, 1.1};
  fpk_linear_sde s2 = make_ou(2, A2, mu2, sg2);
  double S2[4];
  assert_int_equal(fpk_exact_lyapunov(&s2, S2, &err), FPK_SUCCESS);
  double r2 = lyap_residual(&s2, S2);
  assert_true(r2 < 1e-13);
  assert_true(S2[1] == S2[2]);

  const double A3[] = {2.0, 0.5, -0.3, -0.4, 1.0, 0.6, 0.2, -0.7, 1.5};
  const double mu3[] = {1, -1, 0.5}, sg3[] = {0.5, 1.0, 1.5};
  fpk_linear_sde s3 = make_ou(3, A3, mu3, sg3);
  double S3[9];
  assert_int_equal(fpk_exact_lyapunov(&s3, S3, &err), FPK_SUCCESS);
  double r3 = lyap_residual(&s3, S3);
  assert_true(r3 < 1e-13);
  const double m0[] = {0, 0, 0}, Z[9] = {0};
  fpk_gaussian init = fpk_test_gaussian(3, m0, Z), far;
  assert_int_equal(fpk_exact_linear_law(&s3, &init, 80.0, &far, &err), FPK_SUCCESS);
  double d3 = max_abs_diff(9, far.cov, S3);
  assert_true(d3 < 1e-13);
  for (size_t i = 0; i < 3; i++) assert_close_abs(far.mean[i], mu3[i], 1e-13);
  print_message("Lyapunov residual 2D %.2e, 3D %.2e; |Σ_3D(80) - Σ∞| %.2e\n", r2, r3, d3);
}

static void test_lyapunov_rejects_unstable(void **state) {
  (void)state;
  const double mu[] = {0, 0}, sg[] = {1, 1};
  const double bad[][4] = {
      {1, 0, 0, -0.5}, /* negative eigenvalue */
      {0, 0, 0, 0},    /* Brownian motion: zero eigenvalues */
      {0, 1, -1, 0},   /* rotation: eigenvalues ±i */
      {-1, 3, -3, -1}, /* complex with negative real part */
      {1, 0, 0, 0},    /* one zero eigenvalue */
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    fpk_linear_sde s = make_ou(2, bad[k], mu, sg);
    fpk_error err = {0};
    double S[4];
    assert_int_equal(fpk_exact_lyapunov(&s, S, &err), FPK_EINVAL);
    assert_int_equal(err.status, FPK_EINVAL);
    assert_non_null(strstr(err.msg, "real part"));
  }
}

static void test_linear_invalid_input(void **state) {
  (void)state;
  const double A[] = {1}, mu[] = {0}, sg[] = {1}, m0[] = {0}, S0[] = {1};
  fpk_linear_sde s = make_ou(1, A, mu, sg);
  fpk_gaussian init = fpk_test_gaussian(1, m0, S0), out;
  fpk_error err = {0};
  assert_int_equal(fpk_exact_linear_law(&s, &init, -1.0, &out, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "t = -1"));
  assert_int_equal(fpk_exact_linear_law(&s, &init, NAN, &out, &err), FPK_EINVAL);
  assert_int_equal(fpk_exact_linear_law(&s, &init, INFINITY, &out, &err), FPK_EINVAL);
  fpk_gaussian wrong = init;
  wrong.dim = 2;
  assert_int_equal(fpk_exact_linear_law(&s, &wrong, 1.0, &out, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "dimension"));
  fpk_linear_sde nan = s;
  nan.A[0] = NAN;
  assert_int_equal(fpk_exact_linear_law(&nan, &init, 1.0, &out, &err), FPK_EINVAL);
  double lyap[1];
  assert_int_equal(fpk_exact_lyapunov(&nan, lyap, &err), FPK_EINVAL);
  fpk_linear_sde d0 = s;
  d0.dim = 0;
  assert_int_equal(fpk_exact_linear_law(&d0, &init, 1.0, &out, &err), FPK_EINVAL);
  fpk_gaussian nanm = init;
  nanm.mean[0] = NAN;
  assert_int_equal(fpk_exact_linear_law(&s, &nanm, 1.0, &out, &err), FPK_EINVAL);
  size_t n = 3;
  double h = -0.1;
  assert_int_equal(fpk_exact_em_law(&s, &init, 1, &n, &h, &out, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "h = -0.1"));
  h = NAN;
  assert_int_equal(fpk_exact_em_law(&s, &init, 1, &n, &h, &out, &err), FPK_EINVAL);
  assert_int_equal(fpk_exact_em_law(&s, &wrong, 1, &n, &h, &out, &err), FPK_EINVAL);
}

/* ==== Euler–Maruyama law ================================================================ */

/* closed-forms.md: E X_n = (1 - θh)^n m0, Var X_n = (1-θh)^{2n} s0² + σ²h(1 - (1-θh)^{2n})/(1 - (1-θh)²). */
static void test_em_1d_closed_form(void **state) {
  (void)state;
  const double th = 0.8, zero = 0.0, sg = 0.6, m0 = 1.5, s02 = 0.3;
  fpk_linear_sde s = make_ou(1, &th, &zero, &sg);
  fpk_gaussian init = fpk_test_gaussian(1, &m0, &s02), out;
  fpk_error err = {0};
  const double hs[] = {0.01, 0.05, 0.3, 1.1};
  const size_t ns[] = {1, 2, 37, 250};
  double worst = 0.0;
  for (size_t a = 0; a < 4; a++)
    for (size_t b = 0; b < 4; b++) {
      double h = hs[a], r = 1 - th * h, rn = pow(r, (double)ns[b]), r2n = rn * rn;
      double me = rn * m0, ve = r2n * s02 + sg * sg * h * (1 - r2n) / (1 - r * r);
      assert_int_equal(fpk_exact_em_law(&s, &init, 1, &ns[b], &h, &out, &err), FPK_SUCCESS);
      assert_close_rel(out.mean[0], me, 1e-13);
      assert_close_rel(out.cov[0], ve, 1e-13);
      worst = fmax(worst, fmax(fabs(out.mean[0] - me) / fabs(me), fabs(out.cov[0] - ve) / ve));
    }
  /* Stationary EM variance σ²/(θ(2 - θh)), which is not σ²/(2θ). */
  double h = 0.2;
  size_t n = 5000;
  assert_int_equal(fpk_exact_em_law(&s, &init, 1, &n, &h, &out, &err), FPK_SUCCESS);
  double vs = sg * sg / (th * (2 - th * h));
  assert_close_rel(out.cov[0], vs, 1e-13);
  assert_true(fabs(out.cov[0] - sg * sg / (2 * th)) > 1e-3);
  print_message("EM 1D: max rel err vs closed form %.2e; stationary rel err %.2e\n", worst,
                fabs(out.cov[0] - vs) / vs);
}

/* Several intervals = the same intervals one call at a time; nint = 0 is the identity. */
static void test_em_multi_interval(void **state) {
  (void)state;
  const double A[] = {1, 0.8, -0.6, 0.5}, mu[] = {0.3, -0.2}, sg[] = {0.7, 1.1};
  const double m0[] = {1.5, -1.0}, S0[] = {0.3, 0.1, 0.1, 0.2};
  fpk_linear_sde s = make_ou(2, A, mu, sg);
  fpk_gaussian init = fpk_test_gaussian(2, m0, S0), all, step = init;
  fpk_error err = {0};
  const size_t ns[] = {10, 0, 7, 5};
  const double hs[] = {0.1, 0.0, 0.03, 0.2};
  assert_int_equal(fpk_exact_em_law(&s, &init, 4, ns, hs, &all, &err), FPK_SUCCESS);
  for (size_t j = 0; j < 4; j++)
    assert_int_equal(fpk_exact_em_law(&s, &step, 1, &ns[j], &hs[j], &step, &err), FPK_SUCCESS);
  for (size_t i = 0; i < 2; i++) assert_close_rel(all.mean[i], step.mean[i], 1e-15);
  for (size_t i = 0; i < 4; i++) assert_close_rel(all.cov[i], step.cov[i], 1e-15);
  /* Differs from the exact law by O(h), so it is not the identity. */
  assert_true(fabs(all.cov[0] - init.cov[0]) > 1e-2);
  fpk_gaussian same;
  assert_int_equal(fpk_exact_em_law(&s, &init, 0, NULL, NULL, &same, &err), FPK_SUCCESS);
  assert_memory_equal(same.mean, init.mean, 2 * sizeof(double));
  assert_memory_equal(same.cov, init.cov, 4 * sizeof(double));
}

/* EM law → exact law with weak order 1 as h → 0 (2D non-symmetric A). */
static void test_em_converges_to_exact(void **state) {
  (void)state;
  const double A[] = {1, 0.8, -0.6, 0.5}, mu[] = {0.3, -0.2}, sg[] = {0.7, 1.1};
  const double m0[] = {1.5, -1.0}, S0[] = {0.3, 0.1, 0.1, 0.2};
  fpk_linear_sde s = make_ou(2, A, mu, sg);
  fpk_gaussian init = fpk_test_gaussian(2, m0, S0), ex, em;
  fpk_error err = {0};
  double T = 2.0, hs[4], es[4];
  assert_int_equal(fpk_exact_linear_law(&s, &init, T, &ex, &err), FPK_SUCCESS);
  for (size_t k = 0; k < 4; k++) {
    size_t n = (size_t)50 << k;
    hs[k] = T / (double)n;
    assert_int_equal(fpk_exact_em_law(&s, &init, 1, &n, &hs[k], &em, &err), FPK_SUCCESS);
    es[k] = fmax(max_abs_diff(2, em.mean, ex.mean), max_abs_diff(4, em.cov, ex.cov));
  }
  double order = fpk_test_fit_order(4, hs, es);
  print_message("EM -> exact law: errors %.3e %.3e %.3e %.3e, fitted order %.3f\n", es[0], es[1],
                es[2], es[3], order);
  assert_in_range_d(order, 0.97, 1.03);
}

/* ==== Gaussians on grids ================================================================== */

static void test_density_grid(void **state) {
  (void)state;
  fpk_error err = {0};
  /* 1D: point values. */
  const double m1 = 0.4, v1 = 0.49;
  fpk_gaussian g1 = fpk_test_gaussian(1, &m1, &v1);
  size_t n1 = 301;
  double lo1 = -7.5, hi1 = 8.3;
  fpk_grid G1 = fpk_test_grid(1, &n1, &lo1, &hi1);
  double *p1 = malloc(n1 * sizeof *p1);
  assert_int_equal(fpk_gaussian_density_grid(&g1, &G1, p1, &err), FPK_SUCCESS);
  for (size_t i = 0; i < n1; i += 37) {
    double x = fpk_grid_center(&G1, 0, i);
    double e = exp(-0.5 * (x - m1) * (x - m1) / v1) / sqrt(2 * M_PI * v1);
    assert_close_rel(p1[i], e, 1e-13);
  }
  /* Wide grid (±11σ): the midpoint sum of a Gaussian is then spectrally accurate. */
  double I1 = fpk_grid_integral(&G1, p1);
  assert_close_abs(I1, 1.0, 1e-14);
  free(p1);
  /* 2D correlated: the midpoint sum of a Gaussian on a wide grid is spectrally accurate. */
  const double m2[] = {0.3, -0.5}, S2[] = {1.0, 0.6, 0.6, 0.8};
  fpk_gaussian g2 = fpk_test_gaussian(2, m2, S2);
  size_t n2[] = {120, 100};
  double lo2[] = {-9, -9}, hi2[] = {9, 8};
  fpk_grid G2 = fpk_test_grid(2, n2, lo2, hi2);
  double *p2 = malloc(G2.size * sizeof *p2);
  assert_int_equal(fpk_gaussian_density_grid(&g2, &G2, p2, &err), FPK_SUCCESS);
  double I2 = fpk_grid_integral(&G2, p2);
  assert_close_abs(I2, 1.0, 1e-12);
  /* Point check against the explicit 2×2 formula. */
  size_t c = 57 + 120 * 44;
  double x[2], det = 1.0 * 0.8 - 0.36;
  fpk_grid_point(&G2, c, x);
  double dx = x[0] - m2[0], dy = x[1] - m2[1];
  double qf = (0.8 * dx * dx - 1.2 * dx * dy + 1.0 * dy * dy) / det;
  assert_close_rel(p2[c], exp(-0.5 * qf) / (2 * M_PI * sqrt(det)), 1e-13);
  free(p2);
  /* 3D. */
  const double m3[] = {0.1, 0.2, -0.3}, S3[] = {1.0, 0.3, -0.2, 0.3, 0.7, 0.1, -0.2, 0.1, 0.5};
  fpk_gaussian g3 = fpk_test_gaussian(3, m3, S3);
  size_t n3[] = {40, 36, 30};
  double lo3[] = {-7, -6, -5}, hi3[] = {7, 6, 5};
  fpk_grid G3 = fpk_test_grid(3, n3, lo3, hi3);
  double *p3 = malloc(G3.size * sizeof *p3);
  assert_int_equal(fpk_gaussian_density_grid(&g3, &G3, p3, &err), FPK_SUCCESS);
  double I3 = fpk_grid_integral(&G3, p3);
  assert_close_abs(I3, 1.0, 1e-10);
  free(p3);
  print_message("density grid: |∫p - 1| 1D %.2e, 2D %.2e, 3D %.2e\n", fabs(I1 - 1), fabs(I2 - 1),
                fabs(I3 - 1));
}

static void test_gaussian_invalid(void **state) {
  (void)state;
  const double m[] = {0, 0}, notpd[] = {1, 2, 2, 1}, asym[] = {1, 0.5, 0.2, 1};
  const double zero[] = {0, 0, 0, 0};
  size_t n[] = {5, 5};
  double lo[] = {-1, -1}, hi[] = {1, 1}, p[25];
  fpk_grid G = fpk_test_grid(2, n, lo, hi);
  const double *bad[] = {notpd, zero};
  for (size_t k = 0; k < 2; k++) {
    fpk_gaussian g = fpk_test_gaussian(2, m, bad[k]);
    fpk_error err = {0};
    assert_int_equal(fpk_gaussian_density_grid(&g, &G, p, &err), FPK_EINVAL);
    assert_non_null(strstr(err.msg, "positive definite"));
    assert_int_equal(fpk_gaussian_cell_probs(&g, &G, p, &err), FPK_EINVAL);
    assert_true(isnan(fpk_gaussian_kl(&g, &g)));
  }
  fpk_error err = {0};
  fpk_gaussian ga = fpk_test_gaussian(2, m, asym);
  assert_int_equal(fpk_gaussian_density_grid(&ga, &G, p, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "symmetric"));
  const double m1 = 0, v1 = 1;
  fpk_gaussian g1 = fpk_test_gaussian(1, &m1, &v1);
  assert_int_equal(fpk_gaussian_density_grid(&g1, &G, p, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "dimension"));
  assert_true(isnan(fpk_gaussian_mass_outside(&g1, &G)));
  fpk_gaussian g2 = fpk_test_gaussian(2, m, (const double[]){1, 0, 0, 1});
  assert_true(isnan(fpk_gaussian_kl(&g1, &g2)));
}

/* ∫_a^b N(x; m, s²) dx by adaptive quadrature: an independent reference. */
static double gauss_pdf_fn(double x, void *par) {
  const double *ms = par;
  double z = (x - ms[0]) / ms[1];
  return exp(-0.5 * z * z) / (ms[1] * sqrt(2 * M_PI));
}

static double interval_by_quadrature(double m, double s, double a, double b) {
  double ms[2] = {m, s}, res, abserr;
  gsl_function f = {gauss_pdf_fn, ms};
  gsl_integration_workspace *w = gsl_integration_workspace_alloc(200);
  gsl_integration_qag(&f, a, b, 0.0, 1e-13, 200, GSL_INTEG_GAUSS61, w, &res, &abserr);
  gsl_integration_workspace_free(w);
  return res;
}

/* 1D cell probabilities: sum = 1 - outside mass; every cell, tails included, to relative 1e-12
 * against adaptive quadrature (naive Φ(b) - Φ(a) would lose everything beyond 8σ). */
static void test_cell_probs_1d(void **state) {
  (void)state;
  const double m = 0.25, v = 0.36, s = 0.6;
  fpk_gaussian g = fpk_test_gaussian(1, &m, &v);
  size_t n = 80;
  double lo = -6.0, hi = 7.5;
  fpk_grid G = fpk_test_grid(1, &n, &lo, &hi);
  double q[80];
  fpk_error err = {0};
  assert_int_equal(fpk_gaussian_cell_probs(&g, &G, q, &err), FPK_SUCCESS);
  double sum = 0.0, worst = 0.0;
  for (size_t i = 0; i < n; i++) {
    sum += q[i];
    double a = lo + (double)i * G.h[0], e = interval_by_quadrature(m, s, a, a + G.h[0]);
    assert_close_rel(q[i], e, 1e-12);
    worst = fmax(worst, fabs(q[i] - e) / e);
  }
  double out = fpk_gaussian_mass_outside(&g, &G);
  double out_e = gsl_cdf_gaussian_P(lo - m, s) + gsl_cdf_gaussian_Q(hi - m, s);
  assert_close_rel(out, out_e, 1e-15);
  assert_close_abs(sum, 1.0 - out, 2e-16 * n);
  /* A box that cuts the mass: the outside mass is large and still exact. */
  double lo2 = -0.3, hi2 = 0.4;
  fpk_grid G2 = fpk_test_grid(1, &n, &lo2, &hi2);
  assert_int_equal(fpk_gaussian_cell_probs(&g, &G2, q, &err), FPK_SUCCESS);
  double sum2 = 0.0;
  for (size_t i = 0; i < n; i++) sum2 += q[i];
  double in2 = gsl_cdf_gaussian_P(hi2 - m, s) - gsl_cdf_gaussian_P(lo2 - m, s);
  assert_close_rel(sum2, in2, 1e-14);
  assert_close_rel(fpk_gaussian_mass_outside(&g, &G2), 1.0 - in2, 1e-14);
  print_message("cell probs 1D: max rel err vs adaptive quadrature %.2e; |Σq - (1 - out)| %.2e\n",
                worst, fabs(sum - (1 - out)));
}

/* Diagonal 2D: product of marginals, total = Π(1 - out_a); the union bound is an upper bound. */
static void test_cell_probs_diagonal(void **state) {
  (void)state;
  const double m[] = {0.2, -0.4}, S[] = {0.5, 0.0, 0.0, 1.5};
  fpk_gaussian g = fpk_test_gaussian(2, m, S);
  size_t n[] = {30, 25};
  double lo[] = {-2, -3}, hi[] = {2.5, 2};
  fpk_grid G = fpk_test_grid(2, n, lo, hi);
  double *q = malloc(G.size * sizeof *q);
  fpk_error err = {0};
  assert_int_equal(fpk_gaussian_cell_probs(&g, &G, q, &err), FPK_SUCCESS);
  double sum = 0.0;
  for (size_t c = 0; c < G.size; c++) sum += q[c];
  double o[2], prod = 1.0;
  for (size_t a = 0; a < 2; a++) {
    double s = sqrt(S[a * 2 + a]);
    o[a] = gsl_cdf_gaussian_P(lo[a] - m[a], s) + gsl_cdf_gaussian_Q(hi[a] - m[a], s);
    prod *= 1.0 - o[a];
  }
  assert_close_rel(sum, prod, 1e-14);
  double ub = fpk_gaussian_mass_outside(&g, &G);
  assert_close_rel(ub, o[0] + o[1], 1e-14);
  assert_true(1.0 - sum <= ub);
  /* One cell by hand: cell (i, j) = (4, 17). */
  size_t i = 4, j = 17;
  double xa = lo[0] + i * G.h[0], ya = lo[1] + j * G.h[1];
  double e = interval_by_quadrature(m[0], sqrt(S[0]), xa, xa + G.h[0]) *
             interval_by_quadrature(m[1], sqrt(S[3]), ya, ya + G.h[1]);
  assert_close_rel(q[i + n[0] * j], e, 1e-12);
  free(q);
}

/* Independent reference for a correlated 2D cell: the y-integral in closed form through the
 * conditional law of y given x, the x-integral by adaptive quadrature. */
typedef struct cell2d {
  double m[2], S[4], y0, y1;
} cell2d;

static double cond_integrand(double x, void *par) {
  const cell2d *c = par;
  double sx = sqrt(c->S[0]);
  double my = c->m[1] + c->S[1] / c->S[0] * (x - c->m[0]);
  double sy = sqrt(c->S[3] - c->S[1] * c->S[1] / c->S[0]);
  double z = (x - c->m[0]) / sx;
  double py = gsl_cdf_gaussian_P(c->y1 - my, sy) - gsl_cdf_gaussian_P(c->y0 - my, sy);
  return exp(-0.5 * z * z) / (sx * sqrt(2 * M_PI)) * py;
}

static double cell2d_reference(const double *m, const double *S, double x0, double x1, double y0,
                               double y1) {
  cell2d c = {{m[0], m[1]}, {S[0], S[1], S[2], S[3]}, y0, y1};
  gsl_function f = {cond_integrand, &c};
  double res, abserr;
  gsl_integration_workspace *w = gsl_integration_workspace_alloc(200);
  gsl_integration_qag(&f, x0, x1, 1e-17, 1e-13, 200, GSL_INTEG_GAUSS61, w, &res, &abserr);
  gsl_integration_workspace_free(w);
  return res;
}

/* Correlated 2D cell probabilities: (i) every cell against the independent reference to 1e-13
 * absolute, for moderate (ρ = 0.6) and strong (ρ = 0.95 and 0.995, cells 3 and 10 conditional σ
 * wide) correlation; (ii) the sum against 1 - outside on a wide grid; (iii) q/V - p = O(h²). */
static void test_cell_probs_correlated(void **state) {
  (void)state;
  const double m[] = {0.3, -0.5};
  const double Ss[][4] = {{1.0, 0.6 * sqrt(0.8), 0.6 * sqrt(0.8), 0.8},
                          {1.0, 0.95 * 0.5, 0.95 * 0.5, 0.25},
                          {1.0, 0.995 * 0.5, 0.995 * 0.5, 0.25}};
  fpk_error err = {0};
  double worst = 0.0;
  for (size_t k = 0; k < 3; k++) {
    fpk_gaussian g = fpk_test_gaussian(2, m, Ss[k]);
    /* Cells 0.625 × 0.5: for k = 2 that is ~1 marginal σ but ~10 conditional σ along y. */
    size_t n[] = {16, 14};
    double lo[] = {-5, -4}, hi[] = {5, 3};
    fpk_grid G = fpk_test_grid(2, n, lo, hi);
    double *q = malloc(G.size * sizeof *q);
    assert_int_equal(fpk_gaussian_cell_probs(&g, &G, q, &err), FPK_SUCCESS);
    for (size_t j = 0; j < n[1]; j++)
      for (size_t i = 0; i < n[0]; i++) {
        double x0 = lo[0] + i * G.h[0], y0 = lo[1] + j * G.h[1];
        double e = cell2d_reference(m, Ss[k], x0, x0 + G.h[0], y0, y0 + G.h[1]);
        assert_close_abs(q[i + n[0] * j], e, 1e-13);
        worst = fmax(worst, fabs(q[i + n[0] * j] - e));
      }
    free(q);
  }
  /* (ii) wide grid. */
  fpk_gaussian g = fpk_test_gaussian(2, m, Ss[0]);
  size_t n[] = {60, 50};
  double lo[] = {-9, -9}, hi[] = {9, 8};
  fpk_grid G = fpk_test_grid(2, n, lo, hi);
  double *q = malloc(G.size * sizeof *q);
  assert_int_equal(fpk_gaussian_cell_probs(&g, &G, q, &err), FPK_SUCCESS);
  double sum = 0.0;
  for (size_t c = 0; c < G.size; c++) sum += q[c];
  double out = fpk_gaussian_mass_outside(&g, &G);
  assert_true(out < 1e-15);
  assert_close_abs(sum, 1.0 - out, 1e-13);
  free(q);
  /* (iii) cell average vs point value: midpoint error (h²/24) Σ ∂²p, order 2. */
  double hs[3], es[3];
  for (size_t r = 0; r < 3; r++) {
    size_t nn[] = {(size_t)48 << r, (size_t)40 << r};
    double l[] = {-6, -6}, h[] = {6, 6};
    fpk_grid Gr = fpk_test_grid(2, nn, l, h);
    double *qr = malloc(Gr.size * sizeof *qr), *pr = malloc(Gr.size * sizeof *pr);
    assert_int_equal(fpk_gaussian_cell_probs(&g, &Gr, qr, &err), FPK_SUCCESS);
    assert_int_equal(fpk_gaussian_density_grid(&g, &Gr, pr, &err), FPK_SUCCESS);
    es[r] = 0.0;
    for (size_t c = 0; c < Gr.size; c++) es[r] = fmax(es[r], fabs(qr[c] / Gr.cell_volume - pr[c]));
    hs[r] = Gr.h[0];
    free(qr);
    free(pr);
  }
  double order = fpk_test_fit_order(3, hs, es);
  print_message("cell probs 2D correlated: max abs err vs reference %.2e; |Σq - 1| %.2e; "
                "|q/V - p| %.3e %.3e %.3e, order %.3f\n", worst, fabs(sum - 1), es[0], es[1],
                es[2], order);
  assert_in_range_d(order, 1.95, 2.05);
}

/* 3D: a Gaussian correlated in (x, y) and independent in z has cell probabilities
 * P2D(x, y cell) · P1D(z cell); the 3D quadrature path must reproduce that product. */
static void test_cell_probs_3d(void **state) {
  (void)state;
  const double m3[] = {0.3, -0.5, 0.1};
  const double S3[] = {1.0, 0.5, 0.0, 0.5, 0.8, 0.0, 0.0, 0.0, 0.6};
  const double m2[] = {0.3, -0.5}, S2[] = {1.0, 0.5, 0.5, 0.8}, mz = 0.1, vz = 0.6;
  size_t n3[] = {12, 10, 9};
  double lo3[] = {-4, -4, -3}, hi3[] = {4, 3, 3};
  fpk_grid G3 = fpk_test_grid(3, n3, lo3, hi3), G2 = fpk_test_grid(2, n3, lo3, hi3);
  fpk_grid G1 = fpk_test_grid(1, &n3[2], &lo3[2], &hi3[2]);
  fpk_gaussian g3 = fpk_test_gaussian(3, m3, S3), g2 = fpk_test_gaussian(2, m2, S2), g1 = fpk_test_gaussian(1, &mz, &vz);
  double *q3 = malloc(G3.size * sizeof *q3), *q2 = malloc(G2.size * sizeof *q2), q1[9];
  fpk_error err = {0};
  assert_int_equal(fpk_gaussian_cell_probs(&g3, &G3, q3, &err), FPK_SUCCESS);
  assert_int_equal(fpk_gaussian_cell_probs(&g2, &G2, q2, &err), FPK_SUCCESS);
  assert_int_equal(fpk_gaussian_cell_probs(&g1, &G1, q1, &err), FPK_SUCCESS);
  double worst = 0.0;
  for (size_t k = 0; k < n3[2]; k++)
    for (size_t c = 0; c < G2.size; c++) {
      double e = q2[c] * q1[k];
      assert_close_abs(q3[c + G2.size * k], e, 1e-14);
      worst = fmax(worst, fabs(q3[c + G2.size * k] - e));
    }
  print_message("cell probs 3D vs 2D x 1D product: max abs diff %.2e\n", worst);
  free(q3);
  free(q2);
}

/* KL: 1D formula ½[v0/v1 - 1 - ln(v0/v1) + (m0 - m1)²/v1]; 3D diagonal = sum of 1D;
 * 2D against the explicit 2×2 formula; KL(g‖g) = 0. */
static double kl_1d(double m0, double v0, double m1, double v1) {
  return 0.5 * (v0 / v1 - 1.0 - log(v0 / v1) + (m0 - m1) * (m0 - m1) / v1);
}

static void test_gaussian_kl(void **state) {
  (void)state;
  const double m0 = 0.3, v0 = 0.5, m1 = -0.4, v1 = 2.0;
  fpk_gaussian a = fpk_test_gaussian(1, &m0, &v0), b = fpk_test_gaussian(1, &m1, &v1);
  assert_close_rel(fpk_gaussian_kl(&a, &b), kl_1d(m0, v0, m1, v1), 1e-14);
  assert_close_rel(fpk_gaussian_kl(&b, &a), kl_1d(m1, v1, m0, v0), 1e-14);
  assert_close_abs(fpk_gaussian_kl(&a, &a), 0.0, 1e-16);
  /* OU relaxation (closed-forms.md): KL(p_t ‖ π) with v∞ = σ²/(2θ). */
  const double th = 1.0, sg = 1.0, vinf = sg * sg / (2 * th), zero = 0.0;
  fpk_linear_sde s = make_ou(1, &th, &zero, &sg);
  fpk_gaussian pi = fpk_test_gaussian(1, &zero, &vinf), pt;
  fpk_error err = {0};
  assert_int_equal(fpk_exact_linear_law(&s, &a, 0.7, &pt, &err), FPK_SUCCESS);
  double r = pt.cov[0] / vinf;
  assert_close_rel(fpk_gaussian_kl(&pt, &pi),
                   0.5 * (r - 1 - log(r) + pt.mean[0] * pt.mean[0] / vinf), 1e-13);
  /* 3D diagonal. */
  const double M0[] = {0.1, 0.2, 0.3}, M1[] = {-0.5, 0.7, 0.0};
  const double S0[] = {0.4, 0, 0, 0, 1.3, 0, 0, 0, 0.9}, S1[] = {1.1, 0, 0, 0, 0.6, 0, 0, 0, 2.0};
  fpk_gaussian a3 = fpk_test_gaussian(3, M0, S0), b3 = fpk_test_gaussian(3, M1, S1);
  double e3 = 0.0;
  for (size_t i = 0; i < 3; i++) e3 += kl_1d(M0[i], S0[i * 4], M1[i], S1[i * 4]);
  assert_close_rel(fpk_gaussian_kl(&a3, &b3), e3, 1e-14);
  /* 2D correlated. */
  const double P0[] = {1.0, 0.3, 0.3, 0.5}, P1[] = {2.0, -0.4, -0.4, 1.0};
  const double n0[] = {0.2, -0.1}, n1[] = {-0.3, 0.4};
  fpk_gaussian a2 = fpk_test_gaussian(2, n0, P0), b2 = fpk_test_gaussian(2, n1, P1);
  double d1 = P1[0] * P1[3] - P1[1] * P1[2], d0 = P0[0] * P0[3] - P0[1] * P0[2];
  double I1[] = {P1[3] / d1, -P1[1] / d1, -P1[2] / d1, P1[0] / d1};
  double tr = I1[0] * P0[0] + I1[1] * P0[2] + I1[2] * P0[1] + I1[3] * P0[3];
  double dm[] = {n1[0] - n0[0], n1[1] - n0[1]};
  double maha = dm[0] * (I1[0] * dm[0] + I1[1] * dm[1]) + dm[1] * (I1[2] * dm[0] + I1[3] * dm[1]);
  double e2 = 0.5 * (tr + maha - 2 + log(d1 / d0));
  assert_close_rel(fpk_gaussian_kl(&a2, &b2), e2, 1e-14);
  print_message("KL 2D: %.17g (expected %.17g)\n", fpk_gaussian_kl(&a2, &b2), e2);
}

/* fpk_exact_stationary_cells: the closed form it picks is the one computed directly (bitwise), the
 * density has unit mass on the box, and models without one are FPK_EUNSUP with a reason. */
static void test_stationary_cells(void **state) {
  (void)state;
  fpk_error err = {0};
  const size_t n = 61;
  const double lo = -3.0, hi = 3.0;
  fpk_grid g = fpk_test_grid(1, &n, &lo, &hi);
  double p[61], q[61];
  const char *what = NULL;
  /* OU: N(μ, σ²/(2A)) restricted to the box */
  fpk_model *ou = fpk_model_ou_alloc(1, (double[]){2.0}, (double[]){0.5}, (double[]){1.0}, &err);
  assert_non_null(ou);
  assert_int_equal(fpk_exact_stationary_cells(ou, &g, p, &what, &err), FPK_SUCCESS);
  assert_non_null(strstr(what, "Lyapunov"));
  fpk_gaussian law = {.dim = 1, .mean = {0.5}, .cov = {0.25}};
  assert_int_equal(fpk_gaussian_cell_probs(&law, &g, q, &err), FPK_SUCCESS);
  double sum = 0.0, mass = 0.0;
  for (size_t i = 0; i < n; i++) sum += q[i];
  for (size_t i = 0; i < n; i++) q[i] /= sum * g.cell_volume, mass += p[i] * g.cell_volume;
  assert_memory_equal(p, q, sizeof p);
  assert_close_abs(mass, 1.0, 1e-14);
  fpk_model_free(ou);
  /* an unstable OU has none */
  fpk_model *up = fpk_model_ou_alloc(1, (double[]){-1.0}, (double[]){0.0}, (double[]){1.0}, &err);
  assert_non_null(up);
  assert_int_equal(fpk_exact_stationary_cells(up, &g, p, NULL, &err), FPK_EUNSUP);
  assert_non_null(strstr(err.msg, "no closed-form stationary density"));
  fpk_model_free(up);
  /* double well: the Gibbs density with the model's β */
  fpk_langevin_params lp = {.beta = 2.0, .amplitude = 1.0, .period = 1.0};
  fpk_model *dw = fpk_model_langevin_alloc("double-well", 1, &lp, &err);
  assert_non_null(dw);
  assert_int_equal(fpk_exact_stationary_cells(dw, &g, p, &what, &err), FPK_SUCCESS);
  assert_non_null(strstr(what, "Gibbs"));
  assert_int_equal(fpk_exact_gibbs_cells(dw, 2.0, &g, q, NULL, &err), FPK_SUCCESS);
  assert_memory_equal(p, q, sizeof p);
  fpk_model_free(dw);
  /* tilted, on a reflecting box: none (the flux is not zero) */
  lp.tilt[0] = 0.5;
  fpk_model *tilted = fpk_model_langevin_alloc("double-well", 1, &lp, &err);
  assert_non_null(tilted);
  assert_int_equal(fpk_exact_stationary_cells(tilted, &g, p, NULL, &err), FPK_EUNSUP);
  fpk_model_free(tilted);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ou_1d_closed_form),
      cmocka_unit_test(test_linear_t0_and_alias),
      cmocka_unit_test(test_brownian_drift),
      cmocka_unit_test(test_ou_2d_nonsymmetric),
      cmocka_unit_test(test_linear_law_concurrent),
      cmocka_unit_test(test_lyapunov),
      cmocka_unit_test(test_lyapunov_rejects_unstable),
      cmocka_unit_test(test_linear_invalid_input),
      cmocka_unit_test(test_em_1d_closed_form),
      cmocka_unit_test(test_em_multi_interval),
      cmocka_unit_test(test_em_converges_to_exact),
      cmocka_unit_test(test_density_grid),
      cmocka_unit_test(test_gaussian_invalid),
      cmocka_unit_test(test_cell_probs_1d),
      cmocka_unit_test(test_cell_probs_diagonal),
      cmocka_unit_test(test_cell_probs_correlated),
      cmocka_unit_test(test_cell_probs_3d),
      cmocka_unit_test(test_gaussian_kl),
      cmocka_unit_test(test_stationary_cells),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
