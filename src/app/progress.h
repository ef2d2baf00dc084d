/* Progress lines and the log file of the commands (src/app/progress.c, src/app/log.c;
 * docs/workflow.md). Internal to the command-line program. */
#ifndef FPK_APP_PROGRESS_H
#define FPK_APP_PROGRESS_H

#include <stddef.h>
#include "fpkit/error.h"

/* fpk_run_options.progress */
enum {
  FPK_PROGRESS_NONE = 0,  /* nothing on stderr */
  FPK_PROGRESS_BAR = 1,   /* one line rewritten in place (\r), at most 10 times a second: a tty */
  FPK_PROGRESS_PLAIN = 2  /* one line per phase start, per 10% and per phase end: logs, batch jobs */
};

/* One long phase (Monte Carlo paths, time steps, OT solves): percentage, rate and ETA. */
typedef struct fpk_app_progress {
  int mode;
  char phase[192];    /* "mc", "fv", "ot eps = 0.1 ..." */
  const char *unit;   /* "paths", "steps", "solves" */
  size_t total;       /* units in all (0: unknown; only counts are shown) */
  size_t base;        /* units done before the current library call (added to what it reports) */
  size_t done;        /* units done so far */
  size_t done0;       /* units done when the phase started (a resumed run): not in the rate */
  double t0, last;    /* monotonic seconds: start, last line drawn */
  int tenth;          /* plain: the last tenth reported */
  int drawn;          /* bar: a line is on the terminal */
} fpk_app_progress;

/* Starts a phase (logs it at info). done0: units already done (a resumed run). */
void fpk_app_progress_start(fpk_app_progress *p, int mode, const char *phase, const char *unit,
                            size_t total, size_t done0);
/* done units of the phase are complete; draws when due (bar: 0.1 s apart; plain: each 10%). */
void fpk_app_progress_update(fpk_app_progress *p, size_t done);
/* Whether p wants the library's reports: progress is shown, or a log records the counts. */
int fpk_app_progress_on(const fpk_app_progress *p);
/* fpk_progress_fn for the library: user is an fpk_app_progress; reports base + done. */
void fpk_app_progress_cb(void *user, size_t done, size_t total);
/* Ends a phase: clears the bar, or prints (plain) and logs the count, time and rate. */
void fpk_app_progress_end(fpk_app_progress *p);
/* A short phase or a status line ("exact", "writing out.h5"): bar: shown in place; plain: one
 * line; also logged at info. */
void fpk_app_status(int mode, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Clears a bar or status left on the terminal (bar mode only). */
void fpk_app_progress_clear(int mode);

/* ---- the log file (--log FILE, --log-level; src/app/log.c) ----------------------------- */
enum { FPK_LOG_ERROR = 0, FPK_LOG_WARN = 1, FPK_LOG_INFO = 2, FPK_LOG_DEBUG = 3 };
/* "error", "warn", "info", "debug" → level, or -1. */
int fpk_app_log_level(const char *name);
/* Opens path for appending (created if missing) and keeps lines of level <= `level`. Fails with
 * FPK_EINVAL, before writing anything, when path is one of the ninputs files `inputs` (the same
 * device and inode; NULL entries are skipped) or an existing regular file that is not empty and
 * whose first line is not a line of this log; with FPK_EIO and the reason when the file cannot
 * be opened for writing. One log per process: the commands are one run each. */
int fpk_app_log_open(const char *path, int level, const char *const *inputs, size_t ninputs,
                     fpk_error *err);
/* The path of the open log, NULL when none: an input the output may not replace
 * (fpk_app_create_output). */
const char *fpk_app_log_path(void);
/* One timestamped line ("2026-12-06T20:41:07.123Z fpkit[1234] info: ...") when a log is open and
 * level <= its level; otherwise nothing. */
void fpk_app_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whether a line of this level would be written (to skip building a long one). */
int fpk_app_log_enabled(int level);
/* text line by line (the resolved configuration at debug), each prefixed with `what`. */
void fpk_app_log_text(int level, const char *what, const char *text);
void fpk_app_log_close(void);

#endif
