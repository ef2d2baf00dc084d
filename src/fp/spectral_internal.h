/* Internal interfaces of the Fourier spectral Fokker–Planck solver (src/fp/). Not installed.
 *
 *   spectral_op.c          wavenumbers, FFTW plans and buffers, the model sampled at the cell
 *                          centres, and the pseudo-spectral evaluation of the operator;
 *   spectral.c             the time-stepping solver object (ETDRK4, SBDF2) and its diagnostics;
 *   spectral_stationary.c  the stationary density and the spectral gap from the dense
 *                          collocation matrix.
 * See docs/spectral-scheme.md.
 */
#ifndef FPK_FP_SPECTRAL_INTERNAL_H
#define FPK_FP_SPECTRAL_INTERNAL_H

#include <complex.h> /* before fftw3.h: fftw_complex is then C99's double complex */
#include <fftw3.h>
#include <stddef.h>

#include "fpkit/error.h"
#include "fpkit/grid.h"
#include "fpkit/model.h"
#include "fpkit/parallel.h"
#include "fpkit/spectral.h"

/* A term of 𝒩: −∂_a(b_a u) (second = 0, Fourier multiplier −i k_a), ∂_a²((D_aa − D̄_aa) u)
 * (second = 1, multiplier −k_a²), or a mixed term 2 ∂_a∂_b((D_ab − D̄_ab) u) (second = 1,
 * multiplier −2 k_a k_b): in 2D axis = 2 is xy; in 3D axis = 3, 4, 5 are xy, xz, yz. The axis is
 * the index of the entry of D in dd (the "entries": D_xx, D_yy, D_xy in 2D; D_xx, D_yy, D_zz,
 * D_xy, D_xz, D_yz in 3D). */
typedef struct fpk_spectral_term {
  size_t axis;
  int second;
} fpk_spectral_term;

/* Terms of 𝒩 at most: a drift and a diffusion term per axis, and the mixed diffusion terms
 * (2D: 2 + 2 + 1 = 5; 3D: 3 + 3 + 3 = 9). */
#define FPK_SPECTRAL_MAX_TERMS 9
/* Entries of D the operator keeps (diagonal, then the pairs xy, xz, yz): 1, 3 or 6. */
#define FPK_SPECTRAL_MAX_ENTRIES 6

/* Real fields are [ny][nx] (x fastest, as fpk_grid); their r2c transforms are [ny][nx/2 + 1].
 * In 3D the "rows" are the lines along x of the [nz][n_y][nx] array: ny = n_y · nz rows, row
 * j = jz · n_y + jy (the r2c transform is [nz][n_y][nx/2 + 1], the same rows), so every row loop
 * of the 1D/2D code serves 3D too; n[1], n[2] decode a row into (jy, jz).
 * FFTW's transforms are unnormalised: c2r(r2c(v)) = M v. Fourier-space state in this module is
 * the r2c output itself, so a physical field is c2r(û) / M. */
typedef struct fpk_spectral_op {
  fpk_grid grid;
  size_t dim, nx, ny, M; /* M = nx * ny real values; ny: rows (n_y in 2D, n_y · n_z in 3D) */
  size_t n[3];           /* points per axis (1 beyond dim) */
  size_t Mg;             /* real values of the whole grid (M but over ranks): the 1/Mg of c2r */
  size_t ncx, nc;        /* nc = (nx/2 + 1) * ny complex values */
  /* Per-axis wavenumbers indexed by the Fourier index along that axis (i < ncx for x, j < ny
   * for y): k1 is the first-derivative multiplier with the Nyquist mode set to 0 (its derivative
   * is not representable in a real field), k2 = k² including the Nyquist mode. */
  double *k1[3], *k2[3];
  /* sinc(k h / 2) per axis: the cell average of e^{ikx} over a cell is e^{ikx_c} sinc(kh/2). */
  double *avg[3];
  unsigned char *keep[3]; /* 2/3 rule: 1 if |index| <= N/3 */
  int dealias;
  double *x;      /* cell centres, component-major: x[a*M + m] */
  double *b;      /* drift at the centres: b[a*M + m] */
  /* D_aa − D̄_aa at the centres, dd[a*M + m], and in 2D D_xy − D̄_xy at dd[2*M + m] (the
   * "axis 2" of the mixed term); in 3D the six entries D_xx, D_yy, D_zz, D_xy, D_xz, D_yz */
  double *dd;
  double Dbar[3]; /* D̄_aa, mid-range of D_aa over the grid (D = ½σσᵀ) */
  /* D̄_xy (2D): the mid-range of D_xy, limited to |D̄_xy| <= √(D̄_xx D̄_yy) so that the exact
   * part 𝓛 = ∇·D̄∇ has λ = −kᵀD̄k <= 0. Non-zero only for correlated noise: then λ is not even
   * in k_y alone (the rows j and ny − j differ) */
  double Dbar_xy;
  /* 3D: D̄_xy, D̄_xz, D̄_yz (Dbar_xy stays 0): the mid-ranges when the 3 × 3 D̄ they make is
   * positive semi-definite (always for a constant D), else 0 (the cross diffusion all in 𝒩) */
  double Dbar_off[3];
  int variable_D; /* some D_ab is not constant: the ∂_a∂_b((D_ab − D̄_ab)p) terms are needed */
  int vary[FPK_SPECTRAL_MAX_ENTRIES]; /* per entry of dd: D_ab − D̄_ab ≢ 0 (only those get a term) */
  /* With the 2/3 rule and an axis without diffusion (D_aa ≡ 0 at the first sampling: the
   * position of the Kramers equation), the modes the rule drops from 𝒩 are also dropped from the
   * solution (Orszag's truncation): there λ = 0 along that axis, so they would keep their initial
   * values for ever instead of evolving or decaying (measured: a harmonic Kramers run relaxed to
   * the Gibbs density only to 1.5e-5 L1 on 64², the frozen modes of its start). With diffusion
   * along every axis they decay like e^{−D̄k²t} and are kept, as before. */
  int truncate;
  double *D;      /* D = ½σσᵀ at the centres, fpk_model_diffusion's layout D[(a*d + b)*M + m] */
  double t_model; /* time at which b and dd were sampled */
  int sampled;
  fftw_plan r2c, c2r;
  /* threads of r2c and c2r (1 or the nthreads asked for), and whether each was timed (the
   * serial and threaded plans gave bitwise the same output) or the serial plan kept (they did
   * not) */
  int fft_threads[2], fft_timed[2]; /* r2c, c2r */
  /* the row pipeline (2D with the 2/3 rule; NULL plans otherwise): column passes along y over
   * the half spectrum, in place (inverse: every column; forward: the kept ones), by chunks of
   * FPK_SPECTRAL_COLUMN_CHUNK columns ([0]) and the rest ([1], NULL when there is none), 1D
   * transforms of blk rows, and per pass thread FPK_SPECTRAL_MAX_TERMS blocks of blk × nx reals
   * (point values and products) */
  fftw_plan col_inv[2], col_fwd[2], row_c2r, row_r2c;
  size_t blk;
  double *blkbuf;
  int pass_threads; /* OpenMP threads of the passes between the transforms (buffers are sized
                       for the nthreads of init; fpk_spectral_op_choose_pass_threads may lower it) */
  double *r;          /* real scratch (M), aligned: the point values */
  fftw_complex *ct;   /* complex scratch (nc), aligned: the c2r input */
  /* The terms of 𝒩 of the last fpk_spectral_op_transform, with per term the product with u
   * (M reals) and its r2c transform (nc complex); arrays allocated for as many terms as the
   * model has needed so far (at most 2 per axis and the mixed term). */
  size_t nterms;
  fpk_spectral_term terms[FPK_SPECTRAL_MAX_TERMS];
  double *prod[FPK_SPECTRAL_MAX_TERMS];
  fftw_complex *F[FPK_SPECTRAL_MAX_TERMS];
  double *sig;        /* noise-matrix scratch of fpk_model_diffusion (dim*m*M; NULL: diagonal) */
  /* ---- 3D: transforms that do not depend on the decomposition (fpk_spectral_op_r2c/c2r) ----
   * A 3D r2c is a 2D r2c of every (y, x) plane, then a c2c of length n_z along every z line of
   * the half spectrum: the planes by one plan (p2_r2c), each line by one plan (pz_fwd) on a
   * contiguous copy, whatever the thread count or the number of ranks — so the same bits for
   * every decomposition (FFTW's own 3D, threaded or MPI plans may be other algorithms for other
   * sizes and round differently). The lines are made contiguous by a transpose of the
   * [nz][Q] complex array (Q = n_y (n_x/2 + 1)) to [Q][nz] and back: a local copy on one
   * process, FFTW-MPI's distributed transpose (pure data movement) over ranks. With ranks the
   * real field and the spectrum are slabs of planes along z (grid axis 2, the slowest index):
   * this rank's planes z0 .. z0 + nzl − 1, rows row0 = z0 n_y .. of the global rows (M, ny,
   * nc above are this rank's), and the transposed lines q0 .. q0 + Ql − 1. */
  fftw_plan p2_r2c, p2_c2r, pz_fwd, pz_bwd;
  /* z lines FPK_SPECTRAL_LINE_BATCH at a time, kept only where the batch plan gives every line
   * bitwise the single-line plan's result (probed at plan time; NULL: one line at a time) */
  fftw_plan pzb_fwd, pzb_bwd;
  fftw_complex *lbuf; /* one process: per thread a batch of z lines gathered from the columns */
  fftw_complex *ta, *tb;   /* transpose scratch, talloc complex values each */
  size_t talloc, Q, nzl, z0, Ql, q0, row0;
  size_t nz_block;         /* planes per rank (FFTW-MPI's block; the last rank may have fewer) */
  const fpk_comm *comm;    /* NULL or one process: local transposes */
  int nproc, rank;
  void *tr_fwd, *tr_bwd;   /* FFTW-MPI transpose plans [nz][Q] -> [Q][nz] and back (fftw_plan) */
} fpk_spectral_op;

/* The global row index of local row j (3D slabs: row0 + j; 1D/2D: j). */
static inline size_t fpk_spectral_op_grow(const fpk_spectral_op *op, size_t j) {
  return op->row0 + j;
}

/* The column passes of the row pipeline run in fixed chunks of this many columns, whole chunks
 * per thread, each by the same serial plan: the arithmetic does not depend on the thread count.
 * (FFTW's own threaded plans may be other algorithms than its serial ones, and round
 * differently.) 8 columns of 16 bytes fill two 64-byte cache lines per row. */
#define FPK_SPECTRAL_COLUMN_CHUNK ((size_t)8)
/* z lines per execution of the batched line plans (fpk_spectral_op, 3D). */
#define FPK_SPECTRAL_LINE_BATCH ((size_t)8)
/* The pointwise passes (products, 𝒩's rows, the stage combinations) may be split over the
 * threads from this many points (then by timing, fpk_spectral_op_choose_pass_threads): each
 * output element is computed alone, so the results are the same for any split; below it a
 * parallel region costs more than the pass. */
#define FPK_SPECTRAL_PASS_THREADS_MIN ((size_t)128 * 128)
/* Where a thread count is chosen by timing, the threaded variant is kept only if its median time
 * is below this fraction of the serial one: a near tie is not worth a second core, and the
 * timing at alloc is only an estimate of what the run will see. */
#define FPK_SPECTRAL_THREADS_GAIN 0.9
/* Each timed round repeats its variant for at least this many seconds (5 rounds per variant:
 * at most ~0.1 s per plan at alloc, against seconds of FFTW_MEASURE planning on large grids). On
 * a machine with more runnable jobs than cores, single 0.1 ms transforms on 2 threads mostly ran
 * between preemptions and won, then the run was 3–15x slower. */
#define FPK_SPECTRAL_TIMING_ROUND 0.005

/* Checks the grid (periodic, even n >= 8, dim 1, 2 or 3) and model, allocates, and plans with the
 * FFTW flags given (FFTW_MEASURE etc.; plans are made before any data is stored, since measuring
 * overwrites the arrays). */
int fpk_spectral_op_init(fpk_spectral_op *op, const fpk_grid *grid, const fpk_model *model,
                         unsigned fftw_flags, int nthreads, int dealias, fpk_error *err);
/* The same for a 3D grid distributed over comm's ranks (slabs of planes along z; comm NULL or
 * of one process: fpk_spectral_op_init). Collective: every rank calls it with the same
 * arguments. Fails (FPK_EINVAL) on every rank, naming both numbers, when some rank would get no
 * plane. */
int fpk_spectral_op_init_comm(fpk_spectral_op *op, const fpk_grid *grid, const fpk_model *model,
                              unsigned fftw_flags, int nthreads, int dealias,
                              const fpk_comm *comm, fpk_error *err);
/* The forward (r2c) and inverse (c2r, unnormalised; destroys in) transforms of the op's field:
 * FFTW's plans for 1D/2D, the plane/line transforms above for 3D. */
void fpk_spectral_op_r2c(fpk_spectral_op *op, double *in, fftw_complex *out);
void fpk_spectral_op_c2r(fpk_spectral_op *op, fftw_complex *in, double *out);
void fpk_spectral_op_free(fpk_spectral_op *op);
/* After the first sampling: the passes' thread count, 1 or the nthreads of init (grids of
 * >= FPK_SPECTRAL_PASS_THREADS_MIN points only), by the median of 5 alternating timed
 * evaluations of 𝒩 (nthreads when faster by FPK_SPECTRAL_THREADS_GAIN). The passes compute
 * every element alone, so the choice never changes a bit. FPK_ENOMEM when the probe's arrays
 * cannot be allocated. */
int fpk_spectral_op_choose_pass_threads(fpk_spectral_op *op);
/* Samples b and D = ½σσᵀ (fpk_model_diffusion: diagonal or matrix noise) at the centres at
 * time t; sets D̄ (the first time) and dd. */
int fpk_spectral_op_sample(fpk_spectral_op *op, const fpk_model *model, double t, fpk_error *err);
/* out = 𝒩(u) = Σ_ab ∂_a∂_b((D_ab − D̄_ab) u) − Σ_a ∂_a(b_a u) in Fourier space, with the model as last
 * sampled and dealiased when op->dealias, for the field u whose r2c transform the caller has
 * written into op->ct (destroyed by the inverse transform). out may not alias op->ct. */
void fpk_spectral_op_apply_ct(fpk_spectral_op *op, fftw_complex *out);
/* The transforms of one evaluation of 𝒩 for the field whose r2c transform the caller has written
 * into op->ct (destroyed): one c2r, the products with the model as last sampled in one sweep,
 * one r2c per term into op->F — for 2D grids with dealias, the row pipeline (spectral_op.c,
 * transform_rows), which leaves in op->F only the modes the 2/3 rule keeps. 𝒩 itself is then formed row by row by fpk_spectral_op_row, so
 * that a stepper combines each row while it is in cache instead of storing 𝒩 and reading it
 * back (the passes between the transforms are memory-bound). */
void fpk_spectral_op_transform(fpk_spectral_op *op, int dealias);
/* Row j of 𝒩 (Fourier row index j < ny) from the last transform, over the modes the 2/3 rule
 * keeps (all of them when dealias is 0): writes them to nrow[0..k) and returns k — 0 for a
 * dropped row, where 𝒩 is zero; the modes k..ncx−1 of the row are zero and not written. */
size_t fpk_spectral_op_row(const fpk_spectral_op *op, size_t j, int dealias, fftw_complex *nrow);
/* out = 𝓛u + 𝒩(u), the whole collocation operator without dealiasing, for uh the r2c transform
 * of u (kept): what the stationary solver assembles. */
void fpk_spectral_op_apply_full(fpk_spectral_op *op, const fftw_complex *uh, fftw_complex *out);
/* The eigenvalue λ = −kᵀD̄k of 𝓛 = Σ_ab D̄_ab ∂_a∂_b for the mode at complex index c: the cross
 * term −2 D̄_xy k_x k_y with the first-derivative wavenumbers (Nyquist modes 0, as for any odd
 * derivative of a real field). Zero diffusion along an axis (D̄_aa = 0: the position of the
 * Kramers equation) is simply λ = 0 for the modes along it: nothing divides by D̄. */
/* 3D: λ of the mode (i, jy, jz), −kᵀD̄k with the cross terms as in 2D. */
static inline double fpk_spectral_op_lambda3(const fpk_spectral_op *op, size_t i, size_t jy,
                                             size_t jz) {
  double l = -op->Dbar[0] * op->k2[0][i] - op->Dbar[1] * op->k2[1][jy] -
             op->Dbar[2] * op->k2[2][jz];
  if (op->Dbar_off[0] != 0.0) l -= 2.0 * op->Dbar_off[0] * op->k1[0][i] * op->k1[1][jy];
  if (op->Dbar_off[1] != 0.0) l -= 2.0 * op->Dbar_off[1] * op->k1[0][i] * op->k1[2][jz];
  if (op->Dbar_off[2] != 0.0) l -= 2.0 * op->Dbar_off[2] * op->k1[1][jy] * op->k1[2][jz];
  return l;
}
static inline double fpk_spectral_op_lambda(const fpk_spectral_op *op, size_t c) {
  const size_t i = c % op->ncx, j = c / op->ncx;
  if (op->dim == 3) {
    const size_t g = fpk_spectral_op_grow(op, j); /* c is a local index */
    return fpk_spectral_op_lambda3(op, i, g % op->n[1], g / op->n[1]);
  }
  double l = -op->Dbar[0] * op->k2[0][i];
  if (op->dim == 2) l -= op->Dbar[1] * op->k2[1][j];
  if (op->Dbar_xy != 0.0) l -= 2.0 * op->Dbar_xy * op->k1[0][i] * op->k1[1][j];
  return l;
}
/* Cell averages ↔ Fourier coefficients of the interpolant of the point values. */
void fpk_spectral_op_from_cells(fpk_spectral_op *op, const double *cells, fftw_complex *uh);
void fpk_spectral_op_to_cells(fpk_spectral_op *op, const fftw_complex *uh, double *cells);
/* Point values u = c2r(uh) / M. */
void fpk_spectral_op_to_values(fpk_spectral_op *op, const fftw_complex *uh, double *u);

#endif
