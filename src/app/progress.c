/* Progress of the long phases on stderr (docs/workflow.md). The library reports work done through
 * fpk_progress_fn callbacks from one thread; this file turns them into lines: a bar rewritten in
 * place on a terminal, or one line per 10% for logs. Drawing only observes: nothing here feeds
 * back into a computation, so results are bitwise the same with progress on or off
 * (tests/cli/progress.sh). */
#include "app/progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* A bar is redrawn at most this often: a terminal needs no more, and a callback after every
 * time step of a 1D run (~1e6 steps/s) must not turn into a million writes. */
#define BAR_INTERVAL 0.1

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* "4s", "3m07s", "2h05m": the ETA and elapsed times. */
static void duration(double s, char *buf, size_t len) {
  if (!(s >= 0.0) || s > 1e8) {
    snprintf(buf, len, "?");
    return;
  }
  const long t = (long)(s + 0.5);
  if (s < 10.0)
    snprintf(buf, len, "%.1fs", s);
  else if (t < 60)
    snprintf(buf, len, "%lds", t);
  else if (t < 3600)
    snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
  else
    snprintf(buf, len, "%ldh%02ldm", t / 3600, t / 60 % 60);
}

/* "mc 45% 45056/100000 paths, 12345 paths/s, ETA 4s" */
static void describe(const fpk_app_progress *p, double t, char *buf, size_t len) {
  const double el = t - p->t0, rate = el > 0.0 ? (double)(p->done - p->done0) / el : 0.0;
  int k = 0;
  if (p->total)
    k = snprintf(buf, len, "%s %3.0f%% %zu/%zu %s", p->phase,
                 100.0 * (double)p->done / (double)p->total, p->done, p->total, p->unit);
  else
    k = snprintf(buf, len, "%s %zu %s", p->phase, p->done, p->unit);
  if (k < 0 || (size_t)k >= len) return;
  if (rate > 0.0) {
    char eta[64] = "";
    if (p->total && p->done < p->total) {
      char d[48];
      duration((double)(p->total - p->done) / rate, d, sizeof d);
      snprintf(eta, sizeof eta, ", ETA %s", d);
    }
    snprintf(buf + k, len - (size_t)k, ", %.3g %s/s%s", rate, p->unit, eta);
  }
}

void fpk_app_progress_start(fpk_app_progress *p, int mode, const char *phase, const char *unit,
                            size_t total, size_t done0) {
  memset(p, 0, sizeof *p);
  p->mode = mode;
  snprintf(p->phase, sizeof p->phase, "%s", phase);
  p->unit = unit;
  p->total = total;
  p->done = p->done0 = done0;
  p->t0 = p->last = now();
  p->tenth = total ? (int)(10 * done0 / total) : 0;
  fpk_app_log(FPK_LOG_INFO, "%s: start (%zu %s%s)", phase, total, unit,
              done0 ? ", resumed" : "");
  if (mode == FPK_PROGRESS_PLAIN) {
    fprintf(stderr, "fpkit: %s: %zu %s\n", phase, total, unit);
    fflush(stderr);
  }
}

void fpk_app_progress_update(fpk_app_progress *p, size_t done) {
  if (done < p->done) return; /* threads may report out of order: keep the largest count */
  p->done = done;
  if (p->mode == FPK_PROGRESS_NONE) return;
  const double t = now();
  char line[256];
  if (p->mode == FPK_PROGRESS_BAR) {
    if (t - p->last < BAR_INTERVAL) return;
    p->last = t;
    describe(p, t, line, sizeof line);
    fprintf(stderr, "\r\033[Kfpkit: %s", line);
    fflush(stderr);
    p->drawn = 1;
    return;
  }
  if (!p->total) return;
  const int tenth = (int)(10 * (done < p->total ? done : p->total) / p->total);
  if (tenth <= p->tenth || tenth >= 10) return; /* 100% is the end line */
  p->tenth = tenth;
  describe(p, t, line, sizeof line);
  fprintf(stderr, "fpkit: %s\n", line);
  fflush(stderr);
}

int fpk_app_progress_on(const fpk_app_progress *p) {
  return p->mode != FPK_PROGRESS_NONE || fpk_app_log_enabled(FPK_LOG_INFO);
}

void fpk_app_progress_cb(void *user, size_t done, size_t total) {
  (void)total;
  fpk_app_progress *p = user;
  fpk_app_progress_update(p, p->base + done);
}

void fpk_app_progress_end(fpk_app_progress *p) {
  const double el = now() - p->t0;
  const double rate = el > 0.0 ? (double)(p->done - p->done0) / el : 0.0;
  char d[48];
  duration(el, d, sizeof d);
  fpk_app_log(FPK_LOG_INFO, "%s: done, %zu %s in %.3f s (%.4g %s/s)", p->phase, p->done,
              p->unit, el, rate, p->unit);
  if (p->mode == FPK_PROGRESS_BAR && p->drawn) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
  } else if (p->mode == FPK_PROGRESS_PLAIN) {
    fprintf(stderr, "fpkit: %s done: %zu %s in %s (%.3g %s/s)\n", p->phase, p->done, p->unit, d,
            rate, p->unit);
    fflush(stderr);
  }
  p->drawn = 0;
}

void fpk_app_status(int mode, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  fpk_app_log(FPK_LOG_INFO, "%s", line);
  if (mode == FPK_PROGRESS_BAR)
    fprintf(stderr, "\r\033[Kfpkit: %s", line);
  else if (mode == FPK_PROGRESS_PLAIN)
    fprintf(stderr, "fpkit: %s\n", line);
  fflush(stderr);
}

void fpk_app_progress_clear(int mode) {
  if (mode != FPK_PROGRESS_BAR) return;
  fputs("\r\033[K", stderr);
  fflush(stderr);
}
