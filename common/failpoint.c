#include "failpoint.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_POINTS 8

static struct {
    char name[64];
    atomic_long left; /* < 0: every time */
} points[MAX_POINTS];
static int n_points;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void parse(void) {
    const char *s = getenv("VIDX_FAILPOINTS");
    while (s && *s && n_points < MAX_POINTS) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        char item[64];
        if (len && len < sizeof item) {
            memcpy(item, s, len);
            item[len] = '\0';
            char *colon = strchr(item, ':');
            long count = -1;
            if (colon) {
                *colon = '\0';
                count = strtol(colon + 1, NULL, 10);
            }
            snprintf(points[n_points].name, sizeof points[n_points].name, "%s", item);
            atomic_init(&points[n_points].left, count);
            n_points++;
        }
        s = end ? end + 1 : NULL;
    }
}

int vx_failpoint(const char *name) {
    pthread_once(&once, parse);
    for (int i = 0; i < n_points; i++) {
        if (strcmp(points[i].name, name) != 0) continue;
        long left = atomic_load(&points[i].left);
        while (left != 0) {
            if (left < 0) return 1;
            if (atomic_compare_exchange_weak(&points[i].left, &left, left - 1)) return 1;
        }
        return 0;
    }
    return 0;
}
