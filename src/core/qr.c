/*
 * QR codes as PNG images (see qr.h). libqrencode makes the symbol, libpng writes the image
 * into memory through a write callback; no file is ever written.
 *
 * The text usually carries a TOTP secret (otpauth://...?secret=...), so every copy made
 * here is wiped: the NUL-terminated copy given to the encoder, the symbol's modules, the row
 * buffer, and the output buffer's old storage whenever it grows. What libqrencode and zlib
 * allocate inside themselves is beyond reach.
 *
 * libpng reports errors by calling an error function that must not return: ours longjmps
 * back to the one setjmp in write_png, which frees libpng's structures; the QR symbol and
 * the row buffer are owned by the caller of write_png and freed there on every path.
 */
#include "identityd/core/qr.h"

#include <png.h>
#include <qrencode.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/core/b64.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"

/* Puts b back to old_len bytes, wiping what was appended after them. */
static void truncate_wiped(idd_buf_t *b, size_t old_len)
{
    if (b->data == NULL)
        return;
    idd_wipe(b->data + old_len, b->len - old_len);
    b->len = old_len;
    b->data[old_len] = '\0';
}

/* libpng's output: appended to the idd_buf_t given to png_set_write_fn. */
static void sink_write(png_structp png, png_bytep data, size_t n)
{
    idd_buf_t *b = png_get_io_ptr(png);
    idd_buf_reserve_wiped(b, n);
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void sink_flush(png_structp png)
{
    (void)png;
}

/* libpng's error function must not return: back to write_png's setjmp. Its message names
 * libpng's internal state only, and is not worth a log line per failure; the caller gets
 * IDD_EIO. */
static void qr_png_fail(png_structp png, png_const_charp msg)
{
    (void)msg;
    png_longjmp(png, 1);
}

static void qr_png_warn(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* Fills row (rowbytes bytes, one bit per pixel, most significant first, 1 = white) with
 * module row y of the symbol, or with white for a quiet-zone row (y < 0 or y >= width). */
static void draw_row(const QRcode *qr, int y, unsigned char *row, size_t rowbytes)
{
    memset(row, 0xff, rowbytes);
    if (y < 0 || y >= qr->width)
        return;
    const unsigned char *modules = qr->data + (size_t)y * (size_t)qr->width;
    for (int x = 0; x < qr->width; x++) {
        if (!(modules[x] & 1)) /* bit 0: dark module */
            continue;
        size_t px = (size_t)(x + IDD_QR_MARGIN) * IDD_QR_SCALE;
        for (int k = 0; k < IDD_QR_SCALE; k++, px++)
            row[px >> 3] &= (unsigned char)~(0x80u >> (px & 7));
    }
}

/* Writes the whole PNG of qr to out, using row (rowbytes bytes) as scratch. The only setjmp:
 * nothing it frees is allocated after it, and nothing read after a longjmp is changed after
 * it, so no local needs to be volatile. */
static int write_png(const QRcode *qr, idd_buf_t *out, unsigned char *row, size_t rowbytes)
{
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, qr_png_fail, qr_png_warn);
    if (png == NULL)
        return IDD_EIO;
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_write_struct(&png, NULL);
        return IDD_EIO;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return IDD_EIO;
    }

    png_uint_32 side = (png_uint_32)(qr->width + 2 * IDD_QR_MARGIN) * IDD_QR_SCALE;
    png_set_write_fn(png, out, sink_write, sink_flush);
    png_set_IHDR(png, info, side, side, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    /* Filters do not help bilevel images; libpng's own advice for bit depths below 8. */
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_NONE);
    png_write_info(png, info);
    for (int y = -IDD_QR_MARGIN; y < qr->width + IDD_QR_MARGIN; y++) {
        draw_row(qr, y, row, rowbytes);
        for (int k = 0; k < IDD_QR_SCALE; k++)
            png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int idd_qr_png(const char *text, size_t len, idd_buf_t *png)
{
    if (text == NULL || len == 0 || len > IDD_QR_MAX_INPUT || memchr(text, '\0', len) != NULL)
        return IDD_EINVAL;

    /* libqrencode reads a C string; with QR_MODE_8 as the hint and case sensitivity on, every
     * byte outside its numeric and alphanumeric sets is kept as it is (UTF-8 included). The
     * version (0: the smallest that fits) and the level are passed explicitly, which keeps
     * the call free of libqrencode's global defaults; the library locks its own tables. */
    char copy[IDD_QR_MAX_INPUT + 1];
    memcpy(copy, text, len);
    copy[len] = '\0';
    QRcode *qr = QRcode_encodeString(copy, 0, QR_ECLEVEL_Q, QR_MODE_8, 1);
    idd_wipe(copy, len);
    if (qr == NULL)
        return IDD_EIO;
    if (qr->width < 21 || qr->width > 177) {
        idd_wipe(qr->data, (size_t)qr->width * (size_t)qr->width);
        QRcode_free(qr);
        return IDD_EIO;
    }

    size_t side = (size_t)(qr->width + 2 * IDD_QR_MARGIN) * IDD_QR_SCALE;
    size_t rowbytes = (side + 7) / 8;
    unsigned char *row = idd_xmalloc(rowbytes);
    size_t old_len = png->len;
    int rc = write_png(qr, png, row, rowbytes);
    if (rc != 0)
        truncate_wiped(png, old_len);
    idd_wipe(row, rowbytes);
    free(row);
    idd_wipe(qr->data, (size_t)qr->width * (size_t)qr->width);
    QRcode_free(qr);
    return rc;
}

int idd_qr_data_uri(const char *text, size_t len, idd_buf_t *out)
{
    static const char prefix[] = "data:image/png;base64,";
    idd_buf_t png;
    idd_buf_init(&png);
    int rc = idd_qr_png(text, len, &png);
    if (rc != 0) {
        idd_buf_dispose_secret(&png);
        return rc;
    }
    /* One reservation for the whole value, so out's storage moves at most once. */
    idd_buf_reserve_wiped(out, sizeof(prefix) - 1 + IDD_B64_LEN(png.len));
    memcpy(out->data + out->len, prefix, sizeof(prefix) - 1);
    out->len += sizeof(prefix) - 1;
    out->len += idd_b64_encode(out->data + out->len, png.data, png.len);
    idd_buf_dispose_secret(&png);
    return 0;
}

void idd_uri_escape(idd_buf_t *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            idd_buf_putc(out, (char)c);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            idd_buf_append(out, esc, sizeof(esc));
        }
    }
}
