/* vidx tokenize and vidx embed: the CLIP encoder, and the multilingual text tower
 * (--text-model, VIDX_TEXT_MODEL), from the command line. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/path.h"
#include "../encoder/clip.h"
#include "../encoder/image.h"
#include "../encoder/mtext.h"
#include "../encoder/tokenizer.h"
#include "../indexer/decode.h"
#include "cli.h"

#define TEXT_BATCH 64

/* Reads one line (without its newline) from f into a growing buffer; -1 at the end. */
static long read_line(FILE *f, char **buf, size_t *cap) {
    ssize_t n = getline(buf, cap, f);
    if (n < 0) return -1;
    if (n > 0 && (*buf)[n - 1] == '\n') (*buf)[--n] = '\0';
    if (n > 0 && (*buf)[n - 1] == '\r') (*buf)[--n] = '\0';
    return n;
}

/* Context length from config.json when the folder has one, else Hugging Face's default. */
static int context_length(const char *dir) {
    vx_path path;
    vx_clip_config cfg;
    vx_error err;
    struct stat sb;
    if (vx_path_fmt(path, &err, "%s/config.json", dir) == 0 && stat(path, &sb) == 0 && vx_clip_config_load(path, &cfg, &err) == 0) return cfg.context;
    return VX_CLIP_DEFAULT_CONTEXT;
}

/* The multilingual text tower's folder: --text-model, else $VIDX_TEXT_MODEL; NULL: none. */
static const char *text_model_dir(const cli_command *cmd, cli_args *args) {
    const char *flag = cli_get(cmd, args, "text-model"), *env = getenv("VIDX_TEXT_MODEL");
    return flag && *flag ? flag : env && *env ? env : NULL;
}

static void print_ids(const int32_t *ids, int n) {
    for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)ids[i]);
    putchar('\n');
}

/* One text's ids with CLIP's tokenizer or, with text_model, the multilingual tower's. */
static int tokenize_one(const vx_tokenizer *tok, const vx_mtext *text_model, const char *text, int32_t *ids, int max,
                        vx_error *err) {
    if (text_model) return vx_wordpiece_encode(vx_mtext_tokenizer(text_model), text, ids, max, err);
    return vx_tokenize(tok, text, ids, max, err);
}

static int run_tokenize(const cli_command *cmd, cli_args *args) {
    vx_path dir;
    char hint[1024];
    vx_error err;
    int rc = CLI_OK;
    const char *tdir = text_model_dir(cmd, args);
    vx_tokenizer *tok = NULL;
    vx_mtext *tm = NULL;
    int ctx;
    if (tdir) { /* the tower's own limit (sentence_bert_config.json) needs its folder loaded */
        if (!(tm = vx_mtext_load(tdir, VX_PRECISION_F32, &err))) return cli_fail(cmd, "%s", err.msg);
        ctx = vx_mtext_max_tokens(tm);
    } else {
        int r = cli_model_dir(cmd, args, dir, sizeof dir, NULL);
        if (r) return r;
        if (!(tok = vx_tokenizer_load(dir, &err))) {
            vx_clip_missing_hint(dir, hint, sizeof hint);
            return cli_fail(cmd, "no CLIP tokenizer in %s: %s; %s", dir, err.msg, hint);
        }
        ctx = context_length(dir);
    }
    int32_t *ids = malloc((size_t)ctx * sizeof *ids);
    if (!ids) { vx_tokenizer_free(tok); vx_mtext_free(tm); return cli_fail(cmd, "out of memory"); }
    const char *text = args->pos[0];
    if (strcmp(text, "-") != 0) {
        int n = tokenize_one(tok, tm, text, ids, ctx, &err);
        if (n < 0) rc = cli_fail(cmd, "%s", err.msg);
        else print_ids(ids, n);
    } else {
        char *line = NULL;
        size_t cap = 0;
        long lineno = 0;
        while (read_line(stdin, &line, &cap) >= 0) {
            lineno++;
            int n = tokenize_one(tok, tm, line, ids, ctx, &err);
            if (n < 0) {
                rc = cli_fail(cmd, "line %ld: %s", lineno, err.msg);
                putchar('\n'); /* keep output lines aligned with input lines */
            } else {
                print_ids(ids, n);
            }
        }
        free(line);
    }
    free(ids);
    vx_tokenizer_free(tok);
    vx_mtext_free(tm);
    return rc;
}

const cli_command cmd_tokenize = {
    .name = "tokenize",
    .synopsis = "[--model DIR | --text-model DIR] TEXT",
    .summary = "print CLIP token ids of a text ('-' reads one text per line)",
    .details = "Prints the ids separated by spaces, start and end tokens included, cut to the model's\n"
               "context length with the end token kept. Only the tokenizer files are needed (with\n"
               "--text-model: its WordPiece ids, [CLS] and [SEP] included, cut at max_seq_length).",
    .opts = {CLI_MODEL_OPT, CLI_TEXT_MODEL_OPT},
    .min_pos = 1,
    .max_pos = 1,
    .run = run_tokenize,
};

/* ---- embed --------------------------------------------------------------------------- */

struct embed_out;
static void print_embedding(const struct embed_out *o, const float *v);

typedef struct embed_out {
    int json, dim;
    vx_mtext_ctx *text_model; /* texts go to the multilingual tower when set */
    int text_dim;
} embed_out;

static int encode_texts(vx_clip_ctx *ctx, const embed_out *o, const char *const *texts, int n, float *out, vx_error *err) {
    return o->text_model ? vx_mtext_encode_texts(o->text_model, texts, n, out, err)
                         : vx_clip_encode_texts(ctx, texts, n, out, err);
}

static void print_text_embedding(const embed_out *o, const float *v) {
    embed_out t = *o;
    if (o->text_model) t.dim = o->text_dim;
    print_embedding(&t, v);
}

static void print_embedding(const struct embed_out *o, const float *v) {
    if (o->json) putchar('[');
    for (int i = 0; i < o->dim; i++) printf(i ? (o->json ? ",%.9g" : " %.9g") : "%.9g", (double)v[i]);
    if (o->json) putchar(']');
    putchar('\n');
}

static int embed_texts(const cli_command *cmd, vx_clip_ctx *ctx, const embed_out *o, const char *const *texts, int n,
                       float *out) {
    vx_error err;
    const int dim = o->text_model ? o->text_dim : o->dim;
    if (encode_texts(ctx, o, texts, n, out, &err) == 0) {
        for (int i = 0; i < n; i++) print_text_embedding(o, out + (size_t)i * dim);
        return CLI_OK;
    }
    /* One bad text fails the batch: redo one by one so the others still print. */
    int rc = CLI_OK;
    for (int i = 0; i < n; i++) {
        if (encode_texts(ctx, o, texts + i, 1, out, &err) == 0) print_text_embedding(o, out);
        else { rc = cli_fail(cmd, "%s", err.msg); putchar('\n'); }
    }
    return rc;
}

static int embed_stdin_texts(const cli_command *cmd, vx_clip_ctx *ctx, const embed_out *o, float *out) {
    char *lines[TEXT_BATCH] = {0};
    size_t caps[TEXT_BATCH] = {0};
    int rc = CLI_OK, n;
    do {
        for (n = 0; n < TEXT_BATCH && read_line(stdin, &lines[n], &caps[n]) >= 0; n++) {}
        if (n > 0 && embed_texts(cmd, ctx, o, (const char *const *)lines, n, out) != CLI_OK) rc = CLI_SOME_FAILED;
    } while (n == TEXT_BATCH);
    for (int i = 0; i < TEXT_BATCH; i++) free(lines[i]);
    return rc;
}

static int embed_pixels(const cli_command *cmd, vx_clip_ctx *ctx, const embed_out *o, const vx_clip_config *c,
                        const char *path, float *out) {
    const size_t image_bytes = (size_t)3 * c->image_size * c->image_size * sizeof(float);
    FILE *f = fopen(path, "rb");
    if (!f) return cli_fail(cmd, "%s: cannot open", path);
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || sb.st_size == 0 || (size_t)sb.st_size % image_bytes != 0) {
        fclose(f);
        return cli_fail(cmd, "%s: %lld bytes is not a whole number of 3 x %d x %d float32 tensors (%zu bytes each)",
                        path, (long long)sb.st_size, c->image_size, c->image_size, image_bytes);
    }
    float *pixels = malloc(image_bytes);
    int rc = CLI_OK;
    vx_error err;
    for (long i = 0; pixels && i < (long)((size_t)sb.st_size / image_bytes); i++) {
        if (fread(pixels, 1, image_bytes, f) != image_bytes) { rc = cli_fail(cmd, "%s: read failed", path); break; }
        if (vx_clip_encode_images(ctx, pixels, 1, out, &err)) { rc = cli_fail(cmd, "%s: %s", path, err.msg); break; }
        print_embedding(o, out);
    }
    if (!pixels) rc = cli_fail(cmd, "out of memory");
    free(pixels);
    fclose(f);
    return rc;
}

static int embed_image(const cli_command *cmd, vx_clip_ctx *ctx, const embed_out *o, const vx_clip_config *c,
                       const char *path, float *out) {
    vx_rgb_image img;
    vx_error err;
    float *pixels = malloc((size_t)3 * c->image_size * c->image_size * sizeof(float));
    int rc = CLI_OK;
    if (!pixels) return cli_fail(cmd, "out of memory");
    if (vx_decode_image_file(path, &img, &err)) rc = cli_fail(cmd, "%s", err.msg);
    else if (vx_image_preprocess(&img, c->image_size, pixels, &err) ||
             vx_clip_encode_images(ctx, pixels, 1, out, &err))
        rc = cli_fail(cmd, "%s: %s", path, err.msg);
    else print_embedding(o, out);
    vx_rgb_free(&img);
    free(pixels);
    return rc;
}

static int run_embed(const cli_command *cmd, cli_args *args) {
    vx_path dir;
    vx_error err;
    const int text_opt = cli_opt_index(cmd, "text"), image_opt = cli_opt_index(cmd, "image"),
              pixels_opt = cli_opt_index(cmd, "pixels");
    int inputs = 0;
    for (int i = 0; i < args->n_occ; i++)
        inputs += args->occ[i].opt == text_opt || args->occ[i].opt == image_opt || args->occ[i].opt == pixels_opt;
    if (!inputs) return cli_usage_error(cmd, "give at least one --text, --image or --pixels");
    vx_precision precision;
    const int bad = cli_model_dir(cmd, args, dir, sizeof dir, &precision);
    if (bad) return bad;
    /* CLIP is loaded for pictures, and for texts without the multilingual tower. */
    const char *tdir = text_model_dir(cmd, args);
    int pictures = 0;
    for (int i = 0; i < args->n_occ; i++) pictures += args->occ[i].opt == image_opt || args->occ[i].opt == pixels_opt;
    vx_clip *m = NULL;
    vx_clip_ctx *ctx = NULL;
    vx_mtext *tm = NULL;
    embed_out o = {.json = cli_has(cmd, args, "json")};
    float *out = NULL;
    int rc = CLI_OK, dim = 0;
    const vx_clip_config *c = NULL;
    if (pictures || !tdir) {
        if (!(m = vx_clip_load_at(dir, precision, &err))) return cli_fail(cmd, "%s", err.msg);
        c = vx_clip_get_config(m);
        o.dim = dim = c->proj_dim;
        if (!(ctx = vx_clip_ctx_new(m, 1, TEXT_BATCH * c->context, &err))) {
            rc = cli_fail(cmd, "%s", err.msg);
            goto done;
        }
    }
    if (tdir) {
        if (!(tm = vx_mtext_load(tdir, precision, &err)) ||
            !(o.text_model = vx_mtext_ctx_new(tm, vx_mtext_max_tokens(tm), &err))) {
            rc = cli_fail(cmd, "%s", err.msg);
            goto done;
        }
        o.text_dim = vx_mtext_dim(tm);
        if (o.text_dim > dim) dim = o.text_dim;
    }
    if (!(out = malloc((size_t)TEXT_BATCH * dim * sizeof *out))) {
        rc = cli_fail(cmd, "out of memory");
        goto done;
    }
    for (int i = 0; i < args->n_occ; i++) {
        const cli_occurrence *oc = &args->occ[i];
        int r = CLI_OK;
        if (oc->opt == text_opt) {
            if (strcmp(oc->value, "-") == 0) r = embed_stdin_texts(cmd, ctx, &o, out);
            else r = embed_texts(cmd, ctx, &o, &oc->value, 1, out);
        } else if (oc->opt == image_opt) {
            r = embed_image(cmd, ctx, &o, c, oc->value, out);
        } else if (oc->opt == pixels_opt) {
            r = embed_pixels(cmd, ctx, &o, c, oc->value, out);
        }
        if (r != CLI_OK) rc = CLI_SOME_FAILED;
    }
done:
    free(out);
    vx_clip_ctx_free(ctx);
    vx_clip_free(m);
    vx_mtext_ctx_free(o.text_model);
    vx_mtext_free(tm);
    return rc;
}

const cli_command cmd_embed = {
    .name = "embed",
    .synopsis = "[--model DIR] [--text-model DIR] [--precision P] (--text TEXT | --image FILE | --pixels FILE.f32) ...",
    .summary = "print CLIP embeddings of texts, images or preprocessed pixel tensors",
    .details = "Prints one line per input, in order: the L2-normalised embedding as floats separated\n"
               "by spaces (--json: a JSON array). --text - reads one text per line from standard input.\n"
               "--pixels takes raw little-endian float32 tensors N x 3 x S x S, already resized and\n"
               "normalised; N comes from the file size. --image takes any picture FFmpeg decodes.\n"
               "With --text-model (or VIDX_TEXT_MODEL) texts go to the multilingual text tower, whose\n"
               "embeddings lie in CLIP ViT-B/32's image space; pictures still need CLIP.",
    .opts = {CLI_MODEL_OPT, CLI_TEXT_MODEL_OPT, CLI_PRECISION_OPT,
             {"text", 0, "TEXT", "a text ('-' reads one per line from standard input)"},
             {"image", 0, "FILE", "an image file"},
             {"pixels", 0, "FILE", "raw float32 tensors N x 3 x S x S"},
             {"json", 0, NULL, "print JSON arrays"}},
    .min_pos = 0,
    .max_pos = 0,
    .run = run_embed,
};
