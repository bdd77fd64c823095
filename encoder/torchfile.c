#include "torchfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Bounds on what a state dict's pickle may ask for. A CLIP checkpoint's pickle has about
 * 4,000 values and 400 memo entries; a large language model's a few hundred thousand. */
#define MAX_VALUES (1 << 20)
#define MAX_STACK (1 << 16)
#define MAX_MEMO (1 << 22)
#define MAX_ZIP_ENTRIES (1 << 20)

/* ---- pickle values ------------------------------------------------------------------- */

typedef enum pv_kind {
    PV_NONE, PV_BOOL, PV_INT, PV_BIGINT, PV_FLOAT, PV_STR, PV_BYTES, PV_TUPLE, PV_LIST, PV_DICT,
    PV_GLOBAL, PV_STORAGE, PV_TENSOR,
} pv_kind;

static const char *const kind_names[] = {"None", "bool", "int", "int", "float", "str", "bytes", "tuple", "list",
                                         "dict", "global", "storage", "tensor"};

typedef enum pv_global { G_ODICT, G_REBUILD_V2, G_REBUILD, G_PARAMETER, G_STORAGE_TYPE } pv_global;

typedef struct pv {
    pv_kind kind;
    pv_global global;  /* PV_GLOBAL */
    vx_dtype dtype;    /* PV_GLOBAL of a storage type, PV_STORAGE */
    int64_t i;         /* PV_INT, PV_BOOL */
    const uint8_t *s;  /* PV_STR, PV_BYTES, PV_BIGINT (little-endian two's complement) */
    size_t len;
    struct pv **items; /* PV_TUPLE, PV_LIST: n items; PV_DICT: n / 2 pairs, each key then value */
    size_t n, cap;
    /* PV_STORAGE: the root storage's key and element count, and the view of it that
     * tensors index into (legacy files only; else the whole storage) */
    int64_t numel, view_offset, view_numel;
    /* PV_TENSOR */
    struct pv *storage;
    int64_t offset;
    int ndim;
    int64_t shape[VX_ST_MAX_DIMS], stride[VX_ST_MAX_DIMS];
} pv;

#define BLOCK 1024

typedef struct vm {
    const char *file;       /* for messages */
    pv **blocks;            /* values, BLOCK per block */
    size_t n_values, n_blocks;
    pv **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t n_marks, marks_cap;
    pv **memo;
    size_t memo_cap;
    vx_error *err;
} vm;

static void vm_free(vm *v) {
    for (size_t b = 0; b < v->n_blocks; b++) {
        size_t used = v->n_values - b * BLOCK < BLOCK ? v->n_values - b * BLOCK : BLOCK;
        for (size_t i = 0; i < used; i++) free(v->blocks[b][i].items);
        free(v->blocks[b]);
    }
    free(v->blocks);
    free(v->stack);
    free(v->marks);
    free(v->memo);
    const char *file = v->file;
    vx_error *err = v->err;
    memset(v, 0, sizeof *v);
    v->file = file;
    v->err = err;
}

static pv *new_value(vm *v, pv_kind kind) {
    if (v->n_values >= MAX_VALUES) {
        vx_fail(v->err, "%s: the pickle holds more than %d values", v->file, MAX_VALUES);
        return NULL;
    }
    if (v->n_values == v->n_blocks * BLOCK) {
        pv **blocks = realloc(v->blocks, (v->n_blocks + 1) * sizeof *blocks);
        if (!blocks) goto oom;
        v->blocks = blocks;
        if (!(blocks[v->n_blocks] = calloc(BLOCK, sizeof(pv)))) goto oom;
        v->n_blocks++;
    }
    pv *x = &v->blocks[v->n_values / BLOCK][v->n_values % BLOCK];
    v->n_values++;
    x->kind = kind;
    return x;
oom:
    vx_fail(v->err, "out of memory reading %s", v->file);
    return NULL;
}

/* Grows an array of `size`-byte entries to hold one more (at most `limit` entries). */
static int grow(vm *v, void **p, size_t *cap, size_t used, size_t size, size_t limit) {
    if (used < *cap) return 0;
    if (used >= limit) return vx_fail(v->err, "%s: the pickle's stack is deeper than %zu", v->file, limit);
    size_t n = *cap ? 2 * *cap : 16;
    void *q = realloc(*p, n * size);
    if (!q) return vx_fail(v->err, "out of memory reading %s", v->file);
    *p = q;
    *cap = n;
    return 0;
}

static int push_item(vm *v, pv *c, pv *item) {
    if (grow(v, (void **)&c->items, &c->cap, c->n, sizeof *c->items, SIZE_MAX)) return -1;
    c->items[c->n++] = item;
    return 0;
}

static int push(vm *v, pv *x) {
    if (!x || grow(v, (void **)&v->stack, &v->stack_cap, v->sp, sizeof *v->stack, MAX_STACK)) return -1;
    v->stack[v->sp++] = x;
    return 0;
}

static pv *pop(vm *v) {
    if (v->sp == 0 || (v->n_marks && v->marks[v->n_marks - 1] == v->sp)) {
        vx_fail(v->err, "%s: the pickle pops a value from an empty stack", v->file);
        return NULL;
    }
    return v->stack[--v->sp];
}

/* The values since the last mark (removed from the stack with the mark): *first, *n. */
static int pop_mark(vm *v, size_t *first, size_t *n) {
    if (!v->n_marks) return vx_fail(v->err, "%s: the pickle uses a mark it never set", v->file);
    *first = v->marks[--v->n_marks];
    *n = v->sp - *first;
    v->sp = *first;
    return 0;
}

static const char *kind_name(const pv *x) { return kind_names[x->kind]; }

/* ---- globals ------------------------------------------------------------------------- */

static const struct { const char *module, *name; pv_global g; vx_dtype dt; } allowed[] = {
    {"collections", "OrderedDict", G_ODICT, VX_DT_F32},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_V2, VX_DT_F32},
    {"torch._utils", "_rebuild_tensor", G_REBUILD, VX_DT_F32},
    {"torch._utils", "_rebuild_parameter", G_PARAMETER, VX_DT_F32},
    {"torch", "FloatStorage", G_STORAGE_TYPE, VX_DT_F32},
    {"torch", "HalfStorage", G_STORAGE_TYPE, VX_DT_F16},
    {"torch", "BFloat16Storage", G_STORAGE_TYPE, VX_DT_BF16},
    {"torch", "DoubleStorage", G_STORAGE_TYPE, VX_DT_F64},
    {"torch", "LongStorage", G_STORAGE_TYPE, VX_DT_I64},
    {"torch", "IntStorage", G_STORAGE_TYPE, VX_DT_I32},
    {"torch", "ShortStorage", G_STORAGE_TYPE, VX_DT_I16},
    {"torch", "CharStorage", G_STORAGE_TYPE, VX_DT_I8},
    {"torch", "ByteStorage", G_STORAGE_TYPE, VX_DT_U8},
    {"torch", "BoolStorage", G_STORAGE_TYPE, VX_DT_BOOL},
};

static int printable(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] >= 0x7f) return 0;
    return 1;
}

static pv *make_global(vm *v, const uint8_t *module, size_t mlen, const uint8_t *name, size_t nlen) {
    for (size_t k = 0; k < sizeof allowed / sizeof allowed[0]; k++) {
        if (strlen(allowed[k].module) == mlen && memcmp(allowed[k].module, module, mlen) == 0 &&
            strlen(allowed[k].name) == nlen && memcmp(allowed[k].name, name, nlen) == 0) {
            pv *g = new_value(v, PV_GLOBAL);
            if (g) {
                g->global = allowed[k].g;
                g->dtype = allowed[k].dt;
            }
            return g;
        }
    }
    if (mlen > 100) mlen = 100;
    if (nlen > 100) nlen = 100;
    if (printable(module, mlen) && printable(name, nlen))
        vx_fail(v->err, "%s: the pickle imports %.*s.%.*s, which a state dict does not use; refused (nothing was run)",
                v->file, (int)mlen, (const char *)module, (int)nlen, (const char *)name);
    else
        vx_fail(v->err, "%s: the pickle imports a global with an unprintable name; refused (nothing was run)", v->file);
    return NULL;
}

/* ---- building values from the allowed calls -------------------------------------------- */

static int get_int(vm *v, const pv *x, const char *what, int64_t *out) {
    if (x->kind == PV_INT || x->kind == PV_BOOL) {
        *out = x->i;
        return 0;
    }
    return vx_fail(v->err, "%s: %s is a %s, not an int", v->file, what, kind_name(x));
}

static int int_tuple(vm *v, const pv *x, const char *what, int64_t *out, int *n) {
    if (x->kind != PV_TUPLE) return vx_fail(v->err, "%s: a tensor's %s is a %s, not a tuple", v->file, what, kind_name(x));
    if (x->n > VX_ST_MAX_DIMS) return vx_fail(v->err, "%s: a tensor has %zu dimensions (at most %d)", v->file, x->n, VX_ST_MAX_DIMS);
    for (size_t i = 0; i < x->n; i++) {
        if (get_int(v, x->items[i], what, &out[i])) return -1;
        if (out[i] < 0) return vx_fail(v->err, "%s: a tensor's %s has a negative entry", v->file, what);
    }
    *n = (int)x->n;
    return 0;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]) and
 * the older _rebuild_tensor(storage, offset, size, stride). */
static pv *rebuild_tensor(vm *v, const pv *args, int v2) {
    if (args->n < 4 || (v2 && (args->n < 6 || args->n > 7)) || (!v2 && args->n != 4)) {
        vx_fail(v->err, "%s: a tensor is rebuilt with %zu arguments", v->file, args->n);
        return NULL;
    }
    if (args->items[0]->kind != PV_STORAGE) {
        vx_fail(v->err, "%s: a tensor is rebuilt from a %s, not a storage", v->file, kind_name(args->items[0]));
        return NULL;
    }
    pv *t = new_value(v, PV_TENSOR);
    int nstride = 0;
    if (!t || get_int(v, args->items[1], "storage offset", &t->offset) ||
        int_tuple(v, args->items[2], "size", t->shape, &t->ndim) ||
        int_tuple(v, args->items[3], "stride", t->stride, &nstride))
        return NULL;
    if (nstride != t->ndim) {
        vx_fail(v->err, "%s: a tensor has %d sizes but %d strides", v->file, t->ndim, nstride);
        return NULL;
    }
    if (t->offset < 0) {
        vx_fail(v->err, "%s: a tensor has a negative storage offset", v->file);
        return NULL;
    }
    t->storage = args->items[0];
    t->dtype = t->storage->dtype;
    return t;
}

static pv *reduce(vm *v, const pv *f, const pv *args) {
    if (f->kind != PV_GLOBAL) {
        vx_fail(v->err, "%s: the pickle calls a %s", v->file, kind_name(f));
        return NULL;
    }
    if (args->kind != PV_TUPLE) {
        vx_fail(v->err, "%s: the pickle calls a global with a %s of arguments", v->file, kind_name(args));
        return NULL;
    }
    switch (f->global) {
    case G_ODICT:
        if (args->n != 0) {
            vx_fail(v->err, "%s: OrderedDict is made with arguments", v->file);
            return NULL;
        }
        return new_value(v, PV_DICT);
    case G_REBUILD_V2: return rebuild_tensor(v, args, 1);
    case G_REBUILD: return rebuild_tensor(v, args, 0);
    case G_PARAMETER:
        if (args->n < 1 || args->items[0]->kind != PV_TENSOR) {
            vx_fail(v->err, "%s: a parameter is rebuilt from something other than a tensor", v->file);
            return NULL;
        }
        return args->items[0];
    case G_STORAGE_TYPE: break;
    }
    vx_fail(v->err, "%s: the pickle calls a storage type", v->file);
    return NULL;
}

static int str_is(const pv *x, const char *s) {
    return x->kind == PV_STR && x->len == strlen(s) && memcmp(x->s, s, x->len) == 0;
}

/* A persistent id: ('storage', storage type, key, location, numel[, view metadata]). */
static pv *persistent(vm *v, const pv *id) {
    if (id->kind != PV_TUPLE || id->n < 5 || id->n > 6 || !str_is(id->items[0], "storage")) {
        vx_fail(v->err, "%s: a persistent id is not a ('storage', type, key, location, size) tuple", v->file);
        return NULL;
    }
    const pv *type = id->items[1], *key = id->items[2];
    if (type->kind != PV_GLOBAL || type->global != G_STORAGE_TYPE) {
        vx_fail(v->err, "%s: a storage's type is not a torch storage type", v->file);
        return NULL;
    }
    if (key->kind != PV_STR || key->len == 0 || key->len > 64) {
        vx_fail(v->err, "%s: a storage's key is not a short string", v->file);
        return NULL;
    }
    pv *s = new_value(v, PV_STORAGE);
    if (!s || get_int(v, id->items[4], "a storage's size", &s->numel)) return NULL;
    if (s->numel < 0) {
        vx_fail(v->err, "%s: a storage has a negative size", v->file);
        return NULL;
    }
    s->dtype = type->dtype;
    s->s = key->s;
    s->len = key->len;
    s->view_numel = s->numel;
    if (id->n == 6 && id->items[5]->kind != PV_NONE) {
        const pv *view = id->items[5];
        if (view->kind != PV_TUPLE || view->n != 3 || get_int(v, view->items[1], "a view's offset", &s->view_offset) ||
            get_int(v, view->items[2], "a view's size", &s->view_numel)) {
            vx_fail(v->err, "%s: a storage view is not a (key, offset, size) tuple", v->file);
            return NULL;
        }
        if (s->view_offset < 0 || s->view_numel < 0 || s->view_offset > s->numel ||
            s->view_numel > s->numel - s->view_offset) {
            vx_fail(v->err, "%s: a storage view runs past its storage", v->file);
            return NULL;
        }
    }
    return s;
}

/* ---- the reader ------------------------------------------------------------------------ */

static int64_t le_int(const uint8_t *p, int n) {
    uint64_t x = 0;
    for (int i = n - 1; i >= 0; i--) x = (x << 8) | p[i];
    if (n < 8 && (p[n - 1] & 0x80)) x |= ~(uint64_t)0 << (8 * n); /* sign-extend */
    return (int64_t)x;
}

static uint64_t le_u(const uint8_t *p, int n) {
    uint64_t x = 0;
    for (int i = n - 1; i >= 0; i--) x = (x << 8) | p[i];
    return x;
}

static int memo_put(vm *v, uint64_t idx) {
    if (v->sp == 0) return vx_fail(v->err, "%s: the pickle memoizes an empty stack", v->file);
    if (idx >= MAX_MEMO) return vx_fail(v->err, "%s: memo index %llu is too large", v->file, (unsigned long long)idx);
    if (idx >= v->memo_cap) {
        size_t cap = v->memo_cap ? v->memo_cap : 256;
        while (cap <= idx) cap *= 2;
        pv **m = realloc(v->memo, cap * sizeof *m);
        if (!m) return vx_fail(v->err, "out of memory reading %s", v->file);
        memset(m + v->memo_cap, 0, (cap - v->memo_cap) * sizeof *m);
        v->memo = m;
        v->memo_cap = cap;
    }
    v->memo[idx] = v->stack[v->sp - 1];
    return 0;
}

static int memo_get(vm *v, uint64_t idx) {
    if (idx >= v->memo_cap || !v->memo[idx])
        return vx_fail(v->err, "%s: the pickle reads memo entry %llu, which was never set", v->file, (unsigned long long)idx);
    return push(v, v->memo[idx]);
}

/* Runs one pickle from p[0..n) to its STOP; *root is its value and *used the bytes read.
 * The vm keeps the values alive (vm_free). */
static int run_pickle(vm *v, const uint8_t *p, size_t n, pv **root, size_t *used) {
    size_t at = 0;
    uint64_t memo_next = 0; /* MEMOIZE's index */
    vm_free(v);
#define NEED(k)                                                                                                    \
    do {                                                                                                           \
        if (n - at < (size_t)(k)) return vx_fail(v->err, "%s: the pickle is cut short (byte %zu)", v->file, at);   \
    } while (0)
    for (;;) {
        NEED(1);
        const size_t op_at = at;
        const uint8_t op = p[at++];
        pv *x, *y, *z;
        size_t first = 0, cnt = 0, len;
        switch (op) {
        case 0x80: /* PROTO */
            NEED(1);
            if (p[at] < 2 || p[at] > 5) return vx_fail(v->err, "%s: pickle protocol %d (2 to 5 are read)", v->file, p[at]);
            at++;
            break;
        case 0x95: /* FRAME: a length hint */
            NEED(8);
            at += 8;
            break;
        case '.': /* STOP */
            if (v->sp != 1 || v->n_marks) return vx_fail(v->err, "%s: the pickle stops with %zu values on its stack", v->file, v->sp);
            *root = v->stack[0];
            *used = at;
            return 0;
        case '(': /* MARK */
            if (grow(v, (void **)&v->marks, &v->marks_cap, v->n_marks, sizeof *v->marks, MAX_STACK)) return -1;
            v->marks[v->n_marks++] = v->sp;
            break;
        case '0': /* POP */
            if (v->n_marks && v->marks[v->n_marks - 1] == v->sp) v->n_marks--;
            else if (!pop(v)) return -1;
            break;
        case '1': /* POP_MARK */
            if (pop_mark(v, &first, &cnt)) return -1;
            break;
        case '2': /* DUP */
            if (!v->sp) return vx_fail(v->err, "%s: the pickle duplicates an empty stack", v->file);
            if (push(v, v->stack[v->sp - 1])) return -1;
            break;
        case '}': if (push(v, new_value(v, PV_DICT))) return -1; break;
        case ']': if (push(v, new_value(v, PV_LIST))) return -1; break;
        case ')': if (push(v, new_value(v, PV_TUPLE))) return -1; break;
        case 'N': if (push(v, new_value(v, PV_NONE))) return -1; break;
        case 0x88: /* NEWTRUE */
        case 0x89: /* NEWFALSE */
            if (!(x = new_value(v, PV_BOOL))) return -1;
            x->i = op == 0x88;
            if (push(v, x)) return -1;
            break;
        case 'J': case 'K': case 'M': { /* BININT, BININT1, BININT2 */
            const int w = op == 'J' ? 4 : op == 'K' ? 1 : 2;
            NEED(w);
            if (!(x = new_value(v, PV_INT))) return -1;
            x->i = op == 'J' ? le_int(p + at, 4) : (int64_t)le_u(p + at, w);
            at += (size_t)w;
            if (push(v, x)) return -1;
            break;
        }
        case 0x8a: case 0x8b: /* LONG1, LONG4 */
            NEED(op == 0x8a ? 1 : 4);
            len = (size_t)le_u(p + at, op == 0x8a ? 1 : 4);
            at += op == 0x8a ? 1 : 4;
            NEED(len);
            if (!(x = new_value(v, len <= 8 ? PV_INT : PV_BIGINT))) return -1;
            if (len <= 8) x->i = len ? le_int(p + at, (int)len) : 0;
            x->s = p + at;
            x->len = len;
            at += len;
            if (push(v, x)) return -1;
            break;
        case 'G': { /* BINFLOAT: big-endian double (never part of a tensor; kept as a value) */
            NEED(8);
            if (!(x = new_value(v, PV_FLOAT))) return -1;
            at += 8;
            if (push(v, x)) return -1;
            break;
        }
        case 'X': case 0x8c: case 0x8d: /* BINUNICODE, SHORT_BINUNICODE, BINUNICODE8 */
        case 'T': case 'U': case 'B': case 'C': case 0x8e: { /* BINSTRING, SHORT_BINSTRING, BINBYTES... */
            const int w = op == 'X' || op == 'T' || op == 'B' ? 4 : op == 0x8d || op == 0x8e ? 8 : 1;
            NEED(w);
            uint64_t l = le_u(p + at, w);
            at += (size_t)w;
            if (l > n - at) return vx_fail(v->err, "%s: a string runs past the end of the pickle (byte %zu)", v->file, op_at);
            if (!(x = new_value(v, op == 'B' || op == 'C' || op == 0x8e ? PV_BYTES : PV_STR))) return -1;
            x->s = p + at;
            x->len = (size_t)l;
            at += (size_t)l;
            if (push(v, x)) return -1;
            break;
        }
        case 't': /* TUPLE */
            if (pop_mark(v, &first, &cnt) || !(x = new_value(v, PV_TUPLE))) return -1;
            for (size_t i = 0; i < cnt; i++)
                if (push_item(v, x, v->stack[first + i])) return -1;
            if (push(v, x)) return -1;
            break;
        case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
            const size_t k = (size_t)(op - 0x84);
            pv *items[3];
            for (size_t i = k; i-- > 0;)
                if (!(items[i] = pop(v))) return -1;
            if (!(x = new_value(v, PV_TUPLE))) return -1;
            for (size_t i = 0; i < k; i++)
                if (push_item(v, x, items[i])) return -1;
            if (push(v, x)) return -1;
            break;
        }
        case 'l': case 'd': /* LIST, DICT from the values since the mark */
            if (pop_mark(v, &first, &cnt) || !(x = new_value(v, op == 'l' ? PV_LIST : PV_DICT))) return -1;
            if (op == 'd' && cnt % 2) return vx_fail(v->err, "%s: a dict has an odd number of keys and values", v->file);
            for (size_t i = 0; i < cnt; i++)
                if (push_item(v, x, v->stack[first + i])) return -1;
            if (push(v, x)) return -1;
            break;
        case 'a': /* APPEND */
            if (!(y = pop(v)) || !(x = pop(v))) return -1;
            if (x->kind != PV_LIST) return vx_fail(v->err, "%s: the pickle appends to a %s", v->file, kind_name(x));
            if (push_item(v, x, y) || push(v, x)) return -1;
            break;
        case 'e': /* APPENDS */
            if (pop_mark(v, &first, &cnt)) return -1;
            if (!v->sp || v->stack[v->sp - 1]->kind != PV_LIST) return vx_fail(v->err, "%s: the pickle appends to a non-list", v->file);
            x = v->stack[v->sp - 1];
            for (size_t i = 0; i < cnt; i++)
                if (push_item(v, x, v->stack[first + i])) return -1;
            break;
        case 's': case 'u': { /* SETITEM, SETITEMS */
            pv *kv[2];
            if (op == 's') {
                if (!(kv[1] = pop(v)) || !(kv[0] = pop(v))) return -1;
                first = 0, cnt = 2;
            } else {
                if (pop_mark(v, &first, &cnt)) return -1;
                if (cnt % 2) return vx_fail(v->err, "%s: SETITEMS with an odd number of keys and values", v->file);
            }
            if (!v->sp || v->stack[v->sp - 1]->kind != PV_DICT) return vx_fail(v->err, "%s: the pickle sets items of a non-dict", v->file);
            x = v->stack[v->sp - 1];
            for (size_t i = 0; i < cnt; i++)
                if (push_item(v, x, op == 's' ? kv[i] : v->stack[first + i])) return -1;
            break;
        }
        case 'q': case 'r': /* BINPUT, LONG_BINPUT */
            NEED(op == 'q' ? 1 : 4);
            if (memo_put(v, le_u(p + at, op == 'q' ? 1 : 4))) return -1;
            at += op == 'q' ? 1 : 4;
            break;
        case 0x94: /* MEMOIZE */
            if (memo_put(v, memo_next++)) return -1;
            break;
        case 'h': case 'j': /* BINGET, LONG_BINGET */
            NEED(op == 'h' ? 1 : 4);
            if (memo_get(v, le_u(p + at, op == 'h' ? 1 : 4))) return -1;
            at += op == 'h' ? 1 : 4;
            break;
        case 'c': { /* GLOBAL: "module\nname\n" */
            const uint8_t *m = p + at, *e1 = memchr(m, '\n', n - at);
            if (!e1) return vx_fail(v->err, "%s: a global's name is cut short", v->file);
            const uint8_t *nm = e1 + 1, *e2 = memchr(nm, '\n', (size_t)(p + n - nm));
            if (!e2) return vx_fail(v->err, "%s: a global's name is cut short", v->file);
            at = (size_t)(e2 + 1 - p);
            if (push(v, make_global(v, m, (size_t)(e1 - m), nm, (size_t)(e2 - nm)))) return -1;
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            if (!(y = pop(v)) || !(x = pop(v))) return -1;
            if (x->kind != PV_STR || y->kind != PV_STR) return vx_fail(v->err, "%s: a global named by non-strings", v->file);
            if (push(v, make_global(v, x->s, x->len, y->s, y->len))) return -1;
            break;
        case 'R': /* REDUCE */
            if (!(y = pop(v)) || !(x = pop(v))) return -1;
            if (push(v, reduce(v, x, y))) return -1;
            break;
        case 'b': /* BUILD: the state of an OrderedDict (its _metadata) or a tensor: ignored */
            if (!(y = pop(v))) return -1;
            if (!v->sp) return vx_fail(v->err, "%s: BUILD on an empty stack", v->file);
            z = v->stack[v->sp - 1];
            if (z->kind != PV_DICT && z->kind != PV_TENSOR)
                return vx_fail(v->err, "%s: the pickle sets the state of a %s", v->file, kind_name(z));
            break;
        case 'Q': /* BINPERSID */
            if (!(x = pop(v))) return -1;
            if (push(v, persistent(v, x))) return -1;
            break;
        default:
            return vx_fail(v->err, "%s: pickle opcode 0x%02x at byte %zu is not one a state dict uses; refused", v->file, op,
                           op_at);
        }
    }
#undef NEED
}

/* ---- from values to tensors -------------------------------------------------------------- */

static size_t dtype_size(vx_dtype dt) {
    switch (dt) {
    case VX_DT_F64: case VX_DT_I64: return 8;
    case VX_DT_F32: case VX_DT_I32: return 4;
    case VX_DT_F16: case VX_DT_BF16: case VX_DT_I16: return 2;
    default: return 1;
    }
}

/* Where a storage's bytes are: (data, bytes) for a key, or -1 with err. */
typedef int (*storage_fn)(void *ctx, const pv *s, const uint8_t **data, size_t *bytes, vx_error *err);

static int own(vx_pt_file *f, void *p) {
    void **o = realloc(f->owned, (size_t)(f->n_owned + 1) * sizeof *o);
    if (!o) return -1;
    f->owned = o;
    f->owned[f->n_owned++] = p;
    return 0;
}

/* Fills t from a tensor value: checks the view against the storage and points into it
 * (contiguous) or copies it (strided). */
static int make_tensor(vx_pt_file *f, const pv *x, const uint8_t *base, size_t bytes, vx_st_tensor *t, vx_error *err) {
    const pv *s = x->storage;
    const size_t es = dtype_size(s->dtype);
    if ((uint64_t)s->numel > bytes / es)
        return vx_fail(err, "storage %.*s holds %zu bytes, less than its %lld elements", (int)s->len, (const char *)s->s,
                       bytes, (long long)s->numel);
    uint64_t numel = 1, last = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (x->shape[d] && numel > UINT64_MAX / 16 / (uint64_t)x->shape[d]) return vx_fail(err, "shape too large");
        numel *= (uint64_t)x->shape[d];
    }
    for (int d = 0; numel && d < x->ndim; d++) {
        if ((uint64_t)x->stride[d] > (UINT64_MAX / 16) / (uint64_t)x->shape[d]) return vx_fail(err, "stride too large");
        last += (uint64_t)(x->shape[d] - 1) * (uint64_t)x->stride[d];
        if (last > UINT64_MAX / 16) return vx_fail(err, "stride too large");
    }
    if (numel && ((uint64_t)x->offset > (uint64_t)s->view_numel || last >= (uint64_t)s->view_numel - (uint64_t)x->offset))
        return vx_fail(err, "the view (offset %lld, %d dimensions) runs past its storage of %lld elements",
                       (long long)x->offset, x->ndim, (long long)s->view_numel);
    t->dtype = s->dtype;
    t->ndim = x->ndim;
    memcpy(t->shape, x->shape, sizeof t->shape);
    t->numel = numel;
    t->nbytes = (size_t)(numel * es);
    const uint8_t *start = base + (size_t)(s->view_offset + (numel ? x->offset : 0)) * es;
    int contiguous = 1;
    uint64_t want = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
        if (x->shape[d] != 1 && (uint64_t)x->stride[d] != want) contiguous = 0;
        want *= (uint64_t)x->shape[d];
    }
    if (contiguous || numel == 0) {
        t->data = start;
        return 0;
    }
    uint8_t *copy = malloc(t->nbytes);
    if (!copy || own(f, copy)) {
        free(copy);
        return vx_fail(err, "out of memory");
    }
    int64_t idx[VX_ST_MAX_DIMS] = {0};
    for (uint64_t i = 0; i < numel; i++) {
        uint64_t src = 0;
        for (int d = 0; d < x->ndim; d++) src += (uint64_t)idx[d] * (uint64_t)x->stride[d];
        memcpy(copy + i * es, start + src * es, es);
        for (int d = x->ndim - 1; d >= 0; d--) {
            if (++idx[d] < x->shape[d]) break;
            idx[d] = 0;
        }
    }
    t->data = copy;
    return 0;
}

static int collect_tensors(vx_pt_file *f, vm *v, const pv *root, storage_fn where, void *ctx, vx_error *err) {
    if (root->kind != PV_DICT)
        return vx_fail(err, "%s: the pickle holds a %s, not a state dict (a dict of tensors)", f->path, kind_name(root));
    f->tensors = calloc(root->n / 2 + 1, sizeof *f->tensors);
    if (!f->tensors) return vx_fail(err, "out of memory");
    for (size_t i = 0; i < root->n / 2; i++) {
        const pv *k = root->items[2 * i], *x = root->items[2 * i + 1];
        if (k->kind != PV_STR || k->len == 0 || k->len > 1024 || memchr(k->s, 0, k->len))
            return vx_fail(err, "%s: a state dict key is not a tensor name", f->path);
        if (x->kind != PV_TENSOR) continue; /* e.g. an extra state's metadata */
        vx_st_tensor *t = &f->tensors[f->n_tensors];
        if (!(t->name = strndup((const char *)k->s, k->len))) return vx_fail(err, "out of memory");
        f->n_tensors++;
        for (int j = 0; j < f->n_tensors - 1; j++)
            if (strcmp(f->tensors[j].name, t->name) == 0) return vx_fail(err, "%s: tensor %s appears twice", f->path, t->name);
        const uint8_t *data;
        size_t bytes;
        if (where(ctx, x->storage, &data, &bytes, err) || make_tensor(f, x, data, bytes, t, err))
            return vx_fail_prefix(err, "%s: tensor %s", f->path, t->name);
    }
    (void)v;
    return 0;
}

/* ---- zip (torch >= 1.6) ----------------------------------------------------------------- */

typedef struct zip_entry {
    const char *name;
    size_t name_len;
    uint64_t offset, size; /* of the data */
    uint32_t crc;
} zip_entry;

typedef struct zip_ctx {
    const char *path;
    const uint8_t *p;
    size_t n;
    zip_entry *entries;
    size_t n_entries;
    const char *prefix; /* "NAME/" of NAME/data.pkl */
    size_t prefix_len;
} zip_ctx;

static const zip_entry *zip_find(const zip_ctx *z, const char *suffix, size_t slen) {
    for (size_t i = 0; i < z->n_entries; i++) {
        const zip_entry *e = &z->entries[i];
        if (e->name_len == z->prefix_len + slen && memcmp(e->name, z->prefix, z->prefix_len) == 0 &&
            memcmp(e->name + z->prefix_len, suffix, slen) == 0)
            return e;
    }
    return NULL;
}

static int zip_storage(void *ctx, const pv *s, const uint8_t **data, size_t *bytes, vx_error *err) {
    const zip_ctx *z = ctx;
    char name[80];
    int len = snprintf(name, sizeof name, "data/%.*s", (int)s->len, (const char *)s->s);
    const zip_entry *e = zip_find(z, name, (size_t)len);
    if (!e) return vx_fail(err, "its storage %.*s is not in the archive", (int)s->len, (const char *)s->s);
    *data = z->p + e->offset;
    *bytes = (size_t)e->size;
    return 0;
}

/* Reads the central directory: every entry stored (not compressed), inside the file. */
static int zip_read(zip_ctx *z, vx_error *err) {
    const uint8_t *p = z->p;
    const size_t n = z->n;
    if (n < 22) return vx_fail(err, "%s: too short for a zip archive", z->path);
    size_t eocd = (size_t)-1;
    for (size_t i = n - 22 + 1; i-- > 0 && n - 22 - i <= 65535;)
        if (le_u(p + i, 4) == 0x06054b50) { eocd = i; break; }
    if (eocd == (size_t)-1) return vx_fail(err, "%s: no zip end record (the file is cut short or not an archive)", z->path);
    uint64_t count = le_u(p + eocd + 10, 2), cd_size = le_u(p + eocd + 12, 4), cd_off = le_u(p + eocd + 16, 4);
    if (count == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) { /* zip64 */
        if (eocd < 20 || le_u(p + eocd - 20, 4) != 0x07064b50) return vx_fail(err, "%s: zip64 locator missing", z->path);
        uint64_t z64 = le_u(p + eocd - 20 + 8, 8);
        if (z64 > n || n - z64 < 56 || le_u(p + z64, 4) != 0x06064b50) return vx_fail(err, "%s: zip64 end record missing", z->path);
        count = le_u(p + z64 + 32, 8);
        cd_size = le_u(p + z64 + 40, 8);
        cd_off = le_u(p + z64 + 48, 8);
    }
    if (cd_off > n || cd_size > n - cd_off) return vx_fail(err, "%s: the zip directory runs past the end of the file", z->path);
    if (count > MAX_ZIP_ENTRIES || count > cd_size / 46) return vx_fail(err, "%s: the zip directory's entry count is wrong", z->path);
    if (!(z->entries = calloc(count + 1, sizeof *z->entries))) return vx_fail(err, "out of memory");
    size_t at = (size_t)cd_off;
    const size_t end = (size_t)(cd_off + cd_size);
    for (uint64_t k = 0; k < count; k++) {
        if (end - at < 46 || le_u(p + at, 4) != 0x02014b50) return vx_fail(err, "%s: zip directory entry %llu is damaged", z->path, (unsigned long long)k);
        const unsigned flags = (unsigned)le_u(p + at + 8, 2), method = (unsigned)le_u(p + at + 10, 2);
        const size_t nlen = (size_t)le_u(p + at + 28, 2), xlen = (size_t)le_u(p + at + 30, 2), clen = (size_t)le_u(p + at + 32, 2);
        uint64_t csize = le_u(p + at + 20, 4), usize = le_u(p + at + 24, 4), loff = le_u(p + at + 42, 4);
        if (end - at - 46 < nlen + xlen + clen) return vx_fail(err, "%s: zip directory entry %llu is damaged", z->path, (unsigned long long)k);
        zip_entry *e = &z->entries[z->n_entries++];
        e->name = (const char *)p + at + 46;
        e->name_len = nlen;
        e->crc = (uint32_t)le_u(p + at + 16, 4);
        /* zip64 sizes and offset, in this order, for the fields that overflowed */
        const uint8_t *x = p + at + 46 + nlen, *xe = x + xlen;
        while (xe - x >= 4) {
            const unsigned id = (unsigned)le_u(x, 2), sz = (unsigned)le_u(x + 2, 2);
            if ((size_t)(xe - x - 4) < sz) break;
            if (id == 1) {
                const uint8_t *q = x + 4, *qe = q + sz;
                if (usize == 0xffffffffu && qe - q >= 8) usize = le_u(q, 8), q += 8;
                if (csize == 0xffffffffu && qe - q >= 8) csize = le_u(q, 8), q += 8;
                if (loff == 0xffffffffu && qe - q >= 8) loff = le_u(q, 8), q += 8;
            }
            x += 4 + sz;
        }
        if (flags & 1) return vx_fail(err, "%s: %.*s is encrypted", z->path, (int)nlen, e->name);
        if (method != 0 || csize != usize)
            return vx_fail(err, "%s: %.*s is compressed (method %u); torch.save stores entries uncompressed", z->path, (int)nlen,
                           e->name, method);
        if (loff > n || n - loff < 30 || le_u(p + loff, 4) != 0x04034b50)
            return vx_fail(err, "%s: the local header of %.*s is missing", z->path, (int)nlen, e->name);
        const uint64_t data = loff + 30 + le_u(p + loff + 26, 2) + le_u(p + loff + 28, 2);
        if (data > n || usize > n - data)
            return vx_fail(err, "%s: %.*s runs past the end of the file (cut short?)", z->path, (int)nlen, e->name);
        e->offset = data;
        e->size = usize;
        at += 46 + nlen + xlen + clen;
    }
    /* PREFIX/data.pkl, with PREFIX one folder */
    for (size_t i = 0; i < z->n_entries; i++) {
        const zip_entry *e = &z->entries[i];
        if (e->name_len > 9 && memcmp(e->name + e->name_len - 9, "/data.pkl", 9) == 0 &&
            !memchr(e->name, '/', e->name_len - 9)) {
            z->prefix = e->name;
            z->prefix_len = e->name_len - 8;
            return 0;
        }
    }
    return vx_fail(err, "%s: a zip archive without data.pkl: not a PyTorch checkpoint", z->path);
}

static int open_zip(vx_pt_file *f, const uint8_t *p, size_t n, vx_error *err) {
    zip_ctx z = {.path = f->path, .p = p, .n = n};
    vm v = {.file = f->path, .err = err};
    pv *root;
    size_t used;
    int rc = -1;
    if (zip_read(&z, err)) goto done;
    const zip_entry *order = zip_find(&z, "byteorder", 9);
    if (order && !(order->size == 6 && memcmp(p + order->offset, "little", 6) == 0)) {
        vx_fail(err, "%s: a big-endian checkpoint (byteorder is not \"little\")", f->path);
        goto done;
    }
    const zip_entry *pkl = zip_find(&z, "data.pkl", 8);
    if (crc32(0, p + pkl->offset, (uInt)pkl->size) != pkl->crc) {
        vx_fail(err, "%s: data.pkl is damaged (its CRC-32 does not match)", f->path);
        goto done;
    }
    if (run_pickle(&v, p + pkl->offset, (size_t)pkl->size, &root, &used)) goto done;
    rc = collect_tensors(f, &v, root, zip_storage, &z, err);
done:
    vm_free(&v);
    free(z.entries);
    return rc;
}

/* ---- legacy (torch < 1.6) --------------------------------------------------------------- */

static const uint8_t legacy_magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

typedef struct legacy_ctx {
    const uint8_t *p;
    size_t n;
    const pv *keys; /* the list of storage keys, in file order */
    size_t *offsets; /* per key: where its bytes start */
    size_t *bytes;
} legacy_ctx;

static int legacy_storage(void *ctx, const pv *s, const uint8_t **data, size_t *bytes, vx_error *err) {
    const legacy_ctx *c = ctx;
    for (size_t i = 0; i < c->keys->n; i++) {
        const pv *k = c->keys->items[i];
        if (k->len == s->len && memcmp(k->s, s->s, s->len) == 0) {
            *data = c->p + c->offsets[i];
            *bytes = c->bytes[i];
            return 0;
        }
    }
    return vx_fail(err, "its storage %.*s is not in the file's list of storages", (int)s->len, (const char *)s->s);
}

/* The element size of the storage named `key` in the state dict (0: not used by it). */
static size_t storage_esize(const vm *v, const pv *key) {
    for (size_t b = 0; b < v->n_values; b++) {
        const pv *x = &v->blocks[b / BLOCK][b % BLOCK];
        if (x->kind == PV_STORAGE && x->len == key->len && memcmp(x->s, key->s, key->len) == 0) return dtype_size(x->dtype);
    }
    return 0;
}

static int open_legacy(vx_pt_file *f, const uint8_t *p, size_t n, vx_error *err) {
    vm head = {.file = f->path, .err = err}, dict = {.file = f->path, .err = err}, keys = {.file = f->path, .err = err};
    legacy_ctx c = {.p = p, .n = n};
    pv *root, *x;
    size_t at = 0, used;
    int rc = -1;
    /* magic number, protocol version, system info */
    if (run_pickle(&head, p, n, &x, &used)) goto done;
    if (x->kind != PV_BIGINT || x->len != 10 || memcmp(x->s, legacy_magic, 10) != 0) {
        vx_fail(err, "%s: a pickle, but not a PyTorch checkpoint (no magic number)", f->path);
        goto done;
    }
    at += used;
    if (run_pickle(&head, p + at, n - at, &x, &used)) goto done;
    if (x->kind != PV_INT || x->i != 1001) {
        vx_fail(err, "%s: PyTorch legacy format version %lld (1001 is read)", f->path, x->kind == PV_INT ? (long long)x->i : -1LL);
        goto done;
    }
    at += used;
    if (run_pickle(&head, p + at, n - at, &x, &used)) goto done;
    if (x->kind != PV_DICT) {
        vx_fail(err, "%s: the system information is not a dict", f->path);
        goto done;
    }
    for (size_t i = 0; i < x->n / 2; i++)
        if (str_is(x->items[2 * i], "little_endian") && x->items[2 * i + 1]->kind == PV_BOOL && !x->items[2 * i + 1]->i) {
            vx_fail(err, "%s: a big-endian checkpoint", f->path);
            goto done;
        }
    at += used;
    if (run_pickle(&dict, p + at, n - at, &root, &used)) goto done;
    at += used;
    if (run_pickle(&keys, p + at, n - at, &x, &used)) goto done;
    at += used;
    if (x->kind != PV_LIST) {
        vx_fail(err, "%s: the list of storage keys is a %s", f->path, kind_name(x));
        goto done;
    }
    c.keys = x;
    c.offsets = calloc(x->n + 1, sizeof *c.offsets);
    c.bytes = calloc(x->n + 1, sizeof *c.bytes);
    if (!c.offsets || !c.bytes) {
        vx_fail(err, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < x->n; i++) { /* each storage: int64 element count, then its bytes */
        const pv *k = x->items[i];
        const size_t es = k->kind == PV_STR ? storage_esize(&dict, k) : 0;
        if (!es) {
            vx_fail(err, "%s: storage %zu of the list is not one the state dict uses", f->path, i);
            goto done;
        }
        if (n - at < 8) {
            vx_fail(err, "%s: storage %.*s is cut short", f->path, (int)k->len, (const char *)k->s);
            goto done;
        }
        const uint64_t count = le_u(p + at, 8);
        at += 8;
        if (count > (n - at) / es) {
            vx_fail(err, "%s: storage %.*s runs past the end of the file (cut short?)", f->path, (int)k->len, (const char *)k->s);
            goto done;
        }
        c.offsets[i] = at;
        c.bytes[i] = (size_t)count * es;
        at += c.bytes[i];
    }
    rc = collect_tensors(f, &dict, root, legacy_storage, &c, err);
done:
    vm_free(&head);
    vm_free(&dict);
    vm_free(&keys);
    free(c.offsets);
    free(c.bytes);
    return rc;
}

/* ---- files ------------------------------------------------------------------------------- */

vx_pt_container vx_pt_sniff(const uint8_t *p, size_t n) {
    if (n >= 4 && p[0] == 'P' && p[1] == 'K' && p[2] == 3 && p[3] == 4) return VX_PT_ZIP;
    if (n >= 2 && p[0] == 0x80 && p[1] >= 2 && p[1] <= 5) return VX_PT_LEGACY;
    return VX_PT_NONE;
}

static int parse(vx_pt_file *f, const uint8_t *p, size_t n, vx_error *err) {
    switch ((f->container = vx_pt_sniff(p, n))) {
    case VX_PT_ZIP: return open_zip(f, p, n, err);
    case VX_PT_LEGACY: return open_legacy(f, p, n, err);
    case VX_PT_NONE: break;
    }
    return vx_fail(err, "%s: not a PyTorch checkpoint (neither a zip archive nor a pickle)", f->path);
}

vx_pt_file *vx_pt_open_memory(const void *data, size_t size, const char *name, vx_error *err) {
    vx_pt_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(name))) {
        vx_fail(err, "out of memory");
        vx_pt_close(f);
        return NULL;
    }
    if (parse(f, data, size, err)) {
        vx_pt_close(f);
        return NULL;
    }
    return f;
}

static void reset_tensors(vx_pt_file *f) {
    for (int i = 0; f->tensors && i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    for (int i = 0; i < f->n_owned; i++) free(f->owned[i]);
    free(f->owned);
    f->tensors = NULL;
    f->owned = NULL;
    f->n_tensors = f->n_owned = 0;
}

/* The offset's remainder modulo 4 of the first F32 tensor that is not 4-byte aligned in
 * the mapping, or 0 when every one is. */
static size_t misalignment(const vx_pt_file *f) {
    for (int i = 0; i < f->n_tensors; i++)
        if (f->tensors[i].dtype == VX_DT_F32 && ((uintptr_t)f->tensors[i].data & 3)) return (uintptr_t)f->tensors[i].data & 3;
    return 0;
}

/* Reads the file into memory at an address where its float storages are aligned, and
 * reads it from there (a legacy file's storages follow 8-byte counts at any offset; a
 * copy per tensor would cost more memory and time than this one pass). */
static int realign(vx_pt_file *f, int fd, size_t r, vx_error *err) {
    const size_t shift = (4 - r) & 3, size = f->map_size;
    /* Populated in one call: faulting 600 MB in page by page cost more than the copy. */
    void *img = mmap(NULL, size + shift, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (img == MAP_FAILED) return vx_fail(err, "out of memory reading %s", f->path);
    uint8_t *p = (uint8_t *)img + shift;
    for (size_t at = 0; at < size;) {
        ssize_t n = pread(fd, p + at, size - at, (off_t)at);
        if (n <= 0) {
            munmap(img, size + shift);
            return vx_fail(err, "%s: read failed: %s", f->path, n < 0 ? strerror(errno) : "the file shrank");
        }
        at += (size_t)n;
    }
    reset_tensors(f);
    munmap(f->map, f->map_size);
    f->map = NULL;
    f->image = img;
    f->image_size = size + shift;
    return parse(f, p, size, err);
}

vx_pt_file *vx_pt_open(const char *path, vx_error *err) {
    vx_pt_file *f = calloc(1, sizeof *f);
    int fd = -1;
    if (!f || !(f->path = strdup(path))) {
        vx_fail(err, "out of memory");
        goto fail;
    }
    if (!(f->map = vx_weights_map(path, "PyTorch checkpoint", &f->map_size, &fd, err))) goto fail;
    if (parse(f, f->map, f->map_size, err)) goto fail;
    const size_t r = f->container == VX_PT_LEGACY ? misalignment(f) : 0;
    if (r && realign(f, fd, r, err)) goto fail;
    close(fd);
    return f;
fail:
    if (fd >= 0) close(fd);
    vx_pt_close(f);
    return NULL;
}

void vx_pt_close(vx_pt_file *f) {
    if (!f) return;
    if (f->map && f->map_size) munmap(f->map, f->map_size);
    if (f->image) munmap(f->image, f->image_size);
    reset_tensors(f);
    free(f->path);
    free(f);
}
