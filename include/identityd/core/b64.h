/*
 * Base64 (RFC 4648 §4, for HTTP Basic) and base64url without padding (RFC 4648 §5, for
 * JWS/JWK). Decoders are strict: they refuse characters outside the alphabet, embedded
 * whitespace and bad padding, so malformed credentials are refused rather than guessed at.
 */
#ifndef IDENTITYD_B64_H
#define IDENTITYD_B64_H

#include <stddef.h>

/* Encoded length of n bytes, without padding (base64url) or with it (base64). */
#define IDD_B64URL_LEN(n) ((((n) / 3) * 4) + (((n) % 3) ? ((n) % 3) + 1 : 0))
#define IDD_B64_LEN(n) ((((n) + 2) / 3) * 4)
/* Upper bound of decoded bytes for an encoded length. */
#define IDD_B64_DECODED_MAX(n) ((((n) + 3) / 4) * 3)

/* Writes the unpadded base64url of in[0..len) to out, which must hold IDD_B64URL_LEN(len) + 1
 * bytes, NUL-terminates it and returns the encoded length (without the NUL). */
size_t idd_b64url_encode(char *out, const void *in, size_t len);

/* Decodes unpadded base64url (a trailing '=' padding is refused). out must hold
 * IDD_B64_DECODED_MAX(len) bytes; *outlen receives the decoded length.
 * Returns 0, or IDD_EINVAL for any character outside the alphabet, a length of 1 mod 4, or
 * non-zero trailing bits. */
int idd_b64url_decode(void *out, size_t *outlen, const char *in, size_t len);

/* Writes padded standard base64 to out (IDD_B64_LEN(len) + 1 bytes), NUL-terminated;
 * returns the encoded length. */
size_t idd_b64_encode(char *out, const void *in, size_t len);

/* Decodes padded standard base64 (RFC 4648 §4). The length must be a multiple of 4.
 * out must hold IDD_B64_DECODED_MAX(len) bytes. Returns 0 or IDD_EINVAL. */
int idd_b64_decode(void *out, size_t *outlen, const char *in, size_t len);

#endif
