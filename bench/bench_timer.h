/* Wall-clock and CPU timers shared by the benchmarks. The machine is often shared, so every
 * benchmark reports both: per-CPU-second rates are the steadier figure. */
#ifndef FPK_BENCH_TIMER_H
#define FPK_BENCH_TIMER_H

#include <time.h>

static inline double clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static inline double now(void) { return clock_s(CLOCK_MONOTONIC); }
static inline double cpu(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

#endif
