/* safetensors reader (Hugging Face's checkpoint format). Internal.
 *
 *   [u64 LE: N] [N bytes: JSON header] [data ...]
 *
 * The header maps each tensor name to {"dtype", "shape", "data_offsets":
 * [begin, end]} (offsets relative to the data section) and may carry a
 * "__metadata__" object of strings. Nothing is copied: tensor data point
 * into the bytes given to the parser. */
#ifndef NB_CONVERT_SAFETENSORS_H
#define NB_CONVERT_SAFETENSORS_H

#include "nibble.h"

#define NB_ST_MAX_DIMS 8
/* The reference implementation refuses headers over 100 MB. */
#define NB_ST_MAX_HEADER (100u * 1000u * 1000u)

typedef struct nb_st_tensor {
    const char *name;        /* NUL-terminated                              */
    uint32_t type;           /* NB_TYPE_F32, NB_TYPE_F16 or NB_TYPE_BF16    */
    uint32_t n_dims;         /* 0 (a scalar) .. NB_ST_MAX_DIMS               */
    int64_t shape[NB_ST_MAX_DIMS]; /* row-major: shape[n_dims-1] is the row */
    uint64_t begin, end;     /* byte offsets in the data section            */
    const uint8_t *data;     /* base + 8 + N + begin                        */
} nb_st_tensor;

typedef struct nb_safetensors {
    const uint8_t *base;
    size_t size;
    uint64_t header_size;
    size_t n_tensors;
    nb_st_tensor *tensors;   /* in data order (sorted by begin)             */
    void *doc;               /* the parsed header (owns the names)          */
} nb_safetensors;

/* Validates: header length within the file and the 100 MB limit, the JSON
 * (strict), every entry's dtype/shape/offsets, offsets inside the data
 * section, size = product of the shape x element size (overflow-checked),
 * no two tensors overlapping, no duplicate names. `what` names the file in
 * messages. dtypes other than F32/F16/BF16 are NB_ERR_UNSUPPORTED naming
 * the tensor and the dtype. */
nb_status nb_safetensors_parse(const void *data, size_t size, const char *what,
                               nb_safetensors *st, nb_err *err);
void nb_safetensors_free(nb_safetensors *st);
const nb_st_tensor *nb_safetensors_find(const nb_safetensors *st, const char *name);
/* Number of elements (1 for a scalar). */
int64_t nb_st_nelements(const nb_st_tensor *t);

#endif
