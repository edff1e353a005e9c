/* Checked entry points over the type table. */
#include "formats.h"

size_t nb_row_size(uint32_t type, int64_t n) {
    const nb_type_info *ti = nb_type_get(type);
    if (!ti || n < 0 || n % ti->block_size) return 0;
    return (size_t)(n / ti->block_size) * ti->type_size;
}

static nb_status check_row(const nb_type_info *ti, uint32_t type, int64_t n, const char *what,
                           int have, nb_err *err) {
    if (!ti) return nb_errf(err, NB_ERR_UNSUPPORTED, "%s: unknown type id %u", what, type);
    if (!have)
        return nb_errf(err, NB_ERR_UNSUPPORTED, "%s: not supported for type %s", what, ti->name);
    if (n < 0 || n % ti->block_size)
        return nb_errf(err, NB_ERR_INVALID_ARG,
                       "%s: row length %lld is not a multiple of the %s block size %u", what,
                       (long long)n, ti->name, ti->block_size);
    return NB_OK;
}

nb_status nb_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n, nb_err *err) {
    const nb_type_info *ti = nb_type_get(type);
    nb_status s = check_row(ti, type, n, "dequantize", ti && ti->to_float, err);
    if (s) return s;
    ti->to_float(src, dst, n);
    return NB_OK;
}

nb_status nb_quantize_rows(uint32_t type, const float *src, void *dst, int64_t n_rows,
                           int64_t n_per_row, const float *imatrix, nb_err *err) {
    const nb_type_info *ti = nb_type_get(type);
    nb_status s = check_row(ti, type, n_per_row, "quantize", ti && ti->quantize, err);
    if (s) return s;
    if (n_rows < 0) return nb_errf(err, NB_ERR_INVALID_ARG, "quantize: %lld rows", (long long)n_rows);
    size_t row_bytes = nb_row_size(type, n_per_row);
    for (int64_t r = 0; r < n_rows; r++)
        ti->quantize(src + r * n_per_row, (uint8_t *)dst + (size_t)r * row_bytes, n_per_row,
                     imatrix);
    return NB_OK;
}
