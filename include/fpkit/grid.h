/* fpkit/grid.h — uniform cell-centred tensor grids in 1, 2 (and later 3) dimensions.
 *
 * Cell i along axis a spans [lo[a] + i h[a], lo[a] + (i+1) h[a]] with centre lo[a] + (i+½) h[a].
 * Flat storage is row-major with axis 0 (x) fastest: flat = i + n[0]*(j + n[1]*k). A field on
 * the grid is therefore an array shaped [nz][ny][nx] in C order, as in the HDF5 files.
 * The boundary condition of each axis belongs to the domain, so that every solver and the
 * Monte Carlo histograms see the same one.
 */
#ifndef FPKIT_GRID_H
#define FPKIT_GRID_H

#include <stddef.h>
#include "fpkit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FPK_MAX_DIM 3

typedef enum fpk_bc {
  FPK_BC_REFLECTING = 0, /* zero total flux J·n = 0 */
  FPK_BC_PERIODIC = 1,
  FPK_BC_ABSORBING = 2   /* p = 0 on the boundary; mass leaves, survival is reported */
} fpk_bc;

typedef struct fpk_grid {
  size_t dim;
  size_t n[FPK_MAX_DIM];
  double lo[FPK_MAX_DIM], hi[FPK_MAX_DIM], h[FPK_MAX_DIM];
  fpk_bc bc[FPK_MAX_DIM];
  size_t size;        /* total number of cells */
  double cell_volume; /* product of h */
} fpk_grid;

/* Fills g; fails (FPK_EINVAL) for dim outside 1..FPK_MAX_DIM, n < 3, lo >= hi or non-finite bounds. */
int fpk_grid_init(fpk_grid *g, size_t dim, const size_t *n, const double *lo, const double *hi,
                  const fpk_bc *bc, fpk_error *err);
static inline double fpk_grid_center(const fpk_grid *g, size_t axis, size_t i) {
  return g->lo[axis] + ((double)i + 0.5) * g->h[axis];
}
/* Coordinates of the centre of flat cell `flat`, written to x[0..dim-1]. */
void fpk_grid_point(const fpk_grid *g, size_t flat, double *x);
/* Integral of a grid field: sum(p) * cell_volume. */
double fpk_grid_integral(const fpk_grid *g, const double *p);
const char *fpk_bc_name(fpk_bc bc);
/* Parses "reflecting" | "periodic" | "absorbing"; returns FPK_EINVAL on anything else. */
int fpk_bc_parse(const char *s, fpk_bc *bc);
/* 1 if a and b are the same grid: the same dimension, cell counts and boundary conditions, and
 * bounds equal within 1e-12 of the axis length (bounds read back from a file, or written as
 * decimals in two configurations, may differ in the last bits), else 0. */
int fpk_grid_equal(const fpk_grid *a, const fpk_grid *b);
/* "60 cells on [-6, 6]" or "40 x 30 cells on [-3, 3] x [-2, 2]"; with with_bc, the boundary
 * conditions follow (", reflecting" or ", periodic x reflecting"). Always NUL-terminated. */
void fpk_grid_describe(const fpk_grid *g, int with_bc, char *buf, size_t len);
/* The largest fraction of the mass of p (cell averages >= 0, positive mass) that lies in one
 * outermost layer of cells at a non-periodic wall: a density that does not decay inside the box
 * (the check of an initial law given on the grid). *axis and *side (0 lower, 1 upper) say which
 * layer; both may be NULL. 0 when every axis is periodic. */
double fpk_grid_wall_mass(const fpk_grid *g, const double *p, size_t *axis, int *side);

/* Largest number of steps in one output interval. Beyond it a run cannot finish (10¹² steps of
 * even a one-cell problem take hours) and counts would soon leave the integers a double holds
 * exactly; such a dt is an input error, reported with the numbers. */
#define FPK_MAX_STEPS 1e12

/* Splits [t0, t1] into the fewest equal steps no longer than dt (a relative slack of 1e-9 keeps
 * t1 - t0 = k*dt from producing k+1 steps): *n steps of size *h, *n >= 1 when t1 > t0 and 0 when
 * t1 == t0. The count is computed in floating point and refused (FPK_EINVAL, with the numbers)
 * beyond FPK_MAX_STEPS, or when the step is too small to move t (below the resolution of a double
 * near t1), or for non-finite or reversed input. Used by every time stepper so that FP solvers,
 * Monte Carlo and the exact Euler–Maruyama moments take the same steps. */
int fpk_time_steps(double t0, double t1, double dt, size_t *n, double *h, fpk_error *err);
/* For a solver restored in the middle of an interval (a checkpoint): FPK_SUCCESS if n steps of h
 * are the split fpk_time_steps(t0, t1, dt) makes and t is the time of step i < n of it, else
 * FPK_EINVAL saying which. */
int fpk_time_steps_position(double t0, double t1, double dt, size_t n, double h, size_t i,
                            double t, fpk_error *err);

#ifdef __cplusplus
}
#endif
#endif
