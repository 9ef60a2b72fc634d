/*
 * test_compression.c: CompressionStream and DecompressionStream in a real
 * worker (tests/js/workers/compression.js): the JS checks, agreement with
 * zlib both ways in every format, and a gzip bomb (1 GiB of zeros in about
 * 1 MB) that streams through an isolate allowed 64 MiB of ArrayBuffers.
 */
#include <zlib.h>

#include "t_suite.h"

static const char TEXT[] = "Le vif zephyr jubile sur les kumquats du clown gracieux. 0123456789 ";

/* zlib's windowBits for each format of the Compression Standard. */
static const struct {
    const char *name;
    int bits;
} FORMATS[] = {{"gzip", 15 + 16}, {"deflate", 15}, {"deflate-raw", -15}};

/* text repeated n times, compressed by zlib in format f (into *len bytes, malloc'ed). */
static unsigned char *z_compress(int f, const char *text, size_t n, size_t *len)
{
    z_stream z = {0};
    cr_assert_eq(deflateInit2(&z, 6, Z_DEFLATED, FORMATS[f].bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = strlen(text) * n + 1024;
    unsigned char *out = malloc(cap);
    z.next_out = out;
    z.avail_out = (uInt)cap;
    for (size_t i = 0; i < n; i++) {
        z.next_in = (unsigned char *)text;
        z.avail_in = (uInt)strlen(text);
        cr_assert_eq(deflate(&z, i + 1 == n ? Z_FINISH : Z_NO_FLUSH), i + 1 == n ? Z_STREAM_END : Z_OK);
    }
    *len = z.total_out;
    deflateEnd(&z);
    return out;
}

/* in (format f) decompressed by zlib; asserts it is one whole stream. */
static unsigned char *z_inflate(int f, const void *in, size_t len, size_t *out_len)
{
    z_stream z = {0};
    cr_assert_eq(inflateInit2(&z, FORMATS[f].bits), Z_OK);
    size_t cap = 1 << 20;
    unsigned char *out = malloc(cap);
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int rc = inflate(&z, Z_FINISH);
    cr_assert_eq(rc, Z_STREAM_END, "%s: inflate says %d (%s)", FORMATS[f].name, rc, z.msg ? z.msg : "");
    cr_assert_eq(z.avail_in, 0);
    *out_len = z.total_out;
    inflateEnd(&z);
    return out;
}

Test(compression, the_js_checks_in_a_worker, .timeout = 120)
{
    ts_reset();
    ic_js_limits_t lim = {.cpu_ms = 20000};
    TS.tenant[0] = ts_tenant("compression", "compression.js", &lim);
    ts_add(0, "GET", "/suite", NULL, 0);
    ts_run();
    cr_assert_eq(TS.ret[0], 0, "%s", TS.err[0]);
    ts_assert_suite(0, 11);
    ts_fini();
}

Test(compression, agrees_with_zlib_both_ways_in_every_format, .timeout = 60)
{
    ts_reset();
    TS.tenant[0] = ts_tenant("compression", "compression.js", NULL);
    const size_t reps = 500;
    char *plain = malloc(sizeof(TEXT) * reps);
    plain[0] = '\0';
    for (size_t i = 0; i < reps; i++)
        strcat(plain, TEXT);
    unsigned char *z[3];
    size_t zlen[3];
    char target[3][64];
    for (int f = 0; f < 3; f++) {
        z[f] = z_compress(f, TEXT, reps, &zlen[f]);
        snprintf(target[f], sizeof(target[f]), "/inflate?format=%s", FORMATS[f].name);
        ts_add(0, "POST", target[f], z[f], zlen[f]);
    }
    char dtarget[3][64];
    for (int f = 0; f < 3; f++) {
        snprintf(dtarget[f], sizeof(dtarget[f]), "/deflate?format=%s", FORMATS[f].name);
        ts_add(0, "POST", dtarget[f], plain, strlen(plain));
    }
    ts_run();
    cr_assert_eq(TS.ret[0], 0, "%s", TS.err[0]);
    for (int f = 0; f < 3; f++) {
        cr_assert_eq(TS.r[f].status, 200, "%s: %d %s", FORMATS[f].name, TS.r[f].status, TS.r[f].body);
        cr_assert_eq(TS.r[f].len, strlen(plain), "%s", FORMATS[f].name);
        cr_assert(memcmp(TS.r[f].body, plain, TS.r[f].len) == 0, "%s: the worker inflated something else", FORMATS[f].name);
        struct ts_resp *r = &TS.r[3 + f];
        cr_assert_eq(r->status, 200, "%s: %d %s", FORMATS[f].name, r->status, r->body);
        cr_assert_lt(r->len, strlen(plain) / 10, "%s: %zu bytes", FORMATS[f].name, r->len);
        size_t n;
        unsigned char *back = z_inflate(f, r->body, r->len, &n);
        cr_assert_eq(n, strlen(plain));
        cr_assert(memcmp(back, plain, n) == 0, "%s: zlib inflated something else", FORMATS[f].name);
        free(back);
        free(z[f]);
    }
    free(plain);
    ts_fini();
}

/*
 * A gzip member of 1 GiB of zeros, made without compressing 1 GiB: a raw
 * deflate of 1 MiB of zeros ending in a full flush (byte-aligned, refers to
 * nothing before it) repeated 1024 times, an empty final block, the CRC
 * (combined, not computed over the gigabyte) and the size.
 */
static unsigned char *make_bomb(size_t *len)
{
    static unsigned char zeros[1 << 20];
    unsigned char piece[8192];
    z_stream z = {0};
    cr_assert_eq(deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_RLE), Z_OK);
    z.next_in = zeros;
    z.avail_in = sizeof(zeros);
    z.next_out = piece;
    z.avail_out = sizeof(piece);
    cr_assert_eq(deflate(&z, Z_FULL_FLUSH), Z_OK);
    cr_assert_eq(z.avail_in, 0);
    size_t plen = sizeof(piece) - z.avail_out;
    deflateEnd(&z);
    unsigned char *out = malloc(10 + 1024 * plen + 2 + 8), *p = out;
    static const unsigned char header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    memcpy(p, header, 10);
    p += 10;
    for (int i = 0; i < 1024; i++, p += plen)
        memcpy(p, piece, plen);
    *p++ = 0x03; /* BFINAL, fixed Huffman, end of block */
    *p++ = 0x00;
    uLong crc = crc32(0, zeros, sizeof(zeros));
    z_off_t n = sizeof(zeros);
    for (int i = 0; i < 10; i++, n *= 2)
        crc = crc32_combine(crc, crc, n);
    uint32_t size = 1u << 30;
    for (int i = 0; i < 4; i++)
        *p++ = (unsigned char)(crc >> (8 * i));
    for (int i = 0; i < 4; i++)
        *p++ = (unsigned char)(size >> (8 * i));
    *len = (size_t)(p - out);
    return out;
}

Test(compression, a_gzip_bomb_stays_within_the_isolate_limit, .timeout = 300)
{
    size_t blen;
    unsigned char *bomb = make_bomb(&blen);
    cr_assert_lt(blen, 1100000);
    ts_reset();
    TS.serial = true;
    ic_js_limits_t lim = {.cpu_ms = 60000, .wall_ms = 120000, .buffer_bytes = 64 << 20};
    TS.tenant[0] = ts_tenant("bomb", "compression.js", &lim);
    /* Written as one chunk: its 1 GiB of output comes out a 64 KiB piece at a time as it is read (never more than two
     * pieces wait), so all of it streams through an isolate allowed 64 MiB of buffers. */
    ts_add(0, "POST", "/bomb?mode=oneshot", bomb, blen);
    /* Written in 4 KiB pieces while being read; the reader cancels after 256 MiB. */
    ts_add(0, "POST", "/bomb?mode=stream&max=268435456", bomb, blen);
    ts_add(0, "GET", "/suite", NULL, 0);
    ts_run();
    cr_assert_eq(TS.ret[0], 0, "%s", TS.err[0]);
    cr_log_info("one chunk: %s; in pieces: %s", TS.r[0].body, TS.r[1].body);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(TS.r[i].status, 200, "%d %s", TS.r[i].status, TS.r[i].body);
        cr_assert(strstr(TS.r[i].body, "\"error\":null") != NULL, "%s", TS.r[i].body);
        cr_assert(strstr(TS.r[i].body, "\"biggest\":65536") != NULL, "%s", TS.r[i].body);
    }
    cr_assert_eq(atoll(strstr(TS.r[0].body, "\"bytes\":") + 8), 1LL << 30, "%s", TS.r[0].body);
    cr_assert_geq(atoll(strstr(TS.r[1].body, "\"bytes\":") + 8), 256LL << 20, "%s", TS.r[1].body);
    /* The isolate is still whole afterwards. */
    ts_assert_suite(2, 11);
    free(bomb);
    ts_fini();
}
