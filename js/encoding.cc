/*
 * encoding.cc: the decoders of the Encoding Standard behind TextDecoder
 * (prelude_encoding.js), except UTF-8, which stays on webapi.cc's fast path.
 *
 * Each decoder is the standard's algorithm, written out here: a step
 * function that takes one byte (or end-of-queue) and returns a code point,
 * an error, or "continue", with the bytes it "prepends" pushed back onto the
 * input. Its state lives in a small Int32Array the prelude keeps per
 * TextDecoder, so streaming needs no native object and nothing to free.
 *
 * The standard's indexes (pointer -> code point) are read once per process
 * from ICU's converters for the same encodings (windows-31j for jis0208,
 * EUC-JP for jis0212, windows-949, Big5-HKSCS, gb18030), then patched where
 * the standard differs from ICU. They are built lazily, each under its own
 * std::call_once, and are read-only afterwards, so every reactor thread
 * shares them.
 */
#include <string.h>

#include <mutex>
#include <vector>

#include <unicode/ucnv.h>

#include "js/internal.hh"

namespace
{

/* The decoders, by the number the prelude gets from textDecoderKind(). */
enum kind {
    K_UTF16LE,
    K_UTF16BE,
    K_SINGLE, /* K_SINGLE + i: the i-th entry of `singles` */
    K_GB18030 = K_SINGLE + 28,
    K_BIG5,
    K_EUCJP,
    K_ISO2022JP,
    K_SJIS,
    K_EUCKR,
    K_REPLACEMENT,
    K_XUSER,
    K_COUNT
};

struct single_byte {
    const char *name, *icu;
};

/* The single-byte encodings; `icu` is the converter their upper half is read from (null: patched in full below). */
const single_byte singles[] = {
    {"ibm866", "ibm-866"},
    {"iso-8859-2", "ISO-8859-2"},
    {"iso-8859-3", "ISO-8859-3"},
    {"iso-8859-4", "ISO-8859-4"},
    {"iso-8859-5", "ISO-8859-5"},
    {"iso-8859-6", "ISO-8859-6"},
    {"iso-8859-7", "ISO-8859-7"},
    {"iso-8859-8", "ISO-8859-8"},
    {"iso-8859-8-i", "ISO-8859-8"},
    {"iso-8859-10", "ISO-8859-10"},
    {"iso-8859-13", "ISO-8859-13"},
    {"iso-8859-14", "ISO-8859-14"},
    {"iso-8859-15", "ISO-8859-15"},
    {"iso-8859-16", nullptr},
    {"koi8-r", "KOI8-R"},
    {"koi8-u", "KOI8-U"},
    {"macintosh", "macintosh"},
    {"windows-874", "windows-874"},
    {"windows-1250", "windows-1250"},
    {"windows-1251", "windows-1251"},
    {"windows-1252", "windows-1252"},
    {"windows-1253", "windows-1253"},
    {"windows-1254", "windows-1254"},
    {"windows-1255", "windows-1255"},
    {"windows-1256", "windows-1256"},
    {"windows-1257", "windows-1257"},
    {"windows-1258", "windows-1258"},
    {"x-mac-cyrillic", "x-mac-cyrillic"},
};
static_assert(sizeof(singles) / sizeof(singles[0]) == K_GB18030 - K_SINGLE, "one kind per single-byte encoding");

const char *const multi_names[] = {"gb18030",   "big5",   "euc-jp",      "iso-2022-jp",
                                   "shift_jis", "euc-kr", "replacement", "x-user-defined"};

/* ---- indexes --------------------------------------------------------------------------- */

/* Decodes `len` bytes with ICU's converter c: the one code point they make, or 0 when they make anything else. */
uint32_t icu_one(UConverter *c, const char *bytes, int len)
{
    UChar out[4];
    UErrorCode err = U_ZERO_ERROR;
    ucnv_reset(c);
    int32_t n = ucnv_toUChars(c, out, 4, bytes, len, &err);
    if (U_FAILURE(err) || n < 1 || n > 2)
        return 0;
    if (n == 1)
        return (out[0] >= 0xd800 && out[0] <= 0xdfff) || out[0] == 0xfffd || out[0] == 0x1a ? 0 : out[0];
    if (out[0] >= 0xd800 && out[0] <= 0xdbff && out[1] >= 0xdc00 && out[1] <= 0xdfff)
        return 0x10000 + ((uint32_t)(out[0] - 0xd800) << 10) + (out[1] - 0xdc00);
    return 0;
}

UConverter *icu_open(const char *name)
{
    UErrorCode err = U_ZERO_ERROR;
    UConverter *c = ucnv_open(name, &err);
    if (U_FAILURE(err))
        return nullptr;
    err = U_ZERO_ERROR;
    ucnv_setToUCallBack(c, UCNV_TO_U_CALLBACK_STOP, nullptr, nullptr, nullptr, &err);
    return c;
}

/* The upper halves (0x80-0xFF) of the single-byte indexes; 0 is "no code point". */
uint16_t single_index[K_GB18030 - K_SINGLE][128];
std::once_flag single_once;

struct patch {
    const char *name;
    uint8_t byte;
    uint16_t cp;
};

/* Where the standard's index differs from ICU's converter (0: the byte has no code point). */
const patch single_patches[] = {
    {"windows-874", 0xdb, 0},  {"windows-874", 0xdc, 0},       {"windows-874", 0xdd, 0}, {"windows-874", 0xde, 0},
    {"windows-874", 0xfc, 0},  {"windows-874", 0xfd, 0},       {"windows-874", 0xfe, 0}, {"windows-874", 0xff, 0},
    {"windows-1253", 0xaa, 0}, {"windows-1255", 0xca, 0x05ba}, {"koi8-u", 0xae, 0x045e}, {"koi8-u", 0xbe, 0x040e},
};

/* ISO-8859-16 (ICU has no converter for it): 0x80-0x9F are the C1 controls, 0xA0-0xFF this. */
const uint16_t iso8859_16_hi[96] = {
    0x00a0, 0x0104, 0x0105, 0x0141, 0x20ac, 0x201e, 0x0160, 0x00a7, 0x0161, 0x00a9, 0x0218, 0x00ab, 0x0179, 0x00ad, 0x017a, 0x017b,
    0x00b0, 0x00b1, 0x010c, 0x0142, 0x017d, 0x201d, 0x00b6, 0x00b7, 0x017e, 0x010d, 0x0219, 0x00bb, 0x0152, 0x0153, 0x0178, 0x017c,
    0x00c0, 0x00c1, 0x00c2, 0x0102, 0x00c4, 0x0106, 0x00c6, 0x00c7, 0x00c8, 0x00c9, 0x00ca, 0x00cb, 0x00cc, 0x00cd, 0x00ce, 0x00cf,
    0x0110, 0x0143, 0x00d2, 0x00d3, 0x00d4, 0x0150, 0x00d6, 0x015a, 0x0170, 0x00d9, 0x00da, 0x00db, 0x00dc, 0x0118, 0x021a, 0x00df,
    0x00e0, 0x00e1, 0x00e2, 0x0103, 0x00e4, 0x0107, 0x00e6, 0x00e7, 0x00e8, 0x00e9, 0x00ea, 0x00eb, 0x00ec, 0x00ed, 0x00ee, 0x00ef,
    0x0111, 0x0144, 0x00f2, 0x00f3, 0x00f4, 0x0151, 0x00f6, 0x015b, 0x0171, 0x00f9, 0x00fa, 0x00fb, 0x00fc, 0x0119, 0x021b, 0x00ff,
};

void build_singles()
{
    for (size_t i = 0; i < sizeof(singles) / sizeof(singles[0]); i++) {
        if (!singles[i].icu) {
            for (int b = 0x80; b < 0xa0; b++)
                single_index[i][b - 0x80] = (uint16_t)b;
            memcpy(&single_index[i][0x20], iso8859_16_hi, sizeof(iso8859_16_hi));
            continue;
        }
        UConverter *c = icu_open(singles[i].icu);
        if (!c)
            continue;
        for (int b = 0x80; b < 0x100; b++) {
            char in = (char)b;
            uint32_t cp = icu_one(c, &in, 1);
            single_index[i][b - 0x80] = cp <= 0xffff ? (uint16_t)cp : 0;
        }
        ucnv_close(c);
        for (const patch &p : single_patches)
            if (!strcmp(p.name, singles[i].name))
                single_index[i][p.byte - 0x80] = p.cp;
    }
}

/* index jis0208 (11280 pointers), read through windows-31j (Shift_JIS bytes of each pointer); 8836-10715 are empty. */
uint16_t jis0208[11280];
std::once_flag jis0208_once;
void build_jis0208()
{
    UConverter *c = icu_open("windows-31j");
    if (!c)
        return;
    for (int p = 0; p < 11280; p++) {
        if (p >= 8836 && p <= 10715)
            continue;
        int lead = p / 188, trail = p % 188;
        char b[2] = {(char)(lead < 0x1f ? lead + 0x81 : lead + 0xc1), (char)(trail < 0x3f ? trail + 0x40 : trail + 0x41)};
        uint32_t cp = icu_one(c, b, 2);
        jis0208[p] = cp <= 0xffff ? (uint16_t)cp : 0;
    }
    ucnv_close(c);
}

/* index jis0212 (94 x 94), read through EUC-JP's 0x8F sequences. */
uint16_t jis0212[8836];
std::once_flag jis0212_once;
void build_jis0212()
{
    UConverter *c = icu_open("EUC-JP");
    if (!c)
        return;
    for (int p = 0; p < 8836; p++) {
        char b[3] = {(char)0x8f, (char)(p / 94 + 0xa1), (char)(p % 94 + 0xa1)};
        uint32_t cp = icu_one(c, b, 3);
        jis0212[p] = cp <= 0xffff ? (uint16_t)cp : 0;
    }
    ucnv_close(c);
}

/* index euc-kr (lead 0x81-0xFE x trail 0x41-0xFE), read through windows-949. */
uint16_t euckr[126 * 190];
std::once_flag euckr_once;
void build_euckr()
{
    UConverter *c = icu_open("windows-949");
    if (!c)
        return;
    for (int p = 0; p < 126 * 190; p++) {
        char b[2] = {(char)(p / 190 + 0x81), (char)(p % 190 + 0x41)};
        uint32_t cp = icu_one(c, b, 2);
        euckr[p] = cp <= 0xffff ? (uint16_t)cp : 0;
    }
    ucnv_close(c);
}

/* index big5 (lead 0x81-0xFE x 157 trails), read through Big5-HKSCS; some code points are past the BMP. */
uint32_t big5[126 * 157];
std::once_flag big5_once;
void build_big5()
{
    UConverter *c = icu_open("Big5-HKSCS");
    if (!c)
        return;
    for (int p = 0; p < 126 * 157; p++) {
        int trail = p % 157;
        char b[2] = {(char)(p / 157 + 0x81), (char)(trail < 0x3f ? trail + 0x40 : trail + 0x62)};
        big5[p] = icu_one(c, b, 2);
    }
    ucnv_close(c);
}

/* index gb18030 (two-byte, lead 0x81-0xFE x 190 trails) and the four-byte code points of the BMP (pointers 0-39419). */
uint16_t gb2[126 * 190];
uint16_t gb4[39420];
std::once_flag gb_once;
/*
 * ICU maps every two-byte and every BMP four-byte sequence of gb18030 to
 * one BMP code unit, so each table is read in one ICU call over all its
 * sequences (a few ms instead of 60,000 calls); a table whose output does
 * not come out one unit per sequence is read a sequence at a time instead.
 */
bool icu_bulk(UConverter *c, const char *in, size_t len, uint16_t *out, int32_t n)
{
    UErrorCode err = U_ZERO_ERROR;
    ucnv_reset(c);
    int32_t got = ucnv_toUChars(c, reinterpret_cast<UChar *>(out), n, in, (int32_t)len, &err);
    if (U_FAILURE(err) || got != n)
        return false;
    for (int32_t i = 0; i < n; i++)
        if (out[i] >= 0xd800 && out[i] <= 0xdfff)
            return false;
    return true;
}

void build_gb()
{
    UConverter *c = icu_open("gb18030");
    if (!c)
        return;
    std::vector<char> bytes(39420 * 4);
    for (int p = 0; p < 126 * 190; p++) {
        int trail = p % 190;
        bytes[2 * p] = (char)(p / 190 + 0x81);
        bytes[2 * p + 1] = (char)(trail < 0x3f ? trail + 0x40 : trail + 0x41);
    }
    if (!icu_bulk(c, bytes.data(), 2 * 126 * 190, gb2, 126 * 190))
        for (int p = 0; p < 126 * 190; p++) {
            uint32_t cp = icu_one(c, &bytes[2 * p], 2);
            gb2[p] = cp <= 0xffff ? (uint16_t)cp : 0;
        }
    for (int p = 0; p < 39420; p++) {
        char *b = &bytes[4 * p];
        b[0] = (char)(p / 12600 + 0x81);
        b[1] = (char)(p / 1260 % 10 + 0x30);
        b[2] = (char)(p / 10 % 126 + 0x81);
        b[3] = (char)(p % 10 + 0x30);
    }
    if (!icu_bulk(c, bytes.data(), bytes.size(), gb4, 39420))
        for (int p = 0; p < 39420; p++) {
            uint32_t cp = icu_one(c, &bytes[4 * p], 4);
            gb4[p] = cp <= 0xffff ? (uint16_t)cp : 0;
        }
    gb4[7457] = 0xe7c7; /* the standard's one exception to the ranges */
    ucnv_close(c);
}

/* ---- decoders --------------------------------------------------------------------------- */

const int END = -1;                                       /* end-of-queue */
const int32_t R_CONTINUE = -1, R_ERROR = -2, R_DONE = -3; /* what a step returns, besides a code point */
/* Big5's four pointers that decode to two code points: returned as B5_PAIR + n. */
const int32_t B5_PAIR = 0x110000;

/*
 * One decoder run: the state (the prelude's Int32Array; the steps never
 * trust it further than its legal values: a lead outside its range is no
 * index) and the bytes it
 * prepends to the input. State slots: 0 lead (gb18030: first), 1 second,
 * 2 third, 3 iso-2022-jp decoder state, 4 its output state, 5 its output flag
 * (euc-jp: the jis0212 flag), 6 BOM seen / replacement error returned,
 * 7 UTF-16's lead surrogate (+1; 0 is none).
 */
struct run {
    int32_t *s;
    int push[8];
    int npush = 0;
    void prepend(int b)
    {
        push[npush++] = b;
    }
};

bool ascii(int b)
{
    return b >= 0 && b < 0x80;
}

int32_t step_utf16(run &r, int b, bool be)
{
    int32_t *s = r.s;
    if (b == END) {
        if (s[0] || s[7]) {
            s[0] = s[7] = 0;
            return R_ERROR;
        }
        return R_DONE;
    }
    if (!s[0]) {
        s[0] = b + 1;
        return R_CONTINUE;
    }
    int lead = (s[0] - 1) & 0xff;
    s[0] = 0;
    int32_t unit = be ? (lead << 8) | b : (b << 8) | lead;
    if (s[7]) {
        int32_t ls = s[7] - 1;
        s[7] = 0;
        if (unit >= 0xdc00 && unit <= 0xdfff && ls >= 0xd800 && ls <= 0xdbff)
            return 0x10000 + ((ls - 0xd800) << 10) + (unit - 0xdc00);
        /* Prepend the code unit's two bytes: it is read again on its own. */
        r.prepend(be ? unit & 0xff : unit >> 8);
        r.prepend(be ? unit >> 8 : unit & 0xff);
        return R_ERROR;
    }
    if (unit >= 0xd800 && unit <= 0xdbff) {
        s[7] = unit + 1;
        return R_CONTINUE;
    }
    if (unit >= 0xdc00 && unit <= 0xdfff)
        return R_ERROR;
    return unit;
}

int32_t step_gb18030(run &r, int b)
{
    int32_t *s = r.s;
    int &first = s[0], &second = s[1], &third = s[2];
    if (b == END) {
        if (first || second || third) {
            first = second = third = 0;
            return R_ERROR;
        }
        return R_DONE;
    }
    if (third) {
        if (b < 0x30 || b > 0x39) {
            r.prepend(b);
            r.prepend(third);
            r.prepend(second);
            first = second = third = 0;
            return R_ERROR;
        }
        int64_t p = (int64_t)(first - 0x81) * 12600 + (int64_t)(second - 0x30) * 1260 + (third - 0x81) * 10 + b - 0x30;
        first = second = third = 0;
        if (p >= 189000 && p <= 1237575)
            return (int32_t)(0x10000 + p - 189000);
        if (p < 0 || p > 39419)
            return R_ERROR;
        std::call_once(gb_once, build_gb);
        return gb4[p] ? gb4[p] : R_ERROR;
    }
    if (second) {
        if (b >= 0x81 && b <= 0xfe) {
            third = b;
            return R_CONTINUE;
        }
        r.prepend(b);
        r.prepend(second);
        first = second = 0;
        return R_ERROR;
    }
    if (first) {
        if (b >= 0x30 && b <= 0x39) {
            second = b;
            return R_CONTINUE;
        }
        int lead = first;
        first = 0;
        if (lead >= 0x81 && lead <= 0xfe && ((b >= 0x40 && b <= 0x7e) || (b >= 0x80 && b <= 0xfe))) {
            std::call_once(gb_once, build_gb);
            uint16_t cp = gb2[(lead - 0x81) * 190 + b - (b < 0x7f ? 0x40 : 0x41)];
            if (cp)
                return cp;
        }
        if (ascii(b))
            r.prepend(b);
        return R_ERROR;
    }
    if (ascii(b))
        return b;
    if (b == 0x80)
        return 0x20ac;
    if (b >= 0x81 && b <= 0xfe) {
        first = b;
        return R_CONTINUE;
    }
    return R_ERROR;
}

int32_t step_big5(run &r, int b)
{
    int &lead = r.s[0];
    if (b == END) {
        if (lead) {
            lead = 0;
            return R_ERROR;
        }
        return R_DONE;
    }
    if (lead) {
        int l = lead;
        lead = 0;
        if (l >= 0x81 && l <= 0xfe && ((b >= 0x40 && b <= 0x7e) || (b >= 0xa1 && b <= 0xfe))) {
            int p = (l - 0x81) * 157 + b - (b < 0x7f ? 0x40 : 0x62);
            switch (p) {
            case 1133:
                return B5_PAIR + 0;
            case 1135:
                return B5_PAIR + 1;
            case 1164:
                return B5_PAIR + 2;
            case 1166:
                return B5_PAIR + 3;
            }
            std::call_once(big5_once, build_big5);
            if (big5[p])
                return (int32_t)big5[p];
        }
        if (ascii(b))
            r.prepend(b);
        return R_ERROR;
    }
    if (ascii(b))
        return b;
    if (b >= 0x81 && b <= 0xfe) {
        lead = b;
        return R_CONTINUE;
    }
    return R_ERROR;
}

int32_t step_eucjp(run &r, int b)
{
    int &lead = r.s[0], &j0212 = r.s[5];
    if (b == END) {
        if (lead) {
            lead = 0;
            return R_ERROR;
        }
        return R_DONE;
    }
    if (lead == 0x8e && b >= 0xa1 && b <= 0xdf) {
        lead = 0;
        return 0xff61 - 0xa1 + b;
    }
    if (lead == 0x8f && b >= 0xa1 && b <= 0xfe) {
        j0212 = 1;
        lead = b;
        return R_CONTINUE;
    }
    if (lead) {
        int l = lead;
        lead = 0;
        uint16_t cp = 0;
        if (l >= 0xa1 && l <= 0xfe && b >= 0xa1 && b <= 0xfe) {
            int p = (l - 0xa1) * 94 + b - 0xa1;
            if (j0212) {
                std::call_once(jis0212_once, build_jis0212);
                cp = jis0212[p];
            } else {
                std::call_once(jis0208_once, build_jis0208);
                cp = jis0208[p];
            }
        }
        j0212 = 0;
        if (cp)
            return cp;
        if (ascii(b))
            r.prepend(b);
        return R_ERROR;
    }
    if (ascii(b))
        return b;
    if (b == 0x8e || b == 0x8f || (b >= 0xa1 && b <= 0xfe)) {
        lead = b;
        return R_CONTINUE;
    }
    return R_ERROR;
}

enum { J_ASCII, J_ROMAN, J_KATAKANA, J_LEAD, J_TRAIL, J_ESC_START, J_ESC };

int32_t step_iso2022jp(run &r, int b)
{
    int32_t *s = r.s;
    int &lead = s[0], &state = s[3], &out_state = s[4], &out_flag = s[5];
    switch (state) {
    case J_ASCII:
    case J_ROMAN:
        if (b == 0x1b) {
            state = J_ESC_START;
            return R_CONTINUE;
        }
        if (b == END)
            return R_DONE;
        out_flag = 0;
        if (b == 0x0e || b == 0x0f || b > 0x7f)
            return R_ERROR;
        if (state == J_ROMAN && b == 0x5c)
            return 0xa5;
        if (state == J_ROMAN && b == 0x7e)
            return 0x203e;
        return b;
    case J_KATAKANA:
        if (b == 0x1b) {
            state = J_ESC_START;
            return R_CONTINUE;
        }
        if (b == END)
            return R_DONE;
        out_flag = 0;
        if (b >= 0x21 && b <= 0x5f)
            return 0xff61 - 0x21 + b;
        return R_ERROR;
    case J_LEAD:
        if (b == 0x1b) {
            state = J_ESC_START;
            return R_CONTINUE;
        }
        if (b == END)
            return R_DONE;
        out_flag = 0;
        if (b >= 0x21 && b <= 0x7e) {
            lead = b;
            state = J_TRAIL;
            return R_CONTINUE;
        }
        return R_ERROR;
    case J_TRAIL:
        if (b == 0x1b) {
            state = J_ESC_START;
            return R_ERROR;
        }
        state = J_LEAD;
        if (b >= 0x21 && b <= 0x7e && lead >= 0x21 && lead <= 0x7e) {
            std::call_once(jis0208_once, build_jis0208);
            uint16_t cp = jis0208[(lead - 0x21) * 94 + b - 0x21];
            return cp ? cp : R_ERROR;
        }
        return R_ERROR;
    case J_ESC_START:
        if (b == 0x24 || b == 0x28) {
            lead = b;
            state = J_ESC;
            return R_CONTINUE;
        }
        if (b != END)
            r.prepend(b);
        out_flag = 0;
        state = out_state;
        return R_ERROR;
    default: { /* J_ESC */
        int l = lead, next = -1;
        lead = 0;
        if (l == 0x28 && b == 0x42)
            next = J_ASCII;
        else if (l == 0x28 && b == 0x4a)
            next = J_ROMAN;
        else if (l == 0x28 && b == 0x49)
            next = J_KATAKANA;
        else if (l == 0x24 && (b == 0x40 || b == 0x42))
            next = J_LEAD;
        if (next >= 0) {
            state = out_state = next;
            bool was = out_flag;
            out_flag = 1;
            return was ? R_ERROR : R_CONTINUE;
        }
        if (b != END)
            r.prepend(b);
        r.prepend(l);
        out_flag = 0;
        state = out_state;
        return R_ERROR;
    }
    }
}

int32_t step_sjis(run &r, int b)
{
    int &lead = r.s[0];
    if (b == END) {
        if (lead) {
            lead = 0;
            return R_ERROR;
        }
        return R_DONE;
    }
    if (lead) {
        int l = lead;
        lead = 0;
        if (l >= 0x81 && l <= 0xfc && ((b >= 0x40 && b <= 0x7e) || (b >= 0x80 && b <= 0xfc))) {
            int p = (l - (l < 0xa0 ? 0x81 : 0xc1)) * 188 + b - (b < 0x7f ? 0x40 : 0x41);
            if (p >= 8836 && p <= 10715)
                return 0xe000 - 8836 + p;
            std::call_once(jis0208_once, build_jis0208);
            if (p >= 0 && p < 11280 && jis0208[p])
                return jis0208[p];
        }
        if (ascii(b))
            r.prepend(b);
        return R_ERROR;
    }
    if (ascii(b) || b == 0x80)
        return b;
    if (b >= 0xa1 && b <= 0xdf)
        return 0xff61 - 0xa1 + b;
    if ((b >= 0x81 && b <= 0x9f) || (b >= 0xe0 && b <= 0xfc)) {
        lead = b;
        return R_CONTINUE;
    }
    return R_ERROR;
}

int32_t step_euckr(run &r, int b)
{
    int &lead = r.s[0];
    if (b == END) {
        if (lead) {
            lead = 0;
            return R_ERROR;
        }
        return R_DONE;
    }
    if (lead) {
        int l = lead;
        lead = 0;
        if (l >= 0x81 && l <= 0xfe && b >= 0x41 && b <= 0xfe) {
            std::call_once(euckr_once, build_euckr);
            uint16_t cp = euckr[(l - 0x81) * 190 + b - 0x41];
            if (cp)
                return cp;
        }
        if (ascii(b))
            r.prepend(b);
        return R_ERROR;
    }
    if (ascii(b))
        return b;
    if (b >= 0x81 && b <= 0xfe) {
        lead = b;
        return R_CONTINUE;
    }
    return R_ERROR;
}

int32_t step(int k, run &r, int b)
{
    switch (k) {
    case K_UTF16LE:
    case K_UTF16BE:
        return step_utf16(r, b, k == K_UTF16BE);
    case K_GB18030:
        return step_gb18030(r, b);
    case K_BIG5:
        return step_big5(r, b);
    case K_EUCJP:
        return step_eucjp(r, b);
    case K_ISO2022JP:
        return step_iso2022jp(r, b);
    case K_SJIS:
        return step_sjis(r, b);
    case K_EUCKR:
        return step_euckr(r, b);
    case K_REPLACEMENT:
        if (b == END || r.s[6])
            return R_DONE;
        r.s[6] = 1;
        return R_ERROR;
    case K_XUSER:
        if (b == END)
            return R_DONE;
        return b < 0x80 ? b : 0xf780 + b - 0x80;
    default:
        if (b == END)
            return R_DONE;
        if (b < 0x80)
            return b;
        return single_index[k - K_SINGLE][b - 0x80] ? single_index[k - K_SINGLE][b - 0x80] : R_ERROR;
    }
}

void put(std::vector<uint16_t> &out, uint32_t cp)
{
    if (cp > 0x10ffff)
        cp = 0xfffd;
    if (cp < 0x10000) {
        out.push_back((uint16_t)cp);
    } else {
        cp -= 0x10000;
        out.push_back((uint16_t)(0xd800 + (cp >> 10)));
        out.push_back((uint16_t)(0xdc00 + (cp & 0x3ff)));
    }
}

void throw_type(v8::Isolate *isolate, const char *msg)
{
    isolate->ThrowException(v8::Exception::TypeError(v8::String::NewFromUtf8(isolate, msg).ToLocalChecked()));
}

/* textDecoderKind(name): the decoder of an encoding name (as the prelude's label table gives it), or -1. */
void n_kind(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    v8::String::Utf8Value name(isolate, args[0]);
    int k = -1;
    if (*name) {
        if (!strcmp(*name, "utf-16le"))
            k = K_UTF16LE;
        else if (!strcmp(*name, "utf-16be"))
            k = K_UTF16BE;
        for (size_t i = 0; k < 0 && i < sizeof(singles) / sizeof(singles[0]); i++)
            if (!strcmp(*name, singles[i].name))
                k = K_SINGLE + (int)i;
        for (size_t i = 0; k < 0 && i < sizeof(multi_names) / sizeof(multi_names[0]); i++)
            if (!strcmp(*name, multi_names[i]))
                k = K_GB18030 + (int)i;
        if (k < 0 && !strcmp(*name, "gbk"))
            k = K_GB18030; /* gbk's decoder is gb18030's */
    }
    if (k >= K_SINGLE && k < K_GB18030)
        std::call_once(single_once, build_singles);
    args.GetReturnValue().Set(k);
}

/*
 * textDecode(kind, view, state, flags): decodes the bytes of view with the
 * decoder `kind` from `state` (an Int32Array of 8), flags 1 fatal, 2 stream
 * (keep the state for the next call), 4 ignoreBOM. Returns the string, or
 * null on an error when fatal. Without stream (and after a fatal error) the
 * state is reset for the next call.
 */
void n_decode(const v8::FunctionCallbackInfo<v8::Value> &args)
{
    v8::Isolate *isolate = args.GetIsolate();
    v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
    int k = args[0]->Int32Value(ctx).FromMaybe(-1);
    if (k < 0 || k >= K_COUNT || !args[1]->IsArrayBufferView() || !args[2]->IsInt32Array() ||
        args[2].As<v8::Int32Array>()->Length() != 8)
        return throw_type(isolate, "textDecode: bad arguments");
    int flags = args[3]->Int32Value(ctx).FromMaybe(0);
    bool fatal = flags & 1, stream = flags & 2, keep_bom = flags & 4;
    v8::Local<v8::ArrayBufferView> view = args[1].As<v8::ArrayBufferView>();
    size_t len = view->ByteLength();
    /* A small typed array may live on V8's heap: its bytes are copied rather than asking for its buffer, which would
     * allocate one (and a failed allocation there is fatal). The state is made off-heap by the prelude. */
    uint8_t small[128];
    const uint8_t *p = nullptr;
    if (len && view->HasBuffer()) {
        p = static_cast<const uint8_t *>(view->Buffer()->Data()) + view->ByteOffset();
    } else if (len) {
        if (len > sizeof(small))
            return throw_type(isolate, "textDecode: bad arguments");
        view->CopyContents(small, len);
        p = small;
    }
    v8::Local<v8::Int32Array> sa = args[2].As<v8::Int32Array>();
    if (!sa->HasBuffer())
        return throw_type(isolate, "textDecode: bad arguments");
    int32_t *s = reinterpret_cast<int32_t *>(static_cast<uint8_t *>(sa->Buffer()->Data()) + sa->ByteOffset());
    if (k >= K_SINGLE && k < K_GB18030)
        std::call_once(single_once, build_singles);

    std::vector<uint16_t> out;
    out.reserve(len + 4);
    run r;
    r.s = s;
    bool utf16 = k == K_UTF16LE || k == K_UTF16BE;
    size_t i = 0;
    for (;;) {
        int b;
        if (r.npush)
            b = r.push[--r.npush];
        else if (i < len)
            b = p[i++];
        else if (stream)
            break;
        else
            b = END;
        int32_t c = step(k, r, b);
        if (c == R_CONTINUE)
            continue;
        if (c == R_DONE)
            break;
        if (c == R_ERROR) {
            if (fatal) {
                memset(s, 0, 8 * sizeof(int32_t));
                args.GetReturnValue().SetNull();
                return;
            }
            c = 0xfffd;
        }
        if (utf16 && !keep_bom && !s[6]) {
            s[6] = 1;
            if (c == 0xfeff)
                continue;
        }
        if (k == K_BIG5 && c >= B5_PAIR && c < B5_PAIR + 4) {
            static const uint16_t pairs[4][2] = {{0xca, 0x304}, {0xca, 0x30c}, {0xea, 0x304}, {0xea, 0x30c}};
            out.push_back(pairs[c - B5_PAIR][0]);
            out.push_back(pairs[c - B5_PAIR][1]);
        } else {
            put(out, (uint32_t)c);
        }
    }
    if (!stream)
        memset(s, 0, 8 * sizeof(int32_t));
    v8::Local<v8::String> str;
    if (out.size() > (size_t)v8::String::kMaxLength ||
        !v8::String::NewFromTwoByte(isolate, out.data(), v8::NewStringType::kNormal, (int)out.size()).ToLocal(&str))
        return throw_type(isolate, "textDecode: the result is too long for a string");
    args.GetReturnValue().Set(str);
}

} // namespace

const ic__js_native ic__js_natives_encoding[] = {
    {"textDecoderKind", n_kind},
    {"textDecode", n_decode},
    {nullptr, nullptr},
};
