/* The Fourier spectral Fokker–Planck solver object and its time steppers (fpkit/spectral.h).
 *
 * Semi-discretely, each Fourier coefficient obeys dû/dt = λ û + 𝒩̂(u, t), λ = −kᵀD̄k ≤ 0
 * (spectral_op.c; D̄ the diffusion matrix where it is constant, full or degenerate). For a step
 * h from t, with z = hλ:
 *
 * ETDRK4 (Cox & Matthews 2002, eq. (26)–(29)):
 *   a = e^{z/2} û + Q 𝒩(û, t)            Q  = h (e^{z/2} − 1) / z
 *   b = e^{z/2} û + Q 𝒩(a, t + h/2)
 *   c = e^{z/2} a + Q (2𝒩(b, t + h/2) − 𝒩(û, t))
 *   û' = e^z û + f1 𝒩(û) + 2 f2 (𝒩(a) + 𝒩(b)) + f3 𝒩(c, t + h)
 *   f1 = h (−4 − z + e^z (4 − 3z + z²)) / z³,  f2 = h (2 + z + e^z (z − 2)) / z³,
 *   f3 = h (−4 − 3z − z² + e^z (4 − z)) / z³.
 * The coefficients lose every digit to cancellation as z → 0 when evaluated as written; Kassam &
 * Trefethen (SIAM J. Sci. Comput. 26 (2005) 1214, §2 and their kursiv.m) evaluate each as the
 * mean of the same expression over a circle of radius 1 centred at z (Cauchy's integral formula;
 * the trapezoidal rule converges geometrically), using M points on the upper half circle and the
 * real part since z is real. The result is checked here against an independent evaluation —
 * φ-function series for |z| < 1, the recurrence φ_{k+1} = (φ_k − 1/k!)/z otherwise — and alloc
 * fails if they disagree: the detection the contour size is chosen by.
 *
 * SBDF2 (Ascher, Ruuth & Wetton 1995, the "SBDF" scheme of order 2):
 *   (3û' − 4û + û⁻)/(2h) = λ û' + 2𝒩(û) − 𝒩(û⁻),
 * started, and restarted whenever the step size changes, by IMEX Euler (û' − û)/h = λû' + 𝒩(û).
 *
 * Checkpoints (fpkit/spectral.h): an optional poll before every step stops an evolve at a step
 * boundary with its interval kept; the saved state is û with the step position, ETDRK4's
 * coefficient step and SBDF2's history, since both are reused across steps equal to round-off.
 */
#include "fpkit/spectral.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fp/spectral_internal.h"
#include "fpkit/guard.h"

struct fpk_spectral;
typedef int (*step_fn)(struct fpk_spectral *s, double t, double h);

typedef struct stepper_impl {
  fpk_spectral_stepper_type pub;
  step_fn step;
  size_t nwork; /* complex work arrays of length nc */
} stepper_impl;

struct fpk_spectral {
  fpk_spectral_op op;
  const fpk_model *model;
  const stepper_impl *T;
  fpk_spectral_options opt;
  int autonomous;
  double dt, t;
  size_t steps;
  fftw_complex *uh;     /* state: r2c transform of the point values */
  fftw_complex *w[6];   /* stepper work arrays */
  fftw_complex *nrow;   /* one row of 𝒩 (ncx) per pass thread, combined while in cache */
  /* ETDRK4 coefficients for step hc, per complex index of the rows j <= ny/2 (coef_row) */
  double hc, *E, *E2, *Q, *f1, *f2, *f3;
  size_t ncoef;
  /* op.ct holds a copy of û, written by the last ETDRK4 update (the copy that starts the next
   * step, folded into the update while its rows are in cache). Set only by step_etdrk4 and valid
   * only between the steps of one evolve loop with no callback in between: anything else may use
   * ct as scratch, so fpk_spectral_evolve clears it on entry and after every callback. */
  int ct_is_u;
  /* SBDF2 history: û and 𝒩 of the previous step, valid when hist_h is the current step
   * (same_step) */
  double hist_h;
  double *values, *cells; /* outputs, computed on demand (this rank's slab over ranks) */
  double *full_values, *full_cells; /* over ranks: the whole fields, gathered on every rank */
  size_t *slab_bytes;     /* over ranks: bytes of each rank's slab of a real field */
  size_t *row_bytes;      /* over ranks: bytes of each rank's (all, tail) row sums */
  double *tail_part, *tail_mine; /* 3D: the rows' (all, tail) sums: all rows, this rank's */
  int values_ok, cells_ok;
  char warning[512];
  fpk_error err;
  fpk_density_guard guard; /* output guard; the expected mass is that of the density set */
  /* Interrupts (fpk_spectral_set_interrupt) and the evolve they left pending: [iv_t0, iv_t1] in
   * iv_n steps of iv_h, iv_i done (iv_n == 0: none). */
  fpk_interrupt_fn poll;
  void *poll_user;
  fpk_progress_fn progress; /* fpk_spectral_set_progress: observes only */
  void *progress_user;
  double iv_t0, iv_t1, iv_h;
  size_t iv_n, iv_i;
};

/* Whether the solver is distributed over ranks. */
static int distributed(const fpk_spectral *s) { return s->op.nproc > 1; }

/* ---------------------------------------------------------------------- φ-functions */

/* The four ETDRK4 coefficient functions divided by h, at z: Q/h, f1/h, f2/h, f3/h. */
typedef struct etd_coef {
  double q, f1, f2, f3;
} etd_coef;

static etd_coef etd_contour(double z, size_t npts) {
  /* Kassam & Trefethen's contour mean: points z + e^{iθ_j}, θ_j = π (j − ½)/M on the upper half
   * circle; the lower half gives the complex conjugates, so the full-circle mean is the real
   * part of the half-circle mean. */
  double q = 0, f1 = 0, f2 = 0, f3 = 0;
  for (size_t j = 1; j <= npts; j++) {
    const double th = M_PI * ((double)j - 0.5) / (double)npts;
    const double complex w = z + cexp(I * th), w3 = w * w * w, ew = cexp(w);
    q += creal((cexp(0.5 * w) - 1.0) / w);
    f1 += creal((-4.0 - w + ew * (4.0 - 3.0 * w + w * w)) / w3);
    f2 += creal((2.0 + w + ew * (w - 2.0)) / w3);
    f3 += creal((-4.0 - 3.0 * w - w * w + ew * (4.0 - w)) / w3);
  }
  const double s = 1.0 / (double)npts;
  return (etd_coef){q * s, f1 * s, f2 * s, f3 * s};
}

/* φ_1, φ_2, φ_3 at z (φ_k(z) = Σ_n z^n/(n+k)!), accurately for every z <= 0. */
static void phi123(double z, double *p1, double *p2, double *p3) {
  if (fabs(z) < 1.0) {
    /* 30 terms: the remainder is below |z|^30/30! < 4e-33 */
    double t1 = 1.0, t2 = 0.5, t3 = 1.0 / 6.0, s1 = 0, s2 = 0, s3 = 0;
    for (int n = 0; n < 30; n++) {
      s1 += t1, s2 += t2, s3 += t3;
      t1 *= z / (n + 2), t2 *= z / (n + 3), t3 *= z / (n + 4);
    }
    *p1 = s1, *p2 = s2, *p3 = s3;
  } else {
    *p1 = expm1(z) / z;
    *p2 = (*p1 - 1.0) / z;
    *p3 = (*p2 - 0.5) / z;
  }
}

/* scale: the size of the terms each coefficient is combined from, Σ |term| (see etd_prepare). */
static etd_coef etd_reference(double z, etd_coef *scale) {
  double a1, a2, a3, h1, h2, h3;
  phi123(z, &a1, &a2, &a3);
  phi123(0.5 * z, &h1, &h2, &h3);
  (void)h2, (void)h3;
  /* Q/h = ½ φ1(z/2); f1/h = φ1 − 3φ2 + 4φ3; f2/h = φ2 − 2φ3; f3/h = −φ2 + 4φ3. The f's are
   * recombined from series whose own errors are ~1e-16 relative, which the mild cancellation
   * of these combinations (at most a factor ~50 near |z| = 1) keeps far below the check's
   * tolerance — except near z ≈ −2.688, where f1 crosses zero. */
  const double b1 = fabs(a1), b2 = fabs(a2), b3 = fabs(a3);
  *scale = (etd_coef){0.5 * fabs(h1), b1 + 3.0 * b2 + 4.0 * b3, b2 + 2.0 * b3, b2 + 4.0 * b3};
  return (etd_coef){0.5 * h1, a1 - 3.0 * a2 + 4.0 * a3, a2 - 2.0 * a3, -a2 + 4.0 * a3};
}

/* Whether step h, taken at time t, is the step ref up to the round-off of fpk_time_steps: it
 * makes h = (t1 − t0)/n from output times rounded to within ε|t|, so steps meant to be equal
 * differ by up to ~2ε(|t| + h). Such steps reuse the ETDRK4 coefficients and continue the SBDF2
 * history; bitwise equality recomputed the coefficients (seconds on a 1024² grid) and restarted
 * SBDF2 with first-order IMEX Euler at nearly every output interval. */
static int same_step(double h, double ref, double t) {
  return fabs(h - ref) <= 16.0 * DBL_EPSILON * (fabs(t) + ref);
}

/* |a − b| relative to b, or to the scale of the terms b is made of where b is much smaller
 * (near a zero of b, where both evaluations only have that scale's absolute accuracy). */
static double rel_diff(double a, double b, double scale) {
  return fabs(a - b) / fmax(fmax(fabs(b), scale), 1e-300);
}

/* The ETDRK4 coefficients are functions of z = hλ, and λ = −D̄_x k_x² − D̄_y k_y² is the same for
 * the rows j and ny − j (k_y and −k_y: the same k_y² to the bit), so they are stored for the rows
 * j <= ny/2 only: the offset of row j's coefficients. A correlated D̄ (D̄_xy ≠ 0) adds
 * −2 D̄_xy k_x k_y, odd in k_y: then every row has its own (ncoef = nc). Half the bytes of the
 * six arrays (0.75 MiB of 1.5 at 256²) that every step reads (1.8 MiB per step at 256²: E^{z/2} in three stages,
 * Q in three, e^z and the f's once) and half the contour integrals at alloc; the same numbers. */
/* 3D: whether D̄ has cross terms (then every row has its own coefficients). */
static inline int cross3(const fpk_spectral_op *op) {
  return op->Dbar_off[0] != 0.0 || op->Dbar_off[1] != 0.0 || op->Dbar_off[2] != 0.0;
}

/* 3D without cross terms: λ is even in k_y and in k_z separately, so the coefficients are stored
 * for jy <= n_y/2, jz <= n_z/2 only, row (jz', jy') at (jz' (n_y/2 + 1) + jy') ncx. */
static inline size_t coef_row3(const fpk_spectral_op *op, size_t j) {
  const size_t g = fpk_spectral_op_grow(op, j); /* j is a local row */
  if (cross3(op)) return g * op->ncx;
  const size_t n1 = op->n[1], n2 = op->n[2], jy = g % n1, jz = g / n1;
  const size_t fy = jy <= n1 / 2 ? jy : n1 - jy, fz = jz <= n2 / 2 ? jz : n2 - jz;
  return (fz * (n1 / 2 + 1) + fy) * op->ncx;
}

/* The number of stored coefficients per array. */
static size_t coef_count(const fpk_spectral_op *op) {
  if (op->dim == 3) /* every global row (over ranks too: the arrays are small beside a slab) */
    return cross3(op) ? op->n[2] * op->n[1] * op->ncx
                      : (op->n[2] / 2 + 1) * (op->n[1] / 2 + 1) * op->ncx;
  return op->Dbar_xy != 0.0 ? op->nc : (op->ny / 2) * op->ncx + op->ncx;
}

/* λ of the stored coefficient k (the inverse of coef_row's folding). */
static double coef_lambda(const fpk_spectral_op *op, size_t k) {
  if (op->dim != 3) return fpk_spectral_op_lambda(op, k);
  const size_t i = k % op->ncx, r = k / op->ncx, w = cross3(op) ? op->n[1] : op->n[1] / 2 + 1;
  return fpk_spectral_op_lambda3(op, i, r % w, r / w);
}

static inline size_t coef_row(const fpk_spectral_op *op, size_t j) {
  if (op->dim == 3) return coef_row3(op, j);
  return (j <= op->ny / 2 || op->Dbar_xy != 0.0 ? j : op->ny - j) * op->ncx;
}

/* Coefficient arrays for step h. The check tolerance, 1e-10 relative, is far above the
 * contour's accuracy with 32 points (~1e-14 at worst, where a contour point passes near 0 for
 * z ≈ −1) and far below anything that would change ETDRK4's fourth-order behaviour. It is
 * relative to the size of the terms the series combines, not to the coefficient itself: f1
 * crosses zero at z ≈ −2.688, where a purely relative check failed the alloc (on a 1024² grid
 * some mode nearly always lands there once h·max|λ| > 2.7) although both evaluations agreed to
 * ~1e-16 absolutely. */
static int etd_prepare(fpk_spectral *s, double h, double t) {
  if (s->hc > 0.0 && same_step(h, s->hc, t)) return FPK_SUCCESS;
  fpk_spectral_op *op = &s->op;
  double worst = 0.0, worst_z = 0.0;
  /* λ takes few distinct values along each axis; in 1D every entry is distinct but cheap. */
  for (size_t c = 0; c < s->ncoef; c++) {
    const double z = h * coef_lambda(op, c);
    etd_coef sc;
    const etd_coef k = etd_contour(z, s->opt.contour_points), r = etd_reference(z, &sc);
    const double e = fmax(fmax(rel_diff(k.q, r.q, sc.q), rel_diff(k.f1, r.f1, sc.f1)),
                          fmax(rel_diff(k.f2, r.f2, sc.f2), rel_diff(k.f3, r.f3, sc.f3)));
    if (!(e <= worst)) worst = e, worst_z = z;
    s->E[c] = exp(z);
    s->E2[c] = exp(0.5 * z);
    s->Q[c] = h * k.q;
    s->f1[c] = h * k.f1;
    s->f2[c] = h * k.f2;
    s->f3[c] = h * k.f3;
  }
  if (!(worst <= 1e-10)) {
    s->hc = 0.0;
    return fpk_error_set(&s->err, FPK_ENUMERIC,
                         "spectral etdrk4: the phi-functions lose accuracy for dt = %g: at "
                         "h*lambda = %.6g the contour integral (%zu points) and the series "
                         "differ by %.2e relative (tolerance 1e-10); use more contour points "
                         "(default 32) or another dt",
                         h, worst_z, s->opt.contour_points, worst);
  }
  s->hc = h;
  return FPK_SUCCESS;
}

/* ---------------------------------------------------------------------- steppers */

/* 𝒩 of the field the caller has written into s->op.ct (destroyed), at time t, re-sampling the
 * model first when it depends on time (sampling does not touch ct). */
static int nonlinear_ct(fpk_spectral *s, double t, fftw_complex *out) {
  if (!s->autonomous && s->op.t_model != t) {
    int rc = fpk_spectral_op_sample(&s->op, s->model, t, &s->err);
    if (rc) return rc;
  }
  fpk_spectral_op_apply_ct(&s->op, out);
  return FPK_SUCCESS;
}

/* 𝒩(û) at time t; û is kept (the inverse transform destroys a copy of it in ct). */
static int nonlinear(fpk_spectral *s, const fftw_complex *uh, double t, fftw_complex *out) {
  memcpy(s->op.ct, uh, s->op.nc * sizeof *uh);
  return nonlinear_ct(s, t, out);
}

/* The transforms of 𝒩 for the field the caller has written into s->op.ct (destroyed), at time t,
 * re-sampling the model first when it depends on time (sampling does not touch ct). */
static int transform_ct(fpk_spectral *s, double t) {
  if (!s->autonomous && s->op.t_model != t) {
    int rc = fpk_spectral_op_sample(&s->op, s->model, t, &s->err);
    if (rc) return rc;
  }
  fpk_spectral_op_transform(&s->op, s->op.dealias);
  return FPK_SUCCESS;
}

/* ETDRK4 with each stage combined row by row as 𝒩 is formed (fpk_spectral_op_row): 𝒩(û), 𝒩(a),
 * 𝒩(b), 𝒩(c) are never written out whole and read back. The stage values a, b and c are written
 * straight into the transform's scratch array ct; a is needed again for c, where it is
 * recomputed from û and 𝒩(û) by the same expression (the same bits) instead of being stored: c
 * reads û instead of a, and the step neither writes nor keeps a sixth array; 𝒩(û) is kept for c
 * and the update, and 𝒩(a) + 𝒩(b) is
 * formed as soon as 𝒩(b) is known — the sums and products of Cox & Matthews' update in the order
 * of the unfused code. In the modes the 2/3 rule drops 𝒩 = 0, so there a stage is e^{z/2} times
 * its base and the update e^z û (the unfused code added zeros), and the 𝒩 arrays are neither
 * read nor written there. The update also writes û' into ct, the next step's c2r input (ct_is_u),
 * so a step of an evolve loop starts without a separate copy pass over û. */
static int step_etdrk4(fpk_spectral *s, double t, double h) {
  int rc = etd_prepare(s, h, t);
  if (rc) return rc;
  const size_t ncx = s->op.ncx, ny = s->op.ny;
  const int dealias = s->op.dealias;
  fftw_complex *restrict u = s->uh, *restrict Nu = s->w[0], *restrict Nab = s->w[1],
                         *restrict ct = s->op.ct;
  const double *restrict E = s->E, *restrict E2 = s->E2, *restrict Q = s->Q,
               *restrict f1 = s->f1, *restrict f2 = s->f2, *restrict f3 = s->f3;
  /* rows in parallel (each with its own row buffer): every element is computed alone, so the
   * results do not depend on the split */
  const int nt = s->op.pass_threads;
#define ROWS                                                                                     \
  _Pragma("omp parallel for schedule(static) num_threads(nt) if (nt > 1)") for (size_t j = 0;  \
                                                                                j < ny; j++)
#define ROW_SETUP                                                                                \
  fftw_complex *restrict nr = s->nrow + (size_t)omp_get_thread_num() * ncx;                      \
  const size_t o = j * ncx, oc = coef_row(&s->op, j), nk = fpk_spectral_op_row(&s->op, j, dealias, nr)
  if (!s->ct_is_u) memcpy(ct, u, s->op.nc * sizeof *u);
  s->ct_is_u = 0;
  if ((rc = transform_ct(s, t))) return rc;
  ROWS { /* a = e^{z/2} û + Q 𝒩(û) */
    ROW_SETUP;
    for (size_t i = 0; i < nk; i++) {
      const size_t c = o + i, k = oc + i;
      Nu[c] = nr[i];
      ct[c] = E2[k] * u[c] + Q[k] * nr[i];
    }
    for (size_t i = nk; i < ncx; i++) ct[o + i] = E2[oc + i] * u[o + i];
  }
  if ((rc = transform_ct(s, t + 0.5 * h))) return rc;
  ROWS { /* b = e^{z/2} û + Q 𝒩(a) */
    ROW_SETUP;
    for (size_t i = 0; i < nk; i++) {
      const size_t c = o + i, k = oc + i;
      Nab[c] = nr[i];
      ct[c] = E2[k] * u[c] + Q[k] * nr[i];
    }
    for (size_t i = nk; i < ncx; i++) ct[o + i] = E2[oc + i] * u[o + i];
  }
  if ((rc = transform_ct(s, t + 0.5 * h))) return rc;
  ROWS { /* c = e^{z/2} a + Q (2𝒩(b) − 𝒩(û)), a recomputed as in its stage (see above) */
    ROW_SETUP;
    for (size_t i = 0; i < nk; i++) {
      const size_t c = o + i, k = oc + i;
      const fftw_complex ac = E2[k] * u[c] + Q[k] * Nu[c];
      ct[c] = E2[k] * ac + Q[k] * (2.0 * nr[i] - Nu[c]);
      Nab[c] = Nab[c] + nr[i];
    }
    for (size_t i = nk; i < ncx; i++) ct[o + i] = E2[oc + i] * (E2[oc + i] * u[o + i]);
  }
  if ((rc = transform_ct(s, t + h))) return rc;
  ROWS { /* û' = e^z û + f1 𝒩(û) + 2 f2 (𝒩(a) + 𝒩(b)) + f3 𝒩(c) */
    ROW_SETUP;
    for (size_t i = 0; i < nk; i++) {
      const size_t c = o + i, k = oc + i;
      ct[c] = u[c] = E[k] * u[c] + f1[k] * Nu[c] + 2.0 * f2[k] * Nab[c] + f3[k] * nr[i];
    }
    if (s->op.truncate) /* the dropped modes dropped from û too (spectral_internal.h) */
      for (size_t i = nk; i < ncx; i++) ct[o + i] = u[o + i] = 0.0;
    else
      for (size_t i = nk; i < ncx; i++) ct[o + i] = u[o + i] = E[oc + i] * u[o + i];
  }
  s->ct_is_u = 1; /* the next step's c2r input, already written */
#undef ROWS
#undef ROW_SETUP
  return FPK_SUCCESS;
}

static int step_sbdf2(fpk_spectral *s, double t, double h) {
  const fpk_spectral_op *op = &s->op;
  const size_t ncx = op->ncx, ny = op->ny;
  fftw_complex *restrict u = s->uh, *restrict uprev = s->w[0], *restrict Nprev = s->w[1],
                         *restrict N = s->w[2];
  int rc = nonlinear(s, u, t, N);
  if (rc) return rc;
  /* λ = −D̄_x k_x² − D̄_y k_y² (− 2 D̄_xy k_x k_y), as fpk_spectral_op_lambda, by rows */
  const double *restrict k2x = op->k2[0], *restrict k1x = op->k1[0];
  const double D0 = op->Dbar[0], Dxy = op->Dbar_xy;
  const int restart = !(s->hist_h > 0.0 && same_step(h, s->hist_h, t));
  for (size_t j = 0; j < ny && op->dim == 3; j++) {
    /* 3D: λ per mode (fpk_spectral_op_lambda), the same updates */
    fftw_complex *restrict uj = u + j * ncx, *restrict pj = uprev + j * ncx;
    const fftw_complex *restrict Nj = N + j * ncx, *restrict Pj = Nprev + j * ncx;
    for (size_t i = 0; i < ncx; i++) {
      const double l = fpk_spectral_op_lambda(op, j * ncx + i);
      const fftw_complex un =
          restart ? (uj[i] + h * Nj[i]) / (1.0 - h * l)
                  : (4.0 * uj[i] - pj[i] + 2.0 * h * (2.0 * Nj[i] - Pj[i])) / (3.0 - 2.0 * h * l);
      pj[i] = uj[i];
      uj[i] = un;
    }
  }
  for (size_t j = 0; j < ny && op->dim != 3; j++) {
    const double ly = op->dim == 2 ? op->Dbar[1] * op->k2[1][j] : 0.0;
    const double cxy = Dxy != 0.0 ? 2.0 * Dxy * op->k1[1][j] : 0.0;
    fftw_complex *restrict uj = u + j * ncx, *restrict pj = uprev + j * ncx;
    const fftw_complex *restrict Nj = N + j * ncx, *restrict Pj = Nprev + j * ncx;
    if (restart) {
      /* IMEX Euler start: (1 − hλ) û' = û + h𝒩 */
      for (size_t i = 0; i < ncx; i++) {
        double l = -D0 * k2x[i] - ly;
        if (Dxy != 0.0) l -= cxy * k1x[i];
        pj[i] = uj[i];
        uj[i] = (uj[i] + h * Nj[i]) / (1.0 - h * l);
      }
    } else {
      for (size_t i = 0; i < ncx; i++) {
        double l = -D0 * k2x[i] - ly;
        if (Dxy != 0.0) l -= cxy * k1x[i];
        const fftw_complex un =
            (4.0 * uj[i] - pj[i] + 2.0 * h * (2.0 * Nj[i] - Pj[i])) / (3.0 - 2.0 * h * l);
        pj[i] = uj[i];
        uj[i] = un;
      }
    }
  }
  if (op->truncate) /* the modes the 2/3 rule drops, dropped from û too (spectral_internal.h) */
    for (size_t j = 0; j < ny; j++)
      for (size_t i = 0; i < ncx; i++)
        if (!op->keep[0][i] || (op->dim == 2 && !op->keep[1][j]) ||
            (op->dim == 3 && (!op->keep[1][fpk_spectral_op_grow(op, j) % op->n[1]] ||
                              !op->keep[2][fpk_spectral_op_grow(op, j) / op->n[1]])))
          u[j * ncx + i] = 0.0;
  /* 𝒩 of this step becomes the history: swap instead of copying. */
  s->w[1] = N, s->w[2] = Nprev;
  s->hist_h = h;
  return FPK_SUCCESS;
}

static const stepper_impl etdrk4_impl = {{"etdrk4", 4}, step_etdrk4, 2};
static const stepper_impl sbdf2_impl = {{"sbdf2", 2}, step_sbdf2, 3};

const fpk_spectral_stepper_type *fpk_spectral_etdrk4 = &etdrk4_impl.pub;
const fpk_spectral_stepper_type *fpk_spectral_sbdf2 = &sbdf2_impl.pub;
const fpk_spectral_stepper_type *const fpk_spectral_steppers[] = {&etdrk4_impl.pub,
                                                                  &sbdf2_impl.pub, NULL};

const fpk_spectral_stepper_type *fpk_spectral_stepper_lookup(const char *name) {
  if (!name) return NULL;
  for (size_t k = 0; fpk_spectral_steppers[k]; k++)
    if (strcmp(fpk_spectral_steppers[k]->name, name) == 0) return fpk_spectral_steppers[k];
  return NULL;
}

/* ---------------------------------------------------------------------- object */

void fpk_spectral_options_default(fpk_spectral_options *o) {
  o->planner = FPK_FFT_MEASURE;
  o->wisdom = NULL;
  o->dealias = 1;
  o->nthreads = 1;
  o->contour_points = 32;
  o->comm = NULL;
}

/* Wisdom: read before planning (a file that exists but cannot be read is reported and
 * ignored), and rewritten after planning under a temporary name renamed into place, so a
 * crash never leaves a truncated wisdom file. */
static int wisdom_replaceable(const char *path);

static void wisdom_load(fpk_spectral *s) {
  const char *path = s->opt.wisdom;
  if (!path || !*path) return;
  if (access(path, F_OK) != 0) return; /* first use: it will be created */
  if (!wisdom_replaceable(path))
    snprintf(s->warning, sizeof s->warning,
             "FFTW wisdom file %s could not be read: it is not an FFTW wisdom file (ignored and "
             "left as it is; plans made afresh)",
             path);
  else if (!fftw_import_wisdom_from_filename(path))
    snprintf(s->warning, sizeof s->warning,
             "FFTW wisdom file %s could not be read (ignored; plans made afresh)", path);
}

/* Whether path may be (re)written with wisdom: absent, or a regular file that FFTW wrote (its
 * text starts with "(fftw-"). Anything else, a configuration, a result, the output of this very
 * run, is never overwritten: a mistyped [spectral] wisdom key must not destroy a file. */
static int wisdom_replaceable(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return errno == ENOENT;
  if (!S_ISREG(st.st_mode)) return 0;
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  char head[6] = {0};
  const size_t n = fread(head, 1, sizeof head, f);
  fclose(f);
  return n == sizeof head && memcmp(head, "(fftw-", sizeof head) == 0;
}

static void wisdom_save(fpk_spectral *s) {
  const char *path = s->opt.wisdom;
  if (!path || !*path) return;
  if (!wisdom_replaceable(path)) {
    if (!s->warning[0])
      snprintf(s->warning, sizeof s->warning,
               "FFTW wisdom file %s not written: it exists and is not an FFTW wisdom file "
               "(left as it is)",
               path);
    return;
  }
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp) return;
  if (fftw_export_wisdom_to_filename(tmp) && rename(tmp, path) == 0) return;
  remove(tmp);
  if (!s->warning[0])
    snprintf(s->warning, sizeof s->warning, "FFTW wisdom file %s could not be written: %s",
             path, strerror(errno));
}

void fpk_spectral_free(fpk_spectral *s) {
  if (!s) return;
  fpk_spectral_op_free(&s->op);
  fftw_free(s->uh);
  for (size_t k = 0; k < 6; k++) fftw_free(s->w[k]);
  fftw_free(s->nrow);
  free(s->E), free(s->E2), free(s->Q), free(s->f1), free(s->f2), free(s->f3);
  free(s->values), free(s->cells);
  free(s->full_values), free(s->full_cells), free(s->slab_bytes), free(s->row_bytes);
  free(s->tail_part), free(s->tail_mine);
  free(s);
}

static const stepper_impl *impl_of(const fpk_spectral_stepper_type *T) {
  for (size_t k = 0; fpk_spectral_steppers[k]; k++)
    if (fpk_spectral_steppers[k] == T) return (const stepper_impl *)T;
  return NULL;
}

fpk_spectral *fpk_spectral_alloc(const fpk_grid *grid, const fpk_model *model,
                                 const fpk_spectral_stepper_type *T, double dt,
                                 const fpk_spectral_options *opt, fpk_error *err) {
  const stepper_impl *impl = T ? impl_of(T) : NULL;
  if (!impl) {
    fpk_error_set(err, FPK_EINVAL, "spectral: unknown or NULL stepper");
    return NULL;
  }
  if (!(dt > 0.0) || !isfinite(dt)) {
    fpk_error_set(err, FPK_EINVAL, "spectral: time step dt = %g, must be positive and finite", dt);
    return NULL;
  }
  fpk_spectral *s = calloc(1, sizeof *s);
  if (!s) {
    fpk_error_set(err, FPK_ENOMEM, "spectral: out of memory");
    return NULL;
  }
  if (opt)
    s->opt = *opt;
  else
    fpk_spectral_options_default(&s->opt);
  if (s->opt.contour_points < 1) s->opt.contour_points = 32;
  s->model = model;
  s->T = impl;
  s->dt = dt;
  fpk_density_guard_init(&s->guard);
  s->autonomous = model && (model->flags & FPK_MODEL_AUTONOMOUS);
  static const unsigned flags[] = {FFTW_ESTIMATE, FFTW_MEASURE, FFTW_PATIENT};
  const unsigned planner = flags[s->opt.planner <= FPK_FFT_PATIENT ? s->opt.planner : 1];
  wisdom_load(s);
  int rc = fpk_spectral_op_init_comm(&s->op, grid, model, planner, s->opt.nthreads,
                                     s->opt.dealias, s->opt.comm, &s->err);
  if (!rc) wisdom_save(s);
  const size_t nc = s->op.nc, M = s->op.M;
  if (!rc) {
    s->uh = fftw_alloc_complex(nc);
    s->nrow = fftw_alloc_complex((size_t)s->op.pass_threads * s->op.ncx);
    for (size_t k = 0; k < impl->nwork; k++) s->w[k] = fftw_alloc_complex(nc);
    s->values = malloc(M * sizeof(double));
    s->cells = fftw_alloc_real(M);
    int ok = s->uh && s->nrow && s->values && s->cells;
    if (s->op.dim == 3) {
      s->tail_part = malloc(2 * s->op.n[1] * s->op.n[2] * sizeof(double));
      s->tail_mine = malloc(2 * s->op.ny * sizeof(double));
      ok = ok && s->tail_part && s->tail_mine;
    }
    if (distributed(s)) {
      const size_t P = (size_t)s->op.nproc, plane = s->op.n[1] * s->op.nx;
      s->full_values = malloc(grid->size * sizeof(double));
      s->full_cells = malloc(grid->size * sizeof(double));
      s->slab_bytes = malloc(P * sizeof(size_t));
      s->row_bytes = malloc(P * sizeof(size_t));
      ok = ok && s->full_values && s->full_cells && s->slab_bytes && s->row_bytes;
      for (size_t r = 0; ok && r < P; r++) { /* FFTW-MPI's blocks: the last rank the rest */
        const size_t z0 = r * s->op.nz_block, nz = s->op.n[2];
        const size_t planes =
            z0 >= nz ? 0 : nz - z0 < s->op.nz_block ? nz - z0 : s->op.nz_block;
        s->slab_bytes[r] = planes * plane * sizeof(double);
        s->row_bytes[r] = planes * s->op.n[1] * 2 * sizeof(double);
      }
    }
    for (size_t k = 0; k < impl->nwork; k++) ok = ok && s->w[k];
    if (!ok) rc = fpk_error_set(&s->err, FPK_ENOMEM, "spectral: out of memory");
  }
  if (!rc) rc = fpk_spectral_op_sample(&s->op, model, 0.0, &s->err);
  if (!rc && impl == &etdrk4_impl) {
    /* after the first sampling, which fixes D̄ and so which rows share coefficients (coef_row) */
    const size_t n = s->ncoef = coef_count(&s->op);
    s->E = malloc(n * sizeof(double)), s->E2 = malloc(n * sizeof(double));
    s->Q = malloc(n * sizeof(double)), s->f1 = malloc(n * sizeof(double));
    s->f2 = malloc(n * sizeof(double)), s->f3 = malloc(n * sizeof(double));
    if (!s->E || !s->E2 || !s->Q || !s->f1 || !s->f2 || !s->f3)
      rc = fpk_error_set(&s->err, FPK_ENOMEM, "spectral: out of memory");
  }
  if (!rc && fpk_spectral_op_choose_pass_threads(&s->op))
    rc = fpk_error_set(&s->err, FPK_ENOMEM, "spectral: out of memory");
  /* Check the φ-functions for the nominal step now, so a bad dt fails before any work. */
  if (!rc && impl == &etdrk4_impl) rc = etd_prepare(s, dt, 0.0);
  if (rc) {
    fpk_error_copy(err, &s->err);
    fpk_spectral_free(s);
    return NULL;
  }
  return s;
}

int fpk_spectral_set_density(fpk_spectral *s, double t, const double *p) {
  const size_t all = s->op.grid.size; /* the whole density, on every rank over ranks */
  for (size_t m = 0; m < all; m++)
    if (!isfinite(p[m]))
      return fpk_error_set(&s->err, FPK_EINVAL, "spectral: initial density is not finite at cell %zu", m);
  /* fftw_execute_dft_r2c needs an aligned input: go through the aligned cells buffer (this
   * rank's slab over ranks) */
  memcpy(s->cells, p + s->op.z0 * s->op.n[1] * s->op.nx, s->op.M * sizeof(double));
  fpk_spectral_op_from_cells(&s->op, s->cells, s->uh);
  s->guard.mass = fpk_grid_integral(&s->op.grid, p);
  s->t = t;
  s->iv_n = 0; /* a new start: no interrupted evolve */
  s->hist_h = 0.0;
  s->values_ok = s->cells_ok = 0;
  if (!s->autonomous) return fpk_spectral_op_sample(&s->op, s->model, t, &s->err);
  return FPK_SUCCESS;
}

int fpk_spectral_set_guard(fpk_spectral *s, const fpk_density_guard *spec) {
  if (!spec || !(spec->mass_tol >= 0.0) || !(spec->negative_tol >= 0.0))
    return fpk_error_set(&s->err, FPK_EINVAL, "spectral: guard tolerances must be >= 0");
  s->guard.mass_tol = spec->mass_tol;
  s->guard.negative_tol = spec->negative_tol;
  return FPK_SUCCESS;
}

/* A yes/no of this rank made every rank's (yes if any rank says yes): over ranks, the decisions
 * that end an evolve (an interrupt, a non-finite state) must be taken by all together, or some
 * ranks would wait in a transpose for ranks that left. One process: the flag itself. */
static int agreed_flag(fpk_spectral *s, int flag) {
  if (!distributed(s)) return flag;
  uint64_t v = flag ? 1 : 0;
  fpk_error e = {0};
  if (fpk_comm_max_u64(s->op.comm, &v, 1, &e)) return 1;
  return v != 0;
}

/* The likely cause of a failed guard. An unstable step makes the solution grow geometrically,
 * so that the total variation ∫|p| soon exceeds the mass many times over (or overflows), while
 * an under-resolved but stable solution only undershoots by a fraction of its maximum: a density
 * with ∫|p| > 2 × mass (or non-finite, blown_up) is blamed on the step even where dt is within
 * the bound below. The drift is stepped explicitly: an explicit fourth-order step is stable on
 * the imaginary axis up to |λh| ≈ 2.8 (RK4's bound, which ETDRK4 shares for the non-stiff part);
 * advection by b resolved to wavenumber k_max has |λ| ≈ Σ_a k_max,a max|b_a|. SBDF2's
 * extrapolated explicit part has no such interval: on the imaginary axis it is stable only as
 * far as the implicit diffusion damps the mode, not at all along an axis without diffusion (the
 * position of a Kramers model); measured on the harmonic Kramers model (64², box ±4, β = 4):
 * SBDF2 blows up at dt = 0.005, ETDRK4 is stable at dt = 0.02 (tests/defects/noise/02). */
static int guard_cause(fpk_spectral *s, int blown_up) {
  double rate = 0.0;
  for (size_t a = 0; a < s->op.dim; a++) {
    double bmax = 0.0;
    for (size_t m = 0; m < s->op.M; m++) bmax = fmax(bmax, fabs(s->op.b[a * s->op.M + m]));
    const double kmax = M_PI / s->op.grid.h[a] * (s->op.dealias ? 2.0 / 3.0 : 1.0);
    rate += kmax * bmax;
  }
  const int sbdf = s->T == &sbdf2_impl;
  double total = INFINITY;
  if (!blown_up) {
    const double *p = fpk_spectral_density(s);
    total = 0.0;
    for (size_t i = 0; i < s->op.grid.size; i++) total += fabs(p[i]);
    total *= s->op.grid.cell_volume;
  }
  const double mass = fabs(s->guard.mass) > 0.0 ? fabs(s->guard.mass) : 1.0;
  if (rate > 0.0 && s->dt > 2.8 / rate)
    return fpk_guard_cause(&s->err,
                           "the step is too large for the explicitly treated drift: dt = %g, "
                           "stable only up to about 2.8/(k_max max|b|) = %.3g; reduce dt",
                           s->dt, 2.8 / rate);
  if (!(total <= 2.0 * mass))
    return fpk_guard_cause(&s->err,
                           "the time step is unstable: the solution grew without bound "
                           "(integral of |p| = %g, %.3g times the mass) with dt = %g; reduce "
                           "dt%s",
                           total, total / mass, s->dt,
                           sbdf ? ", or use scheme = etdrk4 (SBDF2 treats the drift by "
                                  "extrapolation, stable only where diffusion damps the mode: "
                                  "it needs far smaller steps for transport, and a Kramers "
                                  "model's position axis has no diffusion)"
                                : "");
  return fpk_guard_cause(&s->err,
                         "the density is under-resolved (spectral schemes do not preserve "
                         "positivity): refine the grid, or use method = fv");
}

int fpk_spectral_evolve(fpk_spectral *s, double t_target) {
  int rc;
  if (s->iv_n) {
    /* an interrupted evolve: continue its interval, with its steps */
    if (t_target != s->iv_t1)
      return fpk_error_set(&s->err, FPK_EINVAL,
                           "spectral: an interrupted evolve to t = %.17g is pending (at t = %g): "
                           "evolve to that time first (asked for %.17g)",
                           s->iv_t1, s->t, t_target);
  } else {
    if (t_target < s->t)
      return fpk_error_set(&s->err, FPK_EINVAL,
                           "spectral: cannot evolve backwards from t = %g to %g", s->t, t_target);
    if (t_target == s->t) return FPK_SUCCESS;
    rc = fpk_time_steps(s->t, t_target, s->dt, &s->iv_n, &s->iv_h, &s->err);
    if (rc) return fpk_error_prefix(&s->err, "spectral %s: ", s->T->pub.name);
    s->iv_t0 = s->t;
    s->iv_t1 = t_target;
    s->iv_i = 0;
  }
  const double t0 = s->iv_t0, h = s->iv_h;
  const size_t n = s->iv_n;
  s->values_ok = s->cells_ok = 0;
  s->ct_is_u = 0;
  for (size_t k = s->iv_i; k < n; k++) {
    const double t = t0 + (double)k * h;
    if (s->poll && (s->ct_is_u = 0, agreed_flag(s, s->poll(s->poll_user) != 0))) {
      /* a safe point: the state is û at t, k steps of the interval done */
      s->iv_i = k;
      s->t = t;
      return fpk_error_set(&s->err, FPK_EINTR,
                           "spectral %s: interrupted at t = %g (step %zu of %zu to t = %g)",
                           s->T->pub.name, t, k, n, s->iv_t1);
    }
    if ((rc = s->T->step(s, t, h))) {
      s->iv_n = 0;
      return rc;
    }
    s->steps++;
    /* A blow-up reaches every mode within a step or two; the mean mode is the cheap witness. */
    if (agreed_flag(s, !isfinite(creal(s->uh[0])) || !isfinite(cimag(s->uh[1 % s->op.nc])))) {
      s->iv_n = 0;
      fpk_guard_fail(&s->err, s->T->pub.name, t + h,
                     "the density became non-finite (spectral, step %zu, dt = %g)", s->steps, h);
      return guard_cause(s, 1);
    }
    if (s->progress) s->ct_is_u = 0, s->progress(s->progress_user, k + 1, n);
  }
  s->iv_n = 0;
  s->t = t_target;
  /* The output guard (fpkit/guard.h) on the cell averages that are reported. */
  char method[64];
  snprintf(method, sizeof method, "spectral %s", s->T->pub.name);
  if (fpk_guard_density(&s->op.grid, fpk_spectral_density(s), &s->guard, method, s->t, &s->err))
    return guard_cause(s, 0);
  return FPK_SUCCESS;
}

int fpk_spectral_set_progress(fpk_spectral *s, fpk_progress_fn progress, void *user) {
  if (!s) return FPK_EINVAL;
  s->progress = progress;
  s->progress_user = user;
  return FPK_SUCCESS;
}

int fpk_spectral_set_interrupt(fpk_spectral *s, fpk_interrupt_fn poll, void *user) {
  if (!s) return FPK_EINVAL;
  s->poll = poll;
  s->poll_user = user;
  return FPK_SUCCESS;
}

int fpk_spectral_get_state(const fpk_spectral *s, fpk_spectral_state *st) {
  if (!s || !st) return FPK_EINVAL;
  if (distributed(s))
    return fpk_error_set((fpk_error *)&s->err, FPK_EUNSUP,
                         "spectral: checkpoints of a solver distributed over %d ranks are not "
                         "supported (run on one process to checkpoint)",
                         s->op.nproc);
  *st = (fpk_spectral_state){.t = s->t, .steps = s->steps, .mass = s->guard.mass,
                             .nc = s->op.nc, .uh = (const double *)s->uh};
  if (s->iv_n) {
    st->t0 = s->iv_t0, st->t1 = s->iv_t1, st->h = s->iv_h;
    st->n = s->iv_n, st->i = s->iv_i;
  }
  if (s->T == &etdrk4_impl) st->hc = s->hc;
  if (s->T == &sbdf2_impl && s->hist_h > 0.0) {
    st->hist_h = s->hist_h;
    st->uprev = (const double *)s->w[0];
    st->nprev = (const double *)s->w[1];
  }
  return FPK_SUCCESS;
}

/* The first non-finite value of n doubles, or n. */
static size_t first_nonfinite(const double *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(v[i])) return i;
  return n;
}

int fpk_spectral_restore(fpk_spectral *s, const fpk_spectral_state *st) {
  if (!s) return FPK_EINVAL;
  if (distributed(s))
    return fpk_error_set(&s->err, FPK_EUNSUP,
                         "spectral: checkpoints of a solver distributed over %d ranks are not "
                         "supported (run on one process to checkpoint)",
                         s->op.nproc);
  const size_t nc = s->op.nc;
  if (!st || !st->uh) return fpk_error_set(&s->err, FPK_EINVAL, "spectral restore: no state");
  if (st->nc != nc)
    return fpk_error_set(&s->err, FPK_EINVAL,
                         "spectral restore: the state has %zu Fourier coefficients, this grid %zu",
                         st->nc, nc);
  if (!isfinite(st->t) || !isfinite(st->mass) || (double)st->steps > 1e18)
    return fpk_error_set(&s->err, FPK_EINVAL,
                         "spectral restore: time %g, mass %g or step count %zu out of range", st->t,
                         st->mass, st->steps);
  if (st->n && fpk_time_steps_position(st->t0, st->t1, s->dt, st->n, st->h, st->i, st->t,
                                        &s->err))
    return fpk_error_prefix(&s->err, "spectral restore: ");
  const int etd = s->T == &etdrk4_impl, sbdf = s->T == &sbdf2_impl;
  if (etd ? !(st->hc > 0.0 && isfinite(st->hc)) : st->hc != 0.0)
    return fpk_error_set(&s->err, FPK_EINVAL,
                         "spectral restore: coefficient step hc = %g does not fit %s", st->hc,
                         s->T->pub.name);
  const int hist = st->hist_h != 0.0;
  if (hist && (!sbdf || !(st->hist_h > 0.0 && isfinite(st->hist_h)) || !st->uprev || !st->nprev))
    return fpk_error_set(&s->err, FPK_EINVAL,
                         "spectral restore: a history (step %g) %s", st->hist_h,
                         sbdf ? "without its arrays" : "is only for sbdf2");
  size_t bad = first_nonfinite(st->uh, 2 * nc);
  if (bad == 2 * nc && hist) {
    bad = first_nonfinite(st->uprev, 2 * nc);
    if (bad == 2 * nc) bad = first_nonfinite(st->nprev, 2 * nc);
  }
  if (bad < 2 * nc)
    return fpk_error_set(&s->err, FPK_EINVAL, "spectral restore: a non-finite coefficient (%zu)",
                         bad / 2);
  if (etd && st->hc != s->hc) {
    /* the coefficients of the uninterrupted run: recomputed for exactly its step */
    s->hc = 0.0;
    int rc = etd_prepare(s, st->hc, st->t);
    if (rc) return rc;
  }
  memmove(s->uh, st->uh, nc * sizeof *s->uh);
  if (sbdf) {
    s->hist_h = hist ? st->hist_h : 0.0;
    if (hist) {
      memmove(s->w[0], st->uprev, nc * sizeof *s->uh);
      memmove(s->w[1], st->nprev, nc * sizeof *s->uh);
    }
  }
  s->t = st->t;
  s->steps = st->steps;
  s->guard.mass = st->mass;
  s->iv_n = st->n;
  s->iv_i = st->i;
  s->iv_t0 = st->n ? st->t0 : 0.0;
  s->iv_t1 = st->n ? st->t1 : 0.0;
  s->iv_h = st->n ? st->h : 0.0;
  s->values_ok = s->cells_ok = 0;
  return FPK_SUCCESS;
}

/* Wisdom carries a checksum of the planner's configuration, which FFTW's threads change: both
 * ends set the planner up for threads first, as fpk_spectral_op_init does before it plans (the
 * call is idempotent in FFTW 3.3), so that a process that exported before its first plan and one
 * that imports before its first plan agree with those that planned. */
static void planner_setup(void) {
#ifdef FPK_HAVE_FFTW_THREADS
  fftw_init_threads();
#endif
}

char *fpk_spectral_export_wisdom(void) {
  planner_setup();
  return fftw_export_wisdom_to_string();
}

int fpk_spectral_import_wisdom(const char *wisdom) {
  planner_setup();
  if (!wisdom || !fftw_import_wisdom_from_string(wisdom)) return FPK_EINVAL;
  return FPK_SUCCESS;
}

/* Over ranks: every rank's slab of a real field into the whole field, on every rank (the slabs
 * are consecutive planes: rank order is the grid's order). */
static void gather_field(fpk_spectral *s, const double *slab, double *all) {
  fpk_error e = {0};
  if (fpk_comm_allgatherv(s->op.comm, slab, all, s->slab_bytes, &e))
    for (size_t i = 0; i < s->op.grid.size; i++) all[i] = NAN; /* a failed gather is no result */
}

const double *fpk_spectral_values(fpk_spectral *s) {
  if (!s->values_ok) {
    fpk_spectral_op_to_values(&s->op, s->uh, s->values);
    if (distributed(s)) gather_field(s, s->values, s->full_values);
  }
  s->values_ok = 1;
  return distributed(s) ? s->full_values : s->values;
}

const double *fpk_spectral_density(fpk_spectral *s) {
  if (!s->cells_ok) {
    fpk_spectral_op_to_cells(&s->op, s->uh, s->cells);
    if (distributed(s)) gather_field(s, s->cells, s->full_cells);
  }
  s->cells_ok = 1;
  return distributed(s) ? s->full_cells : s->cells;
}

double fpk_spectral_time(const fpk_spectral *s) { return s->t; }
size_t fpk_spectral_steps_taken(const fpk_spectral *s) { return s->steps; }
const fpk_spectral_stepper_type *fpk_spectral_stepper(const fpk_spectral *s) { return &s->T->pub; }
const char *fpk_spectral_errmsg(const fpk_spectral *s) { return s->err.msg; }

void fpk_spectral_threads(const fpk_spectral *s, int *r2c, int *c2r, int *passes, int *timed) {
  if (r2c) *r2c = s->op.fft_threads[0];
  if (c2r) *c2r = s->op.fft_threads[1];
  if (passes) *passes = s->op.pass_threads;
  if (timed) *timed = s->op.fft_timed[0] && s->op.fft_timed[1];
}
const char *fpk_spectral_warning(const fpk_spectral *s) { return s->warning; }

double fpk_spectral_mass(const fpk_spectral *s) {
  /* û_0 = Σ_m u_m, and ∫ p = Σ_m u_m · cell volume for the trigonometric interpolant. */
  double u0 = creal(s->uh[0]); /* over ranks: rank 0 holds the k_z = 0 plane */
  if (distributed(s)) {
    fpk_error e = {0};
    if (fpk_comm_bcast(s->op.comm, &u0, sizeof u0, 0, &e)) return NAN;
  }
  return u0 * s->op.grid.cell_volume;
}

double fpk_spectral_min_density(const fpk_spectral *s) {
  const double *u = fpk_spectral_values((fpk_spectral *)s);
  double m = INFINITY;
  for (size_t i = 0; i < s->op.grid.size; i++) m = fmin(m, u[i]);
  return m;
}

/* 3D: Σ over each row first (rows in global order), then over the rows, so that the sums over
 * ranks (every rank's rows gathered) are those of one process. */
static double tail_energy3(const fpk_spectral *s) {
  const fpk_spectral_op *op = &s->op;
  const size_t n1 = op->n[1], n2 = op->n[2], rows = n1 * n2;
  const double kx = 0.9 * (double)(op->dealias ? op->nx / 3 : op->nx / 2);
  const double ky = 0.9 * (double)(op->dealias ? n1 / 3 : n1 / 2);
  const double kz = 0.9 * (double)(op->dealias ? n2 / 3 : n2 / 2);
  double *mine = s->tail_mine, *part = s->tail_part; /* (all, tail) pairs per row */
  for (size_t j = 0; j < op->ny; j++) {
    const size_t g = fpk_spectral_op_grow(op, j), jy = g % n1, jz = g / n1;
    const double mj = fabs((double)(jy <= n1 / 2 ? (long)jy : (long)jy - (long)n1));
    const double mz = fabs((double)(jz <= n2 / 2 ? (long)jz : (long)jz - (long)n2));
    double all = 0.0, tail = 0.0;
    for (size_t i = 0; i < op->ncx; i++) {
      const fftw_complex u = s->uh[j * op->ncx + i];
      const double w = (i == 0 || 2 * i == op->nx) ? 1.0 : 2.0;
      const double e = w * (creal(u) * creal(u) + cimag(u) * cimag(u));
      all += e;
      if ((double)i > kx || mj > ky || mz > kz) tail += e;
    }
    mine[2 * j] = all, mine[2 * j + 1] = tail;
  }
  if (distributed(s)) {
    fpk_error e = {0};
    if (fpk_comm_allgatherv(op->comm, mine, part, s->row_bytes, &e)) return NAN;
  } else {
    memcpy(part, mine, 2 * rows * sizeof(double));
  }
  double tail = 0.0, all = 0.0;
  for (size_t r = 0; r < rows; r++) all += part[2 * r], tail += part[2 * r + 1];
  return all > 0.0 ? tail / all : 0.0;
}

double fpk_spectral_tail_energy(const fpk_spectral *s) {
  const fpk_spectral_op *op = &s->op;
  if (op->dim == 3) return tail_energy3(s);
  const double kx = 0.9 * (double)(op->dealias ? op->nx / 3 : op->nx / 2);
  const size_t n1 = op->dim == 3 ? op->n[1] : op->ny, n2 = op->n[2];
  const double ky = 0.9 * (double)(op->dealias ? n1 / 3 : n1 / 2);
  const double kz = 0.9 * (double)(op->dealias ? n2 / 3 : n2 / 2);
  double tail = 0.0, all = 0.0;
  for (size_t j = 0; j < op->ny; j++) {
    const size_t jy = j % n1, jz = j / n1;
    const double mj = fabs((double)(jy <= n1 / 2 ? (long)jy : (long)jy - (long)n1));
    const double mz = fabs((double)(jz <= n2 / 2 ? (long)jz : (long)jz - (long)n2));
    for (size_t i = 0; i < op->ncx; i++) {
      /* r2c stores half the x-spectrum: interior columns stand for two modes */
      const double w = (i == 0 || 2 * i == op->nx) ? 1.0 : 2.0;
      const double e = w * (creal(s->uh[j * op->ncx + i]) * creal(s->uh[j * op->ncx + i]) +
                            cimag(s->uh[j * op->ncx + i]) * cimag(s->uh[j * op->ncx + i]));
      all += e;
      if ((double)i > kx || (op->dim >= 2 && mj > ky) || (op->dim == 3 && mz > kz)) tail += e;
    }
  }
  return all > 0.0 ? tail / all : 0.0;
}

double fpk_spectral_edge_density(const fpk_spectral *s) {
  const fpk_spectral_op *op = &s->op;
  const double *u = fpk_spectral_values((fpk_spectral *)s);
  double edge = 0.0, top = 0.0;
  const size_t nrows = op->dim == 3 ? op->n[1] * op->n[2] : op->ny; /* the whole field's */
  for (size_t j = 0; j < nrows; j++)
    for (size_t i = 0; i < op->nx; i++) {
      const double v = fabs(u[j * op->nx + i]);
      top = fmax(top, v);
      const size_t n1 = op->dim == 3 ? op->n[1] : op->ny, jy = j % n1, jz = j / n1;
      if (i == 0 || i == op->nx - 1 || (op->dim >= 2 && (jy == 0 || jy == n1 - 1)) ||
          (op->dim == 3 && (jz == 0 || jz == op->n[2] - 1)))
        edge = fmax(edge, v);
    }
  return top > 0.0 ? edge / top : 0.0;
}
