/* The pseudo-spectral Fokker–Planck operator on a periodic box (see spectral_internal.h and
 * docs/spectral-scheme.md): wavenumbers, FFTW plans made once, the model sampled at the cell
 * centres, and 𝒩(u) = Σ_ab ∂_a∂_b((D_ab − D̄_ab) u) − Σ_a ∂_a(b_a u), D = ½σσᵀ any diffusion
 * matrix (diagonal, correlated, degenerate), by products in physical space and derivatives in
 * Fourier space (Canuto, Hussaini, Quarteroni & Zang, Spectral Methods, 2006,
 * §3.3 on the collocation/pseudo-spectral evaluation and the 2/3 rule). */
#include "fpkit/version.h"

#include "fp/spectral_internal.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if FPK_HAVE_FFTW_MPI
#include <fftw3-mpi.h>

#include "core/comm_internal.h"
#endif

static const double TWO_PI = 6.283185307179586476925;

static int fail_alloc(fpk_error *err) {
  return fpk_error_set(err, FPK_ENOMEM, "spectral: out of memory");
}

/* The terms of 𝒩 at the model as last sampled, in the order x drift, x diffusion, y drift,
 * y diffusion, (z drift, z diffusion,) mixed diffusion (xy; in 3D xy, xz, yz), each diffusion
 * term only where D_ab varies. */
static size_t term_list(const fpk_spectral_op *op, fpk_spectral_term *terms) {
  size_t n = 0;
  for (size_t a = 0; a < op->dim; a++) {
    terms[n++] = (fpk_spectral_term){a, 0};
    if (op->vary[a]) terms[n++] = (fpk_spectral_term){a, 1};
  }
  if (op->dim == 2 && op->vary[2]) terms[n++] = (fpk_spectral_term){2, 1};
  if (op->dim == 3)
    for (size_t e = 3; e < 6; e++)
      if (op->vary[e]) terms[n++] = (fpk_spectral_term){e, 1};
  return n;
}

/* Product and transform arrays for n terms (fftw_alloc: the alignment of the planning arrays).
 * The first term's product overwrites the point values r and its transform the c2r input ct,
 * both dead by then: the fewer distinct arrays an evaluation touches, the more of them stay in
 * cache (at 256² each is 0.5 MiB; a separate pair for the first term was measured slower). */
static int ensure_terms(fpk_spectral_op *op, size_t n) {
  op->prod[0] = op->r, op->F[0] = op->ct;
  for (size_t k = 1; k < n; k++) {
    if (!op->prod[k]) op->prod[k] = fftw_alloc_real(op->M);
    if (!op->F[k]) op->F[k] = fftw_alloc_complex(op->nc);
    if (!op->prod[k] || !op->F[k]) return FPK_ENOMEM;
  }
  return FPK_SUCCESS;
}

/* ---------------------------------------------------------------------- plans and threads */

#include <time.h>

static double seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The plans of the operator: full transforms (r2c, c2r, rank 1 or 2) and, for 2D grids with the
 * 2/3 rule, the column passes of the row pipeline (fpk_spectral_op_transform). */
enum { K_R2C, K_C2R };

/* The median of 5 timings: what a run typically sees (the minimum would favour a threaded plan
 * that is fast only while the other core happens to be idle). */
static double median5(const double *t) {
  double v[5];
  memcpy(v, t, sizeof v);
  for (int i = 1; i < 5; i++)
    for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
      const double x = v[j];
      v[j] = v[j - 1], v[j - 1] = x;
    }
  return v[2];
}

static fftw_plan make_plan(fpk_spectral_op *op, int kind, int rank, const int *shape,
                           unsigned flags, int nthreads) {
#ifdef FPK_HAVE_FFTW_THREADS
  fftw_plan_with_nthreads(nthreads);
#else
  (void)nthreads;
#endif
  switch (kind) {
  case K_R2C: return fftw_plan_dft_r2c(rank, shape, op->r, op->ct, flags);
  default: return fftw_plan_dft_c2r(rank, shape, op->ct, op->r, flags);
  }
}

/* A column pass of the row pipeline: DFTs along y, in place, of howmany adjacent columns of the
 * half spectrum (serial: the passes split whole chunks of columns over threads). */
static fftw_plan column_plan(fpk_spectral_op *op, size_t howmany, int sign, unsigned flags) {
  const int ny = (int)op->ny, ncx = (int)op->ncx;
  return fftw_plan_many_dft(1, &ny, (int)howmany, op->ct, NULL, ncx, 1, op->ct, NULL, ncx, 1,
                            sign, flags);
}

/* Runs plan p (of kind) once on the probe save, into out. */
static void probe_run(fpk_spectral_op *op, int kind, fftw_plan p, const void *save,
                      size_t inbytes, void *out) {
  void *in = kind == K_R2C ? (void *)op->r : (void *)op->ct;
  memcpy(in, save, inbytes); /* c2r destroys its input */
  if (kind == K_R2C)
    fftw_execute_dft_r2c(p, in, out);
  else
    fftw_execute_dft_c2r(p, in, out);
}

/* The thread count of a full transform (r2c or c2r: 1D grids, runs without the 2/3 rule, the
 * conversions to and from cell averages), chosen between a serial plan and one with nthreads
 * threads made with the same flags. FFTW's plans for different thread counts may be different
 * algorithms (FFTW_MEASURE times each candidate for the thread count it is given: measured with
 * FFTW 3.3.10, plans made afresh for 1 and 2 threads differed in the last bits at 64²–1024²),
 * and the project's rule is that a configuration gives the same numbers whatever the thread
 * count. So both plans are run on the same pseudo-random input, and the threaded one is kept only
 * when its output is bitwise that of the serial one (the same arithmetic: FFTW_ESTIMATE, where
 * the threaded plan splits the loops of the same serial codelets, or a measured plan that reuses
 * the serial plan's sub-plans from the in-process wisdom) and it is faster by
 * FPK_SPECTRAL_THREADS_GAIN by the median of 5 alternating rounds. Otherwise the serial plan
 * runs. Returns the plan kept (the other destroyed) and its thread count in *chosen. */
static fftw_plan choose_plan(fpk_spectral_op *op, int kind, int rank, const int *shape,
                             unsigned flags, int nthreads, int *chosen, int *timed) {
  *chosen = 1, *timed = 0;
  fftw_plan p1 = make_plan(op, kind, rank, shape, flags, 1);
  if (!p1 || nthreads <= 1) return p1;
  fftw_plan pt = make_plan(op, kind, rank, shape, flags, nthreads);
  if (!pt) return p1;
  const size_t M = op->M, nc = op->nc;
  const size_t inbytes = kind == K_R2C ? M * sizeof(double) : nc * sizeof(fftw_complex);
  const size_t outbytes = kind == K_C2R ? M * sizeof(double) : nc * sizeof(fftw_complex);
  void *save = fftw_malloc(inbytes), *o1 = fftw_malloc(outbytes), *ot = fftw_malloc(outbytes);
  fftw_plan keep = p1;
  fftw_plan fwd = kind == K_C2R ? make_plan(op, K_R2C, rank, shape, FFTW_ESTIMATE, 1) : NULL;
  if (save && o1 && ot && (kind != K_C2R || fwd)) {
    /* the probe: a deterministic pseudo-random field; its transform for the c2r (a valid half
     * spectrum) */
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t m = 0; m < M; m++) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      op->r[m] = (double)(x >> 11) * 0x1.0p-53 - 0.5;
    }
    if (fwd) fftw_execute_dft_r2c(fwd, op->r, op->ct);
    memcpy(save, kind == K_R2C ? (void *)op->r : (void *)op->ct, inbytes);
    probe_run(op, kind, p1, save, inbytes, o1);
    probe_run(op, kind, pt, save, inbytes, ot);
    if (memcmp(o1, ot, outbytes) == 0) {
      double t[2][5];
      for (int round = 0; round < 5; round++)
        for (int q = 0; q < 2; q++) {
          /* a round lasts >= FPK_SPECTRAL_TIMING_ROUND: long enough for a busy machine's
           * preemptions to show, which a single short transform on 2 threads may escape */
          const double t0 = seconds();
          double t1 = t0;
          size_t runs = 0;
          do {
            probe_run(op, kind, q ? pt : p1, save, inbytes, q ? ot : o1);
            runs++;
          } while ((t1 = seconds()) - t0 < FPK_SPECTRAL_TIMING_ROUND);
          t[q][round] = (t1 - t0) / (double)runs;
        }
      keep = median5(t[1]) < FPK_SPECTRAL_THREADS_GAIN * median5(t[0]) ? pt : p1;
      *timed = 1;
    }
  }
  if (fwd) fftw_destroy_plan(fwd);
  fftw_free(save), fftw_free(o1), fftw_free(ot);
  fftw_destroy_plan(keep == pt ? p1 : pt);
  *chosen = keep == pt ? nthreads : 1;
  return keep;
}

/* Rows per block of the pipeline: the largest even divisor of ny up to 8 (ny is even), so that
 * one plan serves every block, and every block starts at the alignment of the planning arrays
 * (an even number of rows of ncx complex values, or of nx reals, is a multiple of 32 bytes): the
 * row plans need no FFTW_UNALIGNED, which made them slower than the 2D plans (measured: 256²
 * step 2.9 ms with it, 2.0 ms without). A block's point values and products (8 rows of 1024:
 * 64 KiB each) stay in cache from the inverse row transform to the forward ones; 16 rows
 * measured the same. */
static size_t block_rows(size_t ny) {
  size_t b = 8;
  while (ny % b) b -= 2;
  return b;
}

/* ---------------------------------------------------------------------- 3D transforms */

/* [n0][n1] complex → [n1][n0] (the local transpose of one process), in tiles that stay in cache. */
static void transpose_local(const fftw_complex *in, fftw_complex *out, size_t n0, size_t n1,
                            int nt) {
  const size_t T = 16;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
  for (size_t b1 = 0; b1 < n1; b1 += T)
    for (size_t b0 = 0; b0 < n0; b0 += T)
      for (size_t i1 = b1; i1 < b1 + T && i1 < n1; i1++)
        for (size_t i0 = b0; i0 < b0 + T && i0 < n0; i0++) out[i1 * n0 + i0] = in[i0 * n1 + i1];
}

/* ta [nzl][Q] → tb [Ql][nz] (lines along z contiguous), and back. */
static void transpose_fwd(fpk_spectral_op *op) {
#if FPK_HAVE_FFTW_MPI
  if (op->tr_fwd) {
    fftw_mpi_execute_r2r((fftw_plan)op->tr_fwd, (double *)op->ta, (double *)op->tb);
    return;
  }
#endif
  transpose_local(op->ta, op->tb, op->n[2], op->Q, op->pass_threads);
}

static void transpose_bwd(fpk_spectral_op *op) {
#if FPK_HAVE_FFTW_MPI
  if (op->tr_bwd) {
    fftw_mpi_execute_r2r((fftw_plan)op->tr_bwd, (double *)op->tb, (double *)op->ta);
    return;
  }
#endif
  transpose_local(op->tb, op->ta, op->Q, op->n[2], op->pass_threads);
}

/* Every local z line of tb by the one line plan p (in place, contiguous), or, with a batch
 * plan pb, whole batches of FPK_SPECTRAL_LINE_BATCH lines by pb and the rest by p: pb is kept
 * only if it gives each line p's bits (plan3), so a line's result does not depend on which
 * batch, rank or thread it falls in. */
static void z_lines(fpk_spectral_op *op, fftw_plan p, fftw_plan pb) {
  const size_t nz = op->n[2], nl = op->Ql, B = FPK_SPECTRAL_LINE_BATCH;
  fftw_complex *tb = op->tb;
  const int nt = op->pass_threads;
  const size_t nb = pb ? nl / B : 0;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
  for (size_t q = 0; q < nb; q++) fftw_execute_dft(pb, tb + q * B * nz, tb + q * B * nz);
  for (size_t q = nb * B; q < nl; q++) fftw_execute_dft(p, tb + q * nz, tb + q * nz);
}

/* One process: the z lines of the [nz][Q] array `in`, FPK_SPECTRAL_LINE_BATCH columns at a time
 * gathered into a contiguous per-thread buffer, transformed (the batch plan, or the line plan
 * for a partial batch or without one) and scattered into `out` (may be `in`): the same line
 * arithmetic as the transposed lines over ranks, without the two transposes. */
static void z_columns(fpk_spectral_op *op, const fftw_complex *in, fftw_complex *out,
                      fftw_plan p, fftw_plan pb) {
  const size_t nz = op->n[2], Q = op->Q, B = FPK_SPECTRAL_LINE_BATCH, ng = (Q + B - 1) / B;
  const int nt = op->pass_threads;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
  for (size_t gi = 0; gi < ng; gi++) {
    fftw_complex *buf = op->lbuf + (size_t)omp_get_thread_num() * B * nz;
    const size_t q0 = gi * B, w = Q - q0 < B ? Q - q0 : B;
    for (size_t z = 0; z < nz; z++)
      for (size_t l = 0; l < w; l++) buf[l * nz + z] = in[z * Q + q0 + l];
    if (w == B && pb)
      fftw_execute_dft(pb, buf, buf);
    else
      for (size_t l = 0; l < w; l++) fftw_execute_dft(p, buf + l * nz, buf + l * nz);
    for (size_t z = 0; z < nz; z++)
      for (size_t l = 0; l < w; l++) out[z * Q + q0 + l] = buf[l * nz + z];
  }
}

static void r2c3(fpk_spectral_op *op, double *in, fftw_complex *out) {
  const size_t pm = op->n[1] * op->nx, Q = op->Q, nzl = op->nzl;
  const int nt = op->pass_threads;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
  for (size_t z = 0; z < nzl; z++) fftw_execute_dft_r2c(op->p2_r2c, in + z * pm, op->ta + z * Q);
  if (!op->tr_fwd) { /* one process */
    z_columns(op, op->ta, out, op->pz_fwd, op->pzb_fwd);
    return;
  }
  transpose_fwd(op);
  z_lines(op, op->pz_fwd, op->pzb_fwd);
  transpose_bwd(op);
  memcpy(out, op->ta, op->nc * sizeof *out);
}

static void c2r3(fpk_spectral_op *op, fftw_complex *in, double *out) {
  const size_t pm = op->n[1] * op->nx, Q = op->Q, nzl = op->nzl;
  const int nt = op->pass_threads;
  if (op->tr_fwd) {
    memcpy(op->ta, in, op->nc * sizeof *in);
    transpose_fwd(op);
    z_lines(op, op->pz_bwd, op->pzb_bwd);
    transpose_bwd(op);
  } else { /* one process */
    z_columns(op, in, op->ta, op->pz_bwd, op->pzb_bwd);
  }
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
  for (size_t z = 0; z < nzl; z++) fftw_execute_dft_c2r(op->p2_c2r, op->ta + z * Q, out + z * pm);
}

/* A batch plan of FPK_SPECTRAL_LINE_BATCH z lines, kept when it gives every line of a
 * pseudo-random probe bitwise the single-line plan p's result (the same arithmetic: FFTW may
 * instead vectorise across lines with other codelets, which round differently); else NULL. */
static fftw_plan batch_plan(fpk_spectral_op *op, fftw_plan p, int sign, unsigned flags) {
  const size_t nz = op->n[2], B = FPK_SPECTRAL_LINE_BATCH, len = B * nz;
  if (op->talloc < len) return NULL;
  const int n = (int)nz;
  fftw_plan pb = fftw_plan_many_dft(1, &n, (int)B, op->tb, NULL, 1, n, op->tb, NULL, 1, n, sign,
                                    flags);
  fftw_complex *a = fftw_alloc_complex(len), *b = fftw_alloc_complex(len);
  int same = pb && a && b;
  if (same) {
    uint64_t x = 0x2545F4914F6CDD1Dull;
    for (size_t k = 0; k < len; k++) {
      double v[2];
      for (int c = 0; c < 2; c++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        v[c] = (double)(x >> 11) * 0x1.0p-53 - 0.5;
      }
      a[k] = b[k] = v[0] + I * v[1];
    }
    fftw_execute_dft(pb, a, a);
    for (size_t q = 0; q < B; q++) fftw_execute_dft(p, b + q * nz, b + q * nz);
    same = memcmp(a, b, len * sizeof *a) == 0;
  }
  fftw_free(a), fftw_free(b);
  if (!same && pb) fftw_destroy_plan(pb), pb = NULL;
  return pb;
}

void fpk_spectral_op_r2c(fpk_spectral_op *op, double *in, fftw_complex *out) {
  if (op->dim == 3)
    r2c3(op, in, out);
  else
    fftw_execute_dft_r2c(op->r2c, in, out);
}

void fpk_spectral_op_c2r(fpk_spectral_op *op, fftw_complex *in, double *out) {
  if (op->dim == 3)
    c2r3(op, in, out);
  else
    fftw_execute_dft_c2r(op->c2r, in, out);
}

/* The 3D plans: serial, FFTW_UNALIGNED (executed on every plane and line, whatever its
 * address), made on the transpose scratch, and FFTW_ESTIMATE whatever the planner option: a
 * measured plan is chosen by timing, which each rank (and each run) does on its own and may
 * settle differently — another algorithm, other bits. The estimate is a function of the problem
 * alone (a wisdom file of measured plans may still be used by FFTW: then every rank and run must
 * read the same one). */
static int plan3(fpk_spectral_op *op, unsigned flags) {
  flags = FFTW_ESTIMATE;
#ifdef FPK_HAVE_FFTW_THREADS
  fftw_plan_with_nthreads(1);
#endif
  const int n2[2] = {(int)op->n[1], (int)op->nx}, nz = (int)op->n[2];
  flags |= FFTW_UNALIGNED;
  op->p2_r2c = fftw_plan_dft_r2c(2, n2, (double *)op->tb, op->ta, flags);
  op->p2_c2r = fftw_plan_dft_c2r(2, n2, op->ta, (double *)op->tb, flags);
  op->pz_fwd = fftw_plan_dft_1d(nz, op->tb, op->tb, FFTW_FORWARD, flags);
  op->pz_bwd = fftw_plan_dft_1d(nz, op->tb, op->tb, FFTW_BACKWARD, flags);
  if (!op->p2_r2c || !op->p2_c2r || !op->pz_fwd || !op->pz_bwd) return FPK_EUNSUP;
  /* deterministic (FFTW_ESTIMATE, the same probe): every rank keeps the same batch plans */
  op->pzb_fwd = batch_plan(op, op->pz_fwd, FFTW_FORWARD, flags);
  op->pzb_bwd = batch_plan(op, op->pz_bwd, FFTW_BACKWARD, flags);
#if FPK_HAVE_FFTW_MPI
  if (op->nproc > 1) {
    /* pure data movement: the plan only decides how, never what (FFTW_ESTIMATE: no timing) */
    MPI_Comm c = fpk_comm_mpi(op->comm);
    const ptrdiff_t bz = (ptrdiff_t)op->nz_block, bq = (ptrdiff_t)((op->Q + (size_t)op->nproc - 1) / (size_t)op->nproc);
    op->tr_fwd = fftw_mpi_plan_many_transpose((ptrdiff_t)op->n[2], (ptrdiff_t)op->Q, 2, bz, bq,
                                              (double *)op->ta, (double *)op->tb, c,
                                              FFTW_ESTIMATE);
    op->tr_bwd = fftw_mpi_plan_many_transpose((ptrdiff_t)op->Q, (ptrdiff_t)op->n[2], 2, bq, bz,
                                              (double *)op->tb, (double *)op->ta, c,
                                              FFTW_ESTIMATE);
    if (!op->tr_fwd || !op->tr_bwd) return FPK_EUNSUP;
  }
#endif
  return FPK_SUCCESS;
}

/* The plans of the operator (made before any data is stored: measuring overwrites the arrays).
 * FFTW's planner is global and not thread-safe; solvers are made from one thread. */
static int plan_all(fpk_spectral_op *op, int rank, const int *shape, unsigned flags,
                    int nthreads) {
#ifdef FPK_HAVE_FFTW_THREADS
  static int threads_ready = 0;
  if (!threads_ready) threads_ready = fftw_init_threads() ? 1 : -1;
  if (threads_ready < 0) nthreads = 1;
#else
  nthreads = 1;
#endif
  if (nthreads < 1) nthreads = 1;
  int rc = FPK_SUCCESS;
  if (op->dim == 3) {
    op->fft_threads[0] = op->fft_threads[1] = 1;
    rc = plan3(op, flags);
#ifdef FPK_HAVE_FFTW_THREADS
    if (threads_ready > 0) fftw_plan_with_nthreads(1);
#endif
    return rc;
  }
  op->r2c = choose_plan(op, K_R2C, rank, shape, flags, nthreads, &op->fft_threads[0],
                        &op->fft_timed[0]);
  op->c2r = choose_plan(op, K_C2R, rank, shape, flags, nthreads, &op->fft_threads[1],
                        &op->fft_timed[1]);
  if (!op->r2c || !op->c2r) rc = FPK_EUNSUP;
  if (!rc && op->dim == 2 && op->dealias) {
    /* the row pipeline (fpk_spectral_op_transform) */
    op->blk = block_rows(op->ny);
    const size_t bm = op->blk * op->nx;
    op->blkbuf = fftw_alloc_real((size_t)op->pass_threads * FPK_SPECTRAL_MAX_TERMS * bm);
    if (!op->blkbuf) rc = FPK_ENOMEM;
    /* new-array execution needs every block at the planning arrays' SIMD alignment (true for an
     * even block on FFTW's 16- and 32-byte alignments; checked, else the 2D plans serve) */
    const int aligned =
        op->blkbuf && fftw_alignment_of((double *)(op->ct + op->blk * op->ncx)) ==
                          fftw_alignment_of((double *)op->ct) &&
        fftw_alignment_of(op->blkbuf + bm) == fftw_alignment_of(op->blkbuf);
    if (!rc && aligned) {
#ifdef FPK_HAVE_FFTW_THREADS
      fftw_plan_with_nthreads(1);
#endif
      /* column passes in fixed chunks of FPK_SPECTRAL_COLUMN_CHUNK columns (the last chunk the
       * rest): the same serial plans whatever the thread count, so the same bits */
      const size_t W = FPK_SPECTRAL_COLUMN_CHUNK, nkx = op->nx / 3 + 1;
      op->col_inv[0] = column_plan(op, op->ncx < W ? op->ncx : W, FFTW_BACKWARD, flags);
      op->col_fwd[0] = column_plan(op, nkx < W ? nkx : W, FFTW_FORWARD, flags);
      if (op->ncx > W && op->ncx % W)
        op->col_inv[1] = column_plan(op, op->ncx % W, FFTW_BACKWARD, flags);
      if (nkx > W && nkx % W) op->col_fwd[1] = column_plan(op, nkx % W, FFTW_FORWARD, flags);
      const int n = (int)op->nx, ncx = (int)op->ncx, b = (int)op->blk;
      op->row_c2r = fftw_plan_many_dft_c2r(1, &n, b, op->ct, NULL, 1, ncx, op->blkbuf, NULL, 1, n,
                                           flags);
      op->row_r2c = fftw_plan_many_dft_r2c(1, &n, b, op->blkbuf, NULL, 1, n, op->ct, NULL, 1, ncx,
                                           flags);
      if (!op->col_inv[0] || !op->col_fwd[0] || (op->ncx > W && op->ncx % W && !op->col_inv[1]) ||
          (nkx > W && nkx % W && !op->col_fwd[1]) || !op->row_c2r || !op->row_r2c)
        rc = FPK_EUNSUP;
    }
  }
#ifdef FPK_HAVE_FFTW_THREADS
  if (threads_ready > 0) fftw_plan_with_nthreads(1);
#endif
  return rc;
}

int fpk_spectral_op_init(fpk_spectral_op *op, const fpk_grid *grid, const fpk_model *model,
                         unsigned fftw_flags, int nthreads, int dealias, fpk_error *err) {
  return fpk_spectral_op_init_comm(op, grid, model, fftw_flags, nthreads, dealias, NULL, err);
}

/* The most ranks up to P that each get a plane of n_z (blocks of ceil(n_z/P) planes). */
static size_t max_ranks(size_t nz, size_t P) {
  while (P > 1 && (P - 1) * ((nz + P - 1) / P) >= nz) P--;
  return P;
}

/* The slabs of a 3D grid: this rank's planes along z and lines of the transposed spectrum, and
 * the transpose scratch's size (FFTW-MPI's, which may exceed the slab). */
static int decompose3(fpk_spectral_op *op, const fpk_comm *comm, fpk_error *err) {
  const size_t nz = op->n[2], P = (size_t)fpk_comm_size(comm), r = (size_t)fpk_comm_rank(comm);
  op->comm = comm, op->nproc = (int)P, op->rank = (int)r;
  op->Q = op->n[1] * op->ncx;
  op->nz_block = (nz + P - 1) / P;
  if (P > 1 && (P - 1) * op->nz_block >= nz)
    return fpk_error_set(err, FPK_EINVAL,
                         "spectral: %zu ranks but the grid has %zu planes along axis 2 (z): the "
                         "slab decomposition gives every rank ceil(%zu/%zu) = %zu planes and "
                         "leaves the last rank none; use %zu ranks (or any number whose blocks "
                         "give every rank a plane)",
                         P, nz, nz, P, op->nz_block, max_ranks(nz, P));
  op->nzl = nz, op->z0 = 0, op->Ql = op->Q, op->q0 = 0;
  op->talloc = nz * op->Q;
#if FPK_HAVE_FFTW_MPI
  if (P > 1) {
    static int mpi_ready = 0;
    if (!mpi_ready) fftw_mpi_init(), mpi_ready = 1;
    const ptrdiff_t n[2] = {(ptrdiff_t)nz, (ptrdiff_t)op->Q};
    const ptrdiff_t bq = (ptrdiff_t)((op->Q + P - 1) / P);
    ptrdiff_t nzl, z0, ql, q0;
    const ptrdiff_t alloc = fftw_mpi_local_size_many_transposed(
        2, n, 2, (ptrdiff_t)op->nz_block, bq, fpk_comm_mpi(comm), &nzl, &z0, &ql, &q0);
    op->nzl = (size_t)nzl, op->z0 = (size_t)z0, op->Ql = (size_t)ql, op->q0 = (size_t)q0;
    op->talloc = (size_t)alloc / 2 + 1;
  }
#else
  if (P > 1)
    return fpk_error_set(err, FPK_EUNSUP,
                         "spectral: %zu ranks, but this build has no FFTW-MPI (3D grids run on "
                         "one process; rebuild with MPI and libfftw3-mpi)", P);
#endif
  op->row0 = op->z0 * op->n[1];
  return FPK_SUCCESS;
}

int fpk_spectral_op_init_comm(fpk_spectral_op *op, const fpk_grid *grid, const fpk_model *model,
                              unsigned fftw_flags, int nthreads, int dealias,
                              const fpk_comm *comm, fpk_error *err) {
  memset(op, 0, sizeof *op);
  op->nproc = 1;
  if (!grid || !model) return fpk_error_set(err, FPK_EINVAL, "spectral: grid or model is NULL");
  if (!model->drift || (!model->noise && !model->noise_matrix))
    return fpk_error_set(err, FPK_EINVAL, "spectral: model %s lacks a drift or noise callback",
                         model->name ? model->name : "(unnamed)");
  if (grid->dim < 1 || grid->dim > 3)
    return fpk_error_set(err, FPK_EUNSUP,
                         "spectral: grids of dimension %zu are not supported (1, 2 or 3); use fv",
                         grid->dim);
  if (model->dim != grid->dim)
    return fpk_error_set(err, FPK_EINVAL,
                         "spectral: model %s has dimension %zu but the grid has dimension %zu",
                         model->name ? model->name : "(unnamed)", model->dim, grid->dim);
  for (size_t a = 0; a < grid->dim; a++) {
    if (grid->bc[a] != FPK_BC_PERIODIC)
      return fpk_error_set(err, FPK_EINVAL,
                           "spectral: axis %zu has %s boundaries; the Fourier solver needs a "
                           "periodic box (set bc = periodic on a box large enough for the "
                           "density to decay, or use method fv)",
                           a, fpk_bc_name(grid->bc[a]));
    if (grid->n[a] % 2 != 0 || grid->n[a] < 8)
      return fpk_error_set(err, FPK_EINVAL,
                           "spectral: axis %zu has n = %zu points; the Fourier solver needs an "
                           "even n >= 8",
                           a, grid->n[a]);
  }
  op->grid = *grid;
  op->dim = grid->dim;
  op->nx = grid->n[0];
  op->ny = grid->dim >= 2 ? grid->n[1] : 1;
  if (grid->dim == 3) op->ny *= grid->n[2]; /* the rows of the [nz][ny][nx] array */
  for (size_t a = 0; a < 3; a++) op->n[a] = a < grid->dim ? grid->n[a] : 1;
  op->M = op->nx * op->ny;
  op->ncx = op->nx / 2 + 1;
  if (op->dim == 3) {
    int rc = decompose3(op, comm, err);
    if (rc) return rc;
    op->ny = op->nzl * op->n[1];
    op->M = op->nx * op->ny;
  } else if (fpk_comm_size(comm) > 1) {
    return fpk_error_set(err, FPK_EUNSUP,
                         "spectral: only 3D grids are distributed over ranks (this grid has "
                         "dimension %zu): run it on one process",
                         op->dim);
  }
  op->nc = op->ncx * op->ny;
  op->Mg = grid->size;
  op->dealias = dealias;
  const size_t d = op->dim, M = op->M;

  for (size_t a = 0; a < d; a++) {
    const size_t n = grid->n[a], len = a == 0 ? op->ncx : n;
    op->k1[a] = malloc(len * sizeof(double));
    op->k2[a] = malloc(len * sizeof(double));
    op->avg[a] = malloc(len * sizeof(double));
    op->keep[a] = malloc(len);
    if (!op->k1[a] || !op->k2[a] || !op->avg[a] || !op->keep[a]) return fail_alloc(err);
    const double L = grid->hi[a] - grid->lo[a], h = grid->h[a];
    for (size_t i = 0; i < len; i++) {
      const long m = i <= n / 2 ? (long)i : (long)i - (long)n; /* signed index */
      const double k = TWO_PI / L * (double)m;
      const size_t am = (size_t)labs(m);
      op->k1[a][i] = am == n / 2 ? 0.0 : k;
      op->k2[a][i] = k * k;
      op->avg[a][i] = m == 0 ? 1.0 : sin(0.5 * k * h) / (0.5 * k * h);
      op->keep[a][i] = am <= n / 3;
    }
  }
  op->x = malloc(d * M * sizeof(double));
  op->b = malloc(d * M * sizeof(double));
  /* the entries of D: 1 in 1D, + the mixed term in 2D, the six of the symmetric 3 × 3 in 3D */
  op->dd = malloc((d == 3 ? 6 : d == 2 ? 3 : 1) * M * sizeof(double));
  op->D = malloc(d * d * M * sizeof(double));
  /* the noise matrix, scratch of fpk_model_diffusion (a diagonal model needs none) */
  op->sig = model->noise_matrix ? malloc(d * fpk_model_noise_dim(model) * M * sizeof(double))
                                : NULL;
  op->r = fftw_alloc_real(M);
  op->ct = fftw_alloc_complex(op->nc);
  if (d == 3) {
    op->ta = fftw_alloc_complex(op->talloc);
    op->tb = fftw_alloc_complex(op->talloc);
    op->lbuf = fftw_alloc_complex((size_t)(nthreads > 1 ? nthreads : 1) *
                                  FPK_SPECTRAL_LINE_BATCH * op->n[2]);
    if (!op->ta || !op->tb || !op->lbuf) return fail_alloc(err);
  }
  if (!op->x || !op->b || !op->dd || !op->D || (model->noise_matrix && !op->sig) || !op->r ||
      !op->ct)
    return fail_alloc(err);
  /* one product and one transform per term: the drift terms now, the diffusion terms when a
   * sampling first finds D varying (fpk_spectral_op_sample) */
  if (ensure_terms(op, d)) return fail_alloc(err);
  const size_t m_first = op->z0 * op->n[1] * op->nx; /* this rank's slab (3D) */
  for (size_t m = 0; m < M; m++) {
    double p[FPK_MAX_DIM];
    fpk_grid_point(grid, m_first + m, p);
    for (size_t a = 0; a < d; a++) op->x[a * M + m] = p[a];
  }

  /* Plan once; every later transform is a new-array execute on buffers from fftw_alloc_*, which
   * share the planning buffers' alignment. */
  int dims[3] = {(int)op->n[2], (int)op->n[1], (int)op->nx};
  const int rank = (int)d;
  const int *shape = dims + (3 - d);
  op->pass_threads = nthreads > 1 && M >= FPK_SPECTRAL_PASS_THREADS_MIN ? nthreads : 1;
  /* over ranks: the planning of the transposes is collective, so every rank gets here or none
   * goes on (a rank that failed above returns to its caller's agreement) */
  if (op->nproc > 1) {
    const int arc = fpk_comm_agree(comm, FPK_SUCCESS, err);
    if (arc) return arc;
  }
  int rc = plan_all(op, rank, shape, fftw_flags, nthreads);
  if (rc == FPK_ENOMEM) return fail_alloc(err);
  if (rc)
    return fpk_error_set(err, FPK_EUNSUP, "spectral: FFTW could not plan a %zu x %zu transform",
                         op->ny, op->nx);
  return FPK_SUCCESS;
}

void fpk_spectral_op_free(fpk_spectral_op *op) {
  if (!op) return;
  for (size_t a = 0; a < 3; a++) free(op->k1[a]), free(op->k2[a]), free(op->avg[a]), free(op->keep[a]);
  free(op->x), free(op->b), free(op->dd), free(op->D), free(op->sig);
  fftw_plan *plans[] = {&op->col_inv[0], &op->col_inv[1], &op->col_fwd[0],
                        &op->col_fwd[1],  &op->row_c2r,    &op->row_r2c};
  for (size_t k = 0; k < 6; k++)
    if (*plans[k]) fftw_destroy_plan(*plans[k]);
  fftw_free(op->blkbuf);
  if (op->r2c) fftw_destroy_plan(op->r2c);
  if (op->c2r) fftw_destroy_plan(op->c2r);
  fftw_plan *p3[] = {&op->p2_r2c, &op->p2_c2r, &op->pz_fwd, &op->pz_bwd, &op->pzb_fwd,
                     &op->pzb_bwd, (fftw_plan *)&op->tr_fwd, (fftw_plan *)&op->tr_bwd};
  for (size_t k = 0; k < 8; k++)
    if (*p3[k]) fftw_destroy_plan(*p3[k]);
  fftw_free(op->ta), fftw_free(op->tb), fftw_free(op->lbuf);
  fftw_free(op->r);
  for (size_t k = 1; k < FPK_SPECTRAL_MAX_TERMS; k++) fftw_free(op->prod[k]), fftw_free(op->F[k]);
  fftw_free(op->ct);
  memset(op, 0, sizeof *op);
}

/* Doubles as order-preserving unsigned keys (so that fpk_comm_min/max_u64 reduce them
 * exactly), and back. */
static uint64_t dkey(double x) {
  uint64_t u;
  memcpy(&u, &x, sizeof u);
  return u >> 63 ? ~u : u | (1ull << 63);
}

static double dval(uint64_t k) {
  const uint64_t u = k >> 63 ? k & ~(1ull << 63) : ~k;
  double x;
  memcpy(&x, &u, sizeof x);
  return x;
}

/* lo, hi: per-entry minima and maxima over this rank's points, made those of the whole grid. */
static int extremes(fpk_spectral_op *op, size_t n, double *lo, double *hi, fpk_error *err) {
  uint64_t a[FPK_SPECTRAL_MAX_ENTRIES], b[FPK_SPECTRAL_MAX_ENTRIES];
  for (size_t e = 0; e < n; e++) a[e] = dkey(lo[e]), b[e] = dkey(hi[e]);
  int rc = fpk_comm_min_u64(op->comm, a, n, err);
  if (!rc) rc = fpk_comm_max_u64(op->comm, b, n, err);
  for (size_t e = 0; !rc && e < n; e++) lo[e] = dval(a[e]), hi[e] = dval(b[e]);
  return rc;
}

/* Whether the symmetric 3 × 3 matrix with diagonal a and off-diagonals o = (xy, xz, yz) is
 * positive semi-definite, up to a relative 1e-12 (a constant rank-deficient D, one or two noise
 * columns, sits on the boundary up to round-off): every principal minor >= −1e-12 × the product
 * of its diagonal. */
static int psd3(const double *a, const double *o) {
  const double tol = 1e-12;
  if (a[0] < 0.0 || a[1] < 0.0 || a[2] < 0.0) return 0;
  if (a[0] * a[1] - o[0] * o[0] < -tol * a[0] * a[1]) return 0;
  if (a[0] * a[2] - o[1] * o[1] < -tol * a[0] * a[2]) return 0;
  if (a[1] * a[2] - o[2] * o[2] < -tol * a[1] * a[2]) return 0;
  const double det = a[0] * (a[1] * a[2] - o[2] * o[2]) - o[0] * (o[0] * a[2] - o[2] * o[1]) +
                     o[1] * (o[0] * o[2] - a[1] * o[1]);
  return det >= -tol * a[0] * a[1] * a[2];
}

int fpk_spectral_op_sample(fpk_spectral_op *op, const fpk_model *model, double t, fpk_error *err) {
  const size_t d = op->dim, M = op->M;
  int rc = fpk_model_drift(model, t, M, op->x, op->b, err);
  /* D = ½σσᵀ for diagonal and matrix noise alike. For a diagonal model D_aa = σ_a²/2 is the same
   * expression as before matrix noise (0.5σ·σ, rounded and stored before use: computed inside
   * D − D̄, GCC's default -ffp-contract=fast fused 0.5σ·σ − D̄ into one FMA whose exact residual
   * is not 0 for a constant σ, so additive noise looked variable and cost two needless
   * transforms per evaluation in 2D) and the off-diagonal entries are exact zeros. */
  if (!rc) rc = fpk_model_diffusion(model, t, M, op->x, op->D, op->sig, err);
  const double *D = op->D;
  if (op->nproc > 1) {
    /* over ranks (3D slabs): every rank checks its points, then all agree before the
     * reductions below (a failing rank must not leave the others in a collective) */
    for (size_t k = 0; !rc && k < d * M; k++)
      if (!isfinite(op->b[k])) rc = FPK_ENUMERIC;
    for (size_t k = 0; !rc && k < d * d * M; k++)
      if (!isfinite(D[k])) rc = FPK_ENUMERIC;
    if (rc == FPK_ENUMERIC)
      fpk_error_set(err, FPK_ENUMERIC,
                    "spectral: model %s gives a non-finite drift or noise at t = %g",
                    model->name ? model->name : "(unnamed)", t);
    if ((rc = fpk_comm_agree(op->comm, rc, err))) return rc;
  }
  if (rc) return rc;
  for (size_t k = 0; k < d * M; k++)
    if (!isfinite(op->b[k]))
      return fpk_error_set(err, FPK_ENUMERIC,
                           "spectral: model %s gives a non-finite drift or noise at t = %g",
                           model->name ? model->name : "(unnamed)", t);
  for (size_t k = 0; k < d * d * M; k++)
    if (!isfinite(D[k]))
      return fpk_error_set(err, FPK_ENUMERIC,
                           "spectral: model %s gives a non-finite drift or noise at t = %g",
                           model->name ? model->name : "(unnamed)", t);
  /* the entries D_xx, D_yy (and D_xy in 2D) as "axes" 0, 1 (2) of dd; in 3D D_xx, D_yy, D_zz,
   * D_xy, D_xz, D_yz as 0..5 */
  const double *Dab[FPK_SPECTRAL_MAX_ENTRIES] = {D, d == 2 ? D + 3 * M : NULL,
                                                 d == 2 ? D + M : NULL};
  if (d == 3) {
    Dab[1] = D + 4 * M, Dab[2] = D + 8 * M;
    Dab[3] = D + 1 * M, Dab[4] = D + 2 * M, Dab[5] = D + 5 * M;
  }
  const size_t nent = d == 3 ? 6 : d == 2 ? 3 : 1;
  if (!op->sampled) {
    /* D̄ is fixed at the first sampling: the mid-range minimises max |D − D̄|, the size of the
     * explicitly treated diffusion, and D̄ >= max D / 2 is the classical condition for the
     * stabilised semi-implicit treatment of variable diffusion (Douglas & Dupont, SIAM J.
     * Numer. Anal. 7 (1970) 575). A constant D (additive noise: full, correlated or degenerate)
     * is then D̄ itself, treated exactly, and 𝒩 is the drift alone. */
    double mid[FPK_SPECTRAL_MAX_ENTRIES];
    double los[FPK_SPECTRAL_MAX_ENTRIES], his[FPK_SPECTRAL_MAX_ENTRIES];
    for (size_t e = 0; e < nent; e++) {
      double lo = INFINITY, hi = -INFINITY;
      for (size_t m = 0; m < M; m++) lo = fmin(lo, Dab[e][m]), hi = fmax(hi, Dab[e][m]);
      los[e] = lo, his[e] = hi;
      mid[e] = 0.5 * (lo + hi);
    }
    if (op->nproc > 1) {
      /* the grid's extremes over every rank's slab (min and max are exact in any order) */
      if ((rc = extremes(op, nent, los, his, err))) return rc;
      for (size_t e = 0; e < nent; e++) mid[e] = 0.5 * (los[e] + his[e]);
    }
    op->Dbar[0] = mid[0];
    op->truncate = 0;
    for (size_t e = 0; e < d; e++) {
      double amax = 0.0;
      for (size_t m = 0; m < M; m++) amax = fmax(amax, fabs(Dab[e][m]));
      if (op->nproc > 1) amax = fmax(fabs(los[e]), fabs(his[e])); /* max |D| over the grid */
      if (amax == 0.0 && op->dealias) op->truncate = 1;
    }
    if (d == 2) {
      op->Dbar[1] = mid[1];
      /* λ = −kᵀD̄k <= 0 needs D̄ positive semi-definite: a variable D's mid-ranges may not be
       * (D̄_xy² > D̄_xx D̄_yy), then D̄_xy is pulled in to the bound (the rest stays in 𝒩). A
       * constant rank-1 D (one noise column) sits on the bound up to round-off: a relative
       * 1e-12 is let through, so it is not split into a part and a 1-ulp remainder. */
      const double bound = sqrt(fmax(mid[0], 0.0) * fmax(mid[1], 0.0));
      op->Dbar_xy = fabs(mid[2]) <= bound * (1.0 + 1e-12) ? mid[2] : copysign(bound, mid[2]);
    }
    if (d == 3) {
      op->Dbar[1] = mid[1], op->Dbar[2] = mid[2];
      op->Dbar_off[0] = mid[3], op->Dbar_off[1] = mid[4], op->Dbar_off[2] = mid[5];
      if (!psd3(op->Dbar, op->Dbar_off)) /* a variable D's mid-ranges: cross diffusion in 𝒩 */
        op->Dbar_off[0] = op->Dbar_off[1] = op->Dbar_off[2] = 0.0;
    }
  }
  double bar[FPK_SPECTRAL_MAX_ENTRIES] = {op->Dbar[0], op->Dbar[1], op->Dbar_xy};
  if (d == 3)
    for (size_t e = 1; e < 6; e++) bar[e] = e < 3 ? op->Dbar[e] : op->Dbar_off[e - 3];
  int variable = 0; /* whether ∂_a∂_b((D_ab − D̄_ab)p) terms are needed at this time */
  for (size_t e = 0; e < nent; e++) {
    int vary = 0;
    for (size_t m = 0; m < M; m++) {
      op->dd[e * M + m] = Dab[e][m] - bar[e];
      vary |= op->dd[e * M + m] != 0.0;
    }
    op->vary[e] = vary;
  }
  if (op->nproc > 1) {
    /* a term is needed when D varies anywhere on the grid: the same terms on every rank */
    uint64_t v[FPK_SPECTRAL_MAX_ENTRIES];
    for (size_t e = 0; e < nent; e++) v[e] = (uint64_t)op->vary[e];
    if ((rc = fpk_comm_max_u64(op->comm, v, nent, err))) return rc;
    for (size_t e = 0; e < nent; e++) op->vary[e] = (int)v[e];
  }
  for (size_t e = 0; e < nent; e++) variable |= op->vary[e];
  op->variable_D = variable;
  fpk_spectral_term terms[FPK_SPECTRAL_MAX_TERMS];
  if (ensure_terms(op, term_list(op, terms))) return fail_alloc(err);
  op->t_model = t;
  op->sampled = 1;
  return FPK_SUCCESS;
}

void fpk_spectral_op_to_values(fpk_spectral_op *op, const fftw_complex *uh, double *u) {
  memcpy(op->ct, uh, op->nc * sizeof(fftw_complex)); /* c2r destroys its input */
  fpk_spectral_op_c2r(op, op->ct, u);
  const double s = 1.0 / (double)op->Mg;
  for (size_t m = 0; m < op->M; m++) u[m] *= s;
}

void fpk_spectral_op_from_cells(fpk_spectral_op *op, const double *cells, fftw_complex *uh) {
  memcpy(op->r, cells, op->M * sizeof(double));
  fpk_spectral_op_r2c(op, op->r, uh);
  for (size_t j = 0; j < op->ny; j++) {
    const size_t g = fpk_spectral_op_grow(op, j);
    const double ay = op->dim == 3   ? op->avg[1][g % op->n[1]] * op->avg[2][g / op->n[1]]
                      : op->dim == 2 ? op->avg[1][j]
                                     : 1.0;
    for (size_t i = 0; i < op->ncx; i++) uh[j * op->ncx + i] /= ay * op->avg[0][i];
  }
}

void fpk_spectral_op_to_cells(fpk_spectral_op *op, const fftw_complex *uh, double *cells) {
  const double s = 1.0 / (double)op->Mg;
  for (size_t j = 0; j < op->ny; j++) {
    const size_t g = fpk_spectral_op_grow(op, j);
    const double ay = op->dim == 3   ? op->avg[1][g % op->n[1]] * op->avg[2][g / op->n[1]]
                      : op->dim == 2 ? op->avg[1][j]
                                     : 1.0;
    for (size_t i = 0; i < op->ncx; i++)
      op->ct[j * op->ncx + i] = uh[j * op->ncx + i] * (s * ay * op->avg[0][i]);
  }
  fpk_spectral_op_c2r(op, op->ct, cells);
}

/* ---------------------------------------------------------------------- 𝒩 */

/* Products of the point values u with up to five coefficient fields in one sweep: u is read once
 * for all the terms (before: one sweep per term), and the first product replaces u in place. The
 * arithmetic is the previous one, (s·c_k[m])·u[m]. */
static void products(size_t n, size_t M, double s, double *const *prod, const double *const *coef) {
  const double *restrict c0 = coef[0], *restrict c1 = coef[1], *restrict c2 = coef[2],
                         *restrict c3 = coef[3], *restrict c4 = coef[4];
  double *restrict p0 = prod[0], *restrict p1 = prod[1], *restrict p2 = prod[2],
                   *restrict p3 = prod[3], *restrict p4 = prod[4];
  switch (n) {
  case 1:
    for (size_t m = 0; m < M; m++) p0[m] = s * c0[m] * p0[m];
    break;
  case 2:
    for (size_t m = 0; m < M; m++) {
      const double v = p0[m];
      p0[m] = s * c0[m] * v, p1[m] = s * c1[m] * v;
    }
    break;
  case 3:
    for (size_t m = 0; m < M; m++) {
      const double v = p0[m];
      p0[m] = s * c0[m] * v, p1[m] = s * c1[m] * v, p2[m] = s * c2[m] * v;
    }
    break;
  case 4:
    for (size_t m = 0; m < M; m++) {
      const double v = p0[m];
      p0[m] = s * c0[m] * v, p1[m] = s * c1[m] * v, p2[m] = s * c2[m] * v, p3[m] = s * c3[m] * v;
    }
    break;
  case 5: /* both axes' variable diffusion and the mixed term */
    for (size_t m = 0; m < M; m++) {
      const double v = p0[m];
      p0[m] = s * c0[m] * v, p1[m] = s * c1[m] * v, p2[m] = s * c2[m] * v, p3[m] = s * c3[m] * v;
      p4[m] = s * c4[m] * v;
    }
    break;
  default: /* 6 to 9 (3D with variable diffusion): the same products, term by term */
    for (size_t m = 0; m < M; m++) {
      const double v = p0[m];
      for (size_t k = 1; k < n; k++) prod[k][m] = s * coef[k][m] * v;
      p0[m] = s * c0[m] * v;
    }
    break;
  }
}

/* The row pipeline (2D, 2/3 rule): the 2D transforms split into their passes along y (FFTW's
 * many-DFT plans over the columns of the half spectrum) and along x (1D transforms of blocks of
 * rows), with the products taken between the inverse and the forward row transforms while the
 * block is in cache: the point values and the products never go to memory (a 2D c2r writes u,
 * the product pass reads it back and writes the products, each 2D r2c reads them: 8 MiB per
 * array at 1024²). The forward column pass runs only over the columns the 2/3 rule keeps: the
 * others are never read. The same transforms as the 2D plans (FFTW's 2D plans are these two
 * passes), in other sub-plans, so the result agrees to round-off, not bitwise. */
/* The column pass over the first ncols columns of a, in chunks of FPK_SPECTRAL_COLUMN_CHUNK (plan
 * p[0]) and the rest (p[1]), whole chunks per thread. */
static void columns(const fpk_spectral_op *op, fftw_plan const *p, size_t ncols, fftw_complex *a) {
  const size_t W = FPK_SPECTRAL_COLUMN_CHUNK, nch = (ncols + W - 1) / W;
  const int nt = op->pass_threads;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
  for (size_t q = 0; q < nch; q++) /* p[0] is for min(ncols, W) columns */
    fftw_execute_dft(p[ncols > W && ncols - q * W < W ? 1 : 0], a + q * W, a + q * W);
}

static void transform_rows(fpk_spectral_op *op, const double *const *coef) {
  const size_t nx = op->nx, ncx = op->ncx, B = op->blk, nb = op->ny / B, bm = B * nx;
  const size_t n = op->nterms;
  const double s = 1.0 / (double)op->Mg;
  columns(op, op->col_inv, ncx, op->ct);
  const int nt = op->pass_threads;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
  for (size_t jb = 0; jb < nb; jb++) {
    double *buf = op->blkbuf + (size_t)omp_get_thread_num() * FPK_SPECTRAL_MAX_TERMS * bm;
    double *prod[FPK_SPECTRAL_MAX_TERMS] = {buf, buf + bm, buf + 2 * bm, buf + 3 * bm,
                                            buf + 4 * bm};
    const double *c[FPK_SPECTRAL_MAX_TERMS] = {NULL, NULL, NULL, NULL, NULL};
    for (size_t k = 0; k < n; k++) c[k] = coef[k] + jb * bm;
    fftw_execute_dft_c2r(op->row_c2r, op->ct + jb * B * ncx, buf);
    products(n, bm, s, prod, c);
    for (size_t k = 0; k < n; k++)
      fftw_execute_dft_r2c(op->row_r2c, prod[k], op->F[k] + jb * B * ncx);
  }
  for (size_t k = 0; k < n; k++) columns(op, op->col_fwd, nx / 3 + 1, op->F[k]);
}

void fpk_spectral_op_transform(fpk_spectral_op *op, int dealias) {
  const size_t M = op->M;
  op->nterms = term_list(op, op->terms);
  const double *coef[FPK_SPECTRAL_MAX_TERMS] = {NULL, NULL, NULL, NULL, NULL};
  for (size_t k = 0; k < op->nterms; k++)
    coef[k] = (op->terms[k].second ? op->dd : op->b) + op->terms[k].axis * M;
  if (dealias && op->row_c2r) {
    transform_rows(op, coef);
    return;
  }
  /* u = physical values; the 1/M of the inverse transform is folded into the products. */
  fpk_spectral_op_c2r(op, op->ct, op->r);
  const int nt = op->pass_threads;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    /* the thread's share of the points, a multiple of 4 (whole AVX vectors) */
    const size_t T = (size_t)omp_get_num_threads(), q = (size_t)omp_get_thread_num();
    const size_t chunk = (M / T + 3) / 4 * 4, m0 = q * chunk < M ? q * chunk : M,
                 m1 = m0 + chunk < M ? m0 + chunk : M;
    double *p[FPK_SPECTRAL_MAX_TERMS];
    const double *c[FPK_SPECTRAL_MAX_TERMS];
    for (size_t k = 0; k < FPK_SPECTRAL_MAX_TERMS; k++) {
      p[k] = op->prod[k] ? op->prod[k] + m0 : NULL;
      c[k] = coef[k] ? coef[k] + m0 : NULL;
    }
    products(op->nterms, m1 - m0, 1.0 / (double)op->Mg, p, c);
  }
  for (size_t k = 0; k < op->nterms; k++) fpk_spectral_op_r2c(op, op->prod[k], op->F[k]);
}

/* The product (multiplier m of a term) × (fr + i fi): −i m f (drift, second = 0) or −m f
 * (diffusion, second = 1). second is a constant at every call (always inlined), so each kernel
 * below is branch-free and vectorises. */
static inline __attribute__((always_inline)) void term_mul(int second, double m, double fr,
                                                           double fi, double *cr, double *ci) {
  if (second)
    *cr = -m * fr, *ci = -m * fi;
  else
    *cr = m * fi, *ci = -m * fr;
}

/* One row of 𝒩 over n modes (interleaved re/im). Term t's multiplier at x index i is
 * α_t A_t[i] + β_t: (1, k_x, 0) for an x term, (0, any, k_y(row)) for a y term, (2k_y(row),
 * k_x, 0) for the mixed term — exact each way. add = 0: o = t1(f) + t2(g) (t2 absent when g is NULL); add = 1: o += t1(f). */
static inline __attribute__((always_inline)) void
row_kernel(int add, int two, int s1, int s2, double *restrict o, const double *restrict f,
           const double *restrict g, size_t n, const double *restrict A1, double a1, double b1,
           const double *restrict A2, double a2, double b2) {
  for (size_t i = 0; i < n; i++) {
    double cr, ci;
    term_mul(s1, a1 * A1[i] + b1, f[2 * i], f[2 * i + 1], &cr, &ci);
    if (two) {
      double dr, di;
      term_mul(s2, a2 * A2[i] + b2, g[2 * i], g[2 * i + 1], &dr, &di);
      o[2 * i] = cr + dr, o[2 * i + 1] = ci + di;
    } else if (add) {
      o[2 * i] += cr, o[2 * i + 1] += ci;
    } else {
      o[2 * i] = cr, o[2 * i + 1] = ci;
    }
  }
}

#define ROW(add, two, s1, s2) row_kernel(add, two, s1, s2, o, f, g, n, A1, a1, b1, A2, a2, b2)
static void row_pass(int add, int s1, int s2, double *restrict o, const double *restrict f,
                     const double *restrict g, size_t n, const double *A1, double a1, double b1,
                     const double *A2, double a2, double b2) {
  if (add) {
    if (s1) ROW(1, 0, 1, 0);
    else ROW(1, 0, 0, 0);
  } else if (!g) {
    if (s1) ROW(0, 0, 1, 0);
    else ROW(0, 0, 0, 0);
  } else {
    switch (s1 * 2 + s2) {
    case 0: ROW(0, 1, 0, 0); break;
    case 1: ROW(0, 1, 0, 1); break;
    case 2: ROW(0, 1, 1, 0); break;
    default: ROW(0, 1, 1, 1); break;
    }
  }
}
#undef ROW

size_t fpk_spectral_op_row(const fpk_spectral_op *op, size_t j, int dealias, fftw_complex *nrow) {
  const size_t ncx = op->ncx, nkx = dealias ? op->nx / 3 + 1 : ncx;
  if (dealias && op->dim == 2 && !op->keep[1][j]) return 0;
  const size_t jg = fpk_spectral_op_grow(op, j);
  const size_t jy = op->dim == 3 ? jg % op->n[1] : j, jz = op->dim == 3 ? jg / op->n[1] : 0;
  if (dealias && op->dim == 3 && (!op->keep[1][jy] || !op->keep[2][jz])) return 0;
  const double *kx[2] = {op->k1[0], op->k2[0]};
  const double *A[FPK_SPECTRAL_MAX_TERMS];
  double al[FPK_SPECTRAL_MAX_TERMS], be[FPK_SPECTRAL_MAX_TERMS];
  for (size_t q = 0; q < op->nterms; q++) {
    const fpk_spectral_term *t = &op->terms[q];
    if (op->dim == 3) {
      /* as in 2D, with the row's (jy, jz): x terms (1, k_x, 0), y and z terms (0, any, k),
       * xy and xz (2k_y or 2k_z, k_x, 0), yz (0, any, 2 k_y k_z) */
      const size_t e = t->axis;
      A[q] = e >= 3 ? op->k1[0] : kx[t->second];
      switch (e) {
      case 0: al[q] = 1.0, be[q] = 0.0; break;
      case 1: al[q] = 0.0, be[q] = t->second ? op->k2[1][jy] : op->k1[1][jy]; break;
      case 2: al[q] = 0.0, be[q] = t->second ? op->k2[2][jz] : op->k1[2][jz]; break;
      case 3: al[q] = 2.0 * op->k1[1][jy], be[q] = 0.0; break;
      case 4: al[q] = 2.0 * op->k1[2][jz], be[q] = 0.0; break;
      default: al[q] = 0.0, be[q] = 2.0 * op->k1[1][jy] * op->k1[2][jz]; break;
      }
      continue;
    }
    if (t->axis == 2) {
      /* the mixed term 2∂_x∂_y: multiplier 2 k_y k_x (term_mul's second form negates it), the
       * first-derivative wavenumbers along both axes */
      A[q] = op->k1[0];
      al[q] = 2.0 * op->k1[1][j];
      be[q] = 0.0;
      continue;
    }
    const int x = t->axis == 0;
    A[q] = kx[t->second];
    al[q] = x ? 1.0 : 0.0;
    be[q] = x ? 0.0 : (t->second ? op->k2[1][j] : op->k1[1][j]);
  }
  double *o = (double *)nrow;
  const double *f0 = (const double *)(op->F[0] + j * ncx);
  if (op->nterms == 1) {
    row_pass(0, op->terms[0].second, 0, o, f0, NULL, nkx, A[0], al[0], be[0], A[0], al[0], be[0]);
    return nkx;
  }
  /* the sums in the order of the previous code: (t0 + t1) + t2 + t3 */
  row_pass(0, op->terms[0].second, op->terms[1].second, o, f0,
           (const double *)(op->F[1] + j * ncx), nkx, A[0], al[0], be[0], A[1], al[1], be[1]);
  for (size_t q = 2; q < op->nterms; q++)
    row_pass(1, op->terms[q].second, 0, o, (const double *)(op->F[q] + j * ncx), NULL, nkx,
             A[q], al[q], be[q], A[q], al[q], be[q]);
  return nkx;
}

/* 𝒩 into out, row by row, zeros in the dropped modes. */
static void evaluate(fpk_spectral_op *op, fftw_complex *out, int dealias) {
  fpk_spectral_op_transform(op, dealias);
  const size_t ncx = op->ncx;
  const int nt = op->pass_threads;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
  for (size_t j = 0; j < op->ny; j++) {
    fftw_complex *o = out + j * ncx;
    const size_t nk = fpk_spectral_op_row(op, j, dealias, o);
    if (nk < ncx) memset(o + nk, 0, (ncx - nk) * sizeof(fftw_complex));
  }
}

int fpk_spectral_op_choose_pass_threads(fpk_spectral_op *op) {
  const int most = op->pass_threads;
  /* over ranks the timing loops would run different numbers of collective transposes: the
   * threads asked for are kept (the choice never changes a bit) */
  if (most <= 1 || op->nproc > 1) return FPK_SUCCESS;
  fftw_complex *out = fftw_alloc_complex(op->nc), *save = fftw_alloc_complex(op->nc);
  if (!out || !save) {
    fftw_free(out), fftw_free(save);
    return FPK_ENOMEM;
  }
  /* the probe: the transform of the sampled drift's first component, a smooth field */
  memcpy(op->r, op->b, op->M * sizeof(double));
  fpk_spectral_op_r2c(op, op->r, save);
  double t[2][5];
  for (int round = 0; round < 5; round++)
    for (int q = 0; q < 2; q++) {
      op->pass_threads = q ? most : 1;
      const double t0 = seconds();
      double t1 = t0;
      size_t runs = 0;
      do { /* as in choose_plan: rounds of >= FPK_SPECTRAL_TIMING_ROUND */
        memcpy(op->ct, save, op->nc * sizeof(fftw_complex));
        evaluate(op, out, op->dealias);
        runs++;
      } while ((t1 = seconds()) - t0 < FPK_SPECTRAL_TIMING_ROUND);
      t[q][round] = (t1 - t0) / (double)runs;
    }
  op->pass_threads = median5(t[1]) < FPK_SPECTRAL_THREADS_GAIN * median5(t[0]) ? most : 1;
  fftw_free(out), fftw_free(save);
  return FPK_SUCCESS;
}

void fpk_spectral_op_apply_ct(fpk_spectral_op *op, fftw_complex *out) {
  evaluate(op, out, op->dealias);
}

void fpk_spectral_op_apply_full(fpk_spectral_op *op, const fftw_complex *uh, fftw_complex *out) {
  memcpy(op->ct, uh, op->nc * sizeof(fftw_complex)); /* c2r destroys its input */
  evaluate(op, out, 0);
  for (size_t c = 0; c < op->nc; c++) out[c] += fpk_spectral_op_lambda(op, c) * uh[c];
}
