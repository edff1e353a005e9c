/* Unicode facts for the BPE pre-tokenizers (internal to lib/text).
 *
 * The class of a code point follows llama.cpp's unicode_cpt_flags, the
 * categories its pre-tokenizer regexes use: \p{L} letters, \p{N} numbers,
 * \p{P} punctuation, \p{S} symbols, \p{M} marks, \p{Z} separators, C
 * (control, format, private use, surrogate) and Cn (unassigned). \s is the
 * White_Space property. The tables are generated from the Unicode Character
 * Database by tools/gen-unicode-tables.py into unicode_tables.c. */
#ifndef NB_TEXT_UNICODE_H
#define NB_TEXT_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Classes (low 4 bits). 0 is never a code point's value: scanners use it
 * for "past the end of the piece". */
enum {
    NB_UC_CN = 1, /* unassigned */
    NB_UC_L = 2,
    NB_UC_N = 3,
    NB_UC_P = 4,
    NB_UC_S = 5,
    NB_UC_M = 6,
    NB_UC_Z = 7,
    NB_UC_C = 8
};
#define NB_UC_CLASS 0x0f
#define NB_UC_WS 0x10 /* White_Space */

extern const char nb_uc_version[];
extern const uint8_t nb_uc_latin1[256];
extern const uint32_t nb_uc_ranges[];
extern const size_t nb_uc_n_ranges;

/* Flags (class | NB_UC_WS) of a code point; code points above U+10FFFF
 * are NB_UC_CN. */
uint8_t nb_uc_flags(uint32_t cp);

/* Decode one code point from s[0..n) (n >= 1) the way llama.cpp's
 * unicode_cpt_from_utf8 does: continuation bytes are checked, overlong
 * forms and surrogates are accepted; a bad lead byte or a truncated or
 * broken sequence yields U+FFFD and consumes one byte. Unlike llama.cpp
 * (which throws later when re-encoding), a 4-byte form above U+10FFFF is
 * also U+FFFD, consuming one byte. Returns the bytes consumed (1..4). */
size_t nb_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);
/* UTF-8 bytes of cp (<= U+10FFFF) into out[4]; returns 1..4. */
size_t nb_utf8_encode(uint32_t cp, uint8_t *out);

#endif
