/*
 * QR codes as PNG images, for the setup of two-factor sign-in (DocSpace's
 * qrCodeSetupImageUrl), and the URI-component escaper the otpauth:// URI they carry is built
 * with. The symbol comes from libqrencode, the image from libpng, written to memory.
 *
 * The image: error correction level Q, 4 pixels per module, a quiet zone of 4 modules on
 * every side, 1-bit greyscale (0 black, 1 white), so its width and height are
 * (modules + 8) * 4 pixels. Input is bounded (IDD_QR_MAX_INPUT bytes) so that one request
 * cannot ask for more than a version-40 symbol's work. Every function here is safe to call
 * from several loops at once: nothing is shared but libqrencode's own locked tables.
 */
#ifndef IDENTITYD_QR_H
#define IDENTITYD_QR_H

#include <stddef.h>

#include "identityd/core/buf.h"

/* The longest text a QR code is made for; an otpauth:// URI is about 100-300 bytes. */
#define IDD_QR_MAX_INPUT 1024
/* Pixels per module and modules of quiet zone on each side. */
#define IDD_QR_SCALE 4
#define IDD_QR_MARGIN 4

/* Appends to png the PNG image of a QR code holding text[0..len) byte for byte.
 * Returns 0; IDD_EINVAL for an empty text, one longer than IDD_QR_MAX_INPUT or holding a NUL
 * byte; IDD_EIO when the encoder or libpng fails. On failure png is left as it was. */
int idd_qr_png(const char *text, size_t len, idd_buf_t *png);

/* Appends "data:image/png;base64," and the base64 of that image to out (the value of
 * qrCodeSetupImageUrl). Same returns as idd_qr_png; on failure out is left as it was. */
int idd_qr_data_uri(const char *text, size_t len, idd_buf_t *out);

/* Appends s[0..len) to out as a URI component (RFC 3986 §2.1, §2.3): the unreserved
 * characters A-Z a-z 0-9 - . _ ~ as they are, every other byte as %XX in upper-case hex
 * ("user@example.com" -> "user%40example.com", ' ' -> "%20", UTF-8 byte by byte). */
void idd_uri_escape(idd_buf_t *out, const char *s, size_t len);

#endif
