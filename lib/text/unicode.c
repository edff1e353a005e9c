/* Code point classes and UTF-8 coding for the BPE pre-tokenizers. */
#include "text/unicode.h"

uint8_t nb_uc_flags(uint32_t cp) {
    if (cp < 256) return nb_uc_latin1[cp];
    if (cp >= 0x110000) return NB_UC_CN;
    /* last run whose first code point is <= cp */
    size_t lo = 0, hi = nb_uc_n_ranges;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if ((nb_uc_ranges[mid] >> 8) <= cp) lo = mid;
        else hi = mid;
    }
    return (uint8_t)(nb_uc_ranges[lo] & 0xff);
}

size_t nb_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp) {
    uint8_t b = s[0];
    size_t len;
    uint32_t v;
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    if ((b & 0xe0) == 0xc0) len = 2, v = b & 0x1fu;
    else if ((b & 0xf0) == 0xe0) len = 3, v = b & 0x0fu;
    else if ((b & 0xf8) == 0xf0) len = 4, v = b & 0x07u;
    else len = 0, v = 0; /* continuation byte or 0xf8..0xff as a lead */
    if (len == 0 || len > n) goto bad;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) goto bad;
        v = (v << 6) | (s[i] & 0x3fu);
    }
    if (v > 0x10ffff) goto bad;
    *cp = v;
    return len;
bad:
    *cp = 0xfffd;
    return 1;
}

size_t nb_utf8_encode(uint32_t cp, uint8_t *out) {
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xc0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xe0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (uint8_t)(0xf0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}
