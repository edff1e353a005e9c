/* Byte-level BPE (GPT-2 style) over a GGUF vocabulary whose
 * tokenizer.ggml.model is "gpt2".
 *
 * Encoding one raw-text fragment, as llama.cpp's llm_tokenizer_bpe_session:
 *   1. decode the UTF-8 into code points (bad bytes become U+FFFD);
 *   2. pre-tokenize: split into words with the passes chosen by
 *      tokenizer.ggml.pre (each pass re-splits the pieces of the one
 *      before, as llama.cpp applies its list of regexes; the regexes are
 *      written out below as scanners);
 *   3. re-encode each word to UTF-8 and map every byte to its GPT-2
 *      "byte-level" character (printable bytes stand for themselves, the
 *      other 68 become U+0100..U+0143 in byte order, e.g. ' ' -> 'Ġ');
 *   4. start from one symbol per byte and repeatedly merge the adjacent
 *      pair with the lowest rank in tokenizer.ggml.merges (ties: leftmost),
 *      with a binary min-heap; "ignore_merges" vocabularies (Llama 3) take
 *      a whole word that is itself a token as is;
 *   5. each final symbol is a token; one that is not (only in inconsistent
 *      vocabularies) falls back to its single bytes as tokens, dropping
 *      those that are not tokens either (as llama.cpp does).
 * Merges are "left right" strings (split at the first space from byte 1,
 * as llama.cpp does); their rank is their index. */
#include "text/text.h"
#include "text/unicode.h"

/* ------------------------------------------------------ byte mapping */

/* GPT-2's bytes_to_unicode(): bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF
 * map to the same code point; the other 68 bytes (0x00..0x20, 0x7F..0xA0,
 * 0xAD) to 256 + their index among those 68. */
static uint32_t byte_to_cp(uint8_t b) {
    if ((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae) return b;
    if (b <= 0x20) return 256u + b;
    if (b <= 0xa0) return 256u + 33u + (uint32_t)(b - 0x7f);
    return 256u + 67u; /* 0xAD */
}

/* inverse; -1 for a code point that stands for no byte */
static int cp_to_byte(uint32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7e) || (cp >= 0xa1 && cp <= 0xac) || (cp >= 0xae && cp <= 0xff))
        return (int)cp;
    if (cp < 256 || cp >= 256 + 68) return -1;
    uint32_t n = cp - 256;
    if (n <= 0x20) return (int)n;
    if (n < 33 + 34) return (int)(0x7f + (n - 33));
    return 0xad;
}

/* --------------------------------------------------- pre-tokenizer names */

typedef struct pre_name {
    const char *name;
    int kind, ignore_merges, add_bos;
} pre_name;

/* tokenizer.ggml.pre values and what llama.cpp (src/llama-vocab.cpp,
 * llama_vocab::impl::load) does with them: which regex list, whether a
 * whole word that is a token skips the merges, the add_bos default. Only
 * names whose behaviour is fully the regex list are here (e.g. not
 * "tekken" or "chatglm-bpe", which change more). */
static const pre_name PRE_NAMES[] = {
    {"default", NB_PRE_DEFAULT, 0, 0},
    {"gpt-2", NB_PRE_GPT2, 0, 0},
    {"gpt2", NB_PRE_GPT2, 0, 0}, /* alias; llama.cpp spells it "gpt-2" */
    {"phi-2", NB_PRE_GPT2, 0, 0},
    {"mpt", NB_PRE_GPT2, 0, 0},
    {"olmo", NB_PRE_GPT2, 0, 0},
    {"jais", NB_PRE_GPT2, 0, 0},
    {"gigachat", NB_PRE_GPT2, 0, 0},
    {"exaone4", NB_PRE_GPT2, 0, 0},
    {"llama3", NB_PRE_LLAMA3, 1, 1},
    {"llama-v3", NB_PRE_LLAMA3, 1, 1},
    {"llama-bpe", NB_PRE_LLAMA3, 1, 1},
    {"falcon3", NB_PRE_LLAMA3, 1, 1},
    {"pixtral", NB_PRE_LLAMA3, 1, 1},
    {"dbrx", NB_PRE_LLAMA3, 0, 0},
    {"smaug-bpe", NB_PRE_LLAMA3, 0, 0},
    {"qwen2", NB_PRE_QWEN2, 0, 0},
    {"deepseek-r1-qwen", NB_PRE_QWEN2, 0, 0},
    {"stablelm2", NB_PRE_QWEN2, 0, 0},
    {"megrez", NB_PRE_QWEN2, 0, 0},
    {"deepseek-llm", NB_PRE_DEEPSEEK_LLM, 0, 0},
    {"deepseek-coder", NB_PRE_DEEPSEEK_CODER, 0, 0},
    {"falcon", NB_PRE_FALCON, 0, 0},
    {"starcoder", NB_PRE_STARCODER, 0, 0},
    {"refact", NB_PRE_STARCODER, 0, 0},
    {"command-r", NB_PRE_STARCODER, 0, 0},
    {"smollm", NB_PRE_STARCODER, 0, 0},
    {"codeshell", NB_PRE_STARCODER, 0, 0},
    {"exaone", NB_PRE_STARCODER, 0, 0},
    {"minerva-7b", NB_PRE_STARCODER, 0, 0},
};

int nb_bpe_pre_lookup(nb_str name, int *kind, int *ignore_merges, int *add_bos,
                      const char **canon) {
    for (size_t i = 0; i < sizeof PRE_NAMES / sizeof PRE_NAMES[0]; i++) {
        if (!nb_str_eq(name, PRE_NAMES[i].name)) continue;
        *kind = PRE_NAMES[i].kind;
        *ignore_merges = PRE_NAMES[i].ignore_merges;
        *add_bos = PRE_NAMES[i].add_bos;
        *canon = PRE_NAMES[i].name;
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------- merges */

nb_status nb_bpe_load_merges(const nb_gguf_kv *kv, nb_str *merge, uint32_t *split,
                             int32_t *hash, uint32_t hash_mask, nb_err *err) {
    uint64_t n = kv->arr_n, cur = 0;
    for (size_t i = 0; i <= hash_mask; i++) hash[i] = -1;
    for (uint64_t i = 0; i < n; i++) {
        nb_str m;
        if (nb_gguf_arr_next_str(kv, &cur, &m) != NB_OK)
            return nb_errf(err, NB_ERR_FORMAT, "tokenizer.ggml.merges: cannot read merge %llu",
                           (unsigned long long)i);
        /* "left right": the first space after byte 0 separates the two */
        const char *sp = m.len > 1 ? memchr(m.ptr + 1, ' ', (size_t)m.len - 1) : NULL;
        if (!sp || sp == m.ptr + m.len - 1)
            return nb_errf(err, NB_ERR_FORMAT,
                           "tokenizer.ggml.merges[%llu] = \"%.*s\" is not two tokens "
                           "separated by a space",
                           (unsigned long long)i, (int)(m.len > 40 ? 40 : m.len), m.ptr);
        merge[i] = m;
        split[i] = (uint32_t)(sp - m.ptr);
        uint32_t h = nb_fnv1a(NB_FNV_INIT, m.ptr, (size_t)m.len) & hash_mask;
        for (;;) {
            int32_t j = hash[h];
            if (j < 0) {
                hash[h] = (int32_t)i;
                break;
            }
            if (merge[j].len == m.len && memcmp(merge[j].ptr, m.ptr, (size_t)m.len) == 0)
                break; /* a repeated pair keeps its first rank (llama.cpp's emplace) */
            h = (h + 1) & hash_mask;
        }
    }
    return NB_OK;
}

/* rank of the pair (l, r), or -1 */
static int32_t find_merge(const nb_tokenizer *tok, const uint8_t *l, size_t ln, const uint8_t *r,
                          size_t rn) {
    if (!tok->merge_hash) return -1;
    uint32_t h = nb_fnv1a(NB_FNV_INIT, l, ln);
    h = nb_fnv1a(h, " ", 1);
    h = nb_fnv1a(h, r, rn) & tok->merge_hash_mask;
    for (;;) {
        int32_t j = tok->merge_hash[h];
        if (j < 0) return -1;
        const nb_str *m = &tok->merge[j];
        if (m->len == ln + 1 + rn && tok->merge_split[j] == ln && memcmp(m->ptr, l, ln) == 0 &&
            memcmp(m->ptr + ln + 1, r, rn) == 0)
            return j;
        h = (h + 1) & tok->merge_hash_mask;
    }
}

/* ---------------------------------------------------- pre-tokenizers
 *
 * Each pass splits the piece [s, e) of code points and writes the end of
 * every sub-piece to out (at most e - s entries). fl[] holds nb_uc_flags;
 * AT(p) is 0 past the end of the piece, as the regexes cannot look
 * beyond it either (llama.cpp runs each regex on each piece alone). */

#define AT(p) ((p) < e ? fl[p] : 0)
#define CLS(f) ((f) & NB_UC_CLASS)

/* 's 't 're 've 'm 'll 'd at p (ASCII case-insensitive when icase: the
 * Llama 3 regex has (?i:...); no non-ASCII letter lowercases to these).
 * Returns the end, or 0. */
static size_t contraction(const uint32_t *cp, size_t p, size_t e, int icase) {
    if (cp[p] != '\'' || p + 1 >= e) return 0;
    uint32_t a = cp[p + 1], b = p + 2 < e ? cp[p + 2] : 0;
    if (icase) {
        if (a >= 'A' && a <= 'Z') a += 32;
        if (b >= 'A' && b <= 'Z') b += 32;
    }
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return p + 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return p + 3;
    return 0;
}

/* whitespace at the end of what the other alternatives left: \s+(?!\S)
 * keeps the last space of a run for the next word unless the run ends the
 * piece; a single space before a non-space is \s+ on its own. */
static size_t ws_run(const uint8_t *fl, size_t p, size_t e) {
    size_t w = 0;
    while (p + w < e && (fl[p + w] & NB_UC_WS)) w++;
    if (w > 1 && p + w < e) return p + w - 1;
    if (w > 0) return p + w;
    return p + 1; /* nothing matched: the character alone */
}

/* GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * (the last \s+ is what llama.cpp's hand-written version of this regex,
 * unicode_regex_split_custom_gpt2, does too). */
static size_t pass_gpt2(const uint32_t *cp, const uint8_t *fl, size_t s, size_t e,
                        uint32_t *out) {
    size_t k = 0;
    for (size_t p = s; p < e;) {
        size_t end = contraction(cp, p, e, 0);
        if (!end) {
            size_t q = p + (cp[p] == ' ');
            uint8_t f = AT(q);
            if (CLS(f) == NB_UC_L || CLS(f) == NB_UC_N) {
                int c = CLS(f);
                end = q;
                while (end < e && CLS(fl[end]) == c) end++;
            } else if (f && !(f & NB_UC_WS)) {
                end = q;
                while (end < e && !(fl[end] & NB_UC_WS) && CLS(fl[end]) != NB_UC_L &&
                       CLS(fl[end]) != NB_UC_N)
                    end++;
            } else {
                end = ws_run(fl, p, e);
            }
        }
        out[k++] = (uint32_t)end;
        p = end;
    }
    return k;
}

/* Llama 3 (max_digits 3) and Qwen2 (max_digits 1):
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t pass_llama3(const uint32_t *cp, const uint8_t *fl, size_t s, size_t e,
                          uint32_t *out, size_t max_digits) {
    size_t k = 0;
    for (size_t p = s; p < e;) {
        uint32_t c = cp[p];
        int cls = CLS(fl[p]);
        size_t end = contraction(cp, p, e, 1);
        if (end) goto emit;
        /* [^\r\n\p{L}\p{N}]?\p{L}+ */
        if (c != '\r' && c != '\n' && cls != NB_UC_N &&
            (cls == NB_UC_L || CLS(AT(p + 1)) == NB_UC_L)) {
            end = p + 1;
            while (end < e && CLS(fl[end]) == NB_UC_L) end++;
            goto emit;
        }
        /* \p{N}{1,3} */
        if (cls == NB_UC_N) {
            end = p + 1;
            while (end < e && end - p < max_digits && CLS(fl[end]) == NB_UC_N) end++;
            goto emit;
        }
        /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
        {
            size_t q = p + (c == ' ');
            uint8_t f = AT(q);
            if (f && !(f & NB_UC_WS) && CLS(f) != NB_UC_L && CLS(f) != NB_UC_N) {
                end = q;
                while (end < e && !(fl[end] & NB_UC_WS) && CLS(fl[end]) != NB_UC_L &&
                       CLS(fl[end]) != NB_UC_N)
                    end++;
                while (end < e && (cp[end] == '\r' || cp[end] == '\n')) end++;
                goto emit;
            }
        }
        /* \s*[\r\n]+ : up to the last \r or \n of the whitespace run */
        {
            size_t w = p, last_nl = 0;
            while (w < e && (fl[w] & NB_UC_WS)) {
                if (cp[w] == '\r' || cp[w] == '\n') last_nl = w + 1;
                w++;
            }
            end = last_nl ? last_nl : ws_run(fl, p, e);
        }
    emit:
        out[k++] = (uint32_t)end;
        p = end;
    }
    return k;
}

/* The other regexes are not written by hand in llama.cpp: it runs them with
 * std::regex. These passes reproduce what that gives: matches are found
 * left to right, and the text between two matches stays one piece. A
 * matcher returns the end of the match at p, or p if none starts there.
 *
 * Two details of how llama.cpp feeds std::regex show through:
 *  - regexes with \p{..} classes see "collapsed" text where every non-ASCII
 *    code point is a placeholder for its class, so \p{L} is exactly class L
 *    and ASCII characters match only themselves;
 *  - regexes without (\s, explicit code point ranges) see the code points,
 *    but every non-ASCII White_Space character is replaced by U+000B, so it
 *    matches \s and never a range (U+3000 is in "　-。" but cannot match). */

typedef size_t (*matcher)(const uint32_t *cp, const uint8_t *fl, size_t p, size_t e);

static size_t regex_pass(const uint32_t *cp, const uint8_t *fl, size_t s, size_t e,
                         uint32_t *out, matcher m) {
    size_t k = 0, gap = s;
    for (size_t p = s; p < e;) {
        size_t end = m(cp, fl, p, e);
        if (end == p) {
            p++;
            continue;
        }
        if (p > gap) out[k++] = (uint32_t)p;
        out[k++] = (uint32_t)end;
        p = gap = end;
    }
    if (gap < e) out[k++] = (uint32_t)e;
    return k;
}

/* code point as the non-\p regexes see it (see above) */
static uint32_t wide(const uint32_t *cp, const uint8_t *fl, size_t p) {
    return cp[p] > 0x7f && (fl[p] & NB_UC_WS) ? 0x0b : cp[p];
}

typedef struct cp_range {
    uint32_t lo, hi;
} cp_range;

static int in_ranges(uint32_t c, const cp_range *r, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (c >= r[i].lo && c <= r[i].hi) return 1;
    return 0;
}

/* [\r\n] */
static size_t m_newline(const uint32_t *cp, const uint8_t *fl, size_t p, size_t e) {
    (void)fl, (void)e;
    return cp[p] == '\r' || cp[p] == '\n' ? p + 1 : p;
}

/* \p{N} */
static size_t m_digit(const uint32_t *cp, const uint8_t *fl, size_t p, size_t e) {
    (void)cp, (void)e;
    return CLS(fl[p]) == NB_UC_N ? p + 1 : p;
}

/* \p{N}+ */
static size_t m_digits(const uint32_t *cp, const uint8_t *fl, size_t p, size_t e) {
    (void)cp;
    while (p < e && CLS(fl[p]) == NB_UC_N) p++;
    return p;
}

/* [0-9][0-9][0-9] */
static size_t m_three_ascii_digits(const uint32_t *cp, const uint8_t *fl, size_t p, size_t e) {
    (void)fl;
    if (p + 3 > e) return p;
    for (size_t i = p; i < p + 3; i++)
        if (cp[i] < '0' || cp[i] > '9') return p;
    return p + 3;
}

static int falcon_punct(const uint32_t *cp, const uint8_t *fl, size_t p, int backtick) {
    if (CLS(fl[p]) == NB_UC_P) return 1;
    uint32_t c = cp[p];
    return c == '$' || c == '+' || c == '<' || c == '=' || c == '>' || c == '^' || c == '~' ||
           c == '|' || (backtick && c == '`');
}

/* [\p{P}\$\+<=>\^~\|`]+ (Falcon) */
static size_t m_falcon_punct(const uint32_t *cp, const uint8_t *fl, size_t p, size_t e) {
    while (p < e && falcon_punct(cp, fl, p, 1)) p++;
    return p;
}

/* [\p{P}\$\+<=>\^~\|]+ (llama.cpp's default) */
static size_t m_default_punct(const uint32_t *cp, const uint8_t *fl, size_t p, size_t e) {
    while (p < e && falcon_punct(cp, fl, p, 0)) p++;
    return p;
}

/* \s?X+ for a class X that holds no whitespace */
#define WS_THEN_RUN(name, test)                                                             \
    static size_t name(const uint32_t *cp, const uint8_t *fl, size_t p, size_t e) {        \
        (void)cp;                                                                           \
        size_t q = p;                                                                       \
        if ((fl[q] & NB_UC_WS) && q + 1 < e) q++;                                           \
        if (!(test(q))) {                                                                   \
            if (q == p) return p;                                                           \
            q = p; /* \s? matches nothing */                                                \
            if (!(test(q))) return p;                                                       \
        }                                                                                   \
        while (q < e && (test(q))) q++;                                                     \
        return q;                                                                           \
    }

#define IS_L(q) (CLS(fl[q]) == NB_UC_L)
#define IS_P(q) (CLS(fl[q]) == NB_UC_P)
WS_THEN_RUN(m_ws_letters, IS_L) /* \s?\p{L}+ (DeepSeek Coder) */
WS_THEN_RUN(m_ws_punct, IS_P)   /* \s?\p{P}+ (DeepSeek Coder) */

/* DeepSeek LLM's letter class, from its tokenizer.json (as in llama.cpp):
 * [A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚ
 *  Ḁ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄ
 *  Ⰰ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃] */
static const cp_range DSLLM_LETTERS[] = {
    {0x0041, 0x005A},   {0x0061, 0x007A},   {0x00B5, 0x00B5},   {0x00C0, 0x00D6},
    {0x00D8, 0x00F6},   {0x00F8, 0x01BA},   {0x01BC, 0x01BF},   {0x01C4, 0x0293},
    {0x0295, 0x02AF},   {0x0370, 0x0373},   {0x0376, 0x0377},   {0x037B, 0x037D},
    {0x037F, 0x037F},   {0x0386, 0x0386},   {0x0388, 0x038A},   {0x038C, 0x038C},
    {0x038E, 0x03A1},   {0x03A3, 0x03F5},   {0x03F7, 0x0481},   {0x048A, 0x052F},
    {0x0531, 0x0556},   {0x10A0, 0x10C5},   {0x13A0, 0x13F5},   {0x13F8, 0x13FD},
    {0x1C90, 0x1CBA},   {0x1CBD, 0x1CBF},   {0x1D00, 0x1D2B},   {0x1D6B, 0x1D77},
    {0x1D79, 0x1D9A},   {0x1E00, 0x1F15},   {0x1F18, 0x1F1D},   {0x1F20, 0x1F45},
    {0x1F48, 0x1F4D},   {0x1F50, 0x1F57},   {0x1F59, 0x1F59},   {0x1F5B, 0x1F5B},
    {0x1F5D, 0x1F5D},   {0x1F5F, 0x1F7D},   {0x1F80, 0x1FB4},   {0x1FB6, 0x1FBC},
    {0x1FBE, 0x1FBE},   {0x1FC2, 0x1FC4},   {0x1FC6, 0x1FCC},   {0x1FD0, 0x1FD3},
    {0x1FD6, 0x1FDB},   {0x1FE0, 0x1FEC},   {0x1FF2, 0x1FF4},   {0x1FF6, 0x1FFC},
    {0x2102, 0x2102},   {0x2107, 0x2107},   {0x210A, 0x2113},   {0x2115, 0x2115},
    {0x2119, 0x211D},   {0x2124, 0x2124},   {0x2126, 0x2126},   {0x2128, 0x2128},
    {0x212A, 0x212D},   {0x212F, 0x2134},   {0x2139, 0x2139},   {0x213C, 0x213F},
    {0x2145, 0x2149},   {0x214E, 0x214E},   {0x2183, 0x2184},   {0x2C00, 0x2C7B},
    {0x2C7E, 0x2CE4},   {0x2CEB, 0x2CEE},   {0x2CF2, 0x2CF3},   {0xA640, 0xA66D},
    {0xA680, 0xA69B},   {0xA722, 0xA76F},   {0xA771, 0xA787},   {0xA78B, 0xA78E},
    {0xAB70, 0xABBF},   {0xFB00, 0xFB06},   {0xFB13, 0xFB17},   {0xFF21, 0xFF3A},
    {0xFF41, 0xFF5A},   {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};

/* DeepSeek LLM's punctuation class: [!-/:-~！-／：-～‘-‟　-。] */
static const cp_range DSLLM_PUNCT[] = {
    {0x21, 0x2F}, {0x3A, 0x7E}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E}, {0x2018, 0x201F}, {0x3000, 0x3002},
};

/* DeepSeek's CJK class: [一-龥ࠀ-一가-퟿] */
static const cp_range CJK[] = {{0x4E00, 0x9FA5}, {0x0800, 0x4E00}, {0xAC00, 0xD7FF}};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define IS_DSLLM_L(q) in_ranges(wide(cp, fl, q), DSLLM_LETTERS, N_OF(DSLLM_LETTERS))
#define IS_DSLLM_P(q) in_ranges(wide(cp, fl, q), DSLLM_PUNCT, N_OF(DSLLM_PUNCT))
WS_THEN_RUN(m_dsllm_letters, IS_DSLLM_L) /* \s?[A-Za-zµÀ-Ö...]+ */
WS_THEN_RUN(m_dsllm_punct, IS_DSLLM_P)   /* \s?[!-/:-~...]+ */

/* [一-龥ࠀ-一가-퟿]+ */
static size_t m_cjk(const uint32_t *cp, const uint8_t *fl, size_t p, size_t e) {
    while (p < e && in_ranges(wide(cp, fl, p), CJK, N_OF(CJK))) p++;
    return p;
}

/* \s+$ : the whitespace that ends the piece (the leftmost start from which
 * only whitespace follows), written directly to stay linear */
static size_t pass_trailing_ws(const uint8_t *fl, size_t s, size_t e, uint32_t *out) {
    size_t t = e;
    while (t > s && (fl[t - 1] & NB_UC_WS)) t--;
    size_t k = 0;
    if (t > s) out[k++] = (uint32_t)t;
    if (t < e) out[k++] = (uint32_t)e;
    return k;
}

enum {
    P_GPT2,
    P_LLAMA3,
    P_QWEN2,
    P_TRAILING_WS,
    P_NEWLINE,
    P_DIGIT,
    P_DIGITS,
    P_THREE_DIGITS,
    P_FALCON_PUNCT,
    P_DEFAULT_PUNCT,
    P_WS_LETTERS,
    P_WS_PUNCT,
    P_DSLLM_LETTERS,
    P_DSLLM_PUNCT,
    P_CJK,
    P_END
};

/* the regex list of each pre-tokenizer (llama.cpp's llm_tokenizer_bpe) */
static const uint8_t PASSES[NB_PRE_COUNT][7] = {
    [NB_PRE_DEFAULT] = {P_DEFAULT_PUNCT, P_GPT2, P_DIGITS, P_THREE_DIGITS, P_END},
    [NB_PRE_GPT2] = {P_GPT2, P_END},
    [NB_PRE_LLAMA3] = {P_LLAMA3, P_END},
    [NB_PRE_QWEN2] = {P_QWEN2, P_END},
    [NB_PRE_DEEPSEEK_LLM] = {P_NEWLINE, P_DSLLM_LETTERS, P_DSLLM_PUNCT, P_TRAILING_WS, P_CJK,
                             P_DIGITS, P_END},
    [NB_PRE_DEEPSEEK_CODER] = {P_NEWLINE, P_WS_LETTERS, P_WS_PUNCT, P_CJK, P_DIGIT, P_END},
    [NB_PRE_FALCON] = {P_FALCON_PUNCT, P_GPT2, P_THREE_DIGITS, P_END},
    [NB_PRE_STARCODER] = {P_DIGIT, P_GPT2, P_END},
};

static size_t run_pass(int pass, const uint32_t *cp, const uint8_t *fl, size_t s, size_t e,
                       uint32_t *out) {
    switch (pass) {
    case P_GPT2: return pass_gpt2(cp, fl, s, e, out);
    case P_LLAMA3: return pass_llama3(cp, fl, s, e, out, 3);
    case P_QWEN2: return pass_llama3(cp, fl, s, e, out, 1);
    case P_TRAILING_WS: return pass_trailing_ws(fl, s, e, out);
    case P_NEWLINE: return regex_pass(cp, fl, s, e, out, m_newline);
    case P_DIGIT: return regex_pass(cp, fl, s, e, out, m_digit);
    case P_DIGITS: return regex_pass(cp, fl, s, e, out, m_digits);
    case P_THREE_DIGITS: return regex_pass(cp, fl, s, e, out, m_three_ascii_digits);
    case P_FALCON_PUNCT: return regex_pass(cp, fl, s, e, out, m_falcon_punct);
    case P_DEFAULT_PUNCT: return regex_pass(cp, fl, s, e, out, m_default_punct);
    case P_WS_LETTERS: return regex_pass(cp, fl, s, e, out, m_ws_letters);
    case P_WS_PUNCT: return regex_pass(cp, fl, s, e, out, m_ws_punct);
    case P_DSLLM_LETTERS: return regex_pass(cp, fl, s, e, out, m_dsllm_letters);
    case P_DSLLM_PUNCT: return regex_pass(cp, fl, s, e, out, m_dsllm_punct);
    case P_CJK: return regex_pass(cp, fl, s, e, out, m_cjk);
    default: out[0] = (uint32_t)e; return 1;
    }
}

size_t nb_bpe_split(int kind, const uint32_t *cps, const uint8_t *fl, size_t n, uint32_t *ends,
                    uint32_t *tmp) {
    if (n == 0) return 0;
    if (kind < 0 || kind >= NB_PRE_COUNT) kind = NB_PRE_DEFAULT;
    uint32_t *cur = ends, *next = tmp;
    size_t np = 1;
    cur[0] = (uint32_t)n;
    for (const uint8_t *ps = PASSES[kind]; *ps != P_END; ps++) {
        size_t k = 0, s = 0;
        for (size_t i = 0; i < np; i++) {
            k += run_pass(*ps, cps, fl, s, cur[i], next + k);
            s = cur[i];
        }
        uint32_t *t = cur;
        cur = next;
        next = t;
        np = k;
    }
    if (cur != ends) memcpy(ends, cur, np * sizeof *ends);
    return np;
}

/* ------------------------------------------------------------ merges */

typedef struct bsym {
    int32_t prev, next;
    uint32_t off, n; /* bytes of the word */
} bsym;

typedef struct bbig {
    int32_t rank, left, right;
    uint32_t size;
} bbig;

typedef struct bheap {
    bbig *v;
    size_t n;
} bheap;

/* lower rank first, then leftmost (llama.cpp's llm_bigram_bpe comparator) */
static int big_before(const bbig *a, const bbig *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void heap_push(bheap *h, bbig b) {
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!big_before(&b, &h->v[p])) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = b;
}

static bbig heap_pop(bheap *h) {
    bbig top = h->v[0], last = h->v[--h->n];
    size_t n = h->n, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && big_before(&h->v[c + 1], &h->v[c])) c++;
        if (!big_before(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (n > 0) h->v[i] = last;
    return top;
}

static void add_pair(const nb_tokenizer *tok, const uint8_t *word, const bsym *sy, bheap *h,
                     int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    int32_t rank = find_merge(tok, word + sy[l].off, sy[l].n, word + sy[r].off, sy[r].n);
    if (rank < 0) return;
    bbig b = {rank, l, r, sy[l].n + sy[r].n};
    heap_push(h, b);
}

/* merge and emit one byte-level word of nb bytes / ns symbols */
static void bpe_word(const nb_tokenizer *tok, const uint8_t *word, size_t nb, bsym *sy,
                     int32_t ns, bheap *h, nb_tok_out *o) {
    if (tok->ignore_merges) {
        int32_t id = nb_tok_find(tok, (const char *)word, nb);
        if (id >= 0) {
            nb_tok_emit(o, id);
            return;
        }
    }
    h->n = 0;
    for (int32_t i = 1; i < ns; i++) add_pair(tok, word, sy, h, i - 1, i);
    while (h->n > 0) {
        bbig b = heap_pop(h);
        bsym *l = &sy[b.left], *r = &sy[b.right];
        /* stale: one side was merged away or grew since the pair was queued */
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) sy[r->next].prev = b.left;
        add_pair(tok, word, sy, h, l->prev, b.left);
        add_pair(tok, word, sy, h, b.left, l->next);
    }
    for (int32_t i = 0; i >= 0; i = sy[i].next) {
        const char *t = (const char *)word + sy[i].off;
        int32_t id = nb_tok_find(tok, t, sy[i].n);
        if (id >= 0) {
            nb_tok_emit(o, id);
            continue;
        }
        for (uint32_t j = 0; j < sy[i].n; j++) {
            id = nb_tok_find(tok, t + j, 1);
            if (id >= 0) nb_tok_emit(o, id);
        }
    }
}

/* ------------------------------------------------------------ encode */

static void *regrow(nb_bpe_work *w, void **mem, size_t *cap, size_t need, size_t unit) {
    if (need <= *cap) return *mem;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    if (c > SIZE_MAX / unit) return NULL;
    void *m = nb_alloc(&w->a, c * unit);
    if (!m) return NULL;
    if (*mem) nb_free(&w->a, *mem);
    *mem = m;
    *cap = c;
    return m;
}

void nb_bpe_work_free(nb_bpe_work *w) {
    if (w->frag_mem) nb_free(&w->a, w->frag_mem);
    if (w->piece_mem) nb_free(&w->a, w->piece_mem);
    w->frag_mem = w->piece_mem = NULL;
    w->frag_cap = w->piece_cap = 0;
}

/* per fragment byte: code point, flags, two end lists */
#define FRAG_UNIT (3 * sizeof(uint32_t) + 1)
/* per word byte: two byte-level bytes, one symbol, three queued pairs */
#define PIECE_UNIT (2 + sizeof(bsym) + 3 * sizeof(bbig))

nb_status nb_bpe_fragment(const nb_tokenizer *tok, const char *text, size_t len,
                          nb_bpe_work *w, nb_tok_out *o, nb_err *err) {
    if (len == 0) return NB_OK;
    if (!regrow(w, &w->frag_mem, &w->frag_cap, len, FRAG_UNIT))
        return nb_errf(err, NB_ERR_NOMEM, "nb_tokenize: cannot allocate BPE scratch for %zu bytes",
                       len);
    size_t cap = w->frag_cap;
    uint32_t *cps = w->frag_mem;
    uint32_t *ends = cps + cap, *tmp = ends + cap;
    uint8_t *fl = (uint8_t *)(tmp + cap);

    const uint8_t *u = (const uint8_t *)text;
    size_t n = 0;
    for (size_t i = 0; i < len; n++) {
        i += nb_utf8_decode(u + i, len - i, &cps[n]);
        fl[n] = nb_uc_flags(cps[n]);
    }
    size_t np = nb_bpe_split(tok->pre_type, cps, fl, n, ends, tmp);

    size_t s = 0;
    for (size_t k = 0; k < np; k++) {
        size_t e = ends[k];
        /* UTF-8 bytes of the piece (re-encoded: U+FFFD stands for bad bytes) */
        size_t nbytes = 0;
        uint8_t b4[4];
        for (size_t i = s; i < e; i++) nbytes += nb_utf8_encode(cps[i], b4);
        if (!regrow(w, &w->piece_mem, &w->piece_cap, nbytes + 1, PIECE_UNIT))
            return nb_errf(err, NB_ERR_NOMEM,
                           "nb_tokenize: cannot allocate BPE scratch for a %zu-byte word", nbytes);
        size_t pc = w->piece_cap;
        bbig *heap = w->piece_mem;
        bsym *sy = (bsym *)(heap + 3 * pc);
        uint8_t *word = (uint8_t *)(sy + pc);
        size_t wn = 0;
        int32_t ns = 0;
        for (size_t i = s; i < e; i++) {
            size_t bl = nb_utf8_encode(cps[i], b4);
            for (size_t j = 0; j < bl; j++) {
                uint32_t c = byte_to_cp(b4[j]);
                sy[ns].off = (uint32_t)wn;
                wn += nb_utf8_encode(c, word + wn);
                sy[ns].n = (uint32_t)(wn - sy[ns].off);
                sy[ns].prev = ns - 1;
                sy[ns].next = ns + 1;
                ns++;
            }
        }
        sy[ns - 1].next = -1;
        bheap h = {heap, 0};
        bpe_word(tok, word, wn, sy, ns, &h, o);
        s = e;
    }
    return NB_OK;
}

/* ------------------------------------------------------------ decode */

int32_t nb_bpe_piece(const nb_str *text, char *buf, int32_t size) {
    const uint8_t *t = (const uint8_t *)text->ptr;
    size_t len = (size_t)text->len;
    /* measure, then write; a character that stands for no byte (not in a
     * byte-level vocabulary's alphabet) is copied as it is */
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t k = nb_utf8_decode(t + i, len - i, &c);
        n += cp_to_byte(c) >= 0 ? 1 : k;
        i += k;
    }
    if (n > (size_t)INT32_MAX) return 0;
    if ((size_t)size < n || (n && !buf)) return -(int32_t)n;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t k = nb_utf8_decode(t + i, len - i, &c);
        int b = cp_to_byte(c);
        if (b >= 0) {
            buf[o++] = (char)b;
        } else {
            memcpy(buf + o, t + i, k);
            o += k;
        }
        i += k;
    }
    return (int32_t)n;
}
