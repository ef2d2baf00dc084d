/* fpkit/checkpoint.h — solver states in HDF5: the checkpoint layer of `fpkit run --resume`
 * (layout: docs/checkpoint.md).
 *
 * The writers put a solver's state at a step boundary (fpk_fv_get_state, fpk_spectral_get_state,
 * the Monte Carlo engine's checkpoint callback) into a group of an fpk_h5 file; the readers take
 * it back from an fpk_h5_reader, checking every dataset's shape and every attribute against the
 * sizes the caller's configuration gives, so that a damaged checkpoint, or one of another run, is
 * an error naming the file, the object, what was found and what was expected, never a wrong
 * number. Values are stored as doubles (integer counts too: exact below 2^53), so a state read
 * back is bitwise the state written.
 *
 * Every reader's error is FPK_EINVAL (FPK_EIO for an object HDF5 cannot open or read, FPK_ENOMEM)
 * and ends "(a damaged checkpoint)" or "(a damaged checkpoint, or not one of this run)".
 */
#ifndef FPKIT_CHECKPOINT_H
#define FPKIT_CHECKPOINT_H

#include <stddef.h>
#include "fpkit/error.h"
#include "fpkit/fv.h"
#include "fpkit/grid.h"
#include "fpkit/io.h"
#include "fpkit/sde.h"
#include "fpkit/spectral.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The file ----------------------------------------------------------------------------- */

/* The version of the checkpoint layout (root attribute checkpoint_format). */
#define FPK_CKPT_FORMAT 1

/* Marks f as a checkpoint: the root attributes fpkit_version (this library's), fpkit_checkpoint
 * (what the file is and how to continue it) and checkpoint_format. Returns the writer's status. */
int fpk_ckpt_mark(fpk_h5 *f);
/* Opens a checkpoint for reading: refused (NULL; FPK_EIO for a file that cannot be read or is not
 * HDF5, else FPK_EINVAL, naming the file) unless it has the fpkit_checkpoint marker, was written
 * by this version of fpkit (a run resumes only with the version that started it: no other
 * promises the same numbers) and has layout FPK_CKPT_FORMAT. */
fpk_h5_reader *fpk_ckpt_open(const char *path, fpk_error *err);

/* ---- Checked reads of a checkpoint --------------------------------------------------------- */

/* Dataset `path` of exactly the shape dims[0..rank-1] (rank 0: a scalar) into out
 * (dims[0] * ... values). A different shape: "FILE: dataset 'PATH' has shape [2][3], this run's
 * configuration needs [2][4] (a damaged checkpoint)". */
int fpk_ckpt_read_array(fpk_h5_reader *r, const char *path, size_t rank, const size_t *dims,
                        double *out, fpk_error *err);
/* A numeric attribute holding one finite value. */
int fpk_ckpt_read_finite(fpk_h5_reader *r, const char *object, const char *name, double *v,
                         fpk_error *err);
/* A numeric attribute holding a whole number in [0, max] (max <= 2^53). */
int fpk_ckpt_read_count(fpk_h5_reader *r, const char *object, const char *name, double max,
                        size_t *v, fpk_error *err);
/* Dataset `path` of exactly the shape dims, n = dims[0] * ... values, each a whole number in
 * [0, max] stored as a double, into out; buf holds n doubles (scratch). */
int fpk_ckpt_read_counts(fpk_h5_reader *r, const char *path, size_t rank, const size_t *dims,
                         size_t n, double max, double *buf, uint64_t *out, fpk_error *err);

/* ---- Finite-volume state ------------------------------------------------------------------ */

/* Creates `group` ("/fv/state") holding st: p (the field [ny][nx] of g, as densities are
 * written), cache, and the attributes t, steps, t0, t1, h, n, i, mass0, mass_prev. Returns
 * FPK_SUCCESS or the writer's status (its message on f). */
int fpk_h5_write_fv_state(fpk_h5 *f, const char *group, const fpk_grid *g,
                          const fpk_fv_state *st);
/* Reads the state written by fpk_h5_write_fv_state for a solver on g into *st; st->p is
 * malloc'd (release with fpk_h5_fv_state_free, also after a failure). The values are checked
 * here for shape and finiteness only: fpk_fv_restore checks the rest (the split, the cache). */
int fpk_h5_read_fv_state(fpk_h5_reader *r, const char *group, const fpk_grid *g,
                         fpk_fv_state *st, fpk_error *err);
void fpk_h5_fv_state_free(fpk_fv_state *st);

/* ---- Spectral state ----------------------------------------------------------------------- */

/* Creates `group` ("/spectral/state") holding st: uh [nc][2] (Fourier coefficients, [re, im]),
 * uprev and nprev [nc][2] when st->hist_h != 0 (SBDF2's history), and the attributes t, steps,
 * t0, t1, h, n, i, mass, hc, hist_h. */
int fpk_h5_write_spectral_state(fpk_h5 *f, const char *group, const fpk_spectral_state *st);
/* Reads it back for a solver of nc complex coefficients per array (fpk_spectral_get_state of the
 * solver to restore gives nc); st->uh (with uprev and nprev in the same block) is malloc'd:
 * release with fpk_h5_spectral_state_free. */
int fpk_h5_read_spectral_state(fpk_h5_reader *r, const char *group, size_t nc,
                               fpk_spectral_state *st, fpk_error *err);
void fpk_h5_spectral_state_free(fpk_spectral_state *st);

/* ---- Monte Carlo state -------------------------------------------------------------------- */

/* Writes st into `group` ("/mc", created here): counts [nt][cells], outside [nt], alive [nt]
 * (integer counts as doubles), moments [nt][FPK_MC_NSTAT(dim)], paths [kept_rows][nsteps+1][dim]
 * when kept_rows > 0, and the attributes next_block, paths_done, kept_rows. FPK_ENOMEM (nothing
 * on f) when the conversion buffer cannot be had. */
int fpk_h5_write_mc_state(fpk_h5 *f, const char *group, const fpk_mc_state *st);
/* Reads the state of a run whose sizes `expect` gives (npaths, nt, cells, dim, nsteps,
 * keep_paths, seed; its arrays are not used) into *st: next_block in [0, blocks of npaths],
 * paths_done in [0, npaths], kept_rows in [0, keep_paths], every count in [0, npaths], every
 * shape exact. The arrays are malloc'd: release with fpk_h5_mc_state_free (also after a
 * failure). The engine (fpk_mc_params.resume) checks the rest. */
int fpk_h5_read_mc_state(fpk_h5_reader *r, const char *group, const fpk_mc_state *expect,
                         fpk_mc_state *st, fpk_error *err);
void fpk_h5_mc_state_free(fpk_mc_state *st);

#ifdef __cplusplus
}
#endif
#endif
