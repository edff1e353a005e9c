/* The GGUF reader on every real file in ../shared: each one parses, its
 * tensors lie inside the file with finite F32/F16/BF16 values, the facts
 * that models/MANIFEST.md states hold, every reference tensors.txt (written
 * by llama.cpp's side) agrees with the parser, and nb-inspect lists each
 * file. Skipped when ../shared is absent. */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* .gguf files under models/ and reference/ when this test was written:
 * 20 + 39. Files may be added, not lost. */
#define MIN_GGUF_FILES 59
#define MIN_TENSORS_TXT 47
#define MIN_VOCAB_ROWS 12

/* ------------------------------------------------------------ file lists */

typedef struct list {
    char **v;
    size_t n, cap;
} list;

static void list_add(list *l, const char *s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v) abort();
    }
    size_t n = strlen(s) + 1;
    l->v[l->n] = malloc(n);
    if (!l->v[l->n]) abort();
    memcpy(l->v[l->n++], s, n);
}

static void list_free(list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Every regular file under `dir` (recursively) whose name ends in `suffix`. */
static void walk(const char *dir, const char *suffix, list *out, int depth) {
    DIR *d = opendir(dir);
    if (!d || depth > 16) {
        if (d) closedir(d);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) walk(path, suffix, out, depth + 1);
        else if (S_ISREG(st.st_mode) && ends_with(e->d_name, suffix)) list_add(out, path);
    }
    closedir(d);
}

/* All files ending in `suffix` under <shared>/models and <shared>/reference,
 * sorted. */
static list find_files(const char *shared, const char *suffix) {
    list l = {0};
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/models", shared);
    walk(dir, suffix, &l, 0);
    snprintf(dir, sizeof dir, "%s/reference", shared);
    walk(dir, suffix, &l, 0);
    if (l.n) qsort(l.v, l.n, sizeof *l.v, cmp_str);
    return l;
}

static char *read_text(const char *path) {
    size_t n = 0;
    char *s = nb_test_read_file(path, &n);
    if (s) s[n] = 0; /* nb_test_read_file leaves room for it */
    return s;
}

/* ---------------------------------------------------------- a loaded file */

typedef struct model {
    nb_file_map map;
    nb_gguf g;
} model;

/* Map and parse; on failure records a test failure and returns 0. */
static int load(const char *path, model *m) {
    nb_err err = {0};
    memset(m, 0, sizeof *m);
    if (nb_file_map_open(path, &m->map, &err) != NB_OK) {
        nb_test_fail(__FILE__, __LINE__, "%s: %s", path, err.msg);
        return 0;
    }
    if (nb_gguf_parse(m->map.data, m->map.size, &m->g, &err) != NB_OK) {
        nb_test_fail(__FILE__, __LINE__, "%s: %s", path, err.msg);
        nb_file_map_close(&m->map);
        return 0;
    }
    return 1;
}

static int load_rel(const char *rel, model *m) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", nb_test_shared_dir(), rel);
    return load(path, m);
}

static void unload(model *m) {
    nb_gguf_free(&m->g);
    nb_file_map_close(&m->map);
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* ---------------------------------------------------- parse + tensor data */

static int all_finite(const nb_gguf_tensor *t) {
    const uint8_t *p = t->data;
    uint64_t n = (uint64_t)nb_tensor_nelements(t);
    for (uint64_t i = 0; i < n; i++) {
        if (t->type == NB_TYPE_F32) {
            uint32_t u;
            memcpy(&u, p + 4 * i, 4);
            if ((u & 0x7f800000u) == 0x7f800000u) return 0;
        } else {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            uint16_t exp_mask = t->type == NB_TYPE_F16 ? 0x7c00 : 0x7f80; /* F16 : BF16 */
            if ((h & exp_mask) == exp_mask) return 0;
        }
    }
    return 1;
}

static void check_file_contents(const char *path, const nb_gguf *g) {
    const uint8_t *lo = g->base, *hi = g->base + g->size;
    CHECK_MSG(g->data_offset <= g->size, "%s: data offset %llu past the end", path,
              (unsigned long long)g->data_offset);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const nb_gguf_kv *kv = &g->kv[i];
        CHECK_MSG((const uint8_t *)kv->key.ptr >= lo && kv->val >= lo && kv->val <= hi &&
                      kv->val_size <= (uint64_t)(hi - kv->val),
                  "%s: kv %llu outside the file", path, (unsigned long long)i);
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const nb_gguf_tensor *t = &g->tensors[i];
        const uint8_t *p = t->data;
        int inside = p >= lo && p <= hi && t->nbytes <= (uint64_t)(hi - p);
        CHECK_MSG(inside, "%s: tensor '%.*s' data [%p, +%llu) outside the file", path,
                  (int)t->name.len, t->name.ptr, t->data, (unsigned long long)t->nbytes);
        CHECK_MSG(p == g->base + g->data_offset + t->offset, "%s: tensor '%.*s' data pointer",
                  path, (int)t->name.len, t->name.ptr);
        const nb_type_info *ti = nb_type_get(t->type);
        CHECK(ti != NULL);
        if (!inside || !ti) continue;
        uint64_t n = (uint64_t)nb_tensor_nelements(t);
        CHECK_MSG(t->nbytes == n / ti->block_size * ti->type_size, "%s: tensor '%.*s' nbytes",
                  path, (int)t->name.len, t->name.ptr);
        if (t->type == NB_TYPE_F32 || t->type == NB_TYPE_F16 || t->type == NB_TYPE_BF16)
            CHECK_MSG(all_finite(t), "%s: tensor '%.*s' (%s) has inf/nan values", path,
                      (int)t->name.len, t->name.ptr, ti->name);
    }
}

static void t_parse_every_file(void) {
    const char *shared = nb_test_shared_dir();
    if (!shared) {
        nb_test_skip("../shared not found");
        return;
    }
    list files = find_files(shared, ".gguf");
    CHECK_MSG(files.n >= MIN_GGUF_FILES, "found %zu .gguf files, expected at least %d", files.n,
              MIN_GGUF_FILES);
    uint64_t tensors = 0, kvs = 0;
    for (size_t i = 0; i < files.n; i++) {
        model m;
        if (!load(files.v[i], &m)) continue;
        CHECK_MSG(m.g.version == 3, "%s: version %u", files.v[i], m.g.version);
        check_file_contents(files.v[i], &m.g);
        tensors += m.g.n_tensors;
        kvs += m.g.n_kv;
        unload(&m);
    }
    printf("  %zu files, %llu kvs, %llu tensors\n", files.n, (unsigned long long)kvs,
           (unsigned long long)tensors);
    list_free(&files);
}

/* ------------------------------------------------- reference tensors.txt */

/* Does the text of a "# key = value" line equal the parsed value? */
static int value_matches(const nb_gguf_kv *kv, const char *text, char *why, size_t why_size) {
    nb_err err = {0};
    char *end = NULL;
    switch (kv->type) {
    case NB_GGUF_STRING:
        if (kv->val_size == strlen(text) && memcmp(kv->val, text, kv->val_size) == 0) return 1;
        snprintf(why, why_size, "string \"%.*s\"", (int)(kv->val_size > 80 ? 80 : kv->val_size),
                 (const char *)kv->val);
        return 0;
    case NB_GGUF_BOOL: {
        int want = strcmp(text, "True") == 0 || strcmp(text, "true") == 0 || strcmp(text, "1") == 0;
        if (want == (kv->val[0] != 0)) return 1;
        snprintf(why, why_size, "bool %d", kv->val[0]);
        return 0;
    }
    case NB_GGUF_F32:
    case NB_GGUF_F64: {
        double v = 0, t = strtod(text, &end);
        nb_gguf_kv_f64(kv, &v, &err);
        if (end != text && *end == 0 && (v == t || fabs(v - t) <= 1e-12 * fabs(t))) return 1;
        snprintf(why, why_size, "%s %.17g", nb_gguf_type_name(kv->type), v);
        return 0;
    }
    case NB_GGUF_I8: case NB_GGUF_I16: case NB_GGUF_I32: case NB_GGUF_I64: {
        int64_t v = 0;
        long long t = strtoll(text, &end, 10);
        if (nb_gguf_kv_i64(kv, &v, &err) == NB_OK && end != text && *end == 0 && v == t) return 1;
        snprintf(why, why_size, "%s %lld", nb_gguf_type_name(kv->type), (long long)v);
        return 0;
    }
    case NB_GGUF_U8: case NB_GGUF_U16: case NB_GGUF_U32: case NB_GGUF_U64: {
        uint64_t v = 0;
        unsigned long long t = strtoull(text, &end, 10);
        if (nb_gguf_kv_u64(kv, &v, &err) == NB_OK && end != text && *end == 0 && v == t) return 1;
        snprintf(why, why_size, "%s %llu", nb_gguf_type_name(kv->type), (unsigned long long)v);
        return 0;
    }
    default:
        snprintf(why, why_size, "an %s (not compared)", nb_gguf_type_name(kv->type));
        return 0;
    }
}

/* "64,512" -> ne[]; returns the number of dimensions, 0 if malformed. */
static int parse_ne(const char *s, int64_t *ne) {
    int n = 0;
    while (*s && n < NB_GGUF_MAX_DIMS) {
        char *end;
        ne[n++] = strtoll(s, &end, 10);
        if (end == s) return 0;
        s = end;
        if (*s == ',') s++;
        else if (*s) return 0;
    }
    return *s ? 0 : n;
}

/* Compare one tensors.txt with the parsed file it describes. */
static void check_tensors_txt(const char *txt_path, char *text, const nb_gguf *g) {
    const char *where = txt_path;
    unsigned long long n_tensors = 0, data_offset = 0;
    char arch[64] = "";
    uint64_t row = 0, type_count[NB_TYPE_COUNT] = {0};
    char *seen = calloc(g->n_kv + 1, 1); /* kvs named by a comment line */
    if (!seen) abort();
    int have_first = 0, have_types = 0, have_header = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "# architecture: ", 16) == 0) {
            have_first = sscanf(line, "# architecture: %63[^;]; %llu tensors; data offset %llu",
                                arch, &n_tensors, &data_offset) == 3;
            CHECK_MSG(have_first, "%s: first line '%s'", where, line);
            nb_str a = {"", 0};
            nb_err err;
            CHECK_MSG(nb_gguf_get_str(g, "general.architecture", &a, &err) == NB_OK &&
                          nb_str_eq(a, arch),
                      "%s: architecture %s", where, arch);
            CHECK_MSG(n_tensors == g->n_tensors, "%s: %llu tensors, parser %llu", where, n_tensors,
                      (unsigned long long)g->n_tensors);
            CHECK_MSG(data_offset == g->data_offset, "%s: data offset %llu, parser %llu", where,
                      data_offset, (unsigned long long)g->data_offset);
        } else if (strncmp(line, "# tensor types: ", 16) == 0) {
            /* "F16 x5, F32 x11, Q8_0 x32" */
            have_types = 1;
            for (char *p = line + 16; *p;) {
                char name[16];
                unsigned long long count;
                int used = 0;
                if (sscanf(p, "%15s x%llu%n", name, &count, &used) != 2) {
                    CHECK_MSG(0, "%s: tensor types '%s'", where, line);
                    break;
                }
                int ty = nb_type_from_name(name);
                CHECK_MSG(ty >= 0, "%s: unknown type %s", where, name);
                if (ty >= 0) type_count[ty] = count;
                p += used;
                while (*p == ',' || *p == ' ') p++;
            }
        } else if (strncmp(line, "# ", 2) == 0) {
            char *eq = strstr(line, " = ");
            CHECK_MSG(eq != NULL, "%s: comment '%s'", where, line);
            if (!eq) continue;
            *eq = 0;
            const char *k = line + 2, *v = eq + 3;
            const nb_gguf_kv *kv = nb_gguf_find_key(g, k);
            char why[160];
            if (kv) seen[kv - g->kv] = 1;
            CHECK_MSG(kv != NULL, "%s: key %s not in the file", where, k);
            if (kv)
                CHECK_MSG(value_matches(kv, v, why, sizeof why), "%s: %s = %s, parser: %s", where,
                          k, v, why);
        } else if (strcmp(line, "name\ttype\tne\tbytes") == 0) {
            have_header = 1;
        } else {
            /* name \t type \t ne \t bytes, in file order */
            char name[256], type[16], ne_s[128];
            unsigned long long bytes;
            int64_t ne[NB_GGUF_MAX_DIMS];
            int fields = sscanf(line, "%255[^\t]\t%15[^\t]\t%127[^\t]\t%llu", name, type, ne_s, &bytes);
            CHECK_MSG(have_header && fields == 4, "%s: line '%s'", where, line);
            if (fields != 4) continue;
            if (row >= g->n_tensors) {
                CHECK_MSG(0, "%s: more rows than the %llu tensors", where,
                          (unsigned long long)g->n_tensors);
                break;
            }
            const nb_gguf_tensor *t = &g->tensors[row++];
            int nd = parse_ne(ne_s, ne);
            int same_ne = nd == (int)t->n_dims;
            for (int d = 0; same_ne && d < nd; d++) same_ne = ne[d] == t->ne[d];
            CHECK_MSG(nb_str_eq(t->name, name), "%s: row %llu is %s, parser '%.*s'", where,
                      (unsigned long long)row - 1, name, (int)t->name.len, t->name.ptr);
            CHECK_MSG(strcmp(nb_type_name(t->type), type) == 0, "%s: %s type %s, parser %s", where,
                      name, type, nb_type_name(t->type));
            CHECK_MSG(same_ne, "%s: %s ne %s differs from the parser's", where, name, ne_s);
            CHECK_MSG(bytes == t->nbytes, "%s: %s bytes %llu, parser %llu", where, name, bytes,
                      (unsigned long long)t->nbytes);
        }
    }
    CHECK_MSG(have_first && have_header, "%s: header lines missing", where);
    CHECK_MSG(row == g->n_tensors, "%s: %llu rows, parser %llu tensors", where,
              (unsigned long long)row, (unsigned long long)g->n_tensors);
    /* the comments cover every scalar kv, except token ids that say "none"
     * (u32 0xffffffff, i.e. -1: the separator/padding ids of stories260K) */
    uint64_t by_type[NB_TYPE_COUNT] = {0};
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const nb_gguf_kv *kv = &g->kv[i];
        uint64_t v = 0;
        int none_id = kv->type == NB_GGUF_U32 && nb_gguf_kv_u64(kv, &v, NULL) == NB_OK &&
                      v == UINT32_MAX && kv->key.len > 9 &&
                      memcmp(kv->key.ptr + kv->key.len - 9, "_token_id", 9) == 0;
        CHECK_MSG(seen[i] || kv->type == NB_GGUF_ARRAY || none_id,
                  "%s: kv %.*s (%s) has no '# key = value' line", where, (int)kv->key.len,
                  kv->key.ptr, nb_gguf_type_name(kv->type));
    }
    free(seen);
    for (uint64_t i = 0; i < g->n_tensors; i++) by_type[g->tensors[i].type]++;
    CHECK_MSG(have_types, "%s: no tensor types line", where);
    for (int ty = 0; ty < NB_TYPE_COUNT && have_types; ty++)
        CHECK_MSG(by_type[ty] == type_count[ty], "%s: %s x%llu, parser %llu", where,
                  nb_type_name((uint32_t)ty), (unsigned long long)type_count[ty],
                  (unsigned long long)by_type[ty]);
}

/* The model file a reference directory's tensors.txt describes: its own
 * model.gguf, else the location models.tsv gives ("../F16/model.gguf",
 * "models/tinystories/stories260K.gguf (shared models folder)"). */
static int model_for(const char *shared, const char *dir, char *out, size_t size) {
    struct stat st;
    snprintf(out, size, "%s/model.gguf", dir);
    if (stat(out, &st) == 0) return 1;
    /* dir = .../reference/<model>/<type> */
    char model_name[128], type[128];
    const char *t = base_name(dir);
    size_t dl = (size_t)(t - dir) - 1;
    const char *m = dir + dl;
    while (m > dir && m[-1] != '/') m--;
    snprintf(type, sizeof type, "%.127s", t);
    snprintf(model_name, sizeof model_name, "%.*s", (int)(dir + dl - m), m);
    char tsv[1024];
    snprintf(tsv, sizeof tsv, "%s/reference/models.tsv", shared);
    char *text = read_text(tsv);
    if (!text) return 0;
    int found = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && !found;
         line = strtok_r(NULL, "\n", &save)) {
        char *col[7];
        int n = 0;
        char *s2 = NULL;
        for (char *c = strtok_r(line, "\t", &s2); c && n < 7; c = strtok_r(NULL, "\t", &s2))
            col[n++] = c;
        if (n < 7 || strcmp(col[0], model_name) != 0 || strcmp(col[1], type) != 0) continue;
        char *loc = col[6], *paren = strstr(loc, " (");
        if (paren) *paren = 0;
        if (strncmp(loc, "../", 3) == 0) snprintf(out, size, "%s/%s", dir, loc);
        else if (strncmp(loc, "models/", 7) == 0) snprintf(out, size, "%s/%s", shared, loc);
        else break;
        found = 1;
    }
    free(text);
    return found;
}

static void t_reference_tensors_txt(void) {
    const char *shared = nb_test_shared_dir();
    if (!shared) {
        nb_test_skip("../shared not found");
        return;
    }
    list txts = {0};
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/reference", shared);
    walk(dir, "tensors.txt", &txts, 0);
    if (txts.n) qsort(txts.v, txts.n, sizeof *txts.v, cmp_str);
    CHECK_MSG(txts.n >= MIN_TENSORS_TXT, "found %zu tensors.txt, expected at least %d", txts.n,
              MIN_TENSORS_TXT);
    size_t with_own_model = 0;
    for (size_t i = 0; i < txts.n; i++) {
        char d[1024], gguf[1200];
        snprintf(d, sizeof d, "%.*s", (int)(base_name(txts.v[i]) - txts.v[i] - 1), txts.v[i]);
        if (!model_for(shared, d, gguf, sizeof gguf)) {
            CHECK_MSG(0, "%s: no model.gguf and no models.tsv row", txts.v[i]);
            continue;
        }
        with_own_model += ends_with(gguf, "/model.gguf") && strncmp(gguf, d, strlen(d)) == 0 &&
                          gguf[strlen(d)] == '/' && strchr(gguf + strlen(d) + 1, '/') == NULL;
        char *text = read_text(txts.v[i]);
        CHECK_MSG(text != NULL, "cannot read %s", txts.v[i]);
        model m;
        if (text && load(gguf, &m)) {
            check_tensors_txt(txts.v[i], text, &m.g);
            unload(&m);
        }
        free(text);
    }
    printf("  %zu tensors.txt checked (%zu beside their model.gguf)\n", txts.n, with_own_model);
    list_free(&txts);
}

/* ------------------------------------------------------- manifest facts */

/* Shorthands for the facts below. */
static void check_u64(const nb_gguf *g, const char *file, const char *key, uint64_t want) {
    uint64_t v = 0;
    nb_err err = {0};
    nb_status s = nb_gguf_get_u64(g, key, &v, &err);
    CHECK_MSG(s == NB_OK && v == want, "%s: %s = %llu (want %llu) %s", file, key,
              (unsigned long long)v, (unsigned long long)want, s ? err.msg : "");
}

static void check_str(const nb_gguf *g, const char *file, const char *key, const char *want) {
    nb_str v = {"", 0};
    nb_err err = {0};
    nb_status s = nb_gguf_get_str(g, key, &v, &err);
    CHECK_MSG(s == NB_OK && nb_str_eq(v, want), "%s: %s = '%.*s' (want '%s') %s", file, key,
              (int)v.len, v.ptr, want, s ? err.msg : "");
}

static void check_arr_n(const nb_gguf *g, const char *file, const char *key, uint32_t elem,
                        uint64_t want) {
    const nb_gguf_kv *kv = NULL;
    nb_err err = {0};
    nb_status s = nb_gguf_get_arr(g, key, elem, &kv, &err);
    CHECK_MSG(s == NB_OK && kv->arr_n == want, "%s: %s has %llu elements (want %llu) %s", file,
              key, kv ? (unsigned long long)kv->arr_n : 0ull, (unsigned long long)want,
              s ? err.msg : "");
}

static void check_tensor(const nb_gguf *g, const char *file, const char *name, uint32_t type,
                         int64_t ne0, int64_t ne1) {
    const nb_gguf_tensor *t = nb_gguf_find_tensor(g, name);
    CHECK_MSG(t != NULL, "%s: no tensor %s", file, name);
    if (!t) return;
    uint32_t nd = ne1 ? 2 : 1;
    CHECK_MSG(t->type == type, "%s: %s is %s, want %s", file, name, nb_type_name(t->type),
              nb_type_name(type));
    CHECK_MSG(t->n_dims == nd && t->ne[0] == ne0 && t->ne[1] == (ne1 ? ne1 : 1),
              "%s: %s shape [%lld,%lld] n_dims %u, want [%lld,%lld]", file, name,
              (long long)t->ne[0], (long long)t->ne[1], t->n_dims, (long long)ne0, (long long)ne1);
}

static void count_types(const nb_gguf *g, uint64_t *by_type) {
    memset(by_type, 0, NB_TYPE_COUNT * sizeof *by_type);
    for (uint64_t i = 0; i < g->n_tensors; i++) by_type[g->tensors[i].type]++;
}

/* stories260K's 48 tensors as the manifest lists them; `big` is the type of
 * the 2-D tensors, `down` that of ffn_down (F16 where 172-wide rows cannot
 * hold 32-element blocks). */
static void check_stories_tensors(const nb_gguf *g, const char *file, uint32_t big,
                                  uint32_t down) {
    char name[64];
    check_tensor(g, file, "token_embd.weight", big, 64, 512);
    check_tensor(g, file, "output_norm.weight", NB_TYPE_F32, 64, 0);
    check_tensor(g, file, "output.weight", big, 64, 512);
    static const struct { const char *n; int64_t ne0, ne1; } blk[] = {
        {"attn_q", 64, 64},    {"attn_k", 64, 32},   {"attn_v", 64, 32},
        {"attn_output", 64, 64}, {"attn_norm", 64, 0}, {"ffn_gate", 64, 172},
        {"ffn_down", 172, 64}, {"ffn_up", 64, 172},  {"ffn_norm", 64, 0},
    };
    for (int l = 0; l < 5; l++)
        for (size_t k = 0; k < sizeof blk / sizeof blk[0]; k++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, blk[k].n);
            uint32_t ty = !blk[k].ne1 ? NB_TYPE_F32 : strcmp(blk[k].n, "ffn_down") == 0 ? down : big;
            check_tensor(g, file, name, ty, blk[k].ne0, blk[k].ne1);
        }
}

static void t_stories260K(void) {
    if (!nb_test_shared_dir()) {
        nb_test_skip("../shared not found");
        return;
    }
    const char *f = "models/tinystories/stories260K.gguf";
    model m;
    if (!load_rel(f, &m)) return;
    const nb_gguf *g = &m.g;
    CHECK(g->version == 3);
    CHECK_MSG(g->n_tensors == 48, "%llu tensors", (unsigned long long)g->n_tensors);
    CHECK_MSG(g->n_kv == 19, "%llu kvs", (unsigned long long)g->n_kv);
    for (uint64_t i = 0; i < g->n_tensors; i++) CHECK(g->tensors[i].type == NB_TYPE_F32);
    check_str(g, f, "general.architecture", "llama");
    check_str(g, f, "tokenizer.ggml.model", "llama");
    check_arr_n(g, f, "tokenizer.ggml.tokens", NB_GGUF_STRING, 512);
    check_arr_n(g, f, "tokenizer.ggml.scores", NB_GGUF_F32, 512);
    check_arr_n(g, f, "tokenizer.ggml.token_type", NB_GGUF_TYPE_COUNT, 512);
    check_u64(g, f, "tokenizer.ggml.bos_token_id", 1);
    check_u64(g, f, "tokenizer.ggml.eos_token_id", 2);
    check_u64(g, f, "tokenizer.ggml.unknown_token_id", 0);
    check_u64(g, f, "llama.context_length", 2048);
    check_u64(g, f, "llama.embedding_length", 64);
    check_u64(g, f, "llama.feed_forward_length", 172);
    check_u64(g, f, "llama.block_count", 5);
    check_u64(g, f, "llama.attention.head_count", 8);
    check_u64(g, f, "llama.attention.head_count_kv", 4);
    CHECK(nb_gguf_find_key(g, "llama.rope.freq_base") == NULL);
    check_stories_tensors(g, f, NB_TYPE_F32, NB_TYPE_F32);

    /* output.weight is a copy of token_embd.weight */
    const nb_gguf_tensor *emb = nb_gguf_find_tensor(g, "token_embd.weight");
    const nb_gguf_tensor *out = nb_gguf_find_tensor(g, "output.weight");
    if (emb && out)
        CHECK(emb->nbytes == out->nbytes && memcmp(emb->data, out->data, emb->nbytes) == 0);

    /* stories260K.bin = 7-int header + the same F32 bytes in llama2.c order
     * (+ the freq_cis tables) */
    char path[1024];
    size_t size = 0;
    snprintf(path, sizeof path, "%s/models/tinystories/stories260K.bin", nb_test_shared_dir());
    uint8_t *bin = nb_test_read_file(path, &size);
    CHECK_MSG(bin != NULL, "cannot read %s", path);
    if (bin) {
        static const char *per_layer[] = {"attn_norm", "attn_q", "attn_k", "attn_v",
                                          "attn_output", "ffn_norm", "ffn_gate", "ffn_down",
                                          "ffn_up"};
        char names[2 + 9 * 5][64];
        int n = 0;
        snprintf(names[n++], sizeof names[0], "token_embd.weight");
        for (int k = 0; k < 9; k++)
            for (int l = 0; l < 5; l++)
                snprintf(names[n++], sizeof names[0], "blk.%d.%s.weight", l, per_layer[k]);
        snprintf(names[n++], sizeof names[0], "output_norm.weight");
        size_t at = 28; /* after the 7 int32 header */
        for (int i = 0; i < n; i++) {
            const nb_gguf_tensor *t = nb_gguf_find_tensor(g, names[i]);
            CHECK_MSG(t && at + t->nbytes <= size && memcmp(bin + at, t->data, t->nbytes) == 0,
                      "stories260K.bin differs at %s (offset %zu)", names[i], at);
            if (!t) break;
            at += (size_t)t->nbytes;
        }
        CHECK_MSG(at + 16384 == size, "stories260K.bin: %zu bytes of weights + 16384 != %zu", at,
                  size);
        free(bin);
    }
    unload(&m);
}

static void t_tiny_random(void) {
    if (!nb_test_shared_dir()) {
        nb_test_skip("../shared not found");
        return;
    }
    const char *f = "models/gguf/llama-2-tiny-random.gguf";
    model m;
    if (!load_rel(f, &m)) return;
    const nb_gguf *g = &m.g;
    uint64_t by_type[NB_TYPE_COUNT];
    count_types(g, by_type);
    CHECK(g->version == 3);
    CHECK_MSG(g->n_tensors == 12, "%llu tensors", (unsigned long long)g->n_tensors);
    CHECK_MSG(by_type[NB_TYPE_F16] == 9 && by_type[NB_TYPE_F32] == 3, "F16 x%llu, F32 x%llu",
              (unsigned long long)by_type[NB_TYPE_F16], (unsigned long long)by_type[NB_TYPE_F32]);
    check_u64(g, f, "general.file_type", 1);
    check_str(g, f, "general.architecture", "llama");
    check_u64(g, f, "llama.embedding_length", 8);
    check_u64(g, f, "llama.block_count", 1);
    check_u64(g, f, "llama.feed_forward_length", 32);
    check_u64(g, f, "llama.attention.head_count", 2);
    check_u64(g, f, "llama.attention.head_count_kv", 2);
    check_u64(g, f, "llama.rope.dimension_count", 4);
    check_u64(g, f, "llama.context_length", 4096);
    check_str(g, f, "tokenizer.ggml.model", "llama");
    check_arr_n(g, f, "tokenizer.ggml.tokens", NB_GGUF_STRING, 32000);
    check_arr_n(g, f, "tokenizer.ggml.scores", NB_GGUF_F32, 32000);
    check_arr_n(g, f, "tokenizer.ggml.token_type", NB_GGUF_TYPE_COUNT, 32000);
    check_tensor(g, f, "token_embd.weight", NB_TYPE_F16, 8, 32000);
    check_tensor(g, f, "output.weight", NB_TYPE_F16, 8, 32000);
    check_tensor(g, f, "output_norm.weight", NB_TYPE_F32, 8, 0);
    check_tensor(g, f, "blk.0.attn_q.weight", NB_TYPE_F16, 8, 8);
    check_tensor(g, f, "blk.0.attn_k.weight", NB_TYPE_F16, 8, 8);
    check_tensor(g, f, "blk.0.attn_v.weight", NB_TYPE_F16, 8, 8);
    check_tensor(g, f, "blk.0.attn_output.weight", NB_TYPE_F16, 8, 8);
    check_tensor(g, f, "blk.0.ffn_gate.weight", NB_TYPE_F16, 8, 32);
    check_tensor(g, f, "blk.0.ffn_up.weight", NB_TYPE_F16, 8, 32);
    check_tensor(g, f, "blk.0.ffn_down.weight", NB_TYPE_F16, 32, 8);
    check_tensor(g, f, "blk.0.attn_norm.weight", NB_TYPE_F32, 8, 0);
    check_tensor(g, f, "blk.0.ffn_norm.weight", NB_TYPE_F32, 8, 0);
    unload(&m);
}

/* derived/gguf/stories260K-<T>.gguf: stated type counts and file_type; the
 * KV section of stories260K.gguf copied verbatim plus general.file_type. */
static void t_derived(void) {
    if (!nb_test_shared_dir()) {
        nb_test_skip("../shared not found");
        return;
    }
    static const struct {
        const char *name;
        uint32_t type, file_type;
    } files[] = {
        {"F16", NB_TYPE_F16, 1},   {"Q8_0", NB_TYPE_Q8_0, 7}, {"Q5_1", NB_TYPE_Q5_1, 9},
        {"Q5_0", NB_TYPE_Q5_0, 8}, {"Q4_1", NB_TYPE_Q4_1, 3}, {"Q4_0", NB_TYPE_Q4_0, 2},
    };
    model base;
    if (!load_rel("models/tinystories/stories260K.gguf", &base)) return;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char f[256];
        snprintf(f, sizeof f, "models/derived/gguf/stories260K-%s.gguf", files[i].name);
        model m;
        if (!load_rel(f, &m)) continue;
        const nb_gguf *g = &m.g;
        uint64_t by_type[NB_TYPE_COUNT], want[NB_TYPE_COUNT] = {0};
        count_types(g, by_type);
        CHECK(g->version == 3);
        CHECK_MSG(g->n_tensors == 48, "%s: %llu tensors", f, (unsigned long long)g->n_tensors);
        if (files[i].type == NB_TYPE_F16) {
            want[NB_TYPE_F16] = 37;
        } else {
            want[files[i].type] = 32;
            want[NB_TYPE_F16] = 5;
        }
        want[NB_TYPE_F32] = 11;
        for (int ty = 0; ty < NB_TYPE_COUNT; ty++)
            CHECK_MSG(by_type[ty] == want[ty], "%s: %s x%llu, manifest says x%llu", f,
                      nb_type_name((uint32_t)ty), (unsigned long long)by_type[ty],
                      (unsigned long long)want[ty]);
        check_u64(g, f, "general.file_type", files[i].file_type);
        check_stories_tensors(g, f, files[i].type, NB_TYPE_F16);
        /* every kv of the original, same type and bytes; plus file_type */
        CHECK_MSG(g->n_kv == base.g.n_kv + 1, "%s: %llu kvs", f, (unsigned long long)g->n_kv);
        for (uint64_t k = 0; k < base.g.n_kv; k++) {
            const nb_gguf_kv *a = &base.g.kv[k];
            char key[256];
            snprintf(key, sizeof key, "%.*s", (int)a->key.len, a->key.ptr);
            const nb_gguf_kv *b = nb_gguf_find_key(g, key);
            CHECK_MSG(b && b->type == a->type && b->arr_type == a->arr_type &&
                          b->val_size == a->val_size && memcmp(a->val, b->val, a->val_size) == 0,
                      "%s: kv %s not copied verbatim", f, key);
        }
        unload(&m);
    }
    unload(&base);
}

/* Parse MANIFEST.md's tables: every `*.gguf` row's byte count must be the
 * file's size, and the vocab rows' tokenizer facts ("arch X, ... (`model`,
 * pre `P`), N tokens, M merges, bos A eos B") must match the KVs. */
static const char *after(const char *s, const char *pat) {
    const char *p = strstr(s, pat);
    return p ? p + strlen(pat) : NULL;
}

/* The number written just before `pat` ("32000 tokens"), or -1. */
static long long number_before(const char *s, const char *pat) {
    const char *p = strstr(s, pat);
    if (!p) return -1;
    const char *q = p;
    while (q > s && ((q[-1] >= '0' && q[-1] <= '9') || q[-1] == ',')) q--;
    if (q == p) return -1;
    long long v = 0;
    for (; q < p; q++)
        if (*q != ',') v = v * 10 + (*q - '0');
    return v;
}

static void word(const char *p, char stop, char *out, size_t size) {
    size_t n = 0;
    while (p && p[n] && p[n] != stop && p[n] != ',' && p[n] != ' ' && n + 1 < size) {
        out[n] = p[n];
        n++;
    }
    out[n] = 0;
}

static void check_vocab_row(const char *file, const nb_gguf *g, const char *desc) {
    char arch[64], tok_model[64], pre[64];
    word(after(desc, "arch "), ',', arch, sizeof arch);
    word(after(desc, "(`"), '`', tok_model, sizeof tok_model);
    word(after(desc, "pre `"), '`', pre, sizeof pre);
    CHECK_MSG(arch[0] && tok_model[0], "%s: cannot read the manifest row '%s'", file, desc);
    CHECK_MSG(g->n_tensors == 0, "%s: vocab-only file with %llu tensors", file,
              (unsigned long long)g->n_tensors);
    check_str(g, file, "general.architecture", arch);
    check_str(g, file, "tokenizer.ggml.model", tok_model);
    if (pre[0]) check_str(g, file, "tokenizer.ggml.pre", pre);
    long long n;
    CHECK_MSG((n = number_before(desc, " tokens")) > 0, "%s: no token count in '%s'", file, desc);
    if (n > 0) check_arr_n(g, file, "tokenizer.ggml.tokens", NB_GGUF_STRING, (uint64_t)n);
    if ((n = number_before(desc, " merges")) > 0)
        check_arr_n(g, file, "tokenizer.ggml.merges", NB_GGUF_STRING, (uint64_t)n);
    const char *p;
    if ((p = after(desc, "bos ")) != NULL)
        check_u64(g, file, "tokenizer.ggml.bos_token_id", strtoull(p, NULL, 10));
    if ((p = after(desc, "eos ")) != NULL)
        check_u64(g, file, "tokenizer.ggml.eos_token_id", strtoull(p, NULL, 10));
}

static void t_manifest(void) {
    const char *shared = nb_test_shared_dir();
    if (!shared) {
        nb_test_skip("../shared not found");
        return;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/models/MANIFEST.md", shared);
    char *text = read_text(path);
    CHECK_MSG(text != NULL, "cannot read %s", path);
    if (!text) return;
    size_t rows = 0, vocab_rows = 0;
    list listed = {0};
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        /* | `vocab/x.gguf` | 1,340,998 | `sha` | description | */
        char rel[256];
        if (sscanf(line, "| `%255[^`]` | ", rel) != 1 || !ends_with(rel, ".gguf")) continue;
        const char *cols = strstr(line, "` | ") + 4;
        long long bytes = number_before(cols, " | ");
        /* the description: the last column, between the last two '|' */
        char *end = strrchr(line, '|'), *start = end;
        while (start > line && start[-1] != '|') start--;
        char d[1024];
        snprintf(d, sizeof d, "%.*s", (int)(end - start), start);
        rows++;
        char rel_path[300];
        snprintf(rel_path, sizeof rel_path, "models/%s", rel);
        snprintf(path, sizeof path, "%s/%s", shared, rel_path);
        list_add(&listed, path);
        model m;
        if (!load_rel(rel_path, &m)) continue;
        CHECK_MSG(bytes > 0 && (size_t)bytes == m.map.size, "%s: %zu bytes, the manifest says %lld",
                  rel, m.map.size, bytes);
        if (strncmp(rel, "vocab/ggml-vocab-", 17) == 0) {
            vocab_rows++;
            check_vocab_row(rel, &m.g, d);
        }
        unload(&m);
    }
    free(text);
    CHECK_MSG(vocab_rows >= MIN_VOCAB_ROWS, "%zu vocab rows in the manifest, expected %d",
              vocab_rows, MIN_VOCAB_ROWS);
    /* and every .gguf under models/ is in the manifest */
    list files = {0};
    snprintf(path, sizeof path, "%s/models", shared);
    walk(path, ".gguf", &files, 0);
    for (size_t i = 0; i < files.n; i++) {
        int found = 0;
        for (size_t j = 0; j < listed.n && !found; j++) found = strcmp(files.v[i], listed.v[j]) == 0;
        CHECK_MSG(found, "%s is not in MANIFEST.md", files.v[i]);
    }
    printf("  %zu .gguf rows (%zu vocab) in MANIFEST.md\n", rows, vocab_rows);
    list_free(&files);
    list_free(&listed);
}

/* --------------------------------------------------- nb-inspect on each */

static int run_inspect(const char *file, char **out, char **err) {
    char out_path[512], err_path[512], cmd[3072];
    snprintf(out_path, sizeof out_path, "%s/out.txt", nb_test_tmp_dir());
    snprintf(err_path, sizeof err_path, "%s/err.txt", nb_test_tmp_dir());
    snprintf(cmd, sizeof cmd, "'%s/nb-inspect' '%s' >'%s' 2>'%s'", nb_test_bin_dir(), file,
             out_path, err_path);
    int st = system(cmd);
    *out = read_text(out_path);
    *err = read_text(err_path);
    return (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
}

static void t_inspect_every_file(void) {
    const char *shared = nb_test_shared_dir();
    if (!shared) {
        nb_test_skip("../shared not found");
        return;
    }
    list files = find_files(shared, ".gguf");
    CHECK(files.n >= MIN_GGUF_FILES);
    for (size_t i = 0; i < files.n; i++) {
        model m;
        if (!load(files.v[i], &m)) continue;
        char *out = NULL, *err = NULL, want[128];
        int rc = run_inspect(files.v[i], &out, &err);
        CHECK_MSG(rc == 0, "nb-inspect %s: exit %d, stderr: %s", files.v[i], rc, err ? err : "");
        CHECK_MSG(out && err && err[0] == 0, "nb-inspect %s: stderr: %s", files.v[i], err ? err : "");
        snprintf(want, sizeof want, "\nn_tensors: %llu\n", (unsigned long long)m.g.n_tensors);
        CHECK_MSG(out && strstr(out, want), "nb-inspect %s: no line '%s'", files.v[i], want + 1);
        snprintf(want, sizeof want, "\nn_kv: %llu\n", (unsigned long long)m.g.n_kv);
        CHECK_MSG(out && strstr(out, want), "nb-inspect %s: no line '%s'", files.v[i], want + 1);
        snprintf(want, sizeof want, "\ntotal: %llu tensors, ", (unsigned long long)m.g.n_tensors);
        CHECK_MSG(out && strstr(out, want), "nb-inspect %s: no line '%s'", files.v[i], want + 1);
        free(out);
        free(err);
        unload(&m);
        if (nb_test_failed()) break; /* one broken tool run is enough to see */
    }
    list_free(&files);
}

int main(void) {
    RUN(t_parse_every_file);
    RUN(t_reference_tensors_txt);
    RUN(t_stories260K);
    RUN(t_tiny_random);
    RUN(t_derived);
    RUN(t_manifest);
    RUN(t_inspect_every_file);
    return nb_test_done();
}
