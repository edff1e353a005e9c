/* SentencePiece tokenizer.model: a serialized ModelProto, read with a small
 * protobuf wire-format reader.
 *
 * Wire format (protobuf encoding spec): a message is a run of fields, each
 * a varint tag (field_number << 3 | wire_type) and a value: wire type 0 a
 * varint (at most 10 bytes, 7 bits each, little-endian groups), 1 eight
 * bytes, 2 a varint length and that many bytes (strings, sub-messages),
 * 5 four bytes; 3/4 are proto2 groups, which sentencepiece never uses.
 *
 * Fields read (google/sentencepiece src/sentencepiece_model.proto):
 *   ModelProto     1 pieces (repeated SentencePiece), 2 trainer_spec
 *   SentencePiece  1 piece (string), 2 score (float), 3 type (enum:
 *                  1 NORMAL, 2 UNKNOWN, 3 CONTROL, 4 USER_DEFINED,
 *                  5 UNUSED, 6 BYTE; default NORMAL)
 *   TrainerSpec    3 model_type, 40 unk_id (default 0), 41 bos_id (1),
 *                  42 eos_id (2), 43 pad_id (-1)
 * Everything else (normalizer_spec, self_test_data, unknown fields) is
 * skipped. Every length is checked against the bytes that remain, so any
 * input gives a clean error naming the byte offset and the field.
 *
 * Token types as llama.cpp's _create_vocab_sentencepiece sets them: it asks
 * IsUnknown / IsControl / IsUnused / IsByte and calls everything else
 * NORMAL, so a USER_DEFINED piece (4) is written as NORMAL (1); an enum
 * value outside 1..6 is an unknown enum to proto2, i.e. the default,
 * NORMAL. */
#include "convert/vocab.h"

#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

typedef struct pb_field {
    uint32_t number;
    uint32_t wire;
    size_t at;        /* offset of the tag                        */
    uint64_t varint;  /* WT_VARINT value                          */
    uint32_t fixed32; /* WT_I32 value                             */
    size_t start;     /* WT_LEN: payload offset ... */
    size_t end;       /* ... and its end                          */
} pb_field;

/* Reads a varint at *pos (< end). `what` names the field for the error. */
static nb_status pb_varint(const uint8_t *b, size_t *pos, size_t end, uint64_t *out,
                           const char *what, nb_err *err) {
    size_t at = *pos;
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (*pos >= end)
            return nb_errf(err, NB_ERR_FORMAT,
                           "tokenizer.model: byte %zu: varint of %s runs past the end (byte %zu)",
                           at, what, end);
        uint8_t c = b[(*pos)++];
        /* the 10th byte holds bit 63 only: more is a longer varint or a
         * value past 64 bits, both invalid */
        if (i == 9 && c > 1)
            return nb_errf(err, NB_ERR_FORMAT,
                           "tokenizer.model: byte %zu: varint of %s is longer than 10 bytes or "
                           "overflows 64 bits",
                           at, what);
        v |= (uint64_t)(c & 0x7f) << (7 * i);
        if (!(c & 0x80)) {
            *out = v;
            return NB_OK;
        }
    }
    return NB_ERR_FORMAT; /* not reached: the 10th byte ends the loop */
}

/* Reads one field of the message `msg` at *pos; fills f, advances *pos. */
static nb_status pb_next(const uint8_t *b, size_t *pos, size_t end, const char *msg, pb_field *f,
                         nb_err *err) {
    char what[64];
    snprintf(what, sizeof what, "a %s field tag", msg);
    memset(f, 0, sizeof *f);
    f->at = *pos;
    uint64_t tag;
    nb_status s = pb_varint(b, pos, end, &tag, what, err);
    if (s) return s;
    if (tag > UINT32_MAX || (tag >> 3) == 0)
        return nb_errf(err, NB_ERR_FORMAT, "tokenizer.model: byte %zu: %s field number %llu is invalid",
                       f->at, msg, (unsigned long long)(tag >> 3));
    f->number = (uint32_t)(tag >> 3);
    f->wire = (uint32_t)(tag & 7);
    snprintf(what, sizeof what, "%s field %u", msg, f->number);
    switch (f->wire) {
    case WT_VARINT:
        return pb_varint(b, pos, end, &f->varint, what, err);
    case WT_I64:
        if (end - *pos < 8)
            return nb_errf(err, NB_ERR_FORMAT,
                           "tokenizer.model: byte %zu: %s (8 bytes) runs past the end (byte %zu)",
                           f->at, what, end);
        *pos += 8;
        return NB_OK;
    case WT_I32:
        if (end - *pos < 4)
            return nb_errf(err, NB_ERR_FORMAT,
                           "tokenizer.model: byte %zu: %s (4 bytes) runs past the end (byte %zu)",
                           f->at, what, end);
        f->fixed32 = nb_load_u32(b + *pos);
        *pos += 4;
        return NB_OK;
    case WT_LEN: {
        uint64_t len;
        s = pb_varint(b, pos, end, &len, what, err);
        if (s) return s;
        if (len > end - *pos)
            return nb_errf(err, NB_ERR_FORMAT,
                           "tokenizer.model: byte %zu: %s has length %llu, only %zu bytes remain",
                           f->at, what, (unsigned long long)len, end - *pos);
        f->start = *pos;
        f->end = *pos + (size_t)len;
        *pos = f->end;
        return NB_OK;
    }
    default:
        return nb_errf(err, NB_ERR_FORMAT, "tokenizer.model: byte %zu: %s has wire type %u (%s)",
                       f->at, what, f->wire,
                       f->wire == WT_SGROUP || f->wire == WT_EGROUP ? "a proto2 group, unsupported"
                                                                    : "invalid");
    }
}

static nb_status want_wire(const pb_field *f, uint32_t wire, const char *name, nb_err *err) {
    static const char *const wn[] = {"varint", "fixed64", "length-delimited", "group start",
                                     "group end", "fixed32", "?", "?"};
    if (f->wire == wire) return NB_OK;
    return nb_errf(err, NB_ERR_FORMAT,
                   "tokenizer.model: byte %zu: %s (field %u) has wire type %u (%s), expected %u (%s)",
                   f->at, name, f->number, f->wire, wn[f->wire & 7], wire, wn[wire]);
}

/* An int32 field: protobuf encodes negative values as 10-byte varints of
 * the sign-extended 64-bit value. */
static int64_t as_int32(uint64_t v) {
    return (int64_t)(int32_t)(uint32_t)v;
}

typedef struct spm_piece {
    size_t text, len;  /* offset and length of the piece text */
    float score;
    int32_t type;
} spm_piece;

typedef struct spm_trainer {
    int64_t unk, bos, eos, pad;
    int model_type;
} spm_trainer;

static nb_status read_piece(const uint8_t *b, size_t start, size_t end, uint32_t index,
                            spm_piece *p, nb_err *err) {
    size_t pos = start;
    int have_text = 0;
    p->score = 0.0f;
    p->type = 1;
    char msg[48];
    snprintf(msg, sizeof msg, "pieces[%u]", index);
    while (pos < end) {
        pb_field f;
        nb_status s = pb_next(b, &pos, end, msg, &f, err);
        if (s) return s;
        char name[64];
        if (f.number == 1) {
            snprintf(name, sizeof name, "pieces[%u].piece", index);
            if ((s = want_wire(&f, WT_LEN, name, err))) return s;
            p->text = f.start;
            p->len = f.end - f.start;
            have_text = 1;
        } else if (f.number == 2) {
            snprintf(name, sizeof name, "pieces[%u].score", index);
            if ((s = want_wire(&f, WT_I32, name, err))) return s;
            uint32_t u = f.fixed32;
            memcpy(&p->score, &u, 4);
        } else if (f.number == 3) {
            snprintf(name, sizeof name, "pieces[%u].type", index);
            if ((s = want_wire(&f, WT_VARINT, name, err))) return s;
            p->type = f.varint >= 1 && f.varint <= 6 ? (int32_t)f.varint : 1;
        }
    }
    /* sentencepiece's loader refuses an empty piece too */
    if (!have_text || p->len == 0)
        return nb_errf(err, NB_ERR_FORMAT, "tokenizer.model: byte %zu: pieces[%u] has no text",
                       start, index);
    return NB_OK;
}

static nb_status read_trainer(const uint8_t *b, size_t start, size_t end, spm_trainer *t,
                              nb_err *err) {
    size_t pos = start;
    while (pos < end) {
        pb_field f;
        nb_status s = pb_next(b, &pos, end, "trainer_spec", &f, err);
        if (s) return s;
        const char *name = NULL;
        int64_t *dst = NULL;
        switch (f.number) {
        case 3: name = "trainer_spec.model_type"; break;
        case 40: name = "trainer_spec.unk_id"; dst = &t->unk; break;
        case 41: name = "trainer_spec.bos_id"; dst = &t->bos; break;
        case 42: name = "trainer_spec.eos_id"; dst = &t->eos; break;
        case 43: name = "trainer_spec.pad_id"; dst = &t->pad; break;
        default: continue;
        }
        if ((s = want_wire(&f, WT_VARINT, name, err))) return s;
        if (dst) *dst = as_int32(f.varint);
        else t->model_type = f.varint <= 4 ? (int)f.varint : 0;
    }
    return NB_OK;
}

/* Types of tokenizer.ggml.token_type from a SentencePiece type. */
static int32_t gguf_type(int32_t spm_type) {
    switch (spm_type) {
    case 2: return NB_TOKEN_UNKNOWN;
    case 3: return NB_TOKEN_CONTROL;
    case 5: return NB_TOKEN_UNUSED;
    case 6: return NB_TOKEN_BYTE;
    default: return NB_TOKEN_NORMAL; /* 1, and 4 (see above) */
    }
}

nb_status nb_spm_model_read(const void *data, size_t size, int64_t vocab_size, nb_hf_vocab *v,
                            nb_err *err) {
    if (!v) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_spm_model_read: NULL vocabulary");
    nb_hf_vocab_init(v);
    if (!data && size) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_spm_model_read: NULL data");
    if (vocab_size < 0 || vocab_size > (int64_t)NB_HF_MAX_TOKENS)
        return nb_errf(err, NB_ERR_RANGE, "vocab_size %lld out of range (0..%u)",
                       (long long)vocab_size, NB_HF_MAX_TOKENS);
    const uint8_t *b = data;
    spm_trainer t = {0, 1, 2, -1, 0};

    /* pass 1: the structure, the piece count and the trainer spec */
    uint32_t n_pieces = 0;
    size_t pos = 0;
    nb_status s;
    while (pos < size) {
        pb_field f;
        if ((s = pb_next(b, &pos, size, "ModelProto", &f, err))) return s;
        if (f.number == 1) {
            char name[48];
            snprintf(name, sizeof name, "pieces[%u]", n_pieces);
            if ((s = want_wire(&f, WT_LEN, name, err))) return s;
            if (n_pieces >= NB_HF_MAX_TOKENS)
                return nb_errf(err, NB_ERR_RANGE, "tokenizer.model: byte %zu: more than %u pieces",
                               f.at, NB_HF_MAX_TOKENS);
            n_pieces++;
        } else if (f.number == 2) {
            if ((s = want_wire(&f, WT_LEN, "trainer_spec", err))) return s;
            if ((s = read_trainer(b, f.start, f.end, &t, err))) return s;
        }
    }
    if (n_pieces == 0)
        return nb_errf(err, NB_ERR_FORMAT, "tokenizer.model: no pieces (%zu bytes)", size);

    /* llama.cpp: vocab_size from config.json, else the model's count; a
     * model with more pieces than vocab_size fails there (an index error),
     * and would not match the embedding: refuse it by name */
    uint32_t n = vocab_size > 0 ? (uint32_t)vocab_size : n_pieces;
    if (n < n_pieces) {
        s = nb_errf(err, NB_ERR_FORMAT,
                    "tokenizer.model has %u pieces, more than config.json's vocab_size %u "
                    "(a tokenizer of another model?)",
                    n_pieces, n);
        goto fail;
    }
    if ((s = nb_hf_vocab_alloc_tokens(v, n, 1, err))) goto fail;
    snprintf(v->model, sizeof v->model, "llama");
    snprintf(v->pre, sizeof v->pre, "default");
    v->pre_known = 1;
    v->spm_model_type = t.model_type ? t.model_type : 1; /* proto default UNIGRAM */

    /* pass 2: the pieces, in id order */
    pos = 0;
    uint32_t id = 0;
    while (pos < size) {
        pb_field f;
        if ((s = pb_next(b, &pos, size, "ModelProto", &f, err))) goto fail;
        if (f.number != 1) continue;
        spm_piece p = {0, 0, 0.0f, 1};
        if ((s = read_piece(b, f.start, f.end, id, &p, err))) goto fail;
        if (id < n) {
            if ((s = nb_hf_vocab_set_token(v, id, (const char *)b + p.text, p.len, err)))
                goto fail;
            v->scores[id] = p.score;
            v->types[id] = gguf_type(p.type);
        }
        id++;
    }
    v->n_base = n_pieces < n ? n_pieces : n;
    /* out-of-range ids are dropped, as gguf-py's SpecialVocab drops them */
    v->unk = t.unk >= 0 && t.unk < n ? t.unk : -1;
    v->bos = t.bos >= 0 && t.bos < n ? t.bos : -1;
    v->eos = t.eos >= 0 && t.eos < n ? t.eos : -1;
    v->pad = t.pad >= 0 && t.pad < n ? t.pad : -1;
    return NB_OK;
fail:
    nb_hf_vocab_free(v);
    return s;
}
