/* The safetensors reader: a real checkpoint, then one named test per
 * hostile-file class (as test_gguf_bad.c does for GGUF); every failure is
 * a clean error whose message names the problem. */
#include "harness.h"
#include "convert/safetensors.h"

#include <stdlib.h>
#include <string.h>

/* 8-byte length + header text + `data_len` bytes of data */
static uint8_t *make(const char *header, size_t data_len, size_t *size) {
    size_t h = strlen(header);
    *size = 8 + h + data_len;
    uint8_t *p = calloc(1, *size + 1);
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(p + 8, header, h);
    for (size_t i = 0; i < data_len; i++) p[8 + h + i] = (uint8_t)i;
    return p;
}

/* parse must fail with status `want` and a message containing `needle` */
static void expect_fail(const char *header, size_t data_len, nb_status want, const char *needle) {
    size_t size;
    uint8_t *p = make(header, data_len, &size);
    nb_safetensors st;
    nb_err err = {0};
    nb_status s = nb_safetensors_parse(p, size, "t.safetensors", &st, &err);
    CHECK_MSG(s == want, "header %s: status %s, want %s (%s)", header, nb_status_str(s),
              nb_status_str(want), err.msg);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
    if (!s) nb_safetensors_free(&st);
    free(p);
}

#define ONE "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}"

static void t_valid(void) {
    size_t size;
    uint8_t *p = make("{\"__metadata__\":{\"format\":\"pt\"},"
                      "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[16,22]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                      "\"s\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[22,24]}}   ",
                      24, &size);
    nb_safetensors st;
    nb_err err = {0};
    CHECK_OK(nb_safetensors_parse(p, size, "t", &st, &err), err);
    if (nb_test_failed()) { free(p); return; }
    CHECK(st.n_tensors == 3);
    /* in data order */
    CHECK(!strcmp(st.tensors[0].name, "a") && st.tensors[0].type == NB_TYPE_F32 &&
          st.tensors[0].n_dims == 2 && st.tensors[0].shape[0] == 2);
    CHECK(!strcmp(st.tensors[1].name, "b") && st.tensors[1].type == NB_TYPE_BF16);
    CHECK(st.tensors[2].n_dims == 0 && nb_st_nelements(&st.tensors[2]) == 1);
    const nb_st_tensor *b = nb_safetensors_find(&st, "b");
    CHECK(b && b->data == p + 8 + st.header_size + 16);
    CHECK(nb_safetensors_find(&st, "zz") == NULL);
    nb_safetensors_free(&st);
    free(p);
}

static void t_real_checkpoint(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    const char *v[] = {"f32", "f16"};
    for (int i = 0; i < 2; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/models/derived/hf/stories260K-hf-%s/model.safetensors", sh, v[i]);
        size_t size;
        void *bytes = nb_test_read_file(path, &size);
        CHECK_MSG(bytes, "cannot read %s", path);
        if (!bytes) continue;
        nb_safetensors st;
        nb_err err = {0};
        CHECK_OK(nb_safetensors_parse(bytes, size, path, &st, &err), err);
        if (!nb_test_failed()) {
            CHECK(st.n_tensors == 47);
            const nb_st_tensor *t = nb_safetensors_find(&st, "model.layers.0.self_attn.k_proj.weight");
            CHECK(t && t->n_dims == 2 && t->shape[0] == 32 && t->shape[1] == 64 &&
                  t->type == (i ? NB_TYPE_F16 : NB_TYPE_F32));
            nb_safetensors_free(&st);
        }
        /* every truncation fails cleanly */
        for (size_t n = 0; n < size; n += (n < 4096 ? 1 : 997)) {
            nb_safetensors x;
            CHECK_MSG(nb_safetensors_parse(bytes, n, "t", &x, &err) != NB_OK, "prefix %zu accepted", n);
        }
        free(bytes);
    }
}

static void t_too_short(void) {
    nb_safetensors st;
    nb_err err = {0};
    CHECK(nb_safetensors_parse("\x02\0\0\0", 4, "t", &st, &err) == NB_ERR_FORMAT);
    CHECK(strstr(err.msg, "too short"));
    CHECK(nb_safetensors_parse("", 0, "t", &st, &err) == NB_ERR_FORMAT);
}

static void t_header_beyond_file(void) {
    size_t size;
    uint8_t *p = make(ONE, 16, &size);
    p[0] = 0xff; /* header length 255 + ... > file */
    nb_safetensors st;
    nb_err err = {0};
    CHECK(nb_safetensors_parse(p, size, "t", &st, &err) == NB_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "beyond the end"), "%s", err.msg);
    free(p);
}

static void t_header_over_limit(void) {
    size_t size;
    uint8_t *p = make(ONE, 16, &size);
    p[4] = 1; /* 4 GiB + ... */
    nb_safetensors st;
    nb_err err = {0};
    CHECK(nb_safetensors_parse(p, size, "t", &st, &err) == NB_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "100 MB"), "%s", err.msg);
    memset(p, 0xff, 8); /* 2^64 - 1: no overflow in the bounds check */
    CHECK(nb_safetensors_parse(p, size, "t", &st, &err) == NB_ERR_FORMAT);
    free(p);
}

static void t_not_json(void) {
    expect_fail("GGUF", 0, NB_ERR_FORMAT, "does not start with '{'");
    expect_fail("{\"w\":{\"dtype\":\"F32\",}}", 0, NB_ERR_FORMAT, "t.safetensors:1:");
    expect_fail("[1,2]", 0, NB_ERR_FORMAT, "does not start with '{'");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", 4, NB_ERR_FORMAT, "t.safetensors:1:");
}

static void t_dtypes(void) {
    expect_fail("{\"w\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", 16,
                NB_ERR_UNSUPPORTED, "'w' has dtype I64");
    expect_fail("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
                NB_ERR_UNSUPPORTED, "F8_E4M3");
    expect_fail("{\"w\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, NB_ERR_FORMAT,
                "unknown dtype");
    expect_fail("{\"w\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,2]}}", 2, NB_ERR_FORMAT, "dtype");
}

static void t_shapes(void) {
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, NB_ERR_FORMAT,
                "shape[0]");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, NB_ERR_FORMAT,
                "shape[0]");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,4]}}", 4, NB_ERR_FORMAT,
                "shape");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
                NB_ERR_UNSUPPORTED, "dimensions");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}",
                4, NB_ERR_RANGE, "overflows");
}

static void t_offsets(void) {
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 15,
                NB_ERR_FORMAT, "beyond the 15 bytes");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 16,
                NB_ERR_FORMAT, "needs 16");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 16, NB_ERR_FORMAT,
                "end before begin");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 16, NB_ERR_FORMAT,
                "[begin, end]");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 16, NB_ERR_FORMAT,
                "non-negative");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 16, NB_ERR_FORMAT, "data_offsets");
}

static void t_overlap(void) {
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                12, NB_ERR_FORMAT, "overlap");
}

static void t_duplicate(void) {
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                8, NB_ERR_FORMAT, "appears twice");
}

static void t_metadata(void) {
#define W "\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}"
    expect_fail("{\"__metadata__\":{\"format\":1}," W, 16, NB_ERR_FORMAT, "__metadata__");
    expect_fail("{\"__metadata__\":[]," W, 16, NB_ERR_FORMAT, "__metadata__");
#undef W
    expect_fail("{\"w\":[1,2]}", 0, NB_ERR_FORMAT, "not an object");
}

int main(void) {
    RUN(t_valid);
    RUN(t_real_checkpoint);
    RUN(t_too_short);
    RUN(t_header_beyond_file);
    RUN(t_header_over_limit);
    RUN(t_not_json);
    RUN(t_dtypes);
    RUN(t_shapes);
    RUN(t_offsets);
    RUN(t_overlap);
    RUN(t_duplicate);
    RUN(t_metadata);
    return nb_test_done();
}
