/* Arena and canonical printing of expression trees. */
#include "reward/ast.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rw_arena_init(rw_arena *a, size_t cap) {
    a->buf = malloc(cap);
    a->cap = a->buf ? cap : 0;
    a->used = 0;
    a->nodes = 0;
    a->full = false;
}

void rw_arena_reset(rw_arena *a) {
    a->used = 0;
    a->nodes = 0;
    a->full = false;
}

void rw_arena_free(rw_arena *a) {
    free(a->buf);
    a->buf = NULL;
    a->cap = a->used = 0;
}

void *rw_alloc(rw_arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (a->full || n > a->cap - a->used) {
        a->full = true;
        return NULL;
    }
    void *p = a->buf + a->used;
    a->used += n;
    return p;
}

char *rw_strndup(rw_arena *a, const char *s, size_t n) {
    char *p = rw_alloc(a, n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

node *rw_node(rw_arena *a, node_kind k, int nkids) {
    if (++a->nodes > RW_MAX_NODES) {
        a->full = true;
        return NULL;
    }
    node *x = rw_alloc(a, sizeof *x);
    if (!x) return NULL;
    memset(x, 0, sizeof *x);
    x->kind = k;
    x->n = nkids;
    if (nkids > 0) {
        x->kid = rw_alloc(a, sizeof(node *) * (size_t)nkids);
        if (!x->kid) return NULL;
        memset(x->kid, 0, sizeof(node *) * (size_t)nkids);
    }
    return x;
}

node *rw_node2(rw_arena *a, node_kind k, node *x, node *y) {
    if (!x || !y) return NULL;
    node *r = rw_node(a, k, 2);
    if (!r) return NULL;
    r->kid[0] = x;
    r->kid[1] = y;
    return r;
}

node *rw_num_int(rw_arena *a, long v) {
    char tmp[32];
    int len = snprintf(tmp, sizeof tmp, "%ld", v < 0 ? -v : v);
    node *x = rw_node(a, N_NUM, 0);
    if (!x) return NULL;
    x->name = rw_strndup(a, tmp, (size_t)len);
    if (!x->name) return NULL;
    if (v < 0) {
        node *m = rw_node(a, N_NEG, 1);
        if (!m) return NULL;
        m->kid[0] = x;
        return m;
    }
    return x;
}

typedef struct {
    char *out;
    size_t len, cap;
    bool ok;
} pbuf;

static void put(pbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(pbuf *b, const char *fmt, ...) {
    if (!b->ok) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->out + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= b->cap - b->len) {
        b->ok = false;
        return;
    }
    b->len += (size_t)k;
}

static const char *const kind_names[] = {
    "num", "sym", "const", "add", "mul", "neg", "div", "pow", "fn", "ufn", "opaque",
    "rel", "set", "tuple", "interval", "setop", "special", "matrix",
};

/* Depth is bounded by the parser, so recursion here is bounded too. */
static void print_node(pbuf *b, const node *x) {
    if (!x) {
        put(b, "?");
        return;
    }
    switch (x->kind) {
    case N_NUM:
        if (x->scale) put(b, "%se-%d", x->name, x->scale);
        else put(b, "%s", x->name);
        return;
    case N_SYM:
        put(b, "%s", x->name);
        return;
    case N_CONST:
    case N_SPECIAL:
        put(b, "#%d", x->fn);
        return;
    default:
        break;
    }
    put(b, "(%s", kind_names[x->kind]);
    if (x->kind == N_FUNC || x->kind == N_SETOP) put(b, ":%d", x->fn);
    if (x->kind == N_UFUNC || x->kind == N_OPAQUE) put(b, ":%s", x->name); /* \int's parts count too */
    if (x->kind == N_INTERVAL) put(b, ":%d%d", x->lopen, x->ropen);
    if (x->kind == N_REL && x->builder) put(b, ":set");
    if (x->kind == N_MATRIX) put(b, ":%dx%d", x->rows, x->cols);
    if (x->percent) put(b, "%%");
    for (int i = 0; i < x->n; i++) {
        if (x->kind == N_REL && i > 0) put(b, " r%d", x->rel[i - 1]);
        put(b, " ");
        print_node(b, x->kid[i]);
    }
    put(b, ")");
}

bool rw_print(const node *x, char *out, size_t cap) {
    pbuf b = {out, 0, cap, cap > 0};
    if (cap) out[0] = 0;
    print_node(&b, x);
    return b.ok;
}
