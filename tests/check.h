/* A minimal test harness: CHECK records a failure with its location and carries on;
 * REQUIRE stops the test function. Each test executable returns non-zero when any
 * check failed, which is what CTest looks at. */
#ifndef VX_CHECK_H
#define VX_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures __attribute__((unused)) = 0;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);    \
            check_failures++;                                                           \
        }                                                                               \
    } while (0)

#define CHECK_MSG(cond, ...)                                                            \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);    \
            fprintf(stderr, __VA_ARGS__);                                               \
            fputc('\n', stderr);                                                        \
            check_failures++;                                                           \
        }                                                                               \
    } while (0)

#define REQUIRE(cond)                                                                   \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond);  \
            check_failures++;                                                           \
            return;                                                                     \
        }                                                                               \
    } while (0)

#define REQUIRE_MSG(cond, ...)                                                          \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: required: ", __FILE__, __LINE__);                  \
            fprintf(stderr, __VA_ARGS__);                                               \
            fputc('\n', stderr);                                                       \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

#define RUN(test)                                                                       \
    do {                                                                                \
        int before_ = check_failures;                                                   \
        test();                                                                         \
        fprintf(stderr, "%-40s %s\n", #test, check_failures == before_ ? "ok" : "FAILED"); \
    } while (0)

#define CHECK_EXIT() return check_failures ? 1 : 0

/* A fresh empty folder under $TMPDIR (or /tmp) for one test; caller frees the path. */
char *test_tmpdir(const char *tag);
/* rm -rf of a test folder. */
void test_rmtree(const char *path);
/* A whole file, NUL-terminated (*len without the NUL when len is not NULL); NULL when it
 * cannot be read. */
char *test_read_file(const char *path, size_t *len);

#endif
