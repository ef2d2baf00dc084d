/* Error records: one reporting function, no global state (see fpkit/error.h). */
#include "fpkit/error.h"

#include <stdio.h>
#include <string.h>

int fpk_error_set(fpk_error *err, int status, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->status = status;
  }
  return status;
}

int fpk_error_prefix(fpk_error *err, const char *fmt, ...) {
  if (!err) return FPK_SUCCESS;
  char head[FPK_ERRMSG_MAX], old[FPK_ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(head, sizeof head, fmt, ap);
  va_end(ap);
  memcpy(old, err->msg, sizeof old);
  /* Truncation of an over-long message is acceptable; the head comes first. */
  size_t k = strlen(head);
  if (k >= sizeof err->msg) k = sizeof err->msg - 1;
  memcpy(err->msg, head, k);
  size_t rest = strlen(old);
  if (rest > sizeof err->msg - 1 - k) rest = sizeof err->msg - 1 - k;
  memcpy(err->msg + k, old, rest);
  err->msg[k + rest] = '\0';
  return err->status;
}

void fpk_error_clear(fpk_error *err) {
  if (err) {
    err->status = FPK_SUCCESS;
    err->msg[0] = '\0';
  }
}

int fpk_error_copy(fpk_error *dst, const fpk_error *src) {
  if (!src) return FPK_SUCCESS;
  if (dst && dst != src) *dst = *src;
  return src->status;
}

const char *fpk_strerror(int status) {
  switch (status) {
    case FPK_SUCCESS: return "success";
    case FPK_EINVAL: return "invalid argument";
    case FPK_ENOMEM: return "out of memory";
    case FPK_EIO: return "input/output error";
    case FPK_ENUMERIC: return "numerical failure";
    case FPK_EUNSUP: return "not supported";
    case FPK_ECALLBACK: return "callback failed";
    case FPK_EINTR: return "interrupted";
    default: return "unknown error";
  }
}
