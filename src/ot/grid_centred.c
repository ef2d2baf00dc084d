/* Centred products for the grid solver at large ε (ot_internal.h, "centred representation").
 *
 * On one grid with the cost |x − y|², the split
 *   α_i = |x_i − m_b|²,  β_j = |y_j − m_a|² − |m_a − m_b|²,  C̃_ij = −2 x̃_i·ỹ_j,
 * (x̃ = x − m_a, ỹ = y − m_b, m_a and m_b the means of a and b) is an identity,
 * C_ij = C̃_ij + α_i + β_j, for any m_a, m_b; with the means, Σ_j b_j C̃_ij = −2 x̃_i·Σ_j b_j ỹ_j = 0
 * (and likewise over i), so the centred potentials are O(|C̃|²/ε) and the half-step sum is
 *   T_i = Σ_j b_j expm1(z_ij) = ⟨b, ℓ⟩ + P_i,  P_i = Σ_j b_j ψ(z_ij),  z_ij = ℓ_j + t_ij,
 * ℓ = g̃/ε, t_ij = 2x̃_i·ỹ_j/ε = Σ_a t_a(i_a, j_a) (the first-order term Σ_j b_j t_ij taken as its
 * exact value 0). P is a sum over N² pairs; it is evaluated through the separable structure of
 * e^t = Π_a e^{t_a}. With s_a = expm1(t_a) and ψ_a = ψ(t_a) (per-axis n_a × n_a matrices),
 *   e^t − 1 − Σ_a t_a = R = Σ_a ψ_a + Σ_{|S| >= 2} Π_{a∈S} s_a         (expand Π_a (1 + s_a)),
 *   ψ(ℓ + t) = ψ(ℓ) + expm1(ℓ) Σ_a t_a + e^ℓ R                      (expand e^ℓ e^t),
 * so
 *   P_i = Σ_j w_j ψ(ℓ_j) + Σ_a (2 x̃_ia/ε) Σ_j w_j expm1(ℓ_j) ỹ_ja + Σ_S (K_S v)_i,  v = w e^ℓ,
 * where K_S applies ψ_a (|S| = 1) or s_a (|S| >= 2) along the axes a ∈ S and sums along the
 * others: one product per nonempty subset of axes (1, 3, 7 in 1D, 2D, 3D), the one over all axes
 * costing N Σ_a n_a multiply-adds. Every term is of second order in (ℓ, t) or higher, so its
 * rounding is relative to the size of P, not to 1: ψ_a >= 0 and the products of s_a's carry
 * absolute errors below γ_{n_a} times their own magnitudes, which are those of P's terms. While
 * every |t_a| <= ρ_ε <= 1 (ot_centred_applies) the separate terms exceed P by at most a factor
 * e^{dρ} and nothing cancels beyond that.
 *
 * When the matrices would take more than CENTRED_MAX_BYTES (a 1D grid of over ~4000 cells),
 * P_i is summed pair by pair instead, Σ_j w_j ψ(ℓ_j + t_ij): O(N²) evaluations of ψ.
 */
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ot/ot_internal.h"

#define CENTRED_MAX_BYTES ((size_t)256 << 20) /* per-axis matrices, both kinds, all axes */

struct ot_centred {
  fpk_grid g;
  size_t d, n[3], N;
  const double *a, *b;        /* normalised weights (the grid solver's) */
  double ma[3], mb[3];        /* means */
  double *X[3], *Y[3];        /* per axis: cell centre − m_a, − m_b */
  double covA[9], covB[9];    /* Σ a x̃ x̃ᵀ, Σ b ỹ ỹᵀ */
  double *alpha, *beta;       /* N each */
  double shift, scale;
  int matrices;               /* per-axis matrices fit */
  double *Mpsi[3], *Ms[3];    /* n_a × n_a, [x-side i][y-side j]: ψ(t), expm1(t) */
  double eps;                 /* of the matrices (0: none) */
  double *v, *P, *R, *R2, *ell, *w; /* N each */
};

void ot_centred_free(ot_centred *c) {
  if (!c) return;
  for (size_t a = 0; a < 3; a++) {
    free(c->X[a]);
    free(c->Y[a]);
    free(c->Mpsi[a]);
    free(c->Ms[a]);
  }
  free(c->alpha);
  free(c->beta);
  free(c->v);
  free(c->P);
  free(c->R);
  free(c->R2);
  free(c->ell);
  free(c->w);
  free(c);
}

ot_centred *ot_centred_alloc(const fpk_grid *g, fpk_error *err) {
  ot_centred *c = calloc(1, sizeof *c);
  if (!c) goto nomem;
  c->g = *g;
  c->d = g->dim;
  c->N = g->size;
  size_t bytes = 0;
  for (size_t a = 0; a < 3; a++) {
    c->n[a] = a < c->d ? g->n[a] : 1;
    if (a < c->d) bytes += 2 * c->n[a] * c->n[a] * sizeof(double);
  }
  c->matrices = bytes <= CENTRED_MAX_BYTES;
  const size_t N = c->N;
  for (size_t a = 0; a < c->d; a++) {
    c->X[a] = malloc(c->n[a] * sizeof(double));
    c->Y[a] = malloc(c->n[a] * sizeof(double));
    if (!c->X[a] || !c->Y[a]) goto nomem;
  }
  c->alpha = malloc(N * sizeof(double));
  c->beta = malloc(N * sizeof(double));
  if (!c->alpha || !c->beta) goto nomem;
  return c; /* the work buffers come with the first ot_centred_set_eps */
nomem:
  ot_centred_free(c);
  fpk_error_set(err, FPK_ENOMEM, "ot: out of memory for the centred products (%zu cells)",
                g->size);
  return NULL;
}

/* Index of flat cell k along axis a. */
static inline size_t axis_index(const ot_centred *c, size_t k, size_t a) {
  return a == 0 ? k % c->n[0] : a == 1 ? k / c->n[0] % c->n[1] : k / (c->n[0] * c->n[1]);
}

void ot_centred_setup(ot_centred *c, const double *a, const double *b) {
  const size_t N = c->N, d = c->d;
  c->a = a;
  c->b = b;
  c->eps = 0; /* the matrices depend on the means */
  for (size_t ax = 0; ax < d; ax++) {
    double sa = 0, sb = 0;
    for (size_t k = 0; k < N; k++) {
      const double x = fpk_grid_center(&c->g, ax, axis_index(c, k, ax));
      sa += a[k] * x;
      sb += b[k] * x;
    }
    c->ma[ax] = sa;
    c->mb[ax] = sb;
  }
  double dm2 = 0, scale = 0;
  for (size_t ax = 0; ax < d; ax++) {
    double xm = 0, ym = 0;
    for (size_t k = 0; k < c->n[ax]; k++) {
      const double x = fpk_grid_center(&c->g, ax, k);
      c->X[ax][k] = x - c->ma[ax];
      c->Y[ax][k] = x - c->mb[ax];
      xm = fmax(xm, fabs(c->X[ax][k]));
      ym = fmax(ym, fabs(c->Y[ax][k]));
    }
    scale += 2 * xm * ym;
    const double dd = c->ma[ax] - c->mb[ax];
    dm2 += dd * dd;
  }
  c->scale = scale;
  memset(c->covA, 0, sizeof c->covA);
  memset(c->covB, 0, sizeof c->covB);
  double shift = 0;
  for (size_t k = 0; k < N; k++) {
    double xa[3], yb[3], al = 0, be = -dm2;
    for (size_t ax = 0; ax < d; ax++) {
      const size_t i = axis_index(c, k, ax);
      xa[ax] = c->X[ax][i];
      yb[ax] = c->Y[ax][i];
      al += yb[ax] * yb[ax]; /* |x_k − m_b|² */
      be += xa[ax] * xa[ax]; /* |y_k − m_a|² − |m_a − m_b|² */
    }
    c->alpha[k] = al;
    c->beta[k] = be;
    shift += a[k] * al + b[k] * be;
    for (size_t p = 0; p < d; p++)
      for (size_t q = 0; q < d; q++) {
        c->covA[p * d + q] += a[k] * xa[p] * xa[q];
        c->covB[p * d + q] += b[k] * yb[p] * yb[q];
      }
  }
  c->shift = shift;
}

double ot_centred_shift(const ot_centred *c) { return c->shift; }
double ot_centred_scale(const ot_centred *c) { return c->scale; }
const double *ot_centred_alpha(const ot_centred *c) { return c->alpha; }
const double *ot_centred_beta(const ot_centred *c) { return c->beta; }

int ot_centred_applies(const ot_centred *c, double eps) { return c->scale <= eps; }

int ot_centred_set_eps(ot_centred *c, double eps, fpk_error *err) {
  if (c->eps == eps) return FPK_SUCCESS;
  double **buf[] = {&c->v, &c->P, &c->R, &c->R2, &c->ell, &c->w};
  for (size_t k = 0; k < sizeof buf / sizeof buf[0]; k++)
    if (!*buf[k] && !(*buf[k] = malloc(c->N * sizeof(double))))
      return fpk_error_set(err, FPK_ENOMEM, "ot: out of memory for the centred products");
  if (c->matrices) {
    for (size_t a = 0; a < c->d; a++) {
      const size_t n = c->n[a];
      if (!c->Mpsi[a]) c->Mpsi[a] = malloc(n * n * sizeof(double));
      if (!c->Ms[a]) c->Ms[a] = malloc(n * n * sizeof(double));
      if (!c->Mpsi[a] || !c->Ms[a])
        return fpk_error_set(err, FPK_ENOMEM, "ot: out of memory for the centred products");
      for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
          const double t = 2 * c->X[a][i] * c->Y[a][j] / eps;
          c->Mpsi[a][i * n + j] = ot_psi(t);
          c->Ms[a][i * n + j] = expm1(t);
        }
    }
  }
  c->eps = eps;
  return FPK_SUCCESS;
}

/* out = M applied along axis `ax` of the array `in` with dimensions r[0..2] (axis 0 fastest):
 * out[.., k, ..] = Σ_l M[k][l] in[.., l, ..] (tr = 0) or Σ_l M[l][k] in[.., l, ..] (tr = 1). Every
 * output is summed by one thread in a fixed order. */
static void apply_axis(const double *M, int tr, const size_t *r, size_t ax, const double *in,
                       double *out) {
  const size_t na = r[ax];
  size_t inner = 1, outer = 1;
  for (size_t b = 0; b < ax; b++) inner *= r[b];
  for (size_t b = ax + 1; b < 3; b++) outer *= r[b];
  const int par = inner * na * outer * na >= OT_PARALLEL_MIN;
  if (inner == 1) {
#pragma omp parallel for schedule(static) if (par)
    for (size_t o = 0; o < outer; o++) {
      const double *x = in + o * na;
      double *y = out + o * na;
      if (!tr) {
        for (size_t k = 0; k < na; k++) {
          const double *Mk = M + k * na;
          double s = 0;
          for (size_t l = 0; l < na; l++) s += Mk[l] * x[l];
          y[k] = s;
        }
      } else {
        for (size_t k = 0; k < na; k++) y[k] = 0;
        for (size_t l = 0; l < na; l++) {
          const double xl = x[l], *Ml = M + l * na;
          for (size_t k = 0; k < na; k++) y[k] += xl * Ml[k];
        }
      }
    }
  } else {
#pragma omp parallel for collapse(2) schedule(static) if (par)
    for (size_t o = 0; o < outer; o++)
      for (size_t k = 0; k < na; k++) {
        double *y = out + (o * na + k) * inner;
        for (size_t t = 0; t < inner; t++) y[t] = 0;
        for (size_t l = 0; l < na; l++) {
          const double m = tr ? M[l * na + k] : M[k * na + l];
          const double *x = in + (o * na + l) * inner;
          for (size_t t = 0; t < inner; t++) y[t] += m * x[t];
        }
      }
  }
}

/* P += K_S v for the subset `mask` of axes (see the file comment). */
static void add_term(ot_centred *c, int dir, unsigned mask, const double *v, double *P) {
  const size_t N = c->N, d = c->d;
  const int single = mask == 1u || mask == 2u || mask == 4u;
  size_t r[3] = {1, 1, 1}, rs[3] = {0, 0, 0}, Nr = 1;
  for (size_t a = 0; a < d; a++)
    if (mask >> a & 1u) {
      rs[a] = Nr;
      r[a] = c->n[a];
      Nr *= c->n[a];
    }
  double *src = c->R, *dst = c->R2;
  if (Nr == N) {
    memcpy(src, v, N * sizeof *v);
  } else { /* sum over the axes outside S */
    memset(src, 0, Nr * sizeof *src);
    for (size_t k = 0; k < N; k++) {
      size_t ri = 0;
      for (size_t a = 0; a < d; a++) ri += rs[a] * axis_index(c, k, a);
      src[ri] += v[k];
    }
  }
  for (size_t a = 0; a < d; a++)
    if (mask >> a & 1u) {
      apply_axis(single ? c->Mpsi[a] : c->Ms[a], dir, r, a, src, dst);
      double *t = src;
      src = dst;
      dst = t;
    }
  if (Nr == N) {
    for (size_t k = 0; k < N; k++) P[k] += src[k];
  } else {
    for (size_t k = 0; k < N; k++) {
      size_t ri = 0;
      for (size_t a = 0; a < d; a++) ri += rs[a] * axis_index(c, k, a);
      P[k] += src[ri];
    }
  }
}

/* P_i = Σ_j w_j ψ(ℓ_j + t_ij) for every output i; dir 0: i on the source side (t_ij =
 * 2x̃_i·ỹ_j/ε), dir 1: i on the target side (2ỹ_i·x̃_j/ε). w may have either sign; w_j = 0 drops
 * out (whatever ℓ_j). */
static void products(ot_centred *c, int dir, const double *w, const double *ell, double *P) {
  const size_t N = c->N, d = c->d;
  double *const *U = dir ? c->Y : c->X, *const *V = dir ? c->X : c->Y;
  const double two = 2 / c->eps;
  if (!c->matrices) { /* pair by pair */
#pragma omp parallel for schedule(static) if (N >= 128)
    for (size_t i = 0; i < N; i++) {
      double s = 0;
      for (size_t j = 0; j < N; j++) {
        if (w[j] == 0) continue;
        double t = 0;
        for (size_t a = 0; a < d; a++) t += U[a][axis_index(c, i, a)] * V[a][axis_index(c, j, a)];
        s += w[j] * ot_psi(ell[j] + two * t);
      }
      P[i] = s;
    }
    return;
  }
  double s0 = 0, mom[3] = {0, 0, 0};
  for (size_t j = 0; j < N; j++) {
    if (w[j] == 0) {
      c->v[j] = 0;
      continue;
    }
    const double em = expm1(ell[j]);
    s0 += w[j] * ot_psi(ell[j]);
    for (size_t a = 0; a < d; a++) mom[a] += w[j] * em * V[a][axis_index(c, j, a)];
    c->v[j] = w[j] + w[j] * em;
  }
  for (size_t i = 0; i < N; i++) {
    double s = s0;
    for (size_t a = 0; a < d; a++) s += two * U[a][axis_index(c, i, a)] * mom[a];
    P[i] = s;
  }
  for (unsigned mask = 1; mask < (1u << d); mask++) add_term(c, dir, mask, c->v, P);
}

int ot_centred_half(ot_centred *c, int dir, const double *pot, double *out) {
  const size_t N = c->N;
  const double *w = dir ? c->a : c->b, inv = 1 / c->eps;
  double first = 0;
  for (size_t j = 0; j < N; j++) {
    c->ell[j] = pot[j] * inv;
    if (w[j] > 0) first += w[j] * c->ell[j];
  }
  products(c, dir, w, c->ell, c->P);
  for (size_t i = 0; i < N; i++) out[i] = log1p(first + c->P[i]);
  return FPK_SUCCESS;
}

/* E_π[x̃_a ỹ_q] = Σ_i a_i x̃_ia M_iq, M_iq = Σ_j b_j ỹ_jq expm1(φ_i + z_ij), φ = f̃/ε: with
 * Σ_j b_j ỹ_jq = 0, M_iq = e^{φ_i} Σ_j w_j expm1(z_ij) (w = b ỹ_q), whose first-order part is
 * Σ_j w_j ℓ_j + (2/ε) Σ_a x̃_ia Cov_b[a][q] and whose rest is products(w). */
int ot_centred_cross(ot_centred *c, const double *ft, const double *gt, double *exy) {
  const size_t N = c->N, d = c->d;
  const double inv = 1 / c->eps;
  for (size_t j = 0; j < N; j++) c->ell[j] = gt[j] * inv;
  for (size_t q = 0; q < d; q++) {
    double first = 0;
    for (size_t j = 0; j < N; j++) {
      c->w[j] = c->b[j] > 0 ? c->b[j] * c->Y[q][axis_index(c, j, q)] : 0;
      if (c->w[j] != 0) first += c->w[j] * c->ell[j];
    }
    products(c, 0, c->w, c->ell, c->P);
    double acc[3] = {0, 0, 0};
    for (size_t i = 0; i < N; i++) {
      if (!(c->a[i] > 0)) continue;
      double s = first + c->P[i];
      for (size_t a = 0; a < d; a++)
        s += 2 * inv * c->X[a][axis_index(c, i, a)] * c->covB[a * d + q];
      const double Mi = exp(ft[i] * inv) * s;
      for (size_t a = 0; a < d; a++) acc[a] += c->a[i] * c->X[a][axis_index(c, i, a)] * Mi;
    }
    for (size_t a = 0; a < d; a++) exy[a * d + q] = acc[a];
  }
  return FPK_SUCCESS;
}
