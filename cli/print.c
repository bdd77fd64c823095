/* vidx command line: the API's documents in human form (the JSON form is the document
 * itself, present/json.h). Fields are read defensively: a document from a service of
 * another version prints what it has. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char *str(const json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}
static double real(const json_t *o, const char *key) { return json_number_value(json_object_get(o, key)); }
static long long whole(const json_t *o, const char *key) { return (long long)json_integer_value(json_object_get(o, key)); }

static void clock_time(double t, char *out, size_t size) {
    snprintf(out, size, "%d:%04.1f", (int)t / 60, t - 60 * (int)(t / 60));
}

/* A snippet (HTML-escaped, matches in <b>..</b>) for a terminal: matches in bold, or
 * between asterisks when the output is not a terminal. */
static void print_snippet(const char *html) {
    const int tty = isatty(STDOUT_FILENO);
    static const struct { const char *from, *to; } entities[] = {
        {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&#x27;", "'"}};
    for (const char *p = html; *p;) {
        if (strncmp(p, "<b>", 3) == 0 || strncmp(p, "</b>", 4) == 0) {
            const int closing = p[1] == '/';
            fputs(tty ? (closing ? "\033[0m" : "\033[1m") : "*", stdout);
            p += closing ? 4 : 3;
            continue;
        }
        size_t k = 0;
        while (*p == '&' && k < sizeof entities / sizeof *entities && strncmp(p, entities[k].from, strlen(entities[k].from)) != 0) k++;
        if (*p == '&' && k < sizeof entities / sizeof *entities) {
            fputs(entities[k].to, stdout);
            p += strlen(entities[k].from);
            continue;
        }
        putchar(*p == '\n' ? ' ' : *p);
        p++;
    }
}

void cli_print_results(const json_t *doc, int offset) {
    const json_t *results = json_object_get(doc, "results");
    const size_t n = json_array_size(results);
    if (n == 0) {
        printf("no results (%lld videos indexed)\n", whole(doc, "total"));
        return;
    }
    printf("%-4s %-7s %-15s %-16s %s\n", "#", "score", "moment", "video", "title");
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(results, i), *m = json_object_get(x, "moment");
        char start[16], end[16], moment[40];
        clock_time(real(m, "start"), start, sizeof start);
        clock_time(real(m, "end"), end, sizeof end);
        snprintf(moment, sizeof moment, "%s-%s", start, end);
        printf("%-4d %-7.4f %-15s %-16s %s\n", offset + (int)i + 1, real(x, "score"), moment, str(x, "video_id"),
               str(x, "title"));
        /* What matched beyond the pictures, and the words in context. */
        const json_t *matched = json_object_get(x, "matched");
        if (json_array_size(matched) > 1 || (json_array_size(matched) == 1 && strcmp(json_string_value(json_array_get(matched, 0)), "visual"))) {
            printf("%-4s matched:", "");
            for (size_t k = 0; k < json_array_size(matched); k++)
                printf("%s%s", k ? ", " : " ", json_string_value(json_array_get(matched, k)));
            if (*str(x, "snippet")) {
                fputs("  ", stdout);
                print_snippet(str(x, "snippet"));
            }
            putchar('\n');
        }
        /* Re-uploads grouped with it. */
        const json_t *copies = json_object_get(x, "copy_ids");
        if (whole(x, "copies") > 0) {
            printf("%-4s %lld copies:", "", whole(x, "copies") + 1);
            for (size_t k = 0; k < json_array_size(copies); k++)
                printf("%s%s", k ? ", " : " also ", json_string_value(json_array_get(copies, k)));
            putchar('\n');
        }
    }
    printf("(%zu of %lld, %.1f ms)\n", n, whole(doc, "total"), real(doc, "took_ms"));
}

void cli_print_feed(const json_t *doc) {
    const json_t *items = json_object_get(doc, "items");
    const size_t n = json_array_size(items);
    if (n == 0) {
        printf("nothing to recommend yet (index some videos first)\n");
        return;
    }
    printf("%-4s %-7s %-16s %-40s %s\n", "#", "score", "video", "title", "why");
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(items, i);
        printf("%-4zu %-7.4f %-16s %-40.40s %s\n", i + 1, real(x, "score"), str(x, "video_id"), str(x, "title"),
               str(x, "reason"));
    }
    printf("(%s: %s)\n", str(doc, "user"),
           json_is_true(json_object_get(doc, "new_user")) ? "new user: popular, new and varied videos" : "personal feed");
}

void cli_print_event(const json_t *doc) {
    printf("recorded %s of %s by %s (%lld events)\n", str(doc, "type"), str(doc, "video_id"), str(doc, "user"),
           whole(doc, "events"));
}

void cli_print_video(const json_t *doc) {
    printf("video      %s\n", str(doc, "video_id"));
    printf("title      %s\n", str(doc, "title"));
    printf("path       %s\n", str(doc, "path"));
    printf("status     %s%s%s\n", str(doc, "status"), *str(doc, "failure") ? ": " : "", str(doc, "failure"));
    if (*str(doc, "duplicate_of")) printf("copy of    %s\n", str(doc, "duplicate_of"));
    if (*str(doc, "near_duplicate_of")) printf("re-upload of %s\n", str(doc, "near_duplicate_of"));
    printf("duration   %.1f s, %lldx%lld, %.2f fps\n", real(doc, "duration"), whole(doc, "width"), whole(doc, "height"),
           real(doc, "fps"));
    const json_t *segs = json_object_get(doc, "segments");
    printf("segments   %zu\n", json_array_size(segs));
    for (size_t i = 0; i < json_array_size(segs); i++) {
        const json_t *s = json_array_get(segs, i);
        char start[16], end[16];
        clock_time(real(s, "start"), start, sizeof start);
        clock_time(real(s, "end"), end, sizeof end);
        printf("  %-4lld %s-%s  %s\n", whole(s, "index"), start, end, str(s, "thumbnail"));
    }
    const json_t *keys = json_object_get(doc, "keyframes");
    if (json_array_size(keys)) printf("key frames %zu\n", json_array_size(keys));
    for (size_t i = 0; i < json_array_size(keys); i++) {
        const json_t *k = json_array_get(keys, i);
        char at[16];
        clock_time(real(k, "t"), at, sizeof at);
        printf("  %s  %s\n", at, str(k, "thumbnail"));
    }
    /* What is said and written in it, and where that came from. */
    const json_t *text = json_object_get(doc, "text");
    if (!text) return;
    if (*str(text, "title")) printf("text title %s\n", str(text, "title"));
    if (*str(text, "description")) printf("described  %s\n", str(text, "description"));
    const json_t *tags = json_object_get(text, "tags");
    if (json_array_size(tags)) {
        printf("tags      ");
        for (size_t i = 0; i < json_array_size(tags); i++)
            printf("%s %s", i ? "," : "", json_string_value(json_array_get(tags, i)));
        putchar('\n');
    }
    printf("subtitles  %lld cues\n", whole(text, "subtitle_cues"));
    const json_t *sources = json_object_get(text, "sources");
    for (size_t i = 0; i < json_array_size(sources); i++) {
        const json_t *src = json_array_get(sources, i);
        printf("  from %s: %lld %s\n", str(src, "origin"), whole(src, "entries"), str(src, "field"));
    }
    if (*str(text, "notes")) printf("text notes %s\n", str(text, "notes"));
}

void cli_print_info(const json_t *doc) {
    const json_t *v = json_object_get(doc, "videos"), *idx = json_object_get(doc, "index");
    if (!json_is_true(json_object_get(doc, "exists"))) {
        printf("database   %s (empty: nothing indexed yet)\n", str(doc, "database"));
    } else {
        char when[32] = "?";
        time_t t = (time_t)whole(doc, "created_at");
        struct tm tm;
        if (gmtime_r(&t, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
        printf("database   %s (schema %lld, created %s)\n", str(doc, "database"), whole(doc, "schema"), when);
    }
    const char *model = str(doc, "model"), *fp = str(doc, "model_fingerprint");
    printf("model      %s%s%s%s\n", *model ? model : "(none yet)", *fp ? " (fingerprint " : "", fp, *fp ? ")" : "");
    printf("videos     %lld indexed (%lld duplicates), %lld failed, %lld removed\n", whole(v, "indexed"),
           whole(v, "duplicates"), whole(v, "failed"), whole(v, "removed"));
    if (whole(v, "waiting_for_model"))
        printf("           %lld indexed without the CLIP model: searchable by their words; search by what is seen,\n"
               "           similar videos and tags come once the model is in place and `vidx index` (or the\n"
               "           running service) encodes their frames\n",
               whole(v, "waiting_for_model"));
    const json_t *enc = json_object_get(doc, "encoder"), *by = json_object_get(enc, "embeddings");
    const char *prec = str(enc, "precision");
    if (*prec) {
        printf("encoder    %s here; embeddings made at", prec);
        static const char *const names[] = {"f32", "bf16", "int8", "unrecorded"};
        int any = 0, other = 0;
        for (int i = 0; i < 4; i++) {
            long long n = whole(by, names[i]);
            if (!n) continue;
            printf("%s %lld %s", any++ ? "," : "", n, names[i]);
            other |= i < 3 && strcmp(names[i], prec) != 0;
        }
        printf("%s\n", any ? "" : " (none yet)");
        const json_t *k = json_object_get(enc, "kernels");
        if (k)
            printf("kernels    OpenBLAS %s (%s), oneDNN %s; FP32 layers on %s\n", str(k, "openblas"),
                   str(k, "openblas_why"), str(k, "onednn"), str(k, "fp32_products"));
        if (other)
            printf("           (indexed at another precision than this one: same model, same space; "
                   "search works, embeddings agree to cosine >= 0.995)\n");
    }
    printf("segments   %lld\n", whole(doc, "segments"));
    printf("users      %lld (%lld events)\n", whole(doc, "users"), whole(doc, "events"));
    printf("jobs       %lld\n", whole(doc, "jobs"));
    printf("index      generation %lld, %lld dimensions\n", whole(idx, "generation"), whole(idx, "dim"));
    const json_t *text = json_object_get(doc, "text");
    if (text) {
        printf("text       %lld records (generation %lld)", whole(text, "records"), whole(text, "generation"));
        if (json_object_get(text, "documents")) printf(", %lld documents in the lexical index", whole(text, "documents"));
        putchar('\n');
    }
    if (whole(doc, "corrupt_records"))
        printf("corrupt    %lld records skipped (see the warnings above)\n", whole(doc, "corrupt_records"));
}
