/*
 * DocSpace's machine-key derivation (MachinePseudoKeys.GetMachineConstant): the HS256 secret
 * that DocSpace and its identity service share. Only the last four bytes of the machine key
 * seed the legacy .NET System.Random subtractive generator whose output bytes are the key.
 * Weak by design, and reproduced exactly because the consumers verify with it.
 */
#ifndef IDENTITYD_MACHINEKEY_H
#define IDENTITYD_MACHINEKEY_H

#include <stddef.h>

#define IDD_MACHINEKEY_HMAC_LEN 256

/* Fills out[0..outlen) with the derived bytes of machine_key[0..len) (UTF-8, as configured).
 * DocSpace's HS256 key is the first 256 bytes. Returns 0, or IDD_EINVAL when outlen is 0. */
int idd_machinekey_derive(const char *machine_key, size_t len, unsigned char *out, size_t outlen);

#endif
