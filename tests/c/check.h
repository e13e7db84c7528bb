/*
 * check.h: the tiny test harness of the C tests in tests/c, shared by each program.
 *
 * Every check counts as passed or failed; a failed check prints its file, line, expression
 * and, for a status, its name and warren_last_error's text. A failed REQUIRE also ends the
 * current test function (its later steps would use what the failed one did not make).
 * FINISH prints "N passed, M failed" and gives the exit code (0 only when nothing failed).
 */
#ifndef WARREN_TESTS_CHECK_H
#define WARREN_TESTS_CHECK_H

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "warren.h"

static atomic_int checks_passed;
static atomic_int checks_failed;

/* A C string as a warren (pointer, length) pair. */
#define STR(s) (const uint8_t *)(s), strlen(s)

static inline void check_report_status(const char *file, int line, const char *expr,
                                enum warren_status got, enum warren_status want) {
  char text[512];
  warren_last_error(text, sizeof text);
  fprintf(stderr, "FAIL %s:%d: %s: got %s, want %s (last error: %s)\n", file, line, expr,
          warren_status_name((int)got), warren_status_name((int)want), text);
}

/* Counts a check; reports it when it failed. Returns `ok`. */
static inline int check_counted(int ok, const char *file, int line, const char *expr) {
  if (ok) {
    atomic_fetch_add(&checks_passed, 1);
  } else {
    atomic_fetch_add(&checks_failed, 1);
    fprintf(stderr, "FAIL %s:%d: %s\n", file, line, expr);
  }
  return ok;
}

/* `cond` holds; otherwise counted and reported. Evaluates to whether it held. */
#define CHECK(cond) check_counted(!!(cond), __FILE__, __LINE__, #cond)

/* `call` returns `want`; otherwise counted and reported with the error text. */
#define EXPECT(call, want)                                                             \
  do {                                                                                 \
    enum warren_status got_ = (call);                                                  \
    if (got_ == (want)) {                                                              \
      atomic_fetch_add(&checks_passed, 1);                                             \
    } else {                                                                           \
      atomic_fetch_add(&checks_failed, 1);                                             \
      check_report_status(__FILE__, __LINE__, #call, got_, (want));                    \
    }                                                                                  \
  } while (0)

/* As EXPECT, and the current function returns (`ret...`: its value, if any) on a miss. */
#define REQUIRE_STATUS(call, want, ...)                                                \
  do {                                                                                 \
    enum warren_status got_ = (call);                                                  \
    if (got_ == (want)) {                                                              \
      atomic_fetch_add(&checks_passed, 1);                                             \
    } else {                                                                           \
      atomic_fetch_add(&checks_failed, 1);                                             \
      check_report_status(__FILE__, __LINE__, #call, got_, (want));                    \
      return __VA_ARGS__;                                                              \
    }                                                                                  \
  } while (0)

/* `call` returns WARREN_STATUS_OK, or the current function returns. */
#define REQUIRE_OK(call, ...) REQUIRE_STATUS(call, WARREN_STATUS_OK, __VA_ARGS__)

/* `cond` holds, or the current function returns. */
#define REQUIRE(cond, ...)                                                             \
  do {                                                                                 \
    if (!CHECK(cond)) return __VA_ARGS__;                                              \
  } while (0)

/* Whether the last error text of this thread contains `needle`. */
static inline int last_error_contains(const char *needle) {
  char text[1024];
  size_t n = warren_last_error(text, sizeof text);
  return n > 0 && strstr(text, needle) != NULL;
}

/* Whether the bytes (ptr, len) equal the C string `s`. */
static inline int bytes_eq(const uint8_t *ptr, size_t len, const char *s) {
  return len == strlen(s) && (len == 0 || memcmp(ptr, s, len) == 0);
}

/* The closing line the test harness reads, and the exit code. */
static inline int finish(void) {
  int passed = atomic_load(&checks_passed), failed = atomic_load(&checks_failed);
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 && passed > 0 ? 0 : 1;
}

#endif /* WARREN_TESTS_CHECK_H */
